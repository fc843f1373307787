//! What the guest libraries (`libcuda.so.1`, `libnvidia-ml.so.1`) and the
//! guest test programs share.
//!
//! - The transport: how they reach the device, `/dev/vgpuN` (the default)
//!   or, by explicit configuration only, a UNIX socket straight to
//!   `vgpu-host`. Selection ([`open`]): the environment variable
//!   `VGPU_SOCKET` (for tests), else a line `socket = /path/to.sock` in
//!   `/etc/vgpu/client.conf`, else `/dev/vgpu0`. No environment is needed
//!   in a VM.
//! - [`logging`] and [`profile`]; [`export::guard`], the panic guard of every export;
//!   [`arg`], the typed C arguments of the exports, and [`ptr`], the
//!   copies behind them; [`fork`], fork safety of a library's
//!   state; [`uuid`] and [`device`], the identity both libraries report;
//!   `testing` (feature `testing`), a scripted transport for unit tests.

// Every public item documented: both guest libraries build on this API.
#![deny(missing_docs)]

mod dev;
mod shm;
mod socket;

pub mod access;
pub mod arg;
pub mod bulk;
pub mod device;
pub mod export;
pub mod fork;
/// Diagnostics of the guest libraries: silent unless `VGPU_LOG` is set.
pub mod logging;
pub mod profile;
pub mod ptr;
#[cfg(feature = "testing")]
pub mod testing;
pub mod uuid;

use std::path::PathBuf;

pub use dev::{Completion, DevError, VgpuFile};
pub use shm::ShmClient;
pub use socket::{SocketClient, SHM_ENV};
use uapi::cmd::DeviceInfo;

/// The system configuration file of the guest library.
pub const CONFIG_FILE: &str = "/etc/vgpu/client.conf";
/// Environment variable naming a socket (tests, development on the GPU host).
pub const SOCKET_ENV: &str = "VGPU_SOCKET";
/// The default device node.
pub const DEFAULT_DEVICE: &str = "/dev/vgpu0";

/// PCI location of the device as the guest sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PciLocation {
    /// Domain.
    pub domain: u32,
    /// Bus.
    pub bus: u8,
    /// Device.
    pub device: u8,
    /// Function.
    pub function: u8,
}

/// Identity and limits of the device behind a transport.
#[derive(Debug, Clone, Copy)]
pub struct TransportInfo {
    /// Identity, as the device reports it.
    pub device: DeviceInfo,
    /// The guest PCI location (`None` on the socket transport).
    pub pci: Option<PciLocation>,
    /// Largest request or response body of one command.
    pub max_payload: u32,
}

/// One command to submit.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Opcode.
    pub opcode: u16,
    /// Request body.
    pub body: &'a [u8],
    /// Response capacity (ignored, and sent as 0, when detached).
    pub resp_capacity: u32,
    /// Nobody waits for it; its error surfaces at the next command.
    pub detached: bool,
}

/// Limits of a transport's by-pointer data path ([`Transport::submit_data`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPath {
    /// Largest request or response data of one command.
    pub max_data: u32,
    /// Data of this size and up is not copied on the way.
    pub min_pinned: u32,
    /// Data bytes the client may have in flight at once.
    pub pin_limit: u64,
}

/// When detached commands (launches, `*Async` copies, event records) go to
/// the device ([`Transport::batching`]). They always go before a command
/// that waits for a response and when a batch is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Each at once: submitting costs no system call (the shared-memory
    /// rings), so the device starts on work as soon as it exists, as on
    /// NVIDIA's driver.
    Immediate,
    /// Batched, and submitted once the oldest has waited this long: a
    /// submit is a system call (and under a VM an exit), so commands are
    /// gathered, but never left waiting while the program computes.
    After(std::time::Duration),
    /// Only before a command with a response or when full (tests).
    UntilSync,
}

/// How a wait for a response goes on while the device is still busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitMode {
    /// Poll briefly, then sleep, and skip polling for a while after polls
    /// that failed: for machines without a core to spare for the waiter.
    Adaptive,
    /// Poll until the response is there, as CUDA's spin scheduling does
    /// (`CU_CTX_SCHED_SPIN`, and `AUTO` where there are cores to spare):
    /// the waiter sees a completion within nanoseconds instead of a
    /// wake-up's microseconds. It still notices a server that is gone.
    Spin,
}

/// How long a detached command may wait in a batch on transports whose
/// submit is a system call: a few submits' worth, so that a burst of
/// launches still shares one, while the device is never left idle for
/// longer than this with work queued.
pub const BATCH_DELAY: std::time::Duration = std::time::Duration::from_micros(200);

/// A command whose bulk data travels by pointer, apart from its header.
/// The device sees `body ++ data`; of its response, the first
/// `resp_capacity` bytes are the header [`Transport::wait`] returns, the
/// rest lands in `resp_data`.
#[derive(Debug, Clone, Copy)]
pub struct DataRequest<'a> {
    /// Opcode.
    pub opcode: u16,
    /// Request header.
    pub body: &'a [u8],
    /// Request data.
    pub data: &'a [u8],
    /// Response header capacity.
    pub resp_capacity: u32,
    /// Where response data goes (`resp_data_len` bytes; unused when 0).
    pub resp_data: *mut u8,
    /// Response data capacity.
    pub resp_data_len: u32,
}

/// Pinned host memory the device side shares ([`Transport::host_alloc`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostBlock {
    /// Its start in this process (page-aligned).
    pub ptr: *mut u8,
    /// Bytes (a page multiple).
    pub len: usize,
    /// How copies name it (`uapi::cuda::copy_flags::HOST_MEMORY`).
    pub offset: u64,
}

// SAFETY: a plain address range; whoever holds the block owns the mapping
// (it is only unmapped through `Transport::host_free`).
unsafe impl Send for HostBlock {}

/// A way to the device: ordered submission of commands, waits for those
/// that have a response. One transport is one client on the device.
pub trait Transport: Send {
    /// Identity and limits.
    fn describe(&mut self) -> Result<TransportInfo, DevError>;
    /// Queues `reqs` (at most [`uapi::ioctl::MAX_BATCH`]) in order, waiting
    /// for room if needed; returns one ticket per request that is not
    /// detached, in order.
    fn submit(&mut self, reqs: &[Request<'_>]) -> Result<Vec<u64>, DevError>;
    /// Waits for a ticket and copies its response into `resp`.
    fn wait(&mut self, ticket: u64, resp: &mut [u8]) -> Result<Completion, DevError>;
    /// The by-pointer data path, if this transport has one.
    fn data_path(&mut self) -> Option<DataPath> {
        None
    }
    /// When detached commands are submitted.
    fn batching(&self) -> Batching {
        Batching::After(BATCH_DELAY)
    }
    /// How waits go on while the device is busy; transports whose waits
    /// always sleep (a system call waits for them) ignore it.
    fn set_wait_mode(&mut self, mode: WaitMode) {
        let _ = mode;
    }
    /// Pinned host memory of at least `len` bytes that the device copies
    /// from and to in place, named by [`HostBlock::offset`]; `None` where
    /// the transport has none (then the caller allocates it itself).
    fn host_alloc(&mut self, len: usize) -> Option<Result<HostBlock, DevError>> {
        let _ = len;
        None
    }
    /// Frees a block of [`Self::host_alloc`], after the device's work that
    /// may use it.
    fn host_free(&mut self, block: HostBlock) -> Result<(), DevError> {
        let _ = block;
        Err(DevError {
            op: "host free",
            errno: libc::EOPNOTSUPP,
        })
    }
    /// Queues `reqs` (at most [`uapi::ioctl::MAX_BATCH`], each waited for
    /// by ticket) with their data by pointer; returns their tickets. Only
    /// where [`Self::data_path`] is `Some`.
    ///
    /// # Safety
    ///
    /// Each `resp_data` is valid for writes of `resp_data_len` bytes; it and
    /// each `data` stay valid and untouched by anyone else until the
    /// request's ticket has been waited for, or the transport is dropped.
    unsafe fn submit_data(&mut self, reqs: &[DataRequest<'_>]) -> Result<Vec<u64>, DevError> {
        let _ = reqs;
        Err(DevError {
            op: "submit data",
            errno: libc::EOPNOTSUPP,
        })
    }
    /// Keeps `len` bytes at `addr` pinned for the device until
    /// [`Self::unpin_host`] (pinned host memory): data commands on it then
    /// pin nothing, and [`Self::submit_data_detached`] may read it later.
    /// `Ok(false)` where the transport has no such thing.
    fn pin_host(&mut self, addr: usize, len: usize) -> Result<bool, DevError> {
        let _ = (addr, len);
        Ok(false)
    }
    /// Ends a [`Self::pin_host`] of the same range.
    fn unpin_host(&mut self, addr: usize, len: usize) -> Result<(), DevError> {
        let _ = (addr, len);
        Ok(())
    }
    /// Queues `reqs` (at most [`uapi::ioctl::MAX_BATCH`]; no response,
    /// no response data) detached, with their request data by pointer.
    ///
    /// # Safety
    ///
    /// Each `data` lies in a range pinned by [`Self::pin_host`], so that
    /// the device reads only those pages whatever the caller does later.
    unsafe fn submit_data_detached(&mut self, reqs: &[DataRequest<'_>]) -> Result<(), DevError> {
        let _ = reqs;
        Err(DevError {
            op: "submit data",
            errno: libc::EOPNOTSUPP,
        })
    }
}

/// Where [`open`] will connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A device node.
    Device(PathBuf),
    /// A UNIX socket of `vgpu-host`.
    Socket(PathBuf),
}

/// Parses `client.conf`: `key = value` lines, `#` comments; returns the
/// `socket` value if there is one.
pub fn parse_config(text: &str) -> Option<PathBuf> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == "socket")
        .map(|(_, v)| PathBuf::from(v.trim().trim_matches('"')))
        .filter(|p| !p.as_os_str().is_empty())
}

/// The configured endpoint: `VGPU_SOCKET`, else [`CONFIG_FILE`], else
/// [`DEFAULT_DEVICE`].
pub fn endpoint() -> Endpoint {
    if let Some(s) = std::env::var_os(SOCKET_ENV).filter(|s| !s.is_empty()) {
        return Endpoint::Socket(s.into());
    }
    if let Some(p) = std::fs::read_to_string(CONFIG_FILE)
        .ok()
        .and_then(|t| parse_config(&t))
    {
        return Endpoint::Socket(p);
    }
    Endpoint::Device(DEFAULT_DEVICE.into())
}

/// Opens the configured transport.
pub fn open() -> Result<(Box<dyn Transport>, Endpoint), DevError> {
    let ep = endpoint();
    let t: Box<dyn Transport> = match &ep {
        Endpoint::Device(p) => Box::new(VgpuFile::open(p)?),
        Endpoint::Socket(p) => SocketClient::connect_best(p)?,
    };
    Ok((profile::wrap(t), ep))
}

/// The `/dev/vgpuN` nodes present, sorted by N.
pub fn device_nodes() -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let n: u32 = name.strip_prefix("vgpu")?.parse().ok()?;
                    Some((n, format!("/dev/{name}")))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_a_socket() {
        assert_eq!(parse_config(""), None);
        assert_eq!(parse_config("# socket = /x\n"), None);
        assert_eq!(
            parse_config("foo = 1\n socket = /run/vgpu.sock # dev\n"),
            Some(PathBuf::from("/run/vgpu.sock"))
        );
        assert_eq!(parse_config("socket ="), None);
    }
}
