//! The interpreter: launch validation, block-by-block scheduling, warps
//! and barriers.
//!
//! Blocks run one after another in x-fastest order. Inside a block, warps
//! take turns: each runs (see [`warp`] for how its lanes run together)
//! until all its lanes wait at a barrier or a warp-synchronous operation,
//! have exited, or its time slice is over. A CTA barrier completes when
//! the threads it waits for have arrived (exited threads count as arrived
//! for a barrier of the whole block). Atomics are trivially atomic and
//! every launch is deterministic. If no thread can ever move on (a
//! barrier or shuffle some thread never reaches), the launch fails with
//! [`LaunchError::Deadlock`].

mod builtin;
mod step;
mod thread;
mod warp;

use super::ast::{Function, Kernel, Module, Space};
use super::error::LaunchError;
use super::instr::BarRed;
use super::limits::{
    MAX_BLOCK_DIM_Z, MAX_BLOCK_THREADS, MAX_GRID_DIM_X, MAX_GRID_DIM_YZ,
    MAX_SHARED_BYTES_PER_BLOCK, WARP_SIZE,
};
use super::memory::DeviceMemory;
use thread::{State, Thread};
use warp::{run_warp, WarpSched};

/// Grid and block shape of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub dynamic_shared_bytes: u32,
}

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
/// Host memory for the thread state of one block (registers, local memory
/// and call frames of all its threads; blocks run one at a time and reuse
/// it). Each thread gets an even share, so what a launch can make the
/// interpreter allocate does not grow with the block size.
const MAX_BLOCK_STATE_BYTES: u64 = 256 << 20;
/// CTA barriers (`bar.sync 0` to `bar.sync 15`).
const BARRIERS: usize = 16;

/// What stops a launch before it ends: a time limit for the whole grid,
/// and a cancellation check (the queue's token: a stopping queue must not
/// wait for the kernel). Both are looked at every [`WATCHDOG_INTERVAL`]
/// thread-instructions and blocks, so no grid shape evades them.
pub struct Watchdog<'a> {
    /// Longest the whole launch may run.
    pub limit: std::time::Duration,
    /// Whether the launch is no longer wanted.
    pub cancelled: &'a dyn Fn() -> bool,
}

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
    let watchdog = Watchdog {
        limit,
        cancelled: &|| false,
    };
    launch_watched(kernel, module, params, globals, cfg, mem, &watchdog)
}

/// [`launch`] under `watchdog`.
pub fn launch_watched(
    kernel: &Kernel,
    module: &Module,
    params: &[u8],
    globals: &dyn Fn(&str) -> Option<u64>,
    cfg: &LaunchConfig,
    mem: &mut dyn DeviceMemory,
    watchdog: &Watchdog,
) -> Result<(), LaunchError> {
    let invalid = |m: String| Err(LaunchError::InvalidConfig(m));
    if cfg.grid.contains(&0) || cfg.block.contains(&0) {
        return invalid(format!(
            "zero dimension in grid {:?} / block {:?}",
            cfg.grid, cfg.block
        ));
    }
    let nthreads = cfg.block.iter().map(|&d| d as u64).product::<u64>();
    if nthreads > MAX_BLOCK_THREADS as u64 || cfg.block[2] > MAX_BLOCK_DIM_Z {
        return invalid(format!("block {:?} exceeds the thread limits", cfg.block));
    }
    if cfg.grid[1] > MAX_GRID_DIM_YZ
        || cfg.grid[2] > MAX_GRID_DIM_YZ
        || cfg.grid[0] > MAX_GRID_DIM_X
    {
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
    let max = MAX_SHARED_BYTES_PER_BLOCK as u64;
    if kernel.static_shared > max || shared > max {
        return invalid(format!("{shared} bytes of shared memory exceed {max}"));
    }
    let thread_budget = MAX_BLOCK_STATE_BYTES / nthreads;
    let entry = frame_bytes(&kernel.body, 0, 0, 0);
    if entry > thread_budget {
        return Err(LaunchError::OutOfResources(format!(
            "{nthreads} threads of {entry} bytes of registers and local memory each"
        )));
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
        deadline: std::time::Instant::now() + watchdog.limit,
        cancelled: watchdog.cancelled,
        steps: 0,
        thread_budget,
        arrived: [0; BARRIERS],
    };
    let mut threads: Vec<Thread> = (0..nthreads as u32)
        .map(|i| Thread::new(i, cfg.block))
        .collect();
    for z in 0..cfg.grid[2] {
        for y in 0..cfg.grid[1] {
            for x in 0..cfg.grid[0] {
                // A block counts as a step: a grid of blocks that end at
                // once (or run nothing) still meets the watchdog.
                env.tick()?;
                env.ctaid = [x, y, z];
                env.shared.fill(0);
                env.arrived = [0; BARRIERS];
                for t in &mut threads {
                    t.reset(&kernel.body);
                }
                run_block(&mut threads, &mut env, mem)?;
            }
        }
    }
    Ok(())
}

pub(super) struct Env<'a> {
    kernel: &'a Kernel,
    module: &'a Module,
    kparams: &'a [u8],
    gaddr: Vec<Option<u64>>,
    shared: Vec<u8>,
    ctaid: [u32; 3],
    cfg: LaunchConfig,
    nthreads: u32,
    deadline: std::time::Instant,
    cancelled: &'a dyn Fn() -> bool,
    /// Thread-instructions so far (for the watchdog).
    steps: u64,
    /// Host bytes one thread's state may take (see [`MAX_BLOCK_STATE_BYTES`]).
    thread_budget: u64,
    /// `bar.arrive` arrivals at each barrier since it last completed.
    arrived: [u32; BARRIERS],
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

    /// Counts one thread-instruction (or block); fails once the watchdog
    /// expired or the launch was cancelled.
    #[inline(always)]
    fn tick(&mut self) -> Result<(), LaunchError> {
        self.steps += 1;
        if self.steps.is_multiple_of(WATCHDOG_INTERVAL) {
            if (self.cancelled)() {
                return Err(LaunchError::Cancelled);
            }
            if std::time::Instant::now() > self.deadline {
                return Err(LaunchError::Timeout);
            }
        }
        Ok(())
    }

    fn arrive(&mut self, id: u32, _count: Option<u32>) {
        self.arrived[id as usize % BARRIERS] += 1;
    }

    /// Whether `addr` lies in a module `.const` variable.
    fn is_const(&self, addr: u64) -> bool {
        self.module.globals.iter().zip(&self.gaddr).any(|(g, a)| {
            g.space == Space::Const && a.is_some_and(|a| addr.wrapping_sub(a) < g.size)
        })
    }
}

/// Host bytes of a thread's state once `f`'s frame sits on top of frames
/// taking `regs` registers, `local` and `scratch` bytes.
fn frame_bytes(f: &Function, regs: usize, local: usize, scratch: usize) -> u64 {
    (regs as u64 + u64::from(f.nregs)) * 8
        + local as u64
        + u64::from(f.local_size)
        + scratch as u64
        + u64::from(f.scratch_size)
}

fn unsupported(text: &str, line: u32) -> LaunchError {
    LaunchError::Unsupported {
        instruction: text.to_string(),
        line: line as usize,
    }
}

fn run_block(
    threads: &mut [Thread],
    env: &mut Env,
    mem: &mut dyn DeviceMemory,
) -> Result<(), LaunchError> {
    let mut scheds: Vec<WarpSched> = Vec::new();
    scheds.resize_with(threads.len().div_ceil(WARP_SIZE as usize), Default::default);
    loop {
        let mut progressed = false;
        for (lanes, sched) in threads.chunks_mut(WARP_SIZE as usize).zip(&mut scheds) {
            progressed |= run_warp(lanes, sched, env, mem)?;
        }
        progressed |= release_barriers(threads, env);
        if threads.iter().all(|t| t.state == State::Exited) {
            return Ok(());
        }
        if !progressed {
            let bar = threads.iter().filter(|t| t.state == State::Bar).count();
            let warp = threads.iter().filter(|t| t.state == State::Warp).count();
            return Err(LaunchError::Deadlock(format!(
                "block {:?}: {bar} threads wait at a barrier and {warp} at warp-synchronous \
                 operations that can never complete",
                env.ctaid
            )));
        }
    }
}

/// Completes each CTA barrier whose threads have all arrived, with its
/// `bar.red` reduction. Returns whether any completed.
fn release_barriers(threads: &mut [Thread], env: &mut Env) -> bool {
    let live = threads.iter().filter(|t| t.state != State::Exited).count() as u32;
    let mut any = false;
    for id in 0..BARRIERS as u32 {
        let waiting = || {
            threads
                .iter()
                .filter(move |t| t.state == State::Bar && t.bar.id == id)
        };
        let Some(first) = waiting().next() else {
            continue;
        };
        let expected = first.bar.count.unwrap_or(live).min(live.max(1));
        let n = waiting().count() as u32 + env.arrived[id as usize];
        if n < expected && n < live {
            continue;
        }
        let (mut popc, mut all, mut or) = (0u64, true, false);
        for t in waiting() {
            if let Some((_, _, v)) = t.bar.red {
                popc += v as u64;
                all &= v;
                or |= v;
            }
        }
        for t in threads
            .iter_mut()
            .filter(|t| t.state == State::Bar && t.bar.id == id)
        {
            if let Some((op, d, _)) = t.bar.red {
                let v = match op {
                    BarRed::Popc => popc,
                    BarRed::And => all as u64,
                    BarRed::Or => or as u64,
                };
                t.set(d, v);
            }
            t.state = State::Run;
        }
        env.arrived[id as usize] = 0;
        any = true;
    }
    any
}
