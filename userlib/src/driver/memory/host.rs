//! Host memory: `cuMemHostAlloc`/`cuMemAllocHost` (on the socket's
//! shared-memory transport, memory shared with the worker, which registers
//! it with the GPU, so copies from and to it move in place; on the device
//! transport page-aligned guest memory pinned by the driver once, so copies
//! from it pin nothing and asynchronous ones go by pointer, detached; never
//! device-visible), registration (pinned once on the device transport,
//! bookkeeping elsewhere), and the device pointer of host memory, which does not
//! exist here: there is no zero-copy access, so the host masks
//! `CAN_MAP_HOST_MEMORY` and `cuMemHostGetDevicePointer` fails honestly.
//!
//! Error codes follow NVIDIA's driver as measured (R580, H200).

use crate::driver::abi::Out;
use std::ffi::{c_uint, c_void};

use uapi::cuda::{cmds, result, CopyRequest};

use super::{host_at, registry::HostKind, with_current};
use crate::driver::{client::Data, with_state, CuResult};

/// `CU_MEMHOSTALLOC_PORTABLE | DEVICEMAP | WRITECOMBINED`.
const HOST_ALLOC_FLAGS: u32 = 0x7;
/// `CU_MEMHOSTREGISTER_PORTABLE | DEVICEMAP | IOMEMORY | READ_ONLY`.
const HOST_REGISTER_FLAGS: u32 = 0xf;
const HOST_REGISTER_IOMEMORY: u32 = 0x4;

pub(crate) unsafe fn mem_host_alloc(pp: *mut *mut c_void, size: usize, flags: c_uint) -> CuResult {
    with_current(|s, guest, wire| {
        if pp.is_null() || flags & !HOST_ALLOC_FLAGS != 0 {
            return Err(result::INVALID_VALUE);
        }
        // NVIDIA's driver answers size 0 with success and NULL.
        if size == 0 {
            // SAFETY: the caller's out-pointer; checked non-NULL above.
            unsafe { *pp = std::ptr::null_mut() };
            return Ok(());
        }
        // Shared with the device side where the transport can (the socket's
        // host memory: copies move in place, asynchronous ones truly so);
        // else ordinary page-aligned memory of ours.
        let shared = match s.client()?.host_alloc(size) {
            Some(Ok(block)) => Some(block),
            Some(Err(e)) => {
                tracing::debug!(size, e, "no shared host memory; allocating our own");
                None
            }
            None => None,
        };
        let mut p: *mut c_void = std::ptr::null_mut();
        let align = own_alignment(size);
        match shared {
            Some(block) => p = block.ptr.cast(),
            // SAFETY: `p` is a local out-pointer; `align` is a power of two
            // and a multiple of the pointer size.
            None if unsafe { libc::posix_memalign(&mut p, align, size) } == 0 && !p.is_null() => {
                if align == HUGE_PAGE {
                    // Huge pages where the kernel gives them on request: the
                    // buffer is then contiguous in (guest) RAM in 2 MiB runs,
                    // which the host can register with the GPU. Only a hint.
                    // SAFETY: `p` is 2 MiB-aligned and the whole pages of
                    // `size` bytes from it are this fresh allocation.
                    let _ = unsafe { libc::madvise(p, size - size % 4096, libc::MADV_HUGEPAGE) };
                }
            }
            None => return Err(result::OUT_OF_MEMORY),
        }
        if let Err(e) = s
            .ptrs
            .add_host(p as usize, size, flags, guest, HostKind::Allocated)
        {
            // Only if the allocator handed out memory we think is registered.
            match shared {
                Some(block) => {
                    let _ = s.client()?.host_free(block);
                }
                // SAFETY: `p` came from posix_memalign just above.
                None => unsafe { libc::free(p) },
            }
            return Err(e);
        }
        match shared {
            Some(block) => s.ptrs.set_host_shared(p as usize, block),
            // Pinned once here (the device transport), so that copies from
            // it never pin.
            None => {
                // SAFETY: `p` is this fresh allocation of `size` bytes, and
                // pinning it had the kernel fault in (zero-fill) every page.
                unsafe { pin_and_prepare(s, wire, p as usize, size) };
            }
        }
        // SAFETY: the caller's out-pointer; checked non-NULL above.
        unsafe { *pp = p };
        Ok(())
    })
}

/// A huge page of x86-64 and arm64 (4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Alignment of our own host allocations: whole pages, and whole huge
/// pages from one up.
fn own_alignment(size: usize) -> usize {
    if size >= HUGE_PAGE {
        HUGE_PAGE
    } else {
        4096
    }
}

pub(crate) unsafe fn mem_alloc_host(pp: *mut *mut c_void, size: usize) -> CuResult {
    // SAFETY: the C caller's out-pointer, as `cuMemAllocHost` defines it.
    unsafe { mem_host_alloc(pp, size, 0) }
}

/// Frees only what the registry holds as our own allocation, so no
/// contract is left to the caller.
pub(crate) fn mem_free_host(p: *mut c_void) -> CuResult {
    with_state(|s| {
        let shared = match host_at(s, p as usize) {
            Some((base, r)) if base == p as usize && r.kind == HostKind::Allocated => r.shared,
            _ => return Err(result::INVALID_VALUE),
        };
        s.ptrs.remove_host(p as usize);
        if let Some(block) = shared {
            // After the work queued before, which may still use it.
            return s.client()?.host_free(block);
        }
        if let Ok(c) = s.client() {
            c.unpin_host(p as usize);
        }
        // SAFETY: `p` is the base of a live allocation of
        // `mem_host_alloc` (posix_memalign), checked just above, and is
        // unregistered before it is freed.
        unsafe { libc::free(p) };
        Ok(())
    })
}

pub(crate) fn mem_host_get_flags(flags: Out<'_, c_uint>, p: *mut c_void) -> CuResult {
    with_state(|s| {
        let flags = flags.get()?;
        // The flags as given: NVIDIA's driver adds DEVICEMAP (all pinned
        // memory is mapped under UVA there); nothing is mapped here.
        let (_, r) = host_at(s, p as usize).ok_or(result::INVALID_VALUE)?;
        flags.write(r.flags);
        Ok(())
    })
}

pub(crate) fn mem_host_register(p: *mut c_void, size: usize, flags: c_uint) -> CuResult {
    with_current(|s, guest, wire| {
        if p.is_null() || size == 0 || flags & !HOST_REGISTER_FLAGS != 0 {
            return Err(result::INVALID_VALUE);
        }
        if flags & HOST_REGISTER_IOMEMORY != 0 {
            tracing::warn!("cuMemHostRegister: I/O memory cannot be registered with vgpu");
            return Err(result::NOT_SUPPORTED);
        }
        s.ptrs
            .add_host(p as usize, size, flags, guest, HostKind::Registered)?;
        // SAFETY: the caller's memory of `size` bytes at `p`, which it
        // registers for as long as it lives.
        unsafe { pin_and_prepare(s, wire, p as usize, size) };
        Ok(())
    })
}

/// Pins host memory once (the device transport) and has the device
/// register its pages for context `ctx` now, as NVIDIA's driver readies
/// pinned memory when it is allocated or registered, so that its first copy
/// does not pay for that. Both best effort: a copy pins and registers what
/// is not.
///
/// # Safety
///
/// `[addr, addr + len)` is live memory the caller owns, initialised (its
/// bytes are never read here: the driver pins its pages, and the device
/// reads nothing of a PREPARE_HOST).
unsafe fn pin_and_prepare(s: &mut crate::driver::State, ctx: u64, addr: usize, len: usize) {
    let Ok(c) = s.client() else {
        return;
    };
    if !c.pin_host(addr, len) {
        return;
    }
    let Some(chunk) = c.data_chunk(len) else {
        return;
    };
    // SAFETY: the caller's contract.
    let data = unsafe { std::slice::from_raw_parts(addr as *const u8, len) };
    let calls = data
        .chunks(chunk)
        .map(|part| {
            let req = CopyRequest {
                ctx,
                len: part.len() as u64,
                ..CopyRequest::default()
            };
            (req, Data::In(part))
        })
        .collect();
    match c.call_pipelined_data::<cmds::PrepareHost>(calls, |_, _, _| Ok(())) {
        Ok(true) => {}
        Ok(false) => tracing::debug!(len, "pinned host memory not prepared: pages not pinned"),
        Err(e) => tracing::debug!(len, e, "pinned host memory not prepared"),
    }
}

pub(crate) fn mem_host_unregister(p: *mut c_void) -> CuResult {
    with_state(|s| {
        if p.is_null() {
            return Err(result::INVALID_VALUE);
        }
        match host_at(s, p as usize) {
            Some((base, r)) if base == p as usize && r.kind == HostKind::Registered => {
                s.ptrs.remove_host(base);
                if let Ok(c) = s.client() {
                    c.unpin_host(base);
                }
                Ok(())
            }
            // Inside a registration, or pinned memory of ours.
            Some(_) => Err(result::INVALID_VALUE),
            None => Err(result::HOST_MEMORY_NOT_REGISTERED),
        }
    })
}

pub(crate) fn mem_host_get_device_pointer(
    pdptr: Out<'_, u64>,
    p: *mut c_void,
    flags: c_uint,
) -> CuResult {
    with_current(|s, _, _| {
        if pdptr.is_null() || flags != 0 {
            return Err(result::INVALID_VALUE);
        }
        if host_at(s, p as usize).is_none() {
            return Err(result::INVALID_VALUE);
        }
        tracing::warn!(
            "cuMemHostGetDevicePointer: host memory is not device-visible with vgpu \
             (no zero-copy); CUDA_ERROR_NOT_SUPPORTED"
        );
        Err(result::NOT_SUPPORTED)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::with_primary;
    use super::*;
    use crate::driver::testing::session;

    #[test]
    fn pinned_allocations_and_flags() {
        let _s = session(1 << 20);
        let mut p: *mut c_void = std::ptr::null_mut();
        assert_eq!(
            // SAFETY: `p` is a local out-pointer.
            unsafe { mem_host_alloc(&mut p, 64, 0) },
            Err(result::INVALID_CONTEXT)
        );
        with_primary();
        // SAFETY: `p` is a local out-pointer; the offsets stay within (or
        // one past) its 5000-byte allocation.
        unsafe {
            assert_eq!(mem_host_alloc(&mut p, 64, 8), Err(result::INVALID_VALUE));
            p = std::ptr::dangling_mut::<c_void>();
            mem_host_alloc(&mut p, 0, 0).unwrap();
            assert!(p.is_null(), "size 0 gives NULL");
            mem_host_alloc(&mut p, 5000, 0x2 | 0x4).unwrap();
            assert_eq!(p as usize % 4096, 0);
            let mut f = 0;
            mem_host_get_flags((&mut f).into(), p.cast::<u8>().add(4999).cast()).unwrap();
            assert_eq!(f, 6);
            assert_eq!(
                mem_host_get_flags((&mut f).into(), p.cast::<u8>().add(5000).cast()),
                Err(result::INVALID_VALUE)
            );
            assert_eq!(
                mem_free_host(p.cast::<u8>().add(8).cast()),
                Err(result::INVALID_VALUE)
            );
            assert_eq!(mem_host_unregister(p), Err(result::INVALID_VALUE));
            assert_eq!(mem_host_register(p, 16, 0), Err(result::INVALID_VALUE));
            mem_free_host(p).unwrap();
            assert_eq!(mem_free_host(p), Err(result::INVALID_VALUE));
        }
    }

    #[test]
    fn shared_pinned_memory_is_copied_by_offset() {
        use crate::driver::memory::copy::{memcpy_dtoh, memcpy_htod, memcpy_htod_async};
        use uapi::cuda::{copy_flags, op, CopyRequest};
        use uapi::wire::Wire;
        let sess = crate::driver::testing::session_with_host_memory(1 << 20);
        with_primary();
        let (mut a, mut b): (*mut c_void, *mut c_void) =
            (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: local out-pointers; the copies stay inside the 3 pages of
        // each allocation (one is left straddling its end on purpose: it is
        // then copied, not named by offset).
        unsafe {
            mem_alloc_host(&mut a, 3 * 4096).unwrap();
            mem_host_alloc(&mut b, 100, 0).unwrap();
            let src = std::slice::from_raw_parts(a.cast::<u8>().add(10), 5000);
            memcpy_htod(0x1000, src.into(), 5000).unwrap();
            memcpy_htod_async(0x2000, src.into(), 5000, std::ptr::null_mut()).unwrap();
            let dst = std::slice::from_raw_parts_mut(b.cast::<u8>(), 100);
            memcpy_dtoh(dst.as_mut().into(), 0x3000, 100).unwrap();
            let past = std::slice::from_raw_parts(a.cast::<u8>().add(3 * 4096 - 8), 8);
            let mut outside = [0u8; 16];
            outside[..8].copy_from_slice(past);
            memcpy_htod(0x4000, outside[..].into(), 16).unwrap();
            mem_free_host(a).unwrap();
            mem_free_host(b).unwrap();
        }
        let sc = sess.script.lock().unwrap();
        let (a_off, b_off) = (sc.host_blocks[0].0, sc.host_blocks[1].0);
        let head = core::mem::size_of::<CopyRequest>();
        let copies: Vec<(u16, bool, CopyRequest, usize)> = sc
            .sent
            .iter()
            .map(|(o, d, body)| (*o, *d, CopyRequest::read_from(body).unwrap(), body.len()))
            .collect();
        let hm = copy_flags::HOST_MEMORY;
        assert_eq!(
            copies[0],
            (
                op::MEMCPY_HTOD,
                false,
                CopyRequest {
                    dst: 0x1000,
                    src: a_off + 10,
                    len: 5000,
                    flags: hm,
                    ..Default::default()
                },
                head
            ),
            "one command naming the offset, no data"
        );
        assert_eq!(
            (copies[1].0, copies[1].1, copies[1].2.flags),
            (op::MEMCPY_HTOD, true, hm | copy_flags::ASYNC)
        );
        assert_eq!(
            (copies[2].0, copies[2].2.dst, copies[2].2.flags, copies[2].3),
            (op::MEMCPY_DTOH, b_off, hm, head)
        );
        // Not inside one shared allocation: copied as before.
        assert_eq!((copies[3].2.flags, copies[3].3), (0, head + 16));
        assert_eq!(copies.len(), 4);
        // Freed after the queued copy was sent.
        assert_eq!(sc.host_freed, [(a_off, 4), (b_off, 4)]);
    }

    #[test]
    fn async_dtoh_into_shared_pinned_memory_is_detached() {
        use crate::driver::memory::copy::{memcpy_async, memcpy_dtoh, memcpy_dtoh_async};
        use uapi::cuda::{copy_flags, op, CopyRequest};
        use uapi::wire::Wire;
        let sess = crate::driver::testing::session_with_host_memory(1 << 20);
        let ctx = with_primary();
        let dev = 0x30_0000u64;
        crate::driver::lock().ptrs.add_device(
            dev,
            4096,
            ctx,
            super::super::registry::DeviceKind::Alloc,
        );
        let mut a: *mut c_void = std::ptr::null_mut();
        let mut pageable = vec![0u8; 64];
        // SAFETY: a local out-pointer; the copies stay inside the block.
        unsafe {
            mem_alloc_host(&mut a, 2 * 4096).unwrap();
            let dst = std::slice::from_raw_parts_mut(a.cast::<u8>().add(100), 1000);
            memcpy_dtoh_async(dst.as_mut().into(), 0x3000, 1000, std::ptr::null_mut()).unwrap();
            // By pointer (cuMemcpyAsync): the same way.
            memcpy_async(a as u64 + 4096, dev, 16, std::ptr::null_mut()).unwrap();
            memcpy_dtoh(dst.as_mut().into(), 0x3000, 1000).unwrap();
            // The pageable copy waits for its data: the device's answer.
            let mut answer = vec![0u8; 8];
            answer.extend(1..=64u8);
            sess.respond(answer);
            memcpy_dtoh_async(
                pageable[..].as_mut().into(),
                0x4000,
                64,
                std::ptr::null_mut(),
            )
            .unwrap();
            mem_free_host(a).unwrap();
        }
        assert_eq!(pageable, (1..=64u8).collect::<Vec<_>>());
        let sc = sess.script.lock().unwrap();
        let a_off = sc.host_blocks[0].0;
        let (hm, asy) = (copy_flags::HOST_MEMORY, copy_flags::ASYNC);
        let copies: Vec<(u16, bool, CopyRequest)> = sc
            .sent
            .iter()
            .map(|(o, d, body)| (*o, *d, CopyRequest::read_from(body).unwrap()))
            .collect();
        let seen: Vec<(u16, bool, u64, u64, u32)> = copies
            .iter()
            .map(|(o, d, r)| (*o, *d, r.dst, r.len, r.flags))
            .collect();
        assert_eq!(
            seen,
            [
                // Asynchronous into the block: detached, by offset.
                (op::MEMCPY_DTOH, true, a_off + 100, 1000, hm | asy),
                (op::MEMCPY_DTOH, true, a_off + 4096, 16, hm | asy),
                // Synchronous: still waits.
                (op::MEMCPY_DTOH, false, a_off + 100, 1000, hm),
                // Asynchronous into pageable memory: waits, data in the response.
                (op::MEMCPY_DTOH, false, 0, 64, 0),
            ]
        );
        // The block was freed only after its queued copies went out.
        assert_eq!(sc.host_freed, [(a_off, 4)]);
    }

    #[test]
    fn a_host_copy_touching_shared_pinned_memory_waits_for_the_stream() {
        use crate::driver::memory::copy::memcpy_async;
        use uapi::cuda::op;
        let sess = crate::driver::testing::session_with_host_memory(1 << 20);
        let ctx = with_primary();
        let dev = 0x30_0000u64;
        crate::driver::lock().ptrs.add_device(
            dev,
            4096,
            ctx,
            super::super::registry::DeviceKind::Alloc,
        );
        let mut a: *mut c_void = std::ptr::null_mut();
        let mut plain = vec![5u8; 32];
        let other = vec![6u8; 32];
        // SAFETY: a local out-pointer; the copies stay inside the block.
        unsafe {
            mem_alloc_host(&mut a, 4096).unwrap();
            memcpy_async(a as u64, dev, 32, std::ptr::null_mut()).unwrap();
            // Reads what the queued copy writes: after the stream.
            memcpy_async(
                plain.as_mut_ptr() as u64,
                a as u64,
                32,
                std::ptr::null_mut(),
            )
            .unwrap();
            // Neither side pinned: at once, nothing sent.
            memcpy_async(
                plain.as_mut_ptr() as u64,
                other.as_ptr() as u64,
                32,
                std::ptr::null_mut(),
            )
            .unwrap();
            mem_free_host(a).unwrap();
        }
        assert_eq!(plain, other);
        assert_eq!(
            sess.opcodes(),
            [op::MEMCPY_DTOH, op::STREAM_SYNCHRONIZE],
            "the queued copy, then the wait"
        );
    }

    #[test]
    fn registration_is_bookkeeping_with_cudas_errors() {
        let _s = session(1 << 20);
        with_primary();
        let mut buf = vec![0u8; 3 * 4096];
        let p = buf.as_mut_ptr().cast::<c_void>();
        // SAFETY: the offsets stay within `buf`.
        unsafe {
            assert_eq!(mem_host_register(p, 0, 0), Err(result::INVALID_VALUE));
            assert_eq!(mem_host_register(p, 16, 0x40), Err(result::INVALID_VALUE));
            assert_eq!(mem_host_register(p, 16, 0x4), Err(result::NOT_SUPPORTED));
            mem_host_register(p, 8192, 0x8).unwrap();
            assert_eq!(
                mem_host_register(p.cast::<u8>().add(4096).cast(), 4096, 0),
                Err(result::HOST_MEMORY_ALREADY_REGISTERED)
            );
            let mut f = 0;
            mem_host_get_flags((&mut f).into(), p.cast::<u8>().add(100).cast()).unwrap();
            assert_eq!(f, 0x8);
            let mut d = 0u64;
            assert_eq!(
                mem_host_get_device_pointer((&mut d).into(), p, 0),
                Err(result::NOT_SUPPORTED)
            );
            assert_eq!(
                mem_host_get_device_pointer((&mut d).into(), p, 1),
                Err(result::INVALID_VALUE)
            );
            let other = [0u8; 8];
            assert_eq!(
                mem_host_get_device_pointer((&mut d).into(), other.as_ptr() as *mut c_void, 0),
                Err(result::INVALID_VALUE)
            );
            assert_eq!(
                mem_host_unregister(p.cast::<u8>().add(8).cast()),
                Err(result::INVALID_VALUE)
            );
            mem_host_unregister(p).unwrap();
            assert_eq!(
                mem_host_unregister(p),
                Err(result::HOST_MEMORY_NOT_REGISTERED)
            );
        }
    }
}
