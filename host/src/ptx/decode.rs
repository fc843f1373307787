//! Instruction decoder: turns an opcode word (`ld.global.v4.f32`) and its
//! syntactic operands into a resolved [`Op`]. Opcodes, modifiers or type
//! combinations outside the supported subset yield [`Issue::Unsupported`]
//! (the parser stores the instruction as [`Op::Unknown`]); operands that make
//! no sense (undeclared names, wrong counts) yield [`Issue::Malformed`].

use super::ast::Space;
use super::float::f64_to_f16;
use super::instr::*;
use super::ops::fin;

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
}

/// Why an instruction did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Issue {
    Malformed(String),
    Unsupported(String),
}

type DR<T> = Result<T, Issue>;

fn bad<T>(msg: impl Into<String>) -> DR<T> {
    Err(Issue::Malformed(msg.into()))
}

fn unsupported<T>(msg: impl Into<String>) -> DR<T> {
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

/// Parses an integer literal (decimal, `0x` hex, `0b` binary, leading-zero
/// octal, optional `U` suffix).
pub(crate) fn parse_int(t: &str) -> Option<u64> {
    let t = t.strip_suffix('U').unwrap_or(t);
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        u64::from_str_radix(b, 2).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

fn float_bits(x: f64, ty: Ty) -> u64 {
    match ty {
        Ty::F64 => x.to_bits(),
        Ty::F16 => f64_to_f16(x, Rnd::Rn) as u64,
        _ => (x as f32).to_bits() as u64,
    }
}

/// Converts a literal to the bit pattern of type `ty`.
pub(crate) fn literal(text: &str, neg: bool, ty: Ty) -> DR<u64> {
    let hexf = |p: &str| {
        text.strip_prefix(p)
            .or_else(|| text.strip_prefix(&p.to_uppercase()))
    };
    if let Some(h) = hexf("0f") {
        if h.len() != 8 {
            return bad(format!("bad f32 literal `{text}`"));
        }
        let b = u32::from_str_radix(h, 16)
            .map_err(|_| Issue::Malformed(format!("bad f32 literal `{text}`")))?;
        let x = f32::from_bits(if neg { b ^ 0x8000_0000 } else { b });
        return Ok(match ty {
            Ty::F32 => x.to_bits() as u64,
            t if t.is_float() => float_bits(x as f64, t),
            _ => x.to_bits() as u64,
        });
    }
    if let Some(h) = hexf("0d") {
        if h.len() != 16 {
            return bad(format!("bad f64 literal `{text}`"));
        }
        let b = u64::from_str_radix(h, 16)
            .map_err(|_| Issue::Malformed(format!("bad f64 literal `{text}`")))?;
        let x = f64::from_bits(if neg { b ^ (1 << 63) } else { b });
        return Ok(match ty {
            t if t.is_float() => float_bits(x, t),
            _ => x.to_bits(),
        });
    }
    if let Some(v) = parse_int(text) {
        if ty.is_float() {
            let x = v as f64;
            return Ok(float_bits(if neg { -x } else { x }, ty));
        }
        let v = if neg { v.wrapping_neg() } else { v };
        return Ok(fin(ty, v));
    }
    match text.parse::<f64>() {
        Ok(x) if text.contains(['.', 'e', 'E']) => {
            let x = if neg { -x } else { x };
            if ty.is_float() {
                Ok(float_bits(x, ty))
            } else {
                bad(format!("float literal `{text}` in integer instruction"))
            }
        }
        _ => bad(format!("bad numeric literal `{text}`")),
    }
}

/// Parses a special register name (`%tid.x`).
pub(crate) fn special(n: &str) -> Option<Special> {
    let (base, comp) = match n.split_once('.') {
        Some((b, c)) => (b, Some(c)),
        None => (n, None),
    };
    let dim = match comp {
        Some("x") => Some(0),
        Some("y") => Some(1),
        Some("z") => Some(2),
        _ => None,
    };
    let plain = |s: Special| if comp.is_none() { Some(s) } else { None };
    match base {
        "%tid" => dim.map(Special::Tid),
        "%ntid" => dim.map(Special::Ntid),
        "%ctaid" => dim.map(Special::Ctaid),
        "%nctaid" => dim.map(Special::Nctaid),
        "%laneid" => plain(Special::LaneId),
        "%warpid" => plain(Special::WarpId),
        "%nwarpid" => plain(Special::NWarpId),
        "%smid" => plain(Special::SmId),
        "%nsmid" => plain(Special::NSmId),
        "%gridid" => plain(Special::GridId),
        "%clock" => plain(Special::Clock),
        "%clock_hi" => plain(Special::ClockHi),
        "%clock64" => plain(Special::Clock64),
        "%globaltimer" => plain(Special::GlobalTimer),
        "%lanemask_eq" => plain(Special::LaneMaskEq),
        "%lanemask_lt" => plain(Special::LaneMaskLt),
        "%lanemask_le" => plain(Special::LaneMaskLe),
        "%lanemask_gt" => plain(Special::LaneMaskGt),
        "%lanemask_ge" => plain(Special::LaneMaskGe),
        "%dynamic_smem_size" => plain(Special::DynSmem),
        "%total_smem_size" => plain(Special::TotalSmem),
        _ => None,
    }
}

/// Qualifiers with no effect in this model (caching, memory ordering,
/// scopes, uniformity hints).
const IGNORED: &[&str] = &[
    "ca", "cg", "cs", "lu", "cv", "wb", "wt", "nc", "volatile", "relaxed", "acquire", "release",
    "acq_rel", "sc", "weak", "mmio", "cta", "gpu", "sys", "cluster", "uni", "aligned",
];

/// The modifiers of one opcode, consumed as the decoder recognises them.
struct Mods<'a> {
    items: Vec<&'a str>,
    used: Vec<bool>,
}

impl<'a> Mods<'a> {
    fn new(items: Vec<&'a str>) -> Self {
        let used = vec![false; items.len()];
        Mods { items, used }
    }

    fn pick<T>(&mut self, f: impl Fn(&str) -> Option<T>) -> Option<T> {
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

    fn has(&mut self, name: &str) -> bool {
        self.pick(|s| (s == name).then_some(())).is_some()
    }

    fn types(&mut self) -> DR<Vec<Ty>> {
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

    fn one_type(&mut self) -> DR<Ty> {
        match self.types()?.as_slice() {
            [t] => Ok(*t),
            [] => bad("missing instruction type"),
            _ => bad("too many instruction types"),
        }
    }

    fn space(&mut self) -> Option<Space> {
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

    fn rnd(&mut self) -> Option<Rnd> {
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

    fn irnd(&mut self) -> Option<Rnd> {
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

    fn vec(&mut self) -> u8 {
        self.pick(|s| match s {
            "v2" => Some(2),
            "v4" => Some(4),
            _ => None,
        })
        .unwrap_or(1)
    }

    fn fmode(&mut self) -> FMode {
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
    fn finish(&self) -> DR<()> {
        for (i, s) in self.items.iter().enumerate() {
            if !self.used[i] && !IGNORED.contains(s) && !s.contains("::") {
                return unsupported(format!("modifier .{s}"));
            }
        }
        Ok(())
    }
}

struct Dec<'r> {
    r: &'r mut dyn Resolve,
}

impl Dec<'_> {
    fn reg(&mut self, o: &Raw) -> DR<Reg> {
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

    fn reg_or_sink(&mut self, o: &Raw) -> DR<Reg> {
        match o {
            Raw::Name(n) if n == "_" => Ok(NO_REG),
            _ => self.reg(o),
        }
    }

    fn src(&mut self, o: &Raw, ty: Ty) -> DR<Operand> {
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

    fn addr(&mut self, o: &Raw) -> DR<Addr> {
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

fn count(ops: &[Raw], n: usize) -> DR<()> {
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
        "mov" => mov(&mut m, ops, &mut d)?,
        "ld" | "ldu" => ld(&mut m, ops, &mut d)?,
        "st" => st(&mut m, ops, &mut d)?,
        "cvta" => {
            let to = m.has("to");
            let space = m
                .space()
                .ok_or_else(|| Issue::Malformed("cvta needs a state space".into()))?;
            let ty = m.one_type()?;
            count(ops, 2)?;
            Op::Cvta {
                to,
                space,
                d: d.reg(&ops[0])?,
                a: d.src(&ops[1], ty)?,
            }
        }
        "cvt" => cvt(&mut m, ops, &mut d)?,
        "add" | "sub" | "mul" | "div" | "rem" | "min" | "max" => arith(name, &mut m, ops, &mut d)?,
        "mad" | "fma" => mad(name, &mut m, ops, &mut d)?,
        "abs" | "neg" => {
            let ty = m.one_type()?;
            count(ops, 2)?;
            let (dr, a) = (d.reg(&ops[0])?, d.src(&ops[1], ty)?);
            if ty.is_float() {
                if ty == Ty::F16 {
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
        "setp" => setp(&mut m, ops, &mut d)?,
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
        "bra" => {
            count(ops, 1)?;
            match &ops[0] {
                Raw::Name(l) => Op::Bra {
                    target: d.r.label(l),
                },
                _ => return bad("bra needs a label"),
            }
        }
        "call" => call(ops, &mut d)?,
        "ret" => {
            count(ops, 0)?;
            Op::Ret
        }
        "exit" => {
            count(ops, 0)?;
            Op::Exit
        }
        "trap" => {
            count(ops, 0)?;
            Op::Trap
        }
        "bar" | "barrier" => {
            if m.has("warp") {
                m.has("sync");
                Op::Nop
            } else if m.has("arrive") {
                Op::Nop
            } else {
                m.has("sync");
                if ops.is_empty() || ops.len() > 2 {
                    return bad("barrier needs an id (and optional count)");
                }
                Op::Bar
            }
        }
        "membar" | "fence" | "nanosleep" | "pmevent" | "prefetch" | "prefetchu"
        | "griddepcontrol" => {
            m.used.iter_mut().for_each(|u| *u = true);
            Op::Nop
        }
        "atom" | "red" => atom(name == "atom", &mut m, ops, &mut d)?,
        _ => return unsupported(format!("opcode {name}")),
    };
    m.finish()?;
    Ok(op)
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
    let tys = m.types()?;
    let [dt, st] = tys[..] else {
        return bad("cvt needs two types");
    };
    if dt == Ty::Pred || st == Ty::Pred {
        return bad("cvt of predicates");
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
    let ty = m.one_type()?;
    count(ops, 3)?;
    if ty == Ty::Pred {
        return bad("arithmetic on predicates");
    }
    if ty.is_float() {
        if ty == Ty::F16 {
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
        if ty == Ty::F16 {
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

fn setp(m: &mut Mods, ops: &[Raw], d: &mut Dec) -> DR<Op> {
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
    let ty = m.one_type()?;
    if ty == Ty::F16 {
        return unsupported("f16 comparison");
    }
    count(ops, if bop.is_some() { 4 } else { 3 })?;
    let (dr, d2) = match &ops[0] {
        Raw::Pair(p, q) => (
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(literal("0f3F800000", false, Ty::F32), Ok(0x3F80_0000));
        assert_eq!(literal("0f3F800000", true, Ty::F32), Ok(0xBF80_0000));
        assert_eq!(
            literal("0d3FF0000000000000", false, Ty::F64),
            Ok(1f64.to_bits())
        );
        assert_eq!(literal("1", true, Ty::S32), Ok(u64::MAX));
        assert_eq!(literal("1", true, Ty::U32), Ok(0xFFFF_FFFF));
        assert_eq!(literal("0x10", false, Ty::U32), Ok(16));
        assert_eq!(literal("1.5", false, Ty::F32), Ok(1.5f32.to_bits() as u64));
        assert!(literal("0f3F80", false, Ty::F32).is_err());
        assert!(literal("12abc", false, Ty::U32).is_err());
    }
}
