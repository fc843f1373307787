//! The client page: one page of shared memory per client (queue or socket
//! connection) that the device process and the client's worker both map.
//!
//! It carries what the register file reads and the worker writes without a
//! message: the queue's STATUS, the doorbell tail, the stop request, the
//! interrupt causes the worker raised, whether the guest lets the device
//! master the bus, and what the device registry lists
//! (the client's pid and the memory it holds). Every field is an atomic, so
//! either side may be another process.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use uapi::regs::queue::status as qstatus;

/// Size of the page (and of the memfd behind it).
pub const PAGE_SIZE: usize = 4096;

/// The fields, at fixed offsets in the page.
#[repr(C)]
#[derive(Debug)]
pub struct PageFields {
    /// The queue's STATUS register.
    pub status: AtomicU32,
    /// The last submission tail written to the doorbell.
    pub doorbell: AtomicU32,
    /// Non-zero once the client is being stopped.
    pub stop: AtomicU32,
    /// `IRQ_STATUS` causes the worker set (COMPLETION, QUEUE_ERROR).
    pub irq_cause: AtomicU32,
    /// The client's process id in the guest (0 until it says).
    pub pid: AtomicU32,
    /// Non-zero while the guest keeps bus mastering off (PCI Command.BME):
    /// the worker then neither reads nor writes guest RAM (review L1).
    pub dma_off: AtomicU32,
    /// Device memory the client holds, bytes.
    pub used: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<PageFields>() <= PAGE_SIZE);

/// A mapped client page.
#[derive(Debug)]
pub struct ClientPage {
    fields: NonNull<PageFields>,
    file: File,
}

// SAFETY: the mapping is shared memory accessed only through atomics; it
// stays mapped until the page is dropped.
unsafe impl Send for ClientPage {}
// SAFETY: as above; `&ClientPage` only hands out `&PageFields` (atomics).
unsafe impl Sync for ClientPage {}

impl ClientPage {
    /// A fresh page (zeroed, so STATUS reads DISABLED) over a new memfd.
    pub fn new() -> std::io::Result<Self> {
        let file = crate::guest_memory::memfd("vgpu-client-page", PAGE_SIZE as u64)?;
        Self::from_file(file)
    }

    /// Maps the page another process created (the worker's side).
    pub fn from_file(file: File) -> std::io::Result<Self> {
        if file.metadata()?.len() < PAGE_SIZE as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "client page file is too small",
            ));
        }
        // SAFETY: a fresh shared mapping of a file of at least PAGE_SIZE
        // bytes; nothing else is placed at the address the kernel picks.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let fields = NonNull::new(ptr.cast::<PageFields>())
            .ok_or_else(|| std::io::Error::other("mmap returned null"))?;
        Ok(Self { fields, file })
    }

    /// The memfd, to hand to a worker.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Stores `ERROR` with `error` in STATUS.
    pub fn set_error(&self, error: uapi::status::QueueError) {
        let value = qstatus::ERROR | ((error as u32) << qstatus::ERROR_SHIFT);
        self.status.store(value, Ordering::Release);
    }

    /// Whether the client was asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire) != 0
    }

    /// Whether the worker may touch guest RAM (bus mastering is on).
    pub fn dma_allowed(&self) -> bool {
        self.dma_off.load(Ordering::Acquire) == 0
    }
}

impl std::ops::Deref for ClientPage {
    type Target = PageFields;

    fn deref(&self) -> &PageFields {
        // SAFETY: the mapping is live, page-aligned and large enough; all
        // fields are atomics, so shared access from several processes is sound.
        unsafe { self.fields.as_ref() }
    }
}

impl Drop for ClientPage {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `from_file`; no
        // reference into it outlives `self`.
        unsafe {
            libc::munmap(self.fields.as_ptr().cast(), PAGE_SIZE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_see_the_same_fields() {
        let a = ClientPage::new().unwrap_or_else(|e| panic!("page: {e}"));
        let b = ClientPage::from_file(a.file().try_clone().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("map: {e}"));
        assert_eq!(a.status.load(Ordering::Acquire), qstatus::DISABLED);
        a.used.store(1 << 33, Ordering::Release);
        b.doorbell.store(7, Ordering::Release);
        assert_eq!(b.used.load(Ordering::Acquire), 1 << 33);
        assert_eq!(a.doorbell.load(Ordering::Acquire), 7);
        b.set_error(uapi::status::QueueError::ExecutorLost);
        assert_eq!(
            a.status.load(Ordering::Acquire) & qstatus::STATE_MASK,
            qstatus::ERROR
        );
    }

    #[test]
    fn a_short_file_is_refused() {
        let file = crate::guest_memory::memfd("short", 16).unwrap_or_else(|e| panic!("{e}"));
        assert!(ClientPage::from_file(file).is_err());
    }
}
