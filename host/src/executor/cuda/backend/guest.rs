//! Copies between the GPU and guest pages registered with it (the VM
//! path): long runs of a copy's pages are registered with
//! `cuMemHostRegister` on first use and kept, so that later copies of the
//! same buffer are DMA at pinned speed with no copy on this side. The rules
//! (what is registered, for how long) are `crate::cuda::guest_pins`'s;
//! the rest of a copy (short runs, or a run the driver refuses) is staged
//! by `gather.rs`'s own loops (`stage_up`, `stage_down`).
//!
//! A registration is `PORTABLE`, made in the context of the copy, and
//! undone, after the client's work that may use it, before its context is
//! destroyed, when the guest releases pages it overlaps, and when guest RAM
//! is mapped anew. It is not charged to the `pinned_bytes` quota, which
//! bounds the host memory a client page-locks beside its VM: these pages
//! are the VM's own RAM, which the guest's driver pinned (at most a quarter
//! of it per client), and locking them makes no new memory.
//!
//! Only synchronous copies go this way: each waits for its DMA before it
//! returns, so the guest may reuse the pages once the command completes, as
//! it may after a staged copy. An asynchronous copy up is staged: its
//! source may be pageable memory the program rewrites at once.

use super::*;
use crate::cuda::guest_pins::{runs, GuestPin, Run};
use crate::cuda::shared::{Pieces, SharedSpan};
use crate::executor::cuda::driver::CU_MEMHOSTREGISTER_PORTABLE;

impl GpuClient {
    /// Moves to guest RAM epoch `epoch`: registrations of an older one end.
    pub(super) fn guest_epoch(&mut self, epoch: u64) {
        if self.guest.set_epoch(epoch) {
            tracing::debug!(epoch, "guest RAM mapped anew: its registrations end");
            self.synchronize_all();
            for pin in self.guest.all() {
                self.unpin_guest(pin);
            }
        }
    }

    /// Ends every registration overlapping `spans` (pages the guest is about
    /// to unpin), after the work that may still use them.
    pub(super) fn release_guest(&mut self, spans: &[SharedSpan]) {
        let doomed: Vec<GuestPin> = {
            let mut all: Vec<GuestPin> = spans
                .iter()
                .flat_map(|s| self.guest.overlapping(s.as_ptr() as usize, s.len()))
                .collect();
            all.sort_by_key(|p| p.start);
            all.dedup();
            all
        };
        if doomed.is_empty() {
            return;
        }
        self.synchronize_all();
        self.shared.stats.guest_released += doomed.len() as u64;
        for pin in doomed {
            self.unpin_guest(pin);
        }
    }

    /// Before context `key` is destroyed: its registrations end first.
    pub(super) fn unpin_guest_in(&mut self, key: u64) {
        let pins = self.guest.of_context(key);
        if pins.is_empty() {
            return;
        }
        self.synchronize_all();
        for pin in pins {
            self.unpin_guest(pin);
        }
    }

    /// Undoes `pin` (in its context, if that still exists) and forgets it.
    fn unpin_guest(&mut self, pin: GuestPin) {
        if self.guest.remove(pin.start).is_none() {
            return;
        }
        let unregistered = self.enter_key(pin.ctx).is_ok()
            && self
                .driver
                .api()
                .mem_host_unregister
                .is_some_and(|unregister| {
                    // SAFETY: registered by `pin_guest` in context `pin.ctx`,
                    // now current.
                    unsafe { unregister(pin.start as *mut c_void) == 0 }
                });
        if !unregistered {
            tracing::warn!(bytes = pin.len, "guest pages could not be unregistered");
        }
        self.shared.stats.guest_registered = self.guest.bytes();
    }

    /// Whether `run` lies in a registration now, registering it (merged
    /// with those it overlaps) in context `key` if it is long enough.
    /// Leaves context `key` current.
    fn pin_guest(&mut self, key: u64, run: &Run) -> bool {
        if self.guest.covers(run.addr, run.len) {
            return true;
        }
        let Some(register) = self.driver.api().mem_host_register else {
            return false;
        };
        let Some((start, len, merged)) = self.guest.plan(run) else {
            return false;
        };
        if !merged.is_empty() {
            self.synchronize_all();
            for pin in merged {
                self.unpin_guest(pin);
            }
        }
        if self.enter_key(key).is_err() {
            return false;
        }
        // SAFETY: the pages are guest RAM this process maps for as long as
        // the epoch lasts (a new one unregisters first), and context `key`
        // is current.
        let rc = unsafe { register(start as *mut c_void, len, CU_MEMHOSTREGISTER_PORTABLE) };
        if rc != 0 {
            tracing::debug!(rc, bytes = len, "cuMemHostRegister of guest pages failed");
            return false;
        }
        self.guest.insert(GuestPin {
            start,
            len,
            ctx: key,
        });
        self.shared.stats.guest_registered = self.guest.bytes();
        true
    }

    /// Registers the long runs of `parts` in context `ctx` ahead of their
    /// copies (`SharedBackend::prepare_guest`). A run the driver will not
    /// register is left to the copies, which stage it.
    pub(super) fn prepare_guest(&mut self, ctx: u64, parts: &[SharedSpan]) -> CuResult<()> {
        let key = self.enter(ctx)?;
        for run in runs(parts) {
            if !self.guest.covers(run.addr, run.len) && self.pin_guest(key, &run) {
                self.shared.stats.guest_prepared += run.len as u64;
            }
        }
        Ok(())
    }

    /// The runs of `parts` and whether each lies in a registration now
    /// (registering the long ones); `None` if none does, so the copy is
    /// staged whole. Leaves context `key` current.
    fn direct_plan(&mut self, key: u64, parts: &[SharedSpan]) -> Option<Vec<(Run, bool)>> {
        let plan: Vec<(Run, bool)> = runs(parts)
            .into_iter()
            .map(|r| (r, self.pin_guest(key, &r)))
            .collect();
        plan.iter().any(|(_, direct)| *direct).then_some(plan)
    }

    /// Runs a copy between the device and `parts` where some of it is
    /// registered: `direct(self, run)` queues the DMA of a registered run,
    /// `staged(self, pieces, run)` moves another through staging; then a
    /// wait for all of it, failed or not: the guest may reuse its pages once
    /// we return. `None` if nothing is registered (the caller stages it all).
    fn copy_direct(
        &mut self,
        key: u64,
        s: CUstream,
        up: bool,
        parts: &[SharedSpan],
        mut direct: impl FnMut(&mut Self, &Run) -> CuResult<()>,
        mut staged: impl FnMut(&mut Self, &Pieces<'_>, &Run) -> CuResult<()>,
    ) -> Option<CuResult<usize>> {
        let plan = self.direct_plan(key, parts)?;
        let started = std::time::Instant::now();
        let pieces = Pieces::new(parts);
        let (mut moved, mut runs) = (0u64, 0u64);
        let mut issued = Ok(());
        for (run, registered) in &plan {
            issued = if *registered {
                direct(self, run).map(|()| {
                    moved += run.len as u64;
                    runs += 1;
                })
            } else {
                staged(self, &pieces, run)
            };
            if issued.is_err() {
                break;
            }
        }
        // SAFETY: stream of the current context.
        let waited = check(unsafe { (self.driver.api().stream_synchronize)(s) });
        let stats = &mut self.shared.stats;
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        stats.guest_direct_bytes += moved;
        stats.guest_direct_runs += runs;
        if up {
            stats.guest_direct_up_bytes += moved;
            stats.guest_direct_up_ns = stats.guest_direct_up_ns.saturating_add(ns);
        } else {
            stats.guest_direct_down_ns = stats.guest_direct_down_ns.saturating_add(ns);
        }
        Some(issued.and(waited).map(|()| pieces.len()))
    }

    /// A synchronous copy up from `parts` where some of it is registered
    /// (`copy_direct`).
    pub(super) fn htod_direct(
        &mut self,
        key: u64,
        s: CUstream,
        dst: u64,
        parts: &[SharedSpan],
    ) -> Option<CuResult<usize>> {
        self.copy_direct(
            key,
            s,
            true,
            parts,
            |me, run| {
                // SAFETY: registered guest pages, read before we return
                // (`copy_direct` waits for the stream).
                check(unsafe {
                    (me.driver.api().memcpy_htod_async)(
                        dst + run.offset as u64,
                        run.addr as *const c_void,
                        run.len,
                        s,
                    )
                })
            },
            |me, pieces, run| {
                me.stage_up(key, s, dst + run.offset as u64, pieces, run.offset, run.len)
            },
        )
    }

    /// A copy down into `parts` where some of it is registered
    /// (`copy_direct`).
    pub(super) fn dtoh_direct(
        &mut self,
        key: u64,
        s: CUstream,
        src: u64,
        parts: &[SharedSpan],
    ) -> Option<CuResult<usize>> {
        self.copy_direct(
            key,
            s,
            false,
            parts,
            |me, run| {
                // SAFETY: registered guest pages, written before we return
                // (`copy_direct` waits for the stream).
                check(unsafe {
                    (me.driver.api().memcpy_dtoh_async)(
                        run.addr as *mut c_void,
                        src + run.offset as u64,
                        run.len,
                        s,
                    )
                })
            },
            |me, pieces, run| {
                me.stage_down(key, s, src + run.offset as u64, pieces, run.offset, run.len)
            },
        )
    }
}
