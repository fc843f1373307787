//! The server's view of a client's shared area (`uapi::shm`): the mapping,
//! and every read of it made once, copied out, and validated.
//!
//! The client can rewrite the area at any moment, so nothing is parsed in
//! place: a descriptor is copied into a local struct before it is checked,
//! and request bytes are copied into the worker's own buffer before they are
//! decoded. The one exception is a synchronous copy's data
//! ([`SharedArea::in_place`]): only its header is copied out, and the data
//! moves between the device and the arena directly; the client racing it
//! only changes its own bytes. A range the client names must lie inside the arena; one that
//! does not completes its command with `INVALID_FIELD`. The memfd must be
//! sealed against shrinking, so the mapping cannot turn into a SIGBUS under
//! the worker.

use super::host_memory::HostMaps;
use crate::cuda::SharedSpan;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use uapi::cuda::{copy_flags, op, CopyRequest, ResultHeader};
use uapi::shm::{header, ShmCompletion, ShmDescriptor, ShmLayout, ShmSetup, ShmView};
use uapi::socket::{frame_flags, MAX_FRAME_PAYLOAD};
use uapi::status::Status;
use uapi::wire::Wire;

/// Why an attach was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttachError {
    /// The setup names an impossible layout.
    #[error("invalid shared-memory setup")]
    Setup,
    /// The memfd is smaller than the layout or not sealed against shrinking.
    #[error("shared memory file is too small or not sealed")]
    File,
    /// The mapping failed.
    #[error("cannot map the shared memory: errno {0}")]
    Map(i32),
}

/// A command taken from the ring, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Opcode.
    pub opcode: u16,
    /// No response is awaited.
    pub detached: bool,
    /// Request bytes.
    pub req_len: u32,
    /// Response capacity (0 when detached).
    pub resp_capacity: u32,
    /// Arena offset of the request and the response.
    pub offset: u64,
}

/// A copy whose data stays in the arena ([`SharedArea::in_place`]).
#[derive(Clone, Copy, Debug)]
pub struct InPlace {
    /// The request header, copied out of the arena.
    pub request: CopyRequest,
    /// The data's place in the arena.
    pub span: SharedSpan,
}

/// A client's mapped area.
#[derive(Debug)]
pub struct SharedArea {
    view: ShmView,
}

// SAFETY: the mapping is shared memory that lives until drop; the words are
// accessed through atomics and the bytes by copies only.
unsafe impl Send for SharedArea {}

impl SharedArea {
    /// Maps `file` as `setup` describes it, after checking its size and seals.
    pub fn map(file: &File, setup: &ShmSetup) -> Result<Self, AttachError> {
        let layout = ShmLayout::of(setup).ok_or(AttachError::Setup)?;
        let size = file.metadata().map_err(|_| AttachError::File)?.len();
        // SAFETY: a plain query on a descriptor we own.
        let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
        if size < layout.size || seals < 0 || seals & libc::F_SEAL_SHRINK == 0 {
            return Err(AttachError::File);
        }
        let len = usize::try_from(layout.size).map_err(|_| AttachError::Setup)?;
        // SAFETY: a fresh shared mapping of `len` bytes of a file at least
        // that long (and sealed so it stays so); the kernel picks the address.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(AttachError::Map(
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
            ));
        }
        let base = NonNull::new(ptr.cast()).ok_or(AttachError::Map(0))?;
        // SAFETY: the fresh page-aligned mapping of `layout.size` bytes,
        // unmapped only when this area drops.
        let view = unsafe { ShmView::new(base, layout) };
        Ok(Self { view })
    }

    /// The layout.
    pub fn layout(&self) -> &ShmLayout {
        self.view.layout()
    }

    /// Start of the arena in this process (for registration with a GPU).
    pub fn arena_ptr(&self) -> *mut u8 {
        // SAFETY: the arena lies inside the mapping.
        unsafe { self.view.base().as_ptr().add(self.layout().arena as usize) }
    }

    /// Commands the client has published.
    pub fn submitted(&self) -> u64 {
        self.view.u64_at(header::SUBMITTED).load(Ordering::Acquire)
    }

    /// Publishes that commands before `n` are complete; returns whether the
    /// client sleeps and needs its wake-up written.
    pub fn set_completed(&self, n: u64) -> bool {
        self.view
            .u64_at(header::COMPLETED)
            .store(n, Ordering::Release);
        // Pairs with the client's fence between setting CLIENT_ASLEEP and
        // reading COMPLETED: one of the two sides sees the other.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.view
            .u32_at(header::CLIENT_ASLEEP)
            .load(Ordering::Relaxed)
            != 0
    }

    /// Marks this side asleep (or awake).
    pub fn set_asleep(&self, asleep: bool) {
        self.view
            .u32_at(header::SERVER_ASLEEP)
            .store(u32::from(asleep), Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    /// Copies command `n`'s descriptor out of the ring and checks it.
    pub fn take(&self, n: u64) -> Result<Taken, Status> {
        let mut d = ShmDescriptor::default();
        self.view
            .copy_out(self.layout().descriptor(n), d.as_bytes_mut());
        let detached = d.flags & frame_flags::DETACHED != 0;
        let span = if detached {
            d.req_len
        } else {
            d.req_len.max(d.resp_capacity)
        };
        let valid = d.reserved == 0
            && d.flags & !frame_flags::DETACHED == 0
            && d.req_len <= MAX_FRAME_PAYLOAD
            && d.resp_capacity <= MAX_FRAME_PAYLOAD
            && self
                .layout()
                .arena_range(d.offset, u64::from(span))
                .is_some();
        if !valid {
            return Err(Status::InvalidField);
        }
        Ok(Taken {
            opcode: d.opcode,
            detached,
            req_len: d.req_len,
            resp_capacity: if detached { 0 } else { d.resp_capacity },
            offset: d.offset,
        })
    }

    /// The whole arena, for registration with the device.
    pub fn arena_span(&self) -> SharedSpan {
        let ptr = NonNull::new(self.arena_ptr()).unwrap_or(self.view.base());
        // SAFETY: the arena lies inside the mapping, which lives as long as
        // this area; the session forgets the span before the area drops
        // (`super::shm::serve`).
        unsafe { SharedSpan::new(ptr, self.layout().arena_len as usize) }
    }

    /// The arena bytes at `offset..offset+len`, if inside the arena.
    fn span(&self, offset: u64, len: u64) -> Option<SharedSpan> {
        let end = offset.checked_add(len)?;
        if end > self.layout().arena_len {
            return None;
        }
        let ptr = NonNull::new(self.arena_ptr().wrapping_add(offset as usize))?;
        // SAFETY: inside the arena (checked above), mapped as long as this
        // area, which outlives the command it is used for.
        Some(unsafe { SharedSpan::new(ptr, len as usize) })
    }

    /// A synchronous MEMCPY_HTOD or MEMCPY_DTOH whose data can stay in the
    /// arena: its `CopyRequest` copied out (the one thing the host parses),
    /// and the arena range of its data (after the header for HTOD, after the
    /// response's `ResultHeader` for DTOH), or, for a copy flagged
    /// `HOST_MEMORY`, its range of a mapping of `host`. `None` sends the command the
    /// ordinary way: asynchronous copies (the place is reused once we
    /// complete, while the device may still read it) and any request whose
    /// shape is off (the ordinary decoder reports it).
    pub fn in_place(&self, t: &Taken, host: Option<&HostMaps>) -> Option<InPlace> {
        let head = size_of::<CopyRequest>() as u64;
        let want = match t.opcode {
            op::MEMCPY_HTOD => u64::from(t.req_len) >= head,
            op::MEMCPY_DTOH => u64::from(t.req_len) == head,
            _ => false,
        };
        if !want {
            return None;
        }
        let mut request = CopyRequest::default();
        self.copy_request(t, request.as_bytes_mut());
        if request.reserved != 0 {
            return None;
        }
        if request.flags & copy_flags::HOST_MEMORY != 0 {
            // The host side is a mapping of the host-memory file: no tail
            // either way, and asynchronous (stream-ordered) either way: the
            // client keeps the block until its stream is done. Which of
            // these a detached command may be, `execute_shared` checks.
            let allowed = copy_flags::HOST_MEMORY | copy_flags::ASYNC;
            let at = if t.opcode == op::MEMCPY_HTOD {
                request.src
            } else {
                request.dst
            };
            let ok = request.flags & !allowed == 0 && u64::from(t.req_len) == head;
            let span = host.filter(|_| ok)?.span(at, request.len)?;
            return Some(InPlace { request, span });
        }
        // The arena's place holds a DTOH's data only in its response.
        if request.flags != 0 || (t.detached && t.opcode == op::MEMCPY_DTOH) {
            return None;
        }
        let span = if t.opcode == op::MEMCPY_HTOD {
            let data = u64::from(t.req_len) - head;
            (request.len == data).then_some(())?;
            self.span(t.offset + head, data)?
        } else {
            let result = size_of::<ResultHeader>() as u64;
            let fits = request
                .len
                .checked_add(result)
                .is_some_and(|n| n <= u64::from(t.resp_capacity));
            fits.then_some(())?;
            self.span(t.offset + result, request.len)?
        };
        Some(InPlace { request, span })
    }

    /// Whether `t` is a MEMCPY_HTOD or MEMCPY_DTOH flagged `HOST_MEMORY`
    /// (whatever else is off about it).
    pub fn is_host_memory_copy(&self, t: &Taken) -> bool {
        if !matches!(t.opcode, op::MEMCPY_HTOD | op::MEMCPY_DTOH) {
            return false;
        }
        let mut request = CopyRequest::default();
        if (t.req_len as usize) < size_of::<CopyRequest>() {
            return false;
        }
        self.copy_request(t, request.as_bytes_mut());
        request.flags & copy_flags::HOST_MEMORY != 0
    }

    /// Copies the start of `t`'s request into `out` (at most its length;
    /// the rest of `out` is left as it was).
    pub fn copy_request(&self, t: &Taken, out: &mut [u8]) {
        let n = out.len().min(t.req_len as usize);
        self.view
            .copy_out(self.layout().arena + t.offset, &mut out[..n]);
    }

    /// Completes command `n` (`t`) whose response is `head` followed by
    /// `data` bytes already in place after it (`head.len() + data <=
    /// t.resp_capacity`, as [`Self::in_place`] checked).
    pub fn complete_in_place(&self, n: u64, t: &Taken, status: Status, head: &[u8], data: usize) {
        let total = head.len() + data;
        let resp_len = if total <= t.resp_capacity as usize {
            self.view.copy_in(self.layout().arena + t.offset, head);
            total as u32
        } else {
            0
        };
        let c = ShmCompletion {
            status: status as u32,
            resp_len,
        };
        self.view.copy_in(self.layout().completion(n), c.as_bytes());
    }

    /// Copies the request of `t` into `out` (resized to it).
    pub fn request(&self, t: &Taken, out: &mut Vec<u8>) {
        out.resize(t.req_len as usize, 0);
        self.view.copy_out(self.layout().arena + t.offset, out);
    }

    /// Writes `t`'s response (`bytes.len() <= t.resp_capacity`, checked by
    /// the caller) and its completion as command `n`.
    pub fn complete(&self, n: u64, t: Option<&Taken>, status: Status, bytes: &[u8]) {
        let mut resp_len = 0;
        if let Some(t) = t.filter(|t| bytes.len() <= t.resp_capacity as usize) {
            self.view.copy_in(self.layout().arena + t.offset, bytes);
            resp_len = bytes.len() as u32;
        }
        let c = ShmCompletion {
            status: status as u32,
            resp_len,
        };
        self.view.copy_in(self.layout().completion(n), c.as_bytes());
    }

    /// Completes command `n` with `RESPONSE_TOO_SMALL` and the size needed.
    pub fn complete_too_small(&self, n: u64, needed: usize) {
        let c = ShmCompletion {
            status: Status::ResponseTooSmall as u32,
            resp_len: u32::try_from(needed).unwrap_or(u32::MAX),
        };
        self.view.copy_in(self.layout().completion(n), c.as_bytes());
    }
}

impl Drop for SharedArea {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, used by nobody
        // after this.
        unsafe {
            libc::munmap(
                self.view.base().as_ptr().cast(),
                self.layout().size as usize,
            );
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn setup(depth: u32, arena_len: u64) -> ShmSetup {
        ShmSetup::new(depth, arena_len)
    }

    pub(in crate::direct) fn sealed_file(size: u64, seal: bool) -> File {
        let name = c"vgpu-test-shm";
        // SAFETY: plain system calls on a fresh descriptor we own.
        unsafe {
            let fd = libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
            assert!(fd >= 0);
            assert_eq!(libc::ftruncate(fd, size as i64), 0);
            if seal {
                assert_eq!(
                    libc::fcntl(
                        fd,
                        libc::F_ADD_SEALS,
                        libc::F_SEAL_SHRINK | libc::F_SEAL_GROW
                    ),
                    0
                );
            }
            std::os::fd::FromRawFd::from_raw_fd(fd)
        }
    }

    /// Writes a descriptor as a (hostile) client would.
    pub(in crate::direct) fn put(file: &File, layout: &ShmLayout, n: u64, d: &ShmDescriptor) {
        use std::os::unix::fs::FileExt;
        file.write_all_at(d.as_bytes(), layout.descriptor(n))
            .expect("write");
    }

    #[test]
    fn unsealed_or_short_files_are_refused() {
        let s = setup(16, 1 << 16);
        let size = ShmLayout::of(&s).expect("valid").size;
        assert_eq!(
            SharedArea::map(&sealed_file(size, false), &s).err(),
            Some(AttachError::File)
        );
        assert_eq!(
            SharedArea::map(&sealed_file(size - 4096, true), &s).err(),
            Some(AttachError::File)
        );
        let mut bad = s;
        bad.depth = 5;
        assert_eq!(
            SharedArea::map(&sealed_file(size, true), &bad).err(),
            Some(AttachError::Setup)
        );
        assert!(SharedArea::map(&sealed_file(size, true), &s).is_ok());
    }

    #[test]
    fn hostile_descriptors_are_refused_without_panic() {
        let s = setup(16, 1 << 16);
        let layout = ShmLayout::of(&s).expect("valid");
        let file = sealed_file(layout.size, true);
        let area = SharedArea::map(&file, &s).expect("map");
        let good = ShmDescriptor {
            opcode: 2,
            flags: 0,
            req_len: 100,
            resp_capacity: 200,
            reserved: 0,
            offset: (1 << 16) - 200,
        };
        put(&file, &layout, 0, &good);
        assert_eq!(area.take(0).map(|t| t.offset), Ok((1 << 16) - 200));
        for bad in [
            ShmDescriptor {
                offset: (1 << 16) - 199,
                ..good
            },
            ShmDescriptor {
                offset: u64::MAX - 50,
                ..good
            },
            ShmDescriptor {
                req_len: u32::MAX,
                offset: 0,
                ..good
            },
            ShmDescriptor {
                resp_capacity: MAX_FRAME_PAYLOAD + 1,
                offset: 0,
                ..good
            },
            ShmDescriptor {
                flags: 0x80,
                offset: 0,
                ..good
            },
            ShmDescriptor {
                reserved: 1,
                offset: 0,
                ..good
            },
        ] {
            // Entry 17 is entry 1 of the ring: the index wraps.
            put(&file, &layout, 17, &bad);
            assert_eq!(area.take(1), Err(Status::InvalidField), "{bad:?}");
        }
        // A detached command's response capacity does not count.
        let detached = ShmDescriptor {
            flags: frame_flags::DETACHED,
            req_len: 8,
            resp_capacity: 1 << 20,
            offset: (1 << 16) - 8,
            ..good
        };
        put(&file, &layout, 2, &detached);
        let t = area.take(2).expect("detached fits");
        assert!(t.detached);
        assert_eq!(t.resp_capacity, 0);
    }

    #[test]
    fn requests_and_responses_move_through_the_arena() {
        use std::os::unix::fs::FileExt;
        let s = setup(4, 1 << 16);
        let layout = ShmLayout::of(&s).expect("valid");
        let file = sealed_file(layout.size, true);
        let area = SharedArea::map(&file, &s).expect("map");
        file.write_all_at(b"hello", layout.arena + 4096)
            .expect("write");
        let d = ShmDescriptor {
            opcode: 2,
            flags: 0,
            req_len: 5,
            resp_capacity: 3,
            reserved: 0,
            offset: 4096,
        };
        put(&file, &layout, 5, &d);
        let t = area.take(5).expect("valid");
        let mut req = Vec::new();
        area.request(&t, &mut req);
        assert_eq!(req, b"hello");
        area.complete(5, Some(&t), Status::Ok, b"abc");
        let mut got = [0u8; 8];
        file.read_exact_at(&mut got, layout.completion(5))
            .expect("read");
        let c = ShmCompletion::read_from(&got).expect("completion");
        assert_eq!((c.status, c.resp_len), (Status::Ok as u32, 3));
        let mut resp = [0u8; 3];
        file.read_exact_at(&mut resp, layout.arena + 4096)
            .expect("read");
        assert_eq!(&resp, b"abc");
        // Too long a response is not written.
        area.complete(6, Some(&t), Status::Ok, b"abcd");
        file.read_exact_at(&mut got, layout.completion(6))
            .expect("read");
        assert_eq!(ShmCompletion::read_from(&got).map(|c| c.resp_len), Some(0));
        assert!(!area.set_completed(7));
        assert_eq!(area.submitted(), 0);
    }
}
