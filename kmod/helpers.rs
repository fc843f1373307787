// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers of the C helpers in `vgpu_helpers.c` and of PCI calls the
//! 7.2 Rust `pci::Device` does not offer.

use kernel::{
    bindings,
    pci, //
};

unsafe extern "C" {
    /// `pci_domain_nr(pdev->bus)`.
    ///
    /// # Safety
    ///
    /// `pdev` points to a live `struct pci_dev` (declared `void *` here:
    /// bindgen's `pci_dev` holds a zero-sized field rustc calls FFI-unsafe).
    fn vgpu_pci_domain(pdev: *mut core::ffi::c_void) -> core::ffi::c_int;
    /// `dma_rmb()`. No preconditions.
    fn vgpu_dma_rmb();
    /// `dma_mb()`. No preconditions.
    fn vgpu_dma_mb();
}

/// The `struct pci_dev` behind `pdev`.
pub(crate) fn raw(pdev: &pci::Device) -> *mut bindings::pci_dev {
    // `pci::Device` is `#[repr(transparent)]` over `Opaque<struct pci_dev>`.
    core::ptr::from_ref(pdev)
        .cast::<bindings::pci_dev>()
        .cast_mut()
}

/// PCI domain number of `pdev`.
pub(crate) fn pci_domain(pdev: &pci::Device) -> u32 {
    // SAFETY: `pci::Device` is a transparent wrapper of a live `struct pci_dev`.
    let domain = unsafe { vgpu_pci_domain(raw(pdev).cast()) };
    // CAST: domain numbers are non-negative and below 2^16 (or 2^31 for VMD).
    domain as u32
}

/// Turns bus mastering off: the device can no longer reach guest memory.
/// Only call it while the driver is bound (probe, unbind, or under a
/// revocable BAR access, which proves that).
pub(crate) fn clear_master(pdev: &pci::Device) {
    // SAFETY: `pci::Device` is a transparent wrapper of a live `struct pci_dev`;
    // `pci_clear_master` only updates its command register and `is_busmaster`.
    unsafe { bindings::pci_clear_master(raw(pdev)) };
}

/// Orders loads of DMA-coherent memory before later loads.
pub(crate) fn dma_rmb() {
    // SAFETY: a barrier, no preconditions.
    unsafe { vgpu_dma_rmb() };
}

/// Orders DMA-coherent accesses before later ones, loads before stores included.
pub(crate) fn dma_mb() {
    // SAFETY: a barrier, no preconditions.
    unsafe { vgpu_dma_mb() };
}
