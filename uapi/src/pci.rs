// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! PCI identity of a VGPU-STUB.
//!
//! Vendor and device ids are those of an H100 PCIe (10de:2331), so that tools
//! looking for an NVIDIA GPU find one. The subsystem ids are what mark the
//! function as a stub: a real passed-through H100 never carries them, and the
//! driver refuses any 10de:2331 without them.

/// PCI vendor id (NVIDIA).
pub const VENDOR_ID: u16 = 0x10de;
/// PCI device id (GH100 PCIe).
pub const DEVICE_ID: u16 = 0x2331;
/// Subsystem vendor id of a VGPU-STUB.
pub const SUBSYSTEM_VENDOR_ID: u16 = 0x10de;
/// Subsystem device id of a VGPU-STUB ("VG").
pub const SUBSYSTEM_DEVICE_ID: u16 = 0x5647;
/// Class code: display controller, 3D controller, programming interface 0.
pub const CLASS_CODE: u32 = 0x03_02_00;
/// Revision id.
pub const REVISION_ID: u8 = 0xa1;

/// BAR holding the register file.
pub const REGS_BAR: u32 = 0;
/// Size of BAR0 in bytes (a power of two, as PCI requires).
pub const REGS_BAR_SIZE: u64 = 0x4000;

/// Number of interrupt vectors the device offers (MSI, multiple message).
/// Queues name the vector they complete on; the driver may use one for all.
pub const NUM_IRQ_VECTORS: u32 = 1;
