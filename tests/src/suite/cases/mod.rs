//! The cases, by area; each is a `Suite` method listed in `CASES`.

mod errors;
mod graphs;
mod kernels;
mod memory;
mod pinned;
mod streams;
mod vmm;

pub use graphs::{KernelNodeParams, MemsetNodeParams, UpdateInfo};
pub use pinned::PINNED_CASE_BYTES;
pub use vmm::{AccessDesc, AllocationProp};
