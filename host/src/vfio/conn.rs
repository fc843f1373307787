//! Reading whole vfio-user messages off a stream, with the descriptors
//! (`SCM_RIGHTS`) that came with them, and writing replies.
//!
//! Every message is consumed to its last byte before the next header is
//! read, whatever its content, so the stream never loses step; only a
//! header whose size cannot be trusted ends the connection.

use super::wire::{self, AbortReason, Framing, Header, HEADER_SIZE, MAX_MSG_FDS};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use std::fmt;
use std::io::{self, IoSliceMut, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// What one receive got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Bytes (0: the peer closed its end).
    pub len: usize,
    /// Descriptors came that were not kept (too many for the buffer).
    pub fds_dropped: bool,
}

/// A byte stream that can carry descriptors: the vfio-user socket, or a
/// byte string in tests and the fuzz target ([`Replay`]).
pub trait Transport {
    /// Receives up to `buf.len()` bytes; descriptors that came with them
    /// are appended to `fds`.
    fn recv(&mut self, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<Received>;

    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
}

impl Transport for UnixStream {
    fn recv(&mut self, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<Received> {
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; MAX_MSG_FDS]);
        let mut iov = [IoSliceMut::new(buf)];
        loop {
            // CLOEXEC at once: worker processes are forked by other threads.
            match recvmsg::<UnixAddr>(
                self.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    for c in msg.cmsgs().map_err(io::Error::from)? {
                        if let ControlMessageOwned::ScmRights(raw) = c {
                            // SAFETY: the kernel just installed these
                            // descriptors for us; nothing else owns them.
                            fds.extend(
                                raw.into_iter()
                                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                            );
                        }
                    }
                    return Ok(Received {
                        len: msg.bytes,
                        // The kernel closes what did not fit.
                        fds_dropped: msg.flags.contains(MsgFlags::MSG_CTRUNC),
                    });
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }
}

/// A message read whole.
#[derive(Debug)]
pub struct Message<'a> {
    /// Its header.
    pub header: Header,
    /// Its body, or `None` if it was too large to keep and was drained.
    pub body: Option<&'a [u8]>,
    /// Descriptors that came with it (at most [`MAX_MSG_FDS`]).
    pub fds: Vec<OwnedFd>,
    /// More descriptors came than are kept: the message is refused.
    pub fds_dropped: bool,
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed in the middle of a message.
    Truncated {
        /// Bytes of the message (header included) that came.
        got: u64,
        /// Bytes it should have had (16 while the header was incomplete).
        want: u64,
    },
    /// The header's size field cannot be trusted.
    Framing(AbortReason),
    /// The socket failed.
    Io(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { got, want } => {
                write!(f, "peer closed after {got} of {want} bytes of a message")
            }
            Self::Framing(reason) => write!(f, "{reason}"),
            Self::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// Reads messages off a transport, one at a time, into a buffer of its own
/// (at most [`wire::MAX_BODY`] bytes, kept between messages).
#[derive(Debug, Default)]
pub struct Reader {
    body: Vec<u8>,
}

/// Chunk size for draining an oversized message.
const DRAIN_CHUNK: usize = 64 << 10;

impl Reader {
    /// A reader with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next message; `None` when the peer closed between messages.
    pub fn next<T: Transport>(&mut self, t: &mut T) -> Result<Option<Message<'_>>, ReadError> {
        let mut fds = Vec::new();
        let mut fds_dropped = false;
        let mut head = [0u8; HEADER_SIZE];
        let mut got = 0;
        while got < HEADER_SIZE {
            let n = recv(t, &mut head[got..], &mut fds, &mut fds_dropped)?;
            if n == 0 {
                if got == 0 {
                    return Ok(None);
                }
                return Err(ReadError::Truncated {
                    got: got as u64,
                    want: HEADER_SIZE as u64,
                });
            }
            got += n;
        }
        let header = Header::parse(&head);
        let body = match wire::framing(&header) {
            Framing::Read(len) => {
                self.body.clear();
                self.body.resize(len, 0);
                fill(t, &mut self.body, &header, &mut fds, &mut fds_dropped)?;
                Some(&self.body[..])
            }
            Framing::Drain(len) => {
                drain(t, len, &header, &mut fds, &mut fds_dropped)?;
                None
            }
            Framing::Abort(reason) => return Err(ReadError::Framing(reason)),
        };
        Ok(Some(Message {
            header,
            body,
            fds,
            fds_dropped,
        }))
    }
}

/// One receive, keeping at most [`MAX_MSG_FDS`] descriptors per message
/// (the rest are closed at once: a peer cannot pile them up).
fn recv<T: Transport>(
    t: &mut T,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    fds_dropped: &mut bool,
) -> Result<usize, ReadError> {
    let got = loop {
        match t.recv(buf, fds) {
            Ok(got) => break got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        }
    };
    if fds.len() > MAX_MSG_FDS {
        fds.truncate(MAX_MSG_FDS);
        *fds_dropped = true;
    }
    *fds_dropped |= got.fds_dropped;
    Ok(got.len)
}

/// Fills `body` completely.
fn fill<T: Transport>(
    t: &mut T,
    body: &mut [u8],
    header: &Header,
    fds: &mut Vec<OwnedFd>,
    fds_dropped: &mut bool,
) -> Result<(), ReadError> {
    let mut got = 0;
    while got < body.len() {
        let n = recv(t, &mut body[got..], fds, fds_dropped)?;
        if n == 0 {
            return Err(ReadError::Truncated {
                got: (HEADER_SIZE + got) as u64,
                want: u64::from(header.size),
            });
        }
        got += n;
    }
    Ok(())
}

/// Reads and discards `len` bytes.
fn drain<T: Transport>(
    t: &mut T,
    len: u64,
    header: &Header,
    fds: &mut Vec<OwnedFd>,
    fds_dropped: &mut bool,
) -> Result<(), ReadError> {
    let mut sink = vec![0u8; DRAIN_CHUNK];
    let mut left = len;
    while left > 0 {
        let want = left.min(DRAIN_CHUNK as u64) as usize;
        let n = recv(t, &mut sink[..want], fds, fds_dropped)?;
        if n == 0 {
            return Err(ReadError::Truncated {
                got: u64::from(header.size) - left,
                want: u64::from(header.size),
            });
        }
        left -= n as u64;
    }
    Ok(())
}

/// A transport over a byte string, for tests and the fuzz target:
/// receives return at most `chunk` bytes (to exercise short reads), the
/// descriptors `fds_for` hands out for each receive come with it, and what
/// is sent is kept in `sent`.
pub struct Replay<'a> {
    input: &'a [u8],
    chunk: usize,
    receives: usize,
    fds_for: Box<dyn FnMut(usize) -> Vec<OwnedFd> + 'a>,
    /// Everything sent, in order.
    pub sent: Vec<u8>,
}

impl<'a> Replay<'a> {
    /// Replays `input` in receives of at most `chunk` bytes (0: no limit),
    /// with no descriptors.
    pub fn new(input: &'a [u8], chunk: usize) -> Self {
        Self::with_fds(input, chunk, |_| Vec::new())
    }

    /// As [`Replay::new`]; receive number `i` (from 0) also brings
    /// `fds_for(i)`.
    pub fn with_fds(
        input: &'a [u8],
        chunk: usize,
        fds_for: impl FnMut(usize) -> Vec<OwnedFd> + 'a,
    ) -> Self {
        Self {
            input,
            chunk: if chunk == 0 { usize::MAX } else { chunk },
            receives: 0,
            fds_for: Box::new(fds_for),
            sent: Vec::new(),
        }
    }
}

impl Transport for Replay<'_> {
    fn recv(&mut self, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<Received> {
        let n = buf.len().min(self.chunk).min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        if n > 0 {
            fds.extend((self.fds_for)(self.receives));
        }
        self.receives += 1;
        Ok(Received {
            len: n,
            fds_dropped: false,
        })
    }

    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sent.extend_from_slice(bytes);
        Ok(())
    }
}

/// Splits a stream of replies into `(header, payload)` frames; `None` if
/// it does not end exactly at a frame's end (tests and the fuzz target
/// check that every reply is framed).
pub fn split_frames(mut bytes: &[u8]) -> Option<Vec<(Header, &[u8])>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let head: &[u8; HEADER_SIZE] = bytes.get(..HEADER_SIZE)?.try_into().ok()?;
        let header = Header::parse(head);
        let size = usize::try_from(header.size).ok()?;
        let frame = bytes.get(..size).filter(|_| size >= HEADER_SIZE)?;
        frames.push((header, &frame[HEADER_SIZE..]));
        bytes = &bytes[size..];
    }
    Some(frames)
}
