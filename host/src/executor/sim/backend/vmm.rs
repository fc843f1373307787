//! Virtual memory management on the simulator (the model is `super::super::vmm`).

use super::*;
use crate::cuda::backend::VmmBackend;
use uapi::cuda::AllocationProp;

impl VmmBackend for SimBackend {
    fn mem_address_reserve(
        &mut self,
        ctx: u64,
        size: u64,
        alignment: u64,
        _addr: u64,
    ) -> CuResult<u64> {
        self.ctx(ctx)?;
        self.vmm.reserve(size, alignment)
    }
    fn mem_address_free(&mut self, ctx: u64, ptr: u64, size: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.vmm.free(ptr, size)
    }
    fn mem_create(&mut self, ctx: u64, size: u64, _prop: &AllocationProp) -> CuResult<u64> {
        // The properties were checked: pinned memory on our device.
        self.ctx(ctx)?;
        self.vmm.create(size)
    }
    fn mem_release(&mut self, ctx: u64, handle: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.vmm.release(handle)
    }
    fn mem_map(&mut self, ctx: u64, ptr: u64, size: u64, offset: u64, handle: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.vmm.map(&mut self.memory, ptr, size, offset, handle)
    }
    fn mem_unmap(&mut self, ctx: u64, ptr: u64, size: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.vmm.unmap(&mut self.memory, ptr, size)
    }
    fn mem_set_access(&mut self, ctx: u64, ptr: u64, size: u64, flags: u32) -> CuResult<()> {
        self.ctx(ctx)?;
        self.vmm.set_access(&mut self.memory, ptr, size, flags)
    }
    fn mem_get_access(&mut self, ctx: u64, ptr: u64) -> CuResult<u32> {
        self.ctx(ctx)?;
        let (base, _) = self.vmm.mapped(ptr)?;
        self.memory.access(base).ok_or(result::INVALID_VALUE)
    }
    fn mem_retain_allocation_handle(&mut self, ctx: u64, ptr: u64) -> CuResult<u64> {
        self.ctx(ctx)?;
        self.vmm.retain(ptr)
    }
}
