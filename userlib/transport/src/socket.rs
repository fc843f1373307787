//! The direct socket transport (`uapi::socket`): frames on a UNIX stream
//! socket to `vgpu-host`. Responses come back in request order; detached
//! requests get none.

use std::{
    collections::{HashMap, VecDeque},
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::Path,
};

use uapi::{
    cmd::{DeviceInfo, Opcode},
    socket::{frame_flags, RequestFrame, ResponseFrame, MAX_FRAME_PAYLOAD},
    status::Status,
    wire::Wire,
};

use super::shm::{AttachFailure, ShmClient};
use super::{Completion, DevError, Request, TransportInfo};

/// Environment variable: `0` keeps a direct-socket client on frames (no
/// shared memory).
pub const SHM_ENV: &str = "VGPU_SHM";

/// A connection to `vgpu-host`: one client.
#[derive(Debug)]
pub struct SocketClient {
    stream: UnixStream,
    next_ticket: u64,
    /// Tickets whose responses have not been read, oldest first.
    outstanding: VecDeque<u64>,
    /// Responses read while waiting for a later ticket.
    stash: Stash,
}

fn io_err(op: &'static str, e: &std::io::Error) -> DevError {
    DevError {
        op,
        errno: e.raw_os_error().unwrap_or(match e.kind() {
            std::io::ErrorKind::UnexpectedEof => libc::ENODEV,
            _ => libc::EIO,
        }),
    }
}

impl SocketClient {
    /// Connects to a socket.
    pub fn connect(path: impl AsRef<Path>) -> Result<Self, DevError> {
        let stream = UnixStream::connect(path).map_err(|e| io_err("connect", &e))?;
        Ok(Self::from_stream(stream))
    }

    /// Connects to a socket, on shared memory ([`ShmClient`]) unless
    /// [`SHM_ENV`] is `0` or the server (or this system) cannot: then on
    /// frames.
    pub fn connect_best(path: impl AsRef<Path>) -> Result<Box<dyn super::Transport>, DevError> {
        let stream = UnixStream::connect(path).map_err(|e| io_err("connect", &e))?;
        if std::env::var_os(SHM_ENV).is_some_and(|v| v == "0") {
            return Ok(Box::new(Self::from_stream(stream)));
        }
        match ShmClient::attach(stream) {
            Ok(c) => {
                tracing::debug!("direct socket: shared-memory transport");
                Ok(Box::new(c))
            }
            Err(AttachFailure::Fallback(stream, why)) => {
                tracing::info!("direct socket: no shared memory ({why}); frames on the socket");
                Ok(Box::new(Self::from_stream(stream)))
            }
            Err(AttachFailure::Broken(e)) => Err(e),
        }
    }

    /// A client on a connected stream.
    pub fn from_stream(stream: UnixStream) -> Self {
        Self {
            stream,
            next_ticket: 1,
            outstanding: VecDeque::new(),
            stash: HashMap::new(),
        }
    }

    /// Reads one response frame; the body goes into `resp` (excess dropped).
    fn read_response(&mut self, resp: &mut [u8]) -> Result<Completion, DevError> {
        let mut f = ResponseFrame::default();
        self.stream
            .read_exact(f.as_bytes_mut())
            .map_err(|e| io_err("read", &e))?;
        let follows = if f.status == Status::Ok as u32 {
            f.resp_len as usize
        } else {
            0
        };
        let n = follows.min(resp.len());
        self.stream
            .read_exact(&mut resp[..n])
            .map_err(|e| io_err("read", &e))?;
        let mut rest = follows - n;
        let mut sink = [0u8; 4096];
        while rest > 0 {
            let k = rest.min(sink.len());
            self.stream
                .read_exact(&mut sink[..k])
                .map_err(|e| io_err("read", &e))?;
            rest -= k;
        }
        Ok(Completion {
            status: f.status,
            resp_len: f.resp_len,
        })
    }
}

/// Responses read early (to make room or to reach a later ticket), by ticket.
pub(crate) type Stash = HashMap<u64, (Completion, Vec<u8>)>;

/// The stashed response of `ticket`, copied into `resp` (as much as fits),
/// and its completion; `None` when it was not stashed.
pub(crate) fn take_stashed(stash: &mut Stash, ticket: u64, resp: &mut [u8]) -> Option<Completion> {
    let (c, data) = stash.remove(&ticket)?;
    let n = data.len().min(resp.len());
    resp[..n].copy_from_slice(&data[..n]);
    Some(c)
}

/// `GetDeviceInfo` over a direct transport (frames or shared memory): the
/// identity and limits, or the status the server answered instead.
pub(crate) fn describe_direct(
    t: &mut impl super::Transport,
) -> Result<Result<TransportInfo, u32>, DevError> {
    let req = Request {
        opcode: Opcode::GetDeviceInfo as u16,
        body: &[],
        resp_capacity: core::mem::size_of::<DeviceInfo>() as u32,
        detached: false,
    };
    let tickets = t.submit(&[req])?;
    let mut info = DeviceInfo::default();
    let c = t.wait(tickets[0], info.as_bytes_mut())?;
    if c.status != Status::Ok as u32 {
        return Ok(Err(c.status));
    }
    Ok(Ok(TransportInfo {
        device: info,
        pci: None,
        max_payload: MAX_FRAME_PAYLOAD,
    }))
}

impl super::Transport for SocketClient {
    fn describe(&mut self) -> Result<TransportInfo, DevError> {
        describe_direct(self)?.map_err(|status| DevError {
            op: "get device info",
            // Refused: vgpu-host serves as many clients as it may.
            errno: if status == Status::Busy as u32 {
                libc::EBUSY
            } else {
                libc::EIO
            },
        })
    }

    fn submit(&mut self, reqs: &[Request<'_>]) -> Result<Vec<u64>, DevError> {
        let mut tickets = Vec::new();
        let mut buf = Vec::new();
        for r in reqs {
            let len = u32::try_from(r.body.len())
                .ok()
                .filter(|&l| l <= MAX_FRAME_PAYLOAD)
                .ok_or(DevError {
                    op: "submit",
                    errno: libc::EINVAL,
                })?;
            let f = RequestFrame {
                opcode: r.opcode,
                flags: if r.detached { frame_flags::DETACHED } else { 0 },
                req_len: len,
                resp_capacity: if r.detached { 0 } else { r.resp_capacity },
                reserved: 0,
            };
            buf.extend_from_slice(f.as_bytes());
            if r.body.len() <= 64 << 10 {
                buf.extend_from_slice(r.body);
            } else {
                self.stream
                    .write_all(&buf)
                    .and_then(|()| self.stream.write_all(r.body))
                    .map_err(|e| io_err("write", &e))?;
                buf.clear();
            }
            if !r.detached {
                let t = self.next_ticket;
                self.next_ticket += 1;
                self.outstanding.push_back(t);
                tickets.push(t);
            }
        }
        self.stream
            .write_all(&buf)
            .map_err(|e| io_err("write", &e))?;
        Ok(tickets)
    }

    fn wait(&mut self, ticket: u64, resp: &mut [u8]) -> Result<Completion, DevError> {
        if let Some(c) = take_stashed(&mut self.stash, ticket, resp) {
            return Ok(c);
        }
        if !self.outstanding.contains(&ticket) {
            return Err(DevError {
                op: "wait",
                errno: libc::EINVAL,
            });
        }
        while let Some(t) = self.outstanding.pop_front() {
            if t == ticket {
                return self.read_response(resp);
            }
            // An earlier response: keep it (a caller waiting out of order).
            let mut data = vec![0u8; MAX_FRAME_PAYLOAD.min(16 << 20) as usize];
            let c = self.read_response(&mut data)?;
            data.truncate(c.resp_len as usize);
            self.stash.insert(t, (c, data));
        }
        unreachable!("ticket was outstanding")
    }
}
