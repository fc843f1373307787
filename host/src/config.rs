//! Configuration: command line, optional TOML file, validation.
//!
//! The file gives defaults, the command line overrides them field by field.
//! [`Config::load`] returns a validated [`Config`] or a [`ConfigError`] that
//! names the offending field.

use crate::regs::Identification;
use clap::Parser;
use serde::Deserialize;
use std::path::{Path, PathBuf};
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
    /// Remove a stale socket file at that path before listening.
    #[arg(long)]
    pub force: bool,
    /// Serve every client from a thread of this process instead of a worker
    /// process of its own (debugging only: no isolation between clients).
    #[arg(long)]
    pub worker_threads: bool,
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
}

/// Parses a decimal or `0x` hexadecimal `u32`.
fn parse_u32(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|e| format!("{text:?} is not a u32: {e}"))
}

/// Default of `command_timeout_s`: the simulator's own launch watchdog.
pub const DEFAULT_COMMAND_TIMEOUT_S: u64 = 60;

/// The TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    socket: Option<PathBuf>,
    direct_socket: Option<PathBuf>,
    cuda_device: Option<i32>,
    force: Option<bool>,
    executor: Option<String>,
    worker_threads: Option<bool>,
    worker_memory_limit: Option<u64>,
    command_timeout_s: Option<u64>,
    #[serde(default)]
    sim: FileSim,
    #[serde(default)]
    direct: crate::direct::DirectAccess,
    #[serde(default)]
    quota: crate::quota::QuotaFile,
}

/// The `[sim]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSim {
    name: Option<String>,
    total_memory: Option<u64>,
    compute_capability: Option<String>,
    multiprocessors: Option<u32>,
    uuid: Option<String>,
    driver_version: Option<String>,
    cuda_driver_version: Option<u32>,
}

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
    /// Per-VM and per-client limits (`crate::quota`).
    pub quotas: crate::quota::Quotas,
    /// Identity of the simulated GPU.
    pub sim: SimIdentity,
    /// What the BAR0 identification registers read.
    pub ident: Identification,
}

impl Config {
    /// Reads the file named by `cli.config` (if any), applies the command
    /// line over it and validates the result.
    pub fn load(cli: &Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                parse_file(&text, path)?
            }
            None => FileConfig::default(),
        };
        Self::merge(file, cli)
    }

    /// Like [`Self::load`] with the file's text given directly.
    pub fn from_toml(text: &str, cli: &Cli) -> Result<Self, ConfigError> {
        Self::merge(parse_file(text, Path::new("<inline>"))?, cli)
    }

    fn merge(file: FileConfig, cli: &Cli) -> Result<Self, ConfigError> {
        let direct_socket = cli.direct_socket.clone().or(file.direct_socket);
        let socket = cli.socket.clone().or(file.socket);
        if direct_socket
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(invalid("direct_socket", "empty path"));
        }
        let socket = match socket {
            Some(s) if s.as_os_str().is_empty() => return Err(invalid("socket", "empty path")),
            Some(s) => s,
            None if direct_socket.is_some() => PathBuf::new(),
            None => {
                return Err(invalid(
                    "socket",
                    "no socket path given (--socket, --direct-socket, or `socket` in the file)",
                ))
            }
        };
        let cuda_device = cli.cuda_device.or(file.cuda_device).unwrap_or(0);
        if cuda_device < 0 {
            return Err(invalid("cuda_device", "must not be negative"));
        }
        let executor = match cli
            .executor
            .as_deref()
            .or(file.executor.as_deref())
            .unwrap_or("sim")
        {
            "sim" => ExecutorKind::Sim,
            "cuda" => ExecutorKind::Cuda,
            other => {
                return Err(invalid(
                    "executor",
                    format!("unknown executor {other:?}; use \"sim\" or \"cuda\""),
                ))
            }
        };
        let sim = &file.sim;
        let name = pick(&cli.name, &sim.name, DEFAULT_NAME);
        check_text("sim.name", &name, 95)?;
        let driver_version = pick(
            &cli.driver_version,
            &sim.driver_version,
            DEFAULT_DRIVER_VERSION,
        );
        check_text("sim.driver_version", &driver_version, 31)?;
        let total_memory = cli
            .total_memory
            .or(sim.total_memory)
            .unwrap_or(DEFAULT_TOTAL_MEMORY);
        if total_memory == 0 {
            return Err(invalid("sim.total_memory", "must be greater than zero"));
        }
        let capability = pick(
            &cli.compute_capability,
            &sim.compute_capability,
            DEFAULT_COMPUTE_CAPABILITY,
        );
        let (compute_major, compute_minor) = parse_capability(&capability)?;
        let multiprocessors = cli
            .multiprocessors
            .or(sim.multiprocessors)
            .unwrap_or(DEFAULT_MULTIPROCESSORS);
        if multiprocessors == 0 {
            return Err(invalid("sim.multiprocessors", "must be greater than zero"));
        }
        let uuid = parse_uuid(&pick(&cli.uuid, &sim.uuid, DEFAULT_UUID))?;
        let cuda_driver_version = cli
            .cuda_driver_version
            .or(sim.cuda_driver_version)
            .unwrap_or(DEFAULT_CUDA_DRIVER_VERSION);
        if cuda_driver_version == 0 {
            return Err(invalid(
                "sim.cuda_driver_version",
                "must be greater than zero",
            ));
        }
        let quotas =
            crate::quota::Quotas::from_config(&file.quota, cli.vm_memory_limit, cli.max_clients)
                .map_err(|e| invalid(e.field, e.message))?;
        let defaults = Identification::default();
        Ok(Self {
            quotas,
            socket,
            direct_socket,
            direct_access: file.direct,
            cuda_device,
            force: cli.force || file.force.unwrap_or(false),
            executor,
            worker_threads: cli.worker_threads || file.worker_threads.unwrap_or(false),
            worker_memory_limit: cli.worker_memory_limit.or(file.worker_memory_limit),
            command_timeout: match cli
                .command_timeout_s
                .or(file.command_timeout_s)
                .unwrap_or(DEFAULT_COMMAND_TIMEOUT_S)
            {
                0 => None,
                s => Some(std::time::Duration::from_secs(s)),
            },
            sim: SimIdentity {
                name,
                total_memory,
                compute_major,
                compute_minor,
                multiprocessors,
                uuid,
                driver_version,
                cuda_driver_version,
            },
            ident: Identification {
                magic: cli.magic.unwrap_or(defaults.magic),
                abi_version: cli.abi_version.unwrap_or(defaults.abi_version),
            },
        })
    }
}

fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn pick(cli: &Option<String>, file: &Option<String>, default: &str) -> String {
    cli.clone()
        .or_else(|| file.clone())
        .unwrap_or_else(|| default.to_owned())
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), ConfigError> {
    if text.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if text.len() > max {
        return Err(invalid(
            field,
            format!("{} bytes, at most {max} allowed", text.len()),
        ));
    }
    if text.contains('\0') {
        return Err(invalid(field, "must not contain NUL"));
    }
    Ok(())
}

fn parse_capability(text: &str) -> Result<(u32, u32), ConfigError> {
    let field = "sim.compute_capability";
    let bad = || {
        invalid(
            field,
            format!("{text:?} is not \"MAJOR.MINOR\" (e.g. \"9.0\")"),
        )
    };
    let (major, minor) = text.split_once('.').ok_or_else(bad)?;
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u32>().map_err(|_| bad())
    };
    let (major, minor) = (number(major)?, number(minor)?);
    if major == 0 {
        return Err(invalid(field, "major version must be at least 1"));
    }
    Ok((major, minor))
}

/// Parses `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` into 16 bytes.
pub fn parse_uuid(text: &str) -> Result<[u8; 16], ConfigError> {
    let field = "sim.uuid";
    let bad = || {
        invalid(
            field,
            format!("{text:?} is not \"GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\" (hex digits)"),
        )
    };
    let body = text.strip_prefix("GPU-").ok_or_else(bad)?;
    let groups: Vec<&str> = body.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        return Err(bad());
    }
    let hex: String = groups.concat();
    let mut uuid = [0u8; 16];
    for (byte, pair) in uuid.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        if !pair.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uapi::cmd::field_str;

    fn cli(args: &[&str]) -> Cli {
        let mut argv = vec!["vgpu-host"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(e) => panic!("command line rejected: {e}"),
        }
    }

    fn field_of(result: Result<Config, ConfigError>) -> &'static str {
        match result {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_an_identity() {
        let config = Config::from_toml("", &cli(&["--socket", "/tmp/x.sock"]));
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.socket, PathBuf::from("/tmp/x.sock"));
        assert!(!config.force);
        assert_eq!(config.executor, ExecutorKind::Sim);
        let info = config.sim.device_info();
        assert_eq!(field_str(&info.name), Some(DEFAULT_NAME));
        assert_eq!(
            field_str(&info.driver_version),
            Some(DEFAULT_DRIVER_VERSION)
        );
        assert_eq!(info.total_memory, 85_899_345_920);
        assert_eq!((info.compute_major, info.compute_minor), (9, 0));
        assert_eq!(info.multiprocessor_count, 132);
        assert_eq!(info.cuda_driver_version, 13000);
        assert_eq!(&info.uuid[..4], &[0x56, 0x47, 0x50, 0x55]);
        assert_eq!(config.ident, Identification::default());
    }

    #[test]
    fn command_line_overrides_file() {
        let file = r#"
            socket = "/from/file.sock"
            force = true
            [sim]
            name = "File GPU"
            multiprocessors = 10
            compute_capability = "8.6"
        "#;
        let config = Config::from_toml(
            file,
            &cli(&[
                "--name",
                "Cli GPU",
                "--magic",
                "0xdeadbeef",
                "--abi-version",
                "131072",
            ]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.socket, PathBuf::from("/from/file.sock"));
        assert!(config.force);
        assert_eq!(config.sim.name, "Cli GPU");
        assert_eq!(config.sim.multiprocessors, 10);
        assert_eq!((config.sim.compute_major, config.sim.compute_minor), (8, 6));
        assert_eq!(config.ident.magic, 0xdead_beef);
        assert_eq!(config.ident.abi_version, 0x2_0000);
    }

    #[test]
    fn uuid_text_is_checked() {
        assert_eq!(
            parse_uuid("GPU-00112233-4455-6677-8899-aabbccddeeff").ok(),
            Some([
                0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff
            ])
        );
        for bad in [
            "00112233-4455-6677-8899-aabbccddeeff",
            "GPU-00112233-4455-6677-8899-aabbccddeef",
            "GPU-0011223-34455-6677-8899-aabbccddeeff",
            "GPU-0011223g-4455-6677-8899-aabbccddeeff",
            "GPU-+0112233-4455-6677-8899-aabbccddeeff",
            "GPU-00112233-4455-6677-8899-aabbccddeeffaa",
        ] {
            assert!(parse_uuid(bad).is_err(), "{bad} accepted");
        }
        let bad = cli(&["--socket", "s", "--uuid", "GPU-nothex"]);
        assert_eq!(field_of(Config::from_toml("", &bad)), "sim.uuid");
    }

    #[test]
    fn invalid_fields_are_named() {
        let long = "x".repeat(96);
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec![], "socket"),
            (vec!["--socket", "s", "--name", &long], "sim.name"),
            (vec!["--socket", "s", "--name", ""], "sim.name"),
            (
                vec!["--socket", "s", "--compute-capability", "9"],
                "sim.compute_capability",
            ),
            (
                vec!["--socket", "s", "--compute-capability", "9.x"],
                "sim.compute_capability",
            ),
            (
                vec!["--socket", "s", "--compute-capability", "0.5"],
                "sim.compute_capability",
            ),
            (
                vec!["--socket", "s", "--multiprocessors", "0"],
                "sim.multiprocessors",
            ),
            (
                vec!["--socket", "s", "--total-memory", "0"],
                "sim.total_memory",
            ),
            (
                vec!["--socket", "s", "--driver-version", &long],
                "sim.driver_version",
            ),
            (vec!["--socket", "s", "--cuda-device=-1"], "cuda_device"),
            (vec!["--socket", "s", "--executor", "opencl"], "executor"),
        ];
        for (args, field) in cases {
            assert_eq!(
                field_of(Config::from_toml("", &cli(&args))),
                field,
                "{args:?}"
            );
        }
        let name95 = "y".repeat(95);
        assert!(Config::from_toml("", &cli(&["--socket", "s", "--name", &name95])).is_ok());
    }

    #[test]
    fn executors_and_the_direct_socket_are_configurable() {
        let config = Config::from_toml(
            "executor = \"cuda\"\ndirect_socket = \"d.sock\"\ncuda_device = 1",
            &Cli::default(),
        );
        let config = config.expect("valid");
        assert_eq!(config.executor, ExecutorKind::Cuda);
        assert_eq!(config.direct_socket, Some(PathBuf::from("d.sock")));
        let open = Config::from_toml(
            "direct_socket = \"d.sock\"\n[direct]\ngroup = 7\nuids = [1000]",
            &Cli::default(),
        );
        let open = open.map(|c| c.direct_access);
        assert!(open.is_ok_and(|a| a.group == Some(7) && a.uids == [1000] && a.gids.is_empty()));
        assert_eq!(config.cuda_device, 1);
        let empty = Config::from_toml("direct_socket = \"\"", &Cli::default());
        assert_eq!(field_of(empty), "direct_socket");
        // Without any socket there is nothing to serve.
        let none = Config::from_toml("", &Cli::default());
        assert_eq!(field_of(none), "socket");
        let err = Config::from_toml("executor = \"opencl\"\nsocket = \"s\"", &Cli::default());
        let message = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("\"sim\" or \"cuda\""), "{message}");
    }

    #[test]
    fn file_errors_are_reported() {
        let unknown = Config::from_toml("sockett = \"s\"", &Cli::default());
        assert!(matches!(unknown, Err(ConfigError::Parse { .. })));
        let wrong_type = Config::from_toml("[sim]\nmultiprocessors = \"many\"", &Cli::default());
        assert!(matches!(wrong_type, Err(ConfigError::Parse { .. })));
        let missing = Config::load(&cli(&["--config", "/nonexistent/vgpu.toml"]));
        assert!(matches!(missing, Err(ConfigError::Read { .. })));
    }

    #[test]
    fn example_file_is_valid() {
        let text = include_str!("../vgpu-host.example.toml");
        let config = Config::from_toml(text, &Cli::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.sim.name, DEFAULT_NAME);
        assert_eq!(config.executor, ExecutorKind::Sim);
    }

    #[test]
    fn hex_and_decimal_overrides_parse() {
        assert_eq!(parse_u32("0x10"), Ok(16));
        assert_eq!(parse_u32("16"), Ok(16));
        assert!(parse_u32("0x1_0000_0000").is_err());
        assert!(Cli::try_parse_from(["vgpu-host", "--magic", "nope"]).is_err());
    }
}
