//! Which of a client's guest pages are registered with the GPU (the VM
//! path), so that copies move between the GPU and guest RAM by DMA alone.
//!
//! The guest's driver pins the pages of a copy and names them in its
//! scatter-gather list; pages that are contiguous in guest RAM are
//! contiguous in this process's mapping of it. A run of at least
//! [`GUEST_REGISTER_MIN`] bytes is registered (page-rounded) and kept: the
//! driver promises an `Opcode::ReleaseGuestPages` overlapping it before it
//! unpins any of those pages, so a registration only ever covers pages the
//! client has pinned. Registrations also end when guest RAM is mapped anew
//! (another epoch: the addresses may now be other memory), when their
//! context ends, and with the client. Shorter runs (pages the guest kernel
//! scattered) are staged through page-locked buffers as before.
//!
//! This module is the bookkeeping only; the executor registers and
//! unregisters (`executor::cuda::backend::guest`).

use super::shared::SharedSpan;
use std::collections::BTreeMap;
pub use uapi::cmd::GUEST_REGISTER_MIN;

/// Page size of the registrations.
const PAGE: usize = 4096;

/// A run of a copy's pieces contiguous in this process: `len` bytes at
/// `addr`, `offset` bytes into the copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Start in this process.
    pub addr: usize,
    /// Bytes.
    pub len: usize,
    /// Where it starts in the copy.
    pub offset: usize,
}

/// The maximal runs of `parts`, in order.
pub fn runs(parts: &[SharedSpan]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut offset = 0;
    for p in parts {
        let addr = p.as_ptr() as usize;
        match out.last_mut() {
            Some(last) if last.addr.checked_add(last.len) == Some(addr) => last.len += p.len(),
            _ => out.push(Run {
                addr,
                len: p.len(),
                offset,
            }),
        }
        offset += p.len();
    }
    out
}

/// The whole pages `[addr, addr + len)` touches: (start, length).
pub fn page_extent(addr: usize, len: usize) -> Option<(usize, usize)> {
    let start = addr - addr % PAGE;
    let end = addr.checked_add(len)?.checked_next_multiple_of(PAGE)?;
    Some((start, end - start))
}

/// One registration: `len` bytes at `start` of this process, made in
/// context `ctx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestPin {
    /// Start (page-aligned).
    pub start: usize,
    /// Bytes (whole pages).
    pub len: usize,
    /// The context it was made in (the executor's key).
    pub ctx: u64,
}

impl GuestPin {
    fn end(&self) -> usize {
        self.start + self.len
    }

    fn overlaps(&self, start: usize, end: usize) -> bool {
        self.start < end && start < self.end()
    }
}

/// A client's registrations of guest RAM, by start; never overlapping.
#[derive(Debug, Default)]
pub struct GuestPins {
    pins: BTreeMap<usize, GuestPin>,
    /// The guest RAM epoch they were made in.
    epoch: u64,
    /// Bytes registered now.
    bytes: u64,
}

impl GuestPins {
    /// Whether `[addr, addr + len)` lies in one registration.
    pub fn covers(&self, addr: usize, len: usize) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        self.pins
            .range(..=addr)
            .next_back()
            .is_some_and(|(_, p)| end <= p.end())
    }

    /// The registrations that overlap `[start, start + len)`.
    pub fn overlapping(&self, start: usize, len: usize) -> Vec<GuestPin> {
        let end = start.saturating_add(len);
        // The one that starts before `start` may reach into it.
        let before = self.pins.range(..start).next_back().map(|(_, p)| *p);
        before
            .into_iter()
            .chain(self.pins.range(start..end).map(|(_, p)| *p))
            .filter(|p| p.overlaps(start, end))
            .collect()
    }

    /// What registering `run` would take: the page-rounded run merged with
    /// the registrations it overlaps (which must go first), or `None` for a
    /// run shorter than [`GUEST_REGISTER_MIN`].
    pub fn plan(&self, run: &Run) -> Option<(usize, usize, Vec<GuestPin>)> {
        if (run.len as u64) < GUEST_REGISTER_MIN {
            return None;
        }
        let (mut start, len) = page_extent(run.addr, run.len)?;
        let mut end = start + len;
        let merged = self.overlapping(start, len);
        for p in &merged {
            start = start.min(p.start);
            end = end.max(p.end());
        }
        Some((start, end - start, merged))
    }

    /// Books `run` as registered where no device is there to register it
    /// (the simulator): the registrations it overlaps merge into one.
    /// Whether it lies in a registration now.
    pub fn book(&mut self, run: &Run, ctx: u64) -> bool {
        if self.covers(run.addr, run.len) {
            return true;
        }
        let Some((start, len, merged)) = self.plan(run) else {
            return false;
        };
        for m in merged {
            self.remove(m.start);
        }
        self.insert(GuestPin { start, len, ctx });
        true
    }

    /// Records a registration made (it overlaps none).
    pub fn insert(&mut self, pin: GuestPin) {
        debug_assert!(self.overlapping(pin.start, pin.len).is_empty());
        self.bytes += pin.len as u64;
        self.pins.insert(pin.start, pin);
    }

    /// Forgets the registration starting at `start` (undone by the caller).
    pub fn remove(&mut self, start: usize) -> Option<GuestPin> {
        let pin = self.pins.remove(&start)?;
        self.bytes -= pin.len as u64;
        Some(pin)
    }

    /// Every registration.
    pub fn all(&self) -> Vec<GuestPin> {
        self.pins.values().copied().collect()
    }

    /// The registrations made in context `ctx`.
    pub fn of_context(&self, ctx: u64) -> Vec<GuestPin> {
        self.pins
            .values()
            .filter(|p| p.ctx == ctx)
            .copied()
            .collect()
    }

    /// Moves to guest RAM epoch `epoch`; `true` if it differs from the one
    /// the registrations were made in (the caller then undoes them all).
    pub fn set_epoch(&mut self, epoch: u64) -> bool {
        let changed = epoch != self.epoch && !self.pins.is_empty();
        self.epoch = epoch;
        changed
    }

    /// Bytes registered now.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pins.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::NonNull;

    const MIB: usize = 1 << 20;

    fn span(addr: usize, len: usize) -> SharedSpan {
        // SAFETY: never dereferenced: only its address and length are read.
        unsafe { SharedSpan::new(NonNull::new(addr as *mut u8).expect("non-null"), len) }
    }

    #[test]
    fn adjacent_pieces_make_one_run() {
        let base = 0x7000_0000_0000;
        let parts = [
            span(base + 16, 4096 - 16),
            span(base + 4096, 2 * MIB - 4096),
            span(base + 8 * MIB, 4096),
            span(base + 8 * MIB + 4096, 100),
        ];
        assert_eq!(
            runs(&parts),
            [
                Run {
                    addr: base + 16,
                    len: 2 * MIB - 16,
                    offset: 0
                },
                Run {
                    addr: base + 8 * MIB,
                    len: 4196,
                    offset: 2 * MIB - 16
                },
            ]
        );
        assert_eq!(page_extent(base + 16, 100), Some((base, 4096)));
        assert_eq!(page_extent(base, 8192), Some((base, 8192)));
        assert_eq!(page_extent(usize::MAX - 10, 20), None);
    }

    #[test]
    fn short_runs_are_never_registered_and_overlaps_merge() {
        let mut pins = GuestPins::default();
        let base = 0x7000_0000_0000;
        let short = Run {
            addr: base,
            len: MIB - 1,
            offset: 0,
        };
        assert_eq!(pins.plan(&short), None);
        let first = Run {
            addr: base + 16,
            len: 2 * MIB,
            offset: 0,
        };
        let (start, len, merged) = pins.plan(&first).expect("long enough");
        assert_eq!((start, len, merged.len()), (base, 2 * MIB + 4096, 0));
        pins.insert(GuestPin { start, len, ctx: 1 });
        assert!(pins.covers(base + 16, 2 * MIB));
        assert!(
            pins.covers(base + 2 * MIB, 100),
            "a short run inside one is covered"
        );
        assert!(!pins.covers(base + 2 * MIB, 8192));
        // The next run starts in the last page of the first: merged.
        let next = Run {
            addr: base + 2 * MIB + 16,
            len: 2 * MIB,
            offset: 0,
        };
        let (start, len, merged) = pins.plan(&next).expect("long enough");
        assert_eq!((start, len), (base, 4 * MIB + 4096));
        assert_eq!(
            merged,
            [GuestPin {
                start: base,
                len: 2 * MIB + 4096,
                ctx: 1
            }]
        );
        for m in &merged {
            pins.remove(m.start);
        }
        pins.insert(GuestPin { start, len, ctx: 2 });
        assert_eq!(pins.bytes(), (4 * MIB + 4096) as u64);
        assert_eq!(pins.overlapping(base + 3 * MIB, 4096).len(), 1);
        assert!(pins.overlapping(base + 5 * MIB, 4096).is_empty());
        assert!(pins.overlapping(base - 4096, 4096).is_empty());
        assert_eq!(pins.of_context(2).len(), 1);
        assert!(pins.of_context(1).is_empty());
        // A new epoch of guest RAM: everything goes.
        assert!(!pins.set_epoch(0));
        assert!(pins.set_epoch(3));
        assert!(!pins.set_epoch(3));
    }
}
