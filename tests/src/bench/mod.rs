//! The driver-API benchmarks (`cuda-suite --bench`, issue 10): the same
//! measurements against whichever `libcuda.so.1` the loader finds, so one
//! run natively and one through vgpu (socket or guest) give ratios
//! (`scripts/bench-report.py`).
//!
//! Groups, in the order they run:
//! - `sync`: `cuCtxSynchronize` on an idle context and `cuMemGetInfo`, each
//!   timed call by call; the median of [`Options::iters`] calls, µs;
//! - `launch`: [`Options::launches`] launches of an empty kernel on the
//!   null stream, then one synchronize: launches/s end to end, and µs per
//!   `cuLaunchKernel` call (submission only);
//! - `copy`: synchronous `cuMemcpyHtoD`/`cuMemcpyDtoH` from pageable
//!   (`Vec`) and pinned (`cuMemAllocHost`) memory, 4 KiB to 1 GiB
//!   ([`SIZES`], up to [`Options::max_bytes`]), MiB/s over repeated copies
//!   of at least [`Options::min_time`]; what comes back is checked;
//! - `stream`: small asynchronous copies and a small step on one stream,
//!   as an LLM's decode loop issues them ([`stream`]).
//!
//! Output: `BENCH <name> <value> <unit> [detail]` per figure,
//! `CASE bench-<group> PASS|FAIL <ms>ms <detail>` per group (and for
//! `setup`), and a final `N passed, N failed`.

mod copies;
mod stream;

use std::{
    ffi::{c_char, CStr, CString},
    ptr::null_mut,
    time::{Duration, Instant},
};

use crate::suite::api::{Api, CuRes, Ptr};

/// The empty kernel, PTX for compute_90 (the simulator runs it too).
pub const BENCH_PTX: &str = include_str!("../../kernels/bench.ptx");

/// The copy sizes, bytes, smallest first.
pub const SIZES: [usize; 7] = [
    4 << 10,
    64 << 10,
    1 << 20,
    16 << 20,
    64 << 20,
    256 << 20,
    1 << 30,
];

/// The benchmark groups, in the order they run.
pub const GROUPS: [&str; 4] = ["sync", "launch", "copy", "stream"];

/// The `CASE` name of a group's result line.
pub fn case_name(group: &str) -> String {
    format!("bench-{group}")
}

/// What to measure and how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Empty-kernel launches before the one synchronize.
    pub launches: u32,
    /// Calls timed for each synchronous round trip.
    pub iters: u32,
    /// The largest copy, bytes.
    pub max_bytes: usize,
    /// Each copy size repeats at least this long.
    pub min_time: Duration,
    /// Only these groups (all when `None`).
    pub only: Option<Vec<String>>,
}

impl Default for Options {
    /// The full run, for the GPU machine.
    fn default() -> Self {
        Self {
            launches: 100_000,
            iters: 10_000,
            max_bytes: 1 << 30,
            min_time: Duration::from_millis(200),
            only: None,
        }
    }
}

/// The usage line of `cuda-suite --bench`.
pub const USAGE: &str = "usage: cuda-suite --bench [--quick] [--launches N] [--iters N] \
     [--max-mib N] [--min-time-ms N] [--only sync,launch,copy,stream]";

impl Options {
    /// A short run for the simulator and CI: up to 1 MiB, few iterations.
    pub fn quick() -> Self {
        Self {
            launches: 2_000,
            iters: 200,
            max_bytes: 1 << 20,
            min_time: Duration::from_millis(20),
            only: None,
        }
    }

    /// Parses the arguments after `--bench`; `--quick` first sets the short
    /// run's values, which later flags override.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = if args.iter().any(|a| a == "--quick") {
            Self::quick()
        } else {
            Self::default()
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut number = |what: &str| -> Result<u64, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{what} needs a number"))
            };
            match a.as_str() {
                "--quick" => {}
                "--launches" => o.launches = positive(number(a)?, a)?,
                "--iters" => o.iters = positive(number(a)?, a)?,
                "--max-mib" => o.max_bytes = (number(a)? as usize).saturating_mul(1 << 20),
                "--min-time-ms" => o.min_time = Duration::from_millis(number(a)?),
                "--only" => {
                    let groups: Vec<String> = it
                        .next()
                        .ok_or("--only needs groups")?
                        .split(',')
                        .map(str::to_string)
                        .collect();
                    if let Some(bad) = groups.iter().find(|g| !GROUPS.contains(&g.as_str())) {
                        return Err(format!("unknown group {bad}; groups: {}", GROUPS.join(",")));
                    }
                    o.only = Some(groups);
                }
                other => return Err(format!("unknown argument {other}")),
            }
        }
        Ok(o)
    }

    /// The copy sizes this run measures.
    pub fn sizes(&self) -> Vec<usize> {
        SIZES
            .iter()
            .copied()
            .filter(|&s| s <= self.max_bytes)
            .collect()
    }

    fn runs(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|g| g == group))
    }
}

fn positive(n: u64, what: &str) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{what} must be between 1 and {}", u32::MAX))
}

/// `4KiB`, `64MiB`, `1GiB`.
pub fn size_label(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{}GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

/// The median of `v` (sorted here); 0 for none.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The value at fraction `q` of sorted `v`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One `BENCH` line.
fn report(name: &str, value: f64, unit: &str, detail: &str) {
    println!("BENCH {name} {value:.3} {unit} {detail}");
}

/// The library, the context, the empty kernel.
pub(crate) struct Bench {
    pub(crate) api: Api,
    empty: Ptr,
}

impl Bench {
    pub(crate) fn ck(&self, what: &str, r: CuRes) -> Result<(), String> {
        self.api.check(what, r)
    }

    /// Device 0's primary context, current, and the empty kernel.
    fn setup() -> Result<(Self, String), String> {
        let api = Api::load()?;
        let mut b = Self {
            api,
            empty: null_mut(),
        };
        let a = &b.api;
        let (mut ver, mut dev, mut ctx, mut module, mut empty) =
            (0, 0, null_mut(), null_mut(), null_mut());
        let mut name = [0 as c_char; 128];
        let image = CString::new(BENCH_PTX).map_err(|_| "a NUL in bench.ptx".to_string())?;
        // SAFETY: valid out pointers; NUL-terminated PTX and names.
        unsafe {
            b.ck("cuInit", (a.cuInit)(0))?;
            b.ck("cuDriverGetVersion", (a.cuDriverGetVersion)(&mut ver))?;
            b.ck("cuDeviceGet", (a.cuDeviceGet)(&mut dev, 0))?;
            b.ck(
                "cuDeviceGetName",
                (a.cuDeviceGetName)(name.as_mut_ptr(), 128, dev),
            )?;
            b.ck(
                "cuDevicePrimaryCtxRetain",
                (a.cuDevicePrimaryCtxRetain)(&mut ctx, dev),
            )?;
            b.ck("cuCtxSetCurrent", (a.cuCtxSetCurrent)(ctx))?;
            b.ck(
                "cuModuleLoadData",
                (a.cuModuleLoadData)(&mut module, image.as_ptr().cast()),
            )?;
            b.ck(
                "cuModuleGetFunction(empty)",
                (a.cuModuleGetFunction)(&mut empty, module, c"empty".as_ptr()),
            )?;
        }
        b.empty = empty;
        // SAFETY: a NUL-terminated buffer the driver filled.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy();
        Ok((b, format!("{name}, driver {ver}")))
    }

    pub(crate) fn sync(&self) -> Result<(), String> {
        // SAFETY: no arguments.
        self.ck("cuCtxSynchronize", unsafe { (self.api.cuCtxSynchronize)() })
    }

    /// Times `iters` calls of `call` one by one (after a tenth as many
    /// untimed); reports the median, µs, with the 10th and 90th percentiles.
    fn round_trip(
        &self,
        name: &str,
        iters: u32,
        call: impl Fn() -> CuRes,
    ) -> Result<String, String> {
        for _ in 0..(iters / 10).max(1) {
            self.ck(name, call())?;
        }
        let mut us = Vec::with_capacity(iters as usize);
        for _ in 0..iters {
            let t = Instant::now();
            let r = call();
            us.push(t.elapsed().as_secs_f64() * 1e6);
            self.ck(name, r)?;
        }
        let m = median(&mut us);
        let detail = format!(
            "median of {iters}, p10 {:.3} p90 {:.3}",
            quantile(&us, 0.1),
            quantile(&us, 0.9)
        );
        report(name, m, "us", &detail);
        Ok(format!("{name} {m:.2} us"))
    }

    fn group_sync(&self, o: &Options) -> Result<String, String> {
        self.sync()?;
        let a = &self.api;
        // SAFETY: no arguments.
        let sync = self.round_trip("sync_idle", o.iters, || unsafe { (a.cuCtxSynchronize)() })?;
        let (mut free, mut total) = (0usize, 0usize);
        let (free, total) = (&mut free as *mut usize, &mut total as *mut usize);
        let info = self.round_trip("mem_get_info", o.iters, || {
            // SAFETY: valid out pointers to locals that outlive the calls.
            unsafe { (a.cuMemGetInfo_v2)(free, total) }
        })?;
        Ok(format!("{sync}, {info}"))
    }

    fn launch_empty(&self) -> CuRes {
        self.launch_empty_on(null_mut())
    }

    /// The empty kernel, one thread, on `stream`.
    pub(crate) fn launch_empty_on(&self, stream: Ptr) -> CuRes {
        // SAFETY: `empty` takes no parameters; `stream` is the caller's.
        unsafe {
            (self.api.cuLaunchKernel)(
                self.empty,
                1,
                1,
                1,
                1,
                1,
                1,
                0,
                stream,
                null_mut(),
                null_mut(),
            )
        }
    }

    fn group_launch(&self, o: &Options) -> Result<String, String> {
        // Warm: the first launches may load the module onto the device.
        for _ in 0..(o.launches / 100).clamp(1, 1000) {
            self.ck("cuLaunchKernel", self.launch_empty())?;
        }
        self.sync()?;
        let t = Instant::now();
        for _ in 0..o.launches {
            self.ck("cuLaunchKernel", self.launch_empty())?;
        }
        let submitted = t.elapsed().as_secs_f64();
        self.sync()?;
        let total = t.elapsed().as_secs_f64();
        let n = f64::from(o.launches);
        let rate = n / total;
        let submit_us = submitted / n * 1e6;
        report(
            "launch_async",
            rate,
            "launches/s",
            &format!("{} launches then one cuCtxSynchronize", o.launches),
        );
        report(
            "launch_submit",
            submit_us,
            "us",
            &format!("mean cuLaunchKernel call of {}", o.launches),
        );
        Ok(format!("{rate:.0} launches/s, {submit_us:.2} us to submit"))
    }
}

/// Runs the benchmarks, printing their lines; true when every group ran.
pub fn run(o: &Options) -> bool {
    let t = Instant::now();
    let bench = match Bench::setup() {
        Ok((b, d)) => {
            println!("CASE setup PASS {}ms {d}", t.elapsed().as_millis());
            b
        }
        Err(e) => {
            println!("CASE setup FAIL {}ms {e}", t.elapsed().as_millis());
            println!("0 passed, 1 failed");
            return false;
        }
    };
    let (mut passed, mut failed) = (1, 0);
    for group in GROUPS.iter().filter(|g| o.runs(g)) {
        let t = Instant::now();
        let r = match *group {
            "sync" => bench.group_sync(o),
            "launch" => bench.group_launch(o),
            "stream" => stream::group_stream(&bench, o),
            _ => copies::group_copy(&bench, o),
        };
        let ms = t.elapsed().as_millis();
        match r {
            Ok(d) => {
                passed += 1;
                println!("CASE {} PASS {ms}ms {d}", case_name(group));
            }
            Err(e) => {
                failed += 1;
                println!("CASE {} FAIL {ms}ms {e}", case_name(group));
                let _ = bench.sync();
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    failed == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flags_override_the_quick_run() {
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        let o = Options::parse(&args("--launches 50 --quick --max-mib 16 --only copy")).unwrap();
        assert_eq!(o.launches, 50);
        assert_eq!(o.iters, Options::quick().iters);
        assert_eq!(o.max_bytes, 16 << 20);
        assert_eq!(o.sizes(), vec![4 << 10, 64 << 10, 1 << 20, 16 << 20]);
        assert!(o.runs("copy") && !o.runs("sync"));
        assert_eq!(Options::quick().sizes().last(), Some(&(1 << 20)));
        assert_eq!(Options::default().sizes().len(), SIZES.len());
    }

    #[test]
    fn bad_flags_are_refused() {
        for bad in [
            "--launches",
            "--launches 0",
            "--iters x",
            "--only sync,bogus",
            "--what",
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_are_labelled_in_binary_units() {
        let labels: Vec<String> = SIZES.iter().map(|&s| size_label(s)).collect();
        assert_eq!(
            labels,
            ["4KiB", "64KiB", "1MiB", "16MiB", "64MiB", "256MiB", "1GiB"]
        );
        assert_eq!(size_label(1000), "1000B");
    }

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.1), 1.0);
        assert_eq!(quantile(&v, 0.9), 9.0);
    }

    #[test]
    fn the_module_has_the_empty_kernel() {
        assert!(BENCH_PTX.contains(".visible .entry empty()"));
        assert!(BENCH_PTX.contains(".target sm_90"));
    }
}
