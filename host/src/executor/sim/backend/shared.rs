//! Copies to and from a client's shared memory on the simulator. There is no
//! DMA to pin for: "registering" an area records it, so that each copy is
//! counted as pinned when it lies inside a registered area, as it would be
//! on a GPU, and CI can check from the counters that large copies took
//! this path. Guest pages are booked as registered by the rules a GPU
//! executor registers them by (`crate::cuda::guest_pins`), so CI sees which
//! copies would move by DMA alone and that the guest releases them.

use super::*;
use crate::cuda::backend::SharedBackend;
use crate::cuda::guest_pins::runs;
use crate::cuda::shared::{Pieces, SharedKind};

impl SimBackend {
    fn count_shared(&mut self, span: &SharedSpan) {
        let pinned = self.shared.iter().any(|a| a.contains(span));
        self.shared_stats.count(span.len(), pinned);
    }

    /// Books the long runs of a synchronous copy's pieces (`up`: to the
    /// device) as registered and counts the bytes a GPU would then move by
    /// DMA alone.
    fn book_guest(&mut self, ctx: u64, parts: &[SharedSpan], up: bool) {
        for run in runs(parts) {
            if self.guest.book(&run, ctx) {
                self.shared_stats.guest_direct_bytes += run.len as u64;
                self.shared_stats.guest_direct_runs += 1;
                if up {
                    self.shared_stats.guest_direct_up_bytes += run.len as u64;
                }
            }
        }
        self.shared_stats.guest_registered = self.guest.bytes();
    }
}

impl SharedBackend for SimBackend {
    fn register_shared(&mut self, area: SharedSpan, _kind: SharedKind) {
        if !self.shared.contains(&area) {
            self.shared.push(area);
            self.shared_stats.registered += area.len() as u64;
        }
    }
    fn unregister_shared(&mut self, area: SharedSpan) {
        if let Some(i) = self.shared.iter().position(|a| *a == area) {
            self.shared.swap_remove(i);
            self.shared_stats.registered -= area.len() as u64;
        }
    }
    fn memcpy_htod_shared(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: SharedSpan,
        is_async: bool,
    ) -> CuResult<()> {
        // The simulated device's memory is host memory of ours: its "DMA"
        // is one copy out of the span.
        let mut bytes = vec![0u8; src.len()];
        src.read_into(&mut bytes);
        self.memcpy_htod(ctx, stream, dst, &bytes, is_async)?;
        self.count_shared(&src);
        Ok(())
    }
    fn memcpy_dtoh_shared(
        &mut self,
        ctx: u64,
        stream: u64,
        src: u64,
        dst: SharedSpan,
        _is_async: bool,
    ) -> CuResult<()> {
        // Work runs at submission here, so an asynchronous copy is done
        // at once too: still in stream order.
        let mut bytes = vec![0u8; dst.len()];
        self.memcpy_dtoh(ctx, stream, src, &mut bytes)?;
        dst.write_from(&bytes);
        self.count_shared(&dst);
        Ok(())
    }
    fn memcpy_htod_gather(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: &[SharedSpan],
        is_async: bool,
    ) -> CuResult<()> {
        // The simulated device's memory is ours: its "DMA" is a copy out
        // of the pieces, made before we return as the contract asks.
        let pieces = Pieces::new(src);
        let mut bytes = vec![0u8; pieces.len()];
        // SAFETY: `bytes` is our own buffer of the run's length.
        unsafe { pieces.read(0, bytes.as_mut_ptr(), bytes.len()) };
        self.memcpy_htod(ctx, stream, dst, &bytes, is_async)?;
        if !is_async {
            self.book_guest(ctx, src, true);
        }
        self.shared_stats.count_guest(bytes.len() as u64);
        Ok(())
    }
    fn memcpy_dtoh_scatter(
        &mut self,
        ctx: u64,
        stream: u64,
        src: u64,
        dst: &[SharedSpan],
    ) -> CuResult<()> {
        let pieces = Pieces::new(dst);
        let mut bytes = vec![0u8; pieces.len()];
        self.memcpy_dtoh(ctx, stream, src, &mut bytes)?;
        // SAFETY: `bytes` is our own buffer of the run's length.
        unsafe { pieces.write(0, bytes.as_ptr(), bytes.len()) };
        self.book_guest(ctx, dst, false);
        self.shared_stats.count_guest(bytes.len() as u64);
        Ok(())
    }
    fn prepare_guest(&mut self, ctx: u64, parts: &[SharedSpan]) -> CuResult<()> {
        self.mem_get_info(ctx)?;
        for run in runs(parts) {
            if !self.guest.covers(run.addr, run.len) && self.guest.book(&run, ctx) {
                self.shared_stats.guest_prepared += run.len as u64;
            }
        }
        self.shared_stats.guest_registered = self.guest.bytes();
        Ok(())
    }
    fn shared_stats(&self) -> SharedStats {
        self.shared_stats
    }
    fn guest_epoch(&mut self, epoch: u64) {
        if self.guest.set_epoch(epoch) {
            for pin in self.guest.all() {
                self.guest.remove(pin.start);
            }
            self.shared_stats.guest_registered = 0;
        }
    }
    fn release_guest(&mut self, spans: &[SharedSpan]) {
        for s in spans {
            for pin in self.guest.overlapping(s.as_ptr() as usize, s.len()) {
                self.guest.remove(pin.start);
                self.shared_stats.guest_released += 1;
            }
        }
        self.shared_stats.guest_registered = self.guest.bytes();
    }
}
