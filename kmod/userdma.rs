// SPDX-License-Identifier: GPL-2.0

//! Zero-copy buffers: the caller's pages pinned and DMA-mapped once, as a
//! [`CachedPin`] that outlives its command (see `pincache`), and described
//! to each command as a scatter-gather list whose first entry is a small
//! kernel copy of the command's header (so that the caller cannot change
//! what the device parses) and whose other entries are the pinned pages of
//! that command's range.
//!
//! A pinning's mapping and pins ([`PinBody`]) go first, then its watch.
//! The mapping lives in a [`Devres`], so unbind unmaps it even where a
//! pinning outlives the binding; the pins go when the pinning does, or,
//! for a pinning with runs the device may have registered with the GPU
//! (`uapi::cmd::GUEST_REGISTER_MIN`), once the device has released them
//! (`release`).

use crate::{
    helpers,
    pinwatch::{
        self,
        PinWatch, //
    },
    release::RetiredPin,
    shared::Binding,
    uapi::{
        cmd::{
            GuestRange,
            GUEST_REGISTER_MIN, //
        },
        ring::{
            SgEntry,
            MAX_SG_ENTRIES, //
        },
    },
};
use core::{
    mem::ManuallyDrop,
    ptr::NonNull,
    sync::atomic::{
        AtomicUsize,
        Ordering, //
    },
};
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
    new_mutex,
    page::PAGE_SIZE,
    pci,
    prelude::*,
    scatterlist::SGTable,
    sync::{
        aref::ARef,
        Arc,
        Mutex, //
    },
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
    /// `dma_map_sgtable` for `pdev`: `DMA_TO_DEVICE` with `to_device`,
    /// else `DMA_BIDIRECTIONAL`.
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
    /// Syncs `len` bytes at device address `addr` of a mapping made with
    /// `to_device`, for the device (`for_device`) or the CPU.
    ///
    /// # Safety
    ///
    /// The range lies in a live mapping for `pdev` made with `to_device`.
    fn vgpu_dma_sync_range(
        pdev: *mut c_void,
        addr: bindings::dma_addr_t,
        len: usize,
        to_device: bool,
        for_device: bool,
    );
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

/// Whole pages of the caller's memory, pinned with `FOLL_LONGTERM` (they
/// stay pinned while cached) and charged to its `RLIMIT_MEMLOCK`.
///
/// # Invariants
///
/// `pages` holds the pages `pin_user_pages_fast` returned for the whole
/// range, each pinned once on behalf of `self`; `mm` carries a charge of
/// `pages.len()` pages and a reference. Both are released once, in `drop`.
struct PinnedPages {
    pages: KVVec<*mut bindings::page>,
    writable: bool,
    mm: NonNull<c_void>,
}

// SAFETY: pinned pages and a grabbed mm may be released by any task:
// `unpin_user_pages_dirty_lock` and `mmdrop` are not tied to the pinner.
unsafe impl Send for PinnedPages {}
// SAFETY: `&PinnedPages` gives no access to the pages or the mm.
unsafe impl Sync for PinnedPages {}

impl PinnedPages {
    /// Pins `count` (non-zero) pages at page-aligned user address `start`,
    /// for the device to write too when `writable`. `ENOMEM` over
    /// `RLIMIT_MEMLOCK`; a partial pin is undone: `EFAULT`.
    fn pin(start: usize, count: usize, writable: bool) -> Result<Self> {
        let count_c = c_int::try_from(count).map_err(|_| EINVAL)?;
        if count == 0 || start % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let mut pages = KVVec::with_capacity(count, GFP_KERNEL_ACCOUNT)?;
        // CAST: `count` fits a c_int, so it fits a c_ulong.
        // SAFETY: no preconditions.
        let mm = NonNull::new(unsafe { vgpu_pin_charge(count as c_ulong) }).ok_or(ENOMEM)?;
        let flags = bindings::FOLL_LONGTERM | if writable { bindings::FOLL_WRITE } else { 0 };
        // SAFETY: `pages` has room for `count` pointers; the kernel checks
        // that the range is the caller's user memory.
        let got = unsafe {
            bindings::pin_user_pages_fast(start as c_ulong, count_c, flags, pages.as_mut_ptr())
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
            writable,
            mm,
        })
    }
}

impl Drop for PinnedPages {
    fn drop(&mut self) {
        let count = self.pages.len() as c_ulong;
        // SAFETY: the type invariant: these pages are pinned by us, once.
        // Pages the device may have written are marked dirty.
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
        let count = pages.pages.len();
        // SAFETY: an all-zero `sg_table` is the empty table the allocator fills.
        let mut sgt: bindings::sg_table = unsafe { core::mem::zeroed() };
        // SAFETY: `raw_pdev` is live (`pdev` is borrowed).
        let max_segment = unsafe { vgpu_dma_max_segment(raw_pdev) };
        // SAFETY: `pages` holds `count` pinned pages.
        let r = unsafe {
            bindings::sg_alloc_table_from_pages_segment(
                &mut sgt,
                pages.pages.as_mut_ptr(),
                c_uint::try_from(count).map_err(|_| EINVAL)?,
                0,
                count.checked_mul(PAGE_SIZE).ok_or(EINVAL)? as c_ulong,
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

    /// Syncs the device range `addr..addr + len` for the device or the CPU.
    fn sync(&self, addr: u64, len: usize, for_device: bool) {
        let raw_pdev = helpers::raw(&self.pdev).cast::<c_void>();
        // SAFETY: the range comes from `segments` of this live mapping.
        unsafe { vgpu_dma_sync_range(raw_pdev, addr, len, self.to_device, for_device) };
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

/// One mapped segment of a pinning: `len` bytes at device address `dma`,
/// `off` bytes into the pinned range.
#[derive(Clone, Copy)]
struct Segment {
    off: usize,
    dma: u64,
    len: usize,
}

/// Pages pinned by one file, alive (its cache and commands in flight),
/// and the pinnings that wait for the device to release them.
#[pin_data]
pub(crate) struct PinAccount {
    pub(crate) pages: AtomicUsize,
    #[pin]
    pub(crate) releases: Mutex<crate::release::Releases>,
}

impl PinAccount {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                pages: AtomicUsize::new(0),
                releases <- new_mutex!(crate::release::Releases::new()),
            }),
            GFP_KERNEL,
        )
    }
}

/// What a pinning holds of the device and the caller's memory; field
/// order is drop order: the mapping, then the pins.
pub(crate) struct PinBody {
    map: Devres<MappedTable>,
    pages: PinnedPages,
}

/// A pinned, DMA-mapped, watched range of whole pages of one mm. Commands
/// hold it while in flight (`users`); the cache holds it while it is valid.
///
/// # Invariants
///
/// `body` is taken only in `drop`. A pinning with `runs` was promised a
/// place among its account's releases (`Releases::promise`) when made.
pub(crate) struct CachedPin {
    watch: PinWatch,
    start: usize,
    segments: KVVec<Segment>,
    /// Runs of contiguous device addresses the host may register with the
    /// GPU: released (`Opcode::ReleaseGuestPages`) before they are unpinned.
    runs: KVVec<GuestRange>,
    body: ManuallyDrop<PinBody>,
    users: AtomicUsize,
    account: Arc<PinAccount>,
}

impl CachedPin {
    /// Watches, pins and maps `count` pages at page-aligned `start`. The
    /// binding is taken only for the mapping: faulting pages in may wait
    /// for userspace, which unbind must not wait for.
    pub(crate) fn new(
        shared: &crate::shared::Shared,
        start: usize,
        count: usize,
        writable: bool,
        account: Arc<PinAccount>,
    ) -> Result<Self> {
        // Watch first: an invalidation after the pin cannot go unseen.
        let watch = PinWatch::new(start, count)?;
        let mut pages = PinnedPages::pin(start, count, writable)?;
        let binding = shared.bind_alive()?;
        let table = MappedTable::new(&binding, &shared.pdev, &mut pages)?;
        let mut segments = KVVec::new();
        let mut off = 0usize;
        for (dma, len) in table.segments() {
            let len = usize::try_from(len).map_err(|_| EINVAL)?;
            segments.push(Segment { off, dma, len }, GFP_KERNEL_ACCOUNT)?;
            off = off.checked_add(len).ok_or(EINVAL)?;
        }
        if off != count * PAGE_SIZE {
            dev_err!(
                shared.pdev,
                "pinning of {} pages mapped {} bytes\n",
                count,
                off
            );
            return Err(EIO);
        }
        let runs = registrable_runs(&segments)?;
        let map = Devres::new(binding.dev(), table)?;
        if !runs.is_empty() {
            account.releases.lock().promise()?;
        }
        account.pages.fetch_add(count, Ordering::Relaxed);
        // INVARIANT: the body is whole, and a pinning with runs has its
        // place among the releases.
        Ok(Self {
            watch,
            start,
            segments,
            runs,
            body: ManuallyDrop::new(PinBody { map, pages }),
            users: AtomicUsize::new(0),
            account,
        })
    }

    /// First user address and length in bytes.
    pub(crate) fn range(&self) -> (usize, usize) {
        (self.start, self.body.pages.pages.len() * PAGE_SIZE)
    }

    pub(crate) fn writable(&self) -> bool {
        self.body.pages.writable
    }

    /// Whether a command in flight uses it.
    pub(crate) fn in_use(&self) -> bool {
        self.users.load(Ordering::Acquire) != 0
    }

    /// Whether it holds `addr..addr + len` for the device to read (and to
    /// write with `write`).
    pub(crate) fn covers(&self, addr: usize, len: usize, write: bool) -> bool {
        let (start, bytes) = self.range();
        (self.writable() || !write)
            && addr >= start
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= start + bytes)
    }

    /// Whether its mapping changed since it was pinned (for good; a
    /// process's exit counts).
    pub(crate) fn is_stale(&self) -> bool {
        self.watch.is_stale()
    }

    /// Whether it was pinned from the calling task's memory.
    pub(crate) fn is_callers(&self) -> bool {
        pinwatch::is_current_mm(self.body.pages.mm.as_ptr())
    }

    /// Whether the caller's mapping of `addr..addr + len` (covered) still
    /// maps the pinned pages.
    pub(crate) fn still_mapped(&self, addr: usize, len: usize) -> bool {
        let Ok(count) = pages_spanned(addr, len) else {
            return false;
        };
        let first = (addr - self.start) / PAGE_SIZE;
        self.watch
            .still_maps(&self.body.pages.pages, first, count, self.writable())
    }

    /// The segments of `addr..addr + len` (covered), clipped.
    fn segments_of(&self, addr: usize, len: usize) -> impl Iterator<Item = (u64, usize)> + '_ {
        let lo = addr - self.start;
        let hi = lo + len;
        let first = self.segments.partition_point(|s| s.off + s.len <= lo);
        self.segments[first..]
            .iter()
            .take_while(move |s| s.off < hi)
            .map(move |s| {
                let from = lo.max(s.off);
                let to = hi.min(s.off + s.len);
                (s.dma + (from - s.off) as u64, to - from)
            })
    }
}

impl Drop for CachedPin {
    fn drop(&mut self) {
        // SAFETY: the type invariant: taken here only, and `self` is not
        // used after.
        let body = unsafe { ManuallyDrop::take(&mut self.body) };
        self.account
            .pages
            .fetch_sub(body.pages.pages.len(), Ordering::Relaxed);
        if self.runs.is_empty() {
            return;
        }
        // The host may have registered these pages with the GPU: they stay
        // pinned until the device has released them.
        let runs = core::mem::take(&mut self.runs);
        self.account
            .releases
            .lock()
            .retire(RetiredPin::new(runs, body));
    }
}

/// The runs of `segments` (in order) of contiguous device addresses at
/// least [`GUEST_REGISTER_MIN`] long: the ones the host may register.
fn registrable_runs(segments: &[Segment]) -> Result<KVVec<GuestRange>> {
    let mut runs = KVVec::new();
    let mut push = |run: GuestRange| -> Result {
        if run.len >= GUEST_REGISTER_MIN {
            runs.push(run, GFP_KERNEL_ACCOUNT)?;
        }
        Ok(())
    };
    let mut current: Option<GuestRange> = None;
    for s in segments {
        // CAST: usize fits u64 on every supported architecture.
        let len = s.len as u64;
        current = Some(match current {
            Some(mut run) if run.addr.checked_add(run.len) == Some(s.dma) => {
                run.len += len;
                run
            }
            Some(run) => {
                push(run)?;
                GuestRange { addr: s.dma, len }
            }
            None => GuestRange { addr: s.dma, len },
        });
    }
    if let Some(run) = current {
        push(run)?;
    }
    Ok(runs)
}

/// One command's use of a pinning: `addr..addr + len` of it, synced for
/// the device while the command is in flight.
struct PinUse {
    pin: Arc<CachedPin>,
    addr: usize,
    len: usize,
}

impl PinUse {
    fn new(pin: Arc<CachedPin>, addr: usize, len: usize) -> Self {
        pin.users.fetch_add(1, Ordering::AcqRel);
        let me = Self { pin, addr, len };
        me.sync(true);
        me
    }

    fn sync(&self, for_device: bool) {
        self.pin.body.map.try_access_with(|table| {
            for (dma, len) in self.pin.segments_of(self.addr, self.len) {
                table.sync(dma, len, for_device);
            }
        });
    }
}

impl Drop for PinUse {
    fn drop(&mut self) {
        // The device is done (the command completed or its queue stopped).
        self.sync(false);
        self.pin.users.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One zero-copy buffer: an SG list of the header copy and pinned pages.
pub(crate) struct UserDma {
    list: Coherent<[SgEntry]>,
    header: Option<Coherent<[u8]>>,
    data: PinUse,
}

impl UserDma {
    /// Describes `addr..addr + len` of `pin` (which covers it) behind
    /// `header`; `EINVAL` if the list would exceed `max_transfer` bytes or
    /// [`MAX_SG_ENTRIES`] entries.
    pub(crate) fn new(
        binding: &Binding<'_>,
        header: Option<Coherent<[u8]>>,
        pin: Arc<CachedPin>,
        addr: usize,
        len: usize,
        max_transfer: u32,
    ) -> Result<Self> {
        let header_len = header.as_ref().map_or(0, |h| h.len());
        if len == 0 || header_len.saturating_add(len) > max_transfer as usize {
            return Err(EINVAL);
        }
        let entries = usize::from(header.is_some()) + pin.segments_of(addr, len).count();
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
        for ((addr, len), slot) in pin.segments_of(addr, len).zip(slots) {
            *slot = SgEntry {
                addr,
                len: u32::try_from(len).map_err(|_| EINVAL)?,
                reserved: 0,
            };
        }
        Ok(Self {
            list: list.into(),
            header,
            data: PinUse::new(pin, addr, len),
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
        self.data.len
    }

    /// Pages of pinned data the command uses.
    pub(crate) fn pinned_pages(&self) -> usize {
        pages_spanned(self.data.addr, self.data.len).unwrap_or(0)
    }

    /// DMA-coherent bytes: the header copy and the list.
    pub(crate) fn dma_bytes(&self) -> usize {
        self.header.as_ref().map_or(0, |h| h.len()) + self.list.len() * size_of::<SgEntry>()
    }
}
