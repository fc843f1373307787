// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Commands: opcodes and their request/response bodies.
//!
//! A request body is what the submission's request buffer holds, a response
//! body what the device writes into the response buffer. Bodies are the
//! `#[repr(C)]` structs below; later opcodes add their own.

/// Command opcodes. 0 is never valid.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// No request; response [`DeviceInfo`]: identity and limits of the GPU.
    GetDeviceInfo = 1,
    /// Response = request, byte for byte. Exercises the data path.
    Echo = 2,
    /// Request [`SleepRequest`]; completes after the given time, or with
    /// `ABORTED` if the queue stops first. No response. A diagnostic for
    /// waits, timeouts and device loss.
    Sleep = 3,
    /// No request; response [`DeviceUsage`]: live memory use of the GPU.
    GetUsage = 4,
    /// No request; response: one [`ClientUsage`] per client of the device
    /// (every guest process with the device open, every socket client).
    ListClients = 5,
    /// Request [`ClientIdentity`]: who this client is. Sent by the kernel
    /// driver when a file is opened; userspace may not send it.
    SetClientIdentity = 6,
    /// Request: one [`GuestRange`] per range, at most
    /// [`MAX_RELEASE_RANGES`]; no response. Sent by the kernel driver
    /// before it unpins pages that copies have named: the device forgets
    /// every registration of guest RAM that overlaps a range (see
    /// [`GUEST_REGISTER_MIN`]). Userspace may not send it.
    ReleaseGuestPages = 7,
}

impl Opcode {
    /// Decodes a wire value.
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::GetDeviceInfo,
            2 => Self::Echo,
            3 => Self::Sleep,
            4 => Self::GetUsage,
            5 => Self::ListClients,
            6 => Self::SetClientIdentity,
            7 => Self::ReleaseGuestPages,
            _ => return None,
        })
    }
}

/// Longest [`Opcode::Sleep`] the device accepts, in milliseconds.
pub const MAX_SLEEP_MS: u32 = 60_000;

/// Identity and limits of the GPU behind the device, as CUDA and NVML report it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Marketing name, UTF-8, NUL-padded (`cuDeviceGetName`).
    pub name: [u8; 96],
    /// The 16 UUID bytes (`cuDeviceGetUuid`; NVML prints them as `GPU-…`).
    pub uuid: [u8; 16],
    /// Host driver version string, NUL-padded (e.g. `580.95.05`).
    pub driver_version: [u8; 32],
    /// Total device memory in bytes.
    pub total_memory: u64,
    /// CUDA driver API version, as `cuDriverGetVersion` (e.g. 13000).
    pub cuda_driver_version: u32,
    /// Compute capability, major.
    pub compute_major: u32,
    /// Compute capability, minor.
    pub compute_minor: u32,
    /// Streaming multiprocessors.
    pub multiprocessor_count: u32,
}

impl Default for DeviceInfo {
    fn default() -> Self {
        Self {
            name: [0; 96],
            uuid: [0; 16],
            driver_version: [0; 32],
            total_memory: 0,
            cuda_driver_version: 0,
            compute_major: 0,
            compute_minor: 0,
            multiprocessor_count: 0,
        }
    }
}

/// Request of [`Opcode::Sleep`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SleepRequest {
    /// Milliseconds, at most [`MAX_SLEEP_MS`].
    pub millis: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// Response of [`Opcode::GetUsage`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceUsage {
    /// Total device memory, bytes.
    pub total_memory: u64,
    /// Memory the clients of this device hold, bytes.
    pub used_memory: u64,
    /// Memory still free, bytes.
    pub free_memory: u64,
    /// Clients with the device open.
    pub client_count: u32,
    /// GPU utilisation in percent, or `u32::MAX` when the executor cannot tell.
    pub gpu_utilization: u32,
}

/// One entry of [`Opcode::ListClients`]'s response.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientUsage {
    /// Process id in the guest (0 when unknown).
    pub pid: u32,
    /// Queue (client) index.
    pub queue: u32,
    /// Device memory the client holds, bytes.
    pub used_memory: u64,
}

/// Request of [`Opcode::SetClientIdentity`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Process id (thread group id) that opened the device.
    pub pid: u32,
    /// Zero.
    pub reserved: u32,
}

/// Guest-physical runs this long and longer, of the pages a copy names,
/// may be registered with the GPU by the host, so that the GPU moves the
/// data with no copy on the host: the run's pages stay readable by that
/// client's GPU work until a [`Opcode::ReleaseGuestPages`] overlapping it
/// completes. The driver must send one, for every run this long of pages
/// it has described to the device, before it unpins them; shorter runs are
/// never registered.
pub const GUEST_REGISTER_MIN: u64 = 1 << 20;

/// What a [`GuestRange`]'s address and length are multiples of.
pub const GUEST_RANGE_ALIGN: u64 = 4096;

/// Most ranges one [`Opcode::ReleaseGuestPages`] carries.
pub const MAX_RELEASE_RANGES: usize = 4096;

/// One range of [`Opcode::ReleaseGuestPages`]: guest-physical (device)
/// addresses, multiples of [`GUEST_RANGE_ALIGN`], non-empty.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestRange {
    /// First byte.
    pub addr: u64,
    /// Bytes.
    pub len: u64,
}

/// Copies `s` into a NUL-padded fixed field, cutting at a character boundary
/// so that at least one NUL remains.
pub fn fill_str(field: &mut [u8], s: &str) {
    field.fill(0);
    let mut n = s.len().min(field.len().saturating_sub(1));
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    field[..n].copy_from_slice(&s.as_bytes()[..n]);
}

/// The text of a NUL-padded fixed field, or `None` if it is not UTF-8.
pub fn field_str(field: &[u8]) -> Option<&str> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..end]).ok()
}

const _: () = assert!(core::mem::size_of::<DeviceInfo>() == 168);
const _: () = assert!(core::mem::size_of::<SleepRequest>() == 8);
const _: () = assert!(core::mem::size_of::<DeviceUsage>() == 32);
const _: () = assert!(core::mem::size_of::<ClientUsage>() == 16);
const _: () = assert!(core::mem::size_of::<ClientIdentity>() == 8);
const _: () = assert!(core::mem::size_of::<GuestRange>() == 16);
