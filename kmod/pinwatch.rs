// SPDX-License-Identifier: GPL-2.0

//! Watches of cached pinnings (`vgpu_pin_watch_*` in `vgpu_helpers.c`):
//! whether the user mapping a pinning was made from still maps its pages.
//! An MMU interval notifier marks a watch stale on any invalidation of its
//! range; without `CONFIG_MMU_NOTIFIER` the page tables of the range used
//! are compared with the pinned pages on every reuse.

use core::ptr::NonNull;
use kernel::{
    bindings,
    ffi::{
        c_ulong,
        c_void, //
    },
    prelude::*,
};

unsafe extern "C" {
    /// Starts watching `npages` pages at page-aligned `start` of the
    /// caller's mm; null on failure. No preconditions.
    fn vgpu_pin_watch_new(start: c_ulong, npages: c_ulong) -> *mut c_void;
    /// Whether the watched mapping still maps `npages` of `pages` from
    /// index `first`.
    ///
    /// # Safety
    ///
    /// `w` is a live watch; `pages` holds the watch's page count of
    /// `struct page *` (`void *`: see `vgpu_pin_charge`).
    fn vgpu_pin_watch_valid(
        w: *mut c_void,
        pages: *mut *mut c_void,
        first: c_ulong,
        npages: c_ulong,
        writable: bool,
    ) -> bool;
    /// Whether an invalidation hit the watched range.
    ///
    /// # Safety
    ///
    /// `w` is a live watch.
    fn vgpu_pin_watch_stale(w: *mut c_void) -> bool;
    /// Stops a watch and frees it; may sleep.
    ///
    /// # Safety
    ///
    /// `w` is a live watch, freed once.
    fn vgpu_pin_watch_free(w: *mut c_void);
    /// `current->mm`, to compare only. No preconditions.
    fn vgpu_current_mm() -> *mut c_void;
    /// Whether watches use MMU notifiers. No preconditions.
    fn vgpu_pin_watch_notified() -> bool;
}

/// Whether mapping changes are seen by an MMU notifier (else by a check of
/// the page tables on every reuse).
pub(crate) fn notifier_watches() -> bool {
    // SAFETY: no preconditions.
    unsafe { vgpu_pin_watch_notified() }
}

/// Whether `mm` is the calling task's mm (compared, never dereferenced).
pub(crate) fn is_current_mm(mm: *mut c_void) -> bool {
    // SAFETY: no preconditions.
    core::ptr::eq(unsafe { vgpu_current_mm() }, mm)
}

/// A watch on the user mapping of a pinning (see `vgpu_pin_watch_new`).
///
/// # Invariants
///
/// `0` is a live watch, freed once, in `drop`.
pub(crate) struct PinWatch(NonNull<c_void>);

// SAFETY: a watch may be checked and freed by any task.
unsafe impl Send for PinWatch {}
// SAFETY: checks only read the watch (an atomic) and the caller's mm.
unsafe impl Sync for PinWatch {}

impl PinWatch {
    /// Watches `count` pages at page-aligned `start` of the caller's mm.
    /// Made before the pin, so that no invalidation after it goes unseen.
    pub(crate) fn new(start: usize, count: usize) -> Result<Self> {
        // SAFETY: no preconditions.
        let w = unsafe { vgpu_pin_watch_new(start as c_ulong, count as c_ulong) };
        // INVARIANT: non-null is a live watch.
        NonNull::new(w).map(Self).ok_or(ENOMEM)
    }

    /// Whether an invalidation hit the range (for good; an exit counts).
    pub(crate) fn is_stale(&self) -> bool {
        // SAFETY: the type invariant: a live watch.
        unsafe { vgpu_pin_watch_stale(self.0.as_ptr()) }
    }

    /// Whether the caller's mapping still maps `count` of `pages` (all the
    /// watched pages, pinned) from index `first`.
    pub(crate) fn still_maps(
        &self,
        pages: &[*mut bindings::page],
        first: usize,
        count: usize,
        writable: bool,
    ) -> bool {
        if first.checked_add(count).is_none_or(|end| end > pages.len()) {
            return false;
        }
        // SAFETY: the type invariant: a live watch; `pages` are its pages
        // (the C side checks the range against the watch and only reads).
        unsafe {
            vgpu_pin_watch_valid(
                self.0.as_ptr(),
                pages.as_ptr().cast_mut().cast(),
                first as c_ulong,
                count as c_ulong,
                writable,
            )
        }
    }
}

impl Drop for PinWatch {
    fn drop(&mut self) {
        // SAFETY: the type invariant.
        unsafe { vgpu_pin_watch_free(self.0.as_ptr()) };
    }
}
