//! Who serves a client: a worker thread of this process, or (the default of
//! the `vgpu-host` binary) a worker process of its own.
//!
//! A worker process is `vgpu-host worker` (this binary, re-executed). It is
//! handed, over a socket pair, what it needs and nothing else: the client
//! page, the doorbell eventfd, the guest RAM memfds, the eventfd of the
//! queue's vector (a queue) or the connected stream (a direct-socket
//! client). It maps guest RAM itself and opens its own executor, so each
//! client has its own CUDA state and GPU address space, and a fault that
//! kills it leaves the device process and the other clients serving.
//! [`process`] is the device process's side, [`child`] the worker's.

pub mod child;
pub mod process;
pub mod proto;

use crate::executor::{Executor, ExecutorSpec};
use crate::queue::RingLayout;
use proto::{Decoder, Encoder};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uapi::cmd::DeviceInfo;
use uapi::wire::Wire;

/// How long a worker process may take to stop on its own before it is
/// killed.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(500);

/// How clients are served.
#[derive(Clone)]
pub enum Sessions {
    /// By threads of this process, all on one executor (tests, debugging).
    Threads(Arc<dyn Executor>),
    /// By one worker process per client.
    Processes(Arc<WorkerLauncher>),
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Threads(_) => f.write_str("Sessions::Threads"),
            Self::Processes(l) => f.debug_tuple("Sessions::Processes").field(l).finish(),
        }
    }
}

/// What starting a worker process takes.
#[derive(Clone, Debug)]
pub struct WorkerLauncher {
    /// The `vgpu-host` executable (`/proc/self/exe` in the binary).
    pub exe: PathBuf,
    /// The executor the worker opens.
    pub spec: ExecutorSpec,
    /// `RLIMIT_DATA` of the worker in bytes (private writable memory: heap,
    /// the simulator's device memory, staged images), if any.
    pub memory_limit: Option<u64>,
    /// How long a worker may take to stop before it is killed.
    pub grace: Duration,
    /// Longest one command may run before the worker ends itself (a kernel
    /// that never ends must not hold the client, or the GPU, forever).
    pub command_timeout: Option<Duration>,
    /// Longest a queue's worker polls before it sleeps.
    pub queue_poll_max: Duration,
}

impl WorkerLauncher {
    /// [`Setup::command_timeout_ms`] of this launcher's workers.
    pub fn command_timeout_ms(&self) -> u64 {
        self.command_timeout.map_or(0, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }

    /// A launcher of `exe` for `spec`, with no memory limit.
    pub fn new(exe: PathBuf, spec: ExecutorSpec) -> Self {
        Self {
            exe,
            spec,
            memory_limit: None,
            grace: DEFAULT_GRACE,
            command_timeout: None,
            queue_poll_max: crate::queue::worker::DEFAULT_POLL_MAX,
        }
    }

    /// [`Setup::queue_poll_max_us`] of this launcher's workers.
    pub fn queue_poll_max_us(&self) -> u64 {
        u64::try_from(self.queue_poll_max.as_micros()).unwrap_or(u64::MAX)
    }
}

/// What a worker serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A queue's rings in guest RAM.
    Queue(RingLayout),
    /// A direct-socket connection.
    Direct,
}

/// The first message a worker receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Queue index or direct client id.
    pub index: u32,
    /// What it serves.
    pub role: Role,
    /// The executor it opens.
    pub spec: ExecutorSpec,
    /// Largest request or response buffer.
    pub max_transfer: u32,
    /// `RLIMIT_DATA`, 0 for none.
    pub memory_limit: u64,
    /// Longest one command may run, milliseconds; 0 for no limit.
    pub command_timeout_ms: u64,
    /// Longest a queue's worker polls before it sleeps, microseconds.
    pub queue_poll_max_us: u64,
}

const ROLE_QUEUE: u32 = 1;
const ROLE_DIRECT: u32 = 2;
const EXEC_SIM: u32 = 1;
const EXEC_CUDA: u32 = 2;

impl Setup {
    /// The message.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new(proto::tag::SETUP);
        e.u32(self.index)
            .u32(self.max_transfer)
            .u64(self.memory_limit)
            .u64(self.command_timeout_ms)
            .u64(self.queue_poll_max_us);
        match self.role {
            Role::Queue(l) => {
                e.u32(ROLE_QUEUE)
                    .u64(l.sq_base)
                    .u64(l.cq_base)
                    .u64(l.ctrl_base)
                    .u32(l.depth)
                    .u32(l.vector)
                    .u32(u32::from(l.polled_tail));
            }
            Role::Direct => {
                e.u32(ROLE_DIRECT);
            }
        }
        match self.spec {
            ExecutorSpec::Sim(info) => {
                e.u32(EXEC_SIM).bytes(info.as_bytes());
            }
            ExecutorSpec::Cuda { device } => {
                e.u32(EXEC_CUDA).u32(device as u32);
            }
        }
        e.0
    }

    /// Decodes the message.
    pub fn decode(bytes: &[u8]) -> io::Result<Self> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let mut d = Decoder::new(bytes);
        if d.u32()? != proto::tag::SETUP {
            return Err(bad("not a setup message"));
        }
        let index = d.u32()?;
        let max_transfer = d.u32()?;
        let memory_limit = d.u64()?;
        let command_timeout_ms = d.u64()?;
        let queue_poll_max_us = d.u64()?;
        let role = match d.u32()? {
            ROLE_QUEUE => Role::Queue(RingLayout {
                sq_base: d.u64()?,
                cq_base: d.u64()?,
                ctrl_base: d.u64()?,
                depth: d.u32()?,
                vector: d.u32()?,
                polled_tail: d.u32()? != 0,
            }),
            ROLE_DIRECT => Role::Direct,
            _ => return Err(bad("unknown role")),
        };
        let spec = match d.u32()? {
            EXEC_SIM => {
                let raw = d.bytes(core::mem::size_of::<DeviceInfo>())?;
                ExecutorSpec::Sim(DeviceInfo::read_from(raw).ok_or_else(|| bad("device info"))?)
            }
            EXEC_CUDA => ExecutorSpec::Cuda {
                device: d.u32()? as i32,
            },
            _ => return Err(bad("unknown executor")),
        };
        Ok(Self {
            index,
            role,
            spec,
            max_transfer,
            memory_limit,
            command_timeout_ms,
            queue_poll_max_us,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_round_trips() {
        let info = DeviceInfo {
            total_memory: 5 << 30,
            ..DeviceInfo::default()
        };
        for setup in [
            Setup {
                index: 3,
                role: Role::Queue(RingLayout {
                    sq_base: 0x1000,
                    cq_base: 0x2000,
                    ctrl_base: 0x3000,
                    depth: 64,
                    vector: 2,
                    polled_tail: true,
                }),
                spec: ExecutorSpec::Sim(info),
                max_transfer: 1 << 20,
                memory_limit: 1 << 32,
                command_timeout_ms: 60_000,
                queue_poll_max_us: 2000,
            },
            Setup {
                index: 1 << 16,
                role: Role::Direct,
                spec: ExecutorSpec::Cuda { device: -1 },
                max_transfer: 0,
                memory_limit: 0,
                command_timeout_ms: 0,
                queue_poll_max_us: 0,
            },
        ] {
            assert_eq!(Setup::decode(&setup.encode()).ok(), Some(setup));
        }
        assert!(Setup::decode(&[1, 0, 0, 0, 9]).is_err());
    }
}
