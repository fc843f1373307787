//! What an executor must provide to run CUDA commands for one client.
//!
//! [`super::client::CudaClient`] decodes and validates requests, keeps the
//! deferred and sticky errors, and calls one of these methods per command.
//! Errors are `CUresult` codes (`uapi::cuda::result`). Handles are the
//! backend's own non-zero `u64`s; the backend checks that each one belongs
//! to this client (an unknown one is `INVALID_HANDLE`, or `INVALID_CONTEXT`
//! for contexts). Context 0 is the client's primary context.

use super::options::{CtxFlags, EventFlags, StreamFlags, WaitFlags};
use super::shared::{SharedKind, SharedSpan, SharedStats};
use crate::cancel::CancelToken;
use uapi::cuda::{
    AllocationProp, Copy2dRequest, LaunchAttribute, LaunchRequest, MemsetRequest, NodeParams,
    OccupancyRequest, ParamInfo, TensorMapEncodeRequest, FUNC_ATTRIBUTE_COUNT, TENSOR_MAP_WORDS,
};

/// A `CUresult` error code.
pub type CuError = u32;
/// Result of a backend call.
pub type CuResult<T> = Result<T, CuError>;

/// One client's CUDA state on an executor, by area (each area trait is
/// implemented in its own file of each executor). Dropped when the client
/// goes away: it must release everything the client still holds.
pub trait CudaBackend:
    ContextBackend
    + MemoryBackend
    + PoolBackend
    + ModuleBackend
    + LaunchBackend
    + TensorMapBackend
    + StreamBackend
    + VmmBackend
    + GraphBackend
    + SharedBackend
    + Send
{
}

impl<
        T: ContextBackend
            + MemoryBackend
            + PoolBackend
            + ModuleBackend
            + LaunchBackend
            + TensorMapBackend
            + StreamBackend
            + VmmBackend
            + GraphBackend
            + SharedBackend
            + Send,
    > CudaBackend for T
{
}

/// What one client holds now, counted against its object quotas
/// ([`crate::quota::ObjectLimits`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectCounts {
    /// Contexts created with `cuCtxCreate` (not the primary one).
    pub contexts: usize,
    /// Streams created (not the default ones).
    pub streams: usize,
    /// Events.
    pub events: usize,
    /// Loaded modules.
    pub modules: usize,
    /// Function handles.
    pub functions: usize,
    /// Device allocations (plain and pool) and VMM allocation handles.
    pub allocations: usize,
}

/// Devices and contexts.
pub trait ContextBackend {
    /// What the client holds now.
    fn object_counts(&self) -> ObjectCounts;
    /// Caps the host memory this client's staging may page-lock, in bytes.
    /// An executor that page-locks nothing ignores it.
    fn set_pinned_limit(&mut self, _bytes: u64) {}
    /// `CUdevice_attribute` values, index = attribute (`ATTRIBUTE_COUNT` entries; unknown ones 0).
    fn device_attributes(&mut self, device: i32) -> CuResult<Vec<i32>>;
    /// Free and total device memory.
    fn mem_get_info(&mut self, ctx: u64) -> CuResult<(u64, u64)>;
    /// Creates a context; returns its handle.
    fn ctx_create(&mut self, flags: CtxFlags, device: i32) -> CuResult<u64>;
    /// Destroys a context and everything created in it.
    fn ctx_destroy(&mut self, ctx: u64) -> CuResult<()>;
    /// Retains the primary context; returns its handle.
    fn primary_ctx_retain(&mut self, device: i32) -> CuResult<u64>;
    /// Releases the primary context.
    fn primary_ctx_release(&mut self, device: i32) -> CuResult<()>;
    /// Destroys everything in the primary context.
    fn primary_ctx_reset(&mut self, device: i32) -> CuResult<()>;
    /// Waits for all work of a context.
    fn ctx_synchronize(&mut self, ctx: u64) -> CuResult<()>;
}

/// Device memory: allocations, copies, memsets.
pub trait MemoryBackend {
    /// Allocates device memory.
    fn mem_alloc(&mut self, ctx: u64, size: u64) -> CuResult<u64>;
    /// Frees an allocation (by its base address).
    fn mem_free(&mut self, ctx: u64, dptr: u64) -> CuResult<()>;
    /// Base and size of the allocation holding `dptr`.
    fn mem_get_address_range(&mut self, ctx: u64, dptr: u64) -> CuResult<(u64, u64)>;
    /// Copies host bytes to device memory, in stream order if `is_async`.
    fn memcpy_htod(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        data: &[u8],
        is_async: bool,
    ) -> CuResult<()>;
    /// Copies device memory into `out` (synchronous with respect to `stream`).
    fn memcpy_dtoh(&mut self, ctx: u64, stream: u64, src: u64, out: &mut [u8]) -> CuResult<()>;
    /// Copies device to device.
    fn memcpy_dtod(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: u64,
        len: u64,
        is_async: bool,
    ) -> CuResult<()>;
    /// 1D or 2D memset (`req` is validated: elem_size 1/2/4, pitch ≥ width × elem_size when height > 1).
    fn memset(&mut self, req: &MemsetRequest) -> CuResult<()>;
    /// 2D copy; host rows are packed in `input` (HTOD) or `output` (DTOH).
    fn memcpy_2d(&mut self, req: &Copy2dRequest, input: &[u8], output: &mut [u8]) -> CuResult<()>;
    /// Device memory this client holds (allocations), in bytes.
    fn memory_used(&self) -> u64;
}

/// Copies between the device and host memory the client shares with its
/// worker ([`SharedSpan`]: the socket transport's arena), with no private
/// copy in the worker. Where the executor can, it registers the memory with
/// the device (once, on first use) so these copies are DMA at pinned speed.
pub trait SharedBackend {
    /// Makes `area`, mapped in this process until
    /// [`Self::unregister_shared`], eligible for registration. Failure to
    /// register later only leaves copies at pageable speed.
    fn register_shared(&mut self, area: SharedSpan, kind: SharedKind);
    /// Forgets `area` (unregistering it from the device, after the
    /// client's work that may still use it) before it is unmapped.
    fn unregister_shared(&mut self, area: SharedSpan);
    /// Host to device from shared memory: complete when it returns, or in
    /// stream order if `is_async` (the caller keeps `src` mapped and
    /// registered until the stream is done: [`Self::unregister_shared`]
    /// waits for the client's work).
    fn memcpy_htod_shared(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: SharedSpan,
        is_async: bool,
    ) -> CuResult<()>;
    /// Device to host into shared memory: complete when it returns, or in
    /// stream order if `is_async` (only into the client's host memory,
    /// which the caller keeps mapped and registered until the stream is
    /// done: [`Self::unregister_shared`] waits for the client's work).
    fn memcpy_dtoh_shared(
        &mut self,
        ctx: u64,
        stream: u64,
        src: u64,
        dst: SharedSpan,
        is_async: bool,
    ) -> CuResult<()>;
    /// Host to device from `src`, pieces of guest RAM in order, mapped
    /// only during the call: their bytes are read before it returns (into
    /// the executor's own staging, never a private copy of the whole), and
    /// the copy completes in stream order if `is_async`, else as a
    /// synchronous `cuMemcpyHtoD` from pageable memory does.
    fn memcpy_htod_gather(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: &[SharedSpan],
        is_async: bool,
    ) -> CuResult<()>;
    /// Device to host into `dst`, pieces of guest RAM in order, complete
    /// when it returns (synchronous with respect to `stream`).
    fn memcpy_dtoh_scatter(
        &mut self,
        ctx: u64,
        stream: u64,
        src: u64,
        dst: &[SharedSpan],
    ) -> CuResult<()>;
    /// Registers with the device the long runs of `parts` (pinned host
    /// memory in guest RAM, ahead of its copies), as `memcpy_*` would on
    /// their first use; moves nothing. `INVALID_CONTEXT` for a bad `ctx`.
    fn prepare_guest(&mut self, ctx: u64, parts: &[SharedSpan]) -> CuResult<()>;
    /// What went this way so far.
    fn shared_stats(&self) -> SharedStats;
    /// Guest RAM is at epoch `epoch` (`GuestMemory::epoch`) for the guest
    /// pieces that follow: an executor that registers guest pages with the
    /// device ends the registrations of an older epoch.
    fn guest_epoch(&mut self, _epoch: u64) {}
    /// The guest is about to unpin `spans` (this process's mappings of
    /// them): no registration of those pages may outlive this call.
    fn release_guest(&mut self, _spans: &[SharedSpan]) {}
}

/// The stream-ordered allocator (the client's one pool).
pub trait PoolBackend {
    /// Allocates `size` bytes from the client's pool (`uapi::cuda::DEFAULT_POOL`,
    /// its only one) in stream order; returns the address, which copies,
    /// memsets and launches may then name.
    fn mem_alloc_async(&mut self, ctx: u64, stream: u64, size: u64, pool: u64) -> CuResult<u64>;
    /// Frees an allocation (pool or not; by its base address) in stream order.
    fn mem_free_async(&mut self, ctx: u64, stream: u64, dptr: u64) -> CuResult<()>;
    /// A `CUmemPool_attribute` (1..=8, checked) of the client's pool.
    fn mem_pool_get_attribute(&mut self, ctx: u64, pool: u64, attr: u32) -> CuResult<u64>;
    /// Sets a `CUmemPool_attribute` (1..=8, checked) of the client's pool.
    fn mem_pool_set_attribute(
        &mut self,
        ctx: u64,
        pool: u64,
        attr: u32,
        value: u64,
    ) -> CuResult<()>;
    /// Releases the pool's unused memory down to `keep` bytes.
    fn mem_pool_trim_to(&mut self, ctx: u64, pool: u64, keep: u64) -> CuResult<()>;
}

/// Modules and what they hold.
pub trait ModuleBackend {
    /// Loads a module image (cubin, fatbin, PTX); returns its handle.
    fn module_load(&mut self, ctx: u64, image: &[u8]) -> CuResult<u64>;
    /// Unloads a module.
    fn module_unload(&mut self, ctx: u64, module: u64) -> CuResult<()>;
    /// Looks up a kernel; returns its handle and parameter layout.
    fn module_get_function(
        &mut self,
        ctx: u64,
        module: u64,
        name: &str,
    ) -> CuResult<(u64, Vec<ParamInfo>)>;
    /// Looks up a module variable; returns its address and size.
    fn module_get_global(&mut self, ctx: u64, module: u64, name: &str) -> CuResult<(u64, u64)>;
    /// Function parameter layout, for checking launches; `None` if unknown.
    fn function_layout(&self, function: u64) -> Option<&[ParamInfo]>;
}

/// Functions, occupancy, launch limits and launches.
pub trait LaunchBackend {
    /// Every `CUfunction_attribute` of a function (index = attribute).
    fn func_get_attributes(
        &mut self,
        ctx: u64,
        function: u64,
    ) -> CuResult<[i32; FUNC_ATTRIBUTE_COUNT]>;
    /// Sets one `CUfunction_attribute` (`cuFuncSetAttribute`).
    fn func_set_attribute(
        &mut self,
        ctx: u64,
        function: u64,
        attribute: i32,
        value: i32,
    ) -> CuResult<()>;
    /// Answers an occupancy question (`req.kind`, see `uapi::cuda::occupancy`).
    fn occupancy(&mut self, req: &OccupancyRequest) -> CuResult<u64>;
    /// `cuCtxGetLimit`.
    fn ctx_get_limit(&mut self, ctx: u64, limit: u32) -> CuResult<u64>;
    /// `cuCtxSetLimit`.
    fn ctx_set_limit(&mut self, ctx: u64, limit: u32, value: u64) -> CuResult<()>;
    /// Launches a kernel in stream order. `params` has been checked against
    /// the function's layout (its length equals the layout's end). An
    /// executor that runs the kernel before returning stops it soon after
    /// `cancel` is cancelled (its queue is stopping).
    fn launch(&mut self, req: &LaunchRequest, params: &[u8], cancel: &CancelToken) -> CuResult<()>;
    /// Launches with `cuLaunchKernelEx` attributes (ids already checked to
    /// be ones a launch may carry); otherwise as [`Self::launch`].
    fn launch_ex(
        &mut self,
        req: &LaunchRequest,
        attrs: &[LaunchAttribute],
        params: &[u8],
        cancel: &CancelToken,
    ) -> CuResult<()>;
}

/// Tensor maps (`cuTensorMap*`).
pub trait TensorMapBackend {
    /// `cuTensorMapEncodeTiled` (the request's rank and arrays are checked).
    fn tensor_map_encode_tiled(
        &mut self,
        req: &TensorMapEncodeRequest,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]>;
    /// `cuTensorMapReplaceAddress` on a copy of `map`.
    fn tensor_map_replace_address(
        &mut self,
        ctx: u64,
        map: &[u64; TENSOR_MAP_WORDS],
        global_address: u64,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]>;
}

/// Streams and events.
pub trait StreamBackend {
    /// Creates a stream.
    fn stream_create(&mut self, ctx: u64, flags: StreamFlags, priority: i32) -> CuResult<u64>;
    /// Destroys a stream (after its work).
    fn stream_destroy(&mut self, ctx: u64, stream: u64) -> CuResult<()>;
    /// Waits for a stream's work.
    fn stream_synchronize(&mut self, ctx: u64, stream: u64) -> CuResult<()>;
    /// `Ok` if the stream is idle, `Err(NOT_READY)` if not.
    fn stream_query(&mut self, ctx: u64, stream: u64) -> CuResult<()>;
    /// The value NVIDIA's driver gives for the stream through its private
    /// CONTEXT_IDENTITY table, slots 51 then 39 (`docs/device.md`,
    /// STREAM_DRIVER_VALUE); `NOT_SUPPORTED` where there is no such driver.
    fn stream_driver_value(&mut self, ctx: u64, stream: u64) -> CuResult<u64>;
    /// Makes `stream` wait for `event`.
    fn stream_wait_event(
        &mut self,
        ctx: u64,
        stream: u64,
        event: u64,
        flags: WaitFlags,
    ) -> CuResult<()>;
    /// Creates an event.
    fn event_create(&mut self, ctx: u64, flags: EventFlags) -> CuResult<u64>;
    /// Destroys an event.
    fn event_destroy(&mut self, ctx: u64, event: u64) -> CuResult<()>;
    /// Records an event in stream order.
    fn event_record(&mut self, ctx: u64, event: u64, stream: u64) -> CuResult<()>;
    /// `Ok` if the event completed, `Err(NOT_READY)` if not.
    fn event_query(&mut self, ctx: u64, event: u64) -> CuResult<()>;
    /// Waits for an event.
    fn event_synchronize(&mut self, ctx: u64, event: u64) -> CuResult<()>;
    /// Milliseconds between two completed events.
    fn event_elapsed_time(&mut self, ctx: u64, start: u64, end: u64) -> CuResult<f32>;
}

/// Virtual memory management (`cuMemAddressReserve`, `cuMemCreate`,
/// `cuMemMap`, …). The client has checked what does not depend on the
/// executor's state (`super::client::vmm`): sizes and addresses are
/// multiples of `uapi::cuda::VMM_GRANULARITY`, flags are 0, properties are
/// a pinned, non-exportable allocation on device 0, locations are device 0.
/// Handles are the backend's own (unknown ones `INVALID_VALUE`, as CUDA
/// answers); every address must be in this client's reservations.
pub trait VmmBackend {
    /// Reserves `size` bytes of address space (no memory); `addr` is a hint.
    fn mem_address_reserve(
        &mut self,
        ctx: u64,
        size: u64,
        alignment: u64,
        addr: u64,
    ) -> CuResult<u64>;
    /// Frees a whole reservation.
    fn mem_address_free(&mut self, ctx: u64, ptr: u64, size: u64) -> CuResult<()>;
    /// Allocates `size` bytes of device memory; returns its handle.
    fn mem_create(&mut self, ctx: u64, size: u64, prop: &AllocationProp) -> CuResult<u64>;
    /// Drops a reference to a handle (its memory goes once unmapped too).
    fn mem_release(&mut self, ctx: u64, handle: u64) -> CuResult<()>;
    /// Maps `size` bytes of `handle` from `offset` at `ptr`.
    fn mem_map(&mut self, ctx: u64, ptr: u64, size: u64, offset: u64, handle: u64) -> CuResult<()>;
    /// Unmaps the whole mappings in `[ptr, ptr + size)`.
    fn mem_unmap(&mut self, ctx: u64, ptr: u64, size: u64) -> CuResult<()>;
    /// Sets the device's access (`CUmemAccess_flags`) to a mapped range.
    fn mem_set_access(&mut self, ctx: u64, ptr: u64, size: u64, flags: u32) -> CuResult<()>;
    /// The device's access flags at a mapped address.
    fn mem_get_access(&mut self, ctx: u64, ptr: u64) -> CuResult<u32>;
    /// One more reference to the handle mapped at `ptr`; returns it.
    fn mem_retain_allocation_handle(&mut self, ctx: u64, ptr: u64) -> CuResult<u64>;
}

/// What STREAM_GET_CAPTURE_INFO answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureInfo {
    /// `CUstreamCaptureStatus`.
    pub status: u32,
    /// Capture id (0 unless capturing).
    pub id: u64,
    /// The capture's graph (0 unless capturing).
    pub graph: u64,
    /// The stream's current dependency nodes.
    pub deps: Vec<u64>,
}

/// Why GRAPH_EXEC_UPDATE refused a graph (`CUgraphExecUpdateResultInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecUpdateError {
    /// `CUresult` (`GRAPH_EXEC_UPDATE_FAILURE`, or e.g. `INVALID_HANDLE`).
    pub code: CuError,
    /// `uapi::cuda::exec_update` reason.
    pub reason: u32,
    /// The new graph's node at fault, or 0.
    pub node: u64,
    /// Its counterpart in the executable graph, or 0.
    pub from_node: u64,
}

/// Stream capture and graphs. While a stream captures, the backend records
/// the stream-ordered work it is given on it (launches, device copies,
/// memsets, event records and waits) into the capture's graph instead of
/// running it, and checks no pointer of it (pointers need only exist when
/// the graph runs). Capture is relaxed here: the guest applies the mode
/// rules. Graph, node and executable-graph handles are the backend's own.
/// Kernel parameters were checked against the function's layout.
pub trait GraphBackend {
    /// Starts capturing `stream`; returns the capture id.
    fn stream_begin_capture(&mut self, ctx: u64, stream: u64, mode: u32) -> CuResult<u64>;
    /// Ends the capture begun on `stream`; returns its graph (`discard`:
    /// drops it and answers `STREAM_CAPTURE_INVALIDATED`).
    fn stream_end_capture(&mut self, ctx: u64, stream: u64, discard: bool) -> CuResult<u64>;
    /// The stream's capture status, id, graph and dependencies.
    fn stream_get_capture_info(&mut self, ctx: u64, stream: u64) -> CuResult<CaptureInfo>;
    /// Adds to (or, `set`, replaces) a capturing stream's dependencies.
    fn stream_update_capture_deps(
        &mut self,
        ctx: u64,
        stream: u64,
        nodes: &[u64],
        set: bool,
    ) -> CuResult<()>;
    /// An empty graph.
    fn graph_create(&mut self, ctx: u64) -> CuResult<u64>;
    /// Destroys a graph and its nodes.
    fn graph_destroy(&mut self, ctx: u64, graph: u64) -> CuResult<()>;
    /// A copy of a graph.
    fn graph_clone(&mut self, ctx: u64, graph: u64) -> CuResult<u64>;
    /// A graph's nodes.
    fn graph_get_nodes(&mut self, ctx: u64, graph: u64) -> CuResult<Vec<u64>>;
    /// A node's `CUgraphNodeType`.
    fn graph_node_get_type(&mut self, ctx: u64, node: u64) -> CuResult<u32>;
    /// Adds a node (kernel, memset, device copy or empty) after `deps`.
    fn graph_add_node(
        &mut self,
        ctx: u64,
        graph: u64,
        deps: &[u64],
        params: &NodeParams,
        kernel_params: &[u8],
    ) -> CuResult<u64>;
    /// Adds `(from, to)` edges.
    fn graph_add_dependencies(
        &mut self,
        ctx: u64,
        graph: u64,
        edges: &[(u64, u64)],
    ) -> CuResult<()>;
    /// A kernel node's parameters and its packed argument bytes.
    fn graph_kernel_node_get_params(
        &mut self,
        ctx: u64,
        node: u64,
    ) -> CuResult<(NodeParams, Vec<u8>)>;
    /// Sets a kernel node's parameters, in a graph (`exec` 0) or in an
    /// executable graph (`node` is then the original graph's node).
    fn graph_kernel_node_set_params(
        &mut self,
        ctx: u64,
        exec: u64,
        node: u64,
        params: &NodeParams,
        kernel_params: &[u8],
    ) -> CuResult<()>;
    /// Instantiates a graph; returns the executable graph.
    fn graph_instantiate(&mut self, ctx: u64, graph: u64, flags: u64) -> CuResult<u64>;
    /// Destroys an executable graph.
    fn graph_exec_destroy(&mut self, ctx: u64, exec: u64) -> CuResult<()>;
    /// Launches an executable graph in stream order (see
    /// [`LaunchBackend::launch`] for `cancel`).
    fn graph_launch(
        &mut self,
        ctx: u64,
        exec: u64,
        stream: u64,
        cancel: &CancelToken,
    ) -> CuResult<()>;
    /// Runs part `part` of an executable graph with host nodes (the work
    /// up to its next host node) and waits for it; returns the id of the
    /// host node that ends the part, 0 after the last.
    fn graph_launch_part(
        &mut self,
        ctx: u64,
        exec: u64,
        stream: u64,
        part: u32,
        cancel: &CancelToken,
    ) -> CuResult<u64>;
    /// Uploads an executable graph in stream order.
    fn graph_upload(&mut self, ctx: u64, exec: u64, stream: u64) -> CuResult<()>;
    /// Updates an executable graph from a graph of the same topology.
    fn graph_exec_update(&mut self, ctx: u64, exec: u64, graph: u64)
        -> Result<(), ExecUpdateError>;
}
