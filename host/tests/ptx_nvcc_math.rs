//! nvcc fixtures for arithmetic (`int_ops.cu`, `float_ops.cu`): every
//! result is checked to the bit against a Rust
//! reference of the C++ expression as the PTX computes it.

mod nvcc;

use std::cmp::Ordering;

use nvcc::*;

/// Inputs with the edge cases of integer arithmetic.
fn int_inputs(n: usize, seed: u64) -> (Vec<i32>, Vec<i32>) {
    let mut rng = Rng(seed);
    let edge = [
        0,
        1,
        -1,
        7,
        -7,
        i32::MAX,
        i32::MIN + 1,
        31,
        32,
        65535,
        -65536,
    ];
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in 0..n {
        let x = if i < edge.len() { edge[i] } else { rng.i32() };
        let y = match i % 5 {
            0 => edge[i % edge.len()],
            1 => (rng.next() % 64) as i32 - 32,
            _ => rng.i32(),
        };
        a.push(x);
        // x / y with x = MIN and y = -1 is undefined in C++.
        b.push(if x == i32::MIN && y == -1 { 3 } else { y });
    }
    (a, b)
}

fn prmt(x: u32, y: u32, s: u32) -> u32 {
    let src = (x as u64) | (y as u64) << 32;
    (0..4).fold(0, |d, k| {
        let sel = (s >> (4 * k)) & 7;
        d | (((src >> (8 * sel)) & 0xFF) as u32) << (8 * k)
    })
}

fn funnel(lo: u32, hi: u32, n: u32, left: bool) -> u32 {
    let v = (hi as u64) << 32 | lo as u64;
    if left {
        ((v << n) >> 32) as u32
    } else {
        (v >> n) as u32
    }
}

fn int32_reference(x: i32, y: i32) -> [i32; 40] {
    let (ux, uy) = (x as u32, y as u32);
    let s = (y & 31) as u32;
    let c = (y as u32).min(32);
    let sx = (x << 8) >> 8;
    let sy = (y << 8) >> 8;
    [
        x.wrapping_add(y),
        x.wrapping_sub(y),
        x.wrapping_mul(y),
        if y != 0 { x.wrapping_div(y) } else { 0 },
        if y != 0 { x.wrapping_rem(y) } else { 0 },
        ux.checked_div(uy).unwrap_or(0) as i32,
        if uy != 0 { (ux % uy) as i32 } else { 0 },
        x / 7,
        x % 10,
        (ux / 3) as i32,
        (ux % 1000) as i32,
        x.min(y),
        x.max(y),
        ux.min(uy) as i32,
        ux.max(uy) as i32,
        x.wrapping_shl(s),
        x >> s,
        (ux >> s) as i32,
        ((x as i64 * y as i64) >> 32) as i32,
        ((ux as u64 * uy as u64) >> 32) as i32,
        ux.count_ones() as i32,
        x.leading_zeros() as i32,
        ux.reverse_bits() as i32,
        if x == 0 {
            0
        } else {
            x.trailing_zeros() as i32 + 1
        },
        prmt(ux, uy, 0x5140) as i32,
        x.wrapping_abs(),
        x ^ !y,
        (x & y) | (!x & (y >> 3)),
        funnel(ux, uy, s, true) as i32,
        funnel(ux, uy, s, false) as i32,
        funnel(ux, uy, c, true) as i32,
        funnel(ux, uy, c, false) as i32,
        ((ux >> 5) & 0x3FF) as i32,
        x.wrapping_shl(7) >> 20,
        ((x as i64 - y as i64).unsigned_abs() as u32).wrapping_add(5) as i32,
        ((x as i64 + y as i64) >> 1) as i32,
        ((x as i64 + y as i64 + 1) >> 1) as i32,
        sx.wrapping_mul(sy),
        x.wrapping_neg(),
        (x as u16 as i32).wrapping_mul(y as u16 as i32),
    ]
}

#[test]
fn int32_arithmetic_division_shifts_and_bit_intrinsics() {
    let n = 300;
    let (a, b) = int_inputs(n, 21);
    let o = Launch::new("int_ops.ptx", "int32_ops", 3, 128)
        .buf(bytes_i32(&a))
        .buf(bytes_i32(&b))
        .out(n * 40 * 4)
        .arg(i32a(n as i32))
        .run();
    let got = o.i32s(2);
    for i in 0..n {
        let want = int32_reference(a[i], b[i]);
        for (k, w) in want.iter().enumerate() {
            assert_eq!(got[i * 40 + k], *w, "r[{k}] of x={} y={}", a[i], b[i]);
        }
    }
}

#[test]
fn int64_arithmetic_division_and_bit_intrinsics() {
    let n = 200;
    let mut rng = Rng(99);
    let mut a = Vec::new();
    let mut b = Vec::new();
    for i in 0..n {
        // Small, 32-bit and full-width values take different division paths.
        let pick = |r: &mut Rng, k: usize| match k % 3 {
            0 => (r.next() % 2000) as i64 - 1000,
            1 => r.i32() as i64,
            _ => r.next() as i64,
        };
        let x = pick(&mut rng, i);
        let y = pick(&mut rng, i / 3);
        a.push(x);
        b.push(if x == i64::MIN && y == -1 { 5 } else { y });
    }
    let o = Launch::new("int_ops.ptx", "int64_ops", 2, 128)
        .buf(bytes_i64(&a))
        .buf(bytes_i64(&b))
        .out(n * 16 * 8)
        .arg(i32a(n as i32))
        .run();
    let got = o.u64s(2);
    for i in 0..n {
        let (x, y) = (a[i], b[i]);
        let (ux, uy) = (x as u64, y as u64);
        let s = (y & 63) as u32;
        let ffs = if x == 0 { 0 } else { x.trailing_zeros() + 1 };
        let want: [i64; 16] = [
            x.wrapping_add(y),
            x.wrapping_mul(y),
            if y != 0 { x.wrapping_div(y) } else { 0 },
            if y != 0 { x.wrapping_rem(y) } else { 0 },
            ux.checked_div(uy).unwrap_or(0) as i64,
            if uy != 0 { (ux % uy) as i64 } else { 0 },
            x / 1000,
            x.wrapping_shl(s),
            x >> s,
            (ux >> s) as i64,
            ((x as i128 * y as i128) >> 64) as i64,
            ((ux as u128 * uy as u128) >> 64) as i64,
            ux.count_ones() as i64 | (x.leading_zeros() as i64) << 8 | (ffs as i64) << 16,
            ux.reverse_bits() as i64,
            x.min(y) ^ ux.max(uy) as i64,
            (x as i32 as i64) * (y as i32 as i64),
        ];
        for (k, w) in want.iter().enumerate() {
            assert_eq!(got[i * 16 + k] as i64, *w, "r[{k}] of x={x} y={y}");
        }
    }
}

#[test]
fn carry_chains_for_128_bit_arithmetic() {
    let n = 100;
    let mut rng = Rng(77);
    let mut words = |k: usize| -> Vec<u64> {
        (0..2 * n)
            .map(|i| match (i / 2 + k) % 4 {
                0 => u64::MAX,
                1 => 0,
                _ => rng.next(),
            })
            .collect()
    };
    let (a, b) = (words(0), words(1));
    let o = Launch::new("int_ops.ptx", "wide_ops", 1, 128)
        .buf(a.iter().flat_map(|v| v.to_le_bytes()).collect())
        .buf(b.iter().flat_map(|v| v.to_le_bytes()).collect())
        .out(n * 48)
        .arg(i32a(n as i32))
        .run();
    let got = o.u64s(2);
    for i in 0..n {
        let x = (a[2 * i + 1] as u128) << 64 | a[2 * i] as u128;
        let y = (b[2 * i + 1] as u128) << 64 | b[2 * i] as u128;
        let p = a[2 * i] as u128 * b[2 * i] as u128;
        let (s, d) = (x.wrapping_add(y), x.wrapping_sub(y));
        let want = [
            s as u64,
            (s >> 64) as u64,
            d as u64,
            (d >> 64) as u64,
            p as u64,
            (p >> 64) as u64,
        ];
        assert_eq!(&got[6 * i..6 * i + 6], &want, "{x:#x} and {y:#x}");
    }
}

/// The f32 bits a GPU stores: its arithmetic gives one canonical NaN.
fn c32(x: f32) -> u32 {
    if x.is_nan() {
        0x7FFF_FFFF
    } else {
        x.to_bits()
    }
}

/// Rounds `c` (the nearest f32 to an exact value) in direction `dir`
/// ('z' toward zero, 'd' down, 'u' up), given how the exact value compares
/// with `c`.
fn directed(c: f32, exact_vs_c: Ordering, dir: char) -> f32 {
    match exact_vs_c {
        Ordering::Less if dir == 'd' || (dir == 'z' && c > 0.0) => c.next_down(),
        Ordering::Greater if dir == 'u' || (dir == 'z' && c < 0.0) => c.next_up(),
        _ => c,
    }
}

/// PTX `min.f32`/`max.f32`: a NaN operand yields the other, -0 < +0.
fn fmin32(x: f32, y: f32) -> f32 {
    if x.is_nan() || (y < x) || (x == y && y.is_sign_negative()) {
        y
    } else {
        x
    }
}

fn fmax32(x: f32, y: f32) -> f32 {
    if x.is_nan() || (y > x) || (x == y && y.is_sign_positive()) {
        y
    } else {
        x
    }
}

/// Directed rounding of an exactly known f64 value.
fn round_f64(v: f64, dir: char) -> f32 {
    let c = v as f32;
    directed(
        c,
        v.partial_cmp(&(c as f64)).unwrap_or(Ordering::Equal),
        dir,
    )
}

fn f32_reference(x: f32, y: f32, z: f32) -> [u32; 32] {
    let (dx, dy, dz) = (x as f64, y as f64, z as f64);
    let q = x / y;
    // Sign of the exact x/y - q, from the exact remainder x - q*y.
    let rem = (-(q as f64)).mul_add(dy, dx);
    let q_ord = if rem == 0.0 || !q.is_finite() {
        Ordering::Equal
    } else if (rem > 0.0) == (dy > 0.0) {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    let r = y.abs().sqrt();
    let r_ord = (y.abs() as f64)
        .partial_cmp(&(r as f64 * r as f64))
        .unwrap_or(Ordering::Equal);
    // x*y is exact in f64; x*y + z is s + e exactly (TwoSum).
    let f = x.mul_add(y, z);
    let f_ord = {
        let p = dx * dy;
        let s = p + dz;
        let bb = s - p;
        let e = (p - (s - bb)) + (dz - bb);
        ((s - f as f64) + e)
            .partial_cmp(&0.0)
            .unwrap_or(Ordering::Equal)
    };
    let sat = if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
    let flags = (x < y) as u32 as f32
        + (x <= y) as u32 as f32 * 2.0
        + (x == y) as u32 as f32 * 4.0
        + (x != y || x.is_nan() || y.is_nan()) as u32 as f32 * 8.0;
    [
        c32(x + y),
        c32(x - y),
        c32(x * y),
        c32(q),
        c32(f),
        c32(x * y + z),
        c32(x * y + z),
        c32(fmin32(x, y)),
        c32(fmax32(x, y)),
        c32(x.abs().sqrt()),
        y.abs().to_bits(),
        (-z).to_bits(),
        c32(directed(f, f_ord, 'z')),
        // An exact zero sum rounded down is -0 unless both addends are +0.
        if dx + dy == 0.0 && !(x.to_bits() == 0 && y.to_bits() == 0) {
            0x8000_0000
        } else {
            c32(round_f64(dx + dy, 'd'))
        },
        c32(round_f64(dx * dy, 'u')),
        c32(x.floor()),
        c32(x.ceil()),
        c32(x.trunc()),
        c32(x.round_ties_even()),
        c32(x.round()),
        x.copysign(y).to_bits(),
        c32(sat),
        c32(1.0 / y),
        c32(1.0 / x),
        c32(directed(q, q_ord, 'z')),
        c32(directed(r, r_ord, 'd')),
        if x <= y { 0 } else { c32(x - y) },
        if x > y { x.to_bits() } else { z.to_bits() },
        c32(round_f64(dx - dz, 'u')),
        c32(x % 3.0),
        c32(x * 0.5 - y * 2.0),
        flags.to_bits(),
    ]
}

fn float_inputs(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Rng(seed);
    let special = [
        (0.0, -0.0, 1.0),
        (f32::NAN, 1.0, 2.0),
        (1.0, f32::NAN, -2.0),
        (f32::INFINITY, 3.0, f32::NEG_INFINITY),
        (2.5, -2.5, 0.0),
        (1e-40, 3.0, -1e-39),
        (-0.5, 0.5, 0.25),
        (1e30, 1e30, -1e30),
        (7.0, 7.0, 7.0),
        (-3.5, 2.0, 1e-3),
    ];
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (x, y, z) = special
            .get(i)
            .copied()
            .unwrap_or_else(|| (rng.f32(100.0), rng.f32(100.0), rng.f32(100.0)));
        a.push(x);
        b.push(y);
        c.push(z);
    }
    (a, b, c)
}

#[test]
fn f32_arithmetic_is_bit_exact() {
    let n = 500;
    let (a, b, c) = float_inputs(n, 5);
    let o = Launch::new("float_ops.ptx", "f32_ops", 4, 128)
        .buf(bytes_f32(&a))
        .buf(bytes_f32(&b))
        .buf(bytes_f32(&c))
        .out(n * 32 * 4)
        .arg(i32a(n as i32))
        .run();
    let got = o.u32s(3);
    for i in 0..n {
        let want = f32_reference(a[i], b[i], c[i]);
        for (k, w) in want.iter().enumerate() {
            let g = got[i * 32 + k];
            assert_eq!(
                g, *w,
                "r[{k}] of {} {} {}: {g:#x} vs {w:#x}",
                a[i], b[i], c[i]
            );
        }
    }
}

/// The f64 NaN the simulator produces for f64 arithmetic.
fn c64(x: f64) -> u64 {
    if x.is_nan() {
        0x7FFF_FFFF_FFFF_FFFF
    } else {
        x.to_bits()
    }
}

#[test]
fn f64_arithmetic_is_bit_exact() {
    let n = 300;
    let (a, b, c) = float_inputs(n, 8);
    let (a, b, c): (Vec<f64>, Vec<f64>, Vec<f64>) = (
        a.iter().map(|&v| v as f64 / 3.0).collect(),
        b.iter().map(|&v| v as f64 * 1.7).collect(),
        c.iter().map(|&v| v as f64).collect(),
    );
    let o = Launch::new("float_ops.ptx", "f64_ops", 3, 128)
        .buf(bytes_f64(&a))
        .buf(bytes_f64(&b))
        .buf(bytes_f64(&c))
        .out(n * 16 * 8)
        .arg(i32a(n as i32))
        .run();
    let got = o.u64s(3);
    for i in 0..n {
        let (x, y, z) = (a[i], b[i], c[i]);
        let s = x + y;
        let bb = s - x;
        let e = (x - (s - bb)) + (y - bb);
        let rz = if e == 0.0 || !s.is_finite() || (e > 0.0) == (s > 0.0) {
            s
        } else if s > 0.0 {
            s.next_down()
        } else {
            s.next_up()
        };
        let min = if x.is_nan() || y < x || (x == y && y.is_sign_negative()) {
            y
        } else {
            x
        };
        let max = if x.is_nan() || y > x || (x == y && y.is_sign_positive()) {
            y
        } else {
            x
        };
        let want = [
            c64(x + y),
            c64(x - y),
            c64(x * y),
            c64(x / y),
            c64(x.mul_add(y, z)),
            c64(x * y + z),
            c64(min),
            c64(max),
            c64(x.abs().sqrt()),
            c64(x.floor()),
            c64(x.ceil()),
            c64(x.trunc()),
            c64(x.round_ties_even()),
            c64(1.0 / y),
            c64(rz),
            (-z.abs()).to_bits(),
        ];
        for (k, w) in want.iter().enumerate() {
            let g = got[i * 16 + k];
            assert_eq!(g, *w, "r[{k}] of {x} {y} {z}: {g:#x} vs {w:#x}");
        }
    }
}

// The negated comparisons mirror the C++ source (`!(x < y)` is setp.geu).
#[allow(clippy::neg_cmp_op_on_partial_ord)]
#[test]
fn comparisons_of_every_kind() {
    let n = 200;
    let (fa, fb, _) = float_inputs(n, 13);
    let mut rng = Rng(17);
    let (mut ia, mut ib, mut la, mut lb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let x = rng.i32() >> (i % 24);
        ia.push(x);
        ib.push(if i % 4 == 0 { x } else { rng.i32() >> (i % 24) });
        let l = rng.next() as i64 >> (i % 40);
        la.push(l);
        lb.push(if i % 3 == 0 {
            l
        } else {
            rng.next() as i64 >> (i % 40)
        });
    }
    let (da, db): (Vec<f64>, Vec<f64>) = (
        fa.iter().map(|&v| v as f64).collect(),
        fb.iter().map(|&v| v as f64).collect(),
    );
    let o = Launch::new("float_ops.ptx", "compares", 2, 128)
        .buf(bytes_f32(&fa))
        .buf(bytes_f32(&fb))
        .buf(bytes_f64(&da))
        .buf(bytes_f64(&db))
        .buf(bytes_i32(&ia))
        .buf(bytes_i32(&ib))
        .buf(bytes_i64(&la))
        .buf(bytes_i64(&lb))
        .out(n * 12)
        .arg(i32a(n as i32))
        .run();
    let got = o.u32s(8);
    for i in 0..n {
        let (x, y, dx, dy) = (fa[i], fb[i], da[i], db[i]);
        let (s, t, l, m) = (ia[i], ib[i], la[i], lb[i]);
        let f = [
            x < y,
            x <= y,
            x > y,
            x >= y,
            x == y,
            x != y,
            !(x < y),
            !(x <= y),
            !(x > y),
            !(x >= y),
            !(x == y),
            x.is_nan(),
            !x.is_nan() && !y.is_nan(),
            dx < dy,
            !(dx >= dy),
            dx == dy,
            dx != dy,
        ];
        let g = [
            s < t,
            s <= t,
            s > t,
            s >= t,
            s == t,
            s != t,
            (s as u32) < t as u32,
            s as u32 <= t as u32,
            s as u32 > t as u32,
            s as u32 >= t as u32,
            l < m,
            l >= m,
            (l as u64) < m as u64,
            l as u64 > m as u64,
            l == m,
        ];
        let bits = |v: &[bool]| {
            v.iter()
                .enumerate()
                .fold(0u32, |a, (k, &b)| a | (b as u32) << k)
        };
        let sel = if s < t {
            (s as u32).wrapping_add(1)
        } else {
            (t as u32).wrapping_mul(2)
        };
        assert_eq!(got[i * 3], bits(&f), "float flags of {x} {y}");
        assert_eq!(got[i * 3 + 1], bits(&g), "integer flags of {s} {t} {l} {m}");
        assert_eq!(got[i * 3 + 2], sel, "select of {s} {t}");
    }
}
