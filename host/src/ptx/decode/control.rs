//! Control flow and synchronisation: branches, calls, returns, CTA
//! barriers, memory fences and the warp-synchronous operations (`shfl`,
//! `vote`, `match`, `redux`, `activemask`, `bar.warp.sync`).

use super::super::instr::*;
use super::{bad, count, unsupported, Dec, Issue, Mods, Named, Raw, DR};

pub(super) fn decode(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    Ok(match name {
        "bra" => {
            count(ops, 1)?;
            match &ops[0] {
                Raw::Name(l) => Op::Bra {
                    target: d.r.label(l),
                },
                _ => return bad("bra needs a label"),
            }
        }
        "call" => call(ops, d)?,
        "ret" | "exit" | "trap" => {
            count(ops, 0)?;
            match name {
                "ret" => Op::Ret,
                "exit" => Op::Exit,
                _ => Op::Trap,
            }
        }
        "bar" | "barrier" => barrier(m, ops, d)?,
        "membar" | "fence" | "nanosleep" | "pmevent" | "prefetch" | "prefetchu"
        | "griddepcontrol" => {
            m.used.iter_mut().for_each(|u| *u = true);
            Op::Nop
        }
        "activemask" => {
            m.one_type()?;
            count(ops, 1)?;
            Op::ActiveMask { d: d.reg(&ops[0])? }
        }
        _ => warp(name, m, ops, d)?,
    })
}

/// `bar`/`barrier` in their CTA forms, and `bar.warp.sync`.
fn barrier(m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    if m.has("cluster") {
        return unsupported("cluster barrier");
    }
    if m.has("warp") {
        m.has("sync");
        count(ops, 1)?;
        return Ok(Op::Warp {
            kind: WarpKind::Sync,
            d: NO_REG,
            p: NO_REG,
            a: Operand::Imm(0),
            b: Operand::Imm(0),
            c: Operand::Imm(0),
            mask: Some(d.src(&ops[0], Ty::U32)?),
        });
    }
    let _ = m.has("cta");
    let _ = m.has("aligned");
    if m.has("red") {
        let red = m
            .pick(|s| match s {
                "popc" => Some(BarRed::Popc),
                "and" => Some(BarRed::And),
                "or" => Some(BarRed::Or),
                _ => None,
            })
            .ok_or_else(|| Issue::Malformed("bar.red needs popc, and or or".into()))?;
        let ty = m.one_type()?;
        if (red == BarRed::Popc) != (ty == Ty::U32) || (red != BarRed::Popc && ty != Ty::Pred) {
            return bad("bar.red type does not fit its operation");
        }
        if !(3..=4).contains(&ops.len()) {
            return bad("bar.red needs a destination, an id and a predicate");
        }
        let n = ops.len();
        return Ok(Op::Bar {
            id: d.src(&ops[1], Ty::U32)?,
            count: if n == 4 {
                Some(d.src(&ops[2], Ty::U32)?)
            } else {
                None
            },
            wait: true,
            red: Some(Box::new((
                red,
                d.reg(&ops[0])?,
                d.src(&ops[n - 1], Ty::Pred)?,
            ))),
        });
    }
    let wait = !m.has("arrive");
    if wait {
        m.has("sync");
    }
    if ops.is_empty() || ops.len() > 2 || (!wait && ops.len() != 2) {
        return bad("barrier needs an id (and a thread count)");
    }
    Ok(Op::Bar {
        id: d.src(&ops[0], Ty::U32)?,
        count: match ops.get(1) {
            Some(c) => Some(d.src(c, Ty::U32)?),
            None => None,
        },
        wait,
        red: None,
    })
}

/// `d` or `d|p` of shfl and match.
fn dest_pair(o: &Raw, d: &mut Dec) -> DR<(Reg, Reg)> {
    match o {
        Raw::Pair(x, p) => Ok((
            d.reg_or_sink(&Raw::Name(x.clone()))?,
            d.reg_or_sink(&Raw::Name(p.clone()))?,
        )),
        x => Ok((d.reg(x)?, NO_REG)),
    }
}

/// `shfl`, `vote`, `match` and `redux`, `.sync` or not (the member mask is
/// the last operand of the `.sync` forms).
fn warp(name: &str, m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let sync = m.has("sync");
    let nsrc = ops.len().saturating_sub(1 + usize::from(sync));
    let mask = if sync {
        match ops.last() {
            Some(x) if ops.len() >= 2 => Some(d.src(x, Ty::U32)?),
            _ => return bad("missing member mask"),
        }
    } else {
        None
    };
    let imm0 = Operand::Imm(0);
    let (kind, dp, srcs) = match name {
        "shfl" => {
            let mode = m
                .pick(|s| match s {
                    "up" => Some(ShflMode::Up),
                    "down" => Some(ShflMode::Down),
                    "bfly" => Some(ShflMode::Bfly),
                    "idx" => Some(ShflMode::Idx),
                    _ => None,
                })
                .ok_or_else(|| Issue::Malformed("shfl needs a mode".into()))?;
            if m.one_type()?.bits() != 32 || nsrc != 3 {
                return bad("shfl needs .b32 and three sources");
            }
            let srcs = [
                d.src(&ops[1], Ty::B32)?,
                d.src(&ops[2], Ty::U32)?,
                d.src(&ops[3], Ty::U32)?,
            ];
            (WarpKind::Shfl(mode), dest_pair(&ops[0], d)?, srcs)
        }
        "vote" => {
            let mode = m
                .pick(|s| match s {
                    "all" => Some(VoteMode::All),
                    "any" => Some(VoteMode::Any),
                    "uni" => Some(VoteMode::Uni),
                    "ballot" => Some(VoteMode::Ballot),
                    _ => None,
                })
                .ok_or_else(|| Issue::Malformed("vote needs a mode".into()))?;
            let ty = m.one_type()?;
            if (mode == VoteMode::Ballot) != (ty == Ty::B32) || nsrc != 1 {
                return bad("vote type or operands do not fit its mode");
            }
            let srcs = [d.src(&ops[1], Ty::Pred)?, imm0, imm0];
            (WarpKind::Vote(mode), (d.reg(&ops[0])?, NO_REG), srcs)
        }
        "match" => {
            let all = m.has("all");
            if !all && !m.has("any") {
                return bad("match needs any or all");
            }
            let ty = m.one_type()?;
            if !matches!(ty, Ty::B32 | Ty::B64) || nsrc != 1 || !sync {
                return bad("match needs .sync, .b32 or .b64 and one source");
            }
            let kind = if all {
                WarpKind::MatchAll
            } else {
                WarpKind::MatchAny
            };
            (
                kind,
                dest_pair(&ops[0], d)?,
                [d.src(&ops[1], ty)?, imm0, imm0],
            )
        }
        _ => {
            let op = m
                .pick(|s| match s {
                    "add" => Some(ReduxOp::Add),
                    "min" => Some(ReduxOp::Min),
                    "max" => Some(ReduxOp::Max),
                    "and" => Some(ReduxOp::And),
                    "or" => Some(ReduxOp::Or),
                    "xor" => Some(ReduxOp::Xor),
                    _ => None,
                })
                .ok_or_else(|| Issue::Malformed("redux needs an operation".into()))?;
            let ty = m.one_type()?;
            let arith = matches!(op, ReduxOp::Add | ReduxOp::Min | ReduxOp::Max);
            let ok = if arith {
                matches!(ty, Ty::U32 | Ty::S32)
            } else {
                ty == Ty::B32
            };
            if !ok {
                return unsupported(format!("redux.{op:?} on {ty:?}"));
            }
            if nsrc != 1 || !sync {
                return bad("redux needs .sync and one source");
            }
            let kind = WarpKind::Redux(op, ty);
            (
                kind,
                (d.reg(&ops[0])?, NO_REG),
                [d.src(&ops[1], ty)?, imm0, imm0],
            )
        }
    };
    let [a, b, c] = srcs;
    Ok(Op::Warp {
        kind,
        d: dp.0,
        p: dp.1,
        a,
        b,
        c,
        mask,
    })
}

fn slots(list: &Raw, d: &mut Dec) -> DR<Box<[Slot]>> {
    let Raw::List(items) = list else {
        return bad("expected a parenthesised parameter list");
    };
    items
        .iter()
        .map(|x| match x {
            Raw::Name(n) => d
                .r
                .slot(n)
                .ok_or_else(|| Issue::Unsupported(format!("call argument `{n}` is not a .param"))),
            _ => unsupported("call argument form"),
        })
        .collect()
}

fn call(ops: &[Raw], d: &mut Dec) -> DR<Op> {
    let (rets, rest) = match ops.first() {
        Some(l @ Raw::List(_)) => (slots(l, d)?, &ops[1..]),
        _ => (Box::default(), ops),
    };
    let fname = match rest.first() {
        Some(Raw::Name(n)) => n,
        _ => return bad("call needs a target"),
    };
    if matches!(d.r.name(fname), Some(Named::Reg(_))) {
        return unsupported("indirect call");
    }
    let args = match rest.len() {
        1 => Box::default(),
        2 => slots(&rest[1], d)?,
        _ => return unsupported("call with prototype"),
    };
    let func = d.r.func(fname);
    Ok(Op::Call { func, args, rets })
}
