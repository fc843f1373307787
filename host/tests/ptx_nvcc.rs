//! The PTX nvcc 13.0 emits for ordinary CUDA C++ (the fixtures in
//! `tests/ptx/nvcc13`, sources beside them) runs on the simulator with the
//! results a GPU computes: indexing, memory widths and vectors, module
//! variables, parameters, device calls, printf and assert. Arithmetic is
//! in `ptx_nvcc_math.rs` and `ptx_nvcc_convert.rs`, shared memory and
//! atomics in `ptx_nvcc_sync.rs`, warps in `ptx_nvcc_warp.rs`.

mod nvcc;

use nvcc::*;

const FIXTURES: &[&str] = &[
    "atomics.ptx",
    "convert.ptx",
    "float_ops.ptx",
    "indexing.G.ptx",
    "indexing.ptx",
    "int_ops.ptx",
    "memory.ptx",
    "params.ptx",
    "printf.ptx",
    "shared.lineinfo.ptx",
    "shared.ptx",
    "warp.G.ptx",
    "warp.ptx",
];

#[test]
fn every_instruction_nvcc_emits_is_supported() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ptx/nvcc13");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixture directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ptx"))
        .collect();
    found.sort();
    assert_eq!(found, FIXTURES, "fixture list");
    for name in FIXTURES {
        let m = fixture(name);
        assert!(!m.kernels().is_empty(), "{name} has kernels");
        let missing = m.unsupported_instructions();
        assert!(missing.is_empty(), "{name}: {missing:?}");
    }
}

/// Fills with a pattern no kernel writes, to see what was left alone.
fn sentinel(n: usize) -> Vec<u8> {
    bytes_u32(&vec![0xA5A5_A5A5; n])
}

#[test]
fn indexing_1d_with_early_return() {
    for ptx in ["indexing.ptx", "indexing.G.ptx"] {
        let n = 1000;
        let o = Launch::new(ptx, "index1d", 4, 256)
            .buf(sentinel(1024))
            .arg(i32a(n as i32))
            .run();
        let want: Vec<u32> = (0..1024u32)
            .map(|i| if i < n { i * 3 + 1 } else { 0xA5A5_A5A5 })
            .collect();
        assert_eq!(o.u32s(0), want, "{ptx}");
    }
}

#[test]
fn indexing_2d_and_3d() {
    for ptx in ["indexing.ptx", "indexing.G.ptx"] {
        let (w, h) = (37u32, 19u32);
        let mut l = Launch::new(ptx, "index2d", 1, 1)
            .buf(sentinel((w * h) as usize))
            .arg(i32a(w as i32))
            .arg(i32a(h as i32));
        l.grid = [5, 5, 1];
        l.block = [8, 4, 1];
        let want: Vec<u32> = (0..w * h).map(|i| (i / w) << 16 | (i % w)).collect();
        assert_eq!(l.run().u32s(0), want, "{ptx}");

        let (nx, ny, nz) = (10u32, 7u32, 5u32);
        let mut l = Launch::new(ptx, "index3d", 1, 1)
            .buf(sentinel((nx * ny * nz) as usize))
            .arg(i32a(nx as i32))
            .arg(i32a(ny as i32))
            .arg(i32a(nz as i32));
        l.grid = [3, 3, 3];
        l.block = [4, 3, 2];
        let mut want = vec![0u32; (nx * ny * nz) as usize];
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let (t, b) = ([x % 4, y % 3, z % 2], [x / 4, y / 3, z / 2]);
                    want[((z * ny + y) * nx + x) as usize] =
                        t[0] | t[1] << 5 | t[2] << 10 | b[0] << 15 | b[1] << 20 | b[2] << 25;
                }
            }
        }
        assert_eq!(l.run().u32s(0), want, "{ptx}");
    }
}

#[test]
fn grid_stride_loop_fuses_multiply_add() {
    for ptx in ["indexing.ptx", "indexing.G.ptx"] {
        let n = 10_000usize;
        let mut rng = Rng(7);
        let a: Vec<f32> = (0..n).map(|_| rng.f32(1000.0)).collect();
        let s = 1.337f32;
        let o = Launch::new(ptx, "grid_stride", 7, 128)
            .buf(bytes_f32(&a))
            .out(n * 4)
            .arg(f32a(s))
            .arg(u64a(n as u64))
            .run();
        let got = o.u32s(1);
        for i in 0..n {
            // -O3 contracts a*s+1 into fma; -G keeps the two roundings.
            let want = if ptx == "indexing.ptx" {
                a[i].mul_add(s, 1.0)
            } else {
                a[i] * s + 1.0
            };
            assert_eq!(got[i], want.to_bits(), "{ptx} element {i}");
        }
    }
}

#[test]
fn divergent_early_exit_and_loops() {
    for ptx in ["indexing.ptx", "indexing.G.ptx"] {
        let n = 300;
        let mut rng = Rng(11);
        let input: Vec<i32> = (0..n).map(|_| (rng.next() % 41) as i32).collect();
        let o = Launch::new(ptx, "divergent_exit", 3, 128)
            .buf(sentinel(320))
            .buf(bytes_i32(&input))
            .arg(i32a(n as i32))
            .run();
        let got = o.i32s(0);
        for (i, &v) in input.iter().enumerate() {
            let want = if v & 1 == 1 {
                -1
            } else {
                (0..v).step_by(2).map(|k| k ^ i as i32).sum()
            };
            assert_eq!(got[i], want, "{ptx} element {i}");
        }
        assert!(got[n..].iter().all(|&v| v as u32 == 0xA5A5_A5A5));
    }
}

#[test]
fn lane_special_registers() {
    for ptx in ["indexing.ptx", "indexing.G.ptx"] {
        let block = 48;
        let o = Launch::new(ptx, "lane_registers", 1, block)
            .out(block as usize * 7 * 4)
            .run();
        let got = o.u32s(0);
        for t in 0..block as usize {
            let lane = t as u32 % 32;
            let le = ((2u64 << lane) - 1) as u32;
            let lt = ((1u64 << lane) - 1) as u32;
            let want = [lane, 1 << lane, lt, le, !le, !lt, 1];
            assert_eq!(&got[t * 7..t * 7 + 7], &want, "{ptx} thread {t}");
        }
    }
}

#[test]
fn loads_and_stores_of_every_width() {
    let n = 100usize;
    let mut rng = Rng(3);
    let u8s: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
    let u16s: Vec<u16> = (0..n).map(|_| rng.next() as u16).collect();
    let u32s: Vec<u32> = (0..n).map(|_| rng.next() as u32).collect();
    let u64s: Vec<u64> = (0..n).map(|_| rng.next()).collect();
    let f32s: Vec<f32> = (0..n).map(|_| rng.f32(50.0)).collect();
    let f64s: Vec<f64> = (0..n).map(|_| rng.f32(50.0) as f64 / 3.0).collect();
    let o = Launch::new("memory.ptx", "widths", 2, 64)
        .buf(u8s.clone())
        .buf(u16s.iter().flat_map(|v| v.to_le_bytes()).collect())
        .buf(bytes_u32(&u32s))
        .buf(u64s.iter().flat_map(|v| v.to_le_bytes()).collect())
        .buf(bytes_f32(&f32s))
        .buf(bytes_f64(&f64s))
        .out(n)
        .out(n * 2)
        .out(n * 8)
        .out(n * 8)
        .arg(i32a(n as i32))
        .run();
    for i in 0..n {
        assert_eq!(o.bufs[6][i], u8s[i].wrapping_add(u8s[n - 1 - i]), "o8 {i}");
        let o16 = u16::from_le_bytes([o.bufs[7][2 * i], o.bufs[7][2 * i + 1]]);
        let w16 = (u16s[i] as i32 * 3 + u8s[i] as i8 as i32) as u16;
        assert_eq!(o16, w16, "o16 {i}");
        let w64 = u64s[i]
            .wrapping_add(u32s[i] as u64)
            .wrapping_add(u16s[i] as u64 * 65536);
        assert_eq!(o.u64s(8)[i], w64, "o64 {i}");
        let wf = (f64s[i] * f32s[i] as f64).to_bits();
        assert_eq!(o.u64s(9)[i], wf, "of64 {i}");
    }
}

#[test]
fn vector_loads_and_stores() {
    let n = 50usize;
    let mut rng = Rng(5);
    let a: Vec<f32> = (0..4 * n).map(|_| rng.f32(10.0)).collect();
    let c: Vec<i32> = (0..2 * n).map(|_| rng.i32() >> 8).collect();
    let e: Vec<f64> = (0..2 * n).map(|_| rng.f32(10.0) as f64 * 1.1).collect();
    let g: Vec<u8> = (0..4 * n).map(|_| rng.next() as u8).collect();
    let o = Launch::new("memory.ptx", "vectors", 1, 64)
        .buf(bytes_f32(&a))
        .out(16 * n)
        .buf(bytes_i32(&c))
        .out(8 * n)
        .buf(bytes_f64(&e))
        .out(16 * n)
        .buf(g.clone())
        .out(4 * n)
        .arg(i32a(n as i32))
        .run();
    let (b, d, f) = (o.u32s(1), o.i32s(3), o.u64s(5));
    for i in 0..n {
        let v = &a[4 * i..4 * i + 4];
        let want = [v[3], v[2] * 2.0, v[1] + 1.0, v[0]].map(f32::to_bits);
        assert_eq!(&b[4 * i..4 * i + 4], &want, "float4 {i}");
        let (x, y) = (c[2 * i], c[2 * i + 1]);
        assert_eq!(
            &d[2 * i..2 * i + 2],
            &[y - x, x.wrapping_mul(y)],
            "int2 {i}"
        );
        let (p, q) = (e[2 * i], e[2 * i + 1]);
        assert_eq!(
            &f[2 * i..2 * i + 2],
            &[(p + q).to_bits(), (p - q).to_bits()]
        );
        let q = &g[4 * i..4 * i + 4];
        let want = [q[3], q[2], q[1], q[0].wrapping_add(1)];
        assert_eq!(&o.bufs[7][4 * i..4 * i + 4], &want, "uchar4 {i}");
    }
}

#[test]
fn ldg_reads_through_the_read_only_path() {
    let n = 77usize;
    let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.75 - 20.0).collect();
    let o = Launch::new("memory.ptx", "ldg_sum", 2, 64)
        .buf(bytes_f32(&a))
        .out(n * 4)
        .arg(i32a(n as i32))
        .run();
    let want: Vec<u32> = (0..n).map(|i| (a[i] + a[(i + 1) % n]).to_bits()).collect();
    assert_eq!(o.u32s(1), want);
}

#[test]
fn module_variables_and_a_device_function() {
    let n = 200usize;
    let mut l = Launch::new("memory.ptx", "module_vars", 4, 64)
        .out(n * 4)
        .arg(i32a(n as i32));
    let coeffs = [3i32, -1, 0, 7];
    l.globals.push(("c_coeffs", bytes_i32(&coeffs)));
    let o = l.run();
    let table = [1.5f32, -2.0, 3.25, 0.0];
    let want: Vec<u32> = (0..n)
        .map(|i| {
            (i as f32)
                .mul_add(table[i & 3], coeffs[i & 3] as f32)
                .to_bits()
        })
        .collect();
    assert_eq!(o.u32s(0), want);
    assert_eq!(o.global("g_counter"), (n as u32).to_le_bytes());
    let last = u64::from_le_bytes(o.global("g_last").try_into().expect("u64"));
    assert_eq!(last >> 32, 0x1234_5678);
    assert!(((last & 0xFFFF_FFFF) as usize) < n);
    assert_eq!(o.global("g_table"), bytes_f32(&table));
}

/// `struct Mixed { char c; int i; double d; short s[3]; }` (24 bytes).
fn mixed(c: i8, i: i32, d: f64, s: [i16; 3]) -> Vec<u8> {
    let mut b = vec![0u8; 24];
    b[0] = c as u8;
    b[4..8].copy_from_slice(&i.to_le_bytes());
    b[8..16].copy_from_slice(&d.to_le_bytes());
    for (k, v) in s.iter().enumerate() {
        b[16 + 2 * k..18 + 2 * k].copy_from_slice(&v.to_le_bytes());
    }
    b
}

#[test]
fn parameters_of_mixed_sizes_and_a_struct_by_value() {
    let o = Launch::new("params.ptx", "many_params", 1, 1)
        .arg(u8a(-5i8 as u8))
        .arg(u16a(-300i16 as u16))
        .arg(i32a(123_456))
        .arg(u64a(-9_000_000_000_000_000i64 as u64))
        .arg(f64a(3.25))
        .arg(f32a(-1.5))
        .arg(Arg::Bytes(mixed(120, -7, 2.5e-3, [1, -2, 30000])))
        .arg(u8a(200))
        .buf(bytes_i32(&[-42, 1, 2, 3]))
        .arg(u8a(1))
        .out(13 * 8)
        .run();
    let want: [u64; 13] = [
        -5i64 as u64,
        -300i64 as u64,
        123_456,
        -9_000_000_000_000_000i64 as u64,
        3.25f64.to_bits(),
        (-1.5f32).to_bits() as u64,
        120,
        -7i64 as u64,
        2.5e-3f64.to_bits(),
        1 | (0xFFFE << 16) | (30000 << 32),
        200,
        -42i64 as u64,
        0xF1A9,
    ];
    assert_eq!(o.u64s(1), want);
}

fn fib(n: u32) -> i32 {
    if n < 2 {
        n as i32
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn struct_returning_and_recursive_device_functions() {
    let mut pair = bytes_i32(&[5]);
    pair.extend_from_slice(&0.5f32.to_le_bytes());
    let block = 20;
    let o = Launch::new("params.ptx", "struct_calls", 1, block)
        .arg(Arg::Bytes(pair))
        .out(block as usize * 8)
        .out(block as usize * 4)
        .run();
    let pairs = o.u32s(0);
    for t in 0..block {
        let i = t as usize;
        assert_eq!(pairs[2 * i] as i32, (5 + t as i32) * 2, "a of {t}");
        assert_eq!(
            pairs[2 * i + 1],
            (0.5 * t as f32 + 1.0).to_bits(),
            "b of {t}"
        );
        assert_eq!(o.i32s(1)[i], fib(t & 15), "fib of {t}");
    }
}

#[test]
fn device_printf_formats_like_c() {
    let o = Launch::new("printf.ptx", "hello", 1, 3)
        .arg(i32a(4))
        .arg(f32a(1.5))
        .run();
    let lines: Vec<String> = (0..3)
        .map(|t| {
            let c = (b'A' + t) as char;
            format!("thread {t} of 4: f=1.500000 3.00e+00 [4   ] str {c} 4398046511104 %\n")
        })
        .collect();
    assert_eq!(o.output, format!("{}plain\n", lines.concat()));
}

#[test]
fn a_failed_device_assert_fails_the_launch() {
    let ok = Launch::new("printf.ptx", "checked", 1, 4)
        .buf(bytes_i32(&[1, 2, 3, 4]))
        .out(16)
        .run();
    assert_eq!(ok.i32s(1), [2, 4, 6, 8]);
    let r = Launch::new("printf.ptx", "checked", 1, 4)
        .buf(bytes_i32(&[1, 2, -3, 4]))
        .out(16)
        .try_run();
    match r {
        Err(vgpu_host::ptx::LaunchError::Assert(m)) => assert!(
            m.contains("printf.cu:")
                && m.contains("thread [2,0,0]")
                && m.contains("Assertion `x >= 0` failed"),
            "{m}"
        ),
        Err(e) => panic!("expected an assertion failure, got {e}"),
        Ok(_) => panic!("expected an assertion failure"),
    }
}

/// Mutated fixtures (lines dropped, duplicated or swapped, numbers
/// changed) parse or fail cleanly, and whatever parses launches with
/// arbitrary arguments without a panic or a hang.
#[test]
fn mutated_fixtures_never_panic() {
    use std::time::Duration;
    use vgpu_host::ptx::{launch_within, FlatMemory, LaunchConfig, Module};
    let mut rng = Rng(0x5EED);
    let mut mem = FlatMemory::new(0x1000);
    let buf = mem.alloc(1 << 16, 256);
    let (mut parsed, mut launched) = (0, 0);
    for name in [
        "warp.ptx",
        "shared.ptx",
        "atomics.ptx",
        "convert.ptx",
        "float_ops.ptx",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/ptx/nvcc13")
            .join(name);
        let text = std::fs::read_to_string(path).expect("fixture");
        let lines: Vec<&str> = text.lines().collect();
        for _ in 0..60 {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            for _ in 0..1 + rng.next() % 3 {
                let n = l.len() as u64;
                let (i, j) = ((rng.next() % n) as usize, (rng.next() % n) as usize);
                match rng.next() % 4 {
                    0 => {
                        l.remove(i);
                    }
                    1 => {
                        let dup = l[i].clone();
                        l.insert(j, dup);
                    }
                    2 => l.swap(i, j),
                    _ => {
                        let digit = (b'0' + (rng.next() % 10) as u8) as char;
                        l[i] = l[i].replacen(|c: char| c.is_ascii_digit(), &digit.to_string(), 1);
                    }
                }
            }
            let Ok(m) = Module::parse(&l.join("\n")) else {
                continue;
            };
            parsed += 1;
            for k in m.kernels() {
                let mut p = vec![0u8; k.param_size() as usize];
                for c in p.chunks_mut(8) {
                    let v = (buf + rng.next() % (1 << 16)).to_le_bytes();
                    c.copy_from_slice(&v[..c.len()]);
                }
                let cfg = LaunchConfig {
                    grid: [1 + (rng.next() % 2) as u32, 1, 1],
                    block: [1 + (rng.next() % 96) as u32, 1, 1],
                    dynamic_shared_bytes: (rng.next() % 1024) as u32,
                };
                let lim = Duration::from_millis(50);
                let _ = launch_within(k, &m, &p, &|_| Some(buf), &cfg, &mut mem, lim);
                launched += 1;
            }
        }
    }
    assert!(
        parsed > 50 && launched > 50,
        "{parsed} parsed, {launched} launched"
    );
}
