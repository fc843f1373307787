// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! CUDA commands: the driver API carried over the rings.
//!
//! Every CUDA request body starts with the guest context handle it runs in
//! (`ctx`, 0 = the client's primary context) and every response body starts
//! with a [`ResultHeader`] holding a `CUresult`. Handles (contexts, modules,
//! functions, streams, events) are opaque non-zero `u64`s the device hands out
//! per client; device pointers are real device addresses. Variable-length data
//! (copy payloads, module images, names, kernel parameters) follows the fixed
//! request struct (`tail`), or the fixed response struct.
//!
//! Commands marked *async* are submitted detached by the guest library (no
//! response is collected); an error they hit is kept by the device and
//! returned by the client's next command that has a response, as CUDA reports
//! asynchronous errors at the next synchronising call. Launch faults
//! (`ILLEGAL_ADDRESS`, `LAUNCH_FAILED`) are sticky: every later command of
//! that context fails with them.

/// `CUresult` values used across the stack (numbering of `cuda.h`).
pub mod result;

mod commands;

// The kernel module includes this crate as a private module and names none
// of these; everything else does.
#[allow(unused_imports)]
pub use commands::*;

/// NVIDIA's private export tables that both sides name: the guest serves
/// them to cudart and cuBLAS(Lt), the host asks NVIDIA's driver the slots
/// only it can answer (STREAM_DRIVER_VALUE). Raw id bytes, the UUID string
/// read left to right.
pub mod export_table {
    /// CONTEXT_IDENTITY (`21318c60-9714-3248-8ca6-41ff7324c8f2`): [4] a
    /// context's id, [51] a stream's driver object, [39] a value of it.
    pub const CONTEXT_IDENTITY: [u8; 16] = [
        0x21, 0x31, 0x8c, 0x60, 0x97, 0x14, 0x32, 0x48, 0x8c, 0xa6, 0x41, 0xff, 0x73, 0x24, 0xc8,
        0xf2,
    ];
    /// CONTEXT_IDENTITY's slot giving a stream's driver object:
    /// `(ctx, stream, &object)`.
    pub const CONTEXT_IDENTITY_STREAM_OBJECT: usize = 51;
    /// CONTEXT_IDENTITY's slot giving a 64-bit value of a stream object:
    /// `(ctx, object, &value)`.
    pub const CONTEXT_IDENTITY_STREAM_VALUE: usize = 39;
}

/// Module image formats (cuda-driver-abi.md §6): the guest sizes images by
/// them, the device checks and unpacks them.
pub mod image {
    /// First bytes of an ELF cubin.
    pub const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
    /// Little-endian first word of a fatbin (`FatbinHeader`).
    pub const FATBIN_MAGIC: u32 = 0xBA55_ED50;
    /// Little-endian first word of a `FatbincWrapper` (holds guest pointers;
    /// the guest library unwraps it, the device refuses it).
    pub const FATBINC_WRAPPER_MAGIC: u32 = 0x4662_43B1;
    /// Fatbin entry kind: PTX text.
    pub const ENTRY_PTX: u16 = 1;
    /// Fatbin entry flags: compressed payload (LZ4, ZSTD).
    pub const ENTRY_COMPRESSED: u64 = 0x2000 | 0x8000;
    /// Byte offset of the `u64` flags in a fatbin entry header (after kind,
    /// version, header size, padded payload size, two words, payload
    /// size... and `sm_version`, `bit_width` and one more word).
    pub const ENTRY_FLAGS_OFFSET: usize = 40;
}

mod pool;
#[allow(unused_imports)]
pub use pool::*;

/// Stream handle 0: the legacy default stream. `CU_STREAM_LEGACY` (1) and
/// `CU_STREAM_PER_THREAD` (2) are accepted wherever a stream is and mean the
/// same default stream.
pub const DEFAULT_STREAM: u64 = 0;

/// Number of entries in [`DEVICE_GET_ATTRIBUTES`](op::DEVICE_GET_ATTRIBUTES)'s
/// table: index = `CUdevice_attribute` value.
pub const ATTRIBUTE_COUNT: usize = 160;

/// Most parameters a kernel may have in a layout.
pub const MAX_PARAMS: usize = 512;

/// Largest kernel parameter buffer (CUDA 12.1+: 32 KiB).
pub const MAX_PARAM_BYTES: u32 = 32764;

/// Longest symbol name.
pub const MAX_NAME: u32 = 4096;

// The structs of each area (re-exported: `uapi::cuda::CopyRequest`). The
// kernel module names none of them (see `commands` above).
mod context;
mod graph;
mod launch;
mod memory;
mod module;
mod stream;
mod tensor_map;
mod vmm;
#[allow(unused_imports)]
pub use {context::*, graph::*, launch::*, memory::*, module::*, stream::*, tensor_map::*, vmm::*};
