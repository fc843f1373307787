// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Stream capture and CUDA graphs: STREAM_BEGIN_CAPTURE … GRAPH_EXEC_UPDATE
//! (opcodes in `super::op`). Graphs, graph nodes and executable graphs are
//! the device's own non-zero `u64` handles, per client. While a stream
//! captures, the stream-ordered commands the guest sends on it (launches,
//! device-to-device copies, memsets, event records and waits) are recorded
//! into the capture's graph instead of running. Capture modes are the
//! guest's business (it applies CUDA's per-thread rules); the device
//! captures relaxed.

/// `CUstreamCaptureStatus`.
pub mod capture_status {
    #![allow(missing_docs)]
    pub const NONE: u32 = 0;
    pub const ACTIVE: u32 = 1;
    pub const INVALIDATED: u32 = 2;
}

/// `CUstreamCaptureMode`.
pub mod capture_mode {
    #![allow(missing_docs)]
    pub const GLOBAL: u32 = 0;
    pub const THREAD_LOCAL: u32 = 1;
    pub const RELAXED: u32 = 2;
}

/// `CUgraphNodeType` values the device makes.
pub mod node_type {
    #![allow(missing_docs)]
    pub const KERNEL: u32 = 0;
    pub const MEMCPY: u32 = 1;
    pub const MEMSET: u32 = 2;
    /// A host function: the guest runs it (GRAPH_LAUNCH_PART stops there).
    pub const HOST: u32 = 3;
    pub const EMPTY: u32 = 5;
    pub const WAIT_EVENT: u32 = 6;
    pub const EVENT_RECORD: u32 = 7;
}

/// `CUgraphExecUpdateResult`.
pub mod exec_update {
    #![allow(missing_docs)]
    pub const SUCCESS: u32 = 0;
    pub const ERROR: u32 = 1;
    pub const TOPOLOGY_CHANGED: u32 = 2;
    pub const NODE_TYPE_CHANGED: u32 = 3;
    pub const FUNCTION_CHANGED: u32 = 4;
    pub const PARAMETERS_CHANGED: u32 = 5;
    pub const NOT_SUPPORTED: u32 = 6;
}

/// `CU_STREAM_SET_CAPTURE_DEPENDENCIES` (else add).
pub const CAPTURE_DEPS_SET: u32 = 1;
/// STREAM_END_CAPTURE flag: end the capture and drop its graph (the guest
/// saw the capture invalidated).
pub const END_CAPTURE_DISCARD: u32 = 1;
/// Most dependencies or edges one request carries.
pub const MAX_GRAPH_DEPS: u32 = 4096;
/// Most nodes a graph may hold.
pub const MAX_GRAPH_NODES: usize = 1 << 16;

/// STREAM_BEGIN_CAPTURE. Response: [`super::ValueResponse`] with the capture id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureBeginRequest {
    /// Context.
    pub ctx: u64,
    /// Stream (not a default stream).
    pub stream: u64,
    /// [`capture_mode`] (recorded for `cuStreamGetCaptureInfo`; the device captures relaxed).
    pub mode: u32,
    /// Zero.
    pub reserved: u32,
}

/// STREAM_END_CAPTURE. Response: [`super::HandleResponse`] with the graph.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureEndRequest {
    /// Context.
    pub ctx: u64,
    /// The capture's origin stream.
    pub stream: u64,
    /// [`END_CAPTURE_DISCARD`] or 0.
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// STREAM_GET_CAPTURE_INFO response (request: [`super::StreamRequest`]);
/// tail: `u64 × dep_count`, the stream's current dependency nodes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureInfoResponse {
    /// `CUresult`.
    pub result: u32,
    /// [`capture_status`].
    pub status: u32,
    /// Capture id (0 unless capturing).
    pub id: u64,
    /// The capture's graph (0 unless capturing).
    pub graph: u64,
    /// Nodes in the tail.
    pub dep_count: u32,
    /// Zero.
    pub reserved: u32,
}

/// STREAM_UPDATE_CAPTURE_DEPS; tail: `u64 × count` nodes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureDepsRequest {
    /// Context.
    pub ctx: u64,
    /// Capturing stream.
    pub stream: u64,
    /// 0 (add) or [`CAPTURE_DEPS_SET`].
    pub flags: u32,
    /// Nodes in the tail (≤ [`MAX_GRAPH_DEPS`]).
    pub count: u32,
}

/// One graph object named: GRAPH_CREATE (`handle` 0, `flags` 0),
/// GRAPH_DESTROY, GRAPH_CLONE, GRAPH_GET_NODES (graphs), GRAPH_INSTANTIATE
/// (graph, `CUgraphInstantiate_flags`), GRAPH_EXEC_DESTROY (exec),
/// GRAPH_NODE_GET_TYPE, GRAPH_KERNEL_NODE_GET_PARAMS (nodes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphRequest {
    /// Context.
    pub ctx: u64,
    /// Graph, node or executable graph.
    pub handle: u64,
    /// Flags.
    pub flags: u64,
}

/// What a node does: kernel, memset, device-to-device copy or empty (the
/// fields of other kinds are zero). GRAPH_ADD_NODE's and the kernel-node
/// parameter commands' payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeParams {
    /// [`node_type`].
    pub kind: u32,
    /// Memset: element size (1, 2, 4).
    pub elem_size: u32,
    /// Kernel: function; host: the guest's host-function id (not zero);
    /// event record and event wait: the event.
    pub function: u64,
    /// Kernel: grid.
    pub grid: [u32; 3],
    /// Kernel: block.
    pub block: [u32; 3],
    /// Kernel: dynamic shared memory bytes.
    pub shared_bytes: u32,
    /// Kernel: parameter bytes (in the tail).
    pub param_bytes: u32,
    /// Memset, copy: destination.
    pub dst: u64,
    /// Copy: source.
    pub src: u64,
    /// Memset: pitch.
    pub pitch: u64,
    /// Memset: elements per row; copy: bytes.
    pub width: u64,
    /// Memset: rows.
    pub height: u64,
    /// Memset: value.
    pub value: u32,
    /// Zero.
    pub reserved: u32,
}

/// GRAPH_ADD_NODE; tail: `u64 × dep_count` dependencies, then
/// `params.param_bytes` kernel parameters. Response:
/// [`super::HandleResponse`] with the node.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphAddNodeRequest {
    /// Context.
    pub ctx: u64,
    /// Graph.
    pub graph: u64,
    /// Dependencies in the tail (≤ [`MAX_GRAPH_DEPS`]).
    pub dep_count: u32,
    /// Zero.
    pub reserved: u32,
    /// The node.
    pub params: NodeParams,
}

/// GRAPH_ADD_DEPENDENCIES; tail: `(from, to)` `u64` pairs × `count`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphEdgesRequest {
    /// Context.
    pub ctx: u64,
    /// Graph.
    pub graph: u64,
    /// Edges in the tail (≤ [`MAX_GRAPH_DEPS`]).
    pub count: u32,
    /// Zero.
    pub reserved: u32,
}

/// GRAPH_KERNEL_NODE_GET_PARAMS response; tail: the parameter bytes. For an
/// event record or event wait node: its kind and event, no tail.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeParamsResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The node's parameters.
    pub params: NodeParams,
}

/// GRAPH_KERNEL_NODE_SET_PARAMS: a kernel node of a graph (`exec` 0) or of
/// an executable graph (`node` is then the original graph's node); tail:
/// the parameter bytes. Also sets the event of an event record or event
/// wait node (`params.kind` says which; no tail).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSetParamsRequest {
    /// Context.
    pub ctx: u64,
    /// Executable graph, or 0.
    pub exec: u64,
    /// Node.
    pub node: u64,
    /// New parameters (`kind` is KERNEL, EVENT_RECORD or WAIT_EVENT, as the node's).
    pub params: NodeParams,
}

/// GRAPH_LAUNCH and GRAPH_UPLOAD (async).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphLaunchRequest {
    /// Context.
    pub ctx: u64,
    /// Executable graph.
    pub exec: u64,
    /// Stream.
    pub stream: u64,
}

/// GRAPH_LAUNCH_PART: runs part `part` of an executable graph that has
/// host nodes, in its launch order: the work after the `part`-th host node
/// (the first part: from the start) up to the next host node. Answered once
/// that work has finished, with [`super::ValueResponse`]: the host-function
/// id of the host node that ends the part, 0 when it was the last. The
/// guest runs that function, then asks for the next part.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphLaunchPartRequest {
    /// Context.
    pub ctx: u64,
    /// Executable graph.
    pub exec: u64,
    /// Stream (not capturing).
    pub stream: u64,
    /// Which part (0 first).
    pub part: u32,
    /// Zero.
    pub reserved: u32,
}

/// GRAPH_EXEC_UPDATE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphExecUpdateRequest {
    /// Context.
    pub ctx: u64,
    /// Executable graph.
    pub exec: u64,
    /// Graph of the same topology.
    pub graph: u64,
}

/// GRAPH_EXEC_UPDATE response (`CUgraphExecUpdateResultInfo`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphExecUpdateResponse {
    /// `CUresult`: SUCCESS also when the update was refused
    /// (`GRAPH_EXEC_UPDATE_FAILURE`), which `update_result` != 0 says, so
    /// the result info travels with it.
    pub result: u32,
    /// [`exec_update`].
    pub update_result: u32,
    /// The node that failed, if any.
    pub error_node: u64,
    /// Its counterpart in the executable graph, if any.
    pub error_from_node: u64,
}

const _: () = assert!(core::mem::size_of::<CaptureBeginRequest>() == 24);
const _: () = assert!(core::mem::size_of::<CaptureEndRequest>() == 24);
const _: () = assert!(core::mem::size_of::<CaptureInfoResponse>() == 32);
const _: () = assert!(core::mem::size_of::<CaptureDepsRequest>() == 24);
const _: () = assert!(core::mem::size_of::<GraphRequest>() == 24);
const _: () = assert!(core::mem::size_of::<NodeParams>() == 96);
const _: () = assert!(core::mem::size_of::<GraphAddNodeRequest>() == 120);
const _: () = assert!(core::mem::size_of::<GraphEdgesRequest>() == 24);
const _: () = assert!(core::mem::size_of::<NodeParamsResponse>() == 104);
const _: () = assert!(core::mem::size_of::<NodeSetParamsRequest>() == 120);
const _: () = assert!(core::mem::size_of::<GraphLaunchRequest>() == 24);
const _: () = assert!(core::mem::size_of::<GraphLaunchPartRequest>() == 32);
const _: () = assert!(core::mem::size_of::<GraphExecUpdateRequest>() == 24);
const _: () = assert!(core::mem::size_of::<GraphExecUpdateResponse>() == 24);
