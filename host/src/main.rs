//! `vgpu-host` binary: loads the configuration, sets up logging and
//! signals, and serves the device to QEMU until SIGTERM or SIGINT. Each
//! client is served by a worker process, this binary re-executed as
//! `vgpu-host worker` (hidden: only vgpu-host starts it). `vgpu-host check`
//! says what the host is missing to serve a VM.

use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;
use vgpu_host::config::{Cli, Config, ExecutorKind};
use vgpu_host::device::{Device, DeviceOptions};
use vgpu_host::executor::ExecutorSpec;
use vgpu_host::irq::EventfdInterrupts;
use vgpu_host::shared::Limits;
use vgpu_host::vfio;
use vgpu_host::worker::{Sessions, WorkerLauncher};

/// Exit code for configuration errors.
const EXIT_CONFIG: u8 = 2;
/// Exit code for failures at run time (socket, signals).
const EXIT_RUNTIME: u8 = 1;

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "worker") {
        init_logging();
        vgpu_host::fault::arm_from_env();
        return vgpu_host::worker::child::main();
    }
    // `vgpu-host check [...]`: what this host is missing (see check.rs).
    if std::env::args_os().nth(1).is_some_and(|a| a == "check") {
        return vgpu_host::check::main(std::env::args_os().skip(2));
    }
    let cli = Cli::parse();
    init_logging();
    if let Some(fault) = cli.inject_fault {
        vgpu_host::fault::arm(fault);
    }
    let config = match Config::load(&cli) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("vgpu-host: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vgpu-host: {message}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("VGPU_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn run(config: &Config) -> Result<(), String> {
    // Block the signals before any thread starts, so that every thread
    // inherits the mask and only the signal thread receives them.
    let signals = block_termination_signals()?;

    let sessions = make_sessions(config)?;
    if let Some(path) = &config.direct_socket {
        vgpu_host::direct::spawn_with_quotas(
            path,
            config.force,
            sessions.clone(),
            &config.direct_access,
            config.quotas,
        )
        .map_err(|e| format!("direct socket {}: {e}", path.display()))?;
    }
    if config.socket.as_os_str().is_empty() {
        // Direct clients only: the signal thread ends the process.
        spawn_signal_thread(signals, config.direct_socket.iter().cloned().collect())?;
        loop {
            std::thread::park();
        }
    }
    let interrupts = Arc::new(EventfdInterrupts::new());
    let options = DeviceOptions {
        ident: config.ident,
        limits: Limits::default(),
        quotas: config.quotas,
    };
    let device = Arc::new(Device::with_sessions(options, sessions, interrupts.clone()));
    let access = vfio::SocketAccess {
        owner: config.socket_owner,
    };
    let server =
        vfio::listen_with(&config.socket, config.force, access).map_err(|e| e.to_string())?;
    tracing::info!(
        socket = %config.socket.display(),
        name = %config.sim.name,
        magic = format_args!("{:#x}", config.ident.magic),
        abi = format_args!("{:#x}", config.ident.abi_version),
        "vgpu-host listening"
    );

    let sockets = std::iter::once(config.socket.clone()).chain(config.direct_socket.clone());
    spawn_signal_thread(signals, sockets.collect())?;
    let stop = AtomicBool::new(false);
    let mut backend = vfio::Backend::new(device, interrupts);
    vfio::serve(&server, &mut backend, &stop);
    Ok(())
}

/// Worker processes by default; with `--worker-threads`, one executor in
/// this process. In process mode the device process never loads the GPU
/// driver: each worker opens its own.
fn make_sessions(config: &Config) -> Result<Sessions, String> {
    let spec = match config.executor {
        ExecutorKind::Sim => ExecutorSpec::Sim(config.sim.device_info()),
        ExecutorKind::Cuda => ExecutorSpec::Cuda {
            device: config.cuda_device,
        },
    };
    if config.worker_threads {
        let executor = spec.open()?;
        tracing::info!(
            gpu = uapi::cmd::field_str(&executor.device_info().name).unwrap_or("?"),
            "executor ready; clients served by threads of this process"
        );
        return Ok(Sessions::Threads(executor));
    }
    let exe = std::fs::read_link("/proc/self/exe")
        .map_err(|e| format!("cannot find this executable for the workers: {e}"))?;
    let mut launcher = WorkerLauncher::new(exe, spec);
    launcher.memory_limit = config.worker_memory_limit;
    launcher.command_timeout = config.command_timeout;
    launcher.queue_poll_max = config.queue_poll_max;
    tracing::info!(
        executor = ?config.executor,
        memory_limit = ?launcher.memory_limit,
        command_timeout = ?launcher.command_timeout,
        queue_poll_max = ?launcher.queue_poll_max,
        "clients served by worker processes"
    );
    Ok(Sessions::Processes(Arc::new(launcher)))
}

fn block_termination_signals() -> Result<libc::sigset_t, String> {
    // SAFETY: `set` is a plain C struct initialised by sigemptyset before
    // use; the calls only read and write it and the thread's signal mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(format!("cannot block signals: error {rc}"));
        }
        Ok(set)
    }
}

/// Waits for SIGTERM/SIGINT, removes the socket and exits. The serve loop
/// blocks in `accept`/`recv`, which a signal cannot interrupt cleanly; exiting
/// from here ends the process, and its workers with it.
fn spawn_signal_thread(set: libc::sigset_t, sockets: Vec<PathBuf>) -> Result<(), String> {
    std::thread::Builder::new()
        .name("vgpu-signals".into())
        .spawn(move || {
            let mut signal: libc::c_int = 0;
            // SAFETY: `set` is a valid signal set and `signal` a valid out pointer.
            let rc = unsafe { libc::sigwait(&set, &mut signal) };
            if rc != 0 {
                tracing::error!(rc, "sigwait failed; signals no longer handled");
                return;
            }
            tracing::info!(signal, "termination signal received; shutting down");
            for socket in &sockets {
                if let Err(error) = std::fs::remove_file(socket) {
                    tracing::warn!(%error, socket = %socket.display(), "cannot remove the socket");
                }
            }
            std::process::exit(0);
        })
        .map(|_| ())
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}
