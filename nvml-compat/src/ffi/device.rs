// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Enumeration, handles and identity.

use std::ffi::{c_char, c_int, c_uint};

use super::{arg_str, dev, fill, nonnull, nvmlDevice_t, put, put_str};
use crate::{
    api::{self, Device},
    state::Identity,
    types::{
        nvmlPciInfoExt_t, nvmlPciInfo_t, nvmlPciInfo_v1_t, ret, Error, Result, NVML_PCI_INFO_EXT_V1,
    },
};

pub(crate) unsafe fn get_count(count: *mut c_uint) -> Result {
    let n = api::device_count()?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(count, n) }
}

unsafe fn out_handle(out: *mut nvmlDevice_t, d: Result<Device>) -> Result {
    nonnull(out)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, d?.handle()) }
}

pub(crate) unsafe fn get_handle_by_index(index: c_uint, out: *mut nvmlDevice_t) -> Result {
    // SAFETY: the caller's out-pointer.
    unsafe { out_handle(out, Device::by_index(index)) }
}

pub(crate) unsafe fn get_handle_by_uuid(uuid: *const c_char, out: *mut nvmlDevice_t) -> Result {
    crate::state::with_init(|_| Ok(()))?;
    // SAFETY: the caller's C string.
    let u = unsafe { arg_str(uuid) }?;
    // SAFETY: the caller's out-pointer.
    unsafe { out_handle(out, Device::by_uuid(u)) }
}

pub(crate) unsafe fn get_handle_by_pci_bus_id(
    bus: *const c_char,
    out: *mut nvmlDevice_t,
) -> Result {
    crate::state::with_init(|_| Ok(()))?;
    // SAFETY: the caller's C string.
    let b = unsafe { arg_str(bus) }?;
    // SAFETY: the caller's out-pointer.
    unsafe { out_handle(out, Device::by_pci_bus_id(b)) }
}

pub(crate) unsafe fn get_handle_by_serial(serial: *const c_char, out: *mut nvmlDevice_t) -> Result {
    crate::state::with_init(|_| Ok(()))?;
    // SAFETY: the caller's C string.
    let s = unsafe { arg_str(serial) }?;
    // SAFETY: the caller's out-pointer.
    unsafe { out_handle(out, Device::by_serial(s)) }
}

fn ident(h: nvmlDevice_t) -> Result<Identity> {
    dev(h)?.identity()
}

pub(crate) unsafe fn get_index(h: nvmlDevice_t, index: *mut c_uint) -> Result {
    let d = dev(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(index, d.index()) }
}

pub(crate) unsafe fn get_name(h: nvmlDevice_t, buf: *mut c_char, len: c_uint) -> Result {
    let i = ident(h)?;
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, i.name()) }
}

pub(crate) unsafe fn get_uuid(h: nvmlDevice_t, buf: *mut c_char, len: c_uint) -> Result {
    let i = ident(h)?;
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &i.uuid()) }
}

pub(crate) unsafe fn get_serial(h: nvmlDevice_t, buf: *mut c_char, len: c_uint) -> Result {
    let i = ident(h)?;
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &i.serial()) }
}

fn pci_ids() -> (u32, u32) {
    use uapi::pci::*;
    (
        u32::from(DEVICE_ID) << 16 | u32::from(VENDOR_ID),
        u32::from(SUBSYSTEM_DEVICE_ID) << 16 | u32::from(SUBSYSTEM_VENDOR_ID),
    )
}

/// The `nvmlPciInfo_t` of a device.
pub fn pci_info(i: &Identity) -> nvmlPciInfo_t {
    let (dev_id, sub_id) = pci_ids();
    let mut p = nvmlPciInfo_t {
        domain: i.pci.domain,
        bus: i.pci.bus,
        device: i.pci.device,
        pciDeviceId: dev_id,
        pciSubSystemId: sub_id,
        ..Default::default()
    };
    fill(&mut p.busIdLegacy, &i.bus_id_legacy());
    fill(&mut p.busId, &i.bus_id());
    p
}

/// `nvmlDeviceGetPciInfo_v3`.
pub(crate) unsafe fn get_pci_info_v3(h: nvmlDevice_t, out: *mut nvmlPciInfo_t) -> Result {
    let i = ident(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, pci_info(&i)) }
}

/// `nvmlDeviceGetPciInfo` and `_v2`: the older 52-byte struct.
pub(crate) unsafe fn get_pci_info_v1(h: nvmlDevice_t, out: *mut nvmlPciInfo_v1_t) -> Result {
    let i = ident(h)?;
    let p = pci_info(&i);
    let mut o = nvmlPciInfo_v1_t {
        domain: p.domain,
        bus: p.bus,
        device: p.device,
        pciDeviceId: p.pciDeviceId,
        pciSubSystemId: p.pciSubSystemId,
        ..Default::default()
    };
    fill(&mut o.busId, &i.bus_id_legacy());
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, o) }
}

pub(crate) unsafe fn get_pci_info_ext(h: nvmlDevice_t, out: *mut nvmlPciInfoExt_t) -> Result {
    let i = ident(h)?;
    nonnull(out)?;
    // SAFETY: non-null caller struct; `version` is its first field.
    if unsafe { (*out).version } != NVML_PCI_INFO_EXT_V1 {
        return Err(Error(ret::ARGUMENT_VERSION_MISMATCH));
    }
    let p = pci_info(&i);
    let class = uapi::pci::CLASS_CODE;
    let mut o = nvmlPciInfoExt_t {
        version: NVML_PCI_INFO_EXT_V1,
        domain: p.domain,
        bus: p.bus,
        device: p.device,
        pciDeviceId: p.pciDeviceId,
        pciSubSystemId: p.pciSubSystemId,
        baseClass: class >> 16 & 0xff,
        subClass: class >> 8 & 0xff,
        ..Default::default()
    };
    fill(&mut o.busId, &i.bus_id());
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, o) }
}

pub(crate) unsafe fn get_cuda_compute_capability(
    h: nvmlDevice_t,
    major: *mut c_int,
    minor: *mut c_int,
) -> Result {
    let (ma, mi) = ident(h)?.compute_capability();
    nonnull(major)?;
    nonnull(minor)?;
    // SAFETY: the caller's out-pointers.
    unsafe {
        put(major, ma as c_int)?;
        put(minor, mi as c_int)
    }
}

pub(crate) unsafe fn get_brand(h: nvmlDevice_t, out: *mut c_uint) -> Result {
    let i = ident(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, api::brand(i.name())) }
}

pub(crate) unsafe fn get_architecture(h: nvmlDevice_t, out: *mut c_uint) -> Result {
    let (ma, mi) = ident(h)?.compute_capability();
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, api::architecture(ma, mi)) }
}

pub(crate) unsafe fn get_minor_number(h: nvmlDevice_t, out: *mut c_uint) -> Result {
    let i = ident(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, i.minor) }
}

pub(crate) unsafe fn get_board_id(h: nvmlDevice_t, out: *mut c_uint) -> Result {
    let i = ident(h)?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(out, i.board_id()) }
}
