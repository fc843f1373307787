// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Event sets. A virtual GPU raises no events (no Xid errors, clock or power
//! changes reach the guest), but nvidia-smi creates a set and registers for
//! them before printing its table, and fails with "Internal NVML error" if
//! that is refused. So sets exist, accept registrations, and never fire.

use std::ffi::{c_uint, c_ulonglong, c_void};
use std::time::Duration;

use super::{dev, nonnull, nvmlDevice_t};
use crate::types::{ret, Error, Result};

/// The longest a wait sleeps before reporting a timeout.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The one set object every `nvmlEventSetCreate` hands out: sets hold no
/// state, since nothing is ever delivered.
static EVENT_SET: u8 = 0;

/// `nvmlEventSetCreate`.
pub(crate) unsafe fn create(set: *mut *const c_void) -> Result {
    nonnull(set)?;
    // SAFETY: the caller's out-pointer, checked non-null.
    unsafe { *set = (&raw const EVENT_SET).cast() };
    Ok(())
}

fn check_set(set: *const c_void) -> Result {
    if std::ptr::eq(set, (&raw const EVENT_SET).cast()) {
        Ok(())
    } else {
        Err(Error(ret::INVALID_ARGUMENT))
    }
}

/// `nvmlEventSetFree`.
pub(crate) fn free(set: *const c_void) -> Result {
    check_set(set)
}

/// `nvmlDeviceRegisterEvents`: accepted; nothing will fire.
pub(crate) fn register(h: nvmlDevice_t, _types: c_ulonglong, set: *const c_void) -> Result {
    dev(h)?;
    check_set(set)
}

/// `nvmlDeviceGetSupportedEventTypes`: none.
pub(crate) unsafe fn supported_types(h: nvmlDevice_t, types: *mut c_ulonglong) -> Result {
    dev(h)?;
    nonnull(types)?;
    // SAFETY: the caller's out-pointer, checked non-null.
    unsafe { *types = 0 };
    Ok(())
}

/// `nvmlEventSetWait(_v2)`: waits out the timeout (at most 10 s) and
/// reports `TIMEOUT`, as NVML does when no event arrives.
pub(crate) fn wait(set: *const c_void, _data: *mut c_void, timeout_ms: c_uint) -> Result {
    check_set(set)?;
    std::thread::sleep(Duration::from_millis(u64::from(timeout_ms)).min(MAX_WAIT));
    Err(Error(ret::TIMEOUT))
}
