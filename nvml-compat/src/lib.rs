//! `libnvidia-ml.so.1` for vgpu guests.
//!
//! Not built yet: NVML arrives with the issue "NVML, vgpu-smi, and discovery
//! from any process". This crate holds the place in the workspace so the
//! layout matches the architecture guide; it exports nothing.
