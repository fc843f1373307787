//! The interpreter: launch validation, block-by-block scheduling with
//! run-to-barrier thread execution, call frames, and the per-instruction
//! semantics dispatch.
//!
//! Blocks run one after another in x-fastest order. Inside a block every
//! thread runs alone until it reaches a barrier or exits; when all live
//! threads wait at a barrier they are all released (exited threads count as
//! arrived). Atomics are therefore trivially atomic and shared-memory
//! reductions are deterministic.

use super::ast::{Function, Kernel, Module, Space};
use super::error::LaunchError;
use super::instr::{Addr, AddrBase, BoolOp, Cmp, Op, Operand, Reg, Special, Sym, NO_REG};
use super::memory::{classify, slice_rw, window, DeviceMemory, Target, SCRATCH_BASE};
use super::ops;

/// Grid and block shape of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub dynamic_shared_bytes: u32,
}

/// Shared memory per block (static plus dynamic), as on sm_90.
pub const MAX_SHARED_BYTES: u64 = 228 * 1024;
/// Threads per block.
pub const MAX_BLOCK_THREADS: u64 = 1024;
/// Call depth before a launch fails (guards runaway recursion).
const MAX_CALL_DEPTH: usize = 1024;
/// Longest a launch may run before the watchdog stops it. The simulator
/// runs on the device model's worker thread: a kernel that never ends must
/// not hang the client (or the queue's teardown) for good.
pub const MAX_LAUNCH_TIME: std::time::Duration = std::time::Duration::from_secs(60);
/// How many instructions run between looks at the clock.
const WATCHDOG_INTERVAL: u64 = 1 << 16;

/// Per-thread local memory (all frames).
const MAX_LOCAL_BYTES: usize = 1 << 24;

/// Runs `kernel` of `module` over the whole grid.
///
/// `params` is the packed parameter buffer ([`Kernel::params`] layout);
/// `globals` maps module variable names to the device addresses where the
/// executor placed them.
pub fn launch(
    kernel: &Kernel,
    module: &Module,
    params: &[u8],
    globals: &dyn Fn(&str) -> Option<u64>,
    cfg: &LaunchConfig,
    mem: &mut dyn DeviceMemory,
) -> Result<(), LaunchError> {
    launch_within(kernel, module, params, globals, cfg, mem, MAX_LAUNCH_TIME)
}

/// [`launch`] with a watchdog of `limit` instead of [`MAX_LAUNCH_TIME`].
pub fn launch_within(
    kernel: &Kernel,
    module: &Module,
    params: &[u8],
    globals: &dyn Fn(&str) -> Option<u64>,
    cfg: &LaunchConfig,
    mem: &mut dyn DeviceMemory,
    limit: std::time::Duration,
) -> Result<(), LaunchError> {
    let invalid = |m: String| Err(LaunchError::InvalidConfig(m));
    if cfg.grid.contains(&0) || cfg.block.contains(&0) {
        return invalid(format!(
            "zero dimension in grid {:?} / block {:?}",
            cfg.grid, cfg.block
        ));
    }
    let nthreads = cfg.block.iter().map(|&d| d as u64).product::<u64>();
    if nthreads > MAX_BLOCK_THREADS || cfg.block[2] > 64 {
        return invalid(format!("block {:?} exceeds the thread limits", cfg.block));
    }
    if cfg.grid[1] > 65535 || cfg.grid[2] > 65535 || cfg.grid[0] > i32::MAX as u32 {
        return invalid(format!("grid {:?} exceeds the limits", cfg.grid));
    }
    if (params.len() as u64) < kernel.param_size as u64 {
        return invalid(format!(
            "parameter buffer has {} bytes, kernel needs {}",
            params.len(),
            kernel.param_size
        ));
    }
    let shared = kernel.dyn_base + cfg.dynamic_shared_bytes as u64;
    if kernel.static_shared > MAX_SHARED_BYTES || shared > MAX_SHARED_BYTES {
        return invalid(format!(
            "{shared} bytes of shared memory exceed {MAX_SHARED_BYTES}"
        ));
    }
    let mut env = Env {
        kernel,
        module,
        kparams: params,
        gaddr: module.globals.iter().map(|g| globals(&g.name)).collect(),
        shared: vec![0; shared as usize],
        ctaid: [0; 3],
        cfg: *cfg,
        nthreads: nthreads as u32,
        deadline: std::time::Instant::now() + limit,
    };
    let mut threads: Vec<Thread> = (0..nthreads as u32)
        .map(|i| Thread::new(i, cfg.block))
        .collect();
    for z in 0..cfg.grid[2] {
        for y in 0..cfg.grid[1] {
            for x in 0..cfg.grid[0] {
                env.ctaid = [x, y, z];
                env.shared.fill(0);
                for t in &mut threads {
                    t.reset(&kernel.body);
                }
                run_block(&mut threads, &mut env, mem)?;
            }
        }
    }
    Ok(())
}

struct Env<'a> {
    kernel: &'a Kernel,
    module: &'a Module,
    kparams: &'a [u8],
    gaddr: Vec<Option<u64>>,
    shared: Vec<u8>,
    ctaid: [u32; 3],
    cfg: LaunchConfig,
    nthreads: u32,
    deadline: std::time::Instant,
}

impl<'a> Env<'a> {
    fn function(&self, f: Option<u32>) -> Result<&'a Function, LaunchError> {
        match f {
            None => Ok(&self.kernel.body),
            Some(i) => self
                .module
                .funcs
                .get(i as usize)
                .ok_or_else(|| LaunchError::Unsupported {
                    instruction: "call into a function of another module".into(),
                    line: 0,
                }),
        }
    }
}

/// A suspended caller.
struct Frame {
    func: Option<u32>,
    /// Index of the call instruction in the caller.
    call_pc: usize,
    rb: usize,
    lb: usize,
    pb: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Barrier,
    Exit,
}

struct Thread {
    lin: u32,
    tid: [u32; 3],
    regs: Vec<u64>,
    local: Vec<u8>,
    scratch: Vec<u8>,
    frames: Vec<Frame>,
    func: Option<u32>,
    pc: usize,
    /// Register, local and scratch bases of the current frame.
    rb: usize,
    lb: usize,
    pb: usize,
    clock: u64,
    exited: bool,
}

impl Thread {
    fn new(lin: u32, block: [u32; 3]) -> Self {
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
            exited: false,
        }
    }

    fn reset(&mut self, body: &Function) {
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
        self.exited = false;
    }

    #[inline(always)]
    fn get(&self, r: Reg) -> u64 {
        self.regs[self.rb + r as usize]
    }

    #[inline(always)]
    fn set(&mut self, r: Reg, v: u64) {
        let i = self.rb + r as usize;
        self.regs[i] = v;
    }

    #[inline(always)]
    fn val(&self, o: &Operand, env: &Env) -> Result<u64, LaunchError> {
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
        let lane = (self.lin % 32) as u64;
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

    fn addr(&self, a: &Addr, env: &Env) -> Result<u64, LaunchError> {
        let base = match a.base {
            AddrBase::Reg(r) => self.get(r),
            AddrBase::Sym(s) => self.sym(s, env)?,
            AddrBase::Abs => 0,
        };
        Ok(base.wrapping_add(a.off as u64))
    }
}

fn run_block(
    threads: &mut [Thread],
    env: &mut Env,
    mem: &mut dyn DeviceMemory,
) -> Result<(), LaunchError> {
    loop {
        let mut waiting = 0;
        for t in threads.iter_mut().filter(|t| !t.exited) {
            match run(t, env, mem)? {
                Stop::Exit => t.exited = true,
                Stop::Barrier => waiting += 1,
            }
        }
        if waiting == 0 {
            return Ok(());
        }
    }
}

/// Reads (`write == false`) or writes `buf` at `addr` of state space `space`.
fn access(
    th: &mut Thread,
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
        Target::Local(off) => slice_rw(&mut th.local, off, buf, write).ok_or(illegal),
        Target::Param(off) if off >= SCRATCH_BASE => {
            slice_rw(&mut th.scratch, off - SCRATCH_BASE, buf, write).ok_or(illegal)
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

fn unsupported(text: &str, line: u32) -> LaunchError {
    LaunchError::Unsupported {
        instruction: text.to_string(),
        line: line as usize,
    }
}

/// Returns from the current function; `true` when the thread is done.
fn do_ret(th: &mut Thread, env: &Env) -> Result<bool, LaunchError> {
    let Some(fr) = th.frames.pop() else {
        return Ok(true);
    };
    let callee = env.function(th.func)?;
    let caller = env.function(fr.func)?;
    if let Some(Op::Call { rets, .. }) = caller.code.get(fr.call_pc).map(|i| &i.op) {
        for (dst, src) in rets.iter().zip(&callee.rets) {
            let n = dst.size.min(src.size) as usize;
            let s = th.pb + src.off as usize;
            let d = fr.pb + dst.off as usize;
            th.scratch.copy_within(s..s + n, d);
        }
    }
    th.func = fr.func;
    th.pc = fr.call_pc + 1;
    th.rb = fr.rb;
    th.lb = fr.lb;
    th.pb = fr.pb;
    Ok(false)
}

/// Runs one thread until it reaches a barrier or exits.
fn run(th: &mut Thread, env: &mut Env, mem: &mut dyn DeviceMemory) -> Result<Stop, LaunchError> {
    'frames: loop {
        let f = env.function(th.func)?;
        let code = &f.code[..];
        loop {
            let Some(inst) = code.get(th.pc) else {
                // Falling off the end of a body is an implicit `ret`.
                if do_ret(th, env)? {
                    return Ok(Stop::Exit);
                }
                continue 'frames;
            };
            th.pc += 1;
            th.clock += 1;
            if th.clock.is_multiple_of(WATCHDOG_INTERVAL)
                && std::time::Instant::now() > env.deadline
            {
                return Err(LaunchError::Timeout);
            }
            if inst.guard != NO_REG && (th.get(inst.guard) != 0) == inst.neg {
                continue;
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
                    let v = ops::mad(
                        *mode,
                        *ty,
                        th.val(a, env)?,
                        th.val(b, env)?,
                        th.val(c, env)?,
                    );
                    th.set(*d, v);
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
                Op::Flt { op, ty, m, d, a, b } => {
                    let v = ops::flt_bin(*op, *ty, *m, th.val(a, env)?, th.val(b, env)?);
                    th.set(*d, v);
                }
                Op::FltUn { op, ty, m, d, a } => {
                    let v = ops::flt_un(*op, *ty, *m, th.val(a, env)?);
                    th.set(*d, v);
                }
                Op::Fma { ty, m, d, a, b, c } => {
                    let v = ops::fma(*ty, *m, th.val(a, env)?, th.val(b, env)?, th.val(c, env)?);
                    th.set(*d, v);
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
                    th.set(*d, p as u64);
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
                    access(th, env, mem, *space, a, &mut buf[..sz * n], false)?;
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
                        buf[i * sz..(i + 1) * sz]
                            .copy_from_slice(&th.val(s, env)?.to_le_bytes()[..sz]);
                    }
                    access(th, env, mem, *space, a, &mut buf[..sz * n], true)?;
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
                    access(th, env, mem, *space, a, &mut buf[..sz], false)?;
                    let old = u64::from_le_bytes(buf);
                    let new = ops::atom_apply(*op, *ty, old, bv, cv);
                    let mut nb = new.to_le_bytes();
                    access(th, env, mem, *space, a, &mut nb[..sz], true)?;
                    if *d != NO_REG {
                        let v = if ty.is_float() {
                            old
                        } else {
                            ops::fin(*ty, old)
                        };
                        th.set(*d, v);
                    }
                }
                Op::Bra { target } => th.pc = *target as usize,
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
                    continue 'frames;
                }
                Op::Ret => {
                    if do_ret(th, env)? {
                        return Ok(Stop::Exit);
                    }
                    continue 'frames;
                }
                Op::Exit => return Ok(Stop::Exit),
                Op::Bar => return Ok(Stop::Barrier),
                Op::Trap => return Err(LaunchError::Trap),
                Op::Nop => {}
                Op::Unknown(text) => return Err(unsupported(text, inst.line)),
            }
        }
    }
}

fn grow<T: Default + Clone>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}
