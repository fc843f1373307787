//! The shared-memory transport (`uapi::shm`): after connecting, the client
//! hands `vgpu-host` a sealed memfd and two eventfds over the socket; from
//! then on requests and responses live in that memory and no command byte
//! crosses the socket. A server that refuses leaves the connection on
//! frames ([`super::SocketClient`]).

use std::{
    cell::Cell,
    collections::VecDeque,
    fs::File,
    io::{Read, Write},
    os::fd::AsRawFd,
    os::unix::net::UnixStream,
    sync::atomic::{fence, Ordering},
    time::Instant,
};

use uapi::{
    shm::{header, ShmCompletion, ShmDescriptor, ShmView, SpinPolicy},
    socket::{frame_flags, MAX_FRAME_PAYLOAD},
    status::Status,
    wire::Wire,
};

mod arena;
mod attach;
mod host;

pub use attach::AttachFailure;

use super::{
    Completion, DataPath, DataRequest, DevError, HostBlock, Request, TransportInfo, WaitMode,
};
use arena::{ArenaRing, NoRoom};

/// How often a spinning wait looks whether the server is still there.
const SPIN_CHECK: std::time::Duration = std::time::Duration::from_millis(1);

/// Ring entries.
const DEPTH: u32 = 512;
/// Arena bytes: room for the largest command and more in flight.
const ARENA: u64 = 2 * MAX_FRAME_PAYLOAD as u64;
/// Data of one by-pointer command: large enough to amortise a command,
/// small enough that the copy of the next chunk overlaps the device's work
/// on this one.
const DATA_CHUNK: u32 = 8 << 20;

fn err(op: &'static str, errno: i32) -> DevError {
    DevError { op, errno }
}

fn last(op: &'static str) -> DevError {
    err(
        op,
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// A command in flight, oldest first.
#[derive(Debug)]
struct Inflight {
    seq: u64,
    ticket: Option<u64>,
    mark: u64,
    offset: u64,
    /// Bytes of the response that go to the caller's buffer in `wait`.
    resp_capacity: u32,
    /// Where the rest goes (by-pointer data), if anywhere.
    resp_data: *mut u8,
    resp_data_len: u32,
    /// Its response was read (or it has none and completed).
    consumed: bool,
}

/// A client on the shared-memory transport.
#[derive(Debug)]
pub struct ShmClient {
    stream: UnixStream,
    view: ShmView,
    doorbell: File,
    wake: File,
    arena: ArenaRing,
    published: u64,
    next_ticket: u64,
    inflight: VecDeque<Inflight>,
    /// Responses read early to make room, by ticket.
    stash: super::socket::Stash,
    spin: Cell<SpinPolicy>,
    wait_mode: WaitMode,
    /// Waits that slept on the wake-up eventfd (for tests and logs).
    sleeps: Cell<u64>,
    /// Pinned host memory (`host.rs`), if the server took the file.
    host: Option<host::HostFile>,
}

// SAFETY: the mapping and the `resp_data` pointers are used only by the
// thread holding `&mut self`; the callers of `submit_data` promise the
// pointers stay valid until waited for, whichever thread waits.
unsafe impl Send for ShmClient {}

impl ShmClient {
    fn completed(&self) -> u64 {
        self.view.u64_at(header::COMPLETED).load(Ordering::Acquire)
    }

    /// Frees the places of completed commands at the front whose
    /// responses nobody waits for any more.
    fn release(&mut self) {
        let done = self.completed();
        while let Some(f) = self.inflight.front() {
            if !(f.consumed || (f.ticket.is_none() && f.seq < done)) {
                break;
            }
            self.arena.free(f.mark);
            self.inflight.pop_front();
        }
        if self.inflight.is_empty() {
            self.arena.restart();
        }
    }

    /// How many waits slept on the wake-up eventfd so far.
    pub fn sleeps(&self) -> u64 {
        self.sleeps.get()
    }

    /// Polls until `target` commands are complete, looking every
    /// [`SPIN_CHECK`] whether the server hung up ([`WaitMode::Spin`]).
    fn spin_done(&self, target: u64) -> Result<(), DevError> {
        loop {
            let start = Instant::now();
            while start.elapsed() < SPIN_CHECK {
                for _ in 0..64 {
                    if self.completed() >= target {
                        return Ok(());
                    }
                    std::hint::spin_loop();
                }
            }
            let mut fd = libc::pollfd {
                fd: self.stream.as_raw_fd(),
                events: libc::POLLIN | libc::POLLRDHUP,
                revents: 0,
            };
            // SAFETY: one valid pollfd; a zero timeout does not block.
            let rc = unsafe { libc::poll(&mut fd, 1, 0) };
            if rc > 0 && fd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
                return if self.completed() >= target {
                    Ok(())
                } else {
                    Err(err("wait", libc::ENODEV))
                };
            }
        }
    }

    /// Waits until command `seq` is complete: polls, then sleeps on the
    /// wake-up eventfd (the socket's hang-up says the server is gone); or,
    /// in [`WaitMode::Spin`], polls until it is.
    fn wait_done(&self, seq: u64) -> Result<(), DevError> {
        let target = seq + 1;
        if self.completed() >= target {
            return Ok(());
        }
        if self.wait_mode == WaitMode::Spin {
            return self.spin_done(target);
        }
        let mut spin = self.spin.get();
        let mut start = None;
        let elapsed = || start.get_or_insert_with(Instant::now).elapsed();
        let ready = spin.poll(|| self.completed() >= target, elapsed);
        self.spin.set(spin);
        if ready {
            return Ok(());
        }
        let asleep = self.view.u32_at(header::CLIENT_ASLEEP);
        loop {
            asleep.store(1, Ordering::SeqCst);
            // Pairs with the server's fence between publishing COMPLETED and
            // reading CLIENT_ASLEEP.
            fence(Ordering::SeqCst);
            if self.completed() >= target {
                asleep.store(0, Ordering::Relaxed);
                return Ok(());
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.wake.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.stream.as_raw_fd(),
                    events: libc::POLLIN | libc::POLLRDHUP,
                    revents: 0,
                },
            ];
            self.sleeps.set(self.sleeps.get() + 1);
            // SAFETY: `fds` is a valid array of two pollfds for the call.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            asleep.store(0, Ordering::Relaxed);
            if rc < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return Err(last("poll"));
            }
            if fds[0].revents != 0 {
                let mut count = [0u8; 8];
                let _ = (&self.wake).read(&mut count);
            }
            if self.completed() >= target {
                return Ok(());
            }
            if fds[1].revents != 0 {
                return Err(err("wait", libc::ENODEV));
            }
        }
    }

    /// Reads the completion and response of the in-flight entry `i`:
    /// `resp` gets the first `resp_capacity` bytes, the entry's
    /// `resp_data` the rest.
    fn read_response(&self, i: usize, resp: &mut [u8]) -> Completion {
        let e = &self.inflight[i];
        let mut c = ShmCompletion::default();
        let bytes = c.as_bytes_mut();
        self.view
            .copy_out(self.view.layout().completion(e.seq), bytes);
        if c.status != Status::Ok as u32 {
            return Completion {
                status: c.status,
                resp_len: c.resp_len,
            };
        }
        let len = c.resp_len.min(e.resp_capacity + e.resp_data_len);
        let head = (len.min(e.resp_capacity) as usize).min(resp.len());
        let at = self.view.layout().arena + e.offset;
        self.view.copy_out(at, &mut resp[..head]);
        let data = len.saturating_sub(e.resp_capacity) as usize;
        if data != 0 && !e.resp_data.is_null() {
            // Split over threads when large: this memcpy is what bounds a
            // pageable copy down.
            let src = self.view.ptr_at(at + u64::from(e.resp_capacity), data);
            // SAFETY: `src` is a checked range of our mapping; `submit_data`'s
            // caller keeps `resp_data` valid for `resp_data_len >= data`
            // bytes until this ticket is waited for, outside the mapping.
            unsafe { crate::bulk::copy(e.resp_data, src, data) };
        }
        Completion {
            status: c.status,
            resp_len: len,
        }
    }

    /// Completes the oldest command, keeping its response for its waiter.
    fn reap_front(&mut self) -> Result<(), DevError> {
        let Some(f) = self.inflight.front() else {
            return Ok(());
        };
        self.wait_done(f.seq)?;
        if let (Some(ticket), false) = (f.ticket, f.consumed) {
            let mut resp = vec![0u8; f.resp_capacity as usize];
            let c = self.read_response(0, &mut resp);
            resp.truncate((c.resp_len as usize).min(resp.len()));
            self.stash.insert(ticket, (c, resp));
        }
        if let Some(f) = self.inflight.front_mut() {
            f.consumed = true;
        }
        self.release();
        Ok(())
    }

    /// Places one command (`parts` concatenated) and publishes it.
    fn push(
        &mut self,
        opcode: u16,
        parts: [&[u8]; 2],
        detached: bool,
        resp_capacity: u32,
        resp_data: (*mut u8, u32),
    ) -> Result<Option<u64>, DevError> {
        let req_len = u32::try_from(parts[0].len() + parts[1].len())
            .ok()
            .filter(|&l| l <= MAX_FRAME_PAYLOAD);
        let total_resp = resp_capacity
            .checked_add(resp_data.1)
            .filter(|&r| r <= MAX_FRAME_PAYLOAD);
        let (Some(req_len), Some(total_resp)) = (req_len, total_resp) else {
            return Err(err("submit", libc::EINVAL));
        };
        let total_resp = if detached { 0 } else { total_resp };
        self.release();
        while self.inflight.len() >= self.view.layout().depth as usize {
            self.reap_front()?;
        }
        let place = loop {
            match self.arena.alloc(u64::from(req_len.max(total_resp))) {
                Ok(p) => break p,
                Err(NoRoom::Full) if !self.inflight.is_empty() => self.reap_front()?,
                Err(_) => return Err(err("submit", libc::EINVAL)),
            }
        };
        let at = self.view.layout().arena + place.offset;
        self.view.copy_in(at, parts[0]);
        // The data, split over threads when large: this memcpy is what
        // bounds a pageable copy up.
        let data = self.view.ptr_at(at + parts[0].len() as u64, parts[1].len());
        // SAFETY: `data` is a checked range of our mapping, `parts[1]` the
        // caller's own bytes, which do not lie in it.
        unsafe { crate::bulk::copy(data, parts[1].as_ptr(), parts[1].len()) };
        let d = ShmDescriptor {
            opcode,
            flags: if detached { frame_flags::DETACHED } else { 0 },
            req_len,
            resp_capacity: total_resp,
            reserved: 0,
            offset: place.offset,
        };
        let seq = self.published;
        self.view
            .copy_in(self.view.layout().descriptor(seq), d.as_bytes());
        self.published += 1;
        self.view
            .u64_at(header::SUBMITTED)
            .store(self.published, Ordering::Release);
        // Pairs with the server's fence between setting SERVER_ASLEEP and
        // reading SUBMITTED.
        fence(Ordering::SeqCst);
        if self
            .view
            .u32_at(header::SERVER_ASLEEP)
            .load(Ordering::Relaxed)
            != 0
        {
            // A full counter (EAGAIN) wakes the server just as well.
            let _ = (&self.doorbell).write(&1u64.to_ne_bytes());
        }
        let ticket = (!detached).then(|| {
            self.next_ticket += 1;
            self.next_ticket - 1
        });
        self.inflight.push_back(Inflight {
            seq,
            ticket,
            mark: place.mark,
            offset: place.offset,
            resp_capacity,
            resp_data: resp_data.0,
            resp_data_len: resp_data.1,
            consumed: false,
        });
        Ok(ticket)
    }
}

impl Drop for ShmClient {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `attach`; nothing uses
        // it after this (a forked child only unmaps its own copy).
        unsafe {
            libc::munmap(
                self.view.base().as_ptr().cast(),
                self.view.layout().size as usize,
            );
        }
    }
}

impl super::Transport for ShmClient {
    fn describe(&mut self) -> Result<TransportInfo, DevError> {
        super::socket::describe_direct(self)?.map_err(|_| err("get device info", libc::EIO))
    }

    fn submit(&mut self, reqs: &[Request<'_>]) -> Result<Vec<u64>, DevError> {
        let mut tickets = Vec::new();
        for r in reqs {
            let cap = if r.detached { 0 } else { r.resp_capacity };
            let t = self.push(
                r.opcode,
                [r.body, &[]],
                r.detached,
                cap,
                (std::ptr::null_mut(), 0),
            )?;
            tickets.extend(t);
        }
        Ok(tickets)
    }

    fn wait(&mut self, ticket: u64, resp: &mut [u8]) -> Result<Completion, DevError> {
        if let Some(c) = super::socket::take_stashed(&mut self.stash, ticket, resp) {
            return Ok(c);
        }
        let i = self
            .inflight
            .iter()
            .position(|e| e.ticket == Some(ticket) && !e.consumed)
            .ok_or(err("wait", libc::EINVAL))?;
        self.wait_done(self.inflight[i].seq)?;
        let c = self.read_response(i, resp);
        self.inflight[i].consumed = true;
        self.release();
        Ok(c)
    }

    fn host_alloc(&mut self, len: usize) -> Option<Result<HostBlock, DevError>> {
        self.host.as_ref()?;
        Some(self.host_alloc_impl(len))
    }

    fn host_free(&mut self, block: HostBlock) -> Result<(), DevError> {
        self.host_free_impl(block)
    }

    fn batching(&self) -> super::Batching {
        // Placing a command is a few stores; the server polls the ring
        // while it is busy, and is woken only when asleep.
        super::Batching::Immediate
    }

    fn set_wait_mode(&mut self, mode: WaitMode) {
        self.wait_mode = mode;
    }

    fn data_path(&mut self) -> Option<DataPath> {
        Some(DataPath {
            max_data: DATA_CHUNK,
            min_pinned: 16 << 10,
            pin_limit: ARENA / 2,
        })
    }

    unsafe fn submit_data(&mut self, reqs: &[DataRequest<'_>]) -> Result<Vec<u64>, DevError> {
        let mut tickets = Vec::with_capacity(reqs.len());
        for r in reqs {
            let resp_data = if r.resp_data.is_null() {
                (std::ptr::null_mut(), 0)
            } else {
                (r.resp_data, r.resp_data_len)
            };
            if let Some(t) = self.push(
                r.opcode,
                [r.body, r.data],
                false,
                r.resp_capacity,
                resp_data,
            )? {
                tickets.push(t);
            }
        }
        Ok(tickets)
    }
}
