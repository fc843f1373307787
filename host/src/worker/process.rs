//! The device process's side of a worker process: start it, hand it its
//! descriptors, answer its registry queries, notice when it dies, stop it.

use super::proto::{self, tag, Decoder, Encoder};
use super::{Setup, WorkerLauncher};
use crate::executor::registry::ClientGuard;
use crate::guest_memory::RamRegion;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use uapi::wire::Wire;

/// Descriptor numbers the worker finds its sockets at.
pub const CONTROL_FD: RawFd = 3;
/// The query socket's descriptor in the worker.
pub const QUERY_FD: RawFd = 4;

/// Called once when a worker ends without being asked to.
pub type OnDeath = Box<dyn FnOnce(ExitStatus) + Send>;

#[derive(Debug, Default)]
struct Exit {
    done: Mutex<bool>,
    wake: Condvar,
}

impl Exit {
    fn done(&self) -> bool {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the process has ended or `deadline` passes; whether it
    /// has ended.
    fn wait(&self, deadline: Instant) -> bool {
        let done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        let left = deadline.saturating_duration_since(Instant::now());
        let (done, _) = self
            .wake
            .wait_timeout_while(done, left, |done| !*done)
            .unwrap_or_else(PoisonError::into_inner);
        *done
    }
}

/// The worker's answers to guest RAM updates, as far as they were read.
/// Its lock serialises the readers of the control socket.
#[derive(Debug, Default)]
struct Answers {
    /// The highest update answered (the worker answers in order).
    highest: u64,
    /// Updates answered "still in use" that their own waiter did not read.
    late: std::collections::BTreeSet<u64>,
}

/// Most "still in use" answers kept for waiters that have not read theirs.
const LATE_ANSWERS_KEPT: usize = 64;

/// A running worker process.
#[derive(Debug)]
pub struct ProcessWorker {
    pid: u32,
    pidfd: OwnedFd,
    control: Arc<UnixDatagram>,
    stopping: Arc<AtomicBool>,
    exit: Arc<Exit>,
    supervisor: Option<JoinHandle<()>>,
    grace: Duration,
    /// The last guest RAM update that asked for an answer.
    memory_seq: AtomicU64,
    /// The answers to those updates.
    answers: Arc<Mutex<Answers>>,
}

impl ProcessWorker {
    /// Starts a worker for `setup` with the descriptors `fds` (as the
    /// worker expects them for its role), then sends `follow` (guest RAM,
    /// interrupt) before the worker serves anything. `guard` is the client's
    /// place in the registry: its queries are answered from that registry
    /// and it is removed when the worker is gone.
    pub fn spawn(
        launcher: &WorkerLauncher,
        setup: &Setup,
        fds: &[RawFd],
        follow: &[(Vec<u8>, Vec<RawFd>)],
        guard: ClientGuard,
        on_death: OnDeath,
    ) -> io::Result<Self> {
        let (control, control_child) = proto::seqpacket_pair()?;
        let (query, query_child) = proto::seqpacket_pair()?;
        let mut command = Command::new(&launcher.exe);
        command
            .arg("worker")
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Keep NVIDIA's driver from writing GPU core dumps for guest faults.
            .env("CUDA_ENABLE_COREDUMP_ON_EXCEPTION", "0")
            .env("CUDA_ENABLE_CPU_COREDUMP_ON_EXCEPTION", "0")
            .env("CUDA_ENABLE_USER_TRIGGERED_COREDUMP", "0");
        crate::fault::hand_to(&mut command);
        let (control_raw, query_raw) = (control_child.as_raw_fd(), query_child.as_raw_fd());
        // SAFETY: getpid is always safe.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the closure runs between fork and exec and only makes
        // async-signal-safe system calls on descriptors it was given.
        unsafe {
            command.pre_exec(move || prepare_child(control_raw, query_raw, parent));
        }
        let mut child = command.spawn()?;
        drop((control_child, query_child));
        let pid = child.id();
        let pidfd = match pidfd_open(pid) {
            Ok(fd) => fd,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        guard.set_worker_pid(pid);
        let control = Arc::new(control);
        let sent = proto::send(&control, &setup.encode(), fds).and_then(|()| {
            follow
                .iter()
                .try_for_each(|(bytes, fds)| proto::send(&control, bytes, fds))
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let exit = Arc::new(Exit::default());
        let supervisor = {
            let (stopping, exit, control) = (stopping.clone(), exit.clone(), control.clone());
            let index = setup.index;
            std::thread::Builder::new()
                .name(format!("vgpu-worker-{index}"))
                .spawn(move || {
                    serve_queries(&query, &guard);
                    let status = child.wait();
                    tracing::debug!(index, pid, ?status, "worker process ended");
                    *exit.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
                    exit.wake.notify_all();
                    drop(guard);
                    drop(control);
                    if !stopping.load(Ordering::Acquire) {
                        if let Ok(status) = status {
                            on_death(status);
                        }
                    }
                })?
        };
        let worker = Self {
            pid,
            pidfd,
            control,
            stopping,
            exit,
            supervisor: Some(supervisor),
            grace: launcher.grace,
            memory_seq: AtomicU64::new(0),
            answers: Arc::default(),
        };
        if let Err(error) = sent {
            tracing::error!(pid, %error, "cannot hand the worker its setup");
            let mut worker = worker;
            worker.stop();
            return Err(error);
        }
        tracing::debug!(index = setup.index, pid, "worker process started");
        Ok(worker)
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Hands the worker the current guest RAM mappings. With `fence`
    /// (mappings were removed), the worker answers once its commands are
    /// done with them: returns the fence to wait on, which needs neither
    /// this handle nor the device lock.
    pub fn set_memory(&self, regions: &[RamRegion], fence: bool) -> Option<MemoryFence> {
        let seq = if fence {
            self.memory_seq.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            0
        };
        let (bytes, fds) = memory_message(regions, seq);
        if let Err(error) = proto::send(&self.control, &bytes, &fds) {
            tracing::warn!(pid = self.pid, %error, "cannot update the worker's guest RAM");
            return None;
        }
        fence.then(|| MemoryFence {
            pid: self.pid,
            seq,
            control: self.control.clone(),
            exit: self.exit.clone(),
            answers: self.answers.clone(),
        })
    }

    /// Hands the worker the eventfd of its vector (none: interrupts dropped).
    pub fn set_interrupt(&self, fd: Option<&File>) {
        let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
        if let Err(error) = proto::send(&self.control, &Encoder::new(tag::IRQ).0, &fds) {
            tracing::warn!(pid = self.pid, %error, "cannot update the worker's interrupt");
        }
    }

    /// Whether the process has ended.
    pub fn has_exited(&self) -> bool {
        self.exit.done()
    }

    /// Asks the worker to stop (`page` and `doorbell` were already told by
    /// the caller for a queue), gives it the grace period, kills it if it is
    /// still there, and waits until it is gone. It no longer touches guest
    /// RAM when this returns.
    pub fn stop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = proto::send(&self.control, &Encoder::new(tag::STOP).0, &[]);
        if !self.exit.wait(Instant::now() + self.grace) {
            tracing::info!(pid = self.pid, "worker did not stop in time; killing it");
            self.kill();
        }
        if let Some(supervisor) = self.supervisor.take() {
            if supervisor.join().is_err() {
                tracing::error!(pid = self.pid, "worker supervisor panicked");
            }
        }
    }

    /// SIGKILL through the pidfd, so that a reused pid is never hit.
    fn kill(&self) {
        // SAFETY: a signal sent through a pidfd we own; no memory is passed.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc != 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(pid = self.pid, %error, "cannot kill the worker");
            }
        }
    }

    /// Lets the worker run on its own (a direct-socket client, which ends
    /// with its connection); the supervisor still reaps it.
    pub fn detach(mut self) {
        // Without its join handle, dropping `self` stops nothing; the
        // supervisor keeps the control socket open until the worker ends.
        self.supervisor.take();
    }
}

impl Drop for ProcessWorker {
    fn drop(&mut self) {
        if self.supervisor.is_some() {
            self.stop();
        }
    }
}

/// A worker process's coming answer to a guest RAM update that removed
/// mappings ([`ProcessWorker::set_memory`]).
#[derive(Debug)]
#[must_use = "wait until the worker's commands are done with the removed RAM"]
pub struct MemoryFence {
    pid: u32,
    seq: u64,
    control: Arc<UnixDatagram>,
    exit: Arc<Exit>,
    answers: Arc<Mutex<Answers>>,
}

impl MemoryFence {
    /// The worker process's id (for logs).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits, until `deadline`, for the worker's answer (older answers, of
    /// updates whose waiters gave up, are skipped); whether it came and
    /// said its commands were done, or the worker is gone.
    pub fn wait(self, deadline: Instant) -> bool {
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if answers.highest >= self.seq {
                // Another waiter read it.
                return !answers.late.remove(&self.seq);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.exit.done() {
                return self.exit.done();
            }
            // The lock held makes this the only reader of the socket.
            if self.control.set_read_timeout(Some(left)).is_err() {
                return false;
            }
            let (bytes, _) = match proto::recv(&self.control) {
                Ok(Some(message)) => message,
                // The worker closed its end: it is ending, its RAM with it.
                Ok(None) => return self.exit.wait(deadline),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(_) => return self.exit.done(),
            };
            let mut d = Decoder::new(&bytes);
            let (Ok(tag::MEMORY_DONE), Ok(got), Ok(done)) = (d.u32(), d.u64(), d.u32()) else {
                continue;
            };
            if got == self.seq {
                answers.highest = got;
                return done == 1;
            }
            answers.highest = answers.highest.max(got);
            if done != 1 {
                answers.late.insert(got);
                while answers.late.len() > LATE_ANSWERS_KEPT {
                    answers.late.pop_first();
                }
            }
        }
    }
}

/// Answers the worker's registry queries until its socket closes.
fn serve_queries(query: &UnixDatagram, client: &ClientGuard) {
    let registry = client.registry();
    loop {
        let message = match proto::recv(query) {
            Ok(Some((message, _))) => message,
            Ok(None) => return,
            Err(error) => {
                tracing::debug!(%error, "worker query socket failed");
                return;
            }
        };
        let mut d = Decoder::new(&message);
        let reply = match d.u32() {
            Ok(tag::USAGE) => match d.u64() {
                Ok(total) => registry.usage(total).as_bytes().to_vec(),
                Err(_) => Vec::new(),
            },
            Ok(tag::LIST) => registry
                .list()
                .iter()
                .flat_map(|c| c.as_bytes().to_vec())
                .take(proto::MAX_MESSAGE)
                .collect(),
            Ok(tag::LIMITS) => {
                let mut e = Encoder::default();
                registry.quotas().encode(&mut e);
                e.0
            }
            Ok(tag::CLAIM) => match (d.u64(), d.u32()) {
                (Ok(total), Ok(force)) => {
                    let claim = registry.claim_memory(client.id(), total, force != 0);
                    let mut e = Encoder::new(u32::from(claim.granted));
                    e.u64(claim.vm_used);
                    e.0
                }
                _ => Vec::new(),
            },
            _ => {
                tracing::warn!("unknown query from a worker; closing its socket");
                return;
            }
        };
        // An empty answer would read as end of stream; a LIST always has
        // the asking client, a USAGE is never empty.
        if proto::send(query, &reply, &[]).is_err() {
            return;
        }
    }
}

/// The MEMORY message for `regions`.
pub fn memory_message(regions: &[RamRegion], seq: u64) -> (Vec<u8>, Vec<RawFd>) {
    let regions = &regions[..regions.len().min(proto::MAX_FDS)];
    let mut e = Encoder::new(tag::MEMORY);
    e.u64(seq).u32(regions.len() as u32);
    for r in regions {
        e.u64(r.gpa).u64(r.len).u64(r.file_offset);
    }
    (e.0, regions.iter().map(|r| r.file.as_raw_fd()).collect())
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// In the child, between fork and exec: the two sockets at 3 and 4, every
/// other descriptor above 2 closed at exec, killed with the device process.
fn prepare_child(control: RawFd, query: RawFd, parent: libc::pid_t) -> io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    };
    // SAFETY: async-signal-safe calls on descriptors of this process.
    unsafe {
        // Move both out of the way first: either may already sit at 3 or 4.
        let control_high = check(libc::fcntl(control, libc::F_DUPFD_CLOEXEC, 10))?;
        let query_high = check(libc::fcntl(query, libc::F_DUPFD_CLOEXEC, 10))?;
        check(libc::dup2(control_high, CONTROL_FD))?;
        check(libc::dup2(query_high, QUERY_FD))?;
        // Whatever else the device process holds (QEMU's memfds, other
        // clients' sockets) must not reach the worker.
        // On kernels without close_range the worker closes them at start.
        let _ = libc::syscall(
            libc::SYS_close_range,
            (QUERY_FD + 1) as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    Ok(())
}
