//! cargo-fuzz target: see `vgpu_fuzz::vfio_framing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vgpu_fuzz::vfio_framing::run(data));
