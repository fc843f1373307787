//! Device memory, copies (split at the transport's payload limit), memsets,
//! 2D copies and host allocations.

use std::{
    collections::BTreeMap,
    ffi::{c_uint, c_void},
    sync::Mutex,
};

use uapi::{
    cuda::{
        copy_flags, copy_kind, op, result, AddressRangeResponse, Copy2dRequest, CopyRequest,
        HandleResponse, MemAllocRequest, MemInfoResponse, MemsetRequest, PtrRequest, ResultHeader,
    },
    wire::Wire,
};

use super::{client::Call, with_ctx, CuResult, State};

type CUstream = *mut c_void;

const HDR: usize = core::mem::size_of::<ResultHeader>();
const COPY_REQ: usize = core::mem::size_of::<CopyRequest>();
const COPY2D_REQ: usize = core::mem::size_of::<Copy2dRequest>();
/// Device-to-host chunks in flight at once.
const DTOH_WINDOW: usize = 8;

fn body(head: &impl Wire, tail: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(core::mem::size_of_val(head) + tail.len());
    v.extend_from_slice(head.as_bytes());
    v.extend_from_slice(tail);
    v
}

pub(crate) unsafe fn mem_alloc(dptr: *mut u64, size: usize) -> CuResult {
    with_ctx(|s, ctx| {
        if dptr.is_null() || size == 0 {
            return Err(result::INVALID_VALUE);
        }
        let req = MemAllocRequest {
            ctx,
            size: size as u64,
        };
        let r = s.client()?.call(
            op::MEM_ALLOC,
            req.as_bytes(),
            core::mem::size_of::<HandleResponse>(),
        )?;
        *dptr = HandleResponse::read_from(&r).ok_or(result::UNKNOWN)?.handle;
        Ok(())
    })
}

pub(crate) unsafe fn mem_free(dptr: u64) -> CuResult {
    with_ctx(|s, ctx| {
        // Freeing NULL is a no-op that succeeds, as with NVIDIA's driver
        // (cudart's cudaFree(nullptr) relies on it).
        if dptr == 0 {
            return Ok(());
        }
        let req = PtrRequest { ctx, dptr };
        s.client()?
            .call(op::MEM_FREE, req.as_bytes(), HDR)
            .map(|_| ())
    })
}

pub(crate) unsafe fn mem_get_info(free: *mut usize, total: *mut usize) -> CuResult {
    with_ctx(|s, ctx| {
        if free.is_null() || total.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let req = uapi::cuda::CtxRequest { ctx };
        let r = s.client()?.call(
            op::MEM_GET_INFO,
            req.as_bytes(),
            core::mem::size_of::<MemInfoResponse>(),
        )?;
        let m = MemInfoResponse::read_from(&r).ok_or(result::UNKNOWN)?;
        *free = m.free as usize;
        *total = m.total as usize;
        Ok(())
    })
}

pub(crate) unsafe fn mem_get_address_range(
    base: *mut u64,
    size: *mut usize,
    dptr: u64,
) -> CuResult {
    with_ctx(|s, ctx| {
        let req = PtrRequest { ctx, dptr };
        let r = s.client()?.call(
            op::MEM_GET_ADDRESS_RANGE,
            req.as_bytes(),
            core::mem::size_of::<AddressRangeResponse>(),
        )?;
        let a = AddressRangeResponse::read_from(&r).ok_or(result::UNKNOWN)?;
        if !base.is_null() {
            *base = a.base;
        }
        if !size.is_null() {
            *size = a.size as usize;
        }
        Ok(())
    })
}

/// Host bytes of a C buffer (`n` may be 0 with a NULL pointer).
unsafe fn host_slice<'a>(p: *const c_void, n: usize) -> CuResult<&'a [u8]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    Ok(std::slice::from_raw_parts(p.cast::<u8>(), n))
}

unsafe fn host_slice_mut<'a>(p: *mut c_void, n: usize) -> CuResult<&'a mut [u8]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    Ok(std::slice::from_raw_parts_mut(p.cast::<u8>(), n))
}

/// Host to device, split into commands of at most the payload limit. All
/// chunks but a synchronous copy's last are detached; that one waits (and
/// reports any chunk's error, which the device kept).
pub(crate) fn htod(
    s: &mut State,
    ctx: u64,
    stream: u64,
    dst: u64,
    src: &[u8],
    is_async: bool,
) -> CuResult {
    let c = s.client()?;
    let chunk = c.max_payload().saturating_sub(COPY_REQ).max(1);
    let flags = if is_async { copy_flags::ASYNC } else { 0 };
    let n = src.len().div_ceil(chunk).max(1);
    for i in 0..n {
        let part = &src[(i * chunk).min(src.len())..((i + 1) * chunk).min(src.len())];
        let req = CopyRequest {
            ctx,
            stream,
            dst: dst.wrapping_add((i * chunk) as u64),
            src: 0,
            len: part.len() as u64,
            flags,
            reserved: 0,
        };
        let b = body(&req, part);
        if is_async || i + 1 < n {
            c.push_async(op::MEMCPY_HTOD, b)?;
        } else {
            c.call(op::MEMCPY_HTOD, &b, HDR)?;
        }
    }
    Ok(())
}

/// Device to host, chunked, several chunks in flight.
pub(crate) fn dtoh(s: &mut State, ctx: u64, stream: u64, dst: &mut [u8], src: u64) -> CuResult {
    let c = s.client()?;
    let chunk = c.max_payload().saturating_sub(HDR.max(COPY_REQ)).max(1);
    let n = dst.len().div_ceil(chunk).max(1);
    let calls = (0..n)
        .map(|i| {
            let len = chunk.min(dst.len() - (i * chunk).min(dst.len()));
            let req = CopyRequest {
                ctx,
                stream,
                dst: 0,
                src: src.wrapping_add((i * chunk) as u64),
                len: len as u64,
                flags: 0,
                reserved: 0,
            };
            Call {
                opcode: op::MEMCPY_DTOH,
                body: req.as_bytes().to_vec(),
                resp_capacity: HDR + len,
            }
        })
        .collect();
    c.call_pipelined(calls, DTOH_WINDOW, |i, r| {
        let off = i * chunk;
        let want = chunk.min(dst.len() - off.min(dst.len()));
        let got = &r[HDR.min(r.len())..];
        if got.len() < want {
            return Err(result::UNKNOWN);
        }
        dst[off..off + want].copy_from_slice(&got[..want]);
        Ok(())
    })
}

pub(crate) fn dtod(
    s: &mut State,
    ctx: u64,
    stream: u64,
    dst: u64,
    src: u64,
    len: u64,
    is_async: bool,
) -> CuResult {
    let req = CopyRequest {
        ctx,
        stream,
        dst,
        src,
        len,
        flags: if is_async { copy_flags::ASYNC } else { 0 },
        reserved: 0,
    };
    let c = s.client()?;
    if is_async {
        c.push_async(op::MEMCPY_DTOD, req.as_bytes().to_vec())
    } else {
        c.call(op::MEMCPY_DTOD, req.as_bytes(), HDR).map(|_| ())
    }
}

pub(crate) unsafe fn memcpy_htod(dst: u64, src: *const c_void, n: usize) -> CuResult {
    with_ctx(|s, ctx| htod(s, ctx, 0, dst, host_slice(src, n)?, false))
}

pub(crate) unsafe fn memcpy_htod_async(
    dst: u64,
    src: *const c_void,
    n: usize,
    stream: CUstream,
) -> CuResult {
    with_ctx(|s, ctx| {
        let st = s.stream_host(stream as u64)?;
        htod(s, ctx, st, dst, host_slice(src, n)?, true)
    })
}

pub(crate) unsafe fn memcpy_dtoh(dst: *mut c_void, src: u64, n: usize) -> CuResult {
    with_ctx(|s, ctx| dtoh(s, ctx, 0, host_slice_mut(dst, n)?, src))
}

/// Synchronous: correct, not overlapped.
pub(crate) unsafe fn memcpy_dtoh_async(
    dst: *mut c_void,
    src: u64,
    n: usize,
    stream: CUstream,
) -> CuResult {
    with_ctx(|s, ctx| {
        let st = s.stream_host(stream as u64)?;
        dtoh(s, ctx, st, host_slice_mut(dst, n)?, src)
    })
}

pub(crate) unsafe fn memcpy_dtod(dst: u64, src: u64, n: usize) -> CuResult {
    with_ctx(|s, ctx| dtod(s, ctx, 0, dst, src, n as u64, false))
}

pub(crate) unsafe fn memcpy_dtod_async(dst: u64, src: u64, n: usize, stream: CUstream) -> CuResult {
    with_ctx(|s, ctx| {
        let st = s.stream_host(stream as u64)?;
        dtod(s, ctx, st, dst, src, n as u64, true)
    })
}

// --- memset ----------------------------------------------------------------

#[allow(clippy::too_many_arguments)]
fn memset(
    dst: u64,
    pitch: usize,
    value: u32,
    elem_size: u32,
    width: usize,
    height: usize,
    stream: Option<CUstream>,
) -> CuResult {
    with_ctx(|s, ctx| {
        let st = match stream {
            Some(p) => s.stream_host(p as u64)?,
            None => 0,
        };
        let req = MemsetRequest {
            ctx,
            stream: st,
            dst,
            pitch: pitch as u64,
            width: width as u64,
            height: height as u64,
            value,
            elem_size,
            flags: if stream.is_some() {
                copy_flags::ASYNC
            } else {
                0
            },
            reserved: 0,
        };
        let c = s.client()?;
        if stream.is_some() {
            c.push_async(op::MEMSET, req.as_bytes().to_vec())
        } else {
            c.call(op::MEMSET, req.as_bytes(), HDR).map(|_| ())
        }
    })
}

pub(crate) unsafe fn memset_d8(dst: u64, v: u8, n: usize) -> CuResult {
    memset(dst, n, v.into(), 1, n, 1, None)
}
pub(crate) unsafe fn memset_d16(dst: u64, v: u16, n: usize) -> CuResult {
    memset(dst, n * 2, v.into(), 2, n, 1, None)
}
pub(crate) unsafe fn memset_d32(dst: u64, v: u32, n: usize) -> CuResult {
    memset(dst, n * 4, v, 4, n, 1, None)
}
pub(crate) unsafe fn memset_d8_async(dst: u64, v: u8, n: usize, s: CUstream) -> CuResult {
    memset(dst, n, v.into(), 1, n, 1, Some(s))
}
pub(crate) unsafe fn memset_d16_async(dst: u64, v: u16, n: usize, s: CUstream) -> CuResult {
    memset(dst, n * 2, v.into(), 2, n, 1, Some(s))
}
pub(crate) unsafe fn memset_d32_async(dst: u64, v: u32, n: usize, s: CUstream) -> CuResult {
    memset(dst, n * 4, v, 4, n, 1, Some(s))
}
pub(crate) unsafe fn memset_d2d8(dst: u64, pitch: usize, v: u8, w: usize, h: usize) -> CuResult {
    memset(dst, pitch, v.into(), 1, w, h, None)
}
pub(crate) unsafe fn memset_d2d16(dst: u64, pitch: usize, v: u16, w: usize, h: usize) -> CuResult {
    memset(dst, pitch, v.into(), 2, w, h, None)
}
pub(crate) unsafe fn memset_d2d32(dst: u64, pitch: usize, v: u32, w: usize, h: usize) -> CuResult {
    memset(dst, pitch, v, 4, w, h, None)
}
pub(crate) unsafe fn memset_d2d8_async(
    dst: u64,
    pitch: usize,
    v: u8,
    w: usize,
    h: usize,
    s: CUstream,
) -> CuResult {
    memset(dst, pitch, v.into(), 1, w, h, Some(s))
}
pub(crate) unsafe fn memset_d2d16_async(
    dst: u64,
    pitch: usize,
    v: u16,
    w: usize,
    h: usize,
    s: CUstream,
) -> CuResult {
    memset(dst, pitch, v.into(), 2, w, h, Some(s))
}
pub(crate) unsafe fn memset_d2d32_async(
    dst: u64,
    pitch: usize,
    v: u32,
    w: usize,
    h: usize,
    s: CUstream,
) -> CuResult {
    memset(dst, pitch, v, 4, w, h, Some(s))
}

// --- 2D copies --------------------------------------------------------------

/// `CUDA_MEMCPY2D`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct CudaMemcpy2d {
    pub src_x_in_bytes: usize,
    pub src_y: usize,
    pub src_memory_type: u32,
    pub src_host: *const c_void,
    pub src_device: u64,
    pub src_array: *mut c_void,
    pub src_pitch: usize,
    pub dst_x_in_bytes: usize,
    pub dst_y: usize,
    pub dst_memory_type: u32,
    pub dst_host: *mut c_void,
    pub dst_device: u64,
    pub dst_array: *mut c_void,
    pub dst_pitch: usize,
    pub width_in_bytes: usize,
    pub height: usize,
}

const MEMTYPE_HOST: u32 = 1;
const MEMTYPE_DEVICE: u32 = 2;
const MEMTYPE_ARRAY: u32 = 3;
const MEMTYPE_UNIFIED: u32 = 4;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Host(usize),
    Device(u64),
}

fn side(kind: u32, host: usize, dev: u64, x: usize, y: usize, pitch: usize) -> CuResult<Side> {
    let off = y
        .checked_mul(pitch)
        .and_then(|o| o.checked_add(x))
        .ok_or(result::INVALID_VALUE)?;
    match kind {
        MEMTYPE_HOST => {
            if host == 0 {
                return Err(result::INVALID_VALUE);
            }
            Ok(Side::Host(host.wrapping_add(off)))
        }
        MEMTYPE_DEVICE | MEMTYPE_UNIFIED => Ok(Side::Device(dev.wrapping_add(off as u64))),
        MEMTYPE_ARRAY => {
            tracing::warn!("cuMemcpy2D: CUarray operands are not supported");
            Err(result::NOT_SUPPORTED)
        }
        _ => Err(result::INVALID_VALUE),
    }
}

/// One 2D copy. Host rows travel packed; rows are grouped so each command
/// fits the payload limit (a row longer than that goes as 1D pieces).
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
        p.src_memory_type,
        p.src_host as usize,
        p.src_device,
        p.src_x_in_bytes,
        p.src_y,
        p.src_pitch,
    )?;
    let dst = side(
        p.dst_memory_type,
        p.dst_host as usize,
        p.dst_device,
        p.dst_x_in_bytes,
        p.dst_y,
        p.dst_pitch,
    )?;
    let (sp, dp) = (p.src_pitch, p.dst_pitch);
    let flags = if is_async { copy_flags::ASYNC } else { 0 };
    let max = s.client()?.max_payload();
    match (src, dst) {
        (Side::Host(a), Side::Host(b)) => {
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
                c.push_async(op::MEMCPY_2D, req.as_bytes().to_vec())
            } else {
                c.call(op::MEMCPY_2D, req.as_bytes(), HDR).map(|_| ())
            }
        }
        (Side::Host(a), Side::Device(b)) => {
            let rows = max.saturating_sub(COPY2D_REQ) / w;
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
                let mut v = Vec::with_capacity(COPY2D_REQ + n * w);
                v.extend_from_slice(req.as_bytes());
                for r in r0..r0 + n {
                    // SAFETY: as above.
                    v.extend_from_slice(unsafe {
                        std::slice::from_raw_parts((a + r * sp) as *const u8, w)
                    });
                }
                let c = s.client()?;
                if is_async || g + 1 < groups {
                    c.push_async(op::MEMCPY_2D, v)?;
                } else {
                    c.call(op::MEMCPY_2D, &v, HDR)?;
                }
            }
            Ok(())
        }
        (Side::Device(a), Side::Host(b)) => {
            let rows = max.saturating_sub(HDR.max(COPY2D_REQ)) / w;
            if rows == 0 {
                for r in 0..h {
                    // SAFETY: as above.
                    let row = unsafe { std::slice::from_raw_parts_mut((b + r * dp) as *mut u8, w) };
                    dtoh(s, ctx, stream, row, a + (r * sp) as u64)?;
                }
                return Ok(());
            }
            let groups = h.div_ceil(rows);
            let calls = (0..groups)
                .map(|g| {
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
                    Call {
                        opcode: op::MEMCPY_2D,
                        body: req.as_bytes().to_vec(),
                        resp_capacity: HDR + n * w,
                    }
                })
                .collect();
            s.client()?.call_pipelined(calls, DTOH_WINDOW, |g, r| {
                let (r0, n) = (g * rows, rows.min(h - g * rows));
                let data = &r[HDR.min(r.len())..];
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
        copy_2d(s, ctx, 0, &*p, false)
    })
}

pub(crate) unsafe fn memcpy_2d_async(p: *const c_void, stream: CUstream) -> CuResult {
    let p = p.cast::<CudaMemcpy2d>();
    with_ctx(|s, ctx| {
        if p.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let st = s.stream_host(stream as u64)?;
        let p = &*p;
        // Device to host cannot be left in flight: done synchronously.
        let to_host = p.dst_memory_type == MEMTYPE_HOST;
        copy_2d(s, ctx, st, p, !to_host)
    })
}

// --- host memory ------------------------------------------------------------

/// Host allocations handed out by cuMemAllocHost / cuMemHostAlloc: address →
/// (size, flags).
static HOST_ALLOCS: Mutex<BTreeMap<usize, (usize, u32)>> = Mutex::new(BTreeMap::new());

pub(crate) unsafe fn mem_host_alloc(pp: *mut *mut c_void, size: usize, flags: c_uint) -> CuResult {
    with_ctx(|_, _| {
        if pp.is_null() || size == 0 {
            return Err(result::INVALID_VALUE);
        }
        let mut p: *mut c_void = std::ptr::null_mut();
        if libc::posix_memalign(&mut p, 4096, size) != 0 || p.is_null() {
            return Err(result::OUT_OF_MEMORY);
        }
        HOST_ALLOCS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p as usize, (size, flags));
        *pp = p;
        Ok(())
    })
}

pub(crate) unsafe fn mem_alloc_host(pp: *mut *mut c_void, size: usize) -> CuResult {
    mem_host_alloc(pp, size, 0)
}

pub(crate) unsafe fn mem_free_host(p: *mut c_void) -> CuResult {
    super::with_state(|_| {
        let known = HOST_ALLOCS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(p as usize))
            .is_some();
        if !known {
            return Err(result::INVALID_VALUE);
        }
        libc::free(p);
        Ok(())
    })
}

pub(crate) unsafe fn mem_host_get_flags(flags: *mut c_uint, p: *mut c_void) -> CuResult {
    super::with_state(|_| {
        if flags.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let m = HOST_ALLOCS.lock().unwrap_or_else(|e| e.into_inner());
        let a = p as usize;
        let f = m
            .range(..=a)
            .next_back()
            .filter(|(&base, &(size, _))| a < base + size)
            .map(|(_, &(_, f))| f)
            .ok_or(result::INVALID_VALUE)?;
        *flags = f;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{testing::session, with_stack, Obj};

    fn with_primary() {
        let mut s = crate::driver::lock();
        let h = s.new_handle();
        s.objects.insert(h, Obj::Ctx { wire: 0, flags: 0 });
        drop(s);
        with_stack(|st| st.push(h));
    }

    #[test]
    fn htod_is_split_and_only_the_last_chunk_waits() {
        let sess = session(1024);
        with_primary();
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        unsafe { memcpy_htod(0x1000, data.as_ptr().cast(), data.len()).unwrap() };
        let sc = sess.script.lock().unwrap();
        let chunk = 1024 - COPY_REQ;
        assert_eq!(sc.sent.len(), 5000usize.div_ceil(chunk));
        let mut joined = Vec::new();
        for (i, (opc, detached, b)) in sc.sent.iter().enumerate() {
            assert_eq!(*opc, op::MEMCPY_HTOD);
            assert_eq!(*detached, i + 1 < sc.sent.len());
            let r = CopyRequest::read_from(b).unwrap();
            assert_eq!(r.dst, 0x1000 + (i * chunk) as u64);
            assert_eq!(r.len as usize, b.len() - COPY_REQ);
            joined.extend_from_slice(&b[COPY_REQ..]);
        }
        assert_eq!(joined, data);
        // Everything went in one submit (batch + the waiting chunk).
        assert_eq!(sc.submits, [sc.sent.len()]);
    }

    #[test]
    fn dtoh_chunks_are_reassembled() {
        let sess = session(100);
        with_primary();
        let chunk = 100 - COPY_REQ;
        let total: usize = 130;
        {
            let mut sc = sess.script.lock().unwrap();
            for i in 0..total.div_ceil(chunk) {
                let mut r = vec![0u8; 8];
                let n = chunk.min(total - i * chunk);
                r.extend((0..n).map(|k| (i * chunk + k) as u8));
                sc.responses.push_back(r);
            }
        }
        let mut out = vec![0u8; total];
        unsafe { memcpy_dtoh(out.as_mut_ptr().cast(), 0x2000, total).unwrap() };
        assert_eq!(out, (0..total).map(|i| i as u8).collect::<Vec<_>>());
    }

    #[test]
    fn async_work_is_batched_64_per_submit() {
        let sess = session(1 << 20);
        with_primary();
        for _ in 0..130 {
            unsafe { memset_d8_async(0x10, 1, 16, std::ptr::null_mut()).unwrap() };
        }
        assert_eq!(sess.script.lock().unwrap().submits, [64, 64]);
        unsafe { memset_d32(0x10, 7, 4).unwrap() };
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.submits, [64, 64, 3]);
        assert!(sc.sent[..130].iter().all(|c| c.1));
        assert!(!sc.sent[130].1);
        let m = MemsetRequest::read_from(&sc.sent[130].2).unwrap();
        assert_eq!((m.value, m.elem_size, m.width, m.height), (7, 4, 4, 1));
    }

    #[test]
    fn copy_2d_packs_host_rows() {
        let sess = session((COPY2D_REQ + 2 * 3) as u32);
        with_primary();
        // 4 rows of 3 bytes at pitch 5 in the host buffer.
        let host: Vec<u8> = (0..20).collect();
        let p = CudaMemcpy2d {
            src_x_in_bytes: 1,
            src_y: 0,
            src_memory_type: MEMTYPE_HOST,
            src_host: host.as_ptr().cast(),
            src_device: 0,
            src_array: std::ptr::null_mut(),
            src_pitch: 5,
            dst_x_in_bytes: 0,
            dst_y: 1,
            dst_memory_type: MEMTYPE_DEVICE,
            dst_host: std::ptr::null_mut(),
            dst_device: 0x1000,
            dst_array: std::ptr::null_mut(),
            dst_pitch: 64,
            width_in_bytes: 3,
            height: 4,
        };
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
    fn no_context_is_invalid_context() {
        let _s = session(1 << 20);
        let mut p = 0u64;
        assert_eq!(
            unsafe { mem_alloc(&mut p, 16) },
            Err(result::INVALID_CONTEXT)
        );
        with_primary();
        assert_eq!(unsafe { mem_alloc(&mut p, 0) }, Err(result::INVALID_VALUE));
        assert_eq!(
            unsafe { memcpy_htod(0x10, std::ptr::null(), 4) },
            Err(result::INVALID_VALUE)
        );
    }
}
