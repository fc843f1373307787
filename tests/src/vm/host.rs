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
        ]);
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

    /// Stops the process (the guest asked for it, or the run is over).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}
