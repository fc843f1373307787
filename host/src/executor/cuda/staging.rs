//! Host staging buffers for stream-ordered host-to-device copies.
//!
//! An async copy's source bytes are only valid during the call, while the
//! GPU reads them later. Each such copy goes through a buffer owned here,
//! kept until an event recorded after the copy completes. Pooled buffers of
//! at least [`REGISTER_MIN`] bytes are page-locked with `cuMemHostRegister`
//! (once, then reused), so their copies are true DMA; the rest are pageable
//! and the driver stages them itself.

use super::driver::{check, CUcontext, CUevent, CUresult, CudaDriver};
use std::alloc::{alloc, dealloc, Layout};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Alignment and granule of staging buffers.
pub const PAGE: usize = 4096;
/// Smallest buffer allocated.
pub const MIN_BUFFER: usize = 64 * 1024;
/// Buffers this large or larger are page-locked.
pub const REGISTER_MIN: usize = 1024 * 1024;
/// Most idle buffer bytes kept per context.
pub const POOL_MAX: usize = 64 * 1024 * 1024;
/// Rounding of buffers larger than [`POOL_MAX`] (used once, never pooled).
pub const LARGE_GRANULE: usize = 2 * 1024 * 1024;
/// Most in-flight staged bytes per context before the oldest copy is waited for.
pub const PENDING_MAX: usize = 256 * 1024 * 1024;

/// Page-locked bytes one client's staging may hold, shared by its
/// contexts (the `pinned_bytes` quota). Past it buffers stay pageable:
/// copies still work, the driver stages them itself.
#[derive(Debug)]
pub struct PinnedBudget {
    used: AtomicU64,
    limit: AtomicU64,
}

impl Default for PinnedBudget {
    fn default() -> Self {
        Self {
            used: AtomicU64::new(0),
            limit: AtomicU64::new(u64::MAX),
        }
    }
}

impl PinnedBudget {
    /// Sets the limit (bytes already held stay held).
    pub fn set_limit(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// Bytes page-locked now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(super) fn charge(&self, n: u64) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|&t| t <= limit)
            })
            .is_ok()
    }

    pub(super) fn refund(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(n))
            });
    }
}

/// One page-aligned host buffer.
#[derive(Debug)]
pub struct StagingBuf {
    ptr: NonNull<u8>,
    cap: usize,
    /// The budget it is registered against, while it is registered with the
    /// driver (it must be unregistered before freeing).
    registered: Option<Arc<PinnedBudget>>,
}

impl StagingBuf {
    /// Allocates at least `len` bytes: a power of two of at least
    /// [`MIN_BUFFER`] up to [`POOL_MAX`], a multiple of [`LARGE_GRANULE`]
    /// beyond. `None` if the allocation fails.
    pub fn allocate(len: usize) -> Option<Self> {
        let cap = if len <= POOL_MAX {
            len.max(MIN_BUFFER).checked_next_power_of_two()?
        } else {
            len.checked_next_multiple_of(LARGE_GRANULE)?
        };
        let layout = Layout::from_size_align(cap, PAGE).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = NonNull::new(unsafe { alloc(layout) })?;
        Some(Self {
            ptr,
            cap,
            registered: None,
        })
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Whether the buffer is page-locked.
    pub fn is_registered(&self) -> bool {
        self.registered.is_some()
    }

    /// Start of the buffer.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Start of the buffer, for writes (`capacity` bytes).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Copies `data` to the start of the buffer (`data.len() <= capacity`).
    pub fn fill(&mut self, data: &[u8]) {
        assert!(data.len() <= self.cap);
        // SAFETY: the buffer holds `cap >= data.len()` bytes and does not
        // overlap `data` (it is our own allocation).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr(), data.len()) };
    }

    /// Page-locks the buffer for the current context, charging `budget`;
    /// failure, or no room in the budget, leaves it pageable.
    pub fn register(&mut self, driver: &CudaDriver, budget: &Arc<PinnedBudget>) {
        if self.registered.is_some() {
            return;
        }
        let Some(register) = driver.api().mem_host_register else {
            return;
        };
        if !budget.charge(self.cap as u64) {
            return;
        }
        // SAFETY: `ptr..ptr+cap` is our live, page-aligned allocation.
        let rc = unsafe { register(self.ptr.as_ptr().cast(), self.cap, 0) };
        if rc == 0 {
            self.registered = Some(budget.clone());
        } else {
            budget.refund(self.cap as u64);
        }
    }

    /// Unregisters (with the owning context current) and frees the buffer.
    /// If unregistering fails the memory is leaked rather than freed while
    /// the driver may still consider it pinned.
    pub fn release(mut self, driver: &CudaDriver) {
        if let Some(budget) = &self.registered {
            let ok = match driver.api().mem_host_unregister {
                // SAFETY: the pointer was registered by `register`.
                Some(unregister) => (unsafe { unregister(self.ptr.as_ptr().cast()) }) == 0,
                None => false,
            };
            if ok {
                budget.refund(self.cap as u64);
                self.registered = None;
            }
        }
        drop(self);
    }
}

impl Drop for StagingBuf {
    fn drop(&mut self) {
        if self.registered.is_some() {
            // Still pinned in the driver's view: leak instead of freeing
            // (and keep it charged: it is still page-locked).
            return;
        }
        if let Ok(layout) = Layout::from_size_align(self.cap, PAGE) {
            // SAFETY: allocated in `allocate` with this very layout.
            unsafe { dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}

/// A staged copy in flight: its buffer is reusable once `event` completed.
#[derive(Debug)]
pub struct Pending {
    /// Recorded after the copy.
    pub event: CUevent,
    /// The source bytes.
    pub buf: StagingBuf,
}

/// Staging state of one host context.
#[derive(Debug, Default)]
pub struct Staging {
    pinned: Arc<PinnedBudget>,
    idle: Vec<StagingBuf>,
    idle_bytes: usize,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    spare_events: Vec<CUevent>,
}

impl Staging {
    /// Empty, page-locking within `pinned` (the client's budget).
    pub fn new(pinned: Arc<PinnedBudget>) -> Self {
        Self {
            pinned,
            ..Self::default()
        }
    }

    /// A buffer of at least `len` bytes (the smallest idle one that fits, or
    /// a new one, page-locked if large). Needs the owning context current.
    pub fn take(&mut self, driver: &CudaDriver, len: usize) -> Option<StagingBuf> {
        let best = self
            .idle
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let buf = self.idle.swap_remove(i);
            self.idle_bytes -= buf.capacity();
            return Some(buf);
        }
        let mut buf = StagingBuf::allocate(len)?;
        // Pinning pays off only for buffers the pool will reuse.
        if (REGISTER_MIN..=POOL_MAX).contains(&buf.capacity()) {
            buf.register(driver, &self.pinned);
        }
        Some(buf)
    }

    /// Returns a buffer whose copy is complete (or never started).
    pub fn give_back(&mut self, driver: &CudaDriver, buf: StagingBuf) {
        if self.idle_bytes + buf.capacity() > POOL_MAX {
            buf.release(driver);
        } else {
            self.idle_bytes += buf.capacity();
            self.idle.push(buf);
        }
    }

    /// An event for marking a staged copy (`CU_EVENT_DISABLE_TIMING`).
    pub fn event(&mut self, driver: &CudaDriver) -> Result<CUevent, CUresult> {
        if let Some(ev) = self.spare_events.pop() {
            return Ok(ev);
        }
        let mut ev: CUevent = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the owning context is current.
        check(unsafe {
            (driver.api().event_create)(&mut ev, super::driver::CU_EVENT_DISABLE_TIMING)
        })?;
        Ok(ev)
    }

    /// Keeps `buf` until `event` (already recorded after its copy) completes.
    pub fn push(&mut self, event: CUevent, buf: StagingBuf) {
        self.pending_bytes += buf.capacity();
        self.pending.push_back(Pending { event, buf });
    }

    /// Returns an unused event to the spares.
    pub fn spare(&mut self, event: CUevent) {
        self.spare_events.push(event);
    }

    /// Recycles the buffers of completed copies; if more than
    /// [`PENDING_MAX`] bytes stay in flight, waits for the oldest ones.
    /// Needs the owning context current.
    pub fn reap(&mut self, driver: &CudaDriver) {
        while let Some(front) = self.pending.front() {
            // SAFETY: the event belongs to the current context.
            let rc = unsafe { (driver.api().event_query)(front.event) };
            if rc == uapi::cuda::result::NOT_READY {
                if self.pending_bytes <= PENDING_MAX {
                    break;
                }
                // SAFETY: as above.
                let _ = unsafe { (driver.api().event_synchronize)(front.event) };
            }
            // Complete, or failed (a faulted context runs no more copies).
            if let Some(done) = self.pending.pop_front() {
                self.pending_bytes -= done.buf.capacity();
                self.spare_events.push(done.event);
                self.give_back(driver, done.buf);
            }
        }
    }

    /// Whether staged copies may still be in flight.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Marks every pending copy complete (after the context was synchronised).
    pub fn complete_all(&mut self, driver: &CudaDriver) {
        while let Some(done) = self.pending.pop_front() {
            self.pending_bytes -= done.buf.capacity();
            self.spare_events.push(done.event);
            self.give_back(driver, done.buf);
        }
    }

    /// Frees everything before the context is destroyed. The context must be
    /// current and idle (synchronised, or faulted); events are destroyed.
    pub fn teardown(&mut self, driver: &CudaDriver, _ctx: CUcontext) {
        for p in self.pending.drain(..) {
            self.spare_events.push(p.event);
            p.buf.release(driver);
        }
        self.pending_bytes = 0;
        for b in self.idle.drain(..) {
            b.release(driver);
        }
        self.idle_bytes = 0;
        for ev in self.spare_events.drain(..) {
            // SAFETY: our event, in the current context.
            let _ = unsafe { (driver.api().event_destroy)(ev) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_locking_stops_at_the_clients_pinned_quota() {
        let driver = super::super::fake::driver();
        let budget = Arc::new(PinnedBudget::default());
        budget.set_limit(3 * REGISTER_MIN as u64);
        let mut staging = Staging::new(budget.clone());
        let a = staging.take(&driver, REGISTER_MIN).expect("buffer");
        let b = staging.take(&driver, 2 * REGISTER_MIN).expect("buffer");
        assert!(a.is_registered() && b.is_registered());
        assert_eq!(budget.used(), 3 * REGISTER_MIN as u64);
        // Past the quota a buffer still serves, pageable.
        let c = staging.take(&driver, REGISTER_MIN).expect("buffer");
        assert!(!c.is_registered());
        assert_eq!(budget.used(), 3 * REGISTER_MIN as u64);
        // Unregistered buffers return their bytes.
        b.release(&driver);
        assert_eq!(budget.used(), REGISTER_MIN as u64);
        let d = staging.take(&driver, 2 * REGISTER_MIN).expect("buffer");
        assert!(d.is_registered());
        for buf in [a, c, d] {
            buf.release(&driver);
        }
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn buffers_are_page_aligned_and_rounded() {
        let mut b = StagingBuf::allocate(1).expect("alloc");
        assert_eq!(b.capacity(), MIN_BUFFER);
        assert_eq!(b.as_ptr() as usize % PAGE, 0);
        b.fill(&[1, 2, 3]);
        // SAFETY: three bytes were just written.
        let head = unsafe { std::slice::from_raw_parts(b.as_ptr(), 3) };
        assert_eq!(head, &[1, 2, 3]);
        assert!(!b.is_registered());
        let big = StagingBuf::allocate(MIN_BUFFER + 1).expect("alloc");
        assert_eq!(big.capacity(), 2 * MIN_BUFFER);
        let huge = StagingBuf::allocate(POOL_MAX + 1).expect("alloc");
        assert_eq!(huge.capacity(), POOL_MAX + LARGE_GRANULE);
    }
}
