// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Wire types of the stream-ordered allocator (`cuMemAllocAsync` and
//! friends): MEM_ALLOC_ASYNC, MEM_FREE_ASYNC, MEM_POOL_GET_ATTRIBUTE,
//! MEM_POOL_SET_ATTRIBUTE, MEM_POOL_TRIM_TO (opcodes in `super::op`).

/// The client's default memory pool: the one pool a client has (every
/// client gets its own on the device, so attributes and statistics are
/// never shared between clients).
pub const DEFAULT_POOL: u64 = 0;

/// `CUmemPool_attribute` values a pool request may name (1..=8); 1–3 are
/// `int`s, the others `cuuint64_t`.
pub mod pool_attr {
    #![allow(missing_docs)]
    pub const REUSE_FOLLOW_EVENT_DEPENDENCIES: u32 = 1;
    pub const REUSE_ALLOW_OPPORTUNISTIC: u32 = 2;
    pub const REUSE_ALLOW_INTERNAL_DEPENDENCIES: u32 = 3;
    pub const RELEASE_THRESHOLD: u32 = 4;
    pub const RESERVED_MEM_CURRENT: u32 = 5;
    pub const RESERVED_MEM_HIGH: u32 = 6;
    pub const USED_MEM_CURRENT: u32 = 7;
    pub const USED_MEM_HIGH: u32 = 8;

    /// Whether `attr` is one of the above.
    pub const fn is_known(attr: u32) -> bool {
        attr >= REUSE_FOLLOW_EVENT_DEPENDENCIES && attr <= USED_MEM_HIGH
    }
}

/// MEM_ALLOC_ASYNC: `size` bytes from `pool`, in stream order. Response:
/// [`super::HandleResponse`] with the device address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemAllocAsyncRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Bytes (> 0).
    pub size: u64,
    /// Pool ([`DEFAULT_POOL`]).
    pub pool: u64,
}

/// MEM_FREE_ASYNC (async): frees an allocation (its base address) in
/// stream order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemFreeAsyncRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Device address.
    pub dptr: u64,
}

/// MEM_POOL_GET_ATTRIBUTE, MEM_POOL_SET_ATTRIBUTE (`value` in),
/// MEM_POOL_TRIM_TO (`attr` 0, `value` = bytes to keep).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemPoolRequest {
    /// Context.
    pub ctx: u64,
    /// Pool ([`DEFAULT_POOL`]).
    pub pool: u64,
    /// [`pool_attr`].
    pub attr: u32,
    /// Zero.
    pub reserved: u32,
    /// The value (an `int` attribute in the low 32 bits).
    pub value: u64,
}

/// MEM_POOL_GET_ATTRIBUTE response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemPoolValueResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The value (an `int` attribute in the low 32 bits).
    pub value: u64,
}

const _: () = assert!(core::mem::size_of::<MemAllocAsyncRequest>() == 32);
const _: () = assert!(core::mem::size_of::<MemFreeAsyncRequest>() == 24);
const _: () = assert!(core::mem::size_of::<MemPoolRequest>() == 32);
const _: () = assert!(core::mem::size_of::<MemPoolValueResponse>() == 16);
