//! ALU semantics on raw register bits, following the PTX ISA: integer
//! arithmetic and bit operations, floating-point arithmetic, comparisons,
//! conversions and atomic read-modify-write functions.
//!
//! Registers hold 64-bit patterns; every function masks or sign-extends its
//! inputs according to the instruction type and returns the result
//! sign-extended (signed types) or zero-extended (others).

use std::cmp::Ordering;

use super::float::*;
use super::instr::{AtomOp, Cmp, FMode, FOp, FUn, IOp, IUn, MadMode, Rnd, Ty};

#[inline]
pub(crate) fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[inline]
pub(crate) fn sext(v: u64, bits: u32) -> i64 {
    if bits >= 64 || bits == 0 {
        v as i64
    } else {
        let s = 64 - bits;
        ((v << s) as i64) >> s
    }
}

/// Normalises a value of type `ty` for a register.
#[inline]
pub(crate) fn fin(ty: Ty, v: u64) -> u64 {
    let b = ty.bits();
    if ty.is_signed() {
        sext(v, b) as u64
    } else {
        v & mask(b)
    }
}

pub(crate) fn int_bin(op: IOp, ty: Ty, a: u64, b: u64) -> u64 {
    let bits = ty.bits();
    let m = mask(bits);
    let s = ty.is_signed();
    let r = match op {
        IOp::Add => a.wrapping_add(b),
        IOp::Sub => a.wrapping_sub(b),
        IOp::AddSat | IOp::SubSat => {
            let (x, y) = (sext(a, bits) as i128, sext(b, bits) as i128);
            let v = if op == IOp::AddSat { x + y } else { x - y };
            let lim = 1i128 << (bits.max(1) - 1);
            v.clamp(-lim, lim - 1) as u64
        }
        IOp::MulLo => a.wrapping_mul(b),
        IOp::MulHi => {
            if s {
                ((sext(a, bits) as i128 * sext(b, bits) as i128) >> bits) as u64
            } else {
                (((a & m) as u128 * (b & m) as u128) >> bits) as u64
            }
        }
        IOp::Div => {
            if b & m == 0 {
                m
            } else if s {
                sext(a, bits).wrapping_div(sext(b, bits)) as u64
            } else {
                (a & m) / (b & m)
            }
        }
        IOp::Rem => {
            if b & m == 0 {
                a
            } else if s {
                sext(a, bits).wrapping_rem(sext(b, bits)) as u64
            } else {
                (a & m) % (b & m)
            }
        }
        IOp::Min => {
            if s {
                sext(a, bits).min(sext(b, bits)) as u64
            } else {
                (a & m).min(b & m)
            }
        }
        IOp::Max => {
            if s {
                sext(a, bits).max(sext(b, bits)) as u64
            } else {
                (a & m).max(b & m)
            }
        }
        IOp::And => a & b,
        IOp::Or => a | b,
        IOp::Xor => a ^ b,
        IOp::Shl => {
            let n = b & 0xFFFF_FFFF;
            if n >= bits as u64 {
                0
            } else {
                a << n
            }
        }
        IOp::Shr => {
            let n = b & 0xFFFF_FFFF;
            if s {
                (sext(a, bits) >> n.min(bits as u64 - 1)) as u64
            } else if n >= bits as u64 {
                0
            } else {
                (a & m) >> n
            }
        }
    };
    fin(ty, r)
}

pub(crate) fn int_un(op: IUn, ty: Ty, a: u64) -> u64 {
    let bits = ty.bits();
    let m = mask(bits);
    let x = a & m;
    match op {
        IUn::Neg => fin(ty, x.wrapping_neg()),
        IUn::Abs => fin(ty, sext(x, bits).wrapping_abs() as u64),
        IUn::Not => fin(ty, !x),
        IUn::Cnot => (x == 0) as u64,
        IUn::Popc => x.count_ones() as u64,
        IUn::Clz => (x.leading_zeros() - (64 - bits)) as u64,
        IUn::Brev => (x.reverse_bits() >> (64 - bits)) & m,
    }
}

/// `mul.wide`: `ty` is the (16- or 32-bit) source type.
pub(crate) fn mul_wide(ty: Ty, a: u64, b: u64) -> u64 {
    let bits = ty.bits();
    let r = if ty.is_signed() {
        (sext(a, bits) as i128 * sext(b, bits) as i128) as u64
    } else {
        (a & mask(bits)).wrapping_mul(b & mask(bits))
    };
    wide_fin(ty, r)
}

fn wide_fin(ty: Ty, r: u64) -> u64 {
    let wb = (ty.bits() * 2).min(64);
    if ty.is_signed() {
        sext(r, wb) as u64
    } else {
        r & mask(wb)
    }
}

pub(crate) fn mad(mode: MadMode, ty: Ty, a: u64, b: u64, c: u64) -> u64 {
    match mode {
        MadMode::Lo => fin(ty, a.wrapping_mul(b).wrapping_add(c)),
        MadMode::Hi => fin(ty, int_bin(IOp::MulHi, ty, a, b).wrapping_add(c)),
        MadMode::Wide => wide_fin(ty, mul_wide(ty, a, b).wrapping_add(c)),
    }
}

/// `bfe`: extract `len` bits at `pos`, sign-filling for signed types.
pub(crate) fn bfe(ty: Ty, a: u64, pos: u64, len: u64) -> u64 {
    let bits = ty.bits() as u64;
    let msb = bits - 1;
    let pos = pos & 0xFF;
    let len = len & 0xFF;
    let sbit = if !ty.is_signed() || len == 0 {
        0
    } else {
        (a >> (pos + len - 1).min(msb)) & 1
    };
    let mut d = 0u64;
    for i in 0..bits {
        let bit = if i < len && pos + i <= msb {
            (a >> (pos + i)) & 1
        } else {
            sbit
        };
        d |= bit << i;
    }
    fin(ty, d)
}

/// `bfi`: insert the low `len` bits of `a` into `b` at `pos`.
pub(crate) fn bfi(ty: Ty, a: u64, b: u64, pos: u64, len: u64) -> u64 {
    let msb = ty.bits() as u64 - 1;
    let pos = pos & 0xFF;
    let len = len & 0xFF;
    let mut f = b;
    let mut i = 0;
    while i < len && pos + i <= msb {
        f = (f & !(1u64 << (pos + i))) | (((a >> i) & 1) << (pos + i));
        i += 1;
    }
    fin(ty, f)
}

/// `prmt.b32` in its default mode.
pub(crate) fn prmt(a: u64, b: u64, c: u64) -> u64 {
    let src = (a & 0xFFFF_FFFF) | ((b & 0xFFFF_FFFF) << 32);
    let mut d = 0u64;
    for i in 0..4 {
        let sel = (c >> (4 * i)) & 0xF;
        let byte = (src >> (8 * (sel & 7))) & 0xFF;
        let byte = if sel & 8 != 0 {
            if byte & 0x80 != 0 {
                0xFF
            } else {
                0
            }
        } else {
            byte
        };
        d |= byte << (8 * i);
    }
    d
}

/// `lop3.b32`: arbitrary 3-input logic function given by its truth table.
pub(crate) fn lop3(a: u64, b: u64, c: u64, lut: u8) -> u64 {
    let mut d = 0u64;
    for i in 0..32 {
        let idx = (((a >> i) & 1) << 2) | (((b >> i) & 1) << 1) | ((c >> i) & 1);
        d |= (((lut as u64) >> idx) & 1) << i;
    }
    d
}

#[inline]
fn in32(x: u64, ftz: bool) -> f32 {
    let f = f32::from_bits(x as u32);
    if ftz {
        ftz32(f)
    } else {
        f
    }
}

#[inline]
fn out32(f: f32, m: FMode) -> u64 {
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

fn fmin(x: f64, y: f64, nan: bool) -> f64 {
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

fn fmax(x: f64, y: f64, nan: bool) -> f64 {
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

fn float_in(ty: Ty, a: u64, ftz: bool) -> f64 {
    match ty {
        Ty::F64 => f64::from_bits(a),
        Ty::F16 => f16_to_f64(a as u16),
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

fn round_int(x: f64, r: Rnd) -> f64 {
    match r {
        Rnd::Rn => x.round_ties_even(),
        Rnd::Rz => x.trunc(),
        Rnd::Rm => x.floor(),
        Rnd::Rp => x.ceil(),
    }
}

fn int_value(ty: Ty, a: u64) -> i128 {
    if ty.is_signed() {
        sext(a, ty.bits()) as i128
    } else {
        (a & mask(ty.bits())) as i128
    }
}

/// Float to integer of type `dt`: saturating, NaN gives 0 (PTX `cvt` rules).
fn float_to_int(dt: Ty, r: f64) -> u64 {
    let v = match dt {
        Ty::S8 => r as i8 as u64,
        Ty::S16 => r as i16 as u64,
        Ty::S32 => r as i32 as u64,
        Ty::S64 => r as i64 as u64,
        Ty::U8 | Ty::B8 => r as u8 as u64,
        Ty::U16 | Ty::B16 => r as u16 as u64,
        Ty::U32 | Ty::B32 => r as u32 as u64,
        _ => r as u64,
    };
    fin(dt, v)
}

fn float_out(dt: Ty, x: f64, rnd: Rnd, ftz: bool, sat: bool) -> u64 {
    match dt {
        Ty::F64 => canon64(if sat { sat64(x) } else { x }),
        Ty::F16 => f64_to_f16(if sat { sat64(x) } else { x }, rnd) as u64,
        _ => {
            let mut f = f64_to_f32_dir(x, 0.0, rnd);
            if ftz {
                f = ftz32(f);
            }
            if sat {
                f = sat32(f);
            }
            canon32(f) as u64
        }
    }
}

/// `cvt.dt.st` with optional rounding (`rnd` for float results, `irnd` for
/// integer rounding), `.ftz` and `.sat`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cvt(
    dt: Ty,
    st: Ty,
    rnd: Option<Rnd>,
    irnd: Option<Rnd>,
    ftz: bool,
    sat: bool,
    a: u64,
) -> u64 {
    match (dt.is_float(), st.is_float()) {
        (false, false) => {
            let v = int_value(st, a);
            let v = if sat {
                let b = dt.bits();
                let (lo, hi) = if dt.is_signed() {
                    (-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1)
                } else {
                    (0, (1i128 << b) - 1)
                };
                v.clamp(lo, hi)
            } else {
                v
            };
            fin(dt, v as u64)
        }
        (false, true) => {
            let x = float_in(st, a, ftz);
            float_to_int(dt, round_int(x, irnd.or(rnd).unwrap_or(Rnd::Rz)))
        }
        (true, false) => {
            let v = int_value(st, a);
            let r = rnd.unwrap_or(Rnd::Rn);
            match dt {
                Ty::F64 => {
                    let c = v as f64;
                    let f = adjust_f64(c, v.cmp(&(c as i128)), r);
                    canon64(if sat { sat64(f) } else { f })
                }
                // Integers beyond 2^53 overflow binary16 anyway, so the
                // rounding to f64 first cannot change the result.
                Ty::F16 => f64_to_f16(if sat { sat64(v as f64) } else { v as f64 }, r) as u64,
                _ => {
                    let c = v as f32;
                    let f = adjust_f32(c, v.cmp(&(c as i128)), r);
                    canon32(if sat { sat32(f) } else { f }) as u64
                }
            }
        }
        (true, true) => {
            let x = float_in(st, a, ftz);
            let x = match irnd {
                Some(ir) => round_int(x, ir),
                None => x,
            };
            float_out(dt, x, rnd.unwrap_or(Rnd::Rn), ftz, sat)
        }
    }
}

/// The value an atomic stores, given the old value and operands.
pub(crate) fn atom_apply(op: AtomOp, ty: Ty, old: u64, b: u64, c: u64) -> u64 {
    let bits = ty.bits();
    let m = mask(bits);
    let (o, v) = (old & m, b & m);
    let r = match op {
        AtomOp::Add => match ty {
            // atom.add.f32 rounds to nearest and flushes subnormals.
            Ty::F32 => canon32(ftz32(
                ftz32(f32::from_bits(o as u32)) + ftz32(f32::from_bits(v as u32)),
            )) as u64,
            Ty::F64 => canon64(f64::from_bits(o) + f64::from_bits(v)),
            _ => o.wrapping_add(v),
        },
        AtomOp::Min => int_bin(IOp::Min, ty, o, v),
        AtomOp::Max => int_bin(IOp::Max, ty, o, v),
        AtomOp::Exch => v,
        AtomOp::Cas => {
            if o == v {
                c
            } else {
                o
            }
        }
        AtomOp::And => o & v,
        AtomOp::Or => o | v,
        AtomOp::Xor => o ^ v,
        AtomOp::Inc => {
            if o >= v {
                0
            } else {
                o + 1
            }
        }
        AtomOp::Dec => {
            if o == 0 || o > v {
                v
            } else {
                o - 1
            }
        }
    };
    r & m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_clamp() {
        assert_eq!(int_bin(IOp::Shl, Ty::B32, 1, 32), 0);
        assert_eq!(int_bin(IOp::Shr, Ty::U32, 0x8000_0000, 40), 0);
        assert_eq!(
            int_bin(IOp::Shr, Ty::S32, 0x8000_0000, 40) as u32,
            0xFFFF_FFFF
        );
        assert_eq!(int_bin(IOp::Shl, Ty::B16, 1, 0x1_0000), 0);
    }

    #[test]
    fn division_edges() {
        assert_eq!(int_bin(IOp::Div, Ty::U32, 5, 0), 0xFFFF_FFFF);
        assert_eq!(int_bin(IOp::Div, Ty::S32, 5, 0) as i64, -1);
        assert_eq!(
            int_bin(IOp::Div, Ty::S32, 0x8000_0000, 0xFFFF_FFFF) as i32,
            i32::MIN
        );
        assert_eq!(int_bin(IOp::Rem, Ty::S32, 0x8000_0000, 0xFFFF_FFFF), 0);
    }

    #[test]
    fn cvt_rules() {
        let nan = f32::NAN.to_bits() as u64;
        assert_eq!(
            cvt(Ty::S32, Ty::F32, None, Some(Rnd::Rz), false, false, nan),
            0
        );
        assert_eq!(
            cvt(
                Ty::U8,
                Ty::F32,
                None,
                Some(Rnd::Rn),
                false,
                false,
                300f32.to_bits() as u64
            ),
            255
        );
        assert_eq!(
            cvt(
                Ty::S32,
                Ty::F32,
                None,
                Some(Rnd::Rn),
                false,
                false,
                2.5f32.to_bits() as u64
            ),
            2
        );
        assert_eq!(
            cvt(
                Ty::S32,
                Ty::F32,
                None,
                Some(Rnd::Rm),
                false,
                false,
                (-2.5f32).to_bits() as u64
            ) as i64,
            -3
        );
        assert_eq!(
            cvt(Ty::U16, Ty::S32, None, None, false, true, (-5i64) as u64),
            0
        );
        assert_eq!(cvt(Ty::S8, Ty::S32, None, None, false, true, 1000), 127);
        assert_eq!(
            cvt(Ty::S64, Ty::S32, None, None, false, false, 0xFFFF_FFFF) as i64,
            -1
        );
        assert_eq!(
            cvt(Ty::U64, Ty::U32, None, None, false, false, u64::MAX),
            0xFFFF_FFFF
        );
        let big = (1u64 << 24) + 1;
        assert_eq!(
            cvt(Ty::F32, Ty::U32, Some(Rnd::Rp), None, false, false, big),
            ((1u64 << 24) as f32).next_up().to_bits() as u64
        );
    }

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

    #[test]
    fn bit_ops() {
        assert_eq!(bfe(Ty::S32, 0xF0, 4, 4) as u32, 0xFFFF_FFFF);
        assert_eq!(bfe(Ty::U32, 0xF0, 4, 4), 0xF);
        assert_eq!(bfi(Ty::B32, 0xF, 0, 8, 4), 0xF00);
        assert_eq!(prmt(0x4433_2211, 0x8877_6655, 0x3210), 0x4433_2211);
        assert_eq!(prmt(0x4433_2211, 0x8877_6655, 0x7654), 0x8877_6655);
        assert_eq!(lop3(0xF0, 0xCC, 0xAA, 0x80), 0x80);
        assert_eq!(int_un(IUn::Clz, Ty::B32, 1), 31);
        assert_eq!(int_un(IUn::Brev, Ty::B32, 1), 0x8000_0000);
        assert_eq!(int_un(IUn::Popc, Ty::B64, u64::MAX), 64);
    }
}
