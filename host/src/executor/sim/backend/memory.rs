//! Device memory on the simulator: allocations, copies, memsets, the pool.

use super::*;

impl SimBackend {
    /// `INVALID_VALUE` unless `height` rows of `row_len` bytes, `pitch`
    /// apart from `base`, all lie in the one allocation holding `base`.
    fn check_rows(&self, base: u64, pitch: u64, row_len: u64, height: u64) -> CuResult<()> {
        let end = height
            .checked_sub(1)
            .and_then(|rows| rows.checked_mul(pitch))
            .and_then(|o| o.checked_add(row_len))
            .and_then(|o| base.checked_add(o))
            .ok_or(result::INVALID_VALUE)?;
        // The whole span lies in the client's memory (one allocation, or
        // adjacently mapped VMM chunks), writable.
        let span = usize::try_from(end - base).map_err(|_| result::INVALID_VALUE)?;
        if self.memory.writable(base, span) {
            Ok(())
        } else {
            Err(result::INVALID_VALUE)
        }
    }
}

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
        // Guest memory is pageable to the device: not capturable.
        self.refuse_in_capture(stream)?;
        if self.memory.write(dst, data) {
            Ok(())
        } else {
            Err(result::INVALID_VALUE)
        }
    }
    fn memcpy_dtoh(&mut self, ctx: u64, stream: u64, src: u64, out: &mut [u8]) -> CuResult<()> {
        self.stream(ctx, stream)?;
        self.refuse_in_capture(stream)?;
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
        if self.graphs.is_capturing(stream) {
            let ctx = self.ctx(ctx)?;
            let op = crate::executor::sim::graph::NodeOp::Copy { ctx, dst, src, len };
            return self.graphs.record(stream, op);
        }
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
        let row_len = r
            .width
            .checked_mul(elem as u64)
            .ok_or(result::INVALID_VALUE)?;
        if self.graphs.is_capturing(r.stream) {
            let m = MemsetRequest {
                ctx: self.ctx(r.ctx)?,
                ..*r
            };
            return self
                .graphs
                .record(r.stream, crate::executor::sim::graph::NodeOp::Memset(m));
        }
        if row_len == 0 {
            return Ok(());
        }
        // All rows lie in the allocation at `dst` (checked before any is
        // written), so the loop is bounded by the guest's own memory.
        self.check_rows(r.dst, r.pitch, row_len, r.height)?;
        let row_len = usize::try_from(row_len).map_err(|_| result::INVALID_VALUE)?;
        let pattern = &r.value.to_le_bytes()[..elem];
        for y in 0..r.height {
            self.memory.fill(r.dst + y * r.pitch, row_len, pattern);
        }
        Ok(())
    }
    fn memcpy_2d(&mut self, r: &Copy2dRequest, input: &[u8], output: &mut [u8]) -> CuResult<()> {
        self.stream(r.ctx, r.stream)?;
        self.refuse_in_capture(r.stream)?;
        if r.width == 0 || r.height == 0 {
            return Ok(());
        }
        // Device rows are checked against their allocations before any
        // byte moves (so a fault writes nothing, and the loop is bounded by
        // the guest's memory); host rows are the request's or response's.
        if r.kind != copy_kind::HTOD {
            self.check_rows(r.src, r.src_pitch, r.width, r.height)?;
        }
        if r.kind != copy_kind::DTOH {
            self.check_rows(r.dst, r.dst_pitch, r.width, r.height)?;
        }
        let width = usize::try_from(r.width).map_err(|_| result::INVALID_VALUE)?;
        let host_row = |y: u64| -> CuResult<std::ops::Range<usize>> {
            let start = usize::try_from(y)
                .ok()
                .and_then(|y| y.checked_mul(width))
                .ok_or(result::INVALID_VALUE)?;
            Ok(start..start + width)
        };
        for y in 0..r.height {
            let (src, dst) = (r.src + y * r.src_pitch, r.dst + y * r.dst_pitch);
            let done = match r.kind {
                copy_kind::HTOD => input
                    .get(host_row(y)?)
                    .is_some_and(|row| self.memory.write(dst, row)),
                copy_kind::DTOH => output
                    .get_mut(host_row(y)?)
                    .is_some_and(|row| self.memory.read(src, row)),
                _ => self.memory.copy(dst, src, width),
            };
            if !done {
                return Err(result::INVALID_VALUE);
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
        // Graph memory nodes are not modelled.
        self.refuse_in_capture(stream)?;
        let ctx = self.ctx(ctx)?;
        self.pool.alloc(&mut self.memory, ctx, size, pool)
    }
    fn mem_free_async(&mut self, ctx: u64, stream: u64, dptr: u64) -> CuResult<()> {
        // In submission order, so at once (any allocation, as in CUDA).
        self.stream(ctx, stream)?;
        self.refuse_in_capture(stream)?;
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
