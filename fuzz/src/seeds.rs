//! Seed inputs: valid command sequences like those of the host tests,
//! the PTX fixtures, well-formed rings and vfio messages. Each CUDA seed is
//! built by running it, so the handles and device addresses it carries
//! are the ones a fresh simulator hands out.

use crate::cuda::{self, Record, Runner};
use crate::fixtures;
use crate::{images, rings, vfio};
use uapi::cmd::Opcode;
use uapi::cuda::*;
use uapi::ring::{entry_flags, SgEntry, SubmissionEntry};
use uapi::wire::Wire;

/// `(file name, bytes)` of every seed of `target`.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "cuda_exec" => cuda_seeds(),
        "rings" => ring_seeds(),
        "images" => image_seeds(),
        "vfio" => vfio_seeds(),
        _ => Vec::new(),
    }
}

/// The fuzz targets.
pub const TARGETS: &[&str] = &["cuda_exec", "rings", "images", "vfio"];

/// Builds a CUDA seed by running it.
struct Seed {
    runner: Runner,
    records: Vec<Record>,
}

fn bytes<T: Wire>(v: &T) -> Vec<u8> {
    v.as_bytes().to_vec()
}

fn word(reply: &Option<Vec<u8>>, at: usize) -> u64 {
    reply
        .as_deref()
        .and_then(|r| r.get(at..at + 8))
        .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
}

impl Seed {
    fn new() -> Self {
        Self {
            runner: Runner::new().expect("sim session"),
            records: Vec::new(),
        }
    }

    fn call(&mut self, opcode: u16, request: Vec<u8>) -> Option<Vec<u8>> {
        self.call_record(Record::new(opcode, &request))
    }

    fn call_record(&mut self, record: Record) -> Option<Vec<u8>> {
        let reply = self.runner.step(&record);
        self.records.push(record);
        reply
    }

    /// The handle of a `HandleResponse`.
    fn handle(&mut self, opcode: u16, request: Vec<u8>) -> u64 {
        let reply = self.call(opcode, request);
        word(&reply, 8)
    }

    fn ctx(&mut self) -> u64 {
        self.handle(op::PRIMARY_CTX_RETAIN, bytes(&DeviceRequest::default()))
    }

    fn alloc(&mut self, ctx: u64, size: u64) -> u64 {
        self.handle(op::MEM_ALLOC, bytes(&MemAllocRequest { ctx, size }))
    }

    fn htod(&mut self, ctx: u64, dst: u64, data: &[u8], flags: u32) {
        let mut r = bytes(&CopyRequest {
            ctx,
            dst,
            len: data.len() as u64,
            flags,
            ..CopyRequest::default()
        });
        r.extend_from_slice(data);
        self.call(op::MEMCPY_HTOD, r);
    }

    fn dtoh(&mut self, ctx: u64, src: u64, len: u64) {
        let r = CopyRequest {
            ctx,
            src,
            len,
            ..CopyRequest::default()
        };
        self.call(op::MEMCPY_DTOH, bytes(&r));
    }

    fn module(&mut self, ctx: u64, fixture: u8) -> u64 {
        let mut r = bytes(&ModuleLoadRequest { ctx, image_len: 1 });
        r.push(fixture);
        self.handle(op::MODULE_LOAD, r)
    }

    fn function(&mut self, ctx: u64, module: u64, name: &str) -> u64 {
        let mut r = bytes(&SymbolRequest {
            ctx,
            module,
            name_len: name.len() as u32,
            reserved: 0,
        });
        r.extend_from_slice(name.as_bytes());
        let reply = self.call(op::MODULE_GET_FUNCTION, r);
        word(&reply, 8)
    }

    fn finish(self, name: &str) -> (String, Vec<u8>) {
        (name.to_string(), cuda::encode(&self.records))
    }
}

fn memory_seed() -> (String, Vec<u8>) {
    let mut s = Seed::new();
    let ctx = s.ctx();
    let a = s.alloc(ctx, 4096);
    let b = s.alloc(ctx, 4096);
    s.htod(ctx, a, &[7u8; 64], 0);
    s.htod(ctx, a + 64, &[9u8; 32], copy_flags::ASYNC);
    s.dtoh(ctx, a, 128);
    let dtod = CopyRequest {
        ctx,
        dst: b,
        src: a,
        len: 256,
        ..CopyRequest::default()
    };
    s.call(op::MEMCPY_DTOD, bytes(&dtod));
    let memset = MemsetRequest {
        ctx,
        dst: b,
        pitch: 256,
        width: 64,
        height: 2,
        value: 0x5a,
        elem_size: 1,
        ..MemsetRequest::default()
    };
    s.call(op::MEMSET, bytes(&memset));
    let copy2d = Copy2dRequest {
        ctx,
        dst: a,
        dst_pitch: 128,
        src: b,
        src_pitch: 256,
        width: 64,
        height: 4,
        kind: copy_kind::DTOD,
        ..Copy2dRequest::default()
    };
    s.call(op::MEMCPY_2D, bytes(&copy2d));
    let copy2d_dtoh = Copy2dRequest {
        src: a,
        src_pitch: 128,
        dst: 0,
        dst_pitch: 64,
        width: 64,
        height: 2,
        kind: copy_kind::DTOH,
        ..copy2d
    };
    s.call(op::MEMCPY_2D, bytes(&copy2d_dtoh));
    s.call(
        op::MEM_GET_ADDRESS_RANGE,
        bytes(&PtrRequest { ctx, dptr: a + 8 }),
    );
    s.call(op::MEM_GET_INFO, bytes(&CtxRequest { ctx }));
    s.call(op::MEM_FREE, bytes(&PtrRequest { ctx, dptr: b }));
    s.call(op::CTX_SYNCHRONIZE, bytes(&CtxRequest { ctx }));
    s.finish("memory")
}

fn vecadd_seed() -> (String, Vec<u8>) {
    let mut s = Seed::new();
    let ctx = s.ctx();
    let module = s.module(ctx, 0);
    let function = s.function(ctx, module, "vecadd");
    let bufs: Vec<u64> = (0..3).map(|_| s.alloc(ctx, 256)).collect();
    s.htod(ctx, bufs[0], &[0x3f; 128], 0);
    s.htod(ctx, bufs[1], &[0x40; 128], 0);
    let mut params = Vec::new();
    for b in &bufs {
        params.extend_from_slice(&b.to_le_bytes());
    }
    params.extend_from_slice(&32u32.to_le_bytes());
    let launch = LaunchRequest {
        ctx,
        stream: 0,
        function,
        grid: [1, 1, 1],
        block: [32, 1, 1],
        shared_bytes: 0,
        param_bytes: params.len() as u32,
    };
    let mut r = bytes(&launch);
    r.extend_from_slice(&params);
    s.call(op::LAUNCH, r.clone());
    let mut ex = bytes(&LaunchExRequest {
        launch,
        attr_count: 0,
        reserved: 0,
    });
    ex.extend_from_slice(&params);
    s.call(op::LAUNCH_EX, ex);
    s.call(op::CTX_SYNCHRONIZE, bytes(&CtxRequest { ctx }));
    s.dtoh(ctx, bufs[2], 128);
    s.call(
        op::FUNC_GET_ATTRIBUTES,
        bytes(&FunctionRequest { ctx, function }),
    );
    s.call(
        op::OCCUPANCY,
        bytes(&OccupancyRequest {
            ctx,
            function,
            kind: occupancy::MAX_ACTIVE_BLOCKS,
            block_size: 128,
            ..OccupancyRequest::default()
        }),
    );
    s.call(op::MODULE_UNLOAD, bytes(&ModuleRequest { ctx, module }));
    s.finish("vecadd")
}

fn streams_seed() -> (String, Vec<u8>) {
    let mut s = Seed::new();
    let create = CtxCreateRequest::default();
    let ctx = s.handle(op::CTX_CREATE, bytes(&create));
    let stream = s.handle(
        op::STREAM_CREATE,
        bytes(&StreamCreateRequest {
            ctx,
            ..StreamCreateRequest::default()
        }),
    );
    let ev = |s: &mut Seed| {
        s.handle(
            op::EVENT_CREATE,
            bytes(&EventCreateRequest {
                ctx,
                ..EventCreateRequest::default()
            }),
        )
    };
    let (start, end) = (ev(&mut s), ev(&mut s));
    for event in [start, end] {
        let r = StreamEventRequest {
            ctx,
            stream,
            event,
            ..StreamEventRequest::default()
        };
        s.call(op::EVENT_RECORD, bytes(&r));
        s.call(op::STREAM_WAIT_EVENT, bytes(&r));
    }
    s.call(
        op::EVENT_SYNCHRONIZE,
        bytes(&EventRequest { ctx, event: end }),
    );
    s.call(op::EVENT_QUERY, bytes(&EventRequest { ctx, event: start }));
    s.call(
        op::EVENT_ELAPSED_TIME,
        bytes(&ElapsedRequest { ctx, start, end }),
    );
    s.call(op::STREAM_QUERY, bytes(&StreamRequest { ctx, stream }));
    s.call(
        op::STREAM_SYNCHRONIZE,
        bytes(&StreamRequest { ctx, stream }),
    );
    let p = s.handle(
        op::MEM_ALLOC_ASYNC,
        bytes(&MemAllocAsyncRequest {
            ctx,
            stream,
            size: 1024,
            pool: DEFAULT_POOL,
        }),
    );
    s.call(
        op::MEM_FREE_ASYNC,
        bytes(&MemFreeAsyncRequest {
            ctx,
            stream,
            dptr: p,
        }),
    );
    s.call(
        op::MEM_POOL_GET_ATTRIBUTE,
        bytes(&MemPoolRequest {
            ctx,
            pool: DEFAULT_POOL,
            attr: 1,
            ..MemPoolRequest::default()
        }),
    );
    s.call(
        op::EVENT_DESTROY,
        bytes(&EventRequest { ctx, event: start }),
    );
    s.call(op::STREAM_DESTROY, bytes(&StreamRequest { ctx, stream }));
    s.call(op::DEVICE_GET_ATTRIBUTES, bytes(&DeviceRequest::default()));
    s.call(
        op::CTX_GET_LIMIT,
        bytes(&LimitRequest {
            ctx,
            ..LimitRequest::default()
        }),
    );
    s.call(op::CTX_DESTROY, bytes(&CtxRequest { ctx }));
    s.finish("streams")
}

/// MODULE_LOAD of each fixture, and a look at its first kernel.
fn module_seeds() -> Vec<(String, Vec<u8>)> {
    (0..fixtures::MODULES.len())
        .map(|i| {
            let (name, text) = fixtures::MODULES[i];
            let mut s = Seed::new();
            let ctx = s.ctx();
            let module = s.module(ctx, i as u8);
            let kernel = text
                .split(".entry")
                .nth(1)
                .and_then(|t| t.split(['(', ' ', '\n']).find(|w| !w.trim().is_empty()))
                .unwrap_or("k")
                .trim()
                .to_string();
            let function = s.function(ctx, module, &kernel);
            s.call(
                op::FUNC_GET_ATTRIBUTES,
                bytes(&FunctionRequest { ctx, function }),
            );
            s.finish(&format!("module-{name}"))
        })
        .collect()
}

fn staged_seed() -> (String, Vec<u8>) {
    let mut s = Seed::new();
    let ctx = s.ctx();
    let image = fixtures::MODULES[1].1.as_bytes();
    let (first, second) = image.split_at(image.len() / 2);
    for (offset, piece) in [(0, first), (first.len() as u64, second)] {
        let mut r = bytes(&StageRequest { ctx, offset });
        r.extend_from_slice(piece);
        s.call(op::MODULE_STAGE, r);
    }
    s.call(
        op::MODULE_LOAD,
        bytes(&ModuleLoadRequest { ctx, image_len: 0 }),
    );
    s.finish("staged")
}

fn cuda_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![memory_seed(), vecadd_seed(), streams_seed(), staged_seed()];
    out.extend(module_seeds());
    // The generic commands too.
    let generic = [Opcode::GetDeviceInfo, Opcode::GetUsage, Opcode::ListClients];
    let records: Vec<Record> = generic
        .iter()
        .map(|&o| Record {
            selector: 0xf0,
            raw_opcode: o as u16,
            cap: 255,
            ..Record::default()
        })
        .collect();
    out.push(("generic".into(), cuda::encode(&records)));
    out
}

fn entry(opcode: u16, tag: u64) -> SubmissionEntry {
    SubmissionEntry {
        opcode,
        tag,
        ..SubmissionEntry::default()
    }
}

fn ring_seeds() -> Vec<(String, Vec<u8>)> {
    use rings::{Layout, DATA, RAM_A, RAM_B};
    let data = RAM_A + DATA;
    let standard = |depth_log: u8, tail: u32| Layout {
        depth_log,
        tail,
        ..Layout::default()
    };
    let payload: Vec<u8> = (0..256u32).map(|i| (i * 7) as u8).collect();
    // Echo, contiguous.
    let echo = SubmissionEntry {
        req_addr: data,
        req_len: 64,
        resp_addr: data + 0x1000,
        resp_len: 64,
        ..entry(Opcode::Echo as u16, 1)
    };
    // Echo with both buffers as scatter-gather lists, one segment in RAM B.
    let sgl = [
        SgEntry {
            addr: data + 0x100,
            len: 16,
            reserved: 0,
        },
        SgEntry {
            addr: RAM_B + 0x40,
            len: 48,
            reserved: 0,
        },
    ];
    let mut ram_a = payload.clone();
    ram_a.resize(0x100, 0);
    for e in &sgl {
        ram_a.extend_from_slice(e.as_bytes());
    }
    let sg_echo = SubmissionEntry {
        flags: entry_flags::REQ_SGL | entry_flags::RESP_SGL,
        req_addr: data + 0x100,
        req_len: 2,
        resp_addr: data + 0x100,
        resp_len: 2,
        ..entry(Opcode::Echo as u16, 2)
    };
    let info = SubmissionEntry {
        resp_addr: data + 0x2000,
        resp_len: 512,
        ..entry(Opcode::GetDeviceInfo as u16, 3)
    };
    let usage = SubmissionEntry {
        resp_addr: data + 0x2400,
        resp_len: 64,
        ..entry(Opcode::GetUsage as u16, 4)
    };
    // A CUDA call through the ring: PRIMARY_CTX_RETAIN.
    let mut ram_cuda = vec![0u8; 0x300];
    ram_cuda.extend_from_slice(DeviceRequest::default().as_bytes());
    let retain = SubmissionEntry {
        req_addr: data + 0x300,
        req_len: core::mem::size_of::<DeviceRequest>() as u32,
        resp_addr: data + 0x2800,
        resp_len: 16,
        ..entry(op::PRIMARY_CTX_RETAIN, 5)
    };
    let raw = Layout {
        mode: 1,
        raw: (RAM_B, RAM_B + 0x8000, RAM_B + 0xc000, 16, 0),
        tail: 1,
        ..Layout::default()
    };
    vec![
        (
            "echo".into(),
            rings::encode(&standard(0, 1), &[echo], &payload, &[]),
        ),
        (
            "sgl".into(),
            rings::encode(&standard(1, 1), &[sg_echo], &ram_a, &payload),
        ),
        (
            "mixed".into(),
            rings::encode(
                &standard(2, 4),
                &[echo, info, usage, retain],
                &ram_cuda,
                &[],
            ),
        ),
        (
            "raw-layout".into(),
            rings::encode(&raw, &[echo], &payload, &[]),
        ),
    ]
}

fn image_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fixtures::MODULES
        .iter()
        .chain(fixtures::IMAGE_ONLY)
        .map(|(name, text)| (format!("ptx-{name}"), images::encode(0, text.as_bytes())))
        .collect();
    // The same PTX in a fatbin, as nvcc wraps it (uncompressed entry).
    let ptx = fixtures::MODULES[1].1.as_bytes();
    let mut entry = vec![0u8; 64];
    entry[0..2].copy_from_slice(&image::ENTRY_PTX.to_le_bytes());
    entry[4..8].copy_from_slice(&64u32.to_le_bytes());
    entry[8..12].copy_from_slice(&(ptx.len() as u32).to_le_bytes());
    entry[24..28].copy_from_slice(&90u32.to_le_bytes());
    let flags = 0x11u64;
    entry[image::ENTRY_FLAGS_OFFSET..image::ENTRY_FLAGS_OFFSET + 8]
        .copy_from_slice(&flags.to_le_bytes());
    entry.extend_from_slice(ptx);
    let mut fatbin = image::FATBIN_MAGIC.to_le_bytes().to_vec();
    fatbin.extend_from_slice(&1u16.to_le_bytes());
    fatbin.extend_from_slice(&16u16.to_le_bytes());
    fatbin.extend_from_slice(&(entry.len() as u64).to_le_bytes());
    fatbin.extend_from_slice(&entry);
    out.push(("fatbin".into(), images::encode(4, &fatbin)));
    let mut elf = image::ELF_MAGIC.to_vec();
    elf.resize(64, 0);
    out.push(("elf".into(), images::encode(4, &elf)));
    out
}

fn vfio_seeds() -> Vec<(String, Vec<u8>)> {
    use uapi::regs::{self, queue as qreg};
    use vfio::Op;
    let bar = |offset: u32, value: u32| Op::Write {
        region: 0,
        offset: u64::from(offset),
        data: value.to_le_bytes().to_vec(),
    };
    let q = |r: u32| regs::queue_reg(0, r);
    let boot = vec![
        Op::Read {
            region: 7,
            offset: 0,
            len: 4,
        },
        Op::Read {
            region: 7,
            offset: 0x10,
            len: 4,
        },
        Op::Write {
            region: 7,
            offset: 0x10,
            data: vec![0xff; 4],
        },
        Op::Write {
            region: 7,
            offset: 4,
            data: vec![6, 0],
        },
        Op::Map {
            flags: 3,
            offset: 0,
            address: 0x10_0000,
            size: 0x4_0000,
            file_len: 0x4_0000,
        },
        Op::Map {
            flags: 1,
            offset: 0,
            address: 0xc_0000,
            size: 0x1000,
            file_len: 0x1000,
        },
        Op::Map {
            flags: 3,
            offset: 0,
            address: 0xfe00_0000,
            size: 0x1000,
            file_len: 0,
        },
        Op::SetIrqs {
            index: 1,
            flags: 0x24,
            start: 0,
            count: 2,
            fds: 2,
        },
        Op::Read {
            region: 0,
            offset: 0,
            len: 4,
        },
        bar(q(qreg::SQ_BASE_LO), 0x10_0000),
        bar(q(qreg::SQ_BASE_HI), 0),
        bar(q(qreg::CQ_BASE_LO), 0x11_0000),
        bar(q(qreg::CQ_BASE_HI), 0),
        bar(q(qreg::CTRL_BASE_LO), 0x12_0000),
        bar(q(qreg::CTRL_BASE_HI), 0),
        bar(q(qreg::DEPTH), 16),
        bar(q(qreg::ENABLE), 1),
        Op::Read {
            region: 0,
            offset: u64::from(q(qreg::STATUS)),
            len: 4,
        },
        bar(q(qreg::DOORBELL), 0),
        Op::Peek {
            address: 0x12_0000,
            len: 16,
        },
        Op::Reset,
        Op::Unmap {
            flags: 0,
            address: 0x10_0000,
            size: 0x4_0000,
        },
        Op::Unmap {
            flags: 4,
            address: 0,
            size: 0,
        },
        Op::SetIrqs {
            index: 1,
            flags: 0x21,
            start: 0,
            count: 0,
            fds: 0,
        },
    ];
    vec![("boot".into(), vfio::encode(&boot))]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every CUDA seed runs as written: each command with a response
    /// succeeds, so the seeds reach the executor, not just the decoder.
    #[test]
    fn cuda_seeds_succeed() {
        for (name, data) in cuda_seeds() {
            for (opcode, reply) in cuda::replay(&data) {
                let reply = reply.unwrap_or_else(|| panic!("{name}: {opcode:#x} got no reply"));
                if op::is_cuda(opcode) && !reply.is_empty() {
                    let code = ResultHeader::read_from(&reply).map(|h| h.result);
                    assert_eq!(code, Some(result::SUCCESS), "{name}: opcode {opcode:#x}");
                }
            }
        }
    }

    /// The vector addition really ran: the DTOH after the launches reads
    /// a + b (0x3f3f3f3f + 0x40404040 as f32).
    #[test]
    fn vecadd_seed_computes() {
        let (_, data) = vecadd_seed();
        let replies = cuda::replay(&data);
        let dtoh = replies
            .iter()
            .find(|(o, _)| *o == op::MEMCPY_DTOH)
            .and_then(|(_, r)| r.clone())
            .expect("DTOH reply");
        let a = f32::from_le_bytes([0x3f; 4]);
        let b = f32::from_le_bytes([0x40; 4]);
        let got = f32::from_le_bytes(dtoh[8..12].try_into().expect("4 bytes"));
        assert_eq!(got, a + b);
    }

    /// The ring seeds complete every submission with OK.
    #[test]
    fn ring_seeds_complete() {
        for (name, data) in ring_seeds() {
            let done = rings::replay(&data);
            assert!(!done.is_empty(), "{name}: no completion");
            for c in done {
                assert_eq!(c.status, uapi::status::Status::Ok as u32, "{name}: {c:?}");
            }
        }
    }

    #[test]
    fn every_target_has_seeds() {
        for target in TARGETS {
            assert!(!seeds(target).is_empty(), "{target}");
        }
    }
}
