//! One client's session: the one concrete type every transport runs
//! commands through (a queue's loop, a direct-socket connection), in a worker
//! thread or in the client's own worker process.
//!
//! It answers the generic commands itself, runs CUDA commands through its
//! [`CudaClient`] (CUDA's error rules over the executor's backend), publishes
//! the client's pid and memory in its [`ClientPage`], and asks its
//! [`Directory`] for the device-wide `GetUsage` / `ListClients`.

use crate::cancel::CancelToken;
use crate::client_page::ClientPage;
use crate::cuda::client::ClientQuota;
use crate::cuda::{CudaClient, HostBytes, SharedKind, SharedSpan, SharedStats};
use crate::executor::registry::ClientRegistry;
use crate::executor::{Command, Executor};
use crate::quota::{Claim, MemoryAccount, Quotas};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uapi::cmd::{DeviceInfo, DeviceUsage};
use uapi::status::Status;
use uapi::wire::Wire;

/// Where device-wide client information (and the VM's quotas and memory
/// account) comes from.
pub enum Directory {
    /// The registry of this process, where this client has this id
    /// (worker threads, tests).
    Local(Arc<ClientRegistry>, u32),
    /// The device process, asked over the worker's query socket.
    Remote(crate::worker::proto::QueryChannel),
}

impl MemoryAccount for Directory {
    fn claim(&self, total: u64, force: bool) -> Result<Claim, Status> {
        match self {
            Self::Local(registry, id) => Ok(registry.claim_memory(*id, total, force)),
            Self::Remote(channel) => channel.claim_memory(total, force),
        }
    }
}

impl Directory {
    fn limits(&self) -> Result<Quotas, Status> {
        match self {
            Self::Local(registry, _) => Ok(registry.quotas()),
            Self::Remote(channel) => channel.limits(),
        }
    }

    fn usage(&self, total: u64) -> Result<DeviceUsage, Status> {
        match self {
            Self::Local(registry, _) => Ok(registry.usage(total)),
            Self::Remote(channel) => channel.usage(total),
        }
    }

    fn list(&self) -> Result<Vec<u8>, Status> {
        match self {
            Self::Local(registry, _) => Ok(registry
                .list()
                .iter()
                .flat_map(|c| c.as_bytes().to_vec())
                .collect()),
            Self::Remote(channel) => channel.list(),
        }
    }
}

/// Since when a session has been running its current command: what a
/// worker's watchdog reads ([`crate::worker::child`]), with the command's
/// opcode and the thread running it (for the watchdog's report).
#[derive(Clone, Debug)]
pub struct BusyClock {
    base: Instant,
    /// Milliseconds after `base` + 1 when the running command began; 0 idle.
    since: Arc<AtomicU64>,
    /// Opcode of the running (or last) command.
    opcode: Arc<AtomicU32>,
    /// Kernel thread id of the thread running it.
    tid: Arc<AtomicI32>,
}

impl BusyClock {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            since: Arc::new(AtomicU64::new(0)),
            opcode: Arc::new(AtomicU32::new(0)),
            tid: Arc::new(AtomicI32::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn start(&self, opcode: u16) {
        if self.tid.load(Ordering::Relaxed) == 0 {
            // SAFETY: gettid has no preconditions.
            self.tid.store(unsafe { libc::gettid() }, Ordering::Relaxed);
        }
        self.opcode.store(u32::from(opcode), Ordering::Relaxed);
        self.since.store(self.now_ms() + 1, Ordering::Release);
    }

    fn stop(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// How long the running command has run, if one is running.
    pub fn busy_for(&self) -> Option<Duration> {
        self.busy().map(|(busy, _)| busy)
    }

    /// [`Self::busy_for`], with a token naming the command (its start), so
    /// that a watcher can tell one long command from two.
    pub fn busy(&self) -> Option<(Duration, u64)> {
        match self.since.load(Ordering::Acquire) {
            0 => None,
            since => Some((
                Duration::from_millis(self.now_ms().saturating_sub(since - 1)),
                since,
            )),
        }
    }

    /// Opcode of the running command.
    pub fn opcode(&self) -> u16 {
        self.opcode.load(Ordering::Relaxed) as u16
    }

    /// Kernel thread id of the thread that runs commands (0 before the
    /// first).
    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Relaxed)
    }
}

/// The state of one client.
pub struct Session {
    info: DeviceInfo,
    cuda: CudaClient,
    page: Arc<ClientPage>,
    directory: Arc<Directory>,
    busy: BusyClock,
}

impl Session {
    /// Opens a client of `executor` that reports through `page` and
    /// `directory`, within the quotas `directory` gives. An error makes
    /// every command of the client fail with it.
    pub fn open(
        executor: &dyn Executor,
        page: Arc<ClientPage>,
        directory: Directory,
    ) -> Result<Self, Status> {
        let limits = directory.limits()?;
        let directory = Arc::new(directory);
        let backend = executor.new_backend()?;
        let mut info = executor.device_info();
        // What cuDeviceTotalMem, NVML and the kernel module's cached
        // identity report: the VM's quota, when it is smaller.
        info.total_memory = limits.visible_total(info.total_memory);
        let quota = ClientQuota::new(limits, directory.clone());
        Ok(Self {
            info,
            cuda: CudaClient::with_quota(backend, executor.stage_budget(), quota),
            page,
            directory,
            busy: BusyClock::new(),
        })
    }

    /// The clock of the command this session is running.
    pub fn busy_clock(&self) -> BusyClock {
        self.busy.clone()
    }

    /// A session registered as client `id` of a registry of its own (tests,
    /// tools).
    pub fn standalone(executor: &dyn Executor, id: u32) -> Result<(Self, Keep), Status> {
        Self::in_registry(executor, &ClientRegistry::new(), id)
    }

    /// A session registered as client `id` of `registry`, within its quotas
    /// (tests, tools; `Status::Busy` if the registry is full).
    pub fn in_registry(
        executor: &dyn Executor,
        registry: &Arc<ClientRegistry>,
        id: u32,
    ) -> Result<(Self, Keep), Status> {
        let page = Arc::new(ClientPage::new().map_err(|_| Status::ExecutorError)?);
        let guard = registry
            .try_join(id, page.clone())
            .map_err(|_| Status::Busy)?;
        let registry = registry.clone();
        let session = Self::open(executor, page, Directory::Local(registry, id))?;
        Ok((session, Keep { _listed: guard }))
    }

    /// Runs one command and returns its response body, or the status to
    /// complete it with. Long work watches `cancel` and returns
    /// [`Status::Aborted`] soon after it is cancelled.
    pub fn execute(
        &mut self,
        command: Command<'_>,
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, Status> {
        match command {
            Command::GetDeviceInfo => Ok(self.info.as_bytes().to_vec()),
            Command::Echo(request) => Ok(request.to_vec()),
            Command::Sleep { millis } => {
                if cancel.sleep(Duration::from_millis(u64::from(millis))) {
                    Ok(Vec::new())
                } else {
                    Err(Status::Aborted)
                }
            }
            Command::GetUsage => Ok(self
                .directory
                .usage(self.info.total_memory)?
                .as_bytes()
                .to_vec()),
            Command::ListClients => self.directory.list(),
            Command::SetClientIdentity { pid } => {
                self.page.pid.store(pid, Ordering::Release);
                Ok(Vec::new())
            }
            // Guest RAM is the queue's (`queue::copy::release_guest_pages`); a client of the
            // socket has none, so nothing of it is registered.
            Command::ReleaseGuestPages(_) => Ok(Vec::new()),
            Command::Cuda {
                opcode,
                request,
                resp_capacity,
            } => {
                self.busy.start(opcode);
                let reply = self.cuda.execute(opcode, request, resp_capacity, cancel);
                self.busy.stop();
                self.page
                    .used
                    .store(self.cuda.memory_used(), Ordering::Release);
                reply
            }
        }
    }
}

impl Session {
    /// Makes `area` (a client's shared memory, mapped until
    /// [`Self::unregister_shared`]) eligible for registration with the device.
    pub fn register_shared(&mut self, area: SharedSpan, kind: SharedKind) {
        self.cuda.register_shared(area, kind);
    }

    /// Forgets `area` before it is unmapped.
    pub fn unregister_shared(&mut self, area: SharedSpan) {
        self.cuda.unregister_shared(area);
    }

    /// Guest RAM is at `epoch` (`GuestMemory::epoch`) for the guest pieces
    /// that follow.
    pub fn guest_epoch(&mut self, epoch: u64) {
        self.cuda.guest_epoch(epoch);
    }

    /// The guest is about to unpin `spans` (this process's mappings of the
    /// ranges of a `ReleaseGuestPages`): no registration of them outlives
    /// this call.
    pub fn release_guest(&mut self, spans: &[SharedSpan]) {
        self.cuda.release_guest(spans);
    }

    /// What went through shared memory in place.
    pub fn shared_stats(&self) -> SharedStats {
        self.cuda.shared_stats()
    }

    /// Owes the client the error of a detached copy refused before it ran
    /// ([`CudaClient::refuse_detached`]).
    pub fn refuse_detached(&mut self) {
        self.cuda.refuse_detached();
    }

    /// Runs a copy whose host bytes stay in shared memory
    /// ([`CudaClient::execute_shared`]).
    pub fn execute_shared(
        &mut self,
        opcode: u16,
        request: &[u8],
        host: HostBytes<'_>,
        resp_capacity: usize,
        detached: bool,
    ) -> Result<(Vec<u8>, usize), Status> {
        self.busy.start(opcode);
        let reply = self
            .cuda
            .execute_shared(opcode, request, host, resp_capacity, detached);
        self.busy.stop();
        reply
    }
}

/// Keeps a standalone session listed in its registry while held.
#[derive(Debug)]
pub struct Keep {
    _listed: crate::executor::registry::ClientGuard,
}
