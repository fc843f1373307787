//! Test harness: a `Device` over two memfd-backed RAM regions with a hole
//! between them, a counting interrupt sink, and a driver-side view of one
//! queue (rings in guest memory, registers through `region_write`). Clients
//! are served by worker threads ([`Harness::new`]) or by worker processes,
//! the `vgpu-host` binary re-executed ([`Harness::with_workers`]).

#![allow(dead_code)]

pub mod commands;
pub mod ptx;

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uapi::regs::{self, queue as qreg};
use uapi::ring::{control_offsets, CompletionEntry, SubmissionEntry};
use vgpu_host::config::{Cli, Config};
use vgpu_host::device::{Device, DeviceOptions};
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::executor::ExecutorSpec;
use vgpu_host::guest_memory::{memfd, GuestMemory};
use vgpu_host::irq::InterruptSink;
use vgpu_host::regs::Identification;
use vgpu_host::worker::{Sessions, WorkerLauncher};

/// First RAM region: `[RAM_A, RAM_A + RAM_SIZE)`.
pub const RAM_A: u64 = 0x10_0000;
/// Second RAM region, after a hole.
pub const RAM_B: u64 = 0x30_0000;
/// Size of each region.
pub const RAM_SIZE: u64 = 0x10_0000;
/// Start of the hole between them.
pub const HOLE: u64 = RAM_A + RAM_SIZE;
/// BAR0 region index.
pub const BAR0: u32 = 0;

/// Counts raises per vector: those of worker threads directly, those of
/// worker processes through one eventfd per vector.
pub struct CountingSink {
    counts: [AtomicU64; 4],
    eventfds: Vec<File>,
}

impl Default for CountingSink {
    fn default() -> Self {
        let eventfds = (0..4)
            .map(|_| {
                // SAFETY: plain system call; the result is checked.
                let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
                assert!(fd >= 0, "eventfd failed");
                // SAFETY: a fresh descriptor nothing else owns.
                unsafe { File::from_raw_fd(fd) }
            })
            .collect();
        Self {
            counts: Default::default(),
            eventfds,
        }
    }
}

impl CountingSink {
    pub fn count(&self, vector: u32) -> u64 {
        let Some(c) = self.counts.get(vector as usize) else {
            return 0;
        };
        let mut buf = [0u8; 8];
        if let Some(mut fd) = self.eventfds.get(vector as usize) {
            if let Ok(8) = fd.read(&mut buf) {
                c.fetch_add(u64::from_ne_bytes(buf), Ordering::SeqCst);
            }
        }
        c.load(Ordering::SeqCst)
    }
}

impl InterruptSink for CountingSink {
    fn raise(&self, vector: u32) {
        if let Some(c) = self.counts.get(vector as usize) {
            c.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn eventfd(&self, vector: u32) -> Option<File> {
        self.eventfds.get(vector as usize)?.try_clone().ok()
    }
}

pub struct Harness {
    pub device: Arc<Device>,
    pub irqs: Arc<CountingSink>,
    pub config: Config,
}

fn ok<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with(&[
            "--socket",
            "unused",
            "--name",
            "Harness GPU",
            "--multiprocessors",
            "7",
        ])
    }

    pub fn with(args: &[&str]) -> Self {
        Self::build(args, None)
    }

    /// Like [`Self::new`], each client served by a worker process.
    pub fn with_workers() -> Self {
        Self::with_workers_grace(vgpu_host::worker::DEFAULT_GRACE)
    }

    /// Like [`Self::with_workers`], a stopped worker killed only after
    /// `grace`.
    pub fn with_workers_grace(grace: Duration) -> Self {
        Self::build(
            &[
                "--socket",
                "unused",
                "--name",
                "Harness GPU",
                "--multiprocessors",
                "7",
            ],
            Some(grace),
        )
    }

    fn build(args: &[&str], processes: Option<Duration>) -> Self {
        let mut argv = vec!["vgpu-host"];
        argv.extend_from_slice(args);
        let cli = ok(<Cli as clap::Parser>::try_parse_from(argv), "cli");
        let config = ok(Config::load(&cli), "config");
        let irqs = Arc::new(CountingSink::default());
        let options = DeviceOptions {
            ident: config.ident,
            quotas: config.quotas,
            ..DeviceOptions::default()
        };
        let sessions = if let Some(grace) = processes {
            let mut launcher = worker_launcher(&config);
            launcher.grace = grace;
            Sessions::Processes(Arc::new(launcher))
        } else {
            Sessions::Threads(Arc::new(SimExecutor::new(config.sim.device_info())))
        };
        let device = Arc::new(Device::with_sessions(options, sessions, irqs.clone()));
        let harness = Self {
            device,
            irqs,
            config,
        };
        harness.map_ram();
        // As a driver does at probe: memory decoding and bus mastering on.
        harness.set_command(0x0006);
        harness
    }

    /// Writes the PCI Command register.
    pub fn set_command(&self, value: u16) {
        self.device.region_write(
            vfio_bindings::bindings::vfio::VFIO_PCI_CONFIG_REGION_INDEX,
            0x04,
            &value.to_le_bytes(),
        );
    }

    pub fn ident(&self) -> Identification {
        self.config.ident
    }

    fn map_ram(&self) {
        // One memfd, two windows of it, like QEMU's RAM below and above a hole.
        let file = ok(memfd("guest-ram", 2 * RAM_SIZE), "memfd");
        let second = ok(file.try_clone(), "dup");
        ok(self.device.dma_map(RAM_A, RAM_SIZE, file, 0), "map A");
        ok(
            self.device.dma_map(RAM_B, RAM_SIZE, second, RAM_SIZE),
            "map B",
        );
    }

    pub fn mem(&self) -> GuestMemory {
        self.device.guest_memory()
    }

    pub fn read32(&self, offset: u32) -> u32 {
        let mut data = [0u8; 4];
        self.device.region_read(BAR0, u64::from(offset), &mut data);
        u32::from_le_bytes(data)
    }

    pub fn write32(&self, offset: u32, value: u32) {
        self.device
            .region_write(BAR0, u64::from(offset), &value.to_le_bytes());
    }

    pub fn write64(&self, lo: u32, hi: u32, value: u64) {
        self.write32(lo, value as u32);
        self.write32(hi, (value >> 32) as u32);
    }

    pub fn write_bytes(&self, gpa: u64, data: &[u8]) {
        ok(self.mem().write(gpa, data), "guest write");
    }

    pub fn read_bytes(&self, gpa: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        ok(self.mem().read(gpa, &mut buf), "guest read");
        buf
    }
}

/// Worker processes of the `vgpu-host` binary on the configured simulator.
pub fn worker_launcher(config: &Config) -> WorkerLauncher {
    WorkerLauncher::new(
        PathBuf::from(env!("CARGO_BIN_EXE_vgpu-host")),
        ExecutorSpec::Sim(config.sim.device_info()),
    )
}

/// Whether process `pid` exists (a zombie counts: it was not reaped).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls `f` until it returns `Some` or five seconds pass.
pub fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Driver-side view of one queue.
pub struct TestQueue {
    pub index: u32,
    pub sq: u64,
    pub cq: u64,
    pub ctrl: u64,
    pub depth: u32,
    /// Scratch area for buffers, 0x4000 bytes.
    pub data: u64,
    pub tail: u32,
    pub cq_head: u32,
}

impl TestQueue {
    /// Layout for queue `index` inside RAM A; not yet programmed.
    pub fn layout(index: u32, depth: u32) -> Self {
        let base = RAM_A + u64::from(index) * 0x8000;
        Self {
            index,
            sq: base,
            cq: base + 0x2000,
            ctrl: base + 0x3000,
            depth,
            data: base + 0x4000,
            tail: 0,
            cq_head: 0,
        }
    }

    pub fn reg(&self, r: u32) -> u32 {
        regs::queue_reg(self.index, r)
    }

    /// Programs the registers (vector 0) and enables the queue.
    pub fn program(&self, h: &Harness, vector: u32) {
        h.write64(
            self.reg(qreg::SQ_BASE_LO),
            self.reg(qreg::SQ_BASE_HI),
            self.sq,
        );
        h.write64(
            self.reg(qreg::CQ_BASE_LO),
            self.reg(qreg::CQ_BASE_HI),
            self.cq,
        );
        h.write64(
            self.reg(qreg::CTRL_BASE_LO),
            self.reg(qreg::CTRL_BASE_HI),
            self.ctrl,
        );
        h.write32(self.reg(qreg::DEPTH), self.depth);
        h.write32(self.reg(qreg::VECTOR), vector);
        h.write32(self.reg(qreg::ENABLE), qreg::ENABLE_ON);
    }

    /// Layout, program and enable; asserts the queue is ENABLED.
    pub fn enabled(h: &Harness, index: u32, depth: u32) -> Self {
        let q = Self::layout(index, depth);
        q.program(h, 0);
        assert_eq!(
            q.status(h),
            qreg::status::ENABLED,
            "queue {index} not enabled"
        );
        q
    }

    pub fn status(&self, h: &Harness) -> u32 {
        h.read32(self.reg(qreg::STATUS))
    }

    /// Writes `entry` into the next submission slot (no doorbell).
    pub fn push(&mut self, h: &Harness, entry: &SubmissionEntry) {
        let slot = self.sq + u64::from(self.tail % self.depth) * 64;
        ok(h.mem().write_obj(slot, entry), "write SQE");
        self.tail = self.tail.wrapping_add(1);
    }

    pub fn ring(&self, h: &Harness) {
        h.write32(self.reg(qreg::DOORBELL), self.tail);
    }

    /// Pushes, rings and waits for one completion.
    pub fn run(&mut self, h: &Harness, entry: &SubmissionEntry) -> CompletionEntry {
        self.push(h, entry);
        self.ring(h);
        match self.next_completion(h) {
            Some(c) => c,
            None => panic!("no completion for tag {}", entry.tag),
        }
    }

    /// Device's cq_tail.
    pub fn cq_tail(&self, h: &Harness) -> u32 {
        ok(
            h.mem()
                .load_u32(self.ctrl + control_offsets::CQ_TAIL as u64),
            "cq_tail",
        )
    }

    /// Device's sq_head.
    pub fn sq_head(&self, h: &Harness) -> u32 {
        ok(
            h.mem()
                .load_u32(self.ctrl + control_offsets::SQ_HEAD as u64),
            "sq_head",
        )
    }

    /// Waits for the next completion and consumes it.
    pub fn next_completion(&mut self, h: &Harness) -> Option<CompletionEntry> {
        wait_for(|| (self.cq_tail(h) != self.cq_head).then_some(()))?;
        let slot = self.cq + u64::from(self.cq_head % self.depth) * 32;
        let entry: CompletionEntry = ok(h.mem().read_obj(slot), "read CQE");
        self.cq_head = self.cq_head.wrapping_add(1);
        ok(
            h.mem()
                .store_u32(self.ctrl + control_offsets::CQ_HEAD as u64, self.cq_head),
            "cq_head",
        );
        Some(entry)
    }
}
