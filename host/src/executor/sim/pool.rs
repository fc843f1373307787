//! The simulator's memory pool, one per client: work runs in submission
//! order, so a stream-ordered allocation or free can happen at once. Freed
//! memory goes straight back to the device, so the pool reserves exactly
//! what is in use. Attributes behave as on NVIDIA's driver (measured):
//! reuse flags default to 1, the release threshold to 0; current usage is
//! read-only; the high-water marks may only be reset (to 0).

use std::collections::BTreeMap;

use super::memory::{ClientMemory, Owner};
use crate::cuda::CuResult;
use uapi::cuda::{pool_attr, result, DEFAULT_POOL};

/// One client's pool.
#[derive(Debug)]
pub struct SimPool {
    /// Live pool allocations: base → (size, context).
    live: BTreeMap<u64, (u64, u64)>,
    reuse: [u64; 3],
    release_threshold: u64,
    reserved_high: u64,
    used_high: u64,
}

impl Default for SimPool {
    fn default() -> Self {
        Self {
            live: BTreeMap::new(),
            reuse: [1; 3],
            release_threshold: 0,
            reserved_high: 0,
            used_high: 0,
        }
    }
}

fn check_pool(pool: u64) -> CuResult<()> {
    if pool == DEFAULT_POOL {
        Ok(())
    } else {
        Err(result::INVALID_VALUE)
    }
}

impl SimPool {
    fn used(&self) -> u64 {
        self.live.values().map(|&(size, _)| size).sum()
    }

    /// Allocates `size` bytes for context `ctx` (freed with it).
    pub fn alloc(
        &mut self,
        memory: &mut ClientMemory,
        ctx: u64,
        size: u64,
        pool: u64,
    ) -> CuResult<u64> {
        check_pool(pool)?;
        let base = memory
            .alloc(size, Owner::Context(ctx))
            .ok_or(result::OUT_OF_MEMORY)?;
        self.live.insert(base, (size, ctx));
        let used = self.used();
        self.used_high = self.used_high.max(used);
        self.reserved_high = self.reserved_high.max(used);
        Ok(base)
    }

    /// Notes that an allocation was freed (pool or not).
    pub fn forget(&mut self, base: u64) {
        self.live.remove(&base);
    }

    /// Notes that context `ctx` and its memory are gone.
    pub fn forget_context(&mut self, ctx: u64) {
        self.live.retain(|_, &mut (_, c)| c != ctx);
    }

    pub fn get(&self, pool: u64, attr: u32) -> CuResult<u64> {
        check_pool(pool)?;
        Ok(match attr {
            pool_attr::REUSE_FOLLOW_EVENT_DEPENDENCIES
                ..=pool_attr::REUSE_ALLOW_INTERNAL_DEPENDENCIES => self.reuse[(attr - 1) as usize],
            pool_attr::RELEASE_THRESHOLD => self.release_threshold,
            pool_attr::RESERVED_MEM_CURRENT | pool_attr::USED_MEM_CURRENT => self.used(),
            pool_attr::RESERVED_MEM_HIGH => self.reserved_high,
            pool_attr::USED_MEM_HIGH => self.used_high,
            _ => return Err(result::INVALID_VALUE),
        })
    }

    pub fn set(&mut self, pool: u64, attr: u32, value: u64) -> CuResult<()> {
        check_pool(pool)?;
        match attr {
            pool_attr::REUSE_FOLLOW_EVENT_DEPENDENCIES
                ..=pool_attr::REUSE_ALLOW_INTERNAL_DEPENDENCIES => {
                self.reuse[(attr - 1) as usize] = u64::from(value as u32 != 0);
            }
            pool_attr::RELEASE_THRESHOLD => self.release_threshold = value,
            pool_attr::RESERVED_MEM_HIGH if value == 0 => self.reserved_high = self.used(),
            pool_attr::USED_MEM_HIGH if value == 0 => self.used_high = self.used(),
            _ => return Err(result::INVALID_VALUE),
        }
        Ok(())
    }

    /// Nothing is kept back, so there is nothing to trim.
    pub fn trim(&self, pool: u64) -> CuResult<()> {
        check_pool(pool)
    }
}
