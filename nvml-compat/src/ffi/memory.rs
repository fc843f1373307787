// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Memory and utilisation (the device's `GetUsage`).

use super::{dev, nonnull, nvmlDevice_t, put};
use crate::types::{
    nvmlMemory_t, nvmlMemory_v2_t, nvmlUtilization_t, ret, Error, Result, NVML_MEMORY_V2,
};

pub(crate) unsafe fn get_memory_info(h: nvmlDevice_t, out: *mut nvmlMemory_t) -> Result {
    let d = dev(h)?;
    nonnull(out)?;
    let m = d.memory()?;
    // SAFETY: the caller's out-pointer.
    unsafe {
        put(
            out,
            nvmlMemory_t {
                total: m.total,
                free: m.free,
                used: m.used,
            },
        )
    }
}

pub(crate) unsafe fn get_memory_info_v2(h: nvmlDevice_t, out: *mut nvmlMemory_v2_t) -> Result {
    let d = dev(h)?;
    nonnull(out)?;
    // SAFETY: non-null caller struct; `version` is its first field.
    if unsafe { (*out).version } != NVML_MEMORY_V2 {
        return Err(Error(ret::ARGUMENT_VERSION_MISMATCH));
    }
    let m = d.memory()?;
    // SAFETY: the caller's out-pointer.
    unsafe {
        put(
            out,
            nvmlMemory_v2_t {
                version: NVML_MEMORY_V2,
                total: m.total,
                reserved: 0,
                free: m.free,
                used: m.used,
            },
        )
    }
}

/// GPU percent from the host; memory-controller utilisation is not known
/// and reported as 0.
pub(crate) unsafe fn get_utilization_rates(h: nvmlDevice_t, out: *mut nvmlUtilization_t) -> Result {
    let d = dev(h)?;
    nonnull(out)?;
    let gpu = d.utilization()?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, nvmlUtilization_t { gpu, memory: 0 }) }
}
