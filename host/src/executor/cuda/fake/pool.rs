//! Fakes of the stream-ordered allocator's entry points: pools hold
//! attributes; pool memory is ordinary fake device memory, marked pooled.

use super::{mem_alloc, with, INVALID_VALUE};
use crate::executor::cuda::driver::{
    CUdeviceptr, CUmemoryPool, CUresult, CUstream, CuMemPoolProps,
};
use std::ffi::{c_int, c_void};

pub unsafe extern "C" fn create(p: *mut CUmemoryPool, props: *const CuMemPoolProps) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        let props = &*props;
        if props.alloc_type != 1 || props.location_type != 1 || props.handle_types != 0 {
            return INVALID_VALUE;
        }
        with(|s| {
            s.next += 0x10;
            let h = 0x9000 + s.next;
            s.pools.insert(h);
            *p = h as CUmemoryPool;
        });
        0
    }
}

pub unsafe extern "C" fn destroy(p: CUmemoryPool) -> CUresult {
    with(|s| {
        if !s.pools.remove(&(p as usize)) {
            return INVALID_VALUE;
        }
        if s.memory.keys().any(|b| s.pooled.contains(b)) {
            s.pool_destroyed_while_used = true;
        }
        0
    })
}

pub unsafe extern "C" fn alloc(
    d: *mut CUdeviceptr,
    n: usize,
    p: CUmemoryPool,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        if !with(|s| s.pools.contains(&(p as usize))) {
            return INVALID_VALUE;
        }
        let r = mem_alloc(d, n);
        if r == 0 {
            with(|s| s.pooled.insert(*d));
        }
        r
    }
}

pub unsafe extern "C" fn free(d: CUdeviceptr, _: CUstream) -> CUresult {
    with(|s| match s.memory.remove(&d) {
        Some(_) => {
            s.freed_async.push(d);
            0
        }
        None => INVALID_VALUE,
    })
}

/// Attributes 1..=3 are `int`s (default 1), the others `u64`s (default 0);
/// 5 and 7 are read-only, 6 and 8 may only be reset to 0.
pub unsafe extern "C" fn get_attribute(p: CUmemoryPool, a: c_int, v: *mut c_void) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            if !s.pools.contains(&(p as usize)) || !(1..=8).contains(&a) {
                return INVALID_VALUE;
            }
            let default = u64::from(a <= 3);
            let value = s.pool_attrs.get(&a).copied().unwrap_or(default);
            if a <= 3 {
                *v.cast::<c_int>() = value as c_int;
            } else {
                *v.cast::<u64>() = value;
            }
            0
        })
    }
}

pub unsafe extern "C" fn set_attribute(p: CUmemoryPool, a: c_int, v: *mut c_void) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            if !s.pools.contains(&(p as usize)) || !(1..=8).contains(&a) || a == 5 || a == 7 {
                return INVALID_VALUE;
            }
            let value = if a <= 3 {
                *v.cast::<c_int>() as u64
            } else {
                *v.cast::<u64>()
            };
            if (a == 6 || a == 8) && value != 0 {
                return INVALID_VALUE;
            }
            s.pool_attrs.insert(a, value);
            0
        })
    }
}

pub unsafe extern "C" fn trim_to(p: CUmemoryPool, keep: usize) -> CUresult {
    with(|s| {
        if !s.pools.contains(&(p as usize)) {
            return INVALID_VALUE;
        }
        s.trimmed_to = Some(keep);
        0
    })
}
