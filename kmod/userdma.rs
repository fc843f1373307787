// SPDX-License-Identifier: GPL-2.0

//! Zero-copy buffers: the caller's pages pinned, DMA-mapped and described to
//! the device as a scatter-gather list whose first entry is a small kernel
//! copy of the command's header (so that the caller cannot change what the
//! device parses) and whose other entries are the pinned data pages.
//!
//! Field order is drop order: the list and header, then the mapping, then
//! the pins. The mapping lives in a [`Devres`], so unbind unmaps it even
//! where a buffer outlives the binding; the pins go when the buffer does.

use crate::{
    helpers,
    shared::Binding,
    uapi::ring::{
        SgEntry,
        MAX_SG_ENTRIES, //
    },
};
use core::ptr::NonNull;
use kernel::{
    bindings,
    devres::Devres,
    dma::{
        Coherent,
        CoherentBox, //
    },
    ffi::{
        c_int,
        c_uint,
        c_ulong,
        c_void, //
    },
    page::PAGE_SIZE,
    pci,
    prelude::*,
    scatterlist::SGTable,
    sync::aref::ARef,
};

unsafe extern "C" {
    /// Charges `npages` to `current->mm->pinned_vm` against `RLIMIT_MEMLOCK`
    /// and grabs the mm; null when over the limit. No preconditions. (The
    /// `struct mm_struct` is `void *` here: bindgen's holds a zero-sized
    /// field rustc calls FFI-unsafe; Rust never looks inside it.)
    fn vgpu_pin_charge(npages: c_ulong) -> *mut c_void;
    /// Undoes one `vgpu_pin_charge`.
    ///
    /// # Safety
    ///
    /// `mm` and `npages` are those of a charge not yet undone.
    fn vgpu_pin_uncharge(mm: *mut c_void, npages: c_ulong);
    /// Pages the caller may still pin under `RLIMIT_MEMLOCK`. No preconditions.
    fn vgpu_pin_room() -> c_ulong;
    /// Longest segment worth building for `pdev`.
    ///
    /// # Safety
    ///
    /// `pdev` is a live `struct pci_dev` (`void *`: see `helpers`).
    fn vgpu_dma_max_segment(pdev: *mut c_void) -> c_uint;
    /// `dma_map_sgtable` for `pdev`.
    ///
    /// # Safety
    ///
    /// `pdev` is bound to this driver; `sgt` is an allocated, unmapped table.
    fn vgpu_dma_map_sgtable(
        pdev: *mut c_void,
        sgt: *mut bindings::sg_table,
        to_device: bool,
    ) -> c_int;
    /// `dma_unmap_sgtable` for `pdev`.
    ///
    /// # Safety
    ///
    /// `sgt` was mapped for `pdev` with `to_device` and not unmapped since;
    /// `pdev` is still bound.
    fn vgpu_dma_unmap_sgtable(pdev: *mut c_void, sgt: *mut bindings::sg_table, to_device: bool);
}

/// Bytes the caller may still pin under its `RLIMIT_MEMLOCK`.
pub(crate) fn memlock_room() -> u64 {
    // SAFETY: no preconditions.
    let pages = unsafe { vgpu_pin_room() };
    // CAST: usize fits u64 on every supported architecture.
    (pages as u64).saturating_mul(PAGE_SIZE as u64)
}

/// Pages that pinning `len` bytes at `addr` takes.
pub(crate) fn pages_spanned(addr: usize, len: usize) -> Result<usize> {
    let offset = addr % PAGE_SIZE;
    Ok(offset.checked_add(len).ok_or(EINVAL)?.div_ceil(PAGE_SIZE))
}

/// A range of the caller's memory, pinned with `FOLL_LONGTERM` (commands
/// may stay queued for long) and charged to its `RLIMIT_MEMLOCK`.
///
/// # Invariants
///
/// `pages` holds the pages `pin_user_pages_fast` returned for the whole
/// range, each pinned once on behalf of `self`; `mm` carries a charge of
/// `pages.len()` pages and a reference. Both are released once, in `drop`.
struct PinnedPages {
    pages: KVVec<*mut bindings::page>,
    offset: usize,
    len: usize,
    writable: bool,
    mm: NonNull<c_void>,
}

// SAFETY: pinned pages and a grabbed mm may be released by any task:
// `unpin_user_pages_dirty_lock` and `mmdrop` are not tied to the pinner.
unsafe impl Send for PinnedPages {}
// SAFETY: `&PinnedPages` gives no access to the pages or the mm.
unsafe impl Sync for PinnedPages {}

impl PinnedPages {
    /// Pins `len` (non-zero) bytes at user address `addr`, for the device
    /// to write when `writable`. A partial pin is undone: `EFAULT`.
    fn pin(addr: usize, len: usize, writable: bool) -> Result<Self> {
        if len == 0 {
            return Err(EINVAL);
        }
        let offset = addr % PAGE_SIZE;
        let count = pages_spanned(addr, len)?;
        let count_c = c_int::try_from(count).map_err(|_| EINVAL)?;
        let mut pages = KVVec::with_capacity(count, GFP_KERNEL_ACCOUNT)?;
        // CAST: `count` fits a c_int, so it fits a c_ulong.
        // SAFETY: no preconditions.
        let mm = NonNull::new(unsafe { vgpu_pin_charge(count as c_ulong) }).ok_or(ENOMEM)?;
        let flags = bindings::FOLL_LONGTERM | if writable { bindings::FOLL_WRITE } else { 0 };
        // SAFETY: `pages` has room for `count` pointers; the kernel checks
        // that the range is the caller's user memory.
        let got = unsafe {
            bindings::pin_user_pages_fast(
                (addr - offset) as c_ulong,
                count_c,
                flags,
                pages.as_mut_ptr(),
            )
        };
        let pinned = usize::try_from(got).unwrap_or(0);
        if pinned != count {
            if pinned > 0 {
                // SAFETY: the first `pinned` entries were just pinned.
                unsafe { bindings::unpin_user_pages(pages.as_mut_ptr(), pinned as c_ulong) };
            }
            // SAFETY: the charge above, undone once.
            unsafe { vgpu_pin_uncharge(mm.as_ptr(), count as c_ulong) };
            // A range that wraps the address space is EOVERFLOW to
            // `pin_user_pages_fast`; to the caller it is memory it cannot
            // reach, EFAULT as the uapi documents.
            return Err(match got {
                0.. => EFAULT,
                e if Error::from_errno(e) == EOVERFLOW => EFAULT,
                e => Error::from_errno(e),
            });
        }
        // SAFETY: `pin_user_pages_fast` initialised `count` entries.
        unsafe { pages.inc_len(count) };
        // INVARIANT: every page is pinned and the mm charged for all of them.
        Ok(Self {
            pages,
            offset,
            len,
            writable,
            mm,
        })
    }
}

impl Drop for PinnedPages {
    fn drop(&mut self) {
        let count = self.pages.len() as c_ulong;
        // SAFETY: the type invariant: these pages are pinned by us, once.
        // Pages the device wrote are marked dirty for the page cache.
        unsafe {
            bindings::unpin_user_pages_dirty_lock(self.pages.as_mut_ptr(), count, self.writable)
        };
        // SAFETY: the type invariant: the charge of these pages.
        unsafe { vgpu_pin_uncharge(self.mm.as_ptr(), count) };
    }
}

/// An `sg_table` over pinned pages, DMA-mapped for the device.
///
/// # Invariants
///
/// `sgt` is allocated and mapped for `pdev` in direction `to_device`; it is
/// unmapped and freed once, in `drop`, which `Devres` runs no later than
/// unbind.
struct MappedTable {
    sgt: bindings::sg_table,
    pdev: ARef<pci::Device>,
    to_device: bool,
}

// SAFETY: the table is plain memory owned by `self`; unmapping and freeing
// it may happen on any task.
unsafe impl Send for MappedTable {}
// SAFETY: `&MappedTable` only reads the table (its DMA segments).
unsafe impl Sync for MappedTable {}

impl MappedTable {
    fn new(binding: &Binding<'_>, pdev: &pci::Device, pages: &mut PinnedPages) -> Result<Self> {
        let _bound = binding.dev();
        let raw_pdev = helpers::raw(pdev).cast::<c_void>();
        // SAFETY: an all-zero `sg_table` is the empty table the allocator fills.
        let mut sgt: bindings::sg_table = unsafe { core::mem::zeroed() };
        // SAFETY: `raw_pdev` is live (`pdev` is borrowed).
        let max_segment = unsafe { vgpu_dma_max_segment(raw_pdev) };
        // SAFETY: `pages` holds `pages.len()` pinned pages covering
        // `offset..offset + len`.
        let r = unsafe {
            bindings::sg_alloc_table_from_pages_segment(
                &mut sgt,
                pages.pages.as_mut_ptr(),
                c_uint::try_from(pages.pages.len()).map_err(|_| EINVAL)?,
                // CAST: below PAGE_SIZE.
                pages.offset as c_uint,
                pages.len as c_ulong,
                max_segment,
                bindings::GFP_KERNEL_ACCOUNT,
            )
        };
        if r != 0 {
            return Err(Error::from_errno(r));
        }
        // SAFETY: `binding` proves `pdev` bound; `sgt` is allocated, unmapped.
        let r = unsafe { vgpu_dma_map_sgtable(raw_pdev, &mut sgt, !pages.writable) };
        if r != 0 {
            // SAFETY: allocated above, never mapped.
            unsafe { bindings::sg_free_table(&mut sgt) };
            return Err(Error::from_errno(r));
        }
        // INVARIANT: allocated and mapped above.
        Ok(Self {
            sgt,
            pdev: pdev.into(),
            to_device: !pages.writable,
        })
    }

    /// The mapped segments: (device address, length).
    fn segments(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        // SAFETY: `sgt` is a valid table for the life of `&self`, and nothing
        // modifies it while mapped.
        let table = unsafe { SGTable::from_raw(core::ptr::from_ref(&self.sgt).cast_mut()) };
        table.iter().map(|e| (e.dma_address(), e.dma_len()))
    }
}

impl Drop for MappedTable {
    fn drop(&mut self) {
        let raw_pdev = helpers::raw(&self.pdev).cast::<c_void>();
        // SAFETY: the type invariant: mapped for `pdev`, which `Devres`
        // keeps bound until this returns; unmapping syncs for the CPU.
        unsafe { vgpu_dma_unmap_sgtable(raw_pdev, &mut self.sgt, self.to_device) };
        // SAFETY: allocated by `new`, unmapped just now.
        unsafe { bindings::sg_free_table(&mut self.sgt) };
    }
}

/// One zero-copy buffer: an SG list of the header copy and pinned pages.
pub(crate) struct UserDma {
    list: Coherent<[SgEntry]>,
    header: Option<Coherent<[u8]>>,
    data_len: usize,
    _map: Devres<MappedTable>,
    pages: PinnedPages,
}

impl UserDma {
    /// Pins `len` bytes at user address `addr` (for the device to write
    /// them when `!to_device`). Takes no binding: faulting the pages in may
    /// take a while. [`Self::map`] completes the buffer.
    pub(crate) fn pin(addr: usize, len: usize, to_device: bool) -> Result<PinnedData> {
        Ok(PinnedData(PinnedPages::pin(addr, len, !to_device)?))
    }

    /// Maps `data` for the device and builds its list behind `header`;
    /// `EINVAL` if the list would exceed `max_transfer` bytes or
    /// [`MAX_SG_ENTRIES`] entries.
    pub(crate) fn map(
        binding: &Binding<'_>,
        pdev: &pci::Device,
        header: Option<Coherent<[u8]>>,
        data: PinnedData,
        max_transfer: u32,
    ) -> Result<Self> {
        let mut pages = data.0;
        let header_len = header.as_ref().map_or(0, |h| h.len());
        if header_len.saturating_add(pages.len) > max_transfer as usize {
            return Err(EINVAL);
        }
        let table = MappedTable::new(binding, pdev, &mut pages)?;
        let entries = usize::from(header.is_some()) + table.segments().count();
        if entries > MAX_SG_ENTRIES as usize {
            return Err(EINVAL);
        }
        let mut list =
            CoherentBox::<[SgEntry]>::zeroed_slice(binding.dev(), entries, GFP_KERNEL_ACCOUNT)?;
        let mut slots = list.iter_mut();
        if let (Some(h), Some(slot)) = (header.as_ref(), slots.next()) {
            *slot = SgEntry {
                addr: h.dma_handle(),
                // CAST: at most MAX_PAYLOAD.
                len: h.len() as u32,
                reserved: 0,
            };
        }
        for ((addr, len), slot) in table.segments().zip(slots) {
            *slot = SgEntry {
                addr,
                len: u32::try_from(len).map_err(|_| EINVAL)?,
                reserved: 0,
            };
        }
        let map = Devres::new(binding.dev(), table)?;
        Ok(Self {
            list: list.into(),
            header,
            data_len: pages.len,
            _map: map,
            pages,
        })
    }

    /// Device address and entry count of the list, for a submission entry.
    pub(crate) fn descriptor(&self) -> (u64, u32) {
        // CAST: at most MAX_SG_ENTRIES.
        (self.list.dma_handle(), self.list.len() as u32)
    }

    /// The header copy (what WAIT hands back of a response).
    pub(crate) fn header(&self) -> Option<&Coherent<[u8]>> {
        self.header.as_ref()
    }

    /// Bytes of the pinned data.
    pub(crate) fn data_len(&self) -> usize {
        self.data_len
    }

    /// Pages pinned.
    pub(crate) fn pinned_pages(&self) -> usize {
        self.pages.pages.len()
    }

    /// DMA-coherent bytes: the header copy and the list.
    pub(crate) fn dma_bytes(&self) -> usize {
        self.header.as_ref().map_or(0, |h| h.len()) + self.list.len() * size_of::<SgEntry>()
    }
}

/// Pinned pages not yet mapped (see [`UserDma::pin`]).
pub(crate) struct PinnedData(PinnedPages);
