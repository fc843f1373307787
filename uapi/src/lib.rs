// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! The VGPU-STUB device contract, the one source of truth for every layer.
//!
//! Read by `vgpu-host` (the device model), `vgpu.ko` (which includes this
//! crate by path, so it must stay `no_std`, dependency-free and free of
//! `crate::` paths: modules refer to each other through `super::`), and the
//! guest libraries. `docs/device.md` describes the same contract in prose.
//!
//! Every structure that crosses a boundary is `#[repr(C)]`, made of fixed-width
//! integers only, has no implicit padding (checked at compile time), and is
//! little-endian on the wire (x86_64 guests and hosts).
#![no_std]

pub mod cmd;
pub mod ioctl;
pub mod pci;
pub mod regs;
pub mod ring;
pub mod status;
pub mod wire;

/// ABI major version: a device and a driver with different majors refuse each other.
pub const ABI_MAJOR: u16 = 1;
/// ABI minor version: additions only; a driver accepts any minor.
pub const ABI_MINOR: u16 = 0;
/// The packed form read from [`regs::ABI_VERSION`]: major in bits 31:16, minor in 15:0.
pub const ABI_VERSION: u32 = ((ABI_MAJOR as u32) << 16) | ABI_MINOR as u32;

/// Major part of a packed ABI version.
pub const fn abi_major(version: u32) -> u16 {
    (version >> 16) as u16
}
