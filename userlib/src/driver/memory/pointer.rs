//! `cuPointerGetAttribute`, `cuPointerGetAttributes`, `cuPointerSetAttribute`,
//! answered from the registry with what NVIDIA's driver answers (R580 on an
//! H200, measured for every attribute and kind of memory):
//!
//! - unknown memory: the single query is `INVALID_VALUE` and writes nothing;
//!   the bulk query succeeds with "unregistered" values (type 0, device
//!   ordinal -2, host pointer = the pointer, range start/size untouched) —
//!   which is what PyTorch's `is_pinned` (cudaPointerGetAttributes) needs;
//! - P2P tokens are refused by the bulk query for every pointer.
//!
//! Where vgpu differs, honestly: our pinned and registered host memory has
//! no device pointer (single: `INVALID_VALUE`, bulk: 0) and no device
//! access (`ACCESS_FLAGS` 0), since nothing is mapped for the device; no
//! memory is IPC-, GPUDirect-RDMA- or decompression-capable; mapping
//! base/size and block id are the allocation's own (the host's
//! sub-allocation layout is not visible here).

use std::ffi::{c_int, c_uint, c_void};

use uapi::cuda::result;

use super::{device_at, host_at, registry::DeviceKind};
use crate::driver::abi::{MEMORYTYPE_DEVICE, MEMORYTYPE_HOST};
use crate::driver::{with_state, CuResult, State};

use crate::driver::abi::pointer_attr as attr;

const ACCESS_NONE: u32 = 0;
const ACCESS_READWRITE: u32 = 3;
/// `cudaInvalidDeviceId`, the ordinal of unknown memory.
const NO_DEVICE: i32 = -2;

/// A value to store (its C type decides the width) or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    U32(u32),
    I32(i32),
    U64(u64),
    Untouched,
}

/// One attribute: what to store, and the single query's result.
type Answer = (Value, CuResult);

fn ok(v: Value) -> Answer {
    (v, Ok(()))
}

/// Whether a context is current (DEVICE_POINTER needs one).
fn has_current(s: &State) -> bool {
    s.current().is_ok()
}

/// The answer for `attr` of `ptr`; `bulk` selects cuPointerGetAttributes'
/// "unregistered" values for unknown memory.
fn answer(s: &State, a: c_int, ptr: u64, bulk: bool) -> Answer {
    use attr::*;
    use Value::{Untouched, I32, U32, U64};
    if !(CONTEXT..=IS_HW_DECOMPRESS_CAPABLE).contains(&a) {
        return (Untouched, Err(result::INVALID_VALUE));
    }
    if let Some((base, r)) = device_at(s, ptr) {
        let pool = r.kind == DeviceKind::Pool;
        return match a {
            CONTEXT => ok(U64(if pool { 0 } else { r.ctx })),
            MEMORY_TYPE => ok(U32(MEMORYTYPE_DEVICE)),
            DEVICE_POINTER if has_current(s) => ok(U64(ptr)),
            DEVICE_POINTER => (U64(0), Err(result::INVALID_CONTEXT)),
            HOST_POINTER => (U64(0), Err(result::INVALID_VALUE)),
            P2P_TOKENS => (Untouched, Err(result::NOT_SUPPORTED)),
            SYNC_MEMOPS => ok(U32(r.sync_memops.into())),
            BUFFER_ID | MEMORY_BLOCK_ID => ok(U64(r.id)),
            DEVICE_ORDINAL => ok(I32(0)),
            RANGE_START_ADDR | MAPPING_BASE_ADDR => ok(U64(base)),
            RANGE_SIZE | MAPPING_SIZE => ok(U64(r.size)),
            MAPPED => ok(U32(1)),
            ACCESS_FLAGS => ok(U32(ACCESS_READWRITE)),
            MEMPOOL_HANDLE => ok(U64(if pool { s.default_pool } else { 0 })),
            ALLOWED_HANDLE_TYPES => ok(U64(0)),
            // IS_MANAGED, IPC, RDMA, HW_DECOMPRESS: none of it here.
            _ => ok(U32(0)),
        };
    }
    if let Some((base, r)) = host_at(s, ptr as usize) {
        return match a {
            CONTEXT => ok(U64(r.ctx)),
            MEMORY_TYPE => ok(U32(MEMORYTYPE_HOST)),
            DEVICE_POINTER if has_current(s) => (U64(0), Err(result::INVALID_VALUE)),
            DEVICE_POINTER => (U64(0), Err(result::INVALID_CONTEXT)),
            HOST_POINTER => ok(U64(ptr)),
            P2P_TOKENS => (Untouched, Err(result::INVALID_VALUE)),
            SYNC_MEMOPS => ok(U32(r.sync_memops.into())),
            BUFFER_ID | MEMORY_BLOCK_ID => ok(U64(r.id)),
            DEVICE_ORDINAL => ok(I32(0)),
            RANGE_START_ADDR | MAPPING_BASE_ADDR => ok(U64(base as u64)),
            RANGE_SIZE | MAPPING_SIZE => ok(U64(r.size as u64)),
            MAPPED => ok(U32(1)),
            // The device cannot reach it (NVIDIA: READWRITE, or READ for
            // read-only registrations, since there it is mapped).
            ACCESS_FLAGS => ok(U32(ACCESS_NONE)),
            MEMPOOL_HANDLE | ALLOWED_HANDLE_TYPES => ok(U64(0)),
            _ => ok(U32(0)),
        };
    }
    if !bulk {
        return (Untouched, Err(result::INVALID_VALUE));
    }
    match a {
        CONTEXT | DEVICE_POINTER | BUFFER_ID | ALLOWED_HANDLE_TYPES | MEMPOOL_HANDLE
        | MAPPING_SIZE | MAPPING_BASE_ADDR | MEMORY_BLOCK_ID => ok(U64(0)),
        HOST_POINTER => ok(U64(ptr)),
        DEVICE_ORDINAL => ok(I32(NO_DEVICE)),
        RANGE_START_ADDR | RANGE_SIZE => ok(Untouched),
        P2P_TOKENS => (Untouched, Err(result::INVALID_VALUE)),
        _ => ok(U32(0)),
    }
}

/// Stores `v` at `data`.
///
/// # Safety
/// `data` must be valid for a write of the attribute's C type.
unsafe fn store(data: *mut c_void, v: Value) {
    // SAFETY: the caller's contract; C callers need not align these.
    unsafe {
        match v {
            Value::U32(x) => data.cast::<u32>().write_unaligned(x),
            Value::I32(x) => data.cast::<i32>().write_unaligned(x),
            Value::U64(x) => data.cast::<u64>().write_unaligned(x),
            Value::Untouched => {}
        }
    }
}

pub(crate) unsafe fn pointer_get_attribute(data: *mut c_void, a: c_int, ptr: u64) -> CuResult {
    with_state(|s| {
        if data.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let (v, r) = answer(s, a, ptr, false);
        // SAFETY: the C caller's `data`, writable for the attribute's C
        // type; checked non-NULL above.
        unsafe { store(data, v) };
        r
    })
}

pub(crate) unsafe fn pointer_get_attributes(
    n: c_uint,
    attrs: *const c_int,
    data: *mut *mut c_void,
    ptr: u64,
) -> CuResult {
    with_state(|s| {
        if n == 0 || attrs.is_null() || data.is_null() {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the C caller's arrays of `n` entries; checked non-NULL
        // above.
        let attrs = unsafe { std::slice::from_raw_parts(attrs, n as usize) };
        // SAFETY: as above.
        let data = unsafe { std::slice::from_raw_parts(data, n as usize) };
        let answers: Vec<Value> = attrs
            .iter()
            .zip(data)
            .map(|(&a, d)| {
                if d.is_null() {
                    return Err(result::INVALID_VALUE);
                }
                match answer(s, a, ptr, true) {
                    // Attributes the bulk query refuses fail the whole call.
                    (_, Err(result::INVALID_VALUE | result::NOT_SUPPORTED))
                        if a == attr::P2P_TOKENS
                            || !(attr::CONTEXT..=attr::IS_HW_DECOMPRESS_CAPABLE).contains(&a) =>
                    {
                        Err(result::INVALID_VALUE)
                    }
                    // Anything else the single query fails for reads 0/NULL.
                    (v, _) => Ok(v),
                }
            })
            .collect::<CuResult<_>>()?;
        for (&d, v) in data.iter().zip(answers) {
            // SAFETY: the C caller's `data[i]`, writable for attribute
            // `i`'s C type; each checked non-NULL above.
            unsafe { store(d, v) };
        }
        Ok(())
    })
}

pub(crate) unsafe fn pointer_set_attribute(value: *const c_void, a: c_int, ptr: u64) -> CuResult {
    with_state(|s| {
        // Only SYNC_MEMOPS may be set (NVIDIA: MAPPED etc. are INVALID_VALUE).
        if a != attr::SYNC_MEMOPS || value.is_null() {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the C caller's `unsigned int`; checked non-NULL above.
        let on = unsafe { value.cast::<c_uint>().read_unaligned() } != 0;
        // Our copies from and to device memory are synchronous already; the
        // flag is kept so that it reads back.
        if let Some((base, _)) = device_at(s, ptr) {
            if let Some(r) = s.ptrs.device_mut(base) {
                r.sync_memops = on;
            }
            return Ok(());
        }
        let (base, _) = host_at(s, ptr as usize).ok_or(result::INVALID_VALUE)?;
        if let Some(r) = s.ptrs.host_mut(base) {
            r.sync_memops = on;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::super::{
        registry::{DeviceKind, HostKind},
        test_util::with_primary,
    };
    use super::*;
    use crate::driver::{testing::session, with_stack};

    fn single(a: c_int, ptr: u64) -> (CuResult, [u8; 16]) {
        let mut b = [0xaau8; 16];
        // SAFETY: 16 local bytes hold any attribute's value.
        let r = unsafe { pointer_get_attribute(b.as_mut_ptr().cast(), a, ptr) };
        (r, b)
    }

    fn u32_of(b: &[u8]) -> u32 {
        u32::from_le_bytes(b[..4].try_into().unwrap())
    }

    fn u64_of(b: &[u8]) -> u64 {
        u64::from_le_bytes(b[..8].try_into().unwrap())
    }

    #[test]
    fn device_memory_answers() {
        let _s = session(1 << 20);
        let ctx = with_primary();
        crate::driver::lock()
            .ptrs
            .add_device(0x50_0000, 1000, ctx, DeviceKind::Alloc);
        let p = 0x50_000a;
        let (r, b) = single(attr::CONTEXT, p);
        assert_eq!((r, u64_of(&b)), (Ok(()), ctx));
        let (r, b) = single(attr::MEMORY_TYPE, p);
        assert_eq!((r, u32_of(&b)), (Ok(()), MEMORYTYPE_DEVICE));
        assert_eq!(&b[4..8], &[0xaa; 4], "4 bytes written");
        assert_eq!(u64_of(&single(attr::DEVICE_POINTER, p).1), p);
        let (r, b) = single(attr::HOST_POINTER, p);
        assert_eq!((r, u64_of(&b)), (Err(result::INVALID_VALUE), 0));
        assert_eq!(u64_of(&single(attr::RANGE_START_ADDR, p).1), 0x50_0000);
        assert_eq!(u64_of(&single(attr::RANGE_SIZE, p).1), 1000);
        assert_eq!(u32_of(&single(attr::DEVICE_ORDINAL, p).1), 0);
        assert_eq!(u32_of(&single(attr::ACCESS_FLAGS, p).1), 3);
        assert_eq!(u32_of(&single(attr::IS_MANAGED, p).1), 0);
        let id = u64_of(&single(attr::BUFFER_ID, p).1);
        assert_ne!(id, 0);
        assert_eq!(single(attr::P2P_TOKENS, p).0, Err(result::NOT_SUPPORTED));
        assert_eq!(single(0, p).0, Err(result::INVALID_VALUE));
        assert_eq!(single(22, p).0, Err(result::INVALID_VALUE));
        // SYNC_MEMOPS reads back what was set.
        assert_eq!(u32_of(&single(attr::SYNC_MEMOPS, p).1), 0);
        let one: c_uint = 1;
        // SAFETY: a local `unsigned int`.
        unsafe { pointer_set_attribute((&one as *const c_uint).cast(), attr::SYNC_MEMOPS, p) }
            .unwrap();
        assert_eq!(u32_of(&single(attr::SYNC_MEMOPS, p).1), 1);
        assert_eq!(
            // SAFETY: a local `unsigned int`.
            unsafe { pointer_set_attribute((&one as *const c_uint).cast(), attr::MAPPED, p) },
            Err(result::INVALID_VALUE)
        );
        // Without a current context the device pointer is INVALID_CONTEXT.
        with_stack(|st| st.clear());
        assert!(crate::driver::current_ctx().is_none());
        assert_eq!(
            single(attr::DEVICE_POINTER, p).0,
            Err(result::INVALID_CONTEXT)
        );
        assert_eq!(u64_of(&single(attr::CONTEXT, p).1), ctx);
    }

    #[test]
    fn pool_memory_has_no_context_and_names_its_pool() {
        let _s = session(1 << 20);
        let ctx = with_primary();
        let mut s = crate::driver::lock();
        s.default_pool = 0x5555;
        s.ptrs.add_device(0x60_0000, 64, ctx, DeviceKind::Pool);
        drop(s);
        assert_eq!(u64_of(&single(attr::CONTEXT, 0x60_0000).1), 0);
        assert_eq!(u64_of(&single(attr::MEMPOOL_HANDLE, 0x60_0000).1), 0x5555);
    }

    #[test]
    fn host_memory_is_host_and_not_device_visible() {
        let _s = session(1 << 20);
        let ctx = with_primary();
        let buf = vec![0u8; 5000];
        let p = buf.as_ptr() as u64;
        crate::driver::lock()
            .ptrs
            .add_host(p as usize, 5000, 0, ctx, HostKind::Allocated)
            .unwrap();
        assert_eq!(
            u32_of(&single(attr::MEMORY_TYPE, p + 100).1),
            MEMORYTYPE_HOST
        );
        assert_eq!(u64_of(&single(attr::HOST_POINTER, p + 100).1), p + 100);
        assert_eq!(u64_of(&single(attr::CONTEXT, p).1), ctx);
        assert_eq!(u64_of(&single(attr::RANGE_SIZE, p + 1).1), 5000);
        let (r, b) = single(attr::DEVICE_POINTER, p);
        assert_eq!((r, u64_of(&b)), (Err(result::INVALID_VALUE), 0));
        assert_eq!(u32_of(&single(attr::ACCESS_FLAGS, p).1), 0);
    }

    #[test]
    fn unknown_memory_single_fails_bulk_reads_unregistered() {
        let _s = session(1 << 20);
        with_primary();
        let x = [0u8; 4];
        let p = x.as_ptr() as u64;
        let (r, b) = single(attr::MEMORY_TYPE, p);
        assert_eq!((r, b), (Err(result::INVALID_VALUE), [0xaa; 16]));
        // What cudaPointerGetAttributes asks, in one call.
        let attrs = [
            attr::MEMORY_TYPE,
            attr::DEVICE_ORDINAL,
            attr::DEVICE_POINTER,
            attr::HOST_POINTER,
            attr::CONTEXT,
            attr::IS_MANAGED,
            attr::RANGE_START_ADDR,
        ];
        let mut bufs = [[0xaau8; 8]; 7];
        let mut ptrs: Vec<*mut c_void> = bufs.iter_mut().map(|b| b.as_mut_ptr().cast()).collect();
        // SAFETY: local arrays of 7 attributes and 7 8-byte buffers.
        unsafe { pointer_get_attributes(7, attrs.as_ptr(), ptrs.as_mut_ptr(), p) }.unwrap();
        assert_eq!(u32_of(&bufs[0]), 0, "cudaMemoryTypeUnregistered");
        assert_eq!(&bufs[0][4..], &[0xaa; 4]);
        assert_eq!(u32_of(&bufs[1]) as i32, -2);
        assert_eq!(u64_of(&bufs[2]), 0);
        assert_eq!(u64_of(&bufs[3]), p);
        assert_eq!(u64_of(&bufs[4]), 0);
        assert_eq!(u32_of(&bufs[5]), 0);
        assert_eq!(bufs[6], [0xaa; 8], "range start untouched");
        // P2P tokens fail the bulk query, for any pointer.
        let a = [attr::MEMORY_TYPE, attr::P2P_TOKENS];
        assert_eq!(
            // SAFETY: local arrays, 2 of 2 and 7 entries.
            unsafe { pointer_get_attributes(2, a.as_ptr(), ptrs.as_mut_ptr(), p) },
            Err(result::INVALID_VALUE)
        );
        assert_eq!(
            // SAFETY: local arrays (a count of 0 is refused first).
            unsafe { pointer_get_attributes(0, a.as_ptr(), ptrs.as_mut_ptr(), p) },
            Err(result::INVALID_VALUE)
        );
    }
}
