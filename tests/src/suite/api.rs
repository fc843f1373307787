//! The driver API entry points the suite calls, looked up by name in
//! whatever `libcuda.so.1` the loader finds (ours or NVIDIA's).
#![allow(non_snake_case)] // the driver API's own names

use std::ffi::{c_char, c_int, c_uint, c_void};

use libloading::Library;

pub type Ptr = *mut c_void;
pub type CuRes = u32;

macro_rules! api {
    ($($name:ident = fn($($t:ty),*);)*) => {
        #[allow(non_snake_case)]
        pub struct Api {
            _lib: Library,
            $(pub $name: unsafe extern "C" fn($($t),*) -> CuRes,)*
        }
        impl Api {
            pub fn load() -> Result<Self, String> {
                // SAFETY: loading the CUDA driver runs its initialisers only.
                let lib = unsafe { Library::new("libcuda.so.1") }
                    .map_err(|e| format!("libcuda.so.1: {e}"))?;
                $(
                    // SAFETY: the driver API's documented signature.
                    let $name = *unsafe {
                        lib.get::<unsafe extern "C" fn($($t),*) -> CuRes>(
                            concat!(stringify!($name), "\0").as_bytes(),
                        )
                    }
                    .map_err(|e| format!("{}: {e}", stringify!($name)))?;
                )*
                Ok(Self { _lib: lib, $($name),* })
            }
        }
    };
}

api! {
    cuInit = fn(c_uint);
    cuDriverGetVersion = fn(*mut c_int);
    cuDeviceGet = fn(*mut c_int, c_int);
    cuDeviceGetName = fn(*mut c_char, c_int, c_int);
    cuDeviceTotalMem_v2 = fn(*mut usize, c_int);
    cuDevicePrimaryCtxRetain = fn(*mut Ptr, c_int);
    cuCtxSetCurrent = fn(Ptr);
    cuCtxCreate_v2 = fn(*mut Ptr, c_uint, c_int);
    cuCtxSynchronize = fn();
    cuGetErrorName = fn(u32, *mut *const c_char);
    cuModuleLoadData = fn(*mut Ptr, *const c_void);
    cuModuleUnload = fn(Ptr);
    cuModuleGetFunction = fn(*mut Ptr, Ptr, *const c_char);
    cuModuleGetGlobal_v2 = fn(*mut u64, *mut usize, Ptr, *const c_char);
    cuMemAlloc_v2 = fn(*mut u64, usize);
    cuMemFree_v2 = fn(u64);
    cuMemGetInfo_v2 = fn(*mut usize, *mut usize);
    cuMemAllocHost_v2 = fn(*mut Ptr, usize);
    cuMemFreeHost = fn(Ptr);
    cuMemcpyHtoD_v2 = fn(u64, *const c_void, usize);
    cuMemcpyDtoH_v2 = fn(*mut c_void, u64, usize);
    cuMemcpyHtoDAsync_v2 = fn(u64, *const c_void, usize, Ptr);
    cuMemcpyDtoHAsync_v2 = fn(*mut c_void, u64, usize, Ptr);
    cuMemcpy2D_v2 = fn(*const Memcpy2d);
    cuMemsetD8_v2 = fn(u64, u8, usize);
    cuMemsetD16_v2 = fn(u64, u16, usize);
    cuMemsetD32_v2 = fn(u64, u32, usize);
    cuMemsetD2D32_v2 = fn(u64, usize, u32, usize, usize);
    cuLaunchKernel = fn(Ptr, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, Ptr, *mut Ptr, *mut Ptr);
    cuStreamCreate = fn(*mut Ptr, c_uint);
    cuStreamDestroy_v2 = fn(Ptr);
    cuStreamSynchronize = fn(Ptr);
    cuStreamQuery = fn(Ptr);
    cuStreamWaitEvent = fn(Ptr, Ptr, c_uint);
    cuEventCreate = fn(*mut Ptr, c_uint);
    cuEventRecord = fn(Ptr, Ptr);
    cuEventQuery = fn(Ptr);
    cuEventSynchronize = fn(Ptr);
    cuEventElapsedTime = fn(*mut f32, Ptr, Ptr);
    cuEventDestroy_v2 = fn(Ptr);
    cuMemGetAllocationGranularity = fn(*mut usize, *const AllocationProp, c_int);
    cuMemAddressReserve = fn(*mut u64, usize, usize, u64, u64);
    cuMemAddressFree = fn(u64, usize);
    cuMemCreate = fn(*mut u64, usize, *const AllocationProp, u64);
    cuMemRelease = fn(u64);
    cuMemMap = fn(u64, usize, usize, u64, u64);
    cuMemUnmap = fn(u64, usize);
    cuMemSetAccess = fn(u64, usize, *const AccessDesc, usize);
    cuMemGetAccess = fn(*mut u64, *const c_void, u64);
    cuMemRetainAllocationHandle = fn(*mut u64, *mut c_void);
    cuMemGetAllocationPropertiesFromHandle = fn(*mut AllocationProp, u64);
    cuCtxGetCurrent = fn(*mut Ptr);
    cuMemsetD32Async = fn(u64, u32, usize, Ptr);
    cuStreamBeginCapture_v2 = fn(Ptr, c_int);
    cuStreamEndCapture = fn(Ptr, *mut Ptr);
    cuStreamIsCapturing = fn(Ptr, *mut c_int);
    cuGraphCreate = fn(*mut Ptr, c_uint);
    cuGraphGetNodes = fn(Ptr, *mut Ptr, *mut usize);
    cuGraphAddMemsetNode = fn(*mut Ptr, Ptr, *const Ptr, usize, *const MemsetNodeParams, Ptr);
    cuGraphAddKernelNode_v2 = fn(*mut Ptr, Ptr, *const Ptr, usize, *const KernelNodeParams);
    cuGraphExecKernelNodeSetParams_v2 = fn(Ptr, Ptr, *const KernelNodeParams);
    cuGraphInstantiateWithFlags = fn(*mut Ptr, Ptr, u64);
    cuGraphUpload = fn(Ptr, Ptr);
    cuGraphLaunch = fn(Ptr, Ptr);
    cuGraphExecUpdate_v2 = fn(Ptr, Ptr, *mut UpdateInfo);
    cuGraphExecDestroy = fn(Ptr);
    cuGraphDestroy = fn(Ptr);
    cuLaunchHostFunc = fn(Ptr, Option<unsafe extern "C" fn(Ptr)>, Ptr);
    cuStreamAddCallback = fn(Ptr, Option<unsafe extern "C" fn(Ptr, u32, Ptr)>, Ptr, c_uint);
    cuGraphAddHostNode = fn(*mut Ptr, Ptr, *const Ptr, usize, *const HostNodeParams);
    cuGraphHostNodeGetParams = fn(Ptr, *mut HostNodeParams);
    cuGraphHostNodeSetParams = fn(Ptr, *const HostNodeParams);
    cuGraphExecHostNodeSetParams = fn(Ptr, Ptr, *const HostNodeParams);
    cuEventRecordWithFlags = fn(Ptr, Ptr, c_uint);
    cuGraphAddEventRecordNode = fn(*mut Ptr, Ptr, *const Ptr, usize, Ptr);
    cuGraphAddEventWaitNode = fn(*mut Ptr, Ptr, *const Ptr, usize, Ptr);
    cuGraphEventRecordNodeGetEvent = fn(Ptr, *mut Ptr);
    cuGraphEventWaitNodeGetEvent = fn(Ptr, *mut Ptr);
    cuGraphExecEventRecordNodeSetEvent = fn(Ptr, Ptr, Ptr);
}

pub use super::cases::{
    AccessDesc, AllocationProp, HostNodeParams, KernelNodeParams, MemsetNodeParams, UpdateInfo,
};

impl Api {
    /// `cuGetErrorName` of `r`, or its number.
    pub fn error_name(&self, r: CuRes) -> String {
        let mut s: *const c_char = std::ptr::null();
        // SAFETY: cuGetErrorName writes a static string or NULL.
        unsafe { (self.cuGetErrorName)(r, &mut s) };
        if s.is_null() {
            format!("CUresult {r}")
        } else {
            // SAFETY: a NUL-terminated static string.
            unsafe { std::ffi::CStr::from_ptr(s) }
                .to_string_lossy()
                .into_owned()
        }
    }

    /// `Ok` for `CUDA_SUCCESS`, else `"<what>: <error name>"`.
    pub fn check(&self, what: &str, r: CuRes) -> Result<(), String> {
        if r == uapi::cuda::result::SUCCESS {
            Ok(())
        } else {
            Err(format!("{what}: {}", self.error_name(r)))
        }
    }
}

/// `CUDA_MEMCPY2D`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Memcpy2d {
    pub src_x: usize,
    pub src_y: usize,
    pub src_type: u32,
    pub src_host: *const c_void,
    pub src_device: u64,
    pub src_array: Ptr,
    pub src_pitch: usize,
    pub dst_x: usize,
    pub dst_y: usize,
    pub dst_type: u32,
    pub dst_host: Ptr,
    pub dst_device: u64,
    pub dst_array: Ptr,
    pub dst_pitch: usize,
    pub width: usize,
    pub height: usize,
}

pub const MT_HOST: u32 = 1;
pub const MT_DEVICE: u32 = 2;
