//! Serving a direct client through its shared area (`uapi::shm`): commands
//! are taken from the ring in order, run, and completed in the arena; the
//! socket only tells us when the client is gone.
//!
//! The loop polls the ring for [`uapi::shm::SHM_SPIN`] after its last command before it
//! sleeps on the doorbell eventfd, so a client issuing calls back to back
//! never pays a wake-up; the client does the same on its side.

use super::area::{AttachError, InPlace, SharedArea, Taken};
use super::host_memory::{self, HostMaps};
use super::run_request;
use crate::cancel::CancelToken;
use crate::cuda::SharedKind;
use crate::session::Session;
use crate::worker::child::SchedStat;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;
use uapi::cuda::copy_flags;
use uapi::shm::{host_op, HostRange, ShmSetup, SpinPolicy};
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
    /// The client's host-memory file, if it sent one.
    host: Option<HostMaps>,
}

/// Checks an attach frame (`body`, the descriptors it carried: memfd,
/// doorbell, wake-up, and optionally the host-memory file) and maps the area.
pub fn attach(body: &[u8], files: Vec<File>) -> Result<Attached, AttachError> {
    let setup = (body.len() == core::mem::size_of::<ShmSetup>())
        .then(|| ShmSetup::read_from(body))
        .flatten()
        .ok_or(AttachError::Setup)?;
    // The fourth, if any, is the host-memory file (`uapi::shm::host_op`).
    let mut files = files.into_iter();
    let (Some(memfd), Some(doorbell), Some(wake)) = (files.next(), files.next(), files.next())
    else {
        return Err(AttachError::File);
    };
    let host = match (files.next(), files.next()) {
        (None, _) => None,
        (Some(file), None) if host_memory::acceptable(&file) => Some(HostMaps::new(file)),
        _ => return Err(AttachError::File),
    };
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
        host,
    })
}

/// Serves the client until its socket closes (or it breaks the ring's rules).
pub fn serve(
    id: u32,
    stream: UnixStream,
    mut a: Attached,
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
    // Data of copies that stayed in the arena (`SharedArea::in_place`).
    let (mut in_place_in, mut in_place_out) = (0u64, 0u64);
    // Data of copies from and to the client's host memory (`HostMaps`).
    let (mut host_in, mut host_out) = (0u64, 0u64);
    let arena = a.area.arena_span();
    session.register_shared(arena, SharedKind::Arena);
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
                bytes_in += u64::from(t.req_len);
                let began = Instant::now();
                if matches!(t.opcode, host_op::HOST_MAP | host_op::HOST_UNMAP) {
                    let status = host_command(&a.area, a.host.as_mut(), session, &t);
                    a.area.complete(next, None, status, &[]);
                } else if let Some(copy) = a.area.in_place(&t, a.host.as_ref()) {
                    let data = run_in_place(&a.area, session, next, &t, &copy);
                    let len = copy.span.len() as u64;
                    let host = copy.request.flags & copy_flags::HOST_MEMORY != 0;
                    match (t.opcode == uapi::cuda::op::MEMCPY_HTOD, host) {
                        (true, false) => in_place_in += len,
                        (false, false) => {
                            in_place_out += data as u64;
                            bytes_out += data as u64 + RESULT_HEADER;
                        }
                        (true, true) => host_in += len,
                        (false, true) => host_out += len,
                    }
                } else if t.detached && a.area.is_host_memory_copy(&t) {
                    // Refused (its range is in no mapped block, or its
                    // shape is off) with nobody waiting for the response:
                    // the error is owed to the client's next call instead.
                    tracing::debug!(
                        client = id,
                        opcode = t.opcode,
                        "detached host-memory copy refused"
                    );
                    session.refuse_detached();
                    a.area.complete(next, None, Status::Ok, &[]);
                } else {
                    a.area.request(&t, &mut request);
                    let reply = run_request(
                        session,
                        cancel,
                        t.opcode,
                        &request,
                        t.resp_capacity,
                        t.detached,
                    );
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
                let took = began.elapsed();
                if took > slowest.0 {
                    slowest = (took, t.opcode);
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
    let stats = session.shared_stats();
    let host_maps = a.host.as_ref().map_or(0, |h| h.spans().len());
    // Before the area and the host memory are unmapped (when `a` drops).
    session.unregister_shared(arena);
    for span in a.host.as_ref().map(HostMaps::spans).unwrap_or_default() {
        session.unregister_shared(span);
    }
    // What CI reads to see that the data went through shared memory, and
    // that large copies moved in place (`in_place_*`: arena bytes the worker
    // did not copy; `host_*`: bytes of the client's pinned host memory;
    // `pinned_bytes`: of all in-place copies, those from or to memory
    // registered with the device; `host_maps`: host memory still mapped).
    tracing::info!(
        client = id,
        commands,
        bytes_in,
        bytes_out,
        slowest_us = slowest.0.as_micros() as u64,
        slowest_opcode = slowest.1,
        on_cpu_ms,
        waiting_for_cpu_ms,
        in_place_in,
        in_place_out,
        in_place_copies = stats.copies,
        pinned_bytes = stats.pinned_bytes,
        registered = stats.registered,
        host_in,
        host_out,
        host_maps,
        "shared-memory client disconnected"
    );
}

/// Runs a HOST_MAP or HOST_UNMAP (`uapi::shm::host_op`) of command `t`.
fn host_command(
    area: &SharedArea,
    host: Option<&mut HostMaps>,
    session: &mut Session,
    t: &Taken,
) -> Status {
    let Some(host) = host else {
        return Status::InvalidOpcode;
    };
    let mut r = HostRange::default();
    if t.req_len as usize != size_of::<HostRange>() {
        return Status::InvalidField;
    }
    area.copy_request(t, r.as_bytes_mut());
    if t.opcode == host_op::HOST_MAP {
        match host.map(&r) {
            Ok(span) => {
                session.register_shared(span, SharedKind::HostMemory);
                Status::Ok
            }
            Err(status) => status,
        }
    } else {
        let Some(span) = host.take(&r) else {
            return Status::InvalidField;
        };
        // Waits for the client's work that may still use it.
        session.unregister_shared(span);
        host.unmap(span);
        Status::Ok
    }
}

/// Bytes of a copy's response header (`uapi::cuda::ResultHeader`).
const RESULT_HEADER: u64 = size_of::<uapi::cuda::ResultHeader>() as u64;

/// Runs and completes command `n`, a copy whose data stays in the arena
/// ([`SharedArea::in_place`]); returns the data bytes its response carries.
pub(super) fn run_in_place(
    area: &SharedArea,
    session: &mut Session,
    n: u64,
    t: &Taken,
    copy: &InPlace,
) -> usize {
    let reply = session.execute_shared(
        t.opcode,
        copy.request.as_bytes(),
        crate::cuda::HostBytes::Shared(copy.span),
        t.resp_capacity as usize,
        t.detached,
    );
    if t.detached {
        area.complete(n, None, Status::Ok, &[]);
        return 0;
    }
    match reply {
        Ok((head, data)) => {
            area.complete_in_place(n, t, Status::Ok, &head, data);
            data
        }
        Err(status) => {
            area.complete_in_place(n, t, status, &[], 0);
            0
        }
    }
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
