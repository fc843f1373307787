//! nvcc fixtures for warp-level operations (`warp.cu`): shuffles of every
//! mode and width, votes, match, redux, `__activemask` and `__syncwarp`,
//! with full, partial and divergent warps, optimised and `-G` builds.

mod nvcc;

use nvcc::*;

const BUILDS: [&str; 2] = ["warp.ptx", "warp.G.ptx"];

fn inputs(n: usize, seed: u64, modulo: u64) -> Vec<i32> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| (rng.next() % modulo) as i32 - (modulo / 2) as i32)
        .collect()
}

/// `f32` bits as the GPU's `mul.f32` leaves them (one canonical NaN).
fn c32(x: f32) -> u32 {
    if x.is_nan() {
        0x7FFF_FFFF
    } else {
        x.to_bits()
    }
}

#[test]
fn shuffles_of_every_mode_and_width() {
    for ptx in BUILDS {
        let n = 128;
        let mut v = inputs(n, 51, 1 << 20);
        v[3] = 0x7FC0_0001; // a NaN as float
        let o = Launch::new(ptx, "shuffles", 2, 64)
            .buf(bytes_i32(&v))
            .out(n * 12 * 4)
            .run();
        let got = o.i32s(1);
        for i in 0..n {
            let (base, lane) = (i & !31, i & 31);
            let at = |l: usize| v[base + l];
            let down = |o: usize, w: usize| {
                if lane % w + o < w {
                    at(lane + o)
                } else {
                    at(lane)
                }
            };
            let up = |o: usize, w: usize| {
                if lane % w >= o {
                    at(lane - o)
                } else {
                    at(lane)
                }
            };
            let fsrc = if lane + 4 < 32 {
                at(lane + 4)
            } else {
                at(lane)
            };
            let dsrc = at(lane ^ 1) as f64 * 1.5;
            let want = [
                at((lane * 3 + 1) & 31),
                down(3, 32),
                up(5, 32),
                at(lane ^ 6),
                at((lane & !7) + ((lane + 2) & 7)),
                down(1, 16),
                up(2, 4),
                at(lane ^ 3),
                c32(f32::from_bits(fsrc as u32) * 0.5) as i32,
                (dsrc * 2.0) as i32,
                at(31 - lane) ^ (31 - lane) as i32,
                at(8),
            ];
            assert_eq!(&got[i * 12..i * 12 + 12], &want, "{ptx} thread {i}");
        }
    }
}

#[test]
fn butterfly_sum_is_bit_exact() {
    for ptx in BUILDS {
        let n = 256;
        let mut rng = Rng(53);
        let v: Vec<f32> = (0..n).map(|_| rng.f32(1000.0)).collect();
        let o = Launch::new(ptx, "warp_sum", 2, 128)
            .buf(bytes_f32(&v))
            .out(n / 32 * 4)
            .run();
        for (w, g) in o.u32s(1).iter().enumerate() {
            let mut s: Vec<f32> = v[w * 32..w * 32 + 32].to_vec();
            for o in [16, 8, 4, 2, 1] {
                s = (0..32).map(|l| s[l] + s[l ^ o]).collect();
            }
            assert_eq!(*g, s[0].to_bits(), "{ptx} warp {w}");
        }
    }
}

#[test]
fn block_sum_through_shuffles_and_shared_memory() {
    for ptx in BUILDS {
        let n = 1000;
        let v = inputs(n, 57, 1 << 30);
        let o = Launch::new(ptx, "block_sum", 4, 256)
            .buf(bytes_i32(&v))
            .out(16)
            .arg(i32a(n as i32))
            .run();
        let want: Vec<i32> = (0..4)
            .map(|b| {
                v[(b * 256).min(n)..((b + 1) * 256).min(n)]
                    .iter()
                    .fold(0i32, |a, &x| a.wrapping_add(x))
            })
            .collect();
        assert_eq!(o.i32s(1), want, "{ptx}");
    }
}

#[test]
fn votes_match_and_redux() {
    for ptx in BUILDS {
        let n = 64;
        let mut v = inputs(n, 59, 200);
        v[5] = 42;
        v[40] = -5000; // warp 1 fails match_all
        let o = Launch::new(ptx, "votes", 1, 64)
            .buf(bytes_i32(&v))
            .out(n * 10 * 4)
            .run();
        let got = o.u32s(1);
        for i in 0..n {
            let (base, lane) = (i & !31, i & 31);
            let w = &v[base..base + 32];
            let ballot =
                |f: &dyn Fn(usize) -> bool| (0..32).fold(0u32, |m, l| m | (f(l) as u32) << l);
            let b = ballot(&|l| w[l] > 0);
            let r5 = if lane & 1 == 1 {
                ballot(&|l| l & 1 == 1 && w[l] > 0)
            } else {
                ballot(&|l| l & 1 == 0 && w[l] < 0)
            };
            let all_same = w.iter().all(|&x| x > -1000);
            let sum = w.iter().fold(0u32, |a, &x| a.wrapping_add(x as u32));
            let max = *w.iter().max().expect("max") as u32;
            let min = w.iter().map(|&x| x as u32).min().expect("min");
            let or = w.iter().fold(0u32, |a, &x| a | x as u32);
            let want = [
                b,
                w.iter().all(|&x| x > -100) as u32,
                w.contains(&42) as u32,
                u32::MAX,
                b.count_ones() | (if b == 0 { 0 } else { b.trailing_zeros() + 1 }) << 8,
                r5,
                ballot(&|l| w[l] & 3 == w[lane] & 3),
                if all_same { u32::MAX } else { 0 },
                sum,
                max ^ min ^ or,
            ];
            assert_eq!(&got[i * 10..i * 10 + 10], &want, "{ptx} thread {i}");
        }
    }
}

#[test]
fn divergent_paths_meet_again() {
    for ptx in BUILDS {
        let n = 64;
        let v = inputs(n, 61, 64);
        let o = Launch::new(ptx, "divergent", 1, 64)
            .buf(bytes_i32(&v))
            .out(n * 16)
            .run();
        let got = o.u32s(1);
        let after: Vec<i32> = v
            .iter()
            .map(|&x| {
                if x & 1 != 0 {
                    x * 3
                } else {
                    let (mut x, mut k) = (x, 0);
                    while k < (x & 7) {
                        x += k;
                        k += 1;
                    }
                    x
                }
            })
            .collect();
        for i in 0..n {
            let (base, lane) = (i & !31, i & 31);
            let odd = v[i] & 1 != 0;
            let m = (0..32).fold(0u32, |m, l| {
                m | (((v[base + l] & 1 != 0) == odd) as u32) << l
            });
            let r2 = if lane < 16 {
                after[if lane + 1 < 16 { i + 1 } else { i }] as u32
            } else {
                (16..32).fold(0u32, |m, l| m | ((after[base + l] > 10) as u32) << l)
            };
            let want = [m, after[base + ((lane + 1) & 31)] as u32, r2, u32::MAX];
            assert_eq!(&got[i * 4..i * 4 + 4], &want, "{ptx} thread {i}");
        }
    }
}

#[test]
fn a_partial_warp_shuffles_among_its_lanes() {
    for ptx in BUILDS {
        let n = 48;
        let v = inputs(n, 67, 1000);
        let o = Launch::new(ptx, "partial_warp", 1, n as u32)
            .buf(bytes_i32(&v))
            .out(n * 12)
            .run();
        let got = o.i32s(1);
        for w in 0..2 {
            let lanes = if w == 0 { 32 } else { 16 };
            let mask = if w == 0 { u32::MAX } else { 0xFFFF };
            let mut s: Vec<i32> = v[w * 32..w * 32 + lanes].to_vec();
            for o in [16, 8, 4, 2, 1] {
                s = (0..lanes)
                    .map(|l| if l + o < lanes { s[l] + s[l + o] } else { s[l] })
                    .collect();
            }
            for (l, sum) in s.iter().enumerate() {
                let i = w * 32 + l;
                let want = [mask as i32, *sum, v[w * 32]];
                assert_eq!(&got[i * 3..i * 3 + 3], &want, "{ptx} thread {i}");
            }
        }
    }
}

#[test]
fn exited_lanes_leave_the_warp() {
    for ptx in BUILDS {
        let n = 64;
        let v = inputs(n, 71, 60);
        let o = Launch::new(ptx, "exited_lanes", 1, 64)
            .buf(bytes_i32(&v))
            .buf(vec![0xEE; n * 8])
            .run();
        let got = o.u32s(1);
        for i in 0..n {
            let base = i & !31;
            let live = (0..32).fold(0u32, |m, l| m | ((v[base + l] >= 0) as u32) << l);
            let big = (0..32).fold(0u32, |m, l| m | ((v[base + l] > 10) as u32) << l);
            let want = if v[i] < 0 {
                [0xEEEE_EEEE; 2]
            } else {
                [live, big]
            };
            assert_eq!(&got[i * 2..i * 2 + 2], &want, "{ptx} thread {i}");
        }
    }
}
