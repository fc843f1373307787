//! The small local slots: tools callback buffers (TOOLS_RUNTIME_CALLBACK_HOOKS),
//! device queries (DEVICE_EXTENDED_RT) and context checks (CONTEXT_CHECKS).
//! Their behaviour is that of NVIDIA's R580 driver, measured on the H200.

use std::{
    cell::UnsafeCell,
    ffi::{c_int, c_uint, c_void},
};

use uapi::cuda::result;

use crate::driver::abi::Out;

use crate::{
    driver::{device, CuResult},
    exports::guard,
};

/// A driver-owned buffer that tools callbacks write into; zeroed, never read
/// by us.
struct ToolsBuffer<const N: usize>(UnsafeCell<[u32; N]>);

// SAFETY: we only hand out its address; what cudart does with it is its
// business, as with NVIDIA's buffer.
unsafe impl<const N: usize> Sync for ToolsBuffer<N> {}

/// Sizes as R580 reports them (1024 and 14).
static TOOLS_BUFFER1: ToolsBuffer<1024> = ToolsBuffer(UnsafeCell::new([0; 1024]));
static TOOLS_BUFFER2: ToolsBuffer<14> = ToolsBuffer(UnsafeCell::new([0; 14]));

unsafe fn hand_out<const N: usize>(
    slot: usize,
    b: &'static ToolsBuffer<N>,
    ptr: *mut *mut c_void,
    size: *mut usize,
) {
    vgpu_transport::logging::init();
    tracing::debug!("TOOLS_RUNTIME_CALLBACK_HOOKS[{slot}] -> buffer of {N}");
    if !ptr.is_null() {
        // SAFETY: the caller's out-pointer (cudart's); checked non-NULL.
        unsafe { *ptr = b.0.get().cast() };
    }
    if !size.is_null() {
        // SAFETY: as above.
        unsafe { *size = N };
    }
}

/// `TOOLS_RUNTIME_CALLBACK_HOOKS[2]`.
pub(super) unsafe extern "C" fn tools_buffer1(ptr: *mut *mut c_void, size: *mut usize) {
    // SAFETY: NULL-checked out-pointers from cudart.
    unsafe { hand_out(2, &TOOLS_BUFFER1, ptr, size) }
}

/// `TOOLS_RUNTIME_CALLBACK_HOOKS[6]`.
pub(super) unsafe extern "C" fn tools_buffer2(ptr: *mut *mut c_void, size: *mut usize) {
    // SAFETY: as above.
    unsafe { hand_out(6, &TOOLS_BUFFER2, ptr, size) }
}

/// `DEVICE_EXTENDED_RT[5]`: `(dev, attribute, kind, out)`. Measured on R580:
/// with `kind` 0, `out = [1, cuDeviceGetAttribute value]`; an unknown
/// attribute (or `kind` 7) gives INVALID_VALUE with `out` zeroed; a bad
/// device INVALID_DEVICE with `out` untouched. `kind` 1 gave `[1, 0]` for
/// the SM count — not understood, so other kinds are refused.
unsafe fn device_get_attribute_ext_impl(
    dev: c_int,
    attribute: c_uint,
    kind: c_int,
    out: *mut [usize; 2],
) -> CuResult {
    tracing::debug!("DEVICE_EXTENDED_RT[5](dev {dev}, attribute {attribute}, kind {kind})");
    if out.is_null() {
        return Err(result::INVALID_VALUE);
    }
    if dev != 0 {
        return Err(result::INVALID_DEVICE);
    }
    // SAFETY: the caller's out-pointer (cudart's); checked non-NULL above.
    unsafe { *out = [0, 0] };
    if kind != 0 {
        tracing::warn!("DEVICE_EXTENDED_RT[5]: kind {kind} not supported by vgpu");
        return Err(result::NOT_SUPPORTED);
    }
    let attribute = c_int::try_from(attribute).map_err(|_| result::INVALID_VALUE)?;
    let mut value: c_int = 0;
    device::device_get_attribute((&mut value).into(), attribute, dev)?;
    // SAFETY: as above.
    unsafe { *out = [1, value as usize] };
    Ok(())
}

pub(super) unsafe extern "C" fn device_get_attribute_ext(
    dev: c_int,
    attribute: c_uint,
    kind: c_int,
    out: *mut [usize; 2],
) -> u32 {
    // SAFETY: cudart's arguments; `out` is checked for NULL.
    guard("DEVICE_EXTENDED_RT[5]", || unsafe {
        device_get_attribute_ext_impl(dev, attribute, kind, out)
    })
}

/// `DEVICE_EXTENDED_RT[13]`: `(u8* out, dev)`; R580 answers 0 on the H200.
pub(super) unsafe extern "C" fn device_slot13(out: *mut u8, dev: c_int) -> u32 {
    guard("DEVICE_EXTENDED_RT[13]", || {
        tracing::debug!("DEVICE_EXTENDED_RT[13](dev {dev}) -> 0");
        if out.is_null() {
            return Err(result::INVALID_VALUE);
        }
        if dev != 0 {
            return Err(result::INVALID_DEVICE);
        }
        // SAFETY: NULL-checked out-pointer from cudart.
        unsafe { *out = 0 };
        Ok(())
    })
}

/// `CONTEXT_CHECKS[2]`: `(ctx, u32* r1, void** r2)`. R580 writes 0 to `r1`
/// and leaves `r2` alone.
pub(super) unsafe extern "C" fn context_check(
    ctx: *mut c_void,
    r1: *mut u32,
    _r2: *mut *const c_void,
) -> u32 {
    guard("CONTEXT_CHECKS[2]", || {
        tracing::debug!("CONTEXT_CHECKS[2](ctx {ctx:?}) -> 0");
        if !r1.is_null() {
            // SAFETY: NULL-checked out-pointer from cudart.
            unsafe { *r1 = 0 };
        }
        Ok(())
    })
}

/// `CONTEXT_CHECKS[3]`: `() -> u32`; R580 returns 0.
pub(super) unsafe extern "C" fn context_check_fn3() -> u32 {
    vgpu_transport::logging::init();
    tracing::debug!("CONTEXT_CHECKS[3]() -> 0");
    0
}

/// `TOOLS_TLS[2]`: the calling thread's current context, as
/// `cuCtxGetCurrent` answers (cuBLAS 13 calls it before each GEMM and gives
/// up with CUBLAS_STATUS_NOT_SUPPORTED when it fails; measured on the H200).
pub(super) unsafe extern "C" fn current_context(ctx: *mut *mut c_void) -> u32 {
    vgpu_transport::logging::init();
    tracing::debug!("TOOLS_TLS[2](current context)");
    // SAFETY: cudart's out-pointer; ctx_get_current checks it for NULL.
    guard("TOOLS_TLS[2]", || unsafe {
        crate::driver::context::ctx_get_current(Out::new(ctx.cast()))
    })
}

/// `CONTEXT_IDENTITY[4]`: `(ctx, *id)`, the context's id as `cuCtxGetId`
/// gives it (NULL: the current context).
pub(super) unsafe extern "C" fn context_id(ctx: *mut c_void, id: *mut u64) -> u32 {
    vgpu_transport::logging::init();
    tracing::debug!("CONTEXT_IDENTITY[4](ctx {ctx:?})");
    // SAFETY: cudart's arguments; ctx_get_id checks both.
    guard("CONTEXT_IDENTITY[4]", || unsafe {
        crate::driver::function::ctx_get_id(ctx, Out::new(id))
    })
}
