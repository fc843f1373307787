//! The VM test bed (`vm-runner`): starts `vgpu-host` processes (sim
//! executor), boots the guest kernel under QEMU (TCG) with one
//! `vfio-user-pci` device per host, runs the guest test program and
//! collects its results; and the same CUDA programs over the direct socket
//! without a VM.
//!
//! [`env`] reads the inputs `scripts/vm-env.sh` exports, [`gpu`] and
//! [`scenario`] say what each boot is ([`faults`]: the misbehaving
//! devices'), [`initramfs`] builds the guest's image, [`host`] and [`qemu`]
//! run one boot, [`socket`] the run without a VM, and [`report`] gathers
//! every result.

pub mod env;
pub mod faults;
pub mod gpu;
pub mod host;
pub mod initramfs;
pub mod load;
pub mod qemu;
pub mod report;
pub mod scenario;
pub mod socket;
