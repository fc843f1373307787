//! Operand lists of one instruction, as [`Raw`] operands.

use super::super::decode::{parse_int, Raw};
use super::super::lexer::{Tok, Token};
use super::describe;

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
                if self.eat(',') {
                    // `[tex, {coords}]` and similar: only instructions the
                    // decoder does not support take these.
                    self.list(']', depth)?;
                    return Ok(Raw::Opaque);
                }
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

pub(super) fn parse_operands(t: &[Token]) -> Result<Vec<Raw>, String> {
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
