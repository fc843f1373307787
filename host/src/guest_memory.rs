//! Guest RAM as the device sees it, and every access the device makes to it.
//!
//! QEMU hands guest RAM over as DMA mappings (an fd, a file offset and a
//! guest-physical address). [`GuestRam`] keeps the current set and publishes
//! it as an immutable [`GuestMemory`] snapshot, so workers read and write
//! guest memory without holding a lock; a snapshot keeps its mappings alive
//! even after QEMU unmaps them. A command takes one snapshot and drops it
//! when it completes, so an unmap waits for the commands that still hold
//! the removed RAM ([`Retired::wait`]) before QEMU hears it is done: the
//! device never writes RAM that QEMU has unplugged or given another use.
//! All reads and writes are bounds-checked: an access outside mapped RAM,
//! or one that crosses into a hole, is an error.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use uapi::wire::Wire;
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{
    Bytes, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    GuestRegionMmap,
};

/// Why a guest memory access or mapping failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MemoryError {
    /// `[gpa, gpa + len)` is not entirely inside mapped guest RAM.
    #[error("guest range {gpa:#x}+{len:#x} is outside guest RAM")]
    OutOfRange {
        /// Start of the access.
        gpa: u64,
        /// Length of the access.
        len: u64,
    },
    /// The guest address is not suitably aligned for an atomic access.
    #[error("guest address {gpa:#x} is not aligned to {align}")]
    Misaligned {
        /// Address of the access.
        gpa: u64,
        /// Required alignment.
        align: u64,
    },
    /// A DMA mapping could not be established.
    #[error("cannot map guest range {gpa:#x}+{len:#x}: {reason}")]
    Map {
        /// Guest-physical start.
        gpa: u64,
        /// Length.
        len: u64,
        /// What went wrong.
        reason: String,
    },
}

/// An immutable view of guest RAM, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct GuestMemory {
    mem: Arc<GuestMemoryMmap>,
    /// Which publication of its [`GuestRam`] this is: a new one may map
    /// other memory at the addresses of this one's (what registrations of
    /// guest RAM with the GPU go by: `crate::cuda::guest_pins`).
    epoch: u64,
}

impl GuestMemory {
    /// Whether `[gpa, gpa + len)` lies entirely in mapped RAM (no overflow,
    /// no hole). An empty range is inside if it does not overflow.
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        let Some(end) = gpa.checked_add(len) else {
            return false;
        };
        if len == 0 {
            return end >= gpa;
        }
        let Ok(len) = usize::try_from(len) else {
            return false;
        };
        GuestMemoryBackend::check_range(&*self.mem, GuestAddress(gpa), len)
    }

    fn check(&self, gpa: u64, len: usize) -> Result<(), MemoryError> {
        let len64 = len as u64;
        if self.contains(gpa, len64) {
            Ok(())
        } else {
            Err(MemoryError::OutOfRange { gpa, len: len64 })
        }
    }

    /// Reads `buf.len()` bytes at `gpa`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.check(gpa, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        self.mem
            .read_slice(buf, GuestAddress(gpa))
            .map_err(|_| MemoryError::OutOfRange {
                gpa,
                len: buf.len() as u64,
            })
    }

    /// Writes `data` at `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.check(gpa, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        self.mem
            .write_slice(data, GuestAddress(gpa))
            .map_err(|_| MemoryError::OutOfRange {
                gpa,
                len: data.len() as u64,
            })
    }

    /// Reads a contract struct at `gpa`.
    pub fn read_obj<T: Wire>(&self, gpa: u64) -> Result<T, MemoryError> {
        let mut value = T::default();
        self.read(gpa, value.as_bytes_mut())?;
        Ok(value)
    }

    /// Writes a contract struct at `gpa`.
    pub fn write_obj<T: Wire>(&self, gpa: u64, value: &T) -> Result<(), MemoryError> {
        self.write(gpa, value.as_bytes())
    }

    fn check_atomic(&self, gpa: u64, size: u64) -> Result<(), MemoryError> {
        if !gpa.is_multiple_of(size) {
            return Err(MemoryError::Misaligned { gpa, align: size });
        }
        if !self.contains(gpa, size) {
            return Err(MemoryError::OutOfRange { gpa, len: size });
        }
        Ok(())
    }

    /// Atomically loads an aligned `u32` the driver writes (acquire order).
    pub fn load_u32(&self, gpa: u64) -> Result<u32, MemoryError> {
        self.check_atomic(gpa, 4)?;
        self.mem
            .load(GuestAddress(gpa), Ordering::Acquire)
            .map_err(|_| MemoryError::OutOfRange { gpa, len: 4 })
    }

    /// Atomically stores an aligned `u32` the driver reads (release order).
    pub fn store_u32(&self, gpa: u64, value: u32) -> Result<(), MemoryError> {
        self.check_atomic(gpa, 4)?;
        self.mem
            .store(value, GuestAddress(gpa), Ordering::Release)
            .map_err(|_| MemoryError::OutOfRange { gpa, len: 4 })
    }

    /// Atomically stores an aligned `u64` the driver reads (release order).
    pub fn store_u64(&self, gpa: u64, value: u64) -> Result<(), MemoryError> {
        self.check_atomic(gpa, 8)?;
        self.mem
            .store(value, GuestAddress(gpa), Ordering::Release)
            .map_err(|_| MemoryError::OutOfRange { gpa, len: 8 })
    }

    /// This process's mapping of `[gpa, gpa + len)`, for copies made
    /// straight from or into guest RAM; `None` unless the range is
    /// non-empty and lies inside one region.
    ///
    /// # Safety
    ///
    /// The span is used only while this snapshot lives (which keeps the
    /// mapping).
    pub unsafe fn span(&self, gpa: u64, len: u64) -> Option<crate::cuda::SharedSpan> {
        let len = usize::try_from(len).ok().filter(|&l| l > 0)?;
        let slice = self.mem.get_slice(GuestAddress(gpa), len).ok()?;
        let ptr = std::ptr::NonNull::new(slice.ptr_guard_mut().as_ptr())?;
        // SAFETY: `get_slice` checked that the range lies in one mapped
        // region, which this snapshot keeps mapped read-write; the caller
        // uses the span only while it lives.
        Some(unsafe { crate::cuda::SharedSpan::new(ptr, len) })
    }

    /// Number of mapped regions (for logs and tests).
    pub fn region_count(&self) -> usize {
        self.mem.num_regions()
    }

    /// The parts of `[gpa, gpa + len)` that lie in mapped RAM, one span per
    /// region it meets (at most the number of regions, whatever `len`).
    ///
    /// # Safety
    ///
    /// As for [`Self::span`]: used only while this snapshot lives.
    pub unsafe fn spans_within(&self, gpa: u64, len: u64) -> Vec<crate::cuda::SharedSpan> {
        let end = gpa.saturating_add(len);
        self.mem
            .iter()
            .filter_map(|r| {
                let start = r.start_addr().0;
                let from = gpa.max(start);
                let to = end.min(start.saturating_add(r.len()));
                // SAFETY: the caller's contract; the range lies in region `r`.
                (from < to)
                    .then(|| unsafe { self.span(from, to - from) })
                    .flatten()
            })
            .collect()
    }

    /// Which publication of its guest RAM this is; every change of the
    /// mappings publishes a new one.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// Mappings a change removed, kept until no snapshot holds them: the
/// commands that took a snapshot before the change may still use them.
#[derive(Debug, Default)]
#[must_use = "wait until the commands still using the removed RAM have ended"]
pub struct Retired(Vec<Arc<GuestRegionMmap>>);

impl Retired {
    /// How many mappings were removed.
    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// Waits, at most `bound`, until every snapshot that holds a removed
    /// mapping is gone; whether they all were.
    pub fn wait(&self, bound: Duration) -> bool {
        self.wait_until(Instant::now() + bound, || false)
    }

    /// Waits until every snapshot that holds a removed mapping is gone, or
    /// `deadline` passes, or `abort` holds (a worker that is stopping);
    /// whether they all were gone.
    pub fn wait_until(&self, deadline: Instant, abort: impl Fn() -> bool) -> bool {
        // Only `self` holds a mapping no snapshot uses. Commands end in
        // micro- to milliseconds, and unmaps are rare: polling will do.
        loop {
            if self.0.iter().all(|r| Arc::strong_count(r) == 1) {
                return true;
            }
            if Instant::now() >= deadline || abort() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The set of DMA mappings, and the snapshot published from it.
#[derive(Debug, Default)]
pub struct GuestRam {
    /// Mapped regions by guest-physical start; never overlapping.
    regions: Mutex<BTreeMap<u64, Arc<GuestRegionMmap>>>,
    /// The latest snapshot built from `regions`.
    snapshot: RwLock<GuestMemory>,
    /// Snapshots published so far.
    publishes: std::sync::atomic::AtomicU64,
}

impl GuestRam {
    /// No RAM mapped.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current view of guest RAM.
    pub fn snapshot(&self) -> GuestMemory {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Maps `len` bytes of `file` from `file_offset` at guest address `gpa`,
    /// shared and writable. A mapping overlapping older ones replaces them
    /// (they are returned, retired).
    pub fn map(
        &self,
        gpa: u64,
        len: u64,
        file: File,
        file_offset: u64,
    ) -> Result<Retired, MemoryError> {
        let region = map_region(gpa, len, Arc::new(file), file_offset)?;
        let end = gpa.saturating_add(len);
        let mut regions = self.regions.lock().unwrap_or_else(PoisonError::into_inner);
        let overlapping: Vec<u64> = regions
            .iter()
            .filter(|(&start, r)| start < end && gpa < start.saturating_add(r.len()))
            .map(|(&start, _)| start)
            .collect();
        let mut retired = Retired::default();
        for start in overlapping {
            tracing::warn!(
                gpa = format_args!("{gpa:#x}"),
                old = format_args!("{start:#x}"),
                "DMA map overlaps an older mapping, which it replaces"
            );
            retired.0.extend(regions.remove(&start));
        }
        regions.insert(gpa, Arc::new(region));
        self.publish(&regions);
        Ok(retired)
    }

    /// Removes every mapping that overlaps `[gpa, gpa + len)`; returns
    /// them, retired.
    pub fn unmap(&self, gpa: u64, len: u64) -> Retired {
        let end = gpa.saturating_add(len);
        let mut regions = self.regions.lock().unwrap_or_else(PoisonError::into_inner);
        let doomed: Vec<(u64, u64)> = regions
            .iter()
            .filter(|(&start, r)| start < end && gpa < start.saturating_add(r.len()))
            .map(|(&start, r)| (start, r.len()))
            .collect();
        let mut retired = Retired::default();
        for &(start, size) in &doomed {
            if start < gpa || start.saturating_add(size) > end {
                tracing::warn!(
                    region = format_args!("{start:#x}+{size:#x}"),
                    unmap = format_args!("{gpa:#x}+{len:#x}"),
                    "DMA unmap covers only part of a mapping; removing all of it"
                );
            }
            retired.0.extend(regions.remove(&start));
        }
        self.publish(&regions);
        retired
    }

    /// Every mapping with the file behind it, to hand guest RAM to a worker
    /// process, which maps the same files itself.
    pub fn regions(&self) -> Vec<RamRegion> {
        let regions = self.regions.lock().unwrap_or_else(PoisonError::into_inner);
        regions
            .iter()
            .filter_map(|(&gpa, r)| {
                let file = r.file_offset()?;
                Some(RamRegion {
                    gpa,
                    len: r.len(),
                    file: file.arc().clone(),
                    file_offset: file.start(),
                })
            })
            .collect()
    }

    /// Replaces every mapping by `regions` at once: a snapshot taken at any
    /// time sees either the old set or the new one, never a mix or nothing.
    /// A region that is already mapped (same place, length, offset and
    /// file) keeps its mapping, so only the mappings really removed are
    /// retired: a command that took its snapshot before an earlier change
    /// (a map) still holds mappings an unmap retires (review of L2).
    pub fn replace_all(&self, regions: Vec<RamRegion>) -> Result<Retired, MemoryError> {
        let mut current = self.regions.lock().unwrap_or_else(PoisonError::into_inner);
        let mut mapped = BTreeMap::new();
        for r in regions {
            let overlaps = mapped
                .iter()
                .any(|(&start, m): (&u64, &Arc<GuestRegionMmap>)| {
                    start < r.gpa.saturating_add(r.len) && r.gpa < start.saturating_add(m.len())
                });
            if overlaps {
                return Err(MemoryError::Map {
                    gpa: r.gpa,
                    len: r.len,
                    reason: "overlaps another region".into(),
                });
            }
            let region = match current.get(&r.gpa).filter(|old| r.is_mapped_by(old)) {
                Some(old) => old.clone(),
                None => Arc::new(map_region(r.gpa, r.len, r.file, r.file_offset)?),
            };
            mapped.insert(r.gpa, region);
        }
        let old = std::mem::replace(&mut *current, mapped);
        self.publish(&current);
        let removed = old
            .into_iter()
            .filter(|(gpa, r)| !current.get(gpa).is_some_and(|kept| Arc::ptr_eq(kept, r)))
            .map(|(_, r)| r)
            .collect();
        Ok(Retired(removed))
    }

    /// Removes every mapping; returns them, retired.
    pub fn unmap_all(&self) -> Retired {
        let mut regions = self.regions.lock().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::take(&mut *regions);
        self.publish(&regions);
        Retired(old.into_values().collect())
    }

    fn publish(&self, regions: &BTreeMap<u64, Arc<GuestRegionMmap>>) {
        let list: Vec<Arc<GuestRegionMmap>> = regions.values().cloned().collect();
        let mem = if list.is_empty() {
            GuestMemoryMmap::default()
        } else {
            match GuestMemoryMmap::from_arc_regions(list) {
                Ok(mem) => mem,
                Err(error) => {
                    // Cannot happen: the map is sorted and overlaps are removed on insert.
                    tracing::error!(%error, "cannot build guest memory view; keeping the old one");
                    return;
                }
            }
        };
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = GuestMemory {
            mem: Arc::new(mem),
            epoch: self.publishes.fetch_add(1, Ordering::Relaxed) + 1,
        };
    }
}

/// One DMA mapping: `len` bytes of `file` from `file_offset`, at `gpa`.
#[derive(Clone, Debug)]
pub struct RamRegion {
    /// Guest-physical start.
    pub gpa: u64,
    /// Length in bytes.
    pub len: u64,
    /// The file QEMU handed over.
    pub file: Arc<File>,
    /// Offset of the region in the file.
    pub file_offset: u64,
}

impl RamRegion {
    /// Whether `region` maps exactly this: the same guest range, from the
    /// same offset of the same file (device and inode: the worker receives
    /// a new descriptor of it with every update).
    fn is_mapped_by(&self, region: &GuestRegionMmap) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Some(mapped) = region.file_offset() else {
            return false;
        };
        if region.start_addr().0 != self.gpa
            || region.len() != self.len
            || mapped.start() != self.file_offset
        {
            return false;
        }
        // The old mapping keeps its file open, so its inode cannot have
        // been reused by another file.
        match (mapped.file().metadata(), self.file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
}

/// Maps `len` bytes of `file` from `file_offset` for guest address `gpa`,
/// shared and writable.
fn map_region(
    gpa: u64,
    len: u64,
    file: Arc<File>,
    file_offset: u64,
) -> Result<GuestRegionMmap, MemoryError> {
    let map_error = |reason: String| MemoryError::Map { gpa, len, reason };
    if len == 0 {
        return Err(map_error("zero length".into()));
    }
    gpa.checked_add(len)
        .ok_or_else(|| map_error("address overflows".into()))?;
    let size = usize::try_from(len).map_err(|_| map_error("too large".into()))?;
    let mmap = MmapRegionBuilder::new(size)
        .with_file_offset(FileOffset::from_arc(file, file_offset))
        .with_mmap_prot(libc::PROT_READ | libc::PROT_WRITE)
        .with_mmap_flags(libc::MAP_SHARED | libc::MAP_NORESERVE)
        .build()
        .map_err(|e| map_error(e.to_string()))?;
    GuestRegionMmap::new(mmap, GuestAddress(gpa))
        .ok_or_else(|| map_error("region does not fit the address space".into()))
}

/// A `memfd` of `len` bytes, for tests and tools that need fd-backed RAM.
pub fn memfd(name: &str, len: u64) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    let name = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: `name` is a valid NUL-terminated string; the call has no other
    // memory effects.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(len)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uapi::ring::SgEntry;

    fn ram_with_hole() -> GuestRam {
        let ram = GuestRam::new();
        for (gpa, name) in [(0x1000u64, "low"), (0x4000u64, "high")] {
            let file = memfd(name, 0x2000).unwrap_or_else(|e| panic!("memfd: {e}"));
            let retired = ram
                .map(gpa, 0x2000, file, 0)
                .unwrap_or_else(|e| panic!("map: {e}"));
            assert_eq!(retired.count(), 0);
        }
        ram
    }

    #[test]
    fn accesses_are_bounded_by_mappings() {
        let ram = ram_with_hole();
        let mem = ram.snapshot();
        assert_eq!(mem.region_count(), 2);
        assert!(mem.contains(0x1000, 0x2000));
        assert!(!mem.contains(0x1000, 0x2001), "runs into the hole");
        assert!(!mem.contains(0x2fff, 2));
        assert!(!mem.contains(0x0, 1));
        assert!(!mem.contains(u64::MAX, 2), "overflow");
        assert!(mem.write(0x5ff0, &[1; 16]).is_ok());
        assert_eq!(
            mem.write(0x5ff8, &[1; 16]),
            Err(MemoryError::OutOfRange {
                gpa: 0x5ff8,
                len: 16
            })
        );
        let mut buf = [0u8; 4];
        assert!(mem.read(0x2ffe, &mut buf).is_err());
    }

    #[test]
    fn structs_round_trip_and_atomics_check_alignment() {
        let mem = ram_with_hole().snapshot();
        let entry = SgEntry {
            addr: 0x1234,
            len: 7,
            reserved: 0,
        };
        assert!(mem.write_obj(0x4010, &entry).is_ok());
        assert_eq!(mem.read_obj::<SgEntry>(0x4010), Ok(entry));
        assert!(mem.store_u32(0x1004, 9).is_ok());
        assert_eq!(mem.load_u32(0x1004), Ok(9));
        assert!(matches!(
            mem.load_u32(0x1002),
            Err(MemoryError::Misaligned { .. })
        ));
    }

    #[test]
    fn unmap_removes_and_old_snapshots_stay_valid() {
        let ram = ram_with_hole();
        let old = ram.snapshot();
        assert!(old.write(0x4000, b"kept").is_ok());
        let retired = ram.unmap(0x4000, 0x2000);
        assert_eq!(retired.count(), 1);
        let new = ram.snapshot();
        assert!(!new.contains(0x4000, 1));
        let mut buf = [0u8; 4];
        assert!(old.read(0x4000, &mut buf).is_ok());
        assert_eq!(&buf, b"kept");
        // The old snapshot still holds the removed mapping: the wait gives
        // up at its bound; once that snapshot is gone, it is over at once.
        let t = Instant::now();
        assert!(!ram.unmap_all().wait(Duration::from_millis(30)));
        assert!(t.elapsed() >= Duration::from_millis(30));
        drop(old);
        assert!(retired.wait(Duration::ZERO));
        assert_eq!(ram.snapshot().region_count(), 0);
    }

    #[test]
    fn an_unmap_waits_for_the_snapshot_a_command_holds() {
        let ram = Arc::new(ram_with_hole());
        let (held, release) = (ram.snapshot(), Duration::from_millis(150));
        let user = std::thread::spawn(move || {
            // A command still writing guest RAM, then done.
            std::thread::sleep(release);
            assert!(held.write(0x4000, b"late").is_ok());
            drop(held);
        });
        let t = Instant::now();
        assert!(ram.unmap(0x4000, 0x2000).wait(Duration::from_secs(10)));
        assert!(t.elapsed() >= release, "returned after {:?}", t.elapsed());
        user.join().expect("user");
    }

    /// What a worker process gets: every region, with new descriptors.
    fn regions_of(ram: &GuestRam) -> Vec<RamRegion> {
        ram.regions()
            .into_iter()
            .map(|r| RamRegion {
                file: Arc::new(r.file.try_clone().expect("dup")),
                ..r
            })
            .collect()
    }

    #[test]
    fn replace_all_retires_only_the_regions_removed() {
        let device = ram_with_hole();
        let worker = GuestRam::new();
        assert_eq!(
            worker
                .replace_all(regions_of(&device))
                .expect("first")
                .count(),
            0
        );
        // A command starts, then the device maps more RAM (no answer asked).
        let held = worker.snapshot();
        let file = memfd("more", 0x1000).expect("memfd");
        assert_eq!(device.map(0x8000, 0x1000, file, 0).expect("map").count(), 0);
        let retired = worker.replace_all(regions_of(&device)).expect("map");
        assert_eq!(retired.count(), 0, "the mapped regions were kept");
        assert!(retired.wait(Duration::ZERO));
        assert_eq!(worker.snapshot().region_count(), 3);
        // Then it unmaps RAM the command's snapshot holds: the wait sees it.
        assert_eq!(device.unmap(0x4000, 0x2000).count(), 1);
        let retired = worker.replace_all(regions_of(&device)).expect("unmap");
        assert_eq!(retired.count(), 1);
        let t = Instant::now();
        assert!(!retired.wait_until(t + Duration::from_millis(30), || false));
        assert!(t.elapsed() >= Duration::from_millis(30));
        let stop = Instant::now();
        assert!(!retired.wait_until(stop + Duration::from_secs(10), || true));
        assert!(
            stop.elapsed() < Duration::from_secs(5),
            "the abort ends the wait"
        );
        drop(held);
        assert!(retired.wait(Duration::ZERO));
        let mem = worker.snapshot();
        assert_eq!(mem.region_count(), 2);
        assert!(!mem.contains(0x4000, 1));
    }

    #[test]
    fn replace_all_maps_a_changed_region_afresh() {
        let device = ram_with_hole();
        let worker = GuestRam::new();
        assert_eq!(
            worker
                .replace_all(regions_of(&device))
                .expect("first")
                .count(),
            0
        );
        // Same place, another file: the old mapping goes.
        let mut regions = regions_of(&device);
        regions[0].file = Arc::new(memfd("other", 0x2000).expect("memfd"));
        assert_eq!(worker.replace_all(regions).expect("other file").count(), 1);
        // Same file, another offset: likewise.
        let mut regions = regions_of(&device);
        regions[1].file_offset = 0x1000;
        regions[1].len = 0x1000;
        assert_eq!(
            worker.replace_all(regions).expect("other offset").count(),
            2
        );
    }

    #[test]
    fn overlapping_map_replaces_the_old_one() {
        let ram = ram_with_hole();
        let file = memfd("over", 0x1000).unwrap_or_else(|e| panic!("memfd: {e}"));
        let retired = ram.map(0x1800, 0x1000, file, 0).expect("map");
        assert_eq!(retired.count(), 1);
        assert!(retired.wait(Duration::ZERO), "nothing holds the old one");
        let mem = ram.snapshot();
        assert_eq!(mem.region_count(), 2);
        assert!(!mem.contains(0x1000, 1));
        assert!(mem.contains(0x1800, 0x1000));
    }
}
