//! nvcc fixtures for cooperation between threads (`shared.cu`,
//! `atomics.cu`, `warp.cu`): shared memory and barriers, atomics, warp
//! shuffles, votes and divergence.

mod nvcc;

use nvcc::*;

#[test]
fn tree_reduction_in_dynamic_shared_memory() {
    for ptx in ["shared.ptx", "shared.lineinfo.ptx"] {
        let (n, block) = (5000usize, 256usize);
        let grid = n.div_ceil(2 * block);
        let mut rng = Rng(41);
        let input: Vec<f32> = (0..n).map(|_| rng.f32(10.0)).collect();
        let mut l = Launch::new(ptx, "reduce_dynamic", grid as u32, block as u32)
            .buf(bytes_f32(&input))
            .out(grid * 4)
            .arg(i32a(n as i32));
        l.shared = (block * 4) as u32;
        let got = l.run().u32s(1);
        for (b, g) in got.iter().enumerate() {
            let mut s: Vec<f32> = (0..block)
                .map(|t| {
                    let i = b * block * 2 + t;
                    let v = input.get(i).copied().unwrap_or(0.0);
                    input.get(i + block).map_or(v, |w| v + w)
                })
                .collect();
            let mut half = block / 2;
            while half > 0 {
                for t in 0..half {
                    s[t] += s[t + half];
                }
                half /= 2;
            }
            assert_eq!(*g, s[0].to_bits(), "{ptx} block {b}");
        }
    }
}

#[test]
fn transpose_through_a_static_tile() {
    let (w, h) = (70usize, 45usize);
    let input: Vec<f32> = (0..w * h).map(|i| i as f32 * 0.5).collect();
    let mut l = Launch::new("shared.ptx", "transpose", 1, 1)
        .buf(bytes_f32(&input))
        .out(w * h * 4)
        .arg(i32a(w as i32))
        .arg(i32a(h as i32));
    l.grid = [w.div_ceil(32) as u32, h.div_ceil(32) as u32, 1];
    l.block = [32, 8, 1];
    let got = l.run().u32s(1);
    for r in 0..h {
        for c in 0..w {
            assert_eq!(got[c * h + r], input[r * w + c].to_bits(), "({r}, {c})");
        }
    }
}

#[test]
fn static_and_dynamic_shared_arrays_with_barriers() {
    let (block, grid, rounds) = (128usize, 2usize, 5);
    let mut l = Launch::new("shared.ptx", "shared_mixed", grid as u32, block as u32)
        .out(grid * block * 4)
        .arg(i32a(rounds));
    l.shared = (block * 4) as u32;
    let got = l.run().i32s(0);
    let mut dyn_: Vec<i32> = (0..block as i32).collect();
    for _ in 0..rounds {
        let left: Vec<i32> = (0..block).map(|t| dyn_[(t + block - 1) % block]).collect();
        dyn_ = (0..block).map(|t| left[t] + t as i32).collect();
    }
    let bytes: Vec<i32> = (0..100).map(|t| (t * 3) as u8 as i32).collect();
    let counts: Vec<i32> = (0..64).map(|t| dyn_[t] + bytes[(t * 7) % 100]).collect();
    let acc: Vec<i32> = (0..16).map(|t| (dyn_[t] as f64 * 0.5) as i32).collect();
    for b in 0..grid {
        for t in 0..block {
            let want = counts[(t + 1) % 64] + acc[t % 16] + dyn_[t];
            assert_eq!(got[b * block + t], want, "block {b} thread {t}");
        }
    }
}

#[test]
fn syncthreads_count_and_and_or() {
    let (block, grid) = (200usize, 3usize);
    let mut rng = Rng(43);
    let mut input: Vec<i32> = (0..block * grid)
        .map(|_| (rng.next() % 21) as i32 - 10)
        .collect();
    input[block + 5] = 7; // block 1 has a 7; block 2 none
    for v in &mut input[2 * block..] {
        *v = (*v).clamp(-4, 6);
    }
    let o = Launch::new(
        "shared.ptx",
        "barrier_reductions",
        grid as u32,
        block as u32,
    )
    .buf(bytes_i32(&input))
    .out(grid * 12)
    .run();
    let got = o.i32s(1);
    for b in 0..grid {
        let vs = &input[b * block..(b + 1) * block];
        let want = [
            vs.iter().filter(|&&v| v > 0).count() as i32,
            vs.iter().all(|&v| v > -5) as i32,
            vs.contains(&7) as i32,
        ];
        assert_eq!(&got[b * 3..b * 3 + 3], &want, "block {b}");
    }
}

#[test]
fn global_atomics_of_every_kind() {
    let n = 1000usize;
    let mut init = vec![0u8; 96];
    let mut put = |off: usize, b: &[u8]| init[off..off + b.len()].copy_from_slice(b);
    put(12, &i32::MIN.to_le_bytes());
    put(16, &i32::MAX.to_le_bytes());
    put(24, &u32::MAX.to_le_bytes());
    put(28, &u32::MAX.to_le_bytes());
    put(48, &(-1i32).to_le_bytes());
    put(80, &i64::MAX.to_le_bytes());
    let o = Launch::new("atomics.ptx", "atomics_global", 4, 256)
        .buf(init)
        .out(n * 4)
        .out(n * 4)
        .arg(i32a(n as i32))
        .run();
    let g = &o.bufs[0];
    let u32at = |off: usize| u32::from_le_bytes(g[off..off + 4].try_into().expect("4"));
    let u64at = |off: usize| u64::from_le_bytes(g[off..off + 8].try_into().expect("8"));
    let v: Vec<i32> = (0..n as i32).map(|i| (i * 37) % 101 - 50).collect();
    assert_eq!(u32at(0) as i32, v.iter().sum::<i32>());
    assert_eq!(u32at(4), 2 * n as u32);
    let half_sum: f32 = (0..n).map(|i| 0.5 * (i % 8) as f32).sum();
    assert_eq!(f32::from_bits(u32at(8)), half_sum);
    assert_eq!(u32at(12) as i32, *v.iter().max().expect("max"));
    assert_eq!(u32at(16) as i32, *v.iter().min().expect("min"));
    assert_eq!(u32at(20), v.iter().map(|&x| x as u32).max().expect("umax"));
    assert_eq!(u32at(24), v.iter().map(|&x| x as u32).min().expect("umin"));
    assert_eq!(u32at(28), 0);
    assert_eq!(u32at(32), 0x1FFF_FFFF);
    assert_eq!(u32at(36), (0..n as u32).fold(0, |a, i| a ^ i));
    assert_eq!(u32at(40), n as u32 % 17);
    let dec = (0..n).fold(0u32, |o, _| if o == 0 || o > 9 { 9 } else { o - 1 });
    assert_eq!(u32at(44), dec);
    assert!((u32at(48) as usize) < n, "exchanged value");
    let wins = o.i32s(2).iter().filter(|&&w| w == 1).count() as u32;
    assert!(u32at(52) <= 4 && u32at(52) == wins, "CAS chain");
    let quarter_sum: f64 = (0..n).map(|i| 0.25 * (i % 5) as f64).sum();
    assert_eq!(f64::from_bits(u64at(56)), quarter_sum);
    let ull = (0..n as u64).fold(0u64, |a, i| a.wrapping_add(i << 33));
    assert_eq!(u64at(64), ull);
    let umax = v
        .iter()
        .map(|&x| (x as i64 as u64).wrapping_mul(0x1_0000_0001))
        .max();
    assert_eq!(Some(u64at(72)), umax);
    assert_eq!(
        u64at(80) as i64,
        v.iter().map(|&x| x as i64 * 3).min().expect("min")
    );
    assert_eq!(u64at(88), ((n as u64) << 32) + (0..n as u64).sum::<u64>());
    let mut tickets = o.u32s(1);
    tickets.sort_unstable();
    assert_eq!(tickets, (0..n as u32).map(|i| 2 * i).collect::<Vec<_>>());
}

#[test]
fn shared_atomics_and_cas_loops() {
    let (block, grid) = (128usize, 3usize);
    let mut rng = Rng(47);
    let input: Vec<i32> = (0..block * grid)
        .map(|_| (rng.next() % 1000) as i32)
        .collect();
    let o = Launch::new("atomics.ptx", "atomics_shared", grid as u32, block as u32)
        .buf(bytes_i32(&input))
        .out(grid * 21 * 4)
        .run();
    let got = o.i32s(1);
    for b in 0..grid {
        let vs = &input[b * block..(b + 1) * block];
        let mut want = [0i32; 21];
        for v in vs {
            want[(v & 15) as usize] += 1;
        }
        want[16] = vs.iter().map(|v| v & 3).sum();
        want[17] = *vs.iter().max().expect("max");
        want[18] = block as i32;
        want[19] = vs.iter().map(|v| v & 7).sum();
        want[20] = 1;
        assert_eq!(&got[b * 21..(b + 1) * 21], &want, "block {b}");
    }
}

#[test]
fn a_spin_lock_contended_within_warps() {
    let (block, grid) = (64u32, 2u32);
    let o = Launch::new("atomics.ptx", "spin_lock", grid, block)
        .out(4)
        .out(4)
        .run();
    assert_eq!(o.u32s(0), [0], "lock released");
    assert_eq!(
        o.u32s(1),
        [block * grid],
        "one increment per thread, none lost"
    );
}

#[test]
fn legacy_warp_synchronous_code_runs_in_lockstep() {
    let mut rng = Rng(73);
    let input: Vec<i32> = (0..96).map(|_| (rng.next() % 1000) as i32).collect();
    let o = Launch::new("shared.ptx", "warp_synchronous_sum", 3, 32)
        .buf(bytes_i32(&input))
        .out(12)
        .run();
    let want: Vec<i32> = input.chunks(32).map(|c| c.iter().sum()).collect();
    assert_eq!(o.i32s(1), want);
}
