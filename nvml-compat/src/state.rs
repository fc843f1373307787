// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Process-wide state: the init reference count, the devices found at the
//! first `nvmlInit`, their connections, the static handle slots, fork
//! safety and logging.
//!
//! A device handle (`nvmlDevice_t`) is the address of a static [`Slot`], so
//! a handle never dangles, whatever init/shutdown cycles happen (Ollama runs
//! one per memory query). While initialised, the process keeps one
//! connection (one client queue) per device; the last `nvmlShutdown` closes
//! them; a forked child drops its copies and reconnects on first use.

use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

use uapi::{
    cmd::{field_str, DeviceInfo},
    cuda::{cmds, result, CudaCommand, DeviceRequest, ResultHeader},
    status::Status,
    wire::Wire,
};
use vgpu_transport::{
    device::{self, attr},
    fork::ForkSafe,
    DevError, Endpoint, Request, Transport, TransportInfo,
};

use crate::types::{ret, Error, Result};

/// Most devices one process sees.
pub const MAX_DEVICES: usize = 64;

/// A transport that [`Backend::open_all`] opened.
pub struct Opened {
    /// The connection.
    pub transport: Box<dyn Transport>,
    /// N of `/dev/vgpuN` (0 on the socket transport).
    pub minor: u32,
    /// Where it is (`/dev/vgpu0`, a socket path): for messages and reopening.
    pub location: String,
}

/// Why no device could be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFailure {
    /// The node or socket that failed (the first one tried).
    pub location: String,
    /// The error.
    pub error: DevError,
}

impl OpenFailure {
    /// The NVML code for this failure: permission problems are
    /// `NO_PERMISSION`, anything else `DRIVER_NOT_LOADED` (what NVML says
    /// when there is no NVIDIA kernel driver).
    pub fn code(&self) -> u32 {
        match self.error.errno {
            libc::EACCES | libc::EPERM => ret::NO_PERMISSION,
            _ => ret::DRIVER_NOT_LOADED,
        }
    }
}

/// How devices are found and opened; tests install a fake one.
pub trait Backend: Send + Sync {
    /// Opens every device (`Ok(vec![])` when there is none at all).
    fn open_all(&self) -> core::result::Result<Vec<Opened>, OpenFailure>;
    /// Opens one device again (after fork).
    fn reopen(&self, location: &str) -> core::result::Result<Box<dyn Transport>, DevError>;
}

/// The real backend: `VGPU_SOCKET` / `/etc/vgpu/client.conf` name a socket
/// (one device); otherwise the device libcuda.so.1 uses (`/dev/vgpu0`).
pub struct SystemBackend;

pub use vgpu_transport::device_nodes;

impl Backend for SystemBackend {
    fn open_all(&self) -> core::result::Result<Vec<Opened>, OpenFailure> {
        match vgpu_transport::endpoint() {
            Endpoint::Socket(p) => {
                let location = p.display().to_string();
                let t = vgpu_transport::SocketClient::connect(&p).map_err(|error| OpenFailure {
                    location: location.clone(),
                    error,
                })?;
                Ok(vec![Opened {
                    transport: Box::new(t),
                    minor: 0,
                    location,
                }])
            }
            Endpoint::Device(default) => {
                // libcuda.so.1 drives one device (its transport's default,
                // /dev/vgpu0); NVML reports that same one, so that the two
                // never disagree on the count (PyTorch uses NVML's).
                let location = default.display().to_string();
                let minor = location
                    .rsplit("vgpu")
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                match vgpu_transport::VgpuFile::open(&location) {
                    Ok(f) => Ok(vec![Opened {
                        transport: Box::new(f),
                        minor,
                        location,
                    }]),
                    Err(error) => {
                        tracing::debug!("{location}: {error}");
                        Err(OpenFailure { location, error })
                    }
                }
            }
        }
    }

    fn reopen(&self, location: &str) -> core::result::Result<Box<dyn Transport>, DevError> {
        if location.starts_with("/dev/") {
            Ok(Box::new(vgpu_transport::VgpuFile::open(location)?))
        } else {
            Ok(Box::new(vgpu_transport::SocketClient::connect(location)?))
        }
    }
}

/// PCI location as NVML reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pci {
    /// Domain.
    pub domain: u32,
    /// Bus.
    pub bus: u32,
    /// Device.
    pub device: u32,
    /// Function.
    pub function: u32,
}

/// Identity of one device, fixed while the library is initialised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// NVML index.
    pub index: u32,
    /// N of `/dev/vgpuN`.
    pub minor: u32,
    /// Node or socket.
    pub location: String,
    /// What the device reported.
    pub info: DeviceInfo,
    /// PCI location (the guest stub's; on the socket, the host's attribute table).
    pub pci: Pci,
}

impl Identity {
    /// Marketing name, as `cuDeviceGetName`.
    pub fn name(&self) -> &str {
        field_str(&self.info.name).unwrap_or("vgpu")
    }

    /// `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase.
    pub fn uuid(&self) -> String {
        uuid_string(&self.info.uuid)
    }

    /// Driver version string (`580.95.05`).
    pub fn driver_version(&self) -> &str {
        field_str(&self.info.driver_version).unwrap_or("")
    }

    /// CUDA driver API version, as `cuDriverGetVersion` (13000 when unknown,
    /// as libcuda says).
    pub fn cuda_driver_version(&self) -> i32 {
        match self.info.cuda_driver_version {
            0 => 13000,
            n => n as i32,
        }
    }

    /// Compute capability.
    pub fn compute_capability(&self) -> (u32, u32) {
        (self.info.compute_major, self.info.compute_minor)
    }

    /// `%08X:%02X:%02X.0`.
    pub fn bus_id(&self) -> String {
        format!(
            "{:08X}:{:02X}:{:02X}.{:X}",
            self.pci.domain, self.pci.bus, self.pci.device, self.pci.function
        )
    }

    /// `%04X:%02X:%02X.0`.
    pub fn bus_id_legacy(&self) -> String {
        format!(
            "{:04X}:{:02X}:{:02X}.{:X}",
            self.pci.domain, self.pci.bus, self.pci.device, self.pci.function
        )
    }

    /// A 13-digit serial number derived from the UUID (stable, unique enough).
    pub fn serial(&self) -> String {
        let mut v = 0u64;
        for b in &self.info.uuid[..8] {
            v = v << 8 | u64::from(*b);
        }
        format!("{:013}", v % 10_000_000_000_000)
    }

    /// Board id derived from the UUID.
    pub fn board_id(&self) -> u32 {
        let u = &self.info.uuid;
        u32::from_be_bytes([u[12], u[13], u[14], u[15]])
    }
}

/// `GPU-` and the UUID bytes in the 8-4-4-4-12 layout, lowercase.
pub fn uuid_string(u: &[u8; 16]) -> String {
    vgpu_transport::uuid::gpu_uuid(u)
}

/// One device while initialised.
pub(crate) struct Dev {
    pub ident: Identity,
    /// `None` after fork (reopened on demand).
    pub conn: Option<Box<dyn Transport>>,
}

pub(crate) struct State {
    pub refcount: u32,
    pub devices: Vec<Dev>,
    /// Driver version learnt at some init (for `nvmlSystemGetNVMLVersion`).
    pub driver_version: Option<String>,
    pub backend: Option<Arc<dyn Backend>>,
}

impl State {
    const fn new() -> Self {
        Self {
            refcount: 0,
            devices: Vec::new(),
            driver_version: None,
            backend: None,
        }
    }

    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend
            .clone()
            .unwrap_or_else(|| Arc::new(SystemBackend))
    }
}

static STATE: Mutex<State> = Mutex::new(State::new());

pub(crate) fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on the initialised state.
pub(crate) fn with_init<T>(f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
    let mut s = lock();
    if s.refcount == 0 {
        return Err(Error(ret::UNINITIALIZED));
    }
    f(&mut s)
}

/// Installs `backend` (tests; `None` = the system).
pub fn set_backend(backend: Option<Arc<dyn Backend>>) {
    lock().backend = backend;
}

// --- handles ----------------------------------------------------------------

/// What an `nvmlDevice_t` points to: one per possible device, forever.
#[repr(C)]
pub struct Slot {
    index: u32,
    _magic: u32,
}

const SLOT_MAGIC: u32 = 0x4c4d_564e; // "NVML"

static SLOTS: [Slot; MAX_DEVICES] = {
    let mut a = [const {
        Slot {
            index: 0,
            _magic: SLOT_MAGIC,
        }
    }; MAX_DEVICES];
    let mut i = 0;
    while i < MAX_DEVICES {
        a[i].index = i as u32;
        i += 1;
    }
    a
};

/// The handle of device `index`.
pub fn handle_of(index: usize) -> *const Slot {
    &SLOTS[index.min(MAX_DEVICES - 1)]
}

/// The index a handle stands for, if it is one of ours.
pub fn index_of(h: *const Slot) -> Option<usize> {
    let base = SLOTS.as_ptr() as usize;
    let a = h as usize;
    let sz = core::mem::size_of::<Slot>();
    if a < base || a >= base + MAX_DEVICES * sz || !(a - base).is_multiple_of(sz) {
        return None;
    }
    Some(SLOTS[(a - base) / sz].index as usize)
}

// --- device commands --------------------------------------------------------

/// Maps transport errors: a device that went away is `GPU_IS_LOST`.
pub(crate) fn dev_error(e: DevError) -> Error {
    tracing::warn!("vgpu transport: {e}");
    Error(match e.errno {
        libc::ENODEV | libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN => ret::GPU_IS_LOST,
        libc::EACCES | libc::EPERM => ret::NO_PERMISSION,
        libc::ETIMEDOUT => ret::TIMEOUT,
        _ => ret::UNKNOWN,
    })
}

/// Sends one command and returns its response (grown once if the device
/// says the buffer was too small).
pub(crate) fn call(
    t: &mut dyn Transport,
    opcode: u16,
    body: &[u8],
    capacity: usize,
) -> Result<Vec<u8>> {
    let mut cap = capacity;
    for _ in 0..3 {
        let tickets = t
            .submit(&[Request {
                opcode,
                body,
                resp_capacity: cap as u32,
                detached: false,
            }])
            .map_err(dev_error)?;
        let ticket = *tickets.first().ok_or(Error(ret::UNKNOWN))?;
        let mut buf = vec![0u8; cap];
        let c = t.wait(ticket, &mut buf).map_err(dev_error)?;
        let too_small = c.status == Status::ResponseTooSmall as u32
            || (c.status == Status::Ok as u32 && c.resp_len as usize > cap);
        if too_small && (c.resp_len as usize) > cap {
            cap = c.resp_len as usize;
            continue;
        }
        if c.status != Status::Ok as u32 {
            let name = Status::from_u32(c.status).map_or("?", |s| s.name());
            tracing::warn!("vgpu: opcode {opcode:#x} failed: {name}");
            return Err(Error(match Status::from_u32(c.status) {
                Some(Status::InvalidOpcode) => ret::NOT_SUPPORTED,
                Some(Status::Aborted | Status::BadRingIndex) => ret::GPU_IS_LOST,
                _ => ret::UNKNOWN,
            }));
        }
        buf.truncate(c.resp_len as usize);
        return Ok(buf);
    }
    Err(Error(ret::UNKNOWN))
}

/// Calls CUDA command `C` with `req`, allowing `resp_tail` bytes after its
/// response struct; returns the struct and those bytes. A CUDA error is
/// `UNKNOWN` (NVML has no such codes).
pub(crate) fn call_cmd<C: CudaCommand>(
    t: &mut dyn Transport,
    req: &C::Request,
    resp_tail: usize,
) -> Result<(C::Response, Vec<u8>)> {
    let fixed = core::mem::size_of::<C::Response>();
    let mut r = call(t, C::OPCODE, req.as_bytes(), fixed + resp_tail)?;
    let code = ResultHeader::read_from(&r).map_or(result::UNKNOWN, |h| h.result);
    if code != result::SUCCESS {
        tracing::debug!("opcode {:#x}: CUresult {code}", C::OPCODE);
        return Err(Error(ret::UNKNOWN));
    }
    let resp = C::Response::read_from(&r).ok_or(Error(ret::UNKNOWN))?;
    Ok((resp, r.split_off(fixed)))
}

/// PCI bus/device/domain from the CUDA attribute table (socket transport,
/// where the guest has no PCI function): what libcuda reports too.
fn pci_from_attributes(t: &mut dyn Transport) -> Pci {
    let r = call_cmd::<cmds::DeviceGetAttributes>(
        t,
        &DeviceRequest::default(),
        device::ATTRIBUTE_TABLE_BYTES,
    );
    match r {
        Ok((_, tail)) => {
            let a = device::attribute_table(&tail);
            let at = |i: usize| a[i] as u32;
            Pci {
                domain: at(attr::PCI_DOMAIN_ID),
                bus: at(attr::PCI_BUS_ID),
                device: at(attr::PCI_DEVICE_ID),
                function: 0,
            }
        }
        Err(e) => {
            tracing::debug!("DEVICE_GET_ATTRIBUTES: {e}");
            Pci::default()
        }
    }
}

fn identify(o: &mut Opened, index: u32) -> core::result::Result<Identity, DevError> {
    let TransportInfo { device, pci, .. } = o.transport.describe()?;
    let pci = match pci {
        Some(p) => Pci {
            domain: p.domain,
            bus: p.bus.into(),
            device: p.device.into(),
            function: p.function.into(),
        },
        None => pci_from_attributes(o.transport.as_mut()),
    };
    Ok(Identity {
        index,
        minor: o.minor,
        location: o.location.clone(),
        info: device,
        pci,
    })
}

/// First init: open and identify every device. With `allow_none`, no
/// device at all is not an error.
pub(crate) fn attach(s: &mut State, allow_none: bool) -> core::result::Result<(), OpenFailure> {
    register_atfork();
    let opened = match s.backend().open_all() {
        Ok(v) => v,
        Err(e) if allow_none => {
            tracing::debug!("nvmlInit: {}: {} (no GPUs allowed)", e.location, e.error);
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    let mut devices = Vec::new();
    let mut first_err = None;
    for mut o in opened.into_iter().take(MAX_DEVICES) {
        match identify(&mut o, devices.len() as u32) {
            Ok(ident) => devices.push(Dev {
                ident,
                conn: Some(o.transport),
            }),
            Err(error) => {
                tracing::warn!("{}: {error}", o.location);
                first_err.get_or_insert(OpenFailure {
                    location: o.location,
                    error,
                });
            }
        }
    }
    if devices.is_empty() && !allow_none {
        if let Some(e) = first_err {
            return Err(e);
        }
    }
    if let Some(d) = devices.first() {
        s.driver_version = Some(d.ident.driver_version().to_owned());
    }
    s.devices = devices;
    Ok(())
}

/// The device `index`'s connection, reopened if a fork dropped it.
pub(crate) fn conn(s: &mut State, index: usize) -> Result<&mut (dyn Transport + 'static)> {
    let backend = s.backend();
    let d = s
        .devices
        .get_mut(index)
        .ok_or(Error(ret::INVALID_ARGUMENT))?;
    if d.conn.is_none() {
        d.conn = Some(backend.reopen(&d.ident.location).map_err(dev_error)?);
    }
    d.conn.as_deref_mut().ok_or(Error(ret::UNKNOWN))
}

// --- fork -------------------------------------------------------------------

impl ForkSafe for State {
    fn lock() -> MutexGuard<'static, State> {
        lock()
    }

    fn in_child(&mut self) {
        // The connections belong to the parent: close our copies; the
        // next call that needs the device reconnects as a client of its
        // own. The init count and identities stay valid.
        for d in &mut self.devices {
            d.conn = None;
        }
    }
}

fn register_atfork() {
    static ATFORK: Once = Once::new();
    vgpu_transport::fork::register_atfork::<State>(&ATFORK);
}
