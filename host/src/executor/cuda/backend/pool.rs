//! The stream-ordered allocator on the real GPU. Each client allocates from
//! a pool of its own (`cuMemPoolCreate`: pinned, on our device, not
//! exportable) rather than the device's default pool, which every client
//! of this process would share: its release threshold and reuse settings
//! would be one client's to change for all, and its usage statistics would
//! show one client's memory to another.
//!
//! Pool allocations are regions like `cuMemAlloc`'s (copies, memsets and
//! frees accept them) with one difference: CUDA does not free them with
//! their context, so the context's teardown does, and the pool goes with
//! the client.

use super::*;

use super::{GpuClient, Region};
use crate::cuda::backend::CuResult;
use crate::executor::cuda::driver::{check, CUdeviceptr, CUmemoryPool, CuMemPoolProps};
use std::ffi::{c_int, c_void};
use uapi::cuda::pool_attr;
use uapi::cuda::result::{INVALID_VALUE, NOT_SUPPORTED};
use uapi::cuda::DEFAULT_POOL;

impl GpuClient {
    /// The client's pool, created on first use (a context must be current).
    fn client_pool(&mut self, pool: u64) -> CuResult<CUmemoryPool> {
        if pool != DEFAULT_POOL {
            return Err(INVALID_VALUE);
        }
        if let Some(p) = self.pool {
            return Ok(p);
        }
        let create = self.driver.api().mem_pool_create.ok_or(NOT_SUPPORTED)?;
        let props = CuMemPoolProps::device(self.device);
        let mut p: CUmemoryPool = std::ptr::null_mut();
        // SAFETY: valid out-pointer and properties (cuda.h layout).
        check(unsafe { create(&mut p, &props) })?;
        self.pool = Some(p);
        Ok(p)
    }
    /// Frees the pool allocations of context `key` (current), after its
    /// work (measured on R580: destroying a context leaves them allocated).
    pub(super) fn free_pooled(&mut self, key: u64) {
        let mine: Vec<u64> = self
            .allocations
            .iter()
            .filter(|(_, r)| r.ctx == key && r.pooled)
            .map(|(&b, _)| b)
            .collect();
        if mine.is_empty() {
            return;
        }
        let api = *self.driver.api();
        for b in mine {
            // SAFETY: a live pool allocation of this client; freed in stream
            // order after the work that may use it.
            let _ = unsafe {
                match api.mem_free_async {
                    Some(free) => free(b, std::ptr::null_mut()),
                    None => (api.mem_free)(b),
                }
            };
            self.allocations.remove(&b);
        }
        // SAFETY: the context is current; the frees complete before it goes.
        let _ = unsafe { (api.ctx_synchronize)() };
    }
    /// Destroys the client's pool (its allocations are freed already).
    pub(super) fn destroy_pool(&mut self) {
        if let (Some(p), Some(destroy)) = (self.pool.take(), self.driver.api().mem_pool_destroy) {
            // SAFETY: our pool; nothing allocated from it is live.
            let _ = unsafe { destroy(p) };
        }
    }
}

impl PoolBackend for GpuClient {
    fn mem_alloc_async(&mut self, ctx: u64, stream: u64, size: u64, pool: u64) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let s = self.stream_in(key, stream)?;
        let p = self.client_pool(pool)?;
        let alloc = self
            .driver
            .api()
            .mem_alloc_from_pool_async
            .ok_or(NOT_SUPPORTED)?;
        let len = usize::try_from(size).map_err(|_| INVALID_VALUE)?;
        let mut dptr: CUdeviceptr = 0;
        // SAFETY: valid out-pointer; our pool; a stream of the current context.
        check(unsafe { alloc(&mut dptr, len, p, s) })?;
        self.allocations.insert(
            dptr,
            Region {
                size,
                ctx: key,
                module: 0,
                pooled: true,
            },
        );
        Ok(dptr)
    }
    /// Frees any allocation of the client (CUDA allows `cuMemAlloc`'s too).
    fn mem_free_async(&mut self, ctx: u64, stream: u64, dptr: u64) -> CuResult<()> {
        if !self.allocations.contains_key(&dptr) {
            return Err(INVALID_VALUE);
        }
        let key = self.enter(ctx)?;
        let s = self.stream_in(key, stream)?;
        let free = self.driver.api().mem_free_async.ok_or(NOT_SUPPORTED)?;
        // SAFETY: a live allocation of this client; a stream of the current context.
        check(unsafe { free(dptr, s) })?;
        self.allocations.remove(&dptr);
        Ok(())
    }
    fn mem_pool_get_attribute(&mut self, ctx: u64, pool: u64, attr: u32) -> CuResult<u64> {
        self.enter(ctx)?;
        let p = self.client_pool(pool)?;
        let get = self
            .driver
            .api()
            .mem_pool_get_attribute
            .ok_or(NOT_SUPPORTED)?;
        let a = known(attr)?;
        // Large enough for either value type (int or cuuint64_t).
        let mut v = 0u64;
        // SAFETY: our pool; `v` holds the attribute's type (checked above).
        check(unsafe { get(p, a, (&mut v as *mut u64).cast::<c_void>()) })?;
        Ok(if is_int(attr) { u64::from(v as u32) } else { v })
    }
    fn mem_pool_set_attribute(
        &mut self,
        ctx: u64,
        pool: u64,
        attr: u32,
        value: u64,
    ) -> CuResult<()> {
        self.enter(ctx)?;
        let p = self.client_pool(pool)?;
        let set = self
            .driver
            .api()
            .mem_pool_set_attribute
            .ok_or(NOT_SUPPORTED)?;
        let a = known(attr)?;
        let mut int = value as u32 as i32;
        let mut wide = value;
        let arg: *mut c_void = if is_int(attr) {
            (&mut int as *mut i32).cast()
        } else {
            (&mut wide as *mut u64).cast()
        };
        // SAFETY: our pool; `arg` points to the attribute's type.
        check(unsafe { set(p, a, arg) })
    }
    fn mem_pool_trim_to(&mut self, ctx: u64, pool: u64, keep: u64) -> CuResult<()> {
        self.enter(ctx)?;
        let p = self.client_pool(pool)?;
        let trim = self.driver.api().mem_pool_trim_to.ok_or(NOT_SUPPORTED)?;
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        // SAFETY: our pool.
        check(unsafe { trim(p, keep) })
    }
}

/// `INVALID_VALUE` unless `attr` is a known pool attribute (the value
/// buffer's size depends on it).
fn known(attr: u32) -> CuResult<c_int> {
    if pool_attr::is_known(attr) {
        Ok(attr as c_int)
    } else {
        Err(INVALID_VALUE)
    }
}

/// Attributes of C type `int` (the others are `cuuint64_t`).
fn is_int(attr: u32) -> bool {
    attr <= pool_attr::REUSE_ALLOW_INTERNAL_DEPENDENCIES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda::backend::{ContextBackend, MemoryBackend};
    use crate::executor::cuda::fake;

    fn client() -> GpuClient {
        GpuClient::new(
            fake::driver(),
            0,
            vec![0; uapi::cuda::ATTRIBUTE_COUNT].into(),
        )
    }

    #[test]
    fn pool_memory_is_the_clients_own_and_never_leaks() {
        let mut c = client();
        let p = c.mem_alloc_async(0, 0, 4096, DEFAULT_POOL).expect("alloc");
        assert_eq!(fake::with(|f| f.pools.len()), 1, "the client's own pool");
        assert_eq!(
            c.mem_alloc_async(0, 0, 8, 7),
            Err(INVALID_VALUE),
            "no other pool"
        );
        // Copies and memsets accept it; the ranges are checked as ever.
        c.memcpy_htod(0, 0, p, &[1, 2, 3], true).expect("htod");
        let mut out = [0u8; 3];
        c.memcpy_dtoh(0, 0, p, &mut out).expect("dtoh");
        assert_eq!(out, [1, 2, 3]);
        assert_eq!(c.memcpy_dtoh(0, 0, p + 4095, &mut out), Err(INVALID_VALUE));
        assert_eq!(c.memory_used(), 4096);
        // Freed in stream order; then unknown.
        let q = c.mem_alloc_async(0, 0, 64, DEFAULT_POOL).expect("alloc");
        c.mem_free_async(0, 0, q).expect("free");
        assert_eq!(fake::with(|f| f.freed_async.clone()), vec![q]);
        assert_eq!(c.mem_free_async(0, 0, q), Err(INVALID_VALUE));
        assert_eq!(c.memcpy_htod(0, 0, q, &[0], false), Err(INVALID_VALUE));
        // A cuMemAlloc allocation may be freed in stream order too.
        let r = c.mem_alloc(0, 64).expect("alloc");
        c.mem_free_async(0, 0, r).expect("free plain");
        // Attributes: ints and u64s, forwarded.
        assert_eq!(c.mem_pool_get_attribute(0, 0, 1), Ok(1));
        c.mem_pool_set_attribute(0, 0, 4, u64::MAX)
            .expect("threshold");
        assert_eq!(c.mem_pool_get_attribute(0, 0, 4), Ok(u64::MAX));
        c.mem_pool_set_attribute(0, 0, 2, 0).expect("int");
        assert_eq!(c.mem_pool_get_attribute(0, 0, 2), Ok(0));
        assert_eq!(c.mem_pool_set_attribute(0, 0, 8, 3), Err(INVALID_VALUE));
        assert_eq!(c.mem_pool_get_attribute(0, 0, 9), Err(INVALID_VALUE));
        c.mem_pool_trim_to(0, 0, 100).expect("trim");
        assert_eq!(fake::with(|f| f.trimmed_to), Some(100));
        // The primary context goes: its pool memory is freed with it.
        c.primary_ctx_reset(0).expect("reset");
        assert_eq!(c.memory_used(), 0);
        assert!(fake::with(|f| f.memory.is_empty()));
        let p2 = c.mem_alloc_async(0, 0, 16, DEFAULT_POOL).expect("again");
        drop(c);
        fake::with(|f| {
            assert!(f.pools.is_empty(), "pool destroyed with the client");
            assert!(!f.pool_destroyed_while_used, "after its memory");
            assert!(!f.memory.contains_key(&p2));
        });
    }
}
