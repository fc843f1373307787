// SPDX-License-Identifier: GPL-2.0

//! The ring protocol of one queue: submission and completion rings, the
//! control block, and the queue registers that start and stop them.

use crate::{
    helpers,
    regs::{
        self,
        Bar0,
        QueueState, //
    },
    uapi::{
        ioctl::CLIENT_QUEUE_DEPTH,
        regs::queue,
        ring::{
            control_flags,
            CompletionEntry,
            QueueControl,
            SubmissionEntry, //
        },
    },
};
use kernel::{
    device::{
        Bound,
        Device, //
    },
    dma::Coherent,
    io::poll::read_poll_timeout,
    prelude::*,
    time::Delta,
};

/// How long to wait for a queue to report DISABLED after `ENABLE_OFF`.
// TIMEOUT: the device stops the worker synchronously, but a command that
// ignores cancellation can hold it until the VMM's message timeout (5 s);
// twice that, so that a slow but honest device is not treated as rogue.
const DISABLE_TIMEOUT_MS: i64 = 10_000;

/// Rings and control block of one queue, all `CLIENT_QUEUE_DEPTH` deep.
pub(crate) struct Ring {
    sq: Coherent<[SubmissionEntry]>,
    cq: Coherent<[CompletionEntry]>,
    ctrl: Coherent<QueueControl>,
    /// The tail goes to the control block, the doorbell only while the
    /// device sleeps (`uapi::ring`, the protocol).
    polled_tail: bool,
}

impl Ring {
    /// Allocates zeroed rings, charged to the caller's memory cgroup; with
    /// `polled_tail` (the device offers it) the queue will use a polled
    /// tail.
    pub(crate) fn new(dev: &Device<Bound>, polled_tail: bool) -> Result<Self> {
        let depth = CLIENT_QUEUE_DEPTH as usize;
        let ctrl: Coherent<QueueControl> = Coherent::zeroed(dev, GFP_KERNEL_ACCOUNT)?;
        if polled_tail {
            // Before ENABLE_ON, when the device reads it.
            kernel::dma_write!(ctrl, .driver_flags, control_flags::POLLED_TAIL);
        }
        Ok(Self {
            sq: Coherent::zeroed_slice(dev, depth, GFP_KERNEL_ACCOUNT)?,
            cq: Coherent::zeroed_slice(dev, depth, GFP_KERNEL_ACCOUNT)?,
            ctrl,
            polled_tail,
        })
    }

    /// Programs queue `q` with these rings and enables it; returns its state.
    pub(crate) fn start(&self, bar: &Bar0, q: u32) -> Result<QueueState> {
        regs::write_addr(
            bar,
            regs::queue(q, queue::SQ_BASE_LO),
            regs::queue(q, queue::SQ_BASE_HI),
            self.sq.dma_handle(),
        )?;
        regs::write_addr(
            bar,
            regs::queue(q, queue::CQ_BASE_LO),
            regs::queue(q, queue::CQ_BASE_HI),
            self.cq.dma_handle(),
        )?;
        regs::write_addr(
            bar,
            regs::queue(q, queue::CTRL_BASE_LO),
            regs::queue(q, queue::CTRL_BASE_HI),
            self.ctrl.dma_handle(),
        )?;
        regs::write(bar, regs::queue(q, queue::DEPTH), CLIENT_QUEUE_DEPTH)?;
        regs::write(bar, regs::queue(q, queue::VECTOR), 0)?;
        regs::write(bar, regs::queue(q, queue::ENABLE), queue::ENABLE_ON)?;
        regs::queue_state(bar, q)
    }

    /// Writes the submission entry at free-running index `tail`.
    pub(crate) fn write_entry(&self, tail: u32, entry: SubmissionEntry) -> Result {
        let index = (tail % CLIENT_QUEUE_DEPTH) as usize;
        kernel::dma_write!(self.sq, [try: index], entry);
        Ok(())
    }

    /// Hands entries up to `tail` to the device: with a polled tail, the
    /// control block's `sq_tail`, and the doorbell only if the device said
    /// it sleeps; else the doorbell.
    pub(crate) fn publish_tail(&self, bar: &Bar0, q: u32, tail: u32) -> Result {
        if self.polled_tail {
            // The entries before the tail, the tail before the device's
            // idle word is read (the device stores that word before it
            // reads the tail again): one of us sees the other.
            helpers::dma_mb();
            kernel::dma_write!(self.ctrl, .sq_tail, tail);
            helpers::dma_mb();
            if kernel::dma_read!(self.ctrl, .device_idle) == 0 {
                return Ok(());
            }
        }
        // The MMIO write orders after the ring writes (writel semantics).
        regs::write(bar, regs::queue(q, queue::DOORBELL), tail)
    }

    /// Whether the device posted completions past `head`.
    pub(crate) fn has_completions(&self, head: u32) -> bool {
        kernel::dma_read!(self.ctrl, .cq_tail) != head
    }

    /// The device's completion tail; entries before it may be read after this.
    pub(crate) fn cq_tail(&self) -> u32 {
        let tail = kernel::dma_read!(self.ctrl, .cq_tail);
        // The device wrote the entries before the tail: read them after it.
        helpers::dma_rmb();
        tail
    }

    /// The completion entry at free-running index `head`.
    pub(crate) fn completion(&self, head: u32) -> Result<CompletionEntry> {
        let index = (head % CLIENT_QUEUE_DEPTH) as usize;
        Ok(kernel::dma_read!(self.cq, [try: index]))
    }

    /// Hands completions before `head` back to the device.
    pub(crate) fn publish_head(&self, head: u32) {
        // The entries were read before the device may overwrite them.
        helpers::dma_mb();
        kernel::dma_write!(self.ctrl, .cq_head, head);
    }
}

/// Stops queue `q` and waits until the device reports it DISABLED, the proof
/// that it no longer touches the rings or any buffer of the queue. With
/// `patient` false (the device stopped its heartbeat) it reads the status
/// once: a dead device would only make the caller wait the full timeout.
pub(crate) fn disable(bar: &Bar0, q: u32, patient: bool) -> Result {
    regs::write(bar, regs::queue(q, queue::ENABLE), queue::ENABLE_OFF)?;
    let timeout_ms = if patient { DISABLE_TIMEOUT_MS } else { 0 };
    read_poll_timeout(
        || regs::queue_state(bar, q),
        |state| *state == QueueState::Disabled,
        Delta::from_millis(1),
        Delta::from_millis(timeout_ms),
    )
    .map(|_| ())
}
