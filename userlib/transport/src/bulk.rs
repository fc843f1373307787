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
//! The threads are scoped to the copy (spawned and joined by it): nothing
//! lives between copies, so there is no pool to rebuild after `fork` and
//! nothing left behind in a process that stops using the GPU. Spawning costs
//! tens of microseconds; below [`BULK_MIN`] one thread copies.

use std::sync::OnceLock;

/// Copies below this many bytes stay on the calling thread.
pub const BULK_MIN: usize = 2 << 20;
/// Smallest part a thread is given.
const PART_MIN: usize = 1 << 20;
/// Most threads one copy uses (the caller's included).
pub const MAX_THREADS: usize = 4;

/// Threads a large copy uses: the CPUs this process may run on, at most
/// [`MAX_THREADS`].
pub fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_THREADS)
    })
}

/// A raw address that may cross to a scoped thread.
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
    if parts == 1 {
        // SAFETY: the caller's promise.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        return;
    }
    // Parts of whole pages, the last one taking the rest.
    let part = (len / parts).next_multiple_of(4096);
    let (d, s) = (Addr(dst as usize), Addr(src as usize));
    std::thread::scope(|scope| {
        let mut at = 0;
        let mut spawned = 0;
        while at < len {
            let n = part.min(len - at);
            let (dp, sp) = (Addr(d.0 + at), Addr(s.0 + at));
            let run = move || {
                // SAFETY: `at..at + n` lies inside both ranges (the caller's
                // promise), parts do not overlap each other, and the scope
                // joins every thread before `copy` returns.
                unsafe { std::ptr::copy_nonoverlapping(sp.0 as *const u8, dp.0 as *mut u8, n) }
            };
            at += n;
            if at >= len {
                // The last part on this thread.
                run();
            } else if spawned + 1 < parts
                && std::thread::Builder::new()
                    .name("vgpu-copy".into())
                    .spawn_scoped(scope, run)
                    .is_ok()
            {
                spawned += 1;
            } else {
                // No thread to be had (or enough of them): copy it here.
                run();
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
}
