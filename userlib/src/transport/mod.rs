//! How guest libraries reach the device.
mod dev;

pub use dev::{Completion, DevError, VgpuFile};
