//! Guest userspace of vgpu.
//!
//! Today: the transport to `/dev/vgpuN` (open, identity, submit, wait), used
//! by the guest tests and, next, by `libcuda.so.1` and `libnvidia-ml.so.1`.
pub mod transport;
