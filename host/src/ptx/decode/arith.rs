//! Integer, floating-point and bit arithmetic, comparisons and selects.

use super::super::instr::*;
use super::{bad, count, unsupported, Dec, Issue, Mods, Raw, DR};

pub(super) fn decode(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    Ok(match name {
        "add" | "sub" | "mul" | "div" | "rem" | "min" | "max" => arith(name, m, ops, d)?,
        "mad" | "fma" if !m.items.contains(&"cc") => mad(name, m, ops, d)?,
        "mad" | "addc" | "subc" | "madc" => carry(name, m, ops, d)?,
        "setp" | "set" => setp(name == "set", m, ops, d)?,
        "shf" | "sad" | "bfind" | "copysign" | "testp" | "dp4a" | "dp2a" => extra(name, m, ops, d)?,
        "abs" | "neg" => {
            let ty = m.one_type()?;
            count(ops, 2)?;
            let (dr, a) = (d.reg(&ops[0])?, d.src(&ops[1], ty)?);
            if ty.is_float() {
                if ty.is_half() {
                    return unsupported("f16 arithmetic");
                }
                let fm = m.fmode();
                let op = if name == "abs" { FUn::Abs } else { FUn::Neg };
                Op::FltUn {
                    op,
                    ty,
                    m: fm,
                    d: dr,
                    a,
                }
            } else {
                let op = if name == "abs" { IUn::Abs } else { IUn::Neg };
                Op::IntUn { op, ty, d: dr, a }
            }
        }
        "not" | "cnot" | "popc" | "clz" | "brev" => {
            let ty = m.one_type()?;
            count(ops, 2)?;
            let op = match name {
                "not" => IUn::Not,
                "cnot" => IUn::Cnot,
                "popc" => IUn::Popc,
                "clz" => IUn::Clz,
                _ => IUn::Brev,
            };
            Op::IntUn {
                op,
                ty,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
            }
        }
        "and" | "or" | "xor" | "shl" | "shr" => {
            let ty = m.one_type()?;
            count(ops, 3)?;
            let op = match name {
                "and" => IOp::And,
                "or" => IOp::Or,
                "xor" => IOp::Xor,
                "shl" => IOp::Shl,
                _ => IOp::Shr,
            };
            let bty = if matches!(op, IOp::Shl | IOp::Shr) {
                Ty::U32
            } else {
                ty
            };
            Op::Int {
                op,
                ty,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], bty)?,
            }
        }
        "bfe" => {
            let ty = m.one_type()?;
            count(ops, 4)?;
            Op::Bfe {
                ty,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], Ty::U32)?,
                c: d.src(&ops[3], Ty::U32)?,
            }
        }
        "bfi" => {
            let ty = m.one_type()?;
            count(ops, 5)?;
            Op::Bfi {
                ty,
                d: d.reg(&ops[0])?,
                ops: Box::new([
                    d.src(&ops[1], ty)?,
                    d.src(&ops[2], ty)?,
                    d.src(&ops[3], Ty::U32)?,
                    d.src(&ops[4], Ty::U32)?,
                ]),
            }
        }
        "prmt" => {
            let ty = m.one_type()?;
            if ty.bits() != 32 || m.items.len() > 1 {
                return unsupported("prmt mode");
            }
            count(ops, 4)?;
            Op::Prmt {
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], ty)?,
                c: d.src(&ops[3], ty)?,
            }
        }
        "lop3" => {
            let ty = m.one_type()?;
            count(ops, 5)?;
            let lut = match d.src(&ops[4], Ty::U32)? {
                Operand::Imm(v) if v < 256 => v as u8,
                _ => return bad("lop3 needs an immediate truth table"),
            };
            if ty.bits() != 32 {
                return unsupported("lop3 type");
            }
            Op::Lop3 {
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], ty)?,
                c: d.src(&ops[3], ty)?,
                lut,
            }
        }
        "rcp" | "sqrt" | "rsqrt" | "sin" | "cos" | "ex2" | "lg2" | "tanh" => {
            let ty = m.one_type()?;
            if !matches!(ty, Ty::F32 | Ty::F64) {
                return unsupported(format!("{name} type"));
            }
            let fm = m.fmode();
            count(ops, 2)?;
            let op = match name {
                "rcp" => FUn::Rcp,
                "sqrt" => FUn::Sqrt,
                "rsqrt" => FUn::Rsqrt,
                "sin" => FUn::Sin,
                "cos" => FUn::Cos,
                "ex2" => FUn::Ex2,
                "lg2" => FUn::Lg2,
                _ => FUn::Tanh,
            };
            Op::FltUn {
                op,
                ty,
                m: fm,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
            }
        }
        "selp" => {
            let ty = m.one_type()?;
            count(ops, 4)?;
            Op::Selp {
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], ty)?,
                c: d.src(&ops[3], Ty::Pred)?,
            }
        }
        "slct" => {
            let ftz = m.has("ftz");
            let tys = m.types()?;
            let [ty, cty] = tys[..] else {
                return bad("slct needs two types");
            };
            count(ops, 4)?;
            Op::Slct {
                cty,
                ftz,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], ty)?,
                c: d.src(&ops[3], cty)?,
            }
        }
        _ => return unsupported(format!("opcode {name}")),
    })
}

fn arith(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    if name == "mul" && m.has("wide") {
        let ty = m.one_type()?;
        if !matches!(ty.bits(), 16 | 32) || ty.is_float() {
            return bad("mul.wide needs a 16- or 32-bit integer type");
        }
        count(ops, 3)?;
        return Ok(Op::MulWide {
            ty,
            d: d.reg(&ops[0])?,
            a: d.src(&ops[1], ty)?,
            b: d.src(&ops[2], ty)?,
        });
    }
    if matches!(name, "add" | "sub") && m.items.contains(&"cc") {
        return carry(name, m, ops, d);
    }
    let ty = m.one_type()?;
    count(ops, 3)?;
    if ty == Ty::Pred {
        return bad("arithmetic on predicates");
    }
    if matches!(ty, Ty::U16x2 | Ty::S16x2) {
        let sat = m.has("sat");
        let op = match (name, sat) {
            ("add", false) => IOp::Add,
            ("sub", false) => IOp::Sub,
            ("add", true) => IOp::AddSat,
            ("sub", true) => IOp::SubSat,
            ("min", false) => IOp::Min,
            ("max", false) => IOp::Max,
            _ => return unsupported(format!("{name} on 16x2")),
        };
        return Ok(Op::Simd2 {
            op,
            signed: ty == Ty::S16x2,
            d: d.reg(&ops[0])?,
            a: d.src(&ops[1], Ty::B32)?,
            b: d.src(&ops[2], Ty::B32)?,
        });
    }
    if ty.is_float() {
        if ty.is_half() {
            return unsupported("f16 arithmetic");
        }
        let nan = m.has("NaN");
        let fm = m.fmode();
        let op = match (name, nan) {
            ("add", _) => FOp::Add,
            ("sub", _) => FOp::Sub,
            ("mul", _) => FOp::Mul,
            ("div", _) => FOp::Div,
            ("min", false) => FOp::Min,
            ("max", false) => FOp::Max,
            ("min", true) => FOp::MinNaN,
            ("max", true) => FOp::MaxNaN,
            _ => return bad(format!("{name} is not defined for floats")),
        };
        return Ok(Op::Flt {
            op,
            ty,
            m: fm,
            d: d.reg(&ops[0])?,
            a: d.src(&ops[1], ty)?,
            b: d.src(&ops[2], ty)?,
        });
    }
    let op = match name {
        "add" if m.has("sat") => IOp::AddSat,
        "add" => IOp::Add,
        "sub" if m.has("sat") => IOp::SubSat,
        "sub" => IOp::Sub,
        "mul" if m.has("hi") => IOp::MulHi,
        "mul" => {
            m.has("lo");
            IOp::MulLo
        }
        "div" => IOp::Div,
        "rem" => IOp::Rem,
        "min" => IOp::Min,
        _ => IOp::Max,
    };
    Ok(Op::Int {
        op,
        ty,
        d: d.reg(&ops[0])?,
        a: d.src(&ops[1], ty)?,
        b: d.src(&ops[2], ty)?,
    })
}

fn mad(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let mode = if m.has("hi") {
        Some(MadMode::Hi)
    } else if m.has("wide") {
        Some(MadMode::Wide)
    } else if m.has("lo") {
        Some(MadMode::Lo)
    } else {
        None
    };
    let ty = m.one_type()?;
    count(ops, 4)?;
    if ty.is_float() {
        if ty.is_half() {
            return unsupported("f16 arithmetic");
        }
        if mode.is_some() {
            return bad("mad.lo/hi/wide on floats");
        }
        let fm = m.fmode();
        if ty == Ty::F64 && fm.rnd != Rnd::Rn {
            return unsupported("directed rounding of f64 fma");
        }
        return Ok(Op::Fma {
            ty,
            m: fm,
            d: d.reg(&ops[0])?,
            a: d.src(&ops[1], ty)?,
            b: d.src(&ops[2], ty)?,
            c: d.src(&ops[3], ty)?,
        });
    }
    if name == "fma" || ty == Ty::Pred {
        return bad("fma needs a float type");
    }
    let mode = mode.unwrap_or(MadMode::Lo);
    if mode == MadMode::Wide && !matches!(ty.bits(), 16 | 32) {
        return bad("mad.wide needs a 16- or 32-bit type");
    }
    let cty = if mode == MadMode::Wide {
        if ty.is_signed() {
            Ty::S64
        } else {
            Ty::U64
        }
    } else {
        ty
    };
    Ok(Op::Mad {
        mode,
        ty,
        d: d.reg(&ops[0])?,
        a: d.src(&ops[1], ty)?,
        b: d.src(&ops[2], ty)?,
        c: d.src(&ops[3], cty)?,
    })
}

fn setp(is_set: bool, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let cmp = m
        .pick(|s| {
            Some(match s {
                "eq" => Cmp::Eq,
                "ne" => Cmp::Ne,
                "lt" => Cmp::Lt,
                "le" => Cmp::Le,
                "gt" => Cmp::Gt,
                "ge" => Cmp::Ge,
                "lo" => Cmp::Lo,
                "ls" => Cmp::Ls,
                "hi" => Cmp::Hi,
                "hs" => Cmp::Hs,
                "equ" => Cmp::Equ,
                "neu" => Cmp::Neu,
                "ltu" => Cmp::Ltu,
                "leu" => Cmp::Leu,
                "gtu" => Cmp::Gtu,
                "geu" => Cmp::Geu,
                "num" => Cmp::Num,
                "nan" => Cmp::Nan,
                _ => return None,
            })
        })
        .ok_or_else(|| Issue::Malformed("setp needs a comparison".into()))?;
    let bop = m.pick(|s| match s {
        "and" => Some(BoolOp::And),
        "or" => Some(BoolOp::Or),
        "xor" => Some(BoolOp::Xor),
        _ => None,
    });
    let ftz = m.has("ftz");
    let (ty, set) = if is_set {
        match m.types()?[..] {
            [dt @ (Ty::U32 | Ty::S32 | Ty::F32), st] => (st, Some(dt)),
            _ => return bad("set needs a u32, s32 or f32 destination and a source type"),
        }
    } else {
        (m.one_type()?, None)
    };
    if matches!(ty, Ty::F16x2 | Ty::BF16x2) {
        return unsupported("packed half comparison");
    }
    count(ops, if bop.is_some() { 4 } else { 3 })?;
    let (dr, d2) = match &ops[0] {
        Raw::Pair(p, q) if !is_set => (
            d.reg(&Raw::Name(p.clone()))?,
            d.reg_or_sink(&Raw::Name(q.clone()))?,
        ),
        x => (d.reg(x)?, NO_REG),
    };
    let comb = match bop {
        Some(b) => Some((b, d.src(&ops[3], Ty::Pred)?)),
        None => None,
    };
    Ok(Op::Setp {
        cmp,
        ty,
        ftz,
        d: dr,
        d2,
        a: d.src(&ops[1], ty)?,
        b: d.src(&ops[2], ty)?,
        comb,
        set,
    })
}

/// `add.cc addc sub.cc subc mad{.lo,.hi}.cc madc`.
fn carry(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let cout = m.has("cc");
    let (op, cin) = match name {
        "add" | "addc" => (CarryOp::Add, name == "addc"),
        "sub" | "subc" => (CarryOp::Sub, name == "subc"),
        _ if m.has("hi") => (CarryOp::MadHi, name == "madc"),
        _ => {
            m.has("lo");
            (CarryOp::MadLo, name == "madc")
        }
    };
    let ty = m.one_type()?;
    if !matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64) {
        return bad("carry arithmetic needs a 32- or 64-bit integer type");
    }
    let mad = matches!(op, CarryOp::MadLo | CarryOp::MadHi);
    count(ops, if mad { 4 } else { 3 })?;
    Ok(Op::Carry {
        op,
        ty,
        cin,
        cout,
        d: d.reg(&ops[0])?,
        a: d.src(&ops[1], ty)?,
        b: d.src(&ops[2], ty)?,
        c: if mad {
            d.src(&ops[3], ty)?
        } else {
            Operand::Imm(0)
        },
    })
}

/// Funnel shifts, `sad`, `bfind`, `copysign`, `testp`, `dp4a`, `dp2a`.
fn extra(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    Ok(match name {
        "shf" => {
            let left = m.has("l");
            if !left && !m.has("r") {
                return bad("shf needs .l or .r");
            }
            let clamp = m.has("clamp");
            if !clamp && !m.has("wrap") {
                return bad("shf needs .wrap or .clamp");
            }
            if m.one_type()? != Ty::B32 {
                return bad("shf needs .b32");
            }
            count(ops, 4)?;
            Op::Shf {
                left,
                clamp,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], Ty::B32)?,
                b: d.src(&ops[2], Ty::B32)?,
                c: d.src(&ops[3], Ty::U32)?,
            }
        }
        "sad" => {
            let ty = m.one_type()?;
            if ty.is_float() || ty == Ty::Pred || ty.bits() == 8 {
                return bad("sad needs an integer type");
            }
            count(ops, 4)?;
            let uty = if ty.bits() == 64 { Ty::U64 } else { Ty::U32 };
            Op::Sad {
                ty,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], ty)?,
                c: d.src(&ops[3], if ty.bits() == 16 { Ty::U16 } else { uty })?,
            }
        }
        "bfind" => {
            let shiftamt = m.has("shiftamt");
            let ty = m.one_type()?;
            if !matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64) {
                return bad("bfind needs a 32- or 64-bit integer type");
            }
            count(ops, 2)?;
            Op::Bfind {
                ty,
                shiftamt,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
            }
        }
        "copysign" => {
            let ty = m.one_type()?;
            if !matches!(ty, Ty::F32 | Ty::F64) {
                return bad("copysign needs .f32 or .f64");
            }
            count(ops, 3)?;
            Op::Copysign {
                ty,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
                b: d.src(&ops[2], ty)?,
            }
        }
        "testp" => {
            let kind = m
                .pick(|s| {
                    Some(match s {
                        "finite" => TestKind::Finite,
                        "infinite" => TestKind::Infinite,
                        "number" => TestKind::Number,
                        "notanumber" => TestKind::NotANumber,
                        "normal" => TestKind::Normal,
                        "subnormal" => TestKind::Subnormal,
                        _ => return None,
                    })
                })
                .ok_or_else(|| Issue::Malformed("testp needs a property".into()))?;
            let ty = m.one_type()?;
            if !matches!(ty, Ty::F32 | Ty::F64) {
                return bad("testp needs .f32 or .f64");
            }
            count(ops, 2)?;
            Op::Testp {
                kind,
                ty,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
            }
        }
        _ => {
            let lo = if name == "dp2a" {
                let hi = m.has("hi");
                if !hi && !m.has("lo") {
                    return bad("dp2a needs .lo or .hi");
                }
                Some(!hi)
            } else {
                None
            };
            let [ta, tb] = m.types()?[..] else {
                return bad("dot product needs two types");
            };
            let signed = |t: Ty| match t {
                Ty::S32 => Ok(true),
                Ty::U32 => Ok(false),
                _ => bad("dot product types are .u32 or .s32"),
            };
            let (sa, sb) = (signed(ta)?, signed(tb)?);
            count(ops, 4)?;
            let cty = if sa || sb { Ty::S32 } else { Ty::U32 };
            Op::Dot {
                lo,
                sa,
                sb,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ta)?,
                b: d.src(&ops[2], tb)?,
                c: d.src(&ops[3], cty)?,
            }
        }
    })
}
