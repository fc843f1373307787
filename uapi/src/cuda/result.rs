// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! `CUresult` values used across the stack (numbering of `cuda.h`).

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
pub const STREAM_CAPTURE_UNSUPPORTED: u32 = 900;
pub const STREAM_CAPTURE_INVALIDATED: u32 = 901;
pub const STREAM_CAPTURE_MERGE: u32 = 902;
pub const STREAM_CAPTURE_UNMATCHED: u32 = 903;
pub const STREAM_CAPTURE_UNJOINED: u32 = 904;
pub const STREAM_CAPTURE_ISOLATION: u32 = 905;
pub const STREAM_CAPTURE_IMPLICIT: u32 = 906;
pub const CAPTURED_EVENT: u32 = 907;
pub const STREAM_CAPTURE_WRONG_THREAD: u32 = 908;
pub const GRAPH_EXEC_UPDATE_FAILURE: u32 = 910;
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
        STREAM_CAPTURE_UNSUPPORTED => (
            "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
            "operation not permitted when stream is capturing",
        ),
        STREAM_CAPTURE_INVALIDATED => (
            "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
            "operation failed due to a previous error during capture",
        ),
        STREAM_CAPTURE_MERGE => (
            "CUDA_ERROR_STREAM_CAPTURE_MERGE",
            "operation would result in a merge of separate capture sequences",
        ),
        STREAM_CAPTURE_UNMATCHED => (
            "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED",
            "capture was not ended in the same stream as it began",
        ),
        STREAM_CAPTURE_UNJOINED => (
            "CUDA_ERROR_STREAM_CAPTURE_UNJOINED",
            "capturing stream has unjoined work",
        ),
        STREAM_CAPTURE_ISOLATION => (
            "CUDA_ERROR_STREAM_CAPTURE_ISOLATION",
            "dependency created on uncaptured work in another stream",
        ),
        STREAM_CAPTURE_IMPLICIT => (
            "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT",
            "operation would make the legacy stream depend on a capturing blocking stream",
        ),
        CAPTURED_EVENT => (
            "CUDA_ERROR_CAPTURED_EVENT",
            "operation not permitted on an event last recorded in a capturing stream",
        ),
        STREAM_CAPTURE_WRONG_THREAD => (
            "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD",
            "attempt to terminate a thread-local capture sequence from another thread",
        ),
        GRAPH_EXEC_UPDATE_FAILURE => (
            "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE",
            "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update",
        ),
        UNKNOWN => ("CUDA_ERROR_UNKNOWN", "unknown error"),
        _ => return None,
    })
}
