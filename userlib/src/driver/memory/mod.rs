//! Memory: device allocations, copies (split at the transport's payload
//! limit), memsets, 2D copies, host allocations and registrations, the
//! pointer registry unified addressing rests on, pointer attributes, peer
//! access on our one device, and the stream-ordered allocator.
//!
//! - [`registry`]: which guest addresses are device memory, which are our
//!   pinned or registered host memory.
//! - `alloc`: cuMemAlloc/Free/AllocPitch/GetInfo/GetAddressRange.
//! - `copy`: 1D copies, explicit (`HtoD`, …) and by pointer (`cuMemcpy`).
//! - `copy_2d`, `memset`: pitched copies, memsets.
//! - `host`: cuMemHostAlloc/FreeHost/Register/Unregister/GetFlags.
//! - `pointer`: cuPointerGetAttribute(s), cuPointerSetAttribute.
//! - `peer`: peer copies and peer-access answers for one device.
//! - `pool`: cuMemAllocAsync/FreeAsync and the default memory pool.
//! - `vmm`: virtual memory management (cuMemAddressReserve, cuMemCreate, cuMemMap, …).

mod alloc;
mod copy;
mod copy_2d;
mod host;
mod memset;
mod peer;
mod pointer;
mod pool;
pub(crate) mod registry;
mod vmm;

pub(crate) use alloc::*;
pub(crate) use copy::*;
pub(crate) use copy_2d::*;
pub(crate) use host::*;
pub(crate) use memset::*;
pub(crate) use peer::*;
pub(crate) use pointer::*;
pub(crate) use pool::*;
pub(crate) use vmm::*;

use std::ffi::c_void;

use uapi::cuda::result;

use super::{with_state, CuResult, Obj, State};
use crate::driver::abi::CUstream;
use registry::{DeviceRange, HostRange};

/// Device-to-host chunks in flight at once.
const DTOH_WINDOW: usize = 8;

/// Runs `f` with the current context's guest handle and wire handle.
fn with_current<T>(f: impl FnOnce(&mut State, u64, u64) -> CuResult<T>) -> CuResult<T> {
    with_state(|s| {
        let (guest, wire) = s.current()?;
        f(s, guest, wire)
    })
}

/// Whether guest context `ctx` still exists (its memory with it). The
/// primary context's memory goes when its last retain is released.
fn ctx_live(s: &State, ctx: u64) -> bool {
    match s.objects.get(&ctx) {
        Some(Obj::Ctx { .. }) => ctx != s.primary.handle || s.primary.retains > 0,
        _ => false,
    }
}

/// The live device range holding `ptr`: (base, range).
pub(crate) fn device_at(s: &State, ptr: u64) -> Option<(u64, DeviceRange)> {
    s.ptrs
        .device_containing(ptr)
        .filter(|(_, r)| ctx_live(s, r.ctx))
        .map(|(b, r)| (b, *r))
}

/// Our host range holding `ptr`: (base, range).
pub(crate) fn host_at(s: &State, ptr: usize) -> Option<(usize, HostRange)> {
    s.ptrs.host_containing(ptr).map(|(b, r)| (b, *r))
}

/// Unified addressing: whether `ptr` is device memory (inside a live
/// device range) rather than host memory.
pub(crate) fn is_device(s: &State, ptr: u64) -> bool {
    device_at(s, ptr).is_some()
}

/// Host bytes of a C buffer (`n` may be 0 with a NULL pointer).
///
/// # Safety
/// `p` must be valid for reads of `n` bytes for `'a` (the caller's buffer,
/// as the CUDA API defines it).
unsafe fn host_slice<'a>(p: *const c_void, n: usize) -> CuResult<&'a [u8]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) })
}

/// # Safety
/// `p` must be valid for writes of `n` bytes for `'a`.
unsafe fn host_slice_mut<'a>(p: *mut c_void, n: usize) -> CuResult<&'a mut [u8]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), n) })
}

#[cfg(test)]
pub(crate) mod test_util {
    pub use crate::driver::testing::with_primary;

    /// A success response carrying one `u64` (handles, addresses).
    pub fn handle_response(v: u64) -> Vec<u8> {
        let mut r = vec![0u8; 8];
        r.extend_from_slice(&v.to_le_bytes());
        r
    }
}
