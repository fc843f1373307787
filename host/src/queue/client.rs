//! The client of one enabled queue, as the device process holds it: its
//! page, its doorbell eventfd, and its worker (a thread or a process).

use super::layout::RingLayout;
use super::worker::{QueueEnv, ThreadWorker};
use crate::cancel::CancelToken;
use crate::client_page::ClientPage;
use crate::executor::registry::ClientGuard;
use crate::irq::InterruptSink;
use crate::session::{Directory, Session};
use crate::shared::DeviceShared;
use crate::worker::process::{memory_message, MemoryFence, ProcessWorker};
use crate::worker::proto::{tag, Encoder};
use crate::worker::{Role, Sessions, Setup};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use uapi::regs::{irq, queue::status as qstatus};
use uapi::status::QueueError;
use vmm_sys_util::eventfd::{EventFd, EFD_CLOEXEC};

#[derive(Debug)]
enum Worker {
    /// A thread of this process, listed in the registry while it runs.
    Thread {
        thread: ThreadWorker,
        _listed: ClientGuard,
    },
    /// A process of its own (it holds its registry entry).
    Process(ProcessWorker),
}

/// A running queue client.
#[derive(Debug)]
pub struct QueueClient {
    page: Arc<ClientPage>,
    doorbell: Arc<EventFd>,
    cancel: CancelToken,
    vector: u32,
    worker: Worker,
}

impl QueueClient {
    /// Starts the worker of queue `index` on `layout`.
    pub fn start(index: u32, layout: RingLayout, shared: &DeviceShared) -> std::io::Result<Self> {
        let page = Arc::new(ClientPage::new()?);
        page.status.store(qstatus::ENABLED, Ordering::Release);
        let dma_off = !shared.bus_master.load(Ordering::Acquire);
        page.dma_off.store(u32::from(dma_off), Ordering::Release);
        let doorbell = Arc::new(EventFd::new(EFD_CLOEXEC)?);
        let cancel = CancelToken::new();
        let guard = shared.clients.join(index, page.clone());
        let worker = match &shared.sessions {
            Sessions::Threads(executor) => {
                let env = QueueEnv {
                    index,
                    layout,
                    ram: shared.ram.clone(),
                    max_transfer: shared.limits.max_transfer,
                    // Threads are for debugging: the default window.
                    poll_max: super::worker::DEFAULT_POLL_MAX,
                    page: page.clone(),
                    doorbell: doorbell.clone(),
                    interrupts: shared.interrupts.clone(),
                    cancel: cancel.clone(),
                };
                let (executor, session_page) = (executor.clone(), page.clone());
                let registry = guard.registry().clone();
                let thread = ThreadWorker::spawn(env, move || {
                    Session::open(
                        executor.as_ref(),
                        session_page,
                        Directory::Local(registry, index),
                    )
                })?;
                Worker::Thread {
                    thread,
                    _listed: guard,
                }
            }
            Sessions::Processes(launcher) => {
                let setup = Setup {
                    index,
                    role: Role::Queue(layout),
                    spec: launcher.spec,
                    max_transfer: shared.limits.max_transfer,
                    memory_limit: launcher.memory_limit.unwrap_or(0),
                    command_timeout_ms: launcher.command_timeout_ms(),
                    queue_poll_max_us: launcher.queue_poll_max_us(),
                };
                let regions = shared.ram.regions();
                let irq_fd = shared.interrupts.eventfd(layout.vector);
                let follow = vec![
                    memory_message(&regions, 0),
                    (
                        Encoder::new(tag::IRQ).0,
                        irq_fd
                            .iter()
                            .map(AsRawFd::as_raw_fd)
                            .collect::<Vec<RawFd>>(),
                    ),
                ];
                let fds = [page.file().as_raw_fd(), doorbell.as_raw_fd()];
                let on_death = {
                    let (page, interrupts) = (page.clone(), shared.interrupts.clone());
                    Box::new(move |status| {
                        worker_died(index, layout.vector, &page, interrupts.as_ref(), status)
                    })
                };
                Worker::Process(ProcessWorker::spawn(
                    launcher, &setup, &fds, &follow, guard, on_death,
                )?)
            }
        };
        Ok(Self {
            page,
            doorbell,
            cancel,
            vector: layout.vector,
            worker,
        })
    }

    /// The client's page (STATUS, interrupt causes).
    pub fn page(&self) -> &ClientPage {
        &self.page
    }

    /// The worker process's id, when there is one.
    pub fn worker_pid(&self) -> Option<u32> {
        match &self.worker {
            Worker::Thread { .. } => None,
            Worker::Process(p) => Some(p.pid()),
        }
    }

    /// Records a new submission tail and wakes the worker. Never blocks on
    /// command execution.
    pub fn ring(&self, tail: u32) {
        self.page.doorbell.store(tail, Ordering::Release);
        if let Err(error) = self.doorbell.write(1) {
            tracing::warn!(%error, "cannot ring the worker's doorbell");
        }
    }

    /// Bus mastering turned on or off: the worker holds its queue while it
    /// is off, and is woken to go on when it is back.
    pub fn bus_master_changed(&self, on: bool) {
        self.page.dma_off.store(u32::from(!on), Ordering::Release);
        if on {
            if let Err(error) = self.doorbell.write(1) {
                tracing::warn!(%error, "cannot wake the queue's worker");
            }
        }
    }

    /// See [`super::QueueSlot::memory_changed`].
    /// With `fence`, returns the update its worker process will answer.
    pub fn memory_changed(&self, shared: &DeviceShared, fence: bool) -> Option<MemoryFence> {
        let Worker::Process(p) = &self.worker else {
            return None;
        };
        p.set_memory(&shared.ram.regions(), fence)
    }

    /// See [`super::QueueSlot::interrupts_changed`].
    pub fn interrupts_changed(&self, shared: &DeviceShared) {
        if let Worker::Process(p) = &self.worker {
            p.set_interrupt(shared.interrupts.eventfd(self.vector).as_ref());
        }
    }

    /// Stops the worker; it no longer touches guest RAM when this returns.
    pub fn stop(&mut self) {
        super::worker::request_stop(&self.page, &self.doorbell, &self.cancel);
        match &mut self.worker {
            Worker::Thread { thread, .. } => thread.stop(),
            Worker::Process(process) => process.stop(),
        }
    }
}

impl Drop for QueueClient {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A worker process ended on its own: the queue reports it, the others go on.
fn worker_died(
    index: u32,
    vector: u32,
    page: &ClientPage,
    interrupts: &dyn InterruptSink,
    status: std::process::ExitStatus,
) {
    // A stop asked through the page (`QueueClient::stop`) wakes the worker
    // before the process handle knows it is stopping: a device thread
    // preempted in between (a loaded host) saw that orderly exit as a death.
    if page.stop.load(Ordering::Acquire) != 0 {
        tracing::debug!(queue = index, %status, "queue worker process ended at its stop");
        return;
    }
    tracing::warn!(queue = index, %status, "queue worker process died; queue in ERROR");
    if page.status.load(Ordering::Acquire) & qstatus::STATE_MASK != qstatus::ERROR {
        page.set_error(QueueError::ExecutorLost);
    }
    page.irq_cause.fetch_or(irq::QUEUE_ERROR, Ordering::AcqRel);
    interrupts.raise(vector);
}
