// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Init, shutdown and system queries.

use std::ffi::{c_char, c_int, c_uint, c_void};

use super::{put, put_str};
use crate::{
    api,
    types::{ret, Error, Result, NVML_INIT_FLAG_NO_ATTACH, NVML_INIT_FLAG_NO_GPUS},
};

pub(crate) fn init() -> Result {
    api::init()
}

pub(crate) fn init_with_flags(flags: c_uint) -> Result {
    if flags & !(NVML_INIT_FLAG_NO_GPUS | NVML_INIT_FLAG_NO_ATTACH) != 0 {
        return Err(Error(ret::INVALID_ARGUMENT));
    }
    api::init_with_flags(flags).map_err(|f| f.code)
}

pub(crate) fn shutdown() -> Result {
    api::shutdown()
}

pub(crate) unsafe fn get_driver_version(buf: *mut c_char, len: c_uint) -> Result {
    let v = api::driver_version()?;
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &v) }
}

pub(crate) unsafe fn get_nvml_version(buf: *mut c_char, len: c_uint) -> Result {
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &api::nvml_version()) }
}

pub(crate) unsafe fn get_cuda_driver_version(v: *mut c_int) -> Result {
    let n = api::cuda_driver_version()?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(v, n) }
}

pub(crate) unsafe fn get_process_name(pid: c_uint, buf: *mut c_char, len: c_uint) -> Result {
    crate::state::with_init(|_| Ok(()))?;
    super::nonnull(buf)?;
    if len == 0 {
        return Err(Error(ret::INVALID_ARGUMENT));
    }
    let mut name = api::process_name(pid)?;
    // NVML truncates process names to the buffer.
    while name.len() >= len as usize {
        name.pop();
    }
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &name) }
}

/// The export-table id nvidia-smi asks for.
pub(crate) const EXPORT_TABLE_ID: [u8; 16] = [
    0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e, 0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4,
];

/// A table of 512 null slots (nvidia-smi accepts it and falls back to the
/// public API).
#[repr(C, align(64))]
pub(crate) struct NullTable(pub [usize; 512]);

pub(crate) static NULL_TABLE: NullTable = NullTable([0; 512]);

pub(crate) unsafe fn internal_get_export_table(
    pp: *mut *const c_void,
    id: *const c_void,
) -> Result {
    super::nonnull(pp)?;
    // SAFETY: the caller's out-pointer.
    unsafe { *pp = std::ptr::null() };
    super::nonnull(id)?;
    // SAFETY: an export-table id is 16 bytes.
    let id = unsafe { *id.cast::<[u8; 16]>() };
    if id != EXPORT_TABLE_ID {
        tracing::debug!("nvmlInternalGetExportTable: unknown id {id:02x?}");
        return Err(Error(ret::INVALID_ARGUMENT));
    }
    // SAFETY: as above.
    unsafe { *pp = NULL_TABLE.0.as_ptr().cast() };
    Ok(())
}
