//! The host's `libcuda.so.1`, opened at run time, and the entry points the
//! executor calls. Types are declared here from `cuda.h` (no CUDA headers or
//! link-time dependency).

use super::graph_abi::{
    CUgraph, CUgraphExec, CUgraphNode, ExecUpdateResultInfo, KernelNodeParams, Memcpy3D,
    MemsetNodeParams,
};
use libloading::Library;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::Arc;

/// `CUresult`.
pub type CUresult = u32;
/// `CUdevice`: an ordinal.
pub type CUdevice = c_int;
/// `CUdeviceptr` (64-bit hosts).
pub type CUdeviceptr = u64;
/// `CUcontext`.
pub type CUcontext = *mut c_void;
/// `CUmodule`.
pub type CUmodule = *mut c_void;
/// `CUfunction`.
pub type CUfunction = *mut c_void;
/// `CUstream`.
pub type CUstream = *mut c_void;
/// `CUevent`.
pub type CUevent = *mut c_void;
/// `CUarray`.
pub type CUarray = *mut c_void;
/// `CUmemoryPool`.
pub type CUmemoryPool = *mut c_void;

/// `CUDA_SUCCESS`.
pub const CUDA_SUCCESS: CUresult = 0;
/// `CU_MEMORYTYPE_HOST`.
pub const CU_MEMORYTYPE_HOST: u32 = 1;
/// `CU_MEMORYTYPE_DEVICE`.
pub const CU_MEMORYTYPE_DEVICE: u32 = 2;
/// `CU_EVENT_DISABLE_TIMING`.
pub const CU_EVENT_DISABLE_TIMING: c_uint = 0x2;
/// `CU_MEMHOSTREGISTER_PORTABLE`: pinned for every context.
pub const CU_MEMHOSTREGISTER_PORTABLE: c_uint = 0x1;
/// `CU_LAUNCH_PARAM_END`.
pub const CU_LAUNCH_PARAM_END: usize = 0x0;
/// `CU_LAUNCH_PARAM_BUFFER_POINTER`.
pub const CU_LAUNCH_PARAM_BUFFER_POINTER: usize = 0x1;
/// `CU_LAUNCH_PARAM_BUFFER_SIZE`.
pub const CU_LAUNCH_PARAM_BUFFER_SIZE: usize = 0x2;
/// `CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT`.
pub const ATTR_MULTIPROCESSOR_COUNT: c_int = 16;
/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR`.
pub const ATTR_COMPUTE_CAPABILITY_MAJOR: c_int = 75;
/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR`.
pub const ATTR_COMPUTE_CAPABILITY_MINOR: c_int = 76;

/// `CUDA_MEMCPY2D_v2` (`cuda.h`, `struct CUDA_MEMCPY2D_st`): 128 bytes on
/// 64-bit hosts; each `CUmemorytype` is a 4-byte enum followed by 4 bytes of
/// padding before the next pointer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_snake_case)]
pub struct CudaMemcpy2D {
    /// Source X in bytes.
    pub srcXInBytes: usize,
    /// Source row.
    pub srcY: usize,
    /// `CUmemorytype` of the source.
    pub srcMemoryType: u32,
    /// Source host pointer.
    pub srcHost: *const c_void,
    /// Source device pointer.
    pub srcDevice: CUdeviceptr,
    /// Source array.
    pub srcArray: CUarray,
    /// Source pitch.
    pub srcPitch: usize,
    /// Destination X in bytes.
    pub dstXInBytes: usize,
    /// Destination row.
    pub dstY: usize,
    /// `CUmemorytype` of the destination.
    pub dstMemoryType: u32,
    /// Destination host pointer.
    pub dstHost: *mut c_void,
    /// Destination device pointer.
    pub dstDevice: CUdeviceptr,
    /// Destination array.
    pub dstArray: CUarray,
    /// Destination pitch.
    pub dstPitch: usize,
    /// Bytes per row.
    pub WidthInBytes: usize,
    /// Rows.
    pub Height: usize,
}

impl CudaMemcpy2D {
    /// All fields zero / NULL.
    pub fn zeroed() -> Self {
        Self {
            srcXInBytes: 0,
            srcY: 0,
            srcMemoryType: 0,
            srcHost: std::ptr::null(),
            srcDevice: 0,
            srcArray: std::ptr::null_mut(),
            srcPitch: 0,
            dstXInBytes: 0,
            dstY: 0,
            dstMemoryType: 0,
            dstHost: std::ptr::null_mut(),
            dstDevice: 0,
            dstArray: std::ptr::null_mut(),
            dstPitch: 0,
            WidthInBytes: 0,
            Height: 0,
        }
    }
}

/// `CUlaunchConfig` (`cuda.h`): the launch shape, stream and attributes of
/// `cuLaunchKernelEx`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CuLaunchConfig {
    /// Grid dimensions.
    pub grid: [c_uint; 3],
    /// Block dimensions.
    pub block: [c_uint; 3],
    /// Dynamic shared memory bytes.
    pub shared_mem_bytes: c_uint,
    /// Stream.
    pub stream: CUstream,
    /// `CUlaunchAttribute` array (the wire's `LaunchAttribute` has its layout).
    pub attrs: *mut uapi::cuda::LaunchAttribute,
    /// Entries in `attrs`.
    pub num_attrs: c_uint,
}

/// `CUtensorMap`: 128 opaque bytes, 128-aligned.
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Default)]
pub struct TensorMap(pub [u64; uapi::cuda::TENSOR_MAP_WORDS]);
/// `CUmemPoolProps` (`cuda.h`, `struct CUmemPoolProps_st`): 88 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CuMemPoolProps {
    /// `CUmemAllocationType` (`CU_MEM_ALLOCATION_TYPE_PINNED` = 1).
    pub alloc_type: c_int,
    /// `CUmemAllocationHandleType` bits (0: not exportable).
    pub handle_types: c_int,
    /// `CUmemLocation.type` (`CU_MEM_LOCATION_TYPE_DEVICE` = 1).
    pub location_type: c_int,
    /// `CUmemLocation.id`: the device ordinal.
    pub location_id: c_int,
    /// Windows only; NULL.
    pub win32_security_attributes: *mut c_void,
    /// 0: the system's default maximum.
    pub max_size: usize,
    /// Usage bits; 0.
    pub usage: u16,
    /// Zero.
    pub reserved: [u8; 54],
}

impl CuMemPoolProps {
    /// A pinned, non-exportable pool on device `dev`.
    pub fn device(dev: CUdevice) -> Self {
        Self {
            alloc_type: 1,
            handle_types: 0,
            location_type: 1,
            location_id: dev,
            win32_security_attributes: std::ptr::null_mut(),
            max_size: 0,
            usage: 0,
            reserved: [0; 54],
        }
    }
}

/// `CUmemLocation`: a location type and its id (a device ordinal).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CuMemLocation {
    /// `CUmemLocationType` (`CU_MEM_LOCATION_TYPE_DEVICE` = 1).
    pub kind: c_int,
    /// The device ordinal.
    pub id: c_int,
}

/// `CUmemAccessDesc`: a location and the access it gets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CuMemAccessDesc {
    /// Which device.
    pub location: CuMemLocation,
    /// `CUmemAccess_flags`.
    pub flags: c_uint,
}

/// `CUmemGenericAllocationHandle`.
pub type CUmemHandle = u64;

/// Declares the function table: each entry is a field holding the C function
/// pointer, resolved from the first of its names that the library exports.
macro_rules! cuda_api {
    (
        required { $( $field:ident [$($name:literal),+] : fn($($arg:ty),*); )* }
        optional { $( $ofield:ident [$($oname:literal),+] : fn($($oarg:ty),*); )* }
    ) => {
        /// Entry points of the host driver (`extern "C"`, as `CUDAAPI` is on Linux).
        #[derive(Clone, Copy)]
        pub struct Api {
            $( #[doc = concat!("`", $($name, " ",)+ "`")]
               pub $field: unsafe extern "C" fn($($arg),*) -> CUresult, )*
            $( #[doc = concat!("`", $($oname, " ",)+ "` (absent in older drivers)")]
               pub $ofield: Option<unsafe extern "C" fn($($oarg),*) -> CUresult>, )*
        }

        impl Api {
            /// Names of every entry point resolved (first choice of each).
            pub const SYMBOLS: &'static [&'static [&'static str]] = &[
                $( &[$($name),+], )*
                $( &[$($oname),+], )*
            ];

            /// Resolves every entry point; a missing required one is an error.
            ///
            /// # Safety
            /// `lib` must be NVIDIA's `libcuda.so.1`, whose exports have the
            /// signatures declared here.
            unsafe fn resolve(lib: &Library) -> Result<Self, String> {
                Ok(Self {
                    $( $field: {
                        let names: &[&str] = &[$($name),+];
                        let mut found = None;
                        for name in names {
                            // SAFETY: `resolve`'s contract: `lib` is NVIDIA's
                            // libcuda.so.1, whose export has this signature.
                            if let Some(f) = unsafe { lookup::<unsafe extern "C" fn($($arg),*) -> CUresult>(lib, name) } {
                                found = Some(f);
                                break;
                            }
                        }
                        found.ok_or_else(|| format!(
                            "the CUDA driver library exports none of {names:?}; a driver of R580 or newer is needed"
                        ))?
                    }, )*
                    $( $ofield: {
                        let names: &[&str] = &[$($oname),+];
                        let mut found = None;
                        for name in names {
                            // SAFETY: `resolve`'s contract: `lib` is NVIDIA's
                            // libcuda.so.1, whose export has this signature.
                            if let Some(f) = unsafe { lookup::<unsafe extern "C" fn($($oarg),*) -> CUresult>(lib, name) } {
                                found = Some(f);
                                break;
                            }
                        }
                        found
                    }, )*
                })
            }
        }
    };
}

/// Looks up one symbol; `None` if absent.
///
/// # Safety
/// `T` must be the symbol's true type.
unsafe fn lookup<T: Copy>(lib: &Library, name: &str) -> Option<T> {
    let mut cname = Vec::with_capacity(name.len() + 1);
    cname.extend_from_slice(name.as_bytes());
    cname.push(0);
    // SAFETY: the caller vouches for `T`; the value is a plain function
    // pointer copied out of the symbol, valid while `lib` stays loaded.
    unsafe { lib.get::<T>(&cname).ok().map(|s| *s) }
}

cuda_api! {
    required {
        init ["cuInit"]: fn(c_uint);
        driver_get_version ["cuDriverGetVersion"]: fn(*mut c_int);
        device_get ["cuDeviceGet"]: fn(*mut CUdevice, c_int);
        device_get_attribute ["cuDeviceGetAttribute"]: fn(*mut c_int, c_int, CUdevice);
        device_get_name ["cuDeviceGetName"]: fn(*mut c_char, c_int, CUdevice);
        device_get_uuid ["cuDeviceGetUuid_v2", "cuDeviceGetUuid"]: fn(*mut [u8; 16], CUdevice);
        device_total_mem ["cuDeviceTotalMem_v2"]: fn(*mut usize, CUdevice);
        ctx_destroy ["cuCtxDestroy_v2"]: fn(CUcontext);
        ctx_set_current ["cuCtxSetCurrent"]: fn(CUcontext);
        ctx_synchronize ["cuCtxSynchronize"]: fn();
        mem_alloc ["cuMemAlloc_v2"]: fn(*mut CUdeviceptr, usize);
        mem_free ["cuMemFree_v2"]: fn(CUdeviceptr);
        mem_get_info ["cuMemGetInfo_v2"]: fn(*mut usize, *mut usize);
        mem_get_address_range ["cuMemGetAddressRange_v2"]: fn(*mut CUdeviceptr, *mut usize, CUdeviceptr);
        memcpy_htod ["cuMemcpyHtoD_v2"]: fn(CUdeviceptr, *const c_void, usize);
        memcpy_htod_async ["cuMemcpyHtoDAsync_v2"]: fn(CUdeviceptr, *const c_void, usize, CUstream);
        memcpy_dtoh ["cuMemcpyDtoH_v2"]: fn(*mut c_void, CUdeviceptr, usize);
        memcpy_dtoh_async ["cuMemcpyDtoHAsync_v2"]: fn(*mut c_void, CUdeviceptr, usize, CUstream);
        memcpy_dtod ["cuMemcpyDtoD_v2"]: fn(CUdeviceptr, CUdeviceptr, usize);
        memcpy_dtod_async ["cuMemcpyDtoDAsync_v2"]: fn(CUdeviceptr, CUdeviceptr, usize, CUstream);
        memset_d8 ["cuMemsetD8_v2"]: fn(CUdeviceptr, u8, usize);
        memset_d16 ["cuMemsetD16_v2"]: fn(CUdeviceptr, u16, usize);
        memset_d32 ["cuMemsetD32_v2"]: fn(CUdeviceptr, u32, usize);
        memset_d8_async ["cuMemsetD8Async"]: fn(CUdeviceptr, u8, usize, CUstream);
        memset_d16_async ["cuMemsetD16Async"]: fn(CUdeviceptr, u16, usize, CUstream);
        memset_d32_async ["cuMemsetD32Async"]: fn(CUdeviceptr, u32, usize, CUstream);
        memset_d2d8 ["cuMemsetD2D8_v2"]: fn(CUdeviceptr, usize, u8, usize, usize);
        memset_d2d16 ["cuMemsetD2D16_v2"]: fn(CUdeviceptr, usize, u16, usize, usize);
        memset_d2d32 ["cuMemsetD2D32_v2"]: fn(CUdeviceptr, usize, u32, usize, usize);
        memset_d2d8_async ["cuMemsetD2D8Async"]: fn(CUdeviceptr, usize, u8, usize, usize, CUstream);
        memset_d2d16_async ["cuMemsetD2D16Async"]: fn(CUdeviceptr, usize, u16, usize, usize, CUstream);
        memset_d2d32_async ["cuMemsetD2D32Async"]: fn(CUdeviceptr, usize, u32, usize, usize, CUstream);
        memcpy_2d ["cuMemcpy2D_v2"]: fn(*const CudaMemcpy2D);
        memcpy_2d_async ["cuMemcpy2DAsync_v2"]: fn(*const CudaMemcpy2D, CUstream);
        module_load_data ["cuModuleLoadData"]: fn(*mut CUmodule, *const c_void);
        module_unload ["cuModuleUnload"]: fn(CUmodule);
        module_get_function ["cuModuleGetFunction"]: fn(*mut CUfunction, CUmodule, *const c_char);
        module_get_global ["cuModuleGetGlobal_v2"]: fn(*mut CUdeviceptr, *mut usize, CUmodule, *const c_char);
        launch_kernel ["cuLaunchKernel"]: fn(
            CUfunction, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint,
            CUstream, *mut *mut c_void, *mut *mut c_void
        );
        stream_create_with_priority ["cuStreamCreateWithPriority"]: fn(*mut CUstream, c_uint, c_int);
        stream_destroy ["cuStreamDestroy_v2"]: fn(CUstream);
        stream_synchronize ["cuStreamSynchronize"]: fn(CUstream);
        stream_query ["cuStreamQuery"]: fn(CUstream);
        stream_wait_event ["cuStreamWaitEvent"]: fn(CUstream, CUevent, c_uint);
        event_create ["cuEventCreate"]: fn(*mut CUevent, c_uint);
        event_destroy ["cuEventDestroy_v2"]: fn(CUevent);
        event_record ["cuEventRecord"]: fn(CUevent, CUstream);
        event_query ["cuEventQuery"]: fn(CUevent);
        event_synchronize ["cuEventSynchronize"]: fn(CUevent);
        event_elapsed_time ["cuEventElapsedTime_v2", "cuEventElapsedTime"]: fn(*mut f32, CUevent, CUevent);
        get_error_name ["cuGetErrorName"]: fn(CUresult, *mut *const c_char);
    }
    optional {
        device_get_pci_bus_id ["cuDeviceGetPCIBusId"]: fn(*mut c_char, c_int, CUdevice);
        ctx_create_v2 ["cuCtxCreate_v2"]: fn(*mut CUcontext, c_uint, CUdevice);
        ctx_create_v4 ["cuCtxCreate_v4"]: fn(*mut CUcontext, *mut c_void, c_uint, CUdevice);
        ctx_pop_current ["cuCtxPopCurrent_v2"]: fn(*mut CUcontext);
        primary_ctx_retain ["cuDevicePrimaryCtxRetain"]: fn(*mut CUcontext, CUdevice);
        primary_ctx_release ["cuDevicePrimaryCtxRelease_v2"]: fn(CUdevice);
        primary_ctx_reset ["cuDevicePrimaryCtxReset_v2"]: fn(CUdevice);
        func_get_param_info ["cuFuncGetParamInfo"]: fn(CUfunction, usize, *mut usize, *mut usize);
        mem_host_register ["cuMemHostRegister_v2"]: fn(*mut c_void, usize, c_uint);
        mem_host_unregister ["cuMemHostUnregister"]: fn(*mut c_void);
        func_get_attribute ["cuFuncGetAttribute"]: fn(*mut c_int, c_int, CUfunction);
        func_set_attribute ["cuFuncSetAttribute"]: fn(CUfunction, c_int, c_int);
        occupancy_max_active_blocks ["cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags"]:
            fn(*mut c_int, CUfunction, c_int, usize, c_uint);
        occupancy_available_dynamic_smem ["cuOccupancyAvailableDynamicSMemPerBlock"]:
            fn(*mut usize, CUfunction, c_int, c_int);
        occupancy_max_active_clusters ["cuOccupancyMaxActiveClusters"]:
            fn(*mut c_int, CUfunction, *const CuLaunchConfig);
        occupancy_max_potential_cluster_size ["cuOccupancyMaxPotentialClusterSize"]:
            fn(*mut c_int, CUfunction, *const CuLaunchConfig);
        ctx_get_limit ["cuCtxGetLimit"]: fn(*mut usize, c_uint);
        ctx_set_limit ["cuCtxSetLimit"]: fn(c_uint, usize);
        tensor_map_encode_tiled ["cuTensorMapEncodeTiled"]: fn(
            *mut TensorMap, c_uint, c_uint, *mut c_void, *const u64, *const u64, *const u32,
            *const u32, c_uint, c_uint, c_uint, c_uint
        );
        tensor_map_replace_address ["cuTensorMapReplaceAddress"]: fn(*mut TensorMap, *mut c_void);
        launch_kernel_ex ["cuLaunchKernelEx"]: fn(*const CuLaunchConfig, CUfunction, *mut *mut c_void, *mut *mut c_void);
        // The stream-ordered allocator (CUDA 11.2+), on a pool per client.
        mem_pool_create ["cuMemPoolCreate"]: fn(*mut CUmemoryPool, *const CuMemPoolProps);
        mem_pool_destroy ["cuMemPoolDestroy"]: fn(CUmemoryPool);
        mem_alloc_from_pool_async ["cuMemAllocFromPoolAsync"]: fn(*mut CUdeviceptr, usize, CUmemoryPool, CUstream);
        mem_free_async ["cuMemFreeAsync"]: fn(CUdeviceptr, CUstream);
        mem_pool_get_attribute ["cuMemPoolGetAttribute"]: fn(CUmemoryPool, c_int, *mut c_void);
        mem_pool_set_attribute ["cuMemPoolSetAttribute"]: fn(CUmemoryPool, c_int, *mut c_void);
        mem_pool_trim_to ["cuMemPoolTrimTo"]: fn(CUmemoryPool, usize);
        // NVIDIA's private tables (`dark.rs`).
        get_export_table ["cuGetExportTable"]: fn(*mut *const c_void, *const [u8; 16]);
        // Stream capture and graphs (graph_abi.rs).
        stream_begin_capture ["cuStreamBeginCapture_v2"]: fn(CUstream, c_int);
        stream_end_capture ["cuStreamEndCapture"]: fn(CUstream, *mut CUgraph);
        stream_is_capturing ["cuStreamIsCapturing"]: fn(CUstream, *mut c_int);
        stream_get_capture_info ["cuStreamGetCaptureInfo_v3"]: fn(
            CUstream, *mut c_int, *mut u64, *mut CUgraph, *mut *const CUgraphNode,
            *mut *const c_void, *mut usize
        );
        stream_update_capture_deps ["cuStreamUpdateCaptureDependencies"]:
            fn(CUstream, *mut CUgraphNode, usize, c_uint);
        graph_create ["cuGraphCreate"]: fn(*mut CUgraph, c_uint);
        graph_destroy ["cuGraphDestroy"]: fn(CUgraph);
        graph_clone ["cuGraphClone"]: fn(*mut CUgraph, CUgraph);
        graph_get_nodes ["cuGraphGetNodes"]: fn(CUgraph, *mut CUgraphNode, *mut usize);
        graph_node_get_type ["cuGraphNodeGetType"]: fn(CUgraphNode, *mut c_int);
        graph_add_kernel_node ["cuGraphAddKernelNode_v2"]:
            fn(*mut CUgraphNode, CUgraph, *const CUgraphNode, usize, *const KernelNodeParams);
        graph_add_memset_node ["cuGraphAddMemsetNode"]: fn(
            *mut CUgraphNode, CUgraph, *const CUgraphNode, usize, *const MemsetNodeParams, CUcontext
        );
        graph_add_memcpy_node ["cuGraphAddMemcpyNode"]:
            fn(*mut CUgraphNode, CUgraph, *const CUgraphNode, usize, *const Memcpy3D, CUcontext);
        graph_add_empty_node ["cuGraphAddEmptyNode"]:
            fn(*mut CUgraphNode, CUgraph, *const CUgraphNode, usize);
        graph_add_dependencies ["cuGraphAddDependencies"]:
            fn(CUgraph, *const CUgraphNode, *const CUgraphNode, usize);
        graph_kernel_node_get_params ["cuGraphKernelNodeGetParams_v2"]:
            fn(CUgraphNode, *mut KernelNodeParams);
        graph_kernel_node_set_params ["cuGraphKernelNodeSetParams_v2"]:
            fn(CUgraphNode, *const KernelNodeParams);
        graph_exec_kernel_node_set_params ["cuGraphExecKernelNodeSetParams_v2"]:
            fn(CUgraphExec, CUgraphNode, *const KernelNodeParams);
        graph_instantiate ["cuGraphInstantiateWithFlags"]: fn(*mut CUgraphExec, CUgraph, u64);
        graph_exec_destroy ["cuGraphExecDestroy"]: fn(CUgraphExec);
        graph_launch ["cuGraphLaunch"]: fn(CUgraphExec, CUstream);
        graph_upload ["cuGraphUpload"]: fn(CUgraphExec, CUstream);
        graph_exec_update ["cuGraphExecUpdate_v2"]:
            fn(CUgraphExec, CUgraph, *mut ExecUpdateResultInfo);
        // Host nodes' parts (executor/cuda/backend/graph/parts.rs).
        // Edge data (CUDA 12.3+) not asked for: NULL, as no edge we make has any.
        graph_get_edges ["cuGraphGetEdges_v2"]:
            fn(CUgraph, *mut CUgraphNode, *mut CUgraphNode, *mut c_void, *mut usize);
        graph_node_find_in_clone ["cuGraphNodeFindInClone"]: fn(*mut CUgraphNode, CUgraphNode, CUgraph);
        graph_destroy_node ["cuGraphDestroyNode"]: fn(CUgraphNode);
        // Event record and event wait nodes (executor/cuda/backend/graph/events.rs).
        graph_add_event_record_node ["cuGraphAddEventRecordNode"]:
            fn(*mut CUgraphNode, CUgraph, *const CUgraphNode, usize, CUevent);
        graph_add_event_wait_node ["cuGraphAddEventWaitNode"]:
            fn(*mut CUgraphNode, CUgraph, *const CUgraphNode, usize, CUevent);
        graph_event_record_node_get_event ["cuGraphEventRecordNodeGetEvent"]: fn(CUgraphNode, *mut CUevent);
        graph_event_wait_node_get_event ["cuGraphEventWaitNodeGetEvent"]: fn(CUgraphNode, *mut CUevent);
        graph_event_record_node_set_event ["cuGraphEventRecordNodeSetEvent"]: fn(CUgraphNode, CUevent);
        graph_event_wait_node_set_event ["cuGraphEventWaitNodeSetEvent"]: fn(CUgraphNode, CUevent);
        graph_exec_event_record_node_set_event ["cuGraphExecEventRecordNodeSetEvent"]:
            fn(CUgraphExec, CUgraphNode, CUevent);
        graph_exec_event_wait_node_set_event ["cuGraphExecEventWaitNodeSetEvent"]:
            fn(CUgraphExec, CUgraphNode, CUevent);
        // Virtual memory management (CUDA 10.2+). `CUmemAllocationProp` has
        // the wire's `AllocationProp` layout.
        mem_address_reserve ["cuMemAddressReserve"]: fn(*mut CUdeviceptr, usize, usize, CUdeviceptr, u64);
        mem_address_free ["cuMemAddressFree"]: fn(CUdeviceptr, usize);
        mem_create ["cuMemCreate"]: fn(*mut CUmemHandle, usize, *const uapi::cuda::AllocationProp, u64);
        mem_release ["cuMemRelease"]: fn(CUmemHandle);
        mem_map ["cuMemMap"]: fn(CUdeviceptr, usize, usize, CUmemHandle, u64);
        mem_unmap ["cuMemUnmap"]: fn(CUdeviceptr, usize);
        mem_set_access ["cuMemSetAccess"]: fn(CUdeviceptr, usize, *const CuMemAccessDesc, usize);
        mem_get_access ["cuMemGetAccess"]: fn(*mut u64, *const CuMemLocation, CUdeviceptr);
        mem_retain_allocation_handle ["cuMemRetainAllocationHandle"]: fn(*mut CUmemHandle, *mut c_void);
        mem_get_allocation_granularity ["cuMemGetAllocationGranularity"]:
            fn(*mut usize, *const uapi::cuda::AllocationProp, c_int);
    }
}

impl Api {
    /// Whether every entry point of the stream-ordered allocator exists.
    pub fn has_pools(&self) -> bool {
        self.mem_pool_create.is_some()
            && self.mem_pool_destroy.is_some()
            && self.mem_alloc_from_pool_async.is_some()
            && self.mem_free_async.is_some()
            && self.mem_pool_get_attribute.is_some()
            && self.mem_pool_set_attribute.is_some()
            && self.mem_pool_trim_to.is_some()
    }

    /// Whether every virtual memory management entry point exists.
    pub fn has_vmm(&self) -> bool {
        self.mem_address_reserve.is_some()
            && self.mem_address_free.is_some()
            && self.mem_create.is_some()
            && self.mem_release.is_some()
            && self.mem_map.is_some()
            && self.mem_unmap.is_some()
            && self.mem_set_access.is_some()
            && self.mem_get_access.is_some()
            && self.mem_retain_allocation_handle.is_some()
            && self.mem_get_allocation_granularity.is_some()
    }
}

/// The loaded driver: the library handle and its entry points.
pub struct CudaDriver {
    api: Api,
    // Keeps the code behind `api` mapped; dropped last. `None` only for the
    // in-process fake driver of the tests.
    _lib: Option<Library>,
}

// SAFETY: `Api` holds plain function pointers into a library that stays
// loaded as long as `self`; the CUDA driver API is thread-safe.
unsafe impl Send for CudaDriver {}
// SAFETY: as above; `&CudaDriver` only hands out copies of the pointers.
unsafe impl Sync for CudaDriver {}

impl std::fmt::Debug for CudaDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDriver").finish_non_exhaustive()
    }
}

impl CudaDriver {
    /// The soname of NVIDIA's driver library.
    pub const SONAME: &'static str = "libcuda.so.1";

    /// Opens the host's `libcuda.so.1` and calls `cuInit(0)`.
    pub fn load() -> Result<Arc<Self>, String> {
        Self::load_from(Self::SONAME)
    }

    /// Opens the driver library at `path` (a soname or a file) and calls `cuInit(0)`.
    pub fn load_from(path: &str) -> Result<Arc<Self>, String> {
        // SAFETY: loading NVIDIA's driver runs its initialisers, which have no
        // preconditions on us.
        let lib = unsafe { Library::new(path) }.map_err(|e| {
            format!(
                "cannot load the CUDA driver library {path}: {e} \
                 (is the NVIDIA driver installed on this host?)"
            )
        })?;
        // SAFETY: `lib` is the CUDA driver; the declared signatures follow cuda.h.
        let api = unsafe { Api::resolve(&lib) }.map_err(|e| format!("{path}: {e}"))?;
        if api.ctx_create_v2.is_none() && api.ctx_create_v4.is_none() {
            return Err(format!(
                "{path}: exports neither cuCtxCreate_v2 nor cuCtxCreate_v4"
            ));
        }
        let driver = Arc::new(Self {
            api,
            _lib: Some(lib),
        });
        // SAFETY: cuInit takes flags by value.
        let rc = unsafe { (driver.api.init)(0) };
        if rc != CUDA_SUCCESS {
            return Err(format!("cuInit failed: {}", driver.error_name(rc)));
        }
        Ok(driver)
    }

    /// A driver made of in-process functions (tests).
    #[cfg(test)]
    pub(crate) fn from_api(api: Api) -> Arc<Self> {
        Arc::new(Self { api, _lib: None })
    }

    /// The entry points.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// `cuGetErrorName` of `code` with its number, e.g. `CUDA_ERROR_OUT_OF_MEMORY (2)`.
    pub fn error_name(&self, code: CUresult) -> String {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: `p` is a valid out-pointer; on success it points to a static string.
        let rc = unsafe { (self.api.get_error_name)(code, &mut p) };
        if rc == CUDA_SUCCESS && !p.is_null() {
            // SAFETY: NUL-terminated static string owned by the driver.
            let name = unsafe { CStr::from_ptr(p) }.to_string_lossy();
            format!("{name} ({code})")
        } else {
            format!("CUresult {code}")
        }
    }

    /// Creates a context on `dev` with `flags` (`cuCtxCreate_v2`, else `_v4`
    /// with no parameters). The new context is pushed on the calling
    /// thread's stack; it is popped again when `cuCtxPopCurrent_v2` exists,
    /// so the caller's current context is unchanged.
    pub fn ctx_create(&self, flags: c_uint, dev: CUdevice) -> Result<CUcontext, CUresult> {
        let mut ctx: CUcontext = std::ptr::null_mut();
        // SAFETY: valid out-pointer; NULL create-params selects a regular context.
        let rc = unsafe {
            match (self.api.ctx_create_v2, self.api.ctx_create_v4) {
                (Some(f), _) => f(&mut ctx, flags, dev),
                (None, Some(f)) => f(&mut ctx, std::ptr::null_mut(), flags, dev),
                (None, None) => uapi::cuda::result::NOT_SUPPORTED,
            }
        };
        check(rc)?;
        if ctx.is_null() {
            return Err(uapi::cuda::result::UNKNOWN);
        }
        if let Some(pop) = self.api.ctx_pop_current {
            let mut popped: CUcontext = std::ptr::null_mut();
            // SAFETY: valid out-pointer; pops the context just pushed.
            let _ = unsafe { pop(&mut popped) };
        }
        Ok(ctx)
    }
}

/// `Ok` for `CUDA_SUCCESS`, else the code.
pub fn check(rc: CUresult) -> Result<(), CUresult> {
    if rc == CUDA_SUCCESS {
        Ok(())
    } else {
        Err(rc)
    }
}
