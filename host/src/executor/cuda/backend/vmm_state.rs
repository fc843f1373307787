//! The bookkeeping of one client's virtual memory on the real GPU, apart
//! from the driver calls (`super::vmm`): which reservations, allocation
//! handles and mappings are the client's, and what a request may touch.
//!
//! Guest handles are tagged [`HandleTable`] values standing for host
//! `CUmemGenericAllocationHandle`s, which never reach the guest. The limits
//! are the simulator's (`crate::executor::sim::vmm`), so both executors
//! answer alike: a handle is mapped at one place at a time and whole, access
//! is set on whole mappings (both `NOT_SUPPORTED` otherwise).

use std::collections::BTreeMap;

use super::super::driver::CUmemHandle;
use super::super::handles::{tag, HandleTable};
use crate::cuda::backend::CuResult;
use uapi::cuda::result::{INVALID_VALUE, NOT_SUPPORTED, OUT_OF_MEMORY};
use uapi::cuda::vmm_prop::{ACCESS_NONE, ACCESS_READ, ACCESS_READWRITE};

/// One allocation handle of the client.
#[derive(Debug)]
pub(super) struct VmmHandle {
    /// The host's handle. The client holds one host reference while
    /// `refs > 0`; the host frees the memory once that reference is gone
    /// and the memory is unmapped.
    pub raw: CUmemHandle,
    pub size: u64,
    /// The guest's references (cuMemCreate and cuMemRetainAllocationHandle).
    pub refs: u32,
    /// Where it is mapped.
    pub mapped_at: Option<u64>,
}

/// One mapping: its size, guest handle and device access flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Mapping {
    pub size: u64,
    pub handle: u64,
    pub access: u32,
}

/// One client's reservations, handles and mappings.
#[derive(Debug)]
pub(super) struct VmmState {
    pub handles: HandleTable<VmmHandle>,
    /// Reservations: base → size.
    pub reservations: BTreeMap<u64, u64>,
    /// Mappings by base address.
    pub mappings: BTreeMap<u64, Mapping>,
    /// Address space the client may reserve in all (a host process's GPU
    /// address space is shared by every client it serves).
    pub reserve_limit: u64,
}

impl VmmState {
    /// Nothing reserved; at most `reserve_limit` bytes of address space.
    pub fn new(reserve_limit: u64) -> Self {
        Self {
            handles: HandleTable::new(tag::VMM),
            reservations: BTreeMap::new(),
            mappings: BTreeMap::new(),
            reserve_limit,
        }
    }

    /// Bytes of the live handles (mapped or not).
    pub fn bytes_held(&self) -> u64 {
        self.handles.iter().map(|(_, h)| h.size).sum()
    }

    /// `OUT_OF_MEMORY` if reserving `size` more bytes passes the limit.
    pub fn check_reserve(&self, size: u64) -> CuResult<()> {
        let reserved: u64 = self.reservations.values().sum();
        match reserved.checked_add(size) {
            Some(total) if total <= self.reserve_limit => Ok(()),
            _ => Err(OUT_OF_MEMORY),
        }
    }

    /// `cuMemAddressFree`: the whole reservation, with nothing mapped in it.
    pub fn check_free(&self, ptr: u64, size: u64) -> CuResult<()> {
        let whole = self.reservations.get(&ptr) == Some(&size);
        let empty = self
            .mappings
            .range(ptr..ptr.saturating_add(size))
            .next()
            .is_none();
        if whole && empty {
            Ok(())
        } else {
            Err(INVALID_VALUE)
        }
    }

    /// `cuMemMap`: the host handle to map at `[ptr, ptr + size)`, which must
    /// lie in one reservation over nothing mapped; `handle` must be live
    /// (referenced), unmapped, and mapped whole.
    pub fn check_map(&self, ptr: u64, size: u64, handle: u64) -> CuResult<CUmemHandle> {
        let end = ptr.checked_add(size).ok_or(INVALID_VALUE)?;
        let inside = self
            .reservations
            .range(..=ptr)
            .next_back()
            .is_some_and(|(&b, &s)| end <= b + s);
        let h = self.handles.get(handle).ok_or(INVALID_VALUE)?;
        if !inside || h.refs == 0 || size > h.size {
            return Err(INVALID_VALUE);
        }
        let overlaps = self
            .mappings
            .range(..end)
            .next_back()
            .is_some_and(|(&b, m)| b + m.size > ptr);
        if overlaps {
            return Err(INVALID_VALUE);
        }
        if h.mapped_at.is_some() || size != h.size {
            return Err(NOT_SUPPORTED);
        }
        Ok(h.raw)
    }

    /// Records a mapping the host made (no access yet, as in CUDA).
    pub fn record_map(&mut self, ptr: u64, size: u64, handle: u64) {
        if let Some(h) = self.handles.get_mut(handle) {
            h.mapped_at = Some(ptr);
        }
        let access = ACCESS_NONE;
        self.mappings.insert(
            ptr,
            Mapping {
                size,
                handle,
                access,
            },
        );
    }

    /// The mapping holding `ptr`: its base and record.
    pub fn mapping_at(&self, ptr: u64) -> Option<(u64, Mapping)> {
        let (&base, &m) = self.mappings.range(..=ptr).next_back()?;
        (ptr - base < m.size).then_some((base, m))
    }

    /// The bases of the mappings tiling `[ptr, ptr + size)` exactly.
    pub fn tiling(&self, ptr: u64, size: u64) -> CuResult<Vec<u64>> {
        let end = ptr.checked_add(size).ok_or(INVALID_VALUE)?;
        let mut at = ptr;
        let mut bases = Vec::new();
        for (&base, m) in self.mappings.range(ptr..end) {
            if base != at {
                return Err(INVALID_VALUE);
            }
            at = base + m.size;
            bases.push(base);
        }
        if at != end {
            return Err(INVALID_VALUE);
        }
        Ok(bases)
    }

    /// `cuMemSetAccess`: the whole mappings tiling the range; a range that
    /// is mapped but cuts a mapping is `NOT_SUPPORTED` (the simulator's limit).
    pub fn access_targets(&self, ptr: u64, size: u64) -> CuResult<Vec<u64>> {
        match self.tiling(ptr, size) {
            Err(_) if self.covered(ptr, size, ACCESS_NONE) => Err(NOT_SUPPORTED),
            other => other,
        }
    }

    /// Sets the recorded access of the mapping at `base`.
    pub fn record_access(&mut self, base: u64, flags: u32) {
        if let Some(m) = self.mappings.get_mut(&base) {
            m.access = flags;
        }
    }

    /// Forgets the mapping at `base` (the host unmapped it); a handle with
    /// no guest reference left goes with it.
    pub fn record_unmap(&mut self, base: u64) {
        let Some(m) = self.mappings.remove(&base) else {
            return;
        };
        let unused = match self.handles.get_mut(m.handle) {
            Some(h) => {
                h.mapped_at = None;
                h.refs == 0
            }
            None => false,
        };
        if unused {
            self.handles.remove(m.handle);
        }
    }

    /// `cuMemRelease`: the host handle, and whether this is the guest's last
    /// reference (then the host's is released too).
    pub fn check_release(&self, handle: u64) -> CuResult<(CUmemHandle, bool)> {
        match self.handles.get(handle) {
            Some(h) if h.refs > 0 => Ok((h.raw, h.refs == 1)),
            _ => Err(INVALID_VALUE),
        }
    }

    /// Drops one guest reference; an unmapped handle without any goes.
    pub fn record_release(&mut self, handle: u64) {
        let gone = match self.handles.get_mut(handle) {
            Some(h) => {
                h.refs = h.refs.saturating_sub(1);
                h.refs == 0 && h.mapped_at.is_none()
            }
            None => false,
        };
        if gone {
            self.handles.remove(handle);
        }
    }

    /// Whether `[ptr, ptr + len)` (non-empty) is covered by mappings side
    /// by side, each granting at least `access` (`ACCESS_NONE`: any).
    pub fn covered(&self, ptr: u64, len: u64, access: u32) -> bool {
        let Some(end) = ptr.checked_add(len) else {
            return false;
        };
        let mut at = ptr;
        while at < end {
            match self.mapping_at(at) {
                Some((b, m)) if m.access & access == access => at = b + m.size,
                _ => return false,
            }
        }
        len > 0
    }

    /// Whether a copy or memset may read `[ptr, ptr + len)`.
    pub fn readable(&self, ptr: u64, len: u64) -> bool {
        self.covered(ptr, len, ACCESS_READ)
    }

    /// Whether a copy or memset may write `[ptr, ptr + len)`.
    pub fn writable(&self, ptr: u64, len: u64) -> bool {
        self.covered(ptr, len, ACCESS_READWRITE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = uapi::cuda::VMM_GRANULARITY;
    const BASE: u64 = 0x7f00_0000_0000;

    fn state_with_handles(n: usize) -> (VmmState, Vec<u64>) {
        let mut s = VmmState::new(64 * G);
        s.check_reserve(8 * G).expect("fits");
        s.reservations.insert(BASE, 8 * G);
        let handles = (0..n)
            .map(|i| {
                s.handles.insert(VmmHandle {
                    raw: 0x100 + i as u64,
                    size: G,
                    refs: 1,
                    mapped_at: None,
                })
            })
            .collect();
        (s, handles)
    }

    #[test]
    fn guest_handles_stand_for_host_handles_of_this_client_only() {
        let (s, h) = state_with_handles(2);
        assert_eq!(s.check_map(BASE, G, h[1]), Ok(0x101));
        // The host's value, another table's handle, garbage: unknown.
        for bad in [0x101, 0, u64::MAX, h[1] + 7] {
            assert_eq!(s.check_map(BASE, G, bad), Err(INVALID_VALUE), "{bad:#x}");
        }
        let (other, oh) = state_with_handles(1);
        assert_eq!(oh[0], h[0], "tables of two clients issue the same values");
        drop(other);
        assert!(h.iter().all(|&x| (x >> 48) as u16 == tag::VMM));
    }

    #[test]
    fn mappings_stay_inside_reservations_and_never_overlap() {
        let (mut s, h) = state_with_handles(3);
        assert_eq!(s.check_map(BASE + 8 * G, G, h[0]), Err(INVALID_VALUE));
        assert_eq!(s.check_map(BASE + 7 * G, 2 * G, h[0]), Err(INVALID_VALUE));
        assert_eq!(s.check_map(BASE - G, G, h[0]), Err(INVALID_VALUE));
        s.record_map(BASE, G, h[0]);
        assert_eq!(s.check_map(BASE, G, h[1]), Err(INVALID_VALUE), "overlap");
        assert_eq!(s.check_map(BASE + G, G, h[0]), Err(NOT_SUPPORTED), "twice");
        assert_eq!(
            s.check_map(BASE + G, G / 2, h[1]),
            Err(NOT_SUPPORTED),
            "part"
        );
        assert_eq!(
            s.check_map(BASE + G, 2 * G, h[1]),
            Err(INVALID_VALUE),
            "more"
        );
        s.record_map(BASE + G, G, h[1]);
        assert_eq!(
            s.check_free(BASE, 8 * G),
            Err(INVALID_VALUE),
            "still mapped"
        );
        assert_eq!(s.check_free(BASE, 4 * G), Err(INVALID_VALUE), "not whole");
        assert_eq!(s.check_reserve(57 * G), Err(OUT_OF_MEMORY), "the limit");
        assert_eq!(s.check_reserve(56 * G), Ok(()));
    }

    #[test]
    fn copies_need_adjacent_mappings_with_access() {
        let (mut s, h) = state_with_handles(3);
        s.record_map(BASE, G, h[0]);
        s.record_map(BASE + G, G, h[1]);
        s.record_map(BASE + 3 * G, G, h[2]);
        assert!(!s.readable(BASE, 16), "no access until cuMemSetAccess");
        assert_eq!(s.access_targets(BASE, 2 * G), Ok(vec![BASE, BASE + G]));
        assert_eq!(s.access_targets(BASE, G / 2), Err(NOT_SUPPORTED));
        assert_eq!(s.access_targets(BASE, 3 * G), Err(INVALID_VALUE), "a hole");
        s.record_access(BASE, ACCESS_READWRITE);
        s.record_access(BASE + G, ACCESS_READ);
        s.record_access(BASE + 3 * G, ACCESS_READWRITE);
        assert!(s.writable(BASE + G / 2, G / 2));
        assert!(s.readable(BASE + G / 2, G), "across the boundary");
        assert!(!s.writable(BASE + G / 2, G), "the second is read-only");
        assert!(!s.readable(BASE + G, 2 * G), "the hole");
        assert!(!s.readable(BASE + 3 * G, G + 1), "past the end");
        assert!(!s.readable(u64::MAX - 1, 4));
        assert!(!s.readable(BASE, 0));
    }

    #[test]
    fn handles_go_once_released_and_unmapped_in_either_order() {
        let (mut s, h) = state_with_handles(2);
        s.record_map(BASE, G, h[0]);
        assert_eq!(s.check_release(h[0]), Ok((0x100, true)));
        s.record_release(h[0]);
        assert_eq!(s.check_release(h[0]), Err(INVALID_VALUE));
        assert_eq!(s.bytes_held(), 2 * G, "mapped: still held");
        assert_eq!(s.check_map(BASE + G, G, h[0]), Err(INVALID_VALUE));
        s.record_unmap(BASE);
        assert!(s.handles.get(h[0]).is_none());
        // Unmapped first, then released.
        s.record_map(BASE, G, h[1]);
        s.record_unmap(BASE);
        assert!(s.handles.get(h[1]).is_some());
        if let Some(x) = s.handles.get_mut(h[1]) {
            x.refs = 2;
        }
        assert_eq!(s.check_release(h[1]), Ok((0x101, false)), "retained");
        s.record_release(h[1]);
        s.record_release(h[1]);
        assert_eq!(s.bytes_held(), 0);
        assert!(s.mappings.is_empty() && s.handles.is_empty());
    }
}
