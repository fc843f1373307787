//! `vgpu-host check`: says what a host is missing to serve a VM, one line
//! per finding, as the user that runs it (run it as the service user):
//!
//! - the GPU: NVIDIA's device nodes (`/dev/nvidiactl`, `/dev/nvidiaN`);
//! - the driver: NVIDIA's `libcuda.so.1` loads, `cuInit` succeeds, and
//!   `cuDriverGetVersion`;
//! - permissions: this user may open the device nodes, and may create the
//!   sockets in their directory (`/run/vgpu/`);
//! - guest RAM: a QEMU command line (`--qemu-cmdline FILE`, `--qemu-pid`)
//!   or a libvirt domain (`--libvirt-xml`) uses shared, fd-backed memory.
//!
//! With the simulator executor no GPU is needed and the GPU checks are
//! skipped. Exits 0 when nothing is missing, 1 otherwise, 2 on a bad
//! configuration.

mod guest_ram;

pub use guest_ram::{check_libvirt_xml, check_qemu_args, split_command_line};

use crate::config::{Cli, Config, ExecutorKind};
use clap::Parser;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the per-VM configuration files live (`/etc/vgpu/<vm>.toml`).
pub const CONFIG_DIR: &str = "/etc/vgpu";
/// Where the service's sockets live (the unit's RuntimeDirectory).
pub const RUN_DIR: &str = "/run/vgpu";

/// The command line of `vgpu-host check`.
#[derive(Debug, Parser)]
#[command(
    name = "vgpu-host check",
    about = "Says what this host is missing to serve a VM (run it as the service user)"
)]
pub struct CheckCli {
    /// The VM whose configuration to check: /etc/vgpu/<VM>.toml.
    #[arg(long, value_name = "VM", conflicts_with = "config")]
    pub vm: Option<String>,
    /// The configuration file to check.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A file holding QEMU's command line (a shell line, or a copy of /proc/PID/cmdline).
    #[arg(long, value_name = "FILE")]
    pub qemu_cmdline: Option<PathBuf>,
    /// A running QEMU whose command line to check.
    #[arg(long, value_name = "PID")]
    pub qemu_pid: Option<u32>,
    /// A libvirt domain definition (virsh dumpxml) to check.
    #[arg(long, value_name = "FILE")]
    pub libvirt_xml: Option<PathBuf>,
    /// Where the GPU device nodes are (tests).
    #[arg(long, value_name = "DIR", default_value = "/dev", hide = true)]
    pub dev_dir: PathBuf,
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Present and usable.
    Ok,
    /// Missing or unusable.
    Fail,
    /// Not needed here (the simulator needs no GPU).
    Skip,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was checked.
    pub what: &'static str,
    /// The outcome.
    pub verdict: Verdict,
    /// What was found, or what is missing and how to fix it.
    pub detail: String,
}

impl Finding {
    fn new(what: &'static str, result: Result<String, String>) -> Self {
        let (verdict, detail) = match result {
            Ok(d) => (Verdict::Ok, d),
            Err(d) => (Verdict::Fail, d),
        };
        Self {
            what,
            verdict,
            detail,
        }
    }

    fn skip(what: &'static str, detail: impl Into<String>) -> Self {
        Self {
            what,
            verdict: Verdict::Skip,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        write!(f, "{tag} {}: {}", self.what, self.detail)
    }
}

/// NVIDIA's device nodes in `dev`: `nvidiactl`, `nvidiaN`, `nvidia-uvm*`.
pub fn gpu_nodes(dev: &Path) -> Vec<PathBuf> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dev)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    let ok = match name.strip_prefix("nvidia") {
                        Some("ctl") => true,
                        Some(n) if n.starts_with("-uvm") => true,
                        Some(n) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()),
                        None => false,
                    };
                    // Followed: a node may be a link (tests use links to /dev/null).
                    ok && std::fs::metadata(e.path()).is_ok_and(|m| m.file_type().is_char_device())
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// The GPU is there: `nvidiactl` and at least one `nvidiaN`.
pub fn check_gpu(dev: &Path) -> Finding {
    let nodes = gpu_nodes(dev);
    let has = |p: &dyn Fn(&str) -> bool| {
        nodes
            .iter()
            .any(|n| n.file_name().is_some_and(|f| p(&f.to_string_lossy())))
    };
    let ctl = has(&|f| f == "nvidiactl");
    let gpus = nodes
        .iter()
        .filter(|n| {
            n.file_name()
                .and_then(|f| f.to_str()?.strip_prefix("nvidia")?.parse::<u32>().ok())
                .is_some()
        })
        .count();
    let list = nodes
        .iter()
        .map(|n| n.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let result = if ctl && gpus > 0 {
        let uvm = if has(&|f| f == "nvidia-uvm") {
            ""
        } else {
            " (no nvidia-uvm yet: NVIDIA's libcuda creates it through nvidia-modprobe on first use)"
        };
        Ok(format!("{gpus} GPU(s): {list}{uvm}"))
    } else {
        Err(format!(
            "no NVIDIA GPU device nodes in {} ({}): is NVIDIA's driver installed and loaded \
             (nvidia-smi; modprobe nvidia)?",
            dev.display(),
            if list.is_empty() { "none" } else { &list }
        ))
    };
    Finding::new("GPU", result)
}

/// `owner:group mode` of a path, for messages.
pub fn describe_owner(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!("{}:{} {:04o}", m.uid(), m.gid(), m.mode() & 0o7777),
        Err(e) => e.to_string(),
    }
}

/// Whether this process (by its effective ids) may access `path` as `mode`.
fn may_access(path: &Path, mode: libc::c_int) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path; faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), mode, libc::AT_EACCESS) == 0 }
}

/// This user may open every NVIDIA device node read-write.
pub fn check_node_permissions(dev: &Path) -> Finding {
    node_permissions(&gpu_nodes(dev), |n| may_access(n, libc::R_OK | libc::W_OK))
}

/// [`check_node_permissions`] with the access test given (tests run as root).
fn node_permissions(nodes: &[PathBuf], may_open: impl Fn(&Path) -> bool) -> Finding {
    if nodes.is_empty() {
        return Finding::new("device permissions", Err("no device nodes to open".into()));
    }
    let denied: Vec<String> = nodes
        .iter()
        .filter(|n| !may_open(n))
        .map(|n| format!("{} ({})", n.display(), describe_owner(n)))
        .collect();
    let result = if denied.is_empty() {
        Ok(format!("this user may open all {} node(s)", nodes.len()))
    } else {
        Err(format!(
            "this user (uid {}) may not open {}: run as a user in the nodes' group \
             (the unit's SupplementaryGroups=), or set NVIDIA's NVreg_DeviceFileGID/Mode",
            // SAFETY: geteuid has no preconditions.
            unsafe { libc::geteuid() },
            denied.join(", ")
        ))
    };
    Finding::new("device permissions", result)
}

/// The driver library loads and says its version, from a loader (tests pass a fake).
pub fn check_driver(load: impl FnOnce() -> Result<i32, String>) -> Finding {
    let result = load().map(|v| {
        format!(
            "NVIDIA's libcuda.so.1: CUDA driver API {}.{} ({v})",
            v / 1000,
            v % 1000 / 10
        )
    });
    Finding::new("driver", result)
}

/// NVIDIA's libcuda.so.1 (cuInit, then cuDriverGetVersion).
pub fn load_driver_version() -> Result<i32, String> {
    use crate::executor::cuda::driver::CudaDriver;
    let driver = CudaDriver::load()?;
    let mut version = 0;
    // SAFETY: a valid out-pointer; the signature follows cuda.h.
    let rc = unsafe { (driver.api().driver_get_version)(&mut version) };
    if rc != 0 {
        return Err(format!("cuDriverGetVersion: {}", driver.error_name(rc)));
    }
    Ok(version)
}

/// This user may create sockets in `dir` (the unit's RuntimeDirectory).
pub fn check_socket_dir(dir: &Path) -> Finding {
    let result = match std::fs::metadata(dir) {
        // The unit's RuntimeDirectory=vgpu/%i, made by systemd at start.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.starts_with(RUN_DIR) => {
            Ok(format!(
                "{} does not exist yet: vgpu-host@.service creates it at start",
                dir.display()
            ))
        }
        Err(e) => Err(format!(
            "{}: {e} (create it for the service user: install -d -o vgpu -g vgpu -m 0750 {})",
            dir.display(),
            dir.display()
        )),
        Ok(m) if !m.is_dir() => Err(format!("{} is not a directory", dir.display())),
        Ok(_) if !may_access(dir, libc::W_OK | libc::X_OK) => Err(format!(
            "this user may not create sockets in {} ({})",
            dir.display(),
            describe_owner(dir)
        )),
        Ok(_) => Ok(format!(
            "{} ({}) is writable",
            dir.display(),
            describe_owner(dir)
        )),
    };
    Finding::new("socket directory", result)
}

/// QEMU may connect to the socket: the socket admits only vgpu-host's own
/// user, root and `socket_owner` (`SO_PEERCRED`, `docs/security.md`), so
/// a QEMU of another user is refused at connect. `qemu_uid` is the
/// effective uid of a running QEMU (`--qemu-pid`), if one was named.
pub fn check_socket_owner(
    own_uid: u32,
    socket_owner: Option<u32>,
    qemu_uid: Option<u32>,
) -> Finding {
    let admitted = |uid: u32| uid == own_uid || uid == 0 || Some(uid) == socket_owner;
    let result = match qemu_uid {
        Some(uid) if admitted(uid) => {
            Ok(format!("QEMU runs as uid {uid}, which the socket admits"))
        }
        Some(uid) => Err(format!(
            "QEMU runs as uid {uid}, which the socket refuses (it admits uid {own_uid}, root{}): \
             set socket_owner = {uid} in the VM's configuration (or --socket-owner)",
            socket_owner.map_or(String::new(), |u| format!(" and uid {u}"))
        )),
        None => Ok(match socket_owner {
            Some(u) => format!("the socket admits uid {own_uid}, root and uid {u} (socket_owner)"),
            None => format!(
                "the socket admits uid {own_uid} and root; set socket_owner if QEMU runs as \
                 another user (--qemu-pid checks a running one)"
            ),
        }),
    };
    Finding::new("socket owner", result)
}

/// The effective uid in a `/proc/PID/status` text (its `Uid:` line: real,
/// effective, saved, filesystem).
pub fn status_euid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The directories the configured sockets go in (RUN_DIR when none is configured).
pub fn socket_dirs(config: Option<&Config>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = config
        .into_iter()
        .flat_map(|c| std::iter::once(c.socket.clone()).chain(c.direct_socket.clone()))
        .filter(|s| !s.as_os_str().is_empty())
        .filter_map(|s| s.parent().map(Path::to_path_buf))
        .map(|p| {
            if p.as_os_str().is_empty() {
                ".".into()
            } else {
                p
            }
        })
        .collect();
    dirs.dedup();
    if dirs.is_empty() {
        dirs.push(RUN_DIR.into());
    }
    dirs
}

/// Every check for `cli`; `load_driver` stands for NVIDIA's libcuda (tests pass a fake).
pub fn run_checks(
    cli: &CheckCli,
    load_driver: impl FnOnce() -> Result<i32, String>,
) -> Result<Vec<Finding>, String> {
    let config_path = match (&cli.vm, &cli.config) {
        (Some(vm), _) => Some(Path::new(CONFIG_DIR).join(format!("{vm}.toml"))),
        (None, c) => c.clone(),
    };
    let config = match &config_path {
        Some(path) => {
            let c = Config::load(&Cli {
                config: Some(path.clone()),
                ..Cli::default()
            })
            .map_err(|e| e.to_string())?;
            Some(c)
        }
        None => None,
    };
    let mut findings = Vec::new();
    findings.push(Finding::new(
        "configuration",
        Ok(match (&config_path, &config) {
            (Some(p), Some(c)) => format!("{} (executor {:?})", p.display(), c.executor),
            _ => "none given (--vm or --config); checking for the cuda executor".into(),
        }),
    ));
    if config
        .as_ref()
        .is_some_and(|c| c.executor == ExecutorKind::Sim)
    {
        for what in ["GPU", "driver", "device permissions"] {
            findings.push(Finding::skip(what, "the simulator executor needs no GPU"));
        }
    } else {
        findings.push(check_gpu(&cli.dev_dir));
        findings.push(check_driver(load_driver));
        findings.push(check_node_permissions(&cli.dev_dir));
    }
    for dir in socket_dirs(config.as_ref()) {
        findings.push(check_socket_dir(&dir));
    }
    let qemu_uid = match cli.qemu_pid {
        Some(pid) => {
            let path = format!("/proc/{pid}/status");
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Some(status_euid(&text).ok_or_else(|| format!("no Uid line in {path}"))?)
        }
        None => None,
    };
    findings.push(check_socket_owner(
        nix::unistd::geteuid().as_raw(),
        config.as_ref().and_then(|c| c.socket_owner),
        qemu_uid,
    ));
    if let Some(text) = qemu_command_line(cli)? {
        findings.push(Finding::new(
            "guest RAM",
            check_qemu_args(&split_command_line(&text)),
        ));
    }
    if let Some(path) = &cli.libvirt_xml {
        let xml = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        findings.push(Finding::new("guest RAM", check_libvirt_xml(&xml)));
    }
    Ok(findings)
}

fn qemu_command_line(cli: &CheckCli) -> Result<Option<String>, String> {
    let path = match (&cli.qemu_cmdline, cli.qemu_pid) {
        (Some(p), _) => p.clone(),
        (None, Some(pid)) => PathBuf::from(format!("/proc/{pid}/cmdline")),
        (None, None) => return Ok(None),
    };
    std::fs::read(&path)
        .map(|b| Some(String::from_utf8_lossy(&b).into_owned()))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// `vgpu-host check ARGS...` (`args` without the program name and `check`).
pub fn main(args: impl Iterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = CheckCli::parse_from(std::iter::once("vgpu-host check".into()).chain(args));
    match run_checks(&cli, load_driver_version) {
        Err(e) => {
            eprintln!("vgpu-host check: {e}");
            ExitCode::from(2)
        }
        Ok(findings) => {
            for f in &findings {
                println!("{f}");
            }
            let missing = findings
                .iter()
                .filter(|f| f.verdict == Verdict::Fail)
                .count();
            if missing == 0 {
                println!("vgpu-host check: nothing missing");
                ExitCode::SUCCESS
            } else {
                println!("vgpu-host check: {missing} thing(s) missing");
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests;
