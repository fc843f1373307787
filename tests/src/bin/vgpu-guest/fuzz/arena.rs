//! The fuzzer's memory: a seeded generator, and an arena of buffers that
//! other threads unmap, remap and move while commands use them. Everything
//! the kernel or the device may write to lies inside the arena, between
//! guard regions, so no write from a stale pointer lands on our own heap.

use std::sync::atomic::{AtomicUsize, Ordering};

/// xorshift64*: small, fast, reproducible from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, never 0.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

pub const PAGE: usize = 4096;
/// Buffers of the arena, and as many mirror slots that mremap moves them to.
pub const SLOTS: usize = 16;
pub const SLOT_BYTES: usize = 256 << 10;
/// PROT_NONE on both sides: larger than any length the driver accepts.
const GUARD: usize = 4 << 20;

pub struct Arena {
    base: usize,
    /// Bumped on every change of a slot's mapping (for the statistics).
    pub changes: AtomicUsize,
}

fn mmap_fixed(addr: usize, len: usize, prot: i32) -> bool {
    // SAFETY: `addr..addr+len` lies inside the arena reservation, which
    // holds only I/O buffers of the fuzzer (never Rust objects), so
    // replacing its mapping invalidates nothing we reference.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    p as usize == addr
}

impl Arena {
    pub fn new() -> Result<Self, String> {
        let total = 2 * GUARD + 2 * SLOTS * SLOT_BYTES;
        // SAFETY: a fresh anonymous reservation; the kernel picks the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("arena mmap: {}", std::io::Error::last_os_error()));
        }
        let a = Self {
            base: p as usize + GUARD,
            changes: AtomicUsize::new(0),
        };
        for s in 0..SLOTS {
            if !mmap_fixed(a.slot(s), SLOT_BYTES, libc::PROT_READ | libc::PROT_WRITE) {
                return Err("arena slot mmap failed".into());
            }
        }
        Ok(a)
    }

    pub fn slot(&self, s: usize) -> usize {
        self.base + (s % (2 * SLOTS)) * SLOT_BYTES
    }

    /// A pointer into the arena: usually inside a buffer, sometimes
    /// straddling its end or into a guard.
    pub fn pointer(&self, rng: &mut Rng) -> usize {
        let s = self.slot(rng.below(2 * SLOTS as u64) as usize);
        match rng.below(8) {
            0 => s + SLOT_BYTES - rng.below(64) as usize,
            1 => self.base - PAGE * (1 + rng.below(4) as usize),
            2 => s + rng.below(SLOT_BYTES as u64) as usize,
            _ => s + (rng.below(16) as usize) * PAGE + rng.below(8) as usize * 8,
        }
    }

    /// Changes one slot's mapping under whoever uses it.
    pub fn churn(&self, rng: &mut Rng) -> &'static str {
        self.changes.fetch_add(1, Ordering::Relaxed);
        let s = rng.below(SLOTS as u64) as usize;
        let (a, m) = (self.slot(s), self.slot(s + SLOTS));
        let len = SLOT_BYTES;
        match rng.below(5) {
            0 => {
                mmap_fixed(a, len, libc::PROT_NONE);
                "protnone"
            }
            1 => {
                mmap_fixed(a, len, libc::PROT_READ | libc::PROT_WRITE);
                "remap"
            }
            2 => {
                // SAFETY: moves arena pages to the slot's mirror, leaving
                // the source mapped (DONTUNMAP): nothing outside the arena moves.
                unsafe {
                    libc::mremap(
                        a as *mut libc::c_void,
                        len,
                        len,
                        libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP,
                        m as *mut libc::c_void,
                    )
                };
                "mremap"
            }
            3 => {
                // SAFETY: drops the pages of an arena slot (they read as zero).
                unsafe { libc::madvise(a as *mut libc::c_void, len, libc::MADV_DONTNEED) };
                "dontneed"
            }
            _ => {
                // SAFETY: as above; PROT_READ makes device writes fault.
                unsafe { libc::mprotect(a as *mut libc::c_void, len, libc::PROT_READ) };
                "readonly"
            }
        }
    }
}
