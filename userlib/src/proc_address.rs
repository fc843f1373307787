//! `cuGetProcAddress` and `cuGetProcAddress_v2`, answering what NVIDIA's
//! driver answers.
//!
//! The answers come from a table measured on a real driver
//! (`userlib/proc-address/r580.tsv`, generated into `TABLE` by build.rs):
//! for each base name and flags, the breakpoints where the answer changes
//! as the requested cudaVersion grows. A request gets the last breakpoint at
//! or below its version. The export a breakpoint names is looked up among
//! ours ([`exports::table`]); a test asserts each one is there.
//!
//! What the table does not show was measured with
//! `tests/gpu/probe-proc-address.c` (`userlib/proc-address/r580-edges.txt`):
//! - a cudaVersion above the driver's → `CUDA_ERROR_INVALID_VALUE`, for
//!   every name, `pfn` and `symbolStatus` untouched (13001 as much as 13010,
//!   which is the table's first sample above 13000);
//! - a negative cudaVersion → answered as the driver's own version;
//! - flags: bit 1 (per-thread default stream) wins over bit 0, any other
//!   bit → `CUDA_ERROR_INVALID_VALUE`;
//! - a name the driver does not know, "" and versioned names
//!   ("cuMemAlloc_v2") → `CUDA_SUCCESS`, NULL, `SYMBOL_NOT_FOUND`;
//! - v1 (no `symbolStatus`): whenever v2 would answer NULL it returns
//!   `CUDA_ERROR_NOT_FOUND` and leaves `pfn` untouched;
//! - NULL `symbol` or `pfn` crashes NVIDIA's driver; we answer
//!   `CUDA_ERROR_INVALID_VALUE`.
//!
//! The table is one driver's (its `cuDriverGetVersion`: [`TABLE_DRIVER_VERSION`]).
//! `cuDriverGetVersion` reports the host's driver, which may be newer; we
//! still answer as the table's driver, since we only have the ABIs it
//! knows: a request for a cudaVersion above the table's gets
//! `CUDA_ERROR_INVALID_VALUE`, as from an older driver. Supporting a newer
//! branch means measuring its table (proc-address/README.md).

use std::ffi::{c_char, c_int, c_void, CStr};

use uapi::cuda::result;

use crate::{
    driver::CuResult,
    exports::{self, CUresult},
};

/// What the driver answers for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `CUDA_SUCCESS`, this export, `CU_GET_PROC_ADDRESS_SUCCESS`.
    Found(&'static str),
    /// `CUDA_SUCCESS`, NULL, this `symbolStatus`.
    Missing(c_int),
    /// This `CUresult`; `pfn` and `symbolStatus` are left as they were.
    Error(CUresult),
}

/// (first cudaVersion, answer) pairs, in version order.
type Breakpoints = &'static [(c_int, Answer)];

include!(concat!(env!("OUT_DIR"), "/proc_table.rs"));

const SYMBOL_SUCCESS: c_int = 0;
const SYMBOL_NOT_FOUND: c_int = 1;
const VERSION_NOT_SUFFICIENT: c_int = 2;
const CU_GET_PROC_ADDRESS_LEGACY_STREAM: u64 = 1;
const CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM: u64 = 2;

/// The driver's answer for base name `symbol` at `version` with `flags`.
pub(crate) fn resolve(symbol: &str, version: c_int, flags: u64) -> Answer {
    let known = CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    if flags & !known != 0 || version > TABLE_DRIVER_VERSION {
        return Answer::Error(result::INVALID_VALUE);
    }
    // The table's flags: 0, 1 (legacy stream) or 2 (per-thread).
    let flags = if flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM != 0 {
        2
    } else {
        flags as u8
    };
    let version = if version < 0 {
        TABLE_DRIVER_VERSION
    } else {
        version
    };
    let Ok(i) = TABLE.binary_search_by(|(b, f, _)| (*b, *f).cmp(&(symbol, flags))) else {
        return Answer::Missing(SYMBOL_NOT_FOUND);
    };
    TABLE[i]
        .2
        .iter()
        .take_while(|(first, _)| *first <= version)
        .last()
        .map_or(Answer::Missing(VERSION_NOT_SUFFICIENT), |(_, a)| *a)
}

/// `resolve` for a C caller: the address (NULL when missing) and the
/// `symbolStatus`, or the `CUresult` that leaves both untouched.
///
/// # Safety
/// `symbol` is non-NULL and NUL-terminated.
unsafe fn lookup(
    symbol: *const c_char,
    version: c_int,
    flags: u64,
) -> Result<(*mut c_void, c_int), CUresult> {
    // SAFETY: non-NULL and NUL-terminated, as the caller guarantees.
    let name = unsafe { CStr::from_ptr(symbol) };
    // A name that is not UTF-8 is no driver function's.
    let answer = name
        .to_str()
        .map_or(Answer::Missing(SYMBOL_NOT_FOUND), |n| {
            resolve(n, version, flags)
        });
    let missing = |status| {
        tracing::debug!("cuGetProcAddress({name:?}, {version}, {flags}): NULL, status {status}");
        Ok((std::ptr::null_mut(), status))
    };
    match answer {
        Answer::Found(export) => match exports::table().get(export) {
            Some(&f) => Ok((f as *mut c_void, SYMBOL_SUCCESS)),
            None => {
                // The table names an export we lack; a test rules this out.
                tracing::error!("cuGetProcAddress({name:?}): no export {export}");
                missing(SYMBOL_NOT_FOUND)
            }
        },
        Answer::Missing(status) => missing(status),
        Answer::Error(e) => {
            tracing::debug!("cuGetProcAddress({name:?}, {version}, {flags}) -> {e}");
            Err(e)
        }
    }
}

/// `cuGetProcAddress_v2`.
pub(crate) unsafe fn get_proc_address_v2(
    symbol: *const c_char,
    pfn: *mut *mut c_void,
    version: c_int,
    flags: u64,
    status: *mut c_int,
) -> CuResult {
    if symbol.is_null() || pfn.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: `symbol` is non-NULL; the C caller passes a C string.
    let (f, s) = unsafe { lookup(symbol, version, flags) }?;
    // SAFETY: `pfn` is non-NULL and, as `status` when non-NULL, the C
    // caller's location to write.
    unsafe {
        *pfn = f;
        if !status.is_null() {
            *status = s;
        }
    }
    Ok(())
}

/// `cuGetProcAddress` (before CUDA 12.0): no `symbolStatus`, so a NULL
/// answer is `CUDA_ERROR_NOT_FOUND` instead, `pfn` untouched.
pub(crate) unsafe fn get_proc_address(
    symbol: *const c_char,
    pfn: *mut *mut c_void,
    version: c_int,
    flags: u64,
) -> CuResult {
    if symbol.is_null() || pfn.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: `symbol` is non-NULL; the C caller passes a C string.
    let (f, s) = unsafe { lookup(symbol, version, flags) }?;
    if s != SYMBOL_SUCCESS {
        return Err(result::NOT_FOUND);
    }
    // SAFETY: `pfn` is non-NULL, the C caller's location to write.
    unsafe { *pfn = f };
    Ok(())
}

#[cfg(test)]
mod tests;
