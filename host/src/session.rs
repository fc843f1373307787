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
use crate::cuda::CudaClient;
use crate::executor::registry::ClientRegistry;
use crate::executor::{Command, Executor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uapi::cmd::{DeviceInfo, DeviceUsage};
use uapi::status::Status;
use uapi::wire::Wire;

/// Where device-wide client information comes from.
pub enum Directory {
    /// The registry of this process (worker threads, tests).
    Local(Arc<ClientRegistry>),
    /// The device process, asked over the worker's query socket.
    Remote(crate::worker::proto::QueryChannel),
}

impl Directory {
    fn usage(&self, total: u64) -> Result<DeviceUsage, Status> {
        match self {
            Self::Local(registry) => Ok(registry.usage(total)),
            Self::Remote(channel) => channel.usage(total),
        }
    }

    fn list(&self) -> Result<Vec<u8>, Status> {
        match self {
            Self::Local(registry) => Ok(registry
                .list()
                .iter()
                .flat_map(|c| c.as_bytes().to_vec())
                .collect()),
            Self::Remote(channel) => channel.list(),
        }
    }
}

/// Since when a session has been running its current command: what a
/// worker's watchdog reads ([`crate::worker::child`]).
#[derive(Clone, Debug)]
pub struct BusyClock {
    base: Instant,
    /// Milliseconds after `base` + 1 when the running command began; 0 idle.
    since: Arc<AtomicU64>,
}

impl BusyClock {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            since: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn start(&self) {
        self.since.store(self.now_ms() + 1, Ordering::Release);
    }

    fn stop(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// How long the running command has run, if one is running.
    pub fn busy_for(&self) -> Option<Duration> {
        match self.since.load(Ordering::Acquire) {
            0 => None,
            since => Some(Duration::from_millis(
                self.now_ms().saturating_sub(since - 1),
            )),
        }
    }
}

/// The state of one client.
pub struct Session {
    info: DeviceInfo,
    cuda: CudaClient,
    page: Arc<ClientPage>,
    directory: Directory,
    busy: BusyClock,
}

impl Session {
    /// Opens a client of `executor` that reports through `page` and
    /// `directory`. An error makes every command of the client fail with it.
    pub fn open(
        executor: &dyn Executor,
        page: Arc<ClientPage>,
        directory: Directory,
    ) -> Result<Self, Status> {
        let backend = executor.new_backend()?;
        Ok(Self {
            info: executor.device_info(),
            cuda: CudaClient::with_stage_budget(backend, executor.stage_budget()),
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
        let page = Arc::new(ClientPage::new().map_err(|_| Status::ExecutorError)?);
        let registry = ClientRegistry::new();
        let guard = registry.join(id, page.clone());
        let session = Self::open(executor, page, Directory::Local(registry))?;
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
            Command::Cuda {
                opcode,
                request,
                resp_capacity,
            } => {
                self.busy.start();
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

/// Keeps a standalone session listed in its registry while held.
#[derive(Debug)]
pub struct Keep {
    _listed: crate::executor::registry::ClientGuard,
}
