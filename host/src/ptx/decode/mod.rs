//! Instruction decoder: turns an opcode word (`ld.global.v4.f32`) and its
//! syntactic operands into a resolved [`Op`]. Opcodes, modifiers or type
//! combinations outside the supported subset yield [`Issue::Unsupported`]
//! (the parser stores the instruction as [`Op::Unknown`]); operands that make
//! no sense (undeclared names, wrong counts) yield [`Issue::Malformed`].
//!
//! By concern: [`literal`] (numbers, special registers), [`arith`] (integer,
//! float and bit arithmetic, comparisons), [`half`] (f16/bf16), [`mem`]
//! (moves, conversions, loads, stores, atomics) and [`control`] (branches,
//! calls, barriers, warp-synchronous operations).

mod arith;
mod control;
mod half;
mod literal;
mod mem;

pub(crate) use literal::{literal, parse_int, special};

use super::ast::Space;
use super::instr::*;

/// An operand as written, before name resolution.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Raw {
    /// Register, special register, symbol, label, function name or `_`.
    Name(String),
    /// Numeric literal and whether it was negated.
    Num(String, bool),
    /// `!%p`.
    Not(String),
    /// `%p|%q`.
    Pair(String, String),
    /// `sym+4`.
    SymOff(String, i64),
    /// `{a, b}`.
    Vec(Vec<Raw>),
    /// `(a, b)` in calls.
    List(Vec<Raw>),
    /// `[base+off]`; no base means an absolute address.
    Addr(Option<String>, i64),
    /// A form no supported instruction takes (`[tex, {x, y}]`).
    Opaque,
}

/// Why an instruction did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Issue {
    Malformed(String),
    Unsupported(String),
}

pub(super) type DR<T> = Result<T, Issue>;

pub(super) fn bad<T>(msg: impl Into<String>) -> DR<T> {
    Err(Issue::Malformed(msg.into()))
}

pub(super) fn unsupported<T>(msg: impl Into<String>) -> DR<T> {
    Err(Issue::Unsupported(msg.into()))
}

/// A name resolved in the current scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Named {
    Reg(Reg),
    Sym(Sym),
}

/// Name resolution services the parser provides to the decoder.
pub(crate) trait Resolve {
    /// A register or variable visible here.
    fn name(&mut self, name: &str) -> Option<Named>;
    /// The id of a label of the current function (created on first use).
    fn label(&mut self, name: &str) -> u32;
    /// The id of a module function (created on first use).
    fn func(&mut self, name: &str) -> u32;
    /// A call-frame `.param` slot.
    fn slot(&mut self, name: &str) -> Option<Slot>;
}

/// Qualifiers with no effect in this model (caching, memory ordering,
/// scopes, uniformity hints).
const IGNORED: &[&str] = &[
    "ca", "cg", "cs", "lu", "cv", "wb", "wt", "nc", "volatile", "relaxed", "acquire", "release",
    "acq_rel", "sc", "weak", "mmio", "cta", "gpu", "sys", "cluster", "uni", "aligned",
];

/// The modifiers of one opcode, consumed as the decoder recognises them.
pub(super) struct Mods<'a> {
    pub(super) items: Vec<&'a str>,
    pub(super) used: Vec<bool>,
}

impl<'a> Mods<'a> {
    pub(super) fn new(items: Vec<&'a str>) -> Self {
        let used = vec![false; items.len()];
        Mods { items, used }
    }

    pub(super) fn pick<T>(&mut self, f: impl Fn(&str) -> Option<T>) -> Option<T> {
        for (i, s) in self.items.iter().enumerate() {
            if !self.used[i] {
                if let Some(v) = f(s) {
                    self.used[i] = true;
                    return Some(v);
                }
            }
        }
        None
    }

    pub(super) fn has(&mut self, name: &str) -> bool {
        self.pick(|s| (s == name).then_some(())).is_some()
    }

    pub(super) fn types(&mut self) -> DR<Vec<Ty>> {
        let mut out = Vec::new();
        for (i, s) in self.items.iter().enumerate() {
            if !self.used[i] && Ty::is_type_name(s) {
                self.used[i] = true;
                match Ty::parse(s) {
                    Some(t) => out.push(t),
                    None => return unsupported(format!("type .{s}")),
                }
            }
        }
        Ok(out)
    }

    pub(super) fn one_type(&mut self) -> DR<Ty> {
        match self.types()?.as_slice() {
            [t] => Ok(*t),
            [] => bad("missing instruction type"),
            _ => bad("too many instruction types"),
        }
    }

    pub(super) fn space(&mut self) -> Option<Space> {
        self.pick(|s| {
            Some(match s {
                "global" => Space::Global,
                "const" => Space::Const,
                "shared" | "shared::cta" => Space::Shared,
                "local" => Space::Local,
                "param" | "param::entry" | "param::func" => Space::Param,
                _ => return None,
            })
        })
    }

    pub(super) fn rnd(&mut self) -> Option<Rnd> {
        self.pick(|s| {
            Some(match s {
                "rn" => Rnd::Rn,
                "rz" => Rnd::Rz,
                "rm" => Rnd::Rm,
                "rp" => Rnd::Rp,
                _ => return None,
            })
        })
    }

    pub(super) fn irnd(&mut self) -> Option<Rnd> {
        self.pick(|s| {
            Some(match s {
                "rni" => Rnd::Rn,
                "rzi" => Rnd::Rz,
                "rmi" => Rnd::Rm,
                "rpi" => Rnd::Rp,
                _ => return None,
            })
        })
    }

    pub(super) fn vec(&mut self) -> u8 {
        self.pick(|s| match s {
            "v2" => Some(2),
            "v4" => Some(4),
            _ => None,
        })
        .unwrap_or(1)
    }

    pub(super) fn fmode(&mut self) -> FMode {
        let rnd = self.rnd();
        let ftz = self.has("ftz");
        let sat = self.has("sat");
        let approx = self.has("approx") | self.has("full");
        FMode {
            rnd: rnd.unwrap_or(Rnd::Rn),
            ftz,
            sat,
            approx,
        }
    }

    /// Fails on any modifier nobody consumed, except ignorable ones.
    pub(super) fn finish(&self) -> DR<()> {
        for (i, s) in self.items.iter().enumerate() {
            if !self.used[i] && !IGNORED.contains(s) && !s.contains("::") {
                return unsupported(format!("modifier .{s}"));
            }
        }
        Ok(())
    }
}

pub(super) struct Dec<'r> {
    pub(super) r: &'r mut dyn Resolve,
}

impl Dec<'_> {
    pub(super) fn reg(&mut self, o: &Raw) -> DR<Reg> {
        match o {
            Raw::Name(n) => match self.r.name(n) {
                Some(Named::Reg(r)) => Ok(r),
                Some(Named::Sym(_)) => bad(format!("`{n}` is not a register")),
                None if special(n).is_some() => bad(format!("cannot write special register `{n}`")),
                None => bad(format!("undeclared register `{n}`")),
            },
            _ => bad("expected a register"),
        }
    }

    pub(super) fn reg_or_sink(&mut self, o: &Raw) -> DR<Reg> {
        match o {
            Raw::Name(n) if n == "_" => Ok(NO_REG),
            _ => self.reg(o),
        }
    }

    pub(super) fn src(&mut self, o: &Raw, ty: Ty) -> DR<Operand> {
        match o {
            Raw::Name(n) => match self.r.name(n) {
                Some(Named::Reg(r)) => Ok(Operand::Reg(r)),
                Some(Named::Sym(s)) => Ok(Operand::Sym(s, 0)),
                None => match special(n) {
                    Some(s) => Ok(Operand::Special(s)),
                    None if n.starts_with('%') => bad(format!("undeclared register `{n}`")),
                    None => bad(format!("undeclared identifier `{n}`")),
                },
            },
            Raw::SymOff(n, off) => match self.r.name(n) {
                Some(Named::Sym(s)) => Ok(Operand::Sym(s, *off)),
                _ => bad(format!("`{n}` is not a variable")),
            },
            Raw::Num(t, neg) => Ok(Operand::Imm(literal(t, *neg, ty)?)),
            Raw::Not(n) => Ok(Operand::NotPred(self.reg(&Raw::Name(n.clone()))?)),
            _ => bad("unexpected operand form"),
        }
    }

    pub(super) fn addr(&mut self, o: &Raw) -> DR<Addr> {
        match o {
            Raw::Addr(None, off) => Ok(Addr {
                base: AddrBase::Abs,
                off: *off,
            }),
            Raw::Addr(Some(n), off) => {
                let base = match self.r.name(n) {
                    Some(Named::Reg(r)) => AddrBase::Reg(r),
                    Some(Named::Sym(s)) => AddrBase::Sym(s),
                    None => return bad(format!("undeclared address base `{n}`")),
                };
                Ok(Addr { base, off: *off })
            }
            _ => bad("expected an address `[...]`"),
        }
    }
}

pub(super) fn count(ops: &[Raw], n: usize) -> DR<()> {
    if ops.len() == n {
        Ok(())
    } else {
        bad(format!("expected {n} operands, found {}", ops.len()))
    }
}

/// Decodes one instruction.
pub(crate) fn decode(opcode: &str, ops: &[Raw], r: &mut dyn Resolve) -> DR<Op> {
    let mut parts = opcode.split('.');
    let name = parts.next().unwrap_or("");
    let mut m = Mods::new(parts.collect());
    let mut d = Dec { r };
    let op = match name {
        "mov" | "ld" | "ldu" | "st" | "cvta" | "cvt" | "atom" | "red" | "cp" | "isspacep" => {
            mem::decode(name, &mut m, ops, &mut d)?
        }
        "bra" | "call" | "ret" | "exit" | "trap" | "bar" | "barrier" | "membar" | "fence"
        | "nanosleep" | "pmevent" | "prefetch" | "prefetchu" | "griddepcontrol" | "shfl"
        | "vote" | "match" | "redux" | "activemask" => control::decode(name, &mut m, ops, &mut d)?,
        _ if half::is_half_op(name, &m) => half::decode(name, &mut m, ops, &mut d)?,
        _ => arith::decode(name, &mut m, ops, &mut d)?,
    };
    m.finish()?;
    Ok(op)
}
