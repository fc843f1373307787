//! Findings of the security review (`shared/reviews/host-security.md`)
//! that the fuzz targets once had to step around, all fixed now: their
//! reproducers are regression inputs. `make_seeds` writes them to
//! `fuzz/corpus/<target>/known-<name>`, so every fuzz run (CI's included)
//! replays them first; each must run clean (no crash, no libFuzzer timeout,
//! within the RSS limit). No input is skipped any more.

use uapi::cuda::{op, Copy2dRequest, LaunchRequest, MemsetRequest};
use uapi::wire::Wire;

/// `(target, file name, input)` reproducers of the fixed findings. Before
/// their fixes each crashed, hung or exhausted memory in its target
/// (`fuzz/README.md` says how).
pub fn reproducers() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use crate::cuda::{self, Record, Runner};
    use uapi::cuda::{copy_kind, CtxRequest, DeviceRequest, HandleResponse};
    use uapi::cuda::{ModuleLoadRequest, SymbolRequest};
    let retain = Record::new(op::PRIMARY_CTX_RETAIN, DeviceRequest::default().as_bytes());
    // The context handle a fresh simulator hands out (the same every run).
    let ctx = Runner::new()
        .and_then(|mut r| r.step(&retain))
        .and_then(|reply| HandleResponse::read_from(&reply))
        .map_or(0, |h| h.handle);
    let cuda_input = |records: &[Record]| {
        let mut all = vec![retain.clone()];
        all.extend_from_slice(records);
        cuda::encode(&all)
    };
    let memset = MemsetRequest {
        ctx,
        width: 1 << 40,
        height: 1,
        elem_size: 1,
        ..MemsetRequest::default()
    };
    let copy_rows = Copy2dRequest {
        ctx,
        width: 0,
        height: 1 << 40,
        kind: copy_kind::DTOD,
        ..Copy2dRequest::default()
    };
    let copy_overflow = Copy2dRequest {
        ctx,
        width: 0xFFFF_FFFF_FFFF_FFF8,
        height: 1,
        kind: copy_kind::DTOH,
        ..Copy2dRequest::default()
    };
    // 16 MiB of local memory per thread, 1024 threads: 16 GiB per launch.
    let ptx = ".version 8.0\n.target sm_90\n.address_size 64\n\
        .visible .entry big()\n{\n.local .align 4 .b8 frame[16777216];\n\
        .reg .b32 %r<2>;\nmov.u32 %r1, 1;\nst.local.u32 [frame+16777212], %r1;\nret;\n}\n\0";
    let mut load = ModuleLoadRequest {
        ctx,
        image_len: ptx.len() as u64,
    }
    .as_bytes()
    .to_vec();
    load.extend_from_slice(ptx.as_bytes());
    // The module handle is the first word of MODULE_LOAD's response, the
    // function the second of MODULE_GET_FUNCTION's: kept values 1 and 2
    // (value 0 is the context).
    let mut symbol = SymbolRequest {
        ctx,
        module: 0,
        name_len: 3,
        reserved: 0,
    }
    .as_bytes()
    .to_vec();
    symbol.extend_from_slice(b"big");
    let launch = LaunchRequest {
        ctx,
        function: 0,
        grid: [1, 1, 1],
        block: [1024, 1, 1],
        ..LaunchRequest::default()
    };
    // A grid of 2^31-1 × 65535 blocks of an empty kernel: the watchdog
    // counts one block's instructions only (H4), so this never ends.
    let mut fixture = ModuleLoadRequest { ctx, image_len: 1 }.as_bytes().to_vec();
    fixture.push(0); // the suite's vecadd: with n = 0 every thread returns at once
    let mut huge_grid = LaunchRequest {
        ctx,
        function: 0,
        grid: [i32::MAX as u32, 65535, 1],
        block: [1, 1, 1],
        param_bytes: 28,
        ..LaunchRequest::default()
    }
    .as_bytes()
    .to_vec();
    huge_grid.extend_from_slice(&[0; 28]);
    let sync = CtxRequest { ctx };
    vec![
        (
            "cuda_exec",
            "h3.1-memset-1TiB-row",
            cuda_input(&[Record::new(op::MEMSET, memset.as_bytes())]),
        ),
        (
            "cuda_exec",
            "h3.2-memcpy2d-2pow40-rows",
            cuda_input(&[Record::new(op::MEMCPY_2D, copy_rows.as_bytes())]),
        ),
        (
            "cuda_exec",
            "m4-memcpy2d-dtoh-length-overflow",
            cuda_input(&[Record::new(op::MEMCPY_2D, copy_overflow.as_bytes())]),
        ),
        (
            "cuda_exec",
            "h3.3-local-memory-16GiB-launch",
            cuda_input(&[
                Record::new(op::MODULE_LOAD, &load),
                Record::new(op::MODULE_GET_FUNCTION, &symbol).patched(1, 1),
                Record::new(op::LAUNCH, launch.as_bytes()).patched(2, 2),
                Record::new(op::CTX_SYNCHRONIZE, sync.as_bytes()),
            ]),
        ),
        (
            "cuda_exec",
            "h4-huge-grid-never-ends",
            cuda_input(&[
                Record::new(op::MODULE_LOAD, &fixture),
                Record::new(op::MODULE_GET_FUNCTION, &{
                    let mut s = SymbolRequest {
                        ctx,
                        module: 0,
                        name_len: 0,
                        reserved: 0,
                    };
                    let name = b"vecadd";
                    s.name_len = name.len() as u32;
                    let mut v = s.as_bytes().to_vec();
                    v.extend_from_slice(name);
                    v
                })
                .patched(1, 1),
                Record::new(op::LAUNCH, &huge_grid).patched(2, 2),
                Record::new(op::CTX_SYNCHRONIZE, sync.as_bytes()),
            ]),
        ),
        ("vfio", "dma-map-beyond-eof-sigbus", {
            use crate::vfio::Op;
            crate::vfio::encode(&[
                Op::Map {
                    flags: 3,
                    offset: 0,
                    address: 0x10_0000,
                    size: 0x10_0000,
                    file_len: 0x1000,
                },
                Op::Peek {
                    address: 0x18_0000,
                    len: 16,
                },
            ])
        }),
        // M2: the `vfio_user` crate's server, replaced by ours. A VERSION
        // shorter than major + minor underflowed (a panic in debug builds,
        // a huge allocation in release ones); VERSION data without its NUL
        // hit an unwrap; a REGION_READ allocated its u32 count; an unknown
        // command left its body to be parsed as the next header.
        ("vfio_framing", "m2-version-short-underflow", {
            let mut s = crate::seeds::vfio_framing::Stream::default();
            s.push(vgpu_host::vfio::wire::command::VERSION, 0, &[0, 0]);
            s.input()
        }),
        ("vfio_framing", "m2-version-without-nul-panic", {
            let mut s = crate::seeds::vfio_framing::Stream::default();
            s.push(
                vgpu_host::vfio::wire::command::VERSION,
                0,
                b"\0\0\0\0{\"capabilities\":{}}",
            );
            s.input()
        }),
        ("vfio_framing", "m2-region-read-4gib", {
            use crate::seeds::vfio_framing::{read, version, Stream};
            let mut s = Stream::default();
            version(&mut s);
            s.push(
                vgpu_host::vfio::wire::command::REGION_READ,
                0,
                &read(0, 0, u32::MAX),
            );
            s.input()
        }),
        ("vfio_framing", "m2-unknown-command-desync", {
            use crate::seeds::vfio_framing::{version, write, Stream};
            use vgpu_host::vfio::wire::{command, command_message};
            let mut s = Stream::default();
            version(&mut s);
            // The body is a BAR0 write, which the crate then performed.
            let inner = command_message(7, command::REGION_WRITE, 0, &write(0, 0x40, &[1; 4]));
            s.push(99, 0, &inner);
            s.input()
        }),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    #[test]
    fn every_reproducer_is_run_and_answered_promptly() {
        for (target, name, input) in super::reproducers() {
            let t0 = Instant::now();
            match target {
                "cuda_exec" => {
                    let out = crate::cuda::replay(&input);
                    assert!(out.len() >= 2, "{name}: {} records", out.len());
                    // The context was made; the rest is answered with an
                    // error or refused by the decoder (M4's length), but
                    // run, with no skip in the way.
                    assert!(out[0].1.is_some(), "{name}: no context");
                }
                "vfio" => crate::vfio::run(&input),
                "vfio_framing" => crate::vfio_framing::run(&input),
                other => panic!("{name}: unknown target {other}"),
            }
            let took = t0.elapsed();
            assert!(took < Duration::from_secs(5), "{name} took {took:?}");
        }
    }
}
