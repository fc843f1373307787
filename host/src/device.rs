//! The device model as a whole: PCI config space, BAR0, guest RAM.
//!
//! [`Device`] is what the vfio-user backend forwards to, one method per
//! message, and what tests drive directly. Region accesses take the device
//! lock; queue workers never do (a worker process cannot).

use crate::config_space::ConfigSpace;
use crate::executor::registry::ClientRegistry;
use crate::executor::Executor;
use crate::guest_memory::{GuestMemory, GuestRam, MemoryError, Retired};
use crate::irq::InterruptSink;
use crate::regs::{Identification, RegisterFile};
use crate::shared::{DeviceShared, Limits};
use crate::worker::Sessions;
use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use uapi::pci::REGS_BAR_SIZE;
use vfio_bindings::bindings::vfio::{VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX};

/// How long a change of guest RAM waits for the commands still using RAM
/// it removed (review L2) before it is reported done anyway. Commands end
/// in micro- to milliseconds; one that runs longer (a long kernel) keeps
/// writing the old mapping, which stays mapped in this process, so only
/// the RAM QEMU let go of can see it.
// TIMEOUT: long enough for any ordinary command, short enough that QEMU,
// which waits for the reply, is not held up for long.
pub const UNMAP_FENCE: Duration = Duration::from_secs(2);

/// Settings of a device instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceOptions {
    /// What the identification registers read.
    pub ident: Identification,
    /// Advertised limits.
    pub limits: Limits,
    /// The VM's quotas: `max_clients` caps the queues advertised
    /// (`MAX_QUEUES`, so the guest driver refuses the next open itself),
    /// `queue_depth` the ring depth, the rest is the workers' to enforce.
    pub quotas: crate::quota::Quotas,
}

struct DeviceState {
    config_space: ConfigSpace,
    registers: RegisterFile,
}

/// The VGPU-STUB device.
pub struct Device {
    shared: Arc<DeviceShared>,
    state: Mutex<DeviceState>,
}

impl Device {
    /// A device in its power-on state with no guest RAM, whose clients are
    /// served by threads of this process on `executor`.
    pub fn new(
        options: DeviceOptions,
        executor: Arc<dyn Executor>,
        interrupts: Arc<dyn InterruptSink>,
    ) -> Self {
        Self::with_sessions(options, Sessions::Threads(executor), interrupts)
    }

    /// A device in its power-on state with no guest RAM, whose clients are
    /// served as `sessions` says (worker processes in the binary).
    pub fn with_sessions(
        options: DeviceOptions,
        sessions: Sessions,
        interrupts: Arc<dyn InterruptSink>,
    ) -> Self {
        let quotas = options.quotas;
        let limits = Limits {
            max_queues: options
                .limits
                .max_queues
                .min(uapi::regs::QUEUE_LIMIT)
                .min(quotas.max_clients),
            max_queue_depth: options.limits.max_queue_depth.min(quotas.queue_depth),
            ..options.limits
        };
        let shared = Arc::new(DeviceShared {
            ram: Arc::new(GuestRam::new()),
            interrupts,
            irq_status: AtomicU32::new(0),
            sessions,
            clients: ClientRegistry::with_quotas(quotas),
            limits,
            bus_master: AtomicBool::new(false),
        });
        Self {
            state: Mutex::new(DeviceState {
                config_space: ConfigSpace::new(),
                registers: RegisterFile::new(options.ident, limits.max_queues),
            }),
            shared,
        }
    }

    fn lock(&self) -> MutexGuard<'_, DeviceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads `data.len()` bytes of vfio region `region` at `offset`.
    /// Anything the device does not implement reads as zero.
    pub fn region_read(&self, region: u32, offset: u64, data: &mut [u8]) {
        data.fill(0);
        match region {
            VFIO_PCI_CONFIG_REGION_INDEX => self.lock().config_space.read(offset, data),
            VFIO_PCI_BAR0_REGION_INDEX => {
                let Some(reg) = bar0_register(offset, data.len()) else {
                    tracing::debug!(offset, len = data.len(), "odd BAR0 read returns zero");
                    return;
                };
                let value = self.lock().registers.read(reg, &self.shared);
                tracing::trace!(
                    reg = format_args!("{reg:#x}"),
                    value = format_args!("{value:#x}"),
                    "BAR0 read"
                );
                data.copy_from_slice(&value.to_le_bytes());
            }
            _ => tracing::debug!(region, offset, "read of an empty region"),
        }
    }

    /// Writes `data` to vfio region `region` at `offset`.
    pub fn region_write(&self, region: u32, offset: u64, data: &[u8]) {
        match region {
            VFIO_PCI_CONFIG_REGION_INDEX => {
                let mut state = self.lock();
                state.config_space.write(offset, data);
                let on = state.config_space.bus_master();
                self.bus_master_changed(&state, on);
            }
            VFIO_PCI_BAR0_REGION_INDEX => {
                let (Some(reg), Ok(bytes)) =
                    (bar0_register(offset, data.len()), <[u8; 4]>::try_from(data))
                else {
                    tracing::debug!(offset, len = data.len(), "odd BAR0 write ignored");
                    return;
                };
                let value = u32::from_le_bytes(bytes);
                tracing::trace!(
                    reg = format_args!("{reg:#x}"),
                    value = format_args!("{value:#x}"),
                    "BAR0 write"
                );
                self.lock().registers.write(reg, value, &self.shared);
            }
            _ => tracing::debug!(region, offset, "write to an empty region ignored"),
        }
    }

    /// Adds a DMA mapping of guest RAM backed by `file`.
    pub fn dma_map(
        &self,
        gpa: u64,
        len: u64,
        file: File,
        file_offset: u64,
    ) -> Result<(), MemoryError> {
        let replaced = self.shared.ram.map(gpa, len, file, file_offset)?;
        self.memory_changed(replaced);
        Ok(())
    }

    /// Removes the DMA mappings overlapping `[gpa, gpa + len)`; returns how
    /// many. Returns once no command uses them (at most [`UNMAP_FENCE`]).
    pub fn dma_unmap(&self, gpa: u64, len: u64) -> usize {
        let removed = self.shared.ram.unmap(gpa, len);
        let count = removed.count();
        self.memory_changed(removed);
        count
    }

    /// Removes every DMA mapping, as [`Self::dma_unmap`] does.
    pub fn dma_unmap_all(&self) {
        let removed = self.shared.ram.unmap_all();
        self.memory_changed(removed);
    }

    /// Worker processes map guest RAM themselves: hand them the new set
    /// (each answers once its commands are done with what was removed);
    /// then wait for those answers and for this process's own commands,
    /// at most [`UNMAP_FENCE`] for all of them together. Only the updates
    /// are sent under the device lock: MMIO goes on meanwhile.
    fn memory_changed(&self, removed: Retired) {
        let fence = removed.count() != 0;
        let fences = self.lock().registers.memory_changed(&self.shared, fence);
        if !fence {
            return;
        }
        let deadline = Instant::now() + UNMAP_FENCE;
        let late: Vec<u32> = fences
            .into_iter()
            .filter_map(|f| {
                let pid = f.pid();
                (!f.wait(deadline)).then_some(pid)
            })
            .collect();
        if !late.is_empty() {
            tracing::warn!(
                fence_ms = UNMAP_FENCE.as_millis() as u64,
                workers = ?late,
                "a worker's command still uses guest RAM that was unmapped"
            );
        }
        if !removed.wait_until(deadline, || false) {
            tracing::warn!(
                fence_ms = UNMAP_FENCE.as_millis() as u64,
                "a command still uses guest RAM that was unmapped"
            );
        }
    }

    /// The interrupt eventfds changed (vfio `SET_IRQS`): hand worker
    /// processes the eventfds of their vectors.
    pub fn interrupts_changed(&self) {
        self.lock().registers.interrupts_changed(&self.shared);
    }

    /// The device's clients, with the host process serving each.
    pub fn clients(&self) -> &Arc<ClientRegistry> {
        &self.shared.clients
    }

    /// The worker process serving queue `index`, if it runs in one.
    pub fn worker_pid(&self, index: u32) -> Option<u32> {
        self.lock().registers.worker_pid(index)
    }

    /// The current view of guest RAM.
    pub fn guest_memory(&self) -> GuestMemory {
        self.shared.ram.snapshot()
    }

    /// Device reset (vfio `DEVICE_RESET`): registers and config space to
    /// power-on state; DMA mappings and eventfds stay, QEMU owns them.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.registers.reset(&self.shared);
        state.config_space = ConfigSpace::new();
        let on = state.config_space.bus_master();
        self.bus_master_changed(&state, on);
    }

    /// Follows PCI Command.BME (review L1: the heartbeat and the queues
    /// kept writing guest RAM after the guest turned bus mastering off):
    /// the heartbeat waits, and so does every queue's worker, before its
    /// next command and before it posts a completion.
    fn bus_master_changed(&self, state: &DeviceState, on: bool) {
        if self.shared.bus_master.swap(on, Ordering::AcqRel) != on {
            tracing::info!(on, "bus mastering");
            state.registers.bus_master_changed(on);
        }
    }

    /// Reset after the VMM went away: also forgets guest RAM.
    pub fn disconnect(&self) {
        self.reset();
        self.dma_unmap_all();
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Join every worker and the heartbeat before the memory goes away.
        self.lock().registers.reset(&self.shared);
    }
}

/// The register offset of an aligned 32-bit BAR0 access, if it is one.
fn bar0_register(offset: u64, len: usize) -> Option<u32> {
    (len == 4 && offset.is_multiple_of(4) && offset < REGS_BAR_SIZE).then_some(offset as u32)
}
