// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! The Rust API of the library: what the C exports wrap and what
//! `vgpu-smi` calls.

use uapi::{
    cmd::{ClientUsage, DeviceUsage, Opcode},
    wire::Wire,
};

pub use crate::state::{Identity, OpenFailure, Pci};
use crate::{
    state::{self, conn, handle_of, index_of, lock, with_init, Slot},
    types::{ret, Error, Result, NVML_API_VERSION_STR, NVML_INIT_FLAG_NO_GPUS},
};

/// Why `init` failed: the code, and the device error behind it if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitFailure {
    /// NVML code.
    pub code: Error,
    /// The node or socket that could not be opened.
    pub open: Option<OpenFailure>,
}

/// `nvmlInitWithFlags`: the first call opens every device, later ones count.
pub fn init_with_flags(flags: u32) -> core::result::Result<(), InitFailure> {
    vgpu_transport::logging::init();
    let mut s = lock();
    if s.refcount == 0 {
        state::attach(&mut s, flags & NVML_INIT_FLAG_NO_GPUS != 0).map_err(|e| {
            tracing::warn!(
                "nvmlInit: {}: {} -> {}",
                e.location,
                e.error,
                crate::types::error_string(e.code())
            );
            InitFailure {
                code: Error(e.code()),
                open: Some(e),
            }
        })?;
    }
    s.refcount += 1;
    tracing::debug!("nvmlInit: refcount {}", s.refcount);
    Ok(())
}

/// `nvmlInit_v2`.
pub fn init() -> Result {
    init_with_flags(0).map_err(|f| f.code)
}

/// `nvmlShutdown`: the last one closes every connection.
pub fn shutdown() -> Result {
    let mut s = lock();
    if s.refcount == 0 {
        return Err(Error(ret::UNINITIALIZED));
    }
    s.refcount -= 1;
    if s.refcount == 0 {
        for d in &mut s.devices {
            d.conn = None;
        }
    }
    tracing::debug!("nvmlShutdown: refcount {}", s.refcount);
    Ok(())
}

/// Current init count (tests, diagnostics).
pub fn init_count() -> u32 {
    lock().refcount
}

/// `nvmlDeviceGetCount_v2`.
pub fn device_count() -> Result<u32> {
    with_init(|s| Ok(s.devices.len() as u32))
}

/// `nvmlSystemGetDriverVersion`.
pub fn driver_version() -> Result<String> {
    with_init(|s| {
        s.devices
            .first()
            .map(|d| d.ident.driver_version().to_owned())
            .or_else(|| s.driver_version.clone())
            .ok_or(Error(ret::NOT_FOUND))
    })
}

/// `nvmlSystemGetCudaDriverVersion`.
pub fn cuda_driver_version() -> Result<i32> {
    with_init(|s| {
        Ok(s.devices
            .first()
            .map_or(13000, |d| d.ident.cuda_driver_version()))
    })
}

/// `nvmlSystemGetNVMLVersion`: works without init. `13.<driver version>`
/// when the driver version is known (from an init, or by asking the first
/// device once), else `13`.
pub fn nvml_version() -> String {
    let mut s = lock();
    if s.driver_version.is_none() {
        if let Ok(mut v) = s.backend().open_all() {
            if let Some(o) = v.first_mut() {
                if let Ok(i) = o.transport.describe() {
                    s.driver_version = uapi::cmd::field_str(&i.device.driver_version)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned);
                }
            }
        }
    }
    match &s.driver_version {
        Some(d) => format!("{NVML_API_VERSION_STR}.{d}"),
        None => NVML_API_VERSION_STR.to_owned(),
    }
}

/// Memory of a device, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Total (as `cuDeviceTotalMem`).
    pub total: u64,
    /// Free.
    pub free: u64,
    /// Used by the device's clients.
    pub used: u64,
}

/// A process using a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    /// Guest pid (0 when unknown).
    pub pid: u32,
    /// Device memory it holds, bytes.
    pub used_memory: u64,
}

/// A device: an index into the devices found at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device(usize);

/// Parses `domain:bus:device.function` (domain optional), hex.
pub fn parse_bus_id(t: &str) -> Option<(u32, u32, u32, u32)> {
    let t = t.trim().trim_end_matches('\0');
    let (rest, func) = t.rsplit_once('.').unwrap_or((t, "0"));
    let (dom, b, d) = vgpu_transport::device::parse_domain_bus_device(rest)?;
    let f = u32::from_str_radix(func, 16).ok()?;
    Some((dom, b, d, f))
}

/// Normalises a UUID for comparison: lowercase, without `GPU-`.
fn norm_uuid(u: &str) -> String {
    let u = u.trim().to_ascii_lowercase();
    u.strip_prefix("gpu-").unwrap_or(&u).to_owned()
}

impl Device {
    /// `nvmlDeviceGetHandleByIndex_v2`.
    pub fn by_index(index: u32) -> Result<Self> {
        with_init(|s| {
            if (index as usize) < s.devices.len() {
                Ok(Device(index as usize))
            } else {
                Err(Error(ret::INVALID_ARGUMENT))
            }
        })
    }

    fn find(pred: impl Fn(&Identity) -> bool) -> Result<Self> {
        with_init(|s| {
            s.devices
                .iter()
                .position(|d| pred(&d.ident))
                .map(Device)
                .ok_or(Error(ret::NOT_FOUND))
        })
    }

    /// `nvmlDeviceGetHandleByUUID`: `GPU-…`, any case (the prefix optional).
    pub fn by_uuid(uuid: &str) -> Result<Self> {
        let want = norm_uuid(uuid);
        if want.is_empty() {
            return Err(Error(ret::INVALID_ARGUMENT));
        }
        Self::find(|i| norm_uuid(&i.uuid()) == want)
    }

    /// `nvmlDeviceGetHandleByPciBusId_v2`: 4- or 8-digit domain, or none.
    pub fn by_pci_bus_id(bus_id: &str) -> Result<Self> {
        let Some((dom, b, d, f)) = parse_bus_id(bus_id) else {
            with_init(|_| Ok(()))?;
            return Err(Error(ret::INVALID_ARGUMENT));
        };
        Self::find(|i| (i.pci.domain, i.pci.bus, i.pci.device, i.pci.function) == (dom, b, d, f))
    }

    /// `nvmlDeviceGetHandleBySerial`.
    pub fn by_serial(serial: &str) -> Result<Self> {
        let want = serial.trim().to_owned();
        Self::find(|i| i.serial() == want)
    }

    /// The device a C handle stands for (checked).
    pub fn from_handle(h: *const Slot) -> Result<Self> {
        let i = index_of(h).ok_or(Error(ret::INVALID_ARGUMENT))?;
        with_init(|s| {
            if i < s.devices.len() {
                Ok(Device(i))
            } else {
                Err(Error(ret::INVALID_ARGUMENT))
            }
        })
    }

    /// The C handle (`nvmlDevice_t`).
    pub fn handle(self) -> *const Slot {
        handle_of(self.0)
    }

    /// The NVML index.
    pub fn index(self) -> u32 {
        self.0 as u32
    }

    /// Identity (no device round trip).
    pub fn identity(self) -> Result<Identity> {
        with_init(|s| {
            s.devices
                .get(self.0)
                .map(|d| d.ident.clone())
                .ok_or(Error(ret::INVALID_ARGUMENT))
        })
    }

    fn usage(self) -> Result<(Identity, DeviceUsage)> {
        with_init(|s| {
            let ident = s
                .devices
                .get(self.0)
                .ok_or(Error(ret::INVALID_ARGUMENT))?
                .ident
                .clone();
            let t = conn(s, self.0)?;
            let r = state::call(
                t,
                Opcode::GetUsage as u16,
                &[],
                core::mem::size_of::<DeviceUsage>(),
            )?;
            let u = DeviceUsage::read_from(&r).ok_or_else(|| {
                tracing::warn!("GetUsage: short response ({} bytes)", r.len());
                Error(ret::UNKNOWN)
            })?;
            Ok((ident, u))
        })
    }

    /// Memory from `GetUsage`; total is the identity's (as CUDA reports it).
    ///
    /// A host without `GetUsage` gives `UNKNOWN`, never `NOT_SUPPORTED`:
    /// on `NOT_SUPPORTED` Ollama reports guest RAM as VRAM, on other errors
    /// it asks CUDA (`cuMemGetInfo`), which is right.
    pub fn memory(self) -> Result<Memory> {
        let (ident, u) = self.usage().map_err(|e| match e.0 {
            ret::NOT_SUPPORTED => Error(ret::UNKNOWN),
            _ => e,
        })?;
        let total = match ident.info.total_memory {
            0 => u.total_memory,
            t => t,
        };
        let used = u.used_memory.min(total);
        let free = u.free_memory.min(total - used);
        Ok(Memory { total, free, used })
    }

    /// GPU utilisation, percent (`NOT_SUPPORTED` when the host cannot tell).
    pub fn utilization(self) -> Result<u32> {
        let (_, u) = self.usage()?;
        if u.gpu_utilization == u32::MAX {
            return Err(Error(ret::NOT_SUPPORTED));
        }
        Ok(u.gpu_utilization.min(100))
    }

    /// Processes with device memory, from `ListClients`: clients merged by
    /// pid; this process's own clients are left out while they hold no
    /// memory (NVML's own connection is not a GPU process).
    pub fn processes(self) -> Result<Vec<Process>> {
        let clients = with_init(|s| {
            let t = conn(s, self.0)?;
            // Room for this many clients first; the call grows the buffer
            // when the device has more.
            const FIRST_GUESS: usize = 64;
            let capacity = FIRST_GUESS * core::mem::size_of::<ClientUsage>();
            let r = state::call(t, Opcode::ListClients as u16, &[], capacity)?;
            Ok(r.chunks_exact(core::mem::size_of::<ClientUsage>())
                .filter_map(ClientUsage::read_from)
                .collect::<Vec<_>>())
        })?;
        Ok(merge_clients(&clients, std::process::id()))
    }
}

/// Merges clients into processes (see [`Device::processes`]).
pub fn merge_clients(clients: &[ClientUsage], own_pid: u32) -> Vec<Process> {
    let mut out: Vec<Process> = Vec::new();
    for c in clients {
        match out.iter_mut().find(|p| p.pid == c.pid && c.pid != 0) {
            Some(p) => p.used_memory += c.used_memory,
            None => out.push(Process {
                pid: c.pid,
                used_memory: c.used_memory,
            }),
        }
    }
    out.retain(|p| !(p.pid == own_pid && p.used_memory == 0));
    out
}

/// `nvmlSystemGetProcessName`: the executable path (or `comm`) of a guest pid.
pub fn process_name(pid: u32) -> Result<String> {
    if let Ok(p) = std::fs::read_link(format!("/proc/{pid}/exe")) {
        return Ok(p.display().to_string());
    }
    if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        if let Some(a) = c.split(|&b| b == 0).next().filter(|a| !a.is_empty()) {
            return Ok(String::from_utf8_lossy(a).into_owned());
        }
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_owned())
        .map_err(|_| Error(ret::NOT_FOUND))
}

/// `nvmlDeviceGetArchitecture` from a compute capability.
pub fn architecture(major: u32, minor: u32) -> u32 {
    use crate::types::arch;
    match (major, minor) {
        (3, _) => arch::KEPLER,
        (5, _) => arch::MAXWELL,
        (6, _) => arch::PASCAL,
        (7, 0 | 2) => arch::VOLTA,
        (7, _) => arch::TURING,
        (8, 9) => arch::ADA,
        (8, _) => arch::AMPERE,
        (9, _) => arch::HOPPER,
        (10..=12, _) => arch::BLACKWELL,
        _ => arch::UNKNOWN,
    }
}

/// `nvmlDeviceGetBrand` from the name.
pub fn brand(name: &str) -> u32 {
    use crate::types::brand;
    let n = name.to_ascii_lowercase();
    if n.contains("geforce") {
        brand::GEFORCE
    } else if n.contains("titan") {
        brand::TITAN
    } else if n.contains("quadro") {
        brand::QUADRO
    } else if n.contains("tesla") {
        brand::TESLA
    } else if n.contains("rtx") {
        brand::NVIDIA_RTX
    } else if n.starts_with("nvidia") {
        brand::NVIDIA
    } else {
        brand::UNKNOWN
    }
}
