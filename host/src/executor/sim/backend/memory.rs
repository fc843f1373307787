//! Device memory on the simulator: allocations, copies, memsets, the pool.

use super::*;

impl MemoryBackend for SimBackend {
    fn mem_alloc(&mut self, ctx: u64, size: u64) -> CuResult<u64> {
        let ctx = self.ctx(ctx)?;
        self.memory
            .alloc(size, Owner::Context(ctx))
            .ok_or(result::OUT_OF_MEMORY)
    }
    fn mem_free(&mut self, ctx: u64, dptr: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        // Any context of the client may free its allocations, as in CUDA
        // with unified addressing; module variables are not allocations.
        if self.memory.free(dptr, |o| matches!(o, Owner::Context(_))) {
            self.pool.forget(dptr);
            Ok(())
        } else {
            Err(result::INVALID_VALUE)
        }
    }
    fn mem_get_address_range(&mut self, ctx: u64, dptr: u64) -> CuResult<(u64, u64)> {
        self.ctx(ctx)?;
        self.memory.range(dptr).ok_or(result::NOT_FOUND)
    }
    fn memcpy_htod(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        data: &[u8],
        _is_async: bool,
    ) -> CuResult<()> {
        self.stream(ctx, stream)?;
        if self.memory.write(dst, data) {
            Ok(())
        } else {
            Err(result::INVALID_VALUE)
        }
    }
    fn memcpy_dtoh(&mut self, ctx: u64, stream: u64, src: u64, out: &mut [u8]) -> CuResult<()> {
        self.stream(ctx, stream)?;
        if self.memory.read(src, out) {
            Ok(())
        } else {
            Err(result::INVALID_VALUE)
        }
    }
    fn memcpy_dtod(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: u64,
        len: u64,
        _is_async: bool,
    ) -> CuResult<()> {
        self.stream(ctx, stream)?;
        let len = usize::try_from(len).map_err(|_| result::INVALID_VALUE)?;
        if self.memory.copy(dst, src, len) {
            Ok(())
        } else {
            Err(result::INVALID_VALUE)
        }
    }
    fn memset(&mut self, r: &MemsetRequest) -> CuResult<()> {
        self.stream(r.ctx, r.stream)?;
        let elem = r.elem_size as usize;
        let width = usize::try_from(r.width).map_err(|_| result::INVALID_VALUE)?;
        let row_len = width.checked_mul(elem).ok_or(result::INVALID_VALUE)?;
        let pattern = &r.value.to_le_bytes()[..elem];
        let row: Vec<u8> = pattern.iter().copied().cycle().take(row_len).collect();
        // Check every row first so a failing memset writes nothing.
        for y in 0..r.height {
            let addr = r
                .dst
                .checked_add(y.checked_mul(r.pitch).ok_or(result::INVALID_VALUE)?);
            let addr = addr.ok_or(result::INVALID_VALUE)?;
            if !self.memory.writable(addr, row_len) {
                return Err(result::INVALID_VALUE);
            }
        }
        for y in 0..r.height {
            self.memory.write(r.dst + y * r.pitch, &row);
        }
        Ok(())
    }
    fn memcpy_2d(&mut self, r: &Copy2dRequest, input: &[u8], output: &mut [u8]) -> CuResult<()> {
        self.stream(r.ctx, r.stream)?;
        let width = usize::try_from(r.width).map_err(|_| result::INVALID_VALUE)?;
        let rows = usize::try_from(r.height).map_err(|_| result::INVALID_VALUE)?;
        let at = |base: u64, pitch: u64, y: usize| -> CuResult<u64> {
            (y as u64)
                .checked_mul(pitch)
                .and_then(|o| base.checked_add(o))
                .ok_or(result::INVALID_VALUE)
        };
        // Stage the whole copy, then write, so a fault writes nothing.
        let mut staged = Vec::with_capacity(rows);
        for y in 0..rows {
            let row = match r.kind {
                copy_kind::HTOD => input
                    .get(y * width..(y + 1) * width)
                    .ok_or(result::INVALID_VALUE)?
                    .to_vec(),
                _ => self.read_device(at(r.src, r.src_pitch, y)?, width)?,
            };
            staged.push(row);
        }
        for (y, row) in staged.iter().enumerate() {
            match r.kind {
                copy_kind::DTOH => output
                    .get_mut(y * width..(y + 1) * width)
                    .ok_or(result::INVALID_VALUE)?
                    .copy_from_slice(row),
                _ => {
                    if !self.memory.write(at(r.dst, r.dst_pitch, y)?, row) {
                        return Err(result::INVALID_VALUE);
                    }
                }
            }
        }
        Ok(())
    }
    fn memory_used(&self) -> u64 {
        self.memory.bytes_held() + self.vmm.bytes_held()
    }
}

impl PoolBackend for SimBackend {
    fn mem_alloc_async(&mut self, ctx: u64, stream: u64, size: u64, pool: u64) -> CuResult<u64> {
        self.stream(ctx, stream)?;
        let ctx = self.ctx(ctx)?;
        self.pool.alloc(&mut self.memory, ctx, size, pool)
    }
    fn mem_free_async(&mut self, ctx: u64, stream: u64, dptr: u64) -> CuResult<()> {
        // In submission order, so at once (any allocation, as in CUDA).
        self.stream(ctx, stream)?;
        self.mem_free(ctx, dptr)
    }
    fn mem_pool_get_attribute(&mut self, ctx: u64, pool: u64, attr: u32) -> CuResult<u64> {
        self.ctx(ctx)?;
        self.pool.get(pool, attr)
    }
    fn mem_pool_set_attribute(
        &mut self,
        ctx: u64,
        pool: u64,
        attr: u32,
        value: u64,
    ) -> CuResult<()> {
        self.ctx(ctx)?;
        self.pool.set(pool, attr, value)
    }
    fn mem_pool_trim_to(&mut self, ctx: u64, pool: u64, _keep: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.pool.trim(pool)
    }
}
