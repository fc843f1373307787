// SPDX-License-Identifier: GPL-2.0

//! Slot bookkeeping of one client: which commands are in flight, which
//! buffers the device may own, and the client's DMA budget.

use crate::{
    ring::Ring,
    uapi::ioctl::{
        CLIENT_QUEUE_DEPTH,
        MAX_PAYLOAD, //
    },
};
use kernel::{
    dma::Coherent,
    prelude::*, //
};

/// DMA bytes (requests plus response capacity) one client may hold. An idle
/// client may still post one batch of any size, so the hard bound per client
/// is `max(budget, MAX_BATCH * 2 * MAX_PAYLOAD)`; every byte is also charged
/// to the caller's memory cgroup.
const CLIENT_DMA_BUDGET: usize = 64 * MAX_PAYLOAD as usize;

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
    req: Option<Coherent<[u8]>>,
    pub(crate) resp: Option<Coherent<[u8]>>,
}

impl Slot {
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

fn len_of(buf: &Option<Coherent<[u8]>>) -> usize {
    buf.as_ref().map_or(0, |b| b.len())
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
    /// Submitters sleeping for room; whoever frees room wakes them.
    pub(crate) space_waiters: u32,
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
            space_waiters: 0,
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
    parked: KVec<Coherent<[u8]>>,
    reserved_slots: usize,
    reserved_bytes: usize,
    /// Bytes of the buffers held by slots.
    used_bytes: usize,
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
            reserved_bytes: 0,
            used_bytes: 0,
        })
    }

    fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.stage == Stage::Free).count()
    }

    /// Whether `slots` more commands of `bytes` fit now.
    pub(crate) fn fits(&self, slots: usize, bytes: usize) -> bool {
        let held = self.used_bytes.saturating_add(self.reserved_bytes);
        self.free_slots().saturating_sub(self.reserved_slots) >= slots
            && (held == 0 || held.saturating_add(bytes) <= CLIENT_DMA_BUDGET)
    }

    /// Whether room can appear without the caller collecting anything:
    /// commands in flight will complete, reservations will be posted or dropped.
    pub(crate) fn can_make_room(&self) -> bool {
        self.reserved_slots != 0 || self.slots.iter().any(|s| s.stage == Stage::InFlight)
    }

    pub(crate) fn reserve(&mut self, slots: usize, bytes: usize) {
        self.reserved_slots = self.reserved_slots.saturating_add(slots);
        self.reserved_bytes = self.reserved_bytes.saturating_add(bytes);
    }

    pub(crate) fn unreserve(&mut self, slots: usize, bytes: usize) {
        self.reserved_slots = self.reserved_slots.saturating_sub(slots);
        self.reserved_bytes = self.reserved_bytes.saturating_sub(bytes);
    }

    /// Puts a command about to be posted into a free slot.
    pub(crate) fn occupy(
        &mut self,
        seq: u64,
        detached: bool,
        req: Option<Coherent<[u8]>>,
        resp: Option<Coherent<[u8]>>,
    ) -> Result {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.stage == Stage::Free)
            .ok_or(EAGAIN)?;
        self.used_bytes = self
            .used_bytes
            .saturating_add(len_of(&req))
            .saturating_add(len_of(&resp));
        // INVARIANT: the buffers stay in the slot while it is in flight.
        *slot = Slot {
            stage: Stage::InFlight,
            seq,
            detached,
            req,
            resp,
        };
        Ok(())
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
        // The device is done with both buffers.
        let freed = if slot.detached {
            let freed = len_of(&slot.req) + len_of(&slot.resp);
            *slot = Slot::free();
            freed
        } else {
            slot.stage = Stage::Done { status, resp_len };
            len_of(&slot.req.take())
        };
        self.used_bytes = self.used_bytes.saturating_sub(freed);
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
            let freed = len_of(&slot.req) + len_of(&slot.resp);
            *slot = Slot::free();
            self.used_bytes = self.used_bytes.saturating_sub(freed);
        }
    }

    /// Fails every command in flight with `status`. With `stopped` (the
    /// queue read back DISABLED) their buffers are freed, else parked.
    pub(crate) fn fail_in_flight(&mut self, status: u32, stopped: bool) {
        for slot in self.slots.iter_mut().filter(|s| s.stage == Stage::InFlight) {
            let freed = len_of(&slot.req) + len_of(&slot.resp);
            for buf in [slot.req.take(), slot.resp.take()].into_iter().flatten() {
                if !stopped {
                    if let Err(e) = self.parked.push_within_capacity(buf) {
                        core::mem::forget(e.0);
                    }
                }
            }
            self.used_bytes = self.used_bytes.saturating_sub(freed);
            if slot.detached {
                *slot = Slot::free();
            } else {
                slot.stage = Stage::Done {
                    status,
                    resp_len: 0,
                };
            }
        }
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
        self.used_bytes = 0;
    }
}
