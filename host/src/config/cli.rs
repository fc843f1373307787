//! The command line of `vgpu-host`.

use clap::Parser;
use std::path::PathBuf;

/// Command line of `vgpu-host`.
#[derive(Debug, Default, Parser)]
#[command(
    name = "vgpu-host",
    version,
    about = "VGPU-STUB device model, served to QEMU over vfio-user"
)]
pub struct Cli {
    /// TOML configuration file; command-line options override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Path of the vfio-user UNIX socket to listen on.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also (or only) serve clients directly on this UNIX socket, without a
    /// VM: the guest library's socket transport (development, containers).
    #[arg(long, value_name = "PATH")]
    pub direct_socket: Option<PathBuf>,
    /// CUDA device ordinal the "cuda" executor uses.
    #[arg(long, value_name = "N")]
    pub cuda_device: Option<i32>,
    /// The user QEMU runs as (a name or a uid), admitted to the vfio-user
    /// socket besides vgpu-host's own user and root; given the socket when
    /// vgpu-host runs as root, else reaching it through vgpu-host's group.
    #[arg(long, value_name = "USER")]
    pub socket_owner: Option<String>,
    /// Remove a stale socket file at that path before listening.
    #[arg(long)]
    pub force: bool,
    /// Serve every client from a thread of this process instead of a worker
    /// process of its own (debugging only: no isolation between clients).
    #[arg(long)]
    pub worker_threads: bool,
    /// Longest a queue's worker polls the guest's next batch before it
    /// sleeps until the doorbell, in microseconds; the poll grows from
    /// 200 µs to this while batches keep coming just after it (200 or less:
    /// a fixed 200 µs). Default 2000.
    #[arg(long, value_name = "MICROSECONDS")]
    pub queue_poll_max_us: Option<u64>,
    /// Private writable memory (RLIMIT_DATA) each worker process may hold, in bytes.
    #[arg(long, value_name = "BYTES")]
    pub worker_memory_limit: Option<u64>,
    /// Longest one command of a client may run (a kernel that never ends,
    /// waited for) before that client's worker process is ended, in
    /// seconds; 0 for no limit. Default 60.
    #[arg(long, value_name = "SECONDS")]
    pub command_timeout_s: Option<u64>,
    /// Device memory all clients of the VM may hold, in bytes; reported as
    /// the GPU's total memory (`[quota] vm_memory`). Default: the GPU's own.
    #[arg(long, value_name = "BYTES")]
    pub vm_memory_limit: Option<u64>,
    /// Clients (device files open, direct connections) at once (`[quota] clients`).
    #[arg(long, value_name = "N")]
    pub max_clients: Option<u32>,
    /// What runs commands: "sim" (simulated GPU) or "cuda" (the host's GPU).
    #[arg(long, value_name = "KIND")]
    pub executor: Option<String>,
    /// Simulated GPU name (at most 95 bytes).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Simulated GPU memory in bytes.
    #[arg(long, value_name = "BYTES")]
    pub total_memory: Option<u64>,
    /// Simulated compute capability, "MAJOR.MINOR".
    #[arg(long, value_name = "M.m")]
    pub compute_capability: Option<String>,
    /// Simulated streaming multiprocessor count.
    #[arg(long, value_name = "N")]
    pub multiprocessors: Option<u32>,
    /// Simulated GPU UUID, "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
    #[arg(long, value_name = "UUID")]
    pub uuid: Option<String>,
    /// Reported host driver version (at most 31 bytes).
    #[arg(long, value_name = "TEXT")]
    pub driver_version: Option<String>,
    /// Reported CUDA driver API version (e.g. 13000).
    #[arg(long, value_name = "N")]
    pub cuda_driver_version: Option<u32>,
    /// Test only: value BAR0 MAGIC reads.
    #[arg(long, hide = true, value_parser = parse_u32)]
    pub magic: Option<u32>,
    /// Test only: value BAR0 ABI_VERSION reads.
    #[arg(long, hide = true, value_parser = parse_u32)]
    pub abi_version: Option<u32>,
    /// TEST ONLY, never in production: make the device misbehave in the
    /// named way (the VM test bed's `faults` scenario; docs/reliability.md).
    /// Command faults act on an Echo whose request begins with "fault".
    #[arg(long, value_name = "NAME", value_enum)]
    pub inject_fault: Option<crate::fault::Fault>,
}

/// Parses a decimal or `0x` hexadecimal `u32`.
pub(super) fn parse_u32(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("{text:?} is not a u32: {e}"))
}
