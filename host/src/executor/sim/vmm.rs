//! Virtual memory management on the simulator: reservations take address
//! space only, allocation handles take memory (counted against the device
//! total), and a mapping moves a handle's bytes into the client's memory
//! table at the mapped address, where copies, memsets and kernels reach
//! them (walking across adjacently mapped chunks). Unmapping moves them
//! back; the memory goes when the handle is both released and unmapped, in
//! either order, as in CUDA.
//!
//! Simplifications, each refused with `CUDA_ERROR_NOT_SUPPORTED`: a handle
//! is mapped at one place at a time and always whole (`size` = the handle's
//! size), and access is set on whole mappings.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::memory::{zeroed_bytes, AddressSpace, ClientMemory};
use crate::cuda::backend::CuResult;
use uapi::cuda::{result, VMM_GRANULARITY};

struct Handle {
    size: u64,
    /// The bytes while unmapped; `None` while they are mapped.
    data: Option<Vec<u8>>,
    /// Where it is mapped.
    mapped_at: Option<u64>,
    /// cuMemCreate and cuMemRetainAllocationHandle references.
    refs: u32,
}

/// One client's reservations, handles and mappings.
pub struct SimVmm {
    space: Arc<AddressSpace>,
    /// Reservations: base → size.
    reservations: BTreeMap<u64, u64>,
    handles: HashMap<u64, Handle>,
    /// Mappings: base → (size, handle).
    mappings: BTreeMap<u64, (u64, u64)>,
    next_handle: u64,
}

/// Handle values: a tag in the top 16 bits, as the simulator's other handles.
const KIND_VMM: u64 = 0x4d;

impl SimVmm {
    /// Nothing reserved, on `space`.
    pub fn new(space: Arc<AddressSpace>) -> Self {
        Self {
            space,
            reservations: BTreeMap::new(),
            handles: HashMap::new(),
            mappings: BTreeMap::new(),
            next_handle: 0,
        }
    }

    /// Live allocation handles (mapped or not).
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }

    /// Bytes of the live handles (mapped or not).
    pub fn bytes_held(&self) -> u64 {
        self.handles.values().map(|h| h.size).sum()
    }

    /// Reserves `size` bytes aligned to `alignment` (0: the granularity).
    /// The hint address is not honoured (CUDA treats it as a hint too).
    pub fn reserve(&mut self, size: u64, alignment: u64) -> CuResult<u64> {
        let align = alignment.max(VMM_GRANULARITY);
        let extra = align - VMM_GRANULARITY;
        let span = size.checked_add(extra).ok_or(result::OUT_OF_MEMORY)?;
        let raw = self.space.addresses(span).ok_or(result::OUT_OF_MEMORY)?;
        let base = raw
            .checked_next_multiple_of(align)
            .ok_or(result::OUT_OF_MEMORY)?;
        self.reservations.insert(base, size);
        Ok(base)
    }

    /// Frees a whole reservation with nothing mapped in it.
    pub fn free(&mut self, ptr: u64, size: u64) -> CuResult<()> {
        if self.reservations.get(&ptr) != Some(&size) {
            return Err(result::INVALID_VALUE);
        }
        if self.mappings.range(ptr..ptr + size).next().is_some() {
            return Err(result::INVALID_VALUE);
        }
        self.reservations.remove(&ptr);
        Ok(())
    }

    /// A handle of `size` zeroed bytes; `OUT_OF_MEMORY` beyond the device's total.
    pub fn create(&mut self, size: u64) -> CuResult<u64> {
        if !self.space.charge(size) {
            return Err(result::OUT_OF_MEMORY);
        }
        let Some(data) = usize::try_from(size).ok().and_then(zeroed_bytes) else {
            self.space.release(size);
            return Err(result::OUT_OF_MEMORY);
        };
        self.next_handle += 1;
        let handle = (KIND_VMM << 48) | self.next_handle;
        let handle_state = Handle {
            size,
            data: Some(data),
            mapped_at: None,
            refs: 1,
        };
        self.handles.insert(handle, handle_state);
        Ok(handle)
    }

    fn drop_if_unused(&mut self, handle: u64) {
        if let Some(h) = self.handles.get(&handle) {
            if h.refs == 0 && h.mapped_at.is_none() {
                self.space.release(h.size);
                self.handles.remove(&handle);
            }
        }
    }

    /// Drops one reference; the memory goes once it is unmapped too.
    pub fn release(&mut self, handle: u64) -> CuResult<()> {
        let h = self.handles.get_mut(&handle).ok_or(result::INVALID_VALUE)?;
        if h.refs == 0 {
            return Err(result::INVALID_VALUE);
        }
        h.refs -= 1;
        self.drop_if_unused(handle);
        Ok(())
    }

    /// The mapping holding `ptr`: (base, size, handle).
    fn mapping_at(&self, ptr: u64) -> Option<(u64, u64, u64)> {
        let (&base, &(size, handle)) = self.mappings.range(..=ptr).next_back()?;
        (ptr - base < size).then_some((base, size, handle))
    }

    /// The mappings tiling `[ptr, ptr + size)` exactly, in order.
    fn tiling(&self, ptr: u64, size: u64) -> CuResult<Vec<u64>> {
        let end = ptr.checked_add(size).ok_or(result::INVALID_VALUE)?;
        let mut at = ptr;
        let mut bases = Vec::new();
        for (&base, &(len, _)) in self.mappings.range(ptr..end) {
            if base != at {
                return Err(result::INVALID_VALUE);
            }
            at = base + len;
            bases.push(base);
        }
        if at != end {
            return Err(result::INVALID_VALUE);
        }
        Ok(bases)
    }

    /// Maps the whole of `handle` at `ptr`, inside one reservation and over
    /// nothing already mapped.
    pub fn map(
        &mut self,
        memory: &mut ClientMemory,
        ptr: u64,
        size: u64,
        offset: u64,
        handle: u64,
    ) -> CuResult<()> {
        let end = ptr.checked_add(size).ok_or(result::INVALID_VALUE)?;
        let inside = self
            .reservations
            .range(..=ptr)
            .next_back()
            .is_some_and(|(&b, &s)| end <= b + s);
        let h = self.handles.get_mut(&handle).ok_or(result::INVALID_VALUE)?;
        if !inside || h.refs == 0 || offset.checked_add(size).is_none_or(|e| e > h.size) {
            return Err(result::INVALID_VALUE);
        }
        let overlaps = self
            .mappings
            .range(..end)
            .next_back()
            .is_some_and(|(&b, &(s, _))| b + s > ptr);
        if overlaps {
            return Err(result::INVALID_VALUE);
        }
        if h.mapped_at.is_some() || size != h.size {
            // One mapping per handle, of all of it: the simulator's limit.
            return Err(result::NOT_SUPPORTED);
        }
        let data = h.data.take().ok_or(result::INVALID_VALUE)?;
        h.mapped_at = Some(ptr);
        memory.insert_mapping(ptr, data, handle);
        self.mappings.insert(ptr, (size, handle));
        Ok(())
    }

    /// Unmaps the whole mappings tiling `[ptr, ptr + size)`.
    pub fn unmap(&mut self, memory: &mut ClientMemory, ptr: u64, size: u64) -> CuResult<()> {
        for base in self.tiling(ptr, size)? {
            let Some((_, handle)) = self.mappings.remove(&base) else {
                continue;
            };
            let data = memory.remove_mapping(base);
            if let Some(h) = self.handles.get_mut(&handle) {
                h.data = data;
                h.mapped_at = None;
            }
            self.drop_if_unused(handle);
        }
        Ok(())
    }

    /// Sets `flags` on the whole mappings tiling `[ptr, ptr + size)`.
    pub fn set_access(
        &mut self,
        memory: &mut ClientMemory,
        ptr: u64,
        size: u64,
        flags: u32,
    ) -> CuResult<()> {
        let bases = match self.tiling(ptr, size) {
            Ok(b) => b,
            // Inside mappings but not on their edges: the simulator's limit.
            Err(_) if self.covers(ptr, size) => return Err(result::NOT_SUPPORTED),
            Err(e) => return Err(e),
        };
        for base in bases {
            memory.set_access(base, flags);
        }
        Ok(())
    }

    /// Whether `[ptr, ptr + size)` is all mapped.
    fn covers(&self, ptr: u64, size: u64) -> bool {
        let mut at = ptr;
        let end = ptr.saturating_add(size);
        while at < end {
            match self.mapping_at(at) {
                Some((b, s, _)) => at = b + s,
                None => return false,
            }
        }
        true
    }

    /// The mapping holding `ptr`: its base (for the access flags) and handle.
    pub fn mapped(&self, ptr: u64) -> CuResult<(u64, u64)> {
        self.mapping_at(ptr)
            .map(|(b, _, h)| (b, h))
            .ok_or(result::INVALID_VALUE)
    }

    /// One more reference to the handle mapped at `ptr`.
    pub fn retain(&mut self, ptr: u64) -> CuResult<u64> {
        let (_, handle) = self.mapped(ptr)?;
        let h = self.handles.get_mut(&handle).ok_or(result::INVALID_VALUE)?;
        h.refs = h.refs.checked_add(1).ok_or(result::INVALID_VALUE)?;
        Ok(handle)
    }
}

impl Drop for SimVmm {
    fn drop(&mut self) {
        self.space.release(self.bytes_held());
    }
}
