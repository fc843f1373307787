//! Interrupt delivery: the [`InterruptSink`] the device raises vectors on,
//! and its vfio-user implementation over the eventfds QEMU sends.

use std::fs::File;
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use vfio_bindings::bindings::vfio::{
    VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_TYPE_MASK, VFIO_IRQ_SET_DATA_EVENTFD,
    VFIO_IRQ_SET_DATA_NONE, VFIO_IRQ_SET_DATA_TYPE_MASK, VFIO_PCI_INTX_IRQ_INDEX,
    VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX,
};

/// Where the device sends interrupts.
pub trait InterruptSink: Send + Sync {
    /// Raises interrupt vector `vector` (edge-triggered).
    fn raise(&self, vector: u32);

    /// A descriptor that raises `vector` when 1 is written to it, for a
    /// worker process to raise it itself; `None` if there is none.
    fn eventfd(&self, _vector: u32) -> Option<File> {
        None
    }
}

/// Most eventfds kept per IRQ index (PCI MSI allows 32, MSI-X 2048).
const MAX_VECTORS_PER_INDEX: u32 = 2048;

/// The eventfds of one vfio IRQ index, by sub-index.
type EventfdTable = Vec<Option<File>>;

#[derive(Debug, Default)]
struct IrqFds {
    intx: EventfdTable,
    msi: EventfdTable,
    msix: EventfdTable,
}

/// Interrupts delivered by writing QEMU's eventfds.
#[derive(Debug, Default)]
pub struct EventfdInterrupts {
    fds: Mutex<IrqFds>,
}

impl EventfdInterrupts {
    /// No eventfds yet: raises are dropped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a vfio `SET_IRQS` request. Only `ACTION_TRIGGER` is acted on;
    /// `count == 0` or `DATA_NONE` with `count == 0` disables the index.
    pub fn set_irqs(&self, index: u32, flags: u32, start: u32, count: u32, fds: Vec<File>) {
        let action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
        let data = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
        if action != VFIO_IRQ_SET_ACTION_TRIGGER {
            tracing::debug!(index, flags, start, count, "SET_IRQS mask/unmask ignored");
            return;
        }
        let mut all = self.fds.lock().unwrap_or_else(PoisonError::into_inner);
        let table = match index {
            VFIO_PCI_INTX_IRQ_INDEX => &mut all.intx,
            VFIO_PCI_MSI_IRQ_INDEX => &mut all.msi,
            VFIO_PCI_MSIX_IRQ_INDEX => &mut all.msix,
            _ => {
                tracing::debug!(
                    index,
                    "SET_IRQS for an index the device never raises; ignored"
                );
                return;
            }
        };
        if count == 0 {
            table.clear();
            tracing::info!(index, "interrupts disabled");
            return;
        }
        if data == VFIO_IRQ_SET_DATA_NONE {
            tracing::debug!(index, start, count, "SET_IRQS loopback trigger ignored");
            return;
        }
        if data != VFIO_IRQ_SET_DATA_EVENTFD {
            tracing::warn!(index, flags, "SET_IRQS with unsupported data type ignored");
            return;
        }
        let Some(end) = start
            .checked_add(count)
            .filter(|&e| e <= MAX_VECTORS_PER_INDEX)
        else {
            tracing::warn!(index, start, count, "SET_IRQS range too large; ignored");
            return;
        };
        if table.len() < end as usize {
            table.resize_with(end as usize, || None);
        }
        let mut fds = fds.into_iter();
        for slot in table.iter_mut().take(end as usize).skip(start as usize) {
            // Fewer fds than `count` de-assigns the remaining vectors.
            *slot = fds.next();
        }
        tracing::info!(index, start, count, "interrupt eventfds set");
    }

    /// Forgets every eventfd.
    pub fn clear(&self) {
        *self.fds.lock().unwrap_or_else(PoisonError::into_inner) = IrqFds::default();
    }
}

fn slot(table: &EventfdTable, vector: u32) -> Option<&File> {
    table.get(vector as usize).and_then(Option::as_ref)
}

fn signal(fd: &File, index: &str, vector: u32) {
    let mut writer = fd;
    if let Err(error) = writer.write_all(&1u64.to_ne_bytes()) {
        tracing::warn!(%error, index, vector, "cannot write interrupt eventfd");
    }
}

impl InterruptSink for EventfdInterrupts {
    fn eventfd(&self, vector: u32) -> Option<File> {
        let fds = self.fds.lock().unwrap_or_else(PoisonError::into_inner);
        let fd = slot(&fds.msix, vector)
            .or_else(|| slot(&fds.msi, vector))
            .or_else(|| fds.intx.first().and_then(Option::as_ref))?;
        fd.try_clone()
            .map_err(|error| tracing::warn!(%error, vector, "cannot share an interrupt eventfd"))
            .ok()
    }

    fn raise(&self, vector: u32) {
        let fds = self.fds.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fd) = slot(&fds.msix, vector) {
            signal(fd, "MSI-X", vector);
        } else if let Some(fd) = slot(&fds.msi, vector) {
            signal(fd, "MSI", vector);
        } else if let Some(fd) = fds.intx.first().and_then(Option::as_ref) {
            signal(fd, "INTx", 0);
        } else {
            tracing::trace!(vector, "no interrupt eventfd; interrupt dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::FromRawFd;

    fn eventfd() -> File {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        assert!(fd >= 0, "eventfd failed");
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        unsafe { File::from_raw_fd(fd) }
    }

    fn count(fd: &mut File) -> u64 {
        let mut buf = [0u8; 8];
        match fd.read(&mut buf) {
            Ok(8) => u64::from_ne_bytes(buf),
            _ => 0,
        }
    }

    #[test]
    fn msi_preferred_over_intx_and_disable_works() {
        let irqs = EventfdInterrupts::new();
        let mut intx = eventfd();
        let mut msi = eventfd();
        let trigger = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
        irqs.set_irqs(
            VFIO_PCI_INTX_IRQ_INDEX,
            trigger,
            0,
            1,
            vec![intx.try_clone().unwrap_or_else(|e| panic!("{e}"))],
        );
        irqs.raise(0);
        assert_eq!(count(&mut intx), 1);
        irqs.set_irqs(
            VFIO_PCI_MSI_IRQ_INDEX,
            trigger,
            0,
            1,
            vec![msi.try_clone().unwrap_or_else(|e| panic!("{e}"))],
        );
        irqs.raise(0);
        irqs.raise(0);
        assert_eq!(count(&mut msi), 2);
        assert_eq!(count(&mut intx), 0);
        irqs.set_irqs(
            VFIO_PCI_MSI_IRQ_INDEX,
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
            0,
            0,
            vec![],
        );
        irqs.raise(0);
        assert_eq!(count(&mut msi), 0);
        assert_eq!(count(&mut intx), 1);
    }
}
