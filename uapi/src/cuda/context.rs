// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Contexts, devices and the responses every area shares.

/// First 8 bytes of every CUDA response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResultHeader {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
}

/// Response carrying one handle or address.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandleResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The handle or device address.
    pub handle: u64,
}

/// Request naming only a context (CTX_DESTROY, CTX_SYNCHRONIZE, MEM_GET_INFO).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtxRequest {
    /// Context.
    pub ctx: u64,
}

/// CTX_CREATE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtxCreateRequest {
    /// Unused (contexts are created from nothing); zero.
    pub ctx: u64,
    /// `CUctx_flags`.
    pub flags: u32,
    /// Device ordinal (always 0: one GPU per device).
    pub device: i32,
}

/// PRIMARY_CTX_RETAIN / RELEASE / RESET and DEVICE_GET_ATTRIBUTES.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceRequest {
    /// Zero.
    pub ctx: u64,
    /// Device ordinal.
    pub device: i32,
    /// Zero.
    pub reserved: u32,
}

/// MEM_GET_INFO response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfoResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// Free device memory, bytes.
    pub free: u64,
    /// Total device memory, bytes.
    pub total: u64,
}

/// Response carrying one value (a size, a count, a limit).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValueResponse {
    /// `CUresult`.
    pub result: u32,
    /// Zero.
    pub reserved: u32,
    /// The value.
    pub value: u64,
}

/// CTX_GET_LIMIT (response: [`ValueResponse`]) and CTX_SET_LIMIT.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitRequest {
    /// Context.
    pub ctx: u64,
    /// `CUlimit`.
    pub limit: u32,
    /// Zero.
    pub reserved: u32,
    /// New value (SET).
    pub value: u64,
}

const _: () = assert!(core::mem::size_of::<ValueResponse>() == 16);
const _: () = assert!(core::mem::size_of::<LimitRequest>() == 24);
const _: () = assert!(core::mem::size_of::<ResultHeader>() == 8);
const _: () = assert!(core::mem::size_of::<HandleResponse>() == 16);
const _: () = assert!(core::mem::size_of::<CtxCreateRequest>() == 16);
const _: () = assert!(core::mem::size_of::<DeviceRequest>() == 16);
const _: () = assert!(core::mem::size_of::<MemInfoResponse>() == 24);
const _: () = assert!(core::mem::size_of::<CtxRequest>() == 8);
