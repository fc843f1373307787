//! What the vfio-user server drives: the [`DeviceBackend`] trait, its
//! implementation over [`Device`] and [`EventfdInterrupts`], and the region
//! and IRQ tables QEMU discovers.
//!
//! Every method answers `Err(errno)` when it did not do what was asked
//! (a DMA map that is refused, for one): the server sends that errno to
//! QEMU in an error reply. Requests the device deliberately ignores (a map
//! without a descriptor, a read-only map, masking) are answered `Ok`.

use super::wire::{Errno, MAX_DMA_MAPS};
use crate::config_space::CONFIG_SPACE_SIZE;
use crate::device::Device;
use crate::irq::EventfdInterrupts;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use vfio_bindings::bindings::vfio::{
    VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL,
    VFIO_IRQ_INFO_EVENTFD, VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX,
    VFIO_PCI_ERR_IRQ_INDEX, VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_NUM_IRQS,
    VFIO_PCI_NUM_REGIONS, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};

bitflags::bitflags! {
    /// `VFIO_DMA_MAP_FLAG_*` of a DMA_MAP.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct DmaMapFlags: u32 {
        /// The device may read the range.
        const READ = VFIO_DMA_MAP_FLAG_READ;
        /// The device may write the range.
        const WRITE = VFIO_DMA_MAP_FLAG_WRITE;
        /// Both.
        const READ_WRITE = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    }

    /// `VFIO_DMA_UNMAP_FLAG_*` of a DMA_UNMAP.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct DmaUnmapFlags: u32 {
        /// Every mapping, whatever the range (what QEMU sends as
        /// `VFIO_DMA_UNMAP_FLAG_ALL`).
        const ALL = VFIO_DMA_UNMAP_FLAG_ALL;
    }
}

/// A device as the vfio-user server sees it. Arguments are already checked
/// against the [`Tables`] (region bounds, IRQ ranges, descriptor counts).
pub trait DeviceBackend {
    /// Reads `data.len()` bytes of region `region` at `offset`.
    fn region_read(&mut self, region: u32, offset: u64, data: &mut [u8]) -> Result<(), Errno>;
    /// Writes `data` to region `region` at `offset`.
    fn region_write(&mut self, region: u32, offset: u64, data: &[u8]) -> Result<(), Errno>;
    /// Maps guest memory `[address, address + size)`, backed by `fd` from
    /// `offset` when one came.
    fn dma_map(
        &mut self,
        flags: DmaMapFlags,
        offset: u64,
        address: u64,
        size: u64,
        fd: Option<File>,
    ) -> Result<(), Errno>;
    /// Unmaps guest memory.
    fn dma_unmap(&mut self, flags: DmaUnmapFlags, address: u64, size: u64) -> Result<(), Errno>;
    /// Resets the device.
    fn reset(&mut self) -> Result<(), Errno>;
    /// Applies a SET_IRQS (`fds`: its eventfds).
    fn set_irqs(
        &mut self,
        index: u32,
        flags: u32,
        start: u32,
        count: u32,
        fds: Vec<File>,
    ) -> Result<(), Errno>;
    /// The connection ended.
    fn disconnect(&mut self);
}

/// One region as DEVICE_GET_REGION_INFO reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// Bytes (0: absent).
    pub size: u64,
}

/// One IRQ index as DEVICE_GET_IRQ_INFO reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq {
    /// `VFIO_IRQ_INFO_*`.
    pub flags: u32,
    /// Vectors (0: absent).
    pub count: u32,
}

/// What QEMU discovers of the device: regions and IRQ indices, by index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    /// By region index.
    pub regions: Vec<Region>,
    /// By IRQ index.
    pub irqs: Vec<Irq>,
}

impl Tables {
    /// The VGPU-STUB's tables ([`regions`], [`irqs`]).
    pub fn vgpu() -> Self {
        Self {
            regions: regions(),
            irqs: irqs(),
        }
    }
}

/// The nine PCI regions: BAR0 (trapped register file), config space; the
/// rest empty.
pub fn regions() -> Vec<Region> {
    (0..VFIO_PCI_NUM_REGIONS)
        .map(|index| {
            let size = match index {
                VFIO_PCI_BAR0_REGION_INDEX => uapi::pci::REGS_BAR_SIZE,
                VFIO_PCI_CONFIG_REGION_INDEX => CONFIG_SPACE_SIZE as u64,
                _ => 0,
            };
            let flags = if size > 0 {
                VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE
            } else {
                0
            };
            Region { flags, size }
        })
        .collect()
}

/// The five PCI IRQ indices: INTx (1), MSI (`NUM_IRQ_VECTORS`), no MSI-X,
/// ERR (1, silences a QEMU warning), no REQ.
pub fn irqs() -> Vec<Irq> {
    (0..VFIO_PCI_NUM_IRQS)
        .map(|index| {
            let count = match index {
                VFIO_PCI_INTX_IRQ_INDEX | VFIO_PCI_ERR_IRQ_INDEX => 1,
                VFIO_PCI_MSI_IRQ_INDEX => uapi::pci::NUM_IRQ_VECTORS,
                _ => 0,
            };
            let flags = if count > 0 { VFIO_IRQ_INFO_EVENTFD } else { 0 };
            Irq { flags, count }
        })
        .collect()
}

/// Whether `file` backs `size` bytes from `offset`: a mapping past its end
/// would raise SIGBUS in vgpu-host at the device's first access there. A
/// file not sealed against shrinking could still be truncated later by the
/// peer (QEMU seals its memfds by default); that is logged.
fn check_backing(file: &File, offset: u64, size: u64) -> Result<(), String> {
    let len = file.metadata().map_err(|e| format!("fstat: {e}"))?.len();
    let end = offset
        .checked_add(size)
        .ok_or_else(|| "offset + size overflows".to_string())?;
    if end > len {
        return Err(format!(
            "the file has {len:#x} bytes, the map needs {end:#x}"
        ));
    }
    // SAFETY: F_GET_SEALS only reads the flags of a descriptor we own.
    let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 || seals & libc::F_SEAL_SHRINK == 0 {
        tracing::debug!("DMA map of a file not sealed against shrinking");
    }
    Ok(())
}

/// Forwards vfio-user requests to the device.
pub struct Backend {
    device: Arc<Device>,
    interrupts: Arc<EventfdInterrupts>,
}

impl Backend {
    /// A backend for `device`, whose interrupt sink is `interrupts`.
    pub fn new(device: Arc<Device>, interrupts: Arc<EventfdInterrupts>) -> Self {
        Self { device, interrupts }
    }
}

impl DeviceBackend for Backend {
    fn region_read(&mut self, region: u32, offset: u64, data: &mut [u8]) -> Result<(), Errno> {
        self.device.region_read(region, offset, data);
        Ok(())
    }

    fn region_write(&mut self, region: u32, offset: u64, data: &[u8]) -> Result<(), Errno> {
        self.device.region_write(region, offset, data);
        Ok(())
    }

    fn dma_map(
        &mut self,
        flags: DmaMapFlags,
        offset: u64,
        address: u64,
        size: u64,
        fd: Option<File>,
    ) -> Result<(), Errno> {
        let range = format_args!("{address:#x}+{size:#x}");
        let Some(file) = fd else {
            // RAM QEMU cannot share (ROMs, VGA memory) arrives without an
            // fd; the device never reaches it.
            tracing::debug!(%range, ?flags, "DMA map without fd ignored");
            return Ok(());
        };
        if !flags.contains(DmaMapFlags::READ_WRITE) {
            tracing::debug!(%range, ?flags, "read-only DMA map ignored");
            return Ok(());
        }
        if let Err(why) = check_backing(&file, offset, size) {
            tracing::warn!(%range, offset = format_args!("{offset:#x}"), %why, "DMA map refused");
            return Err(Errno::EINVAL);
        }
        let mapped = self.device.guest_memory().region_count();
        if mapped >= MAX_DMA_MAPS {
            tracing::warn!(%range, mapped, "DMA map refused: too many mappings");
            return Err(Errno::ENOSPC);
        }
        match self.device.dma_map(address, size, file, offset) {
            Ok(()) => {
                tracing::info!(%range, offset = format_args!("{offset:#x}"), "guest RAM mapped");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "DMA map failed");
                Err(Errno::EINVAL)
            }
        }
    }

    fn dma_unmap(&mut self, flags: DmaUnmapFlags, address: u64, size: u64) -> Result<(), Errno> {
        if flags.contains(DmaUnmapFlags::ALL) {
            self.device.dma_unmap_all();
            tracing::info!("all guest RAM unmapped");
        } else {
            // A range never mapped (a ROM or an fd-less map ignored above)
            // is not an error: QEMU unmaps what it mapped.
            let removed = self.device.dma_unmap(address, size);
            tracing::info!(
                range = format_args!("{address:#x}+{size:#x}"),
                removed,
                "guest RAM unmapped"
            );
        }
        Ok(())
    }

    fn reset(&mut self) -> Result<(), Errno> {
        tracing::info!("device reset by the VMM");
        self.device.reset();
        Ok(())
    }

    fn set_irqs(
        &mut self,
        index: u32,
        flags: u32,
        start: u32,
        count: u32,
        fds: Vec<File>,
    ) -> Result<(), Errno> {
        self.interrupts.set_irqs(index, flags, start, count, fds);
        self.device.interrupts_changed();
        Ok(())
    }

    /// The VMM went away: reset the device and forget RAM and eventfds.
    fn disconnect(&mut self) {
        self.device.disconnect();
        self.interrupts.clear();
        self.device.interrupts_changed();
    }
}
