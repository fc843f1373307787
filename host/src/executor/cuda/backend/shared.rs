//! Copies between the GPU and a client's shared memory (the socket
//! transport's arena): straight from and into the worker's mapping of it,
//! which is page-locked with `cuMemHostRegister` on the first copy, so the
//! copies are DMA at pinned speed with no staging copy.
//!
//! A registration is made in the context of that first copy, `PORTABLE` so
//! every context of the client sees it pinned, and charged to the client's
//! `pinned_bytes` quota. It is undone before its context is destroyed
//! (`teardown`) and before the area is unmapped; a later copy registers the
//! area again in its own context. If the driver or the quota refuses, the
//! copies still run, at pageable speed.

use super::*;
use crate::cuda::backend::SharedBackend;
use crate::cuda::shared::{SharedKind, SharedSpan, SharedStats};
use crate::executor::cuda::driver::CU_MEMHOSTREGISTER_PORTABLE;

/// One shared area of the client.
#[derive(Debug)]
pub(super) struct SharedArea {
    span: SharedSpan,
    kind: SharedKind,
    /// The context it is page-locked in.
    registered: Option<u64>,
    /// The driver or the quota refused: not tried again.
    refused: bool,
}

/// The client's shared areas and what went through them.
#[derive(Debug, Default)]
pub(super) struct SharedAreas {
    areas: Vec<SharedArea>,
    pub(super) stats: SharedStats,
}

impl GpuClient {
    /// Whether `span` lies in an area page-locked now, registering its area
    /// in the current context `key` if it is not yet.
    fn pin_shared(&mut self, key: u64, span: &SharedSpan) -> bool {
        let Some(i) = self.shared.areas.iter().position(|a| a.span.contains(span)) else {
            return false;
        };
        let area = &self.shared.areas[i];
        if area.registered.is_some() {
            return true;
        }
        let Some(register) = self.driver.api().mem_host_register else {
            return false;
        };
        if area.refused {
            return false;
        }
        let (len, kind) = (area.span.len(), area.kind);
        if !self.charge_shared(key, len as u64, kind) {
            tracing::info!(
                bytes = len,
                "shared memory not page-locked: over the client's pinned_bytes quota"
            );
            self.shared.areas[i].refused = true;
            return false;
        }
        let area = &mut self.shared.areas[i];
        // SAFETY: the area is mapped while it is registered with us
        // (`register_shared`'s contract) and context `key` is current.
        let rc = unsafe { register(area.span.as_ptr().cast(), len, CU_MEMHOSTREGISTER_PORTABLE) };
        if rc != 0 {
            tracing::warn!(rc, bytes = len, "cuMemHostRegister of shared memory failed");
            self.pinned.refund(len as u64);
            area.refused = true;
            return false;
        }
        area.registered = Some(key);
        self.shared.stats.registered += len as u64;
        true
    }

    /// Charges `len` bytes to the pinned quota. The client's own pinned
    /// memory may take the arena's place: the arena then stays pageable
    /// (its copies are bound by the client's memcpy into it anyway), and
    /// context `key` is made current again.
    fn charge_shared(&mut self, key: u64, len: u64, kind: SharedKind) -> bool {
        if self.pinned.charge(len) {
            return true;
        }
        let arena = self
            .shared
            .areas
            .iter()
            .position(|a| a.kind == SharedKind::Arena && a.registered.is_some());
        let (Some(arena), SharedKind::HostMemory) = (arena, kind) else {
            return false;
        };
        tracing::info!("the arena gives its page-locked place to pinned host memory");
        self.unpin_shared(arena);
        self.shared.areas[arena].refused = true;
        self.enter_key(key).is_ok() && self.pinned.charge(len)
    }

    /// Unregisters area `i` (its context current, if it still exists).
    fn unpin_shared(&mut self, i: usize) {
        let Some(key) = self.shared.areas[i].registered.take() else {
            return;
        };
        let span = self.shared.areas[i].span;
        self.shared.areas[i].refused = false;
        let unregistered = self.enter_key(key).is_ok()
            && self
                .driver
                .api()
                .mem_host_unregister
                .is_some_and(|unregister| {
                    // SAFETY: registered by `pin_shared` in context `key`, now current.
                    unsafe { unregister(span.as_ptr().cast()) == 0 }
                });
        if !unregistered {
            tracing::warn!(
                bytes = span.len(),
                "shared memory could not be unregistered"
            );
        }
        // Either way the pages are the client's again: its context ends
        // the registration if we could not.
        self.pinned.refund(span.len() as u64);
        self.shared.stats.registered -= span.len() as u64;
    }

    /// Waits for the client's work in every context: asynchronous copies
    /// from and into its host memory may be in flight in any of them (the
    /// registration is portable), and NVIDIA's cuMemFreeHost waits likewise.
    pub(super) fn synchronize_all(&mut self) {
        let keys: Vec<u64> = self.contexts.iter().map(|(k, _)| k).collect();
        for key in keys {
            if self.enter_key(key).is_ok() {
                // SAFETY: context `key` is current.
                let _ = unsafe { (self.driver.api().ctx_synchronize)() };
            }
        }
    }

    /// Before context `key` is destroyed: its registrations end first,
    /// after the copies that may still use them.
    pub(super) fn unpin_shared_in(&mut self, key: u64) {
        if self.shared.areas.iter().any(|a| a.registered == Some(key)) {
            self.synchronize_all();
        }
        for i in 0..self.shared.areas.len() {
            if self.shared.areas[i].registered == Some(key) {
                self.unpin_shared(i);
            }
        }
    }
}

impl SharedBackend for GpuClient {
    fn register_shared(&mut self, area: SharedSpan, kind: SharedKind) {
        if !self.shared.areas.iter().any(|a| a.span == area) {
            self.shared.areas.push(SharedArea {
                span: area,
                kind,
                registered: None,
                refused: false,
            });
        }
    }
    fn unregister_shared(&mut self, area: SharedSpan) {
        if let Some(i) = self.shared.areas.iter().position(|a| a.span == area) {
            // Before the area is unmapped: no copy from or into it may be
            // left in flight.
            self.synchronize_all();
            self.unpin_shared(i);
            self.shared.areas.swap_remove(i);
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
        let key = self.enter(ctx)?;
        self.check_dst(dst, src.len() as u64)?;
        let s = self.stream_in(key, stream)?;
        if is_async && self.capturing(s) {
            return Err(uapi::cuda::result::STREAM_CAPTURE_UNSUPPORTED);
        }
        if src.is_empty() {
            return Ok(());
        }
        let pinned = self.pin_shared(key, &src);
        if is_async {
            // No staging: the client's pinned memory stays mapped and
            // registered until `unregister_shared`, which waits for it.
            // SAFETY: `src` is mapped for its length until then.
            check(unsafe {
                (self.driver.api().memcpy_htod_async)(dst, src.as_ptr().cast(), src.len(), s)
            })?;
            self.shared.stats.count(src.len(), pinned);
            return Ok(());
        }
        // Synchronous: from page-locked memory the driver returns when the
        // DMA is done, from pageable memory once it has staged the bytes;
        // either way the arena place is free to reuse when we complete.
        // SAFETY: `src` is mapped for its length (`SharedSpan`'s contract).
        check(unsafe { (self.driver.api().memcpy_htod)(dst, src.as_ptr().cast(), src.len()) })?;
        self.shared.stats.count(src.len(), pinned);
        Ok(())
    }
    fn memcpy_dtoh_shared(
        &mut self,
        ctx: u64,
        stream: u64,
        src: u64,
        dst: SharedSpan,
        is_async: bool,
    ) -> CuResult<()> {
        let key = self.enter(ctx)?;
        self.check_range(src, dst.len() as u64)?;
        let s = self.stream_in(key, stream)?;
        if is_async && self.capturing(s) {
            return Err(uapi::cuda::result::STREAM_CAPTURE_UNSUPPORTED);
        }
        if dst.is_empty() {
            return Ok(());
        }
        let pinned = self.pin_shared(key, &dst);
        let api = self.driver.api();
        if is_async {
            // Into the client's pinned memory, in stream order: it stays
            // mapped and registered until `unregister_shared`, which waits
            // for the client's work; the client synchronises the stream
            // before it reads the bytes, as with CUDA's pinned memory.
            // SAFETY: `dst` is mapped for its length until then.
            check(unsafe { (api.memcpy_dtoh_async)(dst.as_ptr().cast(), src, dst.len(), s) })?;
            self.shared.stats.count(dst.len(), pinned);
            return Ok(());
        }
        // SAFETY: `dst` is mapped for its length, and we return only after
        // the stream (hence the copy) is done.
        check(unsafe { (api.memcpy_dtoh_async)(dst.as_ptr().cast(), src, dst.len(), s) })?;
        // SAFETY: stream of the current context.
        check(unsafe { (api.stream_synchronize)(s) })?;
        self.reap(key);
        self.shared.stats.count(dst.len(), pinned);
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
        let len = self.htod_gather(ctx, stream, dst, src, is_async)?;
        self.shared.stats.count_guest(len as u64);
        Ok(())
    }
    fn memcpy_dtoh_scatter(
        &mut self,
        ctx: u64,
        stream: u64,
        src: u64,
        dst: &[SharedSpan],
    ) -> CuResult<()> {
        let len = self.dtoh_scatter(ctx, stream, src, dst)?;
        self.shared.stats.count_guest(len as u64);
        Ok(())
    }
    fn prepare_guest(&mut self, ctx: u64, parts: &[SharedSpan]) -> CuResult<()> {
        GpuClient::prepare_guest(self, ctx, parts)
    }
    fn shared_stats(&self) -> SharedStats {
        self.shared.stats
    }
    fn guest_epoch(&mut self, epoch: u64) {
        GpuClient::guest_epoch(self, epoch);
    }
    fn release_guest(&mut self, spans: &[SharedSpan]) {
        GpuClient::release_guest(self, spans);
    }
}
