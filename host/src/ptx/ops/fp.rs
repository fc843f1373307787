//! Floating-point arithmetic on f32/f64 bit patterns: IEEE operations with
//! rounding modes, `.ftz`, `.sat`, min/max, comparisons, `copysign`,
//! `testp`.

use super::super::float::*;
use super::super::instr::{Cmp, FMode, FOp, FUn, TestKind, Ty};
use super::{mask, sext};
use std::cmp::Ordering;

#[inline]
pub(super) fn in32(x: u64, ftz: bool) -> f32 {
    let f = f32::from_bits(x as u32);
    if ftz {
        ftz32(f)
    } else {
        f
    }
}

#[inline]
pub(super) fn out32(f: f32, m: FMode) -> u64 {
    let mut f = f;
    if m.ftz {
        f = ftz32(f);
    }
    if m.sat {
        f = sat32(f);
    }
    canon32(f) as u64
}

#[inline]
fn out64(f: f64, m: FMode) -> u64 {
    canon64(if m.sat { sat64(f) } else { f })
}

pub(super) fn fmin(x: f64, y: f64, nan: bool) -> f64 {
    if x.is_nan() || y.is_nan() {
        if nan || (x.is_nan() && y.is_nan()) {
            return f64::NAN;
        }
        return if x.is_nan() { y } else { x };
    }
    if x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    x.min(y)
}

pub(super) fn fmax(x: f64, y: f64, nan: bool) -> f64 {
    if x.is_nan() || y.is_nan() {
        if nan || (x.is_nan() && y.is_nan()) {
            return f64::NAN;
        }
        return if x.is_nan() { y } else { x };
    }
    if x == y {
        return if x.is_sign_positive() { x } else { y };
    }
    x.max(y)
}

/// Binary floating-point operation on f32 or f64 bit patterns.
pub(crate) fn flt_bin(op: FOp, ty: Ty, m: FMode, a: u64, b: u64) -> u64 {
    if ty == Ty::F64 {
        let (x, y) = (f64::from_bits(a), f64::from_bits(b));
        let r = match op {
            FOp::Add => add64(x, y, m.rnd),
            FOp::Sub => add64(x, -y, m.rnd),
            FOp::Mul => mul64(x, y, m.rnd),
            FOp::Div => div64(x, y, m.rnd),
            FOp::Min => fmin(x, y, false),
            FOp::Max => fmax(x, y, false),
            FOp::MinNaN => fmin(x, y, true),
            FOp::MaxNaN => fmax(x, y, true),
        };
        out64(r, m)
    } else {
        let (x, y) = (in32(a, m.ftz), in32(b, m.ftz));
        let r = match op {
            FOp::Add => add32(x, y, m.rnd),
            FOp::Sub => add32(x, -y, m.rnd),
            FOp::Mul => mul32(x, y, m.rnd),
            FOp::Div => div32(x, y, m.rnd),
            FOp::Min => fmin(x as f64, y as f64, false) as f32,
            FOp::Max => fmax(x as f64, y as f64, false) as f32,
            FOp::MinNaN => fmin(x as f64, y as f64, true) as f32,
            FOp::MaxNaN => fmax(x as f64, y as f64, true) as f32,
        };
        out32(r, m)
    }
}

/// Unary floating-point operation; `.approx` functions use the host's
/// libm and are not bit-exact with the GPU's special function unit.
pub(crate) fn flt_un(op: FUn, ty: Ty, m: FMode, a: u64) -> u64 {
    if ty == Ty::F64 {
        let x = f64::from_bits(a);
        let r = match op {
            FUn::Neg => return a ^ (1 << 63),
            FUn::Abs => return a & !(1 << 63),
            FUn::Sqrt if m.approx => x.sqrt(),
            FUn::Sqrt => sqrt64(x, m.rnd),
            FUn::Rcp if m.approx => 1.0 / x,
            FUn::Rcp => div64(1.0, x, m.rnd),
            FUn::Rsqrt => 1.0 / x.sqrt(),
            FUn::Sin => x.sin(),
            FUn::Cos => x.cos(),
            FUn::Ex2 => x.exp2(),
            FUn::Lg2 => x.log2(),
            FUn::Tanh => x.tanh(),
        };
        out64(r, m)
    } else {
        let x = in32(a, m.ftz);
        let r = match op {
            FUn::Neg => return (x.to_bits() ^ 0x8000_0000) as u64,
            FUn::Abs => return (x.to_bits() & 0x7FFF_FFFF) as u64,
            FUn::Sqrt if m.approx => x.sqrt(),
            FUn::Sqrt => sqrt32(x, m.rnd),
            FUn::Rcp if m.approx => 1.0 / x,
            FUn::Rcp => div32(1.0, x, m.rnd),
            FUn::Rsqrt => 1.0 / x.sqrt(),
            FUn::Sin => x.sin(),
            FUn::Cos => x.cos(),
            FUn::Ex2 => x.exp2(),
            FUn::Lg2 => x.log2(),
            FUn::Tanh => x.tanh(),
        };
        out32(r, m)
    }
}

/// `fma.rnd` (and float `mad`): one rounding of `a*b+c`.
pub(crate) fn fma(ty: Ty, m: FMode, a: u64, b: u64, c: u64) -> u64 {
    if ty == Ty::F64 {
        let r = f64::from_bits(a).mul_add(f64::from_bits(b), f64::from_bits(c));
        out64(r, m)
    } else {
        let r = fma32(in32(a, m.ftz), in32(b, m.ftz), in32(c, m.ftz), m.rnd);
        out32(r, m)
    }
}

pub(super) fn float_in(ty: Ty, a: u64, ftz: bool) -> f64 {
    match ty {
        Ty::F64 => f64::from_bits(a),
        Ty::F16 => f16_to_f64(a as u16),
        Ty::BF16 => bf16_to_f64(a as u16),
        _ => in32(a, ftz) as f64,
    }
}

/// `setp`/`slct` comparison.
pub(crate) fn compare(cmp: Cmp, ty: Ty, ftz: bool, a: u64, b: u64) -> bool {
    if ty.is_float() {
        let (x, y) = (float_in(ty, a, ftz), float_in(ty, b, ftz));
        let un = x.is_nan() || y.is_nan();
        match cmp {
            Cmp::Eq => !un && x == y,
            Cmp::Ne => !un && x != y,
            Cmp::Lt | Cmp::Lo => x < y,
            Cmp::Le | Cmp::Ls => x <= y,
            Cmp::Gt | Cmp::Hi => x > y,
            Cmp::Ge | Cmp::Hs => x >= y,
            Cmp::Equ => un || x == y,
            Cmp::Neu => un || x != y,
            Cmp::Ltu => un || x < y,
            Cmp::Leu => un || x <= y,
            Cmp::Gtu => un || x > y,
            Cmp::Geu => un || x >= y,
            Cmp::Num => !un,
            Cmp::Nan => un,
        }
    } else {
        let bits = ty.bits();
        let m = mask(bits);
        let ou = (a & m).cmp(&(b & m));
        let os = if ty.is_signed() {
            sext(a, bits).cmp(&sext(b, bits))
        } else {
            ou
        };
        match cmp {
            Cmp::Eq | Cmp::Equ => ou == Ordering::Equal,
            Cmp::Ne | Cmp::Neu => ou != Ordering::Equal,
            Cmp::Lt | Cmp::Ltu => os == Ordering::Less,
            Cmp::Le | Cmp::Leu => os != Ordering::Greater,
            Cmp::Gt | Cmp::Gtu => os == Ordering::Greater,
            Cmp::Ge | Cmp::Geu => os != Ordering::Less,
            Cmp::Lo => ou == Ordering::Less,
            Cmp::Ls => ou != Ordering::Greater,
            Cmp::Hi => ou == Ordering::Greater,
            Cmp::Hs => ou != Ordering::Less,
            Cmp::Num => true,
            Cmp::Nan => false,
        }
    }
}

/// `copysign`: `b` with the sign of `a`.
pub(crate) fn copysign(ty: Ty, a: u64, b: u64) -> u64 {
    let sign = if ty == Ty::F64 {
        1u64 << 63
    } else {
        1u64 << 31
    };
    (b & mask(ty.bits()) & !sign) | (a & sign)
}

/// `testp`.
pub(crate) fn testp(kind: TestKind, ty: Ty, a: u64) -> bool {
    let x = if ty == Ty::F64 {
        f64::from_bits(a)
    } else {
        f32::from_bits(a as u32) as f64
    };
    let subnormal = if ty == Ty::F64 {
        x.is_subnormal()
    } else {
        f32::from_bits(a as u32).is_subnormal()
    };
    match kind {
        TestKind::Finite => x.is_finite(),
        TestKind::Infinite => x.is_infinite(),
        TestKind::Number => !x.is_nan(),
        TestKind::NotANumber => x.is_nan(),
        TestKind::Normal => x.is_finite() && x != 0.0 && !subnormal,
        TestKind::Subnormal => subnormal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptx::float::F32_NAN;
    use crate::ptx::instr::Rnd;

    #[test]
    fn min_max_nan() {
        let m = FMode {
            rnd: Rnd::Rn,
            ftz: false,
            sat: false,
            approx: false,
        };
        let nan = f32::NAN.to_bits() as u64;
        let one = 1f32.to_bits() as u64;
        assert_eq!(flt_bin(FOp::Min, Ty::F32, m, nan, one), one);
        assert_eq!(flt_bin(FOp::Max, Ty::F32, m, one, nan), one);
        assert_eq!(flt_bin(FOp::Min, Ty::F32, m, nan, nan), F32_NAN as u64);
        assert_eq!(flt_bin(FOp::Min, Ty::F32, m, 0x8000_0000, 0), 0x8000_0000);
    }
}
