//! The BAR0 register file: device registers and the queue blocks.
//!
//! Offsets and values come from `uapi::regs`. Only aligned 32-bit accesses
//! mean anything; the caller ([`crate::device::Device`]) filters the rest.

use crate::heartbeat::Heartbeat;
use crate::queue::QueueSlot;
use crate::shared::DeviceShared;
use crate::worker::process::MemoryFence;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use uapi::regs::{self as r, device_control, device_status, features};

/// Values BAR0 presents for the identification registers; tests override
/// them to check that the guest driver refuses a wrong device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identification {
    /// What `MAGIC` reads.
    pub magic: u32,
    /// What `ABI_VERSION` reads.
    pub abi_version: u32,
}

impl Default for Identification {
    fn default() -> Self {
        Self {
            magic: r::MAGIC_VALUE,
            abi_version: uapi::ABI_VERSION,
        }
    }
}

/// Device registers and queue blocks.
#[derive(Debug)]
pub struct RegisterFile {
    ident: Identification,
    status_page_low: u32,
    status_page: u64,
    heartbeat: Option<Heartbeat>,
    queues: Vec<QueueSlot>,
}

impl RegisterFile {
    /// Power-on state with `max_queues` queue blocks.
    pub fn new(ident: Identification, max_queues: u32) -> Self {
        Self {
            ident,
            status_page_low: 0,
            status_page: 0,
            heartbeat: None,
            queues: (0..max_queues).map(QueueSlot::new).collect(),
        }
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read(&self, offset: u32, shared: &DeviceShared) -> u32 {
        let limits = &shared.limits;
        match offset {
            r::MAGIC => self.ident.magic,
            r::ABI_VERSION => self.ident.abi_version,
            r::FEATURES => features::SGL | features::HEARTBEAT | features::POLLED_TAIL,
            r::MAX_QUEUES => limits.max_queues,
            r::MAX_QUEUE_DEPTH => limits.max_queue_depth,
            r::MAX_TRANSFER => limits.max_transfer,
            r::DEVICE_STATUS => device_status::READY,
            r::STATUS_PAGE_LO => self.status_page as u32,
            r::STATUS_PAGE_HI => (self.status_page >> 32) as u32,
            r::IRQ_STATUS => self
                .queues
                .iter()
                .fold(shared.irq_status.load(Ordering::Acquire), |causes, q| {
                    causes | q.irq_cause()
                }),
            _ => match self.queue_of(offset) {
                Some((queue, reg)) => queue.read(reg),
                None => 0,
            },
        }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write(&mut self, offset: u32, value: u32, shared: &Arc<DeviceShared>) {
        match offset {
            r::DEVICE_CONTROL => {
                if value & device_control::RESET != 0 {
                    tracing::info!("device reset requested by the driver");
                    self.reset(shared);
                }
            }
            r::STATUS_PAGE_LO => self.status_page_low = value,
            r::STATUS_PAGE_HI => {
                let gpa = (u64::from(value) << 32) | u64::from(self.status_page_low);
                self.set_status_page(gpa, shared);
            }
            r::IRQ_ACK => {
                shared.irq_status.fetch_and(!value, Ordering::AcqRel);
                for queue in &self.queues {
                    queue.ack(value);
                }
            }
            _ => {
                let Some(index) = self.queue_index(offset) else {
                    tracing::debug!(
                        offset,
                        value,
                        "write to read-only or unknown register ignored"
                    );
                    return;
                };
                let reg = (offset - r::QUEUE_BASE) % r::QUEUE_STRIDE;
                if let Some(queue) = self.queues.get_mut(index) {
                    queue.write(reg, value, shared);
                }
            }
        }
    }

    fn queue_index(&self, offset: u32) -> Option<usize> {
        let index = offset.checked_sub(r::QUEUE_BASE)? / r::QUEUE_STRIDE;
        let index = usize::try_from(index).ok()?;
        (index < self.queues.len()).then_some(index)
    }

    fn queue_of(&self, offset: u32) -> Option<(&QueueSlot, u32)> {
        let index = self.queue_index(offset)?;
        let reg = (offset - r::QUEUE_BASE) % r::QUEUE_STRIDE;
        Some((self.queues.get(index)?, reg))
    }

    /// See [`QueueSlot::memory_changed`]: with `fence`, the answers every
    /// worker process will give once its commands are done with the RAM
    /// removed, to wait for after the device lock is released.
    pub fn memory_changed(&self, shared: &DeviceShared, fence: bool) -> Vec<MemoryFence> {
        self.queues
            .iter()
            .filter_map(|queue| queue.memory_changed(shared, fence))
            .collect()
    }

    /// See [`QueueSlot::bus_master_changed`].
    pub fn bus_master_changed(&self, on: bool) {
        for queue in &self.queues {
            queue.bus_master_changed(on);
        }
    }

    /// See [`QueueSlot::interrupts_changed`].
    pub fn interrupts_changed(&self, shared: &DeviceShared) {
        for queue in &self.queues {
            queue.interrupts_changed(shared);
        }
    }

    /// See [`QueueSlot::worker_pid`].
    pub fn worker_pid(&self, index: u32) -> Option<u32> {
        self.queues.get(usize::try_from(index).ok()?)?.worker_pid()
    }

    fn set_status_page(&mut self, gpa: u64, shared: &Arc<DeviceShared>) {
        if let Some(mut heartbeat) = self.heartbeat.take() {
            heartbeat.stop();
        }
        self.status_page = 0;
        if gpa == 0 {
            tracing::info!("status page turned off");
            return;
        }
        if !Heartbeat::page_is_valid(shared, gpa) {
            tracing::warn!(
                status_page = format_args!("{gpa:#x}"),
                "status page misaligned or outside guest RAM; heartbeat off"
            );
            return;
        }
        match Heartbeat::start(shared.clone(), gpa) {
            Ok(heartbeat) => {
                self.status_page = gpa;
                self.heartbeat = Some(heartbeat);
            }
            Err(error) => tracing::error!(%error, "cannot start heartbeat thread"),
        }
    }

    /// DEVICE_CONTROL.RESET: every queue disabled and cleared, status page
    /// forgotten, interrupt causes cleared.
    pub fn reset(&mut self, shared: &DeviceShared) {
        for queue in &mut self.queues {
            queue.reset();
        }
        if let Some(mut heartbeat) = self.heartbeat.take() {
            heartbeat.stop();
        }
        self.status_page = 0;
        self.status_page_low = 0;
        shared.irq_status.store(0, Ordering::Release);
        crate::fault::device_reset();
    }
}
