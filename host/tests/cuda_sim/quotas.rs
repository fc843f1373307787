//! Quotas (issue 8 item 3): the per-VM memory limit across clients, each
//! on an executor of its own as in its worker process, and the per-client
//! object and staging limits.

use std::sync::Arc;
use uapi::cmd::{fill_str, DeviceInfo, DeviceUsage};
use uapi::cuda::{
    op, result, CtxCreateRequest, CtxRequest, EventCreateRequest, EventRequest, MemCreateRequest,
    MemHandleRequest, MemInfoResponse, ModuleLoadRequest, ModuleRequest, PtrRequest, StageRequest,
    StreamCreateRequest, StreamRequest, SymbolRequest, VMM_GRANULARITY as G,
};
use uapi::status::Status;
use uapi::wire::Wire;
use vgpu_host::cancel::CancelToken;
use vgpu_host::executor::registry::ClientRegistry;
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::executor::Command;
use vgpu_host::quota::{ObjectLimits, Quotas};
use vgpu_host::session::{Keep, Session};

use crate::client::VECADD;

/// The simulated GPU every client sees: 1 GiB, far above the quotas here.
const DEVICE_MEMORY: u64 = 1 << 30;

struct Quoted {
    session: Session,
    cancel: CancelToken,
    _listed: Keep,
}

impl Quoted {
    /// Client `id` of `registry`, on a simulator of its own (a worker).
    fn open(registry: &Arc<ClientRegistry>, id: u32) -> Self {
        let mut info = DeviceInfo::default();
        fill_str(&mut info.name, "sim");
        info.total_memory = DEVICE_MEMORY;
        info.compute_major = 9;
        let (session, listed) =
            Session::in_registry(&SimExecutor::new(info), registry, id).expect("session");
        Self {
            session,
            cancel: CancelToken::new(),
            _listed: listed,
        }
    }

    fn call(&mut self, opcode: u16, request: &[u8], capacity: usize) -> Vec<u8> {
        let command = Command::Cuda {
            opcode,
            request,
            resp_capacity: capacity,
        };
        self.session
            .execute(command, &self.cancel)
            .expect("status ok")
    }

    fn handle(&mut self, opcode: u16, request: &[u8]) -> (u32, u64) {
        let out = self.call(opcode, request, 64);
        let r = uapi::cuda::HandleResponse::read_from(&out).expect("handle");
        (r.result, r.handle)
    }

    fn result(&mut self, opcode: u16, request: &[u8]) -> u32 {
        let out = self.call(opcode, request, 64);
        uapi::cuda::ResultHeader::read_from(&out)
            .expect("header")
            .result
    }

    fn alloc(&mut self, size: u64) -> (u32, u64) {
        let req = uapi::cuda::MemAllocRequest { ctx: 0, size };
        self.handle(op::MEM_ALLOC, req.as_bytes())
    }

    fn alloc_async(&mut self, size: u64) -> (u32, u64) {
        let req = uapi::cuda::MemAllocAsyncRequest {
            size,
            ..Default::default()
        };
        self.handle(op::MEM_ALLOC_ASYNC, req.as_bytes())
    }

    fn mem_create(&mut self, size: u64) -> (u32, u64) {
        let req = MemCreateRequest {
            size,
            prop: uapi::cuda::AllocationProp {
                kind: uapi::cuda::vmm_prop::ALLOCATION_PINNED,
                location_type: uapi::cuda::vmm_prop::LOCATION_DEVICE,
                ..Default::default()
            },
            ..Default::default()
        };
        self.handle(op::MEM_CREATE, req.as_bytes())
    }

    fn free(&mut self, dptr: u64) -> u32 {
        self.result(op::MEM_FREE, PtrRequest { ctx: 0, dptr }.as_bytes())
    }

    fn mem_info(&mut self) -> (u32, u64, u64) {
        let out = self.call(op::MEM_GET_INFO, CtxRequest { ctx: 0 }.as_bytes(), 64);
        let r = MemInfoResponse::read_from(&out).expect("mem info");
        (r.result, r.free, r.total)
    }

    fn total_memory(&mut self) -> u64 {
        let out = self
            .session
            .execute(Command::GetDeviceInfo, &self.cancel)
            .expect("info");
        DeviceInfo::read_from(&out).expect("info").total_memory
    }

    fn usage(&mut self) -> DeviceUsage {
        let out = self
            .session
            .execute(Command::GetUsage, &self.cancel)
            .expect("usage");
        DeviceUsage::read_from(&out).expect("usage")
    }

    fn load(&mut self, ptx: &str) -> (u32, u64) {
        let mut req = ModuleLoadRequest {
            ctx: 0,
            image_len: ptx.len() as u64,
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(ptx.as_bytes());
        self.handle(op::MODULE_LOAD, &req)
    }

    fn function(&mut self, module: u64, name: &str) -> u32 {
        let mut req = SymbolRequest {
            ctx: 0,
            module,
            name_len: name.len() as u32,
            reserved: 0,
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(name.as_bytes());
        let out = self.call(op::MODULE_GET_FUNCTION, &req, 4096);
        uapi::cuda::FunctionResponse::read_from(&out)
            .expect("function")
            .result
    }
}

fn registry(quotas: Quotas) -> Arc<ClientRegistry> {
    ClientRegistry::with_quotas(quotas)
}

#[test]
fn the_vm_memory_quota_is_the_total_and_out_of_memory_beyond_it() {
    let limit = 4 * G;
    let vm = registry(Quotas {
        vm_memory: Some(limit),
        ..Quotas::default()
    });
    let (mut a, mut b) = (Quoted::open(&vm, 0), Quoted::open(&vm, 1));
    // What cuDeviceTotalMem, cuMemGetInfo and NVML (GetUsage) report.
    assert_eq!(a.total_memory(), limit);
    assert_eq!(a.mem_info(), (result::SUCCESS, limit, limit));
    assert_eq!(a.usage().total_memory, limit);
    let (r, big) = a.alloc(5 * G / 2);
    assert_eq!(r, result::SUCCESS);
    // The other client (another executor, as another worker) sees it taken.
    assert_eq!(b.mem_info(), (result::SUCCESS, limit - 5 * G / 2, limit));
    // Every kind of allocation counts against the VM's quota.
    assert_eq!(b.alloc(2 * G).0, result::OUT_OF_MEMORY);
    assert_eq!(b.alloc_async(2 * G).0, result::OUT_OF_MEMORY);
    assert_eq!(b.mem_create(2 * G).0, result::OUT_OF_MEMORY);
    let (r, handle) = b.mem_create(G);
    assert_eq!(r, result::SUCCESS);
    assert_eq!(b.alloc_async(G).0, result::OUT_OF_MEMORY);
    assert_eq!(vm.memory_claimed(), 7 * G / 2);
    // Freed memory returns to the quota.
    assert_eq!(a.free(big), result::SUCCESS);
    assert_eq!(vm.memory_claimed(), G);
    let (r, pooled) = b.alloc_async(2 * G);
    assert_eq!(r, result::SUCCESS);
    assert_eq!(
        b.result(
            op::MEM_RELEASE,
            MemHandleRequest { ctx: 0, handle }.as_bytes()
        ),
        result::SUCCESS
    );
    assert_eq!(vm.memory_claimed(), 2 * G);
    // A client that goes away (its worker killed) gives back what it held.
    assert_ne!(pooled, 0);
    drop(b);
    assert_eq!(vm.memory_claimed(), 0);
    assert_eq!(a.alloc(limit).0, result::SUCCESS);
    assert_eq!(a.alloc(1).0, result::OUT_OF_MEMORY);
}

#[test]
fn without_a_quota_the_device_total_is_reported_and_nothing_is_charged() {
    let vm = registry(Quotas::default());
    let mut a = Quoted::open(&vm, 0);
    assert_eq!(a.total_memory(), DEVICE_MEMORY);
    assert_eq!(a.mem_info().2, DEVICE_MEMORY);
    assert_eq!(a.alloc(8 * G).0, result::SUCCESS);
    assert_eq!(vm.memory_claimed(), 0, "no account is kept without a limit");
}

#[test]
fn each_object_quota_refuses_the_next_one_until_one_is_destroyed() {
    let vm = registry(Quotas {
        objects: ObjectLimits {
            contexts: 1,
            streams: 2,
            events: 2,
            modules: 1,
            functions: 1,
            allocations: 2,
        },
        ..Quotas::default()
    });
    let mut c = Quoted::open(&vm, 0);
    let ctx = CtxCreateRequest::default();
    let (r, first) = c.handle(op::CTX_CREATE, ctx.as_bytes());
    assert_eq!(r, result::SUCCESS);
    assert_eq!(
        c.handle(op::CTX_CREATE, ctx.as_bytes()).0,
        result::OUT_OF_MEMORY
    );
    assert_eq!(
        c.result(op::CTX_DESTROY, CtxRequest { ctx: first }.as_bytes()),
        result::SUCCESS
    );
    assert_eq!(c.handle(op::CTX_CREATE, ctx.as_bytes()).0, result::SUCCESS);

    let stream = StreamCreateRequest::default();
    let streams: Vec<u64> = (0..2)
        .map(|_| c.handle(op::STREAM_CREATE, stream.as_bytes()))
        .map(|(r, s)| {
            assert_eq!(r, result::SUCCESS);
            s
        })
        .collect();
    assert_eq!(
        c.handle(op::STREAM_CREATE, stream.as_bytes()).0,
        result::OUT_OF_MEMORY
    );
    let destroy = StreamRequest {
        ctx: 0,
        stream: streams[0],
    };
    assert_eq!(
        c.result(op::STREAM_DESTROY, destroy.as_bytes()),
        result::SUCCESS
    );
    assert_eq!(
        c.handle(op::STREAM_CREATE, stream.as_bytes()).0,
        result::SUCCESS
    );

    let event = EventCreateRequest::default();
    let (_, e1) = c.handle(op::EVENT_CREATE, event.as_bytes());
    assert_eq!(
        c.handle(op::EVENT_CREATE, event.as_bytes()).0,
        result::SUCCESS
    );
    assert_eq!(
        c.handle(op::EVENT_CREATE, event.as_bytes()).0,
        result::OUT_OF_MEMORY
    );
    let destroy = EventRequest { ctx: 0, event: e1 };
    assert_eq!(
        c.result(op::EVENT_DESTROY, destroy.as_bytes()),
        result::SUCCESS
    );
    assert_eq!(
        c.handle(op::EVENT_CREATE, event.as_bytes()).0,
        result::SUCCESS
    );

    let (r, module) = c.load(VECADD);
    assert_eq!(r, result::SUCCESS);
    assert_eq!(c.load(VECADD).0, result::OUT_OF_MEMORY);
    assert_eq!(c.function(module, "vecadd"), result::SUCCESS);
    assert_eq!(c.function(module, "vecadd"), result::OUT_OF_MEMORY);
    let unload = ModuleRequest { ctx: 0, module };
    assert_eq!(
        c.result(op::MODULE_UNLOAD, unload.as_bytes()),
        result::SUCCESS
    );
    let (r, module) = c.load(VECADD);
    assert_eq!(r, result::SUCCESS);
    assert_eq!(c.function(module, "vecadd"), result::SUCCESS);

    let (r, p) = c.alloc(256);
    assert_eq!(r, result::SUCCESS);
    assert_eq!(c.alloc_async(256).0, result::SUCCESS);
    assert_eq!(c.alloc(256).0, result::OUT_OF_MEMORY);
    assert_eq!(c.mem_create(G).0, result::OUT_OF_MEMORY);
    assert_eq!(c.free(p), result::SUCCESS);
    assert_eq!(c.mem_create(G).0, result::SUCCESS);
}

#[test]
fn staged_image_bytes_are_bounded_per_client() {
    let vm = registry(Quotas {
        staged_bytes: 64 << 10,
        ..Quotas::default()
    });
    let mut c = Quoted::open(&vm, 0);
    let stage = |c: &mut Quoted, offset: u64, len: usize| {
        let mut req = StageRequest { ctx: 0, offset }.as_bytes().to_vec();
        req.resize(req.len() + len, b' ');
        assert_eq!(c.call(op::MODULE_STAGE, &req, 0), Vec::<u8>::new());
    };
    let sync = |c: &mut Quoted| c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes());
    stage(&mut c, 0, 48 << 10);
    assert_eq!(sync(&mut c), result::SUCCESS);
    stage(&mut c, 48 << 10, 16 << 10);
    assert_eq!(sync(&mut c), result::SUCCESS, "exactly the quota");
    stage(&mut c, 64 << 10, 1);
    assert_eq!(sync(&mut c), result::OUT_OF_MEMORY);
    stage(&mut c, 0, 100 << 10);
    assert_eq!(sync(&mut c), result::OUT_OF_MEMORY);
}

#[test]
fn a_full_vm_refuses_the_next_client() {
    let vm = registry(Quotas {
        max_clients: 2,
        ..Quotas::default()
    });
    let a = Quoted::open(&vm, 0);
    let _b = Quoted::open(&vm, 1);
    let info = DeviceInfo {
        total_memory: DEVICE_MEMORY,
        ..DeviceInfo::default()
    };
    let third = Session::in_registry(&SimExecutor::new(info), &vm, 2);
    assert!(matches!(third, Err(Status::Busy)));
    drop(a);
    assert!(Session::in_registry(&SimExecutor::new(info), &vm, 2).is_ok());
}
