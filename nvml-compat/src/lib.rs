// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! `libnvidia-ml.so.1` for vgpu guests: NVML on the devices `/dev/vgpuN`
//! (or, by explicit configuration, the `vgpu-host` socket), with the
//! identity libcuda reports (name, UUID, PCI bus id, memory, compute
//! capability, driver versions).
//!
//! - [`exports`]: the one declaration list of every `nvml*` symbol of
//!   `nvml.h` (API 13), implemented or a `NOT_SUPPORTED` stub.
//! - `ffi`: the C side by area (system, device identity, memory,
//!   processes, fixed modes).
//! - [`api`]: the Rust API (what `vgpu-smi` uses).
//! - [`state`]: reference-counted init, static handle slots, one
//!   connection per device while initialised, fork safety.
//! - [`types`]: NVML's C structs and return codes.
//!
//! Set `VGPU_LOG` (an `EnvFilter` directive, e.g. `debug`) to get
//! diagnostics on stderr; by default the library prints nothing.
pub mod api;
pub mod exports;
mod ffi;
pub mod state;
pub mod types;

pub use ffi::device::pci_info;
pub use ffi::nvmlDevice_t;

#[cfg(test)]
mod tests;
