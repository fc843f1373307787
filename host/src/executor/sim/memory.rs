//! Simulated device memory: one client's allocations, kept in host RAM at
//! realistic, never-reused device addresses with unmapped gaps between them,
//! so out-of-bounds accesses fault instead of landing in a neighbour.
//! Accesses walk across adjacent regions: virtual memory management maps
//! chunks side by side, and a buffer spanning them is one buffer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ptx::{DeviceMemory, Fault};

/// Where simulated device addresses start (CUDA hands out similar ones).
const ADDRESS_BASE: u64 = 0x7f40_0000_0000;
/// Allocation granularity and guard gap.
const GRANULE: u64 = 2 << 20;

/// Device-wide address space and memory accounting, shared by all clients.
#[derive(Debug)]
pub struct AddressSpace {
    next: AtomicU64,
    used: AtomicU64,
    total: u64,
}

impl AddressSpace {
    /// A device with `total` bytes of memory.
    pub fn new(total: u64) -> Self {
        Self {
            next: AtomicU64::new(ADDRESS_BASE),
            used: AtomicU64::new(0),
            total,
        }
    }

    /// Bytes in use on the device.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Total bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Reserves `size` bytes; `None` when the device is full.
    fn reserve(&self, size: u64) -> Option<u64> {
        if !self.charge(size) {
            return None;
        }
        let base = self.addresses(size);
        if base.is_none() {
            self.release(size);
        }
        base
    }

    /// Counts `size` bytes as used; `false` (nothing counted) beyond the total.
    pub(super) fn charge(&self, size: u64) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(new) = used.checked_add(size).filter(|&n| n <= self.total) else {
                return false;
            };
            match self
                .used
                .compare_exchange(used, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// `size` bytes of fresh address space (granule-aligned, a guard gap
    /// after), taking no memory: for allocations and VMM reservations.
    pub(super) fn addresses(&self, size: u64) -> Option<u64> {
        let span = size
            .div_ceil(GRANULE)
            .checked_add(1)?
            .checked_mul(GRANULE)?;
        Some(self.next.fetch_add(span, Ordering::Relaxed))
    }

    pub(super) fn release(&self, size: u64) {
        self.used.fetch_sub(size, Ordering::AcqRel);
    }
}

/// `len` zero bytes, or `None` if the host cannot provide them. Zeroed
/// allocation leaves untouched pages to the kernel's lazy zero pages, so a
/// large, sparsely used device allocation costs little host memory.
pub(super) fn zeroed_bytes(len: usize) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` was allocated by the global allocator with `layout`
    // (size `len`, alignment 1, as `Vec<u8>` uses), and all `len` bytes
    // are initialised (zero).
    Some(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// Who an allocation belongs to, for cleanup when that owner goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `cuMemAlloc` in a context.
    Context(u64),
    /// A module variable.
    Module(u64),
    /// A VMM allocation handle's bytes, mapped here (`cuMemMap`); its
    /// memory is counted by the handle, not by this table.
    Mapping(u64),
}

/// `CU_MEM_ACCESS_FLAGS_PROT_READ` / `_READWRITE`.
const ACCESS_READ: u32 = 1;
const ACCESS_READWRITE: u32 = 3;

#[derive(Debug)]
struct Allocation {
    data: Vec<u8>,
    owner: Owner,
    /// `CUmemAccess_flags` (allocations are read-write; mappings start with none).
    access: u32,
}

/// One client's allocations.
#[derive(Debug)]
pub struct ClientMemory {
    space: std::sync::Arc<AddressSpace>,
    allocations: BTreeMap<u64, Allocation>,
}

impl ClientMemory {
    /// Empty, on `space`.
    pub fn new(space: std::sync::Arc<AddressSpace>) -> Self {
        Self {
            space,
            allocations: BTreeMap::new(),
        }
    }

    /// Allocates `size` zeroed bytes; `None` when out of memory.
    pub fn alloc(&mut self, size: u64, owner: Owner) -> Option<u64> {
        let len = usize::try_from(size).ok()?;
        let base = self.space.reserve(size)?;
        let Some(data) = zeroed_bytes(len) else {
            self.space.release(size);
            return None;
        };
        self.allocations.insert(
            base,
            Allocation {
                data,
                owner,
                access: ACCESS_READWRITE,
            },
        );
        Some(base)
    }

    /// Makes `data` (a VMM handle's bytes) visible at `base`, without
    /// access until [`Self::set_access`]. The caller checked the range is free.
    pub fn insert_mapping(&mut self, base: u64, data: Vec<u8>, handle: u64) {
        let mapping = Allocation {
            data,
            owner: Owner::Mapping(handle),
            access: 0,
        };
        self.allocations.insert(base, mapping);
    }

    /// Takes back the bytes mapped at `base`.
    pub fn remove_mapping(&mut self, base: u64) -> Option<Vec<u8>> {
        match self.allocations.get(&base) {
            Some(a) if matches!(a.owner, Owner::Mapping(_)) => {
                self.allocations.remove(&base).map(|a| a.data)
            }
            _ => None,
        }
    }

    /// The access flags of the mapping at `base`.
    pub fn access(&self, base: u64) -> Option<u32> {
        self.allocations.get(&base).map(|a| a.access)
    }

    /// Sets the access flags of the mapping at `base`.
    pub fn set_access(&mut self, base: u64, flags: u32) -> bool {
        match self.allocations.get_mut(&base) {
            Some(a) if matches!(a.owner, Owner::Mapping(_)) => {
                a.access = flags;
                true
            }
            _ => false,
        }
    }

    /// Frees the allocation starting at `base` if `owner` matches.
    pub fn free(&mut self, base: u64, owner_ok: impl Fn(Owner) -> bool) -> bool {
        match self.allocations.get(&base) {
            Some(a) if owner_ok(a.owner) && !matches!(a.owner, Owner::Mapping(_)) => {
                let size = a.data.len() as u64;
                self.allocations.remove(&base);
                self.space.release(size);
                true
            }
            _ => false,
        }
    }

    /// Frees everything `owner` holds.
    pub fn free_owned(&mut self, owner: Owner) {
        let bases: Vec<u64> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.owner == owner)
            .map(|(b, _)| *b)
            .collect();
        for b in bases {
            self.free(b, |_| true);
        }
    }

    /// Allocations made with `cuMemAlloc*` (not module variables, not mappings).
    pub fn allocation_count(&self) -> usize {
        self.allocations
            .values()
            .filter(|a| matches!(a.owner, Owner::Context(_)))
            .count()
    }

    /// Bytes held, module variables included (mapped VMM memory is the
    /// handles' to count).
    pub fn bytes_held(&self) -> u64 {
        self.allocations
            .values()
            .filter(|a| !matches!(a.owner, Owner::Mapping(_)))
            .map(|a| a.data.len() as u64)
            .sum()
    }

    /// Base and size of the allocation holding `addr`.
    pub fn range(&self, addr: u64) -> Option<(u64, u64)> {
        let (base, a) = self.allocations.range(..=addr).next_back()?;
        let size = a.data.len() as u64;
        (addr < base + size.max(1)).then_some((*base, size))
    }

    /// The bytes from `addr` to the end of its region (at most `len`), if
    /// the region grants `access`; never empty.
    fn piece(&self, addr: u64, len: usize, access: u32) -> Option<&[u8]> {
        let (base, a) = self.allocations.range(..=addr).next_back()?;
        let off = usize::try_from(addr - base).ok()?;
        let end = off.checked_add(len)?.min(a.data.len());
        (a.access & access == access && off < end).then(|| &a.data[off..end])
    }

    fn piece_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let (base, a) = self.allocations.range_mut(..=addr).next_back()?;
        let off = usize::try_from(addr - *base).ok()?;
        let end = off.checked_add(len)?.min(a.data.len());
        (a.access == ACCESS_READWRITE && off < end).then(|| &mut a.data[off..end])
    }

    /// Whether every byte of `[addr, addr + len)` lies in regions (adjacent
    /// ones together) granting `access`.
    fn covered(&self, addr: u64, len: usize, access: u32) -> bool {
        let mut done = 0;
        while done < len {
            let Some(n) = addr
                .checked_add(done as u64)
                .and_then(|a| self.piece(a, len - done, access))
                .map(<[u8]>::len)
            else {
                return false;
            };
            done += n;
        }
        true
    }

    /// Whether all of `[addr, addr + len)` may be written (adjacent regions together).
    pub fn writable(&self, addr: u64, len: usize) -> bool {
        self.covered(addr, len, ACCESS_READWRITE)
    }

    /// Copies device bytes out; `false` if any byte is outside the regions
    /// (adjacent ones together) or not readable.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        let mut done = 0;
        while done < out.len() {
            let Some(p) = addr
                .checked_add(done as u64)
                .and_then(|a| self.piece(a, out.len() - done, ACCESS_READ))
            else {
                return false;
            };
            out[done..done + p.len()].copy_from_slice(p);
            done += p.len();
        }
        true
    }

    /// Copies bytes in; `false` (nothing written) if any byte is outside the
    /// regions or not writable.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        if !self.covered(addr, data.len(), ACCESS_READWRITE) {
            return false;
        }
        let mut done = 0;
        while done < data.len() {
            let Some(p) = self.piece_mut(addr + done as u64, data.len() - done) else {
                return false;
            };
            let n = p.len();
            p.copy_from_slice(&data[done..done + n]);
            done += n;
        }
        true
    }

    /// Fills `len` bytes at `addr` with `pattern` repeated; `false` (nothing
    /// written) if any byte is outside the regions or not writable.
    pub fn fill(&mut self, addr: u64, len: usize, pattern: &[u8]) -> bool {
        if pattern.is_empty() || !self.covered(addr, len, ACCESS_READWRITE) {
            return len == 0;
        }
        // Piece by piece (adjacently mapped chunks), the pattern kept in
        // phase across them.
        let mut done = 0;
        while done < len {
            let Some(p) = addr
                .checked_add(done as u64)
                .and_then(|a| self.piece_mut(a, len - done))
            else {
                return false;
            };
            let n = p.len();
            for (i, b) in p.iter_mut().enumerate() {
                *b = pattern[(done + i) % pattern.len()];
            }
            done += n;
        }
        true
    }

    /// Copies within device memory (the ranges may overlap, as memmove).
    pub fn copy(&mut self, dst: u64, src: u64, len: usize) -> bool {
        // Both ranges checked first: the staging buffer is then bounded by
        // the client's own memory, never by a guest-chosen length alone.
        if !self.covered(src, len, ACCESS_READ) || !self.covered(dst, len, ACCESS_READWRITE) {
            return false;
        }
        let mut bytes = vec![0; len];
        ClientMemory::read(self, src, &mut bytes) && ClientMemory::write(self, dst, &bytes)
    }
}

impl Drop for ClientMemory {
    fn drop(&mut self) {
        let total: u64 = self
            .allocations
            .values()
            .filter(|a| !matches!(a.owner, Owner::Mapping(_)))
            .map(|a| a.data.len() as u64)
            .sum();
        self.space.release(total);
    }
}

impl DeviceMemory for ClientMemory {
    fn read(&mut self, addr: u64, out: &mut [u8]) -> Result<(), Fault> {
        if ClientMemory::read(self, addr, out) {
            Ok(())
        } else {
            Err(Fault {
                addr,
                len: out.len(),
            })
        }
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        if ClientMemory::write(self, addr, data) {
            Ok(())
        } else {
            Err(Fault {
                addr,
                len: data.len(),
            })
        }
    }
}
