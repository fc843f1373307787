//! Harness for the nvcc fixture tests: runs a kernel of a checked-in PTX
//! file (`host/tests/ptx/nvcc13/*.ptx`, made by `build.sh` there) on the
//! simulator with given buffers and arguments, and gives the buffers and
//! module variables back.
//!
//! With `VGPU_PTX_CASES=<dir>` set, every launch is also written to
//! `<dir>/<n>-<kernel>.case` (the launch, for `gpu_runner.c`) and
//! `<n>-<kernel>.sim` (what the simulator produced), so the same launches
//! can be replayed on a GPU and compared byte for byte.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use vgpu_host::ptx::{launch, DeviceMemory, FlatMemory, LaunchConfig, LaunchError, Module};

/// A kernel argument.
#[derive(Clone, Debug)]
pub enum Arg {
    /// The device address of buffer `n` of the launch.
    Buf(usize),
    /// Raw bytes (scalars and structs by value).
    Bytes(Vec<u8>),
}

pub fn u8a(v: u8) -> Arg {
    Arg::Bytes(vec![v])
}
pub fn u16a(v: u16) -> Arg {
    Arg::Bytes(v.to_le_bytes().to_vec())
}
pub fn i32a(v: i32) -> Arg {
    Arg::Bytes(v.to_le_bytes().to_vec())
}
pub fn u32a(v: u32) -> Arg {
    Arg::Bytes(v.to_le_bytes().to_vec())
}
pub fn u64a(v: u64) -> Arg {
    Arg::Bytes(v.to_le_bytes().to_vec())
}
pub fn f32a(v: f32) -> Arg {
    Arg::Bytes(v.to_le_bytes().to_vec())
}
pub fn f64a(v: f64) -> Arg {
    Arg::Bytes(v.to_le_bytes().to_vec())
}

/// One launch of a fixture kernel.
pub struct Launch<'a> {
    /// Fixture file name (`warp.ptx`).
    pub ptx: &'a str,
    pub kernel: &'a str,
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared: u32,
    /// Initial contents of the buffers the arguments refer to.
    pub bufs: Vec<Vec<u8>>,
    pub args: Vec<Arg>,
    /// Module variables to fill before the launch (`__constant__` data).
    pub globals: Vec<(&'a str, Vec<u8>)>,
}

impl<'a> Launch<'a> {
    pub fn new(ptx: &'a str, kernel: &'a str, grid: u32, block: u32) -> Self {
        Launch {
            ptx,
            kernel,
            grid: [grid, 1, 1],
            block: [block, 1, 1],
            shared: 0,
            bufs: Vec::new(),
            args: Vec::new(),
            globals: Vec::new(),
        }
    }

    /// Adds a buffer and passes its address as the next argument.
    pub fn buf(mut self, bytes: Vec<u8>) -> Self {
        self.args.push(Arg::Buf(self.bufs.len()));
        self.bufs.push(bytes);
        self
    }

    /// Adds a zeroed buffer of `n` bytes.
    pub fn out(self, n: usize) -> Self {
        self.buf(vec![0; n])
    }

    pub fn arg(mut self, a: Arg) -> Self {
        self.args.push(a);
        self
    }

    pub fn run(&self) -> Outcome {
        match self.try_run() {
            Ok(o) => o,
            Err(e) => panic!("{} in {}: {e}", self.kernel, self.ptx),
        }
    }

    /// Runs the launch on the simulator.
    pub fn try_run(&self) -> Result<Outcome, LaunchError> {
        let module = fixture(self.ptx);
        let k = module
            .kernel(self.kernel)
            .unwrap_or_else(|| panic!("no kernel {} in {}", self.kernel, self.ptx));
        assert_eq!(
            k.params.len(),
            self.args.len(),
            "arguments of {}",
            self.kernel
        );
        let mut mem = FlatMemory::new(0x7000_0000_0000);
        let mut gaddr = Vec::new();
        for g in module.globals() {
            let init = self
                .globals
                .iter()
                .find(|(n, _)| *n == g.name)
                .map_or_else(|| g.image(), |(_, b)| b.clone());
            assert_eq!(init.len() as u64, g.size, "size of {}", g.name);
            gaddr.push((g.name.clone(), mem.alloc_bytes(&init), g.size));
        }
        let addrs: Vec<u64> = self.bufs.iter().map(|b| mem.alloc_bytes(b)).collect();
        let mut params = vec![0u8; k.param_size() as usize];
        let mut fixups = Vec::new();
        for (p, a) in k.params.iter().zip(&self.args) {
            let o = p.offset as usize;
            let bytes = match a {
                Arg::Buf(i) => {
                    fixups.push((p.offset, *i as u32));
                    addrs[*i].to_le_bytes().to_vec()
                }
                Arg::Bytes(b) => b.clone(),
            };
            assert_eq!(bytes.len(), p.size as usize, "size of {}", p.name);
            params[o..o + bytes.len()].copy_from_slice(&bytes);
        }
        let cfg = LaunchConfig {
            grid: self.grid,
            block: self.block,
            dynamic_shared_bytes: self.shared,
        };
        let resolve = |n: &str| gaddr.iter().find(|g| g.0 == n).map(|g| g.1);
        launch(k, &module, &params, &resolve, &cfg, &mut mem)?;
        let read = |mem: &mut FlatMemory, a: u64, n: usize| {
            let mut b = vec![0u8; n];
            mem.read(a, &mut b).expect("buffer readable");
            b
        };
        let bufs: Vec<Vec<u8>> = addrs
            .iter()
            .zip(&self.bufs)
            .map(|(&a, b)| read(&mut mem, a, b.len()))
            .collect();
        let globals = gaddr
            .iter()
            .map(|(n, a, s)| (n.clone(), read(&mut mem, *a, *s as usize)))
            .collect();
        let out = Outcome {
            bufs,
            globals,
            output: mem.output().to_string(),
        };
        if let Some(dir) = std::env::var_os("VGPU_PTX_CASES") {
            let names: Vec<&str> = gaddr.iter().map(|g| g.0.as_str()).collect();
            self.record(PathBuf::from(dir), &params, &fixups, &names, &out);
        }
        Ok(out)
    }

    /// Writes the launch and the simulator's results for `gpu_runner.c`.
    fn record(
        &self,
        dir: PathBuf,
        params: &[u8],
        fixups: &[(u32, u32)],
        module_vars: &[&str],
        out: &Outcome,
    ) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{:04}-{}", std::process::id(), n, self.kernel);
        let mut c = Vec::new();
        let put = |c: &mut Vec<u8>, b: &[u8]| {
            c.extend_from_slice(&(b.len() as u64).to_le_bytes());
            c.extend_from_slice(b);
        };
        c.extend_from_slice(b"VGPUCAS1");
        put(&mut c, self.ptx.as_bytes());
        put(&mut c, self.kernel.as_bytes());
        for v in self.grid.iter().chain(&self.block).chain([&self.shared]) {
            c.extend_from_slice(&v.to_le_bytes());
        }
        put(&mut c, params);
        c.extend_from_slice(&(fixups.len() as u64).to_le_bytes());
        for (off, i) in fixups {
            c.extend_from_slice(&off.to_le_bytes());
            c.extend_from_slice(&i.to_le_bytes());
        }
        c.extend_from_slice(&(self.bufs.len() as u64).to_le_bytes());
        for b in &self.bufs {
            put(&mut c, b);
        }
        c.extend_from_slice(&(self.globals.len() as u64).to_le_bytes());
        for (name, b) in &self.globals {
            put(&mut c, name.as_bytes());
            put(&mut c, b);
        }
        c.extend_from_slice(&(module_vars.len() as u64).to_le_bytes());
        for name in module_vars {
            put(&mut c, name.as_bytes());
        }
        let mut s = Vec::new();
        out.write(&mut s);
        std::fs::create_dir_all(&dir).expect("case directory");
        std::fs::write(dir.join(format!("{tag}.case")), c).expect("case file");
        std::fs::write(dir.join(format!("{tag}.sim")), s).expect("sim file");
    }
}

/// Buffers and module variables after a launch.
pub struct Outcome {
    pub bufs: Vec<Vec<u8>>,
    pub globals: Vec<(String, Vec<u8>)>,
    /// What the kernel printed.
    pub output: String,
}

impl Outcome {
    /// The format `gpu_runner.c` writes: each buffer, then each module
    /// variable (name and bytes), length-prefixed.
    fn write(&self, s: &mut Vec<u8>) {
        let put = |s: &mut Vec<u8>, b: &[u8]| {
            s.extend_from_slice(&(b.len() as u64).to_le_bytes());
            s.extend_from_slice(b);
        };
        for b in &self.bufs {
            put(s, b);
        }
        for (n, b) in &self.globals {
            put(s, n.as_bytes());
            put(s, b);
        }
    }

    pub fn u32s(&self, i: usize) -> Vec<u32> {
        self.bufs[i]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    }

    pub fn i32s(&self, i: usize) -> Vec<i32> {
        self.u32s(i).into_iter().map(|v| v as i32).collect()
    }

    pub fn u64s(&self, i: usize) -> Vec<u64> {
        self.bufs[i]
            .chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect()
    }

    pub fn global(&self, name: &str) -> &[u8] {
        &self
            .globals
            .iter()
            .find(|g| g.0 == name)
            .unwrap_or_else(|| panic!("no module variable {name}"))
            .1
    }
}

/// Parses fixture `name`.
pub fn fixture(name: &str) -> Module {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ptx/nvcc13")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    Module::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn bytes_u32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
pub fn bytes_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
pub fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
pub fn bytes_f64(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
pub fn bytes_i64(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Deterministic pseudo-random numbers (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-range, range).
    pub fn f32(&mut self, range: f32) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * range
    }

    pub fn i32(&mut self) -> i32 {
        self.next() as i32
    }
}
