// SPDX-License-Identifier: GPL-2.0

//! Slot bookkeeping of one client: which commands are in flight, which
//! buffers the device may own, and the client's DMA budget.

use crate::{
    release::RetiredPin,
    ring::Ring,
    uapi::{
        ioctl::{
            CLIENT_QUEUE_DEPTH,
            MAX_PAYLOAD, //
        },
        shm::SpinPolicy,
    },
    userdma::UserDma,
};
use kernel::{
    dma::Coherent,
    ffi::c_ulong,
    page::PAGE_SIZE,
    prelude::*, //
};

/// DMA bytes (requests plus response capacity) one client may hold. An idle
/// client may still post one batch of any size, so the hard bound per client
/// is `max(budget, MAX_BATCH * 2 * MAX_PAYLOAD)`; every byte is also charged
/// to the caller's memory cgroup.
const CLIENT_DMA_BUDGET: usize = 64 * MAX_PAYLOAD as usize;

/// How long a wait polls for its completion before it sleeps: a short
/// command's round trip to a polling device in a TCG guest, where an
/// interrupt and a wake-up cost more than that.
const WAIT_SPIN: core::time::Duration = core::time::Duration::from_micros(100);

/// Bytes per nanosecond the device is assumed to move at least (10 GB/s,
/// a staged copy's rate; registered pages move at 50): a wait for a
/// command with pinned data polls that much longer, so that a large
/// copy's completion is caught without an interrupt and a wake-up.
const WAIT_DATA_RATE: u64 = 10;

unsafe extern "C" {
    /// `totalram_pages()`. No preconditions.
    fn vgpu_total_ram_pages() -> c_ulong;
}

/// Least of [`client_pin_pages`], in bytes.
const CLIENT_PIN_MIN: usize = 256 << 20;
/// Most of [`client_pin_pages`], in bytes.
const CLIENT_PIN_MAX: usize = 4 << 30;

/// Pages of user memory one client may keep pinned for the device, cached
/// or used by commands in flight: a quarter of RAM, at least 256 MiB and at
/// most 4 GiB, so that buffers of a few hundred MiB stay pinned between
/// their copies where there is room (each re-pinning costs more than the
/// copy's DMA). The caller's `RLIMIT_MEMLOCK` may allow less. Commands in
/// flight are held to it here, the cache in `pincache`.
pub(crate) fn client_pin_pages() -> usize {
    // SAFETY: no preconditions.
    let ram = unsafe { vgpu_total_ram_pages() };
    // CAST: c_ulong is usize on every supported architecture.
    (ram as usize / 4).clamp(CLIENT_PIN_MIN / PAGE_SIZE, CLIENT_PIN_MAX / PAGE_SIZE)
}

/// A request or response buffer the device may own.
pub(crate) enum Buffer {
    /// A kernel copy.
    Bounce(Coherent<[u8]>),
    /// A header copy and the caller's pinned pages, as an SG list.
    Pinned(UserDma),
    /// The kernel copy of a release, and the pinnings it releases: their
    /// pages are unpinned when the device is done with the command.
    Release {
        copy: Coherent<[u8]>,
        _pins: KVec<RetiredPin>,
    },
}

impl Buffer {
    /// DMA-coherent bytes it holds (charged to the DMA budget).
    fn dma_bytes(&self) -> usize {
        match self {
            Self::Bounce(b) | Self::Release { copy: b, .. } => b.len(),
            Self::Pinned(p) => p.dma_bytes(),
        }
    }

    /// User pages it keeps pinned.
    fn pinned_pages(&self) -> usize {
        match self {
            // A release's pinnings are no longer the file's (`release`).
            Self::Bounce(_) | Self::Release { .. } => 0,
            Self::Pinned(p) => p.pinned_pages(),
        }
    }

    /// How a submission entry describes it: (SG list?, address, length or
    /// entry count).
    pub(crate) fn descriptor(&self) -> (bool, u64, u32) {
        match self {
            // CAST: bounce buffers are at most 2 * MAX_PAYLOAD long.
            Self::Bounce(b) | Self::Release { copy: b, .. } => {
                (false, b.dma_handle(), b.len() as u32)
            }
            Self::Pinned(p) => {
                let (addr, entries) = p.descriptor();
                (true, addr, entries)
            }
        }
    }

    /// What WAIT copies out to the caller: all of a bounce, the header of
    /// a pinned buffer (its data is already in the caller's pages).
    pub(crate) fn header(&self) -> Option<&Coherent<[u8]>> {
        match self {
            Self::Bounce(b) | Self::Release { copy: b, .. } => Some(b),
            Self::Pinned(p) => p.header(),
        }
    }

    /// Bytes of pinned data (0 for a bounce).
    pub(crate) fn pinned_data(&self) -> usize {
        match self {
            Self::Bounce(_) | Self::Release { .. } => 0,
            Self::Pinned(p) => p.data_len(),
        }
    }
}

/// What a slot holds: DMA bytes and pinned pages.
#[derive(Clone, Copy, Default)]
struct Held {
    bytes: usize,
    pins: usize,
}

fn held_by(buf: &Option<Buffer>) -> Held {
    buf.as_ref().map_or(Held::default(), |b| Held {
        bytes: b.dma_bytes(),
        pins: b.pinned_pages(),
    })
}

/// Where a slot is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Free,
    /// Posted: the device may read `req` and write `resp`.
    InFlight,
    /// Completed (or failed by the driver); waiting to be collected.
    Done {
        status: u32,
        resp_len: u32,
    },
}

/// One command.
///
/// # Invariants
///
/// While `stage == InFlight` the device may own `req` and `resp`: they are
/// dropped only after its completion, or after the queue read back DISABLED
/// or the device was reset. Otherwise they are parked, never freed early.
pub(crate) struct Slot {
    pub(crate) stage: Stage,
    seq: u64,
    /// Nobody waits for it: freed when it completes.
    detached: bool,
    req: Option<Buffer>,
    pub(crate) resp: Option<Buffer>,
}

impl Slot {
    /// How long a wait for it polls before sleeping: [`WAIT_SPIN`], and the
    /// time its pinned data takes at [`WAIT_DATA_RATE`].
    pub(crate) fn poll_limit(&self) -> core::time::Duration {
        let data = [&self.req, &self.resp]
            .into_iter()
            .flatten()
            .map(|b| match b {
                // CAST: usize fits u64 on every supported architecture.
                Buffer::Pinned(p) => p.data_len() as u64,
                Buffer::Bounce(_) | Buffer::Release { .. } => 0,
            })
            .sum::<u64>();
        WAIT_SPIN + core::time::Duration::from_nanos(data / WAIT_DATA_RATE)
    }

    const fn free() -> Self {
        Self {
            stage: Stage::Free,
            seq: 0,
            detached: false,
            req: None,
            resp: None,
        }
    }
}

/// Mutable state of one client, under its mutex.
pub(crate) struct ClientState {
    /// `None` once the DMA memory is freed (close proved the queue stopped,
    /// or unbind reset the device).
    pub(crate) ring: Option<Ring>,
    pub(crate) slots: SlotTable,
    /// Submissions posted so far (free-running).
    pub(crate) sq_tail: u32,
    /// Completions consumed so far (free-running).
    pub(crate) cq_head: u32,
    pub(crate) next_seq: u64,
    /// The queue stopped: the status its commands failed with.
    pub(crate) broken: Option<u32>,
    /// The device's error code for this queue, as the watchdog read it
    /// from the queue's status; the next reap stops the queue with it.
    pub(crate) device_error: Option<u32>,
    /// Submitters sleeping for room; whoever frees room wakes them.
    pub(crate) space_waiters: u32,
    /// Data that went to the device by pinned pages.
    pub(crate) pinned_io: PinnedIo,
    /// When a wait polls for its completion before it sleeps.
    pub(crate) spin: SpinPolicy,
}

/// Counters of the zero-copy path.
#[derive(Clone, Copy, Default)]
pub(crate) struct PinnedIo {
    /// Commands posted with pinned data.
    pub(crate) commands: u64,
    /// Their data bytes.
    pub(crate) bytes: u64,
}

impl PinnedIo {
    pub(crate) fn add(&mut self, other: PinnedIo) {
        self.commands = self.commands.wrapping_add(other.commands);
        self.bytes = self.bytes.wrapping_add(other.bytes);
    }
}

impl ClientState {
    pub(crate) fn new(ring: Ring) -> Result<Self> {
        Ok(Self {
            ring: Some(ring),
            slots: SlotTable::new()?,
            sq_tail: 0,
            cq_head: 0,
            next_seq: 1,
            broken: None,
            device_error: None,
            space_waiters: 0,
            pinned_io: PinnedIo::default(),
            spin: SpinPolicy::polling_for(WAIT_SPIN),
        })
    }

    /// Frees rings and buffers: the device is proven not to use them.
    pub(crate) fn release_all(&mut self, status: u32) {
        self.broken.get_or_insert(status);
        self.slots.fail_in_flight(status, true);
        self.slots.release_done(status);
        self.ring = None;
    }
}

/// The slots of one client and the bytes they hold.
pub(crate) struct SlotTable {
    slots: KVec<Slot>,
    /// Buffers of failed commands the device may still use; kept until the
    /// queue is proven stopped. Capacity for every buffer is reserved upfront.
    parked: KVec<Buffer>,
    reserved_slots: usize,
    reserved: Held,
    /// What the buffers held by slots take.
    used: Held,
}

impl SlotTable {
    fn new() -> Result<Self> {
        let depth = CLIENT_QUEUE_DEPTH as usize;
        let mut slots = KVec::with_capacity(depth, GFP_KERNEL)?;
        for _ in 0..depth {
            slots.push(Slot::free(), GFP_KERNEL)?;
        }
        Ok(Self {
            slots,
            parked: KVec::with_capacity(2 * depth, GFP_KERNEL)?,
            reserved_slots: 0,
            reserved: Held::default(),
            used: Held::default(),
        })
    }

    fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.stage == Stage::Free).count()
    }

    /// Whether `slots` more commands of `bytes` and `pins` pinned pages fit
    /// now. Pins must always fit the limit; bytes may exceed the budget when
    /// nothing else is held.
    pub(crate) fn fits(&self, slots: usize, bytes: usize, pins: usize) -> bool {
        let held = self.used.bytes.saturating_add(self.reserved.bytes);
        let pinned = self.used.pins.saturating_add(self.reserved.pins);
        self.free_slots().saturating_sub(self.reserved_slots) >= slots
            && (held == 0 || held.saturating_add(bytes) <= CLIENT_DMA_BUDGET)
            && pinned.saturating_add(pins) <= client_pin_pages()
    }

    /// Whether a batch pinning `pins` pages could ever fit.
    pub(crate) fn can_pin(pins: usize) -> bool {
        pins <= client_pin_pages()
    }

    /// Whether room can appear without the caller collecting anything:
    /// commands in flight will complete, reservations will be posted or dropped.
    pub(crate) fn can_make_room(&self) -> bool {
        self.reserved_slots != 0 || self.has_in_flight()
    }

    /// Whether any command is posted and not completed.
    pub(crate) fn has_in_flight(&self) -> bool {
        self.slots.iter().any(|s| s.stage == Stage::InFlight)
    }

    pub(crate) fn reserve(&mut self, slots: usize, bytes: usize, pins: usize) {
        self.reserved_slots = self.reserved_slots.saturating_add(slots);
        self.reserved.bytes = self.reserved.bytes.saturating_add(bytes);
        self.reserved.pins = self.reserved.pins.saturating_add(pins);
    }

    pub(crate) fn unreserve(&mut self, slots: usize, bytes: usize, pins: usize) {
        self.reserved_slots = self.reserved_slots.saturating_sub(slots);
        self.reserved.bytes = self.reserved.bytes.saturating_sub(bytes);
        self.reserved.pins = self.reserved.pins.saturating_sub(pins);
    }

    fn hold(&mut self, h: Held) {
        self.used.bytes = self.used.bytes.saturating_add(h.bytes);
        self.used.pins = self.used.pins.saturating_add(h.pins);
    }

    fn unhold(&mut self, h: Held) {
        self.used.bytes = self.used.bytes.saturating_sub(h.bytes);
        self.used.pins = self.used.pins.saturating_sub(h.pins);
    }

    /// Puts a command about to be posted into a free slot.
    pub(crate) fn occupy(
        &mut self,
        seq: u64,
        detached: bool,
        req: Option<Buffer>,
        resp: Option<Buffer>,
    ) -> Result {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.stage == Stage::Free)
            .ok_or(EAGAIN)?;
        let (req_held, resp_held) = (held_by(&req), held_by(&resp));
        // INVARIANT: the buffers stay in the slot while it is in flight.
        *slot = Slot {
            stage: Stage::InFlight,
            seq,
            detached,
            req,
            resp,
        };
        self.hold(req_held);
        self.hold(resp_held);
        Ok(())
    }

    /// Makes the in-flight command `seq`, whose request is a kernel copy,
    /// hold `pins` with it until the device is done; hands them back if
    /// it is not in flight (it is done).
    pub(crate) fn hold_until_done(
        &mut self,
        seq: u64,
        pins: KVec<RetiredPin>,
    ) -> core::result::Result<(), KVec<RetiredPin>> {
        let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.stage == Stage::InFlight && s.seq == seq)
        else {
            return Err(pins);
        };
        match slot.req.take() {
            // INVARIANT: the same copy, still in the slot; it holds the
            // same bytes and pages as before.
            Some(Buffer::Bounce(b)) => {
                slot.req = Some(Buffer::Release {
                    copy: b,
                    _pins: pins,
                });
                Ok(())
            }
            other => {
                slot.req = other;
                Err(pins)
            }
        }
    }

    /// Records the completion of `tag`; false if no command in flight has it.
    pub(crate) fn complete(&mut self, tag: u64, status: u32, resp_len: u32) -> bool {
        let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.stage == Stage::InFlight && s.seq == tag)
        else {
            return false;
        };
        // The device is done with both buffers: the request goes now (a
        // pinned one is unmapped and unpinned), the response at collection.
        let req = slot.req.take();
        let mut freed = held_by(&req);
        if slot.detached {
            let resp = held_by(&slot.resp);
            freed.bytes += resp.bytes;
            freed.pins += resp.pins;
            *slot = Slot::free();
        } else {
            slot.stage = Stage::Done { status, resp_len };
        }
        drop(req);
        self.unhold(freed);
        true
    }

    /// The collectable (not detached) command `seq`.
    pub(crate) fn find_waitable(&self, seq: u64) -> Option<&Slot> {
        self.slots
            .iter()
            .find(|s| s.stage != Stage::Free && s.seq == seq && !s.detached)
    }

    /// Frees the completed command `seq`.
    pub(crate) fn free(&mut self, seq: u64) {
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| matches!(s.stage, Stage::Done { .. }) && s.seq == seq)
        {
            let (req, resp) = (held_by(&slot.req), held_by(&slot.resp));
            *slot = Slot::free();
            self.unhold(req);
            self.unhold(resp);
        }
    }

    /// Fails every command in flight with `status`. With `stopped` (the
    /// queue read back DISABLED) their buffers are freed, else parked.
    pub(crate) fn fail_in_flight(&mut self, status: u32, stopped: bool) {
        let mut freed = Held::default();
        for slot in self.slots.iter_mut().filter(|s| s.stage == Stage::InFlight) {
            for h in [held_by(&slot.req), held_by(&slot.resp)] {
                freed.bytes += h.bytes;
                freed.pins += h.pins;
            }
            for buf in [slot.req.take(), slot.resp.take()].into_iter().flatten() {
                if !stopped {
                    if let Err(e) = self.parked.push_within_capacity(buf) {
                        core::mem::forget(e.0);
                    }
                }
            }
            if slot.detached {
                *slot = Slot::free();
            } else {
                slot.stage = Stage::Done {
                    status,
                    resp_len: 0,
                };
            }
        }
        self.unhold(freed);
        if stopped {
            self.parked.clear();
        }
    }

    /// Frees the responses of completed, uncollected commands; a later
    /// wait reports `status` and no response.
    fn release_done(&mut self, status: u32) {
        for slot in self.slots.iter_mut() {
            if let Stage::Done { .. } = slot.stage {
                slot.stage = Stage::Done {
                    status,
                    resp_len: 0,
                };
                slot.req = None;
                slot.resp = None;
            }
        }
        self.used = Held::default();
    }
}
