//! `vgpu-host`: the host-side model of the VGPU-STUB PCI device.
//!
//! QEMU's `vfio-user-pci` connects to [`vfio::serve`], which forwards every
//! message to a [`device::Device`]: PCI config space, the BAR0 register
//! file, guest RAM mappings and interrupt eventfds. Each enabled queue is
//! served by a worker thread that runs commands through an
//! [`executor::Executor`] (today the simulator).

pub mod cancel;
pub mod config;
pub mod config_space;
pub mod cuda;
pub mod device;
pub mod direct;
pub mod executor;
pub mod guest_memory;
pub mod heartbeat;
pub mod irq;
pub mod ptx;
pub mod queue;
pub mod regs;
pub mod shared;
pub mod vfio;
