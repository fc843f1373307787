//! `cvt`: conversions between integers, f16, bf16, f32 and f64 with the
//! PTX rounding, saturation and flush-to-zero rules.

use super::super::float::*;
use super::super::instr::{Rnd, Ty};
use super::fp::float_in;
use super::{fin, mask, sext};

fn round_int(x: f64, r: Rnd) -> f64 {
    match r {
        Rnd::Rn => x.round_ties_even(),
        Rnd::Rz => x.trunc(),
        Rnd::Rm => x.floor(),
        Rnd::Rp => x.ceil(),
    }
}

fn int_value(ty: Ty, a: u64) -> i128 {
    if ty.is_signed() {
        sext(a, ty.bits()) as i128
    } else {
        (a & mask(ty.bits())) as i128
    }
}

/// Float to integer of type `dt`: saturating, NaN gives 0 (PTX `cvt` rules).
fn float_to_int(dt: Ty, r: f64) -> u64 {
    let v = match dt {
        Ty::S8 => r as i8 as u64,
        Ty::S16 => r as i16 as u64,
        Ty::S32 => r as i32 as u64,
        Ty::S64 => r as i64 as u64,
        Ty::U8 | Ty::B8 => r as u8 as u64,
        Ty::U16 | Ty::B16 => r as u16 as u64,
        Ty::U32 | Ty::B32 => r as u32 as u64,
        _ => r as u64,
    };
    fin(dt, v)
}

fn float_out(dt: Ty, x: f64, rnd: Rnd, ftz: bool, sat: bool) -> u64 {
    match dt {
        Ty::F64 => canon64(if sat { sat64(x) } else { x }),
        Ty::F16 => f64_to_f16(if sat { sat64(x) } else { x }, rnd) as u64,
        Ty::BF16 => f64_to_bf16(if sat { sat64(x) } else { x }, rnd) as u64,
        _ => {
            let mut f = f64_to_f32_dir(x, 0.0, rnd);
            if ftz {
                f = ftz32(f);
            }
            if sat {
                f = sat32(f);
            }
            canon32(f) as u64
        }
    }
}

/// `cvt.dt.st` with optional rounding (`rnd` for float results, `irnd` for
/// integer rounding), `.ftz` and `.sat`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cvt(
    dt: Ty,
    st: Ty,
    rnd: Option<Rnd>,
    irnd: Option<Rnd>,
    ftz: bool,
    sat: bool,
    a: u64,
) -> u64 {
    match (dt.is_float(), st.is_float()) {
        (false, false) => {
            let v = int_value(st, a);
            let v = if sat {
                let b = dt.bits();
                let (lo, hi) = if dt.is_signed() {
                    (-(1i128 << (b - 1)), (1i128 << (b - 1)) - 1)
                } else {
                    (0, (1i128 << b) - 1)
                };
                v.clamp(lo, hi)
            } else {
                v
            };
            fin(dt, v as u64)
        }
        (false, true) => {
            let x = float_in(st, a, ftz);
            float_to_int(dt, round_int(x, irnd.or(rnd).unwrap_or(Rnd::Rz)))
        }
        (true, false) => {
            let v = int_value(st, a);
            let r = rnd.unwrap_or(Rnd::Rn);
            match dt {
                Ty::F64 => {
                    let c = v as f64;
                    let f = adjust_f64(c, v.cmp(&(c as i128)), r);
                    canon64(if sat { sat64(f) } else { f })
                }
                Ty::F16 | Ty::BF16 => {
                    // Rounded to odd first, so that wide integers round once.
                    let c = v as f64;
                    let x = round_to_odd(c, (v - c as i128) as f64);
                    float_out(dt, x, r, false, sat)
                }
                _ => {
                    let c = v as f32;
                    let f = adjust_f32(c, v.cmp(&(c as i128)), r);
                    canon32(if sat { sat32(f) } else { f }) as u64
                }
            }
        }
        (true, true) => {
            let x = float_in(st, a, ftz);
            let x = match irnd {
                Some(ir) => round_int(x, ir),
                None => x,
            };
            float_out(dt, x, rnd.unwrap_or(Rnd::Rn), ftz, sat)
        }
    }
}

/// `cvt.rnd{.relu}.{f16x2,bf16x2}.f32 d, a, b`: `a` into the upper half.
pub(crate) fn cvt_pack(dt: Ty, rnd: Rnd, relu: bool, a: u64, b: u64) -> u64 {
    let one = |x: u64| {
        let mut f = f32::from_bits(x as u32) as f64;
        if relu && f < 0.0 {
            f = 0.0;
        }
        if dt == Ty::BF16x2 {
            f64_to_bf16(f, rnd) as u64
        } else {
            f64_to_f16(f, rnd) as u64
        }
    };
    (one(a) << 16) | one(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvt_rules() {
        let nan = f32::NAN.to_bits() as u64;
        assert_eq!(
            cvt(Ty::S32, Ty::F32, None, Some(Rnd::Rz), false, false, nan),
            0
        );
        assert_eq!(
            cvt(
                Ty::U8,
                Ty::F32,
                None,
                Some(Rnd::Rn),
                false,
                false,
                300f32.to_bits() as u64
            ),
            255
        );
        assert_eq!(
            cvt(
                Ty::S32,
                Ty::F32,
                None,
                Some(Rnd::Rn),
                false,
                false,
                2.5f32.to_bits() as u64
            ),
            2
        );
        assert_eq!(
            cvt(
                Ty::S32,
                Ty::F32,
                None,
                Some(Rnd::Rm),
                false,
                false,
                (-2.5f32).to_bits() as u64
            ) as i64,
            -3
        );
        assert_eq!(
            cvt(Ty::U16, Ty::S32, None, None, false, true, (-5i64) as u64),
            0
        );
        assert_eq!(cvt(Ty::S8, Ty::S32, None, None, false, true, 1000), 127);
        assert_eq!(
            cvt(Ty::S64, Ty::S32, None, None, false, false, 0xFFFF_FFFF) as i64,
            -1
        );
        assert_eq!(
            cvt(Ty::U64, Ty::U32, None, None, false, false, u64::MAX),
            0xFFFF_FFFF
        );
        let big = (1u64 << 24) + 1;
        assert_eq!(
            cvt(Ty::F32, Ty::U32, Some(Rnd::Rp), None, false, false, big),
            ((1u64 << 24) as f32).next_up().to_bits() as u64
        );
    }
}
