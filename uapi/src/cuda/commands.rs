// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Every CUDA command, declared once: its opcode, its request and response
//! structs, whether variable-length bytes follow either, and whether the
//! guest submits it detached. From this list come the opcode constants
//! ([`op`]), one marker type per command ([`cmds`]) with its [`CudaCommand`]
//! impl (for typed calls), and the [`COMMANDS`] table the device model and
//! the docs test read; [`crate::cuda_command_list!`] hands the list to other crates
//! (the host generates its typed decoder from it). Adding a command starts here.

/// How the guest library submits a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submission {
    /// With a response: the caller waits for it.
    Call,
    /// Always detached (stream-ordered work): no response; an error is
    /// owed to the client's next command with a response.
    Detached,
    /// Detached when the request's flags have `copy_flags::ASYNC` (the
    /// `*Async` copies and memsets), else a call.
    DetachedIfAsync,
}

/// One command as the table describes it.
#[derive(Clone, Copy, Debug)]
pub struct Command {
    /// Opcode.
    pub opcode: u16,
    /// Name, as in [`super::op`] and `docs/device.md`.
    pub name: &'static str,
    /// Name of the request struct.
    pub request: &'static str,
    /// Bytes of the request struct.
    pub request_size: usize,
    /// Whether variable-length bytes may follow the request struct.
    pub request_tail: bool,
    /// Name of the response struct.
    pub response: &'static str,
    /// Bytes of the response struct (an error response is padded to it).
    pub response_size: usize,
    /// Whether variable-length bytes may follow the response struct.
    pub response_tail: bool,
    /// How it is submitted.
    pub submission: Submission,
}

/// A command's types, for typed calls (`call::<Cmd>()`).
pub trait CudaCommand {
    /// Opcode.
    const OPCODE: u16;
    /// Whether variable-length bytes follow the request.
    const REQUEST_TAIL: bool;
    /// Whether variable-length bytes follow the response.
    const RESPONSE_TAIL: bool;
    /// How it is submitted.
    const SUBMISSION: Submission;
    /// The request struct.
    type Request: super::super::wire::Wire;
    /// The response struct.
    type Response: super::super::wire::Wire;
}

macro_rules! has {
    () => {
        false
    };
    ($x:ident) => {
        true
    };
}

macro_rules! submission {
    () => {
        Submission::Call
    };
    (detached) => {
        Submission::Detached
    };
    (detached_if_async) => {
        Submission::DetachedIfAsync
    };
}

macro_rules! cuda_commands {
    ($(
        $(#[doc = $doc:literal])*
        $ty:ident($name:ident = $code:literal):
            $req:ident $(+ $rtail:ident)? => $resp:ident $(+ $ptail:ident)? $(, $sub:ident)?;
    )*) => {
        /// CUDA opcodes (the command space of `cmd::Opcode`,
        /// from 0x100), generated from the command list.
        pub mod op {
            #![allow(missing_docs)]
            $( $(#[doc = $doc])* pub const $name: u16 = $code; )*

            /// Whether `opcode` is a CUDA command.
            pub const fn is_cuda(opcode: u16) -> bool {
                opcode >= 0x100 && opcode < 0x200
            }
        }

        /// One marker type per command.
        pub mod cmds {
            #![allow(missing_docs)]
            use super::{CudaCommand, Submission};
            $(
                $(#[doc = $doc])*
                #[derive(Clone, Copy, Debug)]
                pub struct $ty;
                impl CudaCommand for $ty {
                    const OPCODE: u16 = super::op::$name;
                    const REQUEST_TAIL: bool = has!($($rtail)?);
                    const RESPONSE_TAIL: bool = has!($($ptail)?);
                    const SUBMISSION: Submission = submission!($($sub)?);
                    type Request = super::super::$req;
                    type Response = super::super::$resp;
                }
            )*
        }

        /// Every CUDA command.
        pub const COMMANDS: &[Command] = &[$(
            Command {
                opcode: op::$name,
                name: stringify!($name),
                request: stringify!($req),
                request_size: core::mem::size_of::<super::$req>(),
                request_tail: has!($($rtail)?),
                response: stringify!($resp),
                response_size: core::mem::size_of::<super::$resp>(),
                response_tail: has!($($ptail)?),
                submission: submission!($($sub)?),
            },
        )*];
    };
}

/// The command list itself, handed to `$callback` (a `macro_rules!` taking
/// the same rows as `cuda_commands!`), so that other crates can generate
/// their own per-command code from it: the host's typed decoder is made
/// this way, so a command declared here without a host arm does not compile.
#[macro_export]
#[doc(hidden)]
macro_rules! cuda_command_list {
    ($callback:ident) => { $callback! {
    CtxCreate(CTX_CREATE = 0x100): CtxCreateRequest => HandleResponse;
    CtxDestroy(CTX_DESTROY = 0x101): CtxRequest => ResultHeader;
    PrimaryCtxRetain(PRIMARY_CTX_RETAIN = 0x102): DeviceRequest => HandleResponse;
    PrimaryCtxRelease(PRIMARY_CTX_RELEASE = 0x103): DeviceRequest => ResultHeader;
    PrimaryCtxReset(PRIMARY_CTX_RESET = 0x104): DeviceRequest => ResultHeader;
    CtxSynchronize(CTX_SYNCHRONIZE = 0x105): CtxRequest => ResultHeader;
    /// Response tail: `i32 × ATTRIBUTE_COUNT`.
    DeviceGetAttributes(DEVICE_GET_ATTRIBUTES = 0x110): DeviceRequest => ResultHeader + tail;
    MemGetInfo(MEM_GET_INFO = 0x111): CtxRequest => MemInfoResponse;
    MemAlloc(MEM_ALLOC = 0x120): MemAllocRequest => HandleResponse;
    MemFree(MEM_FREE = 0x121): PtrRequest => ResultHeader;
    MemGetAddressRange(MEM_GET_ADDRESS_RANGE = 0x122): PtrRequest => AddressRangeResponse;
    MemcpyHtod(MEMCPY_HTOD = 0x130): CopyRequest + tail => ResultHeader, detached_if_async;
    /// Detached only when `ASYNC` into host memory (`HOST_MEMORY`): then
    /// the device writes the client's block in stream order and the
    /// response, and its tail, are never sent.
    MemcpyDtoh(MEMCPY_DTOH = 0x131): CopyRequest => ResultHeader + tail, detached_if_async;
    MemcpyDtod(MEMCPY_DTOD = 0x132): CopyRequest => ResultHeader, detached_if_async;
    Memset(MEMSET = 0x133): MemsetRequest => ResultHeader, detached_if_async;
    Memcpy2d(MEMCPY_2D = 0x134): Copy2dRequest + tail => ResultHeader + tail, detached_if_async;
    /// Moves nothing: the device registers the host pages its tail names
    /// (the VM path's pinned host memory, by the driver's scatter-gather
    /// list) so that later copies from and to them move by DMA alone, as
    /// NVIDIA's driver readies pinned memory when it is allocated. Only
    /// `ctx` and `len` (the tail's length) are set. Where the tail is bytes
    /// (the socket path, short ranges) there is nothing to register.
    PrepareHost(PREPARE_HOST = 0x135): CopyRequest + tail => ResultHeader;
    ModuleLoad(MODULE_LOAD = 0x140): ModuleLoadRequest + tail => HandleResponse;
    ModuleUnload(MODULE_UNLOAD = 0x141): ModuleRequest => ResultHeader;
    /// Response tail: `ParamInfo × param_count`.
    ModuleGetFunction(MODULE_GET_FUNCTION = 0x142): SymbolRequest + tail => FunctionResponse + tail;
    ModuleGetGlobal(MODULE_GET_GLOBAL = 0x143): SymbolRequest + tail => GlobalResponse;
    ModuleStage(MODULE_STAGE = 0x144): StageRequest + tail => ResultHeader, detached;
    Launch(LAUNCH = 0x150): LaunchRequest + tail => ResultHeader, detached;
    StreamCreate(STREAM_CREATE = 0x160): StreamCreateRequest => HandleResponse;
    StreamDestroy(STREAM_DESTROY = 0x161): StreamRequest => ResultHeader;
    StreamSynchronize(STREAM_SYNCHRONIZE = 0x162): StreamRequest => ResultHeader;
    StreamQuery(STREAM_QUERY = 0x163): StreamRequest => ResultHeader;
    StreamWaitEvent(STREAM_WAIT_EVENT = 0x164): StreamEventRequest => ResultHeader, detached;
    /// What NVIDIA's driver answers through CONTEXT_IDENTITY[51] then [39]
    /// for the stream (cuBLASLt asks it before its cooperative nvjet GEMMs).
    StreamDriverValue(STREAM_DRIVER_VALUE = 0x165): StreamRequest => ValueResponse;
    EventCreate(EVENT_CREATE = 0x170): EventCreateRequest => HandleResponse;
    EventDestroy(EVENT_DESTROY = 0x171): EventRequest => ResultHeader;
    EventRecord(EVENT_RECORD = 0x172): StreamEventRequest => ResultHeader, detached;
    EventQuery(EVENT_QUERY = 0x173): EventRequest => ResultHeader;
    EventSynchronize(EVENT_SYNCHRONIZE = 0x174): EventRequest => ResultHeader;
    EventElapsedTime(EVENT_ELAPSED_TIME = 0x175): ElapsedRequest => ElapsedResponse;
    // Functions, occupancy, limits, the extended launch and tensor maps
    // (what cudart 12/13, cuBLAS and cuBLASLt ask beyond the module API).
    FuncGetAttributes(FUNC_GET_ATTRIBUTES = 0x180): FunctionRequest => FuncAttributesResponse;
    FuncSetAttribute(FUNC_SET_ATTRIBUTE = 0x181): FuncSetAttributeRequest => ResultHeader;
    Occupancy(OCCUPANCY = 0x182): OccupancyRequest => ValueResponse;
    CtxGetLimit(CTX_GET_LIMIT = 0x183): LimitRequest => ValueResponse;
    CtxSetLimit(CTX_SET_LIMIT = 0x184): LimitRequest => ResultHeader;
    /// Request tail: `LaunchAttribute × attr_count`, then the parameters.
    LaunchEx(LAUNCH_EX = 0x185): LaunchExRequest + tail => ResultHeader, detached;
    TensorMapEncodeTiled(TENSOR_MAP_ENCODE_TILED = 0x186): TensorMapEncodeRequest => TensorMapResponse;
    TensorMapReplaceAddress(TENSOR_MAP_REPLACE_ADDRESS = 0x187): TensorMapReplaceRequest => TensorMapResponse;
    // Stream-ordered allocator.
    MemAllocAsync(MEM_ALLOC_ASYNC = 0x1A0): MemAllocAsyncRequest => HandleResponse;
    MemFreeAsync(MEM_FREE_ASYNC = 0x1A1): MemFreeAsyncRequest => ResultHeader, detached;
    MemPoolGetAttribute(MEM_POOL_GET_ATTRIBUTE = 0x1A2): MemPoolRequest => MemPoolValueResponse;
    MemPoolSetAttribute(MEM_POOL_SET_ATTRIBUTE = 0x1A3): MemPoolRequest => ResultHeader;
    MemPoolTrimTo(MEM_POOL_TRIM_TO = 0x1A4): MemPoolRequest => ResultHeader;
    // Virtual memory management (`cuMemAddressReserve`, `cuMemCreate`, `cuMemMap`, …).
    MemAddressReserve(MEM_ADDRESS_RESERVE = 0x1B0): MemAddressReserveRequest => HandleResponse;
    MemAddressFree(MEM_ADDRESS_FREE = 0x1B1): VmmRangeRequest => ResultHeader;
    MemCreate(MEM_CREATE = 0x1B2): MemCreateRequest => HandleResponse;
    MemRelease(MEM_RELEASE = 0x1B3): MemHandleRequest => ResultHeader;
    MemMap(MEM_MAP = 0x1B4): MemMapRequest => ResultHeader;
    MemUnmap(MEM_UNMAP = 0x1B5): VmmRangeRequest => ResultHeader;
    MemSetAccess(MEM_SET_ACCESS = 0x1B6): MemSetAccessRequest => ResultHeader;
    MemGetAccess(MEM_GET_ACCESS = 0x1B7): MemGetAccessRequest => ValueResponse;
    MemRetainAllocationHandle(MEM_RETAIN_ALLOCATION_HANDLE = 0x1B8): PtrRequest => HandleResponse;
    // Stream capture and graphs.
    StreamBeginCapture(STREAM_BEGIN_CAPTURE = 0x1C0): CaptureBeginRequest => ValueResponse;
    StreamEndCapture(STREAM_END_CAPTURE = 0x1C1): CaptureEndRequest => HandleResponse;
    /// Response tail: `u64 × dep_count` nodes.
    StreamGetCaptureInfo(STREAM_GET_CAPTURE_INFO = 0x1C2): StreamRequest => CaptureInfoResponse + tail;
    StreamUpdateCaptureDeps(STREAM_UPDATE_CAPTURE_DEPS = 0x1C3): CaptureDepsRequest + tail => ResultHeader;
    GraphCreate(GRAPH_CREATE = 0x1C4): GraphRequest => HandleResponse;
    GraphDestroy(GRAPH_DESTROY = 0x1C5): GraphRequest => ResultHeader;
    GraphClone(GRAPH_CLONE = 0x1C6): GraphRequest => HandleResponse;
    /// Response: the node count, then `u64 ×` that many nodes.
    GraphGetNodes(GRAPH_GET_NODES = 0x1C7): GraphRequest => ValueResponse + tail;
    GraphNodeGetType(GRAPH_NODE_GET_TYPE = 0x1C8): GraphRequest => ValueResponse;
    /// Request tail: dependencies, then kernel parameters.
    GraphAddNode(GRAPH_ADD_NODE = 0x1C9): GraphAddNodeRequest + tail => HandleResponse;
    GraphAddDependencies(GRAPH_ADD_DEPENDENCIES = 0x1CA): GraphEdgesRequest + tail => ResultHeader;
    GraphKernelNodeGetParams(GRAPH_KERNEL_NODE_GET_PARAMS = 0x1CB): GraphRequest => NodeParamsResponse + tail;
    GraphKernelNodeSetParams(GRAPH_KERNEL_NODE_SET_PARAMS = 0x1CC): NodeSetParamsRequest + tail => ResultHeader;
    GraphInstantiate(GRAPH_INSTANTIATE = 0x1CD): GraphRequest => HandleResponse;
    GraphExecDestroy(GRAPH_EXEC_DESTROY = 0x1CE): GraphRequest => ResultHeader;
    GraphLaunch(GRAPH_LAUNCH = 0x1CF): GraphLaunchRequest => ResultHeader, detached;
    GraphUpload(GRAPH_UPLOAD = 0x1D0): GraphLaunchRequest => ResultHeader, detached;
    GraphExecUpdate(GRAPH_EXEC_UPDATE = 0x1D1): GraphExecUpdateRequest => GraphExecUpdateResponse;
    /// Runs one part of an executable graph with host nodes, to its next host node.
    GraphLaunchPart(GRAPH_LAUNCH_PART = 0x1D2): GraphLaunchPartRequest => ValueResponse;
    } };
}

cuda_command_list!(cuda_commands);

/// The command with `opcode`, if any.
pub const fn command(opcode: u16) -> Option<&'static Command> {
    let mut i = 0;
    while i < COMMANDS.len() {
        if COMMANDS[i].opcode == opcode {
            return Some(&COMMANDS[i]);
        }
        i += 1;
    }
    None
}

// Opcodes are unique and CUDA's.
const _: () = {
    let mut i = 0;
    while i < COMMANDS.len() {
        assert!(op::is_cuda(COMMANDS[i].opcode));
        let mut j = i + 1;
        while j < COMMANDS.len() {
            assert!(COMMANDS[i].opcode != COMMANDS[j].opcode);
            j += 1;
        }
        i += 1;
    }
};
