// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! The C side of the API by area: pointer checks and struct filling over
//! [`crate::api`]. Each function returns `Result<()>`; `crate::exports`
//! turns it into an `nvmlReturn_t`.

pub(crate) mod device;
pub(crate) mod event;
pub(crate) mod memory;
pub(crate) mod misc;
pub(crate) mod process;
pub(crate) mod system;

use std::ffi::{c_char, c_uint};

use vgpu_transport::ptr;

use crate::{
    api::Device,
    state::Slot,
    types::{ret, Error, Result},
};

/// `nvmlDevice_t`.
#[allow(non_camel_case_types)]
pub type nvmlDevice_t = *const Slot;

/// Fails with `INVALID_ARGUMENT` on a null pointer.
pub(crate) fn nonnull<T>(p: *const T) -> Result {
    if p.is_null() {
        Err(Error(ret::INVALID_ARGUMENT))
    } else {
        Ok(())
    }
}

/// The device a handle stands for.
pub(crate) fn dev(h: nvmlDevice_t) -> Result<Device> {
    Device::from_handle(h)
}

/// Copies `text` and a NUL into a C buffer of `len` bytes; too small is
/// `INSUFFICIENT_SIZE` (as NVML).
///
/// # Safety
///
/// `buf` is null or valid for `len` bytes.
pub(crate) unsafe fn put_str(buf: *mut c_char, len: c_uint, text: &str) -> Result {
    // SAFETY: the caller's contract.
    unsafe { ptr::put_str_whole(buf, len as usize, text) }.map_err(|e| {
        Error(match e {
            ptr::StrError::Null => ret::INVALID_ARGUMENT,
            ptr::StrError::TooSmall => ret::INSUFFICIENT_SIZE,
        })
    })
}

/// Copies `text` into a fixed C array, NUL-terminated, truncated.
pub(crate) fn fill(dst: &mut [c_char], text: &str) {
    dst.fill(0);
    let n = text.len().min(dst.len().saturating_sub(1));
    for (d, s) in dst.iter_mut().zip(&text.as_bytes()[..n]) {
        *d = *s as c_char;
    }
}

/// A C string argument.
///
/// # Safety
///
/// `p` is null or a NUL-terminated string.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char) -> Result<&'a str> {
    // SAFETY: the caller's contract.
    unsafe { ptr::c_str(p) }
        .and_then(|s| s.to_str().ok())
        .ok_or(Error(ret::INVALID_ARGUMENT))
}

/// Writes `v` through an out-pointer.
///
/// # Safety
///
/// `p` is null or valid for a write of `T`.
pub(crate) unsafe fn put<T>(p: *mut T, v: T) -> Result {
    // SAFETY: the caller's contract.
    unsafe { ptr::write(p, v) }.ok_or(Error(ret::INVALID_ARGUMENT))
}
