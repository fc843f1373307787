//! Builders of a module and of one function while they are parsed: symbol
//! tables and scopes, register and frame allocation, name resolution for
//! the decoder, and the module's final fix-ups (call checks, shared-memory
//! layout per kernel).

use std::collections::HashMap;

use super::super::ast::{Function, GlobalVar, Kernel, Module, SharedVar};
use super::super::decode::{Named, Resolve};
use super::super::error::PtxError;
use super::super::instr::{Inst, Op, Reg, Slot, Sym, Ty};
use super::{MAX_FRAME, MAX_REGS};

#[derive(Clone, Copy, Debug)]
pub(super) enum ModSym {
    Global(u32),
    Shared(u32),
    Func(u32),
}

#[derive(Default)]
pub(super) struct ModB {
    pub(super) globals: Vec<GlobalVar>,
    pub(super) shared: Vec<SharedVar>,
    pub(super) funcs: Vec<Function>,
    pub(super) kernels: Vec<Kernel>,
    pub(super) syms: HashMap<String, ModSym>,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum LSym {
    Reg(Reg),
    Local(u32),
    Scratch(Slot),
    KParam(u32),
    Shared(u32),
}

#[derive(Default)]
pub(super) struct Scope {
    pub(super) names: HashMap<String, LSym>,
    /// `%r<N>` declarations: prefix → (first register, count).
    pub(super) ranges: HashMap<String, (u32, u32)>,
}

#[derive(Default)]
pub(super) struct FuncB {
    pub(super) scopes: Vec<Scope>,
    pub(super) nregs: u64,
    pub(super) local_size: u64,
    pub(super) scratch_size: u64,
    pub(super) code: Vec<Inst>,
    pub(super) labels: HashMap<String, u32>,
    pub(super) label_pos: Vec<Option<u32>>,
    pub(super) label_names: Vec<String>,
    pub(super) calls: Vec<u32>,
    pub(super) shared_refs: Vec<u32>,
}

/// A parsed variable declarator.
pub(super) struct VarDecl {
    pub(super) name: String,
    pub(super) ty: Ty,
    pub(super) align: u32,
    pub(super) size: u64,
    pub(super) init: Option<Vec<u8>>,
    pub(super) unsized_: bool,
}

pub(super) fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a.max(1)) * a.max(1)
}

pub(super) fn split_digits(name: &str) -> Option<(&str, u32)> {
    let n = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    if n == 0 || n == name.len() {
        return None;
    }
    let (p, d) = name.split_at(name.len() - n);
    Some((p, d.parse().ok()?))
}

impl FuncB {
    pub(super) fn lookup(&self, name: &str) -> Option<LSym> {
        for s in self.scopes.iter().rev() {
            if let Some(v) = s.names.get(name) {
                return Some(*v);
            }
            if !s.ranges.is_empty() {
                if let Some((p, n)) = split_digits(name) {
                    if let Some(&(base, cnt)) = s.ranges.get(p) {
                        if n < cnt {
                            return Some(LSym::Reg(base + n));
                        }
                    }
                }
            }
        }
        None
    }

    pub(super) fn declare(&mut self, name: &str, sym: LSym) {
        if let Some(s) = self.scopes.last_mut() {
            s.names.insert(name.to_string(), sym);
        }
    }

    pub(super) fn alloc_regs(&mut self, n: u64, line: usize) -> Result<u32, PtxError> {
        let base = self.nregs;
        if base + n > MAX_REGS {
            return Err(PtxError::new(line, "too many registers in one function"));
        }
        self.nregs += n;
        Ok(base as u32)
    }

    pub(super) fn alloc_scratch(
        &mut self,
        size: u64,
        align: u32,
        line: usize,
    ) -> Result<Slot, PtxError> {
        let off = align_up(self.scratch_size, align as u64);
        if off + size > MAX_FRAME {
            return Err(PtxError::new(line, ".param space too large"));
        }
        self.scratch_size = off + size;
        Ok(Slot {
            off: off as u32,
            size: size as u32,
        })
    }
}

pub(super) struct Res<'a> {
    pub(super) fb: &'a mut FuncB,
    pub(super) mb: &'a mut ModB,
}

impl Resolve for Res<'_> {
    fn name(&mut self, name: &str) -> Option<Named> {
        let sym = match self.fb.lookup(name) {
            Some(LSym::Reg(r)) => return Some(Named::Reg(r)),
            Some(LSym::Local(o)) => Sym::Local(o),
            Some(LSym::Scratch(s)) => Sym::Scratch(s.off),
            Some(LSym::KParam(o)) => Sym::KParam(o),
            Some(LSym::Shared(id)) => Sym::Shared(id),
            None => match self.mb.syms.get(name) {
                Some(ModSym::Global(g)) => Sym::Global(*g),
                Some(ModSym::Shared(id)) => Sym::Shared(*id),
                _ => return None,
            },
        };
        if let Sym::Shared(id) = sym {
            if !self.fb.shared_refs.contains(&id) {
                self.fb.shared_refs.push(id);
            }
        }
        Some(Named::Sym(sym))
    }

    fn label(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.fb.labels.get(name) {
            return id;
        }
        let id = self.fb.label_pos.len() as u32;
        self.fb.labels.insert(name.to_string(), id);
        self.fb.label_pos.push(None);
        self.fb.label_names.push(name.to_string());
        id
    }

    fn func(&mut self, name: &str) -> u32 {
        let id = match self.mb.syms.get(name) {
            Some(ModSym::Func(f)) => *f,
            _ => self.mb.placeholder(name),
        };
        if !self.fb.calls.contains(&id) {
            self.fb.calls.push(id);
        }
        id
    }

    fn slot(&mut self, name: &str) -> Option<Slot> {
        match self.fb.lookup(name) {
            Some(LSym::Scratch(s)) => Some(s),
            _ => None,
        }
    }
}

/// A call of a function the CUDA runtime provides outside the module:
/// `vprintf` (device printf) and `__assertfail` (a failed `assert`).
fn builtin(name: &str, args: &[Slot], rets: &[Slot]) -> Option<Op> {
    match (name, args, rets) {
        ("vprintf", [fmt, list], [] | [_]) => Some(Op::Printf {
            fmt: *fmt,
            args: *list,
            ret: rets.first().copied(),
        }),
        ("__assertfail", [msg, file, line, func, _], []) => Some(Op::AssertFail {
            args: Box::new([*msg, *file, *line, *func]),
        }),
        _ => None,
    }
}

impl ModB {
    /// A not-yet-defined function named `name`.
    pub(super) fn placeholder(&mut self, name: &str) -> u32 {
        let id = self.funcs.len() as u32;
        self.funcs.push(Function {
            name: name.to_string(),
            ..Function::default()
        });
        self.syms
            .entry(name.to_string())
            .or_insert(ModSym::Func(id));
        id
    }

    pub(super) fn finish(mut self) -> Module {
        let sigs: Vec<(bool, usize, usize, String)> = self
            .funcs
            .iter()
            .map(|f| (f.defined, f.params.len(), f.rets.len(), f.name.clone()))
            .collect();
        let fix = |f: &mut Function| {
            for inst in &mut f.code {
                if let Op::Call { func, args, rets } = &inst.op {
                    let (defined, np, nr, name) = &sigs[*func as usize];
                    if !defined {
                        if let Some(op) = builtin(name, args, rets) {
                            inst.op = op;
                            continue;
                        }
                    }
                    if !defined || *np != args.len() || *nr != rets.len() {
                        let why = if *defined {
                            "signature mismatch"
                        } else {
                            "undefined function"
                        };
                        inst.op = Op::Unknown(format!("call {name} ({why})").into());
                    }
                }
            }
        };
        self.funcs.iter_mut().for_each(fix);
        self.kernels.iter_mut().for_each(|k| fix(&mut k.body));
        for k in &mut self.kernels {
            // Shared variables reachable from the kernel through calls.
            let mut refs = k.body.shared_refs.clone();
            let mut stack = k.body.calls.clone();
            let mut seen = vec![false; self.funcs.len()];
            while let Some(f) = stack.pop() {
                let Some(func) = self.funcs.get(f as usize) else {
                    continue;
                };
                if std::mem::replace(&mut seen[f as usize], true) {
                    continue;
                }
                refs.extend(&func.shared_refs);
                stack.extend(&func.calls);
            }
            refs.sort_unstable();
            refs.dedup();
            let mut layout = vec![u64::MAX; self.shared.len()];
            let mut off = 0u64;
            let mut dyn_align = 16u64;
            for &id in &refs {
                let v = &self.shared[id as usize];
                if v.is_extern {
                    dyn_align = dyn_align.max(v.align as u64);
                } else {
                    off = align_up(off, v.align as u64);
                    layout[id as usize] = off;
                    off = off.saturating_add(v.size);
                }
            }
            let dyn_base = align_up(off, dyn_align);
            for &id in &refs {
                if self.shared[id as usize].is_extern {
                    layout[id as usize] = dyn_base;
                }
            }
            k.shared_layout = layout;
            k.static_shared = off;
            k.dyn_base = dyn_base;
        }
        Module {
            kernels: self.kernels,
            funcs: self.funcs,
            globals: self.globals,
        }
    }
}
