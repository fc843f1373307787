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
pub mod cuda;
pub mod ioctl;
pub mod pci;
pub mod regs;
pub mod ring;
pub mod shm;
pub mod socket;
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

#[cfg(test)]
mod tests {
    use super::cmd::{field_str, fill_str, Opcode};
    use super::ioctl;
    use super::status::{QueueError, Status};

    #[test]
    fn ioctl_numbers_use_the_linux_encoding() {
        // _IOR('V', 0, 192 bytes) and _IOWR('V', 1/2, 16/32 bytes) as Linux computes them.
        assert_eq!(ioctl::VGPU_IOCTL_GET_INFO, 0x80c0_5600);
        assert_eq!(ioctl::VGPU_IOCTL_SUBMIT, 0xc010_5601);
        assert_eq!(ioctl::VGPU_IOCTL_WAIT, 0xc020_5602);
        assert_eq!(ioctl::VGPU_IOCTL_SUBMIT_DATA, 0xc010_5603);
        assert_eq!(ioctl::VGPU_IOCTL_DATA_INFO, 0x8040_5604);
    }

    #[test]
    fn wire_codes_round_trip() {
        for v in 0..32 {
            if let Some(s) = Status::from_u32(v) {
                assert_eq!(s as u32, v);
            }
            if let Some(e) = QueueError::from_u32(v) {
                assert_eq!(e as u32, v);
            }
            if let Some(o) = Opcode::from_u16(v as u16) {
                assert_eq!(o as u16, v as u16);
            }
        }
        assert_eq!(Status::from_u32(10), None);
        assert_eq!(Opcode::from_u16(0), None);
        assert_eq!(Opcode::from_u16(8), None);
    }

    #[test]
    fn fixed_strings_keep_a_nul_and_whole_characters() {
        let mut f = [0xffu8; 8];
        fill_str(&mut f, "abc");
        assert_eq!(&f, b"abc\0\0\0\0\0");
        assert_eq!(field_str(&f), Some("abc"));
        // Seven bytes fit; the eighth stays NUL.
        fill_str(&mut f, "abcdefghij");
        assert_eq!(field_str(&f), Some("abcdefg"));
        // "ü" is two bytes: cut before it rather than through it.
        fill_str(&mut f, "abcdefü");
        assert_eq!(field_str(&f), Some("abcdef"));
        assert_eq!(field_str(&[0xc3, 0x28, 0]), None);
    }
}
