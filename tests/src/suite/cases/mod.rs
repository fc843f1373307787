//! The cases, by area; each is a `Suite` method listed in `CASES`.

mod errors;
mod kernels;
mod memory;
mod streams;
mod vmm;

pub use vmm::{AccessDesc, AllocationProp};
