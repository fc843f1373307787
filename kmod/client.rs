// SPDX-License-Identifier: GPL-2.0

//! One client: a queue of its own on the device, its rings, and the commands
//! it has submitted and not yet collected.
//!
//! Every command gets a slot (at most `CLIENT_QUEUE_DEPTH`), a sequence number
//! (its tag on the ring) and DMA buffers for request and response. The slot
//! lives until the response is collected by a wait, or the client closes.

use crate::{
    regs,
    shared::Shared,
    uapi::{
        cmd::{
            ClientIdentity,
            Opcode, //
        },
        ioctl::CLIENT_QUEUE_DEPTH,
        regs::queue,
        ring::{
            CompletionEntry,
            QueueControl,
            SubmissionEntry, //
        },
        status::Status,
    },
};
use kernel::{
    device::{
        Bound,
        Device, //
    },
    dma::Coherent,
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        Mutex, //
    },
    time::{
        msecs_to_jiffies,
        Instant,
        Monotonic, //
    },
    transmute::AsBytes,
};

/// How long open waits for the device to take the client's identity.
const IDENTIFY_TIMEOUT_MS: u32 = 5000;

/// Longest sleep between checks of the device's heartbeat while waiting.
const WAIT_SLICE_MS: u32 = 100;

/// A command waiting for, or holding, its completion.
struct Slot {
    /// 0 when free.
    seq: u64,
    /// Nobody waits for it: freed when it completes.
    detached: bool,
    req: Option<Coherent<[u8]>>,
    resp: Option<Coherent<[u8]>>,
    done: bool,
    status: u32,
    resp_len: u32,
}

impl Slot {
    const fn free() -> Self {
        Self {
            seq: 0,
            detached: false,
            req: None,
            resp: None,
            done: false,
            status: 0,
            resp_len: 0,
        }
    }
}

struct ClientState {
    /// Submissions posted so far (free-running).
    sq_tail: u32,
    /// Completions consumed so far (free-running).
    cq_head: u32,
    next_seq: u64,
    slots: KVec<Slot>,
    /// The device stopped this queue; every command failed.
    broken: bool,
}

/// A command ready to post: its buffers are filled.
pub(crate) struct Prepared {
    pub(crate) opcode: u16,
    pub(crate) detached: bool,
    req: Option<Coherent<[u8]>>,
    resp: Option<Coherent<[u8]>>,
}

#[pin_data(PinnedDrop)]
pub(crate) struct Client {
    shared: Arc<Shared>,
    queue: u32,
    sq: Coherent<[SubmissionEntry]>,
    cq: Coherent<[CompletionEntry]>,
    ctrl: Coherent<QueueControl>,
    #[pin]
    state: Mutex<ClientState>,
}

fn dma_addr_of<T: kernel::ptr::KnownSize + ?Sized>(c: &Option<Coherent<T>>) -> u64 {
    c.as_ref().map_or(0, |c| c.dma_handle())
}

impl Client {
    /// Opens a client on `shared`: takes a queue, allocates its rings and
    /// starts it on the device. `dev` proves the device is bound.
    pub(crate) fn new(shared: Arc<Shared>, dev: &Device<Bound>) -> Result<Pin<KBox<Self>>> {
        let depth = CLIENT_QUEUE_DEPTH as usize;
        let sq = Coherent::<SubmissionEntry>::zeroed_slice(dev, depth, GFP_KERNEL)?;
        let cq = Coherent::<CompletionEntry>::zeroed_slice(dev, depth, GFP_KERNEL)?;
        let ctrl = Coherent::<QueueControl>::zeroed(dev, GFP_KERNEL)?;
        let mut slots = KVec::with_capacity(depth, GFP_KERNEL)?;
        for _ in 0..depth {
            slots.push(Slot::free(), GFP_KERNEL)?;
        }
        let queue = {
            let mut st = shared.state.lock();
            if st.dead {
                return Err(ENODEV);
            }
            shared.alloc_queue(&mut st)?
        };
        // From here on, dropping the client releases the queue.
        let client = KBox::pin_init(
            try_pin_init!(Self {
                shared,
                queue,
                sq,
                cq,
                ctrl,
                state <- new_mutex!(ClientState {
                    sq_tail: 0,
                    cq_head: 0,
                    next_seq: 1,
                    slots,
                    broken: false,
                }),
            }),
            GFP_KERNEL,
        )?;
        client.start()?;
        client.identify()?;
        Ok(client)
    }

    /// Tells the device which process this client is (for `nvidia-smi`-style
    /// process lists): the thread group id in the initial pid namespace.
    fn identify(&self) -> Result {
        let pid = kernel::current!().tgid_nr_ns(None);
        let identity = ClientIdentity {
            pid: u32::try_from(pid).unwrap_or(0),
            reserved: 0,
        };
        let seq = self.submit_one(Opcode::SetClientIdentity as u16, identity.as_bytes(), 0)?;
        self.wait(seq, IDENTIFY_TIMEOUT_MS, |status, _, _| {
            if status == Status::Ok as u32 {
                Ok(())
            } else {
                Err(EIO)
            }
        })
    }

    fn start(&self) -> Result {
        let q = self.queue;
        let status = self.shared.with_bar(|bar| {
            regs::write_addr(
                bar,
                regs::queue(q, queue::SQ_BASE_LO),
                regs::queue(q, queue::SQ_BASE_HI),
                self.sq.dma_handle(),
            )?;
            regs::write_addr(
                bar,
                regs::queue(q, queue::CQ_BASE_LO),
                regs::queue(q, queue::CQ_BASE_HI),
                self.cq.dma_handle(),
            )?;
            regs::write_addr(
                bar,
                regs::queue(q, queue::CTRL_BASE_LO),
                regs::queue(q, queue::CTRL_BASE_HI),
                self.ctrl.dma_handle(),
            )?;
            regs::write(bar, regs::queue(q, queue::DEPTH), CLIENT_QUEUE_DEPTH)?;
            regs::write(bar, regs::queue(q, queue::VECTOR), 0)?;
            regs::write(bar, regs::queue(q, queue::ENABLE), queue::ENABLE_ON)?;
            regs::read(bar, regs::queue(q, queue::STATUS))
        })?;
        if status & queue::status::STATE_MASK != queue::status::ENABLED {
            dev_err!(
                self.shared.pdev,
                "queue {} did not start: status {:#x}\n",
                q,
                status
            );
            return Err(EIO);
        }
        Ok(())
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Allocates the DMA buffers of one command; `fill` writes the request.
    pub(crate) fn prepare(
        &self,
        opcode: u16,
        detached: bool,
        req_len: usize,
        resp_capacity: usize,
        fill: impl FnOnce(&mut [u8]) -> Result,
    ) -> Result<Prepared> {
        let st = self.shared.state.lock();
        if !st.bound || st.dead {
            return Err(ENODEV);
        }
        // SAFETY: `st.bound` is true and we hold the state lock, which unbind
        // takes to clear it before the driver core releases the device.
        let dev = unsafe { self.shared.pdev.as_ref().as_bound() };
        let req = match req_len {
            0 => None,
            n => Some(Coherent::<u8>::zeroed_slice(dev, n, GFP_KERNEL)?),
        };
        let resp = match resp_capacity {
            0 => None,
            n => Some(Coherent::<u8>::zeroed_slice(dev, n, GFP_KERNEL)?),
        };
        drop(st);
        if let Some(req) = &req {
            // SAFETY: the buffer is not yet known to the device, so nothing
            // else accesses it.
            fill(unsafe { req.as_mut() })?;
        }
        Ok(Prepared {
            opcode,
            detached,
            req,
            resp,
        })
    }

    /// Posts prepared commands with one doorbell; returns their sequence
    /// numbers in order. If they do not all fit the free slots, fails with
    /// `EAGAIN` (posting nothing) or, with `wait_for_space`, waits for room.
    pub(crate) fn post(
        &self,
        batch: KVec<Prepared>,
        seqs: &mut KVec<u64>,
        wait_for_space: bool,
    ) -> Result {
        seqs.reserve(batch.len(), GFP_KERNEL)?;
        loop {
            let generation = *self.shared.irq_generation.lock();
            {
                let mut st = self.state.lock();
                if st.broken {
                    return Err(EIO);
                }
                if self.shared.state.lock().dead {
                    return Err(ENODEV);
                }
                self.reap(&mut st);
                let free = st.slots.iter().filter(|s| s.seq == 0).count();
                if batch.len() <= free {
                    return self.post_locked(&mut st, batch, seqs);
                }
                if !wait_for_space {
                    return Err(EAGAIN);
                }
            }
            self.sleep_for_interrupt(generation, None)?;
        }
    }

    fn post_locked(
        &self,
        st: &mut ClientState,
        batch: KVec<Prepared>,
        seqs: &mut KVec<u64>,
    ) -> Result {
        for cmd in batch {
            let seq = st.next_seq;
            st.next_seq += 1;
            let entry = SubmissionEntry {
                opcode: cmd.opcode,
                req_len: cmd.req.as_ref().map_or(0, |b| b.len() as u32),
                tag: seq,
                req_addr: dma_addr_of(&cmd.req),
                resp_addr: dma_addr_of(&cmd.resp),
                resp_len: cmd.resp.as_ref().map_or(0, |b| b.len() as u32),
                ..Default::default()
            };
            let index = (st.sq_tail % CLIENT_QUEUE_DEPTH) as usize;
            kernel::dma_write!(self.sq, [try: index], entry);
            st.sq_tail = st.sq_tail.wrapping_add(1);
            // The caller counted a free slot for every command.
            let slot = st.slots.iter_mut().find(|s| s.seq == 0).ok_or(EAGAIN)?;
            *slot = Slot {
                seq,
                detached: cmd.detached,
                req: cmd.req,
                resp: cmd.resp,
                ..Slot::free()
            };
            seqs.push(seq, GFP_KERNEL)?;
        }
        let tail = st.sq_tail;
        // The MMIO write orders after the ring writes above (writel semantics).
        self.shared
            .with_bar(|bar| regs::write(bar, regs::queue(self.queue, queue::DOORBELL), tail))
    }

    /// Sleeps until an interrupt moves the generation past `generation`, a
    /// slice passes, or `deadline_ms` (since `start`) runs out. Fails with
    /// `ENODEV` once the device is gone, `EINTR` on a signal, `ETIMEDOUT`.
    fn sleep_for_interrupt(
        &self,
        generation: u64,
        deadline: Option<(Instant<Monotonic>, u32)>,
    ) -> Result {
        if !self.shared.check_alive() {
            return Err(ENODEV);
        }
        let mut slice = i64::from(WAIT_SLICE_MS);
        if let Some((start, timeout_ms)) = deadline {
            let left = i64::from(timeout_ms) - start.elapsed().as_millis();
            if left <= 0 {
                return Err(ETIMEDOUT);
            }
            slice = slice.min(left);
        }
        let mut g = self.shared.irq_generation.lock();
        if *g == generation {
            let r = self
                .shared
                .irq_wait
                .wait_interruptible_timeout(&mut g, msecs_to_jiffies(slice as u32));
            if matches!(r, kernel::sync::CondVarTimeoutResult::Signal { .. }) {
                return Err(EINTR);
            }
        }
        Ok(())
    }

    /// Convenience for the driver's own commands.
    pub(crate) fn submit_one(&self, opcode: u16, req: &[u8], resp_capacity: usize) -> Result<u64> {
        let prepared = self.prepare(opcode, false, req.len(), resp_capacity, |buf| {
            buf.copy_from_slice(req);
            Ok(())
        })?;
        let mut batch = KVec::new();
        batch.push(prepared, GFP_KERNEL)?;
        let mut seqs = KVec::new();
        self.post(batch, &mut seqs, false)?;
        seqs.first().copied().ok_or(EIO)
    }

    /// Moves completions from the ring into their slots.
    fn reap(&self, st: &mut ClientState) {
        let tail = kernel::dma_read!(self.ctrl, .cq_tail);
        // x86 keeps loads in order, and these accesses are volatile: the
        // entries below are read after the tail that published them.
        if tail.wrapping_sub(st.cq_head) > CLIENT_QUEUE_DEPTH {
            dev_err!(
                self.shared.pdev,
                "queue {}: completion tail {} out of range (head {})\n",
                self.queue,
                tail,
                st.cq_head
            );
            self.fail_all(st, Status::BadRingIndex as u32);
            return;
        }
        while st.cq_head != tail {
            let index = (st.cq_head % CLIENT_QUEUE_DEPTH) as usize;
            st.cq_head = st.cq_head.wrapping_add(1);
            let Ok(entry) =
                (|| -> Result<CompletionEntry> { Ok(kernel::dma_read!(self.cq, [try: index])) })()
            else {
                continue;
            };
            match st
                .slots
                .iter_mut()
                .find(|s| s.seq != 0 && s.seq == entry.tag && !s.done)
            {
                Some(slot) if slot.detached => *slot = Slot::free(),
                Some(slot) => {
                    slot.done = true;
                    slot.status = entry.status;
                    slot.resp_len = entry.resp_len;
                    // The device is done with the request buffer.
                    slot.req = None;
                }
                None => {
                    // Tag 0 or unknown: the device stopped the queue.
                    dev_err!(
                        self.shared.pdev,
                        "queue {}: device reported status {} for tag {}; queue stopped\n",
                        self.queue,
                        entry.status,
                        entry.tag
                    );
                    self.fail_all(st, entry.status);
                }
            }
        }
        kernel::dma_write!(self.ctrl, .cq_head, st.cq_head);
    }

    fn fail_all(&self, st: &mut ClientState, status: u32) {
        st.broken = true;
        for slot in st.slots.iter_mut().filter(|s| s.seq != 0 && !s.done) {
            if slot.detached {
                *slot = Slot::free();
                continue;
            }
            slot.done = true;
            slot.status = if status == Status::Ok as u32 {
                Status::BadRingIndex as u32
            } else {
                status
            };
            slot.resp_len = 0;
        }
    }

    /// Waits for command `seq` and hands its status, response length and
    /// response buffer to
    /// `deliver`; the slot is freed only if `deliver` succeeds.
    /// `timeout_ms == 0` waits until completion or device loss.
    pub(crate) fn wait(
        &self,
        seq: u64,
        timeout_ms: u32,
        deliver: impl FnOnce(u32, u32, Option<&Coherent<[u8]>>) -> Result,
    ) -> Result {
        let start = Instant::<Monotonic>::now();
        let mut deliver = Some(deliver);
        loop {
            let generation = *self.shared.irq_generation.lock();
            {
                let mut st = self.state.lock();
                self.reap(&mut st);
                let slot = st
                    .slots
                    .iter_mut()
                    .find(|s| s.seq != 0 && s.seq == seq && !s.detached)
                    .ok_or(EINVAL)?;
                if slot.done {
                    let deliver = deliver.take().ok_or(EINVAL)?;
                    deliver(slot.status, slot.resp_len, slot.resp.as_ref())?;
                    *slot = Slot::free();
                    return Ok(());
                }
            }
            let deadline = (timeout_ms != 0).then_some((start, timeout_ms));
            self.sleep_for_interrupt(generation, deadline)?;
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Client {
    fn drop(self: Pin<&mut Self>) {
        let q = self.queue;
        // Stop the queue and make sure the device is done with the rings
        // (the status read returns only after the disable took effect)
        // before they are freed. Nothing to do if the binding is gone: unbind
        // reset the device.
        let _ = self.shared.with_bar(|bar| {
            regs::write(bar, regs::queue(q, queue::ENABLE), queue::ENABLE_OFF)?;
            regs::read(bar, regs::queue(q, queue::STATUS))
        });
        self.shared.free_queue(q);
    }
}
