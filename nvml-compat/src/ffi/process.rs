// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Running processes (`ListClients`). Every vgpu client is a compute
//! client: the graphics and MPS lists are always empty.

use std::ffi::c_uint;

use super::{dev, nonnull, nvmlDevice_t};
use crate::{
    api::Process,
    types::{nvmlProcessInfo_t, nvmlProcessInfo_v1_t, ret, Error, Result},
};

/// Fills a caller's array the NVML way: `*count` in = capacity, out =
/// entries; too small is `INSUFFICIENT_SIZE` with `*count` = needed.
unsafe fn fill_list<T>(
    procs: &[Process],
    count: *mut c_uint,
    infos: *mut T,
    conv: impl Fn(&Process) -> T,
) -> Result {
    nonnull(count)?;
    // SAFETY: the caller's in/out count.
    let cap = unsafe { *count } as usize;
    // SAFETY: as above.
    unsafe { *count = procs.len() as c_uint };
    if procs.len() > cap {
        return Err(Error(ret::INSUFFICIENT_SIZE));
    }
    if procs.is_empty() {
        return Ok(());
    }
    nonnull(infos)?;
    for (i, p) in procs.iter().enumerate() {
        // SAFETY: `i` < `cap`, the caller's array length.
        unsafe { infos.add(i).write(conv(p)) };
    }
    Ok(())
}

fn v2(p: &Process) -> nvmlProcessInfo_t {
    nvmlProcessInfo_t {
        pid: p.pid,
        usedGpuMemory: p.used_memory,
        gpuInstanceId: u32::MAX,
        computeInstanceId: u32::MAX,
    }
}

pub(crate) unsafe fn compute_v1(
    h: nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut nvmlProcessInfo_v1_t,
) -> Result {
    // SAFETY: the caller's count and array.
    unsafe {
        compute_with(h, count, infos, |p| nvmlProcessInfo_v1_t {
            pid: p.pid,
            usedGpuMemory: p.used_memory,
        })
    }
}

/// The compute processes in the caller's array of `T`, each made by `conv`.
pub(crate) unsafe fn compute_with<T>(
    h: nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut T,
    conv: impl Fn(&Process) -> T,
) -> Result {
    let procs = dev(h)?.processes()?;
    // SAFETY: the caller's count and array.
    unsafe { fill_list(&procs, count, infos, conv) }
}

/// No processes, in the caller's array of `T` (`conv` is never called).
pub(crate) unsafe fn none_with<T>(
    h: nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut T,
    conv: impl Fn(&Process) -> T,
) -> Result {
    dev(h)?;
    // SAFETY: the caller's count and array.
    unsafe { fill_list(&[], count, infos, conv) }
}

pub(crate) unsafe fn compute_v2(
    h: nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut nvmlProcessInfo_t,
) -> Result {
    // SAFETY: the caller's count and array.
    unsafe { compute_with(h, count, infos, v2) }
}

/// Graphics and MPS: none.
pub(crate) unsafe fn none_v1(
    h: nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut nvmlProcessInfo_v1_t,
) -> Result {
    // SAFETY: the caller's count and array.
    unsafe { none_with(h, count, infos, |_| nvmlProcessInfo_v1_t::default()) }
}

/// Graphics and MPS: none.
pub(crate) unsafe fn none_v2(
    h: nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut nvmlProcessInfo_t,
) -> Result {
    // SAFETY: the caller's count and array.
    unsafe { none_with(h, count, infos, v2) }
}
