//! Functions the CUDA runtime supplies to kernels outside their module:
//! device `printf` (`vprintf`) and `assert` (`__assertfail`). Their text
//! goes to [`DeviceMemory::kernel_output`].

use super::super::ast::Space;
use super::super::error::LaunchError;
use super::super::instr::Slot;
use super::super::memory::DeviceMemory;
use super::thread::Thread;
use super::Env;

/// Longest string `%s`, a format or an assertion message may have.
const MAX_STRING: usize = 1 << 16;

fn slot_u64(th: &Thread, s: Slot) -> u64 {
    let at = th.pb + s.off as usize;
    let mut b = [0u8; 8];
    let n = (s.size as usize).min(8);
    if let Some(src) = th.scratch.get(at..at + n) {
        b[..n].copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

/// The NUL-terminated string at generic address `addr` (at most `max`
/// bytes); `None` if it cannot be read.
fn cstr(
    th: &mut Thread,
    env: &mut Env,
    mem: &mut dyn DeviceMemory,
    addr: u64,
    max: usize,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < max {
        let mut b = [0u8];
        let at = addr.wrapping_add(out.len() as u64);
        th.access(env, mem, Space::Generic, at, &mut b, false)
            .ok()?;
        if b[0] == 0 {
            break;
        }
        out.push(b[0]);
    }
    Some(out)
}

/// `vprintf(format, args)`: formats like C's printf from the packed
/// argument buffer (each argument aligned to its size, floats promoted to
/// double) and returns the number of arguments, as CUDA's printf does.
pub(super) fn printf(
    th: &mut Thread,
    env: &mut Env,
    mem: &mut dyn DeviceMemory,
    fmt: Slot,
    args: Slot,
    ret: Option<Slot>,
) -> Result<(), LaunchError> {
    let (fa, aa) = (slot_u64(th, fmt), slot_u64(th, args));
    let result = match cstr(th, env, mem, fa, MAX_STRING) {
        Some(f) if fa != 0 => {
            let mut src = Live {
                th: &mut *th,
                env: &mut *env,
                mem: &mut *mem,
                base: aa,
                off: 0,
            };
            match format(&f, &mut src) {
                Some((text, n)) => {
                    mem.kernel_output(&String::from_utf8_lossy(&text));
                    n as i32
                }
                None => -2,
            }
        }
        _ => -1,
    };
    if let Some(r) = ret {
        let at = th.pb + r.off as usize;
        let n = (r.size as usize).min(4);
        if let Some(dst) = th.scratch.get_mut(at..at + n) {
            dst.copy_from_slice(&result.to_le_bytes()[..n]);
        }
    }
    Ok(())
}

/// `__assertfail(message, file, line, function, char size)`: reports the
/// failed assertion like CUDA does and fails the launch.
pub(super) fn assert_fail(
    th: &mut Thread,
    env: &mut Env,
    mem: &mut dyn DeviceMemory,
    args: &[Slot; 4],
) -> LaunchError {
    let mut text = |i: usize, th: &mut Thread| {
        let a = slot_u64(th, args[i]);
        let s = cstr(th, env, mem, a, 4096).unwrap_or_default();
        String::from_utf8_lossy(&s).into_owned()
    };
    let (msg, file, func) = (text(0, th), text(1, th), text(3, th));
    let line = slot_u64(th, args[2]) as u32;
    let report = format!(
        "{file}:{line}: {func}: block [{},{},{}], thread [{},{},{}] Assertion `{msg}` failed.\n",
        env.ctaid[0], env.ctaid[1], env.ctaid[2], th.tid[0], th.tid[1], th.tid[2]
    );
    mem.kernel_output(&report);
    LaunchError::Assert(report.trim_end().to_string())
}

/// Where [`format`] gets its arguments and `%s` strings.
trait Source {
    /// The next argument of `size` bytes.
    fn arg(&mut self, size: u64) -> u64;
    /// The string at `addr`, at most `max` bytes.
    fn string(&mut self, addr: u64, max: usize) -> Option<Vec<u8>>;
}

/// A thread's argument buffer: each argument aligned to its size.
struct Live<'a, 'e> {
    th: &'a mut Thread,
    env: &'a mut Env<'e>,
    mem: &'a mut dyn DeviceMemory,
    base: u64,
    off: u64,
}

impl Source for Live<'_, '_> {
    /// 0 where the buffer cannot be read (no arguments were passed).
    fn arg(&mut self, size: u64) -> u64 {
        self.off = self.off.div_ceil(size) * size;
        let at = self.base.wrapping_add(self.off);
        self.off += size;
        let mut b = [0u8; 8];
        let n = size as usize;
        let ok = self.base != 0
            && self
                .th
                .access(self.env, self.mem, Space::Generic, at, &mut b[..n], false)
                .is_ok();
        if ok {
            u64::from_le_bytes(b)
        } else {
            0
        }
    }

    fn string(&mut self, addr: u64, max: usize) -> Option<Vec<u8>> {
        cstr(self.th, self.env, self.mem, addr, max)
    }
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    hash: bool,
    zero: bool,
    width: usize,
    prec: Option<usize>,
    /// `l`, `ll`, `z`, `j`, `t`: a 64-bit integer argument.
    wide: bool,
    /// 1 for `h`, 2 for `hh`.
    narrow: u8,
}

/// Formats `f` with the arguments of `src`. Returns the text and the
/// number of arguments consumed, or `None` for a malformed conversion.
fn format(f: &[u8], src: &mut dyn Source) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut n = 0;
    let mut i = 0;
    while i < f.len() {
        if f[i] != b'%' {
            out.push(f[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut s = Spec::default();
        while let Some(&c) = f.get(i) {
            match c {
                b'-' => s.minus = true,
                b'+' => s.plus = true,
                b' ' => s.space = true,
                b'#' => s.hash = true,
                b'0' => s.zero = true,
                _ => break,
            }
            i += 1;
        }
        let num = |i: &mut usize| {
            let mut v = 0usize;
            while let Some(d) = f.get(*i).filter(|c| c.is_ascii_digit()) {
                v = v
                    .saturating_mul(10)
                    .saturating_add((d - b'0') as usize)
                    .min(4096);
                *i += 1;
            }
            v
        };
        s.width = num(&mut i);
        if f.get(i) == Some(&b'.') {
            i += 1;
            s.prec = Some(num(&mut i));
        }
        while let Some(&c) = f.get(i) {
            match c {
                b'h' => s.narrow += 1,
                b'l' | b'z' | b'j' | b't' | b'q' => s.wide = true,
                b'L' => {}
                _ => break,
            }
            i += 1;
        }
        let conv = *f.get(i)?;
        i += 1;
        let (body, zeros) = match conv {
            b'%' => {
                out.push(b'%');
                continue;
            }
            b'd' | b'i' | b'u' | b'o' | b'x' | b'X' | b'c' | b'p' => {
                n += 1;
                let size = if s.wide || conv == b'p' { 8 } else { 4 };
                let v = src.arg(size);
                (integer(&s, conv, v), true)
            }
            b's' => {
                n += 1;
                let p = src.arg(8);
                let mut t = if p == 0 {
                    b"(null)".to_vec()
                } else {
                    src.string(p, s.prec.unwrap_or(MAX_STRING).min(MAX_STRING))?
                };
                if let Some(p) = s.prec {
                    t.truncate(p);
                }
                (t, false)
            }
            b'f' | b'F' | b'e' | b'E' | b'g' | b'G' | b'a' | b'A' => {
                n += 1;
                let x = f64::from_bits(src.arg(8));
                (float(&s, conv, x), x.is_finite())
            }
            _ => return None,
        };
        let int = matches!(conv, b'd' | b'i' | b'u' | b'o' | b'x' | b'X');
        let zeros = zeros && !matches!(conv, b'c' | b'p') && !(int && s.prec.is_some());
        pad(&mut out, &s, body, zeros);
    }
    Some((out, n))
}

/// Applies width and justification; zero padding (where `zeros` allows
/// it) goes after any sign or `0x` prefix.
fn pad(out: &mut Vec<u8>, s: &Spec, body: Vec<u8>, zeros: bool) {
    let fill = s.width.saturating_sub(body.len());
    if s.minus {
        out.extend_from_slice(&body);
        out.extend(std::iter::repeat_n(b' ', fill));
    } else if s.zero && zeros {
        let mut split = usize::from(matches!(body.first(), Some(b'-' | b'+' | b' ')));
        if body[split..].starts_with(b"0x") || body[split..].starts_with(b"0X") {
            split += 2;
        }
        out.extend_from_slice(&body[..split]);
        out.extend(std::iter::repeat_n(b'0', fill));
        out.extend_from_slice(&body[split..]);
    } else {
        out.extend(std::iter::repeat_n(b' ', fill));
        out.extend_from_slice(&body);
    }
}

fn integer(s: &Spec, conv: u8, v: u64) -> Vec<u8> {
    if conv == b'c' {
        return vec![v as u8];
    }
    if conv == b'p' {
        return format!("0x{v:x}").into_bytes();
    }
    let signed = matches!(conv, b'd' | b'i');
    let (neg, mag) = match (signed, s.wide, s.narrow) {
        (true, true, _) => ((v as i64) < 0, (v as i64).unsigned_abs()),
        (true, false, 1) => ((v as i16) < 0, (v as i16).unsigned_abs() as u64),
        (true, false, 2) => ((v as i8) < 0, (v as i8).unsigned_abs() as u64),
        (true, false, _) => ((v as i32) < 0, (v as i32).unsigned_abs() as u64),
        (false, true, _) => (false, v),
        (false, false, 1) => (false, v as u16 as u64),
        (false, false, 2) => (false, v as u8 as u64),
        (false, false, _) => (false, v as u32 as u64),
    };
    let mut digits = match conv {
        b'o' => format!("{mag:o}"),
        b'x' => format!("{mag:x}"),
        b'X' => format!("{mag:X}"),
        _ => mag.to_string(),
    };
    match s.prec {
        Some(0) if mag == 0 => digits.clear(),
        Some(p) if digits.len() < p => digits = "0".repeat(p - digits.len()) + &digits,
        _ => {}
    }
    let prefix = match conv {
        b'o' if s.hash && !digits.starts_with('0') => "0",
        b'x' if s.hash && mag != 0 => "0x",
        b'X' if s.hash && mag != 0 => "0X",
        _ if neg => "-",
        _ if signed && s.plus => "+",
        _ if signed && s.space => " ",
        _ => "",
    };
    format!("{prefix}{digits}").into_bytes()
}

/// `%e`-style text with C's exponent (sign, at least two digits).
fn exp_form(x: f64, prec: usize, upper: bool) -> String {
    let t = format!("{x:.prec$e}");
    let (m, e) = t.split_once('e').unwrap_or((&t, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    let s = format!("{m}{}{sign}{:02}", if upper { 'E' } else { 'e' }, e.abs());
    s
}

fn trim_zeros(s: String) -> String {
    let (m, e) = match s.find(['e', 'E']) {
        Some(i) => (s[..i].to_string(), s[i..].to_string()),
        None => (s.clone(), String::new()),
    };
    if !m.contains('.') {
        return s;
    }
    let m = m.trim_end_matches('0').trim_end_matches('.');
    format!("{m}{e}")
}

fn float(s: &Spec, conv: u8, x: f64) -> Vec<u8> {
    let upper = conv.is_ascii_uppercase();
    let sign = if x.is_sign_negative() && !x.is_nan() {
        "-"
    } else if s.plus {
        "+"
    } else if s.space {
        " "
    } else {
        ""
    };
    let a = x.abs();
    let text = if !a.is_finite() {
        let t = if a.is_nan() { "nan" } else { "inf" };
        if upper {
            t.to_uppercase()
        } else {
            t.to_string()
        }
    } else {
        let prec = s.prec.unwrap_or(6);
        let mut t = match conv.to_ascii_lowercase() {
            b'f' => format!("{a:.prec$}"),
            b'e' => exp_form(a, prec, upper),
            b'g' => {
                let p = prec.max(1);
                let e = if a == 0.0 {
                    0
                } else {
                    // The exponent after rounding to p digits.
                    let t = format!("{a:.*e}", p - 1);
                    t.split_once('e')
                        .and_then(|(_, e)| e.parse().ok())
                        .unwrap_or(0)
                };
                let t = if (-4..p as i32).contains(&e) {
                    format!("{a:.*}", (p as i32 - 1 - e) as usize)
                } else {
                    exp_form(a, p - 1, upper)
                };
                if s.hash {
                    t
                } else {
                    trim_zeros(t)
                }
            }
            _ => hex_float(a, upper),
        };
        if s.hash && !t.contains('.') && matches!(conv, b'f' | b'F' | b'e' | b'E') {
            let at = t.find(['e', 'E']).unwrap_or(t.len());
            t.insert(at, '.');
        }
        t
    };
    format!("{sign}{text}").into_bytes()
}

/// `%a`: hexadecimal significand and binary exponent, shortest form.
fn hex_float(a: f64, upper: bool) -> String {
    let bits = a.to_bits();
    let (e, m) = ((bits >> 52) as i64 & 0x7FF, bits & ((1 << 52) - 1));
    let (lead, exp) = match (e, m) {
        (0, 0) => (0, 0),
        (0, _) => (0, -1022),
        _ => (1, e - 1023),
    };
    let mut frac = format!("{m:013x}");
    while frac.ends_with('0') {
        frac.pop();
    }
    let dot = if frac.is_empty() { "" } else { "." };
    let t = format!("0x{lead}{dot}{frac}p{exp:+}");
    if upper {
        t.to_uppercase()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<u64>);

    impl Source for Fixed {
        fn arg(&mut self, _: u64) -> u64 {
            if self.0.is_empty() {
                0
            } else {
                self.0.remove(0)
            }
        }

        fn string(&mut self, _: u64, _: usize) -> Option<Vec<u8>> {
            Some(b"str".to_vec())
        }
    }

    fn fmt(f: &str, args: &[u64]) -> String {
        let (t, n) = format(f.as_bytes(), &mut Fixed(args.to_vec())).expect("formats");
        assert_eq!(n, f.matches('%').count() - 2 * f.matches("%%").count());
        String::from_utf8(t).expect("utf8")
    }

    #[test]
    fn c_printf_conversions() {
        assert_eq!(
            fmt(
                "%d|%5d|%-5d|%05d|%+d",
                &[7, (-3i32) as u32 as u64, 4, 42, 9]
            ),
            "7|   -3|4    |00042|+9"
        );
        assert_eq!(
            fmt("%x %#X %o %#o %u", &[255, 255, 8, 8, u32::MAX as u64]),
            "ff 0XFF 10 010 4294967295"
        );
        assert_eq!(
            fmt("%lld %llx", &[(-5i64) as u64, 1 << 40]),
            "-5 10000000000"
        );
        assert_eq!(fmt("%hhd %hu", &[0x1FF, 0x12345]), "-1 9029");
        assert_eq!(
            fmt("%.3d|%.0d|%c|%s|%.2s|%%", &[5, 0, 65, 1, 1]),
            "005||A|str|st|%"
        );
        let f = |x: f64| x.to_bits();
        assert_eq!(
            fmt(
                "%f %.2f %8.3f %-8.1f|",
                &[f(1.5), f(0.125), f(-1.23456), f(2.0)]
            ),
            "1.500000 0.12   -1.235 2.0     |"
        );
        assert_eq!(
            fmt(
                "%e %.2E %g %g %g %G",
                &[
                    f(12345.678),
                    f(1e-7),
                    f(0.0001),
                    f(123456.0),
                    f(1234567.0),
                    f(1e-5)
                ]
            ),
            "1.234568e+04 1.00E-07 0.0001 123456 1.23457e+06 1E-05"
        );
        assert_eq!(
            fmt(
                "%f %e %G %05.1f",
                &[
                    f(f64::INFINITY),
                    f(f64::NAN),
                    f(f64::NEG_INFINITY),
                    f(-1.25)
                ]
            ),
            "inf nan -INF -01.2"
        );
        assert_eq!(fmt("%a %A", &[f(1.0), f(0.75)]), "0x1p+0 0X1.8P-1");
        assert_eq!(
            fmt("%#g %g %+.0e", &[f(2.0), f(100.0), f(15.0)]),
            "2.00000 100 +2e+01"
        );
    }
}
