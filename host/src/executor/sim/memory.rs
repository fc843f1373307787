//! Simulated device memory: one client's allocations, kept in host RAM at
//! realistic, never-reused device addresses with unmapped gaps between them,
//! so out-of-bounds accesses fault instead of landing in a neighbour.

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
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let new = used.checked_add(size).filter(|&n| n <= self.total)?;
            match self
                .used
                .compare_exchange(used, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => used = now,
            }
        }
        let span = size
            .div_ceil(GRANULE)
            .checked_add(1)?
            .checked_mul(GRANULE)?;
        Some(self.next.fetch_add(span, Ordering::Relaxed))
    }

    fn release(&self, size: u64) {
        self.used.fetch_sub(size, Ordering::AcqRel);
    }
}

/// `len` zero bytes, or `None` if the host cannot provide them. Zeroed
/// allocation leaves untouched pages to the kernel's lazy zero pages, so a
/// large, sparsely used device allocation costs little host memory.
fn zeroed_bytes(len: usize) -> Option<Vec<u8>> {
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
}

#[derive(Debug)]
struct Allocation {
    data: Vec<u8>,
    owner: Owner,
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
        self.allocations.insert(base, Allocation { data, owner });
        Some(base)
    }

    /// Frees the allocation starting at `base` if `owner` matches.
    pub fn free(&mut self, base: u64, owner_ok: impl Fn(Owner) -> bool) -> bool {
        match self.allocations.get(&base) {
            Some(a) if owner_ok(a.owner) => {
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

    /// Bytes held, module variables included.
    pub fn bytes_held(&self) -> u64 {
        self.allocations.values().map(|a| a.data.len() as u64).sum()
    }

    /// Base and size of the allocation holding `addr`.
    pub fn range(&self, addr: u64) -> Option<(u64, u64)> {
        let (base, a) = self.allocations.range(..=addr).next_back()?;
        let size = a.data.len() as u64;
        (addr < base + size.max(1)).then_some((*base, size))
    }

    fn slice(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let (base, a) = self.allocations.range(..=addr).next_back()?;
        let off = usize::try_from(addr - base).ok()?;
        a.data.get(off..off.checked_add(len)?)
    }

    fn slice_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let (base, a) = self.allocations.range_mut(..=addr).next_back()?;
        let off = usize::try_from(addr - *base).ok()?;
        a.data.get_mut(off..off.checked_add(len)?)
    }

    /// Copies device bytes out; `false` if any byte is outside one allocation.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        match self.slice(addr, out.len()) {
            Some(s) => {
                out.copy_from_slice(s);
                true
            }
            None => out.is_empty(),
        }
    }

    /// Copies bytes in; `false` if any byte is outside one allocation.
    pub fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        match self.slice_mut(addr, data.len()) {
            Some(s) => {
                s.copy_from_slice(data);
                true
            }
            None => data.is_empty(),
        }
    }

    /// Fills `len` bytes at `addr` with `pattern` repeated; `false` if any
    /// byte is outside one allocation.
    pub fn fill(&mut self, addr: u64, len: usize, pattern: &[u8]) -> bool {
        match self.slice_mut(addr, len) {
            Some(s) if !pattern.is_empty() => {
                for chunk in s.chunks_mut(pattern.len()) {
                    chunk.copy_from_slice(&pattern[..chunk.len()]);
                }
                true
            }
            _ => len == 0,
        }
    }

    /// Copies within device memory (the ranges may overlap, as memmove).
    pub fn copy(&mut self, dst: u64, src: u64, len: usize) -> bool {
        let Some(bytes) = self.slice(src, len).map(<[u8]>::to_vec) else {
            return len == 0;
        };
        self.write(dst, &bytes)
    }
}

impl Drop for ClientMemory {
    fn drop(&mut self) {
        let total: u64 = self.allocations.values().map(|a| a.data.len() as u64).sum();
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
