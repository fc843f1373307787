//! Attaching: the sealed memfd and the two eventfds are made here and
//! handed to `vgpu-host` in one `SHM_ATTACH` frame (`SCM_RIGHTS`); a
//! refusal leaves the stream on frames.

use std::{
    cell::Cell,
    collections::{HashMap, VecDeque},
    fs::File,
    io::Read,
    os::fd::{AsRawFd, FromRawFd, RawFd},
    os::unix::net::UnixStream,
    ptr::NonNull,
};

use uapi::{
    shm::{ShmLayout, ShmSetup, ShmView, SpinPolicy},
    socket::{frame_flags, RequestFrame, ResponseFrame},
    status::Status,
    wire::Wire,
};

use super::arena::ArenaRing;
use super::{err, last, ShmClient, ARENA, DEPTH};
use crate::DevError;
use crate::WaitMode;

/// Why an attach did not happen.
pub enum AttachFailure {
    /// Locally impossible or refused by the server: the stream is still on
    /// frames.
    Fallback(UnixStream, DevError),
    /// The connection broke.
    Broken(DevError),
}

fn eventfd() -> Result<File, DevError> {
    // SAFETY: plain system call; the descriptor is fresh and ours.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(last("eventfd"));
    }
    // SAFETY: as above.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// A sealed memfd of `size` bytes.
fn sealed_memfd(size: u64) -> Result<File, DevError> {
    // SAFETY: plain system calls on a fresh descriptor we own.
    unsafe {
        let fd = libc::memfd_create(
            c"vgpu-shm".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        );
        if fd < 0 {
            return Err(last("memfd_create"));
        }
        let file = File::from_raw_fd(fd);
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        if libc::ftruncate(fd, size as libc::off_t) != 0
            || libc::fcntl(fd, libc::F_ADD_SEALS, seals) != 0
        {
            return Err(last("memfd"));
        }
        Ok(file)
    }
}

/// Sends `parts` as one message with `fds` attached.
fn send_with_fds(stream: &UnixStream, parts: &[&[u8]], fds: &[RawFd]) -> Result<(), DevError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let iov: Vec<std::io::IoSlice<'_>> = parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let sent = sendmsg::<UnixAddr>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| err("sendmsg", e as i32))?;
    if sent != total {
        return Err(err("sendmsg", libc::EIO));
    }
    Ok(())
}

impl ShmClient {
    /// Attaches shared memory to a fresh connection.
    pub fn attach(mut stream: UnixStream) -> Result<Self, AttachFailure> {
        let setup = ShmSetup::new(DEPTH, ARENA);
        let Some(layout) = ShmLayout::of(&setup) else {
            return Err(AttachFailure::Fallback(
                stream,
                err("shm setup", libc::EINVAL),
            ));
        };
        let local = (|| {
            let memfd = sealed_memfd(layout.size)?;
            let (doorbell, wake) = (eventfd()?, eventfd()?);
            let host = super::host::growable_memfd()?;
            // SAFETY: a fresh shared mapping of the whole (sealed) memfd.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    layout.size as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_SHARED,
                    memfd.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(last("mmap"));
            }
            let base = NonNull::new(ptr.cast()).ok_or(err("mmap", libc::ENOMEM))?;
            Ok((memfd, doorbell, wake, base, host))
        })();
        let (memfd, doorbell, wake, base, host) = match local {
            Ok(v) => v,
            Err(e) => return Err(AttachFailure::Fallback(stream, e)),
        };
        let client = Self {
            stream: match stream.try_clone() {
                Ok(s) => s,
                Err(_) => return Err(AttachFailure::Fallback(stream, err("dup", libc::EMFILE))),
            },
            // SAFETY: the fresh page-aligned mapping of `layout.size`
            // bytes, unmapped only when the client drops.
            view: unsafe { ShmView::new(base, layout) },
            doorbell,
            wake,
            arena: ArenaRing::new(layout.arena_len),
            published: 0,
            next_ticket: 1,
            inflight: VecDeque::new(),
            stash: HashMap::new(),
            spin: Cell::new(SpinPolicy::default()),
            wait_mode: WaitMode::Adaptive,
            sleeps: Cell::new(0),
            host: Some(super::host::HostFile::new(host)),
        };
        let frame = RequestFrame {
            opcode: 0,
            flags: frame_flags::SHM_ATTACH,
            req_len: core::mem::size_of::<ShmSetup>() as u32,
            resp_capacity: 0,
            reserved: 0,
        };
        let host_fd = client.host.as_ref().map_or(-1, |h| h.raw_fd());
        let fds = [
            memfd.as_raw_fd(),
            client.doorbell.as_raw_fd(),
            client.wake.as_raw_fd(),
            host_fd,
        ];
        if let Err(e) = send_with_fds(&stream, &[frame.as_bytes(), setup.as_bytes()], &fds) {
            return Err(AttachFailure::Broken(e));
        }
        let mut answer = ResponseFrame::default();
        if let Err(e) = stream.read_exact(answer.as_bytes_mut()) {
            return Err(AttachFailure::Broken(err(
                "read",
                e.raw_os_error().unwrap_or(libc::ENODEV),
            )));
        }
        if answer.status == Status::Busy as u32 {
            // The device takes no more clients (vgpu-host's quota): no
            // fallback can help; the caller reports the device busy.
            return Err(AttachFailure::Broken(err("shm attach", libc::EBUSY)));
        }
        if answer.status != Status::Ok as u32 {
            drop(client);
            return Err(AttachFailure::Fallback(
                stream,
                err("shm attach", libc::EOPNOTSUPP),
            ));
        }
        Ok(client)
    }
}
