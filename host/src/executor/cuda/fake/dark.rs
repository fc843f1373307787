//! A fake of NVIDIA's CONTEXT_IDENTITY table, for the two slots
//! STREAM_DRIVER_VALUE uses: [51] gives a stream's object, [39] a value of it
//! (here 7 for the default stream, as on the H200, and the stream's fake
//! address for a created one, so a test sees which stream was asked).

use super::{need_ctx, with, INVALID_HANDLE, INVALID_VALUE};
use crate::executor::cuda::driver::{CUcontext, CUresult, CUstream};
use std::ffi::c_void;

use uapi::cuda::export_table::{
    CONTEXT_IDENTITY, CONTEXT_IDENTITY_STREAM_OBJECT, CONTEXT_IDENTITY_STREAM_VALUE,
};
/// Objects are the stream's address plus this (the default stream: this).
const OBJECT_BASE: usize = 0x5000_0000;

unsafe extern "C" fn stream_object(
    ctx: CUcontext,
    stream: CUstream,
    out: *mut *mut c_void,
) -> CUresult {
    with(|s| {
        if need_ctx(s).is_err() || ctx as usize != s.current {
            return INVALID_VALUE;
        }
        if !stream.is_null() && !s.streams.contains(&(stream as usize)) {
            return INVALID_HANDLE;
        }
        // SAFETY: the caller's out-pointer (the executor passes a local).
        unsafe { *out = (OBJECT_BASE + stream as usize) as *mut c_void };
        0
    })
}

unsafe extern "C" fn stream_value(_: CUcontext, object: *mut c_void, out: *mut u64) -> CUresult {
    let value = match (object as usize).checked_sub(OBJECT_BASE) {
        Some(0) => 7,
        Some(stream) => stream as u64,
        None => return INVALID_VALUE,
    };
    // SAFETY: the caller's out-pointer (the executor passes a local).
    unsafe { *out = value };
    0
}

type ObjectFn = unsafe extern "C" fn(CUcontext, CUstream, *mut *mut c_void) -> CUresult;
type ValueFn = unsafe extern "C" fn(CUcontext, *mut c_void, *mut u64) -> CUresult;

struct Table([usize; 93]);

static TABLE: Table = {
    let mut t = [0usize; 93];
    t[0] = 93 * 8;
    Table(t)
};

pub unsafe extern "C" fn get_export_table(
    out: *mut *const c_void,
    id: *const [u8; 16],
) -> CUresult {
    // SAFETY: the executor passes a 16-byte id.
    if unsafe { *id } != CONTEXT_IDENTITY {
        return INVALID_VALUE;
    }
    // Function addresses are not constants: fill the two slots in a leaked
    // copy, once per call (tests call it a handful of times).
    let mut t = Box::new(TABLE.0);
    let object: ObjectFn = stream_object;
    let value: ValueFn = stream_value;
    t[CONTEXT_IDENTITY_STREAM_OBJECT] = object as usize;
    t[CONTEXT_IDENTITY_STREAM_VALUE] = value as usize;
    // SAFETY: the caller's out-pointer.
    unsafe { *out = Box::leak(t).as_ptr().cast() };
    0
}
