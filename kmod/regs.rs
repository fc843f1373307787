// SPDX-License-Identifier: GPL-2.0

//! BAR0 access. Offsets come from `uapi::regs`, the one definition of the
//! register map; queue registers are computed at run time, hence the checked
//! `try_*` accessors.

use crate::uapi::{
    pci::REGS_BAR_SIZE,
    regs, //
};
use kernel::{
    io::Io,
    pci,
    prelude::*, //
};

/// Size of the BAR0 mapping.
pub(crate) const BAR0_SIZE: usize = REGS_BAR_SIZE as usize;
/// BAR0 mapped for its whole size, as kept beyond probe (revocable).
pub(crate) type Bar0 = pci::Bar<'static, BAR0_SIZE>;

/// Reads the register at `offset`.
pub(crate) fn read(bar: &pci::Bar<'_, BAR0_SIZE>, offset: u32) -> Result<u32> {
    bar.try_read32(offset as usize)
}

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

impl From<u32> for QueueState {
    fn from(status: u32) -> Self {
        use crate::uapi::regs::queue::status as s;
        match status & s::STATE_MASK {
            s::DISABLED => Self::Disabled,
            s::ENABLED => Self::Enabled,
            s::ERROR => Self::Error((status >> s::ERROR_SHIFT) & 0xff),
            _ => Self::Unknown(status),
        }
    }
}

/// Reads the state of queue `q`.
pub(crate) fn queue_state(bar: &pci::Bar<'_, BAR0_SIZE>, q: u32) -> Result<QueueState> {
    read(bar, queue(q, regs::queue::STATUS)).map(QueueState::from)
}
