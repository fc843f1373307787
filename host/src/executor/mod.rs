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
pub mod sim;

pub use command::Command;

use crate::cancel::CancelToken;
use uapi::cmd::DeviceInfo;
use uapi::status::Status;

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
