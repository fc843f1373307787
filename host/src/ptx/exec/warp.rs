//! Warp scheduling and the warp-synchronous operations.
//!
//! The lanes of a warp run in lockstep groups: the runnable lanes furthest
//! behind (smallest call chain and pc, [`Thread::position_cmp`]) form the
//! group that executes the next instruction together. Lanes that branch
//! ahead wait until the others catch up, so a warp reconverges where its
//! paths meet (for the structured code nvcc emits, at the immediate post-
//! dominator), `activemask` sees the lanes that run together, and pre-Volta
//! "warp-synchronous" code behaves as on hardware.
//!
//! `shfl`, `vote`, `match`, `redux` and `bar.warp.sync` block the lanes
//! that reach them until every non-exited lane of their member mask waits
//! at an operation of the same kind and mask (possibly another instruction,
//! as independent thread scheduling allows); then all complete at once.
//!
//! A group that keeps looping while other lanes of its warp are runnable
//! is, after [`SPIN_LIMIT`] backward branches, set aside for those lanes:
//! a lane spinning on a lock held by another lane of its warp makes
//! progress as on Volta and later.

use super::super::error::LaunchError;
use super::super::instr::{Op, ReduxOp, ShflMode, Ty, VoteMode, WarpKind, NO_REG};
use super::super::memory::DeviceMemory;
use super::step::{step, Flow};
use super::thread::{State, Thread};
use super::Env;

/// Backward branches of one group, while other lanes could run, before the
/// scheduler lets those lanes run first.
const SPIN_LIMIT: u32 = 1024;
/// Group instructions a warp runs before the block scheduler moves on to
/// the next warp (so warps waiting on each other's memory progress).
const SLICE: u32 = 1 << 14;

/// Scheduling state of one warp that outlives a time slice.
#[derive(Default)]
pub(super) struct WarpSched {
    last_group: u32,
    spins: u32,
    /// Lane whose group was set aside: pick a group positioned after it.
    after: Option<usize>,
}

fn lanes_of(mask: u32) -> impl Iterator<Item = usize> {
    (0..32).filter(move |i| mask >> i & 1 != 0)
}

/// The next group to run: the runnable lanes at the smallest position (or,
/// after a spin, at the smallest position past `after`).
fn select(lanes: &[Thread], after: Option<usize>) -> u32 {
    let runnable = || {
        lanes
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == State::Run)
    };
    let pick = |skip: Option<&Thread>| {
        let mut best: Option<&Thread> = None;
        for (_, t) in runnable() {
            if skip.is_some_and(|s| t.position_cmp(s).is_le()) {
                continue;
            }
            if best.is_none_or(|b| t.position_cmp(b).is_lt()) {
                best = Some(t);
            }
        }
        best
    };
    let Some(best) = after
        .and_then(|a| pick(lanes.get(a)))
        .or_else(|| pick(None))
    else {
        return 0;
    };
    runnable()
        .filter(|(_, t)| t.position_cmp(best).is_eq())
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// Runs the lanes of one warp until all wait or have exited, or for one
/// time slice. Returns whether any instruction ran.
pub(super) fn run_warp(
    lanes: &mut [Thread],
    sched: &mut WarpSched,
    env: &mut Env,
    mem: &mut dyn DeviceMemory,
) -> Result<bool, LaunchError> {
    let mut ran = false;
    let mut budget = SLICE;
    loop {
        let group = select(lanes, sched.after.take());
        if group == 0 {
            return Ok(ran);
        }
        if group != sched.last_group {
            sched.last_group = group;
            sched.spins = 0;
        }
        ran = true;
        let lead = group.trailing_zeros() as usize;
        loop {
            let f = env.function(lanes[lead].func)?;
            let pc = lanes[lead].pc;
            let Some(inst) = f.code.get(pc) else {
                // Falling off the end of a body is an implicit `ret`.
                for l in lanes_of(group) {
                    if lanes[l].ret(env)? {
                        lanes[l].state = State::Exited;
                    }
                }
                resolve(lanes);
                break;
            };
            let (mut jump, mut stop) = (false, false);
            for l in lanes_of(group) {
                match step(&mut lanes[l], env, mem, inst, f, group)? {
                    Flow::Seq => {}
                    Flow::Jump => jump = true,
                    Flow::Exit => {
                        lanes[l].state = State::Exited;
                        stop = true;
                    }
                    Flow::Block => stop = true,
                }
            }
            if stop {
                resolve(lanes);
                break;
            }
            if jump {
                let backward = matches!(inst.op, Op::Bra { target } if target as usize <= pc);
                let others = lanes
                    .iter()
                    .enumerate()
                    .any(|(i, t)| t.state == State::Run && group >> i & 1 == 0);
                if backward && others {
                    sched.spins += 1;
                    if sched.spins >= SPIN_LIMIT {
                        sched.spins = 0;
                        sched.after = Some(lead);
                    }
                }
                break;
            }
            budget -= 1;
            if budget == 0 {
                return Ok(true);
            }
        }
        budget = budget.saturating_sub(1);
        if budget == 0 {
            return Ok(true);
        }
    }
}

/// Completes every warp-synchronous operation whose member lanes have all
/// arrived.
fn resolve(lanes: &mut [Thread]) {
    let live = lanes
        .iter()
        .enumerate()
        .filter(|(_, t)| t.state != State::Exited)
        .fold(0u32, |m, (i, _)| m | 1 << i);
    let mut done = 0u32;
    for i in 0..lanes.len() {
        if lanes[i].state != State::Warp || done >> i & 1 != 0 {
            continue;
        }
        let (kind, mask) = (lanes[i].warp.kind, lanes[i].warp.mask);
        let same =
            |t: &Thread| t.state == State::Warp && t.warp.kind == kind && t.warp.mask == mask;
        let waiting = lanes
            .iter()
            .enumerate()
            .filter(|(_, t)| same(t))
            .fold(0u32, |m, (j, _)| m | 1 << j);
        if mask & live & !waiting != 0 {
            continue;
        }
        complete(lanes, kind, waiting);
        done |= waiting;
    }
}

/// Computes the results of one operation for the lanes in `members` and
/// lets them run on.
fn complete(lanes: &mut [Thread], kind: WarpKind, members: u32) {
    let a = |lanes: &[Thread], j: usize| lanes[j].warp.a;
    let vals: Vec<(usize, u64)> = lanes_of(members).map(|j| (j, a(lanes, j))).collect();
    let pred = |v: u64| v & 1 != 0;
    for &(i, ai) in &vals {
        let w = lanes[i].warp;
        let (d, p) = match kind {
            WarpKind::Shfl(mode) => {
                let (j, ok) = shfl_source(mode, i as u32, w.b as u32, w.c as u32);
                let v = if members >> j & 1 != 0 {
                    a(lanes, j as usize) & 0xFFFF_FFFF
                } else {
                    0
                };
                (v, ok as u64)
            }
            WarpKind::Vote(mode) => {
                let ballot = vals
                    .iter()
                    .filter(|(_, v)| pred(*v))
                    .fold(0u64, |m, (j, _)| m | 1 << j);
                let n = vals.len() as u32;
                let v = match mode {
                    VoteMode::Ballot => ballot,
                    VoteMode::All => (ballot.count_ones() == n) as u64,
                    VoteMode::Any => (ballot != 0) as u64,
                    VoteMode::Uni => (ballot == 0 || ballot.count_ones() == n) as u64,
                };
                (v, 0)
            }
            WarpKind::MatchAny => {
                let m = vals
                    .iter()
                    .filter(|(_, v)| *v == ai)
                    .fold(0u64, |m, (j, _)| m | 1 << j);
                (m, 0)
            }
            WarpKind::MatchAll => {
                if vals.iter().all(|(_, v)| *v == ai) {
                    (members as u64, 1)
                } else {
                    (0, 0)
                }
            }
            WarpKind::Redux(op, ty) => (redux(op, ty, vals.iter().map(|(_, v)| *v)), 0),
            WarpKind::Sync => (0, 0),
        };
        let t = &mut lanes[i];
        if w.d != NO_REG {
            t.set(w.d, d);
        }
        if w.p != NO_REG {
            t.set(w.p, p);
        }
        t.state = State::Run;
    }
}

/// The source lane of `shfl` for `lane` and whether it is in range (PTX
/// ISA: `c` packs the segment mask in bits 8-12 and the clamp in 0-4).
fn shfl_source(mode: ShflMode, lane: u32, b: u32, c: u32) -> (u32, bool) {
    let bval = b & 31;
    let cval = c & 31;
    let seg = (c >> 8) & 31;
    let max = (lane & seg) | (cval & !seg);
    let min = lane & seg;
    let (j, ok) = match mode {
        ShflMode::Up => {
            let j = lane as i32 - bval as i32;
            (j, j >= max as i32)
        }
        ShflMode::Down => {
            let j = (lane + bval) as i32;
            (j, j <= max as i32)
        }
        ShflMode::Bfly => {
            let j = (lane ^ bval) as i32;
            (j, j <= max as i32)
        }
        ShflMode::Idx => {
            let j = (min | (bval & !seg)) as i32;
            (j, j <= max as i32)
        }
    };
    if ok {
        (j as u32, true)
    } else {
        (lane, false)
    }
}

fn redux(op: ReduxOp, ty: Ty, vals: impl Iterator<Item = u64>) -> u64 {
    let signed = ty == Ty::S32;
    let key = |v: u64| {
        if signed {
            v as u32 as i32 as i64
        } else {
            (v & 0xFFFF_FFFF) as i64
        }
    };
    let mut acc: Option<u64> = None;
    for v in vals {
        let v = v & 0xFFFF_FFFF;
        acc = Some(match acc {
            None => v,
            Some(x) => match op {
                ReduxOp::Add => x.wrapping_add(v) & 0xFFFF_FFFF,
                ReduxOp::Min if key(v) < key(x) => v,
                ReduxOp::Max if key(v) > key(x) => v,
                ReduxOp::Min | ReduxOp::Max => x,
                ReduxOp::And => x & v,
                ReduxOp::Or => x | v,
                ReduxOp::Xor => x ^ v,
            },
        });
    }
    let r = acc.unwrap_or(0);
    if signed {
        r as u32 as i32 as i64 as u64
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_sources() {
        // __shfl_sync(v, 40): c = 0x1f, lane 40 & 31 = 8.
        assert_eq!(shfl_source(ShflMode::Idx, 3, 40, 0x1f), (8, true));
        // width 8: c = (24 << 8) | 0x1f.
        let c8 = (24 << 8) | 0x1f;
        assert_eq!(shfl_source(ShflMode::Idx, 13, 10, c8), (10, true));
        // __shfl_up_sync(v, 2, 4): c = 28 << 8.
        assert_eq!(shfl_source(ShflMode::Up, 5, 2, 28 << 8), (5, false));
        assert_eq!(shfl_source(ShflMode::Up, 6, 2, 28 << 8), (4, true));
        assert_eq!(shfl_source(ShflMode::Down, 30, 3, 0x1f), (30, false));
        assert_eq!(shfl_source(ShflMode::Bfly, 5, 6, 0x1f), (3, true));
    }
}
