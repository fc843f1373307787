//! The tables themselves: their ids, layouts and slot assignments.
//!
//! Sizes, and which slots NVIDIA leaves NULL, are those of driver R580
//! (580.159.04, measured on the H200): a table is `[byte size, fn, fn, …]`
//! except CONTEXT_LOCAL_STORAGE, which starts with its functions and ends
//! with NULL. Every slot whose meaning we do not know holds a logging stub
//! ([`unknown_slot`]) returning `CUDA_ERROR_NOT_SUPPORTED` — never NULL,
//! since cudart calling a NULL slot is a jump to 0 — except the slots that
//! are NULL in NVIDIA's table too (CUDART_INTERFACE[10],
//! DEVICE_EXTENDED_RT[30]), which nothing can call.

use std::ffi::c_void;

use uapi::cuda::result;

use super::{context_storage as cls, cudart, integrity, slots, stream_object};

/// An export table: what `cuGetExportTable` hands out is its address.
#[repr(transparent)]
pub(crate) struct Table<const N: usize>([*const c_void; N]);

// SAFETY: the tables are immutable and hold only function addresses and
// integers.
unsafe impl<const N: usize> Sync for Table<N> {}

impl<const N: usize> Table<N> {
    pub(crate) fn start(&'static self) -> *const c_void {
        self.0.as_ptr().cast()
    }

    pub(crate) fn slot(&'static self, i: usize) -> *const c_void {
        self.0[i]
    }

    #[cfg(test)]
    pub(crate) fn slots(&'static self) -> &'static [*const c_void; N] {
        &self.0
    }
}

/// Slot 0 of a table of `n` slots: its size in bytes.
const fn size_of_slots(n: usize) -> *const c_void {
    (n * core::mem::size_of::<*const c_void>()) as *const c_void
}

const NULL: *const c_void = core::ptr::null();

/// Indices into [`NAMES`], the tables' names for the logs.
pub(crate) const CUDART: usize = 0;
pub(crate) const TOOLS_TLS: usize = 1;
pub(crate) const TOOLS_HOOKS: usize = 2;
pub(crate) const CLS: usize = 3;
pub(crate) const CTX_CREATE_BYPASS: usize = 4;
pub(crate) const DEVICE_EXT: usize = 5;
pub(crate) const INTEGRITY: usize = 6;
pub(crate) const CONTEXT_CHECKS: usize = 7;
pub(crate) const HYBRID_CUDART: usize = 8;
pub(crate) const CONTEXT_IDENTITY: usize = 9;
pub(crate) const NVJET_SERVICES: usize = 10;
pub(crate) const BOOTSTRAP: usize = 11;
pub(crate) const RUNTIME_SETUP: usize = 12;

pub(crate) const NAMES: [&str; 13] = [
    "CUDART_INTERFACE",
    "TOOLS_TLS",
    "TOOLS_RUNTIME_CALLBACK_HOOKS",
    "CONTEXT_LOCAL_STORAGE_INTERFACE_V0301",
    "CTX_CREATE_BYPASS",
    "DEVICE_EXTENDED_RT",
    "INTEGRITY_CHECK",
    "CONTEXT_CHECKS",
    "HYBRID_CUDART",
    "CONTEXT_IDENTITY",
    "NVJET_SERVICES",
    "BOOTSTRAP",
    "RUNTIME_SETUP",
];

/// Raw id bytes (the UUID string read left to right).
pub(crate) mod id {
    pub(crate) const CUDART_INTERFACE: [u8; 16] = [
        0x6b, 0xd5, 0xfb, 0x6c, 0x5b, 0xf4, 0xe7, 0x4a, 0x89, 0x87, 0xd9, 0x39, 0x12, 0xfd, 0x9d,
        0xf9,
    ];
    /// Asked for by cuBLASLt 13 before it builds an nvjet kernel.
    pub(crate) const NVJET_SERVICES: [u8; 16] = [
        0x17, 0x34, 0xdc, 0x26, 0x80, 0x0d, 0x47, 0x45, 0x87, 0x26, 0xc0, 0xf1, 0xe7, 0xdd, 0x8b,
        0xca,
    ];
    /// Asked for by PyTorch 2.11's cudart during device setup.
    pub(crate) const RUNTIME_SETUP: [u8; 16] = [
        0x69, 0xa2, 0x8e, 0x9f, 0x24, 0x49, 0x8b, 0x47, 0xb0, 0x30, 0xc5, 0xda, 0x33, 0x0e, 0xa4,
        0xe9,
    ];
    /// Asked for by cuBLAS 13 before its first GEMM (the host names it too).
    pub(crate) const CONTEXT_IDENTITY: [u8; 16] = uapi::cuda::export_table::CONTEXT_IDENTITY;
    pub(crate) const TOOLS_TLS: [u8; 16] = [
        0x42, 0xd8, 0x5a, 0x81, 0x23, 0xf6, 0xcb, 0x47, 0x82, 0x98, 0xf6, 0xe7, 0x8a, 0x3a, 0xec,
        0xdc,
    ];
    pub(crate) const TOOLS_RUNTIME_CALLBACK_HOOKS: [u8; 16] = [
        0xa0, 0x94, 0x79, 0x8c, 0x2e, 0x74, 0x2e, 0x74, 0x93, 0xf2, 0x08, 0x00, 0x20, 0x0c, 0x0a,
        0x66,
    ];
    pub(crate) const CONTEXT_LOCAL_STORAGE_INTERFACE_V0301: [u8; 16] = [
        0xc6, 0x93, 0x33, 0x6e, 0x11, 0x21, 0xdf, 0x11, 0xa8, 0xc3, 0x68, 0xf3, 0x55, 0xd8, 0x95,
        0x93,
    ];
    pub(crate) const CTX_CREATE_BYPASS: [u8; 16] = [
        0x0c, 0xa5, 0x0b, 0x8c, 0x10, 0x04, 0x92, 0x9a, 0x89, 0xa7, 0xd0, 0xdf, 0x10, 0xe7, 0x72,
        0x86,
    ];
    pub(crate) const DEVICE_EXTENDED_RT: [u8; 16] = [
        0xb1, 0x05, 0x41, 0xe1, 0xf7, 0xc7, 0xc7, 0x4a, 0x9f, 0x64, 0xf2, 0x23, 0xbe, 0x99, 0xf1,
        0xe2,
    ];
    pub(crate) const INTEGRITY_CHECK: [u8; 16] = [
        0xd4, 0x08, 0x20, 0x55, 0xbd, 0xe6, 0x70, 0x4b, 0x8d, 0x34, 0xba, 0x12, 0x3c, 0x66, 0xe1,
        0xf2,
    ];
    pub(crate) const CONTEXT_CHECKS: [u8; 16] = [
        0x26, 0x3e, 0x88, 0x60, 0x7c, 0xd2, 0x61, 0x43, 0x92, 0xf6, 0xbb, 0xd5, 0x00, 0x6d, 0xfa,
        0x7e,
    ];
    pub(crate) const HYBRID_CUDART: [u8; 16] = [
        0xdd, 0x9e, 0x98, 0xa4, 0xf4, 0x10, 0x48, 0x44, 0x99, 0xb0, 0xe2, 0xae, 0xb7, 0xb4, 0x32,
        0xb5,
    ];
    /// cudart's first request, before `cuInit` (the `dark_api` module doc
    /// says what is known of it).
    pub(crate) const BOOTSTRAP: [u8; 16] = [
        0xf8, 0xcf, 0xf9, 0x51, 0x21, 0x46, 0x8b, 0x4e, 0xb9, 0xe2, 0xfb, 0x46, 0x9e, 0x7c, 0x0d,
        0xd9,
    ];
    /// Known to cudart and ZLUDA, unknown to R580 (INVALID_VALUE there).
    pub(crate) const HEAP_ACCESS: [u8; 16] = [
        0x19, 0x5b, 0xcb, 0xf4, 0xd6, 0x7d, 0x02, 0x4a, 0xac, 0xc5, 0x1d, 0x29, 0xce, 0xa6, 0x31,
        0xae,
    ];
}

/// A slot we do not understand: logged, `CUDA_ERROR_NOT_SUPPORTED`. It
/// takes no arguments, which is harmless under the C calling convention
/// whatever the caller passes.
unsafe extern "C" fn unknown_slot<const TABLE: usize, const SLOT: usize>() -> u32 {
    vgpu_transport::logging::init();
    tracing::debug!("{}[{SLOT}] called: not supported by vgpu", NAMES[TABLE]);
    result::NOT_SUPPORTED
}

/// TOOLS_TLS[1]: logged, returns 0 (no tool is attached).
unsafe extern "C" fn tools_tls_1() -> usize {
    vgpu_transport::logging::init();
    tracing::debug!("{}[1] called: no tool attached, 0", NAMES[TOOLS_TLS]);
    0
}

/// A tools hook: logged, returns 0 (no tool is attached).
unsafe extern "C" fn tools_hook<const SLOT: usize>() -> usize {
    vgpu_transport::logging::init();
    tracing::debug!("{}[{SLOT}] called: no tool attached, 0", NAMES[TOOLS_HOOKS]);
    0
}

macro_rules! f {
    ($f:path) => {
        $f as *const c_void
    };
}

macro_rules! unknown {
    ($table:ident, $slot:literal) => {
        unknown_slot::<$table, $slot> as *const c_void
    };
}

pub(crate) static CUDART_INTERFACE: Table<13> = Table([
    size_of_slots(13),
    f!(cudart::get_module_from_cubin),
    f!(cudart::primary_context),
    unknown!(CUDART, 3),
    unknown!(CUDART, 4),
    unknown!(CUDART, 5),
    f!(cudart::get_module_from_cubin_ext1),
    f!(cudart::slot7_noop),
    f!(cudart::get_module_from_cubin_ext2),
    unknown!(CUDART, 9),
    NULL,
    unknown!(CUDART, 11),
    f!(cudart::load_compilers),
]);

pub(crate) static TOOLS_TLS_TABLE: Table<3> = Table([
    size_of_slots(3),
    tools_tls_1 as *const c_void,
    f!(slots::current_context),
]);

pub(crate) static TOOLS_RUNTIME_CALLBACK_HOOKS: Table<7> = Table([
    size_of_slots(7),
    tools_hook::<1> as *const c_void,
    f!(slots::tools_buffer1),
    tools_hook::<3> as *const c_void,
    tools_hook::<4> as *const c_void,
    tools_hook::<5> as *const c_void,
    f!(slots::tools_buffer2),
]);

/// 93 slots on R580 (0x2e8). Known: [4] the context's id, as `cuCtxGetId`
/// gives it (cuBLAS(Lt) keys its kernel registry by it); [51] a stream's
/// driver object and [39] a value of it, asked of NVIDIA's driver on the
/// host (`stream_object.rs`; cuBLASLt's cooperative nvjet GEMMs).
pub(crate) static CONTEXT_IDENTITY_TABLE: Table<93> = Table([
    size_of_slots(93),
    unknown!(CONTEXT_IDENTITY, 1),
    unknown!(CONTEXT_IDENTITY, 2),
    unknown!(CONTEXT_IDENTITY, 3),
    f!(slots::context_id),
    unknown!(CONTEXT_IDENTITY, 5),
    unknown!(CONTEXT_IDENTITY, 6),
    unknown!(CONTEXT_IDENTITY, 7),
    unknown!(CONTEXT_IDENTITY, 8),
    unknown!(CONTEXT_IDENTITY, 9),
    unknown!(CONTEXT_IDENTITY, 10),
    unknown!(CONTEXT_IDENTITY, 11),
    unknown!(CONTEXT_IDENTITY, 12),
    unknown!(CONTEXT_IDENTITY, 13),
    unknown!(CONTEXT_IDENTITY, 14),
    unknown!(CONTEXT_IDENTITY, 15),
    unknown!(CONTEXT_IDENTITY, 16),
    unknown!(CONTEXT_IDENTITY, 17),
    unknown!(CONTEXT_IDENTITY, 18),
    unknown!(CONTEXT_IDENTITY, 19),
    unknown!(CONTEXT_IDENTITY, 20),
    unknown!(CONTEXT_IDENTITY, 21),
    unknown!(CONTEXT_IDENTITY, 22),
    unknown!(CONTEXT_IDENTITY, 23),
    unknown!(CONTEXT_IDENTITY, 24),
    unknown!(CONTEXT_IDENTITY, 25),
    unknown!(CONTEXT_IDENTITY, 26),
    unknown!(CONTEXT_IDENTITY, 27),
    unknown!(CONTEXT_IDENTITY, 28),
    unknown!(CONTEXT_IDENTITY, 29),
    unknown!(CONTEXT_IDENTITY, 30),
    unknown!(CONTEXT_IDENTITY, 31),
    unknown!(CONTEXT_IDENTITY, 32),
    unknown!(CONTEXT_IDENTITY, 33),
    unknown!(CONTEXT_IDENTITY, 34),
    unknown!(CONTEXT_IDENTITY, 35),
    unknown!(CONTEXT_IDENTITY, 36),
    unknown!(CONTEXT_IDENTITY, 37),
    unknown!(CONTEXT_IDENTITY, 38),
    f!(stream_object::stream_value),
    unknown!(CONTEXT_IDENTITY, 40),
    unknown!(CONTEXT_IDENTITY, 41),
    unknown!(CONTEXT_IDENTITY, 42),
    unknown!(CONTEXT_IDENTITY, 43),
    unknown!(CONTEXT_IDENTITY, 44),
    unknown!(CONTEXT_IDENTITY, 45),
    unknown!(CONTEXT_IDENTITY, 46),
    unknown!(CONTEXT_IDENTITY, 47),
    unknown!(CONTEXT_IDENTITY, 48),
    unknown!(CONTEXT_IDENTITY, 49),
    unknown!(CONTEXT_IDENTITY, 50),
    f!(stream_object::stream_object),
    unknown!(CONTEXT_IDENTITY, 52),
    unknown!(CONTEXT_IDENTITY, 53),
    unknown!(CONTEXT_IDENTITY, 54),
    unknown!(CONTEXT_IDENTITY, 55),
    unknown!(CONTEXT_IDENTITY, 56),
    unknown!(CONTEXT_IDENTITY, 57),
    unknown!(CONTEXT_IDENTITY, 58),
    unknown!(CONTEXT_IDENTITY, 59),
    unknown!(CONTEXT_IDENTITY, 60),
    unknown!(CONTEXT_IDENTITY, 61),
    unknown!(CONTEXT_IDENTITY, 62),
    unknown!(CONTEXT_IDENTITY, 63),
    unknown!(CONTEXT_IDENTITY, 64),
    unknown!(CONTEXT_IDENTITY, 65),
    unknown!(CONTEXT_IDENTITY, 66),
    unknown!(CONTEXT_IDENTITY, 67),
    unknown!(CONTEXT_IDENTITY, 68),
    unknown!(CONTEXT_IDENTITY, 69),
    unknown!(CONTEXT_IDENTITY, 70),
    unknown!(CONTEXT_IDENTITY, 71),
    unknown!(CONTEXT_IDENTITY, 72),
    unknown!(CONTEXT_IDENTITY, 73),
    unknown!(CONTEXT_IDENTITY, 74),
    unknown!(CONTEXT_IDENTITY, 75),
    unknown!(CONTEXT_IDENTITY, 76),
    unknown!(CONTEXT_IDENTITY, 77),
    unknown!(CONTEXT_IDENTITY, 78),
    unknown!(CONTEXT_IDENTITY, 79),
    unknown!(CONTEXT_IDENTITY, 80),
    unknown!(CONTEXT_IDENTITY, 81),
    unknown!(CONTEXT_IDENTITY, 82),
    unknown!(CONTEXT_IDENTITY, 83),
    unknown!(CONTEXT_IDENTITY, 84),
    unknown!(CONTEXT_IDENTITY, 85),
    unknown!(CONTEXT_IDENTITY, 86),
    unknown!(CONTEXT_IDENTITY, 87),
    unknown!(CONTEXT_IDENTITY, 88),
    unknown!(CONTEXT_IDENTITY, 89),
    unknown!(CONTEXT_IDENTITY, 90),
    unknown!(CONTEXT_IDENTITY, 91),
    unknown!(CONTEXT_IDENTITY, 92),
]);

/// 17 slots on R580 (0x88); none understood. cuBLASLt 13 calls [4] and
/// [13] right before loading a cubin it made for an `nvjet_sm90_*` kernel
/// (traced on the H200); refusing the table makes it crash, so it gets a
/// table whose slots refuse.
pub(crate) static NVJET_SERVICES_TABLE: Table<17> = Table([
    size_of_slots(17),
    unknown!(NVJET_SERVICES, 1),
    unknown!(NVJET_SERVICES, 2),
    unknown!(NVJET_SERVICES, 3),
    unknown!(NVJET_SERVICES, 4),
    unknown!(NVJET_SERVICES, 5),
    unknown!(NVJET_SERVICES, 6),
    unknown!(NVJET_SERVICES, 7),
    unknown!(NVJET_SERVICES, 8),
    unknown!(NVJET_SERVICES, 9),
    unknown!(NVJET_SERVICES, 10),
    unknown!(NVJET_SERVICES, 11),
    unknown!(NVJET_SERVICES, 12),
    unknown!(NVJET_SERVICES, 13),
    unknown!(NVJET_SERVICES, 14),
    unknown!(NVJET_SERVICES, 15),
    unknown!(NVJET_SERVICES, 16),
]);

/// No size slot; NULL-terminated, as NVIDIA's.
pub(crate) static CONTEXT_LOCAL_STORAGE: Table<4> =
    Table([f!(cls::put), f!(cls::delete), f!(cls::get), NULL]);

pub(crate) static CTX_CREATE_BYPASS_TABLE: Table<2> =
    Table([size_of_slots(2), unknown!(CTX_CREATE_BYPASS, 1)]);

pub(crate) static DEVICE_EXTENDED_RT: Table<31> = Table([
    size_of_slots(31),
    unknown!(DEVICE_EXT, 1),
    unknown!(DEVICE_EXT, 2),
    unknown!(DEVICE_EXT, 3),
    unknown!(DEVICE_EXT, 4),
    f!(slots::device_get_attribute_ext),
    unknown!(DEVICE_EXT, 6),
    unknown!(DEVICE_EXT, 7),
    unknown!(DEVICE_EXT, 8),
    unknown!(DEVICE_EXT, 9),
    unknown!(DEVICE_EXT, 10),
    unknown!(DEVICE_EXT, 11),
    unknown!(DEVICE_EXT, 12),
    f!(slots::device_slot13),
    unknown!(DEVICE_EXT, 14),
    unknown!(DEVICE_EXT, 15),
    unknown!(DEVICE_EXT, 16),
    unknown!(DEVICE_EXT, 17),
    unknown!(DEVICE_EXT, 18),
    unknown!(DEVICE_EXT, 19),
    unknown!(DEVICE_EXT, 20),
    unknown!(DEVICE_EXT, 21),
    unknown!(DEVICE_EXT, 22),
    unknown!(DEVICE_EXT, 23),
    unknown!(DEVICE_EXT, 24),
    unknown!(DEVICE_EXT, 25),
    unknown!(DEVICE_EXT, 26),
    unknown!(DEVICE_EXT, 27),
    unknown!(DEVICE_EXT, 28),
    unknown!(DEVICE_EXT, 29),
    NULL,
]);

pub(crate) static INTEGRITY_CHECK: Table<3> = Table([
    size_of_slots(3),
    f!(integrity::integrity_check),
    unknown!(INTEGRITY, 2),
]);

pub(crate) static CONTEXT_CHECKS_TABLE: Table<15> = Table([
    size_of_slots(15),
    unknown!(CONTEXT_CHECKS, 1),
    f!(slots::context_check),
    f!(slots::context_check_fn3),
    unknown!(CONTEXT_CHECKS, 4),
    unknown!(CONTEXT_CHECKS, 5),
    unknown!(CONTEXT_CHECKS, 6),
    unknown!(CONTEXT_CHECKS, 7),
    unknown!(CONTEXT_CHECKS, 8),
    unknown!(CONTEXT_CHECKS, 9),
    unknown!(CONTEXT_CHECKS, 10),
    unknown!(CONTEXT_CHECKS, 11),
    unknown!(CONTEXT_CHECKS, 12),
    unknown!(CONTEXT_CHECKS, 13),
    unknown!(CONTEXT_CHECKS, 14),
]);

/// Windows cudart's loader for `nvcudart_hybrid64.dll`; R580 has the table
/// on Linux too, so it is answered (with stubs) rather than refused.
pub(crate) static HYBRID_CUDART_TABLE: Table<3> = Table([
    size_of_slots(3),
    unknown!(HYBRID_CUDART, 1),
    unknown!(HYBRID_CUDART, 2),
]);

/// cudart's first request. R580 serves 3 slots (size 0x18) that neither
/// static cudart 13 nor cuBLAS 13 was seen calling (tracer, H200): the
/// table's presence is what they read, so it is answered like R580, with
/// logging stubs.
pub(crate) static BOOTSTRAP_TABLE: Table<3> = Table([
    size_of_slots(3),
    unknown!(BOOTSTRAP, 1),
    unknown!(BOOTSTRAP, 2),
]);

/// 34 slots on R580 (0x110); none understood. PyTorch 2.11's cudart calls
/// [24], [19], [21], [25], then [24]/[25] in turns, during device setup
/// (traced on the H200); with these refusing slots it calls [24], [19],
/// [25] and computes bit-identically to native (measured, 2026-12-01).
pub(crate) static RUNTIME_SETUP_TABLE: Table<34> = Table([
    size_of_slots(34),
    unknown!(RUNTIME_SETUP, 1),
    unknown!(RUNTIME_SETUP, 2),
    unknown!(RUNTIME_SETUP, 3),
    unknown!(RUNTIME_SETUP, 4),
    unknown!(RUNTIME_SETUP, 5),
    unknown!(RUNTIME_SETUP, 6),
    unknown!(RUNTIME_SETUP, 7),
    unknown!(RUNTIME_SETUP, 8),
    unknown!(RUNTIME_SETUP, 9),
    unknown!(RUNTIME_SETUP, 10),
    unknown!(RUNTIME_SETUP, 11),
    unknown!(RUNTIME_SETUP, 12),
    unknown!(RUNTIME_SETUP, 13),
    unknown!(RUNTIME_SETUP, 14),
    unknown!(RUNTIME_SETUP, 15),
    unknown!(RUNTIME_SETUP, 16),
    unknown!(RUNTIME_SETUP, 17),
    unknown!(RUNTIME_SETUP, 18),
    unknown!(RUNTIME_SETUP, 19),
    unknown!(RUNTIME_SETUP, 20),
    unknown!(RUNTIME_SETUP, 21),
    unknown!(RUNTIME_SETUP, 22),
    unknown!(RUNTIME_SETUP, 23),
    unknown!(RUNTIME_SETUP, 24),
    unknown!(RUNTIME_SETUP, 25),
    unknown!(RUNTIME_SETUP, 26),
    unknown!(RUNTIME_SETUP, 27),
    unknown!(RUNTIME_SETUP, 28),
    unknown!(RUNTIME_SETUP, 29),
    unknown!(RUNTIME_SETUP, 30),
    unknown!(RUNTIME_SETUP, 31),
    unknown!(RUNTIME_SETUP, 32),
    unknown!(RUNTIME_SETUP, 33),
]);

/// The table for `id` and its name, if we serve it.
pub(crate) fn lookup(id: &[u8; 16]) -> Option<(&'static str, *const c_void)> {
    let t = match *id {
        id::CUDART_INTERFACE => (NAMES[CUDART], CUDART_INTERFACE.start()),
        id::TOOLS_TLS => (NAMES[TOOLS_TLS], TOOLS_TLS_TABLE.start()),
        id::TOOLS_RUNTIME_CALLBACK_HOOKS => {
            (NAMES[TOOLS_HOOKS], TOOLS_RUNTIME_CALLBACK_HOOKS.start())
        }
        id::CONTEXT_LOCAL_STORAGE_INTERFACE_V0301 => (NAMES[CLS], CONTEXT_LOCAL_STORAGE.start()),
        id::CTX_CREATE_BYPASS => (NAMES[CTX_CREATE_BYPASS], CTX_CREATE_BYPASS_TABLE.start()),
        id::DEVICE_EXTENDED_RT => (NAMES[DEVICE_EXT], DEVICE_EXTENDED_RT.start()),
        id::INTEGRITY_CHECK => (NAMES[INTEGRITY], INTEGRITY_CHECK.start()),
        id::CONTEXT_CHECKS => (NAMES[CONTEXT_CHECKS], CONTEXT_CHECKS_TABLE.start()),
        id::HYBRID_CUDART => (NAMES[HYBRID_CUDART], HYBRID_CUDART_TABLE.start()),
        id::CONTEXT_IDENTITY => (NAMES[CONTEXT_IDENTITY], CONTEXT_IDENTITY_TABLE.start()),
        id::NVJET_SERVICES => (NAMES[NVJET_SERVICES], NVJET_SERVICES_TABLE.start()),
        id::BOOTSTRAP => (NAMES[BOOTSTRAP], BOOTSTRAP_TABLE.start()),
        id::RUNTIME_SETUP => (NAMES[RUNTIME_SETUP], RUNTIME_SETUP_TABLE.start()),
        _ => return None,
    };
    Some(t)
}
