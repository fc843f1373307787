//! Variable and parameter declarations: `.global`/`.const`/`.shared`
//! variables with initializers, and parameter lists.

use super::super::ast::{GlobalVar, SharedVar, Space};
use super::super::decode::{literal, Issue};
use super::super::error::PtxError;
use super::super::instr::Ty;
use super::super::lexer::Tok;
use super::builder::{ModSym, VarDecl};
use super::{describe, Parser, MAX_DEPTH, MAX_VAR};

impl Parser<'_> {
    /// Parses `[.align N] [.v2|.v4] .type name[dims] [= init]` (after the
    /// state space), stopping before the terminator.
    pub(super) fn var_decl(&mut self) -> Result<VarDecl, PtxError> {
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

    pub(super) fn module_var(
        &mut self,
        space: &str,
        ext: bool,
        line: usize,
    ) -> Result<(), PtxError> {
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
            init.truncate(d.size as usize);
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

    pub(super) fn param_list(&mut self) -> Result<Vec<VarDecl>, PtxError> {
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
}
