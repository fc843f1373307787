//! Throughput of the PTX interpreter on a 1M-element vector add. Run with
//! `cargo test --release -p vgpu-host --test ptx_perf -- --nocapture` for a
//! meaningful figure; debug builds use a smaller vector.

use std::time::Instant;

mod common;

use common::ptx::{cfg1, module, VECADD};
use vgpu_host::ptx::{launch, DeviceMemory, FlatMemory};

#[test]
fn vecadd_throughput() {
    let n: usize = if cfg!(debug_assertions) {
        1 << 16
    } else {
        1 << 20
    };
    let m = module(&[VECADD]);
    let k = m.kernel("_Z6vecaddPKfS0_Pfi").unwrap();
    let a: Vec<u8> = (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let b: Vec<u8> = (0..n)
        .flat_map(|i| (0.5 * i as f32).to_le_bytes())
        .collect();
    let mut mem = FlatMemory::new(0x10_0000);
    let (da, db, dc) = (
        mem.alloc_bytes(&a),
        mem.alloc_bytes(&b),
        mem.alloc(n * 4, 256),
    );
    let mut p = Vec::new();
    for v in [da, db, dc] {
        p.extend_from_slice(&v.to_le_bytes());
    }
    p.extend_from_slice(&(n as u32).to_le_bytes());
    let cfg = cfg1((n as u32).div_ceil(256), 256);
    let t = Instant::now();
    launch(k, &m, &p, &|_| None, &cfg, &mut mem).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "vecadd: {n} elements in {:.3} s = {:.1} M elements/s",
        secs,
        n as f64 / secs / 1e6
    );
    let mut out = vec![0u8; n * 4];
    mem.read(dc, &mut out).unwrap();
    for (i, c) in out.chunks(4).enumerate() {
        assert_eq!(
            f32::from_le_bytes(c.try_into().unwrap()),
            i as f32 + 0.5 * i as f32
        );
    }
}
