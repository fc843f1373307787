//! Isolation between client processes (`cuda-suite --isolation`, issue 8): what
//! one process of a machine can do to another's GPU work, checked the same
//! way on NVIDIA's driver and on ours.
//!
//! The check runs itself as separate processes, each its own CUDA client
//! (one open `/dev/vgpuN` file, or one socket connection):
//! - a *victim* allocates a buffer, fills it with a pattern, prints its
//!   device address and then answers `check` lines: the buffer must still
//!   hold the pattern, and new work (a memset and a read back) must work;
//! - an *attacker* launches a kernel that reads the victim's address and
//!   overwrites it (`peek_poke`), optionally in a context created with the
//!   core-dump flags;
//! - a *spinner* launches a kernel that never ends and waits for it.
//!
//! Cases (`CASE <name> PASS|FAIL <ms>ms <detail>`, then `N passed, N failed`):
//! - `cross_client`: the attacker does not read the victim's data (its
//!   launch fails, or reaches only memory of its own at that address), the
//!   victim's data is unchanged and the victim keeps working;
//! - `coredump_fault` (ours only: NVIDIA's driver writes a core file and
//!   aborts the faulting process, by design): the attacker with
//!   `CU_CTX_COREDUMP_ENABLE | CU_CTX_USER_COREDUMP_ENABLE` is refused or
//!   faults alone; the victim and a new client keep working;
//! - `endless_kernel` (ours only: NVIDIA's driver has no launch timeout on
//!   a compute GPU): the spinner is stopped with an error within the
//!   timeout, and the victim keeps working.

use std::{
    ffi::{c_void, CString},
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    ptr::null_mut,
    time::{Duration, Instant},
};

use uapi::cuda::result::SUCCESS;

use crate::suite::api::{Api, CuRes, Ptr};

/// The kernels, PTX for compute_90 (NVIDIA's driver JIT-compiles them).
pub const ISOLATION_PTX: &str = include_str!("../kernels/isolation.ptx");

/// What the victim's buffer holds.
const PATTERN: u32 = 0x5a17_c0de;
/// Bytes the victim allocates before its buffer.
const SPACER: usize = 64 << 20;
/// Words in the victim's buffer.
const WORDS: usize = 1024;
/// `CU_CTX_COREDUMP_ENABLE | CU_CTX_USER_COREDUMP_ENABLE` (cuda.h 12.1+).
const COREDUMP_FLAGS: u32 = 0x20 | 0x40;

/// The cases, in the order they run; `--native` runs only the first.
pub const CASES: [&str; 3] = ["cross_client", "coredump_fault", "endless_kernel"];

/// How to run the check.
pub struct Options {
    /// The library is NVIDIA's: only the cases its driver defines.
    pub native: bool,
    /// How long the spinner may run before the case fails.
    pub hang_timeout: Duration,
}

/// One client: the library, a context and the module.
struct Client {
    api: Api,
    module: Ptr,
}

impl Client {
    /// A client on the primary context (`flags == None`) or on a context
    /// created with `flags`.
    fn open(flags: Option<u32>) -> Result<Self, String> {
        let api = Api::load()?;
        // SAFETY: cuInit takes flags only.
        api.check("cuInit", unsafe { (api.cuInit)(0) })?;
        let mut dev = 0;
        // SAFETY: valid out pointer.
        api.check("cuDeviceGet", unsafe { (api.cuDeviceGet)(&mut dev, 0) })?;
        let mut ctx = null_mut();
        match flags {
            // SAFETY: valid out pointer and device.
            None => api.check("cuDevicePrimaryCtxRetain", unsafe {
                (api.cuDevicePrimaryCtxRetain)(&mut ctx, dev)
            })?,
            // SAFETY: as above.
            Some(f) => api.check("cuCtxCreate", unsafe {
                (api.cuCtxCreate_v2)(&mut ctx, f, dev)
            })?,
        }
        // SAFETY: a context of ours.
        api.check("cuCtxSetCurrent", unsafe { (api.cuCtxSetCurrent)(ctx) })?;
        let image = CString::new(ISOLATION_PTX).map_err(|_| "PTX with a NUL".to_string())?;
        let mut module = null_mut();
        // SAFETY: a NUL-terminated PTX image.
        api.check("cuModuleLoadData", unsafe {
            (api.cuModuleLoadData)(&mut module, image.as_ptr().cast())
        })?;
        Ok(Self { api, module })
    }

    fn alloc(&self, bytes: usize) -> Result<u64, String> {
        let mut p = 0u64;
        // SAFETY: valid out pointer.
        self.api.check("cuMemAlloc", unsafe {
            (self.api.cuMemAlloc_v2)(&mut p, bytes)
        })?;
        Ok(p)
    }

    fn fill(&self, p: u64, value: u32, words: usize) -> Result<(), String> {
        // SAFETY: an allocation of ours of at least `words` words.
        self.api.check("cuMemsetD32", unsafe {
            (self.api.cuMemsetD32_v2)(p, value, words)
        })
    }

    fn read(&self, p: u64, words: usize) -> Result<Vec<u32>, String> {
        let mut v = vec![0u32; words];
        // SAFETY: a host buffer of `words` words.
        self.api.check("cuMemcpyDtoH", unsafe {
            (self.api.cuMemcpyDtoH_v2)(v.as_mut_ptr().cast(), p, words * 4)
        })?;
        Ok(v)
    }

    /// Launches kernel `name` on one thread with `u64` parameters, then
    /// synchronises; the result of the synchronisation (or of the launch).
    fn launch(&self, name: &str, params: &[u64]) -> Result<CuRes, String> {
        let c = CString::new(name).map_err(|_| format!("kernel name {name:?}"))?;
        let mut f = null_mut();
        // SAFETY: valid out pointer, module and name.
        self.api.check("cuModuleGetFunction", unsafe {
            (self.api.cuModuleGetFunction)(&mut f, self.module, c.as_ptr())
        })?;
        let mut values = params.to_vec();
        let mut args: Vec<Ptr> = values
            .iter_mut()
            .map(|v| (v as *mut u64).cast::<c_void>())
            .collect();
        // SAFETY: one u64 per kernel parameter, alive across the call.
        let r = unsafe {
            (self.api.cuLaunchKernel)(
                f,
                1,
                1,
                1,
                1,
                1,
                1,
                0,
                null_mut(),
                args.as_mut_ptr(),
                null_mut(),
            )
        };
        if r != SUCCESS {
            return Ok(r);
        }
        // SAFETY: no arguments.
        Ok(unsafe { (self.api.cuCtxSynchronize)() })
    }
}

/// Role `victim`: serves `check` lines on stdin until EOF.
pub fn victim() -> Result<(), String> {
    let c = Client::open(None)?;
    // Allocations of different processes may sit at the same addresses (each
    // has its own address space): a spacer first puts the victim's buffer
    // where the attacker has nothing of its own.
    let _spacer = c.alloc(SPACER)?;
    let buf = c.alloc(WORDS * 4)?;
    c.fill(buf, PATTERN, WORDS)?;
    let scratch = c.alloc(WORDS * 4)?;
    println!("PTR {buf:#x}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut round = 0u32;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim() != "check" {
            continue;
        }
        round += 1;
        let answer = (|| {
            let data = c.read(buf, WORDS)?;
            if let Some(i) = data.iter().position(|&w| w != PATTERN) {
                return Err(format!("word {i} is {:#x}, not {PATTERN:#x}", data[i]));
            }
            c.fill(scratch, round, WORDS)?;
            if c.read(scratch, WORDS)?.iter().any(|&w| w != round) {
                return Err("new work gave wrong data".into());
            }
            Ok(())
        })();
        match answer {
            Ok(()) => println!("OK"),
            Err(e) => println!("BAD {e}"),
        }
        std::io::stdout().flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Role `attacker ADDR [FLAGS]`: prints `RESULT <code> <name>`
/// of the launch that reads and overwrites `ADDR`, or `REFUSED <what>` when
/// no context could be made.
pub fn attacker(target: u64, flags: Option<u32>) -> Result<(), String> {
    let c = match Client::open(flags) {
        Ok(c) => c,
        Err(e) => {
            println!("REFUSED {e}");
            return Ok(());
        }
    };
    let out = c.alloc(4)?;
    let r = c.launch("peek_poke", &[target, out])?;
    println!("RESULT {r} {}", c.api.error_name(r));
    if r == SUCCESS {
        let got = c.read(out, 1)?;
        println!("READ {:#x}", got[0]);
    }
    Ok(())
}

/// Role `healthy`: a new client's ordinary work; prints `WORKS`.
pub fn healthy() -> Result<(), String> {
    let c = Client::open(None)?;
    let p = c.alloc(WORDS * 4)?;
    c.fill(p, PATTERN, WORDS)?;
    if c.read(p, WORDS)?.iter().any(|&w| w != PATTERN) {
        return Err("read back wrong data".into());
    }
    println!("WORKS");
    Ok(())
}

/// Role `spinner`: launches a kernel that never ends; prints
/// `RESULT <code> <name>` if the wait ever returns.
pub fn spinner() -> Result<(), String> {
    let c = Client::open(None)?;
    let flag = c.alloc(4)?;
    c.fill(flag, 0, 1)?;
    println!("SPINNING");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let r = c.launch("spin", &[flag])?;
    println!("RESULT {r} {}", c.api.error_name(r));
    Ok(())
}

/// The victim process, kept for the whole run.
struct Victim {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: u64,
}

impl Victim {
    fn start() -> Result<Self, String> {
        let mut child = self_command(&["victim"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("victim: {e}"))?;
        let stdin = child.stdin.take().ok_or("victim: no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("victim: no stdout")?);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .map_err(|e| format!("victim: {e}"))?;
        let addr = line
            .trim()
            .strip_prefix("PTR 0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("victim said {:?}", line.trim()))?;
        Ok(Self {
            child,
            stdin,
            stdout,
            addr,
        })
    }

    /// The victim's data is unchanged and it can still work.
    fn check(&mut self) -> Result<(), String> {
        writeln!(self.stdin, "check").map_err(|e| format!("victim: {e}"))?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("victim: {e}"))?;
        match line.trim() {
            "OK" => Ok(()),
            "" => Err("the victim died".into()),
            other => Err(format!("victim: {other}")),
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This program again, in one of the check's roles (`--isolation-role`).
fn self_command(args: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "cuda-suite".into());
    let mut c = Command::new(exe);
    c.arg("--isolation-role").args(args);
    c
}

/// Runs a child to its end (at most `limit`), giving its stdout.
fn run_child(args: &[&str], limit: Duration) -> Result<String, String> {
    let mut child = self_command(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} still running after {limit:?}; killed", args[0]));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether an attacker's output shows it reached the victim's data: its
/// kernel ran and read the victim's pattern. (A kernel that ran without
/// reading the pattern touched memory of its own that happens to sit at
/// the same address: each process has its own GPU address space, and
/// allocations of different processes may coincide, natively too.)
fn reached_victim(out: &str) -> bool {
    out.lines().any(|l| l == "RESULT 0 CUDA_SUCCESS")
        && out.lines().any(|l| l == format!("READ {PATTERN:#x}"))
}

fn case_cross_client(v: &mut Victim) -> Result<String, String> {
    let addr = format!("{:#x}", v.addr);
    let out = run_child(&["attacker", &addr], Duration::from_secs(120))?;
    let result = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("attacker said {:?}", out.trim()))?;
    if reached_victim(&out) {
        return Err(format!(
            "the attacker read the victim's data: {}",
            out.trim().replace('\n', "; ")
        ));
    }
    v.check()?;
    let what = if result.starts_with("0 ") {
        format!(
            "the attacker's kernel touched only its own memory at that address ({})",
            out.lines()
                .find(|l| l.starts_with("READ "))
                .unwrap_or("READ ?")
        )
    } else {
        format!(
            "the attacker's launch failed ({})",
            result.split_whitespace().nth(1).unwrap_or(result)
        )
    };
    Ok(format!("{what}; victim's data unchanged, victim works"))
}

fn case_coredump_fault(v: &mut Victim) -> Result<String, String> {
    let addr = format!("{:#x}", v.addr);
    let flags = COREDUMP_FLAGS.to_string();
    let out = run_child(&["attacker", &addr, &flags], Duration::from_secs(120))?;
    let what = out
        .lines()
        .find(|l| l.starts_with("RESULT ") || l.starts_with("REFUSED "))
        .ok_or_else(|| format!("attacker said {:?}", out.trim()))?
        .to_string();
    if reached_victim(&out) {
        return Err(format!("the attacker read the victim's data: {what}"));
    }
    v.check()?;
    let fresh = run_child(&["healthy"], Duration::from_secs(120))?;
    if !fresh.lines().any(|l| l == "WORKS") {
        return Err(format!("a new client did not work: {:?}", fresh.trim()));
    }
    Ok(format!(
        "core-dump context: {what}; victim and a new client work"
    ))
}

fn case_endless_kernel(v: &mut Victim, limit: Duration) -> Result<String, String> {
    let t0 = Instant::now();
    let out = run_child(&["spinner"], limit)?;
    let result = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or("none (the process ended without a result)")
        .to_string();
    if result.starts_with("0 ") {
        return Err("the endless kernel ended successfully".into());
    }
    v.check()?;
    Ok(format!(
        "stopped after {:.1} s: {result}; victim works",
        t0.elapsed().as_secs_f64()
    ))
}

/// The whole check; true when every case passed.
pub fn run(options: &Options) -> bool {
    let (mut passed, mut failed) = (0, 0);
    let mut report = |name: &str, t0: Instant, r: Result<String, String>| {
        let ms = t0.elapsed().as_millis();
        match r {
            Ok(d) => {
                passed += 1;
                println!("CASE {name} PASS {ms}ms {d}");
            }
            Err(e) => {
                failed += 1;
                println!("CASE {name} FAIL {ms}ms {e}");
            }
        }
        let _ = std::io::stdout().flush();
    };
    let t0 = Instant::now();
    match Victim::start() {
        Err(e) => report("cross_client", t0, Err(e)),
        Ok(mut v) => {
            report("cross_client", t0, case_cross_client(&mut v));
            if !options.native {
                let t0 = Instant::now();
                report("coredump_fault", t0, case_coredump_fault(&mut v));
                let t0 = Instant::now();
                report(
                    "endless_kernel",
                    t0,
                    case_endless_kernel(&mut v, options.hang_timeout),
                );
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    failed == 0
}
