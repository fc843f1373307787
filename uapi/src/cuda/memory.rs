// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Device memory: allocations, copies, memsets.

/// MEM_ALLOC.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemAllocRequest {
    /// Context.
    pub ctx: u64,
    /// Bytes (> 0).
    pub size: u64,
}

/// MEM_FREE and MEM_GET_ADDRESS_RANGE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtrRequest {
    /// Context.
    pub ctx: u64,
    /// Device address.
    pub dptr: u64,
}

/// MEM_GET_ADDRESS_RANGE response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressRangeResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// Allocation base.
    pub base: u64,
    /// Allocation size.
    pub size: u64,
}

/// Bits of [`CopyRequest::flags`] and friends.
pub mod copy_flags {
    /// Stream-ordered (the `*Async` variants): submitted detached.
    pub const ASYNC: u32 = 1 << 0;
    /// The host side is client memory in the shared-memory transport's
    /// host-memory file (`crate::shm::host_op`): `src` (HTOD) or `dst`
    /// (DTOH) is its file offset, and there is no data tail in either
    /// direction. With [`ASYNC`] either direction is detached and runs in
    /// stream order (the client keeps the block until its stream is done).
    /// Only on that transport; elsewhere `INVALID_FIELD`.
    pub const HOST_MEMORY: u32 = 1 << 1;
}

/// MEMCPY_HTOD (tail: `len` bytes), MEMCPY_DTOH (response tail: `len`
/// bytes after the [`ResultHeader`]), MEMCPY_DTOD.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Destination device address (HTOD, DTOD).
    pub dst: u64,
    /// Source device address (DTOH, DTOD).
    pub src: u64,
    /// Bytes.
    pub len: u64,
    /// [`copy_flags`].
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// MEMSET: `height` rows of `width` elements of `elem_size` bytes, rows
/// `pitch` bytes apart (1D: height 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemsetRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Destination device address.
    pub dst: u64,
    /// Row pitch in bytes.
    pub pitch: u64,
    /// Elements per row.
    pub width: u64,
    /// Rows.
    pub height: u64,
    /// Value (low `elem_size` bytes used).
    pub value: u32,
    /// 1, 2 or 4.
    pub elem_size: u32,
    /// [`copy_flags`].
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// Directions of [`Copy2dRequest::kind`].
pub mod copy_kind {
    /// Host to device: rows packed in the request tail.
    pub const HTOD: u32 = 1;
    /// Device to host: rows packed in the response tail.
    pub const DTOH: u32 = 2;
    /// Device to device.
    pub const DTOD: u32 = 3;
}

/// MEMCPY_2D: `height` rows of `width` bytes. Host-side rows travel packed
/// (`width` bytes each); the guest library applies the host pitch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copy2dRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Destination device address (HTOD, DTOD).
    pub dst: u64,
    /// Destination pitch.
    pub dst_pitch: u64,
    /// Source device address (DTOH, DTOD).
    pub src: u64,
    /// Source pitch.
    pub src_pitch: u64,
    /// Bytes per row.
    pub width: u64,
    /// Rows.
    pub height: u64,
    /// [`copy_kind`].
    pub kind: u32,
    /// [`copy_flags`].
    pub flags: u32,
}

const _: () = assert!(core::mem::size_of::<AddressRangeResponse>() == 24);
const _: () = assert!(core::mem::size_of::<CopyRequest>() == 48);
const _: () = assert!(core::mem::size_of::<MemsetRequest>() == 64);
const _: () = assert!(core::mem::size_of::<Copy2dRequest>() == 72);
const _: () = assert!(core::mem::size_of::<MemAllocRequest>() == 16);
const _: () = assert!(core::mem::size_of::<PtrRequest>() == 16);
