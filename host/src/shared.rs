//! State shared between the register file and the worker threads.
//!
//! Nothing here needs the device lock: workers reach guest RAM through
//! snapshots, raise interrupts through the sink, and set interrupt causes
//! with atomic operations (in their client page, which a worker process
//! shares too).

use crate::executor::registry::ClientRegistry;
use crate::guest_memory::GuestRam;
use crate::irq::InterruptSink;
use crate::worker::Sessions;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

/// Limits the device advertises in BAR0 and enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Queues served (`MAX_QUEUES`), at most `uapi::regs::QUEUE_LIMIT`.
    pub max_queues: u32,
    /// Largest ring depth (`MAX_QUEUE_DEPTH`), a power of two.
    pub max_queue_depth: u32,
    /// Largest request or response buffer (`MAX_TRANSFER`), in bytes.
    pub max_transfer: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_queues: 128,
            max_queue_depth: 1024,
            // A 64 MiB copy is one command (127 MiB of data and a header of
            // up to MAX_PAYLOAD): each command of a large copy costs the
            // device a wait for its DMA and the GPU a restart.
            max_transfer: 128 << 20,
        }
    }
}

/// What every part of the device may touch without the device lock.
pub struct DeviceShared {
    /// Guest RAM mappings.
    pub ram: Arc<GuestRam>,
    /// Interrupt delivery.
    pub interrupts: Arc<dyn InterruptSink>,
    /// `IRQ_STATUS` bits.
    pub irq_status: AtomicU32,
    /// Who serves clients: worker threads or worker processes.
    pub sessions: Sessions,
    /// The device's clients (`GetUsage`, `ListClients`).
    pub clients: Arc<ClientRegistry>,
    /// Advertised limits.
    pub limits: Limits,
    /// PCI Command.BME: while the guest keeps bus mastering off (before
    /// its driver sets it, after it clears it: unbind, kexec, shutdown),
    /// the device's own writes to guest RAM (the heartbeat) wait.
    pub bus_master: AtomicBool,
}

impl DeviceShared {
    /// Sets the `IRQ_STATUS` bits in `cause` and raises `vector`.
    pub fn signal(&self, cause: u32, vector: u32) {
        self.irq_status.fetch_or(cause, Ordering::AcqRel);
        self.interrupts.raise(vector);
    }

    /// Sets `IRQ_STATUS` bits without raising a vector.
    pub fn set_cause(&self, cause: u32) {
        self.irq_status.fetch_or(cause, Ordering::AcqRel);
    }
}
