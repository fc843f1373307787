//! Known findings of the security review (`shared/reviews/host-security.md`)
//! whose fixes are in progress elsewhere: inputs that reach them are
//! skipped, so that the fuzzers look for new bugs and CI stays green.
//! Set `VGPU_FUZZ_KNOWN=1` to let them through (to check a fix: the
//! reproducers are in `fuzz/artifacts-known/`). Each bound is what the fix
//! is expected to enforce, not a limit of CUDA.

use core::mem::size_of;
use std::sync::OnceLock;
use uapi::cuda::{op, Copy2dRequest, LaunchRequest, MemsetRequest, StageRequest};
use uapi::wire::Wire;

/// Largest span (bytes) a memset or 2D copy may describe before it counts
/// as the known unbounded-allocation class (H3.1, H3.2, M4).
pub const MAX_SPAN: u64 = 1 << 26;
/// Largest row count of a memset or 2D copy (H3.1's and H3.2's loops).
pub const MAX_ROWS: u64 = 1 << 16;
/// Largest staged image offset + length (H5: 1 GiB per client today).
pub const MAX_STAGED: u64 = 1 << 24;
/// Most threads of one launch (H4: the watchdog misses huge grids; H3.3:
/// 16 MiB local memory per thread).
pub const MAX_LAUNCH_THREADS: u64 = 64;

/// Whether known findings are let through (`VGPU_FUZZ_KNOWN=1`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("VGPU_FUZZ_KNOWN").is_some_and(|v| v == "1"))
}

fn too_big(width: u64, height: u64, pitch: u64) -> bool {
    let span = width.max(pitch).checked_mul(height.max(1));
    width > MAX_SPAN || height > MAX_ROWS || span.is_none_or(|s| s > MAX_SPAN)
}

/// Whether the CUDA request `(opcode, request)` belongs to a known class.
pub fn cuda_request(opcode: u16, request: &[u8]) -> bool {
    if enabled() {
        return false;
    }
    match opcode {
        op::MEMSET => MemsetRequest::read_from(request).is_some_and(|r| {
            too_big(
                r.width.saturating_mul(u64::from(r.elem_size.max(1))),
                r.height,
                r.pitch,
            )
        }),
        op::MEMCPY_2D => Copy2dRequest::read_from(request)
            .is_some_and(|r| too_big(r.width, r.height, r.dst_pitch.max(r.src_pitch))),
        op::MODULE_STAGE => StageRequest::read_from(request).is_some_and(|r| {
            let tail = request.len().saturating_sub(size_of::<StageRequest>()) as u64;
            r.offset.saturating_add(tail) > MAX_STAGED
        }),
        op::LAUNCH | op::LAUNCH_EX => LaunchRequest::read_from(request).is_some_and(|r| {
            let threads = r
                .grid
                .iter()
                .chain(r.block.iter())
                .fold(1u64, |n, &d| n.saturating_mul(u64::from(d)));
            threads > MAX_LAUNCH_THREADS
        }),
        _ => false,
    }
}

/// `(target, file name, input)` reproducers of the known findings, for
/// `fuzz/artifacts-known/` (`cargo run --example make_seeds -- corpus
/// artifacts-known`). Each crashes, hangs or exhausts memory in its
/// target only with `VGPU_FUZZ_KNOWN=1`, until its fix lands.
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
    ]
}
