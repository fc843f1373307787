// SPDX-License-Identifier: GPL-2.0

//! Pinnings the host may have registered with the GPU, released before
//! they are unpinned.
//!
//! The host may register long runs of a copy's pages with the GPU
//! (`uapi::cmd::GUEST_REGISTER_MIN`), and keeps them registered until the
//! device completes an `Opcode::ReleaseGuestPages` that overlaps them: until
//! then that client's GPU work can reach those pages. So a pinning with such
//! runs is not unpinned when it is dropped: it waits here, and the next
//! ioctl of its file sends the device the release of every waiting one, as a
//! detached command whose request copy holds them. They are unpinned when
//! that command completes, or when the queue is proven stopped (the host
//! then has ended the client's worker and its registrations), as any
//! buffer of a command is.

use crate::{
    client::Client,
    uapi::{
        cmd::{
            GuestRange,
            Opcode,
            MAX_RELEASE_RANGES, //
        },
        wire::Wire,
    },
    userdma::PinBody,
};
use kernel::prelude::*;

/// A dropped pinning with runs the host may have registered; unpinned
/// when dropped.
pub(crate) struct RetiredPin {
    runs: KVVec<GuestRange>,
    _body: PinBody,
}

impl RetiredPin {
    pub(crate) fn new(runs: KVVec<GuestRange>, body: PinBody) -> Self {
        Self { runs, _body: body }
    }
}

/// The retired pinnings of one file, waiting for their release.
///
/// # Invariants
///
/// `retired` has room for `promised` entries: one for every live pinning
/// with runs (promised when it was made) and every retired one.
pub(crate) struct Releases {
    retired: KVec<RetiredPin>,
    promised: usize,
}

impl Releases {
    pub(crate) fn new() -> Self {
        // INVARIANT: nothing promised.
        Self {
            retired: KVec::new(),
            promised: 0,
        }
    }

    /// Makes room for one more pinning with runs, before it is made, so
    /// that its drop never allocates.
    pub(crate) fn promise(&mut self) -> Result {
        let want = self.promised + 1;
        self.retired
            .reserve(want - self.retired.len(), GFP_KERNEL_ACCOUNT)?;
        // INVARIANT: room reserved just above.
        self.promised = want;
        Ok(())
    }

    /// Keeps `pin` (of a promised pinning) until its release.
    pub(crate) fn retire(&mut self, pin: RetiredPin) {
        keep(&mut self.retired, pin);
    }

    /// Takes every retired pinning, their promises with them (none if
    /// there is no memory to hold them elsewhere: they wait).
    fn take(&mut self) -> KVec<RetiredPin> {
        let Ok(mut out) = KVec::with_capacity(self.retired.len(), GFP_KERNEL) else {
            return KVec::new();
        };
        while let Some(pin) = self.retired.pop() {
            keep(&mut out, pin);
        }
        // INVARIANT: `retired` keeps its room; fewer entries are promised.
        self.promised -= out.len();
        out
    }

    /// Gives back pinnings whose release could not be sent, their promises
    /// with them.
    fn put_back(&mut self, mut pins: KVec<RetiredPin>) {
        let room = (self.promised + pins.len()).saturating_sub(self.retired.len());
        if self.retired.reserve(room, GFP_KERNEL_ACCOUNT).is_err() {
            pr_err!("vgpu: no memory to keep retired pinnings; leaking them\n");
            core::mem::forget(pins);
            return;
        }
        // INVARIANT: room reserved just above.
        self.promised += pins.len();
        while let Some(pin) = pins.pop() {
            keep(&mut self.retired, pin);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.retired.is_empty()
    }
}

/// Pushes `pin` where room was made for it. Without room (a broken
/// promise) it is never unpinned: the GPU may still reach its pages.
fn keep(into: &mut KVec<RetiredPin>, pin: RetiredPin) {
    if let Err(e) = into.push_within_capacity(pin) {
        pr_err!("vgpu: no room for a retired pinning; leaking it\n");
        core::mem::forget(e.0);
    }
}

/// The request of a release of `pins`: their runs.
fn release_body(pins: &[RetiredPin]) -> Result<KVec<u8>> {
    let ranges: usize = pins.iter().map(|p| p.runs.len()).sum();
    let mut body = KVec::with_capacity(ranges * size_of::<GuestRange>(), GFP_KERNEL)?;
    for run in pins.iter().flat_map(|p| p.runs.iter()) {
        body.extend_from_slice(run.as_bytes(), GFP_KERNEL)?;
    }
    Ok(body)
}

impl Client {
    /// Sends the device the release of every retired pinning of this file,
    /// those pinnings riding with the command (unpinned when it is done).
    /// On failure they wait for the next call, or for the file's close
    /// (after the queue stopped).
    pub(crate) fn flush_releases(&self) {
        let mut pins = {
            let mut releases = self.pin_account.releases.lock();
            if releases.is_empty() {
                return;
            }
            releases.take()
        };
        // At most MAX_RELEASE_RANGES ranges a command; one pinning never has
        // more (it spans at most the file's pin limit, 4 GiB).
        while !pins.is_empty() {
            let Ok(mut batch) = KVec::with_capacity(pins.len(), GFP_KERNEL) else {
                break;
            };
            let mut ranges = 0;
            while let Some(pin) = pins.pop() {
                if ranges != 0 && ranges + pin.runs.len() > MAX_RELEASE_RANGES {
                    // Back for the next batch (room: it was just popped).
                    keep(&mut pins, pin);
                    break;
                }
                ranges += pin.runs.len();
                keep(&mut batch, pin);
            }
            if self.send_release(batch, &mut pins).is_err() {
                break;
            }
        }
        if !pins.is_empty() {
            self.pin_account.releases.lock().put_back(pins);
        }
    }

    /// Posts the release of `batch`, detached, and hands the pinnings to
    /// its slot; on failure they go back into `rest`.
    fn send_release(&self, batch: KVec<RetiredPin>, rest: &mut KVec<RetiredPin>) -> Result {
        let posted = release_body(&batch)
            .and_then(|body| self.submit_detached(Opcode::ReleaseGuestPages as u16, &body));
        let seq = match posted {
            Ok(seq) => seq,
            Err(e) => {
                // Room: `rest` held them all before.
                let mut batch = batch;
                while let Some(pin) = batch.pop() {
                    keep(rest, pin);
                }
                return Err(e);
            }
        };
        let mut st = self.dma.state.lock();
        if let Err(done) = st.slots.hold_until_done(seq, batch) {
            // Completed already: the device has released them.
            drop(st);
            drop(done);
        }
        Ok(())
    }
}
