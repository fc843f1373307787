//! The `copy` group: host↔device bandwidth of synchronous copies from
//! pageable and pinned host memory, each size up to [`Options::max_bytes`].
//!
//! Per kind of host memory, every host→device size runs first (ascending,
//! so the last leaves the whole device buffer holding the host's pattern),
//! then every device→host size, after which the head and tail of what came
//! back must hold that pattern again: a broken path fails, it does not
//! report a rate.

use std::{ptr::null_mut, time::Instant};

use crate::suite::api::{CuRes, Ptr};

use super::{report, size_label, Bench, Options};

/// The most copies of one size.
const MAX_REPS: u64 = 1_000_000;
/// Words checked at each end of a device→host copy.
const CHECK_WORDS: usize = 512;
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Pageable,
    Pinned,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Pageable => "pageable",
            Kind::Pinned => "pinned",
        }
    }

    /// The pattern's seed, one per kind, so a device→host check passes
    /// only after this kind's host→device copies worked.
    fn seed(self) -> u64 {
        match self {
            Kind::Pageable => 0x0123_4567_89ab_cdef,
            Kind::Pinned => 0xfedc_ba98_7654_3210,
        }
    }
}

fn pattern(seed: u64, word: usize) -> u64 {
    (word as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed
}

/// A host buffer of whole words: a `Vec` (pageable) or `cuMemAllocHost`.
struct HostBuffer<'a> {
    bench: &'a Bench,
    kind: Kind,
    words: *mut u64,
    len: usize,
    _pageable: Option<Vec<u64>>,
}

impl<'a> HostBuffer<'a> {
    /// `bytes` (a multiple of 8) filled with `kind`'s pattern, every page
    /// touched before anything is timed.
    fn new(bench: &'a Bench, kind: Kind, bytes: usize) -> Result<Self, String> {
        let len = bytes / 8;
        let (words, pageable) = match kind {
            Kind::Pageable => {
                let mut v = vec![0u64; len];
                (v.as_mut_ptr(), Some(v))
            }
            Kind::Pinned => {
                let mut p: Ptr = null_mut();
                // SAFETY: valid out pointer.
                bench.ck("cuMemAllocHost", unsafe {
                    (bench.api.cuMemAllocHost_v2)(&mut p, bytes)
                })?;
                (p.cast::<u64>(), None)
            }
        };
        let b = Self {
            bench,
            kind,
            words,
            len,
            _pageable: pageable,
        };
        for (i, w) in b.slice().iter_mut().enumerate() {
            *w = pattern(kind.seed(), i);
        }
        Ok(b)
    }

    #[allow(clippy::mut_from_ref)] // the buffer is ours alone; no copy is in flight
    fn slice(&self) -> &mut [u64] {
        // SAFETY: `len` words we allocated, 8-aligned, alive while `self` is;
        // copies are synchronous, so nothing else touches them meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.words, self.len) }
    }

    /// The word ranges checked after a device→host copy of `bytes`.
    fn ends(bytes: usize) -> [std::ops::Range<usize>; 2] {
        let n = bytes / 8;
        [0..CHECK_WORDS.min(n), n.saturating_sub(CHECK_WORDS)..n]
    }

    fn clear_ends(&self, bytes: usize) {
        let s = self.slice();
        for r in Self::ends(bytes) {
            s[r].fill(0);
        }
    }

    /// Whether the ends of `bytes` hold the pattern again.
    fn check_ends(&self, bytes: usize) -> Result<(), String> {
        let s = self.slice();
        for r in Self::ends(bytes) {
            if let Some(i) = r.clone().find(|&i| s[i] != pattern(self.kind.seed(), i)) {
                return Err(format!(
                    "dtoh {} {}: word {i} is {:#x}, expected {:#x}",
                    self.kind.name(),
                    size_label(bytes),
                    s[i],
                    pattern(self.kind.seed(), i)
                ));
            }
        }
        Ok(())
    }
}

impl Drop for HostBuffer<'_> {
    fn drop(&mut self) {
        if self.kind == Kind::Pinned {
            // SAFETY: our cuMemAllocHost allocation, freed once.
            unsafe { (self.bench.api.cuMemFreeHost)(self.words.cast()) };
        }
    }
}

/// Copies of `size` by `copy` until `min_time` has passed; MiB/s and reps.
fn measure(
    bench: &Bench,
    o: &Options,
    what: &str,
    size: usize,
    copy: impl Fn() -> CuRes,
) -> Result<(f64, u64), String> {
    // One untimed copy first, at every size: the steady state is what is
    // measured. Through vgpu the first copy of a pageable buffer also pins
    // its pages in the guest and registers them with the GPU (a 1 GiB one
    // cost ~170 ms under TCG in run 20), which later copies reuse; NVIDIA's
    // driver has no such cost to hide.
    bench.ck(what, copy())?;
    let t = Instant::now();
    let mut reps = 0u64;
    while reps == 0 || (t.elapsed() < o.min_time && reps < MAX_REPS) {
        bench.ck(what, copy())?;
        reps += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    Ok((reps as f64 * size as f64 / MIB / secs, reps))
}

fn copy_kind(bench: &Bench, o: &Options, kind: Kind, dev: u64) -> Result<String, String> {
    let sizes = o.sizes();
    let max = sizes.last().copied().unwrap_or(0);
    let host = HostBuffer::new(bench, kind, max)?;
    let a = &bench.api;
    let mut summary = Vec::new();
    for (dir, up) in [("htod", true), ("dtoh", false)] {
        for &size in &sizes {
            let name = format!("{dir}_{}_{}", kind.name(), size_label(size));
            if !up {
                host.clear_ends(size);
            }
            let (rate, reps) = measure(bench, o, &name, size, || {
                // SAFETY: `size` bytes of our host buffer and device buffer.
                unsafe {
                    if up {
                        (a.cuMemcpyHtoD_v2)(dev, host.words.cast(), size)
                    } else {
                        (a.cuMemcpyDtoH_v2)(host.words.cast(), dev, size)
                    }
                }
            })?;
            if !up {
                host.check_ends(size)?;
            }
            report(
                &name,
                rate,
                "MiB/s",
                &format!("{reps} copies of {}", size_label(size)),
            );
            if size == max {
                summary.push(format!("{name} {rate:.0} MiB/s"));
            }
        }
    }
    Ok(summary.join(", "))
}

/// The group: pageable, then pinned, into one device buffer.
pub(super) fn group_copy(bench: &Bench, o: &Options) -> Result<String, String> {
    let max = o
        .sizes()
        .last()
        .copied()
        .ok_or("no copy size within --max-mib")?;
    let mut dev = 0u64;
    // SAFETY: valid out pointer.
    bench.ck("cuMemAlloc", unsafe {
        (bench.api.cuMemAlloc_v2)(&mut dev, max)
    })?;
    let r = [Kind::Pageable, Kind::Pinned]
        .into_iter()
        .map(|k| copy_kind(bench, o, k, dev))
        .collect::<Result<Vec<_>, _>>();
    // SAFETY: our allocation, no copy in flight (they are synchronous).
    unsafe { (bench.api.cuMemFree_v2)(dev) };
    Ok(r?.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_ends_stay_inside_the_copy() {
        assert_eq!(HostBuffer::ends(4096), [0..512, 0..512]);
        assert_eq!(HostBuffer::ends(1 << 20), [0..512, 130560..131072]);
    }

    #[test]
    fn the_kinds_patterns_differ() {
        assert_ne!(
            pattern(Kind::Pageable.seed(), 7),
            pattern(Kind::Pinned.seed(), 7)
        );
    }
}
