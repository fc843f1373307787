//! One client's CUDA state on the simulator. Work runs synchronously in
//! submission order, which is a valid schedule of any set of streams, so
//! streams need no queues of their own and an event's time is when it ran.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::graph::SimGraphs;
use super::image::ptx_text;
use super::memory::{AddressSpace, ClientMemory, Owner};
use super::pool::SimPool;
use super::vmm::SimVmm;
use crate::cuda::backend::{
    ContextBackend, CuResult, LaunchBackend, MemoryBackend, ModuleBackend, ObjectCounts,
    PoolBackend, StreamBackend, TensorMapBackend,
};
use crate::cuda::shared::{SharedSpan, SharedStats};
use crate::ptx::limits::{MAX_BLOCK_DIM_Z, MAX_GRID_DIM_X, MAX_GRID_DIM_YZ};
use crate::ptx::{self, LaunchConfig, LaunchError};
use uapi::cmd::DeviceInfo;
use uapi::cuda::{
    copy_kind, result, Copy2dRequest, LaunchRequest, MemsetRequest, ParamInfo,
    TensorMapEncodeRequest, FUNC_ATTRIBUTE_COUNT, TENSOR_MAP_WORDS,
};

mod context;
mod function;
mod graph;
mod memory;
mod module;
mod shared;
mod stream;
mod vmm;

/// Handle kinds, in the top 16 bits of a handle.
const KIND_CTX: u64 = 0xc7;
const KIND_MODULE: u64 = 0x3d;
const KIND_FUNCTION: u64 = 0xf0;
const KIND_STREAM: u64 = 0x57;
const KIND_EVENT: u64 = 0xe7;

/// `CUDA_ERROR_ASSERT`: a device-side assert failed (not in uapi's table).
const CUDA_ERROR_ASSERT: u32 = 710;

/// The handle of the client's primary context.
const PRIMARY: u64 = (KIND_CTX << 48) | 1;

struct SimModule {
    ctx: u64,
    ptx: Arc<ptx::Module>,
    /// Variable name → (address, size).
    globals: HashMap<String, (u64, u64)>,
}

struct SimFunction {
    module: u64,
    kernel: usize,
    layout: Vec<ParamInfo>,
    /// `CUfunction_attribute` values (some settable).
    attrs: [i32; FUNC_ATTRIBUTE_COUNT],
}

struct SimEvent {
    ctx: u64,
    recorded: Option<Instant>,
}

/// The simulator's side of one client.
pub struct SimBackend {
    info: DeviceInfo,
    attributes: Arc<Vec<i32>>,
    space: Arc<AddressSpace>,
    memory: ClientMemory,
    next_id: u64,
    contexts: HashMap<u64, ()>,
    primary_retained: u32,
    modules: HashMap<u64, SimModule>,
    functions: HashMap<u64, SimFunction>,
    streams: HashMap<u64, u64>,
    events: HashMap<u64, SimEvent>,
    /// `CUlimit` values.
    limits: [(u32, u64); 7],
    pool: SimPool,
    /// Reservations, allocation handles and mappings (`cuMem*` VMM calls).
    vmm: SimVmm,
    /// Captures, graphs and executable graphs.
    graphs: SimGraphs,
    /// Shared memory "registered" (`shared.rs`: counted, as a GPU would pin it).
    shared: Vec<SharedSpan>,
    shared_stats: SharedStats,
    /// Guest pages booked as registered (`shared.rs`).
    guest: crate::cuda::guest_pins::GuestPins,
}

impl SimBackend {
    /// A fresh client on the simulated device.
    pub fn new(info: DeviceInfo, attributes: Arc<Vec<i32>>, space: Arc<AddressSpace>) -> Self {
        Self {
            info,
            attributes,
            memory: ClientMemory::new(space.clone()),
            vmm: SimVmm::new(space.clone()),
            space,
            next_id: 2,
            contexts: HashMap::new(),
            primary_retained: 0,
            modules: HashMap::new(),
            functions: HashMap::new(),
            streams: HashMap::new(),
            events: HashMap::new(),
            limits: function::DEFAULT_LIMITS,
            pool: SimPool::default(),
            graphs: SimGraphs::default(),
            shared: Vec::new(),
            shared_stats: SharedStats::default(),
            guest: Default::default(),
        }
    }

    fn handle(&mut self, kind: u64) -> u64 {
        self.next_id += 1;
        (kind << 48) | self.next_id
    }

    /// The context a request names, normalised (0 → primary).
    fn ctx(&self, ctx: u64) -> CuResult<u64> {
        match ctx {
            0 | PRIMARY => Ok(PRIMARY),
            c if self.contexts.contains_key(&c) => Ok(c),
            _ => Err(result::INVALID_CONTEXT),
        }
    }

    fn stream(&self, ctx: u64, stream: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        match stream {
            0..=2 => Ok(()),
            s if self.streams.contains_key(&s) => Ok(()),
            _ => Err(result::INVALID_HANDLE),
        }
    }

    fn device(&self, device: i32) -> CuResult<()> {
        if device == 0 {
            Ok(())
        } else {
            Err(result::INVALID_DEVICE)
        }
    }

    /// Drops everything created in `ctx`.
    fn release_context(&mut self, ctx: u64) {
        self.memory.free_owned(Owner::Context(ctx));
        self.pool.forget_context(ctx);
        let modules: Vec<u64> = self
            .modules
            .iter()
            .filter(|(_, m)| m.ctx == ctx)
            .map(|(h, _)| *h)
            .collect();
        for m in modules {
            self.drop_module(m);
        }
        self.streams.retain(|_, c| *c != ctx);
        self.events.retain(|_, e| e.ctx != ctx);
    }

    fn drop_module(&mut self, module: u64) {
        self.modules.remove(&module);
        self.functions.retain(|_, f| f.module != module);
        self.memory.free_owned(Owner::Module(module));
    }
}

impl SimBackend {
    /// Identity of the device this client runs on.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }
}
