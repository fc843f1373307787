//! End-to-end tests of the PTX interpreter with hand-written PTX in nvcc's
//! style (sm_90, PTX ISA 8.x, kernels in `host/tests/kernels/`), checked
//! bit-exactly against Rust references.

mod common;

use common::ptx::*;
use vgpu_host::ptx::{launch, FlatMemory, LaunchConfig, LaunchError};

#[test]
fn vecadd_matches_reference() {
    let m = module(&[VECADD]);
    let k = m.kernel("_Z6vecaddPKfS0_Pfi").unwrap();
    for &(n, block) in &[(1000usize, 256u32), (1, 32), (4096, 1024), (777, 96)] {
        let mut rng = Rng(n as u64 + 7);
        let a: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let mut mem = FlatMemory::new(0x10_0000);
        let (da, db) = (mem.alloc_bytes(&f32s(&a)), mem.alloc_bytes(&f32s(&b)));
        // One spare element past the end must stay untouched.
        let dc = mem.alloc_bytes(&f32s(&vec![-1.0; n + 1]));
        let p = pack(k, &[V::U64(da), V::U64(db), V::U64(dc), V::U32(n as u32)]);
        let grid = (n as u32).div_ceil(block);
        launch(k, &m, &p, &no_globals, &cfg1(grid, block), &mut mem).unwrap();
        let c = read_f32s(&mut mem, dc, n + 1);
        for i in 0..n {
            assert_eq!(c[i].to_bits(), (a[i] + b[i]).to_bits(), "element {i}");
        }
        assert_eq!(c[n], -1.0);
    }
}

#[test]
fn saxpy_uses_fused_multiply_add() {
    let m = module(&[SAXPY]);
    let k = m.kernel("_Z5saxpyifPKfPf").unwrap();
    let offs: Vec<u32> = k.params.iter().map(|p| p.offset).collect();
    assert_eq!(offs, [0, 4, 8, 16]);
    let n = 3000;
    let mut rng = Rng(3);
    let x: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
    let y: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
    let a = 1.000_123_4f32;
    let mut mem = FlatMemory::new(0x1000);
    let (dx, dy) = (mem.alloc_bytes(&f32s(&x)), mem.alloc_bytes(&f32s(&y)));
    let p = pack(k, &[V::U32(n as u32), V::F32(a), V::U64(dx), V::U64(dy)]);
    launch(k, &m, &p, &no_globals, &cfg1(12, 256), &mut mem).unwrap();
    let out = read_f32s(&mut mem, dy, n);
    let mut differs = false;
    for i in 0..n {
        let want = x[i].mul_add(a, y[i]);
        assert_eq!(out[i].to_bits(), want.to_bits(), "element {i}");
        differs |= want != a * x[i] + y[i];
    }
    assert!(differs, "test data should distinguish fma from mul+add");
}

fn reduce_reference(input: &[f32], block: usize, grid: usize) -> Vec<f32> {
    let n = input.len();
    (0..grid)
        .map(|b| {
            let mut s: Vec<f32> = (0..block)
                .map(|t| {
                    let i = b * block * 2 + t;
                    let mut v = 0.0f32;
                    if i < n {
                        v = input[i];
                    }
                    if i + block < n {
                        v += input[i + block];
                    }
                    v
                })
                .collect();
            let mut k = block / 2;
            while k > 0 {
                for t in 0..k {
                    s[t] += s[t + k];
                }
                k >>= 1;
            }
            s[0]
        })
        .collect()
}

#[test]
fn reduction_with_barriers_is_exact() {
    let m = module(&[REDUCE]);
    let k = m.kernel("_Z10reduce_sumPKfPfi").unwrap();
    for &(n, block) in &[
        (1000usize, 32u32),
        (5000, 64),
        (4099, 128),
        (10_000, 256),
        (3333, 512),
        (70_001, 1024),
        (999, 96),
    ] {
        let mut rng = Rng(n as u64);
        let input: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let grid = (n as u32).div_ceil(block * 2);
        let mut mem = FlatMemory::new(0x1000);
        let din = mem.alloc_bytes(&f32s(&input));
        let dout = mem.alloc(grid as usize * 4, 256);
        let p = pack(k, &[V::U64(din), V::U64(dout), V::U32(n as u32)]);
        let cfg = LaunchConfig {
            grid: [grid, 1, 1],
            block: [block, 1, 1],
            dynamic_shared_bytes: block * 4,
        };
        launch(k, &m, &p, &no_globals, &cfg, &mut mem).unwrap();
        let got = read_f32s(&mut mem, dout, grid as usize);
        let want = reduce_reference(&input, block as usize, grid as usize);
        let gb: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
        let wb: Vec<u32> = want.iter().map(|x| x.to_bits()).collect();
        assert_eq!(gb, wb, "n={n} block={block}");
    }
}

#[test]
fn histogram_with_red() {
    let m = module(&[HISTOGRAM]);
    let k = m.kernel("_Z9histogramPKjPji").unwrap();
    let n = 10_007;
    let mut rng = Rng(11);
    let input: Vec<u32> = (0..n).map(|_| rng.next() as u32).collect();
    let mut mem = FlatMemory::new(0x1000);
    let din = mem.alloc_bytes(&u32s(&input));
    let dbins = mem.alloc(64 * 4, 256);
    let p = pack(k, &[V::U64(din), V::U64(dbins), V::U32(n as u32)]);
    launch(
        k,
        &m,
        &p,
        &no_globals,
        &cfg1((n as u32).div_ceil(128), 128),
        &mut mem,
    )
    .unwrap();
    let mut want = [0u32; 64];
    for v in &input {
        want[(v % 64) as usize] += 1;
    }
    assert_eq!(read_u32s(&mut mem, dbins, 64), want);
}

#[test]
fn atomics_global_and_shared() {
    let m = module(&[ATOMICS]);
    let k = m.kernel("_Z13count_and_maxPKiPi").unwrap();
    let n = 1000usize;
    let mut rng = Rng(5);
    let input: Vec<i32> = (0..n).map(|_| rng.next() as i32 >> 4).collect();
    let mut mem = FlatMemory::new(0x1000);
    let din = mem.alloc_bytes(&u32s(&input.iter().map(|&x| x as u32).collect::<Vec<_>>()));
    let mut init = [0u32; 17];
    init[1] = i32::MIN as u32;
    init[2] = i32::MAX as u32;
    init[7] = 5;
    init[8] = u32::MAX;
    init[16] = 0xDEAD;
    let dout = mem.alloc_bytes(&u32s(&init));
    let p = pack(k, &[V::U64(din), V::U64(dout), V::U32(n as u32)]);
    launch(k, &m, &p, &no_globals, &cfg1(8, 128), &mut mem).unwrap();
    let out = read_u32s(&mut mem, dout, 17);
    let u: Vec<u32> = input.iter().map(|&x| x as u32).collect();
    assert_eq!(out[0], n as u32);
    assert_eq!(out[1] as i32, *input.iter().max().unwrap());
    assert_eq!(out[2] as i32, *input.iter().min().unwrap());
    assert_eq!(f32::from_bits(out[3]), n as f32);
    assert_eq!(out[4], n as u32, "cas chain in thread order");
    assert_eq!(out[5], n as u32 - 1, "last exch wins");
    assert_eq!(out[6], (n % 16) as u32);
    // dec: 5,4,..,0 then wraps to 9.
    let mut d = 5u32;
    for _ in 0..n {
        d = if d == 0 || d > 9 { 9 } else { d - 1 };
    }
    assert_eq!(out[7], d);
    assert_eq!(out[8], u.iter().fold(u32::MAX, |a, b| a & b));
    assert_eq!(out[9], u.iter().fold(0, |a, b| a | b));
    assert_eq!(out[10], u.iter().fold(0, |a, b| a ^ b));
    assert_eq!(out[11], *u.iter().max().unwrap());
    assert_eq!(out[12], 2 * n as u32);
    let sum64: i64 = input.iter().map(|&x| x as i64).sum();
    assert_eq!(((out[15] as u64) << 32 | out[14] as u64) as i64, sum64);
    assert_eq!(out[16], 0, "thread 0 saw the initial count");
}

#[test]
fn module_globals_through_resolver() {
    let m = module(&[GLOBALS]);
    let names: Vec<&str> = m.globals().iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["counter", "table", "coef", "big"]);
    assert_eq!(m.globals()[1].init, [1, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(m.globals()[0].image(), [0; 4]);
    assert_eq!(m.globals()[2].space, vgpu_host::ptx::Space::Const);
    assert_eq!(m.globals()[3].init, 0x0123_4567_89AB_CDEFu64.to_le_bytes());
    let mut mem = FlatMemory::new(0x1000);
    let addrs: Vec<(String, u64)> = m
        .globals()
        .iter()
        .map(|g| (g.name.clone(), mem.alloc_bytes(&g.image())))
        .collect();
    let resolve = |n: &str| addrs.iter().find(|(a, _)| a == n).map(|x| x.1);
    let bump = m.kernel("_Z4bumpv").unwrap();
    assert_eq!(bump.param_size(), 0);
    launch(bump, &m, &[], &resolve, &cfg1(3, 100), &mut mem).unwrap();
    assert_eq!(read_u32s(&mut mem, addrs[0].1, 1), [300]);
    let probe = m.kernel("_Z5probePf").unwrap();
    let dout = mem.alloc(16, 256);
    let p = pack(probe, &[V::U64(dout)]);
    launch(probe, &m, &p, &resolve, &cfg1(1, 1), &mut mem).unwrap();
    let out = read_u32s(&mut mem, dout, 4);
    assert_eq!(out[0], 302);
    assert_eq!(f32::from_bits(out[1]), 3.0);
    assert_eq!((out[3] as u64) << 32 | out[2] as u64, 0x0123_4567_89AB_CDEF);
    assert_eq!(read_u32s(&mut mem, addrs[1].1, 1), [11]);
    // Without an address for `counter` the launch is invalid.
    assert!(matches!(
        launch(bump, &m, &[], &no_globals, &cfg1(1, 1), &mut mem),
        Err(LaunchError::InvalidConfig(_))
    ));
}

#[test]
fn three_dimensional_grid_and_block() {
    let m = module(&[INDEX3D]);
    let k = m.kernel("_Z7index3dPj").unwrap();
    let (grid, block) = ([3u32, 2, 4], [5u32, 4, 3]);
    let total = grid.iter().product::<u32>() * block.iter().product::<u32>();
    let mut mem = FlatMemory::new(0x1000);
    let d = mem.alloc(total as usize * 4, 256);
    let cfg = LaunchConfig {
        grid,
        block,
        dynamic_shared_bytes: 0,
    };
    launch(k, &m, &pack(k, &[V::U64(d)]), &no_globals, &cfg, &mut mem).unwrap();
    let out = read_u32s(&mut mem, d, total as usize);
    let mut i = 0;
    for bz in 0..grid[2] {
        for by in 0..grid[1] {
            for bx in 0..grid[0] {
                for tz in 0..block[2] {
                    for ty in 0..block[1] {
                        for tx in 0..block[0] {
                            let want = tx | ty << 8 | tz << 12 | bx << 16 | by << 20 | bz << 24;
                            assert_eq!(out[i], want, "index {i}");
                            i += 1;
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn parameter_layout() {
    let m = module(&[r#"
.visible .entry _Z5mixedjPvcs3Big(
	.param .u32 _Z5mixedjPvcs3Big_param_0,
	.param .u64 .ptr .global .align 1 _Z5mixedjPvcs3Big_param_1,
	.param .u8 _Z5mixedjPvcs3Big_param_2,
	.param .u16 _Z5mixedjPvcs3Big_param_3,
	.param .align 8 .b8 _Z5mixedjPvcs3Big_param_4[24],
	.param .f64 _Z5mixedjPvcs3Big_param_5,
	.param .align 4 .b8 _Z5mixedjPvcs3Big_param_6[6]
)
.maxntid 256, 1, 1
{
	ret;
}
"#]);
    let k = m.kernel("_Z5mixedjPvcs3Big").unwrap();
    let got: Vec<(u32, u32, u32)> = k
        .params
        .iter()
        .map(|p| (p.offset, p.size, p.align))
        .collect();
    assert_eq!(
        got,
        [
            (0, 4, 4),
            (8, 8, 8),
            (16, 1, 1),
            (18, 2, 2),
            (24, 24, 8),
            (48, 8, 8),
            (56, 6, 4)
        ]
    );
    assert_eq!(k.param_size(), 62);
    let mut mem = FlatMemory::new(0x1000);
    let short = vec![0u8; 61];
    assert!(matches!(
        launch(k, &m, &short, &no_globals, &cfg1(1, 1), &mut mem),
        Err(LaunchError::InvalidConfig(_))
    ));
    launch(k, &m, &[0u8; 62], &no_globals, &cfg1(1, 1), &mut mem).unwrap();
}

#[test]
fn integer_and_conversion_edge_cases() {
    let m = module(&[EDGES]);
    let k = m.kernel("_Z5edgesPjj").unwrap();
    let mut mem = FlatMemory::new(0x1000);
    let d = mem.alloc(160, 256);
    launch(
        k,
        &m,
        &pack(k, &[V::U64(d), V::U32(33)]),
        &no_globals,
        &cfg1(1, 1),
        &mut mem,
    )
    .unwrap();
    let o = read_u32s(&mut mem, d, 40);
    let u64_at = |i: usize| (o[i + 1] as u64) << 32 | o[i] as u64;
    let x = 0xDEAD_BEEFu32;
    assert_eq!(o[0], 0, "shl by 33");
    assert_eq!(o[1], 0, "shr.u by 33");
    assert_eq!(o[2], u32::MAX, "shr.s by 33 sign-fills");
    assert_eq!(o[3], u32::MAX, "div.u32 by zero");
    assert_eq!(o[4], u32::MAX, "div.s32 by zero");
    assert_eq!(o[5], 33, "rem by zero returns the dividend");
    assert_eq!(o[6], ((x as u64 * x as u64) >> 32) as u32);
    assert_eq!(o[7], ((x as i32 as i64 * x as i32 as i64) >> 32) as u32);
    assert_eq!(o[8], 0, "cvt.sat.u8 of -5");
    assert_eq!(o[9], 255, "cvt.sat.u8 of 300");
    assert_eq!(o[10], 2, "cvt.rni 2.5");
    assert_eq!(o[11] as i32, -2, "cvt.rzi -2.7");
    assert_eq!(o[12] as i32, -3, "cvt.rmi -2.7");
    assert_eq!(o[13] as i32, -2, "cvt.rpi -2.7");
    assert_eq!(o[14], 0, "NaN to s32");
    assert_eq!(o[15], 0, "negative to u32 saturates");
    assert_eq!(o[16], i32::MAX as u32, "3e9 to s32 saturates");
    assert_eq!(u64_at(17), x as i32 as i64 as u64, "cvt.s64.s32");
    assert_eq!(o[19], 0x5678, "cvt.u16.u64 truncates");
    let big = 0xFFFF_FFFF_1234_5678u64;
    assert_eq!(
        u64_at(20),
        ((big as u128 * big as u128) >> 64) as u64,
        "mul.hi.u64"
    );
    assert_eq!(o[23], 0xFFFF_FF80, "ld.s8 sign-extends");
    assert_eq!(o[24], 0x80, "ld.u8 zero-extends");
    assert_eq!(u64_at(25), 0, "NaN to s64");
    assert_eq!(f32::from_bits(o[27]), x as i32 as f32);
    // 0x7FFFFFC1 rounds up to 2^31 to nearest, down to 0x7FFFFF80 toward zero.
    assert_eq!(f32::from_bits(o[28]), 2_147_483_520.0, "cvt.rz.f32.s32");
    assert_eq!(o[29], 1 | 1 << 4 | 1, "0xFFFFFFFF < 33 signed only");
    assert_eq!(o[30], 0, "INT_MIN % -1");
    assert_eq!(o[31], i32::MIN as u32, "INT_MIN / -1 wraps");
    assert_eq!(u64_at(32), (x as i32 as i64 * x as i32 as i64) as u64);
    assert_eq!(u64_at(34), (x as u64 * x as u64).wrapping_add(big));
    assert_eq!(u64_at(36), big << 33);
    assert_eq!(u64_at(38), u64::MAX, "shr.s64 by 64");
}

#[test]
fn device_function_calls_and_local_memory() {
    let m = module(&[CALLS]);
    let k = m.kernel("_Z4testPi").unwrap();
    let mut mem = FlatMemory::new(0x1000);
    let d = mem.alloc(13 * 8, 256);
    launch(
        k,
        &m,
        &pack(k, &[V::U64(d)]),
        &no_globals,
        &cfg1(1, 13),
        &mut mem,
    )
    .unwrap();
    let o = read_u32s(&mut mem, d, 26);
    for t in 0..13u32 {
        let fact = (1..=t.max(1)).product::<u32>();
        assert_eq!(
            (o[2 * t as usize], o[2 * t as usize + 1]),
            (t * t, fact),
            "thread {t}"
        );
    }
}
