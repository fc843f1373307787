//! C pointer arguments of the exported functions: null checks and the
//! copies every guest library makes. Each helper says what it needs of
//! the pointer; the library maps `None`/[`StrError`] to its own codes.

use std::ffi::{c_char, CStr};

/// Writes `v` through a C out-pointer; `None` when it is null.
///
/// # Safety
/// `p` is null or valid for a write of `T`.
pub unsafe fn write<T>(p: *mut T, v: T) -> Option<()> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, and the caller vouches for validity.
    unsafe { p.write(v) };
    Some(())
}

/// A C string argument; `None` when it is null.
///
/// # Safety
/// `p` is null or a NUL-terminated string that lives for `'a`.
pub unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a CStr> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller passes a C string.
    Some(unsafe { CStr::from_ptr(p) })
}

/// Why a string could not be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrError {
    /// The buffer is null.
    Null,
    /// The text and its NUL do not fit.
    TooSmall,
}

/// Copies `text` and a NUL into a C buffer of `cap` bytes, cut to fit
/// (as CUDA's `cuDeviceGetName`); a null buffer or `cap` 0 is `None`.
///
/// # Safety
/// `buf` is null or valid for writes of `cap` bytes.
pub unsafe fn put_str_cut(buf: *mut c_char, cap: usize, text: &str) -> Option<()> {
    if buf.is_null() || cap == 0 {
        return None;
    }
    let n = text.len().min(cap - 1);
    // SAFETY: `n + 1 <= cap` bytes, within the caller's buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, n);
        *buf.add(n) = 0;
    }
    Some(())
}

/// Copies `text` and a NUL into a C buffer of `cap` bytes when they fit
/// (as NVML's string queries).
///
/// # Safety
/// `buf` is null or valid for writes of `cap` bytes.
pub unsafe fn put_str_whole(buf: *mut c_char, cap: usize, text: &str) -> Result<(), StrError> {
    if buf.is_null() {
        return Err(StrError::Null);
    }
    if cap < text.len() + 1 {
        return Err(StrError::TooSmall);
    }
    // SAFETY: it fits (checked above), and `buf` is the caller's buffer.
    unsafe { put_str_cut(buf, cap, text) }.ok_or(StrError::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_writes() {
        let mut b = [1 as c_char; 4];
        // SAFETY: `b` is 4 bytes; the pointers are ours.
        unsafe {
            assert_eq!(put_str_cut(b.as_mut_ptr(), 4, "vgpu!"), Some(()));
            assert_eq!(CStr::from_ptr(b.as_ptr()).to_bytes(), b"vgp");
            assert_eq!(
                put_str_whole(b.as_mut_ptr(), 4, "vgpu"),
                Err(StrError::TooSmall)
            );
            assert_eq!(put_str_whole(b.as_mut_ptr(), 4, "ok"), Ok(()));
            assert_eq!(c_str(b.as_ptr()).map(CStr::to_bytes), Some(&b"ok"[..]));
            assert_eq!(put_str_cut(std::ptr::null_mut(), 4, "x"), None);
            assert_eq!(c_str(std::ptr::null()), None);
            let mut v = 0u32;
            assert_eq!(write(&mut v, 5), Some(()));
            assert_eq!((v, write(std::ptr::null_mut::<u32>(), 1)), (5, None));
        }
    }
}
