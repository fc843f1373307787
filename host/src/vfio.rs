//! The vfio-user transport: a thin [`ServerBackend`] over [`Device`], the
//! region and IRQ tables QEMU discovers, and the serve loop.
//!
//! The crate replies to a backend error with error code 0, which QEMU reads
//! as success, so no backend method ever fails: problems are logged and
//! answered with `Ok`.

use crate::config_space::CONFIG_SPACE_SIZE;
use crate::device::Device;
use crate::irq::EventfdInterrupts;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vfio_bindings::bindings::vfio::{
    vfio_region_info, VFIO_IRQ_INFO_EVENTFD, VFIO_PCI_BAR0_REGION_INDEX,
    VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ERR_IRQ_INDEX, VFIO_PCI_INTX_IRQ_INDEX,
    VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_NUM_IRQS, VFIO_PCI_NUM_REGIONS, VFIO_REGION_INFO_FLAG_READ,
    VFIO_REGION_INFO_FLAG_WRITE,
};
use vfio_user::{DmaMapFlags, DmaUnmapFlags, IrqInfo, Server, ServerBackend, ServerRegion};

/// The nine PCI regions: BAR0 (trapped register file), config space; the
/// rest empty.
pub fn regions() -> Vec<ServerRegion> {
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
            ServerRegion {
                region_info: vfio_region_info {
                    argsz: core::mem::size_of::<vfio_region_info>() as u32,
                    flags,
                    index,
                    cap_offset: 0,
                    size,
                    offset: 0,
                },
                sparse_areas: Vec::new(),
                mmap_fd: None,
            }
        })
        .collect()
}

/// The five PCI IRQ indices: INTx (1), MSI (`NUM_IRQ_VECTORS`), no MSI-X,
/// ERR (1, silences a QEMU warning), no REQ.
pub fn irqs() -> Vec<IrqInfo> {
    (0..VFIO_PCI_NUM_IRQS)
        .map(|index| {
            let count = match index {
                VFIO_PCI_INTX_IRQ_INDEX | VFIO_PCI_ERR_IRQ_INDEX => 1,
                VFIO_PCI_MSI_IRQ_INDEX => uapi::pci::NUM_IRQ_VECTORS,
                _ => 0,
            };
            let flags = if count > 0 { VFIO_IRQ_INFO_EVENTFD } else { 0 };
            IrqInfo {
                index,
                flags,
                count,
            }
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

/// Forwards vfio-user messages to the device.
pub struct Backend {
    device: Arc<Device>,
    interrupts: Arc<EventfdInterrupts>,
}

impl Backend {
    /// A backend for `device`, whose interrupt sink is `interrupts`.
    pub fn new(device: Arc<Device>, interrupts: Arc<EventfdInterrupts>) -> Self {
        Self { device, interrupts }
    }

    /// The VMM went away: reset the device and forget RAM and eventfds.
    pub fn disconnect(&mut self) {
        self.device.disconnect();
        self.interrupts.clear();
        self.device.interrupts_changed();
    }
}

impl ServerBackend for Backend {
    fn region_read(&mut self, region: u32, offset: u64, data: &mut [u8]) -> std::io::Result<()> {
        self.device.region_read(region, offset, data);
        Ok(())
    }

    fn region_write(&mut self, region: u32, offset: u64, data: &[u8]) -> std::io::Result<()> {
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
    ) -> std::io::Result<()> {
        let range = format_args!("{address:#x}+{size:#x}");
        let Some(file) = fd else {
            // ROMs and the device's own BARs arrive without an fd.
            tracing::debug!(%range, ?flags, "DMA map without fd ignored");
            return Ok(());
        };
        if !flags.contains(DmaMapFlags::READ_WRITE) {
            tracing::debug!(%range, ?flags, "read-only DMA map ignored");
            return Ok(());
        }
        if let Err(why) = check_backing(&file, offset, size) {
            tracing::warn!(%range, offset = format_args!("{offset:#x}"), %why, "DMA map refused");
            return Ok(());
        }
        match self.device.dma_map(address, size, file, offset) {
            Ok(()) => {
                tracing::info!(%range, offset = format_args!("{offset:#x}"), "guest RAM mapped")
            }
            Err(error) => tracing::warn!(%error, "DMA map failed"),
        }
        Ok(())
    }

    fn dma_unmap(&mut self, flags: DmaUnmapFlags, address: u64, size: u64) -> std::io::Result<()> {
        if flags.contains(DmaUnmapFlags::UNMAP_ALL) {
            self.device.dma_unmap_all();
            tracing::info!("all guest RAM unmapped");
        } else {
            let removed = self.device.dma_unmap(address, size);
            tracing::info!(
                range = format_args!("{address:#x}+{size:#x}"),
                removed,
                "guest RAM unmapped"
            );
        }
        Ok(())
    }

    fn reset(&mut self) -> std::io::Result<()> {
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
    ) -> std::io::Result<()> {
        self.interrupts.set_irqs(index, flags, start, count, fds);
        self.device.interrupts_changed();
        Ok(())
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The socket path exists and `--force` was not given.
    #[error("socket {0} already exists; remove it or pass --force")]
    Exists(String),
    /// The path exists and is not a socket, so `--force` will not remove it.
    #[error("{0} exists and is not a socket; refusing to remove it")]
    NotASocket(String),
    /// Removing the stale socket failed.
    #[error("cannot remove stale socket {path}: {source}")]
    Remove {
        /// The socket.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The crate refused to bind.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        /// The socket.
        path: String,
        /// Why.
        source: vfio_user::Error,
    },
}

/// Binds the vfio-user socket at `path`, first removing a stale socket
/// there if `force`.
pub fn listen(path: &Path, force: bool) -> Result<Server, ListenError> {
    let shown = path.display().to_string();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !force {
            return Err(ListenError::Exists(shown));
        }
        if !meta.file_type().is_socket() {
            return Err(ListenError::NotASocket(shown));
        }
        std::fs::remove_file(path).map_err(|source| ListenError::Remove {
            path: shown.clone(),
            source,
        })?;
        tracing::warn!(socket = %shown, "removed stale socket");
    }
    Server::new(path, true, irqs(), regions()).map_err(|source| ListenError::Bind {
        path: shown,
        source,
    })
}

/// Serves one VMM connection after another until `stop` is set (checked
/// between connections).
pub fn serve(server: &Server, backend: &mut Backend, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        tracing::info!("waiting for a vfio-user connection");
        match server.run(backend) {
            Ok(()) => tracing::info!("vfio-user client disconnected"),
            Err(error) => tracing::warn!(%error, "vfio-user connection ended with an error"),
        }
        backend.disconnect();
    }
}
