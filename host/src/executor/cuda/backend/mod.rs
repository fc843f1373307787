//! [`GpuClient`]: one guest client's CUDA state on the host's real GPU.
//!
//! Every guest context (its primary context included) is a dedicated host
//! context made with `cuCtxCreate`, never the device's primary context, so
//! two clients never share an address space or a sticky error. Guest handles
//! map to host objects in per-client [`HandleTable`]s; device pointers are
//! the real `CUdeviceptr`s, and every pointer range a copy or memset touches
//! must lie inside one of this client's allocations (pool ones included) or
//! module globals or VMM mappings. Stream-ordered allocations come from a
//! pool the client owns (`pool`).

mod context;
mod function;
mod gather;
mod graph;
mod guest;
mod image;
mod memory;
mod module;
mod pool;
mod shared;
mod stream;
mod tensor_map;
#[cfg(test)]
mod tests;
mod vmm;
mod vmm_state;
#[cfg(test)]
mod vmm_tests;

pub use vmm::ATTR_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED;

use super::driver::{
    check, CUcontext, CUdevice, CUdeviceptr, CUevent, CUfunction, CUmemoryPool, CUmodule, CUstream,
    CudaDriver, CudaMemcpy2D, CU_MEMORYTYPE_DEVICE, CU_MEMORYTYPE_HOST,
};
use super::handles::{tag, HandleTable};
use super::staging::{PinnedBudget, Staging, StagingBuf};
use crate::cuda::backend::{
    ContextBackend, CuResult, LaunchBackend, MemoryBackend, ModuleBackend, PoolBackend,
    StreamBackend, TensorMapBackend,
};
use image::check_image;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_int, c_void, CString};
use std::sync::Arc;
use std::thread::ThreadId;
use uapi::cuda::result::{
    INVALID_CONTEXT, INVALID_DEVICE, INVALID_HANDLE, INVALID_IMAGE, INVALID_VALUE, NOT_FOUND,
    NOT_SUPPORTED, OUT_OF_MEMORY, UNKNOWN,
};
use uapi::cuda::{copy_flags, copy_kind, Copy2dRequest, MemsetRequest, ParamInfo};

/// One host context of the client.
struct Ctx {
    /// `None` only for the primary context while it is not initialised.
    raw: Option<CUcontext>,
    staging: Staging,
}

struct Module {
    raw: CUmodule,
    ctx: u64,
    functions: HashMap<String, u64>,
}

struct Function {
    raw: CUfunction,
    ctx: u64,
    module: u64,
    layout: Vec<ParamInfo>,
}

struct Stream {
    raw: CUstream,
    ctx: u64,
}

struct Event {
    raw: CUevent,
    ctx: u64,
}

/// A device memory range the client may name in copies and memsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    size: u64,
    ctx: u64,
    /// The module of a global; 0 for an allocation.
    module: u64,
    /// From the client's pool: freed explicitly when its context goes
    /// (pool memory outlives contexts in CUDA, and would leak).
    pooled: bool,
}

/// One guest client's CUDA objects on the host GPU.
pub struct GpuClient {
    driver: Arc<CudaDriver>,
    device: CUdevice,
    attributes: Arc<[i32]>,
    /// The context current on the calling thread, as last set by us.
    current: Option<(ThreadId, CUcontext)>,
    /// Handle of the client's primary context (always in `contexts`).
    primary: u64,
    primary_refs: u32,
    contexts: HandleTable<Ctx>,
    modules: HandleTable<Module>,
    functions: HandleTable<Function>,
    streams: HandleTable<Stream>,
    events: HandleTable<Event>,
    /// `cuMemAlloc` allocations by base address.
    allocations: BTreeMap<u64, Region>,
    /// Module globals by address.
    globals: BTreeMap<u64, Region>,
    /// 8-aligned copy of the kernel parameters of a launch.
    param_scratch: Vec<u64>,
    /// Page-locked staging bytes of all its contexts (`pinned_bytes` quota).
    pinned: Arc<PinnedBudget>,
    /// The client's memory pool, made on first use (never shared, so no
    /// client sees another's pool statistics or settings).
    pool: Option<CUmemoryPool>,
    /// Graphs, their nodes and executable graphs.
    graph: graph::GraphTables,
    /// Reservations, allocation handles and mappings (made on first use).
    vmm: Option<vmm_state::VmmState>,
    /// Shared memory copied from and to in place (`shared.rs`).
    shared: shared::SharedAreas,
    /// Guest pages registered with the GPU (`guest.rs`).
    guest: crate::cuda::guest_pins::GuestPins,
}

// SAFETY: the raw CUDA handles are process-wide driver objects usable from
// any thread; the client is used by one thread at a time (`&mut self`), and
// it re-checks the thread before trusting its cached current context.
unsafe impl Send for GpuClient {}

/// Stream handles meaning the default stream: 0, `CU_STREAM_LEGACY`, `CU_STREAM_PER_THREAD`.
fn is_default_stream(stream: u64) -> bool {
    stream <= 2
}

/// Length of a `height`-row, `width`-byte region with rows `pitch` apart.
fn span_2d(pitch: u64, width: u64, height: u64) -> CuResult<u64> {
    if height == 0 || width == 0 {
        return Ok(0);
    }
    pitch
        .checked_mul(height - 1)
        .and_then(|v| v.checked_add(width))
        .ok_or(INVALID_VALUE)
}

fn to_usize(v: u64) -> CuResult<usize> {
    usize::try_from(v).map_err(|_| INVALID_VALUE)
}

impl GpuClient {
    /// A client with no host context yet (the primary one is created on first use).
    pub fn new(driver: Arc<CudaDriver>, device: CUdevice, attributes: Arc<[i32]>) -> Self {
        let pinned = Arc::new(PinnedBudget::default());
        let mut contexts = HandleTable::new(tag::CONTEXT);
        let primary = contexts.insert(Ctx {
            raw: None,
            staging: Staging::new(pinned.clone()),
        });
        Self {
            driver,
            device,
            attributes,
            current: None,
            primary,
            primary_refs: 0,
            contexts,
            modules: HandleTable::new(tag::MODULE),
            functions: HandleTable::new(tag::FUNCTION),
            streams: HandleTable::new(tag::STREAM),
            events: HandleTable::new(tag::EVENT),
            allocations: BTreeMap::new(),
            globals: BTreeMap::new(),
            param_scratch: Vec::new(),
            pinned,
            pool: None,
            graph: graph::GraphTables::default(),
            vmm: None,
            shared: shared::SharedAreas::default(),
            guest: Default::default(),
        }
    }
    /// Number of live host contexts (primary included once created).
    pub fn live_contexts(&self) -> usize {
        self.contexts
            .iter()
            .filter(|(_, c)| c.raw.is_some())
            .count()
    }
}
