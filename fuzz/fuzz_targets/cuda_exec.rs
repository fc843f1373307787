//! cargo-fuzz target: see `vgpu_fuzz::cuda`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vgpu_fuzz::cuda::run(data));
