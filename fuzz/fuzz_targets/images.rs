//! cargo-fuzz target: see `vgpu_fuzz::images`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vgpu_fuzz::images::run(data));
