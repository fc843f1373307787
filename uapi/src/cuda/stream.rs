// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Streams and events.

/// STREAM_CREATE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamCreateRequest {
    /// Context.
    pub ctx: u64,
    /// `CUstream_flags`.
    pub flags: u32,
    /// Priority.
    pub priority: i32,
}

/// STREAM_DESTROY, STREAM_SYNCHRONIZE, STREAM_QUERY, STREAM_DRIVER_VALUE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
}

/// STREAM_WAIT_EVENT (async) and EVENT_RECORD (async).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamEventRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Event.
    pub event: u64,
    /// Flags (zero).
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// EVENT_CREATE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCreateRequest {
    /// Context.
    pub ctx: u64,
    /// `CUevent_flags`.
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// EVENT_DESTROY, EVENT_QUERY, EVENT_SYNCHRONIZE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventRequest {
    /// Context.
    pub ctx: u64,
    /// Event.
    pub event: u64,
}

/// EVENT_ELAPSED_TIME.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElapsedRequest {
    /// Context.
    pub ctx: u64,
    /// Start event.
    pub start: u64,
    /// End event.
    pub end: u64,
}

/// EVENT_ELAPSED_TIME response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElapsedResponse {
    /// `CUresult`.
    pub result: u32,
    /// Milliseconds as `f32` bits.
    pub millis_bits: u32,
}

const _: () = assert!(core::mem::size_of::<StreamCreateRequest>() == 16);
const _: () = assert!(core::mem::size_of::<StreamEventRequest>() == 32);
const _: () = assert!(core::mem::size_of::<EventCreateRequest>() == 16);
const _: () = assert!(core::mem::size_of::<ElapsedRequest>() == 24);
const _: () = assert!(core::mem::size_of::<ElapsedResponse>() == 8);
const _: () = assert!(core::mem::size_of::<StreamRequest>() == 16);
const _: () = assert!(core::mem::size_of::<EventRequest>() == 16);
