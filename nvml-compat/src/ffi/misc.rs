// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Fixed answers: modes a virtual GPU has, and the sensors it cannot read.

use std::ffi::c_uint;

use super::{dev, nvmlDevice_t, put};
use crate::types::{ret, Error, Result, NVML_COMPUTEMODE_DEFAULT, NVML_FEATURE_DISABLED};

/// Persistence, display mode, display active: disabled.
pub(crate) unsafe fn disabled(h: nvmlDevice_t, out: *mut c_uint) -> Result {
    dev(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, NVML_FEATURE_DISABLED) }
}

pub(crate) unsafe fn compute_mode(h: nvmlDevice_t, out: *mut c_uint) -> Result {
    dev(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, NVML_COMPUTEMODE_DEFAULT) }
}

/// Queries on a valid device that the guest cannot answer (temperature,
/// power, fans, clocks, P-state, PCIe link, ECC, MIG): `NOT_SUPPORTED`
/// after the handle check, which nvidia-smi prints as N/A.
pub(crate) fn unknown(h: nvmlDevice_t) -> Result {
    dev(h)?;
    Err(Error(ret::NOT_SUPPORTED))
}

/// Checks that pass on any valid device (nvidia-smi's InfoROM check: a
/// virtual GPU has nothing that could be corrupt).
pub(crate) fn valid(h: nvmlDevice_t) -> Result {
    dev(h).map(drop)
}

/// Queries whose answer on this device is 0 (not a MIG device, no MIG
/// slices, virtualization mode NONE).
pub(crate) unsafe fn zero(h: nvmlDevice_t, out: *mut c_uint) -> Result {
    dev(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, 0) }
}
