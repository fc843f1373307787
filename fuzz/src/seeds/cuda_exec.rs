//! Seeds of `cuda_exec`: command sequences like those of the host tests.

use crate::cuda::{self, Record, Runner};
use crate::fixtures;
use uapi::cmd::Opcode;
use uapi::cuda::*;
use uapi::wire::Wire;

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

pub(super) fn seeds() -> Vec<(String, Vec<u8>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every CUDA seed runs as written: each command with a response
    /// succeeds, so the seeds reach the executor, not just the decoder.
    #[test]
    fn cuda_seeds_succeed() {
        for (name, data) in seeds() {
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
}
