//! Contexts: the client's host contexts, which one is current, teardown.

use super::*;
use crate::cuda::backend::ObjectCounts;
use crate::cuda::options::CtxFlags;
impl GpuClient {
    pub(super) fn check_device(device: i32) -> CuResult<()> {
        if device == 0 {
            Ok(())
        } else {
            Err(INVALID_DEVICE)
        }
    }
    /// Makes `raw` current on the calling thread unless it already is.
    pub(super) fn make_current(&mut self, raw: CUcontext) -> CuResult<()> {
        let me = std::thread::current().id();
        if self.current == Some((me, raw)) {
            return Ok(());
        }
        // SAFETY: `raw` is a live context of this client.
        check(unsafe { (self.driver.api().ctx_set_current)(raw) })?;
        self.current = Some((me, raw));
        Ok(())
    }
    /// The host context of `key`, creating the primary one if needed.
    pub(super) fn ctx_raw(&mut self, key: u64) -> CuResult<CUcontext> {
        let entry = self.contexts.get(key).ok_or(INVALID_CONTEXT)?;
        if let Some(raw) = entry.raw {
            return Ok(raw);
        }
        let raw = self.driver.ctx_create(0, self.device)?;
        // Creation may have changed the thread's current context.
        self.current = None;
        if let Some(entry) = self.contexts.get_mut(key) {
            entry.raw = Some(raw);
        }
        Ok(raw)
    }
    /// Resolves a guest context (0 = primary), makes it current; returns its key.
    pub(super) fn enter(&mut self, ctx: u64) -> CuResult<u64> {
        let key = if ctx == 0 { self.primary } else { ctx };
        let raw = self.ctx_raw(key)?;
        self.make_current(raw)?;
        Ok(key)
    }
    /// Makes the (live) context `key` of an existing object current.
    pub(super) fn enter_key(&mut self, key: u64) -> CuResult<()> {
        let raw = self
            .contexts
            .get(key)
            .and_then(|c| c.raw)
            .ok_or(INVALID_CONTEXT)?;
        self.make_current(raw)
    }
    /// Destroys the host context of `key` and forgets every object in it.
    /// The entry stays (uninitialised) for the primary context.
    pub(super) fn teardown(&mut self, key: u64) {
        let driver = Arc::clone(&self.driver);
        let Some(raw) = self.contexts.get(key).and_then(|c| c.raw) else {
            return;
        };
        self.unpin_shared_in(key);
        self.unpin_guest_in(key);
        let current_ok = self.make_current(raw).is_ok();
        if current_ok {
            self.free_pooled(key);
            self.release_graphs(key);
        }
        let pinned = self.pinned.clone();
        if let Some(c) = self.contexts.get_mut(key) {
            if current_ok {
                if c.staging.has_pending() {
                    // SAFETY: `raw` is current.
                    let _ = unsafe { (driver.api().ctx_synchronize)() };
                }
                c.staging.teardown(&driver, raw);
            } else {
                // Without the context current nothing can be unregistered;
                // dropping registered buffers leaks them (see StagingBuf).
                c.staging = Staging::new(pinned);
            }
            c.raw = None;
        }
        self.modules.remove_where(|m| m.ctx == key);
        self.functions.remove_where(|f| f.ctx == key);
        self.streams.remove_where(|s| s.ctx == key);
        self.events.remove_where(|e| e.ctx == key);
        self.allocations.retain(|_, r| r.ctx != key);
        self.globals.retain(|_, r| r.ctx != key);
        // SAFETY: our context; everything in it is freed with it.
        let _ = unsafe { (driver.api().ctx_destroy)(raw) };
        self.current = None;
    }
}

impl Drop for GpuClient {
    fn drop(&mut self) {
        self.vmm_teardown();
        let keys: Vec<u64> = self.contexts.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.teardown(key);
        }
        self.destroy_pool();
    }
}

impl ContextBackend for GpuClient {
    fn object_counts(&self) -> ObjectCounts {
        ObjectCounts {
            // The primary context is always in the table.
            contexts: self.contexts.len().saturating_sub(1),
            streams: self.streams.len(),
            events: self.events.len(),
            modules: self.modules.len(),
            functions: self.functions.len(),
            allocations: self.allocations.len(),
        }
    }
    fn set_pinned_limit(&mut self, bytes: u64) {
        self.pinned.set_limit(bytes);
    }
    fn device_attributes(&mut self, device: i32) -> CuResult<Vec<i32>> {
        Self::check_device(device)?;
        Ok(self.attributes.to_vec())
    }
    fn mem_get_info(&mut self, ctx: u64) -> CuResult<(u64, u64)> {
        self.enter(ctx)?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: valid out-pointers; a context is current.
        check(unsafe { (self.driver.api().mem_get_info)(&mut free, &mut total) })?;
        Ok((free as u64, total as u64))
    }
    fn ctx_create(&mut self, flags: CtxFlags, device: i32) -> CuResult<u64> {
        Self::check_device(device)?;
        let raw = self.driver.ctx_create(flags.bits(), self.device)?;
        self.current = None;
        Ok(self.contexts.insert(Ctx {
            raw: Some(raw),
            staging: Staging::new(self.pinned.clone()),
        }))
    }
    fn ctx_destroy(&mut self, ctx: u64) -> CuResult<()> {
        if ctx == 0 || ctx == self.primary || self.contexts.get(ctx).is_none() {
            return Err(INVALID_CONTEXT);
        }
        self.teardown(ctx);
        self.contexts.remove(ctx);
        Ok(())
    }
    fn primary_ctx_retain(&mut self, device: i32) -> CuResult<u64> {
        Self::check_device(device)?;
        self.ctx_raw(self.primary)?;
        self.primary_refs = self.primary_refs.saturating_add(1);
        Ok(self.primary)
    }
    fn primary_ctx_release(&mut self, device: i32) -> CuResult<()> {
        Self::check_device(device)?;
        if self.primary_refs == 0 {
            return Err(INVALID_CONTEXT);
        }
        self.primary_refs -= 1;
        if self.primary_refs == 0 {
            self.teardown(self.primary);
        }
        Ok(())
    }
    fn primary_ctx_reset(&mut self, device: i32) -> CuResult<()> {
        Self::check_device(device)?;
        self.teardown(self.primary);
        Ok(())
    }
    fn ctx_synchronize(&mut self, ctx: u64) -> CuResult<()> {
        let key = self.enter(ctx)?;
        // SAFETY: the context is current.
        let rc = unsafe { (self.driver.api().ctx_synchronize)() };
        if rc == 0 {
            let driver = Arc::clone(&self.driver);
            if let Some(c) = self.contexts.get_mut(key) {
                c.staging.complete_all(&driver);
            }
        }
        check(rc)
    }
}
