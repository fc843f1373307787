//! 2D copies (`cuMemcpy2D*`). Host rows travel packed; rows are grouped so
//! each command fits the payload limit. `CU_MEMORYTYPE_UNIFIED` operands
//! are device or host memory as the registry says.

use std::ffi::c_void;

use uapi::cuda::{cmds, copy_flags, copy_kind, result, Copy2dRequest};

use super::{copy::dtoh, copy::htod, copy::order_host_copy, is_device, CUstream, DTOH_WINDOW};
use crate::driver::abi::{
    CudaMemcpy2d, MEMORYTYPE_ARRAY, MEMORYTYPE_DEVICE, MEMORYTYPE_HOST, MEMORYTYPE_UNIFIED,
};
use crate::driver::{with_ctx, CuResult, State};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Host(usize),
    Device(u64),
}

fn side(
    s: &State,
    kind: u32,
    host: usize,
    dev: u64,
    (x, y, pitch): (usize, usize, usize),
) -> CuResult<Side> {
    let off = y
        .checked_mul(pitch)
        .and_then(|o| o.checked_add(x))
        .ok_or(result::INVALID_VALUE)?;
    match kind {
        MEMORYTYPE_HOST => {
            if host == 0 {
                return Err(result::INVALID_VALUE);
            }
            Ok(Side::Host(host.wrapping_add(off)))
        }
        MEMORYTYPE_DEVICE => Ok(Side::Device(dev.wrapping_add(off as u64))),
        // A unified address is in the `*Device` field (cuda.h).
        MEMORYTYPE_UNIFIED => {
            let at = dev.wrapping_add(off as u64);
            if is_device(s, at) {
                Ok(Side::Device(at))
            } else if dev == 0 {
                Err(result::INVALID_VALUE)
            } else {
                Ok(Side::Host(at as usize))
            }
        }
        MEMORYTYPE_ARRAY => {
            tracing::warn!("cuMemcpy2D: CUarray operands are not supported");
            Err(result::NOT_SUPPORTED)
        }
        _ => Err(result::INVALID_VALUE),
    }
}

/// One 2D copy. Host rows travel packed; rows are grouped so each command
/// fits the payload limit (a row longer than that goes as 1D pieces).
/// Device to host is synchronous even when `is_async` (but for rows longer
/// than a command, which go as `copy::dtoh`'s); host to host is done at
/// once (see `copy::copy_unified`).
pub(crate) fn copy_2d(
    s: &mut State,
    ctx: u64,
    stream: u64,
    p: &CudaMemcpy2d,
    is_async: bool,
) -> CuResult {
    let (w, h) = (p.width_in_bytes, p.height);
    if w == 0 || h == 0 {
        return Ok(());
    }
    if h > 1 && (p.src_pitch < w || p.dst_pitch < w) {
        return Err(result::INVALID_VALUE);
    }
    let src = side(
        s,
        p.src_memory_type,
        p.src_host as usize,
        p.src_device,
        (p.src_x_in_bytes, p.src_y, p.src_pitch),
    )?;
    let dst = side(
        s,
        p.dst_memory_type,
        p.dst_host as usize,
        p.dst_device,
        (p.dst_x_in_bytes, p.dst_y, p.dst_pitch),
    )?;
    let (sp, dp) = (p.src_pitch, p.dst_pitch);
    let flags = if is_async { copy_flags::ASYNC } else { 0 };
    let max_tail = s.client()?.max_tail::<cmds::Memcpy2d>();
    match (src, dst) {
        (Side::Host(a), Side::Host(b)) => {
            let span = |base: usize, pitch: usize| (base, (h - 1) * pitch + w);
            order_host_copy(s, ctx, stream, &[span(a, sp), span(b, dp)])?;
            for r in 0..h {
                // SAFETY: the caller's rows; CUDA's contract for host operands.
                unsafe {
                    std::ptr::copy((a + r * sp) as *const u8, (b + r * dp) as *mut u8, w);
                }
            }
            Ok(())
        }
        (Side::Device(a), Side::Device(b)) => {
            let req = Copy2dRequest {
                ctx,
                stream,
                dst: b,
                dst_pitch: dp as u64,
                src: a,
                src_pitch: sp as u64,
                width: w as u64,
                height: h as u64,
                kind: copy_kind::DTOD,
                flags,
            };
            let c = s.client()?;
            if is_async {
                c.push_cmd::<cmds::Memcpy2d>(&req, &[])
            } else {
                c.call_cmd::<cmds::Memcpy2d>(&req, &[], 0).map(drop)
            }
        }
        (Side::Host(a), Side::Device(b)) => {
            let rows = max_tail / w;
            if rows == 0 {
                for r in 0..h {
                    // SAFETY: as above.
                    let row = unsafe { std::slice::from_raw_parts((a + r * sp) as *const u8, w) };
                    htod(s, ctx, stream, b + (r * dp) as u64, row, is_async)?;
                }
                return Ok(());
            }
            let groups = h.div_ceil(rows);
            for g in 0..groups {
                let (r0, n) = (g * rows, rows.min(h - g * rows));
                let req = Copy2dRequest {
                    ctx,
                    stream,
                    dst: b + (r0 * dp) as u64,
                    dst_pitch: dp as u64,
                    src: 0,
                    src_pitch: w as u64,
                    width: w as u64,
                    height: n as u64,
                    kind: copy_kind::HTOD,
                    flags,
                };
                let mut packed = Vec::with_capacity(n * w);
                for r in r0..r0 + n {
                    // SAFETY: as above.
                    packed.extend_from_slice(unsafe {
                        std::slice::from_raw_parts((a + r * sp) as *const u8, w)
                    });
                }
                let c = s.client()?;
                if is_async || g + 1 < groups {
                    c.push_cmd::<cmds::Memcpy2d>(&req, &packed)?;
                } else {
                    c.call_cmd::<cmds::Memcpy2d>(&req, &packed, 0)?;
                }
            }
            Ok(())
        }
        (Side::Device(a), Side::Host(b)) => {
            let rows = max_tail / w;
            if rows == 0 {
                for r in 0..h {
                    // SAFETY: as above.
                    let row = unsafe { std::slice::from_raw_parts_mut((b + r * dp) as *mut u8, w) };
                    dtoh(s, ctx, stream, row, a + (r * sp) as u64, is_async)?;
                }
                return Ok(());
            }
            let groups = h.div_ceil(rows);
            let calls = (0..groups).map(|g| {
                let (r0, n) = (g * rows, rows.min(h - g * rows));
                let req = Copy2dRequest {
                    ctx,
                    stream,
                    dst: 0,
                    dst_pitch: w as u64,
                    src: a + (r0 * sp) as u64,
                    src_pitch: sp as u64,
                    width: w as u64,
                    height: n as u64,
                    kind: copy_kind::DTOH,
                    flags: 0,
                };
                (req, n * w)
            });
            let c = s.client()?;
            c.call_pipelined_cmd::<cmds::Memcpy2d>(calls, DTOH_WINDOW, |g, _, data| {
                let (r0, n) = (g * rows, rows.min(h - g * rows));
                if data.len() < n * w {
                    return Err(result::UNKNOWN);
                }
                for (i, row) in data.chunks_exact(w).take(n).enumerate() {
                    // SAFETY: as above.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            row.as_ptr(),
                            (b + (r0 + i) * dp) as *mut u8,
                            w,
                        );
                    }
                }
                Ok(())
            })
        }
    }
}

pub(crate) unsafe fn memcpy_2d(p: *const c_void) -> CuResult {
    let p = p.cast::<CudaMemcpy2d>();
    with_ctx(|s, ctx| {
        if p.is_null() {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the C caller's `CUDA_MEMCPY2D`; checked non-NULL above.
        copy_2d(s, ctx, 0, unsafe { &*p }, false)
    })
}

pub(crate) unsafe fn memcpy_2d_async(p: *const c_void, stream: CUstream) -> CuResult {
    let p = p.cast::<CudaMemcpy2d>();
    with_ctx(|s, ctx| {
        if p.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let st = s.stream_host(stream as u64)?;
        // SAFETY: the C caller's `CUDA_MEMCPY2D`; checked non-NULL above.
        copy_2d(s, ctx, st, unsafe { &*p }, true)
    })
}

#[cfg(test)]
mod tests {
    use uapi::wire::Wire;

    use super::super::{registry::DeviceKind, test_util::with_primary};
    use super::*;

    const COPY2D_REQ: usize = core::mem::size_of::<Copy2dRequest>();
    use crate::driver::testing::session;

    fn plain() -> CudaMemcpy2d {
        CudaMemcpy2d {
            src_x_in_bytes: 0,
            src_y: 0,
            src_memory_type: 0,
            src_host: std::ptr::null(),
            src_device: 0,
            src_array: std::ptr::null_mut(),
            src_pitch: 0,
            dst_x_in_bytes: 0,
            dst_y: 0,
            dst_memory_type: 0,
            dst_host: std::ptr::null_mut(),
            dst_device: 0,
            dst_array: std::ptr::null_mut(),
            dst_pitch: 0,
            width_in_bytes: 0,
            height: 0,
        }
    }

    #[test]
    fn copy_2d_packs_host_rows() {
        let sess = session((COPY2D_REQ + 2 * 3) as u32);
        with_primary();
        // 4 rows of 3 bytes at pitch 5 in the host buffer.
        let host: Vec<u8> = (0..20).collect();
        let p = CudaMemcpy2d {
            src_x_in_bytes: 1,
            src_memory_type: MEMORYTYPE_HOST,
            src_host: host.as_ptr().cast(),
            src_pitch: 5,
            dst_y: 1,
            dst_memory_type: MEMORYTYPE_DEVICE,
            dst_device: 0x1000,
            dst_pitch: 64,
            width_in_bytes: 3,
            height: 4,
            ..plain()
        };
        // SAFETY: a local descriptor over a local host buffer.
        unsafe { memcpy_2d((&p as *const CudaMemcpy2d).cast()).unwrap() };
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.sent.len(), 2);
        let r0 = Copy2dRequest::read_from(&sc.sent[0].2).unwrap();
        assert_eq!((r0.dst, r0.height, r0.kind), (0x1040, 2, copy_kind::HTOD));
        assert_eq!(&sc.sent[0].2[COPY2D_REQ..], &[1, 2, 3, 6, 7, 8]);
        let r1 = Copy2dRequest::read_from(&sc.sent[1].2).unwrap();
        assert_eq!(r1.dst, 0x1040 + 128);
        assert_eq!(&sc.sent[1].2[COPY2D_REQ..], &[11, 12, 13, 16, 17, 18]);
        assert!(sc.sent[0].1 && !sc.sent[1].1);
    }

    #[test]
    fn unified_operands_are_classified_by_the_registry() {
        let sess = session(1 << 20);
        let ctx = with_primary();
        crate::driver::lock()
            .ptrs
            .add_device(0x40_0000, 4096, ctx, DeviceKind::Alloc);
        let host: Vec<u8> = (0..12).collect();
        let mut back = vec![0u8; 12];
        // Unified host source into a unified device destination, async.
        let up = CudaMemcpy2d {
            src_memory_type: MEMORYTYPE_UNIFIED,
            src_device: host.as_ptr() as u64,
            src_pitch: 4,
            dst_memory_type: MEMORYTYPE_UNIFIED,
            dst_device: 0x40_0000,
            dst_pitch: 256,
            width_in_bytes: 4,
            height: 3,
            ..plain()
        };
        // SAFETY: a local descriptor over a local host buffer.
        unsafe { memcpy_2d_async((&up as *const CudaMemcpy2d).cast(), std::ptr::null_mut()) }
            .unwrap();
        // Unified host to unified host: copied here, rows re-pitched.
        let hh = CudaMemcpy2d {
            dst_device: back.as_mut_ptr() as u64,
            dst_pitch: 4,
            ..up
        };
        // SAFETY: a local descriptor over local host buffers.
        unsafe { memcpy_2d((&hh as *const CudaMemcpy2d).cast()) }.unwrap();
        assert_eq!(back, host);
        crate::driver::lock().client().unwrap().flush().unwrap();
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.sent.len(), 1, "host to host sends nothing");
        let r = Copy2dRequest::read_from(&sc.sent[0].2).unwrap();
        assert_eq!(
            (r.kind, r.dst, r.flags),
            (copy_kind::HTOD, 0x40_0000, copy_flags::ASYNC)
        );
        assert_eq!(&sc.sent[0].2[COPY2D_REQ..], &host[..]);
        assert!(sc.sent[0].1, "detached");
        drop(sc);
        let null = CudaMemcpy2d {
            src_device: 0,
            ..hh
        };
        assert_eq!(
            // SAFETY: a local descriptor (its NULL source is refused).
            unsafe { memcpy_2d((&null as *const CudaMemcpy2d).cast()) },
            Err(result::INVALID_VALUE)
        );
    }
}
