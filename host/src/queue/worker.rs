//! The worker thread of one enabled queue: reads submissions up to the
//! doorbell tail, runs them through the client's session, posts completions
//! and raises the queue's vector.

use super::buffers::GuestBuffer;
use super::layout::RingLayout;
use crate::cancel::CancelToken;
use crate::executor::{ClientSession, Command};
use crate::guest_memory::GuestMemory;
use crate::shared::DeviceShared;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use uapi::regs::{irq, queue::status as qstatus};
use uapi::ring::{control_offsets, entry_flags, CompletionEntry, SubmissionEntry};
use uapi::status::{QueueError, Status};

/// Doorbell state the register file hands to the worker.
#[derive(Debug, Default)]
struct Doorbell {
    /// Last tail written to the doorbell.
    tail: u32,
    /// The queue is being disabled.
    stop: bool,
}

/// The register file's side of a worker.
#[derive(Debug, Default)]
struct WorkerControl {
    doorbell: Mutex<Doorbell>,
    wake: Condvar,
    cancel: CancelToken,
}

impl WorkerControl {
    fn lock(&self) -> std::sync::MutexGuard<'_, Doorbell> {
        self.doorbell.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopping(&self) -> bool {
        self.lock().stop
    }
}

/// Handle on a running worker thread.
#[derive(Debug)]
pub struct WorkerHandle {
    control: Arc<WorkerControl>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Starts the worker of queue `index` on `layout`. `status` is the
    /// queue's STATUS register, which the worker sets on a queue error.
    pub fn spawn(
        index: u32,
        layout: RingLayout,
        shared: Arc<DeviceShared>,
        status: Arc<AtomicU32>,
    ) -> std::io::Result<Self> {
        let control = Arc::new(WorkerControl::default());
        let worker = Worker {
            index,
            layout,
            shared,
            status,
            control: control.clone(),
            sq_head: 0,
            cq_tail: 0,
            irq_pending: false,
        };
        let thread = std::thread::Builder::new()
            .name(format!("vgpu-queue-{index}"))
            .spawn(move || worker.run())?;
        Ok(Self {
            control,
            thread: Some(thread),
        })
    }

    /// Records a new submission tail and wakes the worker. Never blocks on
    /// command execution.
    pub fn ring(&self, tail: u32) {
        self.control.lock().tail = tail;
        self.control.wake.notify_one();
    }

    /// Stops the worker, cancelling a command in progress, and waits until
    /// it no longer touches the rings.
    pub fn stop(&mut self) {
        self.control.lock().stop = true;
        self.control.cancel.cancel();
        self.control.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("queue worker panicked");
            }
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A corrupt ring: the queue stops with this error.
#[derive(Debug)]
struct QueueFault(QueueError);

struct Worker {
    index: u32,
    layout: RingLayout,
    shared: Arc<DeviceShared>,
    status: Arc<AtomicU32>,
    control: Arc<WorkerControl>,
    /// Submissions consumed.
    sq_head: u32,
    /// Completions posted.
    cq_tail: u32,
    /// Completions posted but not yet signalled.
    irq_pending: bool,
}

impl Worker {
    fn run(mut self) {
        let queue = self.index;
        tracing::debug!(queue, "worker started");
        let mut session = self.shared.executor.open_session(queue);
        if let Err(status) = &session {
            tracing::error!(queue, status = status.name(), "cannot open client session");
        }
        while let Some(tail) = self.wait_for_doorbell() {
            if let Err(QueueFault(error)) = self.process(tail, &mut session) {
                self.flush_irq();
                self.fail(error);
                break;
            }
            self.flush_irq();
        }
        drop(session);
        tracing::debug!(queue, "worker stopped");
    }

    /// Waits until the doorbell differs from the device head; `None` once
    /// the queue is stopping.
    fn wait_for_doorbell(&self) -> Option<u32> {
        let mut doorbell = self.control.lock();
        loop {
            if doorbell.stop {
                return None;
            }
            if doorbell.tail != self.sq_head {
                return Some(doorbell.tail);
            }
            doorbell = self
                .control
                .wake
                .wait(doorbell)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn fail(&self, error: QueueError) {
        let value = qstatus::ERROR | ((error as u32) << qstatus::ERROR_SHIFT);
        self.status.store(value, Ordering::Release);
        tracing::warn!(queue = self.index, ?error, "queue stopped with an error");
        self.shared.signal(irq::QUEUE_ERROR, self.layout.vector);
    }

    fn flush_irq(&mut self) {
        if self.irq_pending {
            self.irq_pending = false;
            self.shared.signal(irq::COMPLETION, self.layout.vector);
        }
    }

    /// Runs every submission in `[sq_head, tail)`.
    fn process(
        &mut self,
        tail: u32,
        session: &mut Result<Box<dyn ClientSession>, Status>,
    ) -> Result<(), QueueFault> {
        let mem = self.shared.ram.snapshot();
        if tail.wrapping_sub(self.sq_head) > self.layout.depth {
            tracing::warn!(
                queue = self.index,
                head = self.sq_head,
                tail,
                depth = self.layout.depth,
                "doorbell tail out of range"
            );
            // Best effort: tell the driver why, if the completion ring has room.
            if self.completion_room(&mem).is_ok() {
                let _ = self.post(&mem, 0, Status::BadRingIndex, 0);
            }
            return Err(QueueFault(QueueError::BadSubmissionIndex));
        }
        while self.sq_head != tail {
            if self.control.stopping() {
                return Ok(());
            }
            let entry: SubmissionEntry = mem
                .read_obj(self.layout.sq_slot(self.sq_head))
                .map_err(|_| QueueFault(QueueError::BadRingAddress))?;
            let (status, resp_len) = self.run_entry(&mem, &entry, session);
            tracing::debug!(
                queue = self.index,
                opcode = entry.opcode,
                tag = entry.tag,
                status = status.name(),
                resp_len,
                "command completed"
            );
            self.sq_head = self.sq_head.wrapping_add(1);
            self.post(&mem, entry.tag, status, resp_len)?;
        }
        Ok(())
    }

    /// Validates, runs and answers one submission; returns the completion
    /// status and response length.
    fn run_entry(
        &mut self,
        mem: &GuestMemory,
        entry: &SubmissionEntry,
        session: &mut Result<Box<dyn ClientSession>, Status>,
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
        session: &mut Result<Box<dyn ClientSession>, Status>,
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
        let max = self.shared.limits.max_transfer;
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
        let request_bytes = request.gather(mem).map_err(fail)?;
        let command =
            Command::decode(entry.opcode, &request_bytes, response.capacity()).map_err(fail)?;
        let session = session.as_mut().map_err(|status| fail(*status))?;
        if command.may_block() {
            self.flush_irq();
        }
        let reply = session
            .execute(command, &self.control.cancel)
            .map_err(fail)?;
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
            .load_u32(self.layout.ctrl_field(control_offsets::CQ_HEAD))
            .map_err(|_| QueueFault(QueueError::BadRingAddress))?;
        let used = self.cq_tail.wrapping_sub(cq_head);
        if used >= self.layout.depth {
            tracing::warn!(
                queue = self.index,
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
        mem.write_obj(self.layout.cq_slot(self.cq_tail), &completion)
            .map_err(ring_fault)?;
        self.cq_tail = self.cq_tail.wrapping_add(1);
        fence(Ordering::Release);
        mem.store_u32(
            self.layout.ctrl_field(control_offsets::SQ_HEAD),
            self.sq_head,
        )
        .map_err(ring_fault)?;
        mem.store_u32(
            self.layout.ctrl_field(control_offsets::CQ_TAIL),
            self.cq_tail,
        )
        .map_err(ring_fault)?;
        self.irq_pending = true;
        Ok(())
    }
}
