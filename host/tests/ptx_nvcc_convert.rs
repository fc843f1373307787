//! nvcc fixture for conversions (`convert.cu`): integers, f32, f64, f16
//! and bf16 in every direction and rounding, checked to the bit.

mod nvcc;

use std::cmp::Ordering;

use nvcc::*;

/// The f32 bits a GPU stores: its arithmetic gives one canonical NaN.
fn c32(x: f32) -> u32 {
    if x.is_nan() {
        0x7FFF_FFFF
    } else {
        x.to_bits()
    }
}

/// Rounds `c` (the nearest f32 to an exact value) toward zero ('z') or up
/// ('u'), given how the exact value compares with `c`.
fn directed(c: f32, exact_vs_c: Ordering, dir: char) -> f32 {
    match exact_vs_c {
        Ordering::Less if dir == 'd' || (dir == 'z' && c > 0.0) => c.next_down(),
        Ordering::Greater if dir == 'u' || (dir == 'z' && c < 0.0) => c.next_up(),
        _ => c,
    }
}

/// IEEE binary16 bits of `v` rounded to nearest even (or toward zero).
fn f16_bits(v: f64, rz: bool) -> u16 {
    if v.is_nan() {
        return 0x7FFF;
    }
    let sign = if v.is_sign_negative() { 0x8000 } else { 0 };
    let a = v.abs();
    let round = |q: f64| if rz { q.trunc() } else { q.round_ties_even() };
    if a < 2f64.powi(-14) {
        return sign | round(a * 2f64.powi(24)) as u16;
    }
    let mut e = a.log2().floor() as i32;
    if 2f64.powi(e) > a {
        e -= 1;
    }
    let mut q = round((a / 2f64.powi(e) - 1.0) * 1024.0);
    if q >= 1024.0 {
        q = 0.0;
        e += 1;
    }
    if e > 15 {
        return sign | if rz && a.is_finite() { 0x7BFF } else { 0x7C00 };
    }
    sign | ((e + 15) as u16) << 10 | q as u16
}

/// bfloat16 bits of `x` rounded to nearest even (or toward zero).
fn bf16_bits(x: f32, rz: bool) -> u16 {
    if x.is_nan() {
        return 0x7FFF;
    }
    let b = x.to_bits();
    if rz {
        return (b >> 16) as u16;
    }
    ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

fn f16_value(h: u16) -> f32 {
    let (s, e, m) = (h >> 15, (h >> 10) & 31, (h & 1023) as f32);
    let v = match e {
        0 => m * 2f32.powi(-24),
        31 if m == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        _ => (1.0 + m / 1024.0) * 2f32.powi(e as i32 - 15),
    };
    if s == 1 {
        -v
    } else {
        v
    }
}

fn round_int_to_f32(v: i64, dir: char) -> f32 {
    let c = v as f32;
    directed(c, (v as i128).cmp(&(c as f64 as i128)), dir)
}

#[test]
fn conversions_between_integers_floats_halves_and_bfloat16() {
    let n = 300;
    let mut rng = Rng(31);
    let special_f = [
        0.5f32,
        -0.5,
        2.5,
        -2.5,
        1e10,
        -1e10,
        f32::NAN,
        f32::INFINITY,
        65519.0,
        65520.0,
    ];
    let special_k = [
        0i32,
        -1,
        0x7C01,
        0x7F81,
        0xFFC1,
        i32::MAX,
        i32::MIN,
        0x3C00,
        0x8001,
        12345,
    ];
    let (mut f, mut k, mut d) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        f.push(
            special_f
                .get(i)
                .copied()
                .unwrap_or_else(|| rng.f32(70000.0) / (1 + i % 7) as f32),
        );
        k.push(
            special_k
                .get(i)
                .copied()
                .unwrap_or_else(|| rng.i32() >> (i % 16)),
        );
        d.push(if i < 10 {
            special_f[i] as f64 * 1.0000001
        } else {
            rng.f32(5e9) as f64 / 7.0
        });
    }
    let o = Launch::new("convert.ptx", "conversions", 3, 128)
        .buf(bytes_f32(&f))
        .buf(bytes_i32(&k))
        .buf(bytes_f64(&d))
        .out(n * 32 * 4)
        .arg(i32a(n as i32))
        .run();
    let got = o.u32s(3);
    for i in 0..n {
        let (x, k, y) = (f[i], k[i], d[i]);
        let h16 = f16_bits(x as f64, false);
        let dx = if x.is_nan() {
            0x7FFF_FFFF_FFFF_FFFF
        } else {
            (x as f64).to_bits()
        };
        let want: [u32; 32] = [
            x as i32 as u32,
            x.round_ties_even() as i32 as u32,
            x.floor() as i32 as u32,
            x.ceil() as i32 as u32,
            x as u32,
            x as i64 as u32,
            ((x as i64) >> 32) as u32,
            (k as f32).to_bits(),
            (k as u32 as f32).to_bits(),
            round_int_to_f32(k as i64, 'z').to_bits(),
            round_int_to_f32(k as u32 as i64, 'u').to_bits(),
            c32(y as f32),
            y as i32 as u32,
            dx as u32,
            (dx >> 32) as u32,
            (k as f64 * 3.0).to_bits() as u32,
            k as u32 & 0xFF,
            k as i8 as i32 as u32,
            k as i16 as i32 as u32,
            k as u32 & 0xFFFF,
            h16 as u32,
            c32(f16_value(k as u16)),
            f16_bits(x as f64, true) as u32,
            f16_bits(y, false) as u32,
            bf16_bits(x, false) as u32,
            c32(f32::from_bits((k as u32 & 0xFFFF) << 16)),
            bf16_bits(x, true) as u32,
            f16_value(h16).round_ties_even() as i32 as u32,
            ((k as f32) * 0.25).to_bits(),
            y.round_ties_even() as i64 as u32,
            y as u32,
            (((k as i64) << 20) as f32).to_bits(),
        ];
        for (j, w) in want.iter().enumerate() {
            let g = got[i * 32 + j];
            assert_eq!(g, *w, "r[{j}] of {x} {k} {y}: {g:#x} vs {w:#x}");
        }
    }
}
