// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Wire types of virtual memory management (`cuMemAddressReserve`,
//! `cuMemCreate`, `cuMemMap`, `cuMemSetAccess` and friends): MEM_ADDRESS_RESERVE,
//! MEM_ADDRESS_FREE, MEM_CREATE, MEM_RELEASE, MEM_MAP, MEM_UNMAP,
//! MEM_SET_ACCESS, MEM_GET_ACCESS, MEM_RETAIN_ALLOCATION_HANDLE (opcodes in
//! `super::op`). Allocation handles are the device's own non-zero `u64`s,
//! per client; addresses are real device addresses.

/// The allocation granularity, minimum and recommended alike (NVIDIA's
/// driver answers 2 MiB for both on Hopper): reservations, allocations and
/// mappings are multiples of it. The guest answers
/// `cuMemGetAllocationGranularity` with it; the device refuses other sizes.
pub const VMM_GRANULARITY: u64 = 2 << 20;

/// Values of `CUmemAllocationProp` and `CUmemAccessDesc` fields (cuda.h).
pub mod vmm_prop {
    #![allow(missing_docs)]
    /// `CU_MEM_ALLOCATION_TYPE_PINNED`, the one allocation type.
    pub const ALLOCATION_PINNED: u32 = 1;
    /// `CU_MEM_LOCATION_TYPE_DEVICE`.
    pub const LOCATION_DEVICE: u32 = 1;
    /// `CU_MEM_HANDLE_TYPE_NONE`: not exportable (the only kind carried).
    pub const HANDLE_NONE: u32 = 0;
    pub const HANDLE_POSIX_FD: u32 = 1;
    pub const HANDLE_WIN32: u32 = 2;
    pub const HANDLE_WIN32_KMT: u32 = 4;
    pub const HANDLE_FABRIC: u32 = 8;
    /// `CU_MEM_ACCESS_FLAGS_PROT_*`.
    pub const ACCESS_NONE: u32 = 0;
    pub const ACCESS_READ: u32 = 1;
    pub const ACCESS_READWRITE: u32 = 3;
}

/// `CUmemAllocationProp` as cuda.h lays it out (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocationProp {
    /// `CUmemAllocationType` ([`vmm_prop::ALLOCATION_PINNED`]).
    pub kind: u32,
    /// `CUmemAllocationHandleType` bits ([`vmm_prop::HANDLE_NONE`]).
    pub requested_handle_types: u32,
    /// `CUmemLocationType` ([`vmm_prop::LOCATION_DEVICE`]).
    pub location_type: u32,
    /// Device ordinal (0).
    pub location_id: i32,
    /// `win32HandleMetaData` (0 outside Windows).
    pub win32_metadata: u64,
    /// `allocFlags`: compressionType, gpuDirectRDMACapable, usage (u16), reserved[4].
    pub alloc_flags: [u8; 8],
}

/// MEM_ADDRESS_RESERVE: reserves `size` bytes of address space. Response:
/// [`super::HandleResponse`] with the start address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemAddressReserveRequest {
    /// Context.
    pub ctx: u64,
    /// Bytes (a multiple of [`VMM_GRANULARITY`]).
    pub size: u64,
    /// 0 (default) or a power of two.
    pub alignment: u64,
    /// Hint address, 0 for any.
    pub addr: u64,
    /// Zero.
    pub flags: u64,
}

/// MEM_ADDRESS_FREE and MEM_UNMAP: `[ptr, ptr + size)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmmRangeRequest {
    /// Context.
    pub ctx: u64,
    /// Start address.
    pub ptr: u64,
    /// Bytes.
    pub size: u64,
}

/// MEM_CREATE: `size` bytes of device memory with `prop`. Response:
/// [`super::HandleResponse`] with the allocation handle.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemCreateRequest {
    /// Context.
    pub ctx: u64,
    /// Bytes (a multiple of [`VMM_GRANULARITY`]).
    pub size: u64,
    /// Zero.
    pub flags: u64,
    /// The caller's properties, as given.
    pub prop: AllocationProp,
}

/// MEM_RELEASE: drops one reference to an allocation handle.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemHandleRequest {
    /// Context.
    pub ctx: u64,
    /// Allocation handle.
    pub handle: u64,
}

/// MEM_MAP: maps `size` bytes of `handle` from `offset` at `ptr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemMapRequest {
    /// Context.
    pub ctx: u64,
    /// Address inside a reservation.
    pub ptr: u64,
    /// Bytes.
    pub size: u64,
    /// Offset into the allocation (0, as CUDA requires today).
    pub offset: u64,
    /// Allocation handle.
    pub handle: u64,
    /// Zero.
    pub flags: u64,
}

/// MEM_SET_ACCESS: one `CUmemAccessDesc` applied to `[ptr, ptr + size)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemSetAccessRequest {
    /// Context.
    pub ctx: u64,
    /// Start address.
    pub ptr: u64,
    /// Bytes.
    pub size: u64,
    /// `CUmemLocationType`.
    pub location_type: u32,
    /// Device ordinal.
    pub location_id: i32,
    /// `CUmemAccess_flags`.
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// MEM_GET_ACCESS: the access flags of `location` at `ptr`. Response:
/// [`super::ValueResponse`] with the flags.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemGetAccessRequest {
    /// Context.
    pub ctx: u64,
    /// Address.
    pub ptr: u64,
    /// `CUmemLocationType`.
    pub location_type: u32,
    /// Device ordinal.
    pub location_id: i32,
}

const _: () = assert!(core::mem::size_of::<AllocationProp>() == 32);
const _: () = assert!(core::mem::size_of::<MemAddressReserveRequest>() == 40);
const _: () = assert!(core::mem::size_of::<VmmRangeRequest>() == 24);
const _: () = assert!(core::mem::size_of::<MemCreateRequest>() == 56);
const _: () = assert!(core::mem::size_of::<MemHandleRequest>() == 16);
const _: () = assert!(core::mem::size_of::<MemMapRequest>() == 48);
const _: () = assert!(core::mem::size_of::<MemSetAccessRequest>() == 40);
const _: () = assert!(core::mem::size_of::<MemGetAccessRequest>() == 24);
