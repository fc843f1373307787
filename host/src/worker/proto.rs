//! The messages between the device process and a worker process, on two
//! `SOCK_SEQPACKET` socket pairs: the control socket (device → worker:
//! setup, guest RAM, interrupt eventfd, stop) and the query socket (worker →
//! device: the registry questions only the device process can answer).
//! File descriptors travel as `SCM_RIGHTS`. Nothing here is on the data
//! path: commands go from guest RAM to the worker without a message.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use uapi::cmd::DeviceUsage;
use uapi::status::Status;
use uapi::wire::Wire;
use vmm_sys_util::sock_ctrl_msg::ScmSocket;

/// Largest message either side sends.
pub const MAX_MESSAGE: usize = 64 << 10;
/// Most descriptors in one message.
pub const MAX_FDS: usize = 64;

/// Message tags.
pub mod tag {
    /// Device → worker: what to serve (`Setup`).
    pub const SETUP: u32 = 1;
    /// Device → worker: the whole set of guest RAM mappings, with a
    /// sequence number (0: no answer wanted).
    pub const MEMORY: u32 = 2;
    /// Device → worker: the eventfd of the queue's vector (or none).
    pub const IRQ: u32 = 3;
    /// Device → worker: stop now.
    pub const STOP: u32 = 4;
    /// Worker → device, on the control socket: the guest RAM of MEMORY
    /// `u64` is mapped and no command uses what it removed (`u32` 1), or
    /// the wait for them gave up (`u32` 0).
    pub const MEMORY_DONE: u32 = 5;
    /// Worker → device: `GetUsage` (with the device's total memory).
    pub const USAGE: u32 = 10;
    /// Worker → device: `ListClients`.
    pub const LIST: u32 = 11;
    /// Worker → device: the client's quotas (`crate::quota::Quotas`).
    pub const LIMITS: u32 = 12;
    /// Worker → device: hold this much device memory in all? (`u64` bytes,
    /// `u32` force); answered with `u32` granted and `u64` the VM's total.
    pub const CLAIM: u32 = 13;
}

/// A connected `SOCK_SEQPACKET` pair, close-on-exec.
pub fn seqpacket_pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a valid out-array of two descriptors.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nothing else. A
    // seqpacket socket supports every call `UnixDatagram` makes.
    Ok(unsafe {
        (
            UnixDatagram::from_raw_fd(fds[0]),
            UnixDatagram::from_raw_fd(fds[1]),
        )
    })
}

/// Sends one message with `fds` attached.
pub fn send(socket: &UnixDatagram, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.is_empty() {
        socket.send(bytes)?;
    } else {
        socket
            .send_with_fds(&[bytes], fds)
            .map_err(|e| io::Error::from_raw_os_error(e.errno()))?;
    }
    Ok(())
}

/// Length of the next message (at most [`MAX_MESSAGE`]), waiting for one;
/// 0 at the end of the stream.
fn next_len(socket: &UnixDatagram) -> io::Result<usize> {
    loop {
        // SAFETY: a zero-byte peek with no buffer; on a SOCK_SEQPACKET socket
        // MSG_TRUNC makes the kernel return the message's real length. The
        // message and its descriptors stay queued.
        let rc = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_PEEK | libc::MSG_TRUNC,
            )
        };
        if rc >= 0 {
            return Ok((rc as usize).min(MAX_MESSAGE));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// One received message; `None` when the peer closed its end.
///
/// The buffer is the message's size, not [`MAX_MESSAGE`]: a supervisor
/// thread of vgpu-host receives a few small queries per client, and 64 KiB
/// zeroed for each of them stayed resident in glibc's per-thread arenas
/// (vgpu-host grew by 10 KiB or so for every client that came and went).
pub fn recv(socket: &UnixDatagram) -> io::Result<Option<(Vec<u8>, Vec<File>)>> {
    let mut buf = vec![0u8; next_len(socket)?.max(1)];
    let mut raw = [-1 as RawFd; MAX_FDS];
    let mut iov = [libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    }];
    // SAFETY: the iovec covers `buf`, which outlives the call; arbitrary
    // bytes may be written there.
    let (len, count) = unsafe { socket.recv_with_fds(&mut iov, &mut raw) }
        .map_err(|e| io::Error::from_raw_os_error(e.errno()))?;
    let files: Vec<File> = raw[..count]
        .iter()
        .map(|&fd| {
            // SAFETY: each descriptor was just received and is owned by us.
            let file = unsafe { File::from_raw_fd(fd) };
            set_cloexec(file.as_raw_fd());
            file
        })
        .collect();
    if len == 0 && files.is_empty() {
        return Ok(None);
    }
    buf.truncate(len);
    Ok(Some((buf, files)))
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: sets a flag on a descriptor we own.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

/// Builds a message.
#[derive(Debug, Default)]
pub struct Encoder(pub Vec<u8>);

impl Encoder {
    /// A message with `tag`.
    pub fn new(tag: u32) -> Self {
        let mut e = Self::default();
        e.u32(tag);
        e
    }

    /// Appends a `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// Reads a message; every getter fails on a short message.
#[derive(Debug)]
pub struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    /// Reads `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "short message"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// The next `u32`.
    pub fn u32(&mut self) -> io::Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next `u64`.
    pub fn u64(&mut self) -> io::Result<u64> {
        let lo = u64::from(self.u32()?);
        let hi = u64::from(self.u32()?);
        Ok(lo | (hi << 32))
    }
}

/// The worker's end of the query socket: asks the device process what only
/// it knows (every client of the device). Used by `GetUsage` and
/// `ListClients`, never by CUDA commands.
#[derive(Debug)]
pub struct QueryChannel(pub UnixDatagram);

impl QueryChannel {
    fn ask(&self, message: &[u8]) -> Result<Vec<u8>, Status> {
        let fail = |error: io::Error| {
            tracing::warn!(%error, "registry query to the device process failed");
            Status::ExecutorError
        };
        send(&self.0, message, &[]).map_err(fail)?;
        match recv(&self.0).map_err(fail)? {
            Some((reply, _)) => Ok(reply),
            None => Err(Status::ExecutorError),
        }
    }

    /// The device's usage, for a device of `total` bytes.
    pub fn usage(&self, total: u64) -> Result<DeviceUsage, Status> {
        let reply = self.ask(&Encoder::new(tag::USAGE).u64(total).0)?;
        DeviceUsage::read_from(&reply).ok_or(Status::ExecutorError)
    }

    /// The device's clients, encoded as `ListClients` answers them.
    pub fn list(&self) -> Result<Vec<u8>, Status> {
        self.ask(&Encoder::new(tag::LIST).0)
    }

    /// The client's quotas.
    pub fn limits(&self) -> Result<crate::quota::Quotas, Status> {
        let reply = self.ask(&Encoder::new(tag::LIMITS).0)?;
        crate::quota::Quotas::decode(&mut Decoder::new(&reply)).map_err(|_| Status::ExecutorError)
    }

    /// Asks the VM's memory account for `total` bytes in all
    /// ([`crate::quota::MemoryLedger::claim`]).
    pub fn claim_memory(&self, total: u64, force: bool) -> Result<crate::quota::Claim, Status> {
        let reply = self.ask(&Encoder::new(tag::CLAIM).u64(total).u32(force.into()).0)?;
        let mut d = Decoder::new(&reply);
        let decoded = d.u32().and_then(|g| {
            Ok(crate::quota::Claim {
                granted: g != 0,
                vm_used: d.u64()?,
            })
        });
        decoded.map_err(|_| Status::ExecutorError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_bytes_fds_and_eof() {
        let (a, b) = seqpacket_pair().unwrap_or_else(|e| panic!("pair: {e}"));
        let file = crate::guest_memory::memfd("proto", 4096).unwrap_or_else(|e| panic!("{e}"));
        let mut msg = Encoder::new(tag::IRQ);
        msg.u64(0x1234_5678_9abc);
        let msg = msg.0;
        send(&a, &msg, &[file.as_raw_fd()]).unwrap_or_else(|e| panic!("send: {e}"));
        let (bytes, files) = recv(&b)
            .unwrap_or_else(|e| panic!("recv: {e}"))
            .unwrap_or_else(|| panic!("eof"));
        let mut d = Decoder::new(&bytes);
        assert_eq!(d.u32().ok(), Some(tag::IRQ));
        assert_eq!(d.u64().ok(), Some(0x1234_5678_9abc));
        assert!(d.u32().is_err(), "short message");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].metadata().map(|m| m.len()).ok(), Some(4096));
        // What a received message holds is its own size, whatever the
        // largest message may be.
        assert!(bytes.capacity() < 64, "capacity {}", bytes.capacity());
        let large = vec![7u8; MAX_MESSAGE + 100];
        send(&a, &large, &[]).unwrap_or_else(|e| panic!("send: {e}"));
        let (got, _) = recv(&b)
            .unwrap_or_else(|e| panic!("recv: {e}"))
            .unwrap_or_else(|| panic!("eof"));
        assert_eq!(got.len(), MAX_MESSAGE, "cut at the largest message");
        drop(a);
        assert!(matches!(recv(&b), Ok(None)));
    }
}
