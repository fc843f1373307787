//! The client's host-memory file (`uapi::shm::host_op`): its pinned
//! allocations, each mapped here on the client's request and named by file
//! offset in copies, so the GPU copies from and to them in place.
//!
//! Every range is checked where it enters: page-aligned, non-empty, inside
//! the file (which is sealed against shrinking, so it stays inside and the
//! mapping cannot SIGBUS), not overlapping another, within the bounds on
//! count and bytes. A copy names a range by offset; it must lie inside one
//! mapping.

use crate::cuda::SharedSpan;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use uapi::shm::{HostRange, HOST_MAX_BYTES, HOST_MAX_MAPS, SHM_PAGE};
use uapi::status::Status;

/// The mapped ranges of one client's host-memory file.
#[derive(Debug)]
pub struct HostMaps {
    file: File,
    /// By file offset.
    maps: BTreeMap<u64, SharedSpan>,
    bytes: u64,
}

// SAFETY: the mappings are this process's, unmapped only by this value;
// the bytes are moved by copies and DMA only (`SharedSpan`).
unsafe impl Send for HostMaps {}

/// Whether `file` is a host-memory file we accept: sealed against shrinking.
pub fn acceptable(file: &File) -> bool {
    // SAFETY: a plain query on a descriptor we own.
    let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_SHRINK != 0
}

impl HostMaps {
    /// Over `file` (checked by [`acceptable`]).
    pub fn new(file: File) -> Self {
        Self {
            file,
            maps: BTreeMap::new(),
            bytes: 0,
        }
    }

    /// Maps `r`; returns its span in this process.
    pub fn map(&mut self, r: &HostRange) -> Result<SharedSpan, Status> {
        let end = r.offset.checked_add(r.len).ok_or(Status::InvalidField)?;
        let size = self
            .file
            .metadata()
            .map_err(|_| Status::InvalidField)?
            .len();
        let overlaps = self
            .maps
            .range(..end)
            .next_back()
            .is_some_and(|(&o, s)| o + s.len() as u64 > r.offset);
        let valid = r.len > 0
            && r.offset.is_multiple_of(SHM_PAGE)
            && r.len.is_multiple_of(SHM_PAGE)
            && end <= size
            && !overlaps
            && self.maps.len() < HOST_MAX_MAPS
            && self.bytes + r.len <= HOST_MAX_BYTES;
        let len = usize::try_from(r.len).map_err(|_| Status::InvalidField)?;
        let offset = libc::off_t::try_from(r.offset).map_err(|_| Status::InvalidField)?;
        if !valid {
            return Err(Status::InvalidField);
        }
        // SAFETY: a fresh shared mapping of `len` bytes of the file inside
        // its size (checked above; it cannot shrink); the kernel picks the
        // address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                offset,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Status::ExecutorError);
        }
        let ptr = NonNull::new(ptr.cast()).ok_or(Status::ExecutorError)?;
        // SAFETY: the mapping just made, unmapped only by `unmap` or drop.
        let span = unsafe { SharedSpan::new(ptr, len) };
        self.maps.insert(r.offset, span);
        self.bytes += r.len;
        Ok(span)
    }

    /// The mapping of exactly `r`, removed from the table: the caller
    /// unregisters it, then hands it to [`Self::unmap`].
    pub fn take(&mut self, r: &HostRange) -> Option<SharedSpan> {
        let span = *self.maps.get(&r.offset)?;
        if span.len() as u64 != r.len {
            return None;
        }
        self.maps.remove(&r.offset);
        self.bytes -= r.len;
        Some(span)
    }

    /// Unmaps a span [`Self::take`] gave.
    pub fn unmap(&mut self, span: SharedSpan) {
        // SAFETY: a mapping made by `map` and taken out of the table, used
        // by nobody after this.
        unsafe { libc::munmap(span.as_ptr().cast(), span.len()) };
    }

    /// The `len` bytes at file offset `offset`, if inside one mapping.
    pub fn span(&self, offset: u64, len: u64) -> Option<SharedSpan> {
        let (&base, map) = self.maps.range(..=offset).next_back()?;
        let end = offset.checked_add(len)?;
        if end > base + map.len() as u64 {
            return None;
        }
        let ptr = NonNull::new(map.as_ptr().wrapping_add((offset - base) as usize))?;
        // SAFETY: inside a live mapping (checked above).
        Some(unsafe { SharedSpan::new(ptr, len as usize) })
    }

    /// Every mapped span (for unregistering them all at the end).
    pub fn spans(&self) -> Vec<SharedSpan> {
        self.maps.values().copied().collect()
    }
}

impl Drop for HostMaps {
    fn drop(&mut self) {
        for span in self.maps.values() {
            // SAFETY: mappings made by `map`, used by nobody after this.
            unsafe { libc::munmap(span.as_ptr().cast(), span.len()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, seals: i32) -> File {
        // SAFETY: plain system calls on a fresh descriptor we own.
        unsafe {
            let fd = libc::memfd_create(
                c"vgpu-test-host".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            );
            assert!(fd >= 0);
            assert_eq!(libc::ftruncate(fd, size as i64), 0);
            if seals != 0 {
                assert_eq!(libc::fcntl(fd, libc::F_ADD_SEALS, seals), 0);
            }
            std::os::fd::FromRawFd::from_raw_fd(fd)
        }
    }

    fn range(offset: u64, len: u64) -> HostRange {
        HostRange { offset, len }
    }

    #[test]
    fn ranges_are_checked_where_they_enter() {
        assert!(
            !acceptable(&file(4096, 0)),
            "must be sealed against shrinking"
        );
        let f = file(16 * 4096, libc::F_SEAL_SHRINK);
        assert!(acceptable(&f));
        let mut maps = HostMaps::new(f);
        let a = maps.map(&range(4096, 8192)).expect("valid");
        for bad in [
            range(0, 0),
            range(100, 4096),
            range(0, 4000),
            range(12 * 4096, 8 * 4096),
            range(u64::MAX - 4095, 8192),
            range(0, 8192),
            range(8192, 4096),
        ] {
            assert_eq!(maps.map(&bad), Err(Status::InvalidField), "{bad:?}");
        }
        maps.map(&range(3 * 4096, 4096)).expect("adjacent");
        a.write_from(&vec![9u8; 8192]);
        let inner = maps.span(4096 + 100, 1000).expect("inside");
        let mut out = vec![0u8; 1000];
        inner.read_into(&mut out);
        assert_eq!(out, vec![9u8; 1000]);
        assert!(maps.span(4096 + 100, 8192).is_none(), "crosses the end");
        assert!(maps.span(0, 1).is_none(), "not mapped");
        assert!(
            maps.take(&range(4096, 4096)).is_none(),
            "not the whole range"
        );
        let taken = maps.take(&range(4096, 8192)).expect("mapped");
        maps.unmap(taken);
        assert!(maps.span(4096, 1).is_none());
        assert_eq!(maps.spans().len(), 1);
    }
}
