//! One simulated thread: its registers, local memory and call frames, what
//! it waits for, and how its operands, addresses and memory accesses are
//! evaluated.

use super::super::ast::{Function, Space};
use super::super::error::LaunchError;
use super::super::instr::{Addr, AddrBase, BarRed, Op, Operand, Reg, Special, Sym, WarpKind};
use super::super::memory::{classify, slice_rw, DeviceMemory, Target, SCRATCH_BASE};
use super::Env;

/// A suspended caller.
pub(super) struct Frame {
    pub func: Option<u32>,
    /// Index of the call instruction in the caller.
    pub call_pc: usize,
    pub rb: usize,
    pub lb: usize,
    pub pb: usize,
}

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Runnable.
    Run,
    /// Waiting at CTA barrier [`Thread::bar`].
    Bar,
    /// Waiting at the warp-synchronous operation [`Thread::warp`].
    Warp,
    Exited,
}

/// A thread's arrival at a CTA barrier.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BarWait {
    pub id: u32,
    /// Threads the barrier waits for (`None`: every thread of the block).
    pub count: Option<u32>,
    /// `bar.red`: the reduction, its destination and this thread's input.
    pub red: Option<(BarRed, Reg, bool)>,
}

/// A thread's arrival at a warp-synchronous operation, with its operands
/// already evaluated.
#[derive(Clone, Copy, Debug)]
pub(super) struct WarpWait {
    pub kind: WarpKind,
    pub mask: u32,
    pub d: Reg,
    pub p: Reg,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

pub(super) struct Thread {
    pub lin: u32,
    pub tid: [u32; 3],
    pub regs: Vec<u64>,
    pub local: Vec<u8>,
    pub scratch: Vec<u8>,
    pub frames: Vec<Frame>,
    pub func: Option<u32>,
    pub pc: usize,
    /// Register, local and scratch bases of the current frame.
    pub rb: usize,
    pub lb: usize,
    pub pb: usize,
    pub clock: u64,
    /// The condition code's carry flag (`.cc`).
    pub carry: bool,
    pub state: State,
    pub bar: BarWait,
    pub warp: WarpWait,
}

impl Thread {
    pub fn new(lin: u32, block: [u32; 3]) -> Self {
        let tid = [
            lin % block[0],
            (lin / block[0]) % block[1],
            lin / (block[0] * block[1]),
        ];
        Thread {
            lin,
            tid,
            regs: Vec::new(),
            local: Vec::new(),
            scratch: Vec::new(),
            frames: Vec::new(),
            func: None,
            pc: 0,
            rb: 0,
            lb: 0,
            pb: 0,
            clock: 0,
            carry: false,
            state: State::Run,
            bar: BarWait::default(),
            warp: WarpWait {
                kind: WarpKind::Sync,
                mask: 0,
                d: 0,
                p: 0,
                a: 0,
                b: 0,
                c: 0,
            },
        }
    }

    pub fn reset(&mut self, body: &Function) {
        fn zero<T: Default + Clone>(v: &mut Vec<T>, n: usize) {
            v.clear();
            v.resize(n, T::default());
        }
        zero(&mut self.regs, body.nregs as usize);
        zero(&mut self.local, body.local_size as usize);
        zero(&mut self.scratch, body.scratch_size as usize);
        self.frames.clear();
        self.func = None;
        self.pc = 0;
        self.rb = 0;
        self.lb = 0;
        self.pb = 0;
        self.clock = 0;
        self.carry = false;
        self.state = State::Run;
    }

    pub fn lane(&self) -> u32 {
        self.lin % 32
    }

    #[inline(always)]
    pub fn get(&self, r: Reg) -> u64 {
        self.regs[self.rb + r as usize]
    }

    #[inline(always)]
    pub fn set(&mut self, r: Reg, v: u64) {
        let i = self.rb + r as usize;
        self.regs[i] = v;
    }

    #[inline(always)]
    pub fn val(&self, o: &Operand, env: &Env) -> Result<u64, LaunchError> {
        Ok(match *o {
            Operand::Reg(r) => self.get(r),
            Operand::Imm(v) => v,
            Operand::NotPred(r) => (self.get(r) == 0) as u64,
            Operand::Special(s) => self.special(s, env),
            Operand::Sym(s, off) => self.sym(s, env)?.wrapping_add(off as u64),
        })
    }

    fn sym(&self, s: Sym, env: &Env) -> Result<u64, LaunchError> {
        Ok(match s {
            Sym::Global(g) => match env.gaddr.get(g as usize).copied().flatten() {
                Some(a) => a,
                None => {
                    let name = env
                        .module
                        .globals
                        .get(g as usize)
                        .map_or("?", |v| v.name.as_str());
                    return Err(LaunchError::InvalidConfig(format!(
                        "module variable `{name}` has no device address"
                    )));
                }
            },
            Sym::Shared(id) => match env.kernel.shared_layout.get(id as usize) {
                Some(&off) if off != u64::MAX => off,
                _ => {
                    return Err(LaunchError::Unsupported {
                        instruction: "shared variable outside the kernel's layout".into(),
                        line: 0,
                    })
                }
            },
            Sym::Local(off) => self.lb as u64 + off as u64,
            Sym::KParam(off) => off as u64,
            Sym::Scratch(off) => SCRATCH_BASE + self.pb as u64 + off as u64,
        })
    }

    fn special(&self, s: Special, env: &Env) -> u64 {
        let lane = self.lane() as u64;
        let le = (2u64 << lane) - 1;
        let lt = (1u64 << lane) - 1;
        match s {
            Special::Tid(d) => self.tid[d as usize % 3] as u64,
            Special::Ntid(d) => env.cfg.block[d as usize % 3] as u64,
            Special::Ctaid(d) => env.ctaid[d as usize % 3] as u64,
            Special::Nctaid(d) => env.cfg.grid[d as usize % 3] as u64,
            Special::LaneId => lane,
            Special::WarpId => (self.lin / 32) as u64,
            Special::NWarpId => env.nthreads.div_ceil(32) as u64,
            Special::SmId | Special::GridId => 0,
            Special::NSmId => 1,
            Special::Clock => self.clock & 0xFFFF_FFFF,
            Special::ClockHi => self.clock >> 32,
            Special::Clock64 | Special::GlobalTimer => self.clock,
            Special::LaneMaskEq => 1 << lane,
            Special::LaneMaskLt => lt,
            Special::LaneMaskLe => le,
            Special::LaneMaskGt => !le & 0xFFFF_FFFF,
            Special::LaneMaskGe => !lt & 0xFFFF_FFFF,
            Special::DynSmem => env.cfg.dynamic_shared_bytes as u64,
            Special::TotalSmem => env.shared.len() as u64,
        }
    }

    pub fn addr(&self, a: &Addr, env: &Env) -> Result<u64, LaunchError> {
        let base = match a.base {
            AddrBase::Reg(r) => self.get(r),
            AddrBase::Sym(s) => self.sym(s, env)?,
            AddrBase::Abs => 0,
        };
        Ok(base.wrapping_add(a.off as u64))
    }

    /// Reads (`write == false`) or writes `buf` at `addr` of state space
    /// `space`.
    pub fn access(
        &mut self,
        env: &mut Env,
        mem: &mut dyn DeviceMemory,
        space: Space,
        addr: u64,
        buf: &mut [u8],
        write: bool,
    ) -> Result<(), LaunchError> {
        let illegal = LaunchError::IllegalAddress { addr };
        match classify(space, addr) {
            Target::Global(a) => if write {
                mem.write(a, buf)
            } else {
                mem.read(a, buf)
            }
            .map_err(|f| LaunchError::IllegalAddress { addr: f.addr }),
            Target::Shared(off) => slice_rw(&mut env.shared, off, buf, write).ok_or(illegal),
            Target::Local(off) => slice_rw(&mut self.local, off, buf, write).ok_or(illegal),
            Target::Param(off) if off >= SCRATCH_BASE => {
                slice_rw(&mut self.scratch, off - SCRATCH_BASE, buf, write).ok_or(illegal)
            }
            Target::Param(_) if write => Err(illegal),
            Target::Param(off) => {
                let start = usize::try_from(off).map_err(|_| illegal.clone())?;
                let src = start
                    .checked_add(buf.len())
                    .and_then(|end| env.kparams.get(start..end))
                    .ok_or(illegal)?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }

    /// Returns from the current function; `true` when the thread is done.
    pub fn ret(&mut self, env: &Env) -> Result<bool, LaunchError> {
        let Some(fr) = self.frames.pop() else {
            return Ok(true);
        };
        let callee = env.function(self.func)?;
        let caller = env.function(fr.func)?;
        if let Some(Op::Call { rets, .. }) = caller.code.get(fr.call_pc).map(|i| &i.op) {
            for (dst, src) in rets.iter().zip(&callee.rets) {
                let n = dst.size.min(src.size) as usize;
                let s = self.pb + src.off as usize;
                let d = fr.pb + dst.off as usize;
                self.scratch.copy_within(s..s + n, d);
            }
        }
        self.func = fr.func;
        self.pc = fr.call_pc + 1;
        self.rb = fr.rb;
        self.lb = fr.lb;
        self.pb = fr.pb;
        Ok(false)
    }

    /// Orders two threads by position: the call-site chain, then the pc
    /// (a caller at a call instruction comes before its callees). Lanes
    /// furthest behind run first, which is what makes a warp reconverge.
    pub fn position_cmp(&self, other: &Thread) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let n = self.frames.len().min(other.frames.len());
        for (a, b) in self.frames[..n].iter().zip(&other.frames[..n]) {
            match a.call_pc.cmp(&b.call_pc) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match self.frames.len().cmp(&other.frames.len()) {
            Ordering::Equal => self.pc.cmp(&other.pc),
            Ordering::Less => self.pc.cmp(&other.frames[n].call_pc).then(Ordering::Less),
            Ordering::Greater => self.frames[n]
                .call_pc
                .cmp(&other.pc)
                .then(Ordering::Greater),
        }
    }
}
