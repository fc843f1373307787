//! cargo-fuzz target: see `vgpu_fuzz::vfio`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vgpu_fuzz::vfio::run(data));
