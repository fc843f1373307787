//! `ioctl-fuzz`: several processes of several threads doing random but
//! structured work on `/dev/vgpu0` for a given time (`/etc/vgpu-fuzz-seconds`,
//! default 600; seed from `/etc/vgpu-fuzz-seed`, else the clock; printed).
//! Every ioctl with random sizes, pointers and flags; command batches with
//! random and valid opcodes; tiny-timeout waits interrupted by signals;
//! buffers unmapped, remapped and moved under commands in flight; files
//! closed while other threads are inside an ioctl; forks sharing the file;
//! checked CUDA work now and then. Every errno must be one the driver
//! documents, no call may hang, and the host must still serve at the end.

mod arena;
mod cuda;
mod kernel;
mod ops;

pub use kernel::{debug_kernel, kernel_clean};

use std::{
    sync::{
        atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use arena::{Arena, Rng};
use ops::{errno, open_vgpu, Shared, FDS};
use uapi::cmd::Opcode;

use crate::device::{check, open0, TestResult};

const PROCS: u64 = 3;
const THREADS: u64 = 4;
/// No operation of a process finishing for this long is a hang.
const STALL: Duration = Duration::from_secs(60);

/// Errnos the driver documents (uapi/src/ioctl.rs), plus EBADF: a file
/// this process closed under a thread.
const ALLOWED: [i32; 13] = [
    0,
    libc::ENOTTY,
    libc::EFAULT,
    libc::EINVAL,
    libc::EAGAIN,
    libc::ETIMEDOUT,
    libc::EINTR,
    libc::ENODEV,
    libc::EPERM,
    libc::ENOMEM,
    libc::EBUSY,
    libc::ENOENT,
    libc::EBADF,
];

/// Counters of all processes, in a shared anonymous mapping.
#[repr(C)]
struct Stats {
    ops: AtomicU64,
    by_errno: [AtomicU64; 256],
    unexpected: AtomicU64,
    cuda_ok: AtomicU64,
    cuda_wrong: AtomicU64,
    forks: AtomicU64,
    signals: AtomicU64,
    churn: AtomicU64,
    hangs: AtomicU64,
}

impl Stats {
    fn record(&self, what: &str, e: i32) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.by_errno[(e as usize).min(255)].fetch_add(1, Ordering::Relaxed);
        if !ALLOWED.contains(&e) && self.unexpected.fetch_add(1, Ordering::Relaxed) < 20 {
            eprintln!(
                "fuzz: {what}: unexpected errno {e} ({})",
                std::io::Error::from_raw_os_error(e)
            );
        }
    }
}

fn shared_stats() -> Result<&'static Stats, String> {
    // SAFETY: a fresh shared anonymous mapping, zeroed, which is a valid
    // `Stats` (atomics only); never unmapped, so `'static` holds, and
    // forked children see the same pages.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            std::mem::size_of::<Stats>(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err("stats mmap failed".into());
        }
        Ok(&*(p as *const Stats))
    }
}

fn setting(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

extern "C" fn on_signal(_: libc::c_int) {}

fn install_handler(restart: bool) {
    // SAFETY: zeroed sigaction is valid; the handler does nothing.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// Waits for `pid` at most `limit`; its exit status, or None (then killed).
fn reap(pid: libc::pid_t, limit: Duration) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: our own child; WNOHANG never blocks.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
        if r < 0 || t0.elapsed() > limit {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A child sharing the process's file: a few echoes, waits and infos with
/// nothing but the stack (the parent has threads), then `_exit`.
fn fork_child(sh: &Shared, stats: &Stats, rng: &mut Rng) {
    let fd = sh.fds[rng.below(FDS as u64) as usize].load(Ordering::Relaxed);
    let close_at = rng.below(40);
    // SAFETY: the child only makes system calls on stack memory and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut bad = 0;
        for i in 0..40 {
            if i == close_at {
                // SAFETY: the child's copy of the descriptor.
                unsafe { libc::close(fd) };
            }
            let e = child_round(fd, i);
            if !ALLOWED.contains(&e) {
                bad = e;
            }
        }
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(bad) };
    }
    stats.forks.fetch_add(1, Ordering::Relaxed);
    match reap(pid, Duration::from_secs(30)) {
        Some(s) => stats.record("fork-child", s),
        None => {
            eprintln!("fuzz: forked child {pid} did not finish in 30 s");
            stats.hangs.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn child_round(fd: i32, i: u64) -> i32 {
    use uapi::ioctl::{self, Command, InfoArgs, SubmitArgs, WaitArgs};
    let body = *b"fork";
    let mut cmd = Command {
        opcode: Opcode::Echo as u16,
        req_len: 4,
        req_ptr: body.as_ptr() as u64,
        resp_capacity: 4,
        ..Default::default()
    };
    let mut args = SubmitArgs {
        commands: &mut cmd as *mut Command as u64,
        count: 1,
        flags: 0,
    };
    let mut out = [0u8; 4];
    let mut info = InfoArgs::default();
    // SAFETY: pointers to live locals of the sizes the requests encode.
    unsafe {
        if i.is_multiple_of(3)
            && libc::ioctl(fd, ioctl::VGPU_IOCTL_GET_INFO as libc::c_ulong, &mut info) < 0
        {
            return errno();
        }
        if libc::ioctl(fd, ioctl::VGPU_IOCTL_SUBMIT as libc::c_ulong, &mut args) < 0 {
            return errno();
        }
        let mut w = WaitArgs {
            seq: cmd.seq,
            resp_ptr: out.as_mut_ptr() as u64,
            resp_capacity: 4,
            timeout_ms: (i % 4) as u32 * 5,
            ..Default::default()
        };
        if libc::ioctl(fd, ioctl::VGPU_IOCTL_WAIT as libc::c_ulong, &mut w) < 0 {
            return errno();
        }
    }
    0
}

fn worker(
    sh: &Shared,
    stats: &Stats,
    progress: &AtomicU64,
    stop: &AtomicBool,
    seed: u64,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        let (what, e) = match rng.below(100) {
            0..=29 => ops::submit(sh, &mut rng, false),
            30..=44 => ops::submit(sh, &mut rng, true),
            45..=69 => ops::wait(sh, &mut rng),
            70..=84 => ops::info_or_raw(sh, &mut rng),
            85..=89 => {
                stats.churn.fetch_add(1, Ordering::Relaxed);
                (sh.arena.churn(&mut rng), 0)
            }
            90..=91 => ops::reopen(sh, &mut rng),
            92 => {
                fork_child(sh, stats, &mut rng);
                ("fork", 0)
            }
            93 => {
                match cuda::sequence(&mut rng) {
                    Ok(true) => {
                        stats.cuda_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(false) => {}
                    Err(what) => {
                        stats.cuda_wrong.fetch_add(1, Ordering::Relaxed);
                        eprintln!("fuzz: CUDA sequence: {what}");
                    }
                }
                ("cuda", 0)
            }
            94 => ops::create_context(sh, &mut rng),
            _ => ops::wait(sh, &mut rng),
        };
        stats.record(what, e);
        progress.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// One fuzzing process: FDS shared files, THREADS workers, a thread
/// sending signals to them, and a watchdog. Returns its exit code.
fn process(index: u64, seed: u64, until: Instant, stats: &'static Stats) -> i32 {
    install_handler(index == 0);
    let arena = match Arena::new() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fuzz: {e}");
            return 1;
        }
    };
    let sh = Arc::new(Shared {
        arena,
        fds: std::array::from_fn(|_| AtomicI32::new(open_vgpu())),
        ctx: std::array::from_fn(|_| AtomicU64::new(0)),
        pending: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let (sh, stop, progress) = (sh.clone(), stop.clone(), progress.clone());
        let s = seed ^ (index << 32) ^ (t << 48);
        handles.push(std::thread::spawn(move || {
            worker(&sh, stats, &progress, &stop, s)
        }));
    }
    use std::os::unix::thread::JoinHandleExt;
    let targets: Vec<libc::pthread_t> = handles.iter().map(|h| h.as_pthread_t()).collect();
    let mut rng = Rng::new(seed ^ (index << 32) ^ 0xffff);
    let (mut last, mut last_change, mut reported) = (0, Instant::now(), false);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1 + rng.below(4)));
        let t = targets[rng.below(targets.len() as u64) as usize];
        // SAFETY: the worker threads are alive until joined below.
        unsafe { libc::pthread_kill(t, libc::SIGUSR1) };
        stats.signals.fetch_add(1, Ordering::Relaxed);
        let now = progress.load(Ordering::Relaxed);
        if now != last {
            (last, last_change) = (now, Instant::now());
        } else if last_change.elapsed() > STALL && !reported {
            reported = true;
            stats.hangs.fetch_add(1, Ordering::Relaxed);
            eprintln!("fuzz: process {index}: no operation finished for {STALL:?}");
            dump_tasks();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    while handles.iter().any(|h| !h.is_finished()) {
        if t0.elapsed() > STALL {
            stats.hangs.fetch_add(1, Ordering::Relaxed);
            eprintln!("fuzz: process {index}: workers still busy {STALL:?} after the end");
            dump_tasks();
            return 3;
        }
        for &t in &targets {
            // SAFETY: as above; wakes a worker blocked in a wait.
            unsafe { libc::pthread_kill(t, libc::SIGUSR1) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    0
}

/// What every thread of this process is blocked in, for a hang report.
fn dump_tasks() {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for t in dir.flatten() {
        let p = t.path();
        let syscall = std::fs::read_to_string(p.join("syscall")).unwrap_or_default();
        let stack = std::fs::read_to_string(p.join("stack")).unwrap_or_default();
        eprintln!(
            "fuzz: task {}: syscall {} stack {}",
            t.file_name().to_string_lossy(),
            syscall.trim(),
            stack.replace('\n', " | ")
        );
    }
}

fn errno_name(e: usize) -> String {
    match e as i32 {
        0 => "ok".into(),
        libc::ENOTTY => "ENOTTY".into(),
        libc::EFAULT => "EFAULT".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EAGAIN => "EAGAIN".into(),
        libc::ETIMEDOUT => "ETIMEDOUT".into(),
        libc::EINTR => "EINTR".into(),
        libc::ENODEV => "ENODEV".into(),
        libc::EPERM => "EPERM".into(),
        libc::ENOMEM => "ENOMEM".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EBADF => "EBADF".into(),
        e => format!("errno{e}"),
    }
}

pub fn ioctl_fuzz() -> TestResult {
    let seconds = std::env::var("VGPU_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .or_else(|| setting("/etc/vgpu-fuzz-seconds"))
        .unwrap_or(600);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let seed = std::env::var("VGPU_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .or_else(|| setting("/etc/vgpu-fuzz-seed"))
        .unwrap_or(clock);
    println!("@@FUZZ seed={seed} seconds={seconds} procs={PROCS} threads={THREADS}");
    let stats = shared_stats()?;
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(seconds);
    let mut pids = Vec::new();
    for p in 0..PROCS {
        // SAFETY: single-threaded here; the child runs `process` and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = process(p, seed, until, stats);
            // SAFETY: ends the child without returning into the test runner.
            unsafe { libc::_exit(code) };
        }
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        pids.push(pid);
    }
    let mut failed = Vec::new();
    for (p, pid) in pids.iter().enumerate() {
        let left = until.saturating_duration_since(Instant::now()) + STALL * 2;
        match reap(*pid, left) {
            Some(0) => {}
            Some(s) => failed.push(format!("process {p} exited {s}")),
            None => failed.push(format!("process {p} did not end; killed")),
        }
    }
    let took = t0.elapsed().as_secs_f64();
    let ops = stats.ops.load(Ordering::Relaxed);
    let errnos: Vec<String> = stats
        .by_errno
        .iter()
        .enumerate()
        .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
        .map(|(e, n)| format!("{} {}", errno_name(e), n.load(Ordering::Relaxed)))
        .collect();
    let summary = format!(
        "seed {seed}, {took:.0} s, {ops} operations ({:.0}/s) in {PROCS} processes x {THREADS} threads; {}; {} checked CUDA sequences; {} forks, {} signals, {} mapping changes",
        ops as f64 / took.max(1.0),
        errnos.join(", "),
        stats.cuda_ok.load(Ordering::Relaxed),
        stats.forks.load(Ordering::Relaxed),
        stats.signals.load(Ordering::Relaxed),
        stats.churn.load(Ordering::Relaxed),
    );
    println!("@@FUZZ {summary}");
    check(failed.is_empty(), || {
        format!("{}; {summary}", failed.join(", "))
    })?;
    let unexpected = stats.unexpected.load(Ordering::Relaxed);
    check(unexpected == 0, || {
        format!("{unexpected} undocumented errnos; {summary}")
    })?;
    let hangs = stats.hangs.load(Ordering::Relaxed);
    check(hangs == 0, || format!("{hangs} hangs; {summary}"))?;
    let wrong = stats.cuda_wrong.load(Ordering::Relaxed);
    check(wrong == 0, || {
        format!("{wrong} CUDA sequences with wrong results; {summary}")
    })?;
    // The host still serves: an echo and a checked CUDA sequence.
    let f = open0()?;
    let mut out = [0u8; 5];
    let c = f
        .call(Opcode::Echo as u16, b"alive", &mut out, 30_000)
        .map_err(|e| format!("echo after fuzzing: {e}; {summary}"))?;
    check(c.status == 0 && &out == b"alive", || {
        format!("echo after fuzzing: status {}", c.status)
    })?;
    let mut rng = Rng::new(seed);
    match cuda::sequence(&mut rng) {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "CUDA sequence after fuzzing did not run; {summary}"
            ))
        }
        Err(e) => return Err(format!("CUDA sequence after fuzzing: {e}; {summary}")),
    }
    Ok(format!("{summary}; host serving after"))
}
