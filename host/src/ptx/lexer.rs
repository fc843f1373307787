//! Tokenizer for PTX source text: words (identifiers, opcodes with their
//! modifiers, directives, registers), numbers, strings and punctuation, each
//! tagged with its 1-based line and byte range. Comments are dropped.

use super::error::PtxError;

/// One lexical token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Identifier-like word: `ld.global.u32`, `%tid.x`, `.reg`, `$L__BB0_2`,
    /// `L1::evict_last` segments included.
    Word(String),
    /// Numeric literal text: `42`, `0x1F`, `0f3F800000`, `1.5e3`.
    Num(String),
    /// String literal contents (without quotes).
    Str(String),
    /// Single punctuation character.
    Punct(char),
}

/// A token with its position.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub start: usize,
    pub end: usize,
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || matches!(c, b'_' | b'$' | b'%' | b'.')
}

fn is_word_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.')
}

/// Host bytes the tokens of one module may take. A token costs some
/// 56 bytes plus its text, up to one per byte of source, so the budget, not
/// the image size, bounds lexing (legitimate PTX runs at about one token per
/// five bytes: some 30 MiB of source fit).
const MAX_TOKEN_BYTES: usize = 256 << 20;

/// Splits `text` into tokens.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, PtxError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut spent = 0usize;
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let first = line;
                i += 2;
                loop {
                    if i + 1 >= b.len() {
                        return Err(PtxError::new(first, "unterminated block comment"));
                    }
                    if b[i] == b'*' && b[i + 1] == b'/' {
                        i += 2;
                        break;
                    }
                    if b[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None | Some(b'\n') => {
                            return Err(PtxError::new(line, "unterminated string literal"))
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                match text.get(start + 1..i - 1) {
                    Some(s) => Tok::Str(s.to_string()),
                    None => return Err(PtxError::new(line, "malformed string literal")),
                }
            }
            c if is_word_start(c) => {
                i += 1;
                loop {
                    if i < b.len() && is_word_cont(b[i]) {
                        i += 1;
                    } else if i + 2 < b.len()
                        && b[i] == b':'
                        && b[i + 1] == b':'
                        && is_word_cont(b[i + 2])
                    {
                        i += 2;
                    } else {
                        break;
                    }
                }
                Tok::Word(text[start..i].to_string())
            }
            c if c.is_ascii_digit() => {
                i += 1;
                let hexlike =
                    c == b'0' && matches!(b.get(i), Some(b'x' | b'X' | b'f' | b'F' | b'd' | b'D'));
                while i < b.len() {
                    let d = b[i];
                    let exponent_sign =
                        (d == b'+' || d == b'-') && !hexlike && matches!(b[i - 1], b'e' | b'E');
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Tok::Num(text[start..i].to_string())
            }
            b',' | b';' | b':' | b'{' | b'}' | b'[' | b']' | b'(' | b')' | b'<' | b'>' | b'@'
            | b'!' | b'+' | b'-' | b'|' | b'=' | b'*' | b'~' | b'&' | b'^' | b'/' => {
                i += 1;
                Tok::Punct(c as char)
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(PtxError::new(line, format!("unexpected character {ch:?}")));
            }
        };
        spent += core::mem::size_of::<Token>()
            + match &tok {
                Tok::Word(t) | Tok::Num(t) | Tok::Str(t) => t.len(),
                Tok::Punct(_) => 0,
            };
        if spent > MAX_TOKEN_BYTES {
            return Err(PtxError::new(
                line,
                format!(
                    "module too large: its tokens need more than {} MiB",
                    MAX_TOKEN_BYTES >> 20
                ),
            ));
        }
        out.push(Token {
            tok,
            line,
            start,
            end: i,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_instruction() {
        let t = lex("@%p1 ld.global.nc.L1::no_allocate.f32 %f1, [%rd4+-8]; // x\n").unwrap();
        let toks: Vec<_> = t.iter().map(|t| t.tok.clone()).collect();
        assert_eq!(toks[0], Tok::Punct('@'));
        assert_eq!(toks[1], Tok::Word("%p1".into()));
        assert_eq!(
            toks[2],
            Tok::Word("ld.global.nc.L1::no_allocate.f32".into())
        );
        assert_eq!(toks[7], Tok::Punct('+'));
        assert_eq!(toks[8], Tok::Punct('-'));
        assert_eq!(toks[9], Tok::Num("8".into()));
        assert_eq!(toks.len(), 12);
    }

    #[test]
    fn block_comment_counts_lines() {
        let t = lex("/* a\n b */ x").unwrap();
        assert_eq!(t[0].line, 2);
        assert!(lex("/* open").is_err());
    }
}
