//! The TOML file's shape.

use super::ConfigError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) socket: Option<PathBuf>,
    pub(super) direct_socket: Option<PathBuf>,
    pub(super) socket_owner: Option<UserRef>,
    pub(super) cuda_device: Option<i32>,
    pub(super) force: Option<bool>,
    pub(super) executor: Option<String>,
    pub(super) worker_threads: Option<bool>,
    pub(super) worker_memory_limit: Option<u64>,
    pub(super) command_timeout_s: Option<u64>,
    pub(super) queue_poll_max_us: Option<u64>,
    #[serde(default)]
    pub(super) sim: FileSim,
    #[serde(default)]
    pub(super) direct: crate::direct::DirectAccess,
    #[serde(default)]
    pub(super) quota: crate::quota::QuotaFile,
}

/// A user, by name or uid (`socket_owner = "libvirt-qemu"` or `= 64055`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum UserRef {
    Id(u32),
    Name(String),
}

/// The `[sim]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSim {
    pub(super) name: Option<String>,
    pub(super) total_memory: Option<u64>,
    pub(super) compute_capability: Option<String>,
    pub(super) multiprocessors: Option<u32>,
    pub(super) uuid: Option<String>,
    pub(super) driver_version: Option<String>,
    pub(super) cuda_driver_version: Option<u32>,
}

pub(super) fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
