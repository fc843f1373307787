//! Virtual memory management: `cuMemAddressReserve`/`Free`, `cuMemCreate`,
//! `cuMemRelease`, `cuMemMap`/`Unmap`, `cuMemSetAccess`/`GetAccess`,
//! `cuMemRetainAllocationHandle` go to the device (one round trip each);
//! `cuMemGetAllocationGranularity` and `cuMemGetAllocationPropertiesFromHandle`
//! are answered here (the granularity is the device's contract,
//! `uapi::cuda::VMM_GRANULARITY`; the properties are the ones we sent).
//! Allocation handles are the device's values. A mapping joins the pointer
//! registry as a device range of its own (pointer attributes and
//! `cuMemGetAddressRange` answer the mapping) until it is unmapped.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};

use uapi::cuda::{
    cmds, result, vmm_prop, AllocationProp, MemAddressReserveRequest, MemCreateRequest,
    MemGetAccessRequest, MemHandleRequest, MemMapRequest, MemSetAccessRequest, PtrRequest,
    VmmRangeRequest, VMM_GRANULARITY,
};
use uapi::wire::Wire;

use super::{registry::DeviceKind, with_current};
use crate::driver::abi::{CuMemLocation, Out};
use crate::driver::{device::check_device, with_state, CuResult};

/// `CU_MEM_ALLOC_GRANULARITY_MINIMUM` / `_RECOMMENDED`.
const GRANULARITY_RECOMMENDED: c_int = 1;

/// The properties of the allocation handles this process holds, with the
/// references it holds (create and retain add one, release takes one).
#[derive(Debug, Default)]
pub(crate) struct VmmHandles {
    props: BTreeMap<u64, (AllocationProp, u32)>,
}

impl VmmHandles {
    pub const fn new() -> Self {
        Self {
            props: BTreeMap::new(),
        }
    }
}

/// `CUmemAccessDesc`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct AccessDesc {
    location: CuMemLocation,
    flags: u32,
}

/// Reads a `CUmemAllocationProp`.
///
/// # Safety
/// `prop` is NULL or valid for a read of one.
unsafe fn read_prop(prop: *const c_void) -> CuResult<AllocationProp> {
    if prop.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's contract; C callers need not align it.
    Ok(unsafe { prop.cast::<AllocationProp>().read_unaligned() })
}

pub(crate) unsafe fn mem_get_allocation_granularity(
    granularity: Out<'_, usize>,
    prop: *const c_void,
    option: c_int,
) -> CuResult {
    with_state(|_| {
        let granularity = granularity.get()?;
        // SAFETY: the caller's pointer to a CUmemAllocationProp.
        let p = unsafe { read_prop(prop)? };
        if !(0..=GRANULARITY_RECOMMENDED).contains(&option)
            || p.kind != vmm_prop::ALLOCATION_PINNED
            || p.location_type != vmm_prop::LOCATION_DEVICE
        {
            return Err(result::INVALID_VALUE);
        }
        check_device(p.location_id)?;
        granularity.write(VMM_GRANULARITY as usize);
        Ok(())
    })
}

pub(crate) fn mem_address_reserve(
    ptr: Out<'_, u64>,
    size: usize,
    alignment: usize,
    addr: u64,
    flags: u64,
) -> CuResult {
    with_current(|s, _, wire| {
        let ptr = ptr.get()?;
        let req = MemAddressReserveRequest {
            ctx: wire,
            size: size as u64,
            alignment: alignment as u64,
            addr,
            flags,
        };
        let (r, _) = s
            .client()?
            .call_cmd::<cmds::MemAddressReserve>(&req, &[], 0)?;
        ptr.write(r.handle);
        Ok(())
    })
}

pub(crate) fn mem_address_free(ptr: u64, size: usize) -> CuResult {
    with_current(|s, _, wire| {
        let req = VmmRangeRequest {
            ctx: wire,
            ptr,
            size: size as u64,
        };
        s.client()?.call_cmd::<cmds::MemAddressFree>(&req, &[], 0)?;
        Ok(())
    })
}

pub(crate) unsafe fn mem_create(
    handle: Out<'_, u64>,
    size: usize,
    prop: *const c_void,
    flags: u64,
) -> CuResult {
    with_current(|s, _, wire| {
        let handle = handle.get()?;
        // SAFETY: the caller's pointer to a CUmemAllocationProp.
        let prop = unsafe { read_prop(prop)? };
        let req = MemCreateRequest {
            ctx: wire,
            size: size as u64,
            flags,
            prop,
        };
        let (r, _) = s.client()?.call_cmd::<cmds::MemCreate>(&req, &[], 0)?;
        // The device does not compress (a hint CUDA may ignore too).
        let mut kept = prop;
        kept.alloc_flags[0] = 0;
        s.vmm.props.insert(r.handle, (kept, 1));
        handle.write(r.handle);
        Ok(())
    })
}

pub(crate) fn mem_release(handle: u64) -> CuResult {
    with_current(|s, _, wire| {
        let req = MemHandleRequest { ctx: wire, handle };
        s.client()?.call_cmd::<cmds::MemRelease>(&req, &[], 0)?;
        if let Some((_, refs)) = s.vmm.props.get_mut(&handle) {
            *refs -= 1;
            if *refs == 0 {
                s.vmm.props.remove(&handle);
            }
        }
        Ok(())
    })
}

pub(crate) fn mem_map(ptr: u64, size: usize, offset: usize, handle: u64, flags: u64) -> CuResult {
    with_current(|s, guest, wire| {
        let req = MemMapRequest {
            ctx: wire,
            ptr,
            size: size as u64,
            offset: offset as u64,
            handle,
            flags,
        };
        s.client()?.call_cmd::<cmds::MemMap>(&req, &[], 0)?;
        s.ptrs
            .add_device(ptr, size as u64, guest, DeviceKind::Vmm { handle });
        Ok(())
    })
}

pub(crate) fn mem_unmap(ptr: u64, size: usize) -> CuResult {
    with_current(|s, _, wire| {
        let req = VmmRangeRequest {
            ctx: wire,
            ptr,
            size: size as u64,
        };
        s.client()?.call_cmd::<cmds::MemUnmap>(&req, &[], 0)?;
        let end = ptr.saturating_add(size as u64);
        s.ptrs.forget_device_in(ptr, end);
        Ok(())
    })
}

pub(crate) unsafe fn mem_set_access(
    ptr: u64,
    size: usize,
    desc: *const c_void,
    count: usize,
) -> CuResult {
    with_current(|s, _, wire| {
        if desc.is_null() || count == 0 {
            return Err(result::INVALID_VALUE);
        }
        for i in 0..count {
            // SAFETY: the caller's array of `count` CUmemAccessDesc.
            let d = unsafe { desc.cast::<AccessDesc>().add(i).read_unaligned() };
            let req = MemSetAccessRequest {
                ctx: wire,
                ptr,
                size: size as u64,
                location_type: d.location.kind as u32,
                location_id: d.location.id,
                flags: d.flags,
                reserved: 0,
            };
            s.client()?.call_cmd::<cmds::MemSetAccess>(&req, &[], 0)?;
        }
        Ok(())
    })
}

pub(crate) unsafe fn mem_get_access(
    flags: Out<'_, u64>,
    location: *const c_void,
    ptr: u64,
) -> CuResult {
    with_current(|s, _, wire| {
        let flags = flags.get()?;
        if location.is_null() {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the caller's pointer to a CUmemLocation.
        let l = unsafe { location.cast::<CuMemLocation>().read_unaligned() };
        let req = MemGetAccessRequest {
            ctx: wire,
            ptr,
            location_type: l.kind as u32,
            location_id: l.id,
        };
        let (r, _) = s.client()?.call_cmd::<cmds::MemGetAccess>(&req, &[], 0)?;
        flags.write(r.value);
        Ok(())
    })
}

pub(crate) fn mem_retain_allocation_handle(handle: Out<'_, u64>, addr: *mut c_void) -> CuResult {
    with_current(|s, _, wire| {
        let handle = handle.get()?;
        let req = PtrRequest {
            ctx: wire,
            dptr: addr as u64,
        };
        let (r, _) = s
            .client()?
            .call_cmd::<cmds::MemRetainAllocationHandle>(&req, &[], 0)?;
        if let Some((_, refs)) = s.vmm.props.get_mut(&r.handle) {
            *refs += 1;
        }
        handle.write(r.handle);
        Ok(())
    })
}

pub(crate) unsafe fn mem_get_allocation_properties_from_handle(
    prop: *mut c_void,
    handle: u64,
) -> CuResult {
    with_state(|s| {
        if prop.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let (p, _) = s.vmm.props.get(&handle).ok_or(result::INVALID_VALUE)?;
        // SAFETY: the caller's pointer, valid for a CUmemAllocationProp.
        unsafe {
            prop.cast::<u8>()
                .copy_from_nonoverlapping(p.as_bytes().as_ptr(), 32)
        };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use uapi::{cuda::op, wire::Wire};

    use super::super::device_at;
    use super::super::test_util::{handle_response, with_primary};
    use super::*;
    use crate::driver::testing::session;

    fn pinned() -> AllocationProp {
        AllocationProp {
            kind: vmm_prop::ALLOCATION_PINNED,
            location_type: vmm_prop::LOCATION_DEVICE,
            ..Default::default()
        }
    }

    #[test]
    fn granularity_is_answered_here_and_checks_the_properties() {
        let sess = session(1 << 20);
        let mut g = 0usize;
        let p = pinned();
        let pp = (&p as *const AllocationProp).cast();
        // SAFETY: `pp` points to a local `CUmemAllocationProp`.
        unsafe {
            mem_get_allocation_granularity((&mut g).into(), pp, 0).unwrap();
            assert_eq!(g, 2 << 20);
            mem_get_allocation_granularity((&mut g).into(), pp, 1).unwrap();
            assert_eq!(g, 2 << 20);
            assert_eq!(
                mem_get_allocation_granularity((&mut g).into(), pp, 2),
                Err(result::INVALID_VALUE)
            );
            let other = AllocationProp {
                location_id: 1,
                ..pinned()
            };
            let op_ = (&other as *const AllocationProp).cast();
            assert_eq!(
                mem_get_allocation_granularity((&mut g).into(), op_, 0),
                Err(result::INVALID_DEVICE)
            );
            assert_eq!(
                mem_get_allocation_granularity((&mut g).into(), std::ptr::null(), 0),
                Err(result::INVALID_VALUE)
            );
        }
        assert!(sess.script.lock().unwrap().sent.is_empty(), "no round trip");
    }

    #[test]
    fn a_mapped_chunk_is_device_memory_until_unmapped() {
        let sess = session(1 << 20);
        let ctx = with_primary();
        let (base, handle) = (0x7f40_0000_0000u64, 0x4d_0000_0000_0003u64);
        let ok = || vec![0u8; 8];
        sess.respond(handle_response(base));
        sess.respond(handle_response(handle));
        sess.respond(ok());
        sess.respond(ok());
        let mut access = vec![0u8; 8];
        access.extend_from_slice(&3u64.to_le_bytes());
        sess.respond(access);
        sess.respond(handle_response(handle));
        sess.respond(ok());
        sess.respond(ok());
        sess.respond(ok());
        let g = 2usize << 20;
        let mut p = 0u64;
        let mut h = 0u64;
        let mut flags = 0u64;
        let mut again = 0u64;
        let mut props = AllocationProp::default();
        let mut prop = pinned();
        prop.alloc_flags[0] = 1; // compression asked: not given
        let desc = AccessDesc {
            location: CuMemLocation { kind: 1, id: 0 },
            flags: 3,
        };
        // SAFETY: every pointer passed points to a local of its C type.
        unsafe {
            mem_address_reserve((&mut p).into(), 4 * g, 0, 0, 0).unwrap();
            assert_eq!(p, base);
            mem_create(
                (&mut h).into(),
                g,
                (&prop as *const AllocationProp).cast(),
                0,
            )
            .unwrap();
            assert_eq!(h, handle);
            mem_map(base + g as u64, g, 0, h, 0).unwrap();
            mem_set_access(base + g as u64, g, (&desc as *const AccessDesc).cast(), 1).unwrap();
            let loc = CuMemLocation { kind: 1, id: 0 };
            mem_get_access(
                (&mut flags).into(),
                (&loc as *const CuMemLocation).cast(),
                base + g as u64,
            )
            .unwrap();
            assert_eq!(flags, 3);
            {
                let s = crate::driver::lock();
                let (b, r) = device_at(&s, base + g as u64 + 100).expect("mapped");
                assert_eq!(
                    (b, r.size, r.kind, r.ctx),
                    (base + g as u64, g as u64, DeviceKind::Vmm { handle }, ctx)
                );
                assert!(device_at(&s, base).is_none(), "reserved is not mapped");
            }
            mem_retain_allocation_handle((&mut again).into(), (base + g as u64 + 8) as *mut c_void)
                .unwrap();
            assert_eq!(again, handle);
            mem_get_allocation_properties_from_handle(
                (&mut props as *mut AllocationProp).cast(),
                h,
            )
            .unwrap();
            assert_eq!(props, pinned(), "as given, compression off");
            mem_unmap(base + g as u64, g).unwrap();
            assert!(device_at(&crate::driver::lock(), base + g as u64).is_none());
            mem_release(h).unwrap();
            mem_get_allocation_properties_from_handle(
                (&mut props as *mut AllocationProp).cast(),
                h,
            )
            .unwrap();
            mem_release(h).unwrap();
            assert_eq!(
                mem_get_allocation_properties_from_handle(
                    (&mut props as *mut AllocationProp).cast(),
                    h
                ),
                Err(result::INVALID_VALUE),
                "every reference released"
            );
            assert_eq!(
                mem_set_access(base, g, std::ptr::null(), 1),
                Err(result::INVALID_VALUE)
            );
        }
        let sc = sess.script.lock().unwrap();
        let ops: Vec<u16> = sc.sent.iter().map(|c| c.0).collect();
        assert_eq!(
            ops,
            [
                op::MEM_ADDRESS_RESERVE,
                op::MEM_CREATE,
                op::MEM_MAP,
                op::MEM_SET_ACCESS,
                op::MEM_GET_ACCESS,
                op::MEM_RETAIN_ALLOCATION_HANDLE,
                op::MEM_UNMAP,
                op::MEM_RELEASE,
                op::MEM_RELEASE,
            ]
        );
        let create = MemCreateRequest::read_from(&sc.sent[1].2).unwrap();
        assert_eq!((create.size, create.prop), (g as u64, prop));
        let map = MemMapRequest::read_from(&sc.sent[2].2).unwrap();
        assert_eq!(
            (map.ptr, map.size, map.handle),
            (base + g as u64, g as u64, handle)
        );
        let set = MemSetAccessRequest::read_from(&sc.sent[3].2).unwrap();
        assert_eq!((set.location_type, set.location_id, set.flags), (1, 0, 3));
    }
}
