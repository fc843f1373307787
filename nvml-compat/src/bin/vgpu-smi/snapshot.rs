// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! What `vgpu-smi` shows, collected once through the NVML API, and the
//! message when the driver cannot be reached.

use nvidia_ml::api::{self, Device, InitFailure, Memory};

/// One process on a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) pid: u32,
    pub(crate) used_memory: u64,
    pub(crate) name: String,
}

/// What is shown of one GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gpu {
    pub(crate) index: u32,
    pub(crate) minor: u32,
    pub(crate) name: String,
    pub(crate) uuid: String,
    pub(crate) serial: String,
    pub(crate) bus_id: String,
    pub(crate) pci_device_id: u32,
    pub(crate) pci_subsystem_id: u32,
    pub(crate) compute_cap: (u32, u32),
    pub(crate) memory: Option<Memory>,
    pub(crate) utilization: Option<u32>,
    pub(crate) processes: Vec<Proc>,
}

/// Everything shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) driver_version: String,
    pub(crate) cuda_version: i32,
    pub(crate) nvml_version: String,
    pub(crate) gpus: Vec<Gpu>,
}

pub(crate) fn collect(only: Option<u32>) -> Result<Snapshot, InitFailure> {
    api::init_with_flags(0)?;
    let snap = (|| -> nvidia_ml::types::Result<Snapshot> {
        let n = api::device_count()?;
        let mut gpus = Vec::new();
        for i in (0..n).filter(|i| only.is_none_or(|o| o == *i)) {
            let d = Device::by_index(i)?;
            let id = d.identity()?;
            let pci = nvidia_ml::pci_info(&id);
            gpus.push(Gpu {
                index: i,
                minor: id.minor,
                name: id.name().to_owned(),
                uuid: id.uuid(),
                serial: id.serial(),
                bus_id: id.bus_id(),
                pci_device_id: pci.pciDeviceId,
                pci_subsystem_id: pci.pciSubSystemId,
                compute_cap: id.compute_capability(),
                memory: d.memory().ok(),
                utilization: d.utilization().ok(),
                processes: d
                    .processes()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| Proc {
                        pid: p.pid,
                        used_memory: p.used_memory,
                        name: api::process_name(p.pid).unwrap_or_else(|_| "N/A".into()),
                    })
                    .collect(),
            });
        }
        Ok(Snapshot {
            driver_version: api::driver_version().unwrap_or_default(),
            cuda_version: api::cuda_driver_version().unwrap_or(0),
            nvml_version: api::nvml_version(),
            gpus,
        })
    })();
    let _ = api::shutdown();
    snap.map_err(|code| InitFailure { code, open: None })
}

/// The message for a failed init (exit code 9).
pub(crate) fn failure_message(f: &InitFailure) -> String {
    let mut m =
        String::from("vgpu-smi has failed because it couldn't communicate with the vgpu driver");
    match &f.open {
        Some(o) => {
            m += &format!(": {}: {}.\n", o.location, o.error);
            let socket = !o.location.starts_with("/dev/");
            m += &match o.error.errno {
                libc::EACCES | libc::EPERM if socket => format!(
                    "The user has no access to the socket {}; check its permissions.",
                    o.location
                ),
                // The node's owner, group and mode, and the group to join.
                libc::EACCES | libc::EPERM => {
                    let why = vgpu_transport::access::explain_open_error(
                        std::path::Path::new(&o.location),
                        o.error.errno,
                    );
                    format!("{why}.")
                }
                libc::ENOENT if socket => format!(
                    "The socket {} does not exist: is vgpu-host running? \
                     (configured by VGPU_SOCKET or /etc/vgpu/client.conf)",
                    o.location
                ),
                libc::ENOENT | libc::ENODEV | libc::ENXIO => format!(
                    "{} does not exist: make sure the vgpu kernel module (vgpu.ko) is loaded \
                     and the VM has a VGPU-STUB device.",
                    o.location
                ),
                libc::ECONNREFUSED => "vgpu-host is not listening on the socket.".to_owned(),
                _ => "Make sure the vgpu driver is loaded and the host is running.".to_owned(),
            };
        }
        None => m += &format!(": {}.", f.code),
    }
    m.push('\n');
    m
}
