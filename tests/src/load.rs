//! The load test (`cuda-suite --load`, issue 8 item 7): P processes of T
//! threads each, for S seconds, doing mixed work on one device: allocations
//! with copies checked word for word, `vecadd` launches of the suite's
//! module with every element checked, streams and events around async
//! copies, and module loads and unloads. Every result is checked; every
//! thread has a deadline (S + [`GRACE`]), past which its process reports a
//! deadlock and exits.
//!
//! `cuda-suite --load [--procs P] [--threads T] [--seconds S]` prints
//! `CASE load PASS|FAIL <ms>ms <detail>` and `N passed, N failed`; each
//! process is `cuda-suite --load-role P_INDEX THREADS SECONDS` and prints
//! `LOAD OK <ops> <detail>` or `LOAD FAIL <why>`. What the host holds
//! before and after is measured by whoever started vgpu-host (the test
//! bed, `tests/src/vm/socket.rs`).

use std::{
    ffi::{c_void, CString},
    process::{Command, Stdio},
    ptr::null_mut,
    sync::{mpsc, Arc},
    time::{Duration, Instant},
};

use crate::suite::{
    api::{Api, Ptr},
    SUITE_PTX,
};

/// How long past its run a thread may take before it counts as deadlocked.
pub const GRACE: Duration = Duration::from_secs(60);

/// The run's shape.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub procs: u32,
    pub threads: u32,
    pub seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            procs: 16,
            threads: 4,
            seconds: 30,
        }
    }
}

/// A raw pointer that may cross threads (CUDA handles are process-wide).
#[derive(Clone, Copy)]
struct Handle(usize);

impl Handle {
    fn ptr(self) -> Ptr {
        self.0 as Ptr
    }
}

/// Per-thread counts of each kind of work.
#[derive(Default, Clone, Copy)]
struct Counts {
    copies: u64,
    launches: u64,
    streams: u64,
    modules: u64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.copies + self.launches + self.streams + self.modules
    }

    fn add(&mut self, o: &Counts) {
        self.copies += o.copies;
        self.launches += o.launches;
        self.streams += o.streams;
        self.modules += o.modules;
    }
}

/// xorshift64*: reproducible per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Worker {
    api: Arc<Api>,
    ctx: Handle,
    vecadd: Handle,
    rng: Rng,
    tag: u32,
}

impl Worker {
    fn alloc(&self, bytes: usize) -> Result<u64, String> {
        let mut p = 0u64;
        // SAFETY: valid out pointer.
        self.api.check("cuMemAlloc", unsafe {
            (self.api.cuMemAlloc_v2)(&mut p, bytes)
        })?;
        Ok(p)
    }

    fn free(&self, p: u64) -> Result<(), String> {
        // SAFETY: our allocation.
        self.api
            .check("cuMemFree", unsafe { (self.api.cuMemFree_v2)(p) })
    }

    fn htod(&self, p: u64, data: &[u32]) -> Result<(), String> {
        // SAFETY: `data` is live for the call; `p` holds at least as much.
        self.api.check("cuMemcpyHtoD", unsafe {
            (self.api.cuMemcpyHtoD_v2)(p, data.as_ptr().cast(), data.len() * 4)
        })
    }

    fn dtoh(&self, p: u64, words: usize) -> Result<Vec<u32>, String> {
        let mut v = vec![0u32; words];
        // SAFETY: a host buffer of `words` words.
        self.api.check("cuMemcpyDtoH", unsafe {
            (self.api.cuMemcpyDtoH_v2)(v.as_mut_ptr().cast(), p, words * 4)
        })?;
        Ok(v)
    }

    fn pattern(&mut self, words: usize) -> Vec<u32> {
        let seed = self.rng.next() as u32;
        (0..words as u32)
            .map(|i| seed ^ i.wrapping_mul(0x9e37_79b9) ^ self.tag)
            .collect()
    }

    /// An allocation of a random size, filled, read back, compared, freed.
    fn copy_round(&mut self) -> Result<(), String> {
        let words = 1 + self.rng.below(64 << 10) as usize;
        let data = self.pattern(words);
        let p = self.alloc(words * 4)?;
        let r = self
            .htod(p, &data)
            .and_then(|()| self.dtoh(p, words))
            .and_then(
                |back| match back.iter().zip(&data).position(|(a, b)| a != b) {
                    Some(i) => Err(format!("copy: word {i} of {words} differs")),
                    None => Ok(()),
                },
            );
        // The copy's own error first: it is what went wrong.
        let freed = self.free(p);
        r.and(freed)
    }

    /// `vecadd` on n elements, every element checked.
    fn launch_round(&mut self) -> Result<(), String> {
        let n = 1 + self.rng.below(2048) as usize;
        let a: Vec<f32> = (0..n).map(|i| (i as f32) * 0.5 + self.tag as f32).collect();
        let b: Vec<f32> = (0..n).map(|i| (n - i) as f32 * 0.25).collect();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
        let (da, db, dc) = (self.alloc(n * 4)?, self.alloc(n * 4)?, self.alloc(n * 4)?);
        let run = (|| {
            self.htod(da, &bits(&a))?;
            self.htod(db, &bits(&b))?;
            let (mut pa, mut pb, mut pc, mut nn) = (da, db, dc, n as u32);
            let mut args: [Ptr; 4] = [
                (&mut pa as *mut u64).cast(),
                (&mut pb as *mut u64).cast(),
                (&mut pc as *mut u64).cast(),
                (&mut nn as *mut u32).cast(),
            ];
            // SAFETY: the kernel's four parameters, alive across the call.
            self.api.check("cuLaunchKernel", unsafe {
                (self.api.cuLaunchKernel)(
                    self.vecadd.ptr(),
                    (n as u32).div_ceil(256),
                    1,
                    1,
                    256,
                    1,
                    1,
                    0,
                    null_mut(),
                    args.as_mut_ptr(),
                    null_mut(),
                )
            })?;
            let c = self.dtoh(dc, n)?;
            match (0..n).find(|&i| c[i] != (a[i] + b[i]).to_bits()) {
                Some(i) => Err(format!("vecadd: element {i} of {n} is wrong")),
                None => Ok(()),
            }
        })();
        // Every buffer freed, then the launch's own error first.
        let freed: Vec<Result<(), String>> = [da, db, dc].map(|p| self.free(p)).into();
        run.and(
            freed
                .into_iter()
                .collect::<Result<Vec<()>, String>>()
                .map(drop),
        )
    }

    /// A stream and two events around an async copy: the event completes,
    /// the data arrives, the elapsed time is not negative.
    fn stream_round(&mut self) -> Result<(), String> {
        let words = 1 + self.rng.below(16 << 10) as usize;
        let data = self.pattern(words);
        let api = self.api.clone();
        let (mut s, mut e0, mut e1) = (null_mut(), null_mut(), null_mut());
        // SAFETY: valid out pointers; flags 0.
        unsafe {
            api.check("cuStreamCreate", (api.cuStreamCreate)(&mut s, 0))?;
            api.check("cuEventCreate", (api.cuEventCreate)(&mut e0, 0))?;
            api.check("cuEventCreate", (api.cuEventCreate)(&mut e1, 0))?;
        }
        let p = self.alloc(words * 4)?;
        // SAFETY: our stream and events; `data` outlives the synchronisation.
        let r = unsafe {
            api.check("cuEventRecord", (api.cuEventRecord)(e0, s))
                .and_then(|()| {
                    api.check(
                        "cuMemcpyHtoDAsync",
                        (api.cuMemcpyHtoDAsync_v2)(p, data.as_ptr().cast::<c_void>(), words * 4, s),
                    )
                })
                .and_then(|()| api.check("cuEventRecord", (api.cuEventRecord)(e1, s)))
                .and_then(|()| api.check("cuEventSynchronize", (api.cuEventSynchronize)(e1)))
                .and_then(|()| api.check("cuEventQuery", (api.cuEventQuery)(e1)))
                .and_then(|()| {
                    let mut ms = 0f32;
                    api.check(
                        "cuEventElapsedTime",
                        (api.cuEventElapsedTime)(&mut ms, e0, e1),
                    )?;
                    if ms < 0.0 {
                        return Err(format!("elapsed time {ms} ms"));
                    }
                    Ok(())
                })
                .and_then(|()| api.check("cuStreamSynchronize", (api.cuStreamSynchronize)(s)))
        };
        let r = r.and_then(|()| self.dtoh(p, words)).and_then(|back| {
            if back == data {
                Ok(())
            } else {
                Err("async copy: data differs".into())
            }
        });
        let freed = self.free(p);
        // SAFETY: ours, idle after the synchronisation.
        let destroyed = unsafe {
            api.check("cuEventDestroy", (api.cuEventDestroy_v2)(e0))
                .and(api.check("cuEventDestroy", (api.cuEventDestroy_v2)(e1)))
                .and(api.check("cuStreamDestroy", (api.cuStreamDestroy_v2)(s)))
        };
        // The round's own error first, then the clean-up's.
        r.and(freed).and(destroyed)
    }

    /// The suite's module loaded, a kernel looked up, unloaded.
    fn module_round(&mut self) -> Result<(), String> {
        let image = CString::new(SUITE_PTX).map_err(|_| "PTX with a NUL".to_string())?;
        let name = CString::new("saxpy").map_err(|e| e.to_string())?;
        let api = &self.api;
        let (mut m, mut f) = (null_mut(), null_mut());
        // SAFETY: NUL-terminated PTX and name; valid out pointers.
        unsafe {
            api.check(
                "cuModuleLoadData",
                (api.cuModuleLoadData)(&mut m, image.as_ptr().cast()),
            )?;
            let got = api.check(
                "cuModuleGetFunction",
                (api.cuModuleGetFunction)(&mut f, m, name.as_ptr()),
            );
            api.check("cuModuleUnload", (api.cuModuleUnload)(m))?;
            got
        }
    }

    fn run(mut self, until: Instant) -> Result<Counts, String> {
        // SAFETY: the process's primary context.
        self.api.check("cuCtxSetCurrent", unsafe {
            (self.api.cuCtxSetCurrent)(self.ctx.ptr())
        })?;
        let mut counts = Counts::default();
        while Instant::now() < until {
            match self.rng.below(10) {
                0..=3 => {
                    self.copy_round()?;
                    counts.copies += 1;
                }
                4..=6 => {
                    self.launch_round()?;
                    counts.launches += 1;
                }
                7..=8 => {
                    self.stream_round()?;
                    counts.streams += 1;
                }
                _ => {
                    self.module_round()?;
                    counts.modules += 1;
                }
            }
        }
        Ok(counts)
    }
}

/// Role: process `index` of the run, `threads` threads for `seconds`.
pub fn role(index: u32, threads: u32, seconds: u64) -> Result<String, String> {
    let api = Arc::new(Api::load()?);
    let mut ctx = null_mut();
    let mut module = null_mut();
    let mut vecadd = null_mut();
    let image = CString::new(SUITE_PTX).map_err(|_| "PTX with a NUL".to_string())?;
    // SAFETY: cuInit takes flags; valid out pointers; NUL-terminated PTX and name.
    unsafe {
        api.check("cuInit", (api.cuInit)(0))?;
        api.check(
            "cuDevicePrimaryCtxRetain",
            (api.cuDevicePrimaryCtxRetain)(&mut ctx, 0),
        )?;
        api.check("cuCtxSetCurrent", (api.cuCtxSetCurrent)(ctx))?;
        api.check(
            "cuModuleLoadData",
            (api.cuModuleLoadData)(&mut module, image.as_ptr().cast()),
        )?;
        api.check(
            "cuModuleGetFunction",
            (api.cuModuleGetFunction)(&mut vecadd, module, c"vecadd".as_ptr()),
        )?;
    }
    let until = Instant::now() + Duration::from_secs(seconds);
    let (tx, rx) = mpsc::channel();
    for t in 0..threads {
        let worker = Worker {
            api: api.clone(),
            ctx: Handle(ctx as usize),
            vecadd: Handle(vecadd as usize),
            rng: Rng(0x9e37_79b9_7f4a_7c15 ^ (u64::from(index) << 32 | u64::from(t)) | 1),
            tag: index << 8 | t,
        };
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                let _ = tx.send((t, worker.run(until)));
            })
            .map_err(|e| e.to_string())?;
    }
    drop(tx);
    let deadline = until + GRACE;
    let mut total = Counts::default();
    for _ in 0..threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((_, Ok(c))) => total.add(&c),
            Ok((t, Err(e))) => return Err(format!("thread {t}: {e}")),
            Err(_) => {
                return Err(format!(
                    "deadlock: a thread still running {} s after its end",
                    GRACE.as_secs()
                ))
            }
        }
    }
    // SAFETY: every thread is done with them.
    unsafe {
        api.check("cuModuleUnload", (api.cuModuleUnload)(module))?;
    }
    Ok(format!(
        "{} copies={} launches={} streams={} modules={}",
        total.total(),
        total.copies,
        total.launches,
        total.streams,
        total.modules
    ))
}

/// The run; true when every process passed.
pub fn run(o: &Options) -> bool {
    let t0 = Instant::now();
    let exe = std::env::current_exe().unwrap_or_else(|_| "cuda-suite".into());
    let children: Result<Vec<_>, String> = (0..o.procs)
        .map(|i| {
            Command::new(&exe)
                .args(["--load-role", &i.to_string(), &o.threads.to_string()])
                .arg(o.seconds.to_string())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("process {i}: {e}"))
        })
        .collect();
    let mut failures = Vec::new();
    let mut ops = 0u64;
    match children {
        Err(e) => failures.push(e),
        Ok(children) => {
            let deadline = t0 + Duration::from_secs(o.seconds) + 2 * GRACE;
            for (i, mut child) in children.into_iter().enumerate() {
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                    failures.push(format!("process {i}: still running at the deadline"));
                }
                let out = child.wait_with_output();
                let text = out
                    .as_ref()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let ok = text
                    .lines()
                    .find_map(|l| l.strip_prefix("LOAD OK "))
                    .and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok());
                match (ok, out.map(|o| o.status.success())) {
                    (Some(n), Ok(true)) => ops += n,
                    _ => failures.push(format!(
                        "process {i}: {}",
                        text.lines()
                            .find(|l| l.starts_with("LOAD "))
                            .unwrap_or("no result")
                    )),
                }
            }
        }
    }
    let ms = t0.elapsed().as_millis();
    let shape = format!("{} procs x {} threads, {} s", o.procs, o.threads, o.seconds);
    if failures.is_empty() {
        println!("CASE load PASS {ms}ms {shape}: {ops} operations, every result checked");
        println!("1 passed, 0 failed");
        true
    } else {
        println!("CASE load FAIL {ms}ms {shape}: {}", failures.join("; "));
        println!("0 passed, 1 failed");
        false
    }
}
