//! Fakes of the virtual memory management entry points: reservations and
//! handles are recorded; a mapping is ordinary fake device memory at the
//! mapped address (owned by no context, as in CUDA), with access flags.

use super::{with, INVALID_VALUE};
use crate::executor::cuda::driver::{
    CUdeviceptr, CUmemHandle, CUresult, CuMemAccessDesc, CuMemLocation,
};
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use uapi::cuda::AllocationProp;

/// The fake driver's VMM state.
#[derive(Default)]
pub struct FakeVmm {
    /// Reservations: base → size.
    pub reservations: HashMap<u64, usize>,
    /// Live host handles: handle → (size, references).
    pub handles: HashMap<CUmemHandle, (usize, u32)>,
    /// Mappings: base → (size, handle, access flags).
    pub mappings: HashMap<u64, (usize, CUmemHandle, u64)>,
    /// Properties of every cuMemCreate, in order.
    pub created_with: Vec<AllocationProp>,
    /// Locations given to cuMemSetAccess.
    pub access_locations: Vec<CuMemLocation>,
    /// cuMemRetainAllocationHandle calls.
    pub retains: usize,
    /// Minimum granularity answered (0: 2 MiB).
    pub granularity: usize,
    next: u64,
}

pub unsafe extern "C" fn reserve(
    p: *mut CUdeviceptr,
    size: usize,
    _align: usize,
    _hint: CUdeviceptr,
    flags: u64,
) -> CUresult {
    if flags != 0 || size == 0 {
        return INVALID_VALUE;
    }
    with(|s| {
        s.vmm.next += 1;
        let base = 0x7e00_0000_0000 + (s.vmm.next << 40);
        s.vmm.reservations.insert(base, size);
        // SAFETY: the executor passes valid pointers, as the driver API requires.
        unsafe {
            *p = base;
        }
    });
    0
}

pub unsafe extern "C" fn free(p: CUdeviceptr, size: usize) -> CUresult {
    with(|s| {
        let inside = |b: u64| b >= p && b < p + size as u64;
        if s.vmm.reservations.get(&p) != Some(&size) || s.vmm.mappings.keys().any(|&b| inside(b)) {
            return INVALID_VALUE;
        }
        s.vmm.reservations.remove(&p);
        0
    })
}

pub unsafe extern "C" fn create(
    h: *mut CUmemHandle,
    size: usize,
    prop: *const AllocationProp,
    flags: u64,
) -> CUresult {
    // SAFETY: the executor passes valid pointers, as the driver API requires.
    let prop = unsafe { *prop };
    if flags != 0 || prop.kind != 1 || prop.location_type != 1 || prop.location_id != 0 {
        return INVALID_VALUE;
    }
    with(|s| {
        s.vmm.next += 1;
        let handle = 0xdead_0000 + s.vmm.next;
        s.vmm.handles.insert(handle, (size, 1));
        s.vmm.created_with.push(prop);
        // SAFETY: the executor passes valid pointers, as the driver API requires.
        unsafe {
            *h = handle;
        }
    });
    0
}

pub unsafe extern "C" fn release(h: CUmemHandle) -> CUresult {
    with(|s| match s.vmm.handles.get_mut(&h) {
        Some((_, refs)) if *refs > 0 => {
            *refs -= 1;
            if *refs == 0 && !s.vmm.mappings.values().any(|m| m.1 == h) {
                s.vmm.handles.remove(&h);
            }
            0
        }
        _ => INVALID_VALUE,
    })
}

pub unsafe extern "C" fn map(
    p: CUdeviceptr,
    size: usize,
    offset: usize,
    h: CUmemHandle,
    flags: u64,
) -> CUresult {
    with(|s| {
        let inside = s
            .vmm
            .reservations
            .iter()
            .any(|(&b, &n)| p >= b && p + size as u64 <= b + n as u64);
        let known = s.vmm.handles.get(&h).is_some_and(|&(n, _)| size <= n);
        if !inside || !known || offset != 0 || flags != 0 || s.vmm.mappings.contains_key(&p) {
            return INVALID_VALUE;
        }
        s.vmm.mappings.insert(p, (size, h, 0));
        // Context 0: owned by no context, so no context's destruction frees it.
        s.memory.insert(p, (0, vec![0; size]));
        0
    })
}

pub unsafe extern "C" fn unmap(p: CUdeviceptr, size: usize) -> CUresult {
    with(|s| match s.vmm.mappings.get(&p) {
        Some(&(n, h, _)) if n == size => {
            s.vmm.mappings.remove(&p);
            s.memory.remove(&p);
            if s.vmm.handles.get(&h).is_some_and(|&(_, refs)| refs == 0) {
                s.vmm.handles.remove(&h);
            }
            0
        }
        _ => INVALID_VALUE,
    })
}

pub unsafe extern "C" fn set_access(
    p: CUdeviceptr,
    size: usize,
    desc: *const CuMemAccessDesc,
    count: usize,
) -> CUresult {
    if count != 1 {
        return INVALID_VALUE;
    }
    // SAFETY: the executor passes valid pointers, as the driver API requires.
    let desc = unsafe { *desc };
    with(|s| {
        s.vmm.access_locations.push(desc.location);
        let end = p + size as u64;
        let mut hit = false;
        for (&b, m) in s.vmm.mappings.iter_mut() {
            if b >= p && b < end {
                m.2 = u64::from(desc.flags);
                hit = true;
            }
        }
        if hit {
            0
        } else {
            INVALID_VALUE
        }
    })
}

pub unsafe extern "C" fn get_access(
    flags: *mut u64,
    _loc: *const CuMemLocation,
    p: CUdeviceptr,
) -> CUresult {
    with(|s| {
        for (&b, &(n, _, access)) in &s.vmm.mappings {
            if p >= b && p < b + n as u64 {
                // SAFETY: the executor passes valid pointers, as the driver API requires.
                unsafe {
                    *flags = access;
                }
                return 0;
            }
        }
        INVALID_VALUE
    })
}

pub unsafe extern "C" fn retain(h: *mut CUmemHandle, p: *mut c_void) -> CUresult {
    let p = p as u64;
    with(|s| {
        let Some(handle) = s
            .vmm
            .mappings
            .iter()
            .find(|(&b, m)| p >= b && p < b + m.0 as u64)
            .map(|(_, m)| m.1)
        else {
            return INVALID_VALUE;
        };
        s.vmm.retains += 1;
        if let Some((_, refs)) = s.vmm.handles.get_mut(&handle) {
            *refs += 1;
        }
        // SAFETY: the executor passes valid pointers, as the driver API requires.
        unsafe {
            *h = handle;
        }
        0
    })
}

pub unsafe extern "C" fn granularity(
    g: *mut usize,
    _: *const AllocationProp,
    _: c_int,
) -> CUresult {
    let value = with(|s| {
        if s.vmm.granularity == 0 {
            2 << 20
        } else {
            s.vmm.granularity
        }
    });
    // SAFETY: the executor passes a valid out-pointer.
    unsafe { *g = value };
    0
}
