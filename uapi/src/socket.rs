// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! The direct socket transport: the same commands as the rings, framed on a
//! UNIX stream socket to `vgpu-host`, for development on the GPU machine
//! without a VM and for containers. One connection is one client.
//!
//! The client writes a [`RequestFrame`] and `req_len` request bytes. Unless
//! the frame is [`frame_flags::DETACHED`], the server answers with a
//! [`ResponseFrame`] and `resp_len` response bytes, in request order.

/// Largest request or response body on the socket.
pub const MAX_FRAME_PAYLOAD: u32 = 64 << 20;

/// Bits of [`RequestFrame::flags`].
pub mod frame_flags {
    /// No response frame is sent; errors surface at the next command.
    pub const DETACHED: u16 = 1 << 0;
    /// The body is a [`super::super::shm::ShmSetup`] and the frame carries a
    /// memfd and two eventfds (doorbell, wake-up) as `SCM_RIGHTS`: switch
    /// this connection to the shared-memory transport (`uapi::shm`). The
    /// server answers with a response frame; on anything but OK the
    /// connection stays on frames.
    pub const SHM_ATTACH: u16 = 1 << 1;
}

/// Header of a request.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestFrame {
    /// Opcode.
    pub opcode: u16,
    /// [`frame_flags`].
    pub flags: u16,
    /// Request bytes that follow.
    pub req_len: u32,
    /// Response capacity, as on the rings.
    pub resp_capacity: u32,
    /// Zero.
    pub reserved: u32,
}

/// Header of a response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseFrame {
    /// [`super::status::Status`].
    pub status: u32,
    /// Response bytes that follow (0 unless status is OK; on
    /// `RESPONSE_TOO_SMALL` the needed size, with no bytes following).
    pub resp_len: u32,
}

const _: () = assert!(core::mem::size_of::<RequestFrame>() == 16);
const _: () = assert!(core::mem::size_of::<ResponseFrame>() == 8);
