// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Rings and descriptors in guest memory.
//!
//! Each queue has a submission ring (driver → device), a completion ring
//! (device → driver) of the same depth, and a control block. Indices are
//! free-running `u32` counters; the slot is `index % depth`. The driver never
//! has more than `depth` commands outstanding, so the completion ring cannot
//! overflow; a device that sees otherwise stops the queue with an error.
//!
//! Protocol:
//! 1. The driver fills submission slots, then writes the new tail to the
//!    queue's doorbell.
//! 2. The device reads entries from its own head up to that tail, and for each
//!    writes one completion, then `QueueControl::cq_tail` (release order),
//!    then raises the queue's vector.
//! 3. The driver reads completions up to `cq_tail` and advances `cq_head`.
//!
//! With [`super::regs::features::POLLED_TAIL`], which the driver takes by
//! setting [`control_flags::POLLED_TAIL`] in `QueueControl::driver_flags`
//! before it enables the queue, step 1 becomes: the driver writes the new
//! tail to `QueueControl::sq_tail`, then (full barrier) reads
//! `QueueControl::device_idle` and writes the doorbell only if that is
//! non-zero. The device polls `sq_tail` for a while after its last command
//! and, before it sleeps, sets `device_idle`, then (full barrier) reads
//! `sq_tail` once more. Each side writes its word before it reads the
//! other's, so at least one of them sees the other: no submission waits
//! for a doorbell that was never rung. A doorbell rung anyway is harmless.

/// One command. 64 bytes.
///
/// A buffer is either contiguous (`*_addr` is its guest-physical address,
/// `*_len` its length in bytes), or with [`entry_flags::REQ_SGL`] /
/// [`entry_flags::RESP_SGL`] a scatter-gather list: `*_addr` points at
/// `*_len` [`SgEntry`]s. A length of zero means no buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubmissionEntry {
    /// [`super::cmd::Opcode`] value.
    pub opcode: u16,
    /// [`entry_flags`].
    pub flags: u16,
    /// Request length in bytes, or SG entry count with `REQ_SGL`.
    pub req_len: u32,
    /// Driver's tag, echoed in the completion.
    pub tag: u64,
    /// Request buffer or SG list address.
    pub req_addr: u64,
    /// Response buffer or SG list address.
    pub resp_addr: u64,
    /// Response capacity in bytes, or SG entry count with `RESP_SGL`.
    pub resp_len: u32,
    /// Must be zero.
    pub reserved0: u32,
    /// Must be zero.
    pub reserved1: [u64; 3],
}

/// Bits of [`SubmissionEntry::flags`]; any other bit is invalid.
pub mod entry_flags {
    /// The request is a scatter-gather list.
    pub const REQ_SGL: u16 = 1 << 0;
    /// The response is a scatter-gather list.
    pub const RESP_SGL: u16 = 1 << 1;
    /// All defined bits.
    pub const ALL: u16 = REQ_SGL | RESP_SGL;
}

/// One scatter-gather segment. 16 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SgEntry {
    /// Guest-physical address.
    pub addr: u64,
    /// Length in bytes, non-zero.
    pub len: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// Most segments one scatter-gather list may hold: 128 MiB of 4 KiB pages
/// (the device's `MAX_TRANSFER`), in a list of 512 KiB.
pub const MAX_SG_ENTRIES: u32 = 32768;

/// One completion. 32 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompletionEntry {
    /// The submission's tag (0 for a queue error without a submission).
    pub tag: u64,
    /// [`super::status::Status`] value.
    pub status: u32,
    /// Bytes of response written; on `RESPONSE_TOO_SMALL`, the bytes needed.
    pub resp_len: u32,
    /// Device's submission head after this entry.
    pub sq_head: u32,
    /// Zero.
    pub reserved: [u32; 3],
}

/// Per-queue control block. 64 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueControl {
    /// Written by the device: completions posted so far.
    pub cq_tail: u32,
    /// Written by the driver: completions consumed so far.
    pub cq_head: u32,
    /// Written by the device: submissions consumed so far.
    pub sq_head: u32,
    /// Written by the driver with [`control_flags::POLLED_TAIL`]: the
    /// submission tail (what it would write to the doorbell).
    pub sq_tail: u32,
    /// Written by the device with [`control_flags::POLLED_TAIL`]: non-zero
    /// while it sleeps until the doorbell is written.
    pub device_idle: u32,
    /// Written by the driver before it enables the queue: [`control_flags`].
    pub driver_flags: u32,
    /// Reserved.
    pub reserved: [u32; 10],
}

/// Bits of [`QueueControl::driver_flags`].
pub mod control_flags {
    /// The driver writes `sq_tail` and rings the doorbell only while the
    /// device is idle (the protocol above); needs
    /// [`super::super::regs::features::POLLED_TAIL`].
    pub const POLLED_TAIL: u32 = 1 << 0;
}

/// Byte offsets inside [`QueueControl`], for volatile access.
pub mod control_offsets {
    /// [`super::QueueControl::cq_tail`].
    pub const CQ_TAIL: usize = 0;
    /// [`super::QueueControl::cq_head`].
    pub const CQ_HEAD: usize = 4;
    /// [`super::QueueControl::sq_head`].
    pub const SQ_HEAD: usize = 8;
    /// [`super::QueueControl::sq_tail`].
    pub const SQ_TAIL: usize = 12;
    /// [`super::QueueControl::device_idle`].
    pub const DEVICE_IDLE: usize = 16;
    /// [`super::QueueControl::driver_flags`].
    pub const DRIVER_FLAGS: usize = 20;
}

/// Device-wide status page, written by the device. 64 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusPage {
    /// Incremented every [`super::regs::HEARTBEAT_PERIOD_MS`] while the device lives.
    pub heartbeat: u64,
    /// Reserved.
    pub reserved: [u64; 7],
}

const _: () = assert!(core::mem::size_of::<SubmissionEntry>() == 64);
const _: () = assert!(core::mem::size_of::<SgEntry>() == 16);
const _: () = assert!(core::mem::size_of::<CompletionEntry>() == 32);
const _: () = assert!(core::mem::size_of::<QueueControl>() == 64);
const _: () = assert!(core::mem::offset_of!(QueueControl, sq_tail) == control_offsets::SQ_TAIL);
const _: () =
    assert!(core::mem::offset_of!(QueueControl, device_idle) == control_offsets::DEVICE_IDLE);
const _: () =
    assert!(core::mem::offset_of!(QueueControl, driver_flags) == control_offsets::DRIVER_FLAGS);
const _: () = assert!(core::mem::size_of::<StatusPage>() == 64);
