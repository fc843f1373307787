//! Queues: one per guest client. A [`QueueSlot`] is one queue block of BAR0
//! (its registers and state); enabling it validates the rings and starts the
//! client's worker (a process of its own, or a thread), disabling it stops
//! that worker and waits until it is gone.

mod buffers;
mod client;
mod copy;
mod layout;
mod spin;
pub mod worker;

pub use buffers::GuestBuffer;
pub use layout::{QueueConfig, RingLayout};

use crate::shared::DeviceShared;
use crate::worker::process::MemoryFence;
use client::QueueClient;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use uapi::regs::{irq, queue as reg};
use uapi::status::QueueError;

/// One queue block: registers, status and the client when enabled.
#[derive(Debug)]
pub struct QueueSlot {
    index: u32,
    config: QueueConfig,
    /// Low halves written but not yet committed by their high half:
    /// SQ, CQ, CTRL.
    staged_low: [u32; 3],
    /// STATUS while no client runs (DISABLED, or ERROR from validation).
    idle_status: AtomicU32,
    /// The running client; its page holds STATUS while it exists.
    client: Option<QueueClient>,
    /// Test only (`crate::fault`): ENABLE_OFF is ignored until a reset.
    ignores_disable: bool,
}

impl QueueSlot {
    /// Queue `index`, disabled.
    pub fn new(index: u32) -> Self {
        Self {
            index,
            config: QueueConfig::default(),
            staged_low: [0; 3],
            idle_status: AtomicU32::new(reg::status::DISABLED),
            client: None,
            ignores_disable: false,
        }
    }

    /// The STATUS register.
    pub fn status(&self) -> u32 {
        match &self.client {
            Some(client) => client.page().status.load(Ordering::Acquire),
            None => self.idle_status.load(Ordering::Acquire),
        }
    }

    /// `IRQ_STATUS` causes the client's worker set.
    pub fn irq_cause(&self) -> u32 {
        self.client
            .as_ref()
            .map_or(0, |c| c.page().irq_cause.load(Ordering::Acquire))
    }

    /// Clears acknowledged `IRQ_STATUS` causes.
    pub fn ack(&self, causes: u32) {
        if let Some(client) = &self.client {
            client.page().irq_cause.fetch_and(!causes, Ordering::AcqRel);
        }
    }

    /// The worker process serving the queue, if it runs in one.
    pub fn worker_pid(&self) -> Option<u32> {
        self.client.as_ref().and_then(QueueClient::worker_pid)
    }

    /// Guest RAM changed: a worker process maps the new set. With `fence`
    /// (mappings were removed), returns its coming answer, to wait for
    /// without the device lock.
    pub fn memory_changed(&self, shared: &DeviceShared, fence: bool) -> Option<MemoryFence> {
        self.client.as_ref()?.memory_changed(shared, fence)
    }

    /// See [`client::QueueClient::bus_master_changed`].
    pub fn bus_master_changed(&self, on: bool) {
        if let Some(client) = &self.client {
            client.bus_master_changed(on);
        }
    }

    /// The interrupt eventfds changed: a worker process gets its vector's.
    pub fn interrupts_changed(&self, shared: &DeviceShared) {
        if let Some(client) = &self.client {
            client.interrupts_changed(shared);
        }
    }

    fn state(&self) -> u32 {
        self.status() & reg::status::STATE_MASK
    }

    /// Reads register `reg` (an offset inside the queue block).
    pub fn read(&self, offset: u32) -> u32 {
        let c = &self.config;
        match offset {
            reg::SQ_BASE_LO => c.sq_base as u32,
            reg::SQ_BASE_HI => (c.sq_base >> 32) as u32,
            reg::CQ_BASE_LO => c.cq_base as u32,
            reg::CQ_BASE_HI => (c.cq_base >> 32) as u32,
            reg::CTRL_BASE_LO => c.ctrl_base as u32,
            reg::CTRL_BASE_HI => (c.ctrl_base >> 32) as u32,
            reg::DEPTH => c.depth,
            reg::VECTOR => c.vector,
            reg::ENABLE => u32::from(self.state() == reg::status::ENABLED),
            reg::STATUS => self.status(),
            _ => 0,
        }
    }

    /// Writes register `reg`. Configuration registers are ignored while the
    /// queue runs; ENABLE starts or stops it; DOORBELL wakes the worker.
    pub fn write(&mut self, offset: u32, value: u32, shared: &Arc<DeviceShared>) {
        let queue = self.index;
        match offset {
            reg::ENABLE => match value {
                reg::ENABLE_ON => self.enable(shared),
                reg::ENABLE_OFF if self.ignores_disable => {
                    tracing::warn!(queue, "injected fault: ENABLE_OFF ignored");
                }
                reg::ENABLE_OFF => self.disable(),
                _ => tracing::warn!(queue, value, "invalid ENABLE value ignored"),
            },
            reg::DOORBELL => match &self.client {
                Some(client) if self.state() == reg::status::ENABLED => client.ring(value),
                _ => tracing::debug!(queue, tail = value, "doorbell on a stopped queue ignored"),
            },
            reg::STATUS => tracing::debug!(queue, "write to read-only STATUS ignored"),
            _ if self.state() == reg::status::ENABLED => {
                tracing::warn!(
                    queue,
                    offset,
                    value,
                    "queue configuration write while enabled ignored"
                );
            }
            reg::SQ_BASE_LO => self.staged_low[0] = value,
            reg::CQ_BASE_LO => self.staged_low[1] = value,
            reg::CTRL_BASE_LO => self.staged_low[2] = value,
            reg::SQ_BASE_HI => self.config.sq_base = join(value, self.staged_low[0]),
            reg::CQ_BASE_HI => self.config.cq_base = join(value, self.staged_low[1]),
            reg::CTRL_BASE_HI => self.config.ctrl_base = join(value, self.staged_low[2]),
            reg::DEPTH => self.config.depth = value,
            reg::VECTOR => self.config.vector = value,
            _ => tracing::debug!(
                queue,
                offset,
                value,
                "write to unknown queue register ignored"
            ),
        }
    }

    /// ENABLE_ON: validate and start. A queue already enabled stays as it
    /// is; one in the error state is restarted.
    fn enable(&mut self, shared: &Arc<DeviceShared>) {
        let queue = self.index;
        if self.state() == reg::status::ENABLED {
            tracing::warn!(queue, "ENABLE_ON on an enabled queue ignored");
            return;
        }
        self.stop_client();
        let mem = shared.ram.snapshot();
        let layout = match self
            .config
            .validate(&mem, &shared.limits, uapi::pci::NUM_IRQ_VECTORS)
        {
            Ok(layout) => layout,
            Err(error) => {
                tracing::warn!(queue, ?error, config = ?self.config, "queue configuration rejected");
                self.set_error(error);
                shared.set_cause(irq::QUEUE_ERROR);
                return;
            }
        };
        match QueueClient::start(queue, layout, shared) {
            Ok(client) => {
                tracing::info!(
                    queue,
                    depth = layout.depth,
                    vector = layout.vector,
                    worker_pid = client.worker_pid(),
                    "queue enabled"
                );
                self.client = Some(client);
                self.ignores_disable = crate::fault::queue_enabled(queue);
            }
            Err(error) => {
                tracing::error!(queue, %error, "cannot start queue worker");
                self.idle_status
                    .store(reg::status::DISABLED, Ordering::Release);
            }
        }
    }

    fn set_error(&self, error: QueueError) {
        let value = reg::status::ERROR | ((error as u32) << reg::status::ERROR_SHIFT);
        self.idle_status.store(value, Ordering::Release);
    }

    /// Stops the client's worker and waits until it is gone.
    fn stop_client(&mut self) {
        if let Some(mut client) = self.client.take() {
            client.stop();
        }
    }

    /// ENABLE_OFF: stop the worker, wait for it, drop the client, DISABLED.
    pub fn disable(&mut self) {
        let was_running = self.client.is_some();
        self.stop_client();
        self.idle_status
            .store(reg::status::DISABLED, Ordering::Release);
        if was_running {
            tracing::info!(queue = self.index, "queue disabled");
        }
    }

    /// Disables the queue and clears its registers.
    pub fn reset(&mut self) {
        self.ignores_disable = false;
        self.disable();
        self.config = QueueConfig::default();
        self.staged_low = [0; 3];
    }
}

fn join(high: u32, low: u32) -> u64 {
    (u64::from(high) << 32) | u64::from(low)
}
