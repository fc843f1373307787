// SPDX-License-Identifier: GPL-2.0

//! The submit path of a client: slots and budget reserved for a batch, its
//! buffers prepared (copied, or pinned and mapped), then posted with one
//! tail (and a doorbell while the device sleeps).

use crate::{
    client::Client,
    slots::{
        Buffer,
        PinnedIo,
        SlotTable, //
    },
    uapi::ring::{
        entry_flags,
        SgEntry,
        SubmissionEntry, //
    },
    userdma::{
        self,
        UserDma, //
    },
};
use kernel::{
    dma::{
        Coherent,
        CoherentBox, //
    },
    prelude::*,
};

/// The sizes of one command to be submitted.
#[derive(Clone, Copy, Default)]
pub(crate) struct CommandSize {
    /// Bytes of the request copy (header, and data too small to pin).
    pub(crate) req_len: usize,
    /// Bytes of the response copy (the header when data is pinned).
    pub(crate) resp_capacity: usize,
    /// Most pages its pinned data spans.
    pub(crate) pin_pages: usize,
}

impl CommandSize {
    /// DMA-coherent bytes it may take: the copies, and an SG list per
    /// pinned buffer (a header entry and at most one per page).
    fn dma_bytes(&self) -> usize {
        let lists = if self.pin_pages == 0 {
            0
        } else {
            self.pin_pages
                .saturating_add(2)
                .saturating_mul(size_of::<SgEntry>())
        };
        self.req_len
            .saturating_add(self.resp_capacity)
            .saturating_add(lists)
    }
}

/// User memory to pin for one command: (address, length) of its request
/// data (sent after the request copy) and of its response data (written
/// after the response copy's bytes).
#[derive(Clone, Copy, Default)]
pub(crate) struct PinnedRanges {
    pub(crate) req: Option<(usize, usize)>,
    pub(crate) resp: Option<(usize, usize)>,
}

/// A command ready to post: its buffers are filled.
pub(crate) struct Prepared {
    pub(crate) opcode: u16,
    pub(crate) detached: bool,
    req: Option<Buffer>,
    resp: Option<Buffer>,
}

impl Prepared {
    /// What it adds to the zero-copy counters.
    fn pinned_io(&self) -> PinnedIo {
        let bytes = [&self.req, &self.resp]
            .into_iter()
            .flatten()
            .map(Buffer::pinned_data)
            .sum::<usize>();
        PinnedIo {
            commands: u64::from(bytes != 0),
            bytes: bytes as u64,
        }
    }
}

/// Slots and budget reserved for one batch; returned on drop unless posted.
pub(crate) struct Reservation<'a> {
    client: &'a Client,
    slots: usize,
    bytes: usize,
    pins: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut st = self.client.dma.state.lock();
        st.slots.unreserve(self.slots, self.bytes, self.pins);
        let space_waiters = st.space_waiters;
        drop(st);
        if space_waiters != 0 {
            self.client.shared().wake_all();
        }
    }
}
impl Client {
    /// Reserves slots and DMA budget for a batch of `sizes`. If they do not
    /// fit now, fails with `EAGAIN`, or with `wait_for_space` waits until
    /// they do. It never waits for what only this caller could free.
    pub(crate) fn reserve(
        &self,
        sizes: impl Iterator<Item = CommandSize> + Clone,
        wait_for_space: bool,
    ) -> Result<Reservation<'_>> {
        let slots = sizes.clone().count();
        let bytes = sizes
            .clone()
            .fold(0usize, |sum, s| sum.saturating_add(s.dma_bytes()));
        let pins = sizes.fold(0usize, |sum, s| sum.saturating_add(s.pin_pages));
        if !SlotTable::can_pin(pins) {
            return Err(ENOMEM);
        }
        loop {
            let generation = *self.shared().irq_generation.lock();
            {
                let mut st = self.dma.state.lock();
                self.check_usable(&mut st)?;
                self.reap(&mut st);
                self.check_usable(&mut st)?;
                if st.slots.fits(slots, bytes, pins) {
                    st.slots.reserve(slots, bytes, pins);
                    return Ok(Reservation {
                        client: self,
                        slots,
                        bytes,
                        pins,
                    });
                }
                if !wait_for_space || !st.slots.can_make_room() {
                    return Err(EAGAIN);
                }
                st.space_waiters += 1;
            }
            let woke = self.sleep_for_interrupt(generation, None);
            let mut st = self.dma.state.lock();
            st.space_waiters = st.space_waiters.saturating_sub(1);
            drop(st);
            woke?;
        }
    }

    /// Allocates the DMA buffers of one command of a reservation; `fill`
    /// writes the request copy; `pinned` names user memory to pin behind
    /// the copies (at most the reservation's `pin_pages`). No lock is held:
    /// allocation and pinning may take time.
    pub(crate) fn prepare(
        &self,
        opcode: u16,
        detached: bool,
        size: CommandSize,
        fill: impl FnOnce(&mut [u8]) -> Result,
        pinned: PinnedRanges,
    ) -> Result<Prepared> {
        // Pin (or find pinned) before taking a binding: faulting pages in
        // may wait for userspace (userfaultfd), which unbind must not wait for.
        let pin = |range: Option<(usize, usize)>, write| {
            range
                .map(|(addr, len)| {
                    self.pinned_range(addr, len, write)
                        .map(|pin| (pin, addr, len))
                })
                .transpose()
        };
        let req_data = pin(pinned.req, false)?;
        let resp_data = pin(pinned.resp, true)?;
        let pages = [pinned.req, pinned.resp]
            .into_iter()
            .flatten()
            .map(|(addr, len)| userdma::pages_spanned(addr, len))
            .try_fold(0usize, |sum, n| n.map(|n| sum.saturating_add(n)))?;
        if pages > size.pin_pages {
            return Err(EINVAL);
        }
        let binding = self.shared().bind_alive()?;
        let dev = binding.dev();
        let max_transfer = self.shared().limits.max_transfer;
        let req_copy = match size.req_len {
            0 => None,
            n => {
                let mut buf = CoherentBox::<[u8]>::zeroed_slice(dev, n, GFP_KERNEL_ACCOUNT)?;
                fill(&mut buf)?;
                Some(Coherent::from(buf))
            }
        };
        let resp_copy = match size.resp_capacity {
            0 => None,
            n => Some(Coherent::<u8>::zeroed_slice(dev, n, GFP_KERNEL_ACCOUNT)?),
        };
        let buffer = |copy: Option<Coherent<[u8]>>, data| -> Result<Option<Buffer>> {
            Ok(match data {
                Some((pin, addr, len)) => Some(Buffer::Pinned(UserDma::new(
                    &binding,
                    copy,
                    pin,
                    addr,
                    len,
                    max_transfer,
                )?)),
                None => copy.map(Buffer::Bounce),
            })
        };
        let req = buffer(req_copy, req_data)?;
        let resp = buffer(resp_copy, resp_data)?;
        Ok(Prepared {
            opcode,
            detached,
            req,
            resp,
        })
    }

    /// Posts a reserved, prepared batch with one doorbell (at most);
    /// returns the
    /// sequence numbers in order.
    pub(crate) fn post(
        &self,
        reservation: Reservation<'_>,
        batch: KVec<Prepared>,
        seqs: &mut KVec<u64>,
    ) -> Result {
        seqs.reserve(batch.len(), GFP_KERNEL)?;
        if batch.len() != reservation.slots {
            return Err(EINVAL);
        }
        let mut st = self.dma.state.lock();
        let binding = self.shared().bind_alive()?;
        self.check_usable(&mut st)?;
        // The slots are taken below; the reservation ends here.
        st.slots
            .unreserve(reservation.slots, reservation.bytes, reservation.pins);
        core::mem::forget(reservation);
        let st = &mut *st;
        let ring = st.ring.as_ref().ok_or(ENODEV)?;
        let mut tail = st.sq_tail;
        let mut pinned_io = PinnedIo::default();
        for cmd in batch {
            let seq = st.next_seq;
            st.next_seq = seq.wrapping_add(1);
            pinned_io.add(cmd.pinned_io());
            let describe =
                |b: &Option<Buffer>| b.as_ref().map_or((false, 0, 0), Buffer::descriptor);
            let (req_sgl, req_addr, req_len) = describe(&cmd.req);
            let (resp_sgl, resp_addr, resp_len) = describe(&cmd.resp);
            let flags = if req_sgl { entry_flags::REQ_SGL } else { 0 }
                | if resp_sgl { entry_flags::RESP_SGL } else { 0 };
            // Claim the slot first: an entry on the ring always has a slot
            // that keeps its buffers alive.
            let entry = SubmissionEntry {
                opcode: cmd.opcode,
                flags,
                req_len,
                tag: seq,
                req_addr,
                resp_addr,
                resp_len,
                ..Default::default()
            };
            // Neither can fail: the reservation guarantees a free slot and
            // `write_entry` indexes modulo the ring length. Were one to, the
            // commands before it stay in their slots (never on a rung ring)
            // until close: nothing is freed that the device could see.
            st.slots.occupy(seq, cmd.detached, cmd.req, cmd.resp)?;
            ring.write_entry(tail, entry)?;
            tail = tail.wrapping_add(1);
            // PANIC: cannot fail, the capacity was reserved above.
            seqs.push(seq, GFP_KERNEL)?;
        }
        st.sq_tail = tail;
        st.pinned_io.add(pinned_io);
        self.shared().state.lock().pinned_io.add(pinned_io);
        ring.publish_tail(binding.bar()?, self.queue.get(), tail)
    }

    /// Convenience for the driver's own commands.
    pub(crate) fn submit_one(&self, opcode: u16, req: &[u8], resp_capacity: usize) -> Result<u64> {
        self.submit_own(opcode, req, resp_capacity, false)
    }

    /// A command of the driver's own that nobody waits for: its slot is
    /// freed when it completes.
    pub(crate) fn submit_detached(&self, opcode: u16, req: &[u8]) -> Result<u64> {
        self.submit_own(opcode, req, 0, true)
    }

    fn submit_own(
        &self,
        opcode: u16,
        req: &[u8],
        resp_capacity: usize,
        detached: bool,
    ) -> Result<u64> {
        let size = || CommandSize {
            req_len: req.len(),
            resp_capacity,
            pin_pages: 0,
        };
        let reservation = self.reserve(core::iter::once(size()), false)?;
        let prepared = self.prepare(
            opcode,
            detached,
            size(),
            |buf| {
                buf.copy_from_slice(req);
                Ok(())
            },
            PinnedRanges::default(),
        )?;
        let mut batch = KVec::new();
        batch.push(prepared, GFP_KERNEL)?;
        let mut seqs = KVec::new();
        self.post(reservation, batch, &mut seqs)?;
        seqs.first().copied().ok_or(EIO)
    }
}
