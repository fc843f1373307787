//! Places of commands in the shared arena (`uapi::shm`): a byte ring
//! allocated at the head and freed at the tail, in command order. A place
//! never wraps: one that would is put at the start, the end left unused.
//! When every place is free the ring starts over at offset 0, so a client
//! making one call at a time keeps touching the same few pages.

use uapi::shm::SHM_ALIGN;

/// Why a place cannot be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRoom {
    /// Larger than the arena: never.
    TooLarge,
    /// Not now: free the oldest place first.
    Full,
}

/// A place: its arena offset, and the mark that frees it (and everything
/// before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub offset: u64,
    pub mark: u64,
}

/// The allocator; `head` and `tail` count bytes since the last restart.
#[derive(Debug)]
pub(crate) struct ArenaRing {
    len: u64,
    head: u64,
    tail: u64,
}

impl ArenaRing {
    pub fn new(len: u64) -> Self {
        Self {
            len,
            head: 0,
            tail: 0,
        }
    }

    /// A place of `size` bytes (at least one alignment unit).
    pub fn alloc(&mut self, size: u64) -> Result<Place, NoRoom> {
        let size = size.max(1).div_ceil(SHM_ALIGN) * SHM_ALIGN;
        if size > self.len {
            return Err(NoRoom::TooLarge);
        }
        let pos = self.head % self.len;
        let skip = if pos + size > self.len {
            self.len - pos
        } else {
            0
        };
        if self.head + skip + size - self.tail > self.len {
            return Err(NoRoom::Full);
        }
        let offset = if skip == 0 { pos } else { 0 };
        self.head += skip + size;
        Ok(Place {
            offset,
            mark: self.head,
        })
    }

    /// Frees every place up to `mark` (marks are freed in order).
    pub fn free(&mut self, mark: u64) {
        debug_assert!(mark >= self.tail && mark <= self.head);
        self.tail = mark;
    }

    /// Starts over at offset 0 (only when nothing is placed).
    pub fn restart(&mut self) {
        self.head = 0;
        self.tail = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_aligned_and_wrap_to_the_start() {
        let mut r = ArenaRing::new(1024);
        let a = r.alloc(100).expect("room");
        assert_eq!(a.offset, 0);
        let b = r.alloc(500).expect("room");
        assert_eq!(b.offset, 128);
        // 640 used; 400 more would cross the end: it must wait for `a`.
        assert_eq!(r.alloc(400), Err(NoRoom::Full));
        r.free(a.mark);
        // Still no room: the end (384 bytes) is skipped, the start holds 128.
        assert_eq!(r.alloc(400), Err(NoRoom::Full));
        let c = r.alloc(384).expect("fits the end exactly");
        assert_eq!(c.offset, 640);
        let d = r.alloc(64).expect("wraps to the start");
        assert_eq!(d.offset, 0);
        r.free(b.mark);
        r.free(c.mark);
        let e = r.alloc(600).expect("after d");
        assert_eq!(e.offset, 64);
    }

    #[test]
    fn too_large_is_never_and_restart_reuses_the_start() {
        let mut r = ArenaRing::new(4096);
        assert_eq!(r.alloc(4097), Err(NoRoom::TooLarge));
        let a = r.alloc(4096).expect("whole arena");
        assert_eq!(r.alloc(1), Err(NoRoom::Full));
        r.free(a.mark);
        r.restart();
        assert_eq!(r.alloc(10).map(|p| p.offset), Ok(0));
    }

    #[test]
    fn many_rounds_never_hand_out_overlapping_live_places() {
        let mut r = ArenaRing::new(1 << 12);
        let mut live: std::collections::VecDeque<(Place, u64)> = Default::default();
        let mut seed = 12345u64;
        for _ in 0..10_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let size = (seed >> 33) % 1500 + 1;
            match r.alloc(size) {
                Ok(p) => {
                    let size = size.div_ceil(SHM_ALIGN) * SHM_ALIGN;
                    assert!(p.offset + size <= 1 << 12);
                    for (q, qs) in &live {
                        let apart = p.offset + size <= q.offset || q.offset + qs <= p.offset;
                        assert!(apart, "{p:?}+{size} overlaps {q:?}+{qs}");
                    }
                    live.push_back((p, size));
                }
                Err(NoRoom::Full) => {
                    let (q, _) = live.pop_front().expect("full means something is live");
                    r.free(q.mark);
                    if live.is_empty() {
                        r.restart();
                    }
                }
                Err(NoRoom::TooLarge) => unreachable!("sizes fit"),
            }
        }
    }
}
