//! A guest library's view of a simulator session: encoded requests in,
//! encoded responses out, and the few calls the tests repeat.

use uapi::cmd::{fill_str, DeviceInfo};
use uapi::cuda::{
    op, result, CopyRequest, CtxRequest, FuncAttributesResponse, FuncSetAttributeRequest,
    FunctionRequest, FunctionResponse, HandleResponse, LaunchAttribute, LaunchExRequest,
    LaunchRequest, MemAllocAsyncRequest, MemAllocRequest, MemFreeAsyncRequest, MemPoolRequest,
    MemPoolValueResponse, ModuleLoadRequest, OccupancyRequest, ParamInfo, ResultHeader,
    SymbolRequest, ValueResponse, FUNC_ATTRIBUTE_COUNT,
};
use uapi::status::Status;
use uapi::wire::Wire;
use vgpu_host::cancel::CancelToken;
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::executor::Command;
use vgpu_host::session::{Keep, Session};

/// The driver-API suite's module (`tests/kernels/suite.ptx`), for its `vecadd`.
pub const VECADD: &str = include_str!("../../../tests/kernels/suite.ptx");

/// A kernel with 1 KiB of static and some dynamic shared memory (`shmem`).
pub const SHMEM: &str = include_str!("../kernels/shmem.ptx");

pub struct Client {
    pub session: Session,
    pub cancel: CancelToken,
    _listed: Keep,
}

impl Client {
    pub fn new() -> Self {
        let mut info = DeviceInfo::default();
        fill_str(&mut info.name, "sim");
        info.total_memory = 1 << 30;
        info.compute_major = 9;
        let (session, listed) = Session::standalone(&SimExecutor::new(info), 0).expect("session");
        Self {
            session,
            cancel: CancelToken::new(),
            _listed: listed,
        }
    }

    pub fn call(
        &mut self,
        opcode: u16,
        request: &[u8],
        capacity: usize,
    ) -> Result<Vec<u8>, Status> {
        self.session.execute(
            Command::Cuda {
                opcode,
                request,
                resp_capacity: capacity,
            },
            &self.cancel,
        )
    }

    pub fn result(&mut self, opcode: u16, request: &[u8]) -> u32 {
        let out = self.call(opcode, request, 64).expect("status ok");
        ResultHeader::read_from(&out).expect("header").result
    }

    pub fn handle(&mut self, opcode: u16, request: &[u8]) -> (u32, u64) {
        let out = self.call(opcode, request, 64).expect("status ok");
        let r = HandleResponse::read_from(&out).expect("handle response");
        (r.result, r.handle)
    }

    pub fn alloc(&mut self, size: u64) -> u64 {
        let (r, p) = self.handle(op::MEM_ALLOC, MemAllocRequest { ctx: 0, size }.as_bytes());
        assert_eq!(r, result::SUCCESS);
        p
    }

    pub fn htod(&mut self, dst: u64, data: &[u8], flags: u32) -> Result<Vec<u8>, Status> {
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

    pub fn dtoh(&mut self, src: u64, len: usize) -> (u32, Vec<u8>) {
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
    pub fn load_kernel(&mut self, ptx: &str, name: &str) -> (u64, Vec<ParamInfo>) {
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

    pub fn load_vecadd(&mut self) -> (u64, Vec<ParamInfo>) {
        self.load_kernel(VECADD, "vecadd")
    }

    pub fn launch(&mut self, function: u64, grid: u32, block: u32, params: &[u8]) -> Vec<u8> {
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

pub fn vecadd_params(a: u64, b: u64, c: u64, n: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&a.to_le_bytes());
    p.extend_from_slice(&b.to_le_bytes());
    p.extend_from_slice(&c.to_le_bytes());
    p.extend_from_slice(&n.to_le_bytes());
    p
}

pub fn floats(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

impl Client {
    pub fn load_function(&mut self, ptx: &str, name: &str) -> u64 {
        self.load_kernel(ptx, name).0
    }

    pub fn attributes(&mut self, function: u64) -> [i32; FUNC_ATTRIBUTE_COUNT] {
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

    pub fn set_attribute(&mut self, function: u64, attribute: i32, value: i32) -> u32 {
        let req = FuncSetAttributeRequest {
            ctx: 0,
            function,
            attribute,
            value,
        };
        self.result(op::FUNC_SET_ATTRIBUTE, req.as_bytes())
    }

    pub fn value(&mut self, opcode: u16, request: &[u8]) -> (u32, u64) {
        let out = self.call(opcode, request, 64).expect("status ok");
        let r = ValueResponse::read_from(&out).expect("value response");
        (r.result, r.value)
    }

    pub fn launch_ex(
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

    pub fn sync(&mut self) -> u32 {
        self.result(op::CTX_SYNCHRONIZE, CtxRequest { ctx: 0 }.as_bytes())
    }
}

pub fn occupancy(kind: u32, function: u64, block_size: u32, num_blocks: u32) -> OccupancyRequest {
    OccupancyRequest {
        function,
        kind,
        block_size,
        num_blocks,
        ..Default::default()
    }
}

impl Client {
    pub fn alloc_async(&mut self, size: u64, stream: u64) -> (u32, u64) {
        let req = MemAllocAsyncRequest {
            stream,
            size,
            ..Default::default()
        };
        self.handle(op::MEM_ALLOC_ASYNC, req.as_bytes())
    }

    pub fn free_async(&mut self, dptr: u64) -> Vec<u8> {
        let req = MemFreeAsyncRequest {
            dptr,
            ..Default::default()
        };
        self.call(op::MEM_FREE_ASYNC, req.as_bytes(), 0)
            .expect("status ok")
    }

    pub fn pool_get(&mut self, pool: u64, attr: u32) -> (u32, u64) {
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

    pub fn pool_set(&mut self, attr: u32, value: u64) -> u32 {
        let req = MemPoolRequest {
            attr,
            value,
            ..Default::default()
        };
        self.result(op::MEM_POOL_SET_ATTRIBUTE, req.as_bytes())
    }
}
