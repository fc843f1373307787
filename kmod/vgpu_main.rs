// SPDX-License-Identifier: GPL-2.0

//! vgpu: the guest driver of the VGPU-STUB PCI device (10de:2331 with the
//! vgpu subsystem ids).
//!
//! It binds the stub, checks its magic and ABI version, and gives every
//! process `/dev/vgpuN`: each open file is a client with a queue of its own on
//! the device, driven through the ioctls of `uapi::ioctl`. The device contract
//! lives in `uapi/` (included below by path) and `docs/device.md`.

use kernel::{
    driver::Registration,
    pci,
    prelude::*,
    InPlaceModule, //
};

// The contract shared with userspace and the device model. It is written for
// userspace too, so not every item is used here, and its items are `pub`.
#[allow(dead_code, unreachable_pub, missing_docs, unused_attributes)]
#[path = "../uapi/src/lib.rs"]
mod uapi;

mod client;
mod driver;
mod file;
mod helpers;
mod misc;
mod pincache;
mod pinwatch;
mod regs;
mod release;
mod ring;
mod shared;
mod slots;
mod submit;
mod userdma;
mod wire;

pub(crate) const MODULE_NAME: &CStr = <LocalModule as kernel::ModuleMetadata>::NAME;

#[pin_data]
struct VgpuModule {
    #[pin]
    _driver: Registration<pci::Adapter<driver::VgpuDriver>>,
}

impl InPlaceModule for VgpuModule {
    fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: module init runs once, and the driver registers below.
        unsafe { misc::init_file_operations(module) };
        let params = misc::NodeAccess::from_params();
        try_pin_init!(Self {
            _: { params?; },
            _driver <- Registration::new(MODULE_NAME, module),
        })
    }
}

module! {
    type: VgpuModule,
    name: "vgpu",
    authors: ["vgpu engineers"],
    description: "VGPU-STUB guest driver: /dev/vgpuN for CUDA and NVML in VMs",
    license: "GPL v2",
    // As NVIDIA's NVreg_DeviceFileGID/NVreg_DeviceFileMode: what the nodes
    // get without udev (install.sh sets them in /etc/modprobe.d/vgpu.conf).
    params: {
        device_file_gid: u32 {
            default: 0,
            description: "Group of /dev/vgpuN (default 0, root)",
        },
        device_file_mode: u32 {
            default: 0o600,
            description: "Mode of /dev/vgpuN, octal permission bits (default 0600)",
        },
    },
}
