//! A sampling profiler for the guest's long checks (a diagnostic, not a
//! test): `vgpu-guest sample DIR SECONDS [INTERVAL_MS [STOP_FILE]]` watches every
//! process whose executable lies under DIR and, each interval, notes for
//! each of its threads either where it runs (its program counter, read with
//! ptrace, as a library and nearest symbol) or what it waits in (its kernel
//! wait channel). Under TCG a check that runs out of time then says whether
//! it computes or waits, and where. It reports every 60 s and when the last
//! watched process is gone, STOP_FILE exists or SECONDS have passed, as
//! `diag sample|` lines.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use object::{Object, ObjectSegment, ObjectSymbol};

/// One mapping of a process: [start, end) at file offset `offset` of `path`.
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: String,
}

#[derive(Default)]
struct Tally {
    samples: u64,
    /// (file, file offset) of running threads' program counters.
    running: HashMap<(String, u64), u64>,
    /// Running threads whose program counter could not be read.
    unread: u64,
    /// Wait channels of sleeping threads ("S futex_wait_queue", ...).
    waiting: HashMap<String, u64>,
    /// CPU ticks (user + system) of the watched processes, first and last seen.
    ticks: HashMap<i32, (u64, u64)>,
    /// Threads seized and interrupted that had not stopped when their
    /// sample gave up on them: each is let go as soon as it stops
    /// ([`release`]). Left seized, a thread would stop at its next return
    /// to user space and stay stopped (`t`) until we exit, hanging the
    /// check we watch.
    seized: Vec<i32>,
}

pub fn sample(args: &[String]) -> Result<String, String> {
    let dir = args
        .first()
        .ok_or("usage: sample DIR SECONDS [INTERVAL_MS [STOP_FILE]]")?;
    let secs: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .ok_or("sample: SECONDS must be a number")?;
    let interval = Duration::from_millis(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(250));
    let stop = args.get(3).map(Path::new);
    let (t0, deadline) = (Instant::now(), Instant::now() + Duration::from_secs(secs));
    let mut tally = Tally::default();
    let mut maps: HashMap<i32, Vec<Mapping>> = HashMap::new();
    let (mut last_report, mut seen_any, mut gone_since) = (Instant::now(), false, None);
    while Instant::now() < deadline && !stop.is_some_and(Path::exists) {
        let pids = watched(dir);
        if pids.is_empty() {
            // Wait for the check to start; stop 2 s after its last process.
            let since = *gone_since.get_or_insert_with(Instant::now);
            if seen_any && since.elapsed() > Duration::from_secs(2) {
                break;
            }
        } else {
            gone_since = None;
            seen_any = true;
        }
        release(&mut tally.seized);
        for pid in pids {
            sample_process(pid, &mut tally, &mut maps);
        }
        tally.samples += 1;
        if last_report.elapsed() > Duration::from_secs(60) {
            report(&tally, t0.elapsed());
            last_report = Instant::now();
        }
        std::thread::sleep(interval);
    }
    // Threads interrupted but not yet stopped: let each go once it stops.
    let end = Instant::now() + Duration::from_secs(5);
    while !tally.seized.is_empty() && Instant::now() < end {
        release(&mut tally.seized);
        std::thread::sleep(Duration::from_millis(10));
    }
    report(&tally, t0.elapsed());
    Ok(format!("{} samples", tally.samples))
}

/// The processes whose executable is under `dir`.
fn watched(dir: &str) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| exe.starts_with(dir) && *pid != std::process::id() as i32)
        })
        .collect()
}

fn sample_process(pid: i32, tally: &mut Tally, maps: &mut HashMap<i32, Vec<Mapping>>) {
    if let Some(t) = cpu_ticks(&format!("/proc/{pid}/stat")) {
        tally.ticks.entry(pid).or_insert((t, t)).1 = t;
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for tid in tasks.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let base = format!("/proc/{pid}/task/{tid}");
        let Some(state) = fs::read_to_string(format!("{base}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')')?.1.trim_start().chars().next())
        else {
            continue;
        };
        if state != 'R' {
            let wchan = fs::read_to_string(format!("{base}/wchan")).unwrap_or_default();
            let key = format!("{state} {}", if wchan.is_empty() { "-" } else { &wchan });
            *tally.waiting.entry(key).or_default() += 1;
            continue;
        }
        match program_counter(tid, &mut tally.seized) {
            Some(pc) => {
                let key = locate(pid, pc, maps).unwrap_or(("?".into(), pc));
                *tally.running.entry(key).or_default() += 1;
            }
            None => tally.unread += 1,
        }
    }
}

/// utime + stime of a /proc stat file.
fn cpu_ticks(path: &str) -> Option<u64> {
    let s = fs::read_to_string(path).ok()?;
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The thread's program counter: seized, interrupted, read, let go (a
/// signal that arrived meanwhile is delivered on the way out). A thread
/// that does not stop within the deadline (a long system call under TCG)
/// goes to `seized`, to be let go when it does.
fn program_counter(tid: i32, seized: &mut Vec<i32>) -> Option<u64> {
    // SAFETY: ptrace on a thread id; every request's arguments are as the
    // man page gives them.
    unsafe {
        if libc::ptrace(libc::PTRACE_SEIZE, tid, 0, 0) != 0 {
            return None;
        }
        if libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) != 0 {
            // Seized but not interrupted: it runs on; let it go.
            if libc::ptrace(libc::PTRACE_DETACH, tid, 0, 0) != 0 {
                seized.push(tid);
            }
            return None;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match stopped(tid) {
            Stop::Stopped(status) => {
                let mut regs: libc::user_regs_struct =
                    // SAFETY: a plain C struct of integers; all zeros is valid.
                    unsafe { std::mem::zeroed() };
                // SAFETY: `tid` is our tracee, stopped; `regs` is a valid
                // out-buffer.
                let ok = unsafe { libc::ptrace(libc::PTRACE_GETREGS, tid, 0, &mut regs) } == 0;
                detach(tid, status);
                return ok.then_some(regs.rip);
            }
            Stop::Gone => return None,
            Stop::Running if Instant::now() > deadline => {
                seized.push(tid);
                return None;
            }
            Stop::Running => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Where a seized thread stands.
enum Stop {
    /// Stopped, with its wait status.
    Stopped(i32),
    /// Not yet stopped.
    Running,
    /// Exited (or not ours any more).
    Gone,
}

fn stopped(tid: i32) -> Stop {
    let mut status = 0;
    // SAFETY: waitpid on our tracee with a valid status out-pointer.
    let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL | libc::WNOHANG) };
    match r {
        0 => Stop::Running,
        r if r == tid && libc::WIFSTOPPED(status) => Stop::Stopped(status),
        _ => Stop::Gone,
    }
}

/// Lets a stopped tracee go. Our interrupt stops it with PTRACE_EVENT_STOP;
/// a signal-delivery stop carries a signal, delivered on detach.
fn detach(tid: i32, status: i32) {
    let event = (status >> 16) & 0xff;
    let sig = if event == 0 {
        libc::WSTOPSIG(status)
    } else {
        0
    };
    // SAFETY: `tid` is our tracee, stopped.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, 0, sig as libc::c_long) };
}

/// Lets go every thread of `seized` that has stopped (or is gone).
fn release(seized: &mut Vec<i32>) {
    seized.retain(|&tid| match stopped(tid) {
        Stop::Stopped(status) => {
            detach(tid, status);
            false
        }
        Stop::Gone => false,
        Stop::Running => true,
    });
}

/// (file, file offset) of `pc` in `pid`'s mappings (read again on a miss:
/// libraries come with dlopen).
fn locate(pid: i32, pc: u64, maps: &mut HashMap<i32, Vec<Mapping>>) -> Option<(String, u64)> {
    let find = |m: &Vec<Mapping>| {
        m.iter()
            .find(|m| (m.start..m.end).contains(&pc))
            .map(|m| (m.path.clone(), pc - m.start + m.offset))
    };
    if let Some(hit) = maps.get(&pid).and_then(find) {
        return Some(hit);
    }
    let text = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let parsed: Vec<Mapping> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (a, b) = f.first()?.split_once('-')?;
            Some(Mapping {
                start: u64::from_str_radix(a, 16).ok()?,
                end: u64::from_str_radix(b, 16).ok()?,
                offset: u64::from_str_radix(f.get(2)?, 16).ok()?,
                path: f.get(5).map_or("[anon]", |v| v).to_string(),
            })
        })
        .collect();
    let hit = find(&parsed);
    maps.insert(pid, parsed);
    hit
}

/// Per file: its function symbols by address, and segments (file range →
/// address), to name file offsets.
struct Symbols {
    funcs: Vec<(u64, String)>,
    segments: Vec<(u64, u64, u64)>,
}

fn symbols(path: &str) -> Option<Symbols> {
    let data = fs::read(Path::new(path)).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let mut funcs: Vec<(u64, String)> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == object::SymbolKind::Text && s.address() != 0)
        .filter_map(|s| Some((s.address(), s.name().ok()?.to_string())))
        .collect();
    funcs.sort();
    funcs.dedup_by_key(|f| f.0);
    let segments = file
        .segments()
        .map(|s| {
            let (off, len) = s.file_range();
            (off, len, s.address())
        })
        .collect();
    Some(Symbols { funcs, segments })
}

/// The symbol an offset is in, else its page (stripped code, for naming
/// later against the file).
fn name_of(syms: Option<&Symbols>, offset: u64) -> String {
    let page = format!("page+{:#x}", offset & !0xfff);
    let Some(s) = syms else {
        return page;
    };
    let Some(addr) = s
        .segments
        .iter()
        .find(|(off, len, _)| (*off..off + len).contains(&offset))
        .map(|(off, _, a)| a + (offset - off))
    else {
        return page;
    };
    match s.funcs.partition_point(|f| f.0 <= addr) {
        0 => page,
        i => {
            let (a, n) = &s.funcs[i - 1];
            let n: String = n.chars().take(90).collect();
            format!("{n}+{:#x}", addr - a)
        }
    }
}

fn report(t: &Tally, elapsed: Duration) {
    let ticks_per_s = 100.0; // USER_HZ
    let cpu: f64 = t.ticks.values().map(|(a, b)| (b - a) as f64).sum::<f64>() / ticks_per_s;
    let running: u64 = t.running.values().sum::<u64>() + t.unread;
    let waiting: u64 = t.waiting.values().sum();
    println!(
        "diag sample| {:.0} s: {} samples of {} processes; CPU {cpu:.1} s; thread-samples running {running}, waiting {waiting}",
        elapsed.as_secs_f64(),
        t.samples,
        t.ticks.len()
    );
    // Running: by file, then by symbol within the file.
    let mut by_file: HashMap<&str, u64> = HashMap::new();
    for ((f, _), n) in &t.running {
        *by_file.entry(f).or_default() += n;
    }
    let mut files: Vec<_> = by_file.into_iter().collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.1));
    let mut cache: HashMap<&str, Option<Symbols>> = HashMap::new();
    let mut by_sym: HashMap<String, u64> = HashMap::new();
    for ((f, off), n) in &t.running {
        let syms = cache.entry(f).or_insert_with(|| symbols(f));
        let base = f.rsplit('/').next().unwrap_or(f);
        *by_sym
            .entry(format!("{base}!{}", name_of(syms.as_ref(), *off)))
            .or_default() += n;
    }
    let pct = |n: u64, of: u64| 100.0 * n as f64 / of.max(1) as f64;
    for (f, n) in files.iter().take(8) {
        println!("diag sample|   run {:5.1}% {f}", pct(*n, running));
    }
    let mut syms: Vec<_> = by_sym.into_iter().collect();
    syms.sort_by_key(|s| std::cmp::Reverse(s.1));
    for (s, n) in syms.iter().take(15) {
        println!("diag sample|   run {:5.1}% {s}", pct(*n, running));
    }
    if t.unread > 0 {
        println!(
            "diag sample|   run {:5.1}% (not read)",
            pct(t.unread, running)
        );
    }
    let mut waits: Vec<_> = t.waiting.iter().collect();
    waits.sort_by_key(|w| std::cmp::Reverse(*w.1));
    for (w, n) in waits.iter().take(8) {
        println!("diag sample|   wait {:5.1}% {w}", pct(**n, waiting));
    }
}
