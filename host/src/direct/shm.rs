//! Serving a direct client through its shared area (`uapi::shm`): commands
//! are taken from the ring in order, run, and completed in the arena; the
//! socket only tells us when the client is gone.
//!
//! The loop polls the ring for [`uapi::shm::SHM_SPIN`] after its last command before it
//! sleeps on the doorbell eventfd, so a client issuing calls back to back
//! never pays a wake-up; the client does the same on its side.

use super::area::{AttachError, SharedArea};
use super::run_request;
use crate::cancel::CancelToken;
use crate::session::Session;
use crate::worker::child::SchedStat;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;
use uapi::shm::{ShmSetup, SpinPolicy};
use uapi::status::Status;
use uapi::wire::Wire;

/// An attached client: its area and the two eventfds.
#[derive(Debug)]
pub struct Attached {
    area: SharedArea,
    /// Written by the client when we sleep.
    doorbell: File,
    /// Written by us when the client sleeps.
    wake: File,
}

/// Checks an attach frame (`body`, the descriptors it carried: memfd,
/// doorbell, wake-up) and maps the area.
pub fn attach(body: &[u8], files: Vec<File>) -> Result<Attached, AttachError> {
    let setup = (body.len() == core::mem::size_of::<ShmSetup>())
        .then(|| ShmSetup::read_from(body))
        .flatten()
        .ok_or(AttachError::Setup)?;
    let [memfd, doorbell, wake] = <[File; 3]>::try_from(files).map_err(|_| AttachError::File)?;
    for fd in [&doorbell, &wake] {
        // Whatever the client handed us, neither read nor write may block.
        // SAFETY: flag changes on descriptors we own.
        let ok = unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) == 0
        };
        if !ok {
            return Err(AttachError::File);
        }
    }
    let area = SharedArea::map(&memfd, &setup)?;
    Ok(Attached {
        area,
        doorbell,
        wake,
    })
}

/// Serves the client until its socket closes (or it breaks the ring's rules).
pub fn serve(
    id: u32,
    stream: UnixStream,
    a: Attached,
    session: &mut Session,
    cancel: &CancelToken,
) {
    let depth = u64::from(a.area.layout().depth);
    let mut next = 0u64;
    let mut request = Vec::new();
    let mut spin = SpinPolicy::default();
    let (mut commands, mut bytes_in, mut bytes_out) = (0u64, 0u64, 0u64);
    let mut slowest = (std::time::Duration::ZERO, 0u16);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let sched_start = SchedStat::of(tid);
    loop {
        let submitted = a.area.submitted();
        if submitted == next {
            if !idle(&a, &stream, next, &mut spin) {
                break;
            }
            continue;
        }
        if submitted.wrapping_sub(next) > depth {
            tracing::warn!(
                client = id,
                submitted,
                next,
                "client published more commands than its ring holds; closing"
            );
            break;
        }
        match a.area.take(next) {
            Err(status) => {
                tracing::warn!(client = id, command = next, "malformed ring descriptor");
                a.area.complete(next, None, status, &[]);
            }
            Ok(t) => {
                a.area.request(&t, &mut request);
                bytes_in += u64::from(t.req_len);
                let began = Instant::now();
                let reply = run_request(
                    session,
                    cancel,
                    t.opcode,
                    &request,
                    t.resp_capacity,
                    t.detached,
                );
                let took = began.elapsed();
                if took > slowest.0 {
                    slowest = (took, t.opcode);
                }
                match reply {
                    None => a.area.complete(next, None, Status::Ok, &[]),
                    Some((Status::ResponseTooSmall, body)) => {
                        a.area.complete_too_small(next, body.len())
                    }
                    Some((status, body)) => {
                        bytes_out += body.len() as u64;
                        a.area.complete(next, Some(&t), status, &body);
                    }
                }
            }
        }
        next += 1;
        commands += 1;
        if a.area.set_completed(next) {
            signal(&a.wake);
        }
    }
    // How much of the session this thread spent waiting for a CPU: what
    // makes a slow command on a loaded machine.
    let (on_cpu_ms, waiting_for_cpu_ms) = match (sched_start, SchedStat::of(tid)) {
        (Some(a), Some(b)) => (
            b.on_cpu.saturating_sub(a.on_cpu).as_millis() as u64,
            b.waiting.saturating_sub(a.waiting).as_millis() as u64,
        ),
        _ => (0, 0),
    };
    // What CI reads to see that the data went through shared memory.
    tracing::info!(
        client = id,
        commands,
        bytes_in,
        bytes_out,
        slowest_us = slowest.0.as_micros() as u64,
        slowest_opcode = slowest.1,
        on_cpu_ms,
        waiting_for_cpu_ms,
        "shared-memory client disconnected"
    );
}

fn signal(mut fd: &File) {
    // A full counter (EAGAIN) already wakes the reader.
    let _ = fd.write(&1u64.to_ne_bytes());
}

/// Waits for command `next` to be published: polls, then sleeps on the
/// doorbell. `false` when the client is gone.
fn idle(a: &Attached, stream: &UnixStream, next: u64, spin: &mut SpinPolicy) -> bool {
    let mut start = None;
    let elapsed = || start.get_or_insert_with(Instant::now).elapsed();
    if spin.poll(|| a.area.submitted() != next, elapsed) {
        return true;
    }
    a.area.set_asleep(true);
    if a.area.submitted() != next {
        a.area.set_asleep(false);
        return true;
    }
    let mut fds = [
        libc::pollfd {
            fd: a.doorbell.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN | libc::POLLRDHUP,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfds for the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    a.area.set_asleep(false);
    if fds[0].revents != 0 {
        let mut count = [0u8; 8];
        let _ = (&a.doorbell).read(&mut count);
    }
    if fds[1].revents != 0 {
        // After attaching the client sends nothing: this is its end.
        let mut byte = [0u8; 1];
        if !matches!((&*stream).read(&mut byte), Ok(0)) {
            tracing::warn!("bytes on the socket of a shared-memory client; closing");
        }
        return false;
    }
    true
}
