//! The semantics of one instruction for one thread.

use super::super::ast::{Function, Space};
use super::super::error::LaunchError;
use super::super::instr::{BoolOp, Cmp, Inst, Op, NO_REG};
use super::super::memory::{classify, window, DeviceMemory, Target};
use super::super::ops;
use super::builtin;
use super::thread::{BarWait, Frame, State, Thread, WarpWait};
use super::{frame_bytes, unsupported, Env, MAX_CALL_DEPTH, MAX_LOCAL_BYTES};

/// How an instruction left the thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// On to the next instruction, like the rest of its group.
    Seq,
    /// The pc moved elsewhere (branch, call, return).
    Jump,
    Exit,
    /// Now waiting at a barrier or a warp-synchronous operation.
    Block,
}

/// Executes `inst` (at `th.pc` of function `f`) for `th`; `group` is the
/// mask of the lanes executing it together.
#[inline(always)]
pub(super) fn step(
    th: &mut Thread,
    env: &mut Env,
    mem: &mut dyn DeviceMemory,
    inst: &Inst,
    f: &Function,
    group: u32,
) -> Result<Flow, LaunchError> {
    th.pc += 1;
    th.clock += 1;
    env.tick()?;
    if inst.guard != NO_REG && (th.get(inst.guard) != 0) == inst.neg {
        return Ok(Flow::Seq);
    }
    match &inst.op {
        Op::Mov { d, a } => {
            let v = th.val(a, env)?;
            th.set(*d, v);
        }
        Op::Pack { d, parts, bits } => {
            let mut v = 0u64;
            for (i, p) in parts.iter().enumerate() {
                v |= (th.val(p, env)? & ops::mask(*bits)) << (i as u32 * bits);
            }
            th.set(*d, v);
        }
        Op::Unpack { ds, a, bits } => {
            let v = th.val(a, env)?;
            for (i, d) in ds.iter().enumerate() {
                if *d != NO_REG {
                    th.set(*d, (v >> (i as u32 * bits)) & ops::mask(*bits));
                }
            }
        }
        Op::Int { op, ty, d, a, b } => {
            let v = ops::int_bin(*op, *ty, th.val(a, env)?, th.val(b, env)?);
            th.set(*d, v);
        }
        Op::IntUn { op, ty, d, a } => {
            let v = ops::int_un(*op, *ty, th.val(a, env)?);
            th.set(*d, v);
        }
        Op::MulWide { ty, d, a, b } => {
            let v = ops::mul_wide(*ty, th.val(a, env)?, th.val(b, env)?);
            th.set(*d, v);
        }
        Op::Mad {
            mode,
            ty,
            d,
            a,
            b,
            c,
        } => {
            let (a, b, c) = (th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, ops::mad(*mode, *ty, a, b, c));
        }
        Op::Bfe { ty, d, a, b, c } => {
            let v = ops::bfe(*ty, th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, v);
        }
        Op::Bfi { ty, d, ops: o } => {
            let v = ops::bfi(
                *ty,
                th.val(&o[0], env)?,
                th.val(&o[1], env)?,
                th.val(&o[2], env)?,
                th.val(&o[3], env)?,
            );
            th.set(*d, v);
        }
        Op::Prmt { d, a, b, c } => {
            let v = ops::prmt(th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, v);
        }
        Op::Lop3 { d, a, b, c, lut } => {
            let v = ops::lop3(th.val(a, env)?, th.val(b, env)?, th.val(c, env)?, *lut);
            th.set(*d, v);
        }
        Op::Carry {
            op,
            ty,
            cin,
            cout,
            d,
            a,
            b,
            c,
        } => {
            let (a, b, c) = (th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            let (v, out) = ops::carry(*op, *ty, *cin && th.carry, a, b, c);
            th.set(*d, v);
            if *cout {
                th.carry = out;
            }
        }
        Op::Simd2 {
            op,
            signed,
            d,
            a,
            b,
        } => {
            let v = ops::simd2(*op, *signed, th.val(a, env)?, th.val(b, env)?);
            th.set(*d, v);
        }
        Op::Shf {
            left,
            clamp,
            d,
            a,
            b,
            c,
        } => {
            let (a, b, c) = (th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, ops::shf(*left, *clamp, a, b, c));
        }
        Op::Sad { ty, d, a, b, c } => {
            let v = ops::sad(*ty, th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, v);
        }
        Op::Bfind { ty, shiftamt, d, a } => {
            let v = ops::bfind(*ty, *shiftamt, th.val(a, env)?);
            th.set(*d, v);
        }
        Op::Dot {
            lo,
            sa,
            sb,
            d,
            a,
            b,
            c,
        } => {
            let (a, b, c) = (th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, ops::dot(*lo, *sa, *sb, a, b, c));
        }
        Op::Flt { op, ty, m, d, a, b } => {
            let v = ops::flt_bin(*op, *ty, *m, th.val(a, env)?, th.val(b, env)?);
            th.set(*d, v);
        }
        Op::FltUn { op, ty, m, d, a } => {
            let v = ops::flt_un(*op, *ty, *m, th.val(a, env)?);
            th.set(*d, v);
        }
        Op::Fma { ty, m, d, a, b, c } => {
            let (a, b, c) = (th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, ops::fma(*ty, *m, a, b, c));
        }
        Op::Half {
            op,
            ty,
            m,
            d,
            a,
            b,
            c,
        } => {
            let (a, b, c) = (th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
            th.set(*d, ops::half(*op, *ty, *m, a, b, c));
        }
        Op::Copysign { ty, d, a, b } => {
            let v = ops::copysign(*ty, th.val(a, env)?, th.val(b, env)?);
            th.set(*d, v);
        }
        Op::Testp { kind, ty, d, a } => {
            let v = ops::testp(*kind, *ty, th.val(a, env)?);
            th.set(*d, v as u64);
        }
        Op::Setp {
            cmp,
            ty,
            ftz,
            d,
            d2,
            a,
            b,
            comb,
            set,
        } => {
            let t = ops::compare(*cmp, *ty, *ftz, th.val(a, env)?, th.val(b, env)?);
            let (mut p, mut q) = (t, !t);
            if let Some((bop, c)) = comb {
                let c = th.val(c, env)? & 1 != 0;
                let f = |x: bool| match bop {
                    BoolOp::And => x & c,
                    BoolOp::Or => x | c,
                    BoolOp::Xor => x ^ c,
                };
                p = f(p);
                q = f(q);
            }
            let v = match set {
                None => p as u64,
                Some(t) if t.is_float() => (if p { 1.0f32 } else { 0.0 }).to_bits() as u64,
                Some(_) if p => 0xFFFF_FFFF,
                Some(_) => 0,
            };
            th.set(*d, v);
            if *d2 != NO_REG {
                th.set(*d2, q as u64);
            }
        }
        Op::Selp { d, a, b, c } => {
            let v = if th.val(c, env)? & 1 != 0 {
                th.val(a, env)?
            } else {
                th.val(b, env)?
            };
            th.set(*d, v);
        }
        Op::Slct {
            cty,
            ftz,
            d,
            a,
            b,
            c,
        } => {
            let cv = th.val(c, env)?;
            let ge = if cty.is_float() {
                ops::compare(Cmp::Ge, *cty, *ftz, cv, 0)
            } else {
                ops::sext(cv, cty.bits()) >= 0
            };
            let v = if ge { th.val(a, env)? } else { th.val(b, env)? };
            th.set(*d, v);
        }
        Op::Cvt {
            dt,
            st,
            rnd,
            irnd,
            ftz,
            sat,
            d,
            a,
        } => {
            let v = ops::cvt(*dt, *st, *rnd, *irnd, *ftz, *sat, th.val(a, env)?);
            th.set(*d, v);
        }
        Op::CvtPack {
            dt,
            rnd,
            relu,
            d,
            a,
            b,
        } => {
            let v = ops::cvt_pack(*dt, *rnd, *relu, th.val(a, env)?, th.val(b, env)?);
            th.set(*d, v);
        }
        Op::Cvta { to, space, d, a } => {
            let v = th.val(a, env)?;
            let w = window(*space);
            let r = if !*to {
                v.wrapping_add(w)
            } else if w != 0 && v >= w {
                v - w
            } else {
                v
            };
            th.set(*d, r);
        }
        Op::Isspacep { space, d, a } => {
            let a = th.val(a, env)?;
            let v = match (space, classify(Space::Generic, a)) {
                (Space::Const, Target::Global(g)) => env.is_const(g),
                (Space::Global, Target::Global(g)) => !env.is_const(g),
                (Space::Shared, Target::Shared(_))
                | (Space::Local, Target::Local(_))
                | (Space::Param, Target::Param(_)) => true,
                _ => false,
            };
            th.set(*d, v as u64);
        }
        Op::Ld {
            space,
            ty,
            n,
            ds,
            addr,
        } => {
            let a = th.addr(addr, env)?;
            let sz = ty.bytes();
            let n = *n as usize;
            let mut buf = [0u8; 32];
            th.access(env, mem, *space, a, &mut buf[..sz * n], false)?;
            for (i, &d) in ds.iter().take(n).enumerate() {
                if d != NO_REG {
                    let mut b8 = [0u8; 8];
                    b8[..sz].copy_from_slice(&buf[i * sz..(i + 1) * sz]);
                    th.set(d, ops::fin(*ty, u64::from_le_bytes(b8)));
                }
            }
        }
        Op::St {
            space,
            ty,
            n,
            srcs,
            addr,
        } => {
            let a = th.addr(addr, env)?;
            let sz = ty.bytes();
            let n = *n as usize;
            let mut buf = [0u8; 32];
            for (i, s) in srcs.iter().take(n).enumerate() {
                buf[i * sz..(i + 1) * sz].copy_from_slice(&th.val(s, env)?.to_le_bytes()[..sz]);
            }
            th.access(env, mem, *space, a, &mut buf[..sz * n], true)?;
        }
        Op::CpAsync {
            dst,
            src,
            size,
            src_size,
        } => {
            let (d, s) = (th.addr(dst, env)?, th.addr(src, env)?);
            let size = *size as usize;
            let n = match src_size {
                Some(o) => (th.val(o, env)? as usize).min(size),
                None => size,
            };
            let mut buf = [0u8; 16];
            th.access(env, mem, Space::Global, s, &mut buf[..n], false)?;
            th.access(env, mem, Space::Shared, d, &mut buf[..size], true)?;
        }
        Op::Atom {
            space,
            op,
            ty,
            d,
            addr,
            b,
            c,
        } => {
            let a = th.addr(addr, env)?;
            let sz = ty.bytes();
            let (bv, cv) = (th.val(b, env)?, th.val(c, env)?);
            let mut buf = [0u8; 8];
            th.access(env, mem, *space, a, &mut buf[..sz], false)?;
            let old = u64::from_le_bytes(buf);
            let new = ops::atom_apply(*op, *ty, old, bv, cv);
            let mut nb = new.to_le_bytes();
            th.access(env, mem, *space, a, &mut nb[..sz], true)?;
            if *d != NO_REG {
                let v = if ty.is_float() {
                    old
                } else {
                    ops::fin(*ty, old)
                };
                th.set(*d, v);
            }
        }
        Op::Bra { target } => {
            th.pc = *target as usize;
            return Ok(Flow::Jump);
        }
        Op::Call { func, args, .. } => {
            let callee = env.function(Some(*func))?;
            if th.frames.len() >= MAX_CALL_DEPTH {
                return Err(unsupported("call (maximum call depth exceeded)", inst.line));
            }
            let (rb, lb, pb) = (
                th.rb + f.nregs as usize,
                th.lb + f.local_size as usize,
                th.pb + f.scratch_size as usize,
            );
            if lb + callee.local_size as usize > MAX_LOCAL_BYTES {
                return Err(unsupported("call (local memory exhausted)", inst.line));
            }
            let bytes = frame_bytes(callee, rb, lb, pb);
            if bytes > env.thread_budget {
                return Err(LaunchError::OutOfResources(format!(
                    "call depth {}: {bytes} bytes of thread state",
                    th.frames.len() + 1
                )));
            }
            grow(&mut th.regs, rb + callee.nregs as usize);
            grow(&mut th.local, lb + callee.local_size as usize);
            grow(&mut th.scratch, pb + callee.scratch_size as usize);
            for (src, dst) in args.iter().zip(&callee.params) {
                let n = src.size.min(dst.size) as usize;
                let s = th.pb + src.off as usize;
                th.scratch.copy_within(s..s + n, pb + dst.off as usize);
            }
            th.frames.push(Frame {
                func: th.func,
                call_pc: th.pc - 1,
                rb: th.rb,
                lb: th.lb,
                pb: th.pb,
            });
            th.func = Some(*func);
            th.pc = 0;
            th.rb = rb;
            th.lb = lb;
            th.pb = pb;
            return Ok(Flow::Jump);
        }
        Op::Printf { fmt, args, ret } => builtin::printf(th, env, mem, *fmt, *args, *ret)?,
        Op::AssertFail { args } => return Err(builtin::assert_fail(th, env, mem, args)),
        Op::Ret => {
            return Ok(if th.ret(env)? { Flow::Exit } else { Flow::Jump });
        }
        Op::Exit => return Ok(Flow::Exit),
        Op::Bar {
            id,
            count,
            wait,
            red,
        } => {
            let id = (th.val(id, env)? & 15) as u32;
            let count = match count {
                Some(c) => Some(th.val(c, env)? as u32),
                None => None,
            };
            if !*wait {
                env.arrive(id, count);
                return Ok(Flow::Seq);
            }
            let red = match red.as_deref() {
                Some((op, d, c)) => Some((*op, *d, th.val(c, env)? & 1 != 0)),
                None => None,
            };
            th.bar = BarWait { id, count, red };
            th.state = State::Bar;
            return Ok(Flow::Block);
        }
        Op::Warp {
            kind,
            d,
            p,
            a,
            b,
            c,
            mask,
        } => {
            let mask = match mask {
                Some(m) => th.val(m, env)? as u32,
                None => group,
            };
            th.warp = WarpWait {
                kind: *kind,
                mask,
                d: *d,
                p: *p,
                a: th.val(a, env)?,
                b: th.val(b, env)?,
                c: th.val(c, env)?,
            };
            th.state = State::Warp;
            return Ok(Flow::Block);
        }
        Op::ActiveMask { d } => th.set(*d, group as u64),
        Op::Trap => return Err(LaunchError::Trap),
        Op::Nop => {}
        Op::Unknown(text) => return Err(unsupported(text, inst.line)),
    }
    Ok(Flow::Seq)
}

fn grow<T: Default + Clone>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}
