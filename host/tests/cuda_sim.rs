//! The CUDA command path on the simulator, driven the way the guest library
//! drives it: encoded requests in, encoded responses out, through a session.

use uapi::cmd::{fill_str, DeviceInfo};
use uapi::cuda::{
    copy_flags, func_attribute, launch_attribute, occupancy, op, pool_attr, result, CopyRequest,
    CtxRequest, FuncAttributesResponse, FuncSetAttributeRequest, FunctionRequest, FunctionResponse,
    HandleResponse, LaunchAttribute, LaunchExRequest, LaunchRequest, LimitRequest,
    MemAllocAsyncRequest, MemAllocRequest, MemFreeAsyncRequest, MemPoolRequest,
    MemPoolValueResponse, ModuleLoadRequest, OccupancyRequest, ParamInfo, PtrRequest, ResultHeader,
    StreamCreateRequest, StreamRequest, SymbolRequest, ValueResponse, FUNC_ATTRIBUTE_COUNT,
};
use uapi::status::Status;
use uapi::wire::Wire;
use vgpu_host::cancel::CancelToken;
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::executor::{ClientSession, Command, Executor};

const VECADD: &str = r#"
.version 8.0
.target sm_52
.address_size 64

.visible .entry vecadd(
	.param .u64 vecadd_param_0,
	.param .u64 vecadd_param_1,
	.param .u64 vecadd_param_2,
	.param .u32 vecadd_param_3
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<6>;
	.reg .f32 	%f<4>;
	.reg .b64 	%rd<11>;

	ld.param.u64 	%rd1, [vecadd_param_0];
	ld.param.u64 	%rd2, [vecadd_param_1];
	ld.param.u64 	%rd3, [vecadd_param_2];
	ld.param.u32 	%r2, [vecadd_param_3];
	mov.u32 	%r3, %ctaid.x;
	mov.u32 	%r4, %ntid.x;
	mov.u32 	%r5, %tid.x;
	mad.lo.s32 	%r1, %r3, %r4, %r5;
	setp.ge.s32 	%p1, %r1, %r2;
	@%p1 bra 	$L__BB0_2;
	cvta.to.global.u64 	%rd4, %rd1;
	mul.wide.s32 	%rd5, %r1, 4;
	add.s64 	%rd6, %rd4, %rd5;
	cvta.to.global.u64 	%rd7, %rd2;
	add.s64 	%rd8, %rd7, %rd5;
	ld.global.f32 	%f1, [%rd8];
	ld.global.f32 	%f2, [%rd6];
	add.f32 	%f3, %f2, %f1;
	cvta.to.global.u64 	%rd9, %rd3;
	add.s64 	%rd10, %rd9, %rd5;
	st.global.f32 	[%rd10], %f3;
$L__BB0_2:
	ret;
}
"#;

struct Client {
    session: Box<dyn ClientSession>,
    cancel: CancelToken,
}

impl Client {
    fn new() -> Self {
        let mut info = DeviceInfo::default();
        fill_str(&mut info.name, "sim");
        info.total_memory = 1 << 30;
        info.compute_major = 9;
        let session = SimExecutor::new(info).open_session(0).expect("session");
        Self {
            session,
            cancel: CancelToken::new(),
        }
    }

    fn call(&mut self, opcode: u16, request: &[u8], capacity: usize) -> Result<Vec<u8>, Status> {
        self.session.execute(
            Command::Cuda {
                opcode,
                request,
                resp_capacity: capacity,
            },
            &self.cancel,
        )
    }

    fn result(&mut self, opcode: u16, request: &[u8]) -> u32 {
        let out = self.call(opcode, request, 64).expect("status ok");
        ResultHeader::read_from(&out).expect("header").result
    }

    fn handle(&mut self, opcode: u16, request: &[u8]) -> (u32, u64) {
        let out = self.call(opcode, request, 64).expect("status ok");
        let r = HandleResponse::read_from(&out).expect("handle response");
        (r.result, r.handle)
    }

    fn alloc(&mut self, size: u64) -> u64 {
        let (r, p) = self.handle(op::MEM_ALLOC, MemAllocRequest { ctx: 0, size }.as_bytes());
        assert_eq!(r, result::SUCCESS);
        p
    }

    fn htod(&mut self, dst: u64, data: &[u8], flags: u32) -> Result<Vec<u8>, Status> {
        let mut req = CopyRequest {
            dst,
            len: data.len() as u64,
            flags,
            ..Default::default()
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(data);
        self.call(op::MEMCPY_HTOD, &req, 64)
    }

    fn dtoh(&mut self, src: u64, len: usize) -> (u32, Vec<u8>) {
        let req = CopyRequest {
            src,
            len: len as u64,
            ..Default::default()
        };
        let out = self
            .call(op::MEMCPY_DTOH, req.as_bytes(), len + 8)
            .expect("status ok");
        (
            ResultHeader::read_from(&out).expect("header").result,
            out[8..].to_vec(),
        )
    }

    /// Loads `ptx` and looks up kernel `name`: its handle and layout.
    fn load_kernel(&mut self, ptx: &str, name: &str) -> (u64, Vec<ParamInfo>) {
        let mut req = ModuleLoadRequest {
            ctx: 0,
            image_len: ptx.len() as u64,
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(ptx.as_bytes());
        let (r, module) = self.handle(op::MODULE_LOAD, &req);
        assert_eq!(r, result::SUCCESS);
        let mut req = SymbolRequest {
            ctx: 0,
            module,
            name_len: name.len() as u32,
            reserved: 0,
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(name.as_bytes());
        let out = self
            .call(op::MODULE_GET_FUNCTION, &req, 4096)
            .expect("status ok");
        let head = FunctionResponse::read_from(&out).expect("function response");
        assert_eq!(head.result, result::SUCCESS);
        let layout = (0..head.param_count as usize)
            .map(|i| ParamInfo::read_from(&out[16 + 8 * i..]).expect("param"))
            .collect();
        (head.function, layout)
    }

    fn load_vecadd(&mut self) -> (u64, Vec<ParamInfo>) {
        self.load_kernel(VECADD, "vecadd")
    }

    fn launch(&mut self, function: u64, grid: u32, block: u32, params: &[u8]) -> Vec<u8> {
        let mut req = LaunchRequest {
            function,
            grid: [grid, 1, 1],
            block: [block, 1, 1],
            param_bytes: params.len() as u32,
            ..Default::default()
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(params);
        self.call(op::LAUNCH, &req, 0).expect("status ok")
    }
}

fn vecadd_params(a: u64, b: u64, c: u64, n: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&a.to_le_bytes());
    p.extend_from_slice(&b.to_le_bytes());
    p.extend_from_slice(&c.to_le_bytes());
    p.extend_from_slice(&n.to_le_bytes());
    p
}

fn floats(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

#[test]
fn vector_add_runs_and_matches_the_cpu() {
    let mut c = Client::new();
    let n = 1000u32;
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let b: Vec<f32> = (0..n).map(|i| 1.0 / (i as f32 + 1.0)).collect();
    let (da, db, dc) = (c.alloc(4 * 1000), c.alloc(4 * 1000), c.alloc(4 * 1000));
    assert_eq!(
        c.htod(da, &floats(&a), 0).map(|r| r[..4].to_vec()),
        Ok(vec![0; 4])
    );
    // Asynchronous copies have no response.
    assert_eq!(c.htod(db, &floats(&b), copy_flags::ASYNC), Ok(vec![]));
    let (f, layout) = c.load_vecadd();
    assert_eq!(
        layout,
        vec![
            ParamInfo { offset: 0, size: 8 },
            ParamInfo { offset: 8, size: 8 },
            ParamInfo {
                offset: 16,
                size: 8
            },
            ParamInfo {
                offset: 24,
                size: 4
            },
        ]
    );
    assert_eq!(
        c.launch(f, 4, 256, &vecadd_params(da, db, dc, n)),
        Vec::<u8>::new()
    );
    let (r, out) = c.dtoh(dc, 4000);
    assert_eq!(r, result::SUCCESS);
    let want: Vec<u8> = floats(&a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<_>>());
    assert_eq!(out, want);
}

#[test]
fn errors_match_the_driver_and_the_client_carries_on() {
    let mut c = Client::new();
    let buf = c.alloc(64);
    // Freeing an unknown pointer.
    assert_eq!(
        c.result(
            op::MEM_FREE,
            PtrRequest {
                ctx: 0,
                dptr: buf + 8
            }
            .as_bytes()
        ),
        result::INVALID_VALUE
    );
    // Copying past the end of an allocation.
    let out = c.htod(buf + 32, &[1; 64], 0).expect("status ok");
    assert_eq!(
        ResultHeader::read_from(&out).map(|h| h.result),
        Some(result::INVALID_VALUE)
    );
    // A destroyed stream.
    let (r, s) = c.handle(
        op::STREAM_CREATE,
        StreamCreateRequest {
            ctx: 0,
            flags: 0,
            priority: 0,
        }
        .as_bytes(),
    );
    assert_eq!(r, result::SUCCESS);
    assert_eq!(
        c.result(
            op::STREAM_DESTROY,
            StreamRequest { ctx: 0, stream: s }.as_bytes()
        ),
        result::SUCCESS
    );
    assert_eq!(
        c.result(
            op::STREAM_SYNCHRONIZE,
            StreamRequest { ctx: 0, stream: s }.as_bytes()
        ),
        result::INVALID_HANDLE
    );
    // Launching an unknown function: asynchronous, reported at the next sync.
    assert_eq!(c.launch(0xdead, 1, 1, &[]), Vec::<u8>::new());
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::INVALID_HANDLE
    );
    // Reported once; the client carries on.
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::SUCCESS
    );
    // A parameter buffer that does not match the layout.
    let (f, _) = c.load_vecadd();
    c.launch(f, 1, 1, &[0; 20]);
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::INVALID_VALUE
    );
}

#[test]
fn an_illegal_address_is_sticky_and_reported_at_the_next_sync() {
    let mut c = Client::new();
    let (f, _) = c.load_vecadd();
    let ok = c.alloc(16);
    // Output far outside any allocation.
    c.launch(f, 1, 4, &vecadd_params(ok, ok, 0x10, 4));
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::ILLEGAL_ADDRESS
    );
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::ILLEGAL_ADDRESS
    );
    let (r, _) = c.handle(
        op::MEM_ALLOC,
        MemAllocRequest { ctx: 0, size: 4 }.as_bytes(),
    );
    assert_eq!(r, result::ILLEGAL_ADDRESS);
}

#[test]
fn malformed_requests_are_device_errors() {
    let mut c = Client::new();
    assert_eq!(
        c.call(op::MEM_ALLOC, &[0; 3], 64),
        Err(Status::InvalidField)
    );
    assert_eq!(c.call(0x1ff, &[], 64), Err(Status::InvalidOpcode));
    // A DTOH larger than the response buffer is refused before any allocation.
    let req = CopyRequest {
        src: 0,
        len: 1 << 40,
        ..Default::default()
    };
    assert_eq!(
        c.call(op::MEMCPY_DTOH, req.as_bytes(), 64),
        Err(Status::ResponseTooSmall)
    );
    // A copy whose length disagrees with its payload.
    let mut req = CopyRequest {
        len: 10,
        ..Default::default()
    }
    .as_bytes()
    .to_vec();
    req.extend_from_slice(&[0; 4]);
    assert_eq!(c.call(op::MEMCPY_HTOD, &req, 64), Err(Status::InvalidField));
}

#[test]
fn a_module_arrives_in_pieces() {
    use uapi::cuda::StageRequest;
    let mut c = Client::new();
    let image = VECADD.as_bytes();
    let (first, second) = image.split_at(image.len() / 2);
    for (offset, piece) in [(0, first), (first.len(), second)] {
        let mut req = StageRequest {
            ctx: 0,
            offset: offset as u64,
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(piece);
        // Asynchronous: no response.
        assert_eq!(c.call(op::MODULE_STAGE, &req, 0), Ok(vec![]));
    }
    let req = ModuleLoadRequest {
        ctx: 0,
        image_len: 0,
    };
    let (r, module) = c.handle(op::MODULE_LOAD, req.as_bytes());
    assert_eq!(r, result::SUCCESS);
    assert_ne!(module, 0);
    // The staging buffer is empty again: an empty load has nothing to load.
    let (r, _) = c.handle(op::MODULE_LOAD, req.as_bytes());
    assert_eq!(r, result::INVALID_VALUE);
    // A piece out of order is refused at the next synchronising call.
    let mut req = StageRequest { ctx: 0, offset: 7 }.as_bytes().to_vec();
    req.extend_from_slice(b"xyz");
    assert_eq!(c.call(op::MODULE_STAGE, &req, 0), Ok(vec![]));
    assert_eq!(
        c.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes()),
        result::INVALID_VALUE
    );
}

/// A kernel with 1 KiB of static and some dynamic shared memory:
/// `out[tid] = dyn[tid] + buf[tid]` after each thread wrote `tid` to both.
const SHMEM: &str = r#"
.version 9.0
.target sm_90
.address_size 64
.shared .align 4 .b8 buf[1024];
.extern .shared .align 16 .b8 dyn[];

.visible .entry shmem(
	.param .u64 shmem_param_0
)
{
	.reg .b32 	%r<6>;
	.reg .b64 	%rd<4>;

	ld.param.u64 	%rd1, [shmem_param_0];
	mov.u32 	%r1, %tid.x;
	shl.b32 	%r2, %r1, 2;
	mov.u32 	%r3, buf;
	add.s32 	%r4, %r3, %r2;
	st.shared.u32 	[%r4], %r1;
	mov.u32 	%r3, dyn;
	add.s32 	%r5, %r3, %r2;
	st.shared.u32 	[%r5], %r1;
	bar.sync 	0;
	ld.shared.u32 	%r3, [%r4];
	ld.shared.u32 	%r4, [%r5];
	add.s32 	%r3, %r3, %r4;
	cvta.to.global.u64 	%rd2, %rd1;
	mul.wide.u32 	%rd3, %r2, 1;
	add.s64 	%rd2, %rd2, %rd3;
	st.global.u32 	[%rd2], %r3;
	ret;
}
"#;

impl Client {
    fn load_function(&mut self, ptx: &str, name: &str) -> u64 {
        self.load_kernel(ptx, name).0
    }

    fn attributes(&mut self, function: u64) -> [i32; FUNC_ATTRIBUTE_COUNT] {
        let out = self
            .call(
                op::FUNC_GET_ATTRIBUTES,
                FunctionRequest { ctx: 0, function }.as_bytes(),
                128,
            )
            .expect("ok");
        let r = FuncAttributesResponse::read_from(&out).expect("response");
        assert_eq!(
            (r.result, r.count as usize),
            (result::SUCCESS, FUNC_ATTRIBUTE_COUNT)
        );
        r.values
    }

    fn set_attribute(&mut self, function: u64, attribute: i32, value: i32) -> u32 {
        let req = FuncSetAttributeRequest {
            ctx: 0,
            function,
            attribute,
            value,
        };
        self.result(op::FUNC_SET_ATTRIBUTE, req.as_bytes())
    }

    fn value(&mut self, opcode: u16, request: &[u8]) -> (u32, u64) {
        let out = self.call(opcode, request, 64).expect("status ok");
        let r = ValueResponse::read_from(&out).expect("value response");
        (r.result, r.value)
    }

    fn launch_ex(
        &mut self,
        function: u64,
        smem: u32,
        attrs: &[LaunchAttribute],
        params: &[u8],
    ) -> Result<Vec<u8>, Status> {
        let launch = LaunchRequest {
            function,
            grid: [1, 1, 1],
            block: [64, 1, 1],
            shared_bytes: smem,
            param_bytes: params.len() as u32,
            ..Default::default()
        };
        let mut req = LaunchExRequest {
            launch,
            attr_count: attrs.len() as u32,
            reserved: 0,
        }
        .as_bytes()
        .to_vec();
        attrs
            .iter()
            .for_each(|a| req.extend_from_slice(a.as_bytes()));
        req.extend_from_slice(params);
        self.call(op::LAUNCH_EX, &req, 0)
    }

    fn sync(&mut self) -> u32 {
        self.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes())
    }
}

fn occupancy(kind: u32, function: u64, block_size: u32, num_blocks: u32) -> OccupancyRequest {
    OccupancyRequest {
        function,
        kind,
        block_size,
        num_blocks,
        ..Default::default()
    }
}

impl Client {
    fn alloc_async(&mut self, size: u64, stream: u64) -> (u32, u64) {
        let req = MemAllocAsyncRequest {
            stream,
            size,
            ..Default::default()
        };
        self.handle(op::MEM_ALLOC_ASYNC, req.as_bytes())
    }

    fn free_async(&mut self, dptr: u64) -> Vec<u8> {
        let req = MemFreeAsyncRequest {
            dptr,
            ..Default::default()
        };
        self.call(op::MEM_FREE_ASYNC, req.as_bytes(), 0)
            .expect("status ok")
    }

    fn pool_get(&mut self, pool: u64, attr: u32) -> (u32, u64) {
        let req = MemPoolRequest {
            pool,
            attr,
            ..Default::default()
        };
        let out = self
            .call(op::MEM_POOL_GET_ATTRIBUTE, req.as_bytes(), 64)
            .expect("status ok");
        let r = MemPoolValueResponse::read_from(&out).expect("value response");
        (r.result, r.value)
    }

    fn pool_set(&mut self, attr: u32, value: u64) -> u32 {
        let req = MemPoolRequest {
            attr,
            value,
            ..Default::default()
        };
        self.result(op::MEM_POOL_SET_ATTRIBUTE, req.as_bytes())
    }
}

#[test]
fn function_attributes_and_the_dynamic_shared_memory_opt_in() {
    let mut c = Client::new();
    let f = c.load_function(SHMEM, "shmem");
    let a = c.attributes(f);
    assert_eq!(a[func_attribute::MAX_THREADS_PER_BLOCK as usize], 1024);
    assert_eq!(a[func_attribute::SHARED_SIZE_BYTES as usize], 1024);
    assert_eq!(a[func_attribute::PTX_VERSION as usize], 90);
    assert_eq!(
        a[func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES as usize],
        48 * 1024 - 1024
    );
    let out = c.alloc(256);
    let params = out.to_le_bytes();
    // 64 KiB of dynamic shared memory needs the opt-in first, as on a GPU.
    c.launch_ex(f, 64 * 1024, &[], &params).expect("status ok");
    assert_eq!(c.sync(), result::INVALID_VALUE);
    let dyn_attr = func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES;
    assert_eq!(c.set_attribute(f, dyn_attr, 300_000), result::INVALID_VALUE);
    assert_eq!(
        c.set_attribute(f, func_attribute::NUM_REGS, 8),
        result::INVALID_VALUE
    );
    assert_eq!(c.set_attribute(f, dyn_attr, 64 * 1024), result::SUCCESS);
    assert_eq!(c.attributes(f)[dyn_attr as usize], 64 * 1024);
    c.launch_ex(f, 64 * 1024, &[], &params).expect("status ok");
    assert_eq!(c.sync(), result::SUCCESS);
    let (r, bytes) = c.dtoh(out, 256);
    assert_eq!(r, result::SUCCESS);
    let got: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(got, (0..64).map(|t| 2 * t).collect::<Vec<u32>>());
}

#[test]
fn occupancy_follows_the_multiprocessor_limits() {
    let mut c = Client::new();
    let f = c.load_function(SHMEM, "shmem");
    let blocks = |c: &mut Client, size| {
        c.value(
            op::OCCUPANCY,
            occupancy(occupancy::MAX_ACTIVE_BLOCKS, f, size, 0).as_bytes(),
        )
    };
    // 2048 threads per multiprocessor bound these.
    assert_eq!(blocks(&mut c, 256), (result::SUCCESS, 8));
    assert_eq!(blocks(&mut c, 1024), (result::SUCCESS, 2));
    assert_eq!(blocks(&mut c, 2048), (result::SUCCESS, 0));
    let smem = |c: &mut Client, n| {
        c.value(
            op::OCCUPANCY,
            occupancy(occupancy::AVAILABLE_DYNAMIC_SMEM, f, 256, n).as_bytes(),
        )
    };
    assert_eq!(smem(&mut c, 2), (result::SUCCESS, 48 * 1024 - 1024));
    let dyn_attr = func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES;
    assert_eq!(c.set_attribute(f, dyn_attr, 200_000), result::SUCCESS);
    // Half of the 228 KiB less the per-block reserve and the static 1 KiB.
    assert_eq!(smem(&mut c, 2), (result::SUCCESS, 233_472 / 2 - 2048));
    assert_eq!(smem(&mut c, 0).0, result::INVALID_VALUE);
    let bad = occupancy(99, f, 256, 1);
    assert_eq!(
        c.value(op::OCCUPANCY, bad.as_bytes()).0,
        result::INVALID_VALUE
    );
    let unknown = occupancy(occupancy::MAX_ACTIVE_BLOCKS, 0x1234, 256, 0);
    assert_eq!(
        c.value(op::OCCUPANCY, unknown.as_bytes()).0,
        result::INVALID_HANDLE
    );
}

#[test]
fn context_limits_are_kept() {
    let mut c = Client::new();
    let get = |c: &mut Client, limit| {
        c.value(
            op::CTX_GET_LIMIT,
            LimitRequest {
                limit,
                ..Default::default()
            }
            .as_bytes(),
        )
    };
    assert_eq!(get(&mut c, 0), (result::SUCCESS, 1024));
    let set = LimitRequest {
        limit: 0,
        value: 4096,
        ..Default::default()
    };
    assert_eq!(c.result(op::CTX_SET_LIMIT, set.as_bytes()), result::SUCCESS);
    assert_eq!(get(&mut c, 0), (result::SUCCESS, 4096));
    assert_eq!(get(&mut c, 99).0, result::UNSUPPORTED_LIMIT);
}

#[test]
fn extended_launches_carry_hints_and_refuse_what_they_cannot() {
    let mut c = Client::new();
    let f = c.load_function(SHMEM, "shmem");
    let out = c.alloc(256);
    let params = out.to_le_bytes();
    let mut priority = LaunchAttribute {
        id: launch_attribute::PRIORITY,
        ..Default::default()
    };
    priority.value[0] = 1;
    c.launch_ex(f, 256, &[priority], &params)
        .expect("status ok");
    assert_eq!(c.sync(), result::SUCCESS);
    let mut cluster = LaunchAttribute {
        id: launch_attribute::CLUSTER_DIMENSION,
        ..Default::default()
    };
    cluster.value[0] = 2 | (1 << 32);
    cluster.value[1] = 1;
    c.launch_ex(f, 256, &[cluster], &params).expect("status ok");
    assert_eq!(c.sync(), result::NOT_SUPPORTED);
    // An attribute holding a handle (PROGRAMMATIC_EVENT) never travels.
    let event = LaunchAttribute {
        id: 7,
        ..Default::default()
    };
    assert_eq!(
        c.launch_ex(f, 256, &[event], &params),
        Err(Status::InvalidField)
    );
    // A count that disagrees with the tail is malformed.
    let mut req = LaunchExRequest {
        attr_count: 1,
        ..Default::default()
    }
    .as_bytes()
    .to_vec();
    req.extend_from_slice(&params);
    assert_eq!(c.call(op::LAUNCH_EX, &req, 0), Err(Status::InvalidField));
}

#[test]
fn stream_ordered_allocations_are_device_memory_until_freed() {
    let mut c = Client::new();
    let n = 250u32;
    let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut bufs = [0u64; 3];
    for b in &mut bufs {
        let (r, p) = c.alloc_async(1000, 2);
        assert_eq!(r, result::SUCCESS);
        *b = p;
    }
    let [da, db, dc] = bufs;
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_CURRENT), (0, 3000));
    // Copies and launches accept pool memory.
    assert!(c.htod(da, &floats(&a), copy_flags::ASYNC).is_ok());
    assert!(c.htod(db, &floats(&a), 0).is_ok());
    let (f, _) = c.load_vecadd();
    c.launch(f, 1, 256, &vecadd_params(da, db, dc, n));
    let (r, out) = c.dtoh(dc, 1000);
    assert_eq!(r, result::SUCCESS);
    let twice: Vec<f32> = a.iter().map(|x| x * 2.0).collect();
    assert_eq!(out, floats(&twice));
    // Freed in stream order: detached, and gone for later commands.
    assert_eq!(c.free_async(dc), Vec::<u8>::new());
    assert_eq!(c.dtoh(dc, 4).0, result::INVALID_VALUE);
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_CURRENT), (0, 2000));
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_HIGH), (0, 3000));
    // Any allocation may be freed so; an inner address is an error that
    // the next command with a response reports.
    let plain = c.alloc(64);
    assert_eq!(c.free_async(plain), Vec::<u8>::new());
    assert_eq!(c.free_async(da + 4), Vec::<u8>::new());
    assert_eq!(
        c.pool_get(0, pool_attr::USED_MEM_CURRENT).0,
        result::INVALID_VALUE
    );
    assert_eq!(c.pool_get(0, pool_attr::USED_MEM_CURRENT), (0, 2000));
    assert_eq!(c.alloc_async(0, 0).0, result::INVALID_VALUE);
}

#[test]
fn pool_attributes_behave_as_nvidias() {
    let mut c = Client::new();
    assert_eq!(c.pool_get(0, pool_attr::REUSE_ALLOW_OPPORTUNISTIC), (0, 1));
    assert_eq!(c.pool_get(0, pool_attr::RELEASE_THRESHOLD), (0, 0));
    assert_eq!(c.pool_set(pool_attr::RELEASE_THRESHOLD, u64::MAX), 0);
    assert_eq!(c.pool_get(0, pool_attr::RELEASE_THRESHOLD), (0, u64::MAX));
    assert_eq!(c.pool_set(pool_attr::REUSE_ALLOW_OPPORTUNISTIC, 0), 0);
    assert_eq!(c.pool_get(0, pool_attr::REUSE_ALLOW_OPPORTUNISTIC), (0, 0));
    assert_eq!(
        c.pool_set(pool_attr::USED_MEM_CURRENT, 5),
        result::INVALID_VALUE
    );
    assert_eq!(
        c.pool_set(pool_attr::USED_MEM_HIGH, 5),
        result::INVALID_VALUE
    );
    assert_eq!(c.pool_set(pool_attr::USED_MEM_HIGH, 0), 0);
    assert_eq!(c.pool_get(0, 0).0, result::INVALID_VALUE);
    assert_eq!(c.pool_get(0, 9).0, result::INVALID_VALUE);
    assert_eq!(c.pool_get(5, 1).0, result::INVALID_VALUE, "one pool only");
    let trim = MemPoolRequest {
        value: 4096,
        ..Default::default()
    };
    assert_eq!(c.result(op::MEM_POOL_TRIM_TO, trim.as_bytes()), 0);
    let bad = MemPoolRequest { attr: 1, ..trim };
    assert_eq!(
        c.call(op::MEM_POOL_TRIM_TO, bad.as_bytes(), 64),
        Err(Status::InvalidField)
    );
    assert_eq!(
        c.call(op::MEM_ALLOC_ASYNC, &[0; 8], 64),
        Err(Status::InvalidField)
    );
}
