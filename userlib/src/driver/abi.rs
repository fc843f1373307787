//! The CUDA driver ABI as libcuda's area functions see it, declared once:
//! the result type, the handle types, the ids and the C structs of
//! `cuda.h` that the guest reads or writes itself (the structs that travel
//! to the device are `uapi::cuda`'s).
#![allow(non_camel_case_types)]

use std::ffi::{c_int, c_uint, c_void};

use uapi::cuda::LaunchAttribute;

/// A `CUresult` error, or success with a value.
pub(crate) type CuResult<T = ()> = Result<T, u32>;

/// The CUDA driver ABI for the typed arguments of `vgpu_transport::arg`:
/// a NULL pointer argument is `CUDA_ERROR_INVALID_VALUE`.
pub(crate) struct Cuda;

impl vgpu_transport::arg::Abi for Cuda {
    type Error = u32;
    const NULL: u32 = uapi::cuda::result::INVALID_VALUE;
}

/// An out-pointer argument (`T *out`).
pub(crate) type Out<'a, T> = vgpu_transport::arg::Out<'a, T, Cuda>;
/// A pointer argument the function reads and writes (`T *inout`).
pub(crate) type InOut<'a, T> = vgpu_transport::arg::InOut<'a, T, Cuda>;
/// An input pointer argument (`const T *in`; `In<c_char>` is a C string).
pub(crate) type In<'a, T> = vgpu_transport::arg::In<'a, T, Cuda>;
/// A buffer argument the function fills, with its length argument.
pub(crate) type OutBuf<'a, T> = vgpu_transport::arg::OutBuf<'a, T, Cuda>;
/// A buffer argument the function reads, with its length argument.
pub(crate) type InBuf<'a, T> = vgpu_transport::arg::InBuf<'a, T, Cuda>;

/// `CUcontext`.
pub(crate) type CUcontext = *mut c_void;
/// `CUstream`.
pub(crate) type CUstream = *mut c_void;
/// `CUevent`.
pub(crate) type CUevent = *mut c_void;
/// `CUmodule`.
pub(crate) type CUmodule = *mut c_void;
/// `CUfunction`.
pub(crate) type CUfunction = *mut c_void;
/// `CUlibrary`.
pub(crate) type CUlibrary = *mut c_void;
/// `CUkernel`.
pub(crate) type CUkernel = *mut c_void;
/// `CUmemoryPool`.
pub(crate) type CUmemoryPool = *mut c_void;

/// Special stream handles meaning the default stream.
pub(crate) const CU_STREAM_LEGACY: u64 = 1;
pub(crate) const CU_STREAM_PER_THREAD: u64 = 2;

/// `CUdevice_attribute` values (shared with libnvidia-ml).
pub(crate) use vgpu_transport::device::attr;

/// `CUpointer_attribute` values.
#[allow(dead_code)]
pub(crate) mod pointer_attr {
    use std::ffi::c_int;
    pub const CONTEXT: c_int = 1;
    pub const MEMORY_TYPE: c_int = 2;
    pub const DEVICE_POINTER: c_int = 3;
    pub const HOST_POINTER: c_int = 4;
    pub const P2P_TOKENS: c_int = 5;
    pub const SYNC_MEMOPS: c_int = 6;
    pub const BUFFER_ID: c_int = 7;
    pub const IS_MANAGED: c_int = 8;
    pub const DEVICE_ORDINAL: c_int = 9;
    pub const IS_LEGACY_CUDA_IPC_CAPABLE: c_int = 10;
    pub const RANGE_START_ADDR: c_int = 11;
    pub const RANGE_SIZE: c_int = 12;
    pub const MAPPED: c_int = 13;
    pub const ALLOWED_HANDLE_TYPES: c_int = 14;
    pub const IS_GPU_DIRECT_RDMA_CAPABLE: c_int = 15;
    pub const ACCESS_FLAGS: c_int = 16;
    pub const MEMPOOL_HANDLE: c_int = 17;
    pub const MAPPING_SIZE: c_int = 18;
    pub const MAPPING_BASE_ADDR: c_int = 19;
    pub const MEMORY_BLOCK_ID: c_int = 20;
    pub const IS_HW_DECOMPRESS_CAPABLE: c_int = 21;
}

/// `CUmemorytype`.
pub(crate) const MEMORYTYPE_HOST: u32 = 1;
pub(crate) const MEMORYTYPE_DEVICE: u32 = 2;
pub(crate) const MEMORYTYPE_ARRAY: u32 = 3;
pub(crate) const MEMORYTYPE_UNIFIED: u32 = 4;

/// `cuLaunchKernel`'s `extra` keys.
pub(crate) const CU_LAUNCH_PARAM_END: usize = 0x0;
pub(crate) const CU_LAUNCH_PARAM_BUFFER_POINTER: usize = 0x1;
pub(crate) const CU_LAUNCH_PARAM_BUFFER_SIZE: usize = 0x2;

/// `CU_FUNCTION_LOADED`.
pub(crate) const CU_FUNCTION_LOADED: c_int = 1;

/// `CUmoduleLoadingMode` (cuda.h).
pub(crate) const CU_MODULE_EAGER_LOADING: c_int = 1;
pub(crate) const CU_MODULE_LAZY_LOADING: c_int = 2;

/// `CU_LIBRARY_BINARY_IS_PRESERVED`: the caller keeps the image alive. We
/// copy the image either way, so it changes nothing here.
pub(crate) const CU_LIBRARY_BINARY_IS_PRESERVED: c_int = 1;
/// `CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE`.
pub(crate) const CU_LIBRARY_HOST_UNIVERSAL_FUNCTION_AND_DATA_TABLE: c_int = 0;

/// `CUlaunchConfig` as `cuda.h` lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct LaunchConfig {
    pub grid: [c_uint; 3],
    pub block: [c_uint; 3],
    pub shared_mem_bytes: c_uint,
    pub stream: *mut c_void,
    pub attrs: *const LaunchAttribute,
    pub num_attrs: c_uint,
}

/// `CUDA_MEMCPY2D`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct CudaMemcpy2d {
    pub src_x_in_bytes: usize,
    pub src_y: usize,
    pub src_memory_type: u32,
    pub src_host: *const c_void,
    pub src_device: u64,
    pub src_array: *mut c_void,
    pub src_pitch: usize,
    pub dst_x_in_bytes: usize,
    pub dst_y: usize,
    pub dst_memory_type: u32,
    pub dst_host: *mut c_void,
    pub dst_device: u64,
    pub dst_array: *mut c_void,
    pub dst_pitch: usize,
    pub width_in_bytes: usize,
    pub height: usize,
}

/// `CUmemLocation`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct CuMemLocation {
    pub kind: c_int,
    pub id: c_int,
}

/// `CUdevprop`.
#[repr(C)]
pub(crate) struct CuDevprop {
    pub max_threads_per_block: c_int,
    pub max_threads_dim: [c_int; 3],
    pub max_grid_size: [c_int; 3],
    pub shared_mem_per_block: c_int,
    pub total_constant_memory: c_int,
    pub simd_width: c_int,
    pub mem_pitch: c_int,
    pub regs_per_block: c_int,
    pub clock_rate: c_int,
    pub texture_align: c_int,
}

// The layouts of cuda.h on LP64.
const _: () = assert!(core::mem::size_of::<LaunchConfig>() == 56);
const _: () = assert!(core::mem::size_of::<CudaMemcpy2d>() == 128);
const _: () = assert!(core::mem::size_of::<CuMemLocation>() == 8);
const _: () = assert!(core::mem::size_of::<CuDevprop>() == 56);
