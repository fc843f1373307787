//! Configuration: command line, optional TOML file, validation.
//!
//! The file gives defaults, the command line overrides them field by field.
//! [`Config::load`] returns a validated [`Config`] or a [`ConfigError`] that
//! names the offending field. The command line is in `cli`, the file's
//! shape in `file`, merging and validation in `resolve`.

mod cli;
mod file;
mod resolve;
#[cfg(test)]
mod tests;

pub use cli::Cli;
pub use resolve::parse_uuid;

use crate::regs::Identification;
use std::path::PathBuf;
use uapi::cmd::{fill_str, DeviceInfo};

/// Default marketing name of the simulated GPU.
pub const DEFAULT_NAME: &str = "NVIDIA H100 80GB HBM3";
/// Default memory size: 80 GiB.
pub const DEFAULT_TOTAL_MEMORY: u64 = 80 << 30;
/// Default compute capability.
pub const DEFAULT_COMPUTE_CAPABILITY: &str = "9.0";
/// Default multiprocessor count.
pub const DEFAULT_MULTIPROCESSORS: u32 = 132;
/// Default UUID (fixed, so that a guest sees the same GPU on every start).
pub const DEFAULT_UUID: &str = "GPU-56475055-0000-4000-8000-000000000001";
/// Default host driver version.
pub const DEFAULT_DRIVER_VERSION: &str = "580.95.05";
/// Default CUDA driver API version.
pub const DEFAULT_CUDA_DRIVER_VERSION: u32 = 13000;

/// Default of `command_timeout_s`: the simulator's own launch watchdog.
pub const DEFAULT_COMMAND_TIMEOUT_S: u64 = 60;

/// Default of `queue_poll_max_us` (`crate::queue::worker`'s polling window).
pub const DEFAULT_QUEUE_POLL_MAX_US: u64 = 2000;
/// Most `queue_poll_max_us` may be: a poll longer than 100 ms is a spinning
/// core, not a wait.
pub const MAX_QUEUE_POLL_MAX_US: u64 = 100_000;

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file cannot be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML of the expected shape.
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A field has an invalid value.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field, as spelt in the file (`sim.` prefix) and on the command line.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

/// Which executor runs commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorKind {
    /// The simulator.
    Sim,
    /// The host's GPU through its libcuda.so.1.
    Cuda,
}

/// The simulated GPU's identity, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimIdentity {
    /// Marketing name.
    pub name: String,
    /// Memory in bytes.
    pub total_memory: u64,
    /// Compute capability major.
    pub compute_major: u32,
    /// Compute capability minor.
    pub compute_minor: u32,
    /// Multiprocessors.
    pub multiprocessors: u32,
    /// UUID bytes.
    pub uuid: [u8; 16],
    /// Host driver version.
    pub driver_version: String,
    /// CUDA driver API version.
    pub cuda_driver_version: u32,
}

impl SimIdentity {
    /// The `DeviceInfo` the simulator reports.
    pub fn device_info(&self) -> DeviceInfo {
        let mut info = DeviceInfo {
            uuid: self.uuid,
            total_memory: self.total_memory,
            cuda_driver_version: self.cuda_driver_version,
            compute_major: self.compute_major,
            compute_minor: self.compute_minor,
            multiprocessor_count: self.multiprocessors,
            ..DeviceInfo::default()
        };
        fill_str(&mut info.name, &self.name);
        fill_str(&mut info.driver_version, &self.driver_version);
        info
    }
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// vfio-user socket path (empty: serve the direct socket only).
    pub socket: PathBuf,
    /// Direct socket transport path, if configured.
    pub direct_socket: Option<PathBuf>,
    /// The uid admitted to the vfio-user socket besides our own and root
    /// (`socket_owner`: the user QEMU runs as).
    pub socket_owner: Option<u32>,
    /// Who may connect to the direct socket.
    pub direct_access: crate::direct::DirectAccess,
    /// CUDA device ordinal for the "cuda" executor.
    pub cuda_device: i32,
    /// Remove a stale socket file first.
    pub force: bool,
    /// Executor.
    pub executor: ExecutorKind,
    /// Serve clients from threads of this process (no worker processes).
    pub worker_threads: bool,
    /// RLIMIT_DATA of each worker process, bytes.
    pub worker_memory_limit: Option<u64>,
    /// Longest one command may run in a worker process (`None`: no limit).
    pub command_timeout: Option<std::time::Duration>,
    /// Longest a queue's worker polls before it sleeps (`queue_poll_max_us`).
    pub queue_poll_max: std::time::Duration,
    /// Per-VM and per-client limits (`crate::quota`).
    pub quotas: crate::quota::Quotas,
    /// Identity of the simulated GPU.
    pub sim: SimIdentity,
    /// What the BAR0 identification registers read.
    pub ident: Identification,
}
