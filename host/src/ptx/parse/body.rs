//! Function headers and bodies: scopes, register, local, shared and
//! `.param` declarations, labels, guards and instructions.

use super::super::ast::{Function, Kernel, Param, SharedVar};
use super::super::decode::Resolve;
use super::super::decode::{decode, Issue};
use super::super::error::PtxError;
use super::super::instr::{Inst, Op, Reg, Slot, NO_REG};
use super::super::lexer::{Tok, Token};
use super::builder::{align_up, FuncB, LSym, ModSym, Res, Scope, VarDecl};
use super::operands::parse_operands;
use super::{describe, Parser, MAX_DEPTH, MAX_FRAME};

impl Parser<'_> {
    pub(super) fn function(&mut self, kernel: bool) -> Result<(), PtxError> {
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
                    w if w == ".reg" || w.starts_with(".reg.") => self.reg_decl(fb)?,
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
