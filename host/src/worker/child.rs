//! The worker process (`vgpu-host worker`): serves one client with its own
//! executor, then exits. Started by [`super::process::ProcessWorker`] with
//! its control socket at descriptor 3 and its query socket at 4.

use super::process::{CONTROL_FD, QUERY_FD};
use super::proto::{self, tag, Decoder, Encoder};
use super::{Role, Setup};
use crate::cancel::CancelToken;
use crate::client_page::ClientPage;
use crate::guest_memory::{GuestRam, RamRegion};
use crate::irq::InterruptSink;
use crate::queue::worker::{self as queue_loop, QueueEnv};
use crate::session::{BusyClock, Directory, Session};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use uapi::status::Status;
use vmm_sys_util::eventfd::EventFd;

/// The worker's entry point.
pub fn main() -> ExitCode {
    if let Err(error) = harden() {
        tracing::error!(%error, "cannot drop privileges");
        return ExitCode::from(1);
    }
    // SAFETY: the device process placed our two sockets at these numbers;
    // nothing else in this process owns them.
    let (control, query) = unsafe {
        (
            UnixDatagram::from_raw_fd(CONTROL_FD),
            UnixDatagram::from_raw_fd(QUERY_FD),
        )
    };
    match serve(control, query) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "worker failed");
            ExitCode::from(1)
        }
    }
}

/// No core dumps (they would hold guest data), not ptrace-able by other
/// processes of the user, and no descriptor but the standard ones and our
/// two sockets.
fn harden() -> io::Result<()> {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls with valid arguments.
    unsafe {
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0
            || libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|&fd| fd > QUERY_FD) {
        // SAFETY: closes a descriptor nothing in this fresh process uses
        // (the directory's own one is already closed: EBADF is harmless).
        unsafe {
            libc::close(fd);
        }
    }
    Ok(())
}

fn set_memory_limit(bytes: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: plain system call with a valid argument.
    if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn expect(control: &UnixDatagram) -> io::Result<(Vec<u8>, Vec<File>)> {
    proto::recv(control)?.ok_or_else(|| invalid("device process closed the control socket"))
}

fn serve(control: UnixDatagram, query: UnixDatagram) -> io::Result<()> {
    let (bytes, mut fds) = expect(&control)?;
    let setup = Setup::decode(&bytes)?;
    if setup.memory_limit != 0 {
        set_memory_limit(setup.memory_limit)?;
    }
    if fds.len() != 2 {
        return Err(invalid("setup needs two descriptors"));
    }
    let second = fds.pop().ok_or_else(|| invalid("descriptor"))?;
    let page = Arc::new(ClientPage::from_file(
        fds.pop().ok_or_else(|| invalid("page"))?,
    )?);
    let open = || -> Result<Session, Status> {
        let executor = setup.spec.open().map_err(|error| {
            tracing::error!(%error, "cannot open the executor");
            Status::ExecutorError
        })?;
        let directory = Directory::Remote(proto::QueryChannel(query));
        let session = Session::open(executor.as_ref(), page.clone(), directory)?;
        if setup.command_timeout_ms != 0 {
            watch(
                session.busy_clock(),
                Duration::from_millis(setup.command_timeout_ms),
            );
        }
        Ok(session)
    };
    match setup.role {
        Role::Direct => {
            std::thread::Builder::new()
                .name("vgpu-control".into())
                .spawn(move || direct_control(&control))?;
            let stream = UnixStream::from(std::os::fd::OwnedFd::from(second));
            match open() {
                Ok(mut session) => crate::direct::serve(setup.index, stream, &mut session),
                Err(status) => {
                    tracing::warn!(client = setup.index, ?status, "cannot open a session")
                }
            }
            Ok(())
        }
        Role::Queue(layout) => {
            // SAFETY: the descriptor is the doorbell eventfd, received and owned by us.
            let doorbell = Arc::new(unsafe { EventFd::from_raw_fd(second.into_raw_fd()) });
            let ram = Arc::new(GuestRam::new());
            apply_memory(None, &ram, &page, expect(&control)?)?;
            let interrupts = Arc::new(VectorInterrupt::default());
            interrupts.apply(expect(&control)?)?;
            let cancel = CancelToken::new();
            let (stopped_tx, stopped) = mpsc::channel();
            {
                let (ram, irq, page, doorbell, cancel) = (
                    ram.clone(),
                    interrupts.clone(),
                    page.clone(),
                    doorbell.clone(),
                    cancel.clone(),
                );
                std::thread::Builder::new()
                    .name("vgpu-control".into())
                    .spawn(move || {
                        queue_control(&control, &ram, &irq, &page, || {
                            queue_loop::request_stop(&page, &doorbell, &cancel);
                            let _ = stopped_tx.send(());
                        })
                    })?;
            }
            let session = open();
            if let Err(status) = &session {
                tracing::error!(
                    queue = setup.index,
                    status = status.name(),
                    "cannot open client session"
                );
            }
            let env = QueueEnv {
                index: setup.index,
                layout,
                ram,
                max_transfer: setup.max_transfer,
                poll_max: Duration::from_micros(setup.queue_poll_max_us),
                page: page.clone(),
                doorbell,
                interrupts,
                cancel,
            };
            queue_loop::run(env, session);
            // A queue that stopped on a ring fault stays in ERROR, served by
            // nobody, until the device process stops it: exiting now would
            // read as a crash.
            if !page.stopping() {
                let _ = stopped.recv();
            }
            Ok(())
        }
    }
}

/// Ends this worker when one command has run longer than `limit`: a kernel
/// that never ends (or a wait on one) cannot be interrupted inside NVIDIA's
/// driver, but ending the process frees its context and stops its work on
/// the GPU. The device process then sees the worker gone (the client's queue
/// reads ERROR, a direct client's connection closes); other clients are
/// untouched.
fn watch(clock: BusyClock, limit: Duration) {
    let tick = (limit / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let spawned = std::thread::Builder::new()
        .name("vgpu-watchdog".into())
        .spawn(move || {
            // The command thread's scheduler figures when the current long
            // command was first seen running, for the report.
            let mut first: Option<(u64, SchedStat)> = None;
            loop {
                std::thread::sleep(tick);
                let Some((busy, token)) = clock.busy() else {
                    first = None;
                    continue;
                };
                if first.is_none_or(|(t, _)| t != token) {
                    first = SchedStat::of(clock.tid()).map(|s| (token, s));
                }
                if busy > limit {
                    report_timeout(&clock, busy, limit, first.map(|(_, s)| s));
                    // SAFETY: ends the process without running destructors,
                    // which the thread stuck in the driver may be using.
                    unsafe { libc::_exit(EXIT_COMMAND_TIMEOUT) }
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the command watchdog");
    }
}

/// A thread's scheduler counters (`/proc/self/task/TID/schedstat`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SchedStat {
    /// Time on a CPU.
    pub on_cpu: Duration,
    /// Time runnable, waiting for a CPU.
    pub waiting: Duration,
}

impl SchedStat {
    /// The counters of thread `tid` of this process.
    pub fn of(tid: i32) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
        let mut ns = text.split_whitespace().map(|w| w.parse::<u64>().ok());
        Some(Self {
            on_cpu: Duration::from_nanos(ns.next()??),
            waiting: Duration::from_nanos(ns.next()??),
        })
    }
}

/// Says what the command thread did while its command ran past the limit:
/// on a CPU (a loop), waiting for one (starved), or neither (blocked, in
/// `wchan`), so that a stall can be told from a slow kernel afterwards.
fn report_timeout(clock: &BusyClock, busy: Duration, limit: Duration, first: Option<SchedStat>) {
    let tid = clock.tid();
    let now = SchedStat::of(tid);
    let (on_cpu_ms, waiting_ms) = match (first, now) {
        (Some(a), Some(b)) => (
            b.on_cpu.saturating_sub(a.on_cpu).as_millis() as u64,
            b.waiting.saturating_sub(a.waiting).as_millis() as u64,
        ),
        _ => (u64::MAX, u64::MAX),
    };
    let state = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .ok()
        .and_then(|s| Some(s.get(s.rfind(')')? + 2..)?.chars().next()?.to_string()))
        .unwrap_or_default();
    let wchan = std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default();
    let opcode = clock.opcode();
    let command = uapi::cuda::COMMANDS
        .iter()
        .find(|c| c.opcode == opcode)
        .map_or("?", |c| c.name);
    tracing::error!(
        busy_ms = busy.as_millis() as u64,
        limit_ms = limit.as_millis() as u64,
        opcode,
        command,
        on_cpu_ms,
        waiting_for_cpu_ms = waiting_ms,
        state = %state,
        wchan = %wchan,
        "a command ran past the command timeout (a kernel that never ends?); \
         ending this client's worker (CPU figures: since the watchdog first saw it)"
    );
}

/// Exit status of a worker ended by its command watchdog.
pub const EXIT_COMMAND_TIMEOUT: i32 = 124;

/// A direct client's control socket: stop or the device's death ends the
/// process at once (the connection goes with it).
fn direct_control(control: &UnixDatagram) {
    loop {
        match proto::recv(control) {
            Ok(Some((bytes, _))) if Decoder::new(&bytes).u32().ok() != Some(tag::STOP) => continue,
            _ => break,
        }
    }
    // SAFETY: ends the process without running destructors, which another
    // thread may be using.
    unsafe { libc::_exit(0) }
}

/// A queue's control socket: guest RAM and interrupt updates, stop.
fn queue_control(
    control: &UnixDatagram,
    ram: &GuestRam,
    irq: &VectorInterrupt,
    page: &ClientPage,
    mut stop: impl FnMut(),
) {
    loop {
        let message = match proto::recv(control) {
            Ok(Some(message)) => message,
            Ok(None) | Err(_) => {
                // The device process is gone: nobody to serve.
                // SAFETY: as in `direct_control`.
                unsafe { libc::_exit(0) }
            }
        };
        let result = match Decoder::new(&message.0).u32() {
            Ok(tag::MEMORY) => apply_memory(Some(control), ram, page, message),
            Ok(tag::IRQ) => irq.apply(message),
            Ok(tag::STOP) => {
                stop();
                Ok(())
            }
            _ => Err(invalid("unknown control message")),
        };
        if let Err(error) = result {
            tracing::error!(%error, "bad control message");
        }
    }
}

/// Maps the new guest RAM; when the device asked (a nonzero sequence
/// number), answers once no command uses the RAM it removed. A stop ends
/// the wait at once (a STOP behind it is read): then the device hears
/// from this process's exit, not from an answer.
fn apply_memory(
    control: Option<&UnixDatagram>,
    ram: &GuestRam,
    page: &ClientPage,
    (bytes, files): (Vec<u8>, Vec<File>),
) -> io::Result<()> {
    let mut d = Decoder::new(&bytes);
    if d.u32()? != tag::MEMORY {
        return Err(invalid("expected guest RAM"));
    }
    let seq = d.u64()?;
    let count = d.u32()? as usize;
    if count != files.len() {
        return Err(invalid("one descriptor per region"));
    }
    let mut regions = Vec::with_capacity(count);
    for file in files {
        regions.push(RamRegion {
            gpa: d.u64()?,
            len: d.u64()?,
            file_offset: d.u64()?,
            file: Arc::new(file),
        });
    }
    let retired = ram.replace_all(regions).map_err(io::Error::other)?;
    if let (Some(control), true) = (control, seq != 0) {
        let deadline = Instant::now() + crate::device::UNMAP_FENCE;
        let done = retired.wait_until(deadline, || page.stopping());
        if !done && page.stopping() {
            tracing::debug!(seq, "stopping; guest RAM update left unanswered");
            return Ok(());
        }
        if !done {
            tracing::warn!("a command still uses guest RAM that was unmapped");
        }
        let mut e = Encoder::new(tag::MEMORY_DONE);
        e.u64(seq).u32(u32::from(done));
        proto::send(control, &e.0, &[])?;
    }
    Ok(())
}

/// The eventfd of the queue's vector.
#[derive(Debug, Default)]
struct VectorInterrupt {
    fd: Mutex<Option<File>>,
}

impl VectorInterrupt {
    fn apply(&self, (bytes, mut files): (Vec<u8>, Vec<File>)) -> io::Result<()> {
        if Decoder::new(&bytes).u32()? != tag::IRQ || files.len() > 1 {
            return Err(invalid("expected an interrupt"));
        }
        *self.fd.lock().unwrap_or_else(PoisonError::into_inner) = files.pop();
        Ok(())
    }
}

impl InterruptSink for VectorInterrupt {
    fn raise(&self, vector: u32) {
        let fd = self.fd.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut fd) = fd.as_ref() {
            if let Err(error) = fd.write_all(&1u64.to_ne_bytes()) {
                tracing::warn!(%error, vector, "cannot write interrupt eventfd");
            }
        }
    }
}
