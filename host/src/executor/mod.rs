//! What runs commands: the [`Executor`] trait and its per-client sessions.
//!
//! The queue engine owns the rings and the guest buffers; an executor only
//! sees decoded [`Command`]s and returns response bytes. One executor serves
//! the whole device; each enabled queue (one guest client) opens its own
//! [`ClientSession`] when the queue is enabled and drops it when the queue is
//! disabled. A CUDA executor keeps one context per session; the simulator
//! ([`sim::SimExecutor`]) needs no per-client state.

pub mod command;
pub mod cuda;
pub mod registry;
pub mod sim;

pub use command::Command;

use crate::cancel::CancelToken;
use crate::cuda::CudaClient;
use std::time::Duration;
use uapi::cmd::DeviceInfo;
use uapi::status::Status;
use uapi::wire::Wire;

/// The device-wide side of an executor.
pub trait Executor: Send + Sync {
    /// Identity and limits the device reports (`GetDeviceInfo`).
    fn device_info(&self) -> DeviceInfo;

    /// Opens the state of one client. Runs on the queue's worker thread when
    /// the queue is enabled; the session lives on that thread until the queue
    /// is disabled. An error makes every command of that queue complete with it.
    fn open_session(&self, queue: u32) -> Result<Box<dyn ClientSession>, Status>;
}

/// The state of one client (one queue), owned by its worker thread.
pub trait ClientSession: Send {
    /// Runs one command and returns its response body, or the status to
    /// complete it with. Long work must watch `cancel` and return
    /// [`Status::Aborted`] soon after it is cancelled.
    fn execute(&mut self, command: Command<'_>, cancel: &CancelToken) -> Result<Vec<u8>, Status>;
}

/// The session both executors open: the generic commands answered here,
/// CUDA commands through a [`CudaClient`] over the executor's backend.
pub struct CudaSession {
    info: DeviceInfo,
    cuda: CudaClient,
    client: registry::ClientGuard,
}

impl CudaSession {
    /// A session reporting `info`, running CUDA commands through `cuda`,
    /// listed in the device's registry as `client`.
    pub fn new(info: DeviceInfo, cuda: CudaClient, client: registry::ClientGuard) -> Self {
        Self { info, cuda, client }
    }
}

impl ClientSession for CudaSession {
    fn execute(&mut self, command: Command<'_>, cancel: &CancelToken) -> Result<Vec<u8>, Status> {
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
                .client
                .registry()
                .usage(self.info.total_memory)
                .as_bytes()
                .to_vec()),
            Command::ListClients => Ok(self
                .client
                .registry()
                .list()
                .iter()
                .flat_map(|c| c.as_bytes().to_vec())
                .collect()),
            Command::SetClientIdentity { pid } => {
                self.client.set_pid(pid);
                Ok(Vec::new())
            }
            Command::Cuda {
                opcode,
                request,
                resp_capacity,
            } => {
                let reply = self.cuda.execute(opcode, request, resp_capacity, cancel);
                self.client.set_used(self.cuda.memory_used());
                reply
            }
        }
    }
}
