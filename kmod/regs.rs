// SPDX-License-Identifier: GPL-2.0

//! BAR0 access. `uapi::regs` is the one definition of the register map:
//! the typed registers below are checked against it at compile time. Queue
//! configuration registers are computed at run time, hence the checked
//! `try_*` accessors.

use crate::uapi::{
    pci::REGS_BAR_SIZE,
    regs, //
};
use kernel::{
    io::{
        register,
        register::{
            Array,
            Register, //
        },
        Io,
    },
    pci,
    prelude::*, //
};

register! {
    /// `"VGPU"`.
    pub(crate) MAGIC(u32) @ 0x0000 {
        31:0 value;
    }
    /// The device's ABI version.
    pub(crate) ABI_VERSION(u32) @ 0x0004 {
        31:16 major;
        15:0 minor;
    }
    /// Feature bits (`uapi::regs::features`).
    pub(crate) FEATURES(u32) @ 0x0008 {
        2:2 polled_tail => bool;
        1:1 heartbeat => bool;
        0:0 sgl => bool;
    }
    /// Queues the device serves.
    pub(crate) MAX_QUEUES(u32) @ 0x000c {
        31:0 value;
    }
    /// Largest queue depth.
    pub(crate) MAX_QUEUE_DEPTH(u32) @ 0x0010 {
        31:0 value;
    }
    /// Largest buffer one command may describe.
    pub(crate) MAX_TRANSFER(u32) @ 0x0014 {
        31:0 value;
    }
    /// Device status.
    pub(crate) DEVICE_STATUS(u32) @ 0x0018 {
        1:1 fatal => bool;
        0:0 ready => bool;
    }
    /// Device control.
    pub(crate) DEVICE_CONTROL(u32) @ 0x001c {
        0:0 reset => bool;
    }
    /// Status page address, low half.
    pub(crate) STATUS_PAGE_LO(u32) @ 0x0020 {
        31:0 value;
    }
    /// Status page address, high half; writing it commits the address.
    pub(crate) STATUS_PAGE_HI(u32) @ 0x0024 {
        31:0 value;
    }
    /// Status of each queue.
    pub(crate) QUEUE_STATUS(u32)[128, stride = 0x40] @ 0x1024 {
        15:8 error;
        7:0 state;
    }
}

// `uapi` is the one definition of the register map: the literal offsets above
// (the macro takes literals only) must match it.
macro_rules! same_offset {
    ($($reg:ident),* $(,)?) => {
        $(const _: () = assert!(<$reg as Register>::OFFSET == regs::$reg as usize);)*
    };
}
same_offset!(
    MAGIC,
    ABI_VERSION,
    FEATURES,
    MAX_QUEUES,
    MAX_QUEUE_DEPTH,
    MAX_TRANSFER,
    DEVICE_STATUS,
    DEVICE_CONTROL,
    STATUS_PAGE_LO,
    STATUS_PAGE_HI,
);
const _: () =
    assert!(<QUEUE_STATUS as Register>::OFFSET == regs::queue_reg(0, regs::queue::STATUS) as usize);
const _: () = assert!(regs::QUEUE_STRIDE == 0x40);
const _: () = assert!(
    regs::features::SGL == 1 << 0
        && regs::features::HEARTBEAT == 1 << 1
        && regs::features::POLLED_TAIL == 1 << 2
);
const _: () = assert!(regs::device_status::READY == 1 << 0 && regs::device_status::FATAL == 1 << 1);
const _: () = assert!(regs::device_control::RESET == 1 << 0);
const _: () =
    assert!(regs::queue::status::STATE_MASK == 0xff && regs::queue::status::ERROR_SHIFT == 8);
const _: () = assert!(regs::QUEUE_LIMIT >= 128);

/// Size of the BAR0 mapping.
pub(crate) const BAR0_SIZE: usize = REGS_BAR_SIZE as usize;
/// BAR0 mapped for its whole size, as kept beyond probe (revocable).
pub(crate) type Bar0 = pci::Bar<'static, BAR0_SIZE>;

/// Writes the register at `offset`.
pub(crate) fn write(bar: &pci::Bar<'_, BAR0_SIZE>, offset: u32, value: u32) -> Result {
    bar.try_write32(value, offset as usize)
}

/// Writes a 64-bit address as two halves, high half last (it commits).
pub(crate) fn write_addr(bar: &pci::Bar<'_, BAR0_SIZE>, lo: u32, hi: u32, addr: u64) -> Result {
    // CAST: the low and high halves, truncation intended.
    write(bar, lo, addr as u32)?;
    write(bar, hi, (addr >> 32) as u32)
}

/// Offset of register `reg` of queue `queue`.
pub(crate) fn queue(queue: u32, reg: u32) -> u32 {
    regs::queue_reg(queue, reg)
}

/// State part of a queue's `STATUS` register.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum QueueState {
    Disabled,
    Enabled,
    /// Stopped by the device; the error code of bits 15:8.
    Error(u32),
    /// A value the contract does not define (e.g. all-ones from a removed device).
    Unknown(u32),
}

impl From<QUEUE_STATUS> for QueueState {
    fn from(status: QUEUE_STATUS) -> Self {
        use crate::uapi::regs::queue::status as s;
        match status.state().get() {
            s::DISABLED => Self::Disabled,
            s::ENABLED => Self::Enabled,
            s::ERROR => Self::Error(status.error().get()),
            _ => Self::Unknown(u32::from(status)),
        }
    }
}

/// Reads the state of queue `q`.
pub(crate) fn queue_state(bar: &pci::Bar<'_, BAR0_SIZE>, q: u32) -> Result<QueueState> {
    let status = QUEUE_STATUS::try_at(q as usize).ok_or(EINVAL)?;
    bar.try_read(status).map(QueueState::from)
}
