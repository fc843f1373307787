//! Every exported `cu*` symbol, in ONE declaration list.
//!
//! `implemented` entries give the C signature and the area function they
//! call (real names, `_v2`/`_v3`/`_v4`, `_ptds`/`_ptsz` variants map to the
//! same implementation); `unsupported` entries are logging stubs that return
//! `CUDA_ERROR_NOT_SUPPORTED` (C callers' arguments are ignored, which the
//! C calling convention allows), so no import a consumer links against is
//! ever missing. The macro generates the `#[no_mangle] extern "C"`
//! wrappers, each behind a panic guard, and the name table that
//! `cuGetProcAddress` serves.
#![allow(non_snake_case, clippy::missing_safety_doc, clippy::too_many_arguments)]

use std::{
    collections::BTreeMap,
    ffi::{c_char, c_int, c_uint, c_void},
    sync::OnceLock,
};

use uapi::cuda::result;
use vgpu_transport::arg::FromC;

use crate::driver::{
    capture as cap, context as ctx, dark_api as dark, device as dev, error as err, event as ev,
    function as func, graph as gr, graph_events as gev, graph_exec as gx, host_fn as hf, launch,
    library as lib, memory as mem, module as md, stream as st, stream_query as sq,
    tensor_map as tm, CuResult,
};
use crate::proc_address as pa;

/// `CUresult`.
pub type CUresult = u32;
type Ptr = *mut c_void;
type CPtr = *const c_void;

/// Runs an implementation: logging once, panics turned into
/// `CUDA_ERROR_UNKNOWN`, errors traced.
pub(crate) fn guard(name: &'static str, f: impl FnOnce() -> CuResult) -> CUresult {
    vgpu_transport::export::guard(name, result::SUCCESS, result::UNKNOWN, f)
}

fn not_supported(name: &'static str) -> CUresult {
    vgpu_transport::logging::init();
    tracing::warn!("{name}: not supported by vgpu (CUDA_ERROR_NOT_SUPPORTED)");
    result::NOT_SUPPORTED
}

macro_rules! exports {
    (
        implemented { $( $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) => $imp:path ; )* }
        unsupported { $( $stub:ident ),* $(,)? }
    ) => {
        $(
            #[no_mangle]
            #[allow(unused_unsafe)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) -> CUresult {
                // SAFETY: the C caller's arguments, as the driver API
                // defines them, converted once to the area function's
                // typed arguments (`vgpu_transport::arg`).
                guard(stringify!($name), move || unsafe { $imp($(FromC::from_c($arg)),*) })
            }
        )*
        $(
            #[no_mangle]
            pub unsafe extern "C" fn $stub() -> CUresult {
                not_supported(stringify!($stub))
            }
        )*
        /// Every exported name → its address.
        pub(crate) fn table() -> &'static BTreeMap<&'static str, usize> {
            static T: OnceLock<BTreeMap<&'static str, usize>> = OnceLock::new();
            T.get_or_init(|| {
                let mut m = BTreeMap::new();
                $( m.insert(stringify!($name), $name as *const () as usize); )*
                $( m.insert(stringify!($stub), $stub as *const () as usize); )*
                m
            })
        }
        /// Names of the implemented and the stubbed exports.
        #[allow(dead_code)]
        pub(crate) const IMPLEMENTED: &[&str] = &[$(stringify!($name)),*];
        #[allow(dead_code)]
        pub(crate) const UNSUPPORTED: &[&str] = &[$(stringify!($stub)),*];
    };
}

exports! {
    implemented {
        cuInit(flags: c_uint) => dev::init;
        cuDriverGetVersion(v: *mut c_int) => dev::driver_get_version;
        cuDeviceGet(d: *mut c_int, ordinal: c_int) => dev::device_get;
        cuDeviceGetCount(n: *mut c_int) => dev::device_get_count;
        cuDeviceGetName(name: *mut c_char, len: c_int, d: c_int) => dev::device_get_name;
        cuDeviceGetUuid(u: *mut [u8; 16], d: c_int) => dev::device_get_uuid;
        cuDeviceGetUuid_v2(u: *mut [u8; 16], d: c_int) => dev::device_get_uuid;
        cuDeviceTotalMem(b: *mut usize, d: c_int) => dev::device_total_mem;
        cuDeviceTotalMem_v2(b: *mut usize, d: c_int) => dev::device_total_mem;
        cuDeviceGetAttribute(pi: *mut c_int, a: c_int, d: c_int) => dev::device_get_attribute;
        cuDeviceGetPCIBusId(b: *mut c_char, len: c_int, d: c_int) => dev::device_get_pci_bus_id;
        cuDeviceGetByPCIBusId(d: *mut c_int, b: *const c_char) => dev::device_get_by_pci_bus_id;
        cuDeviceComputeCapability(ma: *mut c_int, mi: *mut c_int, d: c_int) => dev::device_compute_capability;
        cuDeviceGetProperties(p: Ptr, d: c_int) => dev::device_get_properties;

        cuCtxCreate(p: *mut Ptr, f: c_uint, d: c_int) => ctx::ctx_create;
        cuCtxCreate_v2(p: *mut Ptr, f: c_uint, d: c_int) => ctx::ctx_create;
        cuCtxCreate_v3(p: *mut Ptr, pa: Ptr, n: c_int, f: c_uint, d: c_int) => ctx::ctx_create_v3;
        cuCtxCreate_v4(p: *mut Ptr, pa: Ptr, f: c_uint, d: c_int) => ctx::ctx_create_v4;
        cuCtxDestroy(c: Ptr) => ctx::ctx_destroy;
        cuCtxDestroy_v2(c: Ptr) => ctx::ctx_destroy;
        cuCtxPushCurrent(c: Ptr) => ctx::ctx_push_current;
        cuCtxPushCurrent_v2(c: Ptr) => ctx::ctx_push_current;
        cuCtxPopCurrent(p: *mut Ptr) => ctx::ctx_pop_current;
        cuCtxPopCurrent_v2(p: *mut Ptr) => ctx::ctx_pop_current;
        cuCtxSetCurrent(c: Ptr) => ctx::ctx_set_current;
        cuCtxGetCurrent(p: *mut Ptr) => ctx::ctx_get_current;
        cuCtxGetDevice(d: *mut c_int) => ctx::ctx_get_device;
        cuCtxGetDevice_v2(d: *mut c_int, c: Ptr) => ctx::ctx_get_device_v2;
        cuCtxSynchronize() => ctx::ctx_synchronize;
        cuCtxSynchronize_v2(c: Ptr) => ctx::ctx_synchronize_v2;
        cuCtxGetApiVersion(c: Ptr, v: *mut c_uint) => ctx::ctx_get_api_version;
        cuCtxGetFlags(f: *mut c_uint) => ctx::ctx_get_flags;
        cuCtxGetStreamPriorityRange(l: *mut c_int, g: *mut c_int) => ctx::ctx_get_stream_priority_range;
        cuDevicePrimaryCtxRetain(p: *mut Ptr, d: c_int) => ctx::primary_ctx_retain;
        cuDevicePrimaryCtxRelease(d: c_int) => ctx::primary_ctx_release;
        cuDevicePrimaryCtxRelease_v2(d: c_int) => ctx::primary_ctx_release;
        cuDevicePrimaryCtxReset(d: c_int) => ctx::primary_ctx_reset;
        cuDevicePrimaryCtxReset_v2(d: c_int) => ctx::primary_ctx_reset;
        cuDevicePrimaryCtxGetState(d: c_int, f: *mut c_uint, a: *mut c_int) => ctx::primary_ctx_get_state;
        cuDevicePrimaryCtxSetFlags(d: c_int, f: c_uint) => ctx::primary_ctx_set_flags;
        cuDevicePrimaryCtxSetFlags_v2(d: c_int, f: c_uint) => ctx::primary_ctx_set_flags;

        cuMemAlloc(p: *mut u64, n: usize) => mem::mem_alloc;
        cuMemAlloc_v2(p: *mut u64, n: usize) => mem::mem_alloc;
        cuMemFree(p: u64) => mem::mem_free;
        cuMemFree_v2(p: u64) => mem::mem_free;
        cuMemGetInfo(f: *mut usize, t: *mut usize) => mem::mem_get_info;
        cuMemGetInfo_v2(f: *mut usize, t: *mut usize) => mem::mem_get_info;
        cuMemGetAddressRange(b: *mut u64, s: *mut usize, p: u64) => mem::mem_get_address_range;
        cuMemGetAddressRange_v2(b: *mut u64, s: *mut usize, p: u64) => mem::mem_get_address_range;
        cuMemcpyHtoD(d: u64, s: CPtr, n: usize) => mem::memcpy_htod;
        cuMemcpyHtoD_v2(d: u64, s: CPtr, n: usize) => mem::memcpy_htod;
        cuMemcpyHtoD_v2_ptds(d: u64, s: CPtr, n: usize) => mem::memcpy_htod;
        cuMemcpyDtoH(d: Ptr, s: u64, n: usize) => mem::memcpy_dtoh;
        cuMemcpyDtoH_v2(d: Ptr, s: u64, n: usize) => mem::memcpy_dtoh;
        cuMemcpyDtoH_v2_ptds(d: Ptr, s: u64, n: usize) => mem::memcpy_dtoh;
        cuMemcpyDtoD(d: u64, s: u64, n: usize) => mem::memcpy_dtod;
        cuMemcpyDtoD_v2(d: u64, s: u64, n: usize) => mem::memcpy_dtod;
        cuMemcpyDtoD_v2_ptds(d: u64, s: u64, n: usize) => mem::memcpy_dtod;
        cuMemcpy(d: u64, s: u64, n: usize) => mem::memcpy;
        cuMemcpy_ptds(d: u64, s: u64, n: usize) => mem::memcpy;
        cuMemcpyHtoDAsync(d: u64, s: CPtr, n: usize, h: Ptr) => mem::memcpy_htod_async;
        cuMemcpyHtoDAsync_v2(d: u64, s: CPtr, n: usize, h: Ptr) => mem::memcpy_htod_async;
        cuMemcpyHtoDAsync_v2_ptsz(d: u64, s: CPtr, n: usize, h: Ptr) => mem::memcpy_htod_async;
        cuMemcpyDtoHAsync(d: Ptr, s: u64, n: usize, h: Ptr) => mem::memcpy_dtoh_async;
        cuMemcpyDtoHAsync_v2(d: Ptr, s: u64, n: usize, h: Ptr) => mem::memcpy_dtoh_async;
        cuMemcpyDtoHAsync_v2_ptsz(d: Ptr, s: u64, n: usize, h: Ptr) => mem::memcpy_dtoh_async;
        cuMemcpyDtoDAsync(d: u64, s: u64, n: usize, h: Ptr) => mem::memcpy_dtod_async;
        cuMemcpyDtoDAsync_v2(d: u64, s: u64, n: usize, h: Ptr) => mem::memcpy_dtod_async;
        cuMemcpyDtoDAsync_v2_ptsz(d: u64, s: u64, n: usize, h: Ptr) => mem::memcpy_dtod_async;
        cuMemcpyAsync(d: u64, s: u64, n: usize, h: Ptr) => mem::memcpy_async;
        cuMemcpyAsync_ptsz(d: u64, s: u64, n: usize, h: Ptr) => mem::memcpy_async;
        cuMemsetD8(d: u64, v: u8, n: usize) => mem::memset_d8;
        cuMemsetD8_v2(d: u64, v: u8, n: usize) => mem::memset_d8;
        cuMemsetD8_v2_ptds(d: u64, v: u8, n: usize) => mem::memset_d8;
        cuMemsetD16(d: u64, v: u16, n: usize) => mem::memset_d16;
        cuMemsetD16_v2(d: u64, v: u16, n: usize) => mem::memset_d16;
        cuMemsetD16_v2_ptds(d: u64, v: u16, n: usize) => mem::memset_d16;
        cuMemsetD32(d: u64, v: u32, n: usize) => mem::memset_d32;
        cuMemsetD32_v2(d: u64, v: u32, n: usize) => mem::memset_d32;
        cuMemsetD32_v2_ptds(d: u64, v: u32, n: usize) => mem::memset_d32;
        cuMemsetD8Async(d: u64, v: u8, n: usize, h: Ptr) => mem::memset_d8_async;
        cuMemsetD8Async_ptsz(d: u64, v: u8, n: usize, h: Ptr) => mem::memset_d8_async;
        cuMemsetD16Async(d: u64, v: u16, n: usize, h: Ptr) => mem::memset_d16_async;
        cuMemsetD16Async_ptsz(d: u64, v: u16, n: usize, h: Ptr) => mem::memset_d16_async;
        cuMemsetD32Async(d: u64, v: u32, n: usize, h: Ptr) => mem::memset_d32_async;
        cuMemsetD32Async_ptsz(d: u64, v: u32, n: usize, h: Ptr) => mem::memset_d32_async;
        cuMemsetD2D8(d: u64, p: usize, v: u8, w: usize, h: usize) => mem::memset_d2d8;
        cuMemsetD2D8_v2(d: u64, p: usize, v: u8, w: usize, h: usize) => mem::memset_d2d8;
        cuMemsetD2D8_v2_ptds(d: u64, p: usize, v: u8, w: usize, h: usize) => mem::memset_d2d8;
        cuMemsetD2D16(d: u64, p: usize, v: u16, w: usize, h: usize) => mem::memset_d2d16;
        cuMemsetD2D16_v2(d: u64, p: usize, v: u16, w: usize, h: usize) => mem::memset_d2d16;
        cuMemsetD2D16_v2_ptds(d: u64, p: usize, v: u16, w: usize, h: usize) => mem::memset_d2d16;
        cuMemsetD2D32(d: u64, p: usize, v: u32, w: usize, h: usize) => mem::memset_d2d32;
        cuMemsetD2D32_v2(d: u64, p: usize, v: u32, w: usize, h: usize) => mem::memset_d2d32;
        cuMemsetD2D32_v2_ptds(d: u64, p: usize, v: u32, w: usize, h: usize) => mem::memset_d2d32;
        cuMemsetD2D8Async(d: u64, p: usize, v: u8, w: usize, h: usize, s: Ptr) => mem::memset_d2d8_async;
        cuMemsetD2D8Async_ptsz(d: u64, p: usize, v: u8, w: usize, h: usize, s: Ptr) => mem::memset_d2d8_async;
        cuMemsetD2D16Async(d: u64, p: usize, v: u16, w: usize, h: usize, s: Ptr) => mem::memset_d2d16_async;
        cuMemsetD2D16Async_ptsz(d: u64, p: usize, v: u16, w: usize, h: usize, s: Ptr) => mem::memset_d2d16_async;
        cuMemsetD2D32Async(d: u64, p: usize, v: u32, w: usize, h: usize, s: Ptr) => mem::memset_d2d32_async;
        cuMemsetD2D32Async_ptsz(d: u64, p: usize, v: u32, w: usize, h: usize, s: Ptr) => mem::memset_d2d32_async;
        cuMemcpy2D(p: CPtr) => mem::memcpy_2d;
        cuMemcpy2D_v2(p: CPtr) => mem::memcpy_2d;
        cuMemcpy2D_v2_ptds(p: CPtr) => mem::memcpy_2d;
        cuMemcpy2DUnaligned(p: CPtr) => mem::memcpy_2d;
        cuMemcpy2DUnaligned_v2(p: CPtr) => mem::memcpy_2d;
        cuMemcpy2DUnaligned_v2_ptds(p: CPtr) => mem::memcpy_2d;
        cuMemcpy2DAsync(p: CPtr, s: Ptr) => mem::memcpy_2d_async;
        cuMemcpy2DAsync_v2(p: CPtr, s: Ptr) => mem::memcpy_2d_async;
        cuMemcpy2DAsync_v2_ptsz(p: CPtr, s: Ptr) => mem::memcpy_2d_async;
        cuMemAllocHost(p: *mut Ptr, n: usize) => mem::mem_alloc_host;
        cuMemAllocHost_v2(p: *mut Ptr, n: usize) => mem::mem_alloc_host;
        cuMemHostAlloc(p: *mut Ptr, n: usize, f: c_uint) => mem::mem_host_alloc;
        cuMemFreeHost(p: Ptr) => mem::mem_free_host;
        cuMemHostGetFlags(f: *mut c_uint, p: Ptr) => mem::mem_host_get_flags;
        cuMemAllocPitch(p: *mut u64, pi: *mut usize, w: usize, h: usize, e: c_uint) => mem::mem_alloc_pitch;
        cuMemAllocPitch_v2(p: *mut u64, pi: *mut usize, w: usize, h: usize, e: c_uint) => mem::mem_alloc_pitch;
        cuMemHostRegister(p: Ptr, n: usize, f: c_uint) => mem::mem_host_register;
        cuMemHostRegister_v2(p: Ptr, n: usize, f: c_uint) => mem::mem_host_register;
        cuMemHostUnregister(p: Ptr) => mem::mem_host_unregister;
        cuMemHostGetDevicePointer(d: *mut u64, p: Ptr, f: c_uint) => mem::mem_host_get_device_pointer;
        cuMemHostGetDevicePointer_v2(d: *mut u64, p: Ptr, f: c_uint) => mem::mem_host_get_device_pointer;
        cuPointerGetAttribute(d: Ptr, a: c_int, p: u64) => mem::pointer_get_attribute;
        cuPointerGetAttributes(n: c_uint, a: *const c_int, d: *mut Ptr, p: u64) => mem::pointer_get_attributes;
        cuPointerSetAttribute(v: CPtr, a: c_int, p: u64) => mem::pointer_set_attribute;
        cuMemcpyPeer(d: u64, dc: Ptr, s: u64, sc: Ptr, n: usize) => mem::memcpy_peer;
        cuMemcpyPeer_ptds(d: u64, dc: Ptr, s: u64, sc: Ptr, n: usize) => mem::memcpy_peer;
        cuMemcpyPeerAsync(d: u64, dc: Ptr, s: u64, sc: Ptr, n: usize, h: Ptr) => mem::memcpy_peer_async;
        cuMemcpyPeerAsync_ptsz(d: u64, dc: Ptr, s: u64, sc: Ptr, n: usize, h: Ptr) => mem::memcpy_peer_async;
        cuDeviceCanAccessPeer(c: *mut c_int, d: c_int, p: c_int) => dev::device_can_access_peer;
        cuDeviceGetP2PAttribute(v: *mut c_int, a: c_int, s: c_int, d: c_int) => dev::device_get_p2p_attribute;
        cuCtxEnablePeerAccess(c: Ptr, f: c_uint) => mem::ctx_enable_peer_access;
        cuCtxDisablePeerAccess(c: Ptr) => mem::ctx_disable_peer_access;
        cuMemAllocAsync(d: *mut u64, n: usize, h: Ptr) => mem::mem_alloc_async;
        cuMemAllocAsync_ptsz(d: *mut u64, n: usize, h: Ptr) => mem::mem_alloc_async;
        cuMemAllocFromPoolAsync(d: *mut u64, n: usize, p: Ptr, h: Ptr) => mem::mem_alloc_from_pool_async;
        cuMemAllocFromPoolAsync_ptsz(d: *mut u64, n: usize, p: Ptr, h: Ptr) => mem::mem_alloc_from_pool_async;
        cuMemFreeAsync(d: u64, h: Ptr) => mem::mem_free_async;
        cuMemFreeAsync_ptsz(d: u64, h: Ptr) => mem::mem_free_async;
        cuDeviceGetDefaultMemPool(p: *mut Ptr, d: c_int) => mem::device_get_default_mem_pool;
        cuDeviceGetMemPool(p: *mut Ptr, d: c_int) => mem::device_get_mem_pool;
        cuDeviceSetMemPool(d: c_int, p: Ptr) => mem::device_set_mem_pool;
        cuMemGetDefaultMemPool(p: *mut Ptr, l: CPtr, t: c_int) => mem::mem_get_default_mem_pool;
        cuMemGetMemPool(p: *mut Ptr, l: CPtr, t: c_int) => mem::mem_get_mem_pool;
        cuMemSetMemPool(l: CPtr, t: c_int, p: Ptr) => mem::mem_set_mem_pool;
        cuMemPoolGetAttribute(p: Ptr, a: c_int, v: Ptr) => mem::mem_pool_get_attribute;
        cuMemPoolSetAttribute(p: Ptr, a: c_int, v: Ptr) => mem::mem_pool_set_attribute;
        cuMemPoolTrimTo(p: Ptr, n: usize) => mem::mem_pool_trim_to;
        cuMemAddressReserve(p: *mut u64, n: usize, a: usize, h: u64, f: u64) => mem::mem_address_reserve;
        cuMemAddressFree(p: u64, n: usize) => mem::mem_address_free;
        cuMemCreate(h: *mut u64, n: usize, p: CPtr, f: u64) => mem::mem_create;
        cuMemRelease(h: u64) => mem::mem_release;
        cuMemMap(p: u64, n: usize, o: usize, h: u64, f: u64) => mem::mem_map;
        cuMemUnmap(p: u64, n: usize) => mem::mem_unmap;
        cuMemSetAccess(p: u64, n: usize, d: CPtr, c: usize) => mem::mem_set_access;
        cuMemGetAccess(f: *mut u64, l: CPtr, p: u64) => mem::mem_get_access;
        cuMemGetAllocationGranularity(g: *mut usize, p: CPtr, o: c_int) => mem::mem_get_allocation_granularity;
        cuMemRetainAllocationHandle(h: *mut u64, a: Ptr) => mem::mem_retain_allocation_handle;
        cuMemGetAllocationPropertiesFromHandle(p: Ptr, h: u64) => mem::mem_get_allocation_properties_from_handle;

        cuModuleLoad(m: *mut Ptr, f: *const c_char) => md::module_load;
        cuModuleLoadData(m: *mut Ptr, i: CPtr) => md::module_load_data;
        cuModuleLoadDataEx(m: *mut Ptr, i: CPtr, n: c_uint, o: *mut c_int, v: *mut Ptr) => md::module_load_data_ex;
        cuModuleLoadFatBinary(m: *mut Ptr, i: CPtr) => md::module_load_fat_binary;
        cuModuleUnload(m: Ptr) => md::module_unload;
        cuModuleGetLoadingMode(m: *mut c_int) => md::module_get_loading_mode;
        cuModuleGetFunction(f: *mut Ptr, m: Ptr, n: *const c_char) => md::module_get_function;
        cuModuleGetGlobal(d: *mut u64, b: *mut usize, m: Ptr, n: *const c_char) => md::module_get_global;
        cuModuleGetGlobal_v2(d: *mut u64, b: *mut usize, m: Ptr, n: *const c_char) => md::module_get_global;
        cuFuncGetParamInfo(f: Ptr, i: usize, o: *mut usize, s: *mut usize) => md::func_get_param_info;

        cuLaunchKernel(f: Ptr, gx: c_uint, gy: c_uint, gz: c_uint, bx: c_uint, by: c_uint, bz: c_uint, sh: c_uint, s: Ptr, p: *mut Ptr, e: *mut Ptr) => launch::launch_kernel;
        cuLaunchKernel_ptsz(f: Ptr, gx: c_uint, gy: c_uint, gz: c_uint, bx: c_uint, by: c_uint, bz: c_uint, sh: c_uint, s: Ptr, p: *mut Ptr, e: *mut Ptr) => launch::launch_kernel;

        cuLibraryLoadData(l: *mut Ptr, c: CPtr, jo: *mut c_int, jv: *mut Ptr, nj: c_uint, lo: *mut c_int, lv: *mut Ptr, nl: c_uint) => lib::library_load_data;
        cuLibraryLoadFromFile(l: *mut Ptr, f: *const c_char, jo: *mut c_int, jv: *mut Ptr, nj: c_uint, lo: *mut c_int, lv: *mut Ptr, nl: c_uint) => lib::library_load_from_file;
        cuLibraryUnload(l: Ptr) => lib::library_unload;
        cuLibraryGetKernel(k: *mut Ptr, l: Ptr, n: *const c_char) => lib::library_get_kernel;
        cuLibraryGetModule(m: *mut Ptr, l: Ptr) => lib::library_get_module;
        cuLibraryGetGlobal(d: *mut u64, b: *mut usize, l: Ptr, n: *const c_char) => lib::library_get_global;
        cuKernelGetFunction(f: *mut Ptr, k: Ptr) => lib::kernel_get_function;
        cuKernelGetLibrary(l: *mut Ptr, k: Ptr) => lib::kernel_get_library;
        cuKernelGetName(n: *mut *const c_char, k: Ptr) => lib::kernel_get_name;
        cuKernelGetAttribute(v: *mut c_int, a: c_int, k: Ptr, d: c_int) => lib::kernel_get_attribute;
        cuKernelSetAttribute(a: c_int, v: c_int, k: Ptr, d: c_int) => lib::kernel_set_attribute;
        cuKernelSetCacheConfig(k: Ptr, c: c_int, d: c_int) => lib::kernel_set_cache_config;
        cuKernelGetParamInfo(k: Ptr, i: usize, o: *mut usize, s: *mut usize) => lib::kernel_get_param_info;

        cuFuncGetAttribute(v: *mut c_int, a: c_int, f: Ptr) => func::func_get_attribute;
        cuFuncSetAttribute(f: Ptr, a: c_int, v: c_int) => func::func_set_attribute;
        cuFuncSetCacheConfig(f: Ptr, c: c_int) => func::func_set_cache_config;
        cuFuncSetSharedMemConfig(f: Ptr, c: c_int) => func::func_set_shared_mem_config;
        cuFuncGetModule(m: *mut Ptr, f: Ptr) => func::func_get_module;
        cuFuncGetName(n: *mut *const c_char, f: Ptr) => func::func_get_name;
        cuFuncIsLoaded(st: *mut c_int, f: Ptr) => func::func_is_loaded;
        cuFuncLoad(f: Ptr) => func::func_load;
        cuOccupancyMaxActiveBlocksPerMultiprocessor(n: *mut c_int, f: Ptr, b: c_int, sm: usize) => func::occupancy_max_active_blocks;
        cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(n: *mut c_int, f: Ptr, b: c_int, sm: usize, fl: c_uint) => func::occupancy_max_active_blocks_with_flags;
        cuOccupancyAvailableDynamicSMemPerBlock(n: *mut usize, f: Ptr, nb: c_int, b: c_int) => func::occupancy_available_dynamic_smem;
        cuOccupancyMaxPotentialBlockSize(g: *mut c_int, b: *mut c_int, f: Ptr, cb: func::BlockToSmem, sm: usize, l: c_int) => func::occupancy_max_potential_block_size;
        cuOccupancyMaxPotentialBlockSizeWithFlags(g: *mut c_int, b: *mut c_int, f: Ptr, cb: func::BlockToSmem, sm: usize, l: c_int, fl: c_uint) => func::occupancy_max_potential_block_size_with_flags;
        cuOccupancyMaxActiveClusters(n: *mut c_int, f: Ptr, c: CPtr) => func::occupancy_max_active_clusters;
        cuOccupancyMaxPotentialClusterSize(n: *mut c_int, f: Ptr, c: CPtr) => func::occupancy_max_potential_cluster_size;
        cuCtxGetLimit(v: *mut usize, l: c_uint) => func::ctx_get_limit;
        cuCtxSetLimit(l: c_uint, v: usize) => func::ctx_set_limit;
        cuCtxGetId(c: Ptr, id: *mut u64) => func::ctx_get_id;
        cuCtxGetCacheConfig(c: *mut c_int) => func::ctx_get_cache_config;
        cuCtxSetCacheConfig(c: c_int) => func::ctx_set_cache_config;

        cuLaunchKernelEx(c: CPtr, f: Ptr, p: *mut Ptr, e: *mut Ptr) => launch::launch_kernel_ex;
        cuLaunchKernelEx_ptsz(c: CPtr, f: Ptr, p: *mut Ptr, e: *mut Ptr) => launch::launch_kernel_ex;
        cuLaunchCooperativeKernel(f: Ptr, gx: c_uint, gy: c_uint, gz: c_uint, bx: c_uint, by: c_uint, bz: c_uint, sh: c_uint, s: Ptr, p: *mut Ptr) => launch::launch_cooperative_kernel;
        cuLaunchCooperativeKernel_ptsz(f: Ptr, gx: c_uint, gy: c_uint, gz: c_uint, bx: c_uint, by: c_uint, bz: c_uint, sh: c_uint, s: Ptr, p: *mut Ptr) => launch::launch_cooperative_kernel;

        cuStreamGetCtx(s: Ptr, c: *mut Ptr) => sq::stream_get_ctx;
        cuStreamGetCtx_ptsz(s: Ptr, c: *mut Ptr) => sq::stream_get_ctx;
        cuStreamGetCtx_v2(s: Ptr, c: *mut Ptr, g: *mut Ptr) => sq::stream_get_ctx_v2;
        cuStreamGetCtx_v2_ptsz(s: Ptr, c: *mut Ptr, g: *mut Ptr) => sq::stream_get_ctx_v2;
        cuStreamGetId(s: Ptr, id: *mut u64) => sq::stream_get_id;
        cuStreamGetId_ptsz(s: Ptr, id: *mut u64) => sq::stream_get_id;
        cuStreamGetDevice(s: Ptr, d: *mut c_int) => sq::stream_get_device;
        cuStreamGetDevice_ptsz(s: Ptr, d: *mut c_int) => sq::stream_get_device;
        cuStreamIsCapturing(s: Ptr, st: *mut c_int) => cap::stream_is_capturing;
        cuStreamIsCapturing_ptsz(s: Ptr, st: *mut c_int) => cap::stream_is_capturing;
        cuStreamGetCaptureInfo(s: Ptr, st: *mut c_int, id: *mut u64) => cap::stream_get_capture_info;
        cuStreamGetCaptureInfo_ptsz(s: Ptr, st: *mut c_int, id: *mut u64) => cap::stream_get_capture_info;
        cuStreamGetCaptureInfo_v2(s: Ptr, st: *mut c_int, id: *mut u64, g: *mut Ptr, d: *mut CPtr, n: *mut usize) => cap::stream_get_capture_info_v2;
        cuStreamGetCaptureInfo_v2_ptsz(s: Ptr, st: *mut c_int, id: *mut u64, g: *mut Ptr, d: *mut CPtr, n: *mut usize) => cap::stream_get_capture_info_v2;
        cuStreamGetCaptureInfo_v3(s: Ptr, st: *mut c_int, id: *mut u64, g: *mut Ptr, d: *mut CPtr, e: *mut CPtr, n: *mut usize) => cap::stream_get_capture_info_v3;
        cuStreamGetCaptureInfo_v3_ptsz(s: Ptr, st: *mut c_int, id: *mut u64, g: *mut Ptr, d: *mut CPtr, e: *mut CPtr, n: *mut usize) => cap::stream_get_capture_info_v3;
        cuThreadExchangeStreamCaptureMode(m: *mut c_int) => cap::thread_exchange_stream_capture_mode;
        cuStreamBeginCapture(s: Ptr) => cap::stream_begin_capture;
        cuStreamBeginCapture_ptsz(s: Ptr) => cap::stream_begin_capture;
        cuStreamBeginCapture_v2(s: Ptr, m: c_int) => cap::stream_begin_capture_v2;
        cuStreamBeginCapture_v2_ptsz(s: Ptr, m: c_int) => cap::stream_begin_capture_v2;
        cuStreamEndCapture(s: Ptr, g: *mut Ptr) => cap::stream_end_capture;
        cuStreamEndCapture_ptsz(s: Ptr, g: *mut Ptr) => cap::stream_end_capture;
        cuStreamUpdateCaptureDependencies(s: Ptr, n: *const u64, c: usize, f: c_uint) => cap::stream_update_capture_dependencies;
        cuStreamUpdateCaptureDependencies_ptsz(s: Ptr, n: *const u64, c: usize, f: c_uint) => cap::stream_update_capture_dependencies;
        cuStreamUpdateCaptureDependencies_v2(s: Ptr, n: *const u64, e: *const u64, c: usize, f: c_uint) => cap::stream_update_capture_dependencies_v2;
        cuStreamUpdateCaptureDependencies_v2_ptsz(s: Ptr, n: *const u64, e: *const u64, c: usize, f: c_uint) => cap::stream_update_capture_dependencies_v2;

        cuGraphCreate(g: *mut Ptr, f: c_uint) => gr::graph_create;
        cuGraphDestroy(g: Ptr) => gr::graph_destroy;
        cuGraphClone(o: *mut Ptr, g: Ptr) => gr::graph_clone;
        cuGraphGetNodes(g: Ptr, n: *mut u64, c: *mut usize) => gr::graph_get_nodes;
        cuGraphNodeGetType(n: Ptr, t: *mut c_int) => gr::graph_node_get_type;
        cuGraphAddKernelNode(o: *mut Ptr, g: Ptr, d: *const u64, n: usize, p: CPtr) => gr::graph_add_kernel_node::<false>;
        cuGraphAddKernelNode_v2(o: *mut Ptr, g: Ptr, d: *const u64, n: usize, p: CPtr) => gr::graph_add_kernel_node::<true>;
        cuGraphAddMemsetNode(o: *mut Ptr, g: Ptr, d: *const u64, n: usize, p: CPtr, c: Ptr) => gr::graph_add_memset_node;
        cuGraphAddMemcpyNode(o: *mut Ptr, g: Ptr, d: *const u64, n: usize, p: CPtr, c: Ptr) => gr::graph_add_memcpy_node;
        cuGraphAddEmptyNode(o: *mut Ptr, g: Ptr, d: *const u64, n: usize) => gr::graph_add_empty_node;
        cuGraphAddHostNode(o: *mut Ptr, g: Ptr, d: *const u64, n: usize, p: CPtr) => hf::graph_add_host_node;
        cuGraphHostNodeGetParams(n: Ptr, p: Ptr) => hf::graph_host_node_get_params;
        cuGraphHostNodeSetParams(n: Ptr, p: CPtr) => hf::graph_host_node_set_params;
        cuGraphExecHostNodeSetParams(e: Ptr, n: Ptr, p: CPtr) => hf::graph_exec_host_node_set_params;
        cuGraphAddEventRecordNode(o: *mut Ptr, g: Ptr, d: *const u64, n: usize, e: Ptr) => gev::graph_add_event_record_node;
        cuGraphAddEventWaitNode(o: *mut Ptr, g: Ptr, d: *const u64, n: usize, e: Ptr) => gev::graph_add_event_wait_node;
        cuGraphEventRecordNodeGetEvent(n: Ptr, e: *mut Ptr) => gev::graph_event_record_node_get_event;
        cuGraphEventWaitNodeGetEvent(n: Ptr, e: *mut Ptr) => gev::graph_event_wait_node_get_event;
        cuGraphEventRecordNodeSetEvent(n: Ptr, e: Ptr) => gev::graph_event_record_node_set_event;
        cuGraphEventWaitNodeSetEvent(n: Ptr, e: Ptr) => gev::graph_event_wait_node_set_event;
        cuGraphExecEventRecordNodeSetEvent(x: Ptr, n: Ptr, e: Ptr) => gev::graph_exec_event_record_node_set_event;
        cuGraphExecEventWaitNodeSetEvent(x: Ptr, n: Ptr, e: Ptr) => gev::graph_exec_event_wait_node_set_event;
        cuGraphAddDependencies(g: Ptr, f: *const u64, t: *const u64, n: usize) => gr::graph_add_dependencies;
        cuGraphAddDependencies_v2(g: Ptr, f: *const u64, t: *const u64, e: *const u64, n: usize) => gr::graph_add_dependencies_v2;
        cuGraphKernelNodeGetParams(n: Ptr, p: Ptr) => gr::graph_kernel_node_get_params::<false>;
        cuGraphKernelNodeGetParams_v2(n: Ptr, p: Ptr) => gr::graph_kernel_node_get_params::<true>;
        cuGraphKernelNodeSetParams(n: Ptr, p: CPtr) => gr::graph_kernel_node_set_params::<false>;
        cuGraphKernelNodeSetParams_v2(n: Ptr, p: CPtr) => gr::graph_kernel_node_set_params::<true>;
        cuGraphExecKernelNodeSetParams(e: Ptr, n: Ptr, p: CPtr) => gr::graph_exec_kernel_node_set_params::<false>;
        cuGraphExecKernelNodeSetParams_v2(e: Ptr, n: Ptr, p: CPtr) => gr::graph_exec_kernel_node_set_params::<true>;
        cuGraphInstantiate(e: *mut Ptr, g: Ptr, en: *mut Ptr, l: *mut u8, sz: usize) => gx::graph_instantiate;
        cuGraphInstantiate_v2(e: *mut Ptr, g: Ptr, en: *mut Ptr, l: *mut u8, sz: usize) => gx::graph_instantiate;
        cuGraphInstantiateWithFlags(e: *mut Ptr, g: Ptr, f: u64) => gx::graph_instantiate_with_flags;
        cuGraphInstantiateWithParams(e: *mut Ptr, g: Ptr, p: Ptr) => gx::graph_instantiate_with_params;
        cuGraphInstantiateWithParams_ptsz(e: *mut Ptr, g: Ptr, p: Ptr) => gx::graph_instantiate_with_params;
        cuGraphExecDestroy(e: Ptr) => gx::graph_exec_destroy;
        cuGraphLaunch(e: Ptr, s: Ptr) => gx::graph_launch;
        cuGraphLaunch_ptsz(e: Ptr, s: Ptr) => gx::graph_launch;
        cuGraphUpload(e: Ptr, s: Ptr) => gx::graph_upload;
        cuGraphUpload_ptsz(e: Ptr, s: Ptr) => gx::graph_upload;
        cuGraphExecUpdate(e: Ptr, g: Ptr, n: *mut Ptr, r: *mut c_int) => gx::graph_exec_update;
        cuGraphExecUpdate_v2(e: Ptr, g: Ptr, i: Ptr) => gx::graph_exec_update_v2;
        cuEventRecordWithFlags(e: Ptr, s: Ptr, f: c_uint) => ev::event_record_with_flags;
        cuEventRecordWithFlags_ptsz(e: Ptr, s: Ptr, f: c_uint) => ev::event_record_with_flags;

        cuTensorMapEncodeTiled(m: *mut [u64; 16], t: c_uint, r: c_uint, a: Ptr, d: *const u64, s: *const u64, b: *const u32, e: *const u32, i: c_uint, sw: c_uint, l2: c_uint, o: c_uint) => tm::tensor_map_encode_tiled;
        cuTensorMapReplaceAddress(m: *mut [u64; 16], a: Ptr) => tm::tensor_map_replace_address;
        cuLaunchHostFunc(s: Ptr, f: st::HostFn, d: Ptr) => st::launch_host_func;
        cuLaunchHostFunc_ptsz(s: Ptr, f: st::HostFn, d: Ptr) => st::launch_host_func;
        cuStreamAddCallback(s: Ptr, cb: st::StreamCallback, d: Ptr, f: c_uint) => st::stream_add_callback;
        cuStreamAddCallback_ptsz(s: Ptr, cb: st::StreamCallback, d: Ptr, f: c_uint) => st::stream_add_callback;
        cuStreamCreate(p: *mut Ptr, f: c_uint) => st::stream_create;
        cuStreamCreateWithPriority(p: *mut Ptr, f: c_uint, pr: c_int) => st::stream_create_with_priority;
        cuStreamDestroy(s: Ptr) => st::stream_destroy;
        cuStreamDestroy_v2(s: Ptr) => st::stream_destroy;
        cuStreamSynchronize(s: Ptr) => st::stream_synchronize;
        cuStreamSynchronize_ptsz(s: Ptr) => st::stream_synchronize;
        cuStreamQuery(s: Ptr) => st::stream_query;
        cuStreamQuery_ptsz(s: Ptr) => st::stream_query;
        cuStreamWaitEvent(s: Ptr, e: Ptr, f: c_uint) => st::stream_wait_event;
        cuStreamWaitEvent_ptsz(s: Ptr, e: Ptr, f: c_uint) => st::stream_wait_event;
        cuStreamGetPriority(s: Ptr, p: *mut c_int) => st::stream_get_priority;
        cuStreamGetPriority_ptsz(s: Ptr, p: *mut c_int) => st::stream_get_priority;
        cuStreamGetFlags(s: Ptr, f: *mut c_uint) => st::stream_get_flags;
        cuStreamGetFlags_ptsz(s: Ptr, f: *mut c_uint) => st::stream_get_flags;

        cuEventCreate(p: *mut Ptr, f: c_uint) => ev::event_create;
        cuEventDestroy(e: Ptr) => ev::event_destroy;
        cuEventDestroy_v2(e: Ptr) => ev::event_destroy;
        cuEventRecord(e: Ptr, s: Ptr) => ev::event_record;
        cuEventRecord_ptsz(e: Ptr, s: Ptr) => ev::event_record;
        cuEventQuery(e: Ptr) => ev::event_query;
        cuEventSynchronize(e: Ptr) => ev::event_synchronize;
        cuEventElapsedTime(ms: *mut f32, a: Ptr, b: Ptr) => ev::event_elapsed_time;
        cuEventElapsedTime_v2(ms: *mut f32, a: Ptr, b: Ptr) => ev::event_elapsed_time;

        cuGetErrorName(e: u32, s: *mut *const c_char) => err::get_error_name;
        cuGetErrorString(e: u32, s: *mut *const c_char) => err::get_error_string;
        cuGetProcAddress(n: *const c_char, p: *mut Ptr, v: c_int, f: u64) => pa::get_proc_address;
        cuGetProcAddress_v2(n: *const c_char, p: *mut Ptr, v: c_int, f: u64, st: *mut c_int) => pa::get_proc_address_v2;
        cuGetExportTable(t: *mut CPtr, id: CPtr) => dark::get_export_table;
    }
    unsupported {
        // device, peers
        cuDeviceGetLuid, cuDeviceGetTexture1DLinearMaxWidth, cuDeviceGetNvSciSyncAttributes,
        cuDeviceGetExecAffinitySupport, cuFlushGPUDirectRDMAWrites,
        cuDeviceRegisterAsyncNotification, cuDeviceUnregisterAsyncNotification,
        cuDeviceGraphMemTrim, cuDeviceGetGraphMemAttribute, cuDeviceSetGraphMemAttribute,
        cuDeviceGetDevResource,
        // contexts
        cuCtxSetFlags, cuCtxGetSharedMemConfig, cuCtxSetSharedMemConfig,
        cuCtxResetPersistingL2Cache, cuCtxGetExecAffinity, cuCtxRecordEvent, cuCtxWaitEvent,
        cuCtxAttach, cuCtxDetach, cuCtxGetDevResource, cuDevSmResourceSplitByCount,
        cuDevResourceGenerateDesc, cuGreenCtxCreate, cuGreenCtxDestroy, cuCtxFromGreenCtx,
        cuGreenCtxGetDevResource, cuGreenCtxRecordEvent, cuGreenCtxWaitEvent,
        cuStreamGetGreenCtx, cuGreenCtxStreamCreate,
        // modules, linker, libraries, kernels
        cuModuleGetTexRef, cuModuleGetSurfRef, cuModuleGetFunctionCount,
        cuModuleEnumerateFunctions, cuLinkCreate, cuLinkCreate_v2, cuLinkAddData,
        cuLinkAddData_v2, cuLinkAddFile, cuLinkAddFile_v2, cuLinkComplete, cuLinkDestroy,
        cuLibraryGetKernelCount, cuLibraryEnumerateKernels, cuLibraryGetManaged,
        cuLibraryGetUnifiedFunction,
        // functions, legacy launch, launch variants
        cuFuncSetBlockShape,
        cuFuncSetSharedSize, cuParamSetSize, cuParamSeti, cuParamSetf, cuParamSetv,
        cuParamSetTexRef, cuLaunch, cuLaunchGrid, cuLaunchGridAsync, cuLaunchCooperativeKernelMultiDevice, // memory
        cuMemAllocManaged, cuMemcpyHtoA, cuMemcpyHtoA_v2, cuMemcpyHtoA_v2_ptds,
        cuMemcpyAtoH, cuMemcpyAtoH_v2, cuMemcpyAtoH_v2_ptds, cuMemcpyDtoA, cuMemcpyDtoA_v2,
        cuMemcpyDtoA_v2_ptds, cuMemcpyAtoD, cuMemcpyAtoD_v2, cuMemcpyAtoD_v2_ptds, cuMemcpyAtoA,
        cuMemcpyAtoA_v2, cuMemcpyAtoA_v2_ptds, cuMemcpyHtoAAsync, cuMemcpyHtoAAsync_v2,
        cuMemcpyHtoAAsync_v2_ptsz, cuMemcpyAtoHAsync, cuMemcpyAtoHAsync_v2,
        cuMemcpyAtoHAsync_v2_ptsz, cuMemcpy3D, cuMemcpy3D_v2, cuMemcpy3D_v2_ptds,
        cuMemcpy3DAsync, cuMemcpy3DAsync_v2, cuMemcpy3DAsync_v2_ptsz, cuMemcpy3DPeer,
        cuMemcpy3DPeer_ptds, cuMemcpy3DPeerAsync, cuMemcpy3DPeerAsync_ptsz, cuMemcpyBatchAsync,
        cuMemcpyBatchAsync_ptsz, cuMemcpy3DBatchAsync, cuMemcpy3DBatchAsync_ptsz,
        cuArrayCreate, cuArrayCreate_v2, cuArrayGetDescriptor, cuArrayGetDescriptor_v2,
        cuArrayDestroy, cuArray3DCreate, cuArray3DCreate_v2, cuArray3DGetDescriptor,
        cuArray3DGetDescriptor_v2, cuArrayGetSparseProperties, cuArrayGetMemoryRequirements,
        cuArrayGetPlane, cuMipmappedArrayCreate, cuMipmappedArrayDestroy,
        cuMipmappedArrayGetLevel, cuMipmappedArrayGetSparseProperties,
        cuMipmappedArrayGetMemoryRequirements, cuMemGetHandleForAddressRange, cuMemAdvise,
        cuMemAdvise_v2, cuMemPrefetchAsync, cuMemPrefetchAsync_ptsz, cuMemPrefetchAsync_v2,
        cuMemPrefetchAsync_v2_ptsz, cuMemRangeGetAttribute, cuMemRangeGetAttributes,
        // virtual memory management
        cuMemMapArrayAsync, cuMemMapArrayAsync_ptsz,
        cuMemExportToShareableHandle, cuMemImportFromShareableHandle,
        // stream-ordered allocator
        cuMemPoolSetAccess, cuMemPoolGetAccess,
        cuMemPoolCreate, cuMemPoolDestroy, cuMemPoolExportToShareableHandle,
        cuMemPoolImportFromShareableHandle, cuMemPoolExportPointer, cuMemPoolImportPointer,
        cuMulticastCreate, cuMulticastAddDevice, cuMulticastBindMem, cuMulticastBindAddr,
        cuMulticastUnbind, cuMulticastGetGranularity,
        // streams, capture, memory operations
        cuStreamBeginCaptureToGraph, cuStreamBeginCaptureToGraph_ptsz,
        cuStreamAttachMemAsync, cuStreamAttachMemAsync_ptsz, cuStreamCopyAttributes,
        cuStreamCopyAttributes_ptsz, cuStreamGetAttribute, cuStreamGetAttribute_ptsz,
        cuStreamSetAttribute, cuStreamSetAttribute_ptsz, cuStreamWaitValue32,
        cuStreamWaitValue32_ptsz, cuStreamWaitValue32_v2, cuStreamWaitValue32_v2_ptsz,
        cuStreamWaitValue64, cuStreamWaitValue64_ptsz, cuStreamWaitValue64_v2,
        cuStreamWaitValue64_v2_ptsz, cuStreamWriteValue32, cuStreamWriteValue32_ptsz,
        cuStreamWriteValue32_v2, cuStreamWriteValue32_v2_ptsz, cuStreamWriteValue64,
        cuStreamWriteValue64_ptsz, cuStreamWriteValue64_v2, cuStreamWriteValue64_v2_ptsz,
        cuStreamBatchMemOp, cuStreamBatchMemOp_ptsz, cuStreamBatchMemOp_v2,
        cuStreamBatchMemOp_v2_ptsz, // external resources, IPC
        cuImportExternalMemory, cuExternalMemoryGetMappedBuffer,
        cuExternalMemoryGetMappedMipmappedArray, cuDestroyExternalMemory,
        cuImportExternalSemaphore, cuSignalExternalSemaphoresAsync,
        cuSignalExternalSemaphoresAsync_ptsz, cuWaitExternalSemaphoresAsync,
        cuWaitExternalSemaphoresAsync_ptsz, cuDestroyExternalSemaphore, cuIpcGetEventHandle,
        cuIpcOpenEventHandle, cuIpcGetMemHandle, cuIpcOpenMemHandle, cuIpcOpenMemHandle_v2,
        cuIpcCloseMemHandle,
        // graphs
        cuGraphMemcpyNodeGetParams, cuGraphMemcpyNodeSetParams,
        cuGraphMemsetNodeGetParams, cuGraphMemsetNodeSetParams,
        cuGraphAddChildGraphNode, cuGraphChildGraphNodeGetGraph,
        cuGraphAddExternalSemaphoresSignalNode,
        cuGraphExternalSemaphoresSignalNodeGetParams, cuGraphExternalSemaphoresSignalNodeSetParams,
        cuGraphAddExternalSemaphoresWaitNode, cuGraphExternalSemaphoresWaitNodeGetParams,
        cuGraphExternalSemaphoresWaitNodeSetParams, cuGraphExecExternalSemaphoresSignalNodeSetParams,
        cuGraphExecExternalSemaphoresWaitNodeSetParams, cuGraphAddBatchMemOpNode,
        cuGraphBatchMemOpNodeGetParams, cuGraphBatchMemOpNodeSetParams,
        cuGraphExecBatchMemOpNodeSetParams, cuGraphAddMemAllocNode, cuGraphMemAllocNodeGetParams,
        cuGraphAddMemFreeNode, cuGraphMemFreeNodeGetParams, cuGraphNodeFindInClone,
        cuGraphGetRootNodes, cuGraphGetEdges,
        cuGraphGetEdges_v2, cuGraphNodeGetDependencies, cuGraphNodeGetDependencies_v2,
        cuGraphNodeGetDependentNodes, cuGraphNodeGetDependentNodes_v2, cuGraphRemoveDependencies, cuGraphRemoveDependencies_v2,
        cuGraphDestroyNode, cuGraphExecGetFlags, cuGraphExecMemcpyNodeSetParams,
        cuGraphExecMemsetNodeSetParams,
        cuGraphExecChildGraphNodeSetParams, cuGraphNodeSetEnabled, cuGraphNodeGetEnabled,
        cuGraphKernelNodeCopyAttributes,
        cuGraphKernelNodeGetAttribute, cuGraphKernelNodeSetAttribute, cuGraphDebugDotPrint,
        cuUserObjectCreate, cuUserObjectRetain, cuUserObjectRelease, cuGraphRetainUserObject,
        cuGraphReleaseUserObject, cuGraphAddNode, cuGraphAddNode_v2, cuGraphNodeSetParams,
        cuGraphExecNodeSetParams, cuGraphConditionalHandleCreate,
        // textures, surfaces, tensor maps, graphics interop
        cuTexObjectCreate, cuTexObjectDestroy, cuTexObjectGetResourceDesc,
        cuTexObjectGetTextureDesc, cuTexObjectGetResourceViewDesc, cuSurfObjectCreate,
        cuSurfObjectDestroy, cuSurfObjectGetResourceDesc, cuTensorMapEncodeIm2col, cuTensorMapEncodeIm2colWide, cuGraphicsUnregisterResource, cuGraphicsSubResourceGetMappedArray,
        cuGraphicsResourceGetMappedMipmappedArray, cuGraphicsResourceGetMappedPointer,
        cuGraphicsResourceGetMappedPointer_v2, cuGraphicsResourceSetMapFlags,
        cuGraphicsResourceSetMapFlags_v2, cuGraphicsMapResources, cuGraphicsMapResources_ptsz,
        cuGraphicsUnmapResources, cuGraphicsUnmapResources_ptsz,
        // tools
        cuProfilerInitialize, cuProfilerStart, cuProfilerStop, cuCoredumpGetAttribute,
        cuCoredumpGetAttributeGlobal, cuCoredumpSetAttribute, cuCoredumpSetAttributeGlobal,
        cuCheckpointProcessGetRestoreThreadId, cuCheckpointProcessGetState,
        cuCheckpointProcessLock, cuCheckpointProcessCheckpoint, cuCheckpointProcessRestore,
        cuCheckpointProcessUnlock, cuLogsRegisterCallback, cuLogsUnregisterCallback,
        cuLogsCurrent, cuLogsDumpToFile, cuLogsDumpToMemory,
        // the rest that NVIDIA's driver hands out (proc-address/r580.tsv)
        cuDeviceGetHostAtomicCapabilities, cuDeviceGetP2PAtomicCapabilities, cuGreenCtxGetId,
        cuMemBatchDecompressAsync, cuMemBatchDecompressAsync_ptsz, cuMemDiscardBatchAsync,
        cuMemDiscardBatchAsync_ptsz, cuMemDiscardAndPrefetchBatchAsync,
        cuMemDiscardAndPrefetchBatchAsync_ptsz, cuMemPrefetchBatchAsync,
        cuMemPrefetchBatchAsync_ptsz, cuMemcpyBatchAsync_v2, cuMemcpyBatchAsync_v2_ptsz,
        cuMemcpy3DBatchAsync_v2, cuMemcpy3DBatchAsync_v2_ptsz,
        cuTexRefCreate, cuTexRefDestroy, cuTexRefGetAddress, cuTexRefGetAddress_v2,
        cuTexRefGetAddressMode, cuTexRefGetArray, cuTexRefGetBorderColor, cuTexRefGetFilterMode,
        cuTexRefGetFlags, cuTexRefGetFormat, cuTexRefGetMaxAnisotropy,
        cuTexRefGetMipmapFilterMode, cuTexRefGetMipmapLevelBias, cuTexRefGetMipmapLevelClamp,
        cuTexRefGetMipmappedArray, cuTexRefSetAddress, cuTexRefSetAddress_v2,
        cuTexRefSetAddress2D, cuTexRefSetAddress2D_v2, cuTexRefSetAddress2D_v3,
        cuTexRefSetAddressMode, cuTexRefSetArray, cuTexRefSetBorderColor, cuTexRefSetFilterMode,
        cuTexRefSetFlags, cuTexRefSetFormat, cuTexRefSetMaxAnisotropy,
        cuTexRefSetMipmapFilterMode, cuTexRefSetMipmapLevelBias, cuTexRefSetMipmapLevelClamp,
        cuTexRefSetMipmappedArray, cuSurfRefGetArray, cuSurfRefSetArray,
        cuGLInit, cuGLCtxCreate, cuGLCtxCreate_v2, cuGLGetDevices, cuGLGetDevices_v2,
        cuGLRegisterBufferObject, cuGLUnregisterBufferObject, cuGLMapBufferObject,
        cuGLMapBufferObject_v2, cuGLMapBufferObject_v2_ptds, cuGLMapBufferObjectAsync,
        cuGLMapBufferObjectAsync_v2, cuGLMapBufferObjectAsync_v2_ptsz, cuGLUnmapBufferObject,
        cuGLUnmapBufferObjectAsync, cuGLSetBufferObjectMapFlags, cuGraphicsGLRegisterBuffer,
        cuGraphicsGLRegisterImage, cuEGLStreamConsumerConnect,
        cuEGLStreamConsumerConnectWithFlags, cuEGLStreamConsumerDisconnect,
        cuEGLStreamConsumerAcquireFrame, cuEGLStreamConsumerReleaseFrame,
        cuEGLStreamProducerConnect, cuEGLStreamProducerDisconnect,
        cuEGLStreamProducerPresentFrame, cuEGLStreamProducerReturnFrame,
        cuGraphicsEGLRegisterImage, cuGraphicsResourceGetMappedEglFrame, cuVDPAUGetDevice,
        cuVDPAUCtxCreate, cuVDPAUCtxCreate_v2, cuGraphicsVDPAURegisterVideoSurface,
        cuGraphicsVDPAURegisterOutputSurface,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn error_strings() {
        let mut s: *const c_char = std::ptr::null();
        // SAFETY: a local out-pointer.
        assert_eq!(unsafe { cuGetErrorName(700, &mut s) }, 0);
        assert_eq!(
            // SAFETY: the static NUL-terminated name just handed out.
            unsafe { CStr::from_ptr(s) }.to_str().unwrap(),
            "CUDA_ERROR_ILLEGAL_ADDRESS"
        );
        assert_eq!(
            // SAFETY: a local out-pointer.
            unsafe { cuGetErrorString(12345, &mut s) },
            result::INVALID_VALUE
        );
        assert!(s.is_null());
    }

    #[test]
    fn calls_before_init_are_not_initialized() {
        let _g = crate::driver::testing::uninitialised();
        let mut n = 0;
        // SAFETY: a local out-pointer.
        assert_eq!(unsafe { cuDeviceGetCount(&mut n) }, result::NOT_INITIALIZED);
        // SAFETY: no arguments.
        assert_eq!(unsafe { cuCtxSynchronize() }, result::NOT_INITIALIZED);
        assert_eq!(
            // SAFETY: refused before its NULL out-pointer is used.
            unsafe { cuMemAlloc_v2(std::ptr::null_mut(), 1) },
            result::NOT_INITIALIZED
        );
        // SAFETY: a stub; C callers' arguments are ignored.
        assert_eq!(unsafe { cuGraphDebugDotPrint() }, result::NOT_SUPPORTED);
        // SAFETY: a plain flags argument.
        assert_eq!(unsafe { cuInit(1) }, result::INVALID_VALUE);
    }
}
