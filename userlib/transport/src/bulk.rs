//! Large copies between the caller's memory and shared memory, split over a
//! few threads.
//!
//! On the socket's shared-memory transport a pageable copy is bound by the
//! client's one memcpy into (up) or out of (down) the arena: the worker's
//! side is DMA from page-locked memory. One core's memcpy moves 6–10 GB/s on
//! the GPU machine, below what NVIDIA's own pageable copies reach, while the
//! memory system serves several cores at once. So a large chunk is copied by
//! up to [`MAX_THREADS`] threads, each a contiguous part.
//!
//! The helper threads are made on first use and kept (spawning three
//! threads costs more than copying a chunk). A child of `fork` has none of
//! its parent's threads, so it makes its own pool on its first large copy;
//! the pool is found by pid without a lock, so a fork at any moment leaves
//! nothing locked behind. Below [`BULK_MIN`] one thread copies.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use rayon_core::{ThreadPool, ThreadPoolBuilder};

/// Copies below this many bytes stay on the calling thread.
pub const BULK_MIN: usize = 2 << 20;
/// Smallest part a thread is given.
const PART_MIN: usize = 1 << 20;
/// Most threads one copy uses (the caller's included).
pub const MAX_THREADS: usize = 4;

/// Threads a large copy uses: the CPUs this process may run on, at most
/// [`MAX_THREADS`] (asked once: the answer reads cgroup files).
pub fn threads() -> usize {
    static THREADS: AtomicUsize = AtomicUsize::new(0);
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .clamp(1, MAX_THREADS);
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// This process's helper threads and the pid they belong to.
struct Pool {
    pid: u32,
    threads: ThreadPool,
}

static POOL: AtomicPtr<Pool> = AtomicPtr::new(std::ptr::null_mut());

/// The helper threads of this process (one less than [`threads`]: the
/// caller copies a part too), made on first use; `None` with one CPU or if
/// none can be started. Pools are never freed: one per process that copies
/// in bulk, and a parent's, in a child, has no threads left to stop.
fn pool() -> Option<&'static ThreadPool> {
    let pid = std::process::id();
    let current = POOL.load(Ordering::Acquire);
    // SAFETY: a non-null POOL points at a leaked, never freed `Pool`.
    if let Some(p) = unsafe { current.as_ref() }.filter(|p| p.pid == pid) {
        return Some(&p.threads);
    }
    let helpers = threads() - 1;
    if helpers == 0 {
        return None;
    }
    let threads = ThreadPoolBuilder::new()
        .num_threads(helpers)
        .thread_name(|i| format!("vgpu-copy-{i}"))
        .build()
        .ok()?;
    let mine = Box::into_raw(Box::new(Pool { pid, threads }));
    match POOL.compare_exchange(current, mine, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just leaked above; never freed.
        Ok(_) => Some(unsafe { &(*mine).threads }),
        Err(theirs) => {
            // Another thread of ours made one first: use that, and let
            // ours go (never used, so its threads stop at once).
            // SAFETY: `mine` came from Box::into_raw and was not published.
            drop(unsafe { Box::from_raw(mine) });
            // SAFETY: as for `current`.
            unsafe { theirs.as_ref() }
                .filter(|p| p.pid == pid)
                .map(|p| &p.threads)
        }
    }
}

/// A raw address that may cross to a helper thread.
#[derive(Clone, Copy)]
struct Addr(usize);

/// Copies `len` bytes from `src` to `dst`, in parallel when large.
///
/// # Safety
///
/// `src` is valid for `len` bytes of reads and `dst` for `len` bytes of
/// writes until the call returns, and the two ranges do not overlap.
pub unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
    let parts = if len < BULK_MIN {
        1
    } else {
        threads().min(len / PART_MIN).max(1)
    };
    let pool = if parts > 1 { pool() } else { None };
    let Some(pool) = pool else {
        // SAFETY: the caller's promise.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    };
    // Parts of whole pages, the last one taking the rest, on this thread.
    let part = (len / parts).next_multiple_of(4096);
    let (d, s) = (Addr(dst as usize), Addr(src as usize));
    let run = move |at: usize, n: usize| {
        let (dp, sp) = (d.0 + at, s.0 + at);
        // SAFETY: `at..at + n` lies inside both ranges (the caller's
        // promise), parts do not overlap each other, and the scope waits
        // for every part before `copy` returns.
        unsafe { std::ptr::copy_nonoverlapping(sp as *const u8, dp as *mut u8, n) }
    };
    pool.in_place_scope(|scope| {
        let mut at = 0;
        while at < len {
            let n = part.min(len - at);
            let start = at;
            at += n;
            if at >= len {
                run(start, n);
            } else {
                scope.spawn(move |_| run(start, n));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1])
            .collect()
    }

    #[test]
    fn copies_every_byte_at_every_size() {
        // Small, at the threshold, split unevenly, and with a short tail.
        for len in [
            0,
            1,
            4095,
            BULK_MIN - 1,
            BULK_MIN,
            BULK_MIN + 12_345,
            3 * PART_MIN + 7,
            9 << 20,
        ] {
            let src = pattern(len);
            let mut dst = vec![0u8; len];
            // SAFETY: two live buffers of `len` bytes, distinct.
            unsafe { copy(dst.as_mut_ptr(), src.as_ptr(), len) };
            assert!(dst == src, "copy of {len} bytes differs");
        }
    }

    #[test]
    fn thread_count_is_bounded() {
        assert!((1..=MAX_THREADS).contains(&threads()));
    }

    #[test]
    fn a_forked_child_copies_with_threads_of_its_own() {
        let len = 4 << 20;
        let src = pattern(len);
        let mut dst = vec![0u8; len];
        // SAFETY: two live buffers of `len` bytes, distinct.
        unsafe { copy(dst.as_mut_ptr(), src.as_ptr(), len) };
        // SAFETY: the child only copies and leaves with `_exit`; this test
        // binary's other threads hold no lock the child takes.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let mut again = vec![0u8; len];
            // SAFETY: as above.
            unsafe { copy(again.as_mut_ptr(), src.as_ptr(), len) };
            // SAFETY: leaves the child at once.
            unsafe { libc::_exit(if again == src { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: our child; `status` is a live int.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status}"
        );
        assert!(dst == src);
    }
}
