//! The loop of one enabled queue: reads submissions up to the doorbell tail,
//! runs them through the client's session, posts completions and raises the
//! queue's vector. It runs on a worker thread ([`ThreadWorker`]) or as the
//! main thread of the client's worker process (`crate::worker`); both wake
//! it through the doorbell eventfd and stop it through the client page.

use super::buffers::GuestBuffer;
use super::copy::{release_guest_pages, GuestCopy};
use super::layout::RingLayout;
use super::spin::SpinWindow;
use crate::cancel::CancelToken;
use crate::client_page::ClientPage;
use crate::executor::Command;
use crate::fault::{self, RingFault};
use crate::guest_memory::{GuestMemory, GuestRam};
use crate::irq::InterruptSink;
use crate::session::Session;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use uapi::regs::irq;
use uapi::ring::{control_offsets, entry_flags, CompletionEntry, SubmissionEntry};
use uapi::shm::SpinPolicy;
use uapi::status::{QueueError, Status};
use vmm_sys_util::eventfd::EventFd;

/// How long the worker polls a polled tail after its last command before
/// it sleeps, at first: about one round trip of a TCG guest
/// (`docs/benchmarks.md`), so that a guest's next command, sent after it saw
/// the last completion, needs no doorbell; far more than a KVM guest's.
const QUEUE_SPIN: Duration = Duration::from_micros(200);

/// The default of the most the window grows to ([`SpinWindow`]) while the
/// guest's next batch keeps coming soon after the poll gave up
/// (`queue_poll_max_us`): cuBLAS's own code runs ~0.5 ms between GEMMs
/// under TCG (run 29).
pub const DEFAULT_POLL_MAX: Duration =
    Duration::from_micros(crate::config::DEFAULT_QUEUE_POLL_MAX_US);

/// The window's cap on this machine: with two cores or fewer a longer poll
/// takes the core a TCG guest's vCPU needs, so the window stays at its base.
fn spin_cap(configured: Duration) -> Duration {
    match std::thread::available_parallelism() {
        Ok(n) if n.get() > 2 => configured,
        _ => QUEUE_SPIN,
    }
}

/// The first bytes of `entry`'s request, if it is a plain buffer (for
/// `crate::fault`'s trigger).
fn request_prefix(mem: &GuestMemory, entry: &SubmissionEntry) -> Option<Vec<u8>> {
    if entry.flags & entry_flags::REQ_SGL != 0 {
        return None;
    }
    let mut prefix = vec![0; fault::TRIGGER.len().min(entry.req_len as usize)];
    mem.read(entry.req_addr, &mut prefix).ok()?;
    Some(prefix)
}

/// What a queue's loop runs on.
pub struct QueueEnv {
    /// Queue index (for logs).
    pub index: u32,
    /// The validated rings.
    pub layout: RingLayout,
    /// Guest RAM as this process maps it.
    pub ram: Arc<GuestRam>,
    /// Largest request or response buffer.
    pub max_transfer: u32,
    /// Longest the worker polls the guest's tail before it sleeps.
    pub poll_max: Duration,
    /// STATUS, doorbell tail, stop flag and interrupt causes.
    pub page: Arc<ClientPage>,
    /// Written once per doorbell register write (and on stop).
    pub doorbell: Arc<EventFd>,
    /// Where the queue's vector is raised.
    pub interrupts: Arc<dyn InterruptSink>,
    /// Cancelled when the queue stops, so that long commands end early.
    pub cancel: CancelToken,
}

/// Runs the queue until it is stopped or faults.
pub fn run(env: QueueEnv, session: Result<Session, Status>) {
    let window = SpinWindow::new(QUEUE_SPIN, spin_cap(env.poll_max));
    let mut worker = Worker {
        env,
        sq_head: 0,
        cq_tail: 0,
        irq_pending: false,
        profile: Profile::default(),
        spin: SpinPolicy::polling_for(QUEUE_SPIN),
        window,
    };
    worker.run(session);
}

/// Asks a queue's loop to stop: the flag first, then a wake-up, then the
/// cancellation of a command in progress.
pub fn request_stop(page: &ClientPage, doorbell: &EventFd, cancel: &CancelToken) {
    page.stop.store(1, Ordering::Release);
    cancel.cancel();
    if let Err(error) = doorbell.write(1) {
        tracing::warn!(%error, "cannot wake the queue worker");
    }
}

/// A queue served by a thread of this process (`--worker-threads`, tests).
#[derive(Debug)]
pub struct ThreadWorker {
    page: Arc<ClientPage>,
    doorbell: Arc<EventFd>,
    cancel: CancelToken,
    thread: Option<JoinHandle<()>>,
}

impl ThreadWorker {
    /// Starts the loop of `env` on a thread; the session is opened there.
    pub fn spawn(
        env: QueueEnv,
        open: impl FnOnce() -> Result<Session, Status> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (page, doorbell, cancel) = (env.page.clone(), env.doorbell.clone(), env.cancel.clone());
        let thread = std::thread::Builder::new()
            .name(format!("vgpu-queue-{}", env.index))
            .spawn(move || {
                let session = open();
                if let Err(status) = &session {
                    tracing::error!(
                        queue = env.index,
                        status = status.name(),
                        "cannot open client session"
                    );
                }
                run(env, session);
            })?;
        Ok(Self {
            page,
            doorbell,
            cancel,
            thread: Some(thread),
        })
    }

    /// Stops the loop, cancelling a command in progress, and waits until it
    /// no longer touches the rings.
    pub fn stop(&mut self) {
        request_stop(&self.page, &self.doorbell, &self.cancel);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("queue worker panicked");
            }
        }
    }
}

impl Drop for ThreadWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A corrupt ring: the queue stops with this error.
#[derive(Debug)]
struct QueueFault(QueueError);

struct Worker {
    env: QueueEnv,
    /// Submissions consumed.
    sq_head: u32,
    /// Completions posted.
    cq_tail: u32,
    /// Completions posted but not yet signalled.
    irq_pending: bool,
    /// Where the worker's time went, for the session's last log line.
    profile: Profile,
    /// When a polled tail is polled before sleeping.
    spin: SpinPolicy,
    /// For how long.
    window: SpinWindow,
}

/// The worker's time: waiting for the guest (`idle`), serving (`busy`),
/// and of that the copies that ran in place in guest pages.
#[derive(Default)]
struct Profile {
    idle: Duration,
    busy: Duration,
    in_place: Duration,
    in_place_commands: u64,
    /// Tails taken (each starts a batch of commands).
    batches: u64,
    /// Of those, with a polled tail, the ones whose doorbell the driver
    /// did not ring (it saw us polling).
    unrung_batches: u64,
}

impl Worker {
    fn run(&mut self, mut session: Result<Session, Status>) {
        let queue = self.env.index;
        tracing::debug!(queue, "worker started");
        loop {
            let waiting = Instant::now();
            let Some(tail) = self.wait_for_doorbell() else {
                break;
            };
            self.profile.batches += 1;
            let unrung = self.env.layout.polled_tail
                && self.env.page.doorbell.load(Ordering::Acquire) != tail;
            self.profile.unrung_batches += u64::from(unrung);
            tracing::debug!(queue, head = self.sq_head, tail, unrung, "batch");
            let serving = Instant::now();
            self.profile.idle += serving - waiting;
            let processed = self.process(tail, &mut session);
            self.flush_irq();
            self.profile.busy += serving.elapsed();
            if let Err(QueueFault(error)) = processed {
                self.fail(error);
                break;
            }
        }
        if let Ok(session) = &session {
            // CI reads this line (tests/src/vm): that large copies moved
            // between the device and the guest's pages in place, the long
            // runs by DMA from registered pages, which the guest released.
            // The times profile the VM path: the GPU's share (the direct
            // copies), ours (busy; in place: the copies in guest pages,
            // whose time beyond the direct copies' is ours per command) and
            // the guest's (idle, waiting for it). With a polled tail, the
            // batches the driver sent with no doorbell.
            let stats = session.shared_stats();
            tracing::info!(
                queue,
                guest_copies = stats.guest_copies,
                guest_bytes = stats.guest_bytes,
                guest_direct_bytes = stats.guest_direct_bytes,
                guest_registered = stats.guest_registered,
                guest_released = stats.guest_released,
                guest_prepared = stats.guest_prepared,
                guest_direct_up_bytes = stats.guest_direct_up_bytes,
                guest_direct_runs = stats.guest_direct_runs,
                guest_direct_up_ns = stats.guest_direct_up_ns,
                guest_direct_down_ns = stats.guest_direct_down_ns,
                idle_ms = self.profile.idle.as_millis() as u64,
                busy_ms = self.profile.busy.as_millis() as u64,
                in_place_commands = self.profile.in_place_commands,
                in_place_ms = self.profile.in_place.as_millis() as u64,
                polled_tail = u8::from(self.env.layout.polled_tail),
                batches = self.profile.batches,
                unrung_batches = self.profile.unrung_batches,
                "queue session ended"
            );
        }
        drop(session);
        tracing::debug!(queue, "worker stopped");
    }

    /// Waits until the tail differs from the device head; `None` once the
    /// queue is stopping. The doorbell's tail is read after the eventfd,
    /// and the register file writes it before the eventfd, so no doorbell
    /// is lost. With a polled tail the driver writes it to the control
    /// block and rings the doorbell only while `device_idle` says we sleep:
    /// we poll for a while, then set `device_idle` and look once more
    /// before sleeping (`uapi::ring`, the protocol). Completions held back
    /// while bus mastering was off are signalled once it is back.
    fn wait_for_doorbell(&mut self) -> Option<u32> {
        // When the poll of this wait began (it polls once).
        let mut polled_since: Option<Instant> = None;
        loop {
            if self.env.page.stopping() {
                return None;
            }
            self.flush_irq();
            if let Some(tail) = self.new_tail() {
                return Some(tail);
            }
            if self.env.layout.polled_tail && polled_since.is_none() {
                let began = Instant::now();
                polled_since = Some(began);
                let elapsed = || began.elapsed();
                let mut spin = self.spin;
                let ready = spin.poll_up_to(
                    self.window.get(),
                    || self.env.page.stopping() || self.new_tail().is_some(),
                    elapsed,
                );
                self.spin = spin;
                if ready {
                    continue;
                }
                if self.set_device_idle(true) {
                    if let Some(tail) = self.new_tail() {
                        self.set_device_idle(false);
                        return Some(tail);
                    }
                }
            }
            if let Err(error) = self.env.doorbell.read() {
                tracing::error!(queue = self.env.index, %error, "cannot wait for the doorbell");
                return None;
            }
            if let Some(began) = polled_since.take() {
                self.set_device_idle(false);
                if self.window.slept(began.elapsed()) {
                    self.spin.keep_polling();
                }
            }
        }
    }

    /// The driver's tail, if it differs from our head and bus mastering
    /// lets us read the rings: the control block's with a polled tail,
    /// else the doorbell register's.
    fn new_tail(&self) -> Option<u32> {
        if !self.env.page.dma_allowed() {
            return None;
        }
        let tail = if self.env.layout.polled_tail {
            let field = self.env.layout.ctrl_field(control_offsets::SQ_TAIL);
            // An unreadable control block reads as no news; the ring's
            // reads then report it.
            self.env.ram.snapshot().load_u32(field).ok()?
        } else {
            self.env.page.doorbell.load(Ordering::Acquire)
        };
        (tail != self.sq_head).then_some(tail)
    }

    /// Tells the driver whether we sleep until the doorbell (then with a
    /// full barrier after the store, before the caller reads the tail
    /// again); false if bus mastering is off (nothing written).
    fn set_device_idle(&self, idle: bool) -> bool {
        if !self.env.page.dma_allowed() {
            return false;
        }
        let field = self.env.layout.ctrl_field(control_offsets::DEVICE_IDLE);
        let stored = self
            .env
            .ram
            .snapshot()
            .store_u32(field, u32::from(idle))
            .is_ok();
        fence(Ordering::SeqCst);
        stored
    }

    fn fail(&self, error: QueueError) {
        self.env.page.set_error(error);
        tracing::warn!(
            queue = self.env.index,
            ?error,
            "queue stopped with an error"
        );
        self.signal(irq::QUEUE_ERROR);
    }

    /// Sets the `IRQ_STATUS` cause (the register file reads it from the
    /// page) and raises the queue's vector.
    fn signal(&self, cause: u32) {
        self.env.page.irq_cause.fetch_or(cause, Ordering::AcqRel);
        self.env.interrupts.raise(self.env.layout.vector);
    }

    /// Signals the completions posted, unless bus mastering is off (an MSI
    /// is a write to guest memory, review of L1): then they stay pending
    /// until [`Self::wait_for_doorbell`] sees it back.
    fn flush_irq(&mut self) {
        if self.irq_pending && self.env.page.dma_allowed() {
            self.irq_pending = false;
            self.signal(irq::COMPLETION);
        }
    }

    /// Runs every submission in `[sq_head, tail)`.
    fn process(
        &mut self,
        tail: u32,
        session: &mut Result<Session, Status>,
    ) -> Result<(), QueueFault> {
        if tail.wrapping_sub(self.sq_head) > self.env.layout.depth {
            let mem = self.env.ram.snapshot();
            tracing::warn!(
                queue = self.env.index,
                head = self.sq_head,
                tail,
                depth = self.env.layout.depth,
                "doorbell tail out of range"
            );
            // Best effort: tell the driver why, if the completion ring has room.
            if self.completion_room(&mem).is_ok() {
                let _ = self.post(&mem, 0, Status::BadRingIndex, 0);
            }
            return Err(QueueFault(QueueError::BadSubmissionIndex));
        }
        while self.sq_head != tail {
            if self.env.page.stopping() {
                return Ok(());
            }
            if !self.env.page.dma_allowed() {
                // Bus mastering is off: the rest waits for it (review L1).
                return Ok(());
            }
            // One snapshot per command, dropped when it completes: an unmap
            // waits for the commands that hold one (review L2).
            let mem = self.env.ram.snapshot();
            let entry: SubmissionEntry = mem
                .read_obj(self.env.layout.sq_slot(self.sq_head))
                .map_err(|_| QueueFault(QueueError::BadRingAddress))?;
            // Test only (`--inject-fault`): misbehave instead of running it.
            if let Some(fault) = fault::ring_fault(entry.opcode, || request_prefix(&mem, &entry)) {
                self.sq_head = self.sq_head.wrapping_add(1);
                return self.misbehave(&mem, &entry, fault);
            }
            fault::hold_device_info(self.env.index, entry.opcode, &self.env.cancel);
            let (status, resp_len) = self.run_entry(&mem, &entry, session);
            tracing::debug!(
                queue = self.env.index,
                opcode = entry.opcode,
                tag = entry.tag,
                status = status.name(),
                resp_len,
                "command completed"
            );
            self.sq_head = self.sq_head.wrapping_add(1);
            // A completion held while bus mastering is off holds no guest
            // RAM, so an unmap meanwhile waits for nothing (review of L1/L2);
            // the completion goes to the rings mapped once it is back (none:
            // BadRingAddress).
            drop(mem);
            if !self.await_bus_master() {
                return Ok(());
            }
            let mem = self.env.ram.snapshot();
            self.post(&mem, entry.tag, status, resp_len)?;
        }
        Ok(())
    }

    /// Waits while bus mastering is off (a command that was running when
    /// the guest turned it off posts its completion once it is back);
    /// false once the queue is stopping.
    fn await_bus_master(&self) -> bool {
        loop {
            if self.env.page.stopping() {
                return false;
            }
            if self.env.page.dma_allowed() {
                return true;
            }
            // Woken when bus mastering comes back, and by a stop; the
            // doorbell tail is read again after this, so none is lost.
            if let Err(error) = self.env.doorbell.read() {
                tracing::error!(queue = self.env.index, %error, "cannot wait for bus mastering");
                return false;
            }
        }
    }

    /// Test only: commits `fault` for `entry` (`crate::fault`). A bad
    /// completion is followed by holding the command, never completed,
    /// until the queue stops; the log says how long after the bad
    /// completion that was.
    fn misbehave(
        &mut self,
        mem: &GuestMemory,
        entry: &SubmissionEntry,
        fault: RingFault,
    ) -> Result<(), QueueFault> {
        let (queue, tag) = (self.env.index, entry.tag);
        match fault {
            RingFault::ErrorWithoutCompletion => {
                tracing::warn!(
                    queue,
                    tag,
                    "injected fault: queue error without a completion"
                );
                return Err(QueueFault(QueueError::ExecutorLost));
            }
            RingFault::UnknownTag => {
                self.post(mem, tag.wrapping_add(1 << 32), Status::Ok, 0)?;
            }
            RingFault::TailPastEnd => {
                let tail = self.cq_tail.wrapping_add(4 * self.env.layout.depth);
                mem.store_u32(self.env.layout.ctrl_field(control_offsets::CQ_TAIL), tail)
                    .map_err(|_| QueueFault(QueueError::BadRingAddress))?;
                self.irq_pending = true;
            }
        }
        self.flush_irq();
        tracing::warn!(queue, tag, ?fault, "injected fault: bad completion posted");
        let posted = Instant::now();
        if self.env.cancel.sleep(fault::HOLD_LIMIT) {
            tracing::warn!(
                queue,
                "injected fault: the queue was not stopped after the bad completion"
            );
        } else {
            tracing::warn!(
                queue,
                stopped_after_ms = posted.elapsed().as_millis() as u64,
                "injected fault: queue stopped after the bad completion"
            );
        }
        Ok(())
    }

    /// Validates, runs and answers one submission; returns the completion
    /// status and response length.
    fn run_entry(
        &mut self,
        mem: &GuestMemory,
        entry: &SubmissionEntry,
        session: &mut Result<Session, Status>,
    ) -> (Status, u32) {
        match self.try_run_entry(mem, entry, session) {
            Ok(len) => (Status::Ok, len),
            Err((status, len)) => (status, len),
        }
    }

    fn try_run_entry(
        &mut self,
        mem: &GuestMemory,
        entry: &SubmissionEntry,
        session: &mut Result<Session, Status>,
    ) -> Result<u32, (Status, u32)> {
        let fail = |status: Status| (status, 0);
        if entry.flags & !entry_flags::ALL != 0 || entry.reserved0 != 0 || entry.reserved1 != [0; 3]
        {
            return Err(fail(Status::InvalidField));
        }
        if uapi::cmd::Opcode::from_u16(entry.opcode).is_none()
            && !uapi::cuda::op::is_cuda(entry.opcode)
        {
            return Err(fail(Status::InvalidOpcode));
        }
        let max = self.env.max_transfer;
        let request = GuestBuffer::parse(
            mem,
            entry.flags & entry_flags::REQ_SGL != 0,
            entry.req_addr,
            entry.req_len,
            max,
        )
        .map_err(fail)?;
        let response = GuestBuffer::parse(
            mem,
            entry.flags & entry_flags::RESP_SGL != 0,
            entry.resp_addr,
            entry.resp_len,
            max,
        )
        .map_err(fail)?;
        // SAFETY: the copy runs below, while `mem` lives.
        if let Some(copy) = unsafe { GuestCopy::find(mem, entry.opcode, &request, &response) } {
            let session = session.as_mut().map_err(|status| fail(*status))?;
            self.flush_irq();
            let started = Instant::now();
            let ran = copy.run(mem, &response, session);
            self.profile.in_place += started.elapsed();
            self.profile.in_place_commands += 1;
            return ran;
        }
        let request_bytes = request.gather(mem).map_err(fail)?;
        let command =
            Command::decode(entry.opcode, &request_bytes, response.capacity()).map_err(fail)?;
        let session = session.as_mut().map_err(|status| fail(*status))?;
        if let Command::ReleaseGuestPages(ranges) = command {
            release_guest_pages(mem, ranges, session);
            return Ok(0);
        }
        if command.may_block() {
            self.flush_irq();
        }
        let reply = session.execute(command, &self.env.cancel).map_err(fail)?;
        let needed = u32::try_from(reply.len()).map_err(|_| fail(Status::ExecutorError))?;
        if u64::from(needed) > response.capacity() {
            return Err((Status::ResponseTooSmall, needed));
        }
        response.scatter(mem, &reply).map_err(fail)?;
        Ok(needed)
    }

    /// Checks the completion ring has a free slot; an index outside what
    /// was posted, or a full ring (which the driver promised never to
    /// cause), is a queue fault.
    fn completion_room(&self, mem: &GuestMemory) -> Result<(), QueueFault> {
        let cq_head = mem
            .load_u32(self.env.layout.ctrl_field(control_offsets::CQ_HEAD))
            .map_err(|_| QueueFault(QueueError::BadRingAddress))?;
        let used = self.cq_tail.wrapping_sub(cq_head);
        if used >= self.env.layout.depth {
            tracing::warn!(
                queue = self.env.index,
                cq_head,
                cq_tail = self.cq_tail,
                "completion head out of range or completion ring full"
            );
            return Err(QueueFault(QueueError::BadCompletionIndex));
        }
        Ok(())
    }

    /// Writes one completion, then (release order) the control block's
    /// `sq_head` and `cq_tail`.
    fn post(
        &mut self,
        mem: &GuestMemory,
        tag: u64,
        status: Status,
        resp_len: u32,
    ) -> Result<(), QueueFault> {
        self.completion_room(mem)?;
        let completion = CompletionEntry {
            tag,
            status: status as u32,
            resp_len,
            sq_head: self.sq_head,
            reserved: [0; 3],
        };
        let ring_fault = |_| QueueFault(QueueError::BadRingAddress);
        mem.write_obj(self.env.layout.cq_slot(self.cq_tail), &completion)
            .map_err(ring_fault)?;
        self.cq_tail = self.cq_tail.wrapping_add(1);
        fence(Ordering::Release);
        mem.store_u32(
            self.env.layout.ctrl_field(control_offsets::SQ_HEAD),
            self.sq_head,
        )
        .map_err(ring_fault)?;
        mem.store_u32(
            self.env.layout.ctrl_field(control_offsets::CQ_TAIL),
            self.cq_tail,
        )
        .map_err(ring_fault)?;
        self.irq_pending = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use vmm_sys_util::eventfd::EFD_CLOEXEC;

    #[derive(Default)]
    struct Raised(AtomicU32);

    impl InterruptSink for Raised {
        fn raise(&self, _vector: u32) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn completions_are_signalled_only_with_bus_mastering_on() {
        let raised = Arc::new(Raised::default());
        let page = Arc::new(ClientPage::new().expect("page"));
        let env = QueueEnv {
            index: 0,
            layout: RingLayout {
                sq_base: 0,
                cq_base: 0x1000,
                ctrl_base: 0x2000,
                depth: 2,
                vector: 1,
                polled_tail: false,
            },
            ram: Arc::new(GuestRam::new()),
            max_transfer: 4096,
            poll_max: DEFAULT_POLL_MAX,
            page: page.clone(),
            doorbell: Arc::new(EventFd::new(EFD_CLOEXEC).expect("eventfd")),
            interrupts: raised.clone(),
            cancel: CancelToken::new(),
        };
        let mut worker = Worker {
            env,
            sq_head: 0,
            cq_tail: 0,
            irq_pending: true,
            profile: Profile::default(),
            spin: SpinPolicy::polling_for(QUEUE_SPIN),
            window: SpinWindow::new(QUEUE_SPIN, DEFAULT_POLL_MAX),
        };
        // A batch ended because the guest turned bus mastering off.
        page.dma_off.store(1, Ordering::Release);
        worker.flush_irq();
        assert_eq!(raised.0.load(Ordering::SeqCst), 0, "an MSI without BME");
        assert!(worker.irq_pending);
        // It is back, with a doorbell: the held interrupt goes first.
        page.dma_off.store(0, Ordering::Release);
        page.doorbell.store(1, Ordering::Release);
        assert_eq!(worker.wait_for_doorbell(), Some(1));
        assert_eq!(raised.0.load(Ordering::SeqCst), 1);
        assert!(!worker.irq_pending);
    }
}
