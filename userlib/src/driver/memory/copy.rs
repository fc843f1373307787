//! 1D copies: explicit directions (`cuMemcpyHtoD`, …) and by pointer
//! (`cuMemcpy`, `cuMemcpyAsync`: the direction follows from the registry,
//! as unified addressing defines it).

use std::ffi::c_void;

use uapi::cuda::{cmds, copy_flags, result, CopyRequest};

use super::{host_slice, host_slice_mut, is_device, CUstream, DTOH_WINDOW};
use crate::driver::{
    abi::{InBuf, OutBuf},
    client::{page_size, Data},
    with_ctx, CuResult, State,
};

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
    if let Some(offset) = shared_host(s, src.as_ptr() as usize, src.len()) {
        // Pinned memory the worker maps: one command, no data on the way;
        // an asynchronous copy reads it in stream order, as CUDA's does.
        let req = CopyRequest {
            ctx,
            stream,
            dst,
            src: offset,
            len: src.len() as u64,
            flags: copy_flags::HOST_MEMORY | if is_async { copy_flags::ASYNC } else { 0 },
            reserved: 0,
        };
        let c = s.client()?;
        return if is_async {
            c.push_cmd::<cmds::MemcpyHtod>(&req, &[])
        } else {
            c.call_cmd::<cmds::MemcpyHtod>(&req, &[], 0).map(drop)
        };
    }
    let c = s.client()?;
    // An asynchronous copy from pinned host memory goes by pointer and
    // detached: the driver keeps those pages pinned, and the device reads
    // them when the stream gets there, as CUDA's does.
    if let Some(chunk) = c
        .data_chunk(src.len())
        .filter(|_| is_async && c.is_pinned_host(src))
    {
        let calls: Vec<_> = htod_chunks(ctx, stream, dst, src, chunk, copy_flags::ASYNC).collect();
        return c.push_pinned_data::<cmds::MemcpyHtod>(&calls);
    }
    // A synchronous copy can hand the device the caller's pages: they stay
    // put until it returns. Another asynchronous one is captured now. Pages
    // the driver will not pin (RLIMIT_MEMLOCK) are copied, as below.
    if let Some(chunk) = c.data_chunk(src.len()).filter(|_| !is_async) {
        let calls = htod_chunks(ctx, stream, dst, src, chunk, 0)
            .map(|(req, part)| (req, Data::In(part)))
            .collect();
        if c.call_pipelined_data::<cmds::MemcpyHtod>(calls, |_, _, _| Ok(()))? {
            return Ok(());
        }
    }
    let chunk = c.max_tail::<cmds::MemcpyHtod>().max(1);
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
        if is_async || i + 1 < n {
            c.push_cmd::<cmds::MemcpyHtod>(&req, part)?;
        } else {
            c.call_cmd::<cmds::MemcpyHtod>(&req, part, 0)?;
        }
    }
    Ok(())
}

/// Device to host, chunked, several chunks in flight. Synchronous even
/// when `is_async`, as CUDA's copy into pageable memory is, except into
/// pinned memory the worker maps: that one is detached, in stream order.
pub(crate) fn dtoh(
    s: &mut State,
    ctx: u64,
    stream: u64,
    dst: &mut [u8],
    src: u64,
    is_async: bool,
) -> CuResult {
    if let Some(offset) = shared_host(s, dst.as_ptr() as usize, dst.len()) {
        // Pinned memory the worker maps: the device writes it in place. An
        // asynchronous copy returns at once, as CUDA's does; the caller
        // synchronises before it reads (and `host_free` flushes first).
        let req = CopyRequest {
            ctx,
            stream,
            dst: offset,
            src,
            len: dst.len() as u64,
            flags: copy_flags::HOST_MEMORY | if is_async { copy_flags::ASYNC } else { 0 },
            reserved: 0,
        };
        let c = s.client()?;
        return if is_async {
            c.push_cmd::<cmds::MemcpyDtoh>(&req, &[])
        } else {
            c.call_cmd::<cmds::MemcpyDtoh>(&req, &[], 0).map(drop)
        };
    }
    let c = s.client()?;
    // The device writes straight into the caller's pages (unless the
    // driver will not pin them: then copied, as below).
    if let Some(chunk) = c.data_chunk(dst.len()) {
        let parts: Vec<_> = pieces(dst.as_ptr() as usize, dst.len(), chunk).collect();
        let mut rest = &mut dst[..];
        let mut calls = Vec::with_capacity(parts.len());
        for piece in &parts {
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(piece.len());
            rest = tail;
            let req = CopyRequest {
                ctx,
                stream,
                dst: 0,
                src: src.wrapping_add(piece.start as u64),
                len: part.len() as u64,
                flags: 0,
                reserved: 0,
            };
            calls.push((req, Data::Out(part)));
        }
        let sent = c.call_pipelined_data::<cmds::MemcpyDtoh>(calls, |i, _, got| {
            if got < parts.get(i).map_or(usize::MAX, |p| p.len()) {
                return Err(result::UNKNOWN);
            }
            Ok(())
        })?;
        if sent {
            return Ok(());
        }
    }
    let chunk = c.max_tail::<cmds::MemcpyDtoh>().max(1);
    let total = dst.len();
    let n = total.div_ceil(chunk).max(1);
    let calls = (0..n).map(|i| {
        let len = chunk.min(total - (i * chunk).min(total));
        let req = CopyRequest {
            ctx,
            stream,
            dst: 0,
            src: src.wrapping_add((i * chunk) as u64),
            len: len as u64,
            flags: 0,
            reserved: 0,
        };
        (req, len)
    });
    c.call_pipelined_cmd::<cmds::MemcpyDtoh>(calls, DTOH_WINDOW, |i, _, got| {
        let off = i * chunk;
        let want = chunk.min(total - off.min(total));
        if got.len() < want {
            return Err(result::UNKNOWN);
        }
        dst[off..off + want].copy_from_slice(&got[..want]);
        Ok(())
    })
}

/// Before a host-to-host copy in stream `stream` that reads or writes one
/// of `ranges` (address, length) in pinned memory the worker maps: waits
/// for the stream, whose detached copies may still read or write there.
pub(crate) fn order_host_copy(
    s: &mut State,
    ctx: u64,
    stream: u64,
    ranges: &[(usize, usize)],
) -> CuResult {
    if !ranges
        .iter()
        .any(|&(p, n)| s.ptrs.overlaps_shared_host(p, n))
    {
        return Ok(());
    }
    let req = uapi::cuda::StreamRequest { ctx, stream };
    s.client()?
        .call_cmd::<cmds::StreamSynchronize>(&req, &[], 0)
        .map(drop)
}

/// The shared host memory offset of `ptr..ptr+len`, when it lies entirely
/// in one allocation the transport shares with the worker.
fn shared_host(s: &State, ptr: usize, len: usize) -> Option<u64> {
    (len > 0).then(|| s.ptrs.shared_host(ptr, len)).flatten()
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
        c.push_cmd::<cmds::MemcpyDtod>(&req, &[])
    } else {
        c.call_cmd::<cmds::MemcpyDtod>(&req, &[], 0).map(drop)
    }
}

/// A copy between two unified addresses. Device to host is as [`dtoh`]
/// does it; host to host is a plain copy done at once. Queued work of ours
/// touches host memory later only in pinned memory the worker maps (other
/// host sources are captured when enqueued, other device-to-host copies
/// complete before returning), so a copy from or to that waits for the
/// stream first ([`order_host_copy`]); doing it then keeps stream order.
pub(crate) fn copy_unified(
    s: &mut State,
    ctx: u64,
    stream: u64,
    dst: u64,
    src: u64,
    n: usize,
    is_async: bool,
) -> CuResult {
    match (is_device(s, dst), is_device(s, src)) {
        (true, true) => dtod(s, ctx, stream, dst, src, n as u64, is_async),
        // SAFETY: `src` is host memory of the caller (CUDA's contract).
        (true, false) => htod(
            s,
            ctx,
            stream,
            dst,
            unsafe { host_slice(src as _, n)? },
            is_async,
        ),
        // SAFETY: as above, for `dst`.
        (false, true) => dtoh(
            s,
            ctx,
            stream,
            unsafe { host_slice_mut(dst as _, n)? },
            src,
            is_async,
        ),
        (false, false) => {
            if n == 0 {
                return Ok(());
            }
            if dst == 0 || src == 0 {
                return Err(result::INVALID_VALUE);
            }
            order_host_copy(s, ctx, stream, &[(dst as usize, n), (src as usize, n)])?;
            // SAFETY: both are the caller's host buffers of `n` bytes; they
            // may overlap (memmove semantics).
            unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, n) };
            Ok(())
        }
    }
}

pub(crate) unsafe fn memcpy(dst: u64, src: u64, n: usize) -> CuResult {
    with_ctx(|s, ctx| {
        s.captures.check_unsafe()?;
        copy_unified(s, ctx, 0, dst, src, n, false)
    })
}

pub(crate) unsafe fn memcpy_async(dst: u64, src: u64, n: usize, stream: CUstream) -> CuResult {
    with_ctx(|s, ctx| {
        let st = s.stream_host(stream as u64)?;
        // Only device-to-device copies can be captured (guest memory is
        // pageable to the device).
        if !(is_device(s, dst) && is_device(s, src)) {
            s.captures.refuse(stream as u64)?;
        }
        copy_unified(s, ctx, st, dst, src, n, true)
    })
}

pub(crate) fn memcpy_htod(dst: u64, src: InBuf<'_, c_void>, n: usize) -> CuResult {
    with_ctx(|s, ctx| {
        s.captures.check_unsafe()?;
        htod(s, ctx, 0, dst, src.bytes(n)?, false)
    })
}

pub(crate) fn memcpy_htod_async(
    dst: u64,
    src: InBuf<'_, c_void>,
    n: usize,
    stream: CUstream,
) -> CuResult {
    with_ctx(|s, ctx| {
        let st = s.stream_host(stream as u64)?;
        s.captures.refuse(stream as u64)?;
        htod(s, ctx, st, dst, src.bytes(n)?, true)
    })
}

pub(crate) fn memcpy_dtoh(dst: OutBuf<'_, c_void>, src: u64, n: usize) -> CuResult {
    with_ctx(|s, ctx| {
        s.captures.check_unsafe()?;
        dtoh(s, ctx, 0, dst.bytes(n)?, src, false)
    })
}

/// Detached into pinned memory the worker maps, else synchronous.
pub(crate) fn memcpy_dtoh_async(
    dst: OutBuf<'_, c_void>,
    src: u64,
    n: usize,
    stream: CUstream,
) -> CuResult {
    with_ctx(|s, ctx| {
        let st = s.stream_host(stream as u64)?;
        s.captures.refuse(stream as u64)?;
        dtoh(s, ctx, st, dst.bytes(n)?, src, true)
    })
}

pub(crate) fn memcpy_dtod(dst: u64, src: u64, n: usize) -> CuResult {
    with_ctx(|s, ctx| {
        s.captures.check_unsafe()?;
        dtod(s, ctx, 0, dst, src, n as u64, false)
    })
}

pub(crate) fn memcpy_dtod_async(dst: u64, src: u64, n: usize, stream: CUstream) -> CuResult {
    with_ctx(|s, ctx| {
        let st = s.stream_host(stream as u64)?;
        dtod(s, ctx, st, dst, src, n as u64, true)
    })
}

/// The parts of a by-pointer copy of `len` bytes at host address `addr`,
/// as offsets: at most `chunk` bytes (a multiple of the page size) each,
/// and every part but the first starts on a page, so that none pins more
/// than `chunk / page` pages (the driver pins whole pages).
fn pieces(addr: usize, len: usize, chunk: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let first = chunk - addr % page_size().min(chunk);
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= len {
            return None;
        }
        let size = if start == 0 { first } else { chunk };
        let end = start + size.min(len - start);
        let piece = start..end;
        start = end;
        Some(piece)
    })
}

/// The by-pointer commands of a host-to-device copy of `src` to `dst`, in
/// the parts [`pieces`] gives, each with its part of the data.
fn htod_chunks(
    ctx: u64,
    stream: u64,
    dst: u64,
    src: &[u8],
    chunk: usize,
    flags: u32,
) -> impl Iterator<Item = (CopyRequest, &[u8])> {
    pieces(src.as_ptr() as usize, src.len(), chunk).map(move |piece| {
        let req = CopyRequest {
            ctx,
            stream,
            dst: dst.wrapping_add(piece.start as u64),
            src: 0,
            len: piece.len() as u64,
            flags,
            reserved: 0,
        };
        (req, &src[piece])
    })
}

#[cfg(test)]
mod tests {
    use uapi::{cuda::op, wire::Wire};

    use super::super::{registry::DeviceKind, test_util::*};
    use super::*;

    const COPY_REQ: usize = core::mem::size_of::<CopyRequest>();
    use crate::driver::testing::session;

    #[test]
    fn htod_is_split_and_only_the_last_chunk_waits() {
        let sess = session(1024);
        with_primary();
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        memcpy_htod(0x1000, data[..].into(), data.len()).unwrap();
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
        memcpy_dtoh(out[..].as_mut().into(), 0x2000, total).unwrap();
        assert_eq!(out, (0..total).map(|i| i as u8).collect::<Vec<_>>());
    }

    const PATH: vgpu_transport::DataPath = vgpu_transport::DataPath {
        max_data: 64 << 10,
        min_pinned: 16 << 10,
        pin_limit: 128 << 10,
    };

    #[test]
    fn large_synchronous_copies_go_by_pointer_in_data_chunks() {
        use crate::driver::testing::session_with_data;
        let sess = session_with_data(4096, Some(PATH));
        with_primary();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 13) as u8).collect();
        memcpy_htod(0x1000, data[..].into(), data.len()).unwrap();
        // Too small for the data path: copied, as before.
        memcpy_htod(0x1000, data[..].into(), 100).unwrap();
        // Asynchronous: captured now, so copied.
        let async_part = &data[..20_000];
        memcpy_htod_async(
            0x1000,
            async_part.into(),
            async_part.len(),
            std::ptr::null_mut(),
        )
        .unwrap();
        let sc = sess.script.lock().unwrap();
        // Parts of at most 64 KiB, cut at pages of the source (a Vec need
        // not start on one): none pins more than 16 pages.
        let parts: Vec<_> = pieces(data.as_ptr() as usize, data.len(), 64 << 10).collect();
        let chunks = parts.len();
        assert!(
            (data.len().div_ceil(64 << 10)..=data.len().div_ceil(64 << 10) + 1).contains(&chunks)
        );
        assert_eq!(sc.by_pointer, (0..chunks).collect::<Vec<_>>());
        assert_eq!(sc.most_pages, 16);
        let mut joined = Vec::new();
        for ((opc, detached, b), part) in sc.sent[..chunks].iter().zip(&parts) {
            assert_eq!((*opc, *detached), (op::MEMCPY_HTOD, false));
            let r = CopyRequest::read_from(b).unwrap();
            assert_eq!(r.dst, 0x1000 + part.start as u64);
            assert_eq!(r.len as usize, b.len() - COPY_REQ);
            joined.extend_from_slice(&b[COPY_REQ..]);
        }
        assert_eq!(joined, data);
        // One call in flight at once: two unaligned 64 KiB parts (17 pages
        // each) would pin more than the 128 KiB limit.
        assert_eq!(sc.submits[..2], [1, 1]);
        assert!(
            sc.sent.len() > chunks,
            "the small and async copies were sent copied"
        );
    }

    #[test]
    fn data_chunks_go_out_as_a_sliding_window() {
        use crate::driver::testing::session_with_data;
        // Room for the whole window (8 calls of 17 pages each).
        let path = vgpu_transport::DataPath {
            pin_limit: 8 * (17 << 12),
            ..PATH
        };
        let sess = session_with_data(4096, Some(path));
        with_primary();
        let data: Vec<u8> = (0..20 * (64 << 10) as u32)
            .map(|i| (i * 7 + i / 4096) as u8)
            .collect();
        memcpy_htod(0x1000, data[..].into(), data.len()).unwrap();
        let sc = sess.script.lock().unwrap();
        let chunks = pieces(data.as_ptr() as usize, data.len(), 64 << 10).count();
        // The first call alone (the device starts on it while the driver
        // prepares the rest), the rest of a full window before any is
        // collected, then more whenever half of it is collected: the device
        // is never left waiting for a whole window to be collected.
        let mut want = vec![1, 7];
        while want.iter().sum::<usize>() < chunks {
            want.push(4.min(chunks - want.iter().sum::<usize>()));
        }
        assert_eq!(sc.submits, want);
        let joined: Vec<u8> = sc.sent[..chunks]
            .iter()
            .flat_map(|(_, _, b)| b[COPY_REQ..].to_vec())
            .collect();
        assert_eq!(joined, data, "in order");
    }

    #[test]
    fn async_copies_from_pinned_host_memory_go_by_pointer_detached() {
        use crate::driver::memory::host::{mem_free_host, mem_host_alloc};
        use crate::driver::testing::session_with_data;
        let sess = session_with_data(4096, Some(PATH));
        with_primary();
        let len = 100_000usize;
        let mut p: *mut c_void = std::ptr::null_mut();
        // SAFETY: a local out-pointer.
        unsafe { mem_host_alloc(&mut p, len, 0) }.unwrap();
        // Pinned once, then readied on the device: PREPARE_HOST calls over
        // the whole range by pointer (64 KiB each here), which move nothing.
        let prepared = {
            let sc = sess.script.lock().unwrap();
            assert_eq!(sc.pinned, [(p as usize, len)]);
            let mut covered = 0;
            for &i in &sc.by_pointer {
                let (opc, detached, b) = &sc.sent[i];
                assert_eq!((*opc, *detached), (op::PREPARE_HOST, false));
                let r = CopyRequest::read_from(b).unwrap();
                assert_eq!((r.stream, r.dst, r.src, r.flags), (0, 0, 0, 0));
                assert_eq!(b.len() - COPY_REQ, r.len as usize, "its range by pointer");
                covered += r.len as usize;
            }
            assert_eq!(covered, len, "the whole allocation");
            sc.by_pointer.len()
        };
        assert_eq!(prepared, len.div_ceil(64 << 10));
        // SAFETY: `p` is `len` bytes of ours, just allocated.
        let host = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
        for (i, b) in host.iter_mut().enumerate() {
            *b = (i * 3) as u8;
        }
        memcpy_htod_async(0x1000, host[..].into(), len, std::ptr::null_mut()).unwrap();
        {
            let sc = sess.script.lock().unwrap();
            let chunks = len.div_ceil(64 << 10);
            assert_eq!(sc.by_pointer.len(), prepared + chunks);
            let mut joined = Vec::new();
            for &i in &sc.by_pointer[prepared..] {
                let (opc, detached, b) = &sc.sent[i];
                assert_eq!((*opc, *detached), (op::MEMCPY_HTOD, true));
                let r = CopyRequest::read_from(b).unwrap();
                assert_eq!(r.flags, copy_flags::ASYNC);
                joined.extend_from_slice(&b[COPY_REQ..]);
            }
            assert_eq!(joined, *host);
        }
        // Pageable memory is still captured for an asynchronous copy.
        let pageable = vec![7u8; len];
        memcpy_htod_async(0x1000, pageable[..].into(), len, std::ptr::null_mut()).unwrap();
        assert_eq!(
            sess.script.lock().unwrap().by_pointer.len(),
            prepared + len.div_ceil(64 << 10)
        );
        mem_free_host(p).unwrap();
        assert!(sess.script.lock().unwrap().pinned.is_empty());
    }

    #[test]
    fn large_device_to_host_copies_land_in_the_callers_buffer() {
        use crate::driver::testing::session_with_data;
        let sess = session_with_data(4096, Some(PATH));
        with_primary();
        let total = 150_000usize;
        let expected: Vec<u8> = (0..total).map(|i| (i * 7 + 1) as u8).collect();
        let mut out = vec![0u8; total];
        let parts: Vec<_> = pieces(out.as_ptr() as usize, total, 64 << 10).collect();
        {
            let mut sc = sess.script.lock().unwrap();
            for part in &parts {
                let mut r = vec![0u8; 8];
                r.extend_from_slice(&expected[part.clone()]);
                sc.responses.push_back(r);
            }
        }
        memcpy_dtoh(out[..].as_mut().into(), 0x2000, total).unwrap();
        assert!(out == expected, "device-to-host data differs");
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.by_pointer.len(), parts.len());
        assert_eq!(sc.most_pages, 16);
        let r = CopyRequest::read_from(&sc.sent[1].2).unwrap();
        assert_eq!(
            (r.src, r.len),
            (0x2000 + parts[1].start as u64, parts[1].len() as u64)
        );
    }

    #[test]
    fn a_short_device_answer_fails_the_copy() {
        use crate::driver::testing::session_with_data;
        let sess = session_with_data(4096, Some(PATH));
        with_primary();
        sess.respond(vec![0u8; 8 + 100]);
        let mut out = vec![0u8; 20_000];
        let n = out.len();
        let r = memcpy_dtoh(out[..].as_mut().into(), 0x2000, n);
        assert_eq!(r, Err(result::UNKNOWN));
    }

    /// A device range of 4 KiB at `base` owned by the current context.
    fn device_range(ctx: u64, base: u64) {
        crate::driver::lock()
            .ptrs
            .add_device(base, 4096, ctx, DeviceKind::Alloc);
    }

    #[test]
    fn unified_copies_take_their_direction_from_the_pointers() {
        let sess = session(1 << 20);
        let ctx = with_primary();
        let (dev_a, dev_b) = (0x10_0000u64, 0x20_0000u64);
        device_range(ctx, dev_a);
        device_range(ctx, dev_b);
        let src = *b"unified";
        let mut dst = [0u8; 7];
        // SAFETY: host operands are local buffers of 7 bytes; device ones
        // are registered ranges (served by the scripted session).
        unsafe {
            // Host to host: a plain copy, no command.
            memcpy(dst.as_mut_ptr() as u64, src.as_ptr() as u64, 7).unwrap();
            assert_eq!(&dst, b"unified");
            // Host to device, device to device (async), device to host.
            memcpy(dev_a + 8, src.as_ptr() as u64, 7).unwrap();
            memcpy_async(dev_b, dev_a + 8, 7, std::ptr::null_mut()).unwrap();
            sess.respond({
                let mut r = vec![0u8; 8];
                r.extend_from_slice(b"fromdev");
                r
            });
            memcpy(dst.as_mut_ptr() as u64, dev_b, 7).unwrap();
        }
        assert_eq!(&dst, b"fromdev");
        let sc = sess.script.lock().unwrap();
        let ops: Vec<(u16, bool)> = sc.sent.iter().map(|c| (c.0, c.1)).collect();
        assert_eq!(
            ops,
            [
                (op::MEMCPY_HTOD, false),
                (op::MEMCPY_DTOD, true),
                (op::MEMCPY_DTOH, false)
            ]
        );
        let h = CopyRequest::read_from(&sc.sent[0].2).unwrap();
        assert_eq!((h.dst, h.len), (dev_a + 8, 7));
        assert_eq!(&sc.sent[0].2[COPY_REQ..], b"unified");
        let d = CopyRequest::read_from(&sc.sent[1].2).unwrap();
        assert_eq!(
            (d.dst, d.src, d.flags),
            (dev_b, dev_a + 8, copy_flags::ASYNC)
        );
        assert_eq!(CopyRequest::read_from(&sc.sent[2].2).unwrap().src, dev_b);
    }

    #[test]
    fn memory_of_a_destroyed_context_is_host_memory_again() {
        let _sess = session(1 << 20);
        let ctx = with_primary();
        device_range(ctx, 0x30_0000);
        assert!(is_device(&crate::driver::lock(), 0x30_0fff));
        crate::driver::lock().objects.remove(&ctx);
        assert!(!is_device(&crate::driver::lock(), 0x30_0000));
        assert_eq!(
            // SAFETY: refused for want of a context before any access.
            unsafe { memcpy(0, 8, 4) },
            Err(result::INVALID_CONTEXT),
            "no context left"
        );
    }

    #[test]
    fn pieces_start_on_pages_after_the_first() {
        let chunk = 16 << 10;
        for addr in [0x10_0000usize, 0x10_0010, 0x10_0ff0, 0x10_0fff] {
            for len in [1usize, 4095, chunk, chunk + 1, 5 * chunk + 77] {
                let parts: Vec<_> = pieces(addr, len, chunk).collect();
                assert_eq!(parts.first().map(|p| p.start), Some(0));
                assert_eq!(parts.last().map(|p| p.end), Some(len));
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert_eq!((addr + w[1].start) % 4096, 0, "{addr:#x}+{len}");
                }
                for p in &parts {
                    let pages = ((addr + p.start) % 4096 + p.len()).div_ceil(4096);
                    assert!(pages <= chunk / 4096, "{addr:#x}+{len}: {p:?} pins {pages}");
                }
            }
        }
    }

    #[test]
    fn copies_the_driver_will_not_pin_are_copied_whole() {
        use crate::driver::testing::session_with_data;
        let sess = session_with_data(4096, Some(PATH));
        with_primary();
        // As under an unprivileged RLIMIT_MEMLOCK with other memory locked:
        // not even one part may be pinned.
        sess.script.lock().unwrap().pin_room = Some(8 << 10);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        memcpy_htod(0x1000, data[..].into(), data.len()).unwrap();
        let sc = sess.script.lock().unwrap();
        assert!(sc.by_pointer.is_empty(), "nothing went by pointer");
        let mut joined = Vec::new();
        for (opc, _, b) in &sc.sent {
            assert_eq!(*opc, op::MEMCPY_HTOD);
            let r = CopyRequest::read_from(b).unwrap();
            assert_eq!(r.dst, 0x1000 + joined.len() as u64);
            joined.extend_from_slice(&b[COPY_REQ..]);
        }
        assert_eq!(joined, data);
        drop(sc);
        // Down: the same, the parts reassembled from copied responses.
        let total = 10_000usize;
        let chunk = 4096 - COPY_REQ.max(core::mem::size_of::<uapi::cuda::ResultHeader>());
        {
            let mut sc = sess.script.lock().unwrap();
            sc.sent.clear();
            for i in 0..total.div_ceil(chunk) {
                let mut r = vec![0u8; 8];
                let n = chunk.min(total - i * chunk);
                r.extend((0..n).map(|k| ((i * chunk + k) * 5) as u8));
                sc.responses.push_back(r);
            }
        }
        let mut out = vec![0u8; total];
        memcpy_dtoh(out[..].as_mut().into(), 0x2000, total).unwrap();
        assert_eq!(out, (0..total).map(|i| (i * 5) as u8).collect::<Vec<_>>());
        assert!(sess.script.lock().unwrap().by_pointer.is_empty());
    }
}
