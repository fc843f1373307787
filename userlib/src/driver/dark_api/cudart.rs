//! CUDART_INTERFACE slots: module loads from cudart's embedded fatbins (the
//! same path as `cuModuleLoadFatBinary`), the primary context's handle, and
//! the no-ops.

use std::ffi::{c_int, c_uint, c_void};

use uapi::cuda::result;

use crate::driver::abi::{CUmodule, Out};
use crate::{
    driver::{context, module, CuResult},
    exports::guard,
};

/// The optional arguments of the `_ext` loads are not understood; ZLUDA
/// refuses non-zero ones too.
fn plain_load(slot: &str, a3: *mut c_void, a4: *mut c_void, a5: c_uint) -> CuResult {
    if a3.is_null() && a4.is_null() && a5 == 0 {
        Ok(())
    } else {
        tracing::warn!(
            "CUDART_INTERFACE[{slot}]: extra arguments {a3:?} {a4:?} {a5} not supported by vgpu"
        );
        Err(result::NOT_SUPPORTED)
    }
}

/// `[1] (CUmodule*, const __fatBinC_Wrapper_t*)`.
pub(super) unsafe extern "C" fn get_module_from_cubin(
    module: *mut CUmodule,
    wrapper: *const c_void,
) -> u32 {
    // SAFETY: cudart's arguments; the image is sized by its format.
    guard("CUDART_INTERFACE[1]", || unsafe {
        tracing::debug!("CUDART_INTERFACE[1](wrapper {wrapper:?})");
        module::module_load_fat_binary(Out::new(module), wrapper)
    })
}

/// `[6] (CUmodule*, const __fatBinC_Wrapper_t*, a3, a4, u32 a5)`.
pub(super) unsafe extern "C" fn get_module_from_cubin_ext1(
    module: *mut CUmodule,
    wrapper: *const c_void,
    a3: *mut c_void,
    a4: *mut c_void,
    a5: c_uint,
) -> u32 {
    // SAFETY: as [1].
    guard("CUDART_INTERFACE[6]", || unsafe {
        tracing::debug!("CUDART_INTERFACE[6](wrapper {wrapper:?})");
        plain_load("6", a3, a4, a5)?;
        module::module_load_fat_binary(Out::new(module), wrapper)
    })
}

/// `[8] (const FatbinHeader*, CUmodule*, a3, a4, u32 a5)`.
pub(super) unsafe extern "C" fn get_module_from_cubin_ext2(
    fatbin: *const c_void,
    module: *mut CUmodule,
    a3: *mut c_void,
    a4: *mut c_void,
    a5: c_uint,
) -> u32 {
    // SAFETY: as [1].
    guard("CUDART_INTERFACE[8]", || unsafe {
        tracing::debug!("CUDART_INTERFACE[8](fatbin {fatbin:?})");
        plain_load("8", a3, a4, a5)?;
        module::module_load_fat_binary(Out::new(module), fatbin)
    })
}

/// `[2] (CUcontext*, CUdevice)`: the device's primary context, neither
/// retained nor activated (R580: `cuDevicePrimaryCtxGetState` stays
/// inactive and a later `cuDevicePrimaryCtxRetain` returns the same handle).
pub(super) unsafe extern "C" fn primary_context(pctx: *mut *mut c_void, dev: c_int) -> u32 {
    // SAFETY: cudart's out-pointer, checked for NULL there.
    guard("CUDART_INTERFACE[2]", || unsafe {
        tracing::debug!("CUDART_INTERFACE[2](dev {dev})");
        context::primary_ctx_handle(Out::new(pctx), dev)
    })
}

/// `[7] (usize)`: nothing to do (ZLUDA's finding).
pub(super) unsafe extern "C" fn slot7_noop(arg: usize) {
    vgpu_transport::logging::init();
    tracing::debug!("CUDART_INTERFACE[7]({arg:#x}): no-op");
}

/// `[12] ()`: loads NVIDIA's PTX compiler, libnvvm and tileir; the host's
/// driver has its own, so there is nothing to load (R580 answers SUCCESS).
pub(super) unsafe extern "C" fn load_compilers() -> u32 {
    vgpu_transport::logging::init();
    tracing::debug!("CUDART_INTERFACE[12](): load_compilers -> SUCCESS");
    result::SUCCESS
}
