//! NVIDIA's private export tables, where a guest library needs an answer
//! only NVIDIA's driver has (the guest's own tables are in
//! `userlib/src/driver/dark_api`). Each use names its slots and their
//! signatures as traced on driver R580 (580.159.04, H200); a table smaller
//! than the slots need gets `CUDA_ERROR_NOT_SUPPORTED`.

use std::ffi::c_void;

use super::driver::{check, CUcontext, CUresult, CUstream, CudaDriver};
use crate::cuda::backend::CuResult;
use uapi::cuda::result;

use uapi::cuda::export_table::{
    CONTEXT_IDENTITY, CONTEXT_IDENTITY_STREAM_OBJECT as STREAM_OBJECT_SLOT,
    CONTEXT_IDENTITY_STREAM_VALUE as STREAM_VALUE_SLOT,
};

/// CONTEXT_IDENTITY[51]: `(ctx, stream, &object)`, the driver's object of a
/// stream (NULL: the context's default stream).
type StreamObjectFn = unsafe extern "C" fn(CUcontext, CUstream, *mut *mut c_void) -> CUresult;
/// CONTEXT_IDENTITY[39]: `(ctx, object, &value)`, a 64-bit value of a stream
/// object (7 for the default stream of an H200 context).
type StreamValueFn = unsafe extern "C" fn(CUcontext, *mut c_void, *mut u64) -> CUresult;

/// The largest table size believed (the tracer's limit too).
const MAX_TABLE_BYTES: usize = 0x10000;

/// The table `id` as its slots, if the driver has it (slot 0 is the
/// table's size in bytes, so the slice covers exactly what the driver
/// counts).
fn table(driver: &CudaDriver, id: &[u8; 16]) -> CuResult<&'static [*const c_void]> {
    let get = driver.api().get_export_table.ok_or(result::NOT_SUPPORTED)?;
    let mut table: *const c_void = std::ptr::null();
    // SAFETY: valid out-pointer and a 16-byte id, as cuGetExportTable takes.
    check(unsafe { get(&mut table, id) })?;
    if table.is_null() {
        return Err(result::NOT_SUPPORTED);
    }
    let words = table.cast::<*const c_void>();
    // SAFETY: a table starts with its size in bytes (CONTEXT_IDENTITY does,
    // measured).
    let size = unsafe { words.read() } as usize;
    // A larger slot 0 is not a size (tables of R580 are at most 0x2e8
    // bytes): refused rather than trusted.
    if size > MAX_TABLE_BYTES {
        return Err(result::NOT_SUPPORTED);
    }
    // SAFETY: the slots it counts are readable and stay so while the driver
    // is loaded (tables are static data of the library).
    Ok(unsafe { std::slice::from_raw_parts(words, size / std::mem::size_of::<usize>()) })
}

/// Slot `i` of `table`, if it is that long and the slot is not NULL.
fn slot(table: &[*const c_void], i: usize) -> CuResult<*const c_void> {
    match table.get(i) {
        Some(f) if !f.is_null() => Ok(*f),
        _ => Err(result::NOT_SUPPORTED),
    }
}

/// The value CONTEXT_IDENTITY[39] gives for `stream` of the current context
/// `ctx` (STREAM_DRIVER_VALUE).
pub(crate) fn stream_driver_value(
    driver: &CudaDriver,
    ctx: CUcontext,
    stream: CUstream,
) -> CuResult<u64> {
    let identity = table(driver, &CONTEXT_IDENTITY)?;
    let object_fn = slot(identity, STREAM_OBJECT_SLOT)?;
    let value_fn = slot(identity, STREAM_VALUE_SLOT)?;
    // SAFETY: the slots' signatures, as traced (module comment).
    let object_fn = unsafe { std::mem::transmute::<*const c_void, StreamObjectFn>(object_fn) };
    // SAFETY: as above.
    let value_fn = unsafe { std::mem::transmute::<*const c_void, StreamValueFn>(value_fn) };
    let mut object: *mut c_void = std::ptr::null_mut();
    // SAFETY: a live context and one of its streams (or NULL); valid out-pointer.
    check(unsafe { object_fn(ctx, stream, &mut object) })?;
    if object.is_null() {
        return Err(result::UNKNOWN);
    }
    let mut value = 0u64;
    // SAFETY: the object the driver just gave for this context; valid out-pointer.
    check(unsafe { value_fn(ctx, object, &mut value) })?;
    Ok(value)
}
