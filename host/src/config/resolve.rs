//! Merging the file and the command line, and validating the result.

use super::file::{parse_file, FileConfig, UserRef};
use super::{
    invalid, Cli, Config, ConfigError, ExecutorKind, SimIdentity, DEFAULT_COMMAND_TIMEOUT_S,
    DEFAULT_COMPUTE_CAPABILITY, DEFAULT_CUDA_DRIVER_VERSION, DEFAULT_DRIVER_VERSION,
    DEFAULT_MULTIPROCESSORS, DEFAULT_NAME, DEFAULT_QUEUE_POLL_MAX_US, DEFAULT_TOTAL_MEMORY,
    DEFAULT_UUID, MAX_QUEUE_POLL_MAX_US,
};
use crate::regs::Identification;
use std::path::{Path, PathBuf};

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
        let socket_owner = match (&cli.socket_owner, &file.socket_owner) {
            (Some(text), _) => Some(resolve_user(text)?),
            (None, Some(UserRef::Id(uid))) => Some(*uid),
            (None, Some(UserRef::Name(name))) => Some(resolve_user(name)?),
            (None, None) => None,
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
        let queue_poll_max_us = cli
            .queue_poll_max_us
            .or(file.queue_poll_max_us)
            .unwrap_or(DEFAULT_QUEUE_POLL_MAX_US);
        if queue_poll_max_us > MAX_QUEUE_POLL_MAX_US {
            return Err(invalid(
                "queue_poll_max_us",
                format!("{queue_poll_max_us} µs, at most {MAX_QUEUE_POLL_MAX_US} allowed"),
            ));
        }
        let defaults = Identification::default();
        Ok(Self {
            quotas,
            socket,
            direct_socket,
            socket_owner,
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
            queue_poll_max: std::time::Duration::from_micros(queue_poll_max_us),
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

/// A uid from a user name or a decimal uid.
fn resolve_user(text: &str) -> Result<u32, ConfigError> {
    if let Ok(uid) = text.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(text) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        Ok(None) => Err(invalid("socket_owner", format!("no user {text:?}"))),
        Err(e) => Err(invalid(
            "socket_owner",
            format!("cannot look up user {text:?}: {e}"),
        )),
    }
}
