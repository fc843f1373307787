//! cuGetErrorName / cuGetErrorString from `uapi::cuda::result::describe`.

use std::{
    collections::BTreeMap,
    ffi::{c_char, CString},
    sync::OnceLock,
};

use uapi::cuda::result;

use super::CuResult;

fn strings(code: u32) -> Option<&'static (CString, CString)> {
    static TABLE: OnceLock<BTreeMap<u32, (CString, CString)>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            (0..1000u32)
                .filter_map(|c| {
                    let (n, s) = result::describe(c)?;
                    Some((c, (CString::new(n).ok()?, CString::new(s).ok()?)))
                })
                .collect()
        })
        .get(&code)
}

unsafe fn lookup(code: u32, out: *mut *const c_char, name: bool) -> CuResult {
    if out.is_null() {
        return Err(result::INVALID_VALUE);
    }
    match strings(code) {
        Some((n, s)) => {
            // SAFETY: the caller's out-pointer; checked non-NULL above.
            unsafe { *out = if name { n.as_ptr() } else { s.as_ptr() } };
            Ok(())
        }
        None => {
            // SAFETY: as above.
            unsafe { *out = std::ptr::null() };
            Err(result::INVALID_VALUE)
        }
    }
}

pub(crate) unsafe fn get_error_name(code: u32, out: *mut *const c_char) -> CuResult {
    // SAFETY: the C caller's out-pointer, as `cuGetErrorName` defines it.
    unsafe { lookup(code, out, true) }
}

pub(crate) unsafe fn get_error_string(code: u32, out: *mut *const c_char) -> CuResult {
    // SAFETY: the C caller's out-pointer, as `cuGetErrorString` defines it.
    unsafe { lookup(code, out, false) }
}
