//! Which guest addresses are CUDA memory. Unified addressing rests on it:
//! a pointer inside a live device range is device memory, anything else is
//! host memory (`cuMemcpy`, `CU_MEMORYTYPE_UNIFIED`, pointer attributes).
//!
//! - device ranges: `cuMemAlloc`/`cuMemAllocPitch` allocations, module
//!   globals, stream-ordered (pool) allocations;
//! - host ranges: `cuMemHostAlloc`/`cuMemAllocHost` allocations and
//!   `cuMemHostRegister`ed memory.
//!
//! Device addresses are the host GPU's, and nothing keeps this process from
//! having memory at the same numbers. So each device range's pages are
//! reserved (`PROT_NONE`, no backing) in this process when the range is
//! learnt, as NVIDIA's driver reserves its UVA ranges: no later mapping of
//! the process lands there. A range that already overlaps a mapping of the
//! process is logged; pointers into it count as device memory.
//! Reservations outlive the ranges (the host reuses its device addresses,
//! and a reservation costs no memory) and survive `fork` (the child
//! inherits the mappings), so they are kept outside [`Registry`].

use std::{collections::BTreeMap, sync::Mutex};

use uapi::cuda::result;

use super::super::CuResult;

/// What a device range is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceKind {
    /// `cuMemAlloc` or `cuMemAllocPitch`.
    Alloc,
    /// A module global (guest module handle).
    Global { module: u64 },
    /// A stream-ordered allocation from the default pool.
    Pool,
    /// A `cuMemMap` mapping of an allocation handle.
    Vmm { handle: u64 },
}

/// A device range: `[base, base + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceRange {
    pub size: u64,
    /// Guest context it was allocated in.
    pub ctx: u64,
    pub kind: DeviceKind,
    /// `CU_POINTER_ATTRIBUTE_BUFFER_ID`: never reused in the process.
    pub id: u64,
    pub sync_memops: bool,
}

/// What a host range is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// `cuMemHostAlloc`/`cuMemAllocHost` (ours to free).
    Allocated,
    /// `cuMemHostRegister`ed (the caller's memory).
    Registered,
}

/// A host range: `[base, base + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostRange {
    pub size: usize,
    /// `CU_MEMHOSTALLOC_*` / `CU_MEMHOSTREGISTER_*` flags as given.
    pub flags: u32,
    /// Guest context current when it was allocated or registered.
    pub ctx: u64,
    pub kind: HostKind,
    pub id: u64,
    pub sync_memops: bool,
    /// Where the device side names it, for an allocation in the transport's
    /// shared host memory (`Transport::host_alloc`).
    pub shared: Option<crate::transport::HostBlock>,
}

/// The process's CUDA memory ranges (kept in the driver state).
#[derive(Debug)]
pub(crate) struct Registry {
    device: BTreeMap<u64, DeviceRange>,
    host: BTreeMap<usize, HostRange>,
    next_id: u64,
}

impl Registry {
    pub const fn new() -> Self {
        Self {
            device: BTreeMap::new(),
            host: BTreeMap::new(),
            next_id: 1,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Learns a device range; ranges it overlaps are stale (the host reused
    /// their addresses) and forgotten. Size 0 records nothing.
    pub fn add_device(&mut self, base: u64, size: u64, ctx: u64, kind: DeviceKind) {
        let Some(end) = base.checked_add(size).filter(|_| size > 0) else {
            return;
        };
        let stale: Vec<u64> = self
            .device
            .range(..end)
            .filter(|(&b, r)| b + r.size > base)
            .map(|(&b, _)| b)
            .collect();
        for b in stale {
            tracing::debug!("device range {b:#x} replaced by {base:#x}+{size:#x}");
            self.device.remove(&b);
        }
        let id = self.id();
        self.device.insert(
            base,
            DeviceRange {
                size,
                ctx,
                kind,
                id,
                sync_memops: false,
            },
        );
        reserve(base, size);
    }

    /// Forgets the device range starting at `base`.
    pub fn remove_device(&mut self, base: u64) -> Option<DeviceRange> {
        self.device.remove(&base)
    }

    /// The device range holding `ptr`: (base, range).
    pub fn device_containing(&self, ptr: u64) -> Option<(u64, &DeviceRange)> {
        let (&base, r) = self.device.range(..=ptr).next_back()?;
        (ptr - base < r.size).then_some((base, r))
    }

    pub fn device_mut(&mut self, base: u64) -> Option<&mut DeviceRange> {
        self.device.get_mut(&base)
    }

    /// Forgets the device ranges starting in `[start, end)` (`cuMemUnmap`).
    pub fn forget_device_in(&mut self, start: u64, end: u64) {
        let inside: Vec<u64> = self.device.range(start..end).map(|(&b, _)| b).collect();
        for b in inside {
            self.device.remove(&b);
        }
    }

    /// Forgets every device range `drop` selects.
    pub fn forget_device_where(&mut self, drop: impl Fn(&DeviceRange) -> bool) {
        self.device.retain(|_, r| !drop(r));
    }

    /// Learns a host range. Overlapping registered memory is
    /// `HOST_MEMORY_ALREADY_REGISTERED`, overlapping an allocation
    /// `INVALID_VALUE` (as NVIDIA's driver answers `cuMemHostRegister`).
    pub fn add_host(
        &mut self,
        base: usize,
        size: usize,
        flags: u32,
        ctx: u64,
        kind: HostKind,
    ) -> CuResult {
        let end = base.checked_add(size).ok_or(result::INVALID_VALUE)?;
        if let Some((_, r)) = self
            .host
            .range(..end)
            .rev()
            .find(|(&b, r)| b + r.size > base)
        {
            return Err(match r.kind {
                HostKind::Registered => result::HOST_MEMORY_ALREADY_REGISTERED,
                HostKind::Allocated => result::INVALID_VALUE,
            });
        }
        let id = self.id();
        self.host.insert(
            base,
            HostRange {
                size,
                flags,
                ctx,
                kind,
                id,
                sync_memops: false,
                shared: None,
            },
        );
        Ok(())
    }

    /// Records that the host range at `base` is `block` of shared host memory.
    pub fn set_host_shared(&mut self, base: usize, block: crate::transport::HostBlock) {
        if let Some(r) = self.host.get_mut(&base) {
            r.shared = Some(block);
        }
    }

    /// The offset of shared host memory holding `ptr..ptr+len` entirely.
    pub fn shared_host(&self, ptr: usize, len: usize) -> Option<u64> {
        let (base, r) = self.host_containing(ptr)?;
        let block = r.shared?;
        let end = ptr.checked_add(len)?;
        (end <= base + r.size).then_some(block.offset + (ptr - base) as u64)
    }

    /// Whether any byte of `ptr..ptr+len` lies in shared host memory.
    pub fn overlaps_shared_host(&self, ptr: usize, len: usize) -> bool {
        let end = ptr.saturating_add(len);
        if len == 0 {
            return false;
        }
        // Host ranges do not overlap: the one starting at or before `ptr`
        // and those starting inside the span are all that can meet it.
        let before = self.host_containing(ptr).map(|(_, r)| r);
        let inside = self.host.range(ptr..end).map(|(_, r)| r);
        before.into_iter().chain(inside).any(|r| r.shared.is_some())
    }

    /// Forgets the host range starting at `base`.
    pub fn remove_host(&mut self, base: usize) -> Option<HostRange> {
        self.host.remove(&base)
    }

    /// The host range holding `ptr`: (base, range).
    pub fn host_containing(&self, ptr: usize) -> Option<(usize, &HostRange)> {
        let (&base, r) = self.host.range(..=ptr).next_back()?;
        (ptr - base < r.size).then_some((base, r))
    }

    pub fn host_mut(&mut self, base: usize) -> Option<&mut HostRange> {
        self.host.get_mut(&base)
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Page spans of this process reserved for device ranges: start → end.
static RESERVED: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

/// Reserves the pages of `[base, base + size)` not reserved yet.
fn reserve(base: u64, size: u64) {
    const PAGE: u64 = 4096;
    let (Ok(start), Some(Ok(end))) = (
        usize::try_from(base & !(PAGE - 1)),
        base.checked_add(size)
            .and_then(|e| e.checked_next_multiple_of(PAGE))
            .map(usize::try_from),
    ) else {
        return;
    };
    let mut held = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    // The gaps of [start, end) between spans already held.
    let mut gaps = Vec::new();
    let mut at = start;
    let first = held
        .range(..start)
        .next_back()
        .map_or(start, |(_, &e)| e.max(start));
    at = at.max(first);
    for (&s, &e) in held.range(start..end) {
        if s > at {
            gaps.push((at, s));
        }
        at = at.max(e);
    }
    if at < end {
        gaps.push((at, end));
    }
    for (s, e) in gaps {
        if map_none(s, e - s) {
            held.insert(s, e);
        }
    }
}

/// `mmap(PROT_NONE)` of exactly `[addr, addr + len)`; false if the span is
/// not free (or cannot be mapped at all, e.g. below `mmap_min_addr`).
fn map_none(addr: usize, len: usize) -> bool {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; a
    // PROT_NONE anonymous mapping is never read or written.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EEXIST) {
            tracing::warn!(
                "device range {addr:#x}+{len:#x} overlaps this process's memory: \
                 pointers there count as device memory"
            );
        } else {
            tracing::debug!("cannot reserve {addr:#x}+{len:#x}: {e}");
        }
        return false;
    }
    if p as usize != addr {
        // A kernel without MAP_FIXED_NOREPLACE took the address as a hint.
        // SAFETY: the mapping just made, nobody else knows it.
        unsafe { libc::munmap(p, len) };
        tracing::debug!("cannot reserve {addr:#x}+{len:#x}: address taken");
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_found_by_any_inner_address_and_stale_ones_replaced() {
        let mut r = Registry::new();
        r.add_device(0x1000, 0x100, 7, DeviceKind::Alloc);
        r.add_device(0x2000, 0x10, 7, DeviceKind::Pool);
        assert_eq!(r.device_containing(0x10ff).map(|(b, _)| b), Some(0x1000));
        assert!(r.device_containing(0x1100).is_none(), "end is outside");
        assert!(r.device_containing(0xfff).is_none());
        let id = r.device_containing(0x1000).map(|(_, d)| d.id);
        // The host reused 0x1080: the old range is gone, the id is new.
        r.add_device(0x1080, 0x1000, 8, DeviceKind::Alloc);
        assert!(r.device_containing(0x1000).is_none());
        let (b, d) = r.device_containing(0x1080).unwrap();
        assert_eq!((b, d.ctx), (0x1080, 8));
        assert_ne!(Some(d.id), id);
        assert_eq!(
            r.device_containing(0x2000).map(|(b, _)| b),
            Some(0x1080),
            "overlapped too"
        );
        r.add_device(0x9000, 0, 7, DeviceKind::Alloc);
        assert!(r.device_containing(0x9000).is_none(), "size 0 is nothing");
        r.forget_device_where(|d| d.ctx == 8);
        assert!(r.device_containing(0x1080).is_none());
    }

    #[test]
    fn host_overlaps_are_refused_as_cuda_does() {
        let mut r = Registry::new();
        r.add_host(0x10000, 0x1000, 0, 1, HostKind::Registered)
            .unwrap();
        r.add_host(0x20000, 0x1000, 0, 1, HostKind::Allocated)
            .unwrap();
        assert_eq!(
            r.add_host(0x10800, 0x10, 0, 1, HostKind::Registered),
            Err(result::HOST_MEMORY_ALREADY_REGISTERED)
        );
        assert_eq!(
            r.add_host(0xf000, 0x1001, 0, 1, HostKind::Registered),
            Err(result::HOST_MEMORY_ALREADY_REGISTERED)
        );
        assert_eq!(
            r.add_host(0x20000, 0x10, 0, 1, HostKind::Registered),
            Err(result::INVALID_VALUE)
        );
        r.add_host(0x11000, 0x1000, 0, 1, HostKind::Registered)
            .expect("adjacent is fine");
        assert_eq!(r.host_containing(0x11fff).map(|(b, _)| b), Some(0x11000));
        assert!(r.host_containing(0x12000).is_none());
        assert!(r.remove_host(0x10000).is_some());
        assert!(r.host_containing(0x10000).is_none());
    }

    #[test]
    fn device_pages_are_reserved_in_this_process() {
        // A free page-aligned span: map it, note it, unmap it, then let the
        // registry reserve it as a device range.
        // SAFETY: a fresh anonymous mapping, unmapped right away.
        let probe = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                1 << 20,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(probe, libc::MAP_FAILED);
        // SAFETY: our own mapping.
        unsafe { libc::munmap(probe, 1 << 20) };
        let base = probe as u64;
        let mut r = Registry::new();
        r.add_device(base + 100, 5000, 1, DeviceKind::Alloc);
        // The pages are now taken: a fixed mapping there is refused.
        assert!(!map_none(base as usize, 4096), "page 0 reserved");
        assert!(!map_none(base as usize + 4096, 4096), "page 1 reserved");
        assert!(map_none(base as usize + 8192, 4096), "page 2 free");
        // SAFETY: the page just mapped by map_none.
        unsafe { libc::munmap((base as usize + 8192) as *mut libc::c_void, 4096) };
        // Re-learning an overlapping range reserves only what is missing.
        r.add_device(base + 4096, 16384, 1, DeviceKind::Alloc);
        assert!(!map_none(base as usize + 16384, 4096));
    }
}
