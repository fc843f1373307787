//! The cases, by area; each is a `Suite` method listed in `CASES`.

mod errors;
mod graphs;
mod host_nodes;
mod kernels;
mod memory;
mod pinned;
mod streams;
mod vmm;

pub use graphs::{KernelNodeParams, MemsetNodeParams, UpdateInfo};
pub use host_nodes::HostNodeParams;
pub use pinned::PINNED_CASE_BYTES;
pub use vmm::{AccessDesc, AllocationProp};
