//! What virtual memory management requests must satisfy whatever the
//! executor: NVIDIA's documented rules and error codes, with what vgpu
//! cannot carry refused as `NOT_SUPPORTED` (exportable handles: a guest's
//! handle cannot become a host file descriptor or fabric handle; asking for
//! a file descriptor is accepted, the export itself is refused).

use crate::cuda::backend::CuResult;
use uapi::cuda::result::{INVALID_DEVICE, INVALID_VALUE, NOT_SUPPORTED};
use uapi::cuda::{
    vmm_prop, MemAddressReserveRequest, MemCreateRequest, MemMapRequest, VMM_GRANULARITY,
};

fn ok_if(ok: bool, code: u32) -> CuResult<()> {
    if ok {
        Ok(())
    } else {
        Err(code)
    }
}

/// A non-zero multiple of the granularity.
fn granular(size: u64) -> CuResult<()> {
    ok_if(
        size != 0 && size.is_multiple_of(VMM_GRANULARITY),
        INVALID_VALUE,
    )
}

/// `cuMemAddressReserve`: sizes and the hint in granules, a power-of-two
/// alignment (or 0), no flags.
pub(super) fn check_reserve(r: &MemAddressReserveRequest) -> CuResult<()> {
    granular(r.size)?;
    ok_if(
        r.addr.is_multiple_of(VMM_GRANULARITY)
            && (r.alignment == 0 || r.alignment.is_power_of_two())
            && r.flags == 0,
        INVALID_VALUE,
    )
}

/// A whole-granule range (`cuMemAddressFree`, `cuMemUnmap`, `cuMemSetAccess`).
pub(super) fn check_range(ptr: u64, size: u64) -> CuResult<()> {
    granular(size)?;
    ok_if(
        ptr != 0 && ptr.is_multiple_of(VMM_GRANULARITY) && ptr.checked_add(size).is_some(),
        INVALID_VALUE,
    )
}

/// A device location: type DEVICE, ordinal 0 (our one device).
pub(super) fn check_location(kind: u32, id: i32) -> CuResult<()> {
    ok_if(kind == vmm_prop::LOCATION_DEVICE, INVALID_VALUE)?;
    ok_if(id == 0, INVALID_DEVICE)
}

/// `cuMemCreate`: a pinned allocation on device 0 that cannot be exported
/// (a file descriptor may be requested, never obtained), without RDMA or
/// usage flags (compression is a hint CUDA may ignore, and
/// so does vgpu: the handle's properties say 0).
pub(super) fn check_create(r: &MemCreateRequest) -> CuResult<()> {
    granular(r.size)?;
    let p = &r.prop;
    ok_if(
        r.flags == 0 && p.kind == vmm_prop::ALLOCATION_PINNED,
        INVALID_VALUE,
    )?;
    check_location(p.location_type, p.location_id)?;
    let known = vmm_prop::HANDLE_POSIX_FD
        | vmm_prop::HANDLE_WIN32
        | vmm_prop::HANDLE_WIN32_KMT
        | vmm_prop::HANDLE_FABRIC;
    ok_if(p.requested_handle_types & !known == 0, INVALID_VALUE)?;
    ok_if(
        p.win32_metadata == 0 && p.alloc_flags[4..] == [0; 4],
        INVALID_VALUE,
    )?;
    // A POSIX file descriptor may be asked for (PyTorch's expandable
    // segments always do, after trying fabric handles) but is never made:
    // the allocation is not exportable on the host, and
    // cuMemExportToShareableHandle answers NOT_SUPPORTED.
    ok_if(
        p.requested_handle_types & !vmm_prop::HANDLE_POSIX_FD == 0,
        NOT_SUPPORTED,
    )?;
    // gpuDirectRDMACapable, usage (tile pools, hardware decompression).
    ok_if(p.alloc_flags[1..4] == [0; 3], NOT_SUPPORTED)
}

/// `cuMemMap`: granule-aligned address and size, offset 0 (CUDA: "currently
/// must be zero"), no flags.
pub(super) fn check_map(r: &MemMapRequest) -> CuResult<()> {
    check_range(r.ptr, r.size)?;
    ok_if(
        r.offset == 0 && r.flags == 0 && r.handle != 0,
        INVALID_VALUE,
    )
}

/// `CUmemAccess_flags`: none, read, read-write.
pub(super) fn check_access(flags: u32) -> CuResult<()> {
    ok_if(
        matches!(
            flags,
            vmm_prop::ACCESS_NONE | vmm_prop::ACCESS_READ | vmm_prop::ACCESS_READWRITE
        ),
        INVALID_VALUE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use uapi::cuda::AllocationProp;

    fn create(prop: AllocationProp) -> MemCreateRequest {
        MemCreateRequest {
            size: VMM_GRANULARITY,
            prop,
            ..Default::default()
        }
    }

    fn pinned() -> AllocationProp {
        AllocationProp {
            kind: vmm_prop::ALLOCATION_PINNED,
            location_type: vmm_prop::LOCATION_DEVICE,
            ..Default::default()
        }
    }

    #[test]
    fn properties_follow_nvidia_and_exports_are_refused() {
        assert_eq!(check_create(&create(pinned())), Ok(()));
        let mut p = pinned();
        p.requested_handle_types = vmm_prop::HANDLE_POSIX_FD;
        assert_eq!(check_create(&create(p)), Ok(()), "asked, never made");
        p.requested_handle_types = vmm_prop::HANDLE_POSIX_FD | vmm_prop::HANDLE_FABRIC;
        assert_eq!(check_create(&create(p)), Err(NOT_SUPPORTED));
        p.requested_handle_types = vmm_prop::HANDLE_FABRIC;
        assert_eq!(check_create(&create(p)), Err(NOT_SUPPORTED));
        p.requested_handle_types = 0x10;
        assert_eq!(check_create(&create(p)), Err(INVALID_VALUE));
        let mut p = pinned();
        p.location_id = 1;
        assert_eq!(check_create(&create(p)), Err(INVALID_DEVICE));
        let mut p = pinned();
        p.kind = 0;
        assert_eq!(check_create(&create(p)), Err(INVALID_VALUE));
        let mut p = pinned();
        p.alloc_flags[0] = 1;
        assert_eq!(check_create(&create(p)), Ok(()), "compression is a hint");
        p.alloc_flags[1] = 1;
        assert_eq!(check_create(&create(p)), Err(NOT_SUPPORTED));
        let mut r = create(pinned());
        r.size = VMM_GRANULARITY + 4096;
        assert_eq!(check_create(&r), Err(INVALID_VALUE));
        r.size = VMM_GRANULARITY;
        r.flags = 1;
        assert_eq!(check_create(&r), Err(INVALID_VALUE));
    }

    #[test]
    fn ranges_are_whole_granules() {
        let g = VMM_GRANULARITY;
        let reserve = |size, alignment, addr, flags| {
            check_reserve(&MemAddressReserveRequest {
                ctx: 0,
                size,
                alignment,
                addr,
                flags,
            })
        };
        assert_eq!(reserve(4 * g, 0, 0, 0), Ok(()));
        assert_eq!(reserve(4 * g, 4 * g, 0, 0), Ok(()));
        assert_eq!(reserve(0, 0, 0, 0), Err(INVALID_VALUE));
        assert_eq!(reserve(g / 2, 0, 0, 0), Err(INVALID_VALUE));
        assert_eq!(reserve(g, 3 * g, 0, 0), Err(INVALID_VALUE));
        assert_eq!(reserve(g, 0, 0, 1), Err(INVALID_VALUE));
        assert_eq!(check_range(g, g), Ok(()));
        assert_eq!(check_range(g + 1, g), Err(INVALID_VALUE));
        assert_eq!(check_range(0, g), Err(INVALID_VALUE));
        assert_eq!(check_access(3), Ok(()));
        assert_eq!(check_access(2), Err(INVALID_VALUE));
        assert_eq!(check_location(1, 0), Ok(()));
        assert_eq!(check_location(2, 0), Err(INVALID_VALUE));
    }
}
