//! f16 and bf16 arithmetic (scalar and packed x2). Every result is the
//! exact value rounded once: products of two halves are exact in f64, and
//! sums go through [`two_sum`] and [`round_to_odd`] before the final
//! rounding, so no double rounding occurs.

use super::super::float::*;
use super::super::instr::{FMode, HOp, Rnd, Ty};
use super::fp::{fmax, fmin};

/// One half-precision lane: `scalar` is `F16` or `BF16`.
fn lane(op: HOp, scalar: Ty, m: FMode, a: u16, b: u16, c: u16) -> u16 {
    let bf = scalar == Ty::BF16;
    let sign = 0x8000u16;
    match op {
        HOp::Neg => return a ^ sign,
        HOp::Abs => return a & !sign,
        _ => {}
    }
    let input = |h: u16| {
        let h = if m.ftz && !bf && h & 0x7C00 == 0 {
            h & sign
        } else {
            h
        };
        if bf {
            bf16_to_f64(h)
        } else {
            f16_to_f64(h)
        }
    };
    let (x, y, z) = (input(a), input(b), input(c));
    let exact_sum = |p: f64, q: f64| {
        let (s, e) = two_sum(p, q);
        if s == 0.0 && e == 0.0 {
            // x + (-x) is +0, or -0 when rounding down; -0 + -0 is -0.
            let both_neg = p.is_sign_negative() && q.is_sign_negative();
            return if both_neg || m.rnd == Rnd::Rm {
                -0.0
            } else {
                0.0
            };
        }
        round_to_odd(s, e)
    };
    let r = match op {
        HOp::Add => exact_sum(x, y),
        HOp::Sub => exact_sum(x, -y),
        HOp::Mul => x * y,
        HOp::Fma => exact_sum(x * y, z),
        // `approx` carries `.NaN` for min/max (see the decoder).
        HOp::Min => fmin(x, y, m.approx),
        HOp::Max => fmax(x, y, m.approx),
        HOp::Neg | HOp::Abs => unreachable!("handled above"),
    };
    let r = if m.sat { sat64(r) } else { r };
    let h = if bf {
        f64_to_bf16(r, m.rnd)
    } else {
        f64_to_f16(r, m.rnd)
    };
    if m.ftz && !bf && h & 0x7C00 == 0 {
        h & sign
    } else {
        h
    }
}

/// `op.ty` on half-precision bit patterns (one or two lanes).
pub(crate) fn half(op: HOp, ty: Ty, m: FMode, a: u64, b: u64, c: u64) -> u64 {
    let scalar = match ty {
        Ty::BF16 | Ty::BF16x2 => Ty::BF16,
        _ => Ty::F16,
    };
    let at = |v: u64, i: u32| (v >> (16 * i)) as u16;
    let lo = lane(op, scalar, m, at(a, 0), at(b, 0), at(c, 0)) as u64;
    if ty.bits() == 16 {
        return lo;
    }
    let hi = lane(op, scalar, m, at(a, 1), at(b, 1), at(c, 1)) as u64;
    (hi << 16) | lo
}

#[cfg(test)]
mod tests {
    use super::*;

    const RN: FMode = FMode {
        rnd: Rnd::Rn,
        ftz: false,
        sat: false,
        approx: false,
    };

    #[test]
    fn f16_add_mul_fma() {
        let one = 0x3C00u64;
        let two = 0x4000u64;
        assert_eq!(half(HOp::Add, Ty::F16, RN, one, one, 0), two);
        assert_eq!(half(HOp::Mul, Ty::F16, RN, two, two, 0), 0x4400);
        assert_eq!(half(HOp::Fma, Ty::F16, RN, two, two, one), 0x4500);
        // 1 + 2^-11 ties to 1; 1 + 2^-11 + 2^-21 must not.
        let h = 0x1000u64; // 2^-11
        assert_eq!(half(HOp::Add, Ty::F16, RN, one, h, 0), one);
        assert_eq!(half(HOp::Fma, Ty::F16, RN, h | 1, one, one), 0x3C01);
        let packed = (two << 16) | one;
        assert_eq!(
            half(HOp::Add, Ty::F16x2, RN, packed, packed, 0),
            (0x4400 << 16) | two
        );
    }

    #[test]
    fn bf16_and_specials() {
        let one = 0x3F80u64;
        assert_eq!(half(HOp::Add, Ty::BF16, RN, one, one, 0), 0x4000);
        assert_eq!(half(HOp::Neg, Ty::BF16, RN, one, 0, 0), 0xBF80);
        let inf = 0x7C00u64;
        assert_eq!(half(HOp::Sub, Ty::F16, RN, inf, inf, 0), F16_NAN as u64);
        assert_eq!(half(HOp::Add, Ty::F16, RN, 0x3C00, 0xBC00, 0), 0);
        assert_eq!(half(HOp::Min, Ty::F16, RN, 0x7E00, 0x3C00, 0), 0x3C00);
    }
}
