//! Where a program's time goes in the guest library: for each export, how
//! often it was called and how long it ran; for the transport, how many
//! submits and waits, and which commands were waited for. The way to tell
//! our share of a slow call (the library, its system calls, the device's
//! round trips) from the caller's own time, which under TCG is emulation.
//!
//! Off unless `VGPU_LOG` enables the target `vgpu::profile` at `info`
//! (e.g. `VGPU_LOG=vgpu::profile=info`); then [`report`] writes a table to
//! stderr when the library tears down (process exit or unload). Off, it
//! costs one relaxed load per export.

use std::{
    collections::HashMap,
    io::Write,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use crate::{Completion, DataPath, DataRequest, DevError, HostBlock, Request, Transport};

/// The target that switches profiling on.
pub const TARGET: &str = "vgpu::profile";

static ON: AtomicBool = AtomicBool::new(false);
static DECIDED: std::sync::Once = std::sync::Once::new();
static REPORTED: AtomicBool = AtomicBool::new(false);

/// Count and time of one thing measured.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// How often.
    pub count: u64,
    /// How long in all.
    pub time: Duration,
}

impl Tally {
    fn add(&mut self, d: Duration) {
        self.count += 1;
        self.time += d;
    }
}

/// What has been measured so far.
#[derive(Debug, Default, Clone)]
pub struct Profile {
    /// Since the first measured call.
    pub since: Option<Instant>,
    /// By export name.
    pub exports: HashMap<&'static str, Tally>,
    /// `Transport::submit` and `submit_data` calls (system calls or ring
    /// writes), by the opcode of the batch's last command (the one that
    /// ends a batch of detached commands).
    pub submits: HashMap<u16, Tally>,
    /// Commands submitted detached (no response awaited).
    pub detached: u64,
    /// Waits for a response, by the opcode of the command waited for.
    pub waits: HashMap<u16, Tally>,
}

fn profile() -> &'static Mutex<Profile> {
    static P: OnceLock<Mutex<Profile>> = OnceLock::new();
    P.get_or_init(Mutex::default)
}

fn with_profile(f: impl FnOnce(&mut Profile)) {
    let mut p = profile().lock().unwrap_or_else(|e| e.into_inner());
    p.since.get_or_insert_with(Instant::now);
    f(&mut p);
}

/// Whether profiling is on (decided once, after logging is set up).
pub fn enabled() -> bool {
    DECIDED.call_once(|| {
        crate::logging::init();
        let on = tracing::enabled!(target: TARGET, tracing::Level::INFO);
        ON.store(on, Ordering::Relaxed);
    });
    ON.load(Ordering::Relaxed)
}

/// Turns profiling on regardless of `VGPU_LOG` (tests).
pub fn force_on() {
    DECIDED.call_once(|| {});
    ON.store(true, Ordering::Relaxed);
}

/// Times one export call; `None` when profiling is off.
pub fn start() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Ends the timing of export `name` begun by [`start`].
pub fn finish(name: &'static str, started: Option<Instant>) {
    if let Some(t) = started {
        let d = t.elapsed();
        with_profile(|p| p.exports.entry(name).or_default().add(d));
    }
}

/// A copy of what has been measured.
pub fn snapshot() -> Profile {
    profile().lock().unwrap_or_else(|e| e.into_inner()).clone()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The table [`report`] prints, heaviest first.
pub fn render(p: &Profile) -> String {
    let mut s = String::new();
    let wall = p.since.map(|t| t.elapsed()).unwrap_or_default();
    let ours: Duration = p.exports.values().map(|t| t.time).sum();
    s.push_str(&format!(
        "vgpu profile: {:.3} s since the first call, {:.3} s inside exports\n",
        wall.as_secs_f64(),
        ours.as_secs_f64()
    ));
    let mut exports: Vec<_> = p.exports.iter().collect();
    exports.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(b.0)));
    for (name, t) in exports {
        s.push_str(&format!(
            "vgpu profile: export {name} calls {} total {:.1} us mean {:.2} us\n",
            t.count,
            us(t.time),
            us(t.time) / t.count.max(1) as f64
        ));
    }
    let (count, time) = p
        .submits
        .values()
        .fold((0, Duration::ZERO), |(c, d), t| (c + t.count, d + t.time));
    s.push_str(&format!(
        "vgpu profile: submits {count} total {:.1} us, detached commands {}\n",
        us(time),
        p.detached
    ));
    by_opcode(&mut s, "submit ending", &p.submits);
    by_opcode(&mut s, "wait", &p.waits);
    s
}

/// One line per opcode of `tallies`, heaviest first, named from the uapi
/// command list.
fn by_opcode(s: &mut String, what: &str, tallies: &HashMap<u16, Tally>) {
    let mut rows: Vec<_> = tallies.iter().collect();
    rows.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(a.0.cmp(b.0)));
    for (op, t) in rows {
        let name = uapi::cuda::command(*op).map_or("?", |c| c.name);
        s.push_str(&format!(
            "vgpu profile: {what} {name} (0x{op:04x}) calls {} total {:.1} us mean {:.2} us\n",
            t.count,
            us(t.time),
            us(t.time) / t.count.max(1) as f64
        ));
    }
}

/// Writes the table to stderr, once per process, if profiling is on.
pub fn report() {
    if ON.load(Ordering::Relaxed) && !REPORTED.swap(true, Ordering::Relaxed) {
        let text = render(&snapshot());
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// A transport that measures the one it wraps: [`wrap`] puts it in place
/// when profiling is on.
pub struct Profiled {
    inner: Box<dyn Transport>,
    /// The opcode of each outstanding ticket.
    pending: HashMap<u64, u16>,
}

/// `t`, measured when profiling is on.
pub fn wrap(t: Box<dyn Transport>) -> Box<dyn Transport> {
    if enabled() {
        Box::new(Profiled {
            inner: t,
            pending: HashMap::new(),
        })
    } else {
        t
    }
}

impl Profiled {
    fn submitted(&mut self, t: Instant, reqs: impl Iterator<Item = (u16, bool)>, tickets: &[u64]) {
        let d = t.elapsed();
        let mut detached = 0;
        let mut last = u16::MAX;
        let mut waited = tickets.iter();
        for (opcode, is_detached) in reqs {
            last = opcode;
            if is_detached {
                detached += 1;
            } else if let Some(ticket) = waited.next() {
                self.pending.insert(*ticket, opcode);
            }
        }
        with_profile(|p| {
            p.submits.entry(last).or_default().add(d);
            p.detached += detached;
        });
    }
}

impl Transport for Profiled {
    fn describe(&mut self) -> Result<crate::TransportInfo, DevError> {
        self.inner.describe()
    }

    fn submit(&mut self, reqs: &[Request<'_>]) -> Result<Vec<u64>, DevError> {
        let t = Instant::now();
        let tickets = self.inner.submit(reqs)?;
        self.submitted(t, reqs.iter().map(|r| (r.opcode, r.detached)), &tickets);
        Ok(tickets)
    }

    fn wait(&mut self, ticket: u64, resp: &mut [u8]) -> Result<Completion, DevError> {
        let t = Instant::now();
        let r = self.inner.wait(ticket, resp);
        let d = t.elapsed();
        let opcode = self.pending.remove(&ticket).unwrap_or(u16::MAX);
        with_profile(|p| p.waits.entry(opcode).or_default().add(d));
        r
    }

    fn data_path(&mut self) -> Option<DataPath> {
        self.inner.data_path()
    }

    fn batching(&self) -> crate::Batching {
        self.inner.batching()
    }

    fn set_wait_mode(&mut self, mode: crate::WaitMode) {
        self.inner.set_wait_mode(mode)
    }

    fn host_alloc(&mut self, len: usize) -> Option<Result<HostBlock, DevError>> {
        self.inner.host_alloc(len)
    }

    fn host_free(&mut self, block: HostBlock) -> Result<(), DevError> {
        self.inner.host_free(block)
    }

    unsafe fn submit_data(&mut self, reqs: &[DataRequest<'_>]) -> Result<Vec<u64>, DevError> {
        let t = Instant::now();
        // SAFETY: the caller's promise, passed on unchanged.
        let tickets = unsafe { self.inner.submit_data(reqs) }?;
        self.submitted(t, reqs.iter().map(|r| (r.opcode, false)), &tickets);
        Ok(tickets)
    }

    fn pin_host(&mut self, addr: usize, len: usize) -> Result<bool, DevError> {
        self.inner.pin_host(addr, len)
    }

    fn unpin_host(&mut self, addr: usize, len: usize) -> Result<(), DevError> {
        self.inner.unpin_host(addr, len)
    }

    unsafe fn submit_data_detached(&mut self, reqs: &[DataRequest<'_>]) -> Result<(), DevError> {
        let t = Instant::now();
        // SAFETY: the caller's promise, passed on unchanged.
        unsafe { self.inner.submit_data_detached(reqs) }?;
        self.submitted(t, reqs.iter().map(|r| (r.opcode, true)), &[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every command at once; tickets count up from 1.
    struct Echo(u64);

    impl Transport for Echo {
        fn describe(&mut self) -> Result<crate::TransportInfo, DevError> {
            Err(DevError {
                op: "describe",
                errno: libc::ENODEV,
            })
        }

        fn submit(&mut self, reqs: &[Request<'_>]) -> Result<Vec<u64>, DevError> {
            let mut tickets = Vec::new();
            for _ in reqs.iter().filter(|r| !r.detached) {
                self.0 += 1;
                tickets.push(self.0);
            }
            Ok(tickets)
        }

        fn wait(&mut self, _: u64, _: &mut [u8]) -> Result<Completion, DevError> {
            Ok(Completion {
                status: 0,
                resp_len: 16,
            })
        }
    }

    fn req(opcode: u16, detached: bool) -> Request<'static> {
        Request {
            opcode,
            body: &[],
            resp_capacity: 16,
            detached,
        }
    }

    #[test]
    fn waits_are_told_apart_by_the_command_waited_for() {
        force_on();
        let mut t = wrap(Box::new(Echo(0)));
        let launch = uapi::cuda::op::LAUNCH;
        let sync = uapi::cuda::op::CTX_SYNCHRONIZE;
        let info = uapi::cuda::op::MEM_GET_INFO;
        let before = snapshot();
        // Two launches detached, then a synchronise; then two memory queries.
        let tickets = t
            .submit(&[req(launch, true), req(launch, true), req(sync, false)])
            .unwrap();
        assert_eq!(tickets.len(), 1);
        t.wait(tickets[0], &mut []).unwrap();
        let tickets = t.submit(&[req(info, false), req(info, false)]).unwrap();
        for k in tickets.iter().rev() {
            t.wait(*k, &mut []).unwrap();
        }
        finish("cuTestExport", start());
        let after = snapshot();
        let waits = |p: &Profile, op| p.waits.get(&op).map_or(0, |t| t.count);
        assert_eq!(waits(&after, sync) - waits(&before, sync), 1);
        assert_eq!(waits(&after, info) - waits(&before, info), 2);
        assert_eq!(waits(&after, launch), waits(&before, launch));
        let submits = |p: &Profile, op| p.submits.get(&op).map_or(0, |t| t.count);
        assert_eq!(submits(&after, sync) - submits(&before, sync), 1);
        assert_eq!(submits(&after, info) - submits(&before, info), 1);
        assert_eq!(submits(&after, launch), submits(&before, launch));
        assert_eq!(after.detached - before.detached, 2);
        assert_eq!(after.exports["cuTestExport"].count, 1);
        let table = render(&after);
        assert!(table.contains("wait MEM_GET_INFO (0x"), "{table}");
        assert!(
            table.contains("submit ending CTX_SYNCHRONIZE (0x"),
            "{table}"
        );
        assert!(table.contains("export cuTestExport calls 1 "), "{table}");
    }
}
