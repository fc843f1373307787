//! Virtual memory management on the real GPU: each command is checked
//! against the client's own reservations, handles and mappings
//! (`super::vmm_state`), then forwarded to NVIDIA's driver. Reservations
//! and mappings are host addresses (device pointers need no translation);
//! allocation handles are ours, standing for host handles the guest never
//! sees. Allocations are made pinned on our device and never exportable
//! on the host, whatever the guest asked for (`crate::cuda::client::vmm`
//! has checked what it may ask for). VMM objects outlive contexts in
//! CUDA, so the client's teardown unmaps, releases and frees them all.

use super::vmm_state::{VmmHandle, VmmState};
use super::*;
use crate::cuda::backend::VmmBackend;
use crate::executor::cuda::driver::{CUmemHandle, CuMemAccessDesc, CuMemLocation};
use uapi::cuda::{vmm_prop, AllocationProp};

/// Address space one client may reserve, in multiples of the device's
/// memory: ggml reserves up to 32 GiB once, PyTorch 1⅛ × the device's
/// memory per expandable segment (one per stream and pool kind).
pub(super) const RESERVE_LIMIT_PER_TOTAL_MEMORY: u64 = 16;

/// `CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED`.
pub const ATTR_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED: usize = 102;

impl GpuClient {
    /// The client's VMM state, or `NOT_SUPPORTED` when the executor does
    /// not report VMM (attribute 102 is what the guest was told).
    fn vmm_state(&mut self) -> CuResult<&mut VmmState> {
        let supported = self
            .attributes
            .get(ATTR_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED)
            .is_some_and(|&v| v == 1);
        if !supported || !self.driver.api().has_vmm() {
            return Err(NOT_SUPPORTED);
        }
        if self.vmm.is_none() {
            let mut total = 0usize;
            // SAFETY: valid out-pointer; needs no context.
            check(unsafe { (self.driver.api().device_total_mem)(&mut total, self.device) })?;
            let limit = (total as u64).saturating_mul(RESERVE_LIMIT_PER_TOTAL_MEMORY);
            self.vmm = Some(VmmState::new(limit));
        }
        self.vmm.as_mut().ok_or(NOT_SUPPORTED)
    }

    /// The device's location, as the host numbers it.
    fn location(&self) -> CuMemLocation {
        CuMemLocation {
            kind: vmm_prop::LOCATION_DEVICE as c_int,
            id: self.device,
        }
    }

    /// Whether a VMM mapping of the client lets a copy read (or, with
    /// `write`, write) `[ptr, ptr + len)`.
    pub(super) fn vmm_allows(&self, ptr: u64, len: u64, write: bool) -> bool {
        self.vmm.as_ref().is_some_and(|v| {
            if write {
                v.writable(ptr, len)
            } else {
                v.readable(ptr, len)
            }
        })
    }

    /// The mapping holding `ptr`, as `cuMemGetAddressRange` answers it.
    pub(super) fn vmm_range_of(&self, ptr: u64) -> Option<(u64, u64)> {
        let (base, m) = self.vmm.as_ref()?.mapping_at(ptr)?;
        Some((base, m.size))
    }

    /// Unmaps, releases and frees everything the client holds, after the
    /// work of its contexts (no kernel may still use the memory).
    pub(super) fn vmm_teardown(&mut self) {
        let Some(state) = self.vmm.take() else {
            return;
        };
        let live: Vec<CUcontext> = self.contexts.iter().filter_map(|(_, c)| c.raw).collect();
        for &raw in &live {
            if self.make_current(raw).is_ok() {
                // SAFETY: a live context of this client is current.
                let _ = unsafe { (self.driver.api().ctx_synchronize)() };
            }
        }
        let api = *self.driver.api();
        let (Some(unmap), Some(release), Some(free)) =
            (api.mem_unmap, api.mem_release, api.mem_address_free)
        else {
            return;
        };
        for (&base, m) in &state.mappings {
            // SAFETY: a mapping this client made and still holds.
            let _ = unsafe { unmap(base, m.size as usize) };
        }
        for (_, h) in state.handles.iter().filter(|(_, h)| h.refs > 0) {
            // SAFETY: the one host reference this client holds on it.
            let _ = unsafe { release(h.raw) };
        }
        for (&base, &size) in &state.reservations {
            // SAFETY: a reservation of this client, now with nothing mapped.
            let _ = unsafe { free(base, size as usize) };
        }
    }
}

impl VmmBackend for GpuClient {
    fn mem_address_reserve(
        &mut self,
        ctx: u64,
        size: u64,
        alignment: u64,
        _addr: u64,
    ) -> CuResult<u64> {
        self.enter(ctx)?;
        self.vmm_state()?.check_reserve(size)?;
        let reserve = self.driver.api().mem_address_reserve.ok_or(NOT_SUPPORTED)?;
        let mut base: CUdeviceptr = 0;
        // The guest's hint is not passed on (CUDA treats it as a hint too):
        // it would let a guest probe where other clients' memory lies.
        // SAFETY: valid out-pointer; sizes checked by the client.
        check(unsafe { reserve(&mut base, to_usize(size)?, to_usize(alignment)?, 0, 0) })?;
        self.vmm_state()?.reservations.insert(base, size);
        Ok(base)
    }
    fn mem_address_free(&mut self, ctx: u64, ptr: u64, size: u64) -> CuResult<()> {
        self.enter(ctx)?;
        self.vmm_state()?.check_free(ptr, size)?;
        let free = self.driver.api().mem_address_free.ok_or(NOT_SUPPORTED)?;
        // SAFETY: a whole reservation of this client with nothing mapped.
        check(unsafe { free(ptr, to_usize(size)?) })?;
        self.vmm_state()?.reservations.remove(&ptr);
        Ok(())
    }
    fn mem_create(&mut self, ctx: u64, size: u64, _prop: &AllocationProp) -> CuResult<u64> {
        self.enter(ctx)?;
        self.vmm_state()?;
        let create = self.driver.api().mem_create.ok_or(NOT_SUPPORTED)?;
        // Pinned on our device, not exportable, no compression or RDMA:
        // the guest's request was checked to be no more than that, bar an
        // export capability it cannot use (exports are not carried).
        let host_prop = AllocationProp {
            kind: vmm_prop::ALLOCATION_PINNED,
            requested_handle_types: vmm_prop::HANDLE_NONE,
            location_type: vmm_prop::LOCATION_DEVICE,
            location_id: self.device,
            win32_metadata: 0,
            alloc_flags: [0; 8],
        };
        let mut raw: CUmemHandle = 0;
        // SAFETY: valid out-pointer; `host_prop` has CUmemAllocationProp's layout.
        check(unsafe { create(&mut raw, to_usize(size)?, &host_prop, 0) })?;
        let handle = VmmHandle {
            raw,
            size,
            refs: 1,
            mapped_at: None,
        };
        Ok(self.vmm_state()?.handles.insert(handle))
    }
    fn mem_release(&mut self, ctx: u64, handle: u64) -> CuResult<()> {
        self.enter(ctx)?;
        let (raw, last) = self.vmm_state()?.check_release(handle)?;
        if last {
            let release = self.driver.api().mem_release.ok_or(NOT_SUPPORTED)?;
            // SAFETY: the host reference this client holds; a mapping keeps
            // the memory until it is unmapped.
            check(unsafe { release(raw) })?;
        }
        self.vmm_state()?.record_release(handle);
        Ok(())
    }
    fn mem_map(&mut self, ctx: u64, ptr: u64, size: u64, offset: u64, handle: u64) -> CuResult<()> {
        self.enter(ctx)?;
        let raw = self.vmm_state()?.check_map(ptr, size, handle)?;
        let map = self.driver.api().mem_map.ok_or(NOT_SUPPORTED)?;
        // SAFETY: inside a reservation of this client, over nothing mapped,
        // a whole live allocation of this client.
        check(unsafe { map(ptr, to_usize(size)?, to_usize(offset)?, raw, 0) })?;
        self.vmm_state()?.record_map(ptr, size, handle);
        Ok(())
    }
    fn mem_unmap(&mut self, ctx: u64, ptr: u64, size: u64) -> CuResult<()> {
        self.enter(ctx)?;
        let bases = self.vmm_state()?.tiling(ptr, size)?;
        let unmap = self.driver.api().mem_unmap.ok_or(NOT_SUPPORTED)?;
        for base in bases {
            let Some((_, m)) = self.vmm_state()?.mapping_at(base) else {
                continue;
            };
            // SAFETY: a whole mapping of this client.
            check(unsafe { unmap(base, to_usize(m.size)?) })?;
            self.vmm_state()?.record_unmap(base);
        }
        Ok(())
    }
    fn mem_set_access(&mut self, ctx: u64, ptr: u64, size: u64, flags: u32) -> CuResult<()> {
        self.enter(ctx)?;
        let bases = self.vmm_state()?.access_targets(ptr, size)?;
        let set = self.driver.api().mem_set_access.ok_or(NOT_SUPPORTED)?;
        let desc = CuMemAccessDesc {
            location: self.location(),
            flags,
        };
        // SAFETY: whole mappings of this client; one descriptor.
        check(unsafe { set(ptr, to_usize(size)?, &desc, 1) })?;
        let state = self.vmm_state()?;
        for base in bases {
            state.record_access(base, flags);
        }
        Ok(())
    }
    fn mem_get_access(&mut self, ctx: u64, ptr: u64) -> CuResult<u32> {
        self.enter(ctx)?;
        self.vmm_state()?.mapping_at(ptr).ok_or(INVALID_VALUE)?;
        let get = self.driver.api().mem_get_access.ok_or(NOT_SUPPORTED)?;
        let location = self.location();
        let mut flags = 0u64;
        // SAFETY: valid out-pointer and location; a mapped address of this client.
        check(unsafe { get(&mut flags, &location, ptr) })?;
        u32::try_from(flags).map_err(|_| UNKNOWN)
    }
    fn mem_retain_allocation_handle(&mut self, ctx: u64, ptr: u64) -> CuResult<u64> {
        self.enter(ctx)?;
        let (_, m) = self.vmm_state()?.mapping_at(ptr).ok_or(INVALID_VALUE)?;
        let refs = self
            .vmm_state()?
            .handles
            .get(m.handle)
            .map(|h| h.refs)
            .ok_or(INVALID_VALUE)?;
        let raw = if refs == 0 {
            // Every guest reference was released while mapped: take a host
            // reference again.
            let retain = self
                .driver
                .api()
                .mem_retain_allocation_handle
                .ok_or(NOT_SUPPORTED)?;
            let mut raw: CUmemHandle = 0;
            // SAFETY: valid out-pointer; a mapped address of this client.
            check(unsafe { retain(&mut raw, ptr as *mut c_void) })?;
            Some(raw)
        } else {
            None
        };
        let h = self
            .vmm_state()?
            .handles
            .get_mut(m.handle)
            .ok_or(INVALID_VALUE)?;
        h.refs = h.refs.checked_add(1).ok_or(INVALID_VALUE)?;
        if let Some(raw) = raw {
            h.raw = raw;
        }
        Ok(m.handle)
    }
}
