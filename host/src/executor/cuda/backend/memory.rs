//! Device memory: allocations, the ranges a copy may touch, copies (staged
//! when asynchronous) and memsets.

use super::*;
impl GpuClient {
    /// The region holding `[ptr, ptr + len)` among the client's allocations
    /// and globals.
    pub(super) fn region_of(&self, ptr: u64, len: u64) -> Option<(u64, Region)> {
        for map in [&self.allocations, &self.globals] {
            if let Some((&base, &r)) = map.range(..=ptr).next_back() {
                let end = base.checked_add(r.size)?;
                if ptr.checked_add(len).is_some_and(|e| e <= end) && (len > 0 || ptr < end) {
                    return Some((base, r));
                }
            }
        }
        None
    }
    /// `INVALID_VALUE` unless `[ptr, ptr + len)` is the client's memory
    /// that a copy may read.
    pub(super) fn check_range(&self, ptr: u64, len: u64) -> CuResult<()> {
        if len == 0 || self.region_of(ptr, len).is_some() || self.vmm_allows(ptr, len, false) {
            Ok(())
        } else {
            Err(INVALID_VALUE)
        }
    }
    /// As [`Self::check_range`], for memory a copy or memset writes (VMM
    /// mappings must grant read-write access).
    pub(super) fn check_dst(&self, ptr: u64, len: u64) -> CuResult<()> {
        if len == 0 || self.region_of(ptr, len).is_some() || self.vmm_allows(ptr, len, true) {
            Ok(())
        } else {
            Err(INVALID_VALUE)
        }
    }
    /// Reaps finished staged copies of context `key` (current).
    pub(super) fn reap(&mut self, key: u64) {
        let driver = Arc::clone(&self.driver);
        if let Some(c) = self.contexts.get_mut(key) {
            c.staging.reap(&driver);
        }
    }
    /// Runs `submit` with the source bytes `data` copied to a staging buffer
    /// of context `key` (current), then keeps the buffer until the copy,
    /// enqueued on `stream`, is complete.
    pub(super) fn staged<F>(
        &mut self,
        key: u64,
        stream: CUstream,
        data: &[u8],
        submit: F,
    ) -> CuResult<()>
    where
        F: FnOnce(&CudaDriver, *const c_void) -> CuResult<()>,
    {
        self.staged_with(key, stream, data.len(), |buf| buf.fill(data), submit)
    }
    /// As [`Self::staged`], with the `len` source bytes written into the
    /// staging buffer by `fill`.
    pub(super) fn staged_with<F>(
        &mut self,
        key: u64,
        stream: CUstream,
        len: usize,
        fill: impl FnOnce(&mut StagingBuf),
        submit: F,
    ) -> CuResult<()>
    where
        F: FnOnce(&CudaDriver, *const c_void) -> CuResult<()>,
    {
        let driver = Arc::clone(&self.driver);
        let ctx = self.contexts.get_mut(key).ok_or(INVALID_CONTEXT)?;
        ctx.staging.reap(&driver);
        let mut buf = ctx.staging.take(&driver, len).ok_or(OUT_OF_MEMORY)?;
        fill(&mut buf);
        if let Err(e) = submit(&driver, buf.as_ptr().cast()) {
            ctx.staging.give_back(&driver, buf);
            return Err(e);
        }
        let recorded = ctx.staging.event(&driver).and_then(|ev| {
            // SAFETY: event and stream belong to the current context.
            match check(unsafe { (driver.api().event_record)(ev, stream) }) {
                Ok(()) => Ok(ev),
                Err(e) => {
                    ctx.staging.spare(ev);
                    Err(e)
                }
            }
        });
        match recorded {
            Ok(ev) => ctx.staging.push(ev, buf),
            Err(_) => {
                // Cannot track the copy: wait for it instead. A failure here is
                // the copy's (or an earlier) error, reported at the next sync.
                // SAFETY: stream of the current context.
                let rc = unsafe { (driver.api().stream_synchronize)(stream) };
                if rc == 0 {
                    ctx.staging.give_back(&driver, buf);
                } else {
                    // The copy may still be running; never free its source.
                    std::mem::forget(buf);
                }
            }
        }
        Ok(())
    }
}

impl MemoryBackend for GpuClient {
    fn mem_alloc(&mut self, ctx: u64, size: u64) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        if size == 0 {
            return Err(INVALID_VALUE);
        }
        let mut dptr: CUdeviceptr = 0;
        // SAFETY: valid out-pointer; the context is current.
        check(unsafe { (self.driver.api().mem_alloc)(&mut dptr, to_usize(size)?) })?;
        self.allocations.insert(
            dptr,
            Region {
                size,
                ctx: key,
                module: 0,
                pooled: false,
            },
        );
        Ok(dptr)
    }
    fn mem_free(&mut self, ctx: u64, dptr: u64) -> CuResult<()> {
        let _ = ctx;
        let region = *self.allocations.get(&dptr).ok_or(INVALID_VALUE)?;
        self.enter_key(region.ctx)?;
        // SAFETY: `dptr` is a live allocation of this client.
        check(unsafe { (self.driver.api().mem_free)(dptr) })?;
        self.allocations.remove(&dptr);
        Ok(())
    }
    fn mem_get_address_range(&mut self, ctx: u64, dptr: u64) -> CuResult<(u64, u64)> {
        self.enter(ctx)?;
        let Some((base, region)) = self.region_of(dptr, 0) else {
            return self.vmm_range_of(dptr).ok_or(NOT_FOUND);
        };
        self.enter_key(region.ctx)?;
        let (mut b, mut s): (CUdeviceptr, usize) = (0, 0);
        // SAFETY: valid out-pointers; `dptr` is inside a region of this client.
        let rc = unsafe { (self.driver.api().mem_get_address_range)(&mut b, &mut s, dptr) };
        if rc == 0 {
            Ok((b, s as u64))
        } else {
            Ok((base, region.size))
        }
    }
    fn memcpy_htod(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        data: &[u8],
        is_async: bool,
    ) -> CuResult<()> {
        let key = self.enter(ctx)?;
        self.check_dst(dst, data.len() as u64)?;
        if is_async && self.capturing(self.stream_in(key, stream)?) {
            // The bytes are staged in buffers reused after the copy: a
            // captured copy would read them at replay.
            return Err(uapi::cuda::result::STREAM_CAPTURE_UNSUPPORTED);
        }
        if data.is_empty() {
            return Ok(());
        }
        if !is_async {
            // Returns once the driver has consumed `data`.
            // SAFETY: `data` is valid for its length during the call.
            return check(unsafe {
                (self.driver.api().memcpy_htod)(dst, data.as_ptr().cast(), data.len())
            });
        }
        let s = self.stream_in(key, stream)?;
        let len = data.len();
        self.staged(key, s, data, |d, src| {
            // SAFETY: `src` is a staging buffer kept alive until the copy completes.
            check(unsafe { (d.api().memcpy_htod_async)(dst, src, len, s) })
        })
    }
    fn memcpy_dtoh(&mut self, ctx: u64, stream: u64, src: u64, out: &mut [u8]) -> CuResult<()> {
        let key = self.enter(ctx)?;
        self.check_range(src, out.len() as u64)?;
        let s = self.stream_in(key, stream)?;
        if out.is_empty() {
            return Ok(());
        }
        let api = self.driver.api();
        // SAFETY: `out` is valid for writes of its length until we return,
        // and we return only after the stream (hence the copy) is done.
        check(unsafe { (api.memcpy_dtoh_async)(out.as_mut_ptr().cast(), src, out.len(), s) })?;
        // SAFETY: stream of the current context.
        check(unsafe { (api.stream_synchronize)(s) })?;
        self.reap(key);
        Ok(())
    }
    fn memcpy_dtod(
        &mut self,
        ctx: u64,
        stream: u64,
        dst: u64,
        src: u64,
        len: u64,
        is_async: bool,
    ) -> CuResult<()> {
        let key = self.enter(ctx)?;
        // A capture records the copy: its pointers need only exist at replay.
        let capturing = is_async && {
            let s = self.stream_in(key, stream)?;
            self.capturing(s)
        };
        if !capturing {
            self.check_dst(dst, len)?;
            self.check_range(src, len)?;
        }
        let n = to_usize(len)?;
        let api = self.driver.api();
        if !is_async {
            if n == 0 {
                return Ok(());
            }
            // SAFETY: both ranges are this client's device memory.
            return check(unsafe { (api.memcpy_dtod)(dst, src, n) });
        }
        let s = self.stream_in(key, stream)?;
        if n == 0 {
            return Ok(());
        }
        // SAFETY: as above.
        check(unsafe { (api.memcpy_dtod_async)(dst, src, n, s) })
    }
    fn memset(&mut self, req: &MemsetRequest) -> CuResult<()> {
        let key = self.enter(req.ctx)?;
        let is_async = req.flags & copy_flags::ASYNC != 0;
        let s = if is_async {
            self.stream_in(key, req.stream)?
        } else {
            std::ptr::null_mut()
        };
        let elem = u64::from(req.elem_size);
        if !matches!(req.elem_size, 1 | 2 | 4) {
            return Err(INVALID_VALUE);
        }
        // A capture records the memset: its target need only exist at replay.
        let capturing = is_async && self.capturing(s);
        let row_bytes = req.width.checked_mul(elem).ok_or(INVALID_VALUE)?;
        let api = self.driver.api();
        let (dst, w, v) = (req.dst, to_usize(req.width)?, req.value);
        if req.height <= 1 {
            let n = if req.height == 0 { 0 } else { row_bytes };
            if !capturing {
                self.check_dst(dst, n)?;
            }
            if n == 0 {
                return Ok(());
            }
            // SAFETY: the range is this client's device memory.
            return check(unsafe {
                match (req.elem_size, is_async) {
                    (1, false) => (api.memset_d8)(dst, v as u8, w),
                    (2, false) => (api.memset_d16)(dst, v as u16, w),
                    (4, false) => (api.memset_d32)(dst, v, w),
                    (1, true) => (api.memset_d8_async)(dst, v as u8, w, s),
                    (2, true) => (api.memset_d16_async)(dst, v as u16, w, s),
                    _ => (api.memset_d32_async)(dst, v, w, s),
                }
            });
        }
        if req.pitch < row_bytes {
            return Err(INVALID_VALUE);
        }
        if !capturing {
            self.check_dst(dst, span_2d(req.pitch, row_bytes, req.height)?)?;
        }
        if w == 0 {
            return Ok(());
        }
        let (p, h) = (to_usize(req.pitch)?, to_usize(req.height)?);
        // SAFETY: the whole pitched range is this client's device memory.
        check(unsafe {
            match (req.elem_size, is_async) {
                (1, false) => (api.memset_d2d8)(dst, p, v as u8, w, h),
                (2, false) => (api.memset_d2d16)(dst, p, v as u16, w, h),
                (4, false) => (api.memset_d2d32)(dst, p, v, w, h),
                (1, true) => (api.memset_d2d8_async)(dst, p, v as u8, w, h, s),
                (2, true) => (api.memset_d2d16_async)(dst, p, v as u16, w, h, s),
                _ => (api.memset_d2d32_async)(dst, p, v, w, h, s),
            }
        })
    }
    fn memcpy_2d(&mut self, req: &Copy2dRequest, input: &[u8], output: &mut [u8]) -> CuResult<()> {
        let key = self.enter(req.ctx)?;
        let is_async = req.flags & copy_flags::ASYNC != 0;
        let s = if is_async {
            self.stream_in(key, req.stream)?
        } else {
            std::ptr::null_mut()
        };
        let (w, h) = (req.width, req.height);
        let packed = w.checked_mul(h).ok_or(INVALID_VALUE)?;
        let mut p = CudaMemcpy2D::zeroed();
        p.WidthInBytes = to_usize(w)?;
        p.Height = to_usize(h)?;
        match req.kind {
            copy_kind::HTOD | copy_kind::DTOD if req.dst_pitch < w && h > 1 => {
                return Err(INVALID_VALUE)
            }
            copy_kind::DTOH | copy_kind::DTOD if req.src_pitch < w && h > 1 => {
                return Err(INVALID_VALUE)
            }
            _ => {}
        }
        match req.kind {
            copy_kind::HTOD => {
                self.check_dst(req.dst, span_2d(req.dst_pitch, w, h)?)?;
                let src = input.get(..to_usize(packed)?).ok_or(INVALID_VALUE)?;
                p.srcMemoryType = CU_MEMORYTYPE_HOST;
                p.srcPitch = p.WidthInBytes;
                p.dstMemoryType = CU_MEMORYTYPE_DEVICE;
                p.dstDevice = req.dst;
                p.dstPitch = to_usize(req.dst_pitch.max(w))?;
                if packed == 0 {
                    return Ok(());
                }
                if !is_async {
                    p.srcHost = src.as_ptr().cast();
                    // SAFETY: `src` holds the packed rows during the call.
                    return check(unsafe { (self.driver.api().memcpy_2d)(&p) });
                }
                self.staged(key, s, src, |d, staged| {
                    let mut p = p;
                    p.srcHost = staged;
                    // SAFETY: `staged` lives until the copy completes.
                    check(unsafe { (d.api().memcpy_2d_async)(&p, s) })
                })
            }
            copy_kind::DTOH => {
                self.check_range(req.src, span_2d(req.src_pitch, w, h)?)?;
                let dst = output.get_mut(..to_usize(packed)?).ok_or(INVALID_VALUE)?;
                if packed == 0 {
                    return Ok(());
                }
                p.srcMemoryType = CU_MEMORYTYPE_DEVICE;
                p.srcDevice = req.src;
                p.srcPitch = to_usize(req.src_pitch.max(w))?;
                p.dstMemoryType = CU_MEMORYTYPE_HOST;
                p.dstHost = dst.as_mut_ptr().cast();
                p.dstPitch = p.WidthInBytes;
                let api = self.driver.api();
                if !is_async {
                    // SAFETY: `dst` is writable for the packed rows; the
                    // synchronous copy completes before returning.
                    return check(unsafe { (api.memcpy_2d)(&p) });
                }
                // SAFETY: as above; we wait for the stream before returning.
                check(unsafe { (api.memcpy_2d_async)(&p, s) })?;
                // SAFETY: stream of the current context.
                check(unsafe { (api.stream_synchronize)(s) })
            }
            copy_kind::DTOD => {
                self.check_dst(req.dst, span_2d(req.dst_pitch, w, h)?)?;
                self.check_range(req.src, span_2d(req.src_pitch, w, h)?)?;
                if packed == 0 {
                    return Ok(());
                }
                p.srcMemoryType = CU_MEMORYTYPE_DEVICE;
                p.srcDevice = req.src;
                p.srcPitch = to_usize(req.src_pitch.max(w))?;
                p.dstMemoryType = CU_MEMORYTYPE_DEVICE;
                p.dstDevice = req.dst;
                p.dstPitch = to_usize(req.dst_pitch.max(w))?;
                let api = self.driver.api();
                // SAFETY: both ranges are this client's device memory.
                check(unsafe {
                    if is_async {
                        (api.memcpy_2d_async)(&p, s)
                    } else {
                        (api.memcpy_2d)(&p)
                    }
                })
            }
            _ => Err(INVALID_VALUE),
        }
    }
    fn memory_used(&self) -> u64 {
        let vmm = self.vmm.as_ref().map_or(0, |v| v.bytes_held());
        self.allocations.values().map(|r| r.size).sum::<u64>() + vmm
    }
}
