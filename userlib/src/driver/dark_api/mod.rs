//! `cuGetExportTable`: NVIDIA's private ("dark API") tables, served locally.
//!
//! cudart (static and shared), cuBLAS and cuDNN ask the driver for tables of
//! function pointers by 16-byte id and call through them before and besides
//! the public API. Each table is an array of pointers whose slot 0 is its
//! size in bytes (CONTEXT_LOCAL_STORAGE has no size slot). What we serve,
//! with sizes and NULL slots as NVIDIA's R580 has them
//! (cuda-driver-abi.md §4; [`tables`]):
//!
//! | table | slots | what we do |
//! |---|---|---|
//! | CUDART_INTERFACE | 13 | [1]/[6]/[8] load a module from a fatbin (as `cuModuleLoadFatBinary`), [2] the primary context without retaining it, [7] no-op, [12] SUCCESS ([`cudart`]) |
//! | TOOLS_TLS | 3 | [1] returns 0, [2] the current context ([`slots`]) |
//! | TOOLS_RUNTIME_CALLBACK_HOOKS | 7 | [2]/[6] zeroed driver buffers, others return 0 ([`slots`]) |
//! | CONTEXT_LOCAL_STORAGE_INTERFACE_V0301 | 3 + NULL | per-context key/value store with destructors ([`context_storage`]) |
//! | CTX_CREATE_BYPASS | 2 | unknown slot only |
//! | DEVICE_EXTENDED_RT | 31 | [5] attribute query, [13] 0 ([`slots`]) |
//! | INTEGRITY_CHECK | 3 | [1] the hash, from our own version/UUID/PCI values ([`integrity`]) |
//! | CONTEXT_CHECKS | 15 | [2] writes 0, [3] returns 0 ([`slots`]); cuBLAS 13 needs the full table |
//! | HYBRID_CUDART | 3 | unknown slots only |
//! | CONTEXT_IDENTITY (`21318c60-…`) | 93 | [4] the context's id, as `cuCtxGetId` ([`slots`]); [51] a stream's object and [39] its value from NVIDIA's driver on the host ([`stream_object`]) |
//! | NVJET_SERVICES (`1734dc26-…`) | 17 | unknown slots only: cuBLASLt 13 asks [4] (two objects) and [13] (a key into them) natively, and without them still runs its prebuilt nvjet kernels (measured: results identical to native) |
//! | BOOTSTRAP (`f8cff951-…`) | 3 | unknown slots only (see below) |
//! | RUNTIME_SETUP (`69a28e9f-…`) | 34 | unknown slots only: PyTorch's cudart calls three of them during device setup and goes on when they refuse (measured on the H200: every PyTorch digest identical to native) |
//!
//! Slots we do not understand are logging stubs returning
//! `CUDA_ERROR_NOT_SUPPORTED`. Every request is logged at `debug` by id,
//! every stub call by table and slot (`VGPU_LOG=debug`).
//!
//! An id no driver knows gets `CUDA_ERROR_INVALID_VALUE` and `*table =
//! NULL`, as on R580; so does HEAP_ACCESS, which R580 does not know either.
//!
//! BOOTSTRAP `f8cff951-2146-8b4e-b9e2-fb469e7c0dd9` is cudart's first
//! request (before `cuInit`). R580 serves it with slot 0 = 0x18 and two
//! functions of unknown meaning; traced on the H200, neither static cudart
//! 13 nor cuBLAS 13 calls them, and cudart then bootstraps through
//! CUDART_INTERFACE as usual. So it is served like R580, with stubs: the
//! answer is what cudart reads. (Earlier we refused it with NOT_FOUND, which
//! cudart 13.0 on Linux also accepts; smolvm and lupine report other
//! runtimes, on Windows, behaving differently.)

mod context_storage;
mod cudart;
mod integrity;
mod slots;
mod stream_object;
mod tables;

use std::ffi::c_void;

use uapi::cuda::result;

pub(crate) use context_storage::{Doomed, Storage as ContextStorage};
pub(crate) use stream_object::forget_stream;

use super::CuResult;

/// `id` as UUID text, for the logs.
fn uuid_text(id: &[u8; 16]) -> String {
    let h: Vec<String> = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}

/// What we answer for ids we do not serve.
fn refusal(id: &[u8; 16]) -> (&'static str, u32) {
    match *id {
        tables::id::HEAP_ACCESS => ("HEAP_ACCESS", result::INVALID_VALUE),
        _ => ("unknown", result::INVALID_VALUE),
    }
}

/// `cuGetExportTable(const void** table, const CUuuid* id)`.
///
/// # Safety
///
/// `table` is writable and `id` points to 16 readable bytes, or either is
/// NULL.
pub(crate) unsafe fn get_export_table(table: *mut *const c_void, id: *const c_void) -> CuResult {
    if table.is_null() || id.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's contract: `id` points to 16 readable bytes;
    // checked non-NULL above.
    let id: [u8; 16] = unsafe { std::ptr::read_unaligned(id.cast()) };
    match tables::lookup(&id) {
        Some((name, t)) => {
            tracing::debug!("cuGetExportTable({}): {name}", uuid_text(&id));
            // SAFETY: the caller's contract: `table` is writable; checked
            // non-NULL above.
            unsafe { *table = t };
            Ok(())
        }
        None => {
            let (what, e) = refusal(&id);
            tracing::debug!("cuGetExportTable({}): {what}, not provided", uuid_text(&id));
            // SAFETY: as above.
            unsafe { *table = std::ptr::null() };
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests;
