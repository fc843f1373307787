//! Module-level PTX parser: directives, variable declarations, function
//! headers and bodies (scopes, register/local/shared/param declarations,
//! labels, guards). Each instruction's operands are parsed here into
//! [`Raw`] form and handed to [`decode`]; the finished module gets its call
//! targets checked and a shared-memory layout per kernel.

use std::collections::HashMap;

use super::ast::{Function, GlobalVar, Kernel, Module, Param, SharedVar, Space};
use super::decode::{decode, literal, parse_int, Issue, Named, Raw, Resolve};
use super::error::PtxError;
use super::instr::{Inst, Op, Reg, Slot, Sym, Ty, NO_REG};
use super::lexer::{lex, Tok, Token};

/// Virtual registers per function.
const MAX_REGS: u64 = 1 << 16;
/// `.local` or `.param` bytes per function frame.
const MAX_FRAME: u64 = 1 << 24;
/// Bytes of one variable.
const MAX_VAR: u64 = 1 << 30;
/// Nesting of `{}` in bodies and initializers.
const MAX_DEPTH: usize = 64;

pub(crate) fn parse_module(text: &str) -> Result<Module, PtxError> {
    let toks = lex(text)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        text,
        mb: ModB::default(),
    };
    p.module()?;
    Ok(p.mb.finish())
}

#[derive(Clone, Copy, Debug)]
enum ModSym {
    Global(u32),
    Shared(u32),
    Func(u32),
}

#[derive(Default)]
struct ModB {
    globals: Vec<GlobalVar>,
    shared: Vec<SharedVar>,
    funcs: Vec<Function>,
    kernels: Vec<Kernel>,
    syms: HashMap<String, ModSym>,
}

#[derive(Clone, Copy, Debug)]
enum LSym {
    Reg(Reg),
    Local(u32),
    Scratch(Slot),
    KParam(u32),
    Shared(u32),
}

#[derive(Default)]
struct Scope {
    names: HashMap<String, LSym>,
    /// `%r<N>` declarations: prefix → (first register, count).
    ranges: HashMap<String, (u32, u32)>,
}

#[derive(Default)]
struct FuncB {
    scopes: Vec<Scope>,
    nregs: u64,
    local_size: u64,
    scratch_size: u64,
    code: Vec<Inst>,
    labels: HashMap<String, u32>,
    label_pos: Vec<Option<u32>>,
    label_names: Vec<String>,
    calls: Vec<u32>,
    shared_refs: Vec<u32>,
}

/// A parsed variable declarator.
struct VarDecl {
    name: String,
    ty: Ty,
    align: u32,
    size: u64,
    init: Option<Vec<u8>>,
    unsized_: bool,
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a.max(1)) * a.max(1)
}

fn split_digits(name: &str) -> Option<(&str, u32)> {
    let n = name.bytes().rev().take_while(u8::is_ascii_digit).count();
    if n == 0 || n == name.len() {
        return None;
    }
    let (p, d) = name.split_at(name.len() - n);
    Some((p, d.parse().ok()?))
}

impl FuncB {
    fn lookup(&self, name: &str) -> Option<LSym> {
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

    fn declare(&mut self, name: &str, sym: LSym) {
        if let Some(s) = self.scopes.last_mut() {
            s.names.insert(name.to_string(), sym);
        }
    }

    fn alloc_regs(&mut self, n: u64, line: usize) -> Result<u32, PtxError> {
        let base = self.nregs;
        if base + n > MAX_REGS {
            return Err(PtxError::new(line, "too many registers in one function"));
        }
        self.nregs += n;
        Ok(base as u32)
    }

    fn alloc_scratch(&mut self, size: u64, align: u32, line: usize) -> Result<Slot, PtxError> {
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

struct Res<'a> {
    fb: &'a mut FuncB,
    mb: &'a mut ModB,
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

impl ModB {
    /// A not-yet-defined function named `name`.
    fn placeholder(&mut self, name: &str) -> u32 {
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

    fn finish(mut self) -> Module {
        let sigs: Vec<(bool, usize, usize, String)> = self
            .funcs
            .iter()
            .map(|f| (f.defined, f.params.len(), f.rets.len(), f.name.clone()))
            .collect();
        let fix = |f: &mut Function| {
            for inst in &mut f.code {
                if let Op::Call { func, args, rets } = &inst.op {
                    let (defined, np, nr, name) = &sigs[*func as usize];
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

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    text: &'t str,
    mb: ModB,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos)
    }

    fn peek_tok(&self) -> Option<&'t Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn last_line(&self) -> usize {
        self.toks
            .get(self.pos.min(self.toks.len().saturating_sub(1)))
            .map_or(1, |t| t.line)
    }

    fn err<T>(&self, line: usize, msg: impl Into<String>) -> Result<T, PtxError> {
        Err(PtxError::new(line, msg))
    }

    fn next(&mut self) -> Result<&'t Token, PtxError> {
        match self.toks.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok(t)
            }
            None => self.err(self.last_line(), "unexpected end of input"),
        }
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek_tok() == Some(&Tok::Punct(c))
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.is_punct(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, c: char) -> Result<(), PtxError> {
        let t = self.next()?;
        if t.tok == Tok::Punct(c) {
            Ok(())
        } else {
            self.err(
                t.line,
                format!("expected `{c}`, found {}", describe(&t.tok)),
            )
        }
    }

    fn word(&mut self) -> Result<(&'t str, usize), PtxError> {
        let t = self.next()?;
        match &t.tok {
            Tok::Word(w) => Ok((w.as_str(), t.line)),
            other => self.err(
                t.line,
                format!("expected a name, found {}", describe(other)),
            ),
        }
    }

    fn number(&mut self) -> Result<u64, PtxError> {
        let t = self.next()?;
        match &t.tok {
            Tok::Num(n) => {
                parse_int(n).ok_or_else(|| PtxError::new(t.line, format!("bad integer `{n}`")))
            }
            other => self.err(
                t.line,
                format!("expected a number, found {}", describe(other)),
            ),
        }
    }

    fn skip_line(&mut self, line: usize) {
        while self.peek().is_some_and(|t| t.line == line) {
            self.pos += 1;
        }
    }

    fn skip_past(&mut self, c: char) -> Result<(), PtxError> {
        while self.next()?.tok != Tok::Punct(c) {}
        Ok(())
    }

    /// Skips `name { ... }` of a `.section`.
    fn skip_section(&mut self) -> Result<(), PtxError> {
        while !self.eat('{') {
            self.next()?;
        }
        let mut depth = 1;
        while depth > 0 {
            match self.next()?.tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }

    fn module(&mut self) -> Result<(), PtxError> {
        let mut ext = false;
        while let Some(t) = self.peek() {
            self.pos += 1;
            let mut keep_ext = false;
            match &t.tok {
                Tok::Word(w) => match w.as_str() {
                    ".version" | ".target" | ".address_size" | ".file" => self.skip_line(t.line),
                    ".section" => self.skip_section()?,
                    ".pragma" => self.skip_past(';')?,
                    ".visible" | ".weak" | ".common" => keep_ext = ext,
                    ".extern" => keep_ext = true,
                    ".entry" => self.function(true)?,
                    ".func" => self.function(false)?,
                    ".global" | ".const" | ".shared" => self.module_var(w, ext, t.line)?,
                    ".tex" | ".texref" | ".surfref" | ".samplerref" | ".alias" => {
                        self.skip_past(';')?
                    }
                    _ => return self.err(t.line, format!("unexpected `{w}` at module scope")),
                },
                Tok::Punct(';') => {}
                other => {
                    return self.err(
                        t.line,
                        format!("unexpected {} at module scope", describe(other)),
                    )
                }
            }
            ext = keep_ext;
        }
        Ok(())
    }

    /// Parses `[.align N] [.v2|.v4] .type name[dims] [= init]` (after the
    /// state space), stopping before the terminator.
    fn var_decl(&mut self) -> Result<VarDecl, PtxError> {
        let mut align = None;
        let mut vec = 1u64;
        let mut ty = None;
        let mut line = self.last_line();
        // After `.ptr`, `.align` is the pointee's alignment, not the
        // parameter's.
        let mut after_ptr = false;
        while let Some(Tok::Word(w)) = self.peek_tok() {
            let Some(m) = w.strip_prefix('.') else { break };
            line = self.peek().map_or(line, |t| t.line);
            self.pos += 1;
            match m {
                "align" => {
                    let a = self.number()?;
                    if !a.is_power_of_two() || a > 1 << 16 {
                        return self.err(line, format!("bad alignment {a}"));
                    }
                    if !after_ptr {
                        align = Some(a as u32);
                    }
                }
                "v2" => vec = 2,
                "v4" => vec = 4,
                "v8" => vec = 8,
                "ptr" => after_ptr = true,
                "global" | "shared" | "const" | "local" => {}
                _ => match Ty::parse(m) {
                    Some(t) => ty = Some(t),
                    None if Ty::is_type_name(m) => ty = Some(Ty::B16),
                    None => return self.err(line, format!("unknown declaration modifier `.{m}`")),
                },
            }
        }
        let Some(ty) = ty else {
            return self.err(line, "declaration without a type");
        };
        let (name, line) = self.word()?;
        let elem = ty.bytes() as u64 * vec;
        let mut count = 1u64;
        let mut unsized_ = false;
        while self.eat('[') {
            if self.eat(']') {
                unsized_ = true;
                continue;
            }
            let n = self.number()?;
            self.expect(']')?;
            count = count
                .checked_mul(n)
                .filter(|c| c.saturating_mul(elem) <= MAX_VAR)
                .ok_or_else(|| PtxError::new(line, "variable too large"))?;
        }
        let init = if self.eat('=') {
            let mut out = Vec::new();
            self.init_items(ty, &mut out, 0)?;
            if out.len() as u64 > MAX_VAR {
                return self.err(line, "initializer too large");
            }
            Some(out)
        } else {
            None
        };
        let size = match (&init, unsized_) {
            (Some(i), true) => i.len() as u64,
            (_, true) => 0,
            _ => count * elem,
        };
        Ok(VarDecl {
            name: name.to_string(),
            ty,
            align: align.unwrap_or(elem.clamp(1, 1 << 16) as u32),
            size,
            init,
            unsized_,
        })
    }

    fn init_items(&mut self, ty: Ty, out: &mut Vec<u8>, depth: usize) -> Result<(), PtxError> {
        if depth > MAX_DEPTH {
            return self.err(self.last_line(), "initializer nested too deeply");
        }
        if self.eat('{') {
            if self.eat('}') {
                return Ok(());
            }
            loop {
                self.init_items(ty, out, depth + 1)?;
                if self.eat(',') {
                    continue;
                }
                self.expect('}')?;
                return Ok(());
            }
        }
        let neg = self.eat('-');
        let t = self.next()?;
        let n = ty.bytes();
        match &t.tok {
            Tok::Num(s) => {
                let v = literal(s, neg, ty).map_err(|e| match e {
                    Issue::Malformed(m) | Issue::Unsupported(m) => PtxError::new(t.line, m),
                })?;
                out.extend_from_slice(&v.to_le_bytes()[..n]);
            }
            Tok::Word(_) => {
                // Symbolic initializers (addresses) are not relocated: zeros.
                if self.eat('(') {
                    self.word()?;
                    self.expect(')')?;
                }
                if self.eat('+') {
                    self.number()?;
                }
                out.extend(std::iter::repeat_n(0, n));
            }
            other => return self.err(t.line, format!("bad initializer {}", describe(other))),
        }
        Ok(())
    }

    fn module_var(&mut self, space: &str, ext: bool, line: usize) -> Result<(), PtxError> {
        let d = self.var_decl()?;
        self.expect(';')?;
        if self.mb.syms.contains_key(&d.name) {
            return self.err(line, format!("duplicate symbol `{}`", d.name));
        }
        if space == ".shared" {
            let id = self.mb.shared.len() as u32;
            self.mb.shared.push(SharedVar {
                size: d.size,
                align: d.align,
                is_extern: ext || (d.unsized_ && d.init.is_none()),
            });
            self.mb.syms.insert(d.name, ModSym::Shared(id));
        } else {
            let mut init = d.init.unwrap_or_default();
            init.resize(d.size as usize, 0);
            let _ = d.ty;
            let id = self.mb.globals.len() as u32;
            self.mb.globals.push(GlobalVar {
                name: d.name.clone(),
                size: d.size,
                align: d.align,
                init,
                space: if space == ".const" {
                    Space::Const
                } else {
                    Space::Global
                },
            });
            self.mb.syms.insert(d.name, ModSym::Global(id));
        }
        Ok(())
    }

    fn param_list(&mut self) -> Result<Vec<VarDecl>, PtxError> {
        self.expect('(')?;
        let mut out = Vec::new();
        if self.eat(')') {
            return Ok(out);
        }
        loop {
            let (w, line) = self.word()?;
            if w != ".param" && w != ".reg" {
                return self.err(line, format!("expected `.param`, found `{w}`"));
            }
            out.push(self.var_decl()?);
            if self.eat(',') {
                continue;
            }
            self.expect(')')?;
            return Ok(out);
        }
    }

    fn function(&mut self, kernel: bool) -> Result<(), PtxError> {
        let rets = if !kernel && self.is_punct('(') {
            self.param_list()?
        } else {
            Vec::new()
        };
        let (name, line) = self.word()?;
        let name = name.to_string();
        let params = if self.is_punct('(') {
            self.param_list()?
        } else {
            Vec::new()
        };
        loop {
            let t = self.next()?;
            match &t.tok {
                Tok::Word(w) if w == ".pragma" => self.skip_past(';')?,
                Tok::Word(w) if w.starts_with('.') => {
                    // Performance directives: `.maxntid 256, 1, 1` etc.
                    while matches!(self.peek_tok(), Some(Tok::Num(_) | Tok::Punct(','))) {
                        self.pos += 1;
                    }
                }
                Tok::Punct(';') => {
                    if !kernel {
                        self.declare_func(&name, &params, &rets, line, None)?;
                    }
                    return Ok(());
                }
                Tok::Punct('{') => break,
                other => {
                    return self.err(
                        t.line,
                        format!("unexpected {} in function header", describe(other)),
                    )
                }
            }
        }
        let mut fb = FuncB::default();
        let mut root = Scope::default();
        let mut kparams = Vec::new();
        let mut poff = 0u64;
        let (mut fparams, mut frets) = (Vec::new(), Vec::new());
        if kernel {
            for p in &params {
                let off = align_up(poff, p.align as u64);
                poff = off + p.size;
                if poff > MAX_FRAME {
                    return self.err(line, "kernel parameters too large");
                }
                root.names.insert(p.name.clone(), LSym::KParam(off as u32));
                kparams.push(Param {
                    name: p.name.clone(),
                    offset: off as u32,
                    size: p.size as u32,
                    align: p.align,
                });
            }
        } else {
            for (decls, out) in [(&rets, &mut frets), (&params, &mut fparams)] {
                for p in decls.iter() {
                    let s = fb.alloc_scratch(p.size, p.align, line)?;
                    root.names.insert(p.name.clone(), LSym::Scratch(s));
                    out.push(s);
                }
            }
        }
        fb.scopes.push(root);
        fb.scopes.push(Scope::default());
        self.body(&mut fb)?;
        for inst in &mut fb.code {
            if let Op::Bra { target } = &mut inst.op {
                match fb.label_pos[*target as usize] {
                    Some(pos) => *target = pos,
                    None => {
                        let l = &fb.label_names[*target as usize];
                        return self.err(inst.line as usize, format!("undefined label `{l}`"));
                    }
                }
            }
        }
        if fb.local_size > MAX_FRAME {
            return self.err(line, ".local space too large");
        }
        let body = Function {
            name: name.clone(),
            code: std::mem::take(&mut fb.code),
            nregs: fb.nregs as u32,
            local_size: fb.local_size as u32,
            scratch_size: fb.scratch_size as u32,
            params: fparams,
            rets: frets,
            calls: std::mem::take(&mut fb.calls),
            shared_refs: std::mem::take(&mut fb.shared_refs),
            defined: true,
        };
        if kernel {
            if self.mb.kernels.iter().any(|k| k.name == name) {
                return self.err(line, format!("duplicate kernel `{name}`"));
            }
            self.mb.kernels.push(Kernel {
                name,
                params: kparams,
                body,
                param_size: poff as u32,
                shared_layout: Vec::new(),
                static_shared: 0,
                dyn_base: 0,
            });
            Ok(())
        } else {
            self.declare_func(&name, &params, &rets, line, Some(body))
        }
    }

    /// Records a `.func` declaration or definition.
    fn declare_func(
        &mut self,
        name: &str,
        params: &[VarDecl],
        rets: &[VarDecl],
        line: usize,
        body: Option<Function>,
    ) -> Result<(), PtxError> {
        let id = match self.mb.syms.get(name) {
            Some(ModSym::Func(f)) => *f,
            Some(_) => return self.err(line, format!("duplicate symbol `{name}`")),
            None => self.mb.placeholder(name),
        };
        let f = &mut self.mb.funcs[id as usize];
        match body {
            Some(b) => {
                if f.defined {
                    return self.err(line, format!("function `{name}` defined twice"));
                }
                *f = b;
            }
            None if !f.defined => {
                // A prototype: remember the signature for call checking.
                let mut fb = FuncB::default();
                let mut slots = |ds: &[VarDecl]| -> Result<Vec<Slot>, PtxError> {
                    ds.iter()
                        .map(|p| fb.alloc_scratch(p.size, p.align, line))
                        .collect()
                };
                f.rets = slots(rets)?;
                f.params = slots(params)?;
            }
            None => {}
        }
        Ok(())
    }

    fn body(&mut self, fb: &mut FuncB) -> Result<(), PtxError> {
        let mut ext = false;
        loop {
            let t = self.next()?;
            let mut keep_ext = false;
            match &t.tok {
                Tok::Punct('{') => {
                    if fb.scopes.len() > MAX_DEPTH {
                        return self.err(t.line, "blocks nested too deeply");
                    }
                    fb.scopes.push(Scope::default());
                }
                Tok::Punct('}') => {
                    fb.scopes.pop();
                    if fb.scopes.len() <= 1 {
                        return Ok(());
                    }
                }
                Tok::Punct(';') => {}
                Tok::Punct('@') => {
                    let neg = self.eat('!');
                    let (p, pline) = self.word()?;
                    let guard = match fb.lookup(p) {
                        Some(LSym::Reg(r)) => r,
                        _ => return self.err(pline, format!("undeclared predicate `{p}`")),
                    };
                    let op = self.next()?;
                    match &op.tok {
                        Tok::Word(w) if !w.starts_with('.') => {
                            self.instruction(fb, w, t, guard, neg)?
                        }
                        other => {
                            return self.err(
                                op.line,
                                format!("expected an opcode, found {}", describe(other)),
                            )
                        }
                    }
                }
                Tok::Word(w) => match w.as_str() {
                    ".reg" => self.reg_decl(fb)?,
                    ".local" => {
                        let d = self.var_decl()?;
                        self.expect(';')?;
                        let off = align_up(fb.local_size, d.align as u64);
                        fb.local_size = off + d.size;
                        if fb.local_size > MAX_FRAME {
                            return self.err(t.line, ".local space too large");
                        }
                        fb.declare(&d.name, LSym::Local(off as u32));
                    }
                    ".shared" => {
                        let d = self.var_decl()?;
                        self.expect(';')?;
                        let id = self.mb.shared.len() as u32;
                        self.mb.shared.push(SharedVar {
                            size: d.size,
                            align: d.align,
                            is_extern: ext || (d.unsized_ && d.init.is_none()),
                        });
                        fb.declare(&d.name, LSym::Shared(id));
                    }
                    ".param" => {
                        let d = self.var_decl()?;
                        self.expect(';')?;
                        let s = fb.alloc_scratch(d.size, d.align, t.line)?;
                        fb.declare(&d.name, LSym::Scratch(s));
                    }
                    ".global" | ".const" => self.module_var(w, ext, t.line)?,
                    ".extern" => keep_ext = true,
                    ".loc" | ".file" => self.skip_line(t.line),
                    ".pragma" => self.skip_past(';')?,
                    _ if w.starts_with('.') => {
                        return self.err(
                            t.line,
                            format!("unexpected directive `{w}` in function body"),
                        )
                    }
                    _ if self.is_punct(':') => {
                        self.pos += 1;
                        let id = Res {
                            fb,
                            mb: &mut self.mb,
                        }
                        .label(w);
                        if fb.label_pos[id as usize].is_some() {
                            return self.err(t.line, format!("duplicate label `{w}`"));
                        }
                        fb.label_pos[id as usize] = Some(fb.code.len() as u32);
                    }
                    _ => self.instruction(fb, w, t, NO_REG, false)?,
                },
                other => {
                    return self.err(
                        t.line,
                        format!("unexpected {} in function body", describe(other)),
                    )
                }
            }
            ext = keep_ext;
        }
    }

    fn reg_decl(&mut self, fb: &mut FuncB) -> Result<(), PtxError> {
        while matches!(self.peek_tok(), Some(Tok::Word(w)) if w.starts_with('.')) {
            self.pos += 1;
        }
        loop {
            let (name, line) = self.word()?;
            if self.eat('<') {
                let n = self.number()?;
                self.expect('>')?;
                let base = fb.alloc_regs(n, line)?;
                if let Some(s) = fb.scopes.last_mut() {
                    s.ranges.insert(name.to_string(), (base, n as u32));
                }
            } else {
                let r = fb.alloc_regs(1, line)?;
                fb.declare(name, LSym::Reg(r));
            }
            if self.eat(',') {
                continue;
            }
            self.expect(';')?;
            return Ok(());
        }
    }

    /// Parses one instruction whose opcode token has just been consumed;
    /// `first` is the first token of the statement (for its source text).
    fn instruction(
        &mut self,
        fb: &mut FuncB,
        opcode: &str,
        first: &Token,
        guard: Reg,
        neg: bool,
    ) -> Result<(), PtxError> {
        let start = self.pos;
        let mut end = start;
        let mut depth = 0usize;
        loop {
            match self.toks.get(end).map(|t| &t.tok) {
                Some(Tok::Punct(';')) => break,
                Some(Tok::Punct('{')) => depth += 1,
                Some(Tok::Punct('}')) if depth > 0 => depth -= 1,
                Some(Tok::Punct('}')) | None => {
                    return self.err(first.line, format!("missing `;` after `{opcode}`"))
                }
                Some(_) => {}
            }
            end += 1;
        }
        self.pos = end + 1;
        let stext = self
            .text
            .get(first.start..self.toks[end].end)
            .unwrap_or(opcode);
        let text: String = stext.split_whitespace().collect::<Vec<_>>().join(" ");
        let raw = parse_operands(&self.toks[start..end])
            .map_err(|m| PtxError::new(first.line, format!("{m} in `{text}`")))?;
        let mut res = Res {
            fb,
            mb: &mut self.mb,
        };
        let op = match decode(opcode, &raw, &mut res) {
            Ok(op) => op,
            Err(Issue::Unsupported(_)) => Op::Unknown(text.into()),
            Err(Issue::Malformed(m)) => return self.err(first.line, format!("{m} in `{text}`")),
        };
        fb.code.push(Inst {
            op,
            guard,
            neg,
            line: first.line.min(u32::MAX as usize) as u32,
        });
        Ok(())
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Num(n) => format!("`{n}`"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Punct(c) => format!("`{c}`"),
    }
}

/// Operand-list parser over one instruction's tokens.
struct Ops<'a> {
    t: &'a [Token],
    i: usize,
}

impl Ops<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i).map(|t| &t.tok)
    }

    fn next(&mut self) -> Result<&Tok, String> {
        let t = self
            .t
            .get(self.i)
            .map(|t| &t.tok)
            .ok_or("incomplete operand")?;
        self.i += 1;
        Ok(t)
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(&Tok::Punct(c));
        if hit {
            self.i += 1;
        }
        hit
    }

    fn offset(&mut self) -> Result<i64, String> {
        let neg = self.eat('-');
        match self.next()? {
            Tok::Num(n) => {
                let v = parse_int(n).ok_or(format!("bad offset `{n}`"))? as i64;
                Ok(if neg { v.wrapping_neg() } else { v })
            }
            _ => Err("expected an offset".into()),
        }
    }

    fn list(&mut self, close: char, depth: usize) -> Result<Vec<Raw>, String> {
        let mut v = Vec::new();
        if self.eat(close) {
            return Ok(v);
        }
        loop {
            v.push(self.operand(depth + 1)?);
            if self.eat(',') {
                continue;
            }
            if self.eat(close) {
                return Ok(v);
            }
            return Err(format!("expected `,` or `{close}`"));
        }
    }

    fn operand(&mut self, depth: usize) -> Result<Raw, String> {
        if depth > 4 {
            return Err("operand nested too deeply".into());
        }
        match self.next()?.clone() {
            Tok::Punct('{') => Ok(Raw::Vec(self.list('}', depth)?)),
            Tok::Punct('(') => Ok(Raw::List(self.list(')', depth)?)),
            Tok::Punct('[') => {
                let base = match self.next()?.clone() {
                    Tok::Word(w) => Some(w),
                    Tok::Num(n) => {
                        let v = parse_int(&n).ok_or(format!("bad address `{n}`"))?;
                        self.next_is(']')?;
                        return Ok(Raw::Addr(None, v as i64));
                    }
                    _ => return Err("bad address".into()),
                };
                let off = if self.eat('+') || self.peek() == Some(&Tok::Punct('-')) {
                    self.offset()?
                } else {
                    0
                };
                self.next_is(']')?;
                Ok(Raw::Addr(base, off))
            }
            Tok::Punct('!') => match self.next()? {
                Tok::Word(w) => Ok(Raw::Not(w.clone())),
                _ => Err("expected a predicate after `!`".into()),
            },
            Tok::Punct('-') => match self.next()? {
                Tok::Num(n) => Ok(Raw::Num(n.clone(), true)),
                _ => Err("expected a number after `-`".into()),
            },
            Tok::Num(n) => Ok(Raw::Num(n, false)),
            Tok::Word(w) => {
                if self.eat('|') {
                    match self.next()? {
                        Tok::Word(q) => Ok(Raw::Pair(w, q.clone())),
                        _ => Err("expected a predicate after `|`".into()),
                    }
                } else if self.eat('+') || self.peek() == Some(&Tok::Punct('-')) {
                    Ok(Raw::SymOff(w, self.offset()?))
                } else {
                    Ok(Raw::Name(w))
                }
            }
            other => Err(format!("unexpected {} in operands", describe(&other))),
        }
    }

    fn next_is(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}`"))
        }
    }
}

fn parse_operands(t: &[Token]) -> Result<Vec<Raw>, String> {
    let mut p = Ops { t, i: 0 };
    let mut out = Vec::new();
    if t.is_empty() {
        return Ok(out);
    }
    loop {
        out.push(p.operand(0)?);
        if p.i == t.len() {
            return Ok(out);
        }
        if !p.eat(',') {
            return Err("expected `,` between operands".into());
        }
    }
}
