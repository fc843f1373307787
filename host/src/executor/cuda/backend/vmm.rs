//! Virtual memory management on the real GPU: not carried yet.

use super::*;
use crate::cuda::backend::VmmBackend;
use uapi::cuda::AllocationProp;

impl VmmBackend for GpuClient {
    fn mem_address_reserve(&mut self, _: u64, _: u64, _: u64, _: u64) -> CuResult<u64> {
        Err(NOT_SUPPORTED)
    }
    fn mem_address_free(&mut self, _: u64, _: u64, _: u64) -> CuResult<()> {
        Err(NOT_SUPPORTED)
    }
    fn mem_create(&mut self, _: u64, _: u64, _: &AllocationProp) -> CuResult<u64> {
        Err(NOT_SUPPORTED)
    }
    fn mem_release(&mut self, _: u64, _: u64) -> CuResult<()> {
        Err(NOT_SUPPORTED)
    }
    fn mem_map(&mut self, _: u64, _: u64, _: u64, _: u64, _: u64) -> CuResult<()> {
        Err(NOT_SUPPORTED)
    }
    fn mem_unmap(&mut self, _: u64, _: u64, _: u64) -> CuResult<()> {
        Err(NOT_SUPPORTED)
    }
    fn mem_set_access(&mut self, _: u64, _: u64, _: u64, _: u32) -> CuResult<()> {
        Err(NOT_SUPPORTED)
    }
    fn mem_get_access(&mut self, _: u64, _: u64) -> CuResult<u32> {
        Err(NOT_SUPPORTED)
    }
    fn mem_retain_allocation_handle(&mut self, _: u64, _: u64) -> CuResult<u64> {
        Err(NOT_SUPPORTED)
    }
}
