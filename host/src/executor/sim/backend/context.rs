//! Contexts and their limits on the simulator.

use super::*;
use crate::cuda::options::CtxFlags;

impl ContextBackend for SimBackend {
    fn object_counts(&self) -> ObjectCounts {
        ObjectCounts {
            contexts: self.contexts.len(),
            streams: self.streams.len(),
            events: self.events.len(),
            modules: self.modules.len(),
            functions: self.functions.len(),
            allocations: self.memory.allocation_count() + self.vmm.handle_count(),
        }
    }
    fn device_attributes(&mut self, device: i32) -> CuResult<Vec<i32>> {
        self.device(device)?;
        Ok(self.attributes.as_ref().clone())
    }
    fn mem_get_info(&mut self, ctx: u64) -> CuResult<(u64, u64)> {
        self.ctx(ctx)?;
        let total = self.space.total();
        Ok((total.saturating_sub(self.space.used()), total))
    }
    fn ctx_create(&mut self, _flags: CtxFlags, device: i32) -> CuResult<u64> {
        self.device(device)?;
        let h = self.handle(KIND_CTX);
        self.contexts.insert(h, ());
        Ok(h)
    }
    fn ctx_destroy(&mut self, ctx: u64) -> CuResult<()> {
        if ctx == PRIMARY || self.contexts.remove(&ctx).is_none() {
            return Err(result::INVALID_CONTEXT);
        }
        self.release_context(ctx);
        Ok(())
    }
    fn primary_ctx_retain(&mut self, device: i32) -> CuResult<u64> {
        self.device(device)?;
        self.primary_retained = self.primary_retained.saturating_add(1);
        Ok(PRIMARY)
    }
    fn primary_ctx_release(&mut self, device: i32) -> CuResult<()> {
        self.device(device)?;
        if self.primary_retained == 0 {
            return Err(result::INVALID_CONTEXT);
        }
        self.primary_retained -= 1;
        Ok(())
    }
    fn primary_ctx_reset(&mut self, device: i32) -> CuResult<()> {
        self.device(device)?;
        self.release_context(PRIMARY);
        Ok(())
    }
    fn ctx_synchronize(&mut self, ctx: u64) -> CuResult<()> {
        self.ctx(ctx).map(drop)
    }
}
