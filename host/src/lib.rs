//! `vgpu-host`: the host-side model of the VGPU-STUB PCI device.
//!
//! QEMU's `vfio-user-pci` connects to [`vfio::serve`], which forwards every
//! message to a [`device::Device`]: PCI config space, the BAR0 register
//! file, guest RAM mappings and interrupt eventfds. Each enabled queue (and
//! each direct-socket connection) is one client, served by a worker process
//! of its own ([`worker`]) or, for tests, a worker thread; the worker runs the
//! client's [`session::Session`] on an [`executor::Executor`] (the simulator
//! or the host's GPU).

pub mod cancel;
pub mod check;
pub mod client_page;
pub mod config;
pub mod config_space;
pub mod cuda;
pub mod device;
pub mod direct;
pub mod executor;
pub mod fault;
pub mod guest_memory;
pub mod heartbeat;
pub mod irq;
pub mod ptx;
pub mod queue;
pub mod quota;
pub mod regs;
pub mod session;
pub mod shared;
pub mod unix_socket;
pub mod vfio;
pub mod worker;
