// SPDX-License-Identifier: GPL-2.0

//! The pin cache of one file: data ranges stay pinned and DMA-mapped after
//! their command, so that the next command on the same memory pins
//! nothing, as RDMA drivers keep memory registered. A pinning is dropped
//! when its mapping changes (seen by its watch: an MMU notifier), when
//! room is needed (least recently used, idle ones only), or at close.
//! Ranges pinned by `VGPU_IOCTL_PIN` (pinned host memory) are never
//! evicted, and take at most half the file's limit. Every pinned page counts against the file's limit and the
//! caller's `RLIMIT_MEMLOCK`.

use crate::{
    client::Client,
    slots::client_pin_pages,
    uapi::ioctl::PinInfo,
    userdma::{
        self,
        CachedPin,
        PinAccount, //
    },
};
use core::sync::atomic::Ordering;
use kernel::{
    page::PAGE_SIZE,
    prelude::*,
    sync::Arc, //
};

/// Most pinnings one cache holds (each lookup scans them).
const MAX_ENTRIES: usize = 256;

struct Entry {
    pin: Arc<CachedPin>,
    last_use: u64,
    /// Pinned by `VGPU_IOCTL_PIN`: kept until `VGPU_IOCTL_UNPIN`.
    registered: bool,
}

/// The cache's entries and counters (under the client's `pins` mutex).
pub(crate) struct PinCache {
    entries: KVec<Entry>,
    tick: u64,
    info: PinInfo,
}

impl PinCache {
    pub(crate) fn new() -> Self {
        Self {
            entries: KVec::new(),
            tick: 0,
            info: PinInfo::default(),
        }
    }

    /// Drops idle, unregistered entries, least recently used first, until
    /// `want` more pages fit the limit beside `alive` (every page pinned
    /// now) and an entry slot is free; `all` drops every idle one.
    fn evict(&mut self, account: &PinAccount, want: usize, all: bool) {
        loop {
            let alive = account.pages.load(Ordering::Relaxed);
            let fits = alive.saturating_add(want) <= client_pin_pages()
                && self.entries.len() < MAX_ENTRIES;
            if fits && !all {
                return;
            }
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.registered && !e.pin.in_use())
                .min_by_key(|(_, e)| e.last_use)
                .map(|(i, _)| i);
            let Some(i) = victim else {
                return;
            };
            drop(self.entries.remove(i));
            self.info.evictions += 1;
        }
    }

    /// A valid entry that covers the range, after dropping stale ones found.
    fn lookup(&mut self, addr: usize, len: usize, write: bool) -> Option<Arc<CachedPin>> {
        self.tick += 1;
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            // Of any process: a stale pinning serves nobody again.
            if e.pin.is_stale() {
                drop(self.entries.remove(i));
                self.info.invalidations += 1;
                continue;
            }
            // Another process's pinning (a shared or inherited file) is
            // neither used nor judged by this one.
            if e.pin.is_callers() && e.pin.covers(addr, len, write) {
                if e.pin.still_mapped(addr, len) {
                    let pin = e.pin.clone();
                    self.entries[i].last_use = self.tick;
                    return Some(pin);
                }
                // The mapping changed: this pinning is no good to anyone.
                drop(self.entries.remove(i));
                self.info.invalidations += 1;
                continue;
            }
            i += 1;
        }
        None
    }
}

/// `EFAULT` for pages that wrap the address space: memory the caller cannot
/// reach, as the uapi documents (the MMU notifier would refuse the range
/// with `EOVERFLOW`, `pin_user_pages_fast` too; found by ioctl-fuzz).
fn wraps_to_efault(start: usize, count: usize) -> Result {
    match count
        .checked_mul(PAGE_SIZE)
        .and_then(|b| start.checked_add(b))
    {
        Some(_) => Ok(()),
        None => Err(EFAULT),
    }
}

impl Client {
    /// The pinning of `addr..addr + len` (non-empty) of the caller's
    /// memory, for the device to read it (and write it with `write`):
    /// from the cache, or pinned now and cached. `ENOMEM` when the file's
    /// limit or `RLIMIT_MEMLOCK` leaves no room even after eviction.
    pub(crate) fn pinned_range(
        &self,
        addr: usize,
        len: usize,
        write: bool,
    ) -> Result<Arc<CachedPin>> {
        self.pin_range(addr, len, write, false)
    }

    fn pin_range(
        &self,
        addr: usize,
        len: usize,
        write: bool,
        registered: bool,
    ) -> Result<Arc<CachedPin>> {
        if len == 0 {
            return Err(EINVAL);
        }
        let start = addr - addr % PAGE_SIZE;
        let count = userdma::pages_spanned(addr, len)?;
        wraps_to_efault(start, count)?;
        if count > client_pin_pages() {
            self.pins.lock().info.refused += 1;
            return Err(ENOMEM);
        }
        {
            let mut cache = self.pins.lock();
            if !registered {
                if let Some(pin) = cache.lookup(addr, len, write) {
                    cache.info.hits += 1;
                    return Ok(pin);
                }
            }
            cache.info.misses += 1;
            cache.evict(&self.pin_account, count, false);
        }
        // Pinned without the cache's lock: faulting pages in takes time.
        // Writable where the mapping allows, so that one pinning serves
        // copies both ways.
        let pin_any = || match self.pin_new(start, count, true) {
            Err(e) if e == EFAULT && !write => self.pin_new(start, count, false),
            r => r,
        };
        let pin = match pin_any() {
            Err(e) if e == ENOMEM => {
                // Over a limit: give back every idle pinning and try once more.
                self.pins.lock().evict(&self.pin_account, count, true);
                pin_any().inspect_err(|e| {
                    if *e == ENOMEM {
                        self.pins.lock().info.refused += 1;
                    }
                })?
            }
            r => r?,
        };
        let mut cache = self.pins.lock();
        let tick = cache.tick;
        // Without room for the entry the pinning still serves this command;
        // a registration without its entry would not last, so it is refused.
        if registered && cache.entries.len() >= MAX_ENTRIES {
            cache.info.refused += 1;
            return Err(ENOMEM);
        }
        if cache.entries.len() < MAX_ENTRIES {
            cache.entries.push(
                Entry {
                    pin: pin.clone(),
                    last_use: tick,
                    registered,
                },
                GFP_KERNEL,
            )?;
        }
        Ok(pin)
    }

    /// Pins `count` pages at `start` within the file's limit.
    fn pin_new(&self, start: usize, count: usize, writable: bool) -> Result<Arc<CachedPin>> {
        let alive = self.pin_account.pages.load(Ordering::Relaxed);
        if alive.saturating_add(count) > client_pin_pages() {
            return Err(ENOMEM);
        }
        let pin = CachedPin::new(
            self.shared(),
            start,
            count,
            writable,
            self.pin_account.clone(),
        )?;
        Ok(Arc::new(pin, GFP_KERNEL)?)
    }

    /// `VGPU_IOCTL_PIN`: pins `addr..addr + len` until [`Self::unpin_range`].
    pub(crate) fn pin_registered(&self, addr: usize, len: usize) -> Result {
        if len == 0 {
            return Err(EINVAL);
        }
        let start = addr - addr % PAGE_SIZE;
        let count = userdma::pages_spanned(addr, len)?;
        wraps_to_efault(start, count)?;
        {
            let mut cache = self.pins.lock();
            if cache.entries.iter().any(|e| {
                e.registered && e.pin.is_callers() && e.pin.range() == (start, count * PAGE_SIZE)
            }) {
                return Err(EEXIST);
            }
            // Registrations take at most half the limit: copies of pageable
            // memory always keep room for a full window in flight.
            let registered: usize = cache
                .entries
                .iter()
                .filter(|e| e.registered)
                .map(|e| e.pin.range().1 / PAGE_SIZE)
                .sum();
            if registered.saturating_add(count) > client_pin_pages() / 2 {
                cache.info.refused += 1;
                return Err(ENOMEM);
            }
            // Idle cached pinnings inside the range would pin its pages twice.
            let end = start + count * PAGE_SIZE;
            let mut i = 0;
            while i < cache.entries.len() {
                let e = &cache.entries[i];
                let (s, n) = e.pin.range();
                if !e.registered
                    && !e.pin.in_use()
                    && e.pin.is_callers()
                    && s < end
                    && s + n > start
                {
                    drop(cache.entries.remove(i));
                    cache.info.evictions += 1;
                } else {
                    i += 1;
                }
            }
        }
        self.pin_range(addr, len, false, true).map(drop)
    }

    /// `VGPU_IOCTL_UNPIN`: ends the pin of exactly `addr..addr + len`.
    /// Commands in flight keep its pages until they complete.
    pub(crate) fn unpin_range(&self, addr: usize, len: usize) -> Result {
        let start = addr - addr % PAGE_SIZE;
        let count = userdma::pages_spanned(addr, len)?;
        let mut cache = self.pins.lock();
        let i = cache
            .entries
            .iter()
            .position(|e| {
                e.registered && e.pin.is_callers() && e.pin.range() == (start, count * PAGE_SIZE)
            })
            .ok_or(ENOENT)?;
        drop(cache.entries.remove(i));
        Ok(())
    }

    /// Bytes pinned by this file now (its cache and commands in flight).
    pub(crate) fn pinned_bytes(&self) -> usize {
        self.pin_account
            .pages
            .load(Ordering::Relaxed)
            .saturating_mul(PAGE_SIZE)
    }

    /// The cache's state and counters.
    pub(crate) fn pin_info(&self) -> PinInfo {
        let cache = self.pins.lock();
        let mut info = cache.info;
        // CAST: at most MAX_ENTRIES.
        info.cached_ranges = cache.entries.len() as u32;
        info.notifier = u32::from(crate::pinwatch::notifier_watches());
        info.pinned_bytes = self.pinned_bytes() as u64;
        info.registered_bytes = cache
            .entries
            .iter()
            .filter(|e| e.registered)
            .map(|e| e.pin.range().1 as u64)
            .sum();
        info
    }
}
