// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! NVML's C types, constants and return codes, as `nvml.h` (API version 13,
//! NVIDIA/go-nvml `gen/nvml/nvml.h`) defines them.
#![allow(non_camel_case_types, non_snake_case)]

use std::{
    ffi::{c_char, c_int, c_uint},
    fmt,
};

/// `nvmlReturn_t`.
pub type nvmlReturn_t = c_uint;

/// `nvmlReturn_t` values.
pub mod ret {
    pub const SUCCESS: u32 = 0;
    pub const UNINITIALIZED: u32 = 1;
    pub const INVALID_ARGUMENT: u32 = 2;
    pub const NOT_SUPPORTED: u32 = 3;
    pub const NO_PERMISSION: u32 = 4;
    pub const ALREADY_INITIALIZED: u32 = 5;
    pub const NOT_FOUND: u32 = 6;
    pub const INSUFFICIENT_SIZE: u32 = 7;
    pub const INSUFFICIENT_POWER: u32 = 8;
    pub const DRIVER_NOT_LOADED: u32 = 9;
    pub const TIMEOUT: u32 = 10;
    pub const IRQ_ISSUE: u32 = 11;
    pub const LIBRARY_NOT_FOUND: u32 = 12;
    pub const FUNCTION_NOT_FOUND: u32 = 13;
    pub const CORRUPTED_INFOROM: u32 = 14;
    pub const GPU_IS_LOST: u32 = 15;
    pub const RESET_REQUIRED: u32 = 16;
    pub const OPERATING_SYSTEM: u32 = 17;
    pub const LIB_RM_VERSION_MISMATCH: u32 = 18;
    pub const IN_USE: u32 = 19;
    pub const MEMORY: u32 = 20;
    pub const NO_DATA: u32 = 21;
    pub const VGPU_ECC_NOT_SUPPORTED: u32 = 22;
    pub const INSUFFICIENT_RESOURCES: u32 = 23;
    pub const FREQ_NOT_SUPPORTED: u32 = 24;
    pub const ARGUMENT_VERSION_MISMATCH: u32 = 25;
    pub const DEPRECATED: u32 = 26;
    pub const NOT_READY: u32 = 27;
    pub const GPU_NOT_FOUND: u32 = 28;
    pub const INVALID_STATE: u32 = 29;
    pub const RESET_TYPE_NOT_SUPPORTED: u32 = 30;
    pub const UNKNOWN: u32 = 999;
}

/// The text of a return code, NUL-terminated (what `nvmlErrorString` returns).
pub fn error_cstr(code: u32) -> &'static [u8] {
    match code {
        ret::SUCCESS => b"Success\0",
        ret::UNINITIALIZED => b"Uninitialized\0",
        ret::INVALID_ARGUMENT => b"Invalid Argument\0",
        ret::NOT_SUPPORTED => b"Not Supported\0",
        ret::NO_PERMISSION => b"Insufficient Permissions\0",
        ret::ALREADY_INITIALIZED => b"Already Initialized\0",
        ret::NOT_FOUND => b"Not Found\0",
        ret::INSUFFICIENT_SIZE => b"Insufficient Size\0",
        ret::INSUFFICIENT_POWER => b"Insufficient External Power\0",
        ret::DRIVER_NOT_LOADED => b"Driver Not Loaded\0",
        ret::TIMEOUT => b"Timeout\0",
        ret::IRQ_ISSUE => b"Interrupt Request Issue\0",
        ret::LIBRARY_NOT_FOUND => b"NVML Shared Library Not Found\0",
        ret::FUNCTION_NOT_FOUND => b"Function Not Found\0",
        ret::CORRUPTED_INFOROM => b"Corrupted infoROM\0",
        ret::GPU_IS_LOST => b"GPU is lost\0",
        ret::RESET_REQUIRED => b"GPU requires restart\0",
        ret::OPERATING_SYSTEM => b"The operating system has blocked the request.\0",
        ret::LIB_RM_VERSION_MISMATCH => b"RM has detected an NVML/RM version mismatch.\0",
        ret::IN_USE => b"In use by another client\0",
        ret::MEMORY => b"Insufficient Memory\0",
        ret::NO_DATA => b"No data\0",
        ret::VGPU_ECC_NOT_SUPPORTED => {
            b"The requested vgpu operation is not available on target device, because ECC is enabled\0"
        }
        ret::INSUFFICIENT_RESOURCES => b"Insufficient resources\0",
        ret::FREQ_NOT_SUPPORTED => b"Frequency not supported\0",
        ret::ARGUMENT_VERSION_MISMATCH => b"Argument version mismatch\0",
        ret::DEPRECATED => b"Deprecated\0",
        ret::NOT_READY => b"Not ready\0",
        ret::GPU_NOT_FOUND => b"GPU not found\0",
        ret::INVALID_STATE => b"Invalid state\0",
        ret::RESET_TYPE_NOT_SUPPORTED => b"Reset type not supported\0",
        _ => b"Unknown Error\0",
    }
}

/// The text of a return code.
pub fn error_string(code: u32) -> &'static str {
    let b = error_cstr(code);
    std::str::from_utf8(&b[..b.len() - 1]).unwrap_or("Unknown Error")
}

/// An NVML error: a non-success `nvmlReturn_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error(pub u32);

impl From<Error> for u32 {
    fn from(e: Error) -> u32 {
        e.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", error_string(self.0), self.0)
    }
}

impl std::error::Error for Error {}

/// Result of the Rust API.
pub type Result<T = ()> = core::result::Result<T, Error>;

/// `NVML_STRUCT_VERSION(data, ver)`: `sizeof | ver << 24`.
pub const fn struct_version<T>(ver: u32) -> u32 {
    core::mem::size_of::<T>() as u32 | (ver << 24)
}

// --- buffer sizes -----------------------------------------------------------

pub const NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE: usize = 32;
pub const NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE: usize = 16;
pub const NVML_DEVICE_UUID_BUFFER_SIZE: usize = 80;
pub const NVML_DEVICE_UUID_V2_BUFFER_SIZE: usize = 96;
pub const NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE: usize = 80;
pub const NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE: usize = 80;
pub const NVML_DEVICE_NAME_BUFFER_SIZE: usize = 64;
pub const NVML_DEVICE_NAME_V2_BUFFER_SIZE: usize = 96;
pub const NVML_DEVICE_SERIAL_BUFFER_SIZE: usize = 30;
/// `NVML_API_VERSION_STR`.
pub const NVML_API_VERSION_STR: &str = "13";

/// `nvmlInitWithFlags` flag: initialise even when there is no GPU.
pub const NVML_INIT_FLAG_NO_GPUS: u32 = 1;
/// `nvmlInitWithFlags` flag: do not attach GPUs.
pub const NVML_INIT_FLAG_NO_ATTACH: u32 = 2;

/// `NVML_VALUE_NOT_AVAILABLE` (an `unsigned long long` of all ones).
pub const NVML_VALUE_NOT_AVAILABLE: u64 = u64::MAX;

/// `nvmlEnableState_t`.
pub const NVML_FEATURE_DISABLED: c_uint = 0;
/// `NVML_COMPUTEMODE_DEFAULT`.
pub const NVML_COMPUTEMODE_DEFAULT: c_uint = 0;

/// `nvmlBrandType_t` values used.
pub mod brand {
    pub const UNKNOWN: u32 = 0;
    pub const QUADRO: u32 = 1;
    pub const TESLA: u32 = 2;
    pub const GEFORCE: u32 = 5;
    pub const TITAN: u32 = 6;
    pub const NVIDIA_RTX: u32 = 13;
    pub const NVIDIA: u32 = 14;
}

/// `nvmlDeviceArchitecture_t` values.
pub mod arch {
    pub const KEPLER: u32 = 2;
    pub const MAXWELL: u32 = 3;
    pub const PASCAL: u32 = 4;
    pub const VOLTA: u32 = 5;
    pub const TURING: u32 = 6;
    pub const AMPERE: u32 = 7;
    pub const ADA: u32 = 8;
    pub const HOPPER: u32 = 9;
    pub const BLACKWELL: u32 = 10;
    pub const RUBIN: u32 = 13;
    pub const UNKNOWN: u32 = 0xffff_ffff;
}

// --- structs ----------------------------------------------------------------

/// `nvmlPciInfo_t` (used by `nvmlDeviceGetPciInfo_v3`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlPciInfo_t {
    pub busIdLegacy: [c_char; NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE],
    pub domain: c_uint,
    pub bus: c_uint,
    pub device: c_uint,
    pub pciDeviceId: c_uint,
    pub pciSubSystemId: c_uint,
    pub busId: [c_char; NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE],
}

/// The pre-NVML-10 `nvmlPciInfo_t` that callers of `nvmlDeviceGetPciInfo`
/// and `_v2` were built with: `busId[16]` ("%04X:%02X:%02X.0"), the ids,
/// four reserved words. Writing the 68-byte v3 struct into it would overrun.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlPciInfo_v1_t {
    pub busId: [c_char; NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE],
    pub domain: c_uint,
    pub bus: c_uint,
    pub device: c_uint,
    pub pciDeviceId: c_uint,
    pub pciSubSystemId: c_uint,
    pub reserved: [c_uint; 4],
}

/// `nvmlPciInfoExt_v1_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlPciInfoExt_t {
    pub version: c_uint,
    pub domain: c_uint,
    pub bus: c_uint,
    pub device: c_uint,
    pub pciDeviceId: c_uint,
    pub pciSubSystemId: c_uint,
    pub baseClass: c_uint,
    pub subClass: c_uint,
    pub busId: [c_char; NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE],
}

/// `nvmlMemory_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlMemory_t {
    pub total: u64,
    pub free: u64,
    pub used: u64,
}

/// `nvmlMemory_v2_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlMemory_v2_t {
    pub version: c_uint,
    pub total: u64,
    pub reserved: u64,
    pub free: u64,
    pub used: u64,
}

/// `nvmlUtilization_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlUtilization_t {
    pub gpu: c_uint,
    pub memory: c_uint,
}

/// `nvmlProcessInfo_v1_t` (plain `Get*RunningProcesses`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlProcessInfo_v1_t {
    pub pid: c_uint,
    pub usedGpuMemory: u64,
}

/// `nvmlProcessInfo_v2_t` = `nvmlProcessInfo_t` (`_v2` and `_v3`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlProcessInfo_t {
    pub pid: c_uint,
    pub usedGpuMemory: u64,
    pub gpuInstanceId: c_uint,
    pub computeInstanceId: c_uint,
}

/// `nvmlTemperature_v1_t` (for the layout check only: always NOT_SUPPORTED).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct nvmlTemperature_t {
    pub version: c_uint,
    pub sensorType: c_uint,
    pub temperature: c_int,
}

/// `nvmlMemory_v2`.
pub const NVML_MEMORY_V2: u32 = struct_version::<nvmlMemory_v2_t>(2);
/// `nvmlPciInfoExt_v1`.
pub const NVML_PCI_INFO_EXT_V1: u32 = struct_version::<nvmlPciInfoExt_t>(1);

const _: () = assert!(core::mem::size_of::<nvmlPciInfo_t>() == 68);
const _: () = assert!(core::mem::size_of::<nvmlPciInfo_v1_t>() == 52);
const _: () = assert!(core::mem::size_of::<nvmlPciInfoExt_t>() == 64);
const _: () = assert!(core::mem::size_of::<nvmlMemory_t>() == 24);
const _: () = assert!(core::mem::size_of::<nvmlMemory_v2_t>() == 40);
const _: () = assert!(core::mem::size_of::<nvmlProcessInfo_v1_t>() == 16);
const _: () = assert!(core::mem::size_of::<nvmlProcessInfo_t>() == 24);
const _: () = assert!(core::mem::size_of::<nvmlUtilization_t>() == 8);
const _: () = assert!(core::mem::size_of::<nvmlTemperature_t>() == 12);
const _: () = assert!(NVML_MEMORY_V2 == 0x0200_0028);

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn layouts_match_nvml_h() {
        assert_eq!(offset_of!(nvmlPciInfo_t, domain), 16);
        assert_eq!(offset_of!(nvmlPciInfo_t, pciDeviceId), 28);
        assert_eq!(offset_of!(nvmlPciInfo_t, pciSubSystemId), 32);
        assert_eq!(offset_of!(nvmlPciInfo_t, busId), 36);
        assert_eq!(offset_of!(nvmlPciInfo_v1_t, reserved), 36);
        assert_eq!(offset_of!(nvmlPciInfoExt_t, busId), 32);
        assert_eq!(offset_of!(nvmlMemory_t, used), 16);
        assert_eq!(offset_of!(nvmlMemory_v2_t, total), 8);
        assert_eq!(offset_of!(nvmlMemory_v2_t, used), 32);
        assert_eq!(offset_of!(nvmlProcessInfo_v1_t, usedGpuMemory), 8);
        assert_eq!(offset_of!(nvmlProcessInfo_t, gpuInstanceId), 16);
        assert_eq!(offset_of!(nvmlProcessInfo_t, computeInstanceId), 20);
        assert_eq!(NVML_PCI_INFO_EXT_V1, 0x0100_0040);
    }

    #[test]
    fn every_code_has_a_string() {
        for c in 1..=30 {
            assert_ne!(error_string(c), "Unknown Error", "code {c}");
            assert!(error_cstr(c).ends_with(b"\0"));
        }
        assert_eq!(error_string(0), "Success");
        assert_eq!(error_string(999), "Unknown Error");
        assert_eq!(error_string(12345), "Unknown Error");
        assert_eq!(Error(3).to_string(), "Not Supported (3)");
    }
}
