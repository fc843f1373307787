//! Cross-layer CUDA driver API suite (`cuda-suite`). Loads `libcuda.so.1`
//! at run time (libloading), so the same binary runs against vgpu's library
//! in a guest (or over `VGPU_SOCKET`) and against NVIDIA's on the GPU
//! machine; the `DIGEST` lines of the two runs must match bit for bit
//! (`tests/vm/gpu-digests.txt`).
//!
//! Every case is one row of [`CASES`]; its kernels are in
//! `tests/kernels/suite.ptx`. A run prints `CASE <name> PASS|FAIL <detail>`,
//! `DIGEST <case> <hex>` and a final `N passed, N failed`.

pub mod api;
mod cases;
pub use cases::PINNED_CASE_BYTES;

use std::{
    ffi::{c_char, CStr, CString},
    ptr::null_mut,
};

use api::{Api, CuRes, Ptr};

/// The suite's module (hand-written PTX in nvcc style, limited to what the
/// simulator supports): `vecadd`, `saxpy`, `histogram`, `oob_write`,
/// `reduce_sum` (for blocks of [`BLOCK`] threads) and the global `g_vals`.
pub const SUITE_PTX: &str = include_str!("../../kernels/suite.ptx");

/// Threads per block of every launch.
const BLOCK: u32 = 256;

/// What a case reports: its detail line, or why it failed.
type CaseResult = Result<String, String>;

/// One case: its name (as results and digests name it) and what it runs.
pub struct Case {
    pub name: &'static str,
    run: fn(&mut Suite) -> CaseResult,
}

/// Every case, in the order they run.
pub const CASES: &[Case] = &[
    Case {
        name: "vecadd",
        run: Suite::case_vecadd,
    },
    Case {
        name: "big_module",
        run: Suite::case_big_module,
    },
    Case {
        name: "saxpy",
        run: Suite::case_saxpy,
    },
    Case {
        name: "reduction",
        run: Suite::case_reduction,
    },
    Case {
        name: "atomics",
        run: Suite::case_atomics,
    },
    Case {
        name: "streams_events",
        run: Suite::case_streams_events,
    },
    Case {
        name: "memset_2d",
        run: Suite::case_memset_2d,
    },
    Case {
        name: "global",
        run: Suite::case_global,
    },
    Case {
        name: "extra_params",
        run: Suite::case_extra_params,
    },
    Case {
        name: "bad_input",
        run: Suite::case_bad_input,
    },
    Case {
        name: "vmm",
        run: Suite::case_vmm,
    },
    Case {
        name: "graphs",
        run: Suite::case_graphs,
    },
    Case {
        name: "host_nodes",
        run: Suite::case_host_nodes,
    },
    Case {
        name: "roundtrip",
        run: Suite::case_roundtrip,
    },
    Case {
        name: "pinned",
        run: Suite::case_pinned,
    },
    Case {
        name: "async_error",
        run: Suite::case_async_error,
    },
];

/// The case that faults its context on purpose (nothing to clean up after it).
const FAULTING_CASE: &str = "async_error";

/// How to run the suite (the command line of `cuda-suite`).
pub struct Options {
    /// Only these cases (all when `None`).
    pub only: Option<Vec<String>>,
    /// The library is NVIDIA's: skip the checks whose behaviour its driver
    /// leaves undefined (a destroyed stream's handle, SIGSEGV on driver
    /// 13000, and a wrong-size `extra` buffer, unchecked).
    pub native: bool,
    /// Size of the round-trip case, MiB.
    pub roundtrip_mib: usize,
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: plain numbers, fully initialised.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

fn bytes_mut<T: Copy>(v: &mut [T]) -> &mut [u8] {
    // SAFETY: as above; every byte pattern is valid for the types used.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), std::mem::size_of_val(v)) }
}

struct Suite {
    api: Api,
    /// The library is NVIDIA's (see [`Options::native`]).
    native: bool,
    roundtrip_mib: usize,
    module: Ptr,
    digests: Vec<(String, u64)>,
}

impl Suite {
    fn name(&self, r: CuRes) -> String {
        self.api.error_name(r)
    }

    fn ck(&self, what: &str, r: CuRes) -> Result<(), String> {
        self.api.check(what, r)
    }

    fn expect(&self, what: &str, r: CuRes, want: CuRes) -> Result<(), String> {
        if r == want {
            Ok(())
        } else {
            Err(format!(
                "{what}: got {}, expected {}",
                self.name(r),
                self.name(want)
            ))
        }
    }

    fn digest(&mut self, case: &str, parts: &[&[u8]]) {
        self.digests.push((case.to_string(), fnv1a(parts)));
    }

    fn func(&self, name: &str) -> Result<Ptr, String> {
        let mut f = null_mut();
        let c = CString::new(name).map_err(|_| format!("kernel name {name:?}"))?;
        // SAFETY: valid out pointer, module and name.
        self.ck(&format!("cuModuleGetFunction({name})"), unsafe {
            (self.api.cuModuleGetFunction)(&mut f, self.module, c.as_ptr())
        })?;
        Ok(f)
    }

    fn alloc(&self, n: usize) -> Result<u64, String> {
        let mut p = 0u64;
        // SAFETY: valid out pointer.
        self.ck("cuMemAlloc", unsafe { (self.api.cuMemAlloc_v2)(&mut p, n) })?;
        Ok(p)
    }

    fn free(&self, p: u64) {
        // SAFETY: an allocation of ours.
        unsafe { (self.api.cuMemFree_v2)(p) };
    }

    fn htod<T: Copy>(&self, d: u64, v: &[T]) -> Result<(), String> {
        let b = bytes(v);
        // SAFETY: valid host buffer.
        self.ck("cuMemcpyHtoD", unsafe {
            (self.api.cuMemcpyHtoD_v2)(d, b.as_ptr().cast(), b.len())
        })
    }

    fn dtoh<T: Copy>(&self, v: &mut [T], s: u64) -> Result<(), String> {
        let b = bytes_mut(v);
        // SAFETY: valid host buffer.
        self.ck("cuMemcpyDtoH", unsafe {
            (self.api.cuMemcpyDtoH_v2)(b.as_mut_ptr().cast(), s, b.len())
        })
    }

    /// Launches with `kernelParams` pointing at `args`.
    fn launch(
        &self,
        f: Ptr,
        grid: u32,
        block: u32,
        shared: u32,
        stream: Ptr,
        args: &mut [Ptr],
    ) -> CuRes {
        // SAFETY: `args` holds one pointer per kernel parameter.
        unsafe {
            (self.api.cuLaunchKernel)(
                f,
                grid,
                1,
                1,
                block,
                1,
                1,
                shared,
                stream,
                args.as_mut_ptr(),
                null_mut(),
            )
        }
    }

    /// Launches `f` over `n` threads, `BLOCK` to a block, on the null stream.
    fn launch_1d(&self, f: Ptr, n: usize, args: &mut [Ptr]) -> Result<(), String> {
        let grid = (n as u32).div_ceil(BLOCK);
        self.ck(
            "cuLaunchKernel",
            self.launch(f, grid, BLOCK, 0, null_mut(), args),
        )
    }

    fn sync(&self) -> Result<(), String> {
        // SAFETY: no arguments.
        self.ck("cuCtxSynchronize", unsafe { (self.api.cuCtxSynchronize)() })
    }

    /// Initialises the driver, makes device 0's primary context current and
    /// loads [`SUITE_PTX`]; says which device and driver.
    fn setup(&mut self) -> CaseResult {
        let a = &self.api;
        let (mut ver, mut dev, mut ctx) = (0, 0, null_mut());
        let mut name = [0 as c_char; 128];
        // SAFETY: valid out pointers.
        unsafe {
            self.ck("cuInit", (a.cuInit)(0))?;
            self.ck("cuDriverGetVersion", (a.cuDriverGetVersion)(&mut ver))?;
            self.ck("cuDeviceGet", (a.cuDeviceGet)(&mut dev, 0))?;
            self.ck(
                "cuDeviceGetName",
                (a.cuDeviceGetName)(name.as_mut_ptr(), 128, dev),
            )?;
            self.ck(
                "cuDevicePrimaryCtxRetain",
                (a.cuDevicePrimaryCtxRetain)(&mut ctx, dev),
            )?;
            self.ck("cuCtxSetCurrent", (a.cuCtxSetCurrent)(ctx))?;
        }
        let image = CString::new(SUITE_PTX).map_err(|_| "a NUL in suite.ptx".to_string())?;
        let mut m = null_mut();
        // SAFETY: NUL-terminated PTX.
        self.ck("cuModuleLoadData", unsafe {
            (a.cuModuleLoadData)(&mut m, image.as_ptr().cast())
        })?;
        self.module = m;
        // SAFETY: a NUL-terminated buffer the driver filled.
        let name = unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Ok(format!("{name}, driver {ver}"))
    }
}

/// The names of every case, comma-separated (for usage lines).
pub fn case_names() -> String {
    CASES.iter().map(|c| c.name).collect::<Vec<_>>().join(",")
}

/// Runs the suite, printing its result lines; true when every case passed.
pub fn run(options: Options) -> bool {
    let api = match Api::load() {
        Ok(a) => a,
        Err(e) => {
            println!("CASE setup FAIL {e}");
            println!("0 passed, 1 failed");
            return false;
        }
    };
    let mut suite = Suite {
        api,
        native: options.native,
        roundtrip_mib: options.roundtrip_mib,
        module: null_mut(),
        digests: Vec::new(),
    };
    match suite.setup() {
        Ok(d) => println!("CASE setup PASS {d}"),
        Err(e) => {
            println!("CASE setup FAIL {e}");
            println!("0 passed, 1 failed");
            return false;
        }
    }
    let (mut passed, mut failed) = (0, 0);
    for case in CASES {
        if options
            .only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|c| c == case.name))
        {
            continue;
        }
        match (case.run)(&mut suite) {
            Ok(d) => {
                passed += 1;
                println!("CASE {} PASS {d}", case.name);
            }
            Err(e) => {
                failed += 1;
                println!("CASE {} FAIL {e}", case.name);
                // A failed case may leave asynchronous errors behind.
                if case.name != FAULTING_CASE {
                    let _ = suite.sync();
                }
            }
        }
        for (c, h) in suite.digests.drain(..) {
            println!("DIGEST {c} {h:016x}");
        }
    }
    println!("{passed} passed, {failed} failed");
    failed == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_and_digests_name_cases() {
        let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
        for line in include_str!("../../vm/gpu-digests.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
        {
            let case = line.split(' ').next().unwrap_or("");
            if !case.starts_with("cudart-") {
                assert!(names.contains(&case), "digest of unknown case {case}");
            }
        }
    }

    #[test]
    fn the_module_names_every_kernel_the_cases_launch() {
        for entry in ["vecadd", "saxpy", "histogram", "oob_write", "reduce_sum"] {
            assert!(
                SUITE_PTX.contains(&format!(".visible .entry {entry}(")),
                "{entry}"
            );
        }
        assert!(SUITE_PTX.contains("g_vals[4]"));
    }
}
