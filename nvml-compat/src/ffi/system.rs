// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Init, shutdown and system queries.

use std::ffi::{c_char, c_int, c_uint, c_void};

use super::{nvmlDevice_t, put, put_str};
use crate::{
    api,
    types::{nvmlReturn_t, ret, Error, Result, NVML_INIT_FLAG_NO_ATTACH, NVML_INIT_FLAG_NO_GPUS},
};

pub(crate) fn init() -> Result {
    api::init()
}

pub(crate) fn init_with_flags(flags: c_uint) -> Result {
    if flags & !(NVML_INIT_FLAG_NO_GPUS | NVML_INIT_FLAG_NO_ATTACH) != 0 {
        return Err(Error(ret::INVALID_ARGUMENT));
    }
    api::init_with_flags(flags).map_err(|f| f.code)
}

pub(crate) fn shutdown() -> Result {
    api::shutdown()
}

pub(crate) unsafe fn get_driver_version(buf: *mut c_char, len: c_uint) -> Result {
    let v = api::driver_version()?;
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &v) }
}

pub(crate) unsafe fn get_nvml_version(buf: *mut c_char, len: c_uint) -> Result {
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &api::nvml_version()) }
}

pub(crate) unsafe fn get_cuda_driver_version(v: *mut c_int) -> Result {
    let n = api::cuda_driver_version()?;
    // SAFETY: the caller's out-pointer.
    unsafe { put(v, n) }
}

pub(crate) unsafe fn get_process_name(pid: c_uint, buf: *mut c_char, len: c_uint) -> Result {
    crate::state::with_init(|_| Ok(()))?;
    super::nonnull(buf)?;
    if len == 0 {
        return Err(Error(ret::INVALID_ARGUMENT));
    }
    let mut name = api::process_name(pid)?;
    // NVML truncates process names to the buffer.
    while name.len() >= len as usize {
        name.pop();
    }
    // SAFETY: the caller's buffer of `len` bytes.
    unsafe { put_str(buf, len, &name) }
}

/// The export-table id nvidia-smi asks for.
pub(crate) const EXPORT_TABLE_ID: [u8; 16] = [
    0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e, 0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7, 0xc4,
];

/// Slots in [`SMI_TABLE`] (the first word is the table's size in bytes).
pub(crate) const SMI_TABLE_SLOTS: usize = 512;
/// The first of the three slots nvidia-smi lists a device's processes
/// through: compute, then the two other kinds (graphics and MPS), each
/// with the same signature. Its process table calls all three and shows
/// nothing unless all succeed; `--query-compute-apps` calls the first.
/// The same slots in NVIDIA's 535, 550 and 555 libraries, whose tables
/// only grew at the end (1960, 2008 and 2040 bytes).
pub(crate) const SMI_PROCESS_LIST_SLOT: usize = 213;

/// A process slot's function: `(device, *count in capacity / out entries,
/// entries)`, NVML's usual list contract.
pub(crate) type SmiProcessList =
    unsafe extern "C" fn(nvmlDevice_t, *mut c_uint, *mut SmiProcessEntry) -> nvmlReturn_t;

/// nvidia-smi's private export table: every slot empty but the process
/// lists. nvidia-smi checks each slot it calls against the size and for
/// NULL and then uses the public API or prints N/A, so an empty slot is
/// safe where a wrong function would not be.
#[repr(C, align(64))]
pub(crate) struct SmiTable {
    pub size: usize,
    pub before: [usize; SMI_PROCESS_LIST_SLOT - 1],
    pub process_lists: [Option<SmiProcessList>; 3],
    pub after: [usize; SMI_TABLE_SLOTS - SMI_PROCESS_LIST_SLOT - 3],
}

/// The table's size stops after the process lists: nvidia-smi takes slots
/// past the size as absent (as from an older library), while it treats
/// some slots that are there but empty as errors (535's process table
/// stays empty when one of the three lists is).
pub(crate) static SMI_TABLE: SmiTable = SmiTable {
    size: (SMI_PROCESS_LIST_SLOT + 3) * core::mem::size_of::<usize>(),
    before: [0; SMI_PROCESS_LIST_SLOT - 1],
    process_lists: [
        Some(smi_compute_processes),
        Some(smi_no_processes),
        Some(smi_no_processes),
    ],
    after: [0; SMI_TABLE_SLOTS - SMI_PROCESS_LIST_SLOT - 3],
};

const _: () = assert!(core::mem::size_of::<SmiTable>() == SMI_TABLE_SLOTS * 8);
const _: () = assert!(core::mem::offset_of!(SmiTable, process_lists) == SMI_PROCESS_LIST_SLOT * 8);

/// One entry of the process slots, as nvidia-smi allocates it (0x1020
/// bytes each). Found by filling fields and reading what 535's nvidia-smi
/// prints: the pid at 0, the memory in bytes at 8 (`u64::MAX`: N/A), the
/// name at 32; its process table leaves out entries without a name. The
/// word at 24 stays zero; the MIG instance ids are set as the public
/// `nvmlProcessInfo_t` sets them without MIG.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SmiProcessEntry {
    pub pid: c_uint,
    pub reserved0: c_uint,
    pub used_gpu_memory: u64,
    pub gpu_instance_id: c_uint,
    pub compute_instance_id: c_uint,
    pub reserved1: u64,
    pub name: [u8; SMI_NAME_LEN],
}

/// Bytes of [`SmiProcessEntry::name`], its NUL included.
pub(crate) const SMI_NAME_LEN: usize = 4096;

const _: () = assert!(core::mem::size_of::<SmiProcessEntry>() == 0x1020);
const _: () = assert!(core::mem::offset_of!(SmiProcessEntry, name) == 32);

fn smi_entry(p: &api::Process) -> SmiProcessEntry {
    let mut e = SmiProcessEntry {
        pid: p.pid,
        reserved0: 0,
        used_gpu_memory: p.used_memory,
        gpu_instance_id: u32::MAX,
        compute_instance_id: u32::MAX,
        reserved1: 0,
        name: [0; SMI_NAME_LEN],
    };
    // A process this one cannot name (another PID namespace) is "N/A":
    // nvidia-smi's table would leave it out without a name.
    let name = api::process_name(p.pid).unwrap_or_else(|_| "N/A".to_owned());
    let n = name.len().min(SMI_NAME_LEN - 1);
    e.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    e
}

/// Every vgpu client is a compute process.
unsafe extern "C" fn smi_compute_processes(
    h: nvmlDevice_t,
    count: *mut c_uint,
    entries: *mut SmiProcessEntry,
) -> nvmlReturn_t {
    crate::exports::guard("nvidia-smi's compute processes", || {
        // SAFETY: nvidia-smi's count and array of `*count` entries.
        unsafe { super::process::compute_with(h, count, entries, smi_entry) }
    })
}

/// Graphics and MPS: none.
unsafe extern "C" fn smi_no_processes(
    h: nvmlDevice_t,
    count: *mut c_uint,
    entries: *mut SmiProcessEntry,
) -> nvmlReturn_t {
    crate::exports::guard("nvidia-smi's other processes", || {
        // SAFETY: nvidia-smi's count and array of `*count` entries.
        unsafe { super::process::none_with(h, count, entries, smi_entry) }
    })
}

pub(crate) unsafe fn internal_get_export_table(
    pp: *mut *const c_void,
    id: *const c_void,
) -> Result {
    super::nonnull(pp)?;
    // SAFETY: the caller's out-pointer.
    unsafe { *pp = std::ptr::null() };
    super::nonnull(id)?;
    // SAFETY: an export-table id is 16 bytes.
    let id = unsafe { *id.cast::<[u8; 16]>() };
    if id != EXPORT_TABLE_ID {
        tracing::debug!("nvmlInternalGetExportTable: unknown id {id:02x?}");
        return Err(Error(ret::INVALID_ARGUMENT));
    }
    // SAFETY: as above.
    unsafe { *pp = (&raw const SMI_TABLE).cast() };
    Ok(())
}
