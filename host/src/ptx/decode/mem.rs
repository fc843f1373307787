//! Data movement and conversion: `mov`, `cvt`, `cvta`, `isspacep`, loads,
//! stores, `cp.async` and atomics.

use super::super::ast::Space;
use super::super::instr::*;
use super::{bad, count, unsupported, Dec, Issue, Mods, Raw, DR};

pub(super) fn decode(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    match name {
        "mov" => mov(m, ops, d),
        "ld" | "ldu" => ld(m, ops, d),
        "st" => st(m, ops, d),
        "cvt" => cvt(m, ops, d),
        "cvta" => {
            let to = m.has("to");
            let space = m
                .space()
                .ok_or_else(|| Issue::Malformed("cvta needs a state space".into()))?;
            let ty = m.one_type()?;
            count(ops, 2)?;
            Ok(Op::Cvta {
                to,
                space,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
            })
        }
        "isspacep" => {
            let space = m
                .space()
                .ok_or_else(|| Issue::Malformed("isspacep needs a state space".into()))?;
            count(ops, 2)?;
            Ok(Op::Isspacep {
                space,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], Ty::U64)?,
            })
        }
        "cp" => cp(m, ops, d),
        _ => atom(name == "atom", m, ops, d),
    }
}

/// `cp.async` copies at once, so its groups and waits have nothing to do.
fn cp(m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    if !m.has("async") || m.has("bulk") || m.has("mbarrier") {
        return unsupported("cp form");
    }
    if m.has("commit_group") || m.has("wait_group") || m.has("wait_all") {
        return Ok(Op::Nop);
    }
    let _ = m.has("ca") || m.has("cg");
    if !m.has("global") || !(m.has("shared") || m.has("shared::cta")) {
        return unsupported("cp.async between these state spaces");
    }
    let hint = m.has("L2::cache_hint");
    let n = ops.len() - usize::from(hint && ops.len() > 3);
    if !(3..=4).contains(&n) {
        return bad("cp.async needs a destination, a source and a size");
    }
    let size = match d.src(&ops[2], Ty::U32)? {
        Operand::Imm(v @ (4 | 8 | 16)) => v as u32,
        _ => return bad("cp.async size must be 4, 8 or 16"),
    };
    let src_size = if n == 4 {
        Some(d.src(&ops[3], Ty::U32)?)
    } else {
        None
    };
    Ok(Op::CpAsync {
        dst: d.addr(&ops[0])?,
        src: d.addr(&ops[1])?,
        size,
        src_size,
    })
}

fn mov(m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let ty = m.one_type()?;
    count(ops, 2)?;
    Ok(match (&ops[0], &ops[1]) {
        (Raw::Vec(ds), a) => {
            if !matches!(ds.len(), 2 | 4) || ty.bits() < 32 {
                return bad("bad vector unpack");
            }
            let bits = ty.bits() / ds.len() as u32;
            let ds = ds
                .iter()
                .map(|x| d.reg_or_sink(x))
                .collect::<DR<Vec<_>>>()?;
            Op::Unpack {
                ds: ds.into(),
                a: d.src(a, ty)?,
                bits,
            }
        }
        (dst, Raw::Vec(parts)) => {
            if !matches!(parts.len(), 2 | 4) || ty.bits() < 32 {
                return bad("bad vector pack");
            }
            let bits = ty.bits() / parts.len() as u32;
            let pty = match bits {
                8 => Ty::B8,
                16 => Ty::B16,
                _ => Ty::B32,
            };
            let parts = parts
                .iter()
                .map(|x| d.src(x, pty))
                .collect::<DR<Vec<_>>>()?;
            Op::Pack {
                d: d.reg(dst)?,
                parts: parts.into(),
                bits,
            }
        }
        (dst, a) => Op::Mov {
            d: d.reg(dst)?,
            a: d.src(a, ty)?,
        },
    })
}

fn check_mem_ty(ty: Ty) -> DR<()> {
    if ty == Ty::Pred {
        bad("predicates cannot be loaded or stored")
    } else {
        Ok(())
    }
}

fn ld(m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let space = m.space().unwrap_or(Space::Generic);
    let n = m.vec();
    let ty = m.one_type()?;
    check_mem_ty(ty)?;
    count(ops, 2)?;
    let mut ds = [NO_REG; 4];
    match (&ops[0], n) {
        (Raw::Vec(v), n) if v.len() == n as usize && n > 1 => {
            for (i, x) in v.iter().enumerate() {
                ds[i] = d.reg_or_sink(x)?;
            }
        }
        (x, 1) => ds[0] = d.reg(x)?,
        _ => return bad("vector width does not match the destination"),
    }
    Ok(Op::Ld {
        space,
        ty,
        n,
        ds,
        addr: d.addr(&ops[1])?,
    })
}

fn st(m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let space = m.space().unwrap_or(Space::Generic);
    let n = m.vec();
    let ty = m.one_type()?;
    check_mem_ty(ty)?;
    count(ops, 2)?;
    let mut srcs = [Operand::Imm(0); 4];
    match (&ops[1], n) {
        (Raw::Vec(v), n) if v.len() == n as usize && n > 1 => {
            for (i, x) in v.iter().enumerate() {
                srcs[i] = d.src(x, ty)?;
            }
        }
        (x, 1) => srcs[0] = d.src(x, ty)?,
        _ => return bad("vector width does not match the source"),
    }
    Ok(Op::St {
        space,
        ty,
        n,
        srcs,
        addr: d.addr(&ops[0])?,
    })
}

fn cvt(m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let rnd = m.rnd();
    let irnd = m.irnd();
    let ftz = m.has("ftz");
    let sat = m.has("sat");
    let relu = m.has("relu");
    let tys = m.types()?;
    let [dt, st] = tys[..] else {
        return bad("cvt needs two types");
    };
    if dt == Ty::Pred || st == Ty::Pred {
        return bad("cvt of predicates");
    }
    if matches!(dt, Ty::F16x2 | Ty::BF16x2) {
        if st != Ty::F32 || irnd.is_some() || ftz || sat {
            return unsupported("packed cvt form");
        }
        count(ops, 3)?;
        return Ok(Op::CvtPack {
            dt,
            rnd: rnd.unwrap_or(Rnd::Rn),
            relu,
            d: d.reg(&ops[0])?,
            a: d.src(&ops[1], st)?,
            b: d.src(&ops[2], st)?,
        });
    }
    if relu || matches!(st, Ty::F16x2 | Ty::BF16x2) {
        return unsupported("cvt form");
    }
    count(ops, 2)?;
    Ok(Op::Cvt {
        dt,
        st,
        rnd,
        irnd,
        ftz,
        sat,
        d: d.reg(&ops[0])?,
        a: d.src(&ops[1], st)?,
    })
}

fn atom(is_atom: bool, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let space = m.space().unwrap_or(Space::Generic);
    let op = m
        .pick(|s| {
            Some(match s {
                "add" => AtomOp::Add,
                "min" => AtomOp::Min,
                "max" => AtomOp::Max,
                "exch" => AtomOp::Exch,
                "cas" => AtomOp::Cas,
                "and" => AtomOp::And,
                "or" => AtomOp::Or,
                "xor" => AtomOp::Xor,
                "inc" => AtomOp::Inc,
                "dec" => AtomOp::Dec,
                _ => return None,
            })
        })
        .ok_or_else(|| Issue::Malformed("atom needs an operation".into()))?;
    let ty = m.one_type()?;
    if matches!(space, Space::Const | Space::Param) {
        return bad("atomics on read-only state spaces");
    }
    let ok = match op {
        AtomOp::Add => matches!(
            ty,
            Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64 | Ty::F32 | Ty::F64
        ),
        AtomOp::Min | AtomOp::Max => matches!(ty, Ty::U32 | Ty::S32 | Ty::U64 | Ty::S64),
        AtomOp::Inc | AtomOp::Dec => ty == Ty::U32,
        _ => matches!(ty.bits(), 32 | 64) && !ty.is_float(),
    };
    if !ok {
        return unsupported(format!("atomic {op:?} on {ty:?}"));
    }
    let need = match (is_atom, op == AtomOp::Cas) {
        (true, true) => 4,
        (true, false) => 3,
        (false, _) => 2,
    };
    count(ops, need)?;
    let (dr, rest) = if is_atom {
        (d.reg(&ops[0])?, &ops[1..])
    } else {
        (NO_REG, ops)
    };
    let addr = d.addr(&rest[0])?;
    let b = d.src(&rest[1], ty)?;
    let c = if op == AtomOp::Cas {
        d.src(&rest[2], ty)?
    } else {
        Operand::Imm(0)
    };
    Ok(Op::Atom {
        space,
        op,
        ty,
        d: dr,
        addr,
        b,
        c,
    })
}
