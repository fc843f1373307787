//! vgpu-host processes: one per simulated GPU, serving vfio-user to QEMU or
//! the direct socket to programs on this machine.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use super::env::Env;
use super::gpu::Gpu;

/// How long vgpu-host may take to create its socket.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// How a host serves its device.
pub enum Transport {
    /// vfio-user, for QEMU's `vfio-user-pci` device (the full identity).
    VfioUser,
    /// The direct socket our library speaks without a VM.
    Direct,
}

/// A running vgpu-host; stopped when dropped.
pub struct Host {
    child: Child,
    pub socket: PathBuf,
}

impl Host {
    /// Starts vgpu-host for `g` on `socket`, its stderr in `log`, and waits
    /// for the socket to appear.
    pub fn start(
        env: &Env,
        g: &Gpu,
        transport: Transport,
        socket: &Path,
        log: &Path,
    ) -> Result<Self, String> {
        Self::start_with(env, g, transport, socket, log, &[])
    }

    /// [`Self::start`] with `extra` arguments (quotas) on vgpu-host's
    /// command line.
    pub fn start_with(
        env: &Env,
        g: &Gpu,
        transport: Transport,
        socket: &Path,
        log: &Path,
        extra: &[&str],
    ) -> Result<Self, String> {
        let _ = fs::remove_file(socket);
        let logf = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(&env.host_bin);
        match transport {
            Transport::VfioUser => cmd.arg("--socket"),
            Transport::Direct => cmd.arg("--direct-socket"),
        };
        cmd.arg(socket).args([
            "--executor",
            &env.executor,
            "--name",
            g.name,
            "--uuid",
            g.uuid,
            // Shorter than the default (60 s): the isolation check's endless
            // kernel then ends its worker in seconds, and no test command
            // comes near it.
            "--command-timeout-s",
            "20",
        ]);
        cmd.args(extra);
        if let Transport::VfioUser = transport {
            cmd.args(["--total-memory", &g.total_memory.to_string()])
                .args(["--compute-capability", g.compute_capability])
                .args(["--multiprocessors", &g.multiprocessors.to_string()])
                .args(["--driver-version", g.driver_version])
                .args(["--cuda-driver-version", &g.cuda_driver_version.to_string()])
                .args(&g.extra);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("{}: {e}", env.host_bin.display()))?;
        let host = Self {
            child,
            socket: socket.to_path_buf(),
        };
        let t0 = Instant::now();
        while !socket.exists() {
            if t0.elapsed() > SOCKET_TIMEOUT {
                return Err(format!(
                    "vgpu-host did not create {} (log: {})",
                    socket.display(),
                    log.display()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(host)
    }

    /// Freezes (SIGSTOP) or resumes (SIGCONT) the process and every process
    /// it started (a host may serve clients from child processes).
    pub fn signal_tree(&self, signal: libc::c_int) {
        let mut pids = vec![self.child.id()];
        let mut i = 0;
        while let Some(&parent) = pids.get(i) {
            pids.extend(children_of(parent));
            i += 1;
        }
        for pid in pids {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill has no memory preconditions; `pid` is a
                // process of ours (the host or one of its children).
                unsafe { libc::kill(pid, signal) };
            }
        }
    }

    /// What the host holds now: its own resident memory and that of its
    /// worker processes (`VmRSS`, KiB) and how many workers there are.
    pub fn footprint(&self) -> Footprint {
        let workers = children_of(self.child.id());
        Footprint {
            host_kib: rss_kib(self.child.id()),
            workers: workers.len(),
            workers_kib: workers.iter().map(|&p| rss_kib(p)).sum(),
        }
    }

    /// Stops the process (the guest asked for it, or the run is over).
    pub fn kill(&mut self) {
        // Children of a stopped host must run to see it gone.
        self.signal_tree(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a host holds ([`Host::footprint`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The device process's `VmRSS`, KiB.
    pub host_kib: u64,
    /// Its worker processes.
    pub workers: usize,
    /// Their `VmRSS` together, KiB.
    pub workers_kib: u64,
}

/// `VmRSS` of `pid`, KiB (0 if gone).
fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The processes whose parent is `parent`, from `/proc/*/stat`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // The fields after the command's closing parenthesis: state, ppid, ...
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}
