// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! CUDA commands: the driver API carried over the rings.
//!
//! Every CUDA request body starts with the guest context handle it runs in
//! (`ctx`, 0 = the client's primary context) and every response body starts
//! with a [`ResultHeader`] holding a `CUresult`. Handles (contexts, modules,
//! functions, streams, events) are opaque non-zero `u64`s the device hands out
//! per client; device pointers are real device addresses. Variable-length data
//! (copy payloads, module images, names, kernel parameters) follows the fixed
//! request struct (`tail`), or the fixed response struct.
//!
//! Commands marked *async* are submitted detached by the guest library (no
//! response is collected); an error they hit is kept by the device and
//! returned by the client's next command that has a response, as CUDA reports
//! asynchronous errors at the next synchronising call. Launch faults
//! (`ILLEGAL_ADDRESS`, `LAUNCH_FAILED`) are sticky: every later command of
//! that context fails with them.

/// `CUresult` values used across the stack (numbering of `cuda.h`).
pub mod result {
    #![allow(missing_docs)]
    pub const SUCCESS: u32 = 0;
    pub const INVALID_VALUE: u32 = 1;
    pub const OUT_OF_MEMORY: u32 = 2;
    pub const NOT_INITIALIZED: u32 = 3;
    pub const DEINITIALIZED: u32 = 4;
    pub const DEVICE_UNAVAILABLE: u32 = 46;
    pub const NO_DEVICE: u32 = 100;
    pub const INVALID_DEVICE: u32 = 101;
    pub const INVALID_IMAGE: u32 = 200;
    pub const INVALID_CONTEXT: u32 = 201;
    pub const NO_BINARY_FOR_GPU: u32 = 209;
    pub const UNSUPPORTED_LIMIT: u32 = 215;
    pub const INVALID_PTX: u32 = 218;
    pub const UNSUPPORTED_PTX_VERSION: u32 = 222;
    pub const PEER_ACCESS_UNSUPPORTED: u32 = 217;
    pub const INVALID_SOURCE: u32 = 300;
    pub const FILE_NOT_FOUND: u32 = 301;
    pub const INVALID_HANDLE: u32 = 400;
    pub const ILLEGAL_STATE: u32 = 401;
    pub const NOT_FOUND: u32 = 500;
    pub const NOT_READY: u32 = 600;
    pub const ILLEGAL_ADDRESS: u32 = 700;
    pub const LAUNCH_OUT_OF_RESOURCES: u32 = 701;
    pub const LAUNCH_TIMEOUT: u32 = 702;
    pub const INVALID_ADDRESS_SPACE: u32 = 717;
    pub const PEER_ACCESS_ALREADY_ENABLED: u32 = 704;
    pub const PEER_ACCESS_NOT_ENABLED: u32 = 705;
    pub const PRIMARY_CONTEXT_ACTIVE: u32 = 708;
    pub const CONTEXT_IS_DESTROYED: u32 = 709;
    pub const HOST_MEMORY_ALREADY_REGISTERED: u32 = 712;
    pub const HOST_MEMORY_NOT_REGISTERED: u32 = 713;
    pub const LAUNCH_FAILED: u32 = 719;
    pub const NOT_PERMITTED: u32 = 800;
    pub const NOT_SUPPORTED: u32 = 801;
    pub const UNKNOWN: u32 = 999;

    /// `cuGetErrorName` / `cuGetErrorString` text for a code, if known.
    pub const fn describe(code: u32) -> Option<(&'static str, &'static str)> {
        Some(match code {
            SUCCESS => ("CUDA_SUCCESS", "no error"),
            INVALID_VALUE => ("CUDA_ERROR_INVALID_VALUE", "invalid argument"),
            OUT_OF_MEMORY => ("CUDA_ERROR_OUT_OF_MEMORY", "out of memory"),
            NOT_INITIALIZED => ("CUDA_ERROR_NOT_INITIALIZED", "initialization error"),
            DEINITIALIZED => ("CUDA_ERROR_DEINITIALIZED", "driver shutting down"),
            DEVICE_UNAVAILABLE => (
                "CUDA_ERROR_DEVICE_UNAVAILABLE",
                "CUDA-capable device(s) is/are busy or unavailable",
            ),
            NO_DEVICE => ("CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"),
            INVALID_DEVICE => ("CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"),
            INVALID_IMAGE => ("CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"),
            INVALID_CONTEXT => ("CUDA_ERROR_INVALID_CONTEXT", "invalid device context"),
            NO_BINARY_FOR_GPU => (
                "CUDA_ERROR_NO_BINARY_FOR_GPU",
                "no kernel image is available for execution on the device",
            ),
            UNSUPPORTED_LIMIT => (
                "CUDA_ERROR_UNSUPPORTED_LIMIT",
                "limit is not supported on this architecture",
            ),
            INVALID_PTX => ("CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"),
            UNSUPPORTED_PTX_VERSION => (
                "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
                "the provided PTX was compiled with an unsupported toolchain.",
            ),
            PEER_ACCESS_UNSUPPORTED => (
                "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED",
                "peer access is not supported between these two devices",
            ),
            INVALID_SOURCE => (
                "CUDA_ERROR_INVALID_SOURCE",
                "device kernel image is invalid",
            ),
            FILE_NOT_FOUND => ("CUDA_ERROR_FILE_NOT_FOUND", "file not found"),
            INVALID_HANDLE => ("CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"),
            ILLEGAL_STATE => (
                "CUDA_ERROR_ILLEGAL_STATE",
                "the operation is not permitted in the current state",
            ),
            NOT_FOUND => ("CUDA_ERROR_NOT_FOUND", "named symbol not found"),
            NOT_READY => ("CUDA_ERROR_NOT_READY", "device not ready"),
            ILLEGAL_ADDRESS => (
                "CUDA_ERROR_ILLEGAL_ADDRESS",
                "an illegal memory access was encountered",
            ),
            LAUNCH_OUT_OF_RESOURCES => (
                "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
                "too many resources requested for launch",
            ),
            LAUNCH_TIMEOUT => (
                "CUDA_ERROR_LAUNCH_TIMEOUT",
                "the launch timed out and was terminated",
            ),
            INVALID_ADDRESS_SPACE => (
                "CUDA_ERROR_INVALID_ADDRESS_SPACE",
                "operation not supported on global/shared address space",
            ),
            PEER_ACCESS_ALREADY_ENABLED => (
                "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED",
                "peer access is already enabled",
            ),
            PEER_ACCESS_NOT_ENABLED => (
                "CUDA_ERROR_PEER_ACCESS_NOT_ENABLED",
                "peer access has not been enabled",
            ),
            PRIMARY_CONTEXT_ACTIVE => (
                "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE",
                "primary context active",
            ),
            CONTEXT_IS_DESTROYED => ("CUDA_ERROR_CONTEXT_IS_DESTROYED", "context is destroyed"),
            HOST_MEMORY_ALREADY_REGISTERED => (
                "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
                "part or all of the requested memory range is already mapped",
            ),
            HOST_MEMORY_NOT_REGISTERED => (
                "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
                "pointer does not correspond to a registered memory region",
            ),
            LAUNCH_FAILED => ("CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"),
            NOT_PERMITTED => ("CUDA_ERROR_NOT_PERMITTED", "operation not permitted"),
            NOT_SUPPORTED => ("CUDA_ERROR_NOT_SUPPORTED", "operation not supported"),
            UNKNOWN => ("CUDA_ERROR_UNKNOWN", "unknown error"),
            _ => return None,
        })
    }
}

mod commands;
// The kernel module includes this crate as a private module and names none
// of these; everything else does.
#[allow(unused_imports)]
pub use commands::*;

/// Module image formats (cuda-driver-abi.md §6): the guest sizes images by
/// them, the device checks and unpacks them.
pub mod image {
    /// First bytes of an ELF cubin.
    pub const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
    /// Little-endian first word of a fatbin (`FatbinHeader`).
    pub const FATBIN_MAGIC: u32 = 0xBA55_ED50;
    /// Little-endian first word of a `FatbincWrapper` (holds guest pointers;
    /// the guest library unwraps it, the device refuses it).
    pub const FATBINC_WRAPPER_MAGIC: u32 = 0x4662_43B1;
    /// Fatbin entry kind: PTX text.
    pub const ENTRY_PTX: u16 = 1;
    /// Fatbin entry flags: compressed payload (LZ4, ZSTD).
    pub const ENTRY_COMPRESSED: u64 = 0x2000 | 0x8000;
    /// Byte offset of the `u64` flags in a fatbin entry header (after kind,
    /// version, header size, padded payload size, two words, payload
    /// size... and `sm_version`, `bit_width` and one more word).
    pub const ENTRY_FLAGS_OFFSET: usize = 40;
}

mod pool;
pub use pool::*;

/// Stream handle 0: the legacy default stream. `CU_STREAM_LEGACY` (1) and
/// `CU_STREAM_PER_THREAD` (2) are accepted wherever a stream is and mean the
/// same default stream.
pub const DEFAULT_STREAM: u64 = 0;

/// Number of entries in [`DEVICE_GET_ATTRIBUTES`](op::DEVICE_GET_ATTRIBUTES)'s
/// table: index = `CUdevice_attribute` value.
pub const ATTRIBUTE_COUNT: usize = 160;

/// Most parameters a kernel may have in a layout.
pub const MAX_PARAMS: usize = 512;
/// Largest kernel parameter buffer (CUDA 12.1+: 32 KiB).
pub const MAX_PARAM_BYTES: u32 = 32764;
/// Longest symbol name.
pub const MAX_NAME: u32 = 4096;

/// First 8 bytes of every CUDA response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResultHeader {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
}

/// Response carrying one handle or address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandleResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The handle or device address.
    pub handle: u64,
}

/// Request naming only a context (CTX_DESTROY, CTX_SYNCHRONIZE, MEM_GET_INFO).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtxRequest {
    /// Context.
    pub ctx: u64,
}

/// CTX_CREATE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtxCreateRequest {
    /// Unused (contexts are created from nothing); zero.
    pub ctx: u64,
    /// `CUctx_flags`.
    pub flags: u32,
    /// Device ordinal (always 0: one GPU per device).
    pub device: i32,
}

/// PRIMARY_CTX_RETAIN / RELEASE / RESET and DEVICE_GET_ATTRIBUTES.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceRequest {
    /// Zero.
    pub ctx: u64,
    /// Device ordinal.
    pub device: i32,
    /// Zero.
    pub reserved: u32,
}

/// MEM_GET_INFO response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfoResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// Free device memory, bytes.
    pub free: u64,
    /// Total device memory, bytes.
    pub total: u64,
}

/// MEM_ALLOC.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemAllocRequest {
    /// Context.
    pub ctx: u64,
    /// Bytes (> 0).
    pub size: u64,
}

/// MEM_FREE and MEM_GET_ADDRESS_RANGE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtrRequest {
    /// Context.
    pub ctx: u64,
    /// Device address.
    pub dptr: u64,
}

/// MEM_GET_ADDRESS_RANGE response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressRangeResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// Allocation base.
    pub base: u64,
    /// Allocation size.
    pub size: u64,
}

/// Bits of [`CopyRequest::flags`] and friends.
pub mod copy_flags {
    /// Stream-ordered (the `*Async` variants): submitted detached.
    pub const ASYNC: u32 = 1 << 0;
}

/// MEMCPY_HTOD (tail: `len` bytes), MEMCPY_DTOH (response tail: `len`
/// bytes after the [`ResultHeader`]), MEMCPY_DTOD.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Destination device address (HTOD, DTOD).
    pub dst: u64,
    /// Source device address (DTOH, DTOD).
    pub src: u64,
    /// Bytes.
    pub len: u64,
    /// [`copy_flags`].
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// MEMSET: `height` rows of `width` elements of `elem_size` bytes, rows
/// `pitch` bytes apart (1D: height 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemsetRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Destination device address.
    pub dst: u64,
    /// Row pitch in bytes.
    pub pitch: u64,
    /// Elements per row.
    pub width: u64,
    /// Rows.
    pub height: u64,
    /// Value (low `elem_size` bytes used).
    pub value: u32,
    /// 1, 2 or 4.
    pub elem_size: u32,
    /// [`copy_flags`].
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// Directions of [`Copy2dRequest::kind`].
pub mod copy_kind {
    /// Host to device: rows packed in the request tail.
    pub const HTOD: u32 = 1;
    /// Device to host: rows packed in the response tail.
    pub const DTOH: u32 = 2;
    /// Device to device.
    pub const DTOD: u32 = 3;
}

/// MEMCPY_2D: `height` rows of `width` bytes. Host-side rows travel packed
/// (`width` bytes each); the guest library applies the host pitch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copy2dRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Destination device address (HTOD, DTOD).
    pub dst: u64,
    /// Destination pitch.
    pub dst_pitch: u64,
    /// Source device address (DTOH, DTOD).
    pub src: u64,
    /// Source pitch.
    pub src_pitch: u64,
    /// Bytes per row.
    pub width: u64,
    /// Rows.
    pub height: u64,
    /// [`copy_kind`].
    pub kind: u32,
    /// [`copy_flags`].
    pub flags: u32,
}

/// MODULE_LOAD (tail: the image: cubin ELF, fatbin, or NUL-terminated PTX).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleLoadRequest {
    /// Context.
    pub ctx: u64,
    /// Image bytes in the tail.
    pub image_len: u64,
}

/// Largest image a client may stage with MODULE_STAGE.
pub const MAX_STAGED_IMAGE: u64 = 1 << 30;

/// MODULE_STAGE (async; tail: the next bytes of an image too large for one
/// command). Appends to the client's staging buffer; a MODULE_LOAD with
/// `image_len == 0` then loads the staged image and empties the buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageRequest {
    /// Context.
    pub ctx: u64,
    /// Where the tail goes in the image: the bytes staged so far.
    pub offset: u64,
}

/// MODULE_UNLOAD.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleRequest {
    /// Context.
    pub ctx: u64,
    /// Module.
    pub module: u64,
}

/// MODULE_GET_FUNCTION and MODULE_GET_GLOBAL (tail: `name_len` bytes, no NUL).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SymbolRequest {
    /// Context.
    pub ctx: u64,
    /// Module.
    pub module: u64,
    /// Name length.
    pub name_len: u32,
    /// Zero.
    pub reserved: u32,
}

/// MODULE_GET_FUNCTION response; followed by `param_count` [`ParamInfo`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionResponse {
    /// `CUresult`.
    pub result: u32,
    /// Parameters in the layout.
    pub param_count: u32,
    /// Function handle.
    pub function: u64,
}

/// One kernel parameter's place in the packed parameter buffer
/// (`cuFuncGetParamInfo`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamInfo {
    /// Byte offset.
    pub offset: u32,
    /// Byte size.
    pub size: u32,
}

/// MODULE_GET_GLOBAL response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// Device address.
    pub dptr: u64,
    /// Size in bytes.
    pub size: u64,
}

/// LAUNCH (async; tail: `param_bytes` of packed parameters).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Function.
    pub function: u64,
    /// Grid dimensions.
    pub grid: [u32; 3],
    /// Block dimensions.
    pub block: [u32; 3],
    /// Dynamic shared memory bytes.
    pub shared_bytes: u32,
    /// Parameter bytes in the tail.
    pub param_bytes: u32,
}

/// STREAM_CREATE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCreateRequest {
    /// Context.
    pub ctx: u64,
    /// `CUstream_flags`.
    pub flags: u32,
    /// Priority.
    pub priority: i32,
}

/// STREAM_DESTROY, STREAM_SYNCHRONIZE, STREAM_QUERY.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
}

/// STREAM_WAIT_EVENT (async) and EVENT_RECORD (async).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamEventRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Event.
    pub event: u64,
    /// Flags (zero).
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// EVENT_CREATE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCreateRequest {
    /// Context.
    pub ctx: u64,
    /// `CUevent_flags`.
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// EVENT_DESTROY, EVENT_QUERY, EVENT_SYNCHRONIZE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventRequest {
    /// Context.
    pub ctx: u64,
    /// Event.
    pub event: u64,
}

/// EVENT_ELAPSED_TIME.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElapsedRequest {
    /// Context.
    pub ctx: u64,
    /// Start event.
    pub start: u64,
    /// End event.
    pub end: u64,
}

/// EVENT_ELAPSED_TIME response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElapsedResponse {
    /// `CUresult`.
    pub result: u32,
    /// Milliseconds as `f32` bits.
    pub millis_bits: u32,
}

/// Response carrying one value (a size, a count, a limit).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValueResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The value.
    pub value: u64,
}

/// FUNC_GET_ATTRIBUTES.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionRequest {
    /// Context.
    pub ctx: u64,
    /// Function.
    pub function: u64,
}

/// Number of `CUfunction_attribute` values (`CU_FUNC_ATTRIBUTE_MAX` of CUDA 13).
pub const FUNC_ATTRIBUTE_COUNT: usize = 16;

/// `CUfunction_attribute` ids the guest library reads by name.
pub mod func_attribute {
    #![allow(missing_docs)]
    pub const MAX_THREADS_PER_BLOCK: i32 = 0;
    pub const SHARED_SIZE_BYTES: i32 = 1;
    pub const CONST_SIZE_BYTES: i32 = 2;
    pub const LOCAL_SIZE_BYTES: i32 = 3;
    pub const NUM_REGS: i32 = 4;
    pub const PTX_VERSION: i32 = 5;
    pub const BINARY_VERSION: i32 = 6;
    pub const CACHE_MODE_CA: i32 = 7;
    pub const MAX_DYNAMIC_SHARED_SIZE_BYTES: i32 = 8;
    pub const PREFERRED_SHARED_MEMORY_CARVEOUT: i32 = 9;
    pub const CLUSTER_SIZE_MUST_BE_SET: i32 = 10;
    pub const REQUIRED_CLUSTER_WIDTH: i32 = 11;
    pub const REQUIRED_CLUSTER_HEIGHT: i32 = 12;
    pub const REQUIRED_CLUSTER_DEPTH: i32 = 13;
    pub const NON_PORTABLE_CLUSTER_SIZE_ALLOWED: i32 = 14;
    pub const CLUSTER_SCHEDULING_POLICY_PREFERENCE: i32 = 15;
}

/// FUNC_GET_ATTRIBUTES response: every attribute, index = attribute id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncAttributesResponse {
    /// `CUresult`.
    pub result: u32,
    /// [`FUNC_ATTRIBUTE_COUNT`].
    pub count: u32,
    /// Values.
    pub values: [i32; FUNC_ATTRIBUTE_COUNT],
}

/// FUNC_SET_ATTRIBUTE (`cuFuncSetAttribute`; `cuKernelSetAttribute` too).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncSetAttributeRequest {
    /// Context.
    pub ctx: u64,
    /// Function.
    pub function: u64,
    /// `CUfunction_attribute`.
    pub attribute: i32,
    /// Value.
    pub value: i32,
}

/// Questions of [`OccupancyRequest::kind`].
pub mod occupancy {
    /// `cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags`: `block_size`,
    /// `dynamic_smem`, `flags`.
    pub const MAX_ACTIVE_BLOCKS: u32 = 1;
    /// `cuOccupancyAvailableDynamicSMemPerBlock`: `num_blocks`, `block_size`.
    pub const AVAILABLE_DYNAMIC_SMEM: u32 = 2;
    /// `cuOccupancyMaxActiveClusters`: the launch shape and `cluster`.
    pub const MAX_ACTIVE_CLUSTERS: u32 = 3;
    /// `cuOccupancyMaxPotentialClusterSize`: the launch shape and `cluster`.
    pub const MAX_POTENTIAL_CLUSTER_SIZE: u32 = 4;
}

/// OCCUPANCY: one occupancy question about a function, answered by the
/// device's driver (response: [`ValueResponse`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OccupancyRequest {
    /// Context.
    pub ctx: u64,
    /// Function.
    pub function: u64,
    /// [`occupancy`].
    pub kind: u32,
    /// `CU_OCCUPANCY_*` flags.
    pub flags: u32,
    /// Threads per block.
    pub block_size: u32,
    /// Blocks per multiprocessor (AVAILABLE_DYNAMIC_SMEM).
    pub num_blocks: u32,
    /// Dynamic shared memory per block, bytes.
    pub dynamic_smem: u64,
    /// Grid of the launch configuration (cluster questions).
    pub grid: [u32; 3],
    /// Block of the launch configuration (cluster questions).
    pub block: [u32; 3],
    /// Cluster dimensions (`CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION`; zeros: none).
    pub cluster: [u32; 3],
    /// Zero.
    pub reserved: u32,
}

/// CTX_GET_LIMIT (response: [`ValueResponse`]) and CTX_SET_LIMIT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitRequest {
    /// Context.
    pub ctx: u64,
    /// `CUlimit`.
    pub limit: u32,
    /// Zero.
    pub reserved: u32,
    /// New value (SET).
    pub value: u64,
}

/// Most launch attributes one LAUNCH_EX carries.
pub const MAX_LAUNCH_ATTRIBUTES: u32 = 16;

/// `CUlaunchAttributeID`s a LAUNCH_EX may carry: those whose values hold
/// no handles or pointers (an event or graph-node attribute would need
/// translating, and is refused with `NOT_SUPPORTED` by the guest).
pub mod launch_attribute {
    #![allow(missing_docs)]
    pub const IGNORE: u32 = 0;
    pub const COOPERATIVE: u32 = 2;
    pub const CLUSTER_DIMENSION: u32 = 4;
    pub const CLUSTER_SCHEDULING_POLICY_PREFERENCE: u32 = 5;
    pub const PROGRAMMATIC_STREAM_SERIALIZATION: u32 = 6;
    pub const PRIORITY: u32 = 8;
    pub const MEM_SYNC_DOMAIN_MAP: u32 = 9;
    pub const MEM_SYNC_DOMAIN: u32 = 10;
    pub const PREFERRED_CLUSTER_DIMENSION: u32 = 11;
    pub const PREFERRED_SHARED_MEMORY_CARVEOUT: u32 = 14;

    /// Whether a LAUNCH_EX may carry attribute `id`.
    pub const fn is_carried(id: u32) -> bool {
        matches!(
            id,
            IGNORE
                | COOPERATIVE
                | CLUSTER_DIMENSION
                | CLUSTER_SCHEDULING_POLICY_PREFERENCE
                | PROGRAMMATIC_STREAM_SERIALIZATION
                | PRIORITY
                | MEM_SYNC_DOMAIN_MAP
                | MEM_SYNC_DOMAIN
                | PREFERRED_CLUSTER_DIMENSION
                | PREFERRED_SHARED_MEMORY_CARVEOUT
        )
    }
}

/// One `CUlaunchAttribute` as CUDA lays it out (id, padding, 64-byte value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchAttribute {
    /// `CUlaunchAttributeID` (one of [`launch_attribute`]).
    pub id: u32,
    /// Zero.
    pub reserved: u32,
    /// `CUlaunchAttributeValue` bytes.
    pub value: [u64; 8],
}

/// LAUNCH_EX (async; tail: `attr_count` [`LaunchAttribute`]s, then
/// `launch.param_bytes` of packed parameters): `cuLaunchKernelEx`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchExRequest {
    /// The launch, as LAUNCH carries it.
    pub launch: LaunchRequest,
    /// Attributes in the tail (at most [`MAX_LAUNCH_ATTRIBUTES`]).
    pub attr_count: u32,
    /// Zero.
    pub reserved: u32,
}

/// Words of a `CUtensorMap` (128 bytes, 128-aligned in CUDA's memory).
pub const TENSOR_MAP_WORDS: usize = 16;
/// Highest tensor rank a tensor map describes.
pub const MAX_TENSOR_RANK: usize = 5;

/// TENSOR_MAP_ENCODE_TILED: the arguments of `cuTensorMapEncodeTiled`, the
/// arrays in place (`global_strides` has `rank - 1` entries in use).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TensorMapEncodeRequest {
    /// Context.
    pub ctx: u64,
    /// `CUtensorMapDataType`.
    pub data_type: u32,
    /// 1 to [`MAX_TENSOR_RANK`].
    pub rank: u32,
    /// Device address of the tensor.
    pub global_address: u64,
    /// Elements per dimension.
    pub global_dim: [u64; MAX_TENSOR_RANK],
    /// Bytes between the starts of consecutive slices of dimensions 1....
    pub global_strides: [u64; MAX_TENSOR_RANK],
    /// Box size per dimension.
    pub box_dim: [u32; MAX_TENSOR_RANK],
    /// Traversal stride per dimension.
    pub element_strides: [u32; MAX_TENSOR_RANK],
    /// `CUtensorMapInterleave`.
    pub interleave: u32,
    /// `CUtensorMapSwizzle`.
    pub swizzle: u32,
    /// `CUtensorMapL2promotion`.
    pub l2_promotion: u32,
    /// `CUtensorMapFloatOOBfill`.
    pub oob_fill: u32,
}

/// TENSOR_MAP_REPLACE_ADDRESS: a tensor map and its new global address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TensorMapReplaceRequest {
    /// Context.
    pub ctx: u64,
    /// New device address of the tensor.
    pub global_address: u64,
    /// The tensor map.
    pub map: [u64; TENSOR_MAP_WORDS],
}

/// Response of both tensor-map commands: the encoded map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TensorMapResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The `CUtensorMap` bytes.
    pub map: [u64; TENSOR_MAP_WORDS],
}

const _: () = assert!(core::mem::size_of::<TensorMapEncodeRequest>() == 160);
const _: () = assert!(core::mem::size_of::<TensorMapReplaceRequest>() == 144);
const _: () = assert!(core::mem::size_of::<TensorMapResponse>() == 136);
const _: () = assert!(core::mem::size_of::<ValueResponse>() == 16);
const _: () = assert!(core::mem::size_of::<FunctionRequest>() == 16);
const _: () = assert!(core::mem::size_of::<FuncAttributesResponse>() == 72);
const _: () = assert!(core::mem::size_of::<FuncSetAttributeRequest>() == 24);
const _: () = assert!(core::mem::size_of::<OccupancyRequest>() == 80);
const _: () = assert!(core::mem::size_of::<LimitRequest>() == 24);
const _: () = assert!(core::mem::size_of::<LaunchAttribute>() == 72);
const _: () = assert!(core::mem::size_of::<LaunchExRequest>() == 64);
const _: () = assert!(core::mem::size_of::<ResultHeader>() == 8);
const _: () = assert!(core::mem::size_of::<HandleResponse>() == 16);
const _: () = assert!(core::mem::size_of::<CtxCreateRequest>() == 16);
const _: () = assert!(core::mem::size_of::<DeviceRequest>() == 16);
const _: () = assert!(core::mem::size_of::<MemInfoResponse>() == 24);
const _: () = assert!(core::mem::size_of::<AddressRangeResponse>() == 24);
const _: () = assert!(core::mem::size_of::<CopyRequest>() == 48);
const _: () = assert!(core::mem::size_of::<MemsetRequest>() == 64);
const _: () = assert!(core::mem::size_of::<Copy2dRequest>() == 72);
const _: () = assert!(core::mem::size_of::<SymbolRequest>() == 24);
const _: () = assert!(core::mem::size_of::<FunctionResponse>() == 16);
const _: () = assert!(core::mem::size_of::<ParamInfo>() == 8);
const _: () = assert!(core::mem::size_of::<GlobalResponse>() == 24);
const _: () = assert!(core::mem::size_of::<LaunchRequest>() == 56);
const _: () = assert!(core::mem::size_of::<StreamCreateRequest>() == 16);
const _: () = assert!(core::mem::size_of::<StreamEventRequest>() == 32);
const _: () = assert!(core::mem::size_of::<EventCreateRequest>() == 16);
const _: () = assert!(core::mem::size_of::<ElapsedRequest>() == 24);
const _: () = assert!(core::mem::size_of::<ElapsedResponse>() == 8);
const _: () = assert!(core::mem::size_of::<StageRequest>() == 16);
