//! cargo-fuzz target: see `vgpu_fuzz::rings`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vgpu_fuzz::rings::run(data));
