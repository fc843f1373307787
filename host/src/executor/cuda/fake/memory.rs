//! The fake driver's memory entry points: allocations, copies, memsets.

use super::*;

pub(super) unsafe extern "C" fn mem_alloc(d: *mut CUdeviceptr, n: usize) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            if let Err(e) = need_ctx(s) {
                return e;
            }
            s.next_dptr += 0x1_0000_0000;
            let base = 0x7f00_0000_0000 + s.next_dptr;
            s.memory.insert(base, (s.current, vec![0; n]));
            *d = base;
            0
        })
    }
}
pub(super) unsafe extern "C" fn mem_free(d: CUdeviceptr) -> CUresult {
    with(|s| match s.memory.remove(&d) {
        Some(_) => 0,
        None => INVALID_VALUE,
    })
}
pub(super) unsafe extern "C" fn mem_get_info(f: *mut usize, t: *mut usize) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *f = 1 << 29;
        *t = 1 << 30;
        0
    }
}
pub(super) unsafe extern "C" fn mem_get_address_range(
    b: *mut CUdeviceptr,
    n: *mut usize,
    d: CUdeviceptr,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            for (&base, (_, bytes)) in &s.memory {
                if d >= base && d < base + bytes.len() as u64 {
                    *b = base;
                    *n = bytes.len();
                    return 0;
                }
            }
            500
        })
    }
}
pub(super) unsafe extern "C" fn memcpy_htod(
    d: CUdeviceptr,
    src: *const c_void,
    n: usize,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        let data = std::slice::from_raw_parts(src.cast::<u8>(), n);
        rc(dev(d, n, |m| m.copy_from_slice(data)))
    }
}
pub(super) unsafe extern "C" fn memcpy_htod_async(
    d: CUdeviceptr,
    src: *const c_void,
    n: usize,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memcpy_htod(d, src, n) }
}
pub(super) unsafe extern "C" fn memcpy_dtoh(
    dst: *mut c_void,
    d: CUdeviceptr,
    n: usize,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        let out = std::slice::from_raw_parts_mut(dst.cast::<u8>(), n);
        rc(dev(d, n, |m| out.copy_from_slice(m)))
    }
}
pub(super) unsafe extern "C" fn memcpy_dtoh_async(
    dst: *mut c_void,
    d: CUdeviceptr,
    n: usize,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memcpy_dtoh(dst, d, n) }
}
pub(super) unsafe extern "C" fn memcpy_dtod(d: CUdeviceptr, s: CUdeviceptr, n: usize) -> CUresult {
    let mut tmp = vec![0u8; n];
    if let Err(e) = dev(s, n, |m| tmp.copy_from_slice(m)) {
        return e;
    }
    rc(dev(d, n, |m| m.copy_from_slice(&tmp)))
}
pub(super) unsafe extern "C" fn memcpy_dtod_async(
    d: CUdeviceptr,
    s: CUdeviceptr,
    n: usize,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memcpy_dtod(d, s, n) }
}
pub(super) unsafe extern "C" fn memset_d8(d: CUdeviceptr, v: u8, n: usize) -> CUresult {
    rc(dev(d, n, |m| m.fill(v)))
}
pub(super) unsafe extern "C" fn memset_d16(d: CUdeviceptr, v: u16, n: usize) -> CUresult {
    rc(dev(d, n * 2, |m| {
        m.chunks_mut(2)
            .for_each(|c| c.copy_from_slice(&v.to_le_bytes()))
    }))
}
pub(super) unsafe extern "C" fn memset_d32(d: CUdeviceptr, v: u32, n: usize) -> CUresult {
    rc(dev(d, n * 4, |m| {
        m.chunks_mut(4)
            .for_each(|c| c.copy_from_slice(&v.to_le_bytes()))
    }))
}
pub(super) unsafe extern "C" fn memset_d8_async(
    d: CUdeviceptr,
    v: u8,
    n: usize,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memset_d8(d, v, n) }
}
pub(super) unsafe extern "C" fn memset_d16_async(
    d: CUdeviceptr,
    v: u16,
    n: usize,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memset_d16(d, v, n) }
}
pub(super) unsafe extern "C" fn memset_d32_async(
    d: CUdeviceptr,
    v: u32,
    n: usize,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memset_d32(d, v, n) }
}
pub(super) unsafe extern "C" fn memset_d2d8(
    d: CUdeviceptr,
    p: usize,
    v: u8,
    w: usize,
    h: usize,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        for row in 0..h {
            let r = memset_d8(d + (row * p) as u64, v, w);
            if r != 0 {
                return r;
            }
        }
        0
    }
}
pub(super) unsafe extern "C" fn memset_d2d16(
    _: CUdeviceptr,
    _: usize,
    _: u16,
    _: usize,
    _: usize,
) -> CUresult {
    0
}
pub(super) unsafe extern "C" fn memset_d2d32(
    _: CUdeviceptr,
    _: usize,
    _: u32,
    _: usize,
    _: usize,
) -> CUresult {
    0
}
pub(super) unsafe extern "C" fn memset_d2d8_async(
    d: CUdeviceptr,
    p: usize,
    v: u8,
    w: usize,
    h: usize,
    _: CUstream,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memset_d2d8(d, p, v, w, h) }
}
pub(super) unsafe extern "C" fn memset_d2d16_async(
    _: CUdeviceptr,
    _: usize,
    _: u16,
    _: usize,
    _: usize,
    _: CUstream,
) -> CUresult {
    0
}
pub(super) unsafe extern "C" fn memset_d2d32_async(
    _: CUdeviceptr,
    _: usize,
    _: u32,
    _: usize,
    _: usize,
    _: CUstream,
) -> CUresult {
    0
}
pub(super) unsafe extern "C" fn memcpy_2d(p: *const CudaMemcpy2D) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        let p = &*p;
        for row in 0..p.Height {
            let r = if p.srcMemoryType == CU_MEMORYTYPE_HOST {
                let src = p.srcHost.cast::<u8>().add(row * p.srcPitch);
                memcpy_htod(
                    p.dstDevice + (row * p.dstPitch) as u64,
                    src.cast(),
                    p.WidthInBytes,
                )
            } else if p.dstMemoryType == CU_MEMORYTYPE_HOST {
                let dst = p.dstHost.cast::<u8>().add(row * p.dstPitch);
                memcpy_dtoh(
                    dst.cast(),
                    p.srcDevice + (row * p.srcPitch) as u64,
                    p.WidthInBytes,
                )
            } else {
                memcpy_dtod(
                    p.dstDevice + (row * p.dstPitch) as u64,
                    p.srcDevice + (row * p.srcPitch) as u64,
                    p.WidthInBytes,
                )
            };
            if r != 0 {
                return r;
            }
        }
        0
    }
}
pub(super) unsafe extern "C" fn memcpy_2d_async(p: *const CudaMemcpy2D, _: CUstream) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { memcpy_2d(p) }
}
