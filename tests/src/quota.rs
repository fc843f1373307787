//! Quotas seen by a program (`cuda-suite --quota`, issue 8 item 3), on a
//! vgpu-host started with `--vm-memory-limit` and `--max-clients`:
//! - `total`: `cuDeviceTotalMem` and `cuMemGetInfo`'s total are the quota;
//! - `nvml`: NVML's total is the quota too (a child process, with its own
//!   connection; `--require-nvml` makes a missing `libnvidia-ml.so.1` a failure);
//! - `oom`: another process holding ¾ of the quota leaves this one
//!   `CUDA_ERROR_OUT_OF_MEMORY` for ½; once that process is killed its
//!   memory returns and the allocation succeeds;
//! - `clients`: with this process and N−1 others holding a context, the
//!   next process's `cuInit` is `CUDA_ERROR_DEVICE_UNAVAILABLE`.
//!
//! Roles (`cuda-suite --quota-role hold BYTES | init | nvml`) run in child
//! processes.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    ptr::null_mut,
    time::{Duration, Instant},
};

use libloading::Library;
use uapi::cuda::result::{DEVICE_UNAVAILABLE, OUT_OF_MEMORY, SUCCESS};

use crate::suite::api::{Api, Ptr};

/// The cases, in the order they run.
pub const CASES: [&str; 4] = ["total", "nvml", "oom", "clients"];

/// What the host was started with.
pub struct Options {
    /// `--vm-memory-limit`, bytes.
    pub total: u64,
    /// `--max-clients`.
    pub clients: u32,
    /// A missing NVML library fails the `nvml` case.
    pub require_nvml: bool,
}

fn open() -> Result<Api, String> {
    let api = Api::load()?;
    // SAFETY: cuInit takes flags only.
    api.check("cuInit", unsafe { (api.cuInit)(0) })?;
    let mut ctx = null_mut();
    // SAFETY: valid out pointer, device 0.
    api.check("cuDevicePrimaryCtxRetain", unsafe {
        (api.cuDevicePrimaryCtxRetain)(&mut ctx, 0)
    })?;
    // SAFETY: our context.
    api.check("cuCtxSetCurrent", unsafe { (api.cuCtxSetCurrent)(ctx) })?;
    Ok(api)
}

fn alloc(api: &Api, bytes: u64) -> Result<u64, u32> {
    let mut p = 0u64;
    // SAFETY: valid out pointer.
    match unsafe { (api.cuMemAlloc_v2)(&mut p, bytes as usize) } {
        SUCCESS => Ok(p),
        e => Err(e),
    }
}

fn mem_info(api: &Api) -> Result<(u64, u64), String> {
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: valid out pointers.
    api.check("cuMemGetInfo", unsafe {
        (api.cuMemGetInfo_v2)(&mut free, &mut total)
    })?;
    Ok((free as u64, total as u64))
}

/// Role `hold BYTES`: a context and an allocation of BYTES (none for 0),
/// `HOLDING` on stdout, then waits for stdin to close.
pub fn hold(bytes: u64) -> Result<(), String> {
    let api = open()?;
    if bytes > 0 {
        alloc(&api, bytes).map_err(|e| format!("cuMemAlloc: {}", api.error_name(e)))?;
    }
    println!("HOLDING");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    Ok(())
}

/// Role `init`: prints `INIT <code>` of `cuInit`.
pub fn init() -> Result<(), String> {
    let api = Api::load()?;
    // SAFETY: cuInit takes flags only.
    let r = unsafe { (api.cuInit)(0) };
    println!("INIT {r} {}", api.error_name(r));
    Ok(())
}

#[repr(C)]
#[derive(Default)]
struct NvmlMemory {
    total: u64,
    free: u64,
    used: u64,
}

/// Role `nvml`: prints `NVML <total>` from `nvmlDeviceGetMemoryInfo`, or
/// `NONVML <why>` without the library.
pub fn nvml() -> Result<(), String> {
    // SAFETY: loading NVML runs its initialisers only.
    let lib = match unsafe { Library::new("libnvidia-ml.so.1") } {
        Ok(l) => l,
        Err(e) => {
            println!("NONVML {e}");
            return Ok(());
        }
    };
    type Init = unsafe extern "C" fn() -> u32;
    type ByIndex = unsafe extern "C" fn(u32, *mut Ptr) -> u32;
    type Memory = unsafe extern "C" fn(Ptr, *mut NvmlMemory) -> u32;
    // SAFETY: NVML's documented signatures.
    let (init, by_index, memory) = unsafe {
        (
            *lib.get::<Init>(b"nvmlInit_v2\0")
                .map_err(|e| e.to_string())?,
            *lib.get::<ByIndex>(b"nvmlDeviceGetHandleByIndex_v2\0")
                .map_err(|e| e.to_string())?,
            *lib.get::<Memory>(b"nvmlDeviceGetMemoryInfo\0")
                .map_err(|e| e.to_string())?,
        )
    };
    let mut dev: Ptr = null_mut();
    let mut m = NvmlMemory::default();
    // SAFETY: valid out pointers; the handle comes from NVML.
    let r = unsafe {
        match init() {
            0 => match by_index(0, &mut dev) {
                0 => memory(dev, &mut m),
                e => e,
            },
            e => e,
        }
    };
    if r != 0 {
        return Err(format!("NVML error {r}"));
    }
    println!("NVML {} {} {}", m.total, m.free, m.used);
    Ok(())
}

fn role(args: &[&str]) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "cuda-suite".into());
    let mut c = Command::new(exe);
    c.arg("--quota-role").args(args);
    c
}

/// A child holding a context (and `bytes`), once it said so.
struct Holder(Child);

impl Holder {
    fn start(bytes: u64) -> Result<Self, String> {
        let mut child = role(&["hold", &bytes.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("hold: {e}"))?;
        let out = child.stdout.take().ok_or("hold: no stdout")?;
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let holder = Self(child);
        if line.trim() != "HOLDING" {
            return Err(format!("holder said {:?}", line.trim()));
        }
        Ok(holder)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn output(args: &[&str]) -> Result<String, String> {
    let out = role(args)
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn case_total(api: &Api, o: &Options) -> Result<String, String> {
    let mut device = 0usize;
    // SAFETY: valid out pointer, device 0.
    api.check("cuDeviceTotalMem", unsafe {
        (api.cuDeviceTotalMem_v2)(&mut device, 0)
    })?;
    let (free, total) = mem_info(api)?;
    if device as u64 != o.total || total != o.total || free > total {
        return Err(format!(
            "cuDeviceTotalMem {device}, cuMemGetInfo free {free} total {total}; quota {}",
            o.total
        ));
    }
    Ok(format!(
        "cuDeviceTotalMem = cuMemGetInfo total = {}",
        o.total
    ))
}

fn case_nvml(o: &Options) -> Result<String, String> {
    let out = output(&["nvml"])?;
    if let Some(why) = out.lines().find_map(|l| l.strip_prefix("NONVML ")) {
        return if o.require_nvml {
            Err(format!("no NVML: {why}"))
        } else {
            Ok(format!("skipped: no NVML ({why})"))
        };
    }
    let total = out
        .lines()
        .find_map(|l| l.strip_prefix("NVML "))
        .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .ok_or_else(|| format!("nvml said {:?}", out.trim()))?;
    if total != o.total {
        return Err(format!("NVML total {total}, quota {}", o.total));
    }
    Ok(format!("NVML total = {total}"))
}

fn case_oom(api: &Api, o: &Options) -> Result<String, String> {
    let holder = Holder::start(o.total / 4 * 3)?;
    let (free, _) = mem_info(api)?;
    if free > o.total / 4 {
        return Err(format!("free {free} with ¾ of {} held elsewhere", o.total));
    }
    match alloc(api, o.total / 2) {
        Err(OUT_OF_MEMORY) => {}
        Err(e) => return Err(format!("beyond the quota: {}", api.error_name(e))),
        Ok(_) => return Err("allocated beyond the quota".into()),
    }
    // SIGKILL: a killed client's memory returns.
    drop(holder);
    let t0 = Instant::now();
    let p = loop {
        match alloc(api, o.total / 2) {
            Ok(p) => break p,
            Err(_) if t0.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => {
                return Err(format!(
                    "the killed holder's memory did not return: {}",
                    api.error_name(e)
                ))
            }
        }
    };
    // SAFETY: our allocation.
    api.check("cuMemFree", unsafe { (api.cuMemFree_v2)(p) })?;
    Ok(format!(
        "OUT_OF_MEMORY beyond the quota; returned {} ms after the holder was killed",
        t0.elapsed().as_millis()
    ))
}

fn case_clients(o: &Options) -> Result<String, String> {
    // This process is one client; N − 1 more fill the VM.
    let holders = (1..o.clients)
        .map(|_| Holder::start(0))
        .collect::<Result<Vec<_>, _>>()?;
    let out = output(&["init"])?;
    let code = out
        .lines()
        .find_map(|l| l.strip_prefix("INIT "))
        .and_then(|l| l.split_whitespace().next()?.parse::<u32>().ok())
        .ok_or_else(|| format!("init said {:?}", out.trim()))?;
    if code != DEVICE_UNAVAILABLE {
        return Err(format!(
            "client {} got cuInit {}",
            o.clients + 1,
            out.trim()
        ));
    }
    drop(holders);
    let t0 = Instant::now();
    loop {
        let again = output(&["init"])?;
        if again.starts_with("INIT 0 ") {
            break;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(format!("no room after the holders left: {}", again.trim()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(format!(
        "client {} refused with CUDA_ERROR_DEVICE_UNAVAILABLE; admitted once others left",
        o.clients + 1
    ))
}

/// The whole check; true when every case passed.
pub fn run(o: &Options) -> bool {
    let api = match open() {
        Ok(a) => a,
        Err(e) => {
            println!("CASE total FAIL 0ms {e}");
            return false;
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for name in CASES {
        let t0 = Instant::now();
        let r = match name {
            "total" => case_total(&api, o),
            "nvml" => case_nvml(o),
            "oom" => case_oom(&api, o),
            _ => case_clients(o),
        };
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
    }
    println!("{passed} passed, {failed} failed");
    failed == 0
}
