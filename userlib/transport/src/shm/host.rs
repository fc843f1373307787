//! Pinned host memory on the shared-memory transport (`uapi::shm::host_op`):
//! allocations placed in a second memfd that the server maps and registers
//! with the GPU, so copies from and to them need no copy on either side and
//! asynchronous ones are truly asynchronous.
//!
//! The file only grows (it is sealed against shrinking, so the server's
//! mappings of it never SIGBUS); a freed range's pages are released with a
//! hole punch once the server has unmapped it, and the range is reused.

use std::{fs::File, os::fd::AsRawFd};

use uapi::{
    shm::{host_op, HostRange, SHM_PAGE},
    status::Status,
    wire::Wire,
};

use super::{err, last, ShmClient};
use crate::{DevError, HostBlock};

/// The host-memory file and its free ranges.
#[derive(Debug)]
pub(super) struct HostFile {
    file: File,
    /// Bytes of the file.
    len: u64,
    /// Free ranges: (offset, len), page multiples.
    free: Vec<(u64, u64)>,
}

/// A memfd that may grow but never shrink.
pub(super) fn growable_memfd() -> Result<File, DevError> {
    // SAFETY: plain system calls on a fresh descriptor we own.
    unsafe {
        let fd = libc::memfd_create(
            c"vgpu-host-memory".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        );
        if fd < 0 {
            return Err(last("memfd_create"));
        }
        let file = <File as std::os::fd::FromRawFd>::from_raw_fd(fd);
        if libc::fcntl(
            fd,
            libc::F_ADD_SEALS,
            libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL,
        ) != 0
        {
            return Err(last("memfd seals"));
        }
        Ok(file)
    }
}

impl HostFile {
    pub(super) fn new(file: File) -> Self {
        Self {
            file,
            len: 0,
            free: Vec::new(),
        }
    }

    pub(super) fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// A range of `len` bytes (a page multiple): a free one, or the file's
    /// new end.
    fn place(&mut self, len: u64) -> Result<u64, DevError> {
        if let Some(i) = self.free.iter().position(|&(_, l)| l >= len) {
            let (offset, l) = self.free[i];
            if l == len {
                self.free.swap_remove(i);
            } else {
                self.free[i] = (offset + len, l - len);
            }
            return Ok(offset);
        }
        let offset = self.len;
        let end = offset
            .checked_add(len)
            .ok_or(err("host memory", libc::ENOMEM))?;
        let size = libc::off_t::try_from(end).map_err(|_| err("host memory", libc::ENOMEM))?;
        // SAFETY: grows our own memfd (shrinking is sealed off, growing not).
        if unsafe { libc::ftruncate(self.file.as_raw_fd(), size) } != 0 {
            return Err(last("ftruncate"));
        }
        self.len = end;
        Ok(offset)
    }

    /// Gives a range back, releasing its pages (the server no longer maps it).
    fn release(&mut self, offset: u64, len: u64) {
        // SAFETY: a punch inside our own memfd; nobody maps the range now.
        // If it fails the pages just stay allocated for the next use.
        unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            );
        }
        self.free.push((offset, len));
    }
}

impl ShmClient {
    /// Runs one host-memory command of the server's (`host_op`).
    fn host_call(&mut self, opcode: u16, r: &HostRange) -> Result<u32, DevError> {
        let ticket = self
            .push(
                opcode,
                [r.as_bytes(), &[]],
                false,
                0,
                (std::ptr::null_mut(), 0),
            )?
            .ok_or(err("host memory", libc::EIO))?;
        let c = super::super::Transport::wait(self, ticket, &mut [])?;
        Ok(c.status)
    }

    pub(super) fn host_alloc_impl(&mut self, len: usize) -> Result<HostBlock, DevError> {
        let host = self
            .host
            .as_mut()
            .ok_or(err("host memory", libc::EOPNOTSUPP))?;
        let len = (len.max(1) as u64).div_ceil(SHM_PAGE) * SHM_PAGE;
        let map_len = usize::try_from(len).map_err(|_| err("host memory", libc::ENOMEM))?;
        let offset = host.place(len)?;
        // SAFETY: a fresh shared mapping of our memfd, inside its size.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                host.raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            let e = last("mmap");
            host.free.push((offset, len));
            return Err(e);
        }
        // A forked child does not inherit it (as NVIDIA's pinned memory):
        // it would otherwise share the parent's bytes. Best effort.
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(ptr, map_len, libc::MADV_DONTFORK) };
        let range = HostRange { offset, len };
        let status = self.host_call(host_op::HOST_MAP, &range);
        if !matches!(status, Ok(s) if s == Status::Ok as u32) {
            // SAFETY: the mapping made above, handed out to nobody.
            unsafe { libc::munmap(ptr, map_len) };
            if let Some(host) = self.host.as_mut() {
                host.free.push((offset, len));
            }
            return Err(match status {
                Err(e) => e,
                Ok(_) => err("host memory map", libc::ENOMEM),
            });
        }
        Ok(HostBlock {
            ptr: ptr.cast(),
            len: map_len,
            offset,
        })
    }

    pub(super) fn host_free_impl(&mut self, block: HostBlock) -> Result<(), DevError> {
        let range = HostRange {
            offset: block.offset,
            len: block.len as u64,
        };
        // Waits for the client's GPU work that may still use it.
        let status = self.host_call(host_op::HOST_UNMAP, &range)?;
        if status != Status::Ok as u32 {
            // Not a block of this connection's: touch nothing (the range
            // is never reused, the mapping left as it is).
            return Err(err("host memory unmap", libc::EINVAL));
        }
        // SAFETY: the mapping `host_alloc_impl` made for this block; the
        // caller gives up every use of it.
        unsafe { libc::munmap(block.ptr.cast(), block.len) };
        if let Some(host) = self.host.as_mut() {
            host.release(range.offset, range.len);
        }
        Ok(())
    }
}
