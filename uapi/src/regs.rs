// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! BAR0 register map.
//!
//! All registers are 32 bits wide and accessed with aligned 32-bit accesses;
//! any other access reads as zero and is ignored on write. Every access costs a
//! round trip to the device model (tens of microseconds under emulation), so
//! the hot path uses only the doorbell, a posted write. 64-bit addresses are
//! written as two halves; the high half commits the value.
//!
//! Layout:
//! - `0x0000..0x0100` device registers,
//! - `0x1000..0x1000 + MAX_QUEUES * QUEUE_STRIDE` one block per queue.

/// `"VGPU"` in little-endian byte order. Read-only.
pub const MAGIC: u32 = 0x0000;
/// Value of [`MAGIC`].
pub const MAGIC_VALUE: u32 = u32::from_le_bytes(*b"VGPU");
/// ABI version, [`super::ABI_VERSION`] layout. Read-only.
pub const ABI_VERSION: u32 = 0x0004;
/// Feature bits ([`features`]). Read-only.
pub const FEATURES: u32 = 0x0008;
/// Number of queues the device serves (one per client). Read-only.
pub const MAX_QUEUES: u32 = 0x000c;
/// Largest queue depth in entries (a power of two). Read-only.
pub const MAX_QUEUE_DEPTH: u32 = 0x0010;
/// Largest payload a single request or response buffer may describe, in bytes. Read-only.
pub const MAX_TRANSFER: u32 = 0x0014;
/// Device status ([`device_status`]). Read-only.
pub const DEVICE_STATUS: u32 = 0x0018;
/// Device control ([`device_control`]). Write-only.
pub const DEVICE_CONTROL: u32 = 0x001c;
/// Guest-physical address of the status page ([`super::ring::StatusPage`]), low half.
pub const STATUS_PAGE_LO: u32 = 0x0020;
/// High half; writing it commits the address (0 turns the status page off).
pub const STATUS_PAGE_HI: u32 = 0x0024;
/// Pending interrupt causes ([`irq`]). Read-only.
pub const IRQ_STATUS: u32 = 0x0028;
/// Write 1 to clear the matching [`IRQ_STATUS`] bits.
pub const IRQ_ACK: u32 = 0x002c;

/// First queue block.
pub const QUEUE_BASE: u32 = 0x1000;
/// Distance between queue blocks.
pub const QUEUE_STRIDE: u32 = 0x40;
/// Upper bound of [`MAX_QUEUES`] that fits the BAR.
pub const QUEUE_LIMIT: u32 = ((super::pci::REGS_BAR_SIZE as u32) - QUEUE_BASE) / QUEUE_STRIDE;

/// Registers inside a queue block, as offsets from [`queue_reg`]'s base.
pub mod queue {
    /// Submission ring address, low half.
    pub const SQ_BASE_LO: u32 = 0x00;
    /// Submission ring address, high half.
    pub const SQ_BASE_HI: u32 = 0x04;
    /// Completion ring address, low half.
    pub const CQ_BASE_LO: u32 = 0x08;
    /// Completion ring address, high half.
    pub const CQ_BASE_HI: u32 = 0x0c;
    /// Control block ([`super::super::ring::QueueControl`]) address, low half.
    pub const CTRL_BASE_LO: u32 = 0x10;
    /// Control block address, high half.
    pub const CTRL_BASE_HI: u32 = 0x14;
    /// Entries in each ring: a power of two, 2..=`MAX_QUEUE_DEPTH`.
    pub const DEPTH: u32 = 0x18;
    /// Interrupt vector for this queue's completions.
    pub const VECTOR: u32 = 0x1c;
    /// Write [`ENABLE_ON`] to start the queue (a new client), [`ENABLE_OFF`] to
    /// stop it and release every object of its client. Neither completes
    /// until the device is done with the rings: read [`STATUS`] to be sure.
    pub const ENABLE: u32 = 0x20;
    /// Queue status ([`status`]). Read-only.
    pub const STATUS: u32 = 0x24;
    /// Write the new free-running submission tail (the index one past the
    /// last valid entry). A posted write; the hot path of the device.
    pub const DOORBELL: u32 = 0x28;

    /// Value for [`ENABLE`]: start.
    pub const ENABLE_ON: u32 = 1;
    /// Value for [`ENABLE`]: stop and release.
    pub const ENABLE_OFF: u32 = 0;

    /// Values of [`STATUS`], bits 7:0; bits 15:8 hold an [`super::super::status::QueueError`] when `ERROR`.
    pub mod status {
        /// Not enabled; the device does not touch the rings.
        pub const DISABLED: u32 = 0;
        /// Enabled and serving.
        pub const ENABLED: u32 = 1;
        /// Stopped by an error (bad configuration or a corrupt index); see bits 15:8.
        pub const ERROR: u32 = 2;
        /// Mask of the state part.
        pub const STATE_MASK: u32 = 0xff;
        /// Shift of the error code part.
        pub const ERROR_SHIFT: u32 = 8;
    }
}

/// Offset of register `reg` of queue `index`.
pub const fn queue_reg(index: u32, reg: u32) -> u32 {
    QUEUE_BASE + index * QUEUE_STRIDE + reg
}

/// Bits of [`FEATURES`].
pub mod features {
    /// Request and response buffers may be scatter-gather lists.
    pub const SGL: u32 = 1 << 0;
    /// The device keeps a heartbeat in the status page.
    pub const HEARTBEAT: u32 = 1 << 1;
    /// The device polls a queue's `QueueControl::sq_tail` and asks for the
    /// doorbell only while it sleeps (`uapi::ring`, the protocol).
    pub const POLLED_TAIL: u32 = 1 << 2;
}

/// Bits of [`DEVICE_STATUS`].
pub mod device_status {
    /// The device is ready to take queues.
    pub const READY: u32 = 1 << 0;
    /// The device's executor failed; every queue completes with errors.
    pub const FATAL: u32 = 1 << 1;
}

/// Bits of [`DEVICE_CONTROL`].
pub mod device_control {
    /// Disable every queue, release every client, forget the status page.
    pub const RESET: u32 = 1 << 0;
}

/// Bits of [`IRQ_STATUS`] and [`IRQ_ACK`].
pub mod irq {
    /// A completion was posted to some queue.
    pub const COMPLETION: u32 = 1 << 0;
    /// A queue went into the error state.
    pub const QUEUE_ERROR: u32 = 1 << 1;
}

/// How often the device bumps the heartbeat, in milliseconds.
pub const HEARTBEAT_PERIOD_MS: u32 = 100;
