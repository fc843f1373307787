//! ALU semantics on raw register bits, following the PTX ISA: integer
//! arithmetic and bit operations and atomic read-modify-write functions
//! here; floating point in [`fp`], conversions in [`cvt`], f16/bf16
//! arithmetic in [`half`].
//!
//! Registers hold 64-bit patterns; every function masks or sign-extends its
//! inputs according to the instruction type and returns the result
//! sign-extended (signed types) or zero-extended (others).

mod cvt;
mod fp;
mod half;

pub(crate) use cvt::{cvt, cvt_pack};
pub(crate) use fp::{compare, copysign, flt_bin, flt_un, fma, testp};
pub(crate) use half::half;

use super::float::{canon32, canon64, ftz32};
use super::instr::{AtomOp, CarryOp, IOp, IUn, MadMode, Ty};

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

/// Carry-chain arithmetic: the result and the carry (borrow) out.
pub(crate) fn carry(op: CarryOp, ty: Ty, cf: bool, a: u64, b: u64, c: u64) -> (u64, bool) {
    let bits = ty.bits();
    let m = mask(bits) as u128;
    let (a, b, c, cf) = (a as u128 & m, b as u128 & m, c as u128 & m, cf as u128);
    let (r, out) = match op {
        CarryOp::Add => {
            let r = a + b + cf;
            (r, r > m)
        }
        CarryOp::Sub => {
            let sub = b + cf;
            (a.wrapping_sub(sub), sub > a)
        }
        CarryOp::MadLo | CarryOp::MadHi => {
            let p = a * b;
            let part = if op == CarryOp::MadHi {
                p >> bits
            } else {
                p & m
            };
            let r = part + c + cf;
            (r, r > m)
        }
    };
    (fin(ty, r as u64 & m as u64), out)
}

/// `add sub min max` (`.sat`) on two 16-bit lanes.
pub(crate) fn simd2(op: IOp, signed: bool, a: u64, b: u64) -> u64 {
    let ty = if signed { Ty::S16 } else { Ty::U16 };
    let lane = |i: u32| {
        let (x, y) = ((a >> (16 * i)) & 0xFFFF, (b >> (16 * i)) & 0xFFFF);
        let r = match op {
            IOp::AddSat | IOp::SubSat if !signed => {
                let v = if op == IOp::AddSat {
                    x as i64 + y as i64
                } else {
                    x as i64 - y as i64
                };
                v.clamp(0, 0xFFFF) as u64
            }
            _ => int_bin(op, ty, x, y),
        };
        r & 0xFFFF
    };
    lane(1) << 16 | lane(0)
}

/// `shf.l` / `shf.r` (funnel shift) of the 64-bit value `b:a`.
pub(crate) fn shf(left: bool, clamp: bool, a: u64, b: u64, c: u64) -> u64 {
    let c = c & 0xFFFF_FFFF;
    let n = if clamp { c.min(32) } else { c & 31 };
    let v = ((b & 0xFFFF_FFFF) << 32) | (a & 0xFFFF_FFFF);
    if left {
        ((v << n) >> 32) & 0xFFFF_FFFF
    } else {
        (v >> n) & 0xFFFF_FFFF
    }
}

/// `sad`: `c + |a - b|`.
pub(crate) fn sad(ty: Ty, a: u64, b: u64, c: u64) -> u64 {
    let bits = ty.bits();
    let (x, y) = if ty.is_signed() {
        (sext(a, bits) as i128, sext(b, bits) as i128)
    } else {
        ((a & mask(bits)) as i128, (b & mask(bits)) as i128)
    };
    fin(ty, ((x - y).unsigned_abs() as u64).wrapping_add(c))
}

/// `bfind`: bit position of the most significant bit that differs from the
/// sign (of the most significant one for unsigned types), or `0xFFFFFFFF`.
pub(crate) fn bfind(ty: Ty, shiftamt: bool, a: u64) -> u64 {
    let msb = ty.bits() - 1;
    let mut v = a & mask(ty.bits());
    if ty.is_signed() && (v >> msb) & 1 != 0 {
        v = !v & mask(ty.bits());
    }
    if v == 0 {
        return 0xFFFF_FFFF;
    }
    let pos = 63 - v.leading_zeros();
    u64::from(if shiftamt { msb - pos } else { pos })
}

/// `dp4a` (`lo == None`) and `dp2a.lo/.hi`: integer dot products
/// accumulated into `c` (32-bit, wrapping).
pub(crate) fn dot(lo: Option<bool>, sa: bool, sb: bool, a: u64, b: u64, c: u64) -> u64 {
    let part = |v: u64, i: u32, bits: u32, signed: bool| {
        let x = (v >> (i * bits)) & mask(bits);
        if signed {
            sext(x, bits)
        } else {
            x as i64
        }
    };
    let mut acc = c as i64;
    match lo {
        None => {
            for i in 0..4 {
                acc = acc.wrapping_add(part(a, i, 8, sa) * part(b, i, 8, sb));
            }
        }
        Some(lo) => {
            let base = if lo { 0 } else { 2 };
            for i in 0..2 {
                acc = acc.wrapping_add(part(a, i, 16, sa) * part(b, base + i, 8, sb));
            }
        }
    }
    acc as u64 & 0xFFFF_FFFF
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
    fn carry_chains() {
        // 0xFFFFFFFF + 1 carries; the next word adds it.
        assert_eq!(
            carry(CarryOp::Add, Ty::U32, false, 0xFFFF_FFFF, 1, 0),
            (0, true)
        );
        assert_eq!(carry(CarryOp::Add, Ty::U32, true, 5, 6, 0), (12, false));
        // 3 - 5 borrows; the next word subtracts it.
        assert_eq!(
            carry(CarryOp::Sub, Ty::U32, false, 3, 5, 0),
            (0xFFFF_FFFE, true)
        );
        assert_eq!(carry(CarryOp::Sub, Ty::U32, true, 7, 2, 0), (4, false));
        let (hi, c) = carry(CarryOp::MadHi, Ty::U32, true, 0xFFFF_FFFF, 0xFFFF_FFFF, 1);
        assert_eq!((hi, c), (0, true));
        assert_eq!(
            simd2(IOp::Add, false, 0xFFFF_0001, 0x0001_0002),
            0x0000_0003
        );
        assert_eq!(
            simd2(IOp::AddSat, true, 0x7FFF_8000, 0x0001_FFFF),
            0x7FFF_8000
        );
        assert_eq!(simd2(IOp::Max, true, 0x8000_0001, 0x0001_0002), 0x0001_0002);
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
