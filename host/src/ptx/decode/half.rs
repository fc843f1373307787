//! Half-precision arithmetic: `add sub mul fma min max neg abs` on `.f16`,
//! `.bf16` and their packed `x2` forms.

use super::super::instr::*;
use super::{bad, count, unsupported, Dec, Mods, Raw, DR};

const OPS: &[&str] = &["add", "sub", "mul", "fma", "min", "max", "neg", "abs"];

/// Whether `name` with these modifiers is a half-precision ALU operation.
pub(super) fn is_half_op(name: &str, m: &Mods) -> bool {
    OPS.contains(&name)
        && m.items
            .iter()
            .any(|s| matches!(*s, "f16" | "bf16" | "f16x2" | "bf16x2"))
}

pub(super) fn decode(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let nan = m.has("NaN");
    if m.has("xorsign") || m.has("relu") || m.has("oob") {
        return unsupported("half-precision modifier");
    }
    let fm = m.fmode();
    let ty = m.one_type()?;
    let op = match (name, nan) {
        ("add", false) => HOp::Add,
        ("sub", false) => HOp::Sub,
        ("mul", false) => HOp::Mul,
        ("fma", false) => HOp::Fma,
        ("min", _) => HOp::Min,
        ("max", _) => HOp::Max,
        ("neg", false) => HOp::Neg,
        ("abs", false) => HOp::Abs,
        _ => return bad(format!(".NaN is not defined for {name}")),
    };
    let n = match op {
        HOp::Fma => 4,
        HOp::Neg | HOp::Abs => 2,
        _ => 3,
    };
    count(ops, n)?;
    // The modifiers' meaning for min/max: approx stands for .NaN here.
    let fm = FMode { approx: nan, ..fm };
    let sty = if ty.bits() == 32 { Ty::B32 } else { Ty::B16 };
    let imm0 = Operand::Imm(0);
    Ok(Op::Half {
        op,
        ty,
        m: fm,
        d: d.reg(&ops[0])?,
        a: d.src(&ops[1], sty)?,
        b: if n > 2 { d.src(&ops[2], sty)? } else { imm0 },
        c: if n > 3 { d.src(&ops[3], sty)? } else { imm0 },
    })
}
