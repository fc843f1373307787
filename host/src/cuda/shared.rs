//! Host memory a client shares with its worker (the arena of `uapi::shm`):
//! copies between it and the device need no private copy in the worker.
//!
//! The client may rewrite these bytes at any moment; they are its own data,
//! so a copy that races with it only hurts the client. Nothing the host
//! parses ever lives here: the command header is copied out first
//! (`crate::direct`), and the bytes are only ever moved, by raw copies or
//! the device's DMA, never borrowed as `&[u8]`.

use std::ptr::NonNull;

/// A range of shared memory mapped in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedSpan {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a plain address range; whoever made it (`SharedSpan::new`)
// promised it stays mapped while it is used, whichever thread uses it.
unsafe impl Send for SharedSpan {}
// SAFETY: likewise; threads sharing a span only copy bytes through raw
// pointers (never a `&[u8]` of it), and what two such copies racing on
// the same bytes leave is the client's own data, as the module says.
unsafe impl Sync for SharedSpan {}

impl SharedSpan {
    /// The `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr..ptr+len` is mapped read-write in this process for as long as
    /// the span (or any sub-span of it) is used.
    pub unsafe fn new(ptr: NonNull<u8>, len: usize) -> Self {
        Self { ptr, len }
    }

    /// Bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its start in this process.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether `inner` lies inside this span.
    pub fn contains(&self, inner: &SharedSpan) -> bool {
        let (a, b) = (self.ptr.as_ptr() as usize, inner.ptr.as_ptr() as usize);
        b >= a
            && b.checked_add(inner.len)
                .is_some_and(|end| end <= a + self.len)
    }

    /// Copies the span into `out` (`out.len() == self.len()`).
    pub fn read_into(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.len, "shared span read of another length");
        // SAFETY: the span is mapped (`new`'s contract) and `out` is our own
        // buffer of the same length, so they do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), out.as_mut_ptr(), self.len) }
    }

    /// Copies `bytes` into the span (`bytes.len() == self.len()`).
    pub fn write_from(&self, bytes: &[u8]) {
        assert_eq!(bytes.len(), self.len, "shared span write of another length");
        // SAFETY: as in `read_into`, the other way.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr(), self.len) }
    }
}

/// Where a copy's host bytes are.
#[derive(Clone, Copy, Debug)]
pub enum HostBytes<'a> {
    /// Shared memory of the client, mapped until it is unregistered (the
    /// socket transport's arena or host memory).
    Shared(SharedSpan),
    /// Pieces of guest RAM, in order (the data of a scatter-gather list),
    /// mapped only during the call: the copy reads or writes them before
    /// it returns.
    Guest(&'a [SharedSpan]),
}

impl HostBytes<'_> {
    /// Bytes in all.
    pub fn len(&self) -> u64 {
        match self {
            Self::Shared(s) => s.len() as u64,
            Self::Guest(parts) => parts.iter().map(|p| p.len() as u64).sum(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Pieces of memory read or written as one run of bytes (a scatter-gather
/// list's data), by offset into the run, in parallel where large.
#[derive(Debug)]
pub struct Pieces<'a> {
    parts: &'a [SharedSpan],
    /// Offset of each part in the run.
    starts: Vec<usize>,
    len: usize,
}

/// Copies of at least this many bytes are split over threads.
pub const PARALLEL_MIN: usize = 2 << 20;
/// Most threads one copy uses (the caller's included): one core's memcpy
/// moves well below what the memory system serves.
pub const MAX_COPY_THREADS: usize = 4;

impl<'a> Pieces<'a> {
    /// The run of `parts`, in order.
    pub fn new(parts: &'a [SharedSpan]) -> Self {
        let mut starts = Vec::with_capacity(parts.len());
        let mut len = 0;
        for p in parts {
            starts.push(len);
            len += p.len();
        }
        Self { parts, starts, len }
    }

    /// Bytes in the run.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the run is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `each(part, offset in part, offset in the window, n)` for the
    /// pieces of `[from, from + n)` (which lies in the run).
    fn walk(&self, from: usize, n: usize, mut each: impl FnMut(&SharedSpan, usize, usize, usize)) {
        assert!(
            from.checked_add(n).is_some_and(|e| e <= self.len),
            "pieces window out of range"
        );
        let mut i = self
            .starts
            .partition_point(|&s| s <= from)
            .saturating_sub(1);
        let mut done = 0;
        while done < n {
            let part = &self.parts[i];
            let inner = from + done - self.starts[i];
            let k = (part.len() - inner).min(n - done);
            each(part, inner, done, k);
            done += k;
            i += 1;
        }
    }

    /// Copies bytes `[from, from + n)` of the run to `out`.
    ///
    /// # Safety
    ///
    /// `out` is valid for `n` bytes of writes and lies outside every part.
    pub unsafe fn read(&self, from: usize, out: *mut u8, n: usize) {
        let out = out as usize;
        parallel(n, |at, k| {
            self.walk(from + at, k, |part, inner, off, m| {
                // SAFETY: `inner + m <= part.len()` (`walk`), the part is
                // mapped (`SharedSpan`'s contract), `out + at + off + m`
                // lies in the caller's buffer, which no part overlaps.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        part.as_ptr().add(inner),
                        (out + at + off) as *mut u8,
                        m,
                    )
                }
            })
        });
    }

    /// Copies `n` bytes from `src` to bytes `[to, to + n)` of the run.
    ///
    /// # Safety
    ///
    /// `src` is valid for `n` bytes of reads and lies outside every part.
    pub unsafe fn write(&self, to: usize, src: *const u8, n: usize) {
        let src = src as usize;
        parallel(n, |at, k| {
            self.walk(to + at, k, |part, inner, off, m| {
                // SAFETY: as in `read`, the other way.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        (src + at + off) as *const u8,
                        part.as_ptr().add(inner),
                        m,
                    )
                }
            })
        });
    }
}

/// Runs `copy(at, n)` over `[0, len)`: on this thread, or for a large copy
/// split in page-multiple parts, the last on this thread and the others on
/// the copy threads ([`copy_pool`]), all done before it returns.
fn parallel(len: usize, copy: impl Fn(usize, usize) + Sync) {
    let pool = copy_pool().filter(|_| len >= PARALLEL_MIN);
    let threads = pool.map_or(1, |p| {
        (p.current_num_threads() + 1)
            .min(len / (PARALLEL_MIN / 2))
            .max(1)
    });
    let (Some(pool), true) = (pool, threads > 1) else {
        copy(0, len);
        return;
    };
    let part = (len / threads).next_multiple_of(4096);
    let copy = &copy;
    pool.in_place_scope(|scope| {
        let mut at = 0;
        while at < len {
            let n = part.min(len - at);
            let start = at;
            at += n;
            if at >= len {
                copy(start, n);
            } else {
                scope.spawn(move |_| copy(start, n));
            }
        }
    });
}

/// The threads that help with large copies: one less than
/// [`MAX_COPY_THREADS`] (the caller copies a part too), at most one less
/// than the CPUs this process may use; `None` with one CPU, or if they
/// cannot be started (the copy then runs on the caller alone). Made on
/// first use and kept: a worker process serves one client and never forks.
fn copy_pool() -> Option<&'static rayon_core::ThreadPool> {
    static POOL: std::sync::OnceLock<Option<rayon_core::ThreadPool>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let helpers = cpus.min(MAX_COPY_THREADS).saturating_sub(1);
        if helpers == 0 {
            return None;
        }
        rayon_core::ThreadPoolBuilder::new()
            .num_threads(helpers)
            .thread_name(|i| format!("vgpu-copy-{i}"))
            .build()
            .map_err(|e| tracing::warn!(%e, "no copy threads; large copies run on one"))
            .ok()
    })
    .as_ref()
}

/// What a shared area is, for the `pinned_bytes` quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedKind {
    /// The transport's arena: page-locked while the quota has room, it
    /// gives its place up to the client's pinned memory.
    Arena,
    /// The client's pinned host memory (`uapi::shm::host_op`).
    HostMemory,
}

/// What went through shared memory without a private copy, for the log
/// line CI reads (`tests/src/vm/socket.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// Bytes of shared memory registered with the device now.
    pub registered: u64,
    /// Copies made straight from or to shared memory.
    pub copies: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of those bytes, the ones from or to registered (page-locked) memory.
    pub pinned_bytes: u64,
    /// Copies made straight between the device and guest RAM (the VM
    /// path's scatter-gather lists), with no private copy of the whole.
    pub guest_copies: u64,
    /// Their bytes.
    pub guest_bytes: u64,
    /// Of those bytes, the ones the GPU moved straight from or to guest
    /// pages registered with it (`guest_pins`), with no copy here at all.
    pub guest_direct_bytes: u64,
    /// Of `guest_direct_bytes`, the ones moved up (guest to device).
    pub guest_direct_up_bytes: u64,
    /// The DMA transfers that moved `guest_direct_bytes` (one per run of
    /// registered pages): with the bytes, how long the guest's runs are.
    pub guest_direct_runs: u64,
    /// Wall time of the copies with direct runs, from the first issue to
    /// the end of the wait, up and down: with the bytes, the rate the GPU
    /// moved them at, whatever the guest's side costs (0 on the simulator).
    pub guest_direct_up_ns: u64,
    /// See `guest_direct_up_ns`.
    pub guest_direct_down_ns: u64,
    /// Bytes of guest RAM registered with the device now.
    pub guest_registered: u64,
    /// Bytes of guest runs registered ahead of their copies, by the
    /// guest's PREPARE_HOST of pinned host memory.
    pub guest_prepared: u64,
    /// Registrations of guest RAM ended by the guest's releases.
    pub guest_released: u64,
}

impl SharedStats {
    /// Counts one copy of `len` bytes between the device and guest RAM.
    pub fn count_guest(&mut self, len: u64) {
        self.guest_copies += 1;
        self.guest_bytes += len;
    }

    /// Counts one copy of `len` bytes.
    pub fn count(&mut self, len: usize, pinned: bool) {
        self.copies += 1;
        self.bytes += len as u64;
        if pinned {
            self.pinned_bytes += len as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_copy_and_contain() {
        let mut buf = vec![0u8; 64];
        let base = NonNull::new(buf.as_mut_ptr()).expect("non-null");
        // SAFETY: `buf` outlives both spans.
        let (all, part) = unsafe { (SharedSpan::new(base, 64), SharedSpan::new(base.add(16), 8)) };
        part.write_from(b"abcdefgh");
        let mut out = [0u8; 8];
        part.read_into(&mut out);
        assert_eq!(&out, b"abcdefgh");
        assert!(all.contains(&part) && !part.contains(&all));
        // SAFETY: never dereferenced: only compared.
        let past = unsafe { SharedSpan::new(base.add(60), 8) };
        assert!(!all.contains(&past));
        assert_eq!(buf[16..24], *b"abcdefgh");
    }

    #[test]
    fn pieces_read_and_write_as_one_run() {
        // Large enough to be split over threads, in pieces of odd sizes.
        let sizes = [1usize, 4095, 3 << 20, 17, 1 << 20, 5000];
        let mut bufs: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
        let spans: Vec<SharedSpan> = bufs
            .iter_mut()
            .map(|b| {
                let p = NonNull::new(b.as_mut_ptr()).expect("non-null");
                // SAFETY: each buffer outlives the spans' use below.
                unsafe { SharedSpan::new(p, b.len()) }
            })
            .collect();
        let pieces = Pieces::new(&spans);
        let len: usize = sizes.iter().sum();
        assert_eq!(pieces.len(), len);
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        // SAFETY: `data` is our own buffer of `len` bytes.
        unsafe { pieces.write(0, data.as_ptr(), len) };
        let flat: Vec<u8> = bufs.iter().flatten().copied().collect();
        assert!(flat == data, "written in order");
        // Windows that start and end inside pieces.
        for (from, n) in [(0, len), (3, 4100), (4096, 3 << 20), (len - 5001, 5001)] {
            let mut out = vec![0u8; n];
            // SAFETY: `out` is our own buffer of `n` bytes.
            unsafe { pieces.read(from, out.as_mut_ptr(), n) };
            assert!(out[..] == data[from..from + n], "window {from}+{n}");
        }
    }
}
