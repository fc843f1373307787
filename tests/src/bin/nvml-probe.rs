// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! `nvml-probe`: GPU discovery the way Ollama's runner does it, in one
//! process: `dlopen("libcuda.so.1")` and `dlopen("libnvidia-ml.so.1")`, the
//! CUDA identity calls, then NVML by the CUDA UUID; CUDA and NVML must
//! agree.
//!
//! Prints `GPU <index> <uuid> <name> <pci> <total> cuda=<ver>
//! nvml_driver=<str>` per device and `DISCOVERED <n>`.
//!
//! Exit codes: 0 agreed (n ≥ 1); 1 CUDA and NVML disagree; 2 a library or
//! symbol is missing; 3 no device could be opened (`DISCOVERED 0`).
//! `--spawn-child` runs the probe again as a child with an empty
//! environment (as a service's subprocess) and reports its result.

use std::{
    ffi::{c_char, c_int, c_uint, c_void, CStr},
    process::{Command, ExitCode},
};

use libloading::{Library, Symbol};

type CuResult = c_int;
type NvmlReturn = c_uint;

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct NvmlMemory {
    total: u64,
    free: u64,
    used: u64,
}

struct Probe {
    cuda: Library,
    nvml: Library,
}

fn sym<'a, T>(lib: &'a Library, name: &str) -> Result<Symbol<'a, T>, String> {
    // SAFETY: every symbol is looked up with the C signature the CUDA and
    // NVML headers give it.
    unsafe { lib.get(name.as_bytes()) }.map_err(|e| format!("missing symbol {name}: {e}"))
}

fn cstr(buf: &[c_char]) -> String {
    // SAFETY: the buffers are NUL-terminated by the callee (or zeroed).
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

enum Outcome {
    Ok,
    Disagree(String),
    NoDevice(String),
}

impl Probe {
    fn nvml_error(&self, r: NvmlReturn) -> String {
        match sym::<unsafe extern "C" fn(NvmlReturn) -> *const c_char>(
            &self.nvml,
            "nvmlErrorString",
        ) {
            Ok(f) => format!(
                "{} ({r})",
                // SAFETY: nvmlErrorString returns a static string.
                unsafe { CStr::from_ptr(f(r)) }.to_string_lossy()
            ),
            Err(_) => format!("NVML error {r}"),
        }
    }

    fn run(&self) -> Result<Outcome, String> {
        type F0 = unsafe extern "C" fn() -> NvmlReturn;
        let cu_init = sym::<unsafe extern "C" fn(c_uint) -> CuResult>(&self.cuda, "cuInit")?;
        let cu_ver =
            sym::<unsafe extern "C" fn(*mut c_int) -> CuResult>(&self.cuda, "cuDriverGetVersion")?;
        let cu_count =
            sym::<unsafe extern "C" fn(*mut c_int) -> CuResult>(&self.cuda, "cuDeviceGetCount")?;
        let cu_get =
            sym::<unsafe extern "C" fn(*mut c_int, c_int) -> CuResult>(&self.cuda, "cuDeviceGet")?;
        let cu_attr = sym::<unsafe extern "C" fn(*mut c_int, c_int, c_int) -> CuResult>(
            &self.cuda,
            "cuDeviceGetAttribute",
        )?;
        let cu_name = sym::<unsafe extern "C" fn(*mut c_char, c_int, c_int) -> CuResult>(
            &self.cuda,
            "cuDeviceGetName",
        )?;
        let cu_mem = sym::<unsafe extern "C" fn(*mut usize, c_int) -> CuResult>(
            &self.cuda,
            "cuDeviceTotalMem_v2",
        )?;
        let cu_pci = sym::<unsafe extern "C" fn(*mut c_char, c_int, c_int) -> CuResult>(
            &self.cuda,
            "cuDeviceGetPCIBusId",
        )?;
        let cu_uuid = sym::<unsafe extern "C" fn(*mut [u8; 16], c_int) -> CuResult>(
            &self.cuda,
            "cuDeviceGetUuid",
        )?;
        let nv_init = sym::<F0>(&self.nvml, "nvmlInit_v2")?;
        let nv_shutdown = sym::<F0>(&self.nvml, "nvmlShutdown")?;
        let nv_driver = sym::<unsafe extern "C" fn(*mut c_char, c_uint) -> NvmlReturn>(
            &self.nvml,
            "nvmlSystemGetDriverVersion",
        )?;
        let nv_count = sym::<unsafe extern "C" fn(*mut c_uint) -> NvmlReturn>(
            &self.nvml,
            "nvmlDeviceGetCount_v2",
        )?;
        let nv_by_uuid = sym::<unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> NvmlReturn>(
            &self.nvml,
            "nvmlDeviceGetHandleByUUID",
        )?;
        let nv_mem = sym::<unsafe extern "C" fn(*mut c_void, *mut NvmlMemory) -> NvmlReturn>(
            &self.nvml,
            "nvmlDeviceGetMemoryInfo",
        )?;
        let nv_name = sym::<unsafe extern "C" fn(*mut c_void, *mut c_char, c_uint) -> NvmlReturn>(
            &self.nvml,
            "nvmlDeviceGetName",
        )?;

        // SAFETY: all calls below are C functions called with valid
        // out-pointers and buffer sizes, as the CUDA and NVML headers define.
        unsafe {
            let r = cu_init(0);
            if r != 0 {
                let nr = nv_init();
                let nmsg = if nr == 0 {
                    nv_shutdown();
                    "nvmlInit_v2 succeeded".to_owned()
                } else {
                    format!("nvmlInit_v2: {}", self.nvml_error(nr))
                };
                return Ok(Outcome::NoDevice(format!(
                    "cuInit failed (CUresult {r}); {nmsg}. Can this user open /dev/vgpu0?"
                )));
            }
            let mut ver = 0;
            let mut n = 0;
            if cu_ver(&mut ver) != 0 || cu_count(&mut n) != 0 {
                return Ok(Outcome::Disagree(
                    "cuDriverGetVersion/cuDeviceGetCount failed".into(),
                ));
            }
            let r = nv_init();
            if r != 0 {
                return Ok(Outcome::Disagree(format!(
                    "CUDA sees {n} device(s) but nvmlInit_v2 failed: {}",
                    self.nvml_error(r)
                )));
            }
            let mut problems = Vec::new();
            let mut dbuf = [0 as c_char; 80];
            let r = nv_driver(dbuf.as_mut_ptr(), 80);
            if r != 0 {
                problems.push(format!(
                    "nvmlSystemGetDriverVersion: {}",
                    self.nvml_error(r)
                ));
            }
            let driver = cstr(&dbuf);
            let mut nn = 0;
            let r = nv_count(&mut nn);
            if r != 0 || nn as c_int != n {
                problems.push(format!(
                    "device count: CUDA {n}, NVML {nn} ({})",
                    self.nvml_error(r)
                ));
            }
            for i in 0..n {
                let mut d = 0;
                if cu_get(&mut d, i) != 0 {
                    problems.push(format!("cuDeviceGet({i}) failed"));
                    continue;
                }
                let (mut ma, mut mi, mut integrated) = (0, 0, 0);
                let a = [
                    cu_attr(&mut ma, 75, d),
                    cu_attr(&mut mi, 76, d),
                    cu_attr(&mut integrated, 18, d),
                ];
                if a.iter().any(|&r| r != 0) || integrated != 0 {
                    problems.push(format!(
                        "cuDeviceGetAttribute(75/76/18) on {i}: {a:?}, cc {ma}.{mi}, integrated {integrated}"
                    ));
                }
                let mut name = [0 as c_char; 256];
                let mut pci = [0 as c_char; 32];
                let mut total = 0usize;
                let mut uuid = [0u8; 16];
                let r = [
                    cu_name(name.as_mut_ptr(), 256, d),
                    cu_mem(&mut total, d),
                    cu_pci(pci.as_mut_ptr(), 32, d),
                    cu_uuid(&mut uuid, d),
                ];
                if r.iter().any(|&r| r != 0) {
                    problems.push(format!("CUDA identity calls on {i}: {r:?}"));
                }
                let u = |r: std::ops::Range<usize>| -> String {
                    uuid[r].iter().map(|b| format!("{b:02x}")).collect()
                };
                let uuid_s = format!(
                    "GPU-{}-{}-{}-{}-{}",
                    u(0..4),
                    u(4..6),
                    u(6..8),
                    u(8..10),
                    u(10..16)
                );
                let name = cstr(&name);
                let pci = cstr(&pci).to_ascii_lowercase();
                let c_uuid = std::ffi::CString::new(uuid_s.clone()).unwrap_or_default();
                let mut h: *mut c_void = std::ptr::null_mut();
                let r = nv_by_uuid(c_uuid.as_ptr(), &mut h);
                if r != 0 {
                    problems.push(format!(
                        "nvmlDeviceGetHandleByUUID({uuid_s}): {}",
                        self.nvml_error(r)
                    ));
                } else {
                    let mut m = NvmlMemory::default();
                    let r = nv_mem(h, &mut m);
                    if r != 0 {
                        problems.push(format!("nvmlDeviceGetMemoryInfo: {}", self.nvml_error(r)));
                    } else if m.total != total as u64 {
                        problems.push(format!("memory total: CUDA {total}, NVML {}", m.total));
                    } else if m.free + m.used > m.total {
                        problems.push(format!("NVML free {} + used {} > total", m.free, m.used));
                    }
                    let mut nbuf = [0 as c_char; 96];
                    let r = nv_name(h, nbuf.as_mut_ptr(), 96);
                    if r != 0 || cstr(&nbuf) != name {
                        problems.push(format!(
                            "name: CUDA {name:?}, NVML {:?} ({})",
                            cstr(&nbuf),
                            self.nvml_error(r)
                        ));
                    }
                }
                println!("GPU {i} {uuid_s} {name} {pci} {total} cuda={ver} nvml_driver={driver}");
            }
            let r = nv_shutdown();
            if r != 0 {
                problems.push(format!("nvmlShutdown: {}", self.nvml_error(r)));
            }
            if n == 0 {
                return Ok(Outcome::NoDevice("CUDA reports no device".into()));
            }
            println!("DISCOVERED {n}");
            if problems.is_empty() {
                Ok(Outcome::Ok)
            } else {
                Ok(Outcome::Disagree(problems.join("; ")))
            }
        }
    }
}

fn probe() -> ExitCode {
    // SAFETY: loading the system's CUDA and NVML libraries runs their
    // initialisers, which is what every CUDA program does.
    let libs = unsafe {
        (
            Library::new("libcuda.so.1"),
            Library::new("libnvidia-ml.so.1"),
        )
    };
    let (cuda, nvml) = match libs {
        (Ok(c), Ok(n)) => (c, n),
        (c, n) => {
            for (name, e) in [("libcuda.so.1", c.err()), ("libnvidia-ml.so.1", n.err())] {
                if let Some(e) = e {
                    eprintln!("nvml-probe: cannot load {name}: {e}");
                }
            }
            println!("DISCOVERED 0");
            return ExitCode::from(2);
        }
    };
    let p = Probe { cuda, nvml };
    match p.run() {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Disagree(m)) => {
            eprintln!("nvml-probe: CUDA and NVML disagree: {m}");
            ExitCode::from(1)
        }
        Ok(Outcome::NoDevice(m)) => {
            println!("DISCOVERED 0");
            eprintln!("nvml-probe: no device: {m}");
            ExitCode::from(3)
        }
        Err(m) => {
            println!("DISCOVERED 0");
            eprintln!("nvml-probe: {m}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--spawn-child") {
        let exe = match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => {
                eprintln!("nvml-probe: current_exe: {e}");
                return ExitCode::from(2);
            }
        };
        let out = match Command::new(&exe).env_clear().output() {
            Ok(o) => o,
            Err(e) => {
                eprintln!("nvml-probe: spawning {}: {e}", exe.display());
                return ExitCode::from(2);
            }
        };
        print!("{}", String::from_utf8_lossy(&out.stdout));
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        let code = out.status.code().unwrap_or(128);
        println!("CHILD (empty environment) exit={code}");
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    probe()
}
