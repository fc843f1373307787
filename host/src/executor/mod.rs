//! What runs commands: the [`Executor`] trait, the factory of per-client
//! backends, and [`ExecutorSpec`], the executor named in a form a worker
//! process can be told.
//!
//! The queue engine owns the rings and the guest buffers; a client's
//! [`crate::session::Session`] sees decoded [`Command`]s and returns response
//! bytes. Each enabled queue (one guest client) opens its own session when the
//! queue is enabled, in its worker, and drops it when the queue is disabled. A
//! CUDA backend keeps the client's contexts; the simulator's its memory.

pub mod command;
pub mod cuda;
pub mod registry;
pub mod sim;

pub use command::Command;

use crate::cuda::CudaBackend;
use std::sync::Arc;
use uapi::cmd::DeviceInfo;
use uapi::status::Status;

/// The device-wide side of an executor: what a [`crate::session::Session`]
/// is opened from, in a worker thread or in the client's worker process.
pub trait Executor: Send + Sync {
    /// Identity and limits the device reports (`GetDeviceInfo`).
    fn device_info(&self) -> DeviceInfo;

    /// The backend of a new client. An error makes every command of that
    /// client complete with it.
    fn new_backend(&self) -> Result<Box<dyn CudaBackend>, Status>;

    /// The host memory its clients' staged module images share.
    fn stage_budget(&self) -> Arc<crate::cuda::stage::StageBudget>;
}

/// Which executor a client runs on, in a form a worker process can be
/// told: it opens the executor itself, so the device process never loads
/// the GPU driver in process-per-client mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorSpec {
    /// The simulator, reporting this identity.
    Sim(DeviceInfo),
    /// The host's GPU of this ordinal, through NVIDIA's driver.
    Cuda {
        /// CUDA device ordinal.
        device: i32,
    },
}

impl ExecutorSpec {
    /// Opens the executor.
    pub fn open(&self) -> Result<Arc<dyn Executor>, String> {
        Ok(match *self {
            Self::Sim(info) => Arc::new(sim::SimExecutor::new(info)),
            Self::Cuda { device } => {
                let driver = cuda::CudaDriver::load()?;
                Arc::new(cuda::CudaExecutor::new(driver, device, String::new())?)
            }
        })
    }
}
