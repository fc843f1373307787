// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! The shared-memory transport of the direct socket: after connecting, the
//! client creates a sealed memfd holding a command ring, a completion ring
//! and a payload arena, and hands it to the server with two eventfds in one
//! [`super::socket::frame_flags::SHM_ATTACH`] frame (`SCM_RIGHTS`). From
//! then on no command byte crosses the socket: the client writes a request
//! into the arena and its [`ShmDescriptor`] into the ring, publishes it
//! through [`ShmHeader::submitted`]; the server copies it out, runs it,
//! writes the response over the request's place and publishes a
//! [`ShmCompletion`] through [`ShmHeader::completed`]. Both sides poll
//! briefly before sleeping; a sleeper sets its `*_asleep` word first and the
//! other side then writes the sleeper's eventfd. The socket stays open: its
//! hang-up is how either side learns the other is gone.
//!
//! The memory is shared with the other side, which may change it at any
//! time: the server reads each descriptor once, copies it, validates the
//! copy, and copies the request bytes out before decoding them.
//!
//! Layout, from offset 0 of the memfd: the header page, `depth`
//! descriptors, `depth` completions, the arena (page-aligned), see
//! [`ShmLayout`].

/// [`ShmSetup::magic`]: "VGSM".
pub const SHM_MAGIC: u32 = u32::from_le_bytes(*b"VGSM");
/// [`ShmSetup::version`].
pub const SHM_VERSION: u32 = 1;
/// Page granule of the layout.
pub const SHM_PAGE: u64 = 4096;
/// Most ring entries.
pub const SHM_MAX_DEPTH: u32 = 4096;
/// Largest arena.
pub const SHM_MAX_ARENA: u64 = 1 << 30;
/// Alignment of each command's place in the arena.
pub const SHM_ALIGN: u64 = 64;

/// The body of the attach frame: what the memfd holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmSetup {
    /// [`SHM_MAGIC`].
    pub magic: u32,
    /// [`SHM_VERSION`].
    pub version: u32,
    /// Ring entries, a power of two, at most [`SHM_MAX_DEPTH`].
    pub depth: u32,
    /// Zero.
    pub reserved: u32,
    /// Arena bytes, a multiple of [`SHM_PAGE`], at most [`SHM_MAX_ARENA`].
    pub arena_len: u64,
}

impl ShmSetup {
    /// The setup of this version for `depth` ring entries and an arena of
    /// `arena_len` bytes (checked by [`ShmLayout::of`], not here).
    pub const fn new(depth: u32, arena_len: u64) -> Self {
        Self {
            magic: SHM_MAGIC,
            version: SHM_VERSION,
            depth,
            reserved: 0,
            arena_len,
        }
    }
}

/// Client memory in a second memfd (the attach frame's optional fourth
/// descriptor, sealed against shrinking and growing only): the guest
/// library's pinned host allocations (`cuMemAllocHost`) live there, so a
/// copy from or to them needs no copy on either side. The client places an
/// allocation in the file and asks the server to map it with
/// [`host_op::HOST_MAP`] (the server registers it with the GPU); copies
/// then name it by file offset ([`crate::cuda::copy_flags::HOST_MEMORY`]).
pub mod host_op {
    /// Request [`super::HostRange`], no response body: map (and register)
    /// `len` bytes at `offset` of the host-memory file. `INVALID_FIELD` for
    /// a range that is unaligned, empty, past the file's end, overlapping
    /// another, or beyond [`super::HOST_MAX_MAPS`] / [`super::HOST_MAX_BYTES`];
    /// `INVALID_OPCODE` without a host-memory file.
    pub const HOST_MAP: u16 = 0xff00;
    /// Request [`super::HostRange`] of a mapped range (the same offset and
    /// length), no response body: waits for the client's GPU work, then
    /// unregisters and unmaps it. Its pages are the client's to reuse or
    /// release once this completes.
    pub const HOST_UNMAP: u16 = 0xff01;
}

/// Most ranges of the host-memory file mapped at once.
pub const HOST_MAX_MAPS: usize = 4096;
/// Most bytes of the host-memory file mapped at once.
pub const HOST_MAX_BYTES: u64 = 1 << 40;

/// A range of the host-memory file ([`host_op`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostRange {
    /// File offset, a multiple of [`SHM_PAGE`].
    pub offset: u64,
    /// Bytes, a non-zero multiple of [`SHM_PAGE`].
    pub len: u64,
}

/// Offsets of the atomic words in the header page (each on a cache line of
/// its own, so the two sides do not share lines they both write).
pub mod header {
    /// `u64`, written by the client: descriptors published so far.
    pub const SUBMITTED: usize = 64;
    /// `u64`, written by the server: descriptors completed so far.
    pub const COMPLETED: usize = 128;
    /// `u32`, written by the server: 1 while it sleeps on its doorbell.
    pub const SERVER_ASLEEP: usize = 192;
    /// `u32`, written by the client: 1 while it sleeps on its wake-up.
    pub const CLIENT_ASLEEP: usize = 256;
}

/// Marker naming the header page in docs; its words are at [`header`].
pub struct ShmHeader;

/// One command in the ring (entry `n % depth` holds command `n`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmDescriptor {
    /// Opcode.
    pub opcode: u16,
    /// [`super::socket::frame_flags::DETACHED`] or 0.
    pub flags: u16,
    /// Request bytes at `offset`.
    pub req_len: u32,
    /// Response capacity at `offset` (0 when detached).
    pub resp_capacity: u32,
    /// Zero.
    pub reserved: u32,
    /// Arena offset of the request, and of the response after it ran.
    pub offset: u64,
}

/// The outcome of one command (entry `n % depth` for command `n`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShmCompletion {
    /// [`super::status::Status`].
    pub status: u32,
    /// Response bytes at the command's offset (0 unless status is OK; the
    /// needed size on `RESPONSE_TOO_SMALL`).
    pub resp_len: u32,
}

const _: () = assert!(core::mem::size_of::<ShmSetup>() == 24);
const _: () = assert!(core::mem::size_of::<ShmDescriptor>() == 24);
const _: () = assert!(core::mem::size_of::<ShmCompletion>() == 8);
const _: () = assert!(core::mem::size_of::<HostRange>() == 16);

/// Where everything is in the memfd, as both sides compute it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShmLayout {
    /// Ring entries.
    pub depth: u32,
    /// Offset of the descriptor ring.
    pub ring: u64,
    /// Offset of the completion ring.
    pub completions: u64,
    /// Offset of the arena.
    pub arena: u64,
    /// Arena bytes.
    pub arena_len: u64,
    /// Bytes the memfd must have.
    pub size: u64,
}

impl ShmLayout {
    /// The layout a setup names, if the setup is valid.
    pub fn of(setup: &ShmSetup) -> Option<Self> {
        let ok = setup.magic == SHM_MAGIC
            && setup.version == SHM_VERSION
            && setup.reserved == 0
            && setup.depth.is_power_of_two()
            && setup.depth <= SHM_MAX_DEPTH
            && setup.arena_len != 0
            && setup.arena_len & (SHM_PAGE - 1) == 0
            && setup.arena_len <= SHM_MAX_ARENA;
        if !ok {
            return None;
        }
        let depth = u64::from(setup.depth);
        let ring = SHM_PAGE;
        let completions = ring + depth * core::mem::size_of::<ShmDescriptor>() as u64;
        let end = completions + depth * core::mem::size_of::<ShmCompletion>() as u64;
        let arena = end.div_ceil(SHM_PAGE) * SHM_PAGE;
        Some(Self {
            depth: setup.depth,
            ring,
            completions,
            arena,
            arena_len: setup.arena_len,
            size: arena + setup.arena_len,
        })
    }

    /// Offset of command `n`'s descriptor.
    pub fn descriptor(&self, n: u64) -> u64 {
        self.ring + (n % u64::from(self.depth)) * core::mem::size_of::<ShmDescriptor>() as u64
    }

    /// Offset of command `n`'s completion.
    pub fn completion(&self, n: u64) -> u64 {
        self.completions
            + (n % u64::from(self.depth)) * core::mem::size_of::<ShmCompletion>() as u64
    }

    /// The arena range `[offset, offset + len)` if it lies inside the arena,
    /// as a memfd offset.
    pub fn arena_range(&self, offset: u64, len: u64) -> Option<u64> {
        let end = offset.checked_add(len)?;
        (end <= self.arena_len).then_some(self.arena + offset)
    }
}

/// A mapped shared area as one side sees it: the header words and the byte
/// copies in and out, at offsets its [`ShmLayout`] gives. Each side maps and
/// unmaps the memfd itself (this crate makes no system calls); this is what
/// both then do with the mapping.
#[derive(Debug)]
pub struct ShmView {
    base: core::ptr::NonNull<u8>,
    layout: ShmLayout,
}

impl ShmView {
    /// A view of the mapping at `base`.
    ///
    /// # Safety
    ///
    /// `base` starts a page-aligned mapping of at least `layout.size` bytes
    /// that stays mapped while the view lives.
    pub unsafe fn new(base: core::ptr::NonNull<u8>, layout: ShmLayout) -> Self {
        Self { base, layout }
    }

    /// The layout.
    pub fn layout(&self) -> &ShmLayout {
        &self.layout
    }

    /// Start of the mapping.
    pub fn base(&self) -> core::ptr::NonNull<u8> {
        self.base
    }

    /// The `u64` header word at `off` (one of [`header`]'s).
    pub fn u64_at(&self, off: usize) -> &core::sync::atomic::AtomicU64 {
        assert!(off & 7 == 0 && off + 8 <= SHM_PAGE as usize);
        // SAFETY: an 8-aligned word in the first page of the live
        // page-aligned mapping (checked above).
        unsafe { &*self.base.as_ptr().add(off).cast() }
    }

    /// The `u32` header word at `off` (one of [`header`]'s).
    pub fn u32_at(&self, off: usize) -> &core::sync::atomic::AtomicU32 {
        assert!(off & 3 == 0 && off + 4 <= SHM_PAGE as usize);
        // SAFETY: as in `u64_at`, 4-aligned.
        unsafe { &*self.base.as_ptr().add(off).cast() }
    }

    fn check(&self, off: u64, len: usize) {
        assert!(off
            .checked_add(len as u64)
            .is_some_and(|end| end <= self.layout.size));
    }

    /// The address of the `len` bytes at memfd offset `off`, checked to lie
    /// inside the mapping, for copies the caller makes its own way.
    pub fn ptr_at(&self, off: u64, len: usize) -> *mut u8 {
        self.check(off, len);
        // SAFETY: the range lies inside the live mapping (checked above).
        unsafe { self.base.as_ptr().add(off as usize) }
    }

    /// Copies the bytes at memfd offset `off` into `out`. The other side may
    /// write them meanwhile: the copy is then garbage, which every reader
    /// of the other side's bytes is built to refuse.
    pub fn copy_out(&self, off: u64, out: &mut [u8]) {
        // SAFETY: `out` is valid for its length of writes.
        unsafe { self.copy_out_raw(off, out.as_mut_ptr(), out.len()) }
    }

    /// Copies `len` bytes at memfd offset `off` to `dst`.
    ///
    /// # Safety
    ///
    /// `dst` is valid for `len` bytes of writes and outside the mapping.
    pub unsafe fn copy_out_raw(&self, off: u64, dst: *mut u8, len: usize) {
        self.check(off, len);
        // SAFETY: the source lies inside the live mapping (checked above),
        // the destination is the caller's promise.
        unsafe { core::ptr::copy_nonoverlapping(self.base.as_ptr().add(off as usize), dst, len) }
    }

    /// Copies `bytes` to memfd offset `off`.
    pub fn copy_in(&self, off: u64, bytes: &[u8]) {
        self.check(off, bytes.len());
        // SAFETY: the destination lies inside the live mapping (checked
        // above); `bytes` is the caller's own memory.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.as_ptr().add(off as usize),
                bytes.len(),
            )
        }
    }
}

/// How long a waiting side polls before it sleeps.
pub const SHM_SPIN: core::time::Duration = core::time::Duration::from_micros(50);

/// Most waits in a row that skip polling after polling failed.
const MAX_SKIP: u32 = 32;

/// When a waiting side (either one) polls before sleeping. Polling pays
/// when the other side has a core of its own; on a machine with fewer free
/// cores than runnable threads it only delays the side we wait for. So
/// after a poll that ended in sleep anyway, the next waits sleep at once
/// (1, 3, 7, … up to [`MAX_SKIP`] of them), and one poll that succeeds
/// restores polling.
#[derive(Debug, Clone, Copy)]
pub struct SpinPolicy {
    skip: u32,
    left: u32,
    limit: core::time::Duration,
}

impl Default for SpinPolicy {
    /// Polls for [`SHM_SPIN`].
    fn default() -> Self {
        Self::polling_for(SHM_SPIN)
    }
}

impl SpinPolicy {
    /// Polls for up to `limit` each time.
    pub const fn polling_for(limit: core::time::Duration) -> Self {
        Self {
            skip: 0,
            left: 0,
            limit,
        }
    }

    /// Polls `ready` for up to its limit unless backing off; whether it
    /// became ready. `elapsed` is the time since its own first call (this
    /// crate has no clock), called only when polling.
    pub fn poll(
        &mut self,
        ready: impl Fn() -> bool,
        elapsed: impl FnMut() -> core::time::Duration,
    ) -> bool {
        self.poll_up_to(self.limit, ready, elapsed)
    }

    /// Ends a back-off: the poll that failed would have succeeded with a
    /// longer limit, which the caller now gives, so the next wait polls.
    pub fn keep_polling(&mut self) {
        self.skip = 0;
        self.left = 0;
    }

    /// [`Self::poll`] for up to `limit` this time (a wait whose work is
    /// known to take longer).
    pub fn poll_up_to(
        &mut self,
        limit: core::time::Duration,
        ready: impl Fn() -> bool,
        mut elapsed: impl FnMut() -> core::time::Duration,
    ) -> bool {
        if self.left > 0 {
            self.left -= 1;
            return ready();
        }
        while elapsed() < limit {
            for _ in 0..64 {
                if ready() {
                    self.skip = 0;
                    return true;
                }
                core::hint::spin_loop();
            }
        }
        self.skip = (self.skip * 2 + 1).min(MAX_SKIP);
        self.left = self.skip;
        ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use core::time::Duration;

    /// A clock that advances 1 µs each time it is read.
    fn ticking() -> impl FnMut() -> Duration {
        let mut now = 0;
        move || {
            now += 1;
            Duration::from_micros(now)
        }
    }

    #[test]
    fn polls_up_to_the_limit_then_backs_off() {
        let mut spin = SpinPolicy::polling_for(Duration::from_micros(10));
        // Ready after 5 µs of polling: found.
        let reads = Cell::new(0u32);
        let soon = || {
            reads.set(reads.get() + 1);
            reads.get() > 64 * 5
        };
        assert!(spin.poll(soon, ticking()));
        // Never ready: polls until the limit, then the next wait looks
        // once without polling, the one after polls again.
        let reads = Cell::new(0u32);
        let never = || {
            reads.set(reads.get() + 1);
            false
        };
        assert!(!spin.poll(never, ticking()));
        assert!(reads.get() >= 64 * 9, "polled {} times", reads.get());
        let before = reads.get();
        assert!(!spin.poll(never, ticking()));
        assert_eq!(reads.get(), before + 1, "a backed-off wait looks once");
        // A longer limit for this wait only (a command known to be long).
        let reads = Cell::new(0u32);
        let late = || {
            reads.set(reads.get() + 1);
            reads.get() > 64 * 50
        };
        assert!(!spin.poll(late, ticking()), "past the policy's own limit");
        let reads = Cell::new(0u32);
        let mut spin = SpinPolicy::polling_for(Duration::from_micros(10));
        let late = || {
            reads.set(reads.get() + 1);
            reads.get() > 64 * 50
        };
        assert!(spin.poll_up_to(Duration::from_micros(100), late, ticking()));
    }

    #[test]
    fn keep_polling_ends_a_back_off() {
        let mut spin = SpinPolicy::polling_for(Duration::from_micros(10));
        let reads = Cell::new(0u32);
        let never = || {
            reads.set(reads.get() + 1);
            false
        };
        assert!(!spin.poll(never, ticking()));
        spin.keep_polling();
        let before = reads.get();
        assert!(!spin.poll(never, ticking()));
        assert!(reads.get() >= before + 64 * 9, "polled again, not once");
    }

    fn setup(depth: u32, arena_len: u64) -> ShmSetup {
        ShmSetup::new(depth, arena_len)
    }

    #[test]
    fn layout_places_rings_then_a_page_aligned_arena() {
        let l = ShmLayout::of(&setup(256, 1 << 20)).expect("valid");
        assert_eq!(l.ring, 4096);
        assert_eq!(l.completions, 4096 + 256 * 24);
        assert_eq!(l.arena % SHM_PAGE, 0);
        assert!(l.arena >= l.completions + 256 * 8);
        assert_eq!(l.size, l.arena + (1 << 20));
        assert_eq!(l.descriptor(256), l.descriptor(0));
        assert_eq!(l.completion(257), l.completions + 8);
    }

    #[test]
    fn bad_setups_are_refused() {
        assert!(ShmLayout::of(&setup(3, 1 << 20)).is_none());
        assert!(ShmLayout::of(&setup(0, 1 << 20)).is_none());
        assert!(ShmLayout::of(&setup(8192, 1 << 20)).is_none());
        assert!(ShmLayout::of(&setup(16, 100)).is_none());
        assert!(ShmLayout::of(&setup(16, 0)).is_none());
        assert!(ShmLayout::of(&setup(16, 2 << 30)).is_none());
        let mut s = setup(16, 4096);
        s.reserved = 1;
        assert!(ShmLayout::of(&s).is_none());
        s = setup(16, 4096);
        s.magic = 0;
        assert!(ShmLayout::of(&s).is_none());
    }

    #[test]
    fn arena_ranges_are_checked_without_overflow() {
        let l = ShmLayout::of(&setup(16, 8192)).expect("valid");
        assert_eq!(l.arena_range(0, 8192), Some(l.arena));
        assert_eq!(l.arena_range(4096, 4096), Some(l.arena + 4096));
        assert_eq!(l.arena_range(4097, 4096), None);
        assert_eq!(l.arena_range(u64::MAX, 2), None);
        assert_eq!(l.arena_range(8192, 0), Some(l.arena + 8192));
    }
}
