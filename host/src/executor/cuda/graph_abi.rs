//! `cuda.h` types of stream capture and graphs, as the executor passes
//! them to NVIDIA's driver (64-bit hosts).

use super::driver::{CUcontext, CUdeviceptr, CUfunction};
use std::ffi::{c_uint, c_void};

/// `CUgraph`.
pub type CUgraph = *mut c_void;
/// `CUgraphNode`.
pub type CUgraphNode = *mut c_void;
/// `CUgraphExec`.
pub type CUgraphExec = *mut c_void;

/// `CUDA_KERNEL_NODE_PARAMS_v2` (CUDA 12's `CUDA_KERNEL_NODE_PARAMS`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KernelNodeParams {
    /// Function.
    pub func: CUfunction,
    /// Grid.
    pub grid: [c_uint; 3],
    /// Block.
    pub block: [c_uint; 3],
    /// Dynamic shared memory bytes.
    pub shared_mem_bytes: c_uint,
    /// One pointer per parameter, or NULL.
    pub kernel_params: *mut *mut c_void,
    /// `CU_LAUNCH_PARAM_*` list, or NULL.
    pub extra: *mut *mut c_void,
    /// `CUkernel` (NULL: `func` is used).
    pub kern: *mut c_void,
    /// Context of `kern` (NULL).
    pub ctx: CUcontext,
}

impl KernelNodeParams {
    /// All fields zero / NULL.
    pub fn zeroed() -> Self {
        Self {
            func: std::ptr::null_mut(),
            grid: [0; 3],
            block: [0; 3],
            shared_mem_bytes: 0,
            kernel_params: std::ptr::null_mut(),
            extra: std::ptr::null_mut(),
            kern: std::ptr::null_mut(),
            ctx: std::ptr::null_mut(),
        }
    }
}

/// `CUDA_MEMSET_NODE_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MemsetNodeParams {
    /// Destination.
    pub dst: CUdeviceptr,
    /// Pitch of 2D memsets.
    pub pitch: usize,
    /// Value.
    pub value: c_uint,
    /// 1, 2 or 4.
    pub element_size: c_uint,
    /// Elements per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

/// `CUDA_MEMCPY3D` (200 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Memcpy3D {
    /// srcXInBytes, srcY, srcZ, srcLOD.
    pub src_pos: [usize; 4],
    /// `CUmemorytype` of the source.
    pub src_memory_type: u32,
    /// srcHost.
    pub src_host: usize,
    /// srcDevice.
    pub src_device: CUdeviceptr,
    /// srcArray, reserved0.
    pub src_array: [usize; 2],
    /// srcPitch, srcHeight.
    pub src_pitch: [usize; 2],
    /// dstXInBytes, dstY, dstZ, dstLOD.
    pub dst_pos: [usize; 4],
    /// `CUmemorytype` of the destination.
    pub dst_memory_type: u32,
    /// dstHost.
    pub dst_host: usize,
    /// dstDevice.
    pub dst_device: CUdeviceptr,
    /// dstArray, reserved1.
    pub dst_array: [usize; 2],
    /// dstPitch, dstHeight.
    pub dst_pitch: [usize; 2],
    /// WidthInBytes, Height, Depth.
    pub extent: [usize; 3],
}

/// `CUgraphExecUpdateResultInfo`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecUpdateResultInfo {
    /// `CUgraphExecUpdateResult`.
    pub result: u32,
    /// The node at fault.
    pub error_node: CUgraphNode,
    /// Its counterpart in the executable graph.
    pub error_from_node: CUgraphNode,
}

const _: () = assert!(core::mem::size_of::<KernelNodeParams>() == 72);
const _: () = assert!(core::mem::size_of::<MemsetNodeParams>() == 40);
const _: () = assert!(core::mem::size_of::<Memcpy3D>() == 200);
const _: () = assert!(core::mem::size_of::<ExecUpdateResultInfo>() == 24);
