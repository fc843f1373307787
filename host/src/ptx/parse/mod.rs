//! Module-level PTX parser: directives, variable declarations, function
//! headers and bodies (scopes, register/local/shared/param declarations,
//! labels, guards). Each instruction's operands are parsed ([`operands`])
//! into `Raw` form and handed to the decoder; the finished module gets its
//! call targets checked and a shared-memory layout per kernel
//! ([`builder`]). Declarations are in [`decl`], function bodies in
//! [`body`].

mod body;
mod builder;
mod decl;
mod operands;

use super::ast::Module;
use super::decode::parse_int;
use super::error::PtxError;
use super::lexer::{lex, Tok, Token};
use builder::ModB;

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
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Num(n) => format!("`{n}`"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Punct(c) => format!("`{c}`"),
    }
}
