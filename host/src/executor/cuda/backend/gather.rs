//! Copies between the GPU and guest RAM named by a scatter-gather list (the
//! VM path): the pieces are copied, a chunk at a time, into or out of the
//! context's page-locked staging buffers, and each chunk's DMA overlaps
//! the CPU copy of the next. No private copy of the whole transfer is made
//! and NVIDIA's driver never stages pageable memory of ours: one CPU copy
//! per byte, split over a few threads, against DMA at pinned speed.
//!
//! The guest's pages are only read or written during the call (the
//! command completes when it returns and the guest may unpin them), so an
//! asynchronous copy up is staged like any other: the GPU reads the
//! staging buffer, which lives until an event after the copy.

use super::*;
use crate::cuda::shared::{Pieces, SharedSpan};
use std::collections::VecDeque;

/// Bytes of one staged chunk: large enough to amortise a copy command,
/// small enough that the CPU copy of the next overlaps this one's DMA.
pub(super) const CHUNK: usize = 4 << 20;
/// Chunks a copy down keeps in flight ahead of the one being scattered.
const AHEAD: usize = 3;

impl GpuClient {
    /// Waits for `stream` and returns the buffers of `inflight` (or, if the
    /// wait fails and the DMA may still run, never frees them).
    fn drain_scatter(
        &mut self,
        key: u64,
        stream: CUstream,
        inflight: &mut VecDeque<(StagingBuf, CUevent, usize)>,
    ) {
        let driver = Arc::clone(&self.driver);
        // SAFETY: stream of the current context.
        let idle = unsafe { (driver.api().stream_synchronize)(stream) } == 0;
        let Some(ctx) = self.contexts.get_mut(key) else {
            return;
        };
        for (buf, ev, _) in inflight.drain(..) {
            ctx.staging.spare(ev);
            if idle {
                ctx.staging.give_back(&driver, buf);
            } else {
                std::mem::forget(buf);
            }
        }
    }

    /// Issues the DMA of bytes `[at, at + n)` of `src` into a staging
    /// buffer of context `key`, marked by an event.
    pub(super) fn issue_down(
        &mut self,
        key: u64,
        stream: CUstream,
        src: u64,
        n: usize,
    ) -> CuResult<(StagingBuf, CUevent, usize)> {
        let driver = Arc::clone(&self.driver);
        let ctx = self.contexts.get_mut(key).ok_or(INVALID_CONTEXT)?;
        let mut buf = ctx.staging.take(&driver, n).ok_or(OUT_OF_MEMORY)?;
        let ev = match ctx.staging.event(&driver) {
            Ok(ev) => ev,
            Err(e) => {
                ctx.staging.give_back(&driver, buf);
                return Err(e);
            }
        };
        let api = driver.api();
        // SAFETY: `buf` holds at least `n` bytes and lives until the event
        // completes (the caller waits for it, or for the stream, before
        // giving it back); stream and event belong to the current context.
        let rc = unsafe {
            check((api.memcpy_dtoh_async)(
                buf.as_mut_ptr().cast(),
                src,
                n,
                stream,
            ))
            .and_then(|()| check((api.event_record)(ev, stream)))
        };
        match rc {
            Ok(()) => Ok((buf, ev, n)),
            Err(e) => {
                // Nothing of this buffer was queued, or only its copy:
                // wait before reusing it.
                // SAFETY: stream of the current context.
                let idle = unsafe { (api.stream_synchronize)(stream) } == 0;
                ctx.staging.spare(ev);
                if idle {
                    ctx.staging.give_back(&driver, buf);
                } else {
                    std::mem::forget(buf);
                }
                Err(e)
            }
        }
    }
}

impl GpuClient {
    /// The copy up of `SharedBackend::memcpy_htod_gather`; returns the
    /// bytes copied.
    pub(super) fn htod_gather(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: &[SharedSpan],
        is_async: bool,
    ) -> CuResult<usize> {
        let key = self.enter(ctx)?;
        let pieces = Pieces::new(src);
        let total = pieces.len();
        self.check_dst(dst, total as u64)?;
        let s = self.stream_in(key, stream)?;
        if is_async && self.capturing(s) {
            // Staged in buffers reused after the copy: a captured copy
            // would read them at replay.
            return Err(uapi::cuda::result::STREAM_CAPTURE_UNSUPPORTED);
        }
        if !is_async {
            if let Some(done) = self.htod_direct(key, s, dst, src) {
                return done;
            }
        }
        self.stage_up(key, s, dst, &pieces, 0, total)?;
        // A synchronous copy returns here, as NVIDIA's does from pageable
        // memory: the bytes are staged, the DMA is in stream order.
        Ok(total)
    }

    /// Stages bytes `[from, from + len)` of `pieces` up to device address
    /// `dst`, a chunk at a time, each chunk's DMA in stream order on `s`
    /// while the next is copied.
    pub(super) fn stage_up(
        &mut self,
        key: u64,
        s: CUstream,
        dst: u64,
        pieces: &Pieces<'_>,
        from: usize,
        len: usize,
    ) -> CuResult<()> {
        let mut at = 0;
        while at < len {
            let n = CHUNK.min(len - at);
            let (to, read_at) = (dst + at as u64, from + at);
            self.staged_with(
                key,
                s,
                n,
                // SAFETY: the staging buffer holds at least `n` bytes and
                // is our own memory, outside guest RAM.
                |buf| unsafe { pieces.read(read_at, buf.as_mut_ptr(), n) },
                |d, p| {
                    // SAFETY: `p` is the staging buffer, kept until the copy
                    // is complete.
                    check(unsafe { (d.api().memcpy_htod_async)(to, p, n, s) })
                },
            )?;
            at += n;
        }
        Ok(())
    }

    /// The copy down of `SharedBackend::memcpy_dtoh_scatter`; returns the
    /// bytes copied.
    pub(super) fn dtoh_scatter(
        &mut self,
        ctx: u64,
        stream: u64,
        src: u64,
        dst: &[SharedSpan],
    ) -> CuResult<usize> {
        let key = self.enter(ctx)?;
        let pieces = Pieces::new(dst);
        let total = pieces.len();
        self.check_range(src, total as u64)?;
        let s = self.stream_in(key, stream)?;
        if let Some(done) = self.dtoh_direct(key, s, src, dst) {
            self.reap(key);
            return done;
        }
        self.stage_down(key, s, src, &pieces, 0, total)?;
        self.reap(key);
        Ok(total)
    }

    /// Stages device bytes from `src` down into bytes `[from, from + len)`
    /// of `pieces`, [`AHEAD`] chunks of DMA ahead of the copy out; complete
    /// when it returns.
    pub(super) fn stage_down(
        &mut self,
        key: u64,
        s: CUstream,
        src: u64,
        pieces: &Pieces<'_>,
        from: usize,
        len: usize,
    ) -> CuResult<()> {
        let mut inflight = VecDeque::new();
        let (mut issued, mut done) = (0, 0);
        while done < len {
            while inflight.len() < AHEAD && issued < len {
                let n = CHUNK.min(len - issued);
                match self.issue_down(key, s, src + issued as u64, n) {
                    Ok(chunk) => inflight.push_back(chunk),
                    Err(e) => {
                        self.drain_scatter(key, s, &mut inflight);
                        return Err(e);
                    }
                }
                issued += n;
            }
            let Some((buf, ev, n)) = inflight.pop_front() else {
                break;
            };
            let driver = Arc::clone(&self.driver);
            // SAFETY: an event of the current context.
            let waited = check(unsafe { (driver.api().event_synchronize)(ev) });
            if let Err(e) = waited {
                inflight.push_front((buf, ev, n));
                self.drain_scatter(key, s, &mut inflight);
                return Err(e);
            }
            // SAFETY: the DMA into `buf`'s first `n` bytes is complete; the
            // buffer is our own memory, outside guest RAM.
            unsafe { pieces.write(from + done, buf.as_ptr(), n) };
            done += n;
            if let Some(c) = self.contexts.get_mut(key) {
                c.staging.spare(ev);
                c.staging.give_back(&driver, buf);
            }
        }
        Ok(())
    }
}
