//! Numeric literals (integers, `0f`/`0d` hex floats, decimal floats) and
//! special register names.

use super::super::float::{f64_to_bf16, f64_to_f16};
use super::super::instr::{Rnd, Special, Ty};
use super::super::ops::fin;
use super::{bad, Issue, DR};

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

pub(super) fn float_bits(x: f64, ty: Ty) -> u64 {
    match ty {
        Ty::F64 => x.to_bits(),
        Ty::F16 => f64_to_f16(x, Rnd::Rn) as u64,
        Ty::BF16 => f64_to_bf16(x, Rnd::Rn) as u64,
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
