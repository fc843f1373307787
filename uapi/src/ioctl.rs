// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! ioctls of `/dev/vgpuN`.
//!
//! Each open file is one client: the driver gives it a queue of its own on the
//! device. Every pointer is a user virtual address in a `u64`; every struct has
//! explicit padding so 32-bit callers (compat ioctl) see the same layout.
//! Errors: `ENOTTY` for an unknown number or a size that does not match,
//! `EFAULT` for unreadable or unwritable memory, `EINVAL` for bad fields,
//! `EAGAIN` when the queue is full, `ETIMEDOUT`, `EINTR`, and `ENODEV` once the
//! device is gone; `ENOMEM` past the file's pin limit or `RLIMIT_MEMLOCK`,
//! `EPERM` for a command only the driver may send, `EBUSY` at open when no
//! queue is free, and `ENOENT` from [`VGPU_IOCTL_UNPIN`] for a range this
//! file has not pinned.

use super::cmd::DeviceInfo;

/// The ioctl type byte of this driver.
pub const IOCTL_TYPE: u32 = b'V' as u32;

const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// Linux `_IOC`.
pub const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32 & 0x3fff) << 16) | (IOCTL_TYPE << 8) | nr
}
/// Linux `_IO`.
pub const fn io(nr: u32) -> u32 {
    ioc(IOC_NONE, nr, 0)
}
/// Linux `_IOR` (the kernel writes the struct).
pub const fn ior<T>(nr: u32) -> u32 {
    ioc(IOC_READ, nr, core::mem::size_of::<T>())
}
/// Linux `_IOW` (the kernel reads the struct).
pub const fn iow<T>(nr: u32) -> u32 {
    ioc(IOC_WRITE, nr, core::mem::size_of::<T>())
}
/// Linux `_IOWR`.
pub const fn iowr<T>(nr: u32) -> u32 {
    ioc(IOC_READ | IOC_WRITE, nr, core::mem::size_of::<T>())
}

/// Identity and limits of the device behind this file.
pub const VGPU_IOCTL_GET_INFO: u32 = ior::<InfoArgs>(0x00);
/// Queue commands; returns the number queued (all of them, or fails).
pub const VGPU_IOCTL_SUBMIT: u32 = iowr::<SubmitArgs>(0x01);
/// Wait for one submitted command and collect its response.
pub const VGPU_IOCTL_WAIT: u32 = iowr::<WaitArgs>(0x02);
/// Queue [`DataCommand`]s: commands whose bulk data is given by pointer,
/// apart from the header the device parses. Same [`SubmitArgs`]; its
/// `commands` points at `DataCommand`s. Returns the number queued.
pub const VGPU_IOCTL_SUBMIT_DATA: u32 = iowr::<SubmitArgs>(0x03);
/// Limits and counters of the data path ([`DataInfo`]).
pub const VGPU_IOCTL_DATA_INFO: u32 = ior::<DataInfo>(0x04);
/// Pins a range of the caller's memory for this file until
/// [`VGPU_IOCTL_UNPIN`] or close ([`PinArgs`]): pinned host memory
/// (`cuMemHostAlloc`, `cuMemHostRegister`), so that copies from and to it
/// never pin or wait to unpin. Counts against the file's pin limit.
pub const VGPU_IOCTL_PIN: u32 = iow::<PinArgs>(0x05);
/// Ends a [`VGPU_IOCTL_PIN`] of the same `addr` and `len`; commands in
/// flight keep the pages until they complete.
pub const VGPU_IOCTL_UNPIN: u32 = iow::<PinArgs>(0x06);
/// The pin cache's state and counters ([`PinInfo`]).
pub const VGPU_IOCTL_PIN_INFO: u32 = ior::<PinInfo>(0x07);

/// Most commands one [`VGPU_IOCTL_SUBMIT`] takes.
pub const MAX_BATCH: u32 = 64;
/// Commands a client may have submitted and not yet collected.
pub const CLIENT_QUEUE_DEPTH: u32 = 64;
/// Largest request or response body one command may carry through the driver.
pub const MAX_PAYLOAD: u32 = 1 << 20;

/// Result of [`VGPU_IOCTL_GET_INFO`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InfoArgs {
    /// Identity, exactly as the device reported it.
    pub device: DeviceInfo,
    /// Index N of `/dev/vgpuN`.
    pub index: u32,
    /// Device ABI version ([`super::ABI_VERSION`] layout).
    pub abi_version: u32,
    /// Device feature bits ([`super::regs::features`]).
    pub features: u32,
    /// PCI domain of the stub in the guest.
    pub pci_domain: u32,
    /// PCI bus number.
    pub pci_bus: u8,
    /// PCI device number.
    pub pci_device: u8,
    /// PCI function number.
    pub pci_function: u8,
    /// Zero.
    pub reserved0: u8,
    /// Largest request/response body per command, in bytes.
    pub max_payload: u32,
}

/// Bits of [`SubmitArgs::flags`].
pub mod submit_flags {
    /// When the batch does not fit the free slots, wait (interruptibly, as a
    /// `VGPU_IOCTL_WAIT` would) until it does instead of failing with `EAGAIN`.
    pub const WAIT_FOR_SPACE: u32 = 1 << 0;
    /// All defined bits.
    pub const ALL: u32 = WAIT_FOR_SPACE;
}

/// Bits of [`Command::flags`].
pub mod command_flags {
    /// Nobody will wait for this command: its slot is freed as soon as the
    /// device completes it. `resp_capacity` must be 0. For asynchronous work,
    /// whose errors the device reports at the client's next command.
    pub const DETACHED: u16 = 1 << 0;
    /// All defined bits.
    pub const ALL: u16 = DETACHED;
}

/// Argument of [`VGPU_IOCTL_SUBMIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubmitArgs {
    /// Address of `count` [`Command`]s; the driver writes each one's `seq`.
    pub commands: u64,
    /// 1..=[`MAX_BATCH`].
    pub count: u32,
    /// [`submit_flags`].
    pub flags: u32,
}

/// One command of a [`SubmitArgs`] batch.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// [`super::cmd::Opcode`] or [`super::cuda::op`] value (checked by the device).
    pub opcode: u16,
    /// [`command_flags`].
    pub flags: u16,
    /// Request length, at most [`MAX_PAYLOAD`].
    pub req_len: u32,
    /// Request address (ignored when `req_len` is 0).
    pub req_ptr: u64,
    /// Response capacity the device may fill, at most [`MAX_PAYLOAD`].
    pub resp_capacity: u32,
    /// Must be zero.
    pub reserved: u32,
    /// Out: the sequence number to wait on.
    pub seq: u64,
}

/// One command of a [`VGPU_IOCTL_SUBMIT_DATA`] batch: a [`Command`] (its
/// `req_ptr`/`req_len` is the header, copied at submit so that the caller
/// cannot change what the device parses; `resp_capacity` is the response
/// header, copied out by [`VGPU_IOCTL_WAIT`]) plus bulk data by pointer.
///
/// The device sees the request `header ++ data` and writes its response
/// `header ++ data`: the first `resp_capacity` bytes go to the header (as
/// for a [`Command`]), the rest straight into `resp_data_ptr`. Data of
/// [`DataInfo::min_pinned`] bytes and more is not copied: the driver pins
/// the caller's pages and hands the device their addresses (userspace never
/// gives one). The caller must leave `data` unchanged and `resp_data`
/// untouched until the command is collected (for a detached one: until a
/// later command of the file is; a detached command may carry request
/// data, not response data, and is meant for data in a
/// [`VGPU_IOCTL_PIN`] range, which stays pinned whatever the caller does).
/// `WaitArgs::resp_len` is the whole response length, data included.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataCommand {
    /// The command and its headers; `req_len` and `resp_capacity` at most
    /// [`MAX_PAYLOAD`].
    pub cmd: Command,
    /// Request data address (ignored when `data_len` is 0).
    pub data_ptr: u64,
    /// Request data length, at most [`DataInfo::max_data`].
    pub data_len: u32,
    /// Response data capacity, at most [`DataInfo::max_data`]; 0 for a
    /// detached command.
    pub resp_data_len: u32,
    /// Where the device writes the response data (ignored when `resp_data_len` is 0).
    pub resp_data_ptr: u64,
    /// Must be zero.
    pub reserved: u64,
}

/// Result of [`VGPU_IOCTL_DATA_INFO`]: limits of the data path of this file,
/// and counters that show which path data took.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataInfo {
    /// Largest `data_len` or `resp_data_len` of one [`DataCommand`]; 0 when
    /// the device takes no scatter-gather lists (then only data below
    /// `min_pinned` is accepted, and copied).
    pub max_data: u32,
    /// Request data of this many bytes and more is pinned; smaller request
    /// data is copied. Response data is always pinned.
    pub min_pinned: u32,
    /// Bytes this file may keep pinned at once: the driver's per-file limit,
    /// or less under the caller's `RLIMIT_MEMLOCK` (pages pinned by others
    /// in the process count there too).
    pub pin_limit: u64,
    /// Bytes this file has pinned now: commands in flight and the pin
    /// cache ([`PinInfo`]), whose idle pinnings give way when room is needed.
    pub pinned: u64,
    /// Commands of this file whose data went to the device by pinned pages.
    pub sgl_commands: u64,
    /// Data bytes of those commands (request and response capacity).
    pub sgl_bytes: u64,
    /// The same two counters for every file of the device since probe.
    pub device_sgl_commands: u64,
    /// See `device_sgl_commands`.
    pub device_sgl_bytes: u64,
    /// Zero.
    pub reserved: u64,
}

/// Argument of [`VGPU_IOCTL_PIN`] and [`VGPU_IOCTL_UNPIN`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinArgs {
    /// Start of the range (any alignment; whole pages are pinned).
    pub addr: u64,
    /// Its length in bytes, non-zero.
    pub len: u64,
}

/// Result of [`VGPU_IOCTL_PIN_INFO`]: the pin cache of this file.
///
/// Pinned data ranges stay pinned and DMA-mapped after their command, so
/// that a later command on the same memory costs no pinning: a *hit*. A
/// pinning is dropped when its mapping changes (munmap, mremap, fork's
/// copy-on-write...: an *invalidation*), when room is needed for another
/// (an *eviction*, least recently used first), or at close.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinInfo {
    /// Pinnings in the cache, and the pages they pin.
    pub cached_ranges: u32,
    /// 1 when mapping changes are seen by an MMU notifier; 0 when the
    /// driver checks the page tables on every reuse instead.
    pub notifier: u32,
    /// Bytes pinned by the cache and by commands in flight.
    pub pinned_bytes: u64,
    /// Of those, bytes pinned by [`VGPU_IOCTL_PIN`].
    pub registered_bytes: u64,
    /// Data ranges found pinned already.
    pub hits: u64,
    /// Data ranges pinned anew.
    pub misses: u64,
    /// Pinnings dropped because their mapping changed.
    pub invalidations: u64,
    /// Pinnings dropped to make room.
    pub evictions: u64,
    /// Pins refused by the file's limit or `RLIMIT_MEMLOCK` (`ENOMEM`).
    pub refused: u64,
}

/// Argument of [`VGPU_IOCTL_WAIT`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitArgs {
    /// A `seq` from [`VGPU_IOCTL_SUBMIT`], not yet collected.
    pub seq: u64,
    /// Where to copy the response (up to `resp_capacity` bytes).
    pub resp_ptr: u64,
    /// Capacity of `resp_ptr`.
    pub resp_capacity: u32,
    /// Milliseconds to wait; 0 waits without limit (but not past device loss).
    pub timeout_ms: u32,
    /// Out: [`super::status::Status`] of the command.
    pub status: u32,
    /// Out: response length the device wrote (may exceed what was copied).
    pub resp_len: u32,
}

const _: () = assert!(core::mem::size_of::<InfoArgs>() == 192);
const _: () = assert!(core::mem::size_of::<SubmitArgs>() == 16);
const _: () = assert!(core::mem::size_of::<Command>() == 32);
const _: () = assert!(core::mem::size_of::<WaitArgs>() == 32);
const _: () = assert!(core::mem::size_of::<DataCommand>() == 64);
const _: () = assert!(core::mem::size_of::<DataInfo>() == 64);
const _: () = assert!(core::mem::size_of::<PinArgs>() == 16);
const _: () = assert!(core::mem::size_of::<PinInfo>() == 64);
