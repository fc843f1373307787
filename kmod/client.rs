// SPDX-License-Identifier: GPL-2.0

//! One client: a queue of its own on the device, its rings, and the commands
//! it has submitted and not yet collected.
//!
//! Every command gets a slot (at most `CLIENT_QUEUE_DEPTH`), a sequence number
//! (its tag on the ring) and DMA buffers for request and response. A slot is
//! reserved, with its bytes charged to the client's budget, before any buffer
//! is allocated; it lives until the response is collected by a wait, or the
//! client closes. No buffer the device may still use is ever freed: only a
//! completion, a queue that reads back DISABLED, or a device reset (unbind)
//! releases one.

use crate::{
    pincache::PinCache,
    regs::QueueState,
    ring::{
        self,
        Ring, //
    },
    shared::{
        QueueIndex,
        Shared, //
    },
    slots::{
        Buffer,
        ClientState,
        PinnedIo,
        Stage, //
    },
    uapi::{
        cmd::{
            ClientIdentity,
            Opcode, //
        },
        ioctl::{
            CLIENT_QUEUE_DEPTH,
            MAX_BATCH, //
        },
        regs::features,
        status::Status,
    },
    userdma::PinAccount,
};
use kernel::{
    dma::Coherent,
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        CondVarTimeoutResult,
        Mutex, //
    },
    time::{
        msecs_to_jiffies,
        Instant,
        Monotonic, //
    },
    transmute::AsBytes,
};

/// How long bring-up waits for the device to take the client's identity.
// TIMEOUT: one command round trip; generous for TCG guests.
const IDENTIFY_TIMEOUT_MS: u32 = 5000;

// A full batch must fit an empty queue, or WAIT_FOR_SPACE could never succeed.
const _: () = assert!(MAX_BATCH <= CLIENT_QUEUE_DEPTH);

/// The DMA state of one client: shared with [`Shared`]'s client list so that
/// unbind can free it while the device is still bound.
#[pin_data]
pub(crate) struct ClientDma {
    /// The client's queue on the device.
    pub(crate) queue: u32,
    #[pin]
    pub(crate) state: Mutex<ClientState>,
}

impl ClientDma {
    /// Frees every DMA buffer. Only after a device reset proved that the
    /// device no longer uses them (unbind).
    pub(crate) fn release(&self) {
        self.state.lock().release_all(Status::Aborted as u32);
    }

    /// Whether the watchdog should read this queue's status: it runs and
    /// has commands whose completion someone may wait for.
    pub(crate) fn needs_watching(&self) -> bool {
        let st = self.state.lock();
        st.broken.is_none() && st.device_error.is_none() && st.slots.has_in_flight()
    }

    /// Records that the device put the queue in error with `code` (the
    /// watchdog saw it); the next reap stops the queue. Whether it is news.
    pub(crate) fn note_device_error(&self, code: u32) -> bool {
        let mut st = self.state.lock();
        if st.broken.is_some() || st.device_error.is_some() {
            return false;
        }
        st.device_error = Some(code);
        true
    }
}

/// Where the client's bring-up (deferred from open to the first ioctl) is.
#[derive(Clone, Copy)]
enum Bringup {
    New,
    /// The identity command was posted; its wait was interrupted.
    Identifying(u64),
    Ready,
    Failed(Error),
}

/// An open `/dev/vgpuN`.
#[pin_data(PinnedDrop)]
pub(crate) struct Client {
    pub(crate) queue: QueueIndex,
    pub(crate) dma: Arc<ClientDma>,
    #[pin]
    bringup: Mutex<Bringup>,
    /// Pinnings kept for reuse (`pincache`).
    #[pin]
    pub(crate) pins: Mutex<PinCache>,
    /// Pages pinned for this file, cached or in flight.
    pub(crate) pin_account: Arc<PinAccount>,
}

impl Client {
    /// Opens a client on `shared`: takes a queue and allocates its rings.
    /// Nothing reaches the device yet (open runs under the global misc lock):
    /// the queue starts on the first command, see [`Self::ensure_started`].
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Pin<KBox<Self>>> {
        let queue = QueueIndex::alloc(shared.clone())?;
        // Held until the client is listed (bounded work: allocations), so
        // that unbind, which frees listed clients' DMA memory, either lists
        // this one or refuses it (`add_client`) while the device is bound.
        let binding = shared.bind_alive()?;
        let polled_tail = shared.limits.features & features::POLLED_TAIL != 0;
        let ring = Ring::new(binding.dev(), polled_tail)?;
        let state = ClientState::new(ring)?;
        let q = queue.get();
        let dma = Arc::pin_init(
            pin_init!(ClientDma {
                queue: q,
                state <- new_mutex!(state),
            }),
            GFP_KERNEL,
        )?;
        // On failure below, `dma` is freed here: the queue never started.
        let pin_account = PinAccount::new()?;
        let listed = dma.clone();
        shared.add_client(dma.clone())?;
        let client = KBox::pin_init(
            try_pin_init!(Self {
                queue,
                dma,
                bringup <- new_mutex!(Bringup::New),
                pins <- new_mutex!(PinCache::new()),
                pin_account,
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| shared.remove_client(&listed));
        drop(binding);
        client
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        self.queue.shared()
    }

    /// Starts the queue and tells the device who the client is, once.
    pub(crate) fn ensure_started(&self) -> Result {
        let mut bringup = self.bringup.lock();
        let seq = match *bringup {
            Bringup::Ready => return Ok(()),
            Bringup::Failed(e) => return Err(e),
            Bringup::Identifying(seq) => seq,
            Bringup::New => match self.start().and_then(|()| self.post_identity()) {
                Ok(seq) => seq,
                Err(e) => {
                    *bringup = Bringup::Failed(e);
                    return Err(e);
                }
            },
        };
        let done = self.wait(seq, IDENTIFY_TIMEOUT_MS, |status, _, _| {
            if status == Status::Ok as u32 {
                Ok(())
            } else {
                Err(EIO)
            }
        });
        *bringup = match done {
            Ok(()) => Bringup::Ready,
            Err(e) if e == EINTR || e == ERESTARTSYS => Bringup::Identifying(seq),
            Err(e) => Bringup::Failed(e),
        };
        done
    }

    fn start(&self) -> Result {
        let q = self.queue.get();
        let shared = self.shared();
        let st = self.dma.state.lock();
        let binding = shared.bind_alive()?;
        let ring = st.ring.as_ref().ok_or(ENODEV)?;
        let state = ring.start(binding.bar()?, q)?;
        if state != QueueState::Enabled {
            dev_err!(shared.pdev, "queue {} did not start: {:?}\n", q, state);
            return Err(EIO);
        }
        Ok(())
    }

    /// Posts the identity of the calling process: its thread group id in the
    /// initial pid namespace (for `nvidia-smi`-style process lists).
    fn post_identity(&self) -> Result<u64> {
        let pid = kernel::current!().tgid_nr_ns(None);
        let identity = ClientIdentity {
            pid: u32::try_from(pid).unwrap_or(0),
            reserved: 0,
        };
        self.submit_one(Opcode::SetClientIdentity as u16, identity.as_bytes(), 0)
    }

    /// Fails with `EIO` once the queue is broken, `ENODEV` once the device is gone.
    pub(crate) fn check_usable(&self, st: &mut ClientState) -> Result {
        if self.shared().state.lock().dead {
            return Err(ENODEV);
        }
        if st.broken.is_some() {
            return Err(EIO);
        }
        Ok(())
    }

    /// Sleeps until an interrupt (or the watchdog) moves the generation past
    /// `generation`, or `deadline` (start, timeout in ms) runs out. Fails
    /// with `ENODEV` once the device is gone, `ERESTARTSYS` on a signal
    /// (`EINTR` with a deadline, which a restart would extend), `ETIMEDOUT`.
    pub(crate) fn sleep_for_interrupt(
        &self,
        generation: u64,
        deadline: Option<(Instant<Monotonic>, u32)>,
    ) -> Result {
        let shared = self.shared();
        // Whoever sets `dead` moves the generation after: if it is set after
        // this check, the comparison below sees the move.
        if shared.state.lock().dead {
            return Err(ENODEV);
        }
        let left_ms = match deadline {
            Some((start, timeout_ms)) => {
                let left = i64::from(timeout_ms) - start.elapsed().as_millis();
                if left <= 0 {
                    return Err(ETIMEDOUT);
                }
                // CAST: 1..=timeout_ms.
                Some(left as u32)
            }
            None => None,
        };
        let mut g = shared.irq_generation.lock();
        if *g != generation {
            return Ok(());
        }
        let Some(left_ms) = left_ms else {
            return if shared.irq_wait.wait_interruptible(&mut g) {
                Err(ERESTARTSYS)
            } else {
                Ok(())
            };
        };
        match shared
            .irq_wait
            .wait_interruptible_timeout(&mut g, msecs_to_jiffies(left_ms))
        {
            CondVarTimeoutResult::Signal { .. } => Err(EINTR),
            CondVarTimeoutResult::Timeout | CondVarTimeoutResult::Woken { .. } => Ok(()),
        }
    }

    /// Moves completions from the ring into their slots; stops the queue
    /// if the device breaks the ring protocol, or once the watchdog saw the
    /// device put it in error (after taking the completions it did post).
    pub(crate) fn reap(&self, st: &mut ClientState) {
        self.reap_ring(st);
        if st.broken.is_some() {
            return;
        }
        if let Some(code) = st.device_error {
            dev_err!(
                self.shared().pdev,
                "queue {}: device stopped it (error {})\n",
                self.queue.get(),
                code
            );
            self.stop_queue(st, Status::BadRingIndex as u32);
        }
    }

    fn reap_ring(&self, st: &mut ClientState) {
        if st.broken.is_some() {
            return;
        }
        let Some(ring) = st.ring.as_ref() else {
            return;
        };
        let tail = ring.cq_tail();
        if tail.wrapping_sub(st.cq_head) > CLIENT_QUEUE_DEPTH {
            dev_err!(
                self.shared().pdev,
                "queue {}: completion tail {} out of range (head {}); stopping it\n",
                self.queue.get(),
                tail,
                st.cq_head
            );
            self.stop_queue(st, Status::BadRingIndex as u32);
            return;
        }
        let head_before = st.cq_head;
        let mut head = st.cq_head;
        let mut fault = None;
        while head != tail {
            let entry = match ring.completion(head) {
                Ok(entry) => entry,
                Err(e) => {
                    fault = Some((0, e.to_errno() as u32));
                    break;
                }
            };
            head = head.wrapping_add(1);
            if !st.slots.complete(entry.tag, entry.status, entry.resp_len) {
                // Tag 0 or unknown: the device says the queue stopped, or lies.
                fault = Some((entry.tag, entry.status));
                break;
            }
        }
        ring.publish_head(head);
        st.cq_head = head;
        if let Some((tag, status)) = fault {
            dev_err!(
                self.shared().pdev,
                "queue {}: device reported status {} for tag {}; stopping it\n",
                self.queue.get(),
                status,
                tag
            );
            self.stop_queue(st, status);
        }
        // Completions freed slots or budget: wake submitters waiting for room.
        if head != head_before && st.space_waiters != 0 {
            self.shared().wake_all();
        }
    }

    /// Marks the queue broken and fails every command in flight. Their
    /// buffers are freed only if the queue reads back DISABLED; otherwise
    /// they stay allocated until the client closes (or longer).
    fn stop_queue(&self, st: &mut ClientState, status: u32) {
        if st.broken.is_some() {
            return;
        }
        let status = if status == Status::Ok as u32 {
            Status::BadRingIndex as u32
        } else {
            status
        };
        st.broken = Some(status);
        let stopped = self.disable_queue();
        st.slots.fail_in_flight(status, stopped.is_ok());
        self.shared().wake_all();
    }

    /// `ENABLE_OFF` and the read-back that proves it; logs a failure.
    fn disable_queue(&self) -> Result {
        let shared = self.shared();
        let q = self.queue.get();
        let binding = shared.bind()?;
        let patient = !shared.state.lock().dead;
        ring::disable(binding.bar()?, q, patient).inspect_err(|e| {
            dev_err!(
                shared.pdev,
                "queue {} did not stop ({:?}); keeping its buffers\n",
                q,
                e
            )
        })
    }

    /// Bytes pinned now (cached or in flight) and the zero-copy counters
    /// of this client.
    pub(crate) fn pinned_io(&self) -> (usize, PinnedIo) {
        let io = self.dma.state.lock().pinned_io;
        (self.pinned_bytes(), io)
    }

    /// Waits for command `seq` and hands its status, response length and
    /// response buffer to `deliver`; the slot is freed only if `deliver`
    /// succeeds. `timeout_ms == 0` waits until completion, a queue error or
    /// device loss.
    pub(crate) fn wait(
        &self,
        seq: u64,
        timeout_ms: u32,
        deliver: impl FnOnce(u32, u32, Option<&Coherent<[u8]>>) -> Result,
    ) -> Result {
        let start = Instant::<Monotonic>::now();
        let mut deliver = Some(deliver);
        let mut polled = false;
        loop {
            let generation = *self.shared().irq_generation.lock();
            let poll_limit;
            {
                let mut st = self.dma.state.lock();
                self.reap(&mut st);
                let slot = st.slots.find_waitable(seq).ok_or(EINVAL)?;
                poll_limit = slot.poll_limit();
                if let Stage::Done { status, resp_len } = slot.stage {
                    let deliver = deliver.take().ok_or(EINVAL)?;
                    deliver(
                        status,
                        resp_len,
                        slot.resp.as_ref().and_then(Buffer::header),
                    )?;
                    st.slots.free(seq);
                    if st.space_waiters != 0 {
                        drop(st);
                        self.shared().wake_all();
                    }
                    return Ok(());
                }
            }
            if !polled {
                polled = true;
                if self.poll_completions(poll_limit) {
                    continue;
                }
            }
            let deadline = (timeout_ms != 0).then_some((start, timeout_ms));
            self.sleep_for_interrupt(generation, deadline)?;
            polled = false;
        }
    }

    /// Polls the completion ring for up to `limit` before a wait sleeps
    /// (backing off while polls keep failing: `SpinPolicy`): a completion
    /// seen here needs no interrupt and no wake-up, which cost a guest far
    /// more than the device's work for a short command. Whether one came.
    fn poll_completions(&self, limit: core::time::Duration) -> bool {
        let mut spin = self.dma.state.lock().spin;
        let start = Instant::<Monotonic>::now();
        let elapsed = || {
            // CAST: a monotonic clock's elapsed time is not negative.
            core::time::Duration::from_nanos(start.elapsed().as_nanos() as u64)
        };
        let came = spin.poll_up_to(
            limit,
            || {
                let st = self.dma.state.lock();
                st.broken.is_some()
                    || st
                        .ring
                        .as_ref()
                        .is_some_and(|r| r.has_completions(st.cq_head))
            },
            elapsed,
        );
        self.dma.state.lock().spin = spin;
        came
    }
}

#[pinned_drop]
impl PinnedDrop for Client {
    fn drop(self: Pin<&mut Self>) {
        let shared = self.queue.shared().clone();
        let Ok(binding) = shared.bind() else {
            // Unbind has begun: `shut_down` resets the device and then frees
            // our DMA memory through its client list, which keeps it alive.
            return;
        };
        let q = self.queue.get();
        let patient = !shared.state.lock().dead;
        let stopped = binding.bar().and_then(|bar| ring::disable(bar, q, patient));
        if let Err(e) = stopped {
            // The device may still use the rings and buffers: they stay on
            // the client list, and unbind frees them after its reset. The
            // queue is still the device's too: nobody else may get it.
            self.queue.retire();
            dev_warn!(
                shared.pdev,
                "queue {} did not stop ({:?}); keeping it and its DMA memory until unbind\n",
                q,
                e
            );
            return;
        }
        self.dma.state.lock().release_all(Status::Aborted as u32);
        drop(binding);
        shared.remove_client(&self.dma);
    }
}
