// SPDX-License-Identifier: GPL-2.0

//! `/dev/vgpuN`: misc device registration.
//!
//! The Rust `MiscDeviceRegistration` leaves `file_operations.owner` unset, so
//! the module could be unloaded while a file is open (Rust-for-Linux#1182).
//! We register the same callbacks through a copy of its `file_operations`
//! with `owner` set, so the VFS pins the module while any file is open and
//! `rmmod` is refused instead of leaving dangling callbacks.

use crate::{
    client::Client,
    shared::Shared, //
};
use core::{
    cell::UnsafeCell,
    sync::atomic::{
        AtomicU32,
        Ordering, //
    },
};
use kernel::{
    bindings,
    error::to_result,
    miscdevice::{
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    prelude::*,
    sync::Arc,
    types::Opaque, //
};

/// Most VGPU-STUBs one guest may have.
const MAX_DEVICES: u32 = 16;

static NAMES: [&CStr; MAX_DEVICES as usize] = [
    c"vgpu0", c"vgpu1", c"vgpu2", c"vgpu3", c"vgpu4", c"vgpu5", c"vgpu6", c"vgpu7", c"vgpu8",
    c"vgpu9", c"vgpu10", c"vgpu11", c"vgpu12", c"vgpu13", c"vgpu14", c"vgpu15",
];

unsafe extern "C" {
    /// Sets the group of the devtmpfs node `name` (see `vgpu_helpers.c`).
    ///
    /// # Safety
    ///
    /// `name` is a NUL-terminated string.
    fn vgpu_devtmpfs_set_group(name: *const kernel::ffi::c_char, gid: u32) -> kernel::ffi::c_int;
}

/// Group and mode of the `/dev/vgpuN` nodes, from the module parameters.
#[derive(Clone, Copy)]
pub(crate) struct NodeAccess {
    gid: u32,
    mode: u16,
}

impl NodeAccess {
    /// The parameters, checked: a mode beyond the permission bits fails the load.
    pub(crate) fn from_params() -> Result<Self> {
        let gid = *crate::module_parameters::device_file_gid.value();
        let mode = *crate::module_parameters::device_file_mode.value();
        match u16::try_from(mode) {
            Ok(mode) if mode & !0o777 == 0 => Ok(Self { gid, mode }),
            _ => {
                pr_err!(
                    "device_file_mode={:#o}: only permission bits (0..=0777)\n",
                    mode
                );
                Err(EINVAL)
            }
        }
    }
}

/// Device indices in use, one bit each.
static INDICES_USED: AtomicU32 = AtomicU32::new(0);

/// The lowest free N of `/dev/vgpuN`, released on drop.
pub(crate) struct DeviceIndex(u32);

impl DeviceIndex {
    pub(crate) fn alloc() -> Result<Self> {
        let mut used = INDICES_USED.load(Ordering::Relaxed);
        loop {
            let index = (!used).trailing_zeros();
            if index >= MAX_DEVICES {
                return Err(ENOSPC);
            }
            match INDICES_USED.compare_exchange(
                used,
                used | (1 << index),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Self(index)),
                Err(now) => used = now,
            }
        }
    }

    pub(crate) fn get(&self) -> u32 {
        self.0
    }
}

impl Drop for DeviceIndex {
    fn drop(&mut self) {
        INDICES_USED.fetch_and(!(1 << self.0), Ordering::AcqRel);
    }
}

struct FileOperations(UnsafeCell<bindings::file_operations>);

// SAFETY: written once in module init, before any registration can read it,
// and only read afterwards.
unsafe impl Sync for FileOperations {}

static FILE_OPERATIONS: FileOperations = FileOperations(UnsafeCell::new(pin_init::zeroed()));

// The open shim casts `file->private_data` (our bare `struct miscdevice *`) to
// `&MiscDeviceRegistration<Client>`: sound only while that type stays a
// transparent wrapper of the C struct.
const _: () =
    assert!(size_of::<MiscDeviceRegistration<Client>>() == size_of::<bindings::miscdevice>());

/// Fills [`FILE_OPERATIONS`]: the Rust misc callbacks of [`Client`], owned by `module`.
///
/// # Safety
///
/// Called once, from module init, before the PCI driver registers (so
/// before any `MiscNode` can read [`FILE_OPERATIONS`]).
pub(crate) unsafe fn init_file_operations(module: &'static kernel::ThisModule) {
    let template = MiscDeviceOptions { name: c"vgpu" }.into_raw::<Client>();
    // SAFETY: by the caller's contract nothing reads `FILE_OPERATIONS` yet
    // and nobody else writes it; `template.fops` points to a static
    // `file_operations`.
    unsafe {
        let fops = FILE_OPERATIONS.0.get();
        core::ptr::copy_nonoverlapping(template.fops, fops, 1);
        (*fops).owner = module.as_ptr();
    }
}

/// A registered `/dev/vgpuN` and the device it opens.
#[pin_data(PinnedDrop)]
pub(crate) struct MiscNode {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    shared: Arc<Shared>,
    _index: DeviceIndex,
}

// SAFETY: the raw miscdevice is only touched by misc_register/deregister,
// which may run on any thread, and by the misc core under its own lock.
unsafe impl Send for MiscNode {}
// SAFETY: `&MiscNode` gives no access to the raw miscdevice; `shared` is `Sync`.
unsafe impl Sync for MiscNode {}

impl MiscNode {
    pub(crate) fn register(index: DeviceIndex, shared: Arc<Shared>) -> impl PinInit<Self, Error> {
        let name = NAMES.get(index.get() as usize).copied().unwrap_or(c"vgpu");
        // Checked at module init, which would have failed otherwise.
        let access = NodeAccess::from_params().unwrap_or(NodeAccess {
            gid: 0,
            mode: 0o600,
        });
        try_pin_init!(Self {
            shared,
            _index: index,
            misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut raw = MiscDeviceOptions { name }.into_raw::<Client>();
                raw.fops = FILE_OPERATIONS.0.get();
                // The misc core gives devtmpfs this mode (0 would mean 0600).
                raw.mode = access.mode;
                // SAFETY: `slot` is ours to initialise.
                unsafe { slot.write(raw) };
                // SAFETY: `slot` holds a valid miscdevice whose name and fops
                // are static. It stays pinned until `drop` deregisters it.
                // INVARIANT: on success `misc` is registered.
                to_result(unsafe { bindings::misc_register(slot) })?;
                if access.gid != 0 {
                    // SAFETY: `name` is a static C string.
                    let err = unsafe { vgpu_devtmpfs_set_group(name.as_char_ptr(), access.gid) };
                    // Not fatal: the node works, udev's rule may still apply.
                    if err != 0 {
                        pr_warn!("/dev/{}: group {} not set: error {}\n", name, access.gid, err);
                    }
                }
                Ok::<(), Error>(())
            }),
        })
    }

    /// The device state behind the node that `misc` (an open's argument) is.
    pub(crate) fn shared_of(misc: &MiscDeviceRegistration<Client>) -> Arc<Shared> {
        let ptr = misc.as_raw().cast::<Opaque<bindings::miscdevice>>();
        // SAFETY: every misc device with our file operations is the `misc`
        // field of a `MiscNode`. `open` runs under `misc_mtx`, which
        // `misc_deregister` (in our drop, before `shared` is dropped) also
        // takes, so the node is alive for this call.
        let node = unsafe { &*kernel::container_of!(ptr, MiscNode, misc) };
        node.shared.clone()
    }
}

#[pinned_drop]
impl PinnedDrop for MiscNode {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `misc` was registered (type invariant) and is deregistered once, here.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}
