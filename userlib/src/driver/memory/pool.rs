//! The stream-ordered allocator: `cuMemAllocAsync`, `cuMemFreeAsync`,
//! `cuMemAllocFromPoolAsync` and the device's default memory pool, its
//! attributes and trimming. There is one pool, the default one (on the
//! device every client has a pool of its own); creating pools stays
//! unsupported. An allocation needs its address back, so it is a round
//! trip; a free is detached, like an asynchronous memset.
//!
//! Edge cases follow NVIDIA's driver (measured): size 0 allocates nothing
//! and returns 0, freeing 0 succeeds, freeing an address inside an
//! allocation is `INVALID_VALUE`, and any allocation (`cuMemAlloc`'s too)
//! may be freed in stream order.

use crate::driver::abi::Out;
use std::ffi::{c_int, c_void};

use uapi::cuda::{
    cmds, pool_attr, result, MemAllocAsyncRequest, MemFreeAsyncRequest, MemPoolRequest,
    DEFAULT_POOL,
};

use super::{device_at, registry::DeviceKind, with_current, CUstream};
use crate::driver::abi::{CUmemoryPool, CuMemLocation};
use crate::driver::{device::check_device, with_state, CuResult, State};

const LOCATION_DEVICE: c_int = 1;
const ALLOCATION_PINNED: c_int = 1;

/// The guest handle of the default pool (made on first use, then stable).
fn default_pool(s: &mut State) -> u64 {
    if s.default_pool == 0 {
        s.default_pool = s.new_handle();
    }
    s.default_pool
}

/// The wire pool of a guest pool handle: only the default pool exists.
fn wire_pool(s: &State, pool: CUmemoryPool) -> CuResult<u64> {
    if !pool.is_null() && pool as u64 == s.default_pool {
        Ok(DEFAULT_POOL)
    } else {
        Err(result::INVALID_VALUE)
    }
}

/// Checks a (location, allocation type) naming the default pool's place.
unsafe fn check_location(loc: *const c_void, kind: c_int) -> CuResult {
    if loc.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's contract: a `CUmemLocation`; checked non-NULL
    // above.
    let l = unsafe { loc.cast::<CuMemLocation>().read_unaligned() };
    match (l.kind, kind) {
        (LOCATION_DEVICE, ALLOCATION_PINNED) => check_device(l.id),
        // Host and managed pools are not provided.
        (2..=4, ALLOCATION_PINNED) | (LOCATION_DEVICE, 2) => Err(result::NOT_SUPPORTED),
        _ => Err(result::INVALID_VALUE),
    }
}

pub(crate) fn device_get_default_mem_pool(pool: Out<'_, CUmemoryPool>, dev: c_int) -> CuResult {
    with_state(|s| {
        let pool = pool.get()?;
        check_device(dev)?;
        pool.write(default_pool(s) as CUmemoryPool);
        Ok(())
    })
}

/// The current pool is always the default pool.
pub(crate) fn device_get_mem_pool(pool: Out<'_, CUmemoryPool>, dev: c_int) -> CuResult {
    device_get_default_mem_pool(pool, dev)
}

pub(crate) fn device_set_mem_pool(dev: c_int, pool: CUmemoryPool) -> CuResult {
    with_state(|s| {
        check_device(dev)?;
        default_pool(s);
        wire_pool(s, pool).map(drop)
    })
}

pub(crate) unsafe fn mem_get_default_mem_pool(
    pool: Out<'_, CUmemoryPool>,
    loc: *const c_void,
    kind: c_int,
) -> CuResult {
    with_state(|s| {
        let pool = pool.get()?;
        // SAFETY: the C caller's `CUmemLocation`, or NULL (refused).
        unsafe { check_location(loc, kind) }?;
        pool.write(default_pool(s) as CUmemoryPool);
        Ok(())
    })
}

pub(crate) unsafe fn mem_get_mem_pool(
    pool: Out<'_, CUmemoryPool>,
    loc: *const c_void,
    kind: c_int,
) -> CuResult {
    // SAFETY: the C caller's `CUmemLocation`, or NULL (refused).
    unsafe { mem_get_default_mem_pool(pool, loc, kind) }
}

pub(crate) unsafe fn mem_set_mem_pool(
    loc: *const c_void,
    kind: c_int,
    pool: CUmemoryPool,
) -> CuResult {
    with_state(|s| {
        // SAFETY: the C caller's `CUmemLocation`, or NULL (refused).
        unsafe { check_location(loc, kind) }?;
        default_pool(s);
        wire_pool(s, pool).map(drop)
    })
}

fn alloc_async(
    s: &mut State,
    guest: u64,
    wire: u64,
    size: usize,
    stream: CUstream,
) -> CuResult<u64> {
    if size == 0 {
        return Ok(0);
    }
    let req = MemAllocAsyncRequest {
        ctx: wire,
        stream: s.stream_host(stream as u64)?,
        size: size as u64,
        pool: DEFAULT_POOL,
    };
    let (r, _) = s.client()?.call_cmd::<cmds::MemAllocAsync>(&req, &[], 0)?;
    let dptr = r.handle;
    s.ptrs
        .add_device(dptr, size as u64, guest, DeviceKind::Pool);
    Ok(dptr)
}

pub(crate) fn mem_alloc_async(dptr: Out<'_, u64>, size: usize, stream: CUstream) -> CuResult {
    with_current(|s, guest, wire| {
        let dptr = dptr.get()?;
        dptr.write(alloc_async(s, guest, wire, size, stream)?);
        Ok(())
    })
}

pub(crate) fn mem_alloc_from_pool_async(
    dptr: Out<'_, u64>,
    size: usize,
    pool: CUmemoryPool,
    stream: CUstream,
) -> CuResult {
    with_current(|s, guest, wire| {
        let dptr = dptr.get()?;
        wire_pool(s, pool)?;
        dptr.write(alloc_async(s, guest, wire, size, stream)?);
        Ok(())
    })
}

pub(crate) fn mem_free_async(dptr: u64, stream: CUstream) -> CuResult {
    with_current(|s, _, wire| {
        if dptr == 0 {
            return Ok(());
        }
        let stream = s.stream_host(stream as u64)?;
        match device_at(s, dptr) {
            Some((base, _)) if base == dptr => {}
            _ => return Err(result::INVALID_VALUE),
        }
        let req = MemFreeAsyncRequest {
            ctx: wire,
            stream,
            dptr,
        };
        s.client()?.push_cmd::<cmds::MemFreeAsync>(&req, &[])?;
        s.ptrs.remove_device(dptr);
        Ok(())
    })
}

/// The context pool commands carry: the current one, else the primary.
fn any_ctx(s: &State) -> u64 {
    s.current().map_or(0, |(_, wire)| wire)
}

/// The request of an attribute get/set (value 0): a known attribute and
/// a value pointer are required.
fn pool_attribute_request(
    s: &mut State,
    pool: CUmemoryPool,
    a: c_int,
    value: *mut c_void,
) -> CuResult<MemPoolRequest> {
    let pool = wire_pool(s, pool)?;
    let attr = u32::try_from(a).map_err(|_| result::INVALID_VALUE)?;
    if value.is_null() || !pool_attr::is_known(attr) {
        return Err(result::INVALID_VALUE);
    }
    Ok(MemPoolRequest {
        ctx: any_ctx(s),
        pool,
        attr,
        reserved: 0,
        value: 0,
    })
}

pub(crate) unsafe fn mem_pool_get_attribute(
    pool: CUmemoryPool,
    a: c_int,
    value: *mut c_void,
) -> CuResult {
    with_state(|s| {
        let req = pool_attribute_request(s, pool, a, value)?;
        let a = req.attr;
        let (r, _) = s
            .client()?
            .call_cmd::<cmds::MemPoolGetAttribute>(&req, &[], 0)?;
        let v = r.value;
        // SAFETY: the C caller's `value`, writable for the attribute's C
        // type (an int for the reuse flags, else a cuuint64_t); checked
        // non-NULL by `pool_attribute_request`.
        unsafe {
            if a <= pool_attr::REUSE_ALLOW_INTERNAL_DEPENDENCIES {
                value.cast::<i32>().write_unaligned(v as i32);
            } else {
                value.cast::<u64>().write_unaligned(v);
            }
        }
        Ok(())
    })
}

pub(crate) unsafe fn mem_pool_set_attribute(
    pool: CUmemoryPool,
    a: c_int,
    value: *mut c_void,
) -> CuResult {
    with_state(|s| {
        let mut req = pool_attribute_request(s, pool, a, value)?;
        // SAFETY: the C caller's `value`, readable for the attribute's C
        // type (an int for the reuse flags, else a cuuint64_t); checked
        // non-NULL by `pool_attribute_request`.
        req.value = unsafe {
            if req.attr <= pool_attr::REUSE_ALLOW_INTERNAL_DEPENDENCIES {
                u64::from(value.cast::<i32>().read_unaligned() as u32)
            } else {
                value.cast::<u64>().read_unaligned()
            }
        };
        s.client()?
            .call_cmd::<cmds::MemPoolSetAttribute>(&req, &[], 0)
            .map(drop)
    })
}

pub(crate) fn mem_pool_trim_to(pool: CUmemoryPool, keep: usize) -> CuResult {
    with_state(|s| {
        let pool = wire_pool(s, pool)?;
        let req = MemPoolRequest {
            ctx: any_ctx(s),
            pool,
            attr: 0,
            reserved: 0,
            value: keep as u64,
        };
        s.client()?
            .call_cmd::<cmds::MemPoolTrimTo>(&req, &[], 0)
            .map(drop)
    })
}

#[cfg(test)]
mod tests {
    use uapi::{cuda::op, wire::Wire};

    use super::super::test_util::{handle_response, with_primary};
    use super::*;
    use crate::driver::testing::session;

    #[test]
    fn alloc_and_free_in_stream_order() {
        let sess = session(1 << 20);
        let ctx = with_primary();
        sess.respond(handle_response(0x3_0200_0000));
        let mut p = 7u64;
        {
            mem_alloc_async((&mut p).into(), 0, std::ptr::null_mut()).unwrap();
            assert_eq!(p, 0, "size 0: nothing, NULL");
            mem_alloc_async((&mut p).into(), 1000, 2 as CUstream).unwrap();
            assert_eq!(p, 0x3_0200_0000);
            let s = crate::driver::lock();
            let (_, r) = device_at(&s, p + 999).expect("registered");
            assert_eq!((r.kind, r.ctx), (DeviceKind::Pool, ctx));
            drop(s);
            assert_eq!(
                mem_free_async(p + 8, std::ptr::null_mut()),
                Err(result::INVALID_VALUE)
            );
            mem_free_async(0, std::ptr::null_mut()).unwrap();
            mem_free_async(p, std::ptr::null_mut()).unwrap();
            assert!(device_at(&crate::driver::lock(), p).is_none());
            assert_eq!(
                mem_free_async(p, std::ptr::null_mut()),
                Err(result::INVALID_VALUE),
                "already freed"
            );
        }
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.sent.len(), 1, "the free waits in the batch");
        let a = MemAllocAsyncRequest::read_from(&sc.sent[0].2).unwrap();
        assert_eq!(
            (sc.sent[0].0, a.size, a.stream, a.pool),
            (op::MEM_ALLOC_ASYNC, 1000, 0, 0)
        );
        drop(sc);
        crate::driver::lock().client().unwrap().flush().unwrap();
        let sc = sess.script.lock().unwrap();
        let (opc, detached, body) = &sc.sent[1];
        assert_eq!((*opc, *detached), (op::MEM_FREE_ASYNC, true));
        assert_eq!(
            MemFreeAsyncRequest::read_from(body).unwrap().dptr,
            0x3_0200_0000
        );
    }

    #[test]
    fn the_default_pool_and_its_attributes() {
        let sess = session(1 << 20);
        let mut pool: CUmemoryPool = std::ptr::null_mut();
        let mut again: CUmemoryPool = std::ptr::null_mut();
        // SAFETY: locations and attribute values are locals of their C
        // types.
        unsafe {
            device_get_default_mem_pool((&mut pool).into(), 0).unwrap();
            device_get_mem_pool((&mut again).into(), 0).unwrap();
            assert!(!pool.is_null());
            assert_eq!(pool, again);
            assert_eq!(
                device_get_default_mem_pool((&mut again).into(), 1),
                Err(result::INVALID_DEVICE)
            );
            let loc = CuMemLocation { kind: 1, id: 0 };
            mem_get_default_mem_pool(
                (&mut again).into(),
                (&loc as *const CuMemLocation).cast(),
                1,
            )
            .unwrap();
            assert_eq!(pool, again);
            let host = CuMemLocation { kind: 2, id: 0 };
            assert_eq!(
                mem_get_mem_pool(
                    (&mut again).into(),
                    (&host as *const CuMemLocation).cast(),
                    1
                ),
                Err(result::NOT_SUPPORTED)
            );
            device_set_mem_pool(0, pool).unwrap();
            assert_eq!(
                device_set_mem_pool(0, 0x1234 as CUmemoryPool),
                Err(result::INVALID_VALUE)
            );
            let mut threshold = u64::MAX;
            mem_pool_set_attribute(pool, 4, (&mut threshold as *mut u64).cast()).unwrap();
            let mut reuse: i32 = 0;
            mem_pool_set_attribute(pool, 2, (&mut reuse as *mut i32).cast()).unwrap();
            assert_eq!(
                mem_pool_set_attribute(pool, 9, (&mut reuse as *mut i32).cast()),
                Err(result::INVALID_VALUE)
            );
            let mut r = vec![0u8; 8];
            r.extend_from_slice(&1u64.to_le_bytes());
            sess.respond(r);
            let mut got = [0xaau8; 8];
            mem_pool_get_attribute(pool, 1, got.as_mut_ptr().cast()).unwrap();
            assert_eq!(got, [1, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa], "an int");
            mem_pool_trim_to(pool, 4096).unwrap();
        }
        let sc = sess.script.lock().unwrap();
        let sent: Vec<(u16, MemPoolRequest)> = sc
            .sent
            .iter()
            .map(|c| (c.0, MemPoolRequest::read_from(&c.2).unwrap()))
            .collect();
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[0].0, op::MEM_POOL_SET_ATTRIBUTE);
        assert_eq!((sent[0].1.attr, sent[0].1.value), (4, u64::MAX));
        assert_eq!((sent[1].1.attr, sent[1].1.value), (2, 0));
        assert_eq!((sent[2].0, sent[2].1.attr), (op::MEM_POOL_GET_ATTRIBUTE, 1));
        assert_eq!((sent[3].0, sent[3].1.value), (op::MEM_POOL_TRIM_TO, 4096));
    }
}
