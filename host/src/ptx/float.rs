//! Floating-point helpers: directed rounding (`.rz .rm .rp`) built on the
//! host's round-to-nearest arithmetic plus error-free transformations,
//! flush-to-zero, saturation, NaN canonicalisation and binary16 conversion.

use std::cmp::Ordering;

use super::instr::Rnd;

/// The NaN every f32 arithmetic instruction of the GPU produces.
pub(crate) const F32_NAN: u32 = 0x7FFF_FFFF;
/// The NaN produced for f64 results (payload not verified against hardware).
pub(crate) const F64_NAN: u64 = 0x7FFF_FFFF_FFFF_FFFF;
/// The canonical binary16 NaN.
pub(crate) const F16_NAN: u16 = 0x7FFF;
/// The canonical bfloat16 NaN.
pub(crate) const BF16_NAN: u16 = 0x7FFF;

/// `.ftz`: a subnormal becomes a zero of the same sign.
#[inline]
pub(crate) fn ftz32(x: f32) -> f32 {
    if x.is_subnormal() {
        f32::from_bits(x.to_bits() & 0x8000_0000)
    } else {
        x
    }
}

/// `.sat`: clamp to [0, 1], NaN (and -0) to +0.
#[inline]
pub(crate) fn sat32(x: f32) -> f32 {
    if x.is_nan() || x <= 0.0 {
        0.0
    } else if x > 1.0 {
        1.0
    } else {
        x
    }
}

#[inline]
pub(crate) fn sat64(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        0.0
    } else if x > 1.0 {
        1.0
    } else {
        x
    }
}

#[inline]
pub(crate) fn canon32(x: f32) -> u32 {
    if x.is_nan() {
        F32_NAN
    } else {
        x.to_bits()
    }
}

#[inline]
pub(crate) fn canon64(x: f64) -> u64 {
    if x.is_nan() {
        F64_NAN
    } else {
        x.to_bits()
    }
}

/// Knuth's TwoSum: `a + b == s + e` exactly (for finite, non-overflowing `s`).
pub(crate) fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

fn ord_of(err: f64) -> Ordering {
    if err > 0.0 {
        Ordering::Greater
    } else if err < 0.0 {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// Moves the candidate `c` (one of the two representable neighbours of the
/// exact value, or the exact value itself) in direction `rnd`, given how
/// the exact value compares with `c`.
pub(crate) fn adjust_f32(c: f32, exact_vs_c: Ordering, rnd: Rnd) -> f32 {
    match (rnd, exact_vs_c) {
        (Rnd::Rn, _) | (_, Ordering::Equal) => c,
        (Rnd::Rm, Ordering::Less) => c.next_down(),
        (Rnd::Rp, Ordering::Greater) => c.next_up(),
        (Rnd::Rz, Ordering::Less) if c > 0.0 => c.next_down(),
        (Rnd::Rz, Ordering::Greater) if c < 0.0 => c.next_up(),
        _ => c,
    }
}

/// f64 version of [`adjust_f32`].
pub(crate) fn adjust_f64(c: f64, exact_vs_c: Ordering, rnd: Rnd) -> f64 {
    match (rnd, exact_vs_c) {
        (Rnd::Rn, _) | (_, Ordering::Equal) => c,
        (Rnd::Rm, Ordering::Less) => c.next_down(),
        (Rnd::Rp, Ordering::Greater) => c.next_up(),
        (Rnd::Rz, Ordering::Less) if c > 0.0 => c.next_down(),
        (Rnd::Rz, Ordering::Greater) if c < 0.0 => c.next_up(),
        _ => c,
    }
}

/// Rounds the exact value `v + err` (|err| below half an f64 ulp of `v`)
/// to f32 in a directed mode.
pub(crate) fn f64_to_f32_dir(v: f64, err: f64, rnd: Rnd) -> f32 {
    let c = v as f32;
    if rnd == Rnd::Rn || c.is_nan() {
        return c;
    }
    let cv = c as f64;
    let ord = if v > cv {
        Ordering::Greater
    } else if v < cv {
        Ordering::Less
    } else {
        ord_of(err)
    };
    adjust_f32(c, ord, rnd)
}

/// Applies a directed mode to the round-to-nearest f64 result `c` whose
/// rounding error (exact minus `c`) has the sign of `err`.
fn dir64(c: f64, err: f64, inputs_finite: bool, rnd: Rnd) -> f64 {
    if rnd == Rnd::Rn || c.is_nan() {
        return c;
    }
    let ord = if c.is_infinite() && inputs_finite {
        if c > 0.0 {
            Ordering::Less
        } else {
            Ordering::Greater
        }
    } else {
        ord_of(err)
    };
    adjust_f64(c, ord, rnd)
}

/// IEEE: an exact zero sum is -0 when rounding down unless both addends are +0.
fn zero_sign_rm(s: f64, x: f64, y: f64, rnd: Rnd) -> f64 {
    if rnd == Rnd::Rm
        && s == 0.0
        && !(x == 0.0 && y == 0.0 && x.is_sign_positive() && y.is_sign_positive())
    {
        -0.0
    } else {
        s
    }
}

pub(crate) fn add32(x: f32, y: f32, rnd: Rnd) -> f32 {
    if rnd == Rnd::Rn {
        return x + y;
    }
    let (xd, yd) = (x as f64, y as f64);
    let (s, e) = two_sum(xd, yd);
    if s == 0.0 && e == 0.0 {
        return zero_sign_rm(s, xd, yd, rnd) as f32;
    }
    f64_to_f32_dir(s, e, rnd)
}

pub(crate) fn mul32(x: f32, y: f32, rnd: Rnd) -> f32 {
    if rnd == Rnd::Rn {
        return x * y;
    }
    f64_to_f32_dir(x as f64 * y as f64, 0.0, rnd)
}

pub(crate) fn div32(x: f32, y: f32, rnd: Rnd) -> f32 {
    if rnd == Rnd::Rn {
        return x / y;
    }
    let (xd, yd) = (x as f64, y as f64);
    let q = xd / yd;
    let err = if q.is_finite() && q != 0.0 {
        (-q).mul_add(yd, xd) * yd.signum()
    } else {
        0.0
    };
    f64_to_f32_dir(q, err, rnd)
}

pub(crate) fn sqrt32(x: f32, rnd: Rnd) -> f32 {
    if rnd == Rnd::Rn {
        return x.sqrt();
    }
    let xd = x as f64;
    let s = xd.sqrt();
    let err = if s.is_finite() && s > 0.0 {
        (-s).mul_add(s, xd)
    } else {
        0.0
    };
    f64_to_f32_dir(s, err, rnd)
}

pub(crate) fn fma32(x: f32, y: f32, z: f32, rnd: Rnd) -> f32 {
    if rnd == Rnd::Rn {
        return x.mul_add(y, z);
    }
    let p = x as f64 * y as f64;
    let (s, e) = two_sum(p, z as f64);
    if s == 0.0 && e == 0.0 {
        return zero_sign_rm(s, p, z as f64, rnd) as f32;
    }
    f64_to_f32_dir(s, e, rnd)
}

pub(crate) fn add64(x: f64, y: f64, rnd: Rnd) -> f64 {
    let (s, e) = two_sum(x, y);
    if rnd == Rnd::Rn {
        return s;
    }
    if s == 0.0 && e == 0.0 {
        return zero_sign_rm(s, x, y, rnd);
    }
    dir64(s, e, x.is_finite() && y.is_finite(), rnd)
}

pub(crate) fn mul64(x: f64, y: f64, rnd: Rnd) -> f64 {
    let p = x * y;
    if rnd == Rnd::Rn {
        return p;
    }
    let err = if p == 0.0 && x != 0.0 && y != 0.0 && x.is_finite() && y.is_finite() {
        x.signum() * y.signum()
    } else if p.is_finite() {
        x.mul_add(y, -p)
    } else {
        0.0
    };
    dir64(p, err, x.is_finite() && y.is_finite(), rnd)
}

pub(crate) fn div64(x: f64, y: f64, rnd: Rnd) -> f64 {
    let q = x / y;
    if rnd == Rnd::Rn {
        return q;
    }
    let err = if q == 0.0 && x != 0.0 && y.is_finite() {
        x.signum() * y.signum()
    } else if q.is_finite() && q != 0.0 {
        (-q).mul_add(y, x) * y.signum()
    } else {
        0.0
    };
    dir64(q, err, x.is_finite() && y.is_finite() && y != 0.0, rnd)
}

pub(crate) fn sqrt64(x: f64, rnd: Rnd) -> f64 {
    let s = x.sqrt();
    if rnd == Rnd::Rn {
        return s;
    }
    let err = if s.is_finite() && s > 0.0 {
        (-s).mul_add(s, x)
    } else {
        0.0
    };
    dir64(s, err, true, rnd)
}

/// 2^k for k in the normal f64 exponent range.
fn pow2(k: i32) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// binary16 bits to an (exact) f64.
pub(crate) fn f16_to_f64(h: u16) -> f64 {
    let s = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1F) as i32;
    let m = (h & 0x3FF) as f64;
    match e {
        0 => s * m * pow2(-24),
        31 if m == 0.0 => s * f64::INFINITY,
        31 => f64::NAN,
        _ => s * (1.0 + m / 1024.0) * pow2(e - 15),
    }
}

/// A binary16-like storage format: significand bits after the point,
/// exponent range and canonical NaN.
struct Small {
    mant: i32,
    emin: i32,
    emax: i32,
    nan: u16,
}

const F16: Small = Small {
    mant: 10,
    emin: -14,
    emax: 15,
    nan: F16_NAN,
};

const BF16: Small = Small {
    mant: 7,
    emin: -126,
    emax: 127,
    nan: BF16_NAN,
};

/// f64 to binary16 bits with one rounding in direction `rnd`.
pub(crate) fn f64_to_f16(x: f64, rnd: Rnd) -> u16 {
    f64_to_small(x, rnd, &F16)
}

/// f64 to bfloat16 bits with one rounding in direction `rnd`.
pub(crate) fn f64_to_bf16(x: f64, rnd: Rnd) -> u16 {
    f64_to_small(x, rnd, &BF16)
}

/// bfloat16 bits to an (exact) f64.
pub(crate) fn bf16_to_f64(h: u16) -> f64 {
    f32::from_bits((h as u32) << 16) as f64
}

/// The f64 nearest `s + e` that rounds like it to any format of at most 51
/// significand bits ("round to odd": an inexact sum gets an odd last bit),
/// so one more rounding of the result is a correct rounding of `s + e`.
pub(crate) fn round_to_odd(s: f64, e: f64) -> f64 {
    if e == 0.0 || !s.is_finite() || s.to_bits() & 1 == 1 {
        return s;
    }
    if (e > 0.0) == (s > 0.0) {
        f64::from_bits(s.to_bits() + 1)
    } else {
        f64::from_bits(s.to_bits() - 1)
    }
}

fn f64_to_small(x: f64, rnd: Rnd, f: &Small) -> u16 {
    if x.is_nan() {
        return f.nan;
    }
    let neg = x.is_sign_negative();
    let sign: u16 = if neg { 0x8000 } else { 0 };
    let inf = (((f.emax + f.emax + 1) as u16) << f.mant) & 0x7FFF;
    let a = x.abs();
    if a.is_infinite() {
        return sign | inf;
    }
    if a == 0.0 {
        return sign;
    }
    let e = (((a.to_bits() >> 52) & 0x7FF) as i32 - 1023).clamp(f.emin, f.emax);
    let ulp = pow2(e - f.mant);
    let q = a / ulp;
    let qr = match rnd {
        Rnd::Rn => q.round_ties_even(),
        Rnd::Rz => q.trunc(),
        Rnd::Rm if neg => q.ceil(),
        Rnd::Rm => q.floor(),
        Rnd::Rp if neg => q.floor(),
        Rnd::Rp => q.ceil(),
    };
    let m = qr * ulp;
    let max = (2.0 - pow2(-f.mant)) * pow2(f.emax);
    if m > max {
        let to_inf = match rnd {
            Rnd::Rn => true,
            Rnd::Rz => false,
            Rnd::Rm => neg,
            Rnd::Rp => !neg,
        };
        return sign | if to_inf { inf } else { inf - 1 };
    }
    if m == 0.0 {
        return sign;
    }
    let b = m.to_bits();
    let ex = ((b >> 52) & 0x7FF) as i32 - 1023;
    if ex < f.emin {
        sign | (m / pow2(f.emin - f.mant)) as u16
    } else {
        let field = ((ex + f.emax) as u16) << f.mant;
        sign | field | ((b >> (52 - f.mant)) as u16 & ((1u16 << f.mant) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directed_f32_add() {
        let (x, y) = (1.0f32, f32::EPSILON / 4.0);
        assert_eq!(add32(x, y, Rnd::Rn), 1.0);
        assert_eq!(add32(x, y, Rnd::Rz), 1.0);
        assert_eq!(add32(x, y, Rnd::Rm), 1.0);
        assert_eq!(add32(x, y, Rnd::Rp), 1.0f32.next_up());
        assert_eq!(add32(-x, -y, Rnd::Rm), (-1.0f32).next_down());
        assert_eq!(add32(-x, -y, Rnd::Rz), -1.0);
        assert_eq!(add32(f32::MAX, f32::MAX, Rnd::Rz), f32::MAX);
        assert_eq!(add32(1.0, -1.0, Rnd::Rm).to_bits(), 0x8000_0000);
    }

    #[test]
    fn directed_f64() {
        let third_rz = div64(1.0, 3.0, Rnd::Rz);
        let third_rp = div64(1.0, 3.0, Rnd::Rp);
        assert_eq!(third_rp, third_rz.next_up());
        assert!(third_rz < 1.0 / 3.0 || third_rp > 1.0 / 3.0);
        assert_eq!(sqrt64(2.0, Rnd::Rp), sqrt64(2.0, Rnd::Rm).next_up());
        assert_eq!(mul64(f64::MAX, 2.0, Rnd::Rz), f64::MAX);
    }

    #[test]
    fn f16_round_trip() {
        assert_eq!(f64_to_f16(1.0, Rnd::Rn), 0x3C00);
        assert_eq!(f64_to_f16(65504.0, Rnd::Rn), 0x7BFF);
        assert_eq!(f64_to_f16(65520.0, Rnd::Rn), 0x7C00);
        assert_eq!(f64_to_f16(1e9, Rnd::Rz), 0x7BFF);
        assert_eq!(f64_to_f16(-2.0f64.powi(-24), Rnd::Rn), 0x8001);
        assert_eq!(f64_to_f16(2.0f64.powi(-25), Rnd::Rn), 0);
        for h in 0..=0xFFFFu16 {
            let v = f16_to_f64(h);
            if !v.is_nan() {
                assert_eq!(f64_to_f16(v, Rnd::Rn), h);
            }
            let w = bf16_to_f64(h);
            if !w.is_nan() {
                assert_eq!(f64_to_bf16(w, Rnd::Rn), h);
            }
        }
    }

    #[test]
    fn bf16_rounding() {
        assert_eq!(f64_to_bf16(1.0, Rnd::Rn), 0x3F80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even.
        assert_eq!(f64_to_bf16(1.0 + 2f64.powi(-8), Rnd::Rn), 0x3F80);
        assert_eq!(f64_to_bf16(1.0 + 3.0 * 2f64.powi(-8), Rnd::Rn), 0x3F82);
        assert_eq!(f64_to_bf16(1.0 + 2f64.powi(-9), Rnd::Rp), 0x3F81);
        assert_eq!(f64_to_bf16(-1.0 - 2f64.powi(-9), Rnd::Rz), 0xBF80);
        assert_eq!(f64_to_bf16(f32::MAX as f64, Rnd::Rn), 0x7F80);
        assert_eq!(f64_to_bf16(f32::MAX as f64, Rnd::Rz), 0x7F7F);
        assert_eq!(f64_to_bf16(2f64.powi(-133), Rnd::Rn), 0x0001);
    }

    #[test]
    fn round_to_odd_keeps_the_rounding() {
        // 1 + 2^-11 + tiny: nearest binary16 is 1 + 2^-10, not the tie's 1.
        let s = 1.0 + 2f64.powi(-11);
        assert_eq!(f64_to_f16(round_to_odd(s, 1e-30), Rnd::Rn), 0x3C01);
        assert_eq!(f64_to_f16(round_to_odd(s, -1e-30), Rnd::Rn), 0x3C00);
        assert_eq!(f64_to_f16(round_to_odd(s, 0.0), Rnd::Rn), 0x3C00);
    }
}
