//! [`GpuClient`]: one guest client's CUDA state on the host's real GPU.
//!
//! Every guest context (its primary context included) is a dedicated host
//! context made with `cuCtxCreate`, never the device's primary context, so
//! two clients never share an address space or a sticky error. Guest handles
//! map to host objects in per-client [`HandleTable`]s; device pointers are
//! the real `CUdeviceptr`s, and every pointer range a copy or memset touches
//! must lie inside one of this client's allocations (pool ones included) or
//! module globals. Stream-ordered allocations come from a pool the client
//! owns (`pool`).

mod pool;

use super::driver::{
    check, CUcontext, CUdevice, CUdeviceptr, CUevent, CUfunction, CUmemoryPool, CUmodule, CUstream,
    CudaDriver, CudaMemcpy2D, CU_MEMORYTYPE_DEVICE, CU_MEMORYTYPE_HOST,
};
use super::handles::{tag, HandleTable};
use super::staging::Staging;
use crate::cuda::backend::{CuResult, CudaBackend};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_void, CString};
use std::sync::Arc;
use std::thread::ThreadId;
use uapi::cuda::result::{
    INVALID_CONTEXT, INVALID_DEVICE, INVALID_HANDLE, INVALID_IMAGE, INVALID_VALUE, NOT_FOUND,
    NOT_SUPPORTED, OUT_OF_MEMORY, UNKNOWN,
};
use uapi::cuda::{
    copy_flags, copy_kind, Copy2dRequest, LaunchAttribute, LaunchRequest, MemsetRequest,
    OccupancyRequest, ParamInfo, TensorMapEncodeRequest, FUNC_ATTRIBUTE_COUNT, TENSOR_MAP_WORDS,
};

mod function;
mod tensor_map;

/// One host context of the client.
struct Ctx {
    /// `None` only for the primary context while it is not initialised.
    raw: Option<CUcontext>,
    staging: Staging,
}

struct Module {
    raw: CUmodule,
    ctx: u64,
    functions: HashMap<String, u64>,
}

struct Function {
    raw: CUfunction,
    ctx: u64,
    module: u64,
    layout: Vec<ParamInfo>,
}

struct Stream {
    raw: CUstream,
    ctx: u64,
}

struct Event {
    raw: CUevent,
    ctx: u64,
}

/// A device memory range the client may name in copies and memsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    size: u64,
    ctx: u64,
    /// The module of a global; 0 for an allocation.
    module: u64,
    /// From the client's pool: freed explicitly when its context goes
    /// (pool memory outlives contexts in CUDA, and would leak).
    pooled: bool,
}

/// One guest client's CUDA objects on the host GPU.
pub struct GpuClient {
    driver: Arc<CudaDriver>,
    device: CUdevice,
    attributes: Arc<[i32]>,
    /// The context current on the calling thread, as last set by us.
    current: Option<(ThreadId, CUcontext)>,
    /// Handle of the client's primary context (always in `contexts`).
    primary: u64,
    primary_refs: u32,
    contexts: HandleTable<Ctx>,
    modules: HandleTable<Module>,
    functions: HandleTable<Function>,
    streams: HandleTable<Stream>,
    events: HandleTable<Event>,
    /// `cuMemAlloc` allocations by base address.
    allocations: BTreeMap<u64, Region>,
    /// Module globals by address.
    globals: BTreeMap<u64, Region>,
    /// 8-aligned copy of the kernel parameters of a launch.
    param_scratch: Vec<u64>,
    /// The client's memory pool, made on first use (never shared, so no
    /// client sees another's pool statistics or settings).
    pool: Option<CUmemoryPool>,
}

// SAFETY: the raw CUDA handles are process-wide driver objects usable from
// any thread; the client is used by one thread at a time (`&mut self`), and
// it re-checks the thread before trusting its cached current context.
unsafe impl Send for GpuClient {}

/// Stream handles meaning the default stream: 0, `CU_STREAM_LEGACY`, `CU_STREAM_PER_THREAD`.
fn is_default_stream(stream: u64) -> bool {
    stream <= 2
}

/// Length of a `height`-row, `width`-byte region with rows `pitch` apart.
fn span_2d(pitch: u64, width: u64, height: u64) -> CuResult<u64> {
    if height == 0 || width == 0 {
        return Ok(0);
    }
    pitch
        .checked_mul(height - 1)
        .and_then(|v| v.checked_add(width))
        .ok_or(INVALID_VALUE)
}

fn to_usize(v: u64) -> CuResult<usize> {
    usize::try_from(v).map_err(|_| INVALID_VALUE)
}

/// Checks a module image before handing it to `cuModuleLoadData`, which
/// trusts the sizes inside it: returns the bytes to pass (PTX gets a NUL
/// terminator if it lacks one).
pub(crate) fn check_image(image: &[u8]) -> CuResult<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    use uapi::cuda::image::{ELF_MAGIC, FATBINC_WRAPPER_MAGIC, FATBIN_MAGIC};
    let magic = image
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(INVALID_IMAGE)?;
    let rd16 = |o: usize| -> Option<u64> {
        image
            .get(o..o + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let rd32 = |o: usize| -> Option<u64> {
        image
            .get(o..o + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let rd64 = |o: usize| -> Option<u64> {
        image
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let len = image.len() as u64;
    let within = |off: u64, size: u64| off.checked_add(size).is_some_and(|end| end <= len);
    if magic == FATBINC_WRAPPER_MAGIC {
        // Holds pointers into the guest's address space: never valid here.
        return Err(INVALID_IMAGE);
    }
    if magic == FATBIN_MAGIC {
        let header = rd16(6).ok_or(INVALID_IMAGE)?;
        let files = rd64(8).ok_or(INVALID_IMAGE)?;
        if header < 16 || !within(header, files) {
            return Err(INVALID_IMAGE);
        }
        return Ok(Cow::Borrowed(image));
    }
    if image.starts_with(&ELF_MAGIC) {
        // ELF64 little-endian only; program and section headers and every
        // section's contents must lie inside the image.
        if image.get(4) != Some(&2) || image.get(5) != Some(&1) {
            return Err(INVALID_IMAGE);
        }
        let phoff = rd64(0x20).ok_or(INVALID_IMAGE)?;
        let shoff = rd64(0x28).ok_or(INVALID_IMAGE)?;
        let phentsize = rd16(0x36).ok_or(INVALID_IMAGE)?;
        let phnum = rd16(0x38).ok_or(INVALID_IMAGE)?;
        let shentsize = rd16(0x3A).ok_or(INVALID_IMAGE)?;
        let shnum = rd16(0x3C).ok_or(INVALID_IMAGE)?;
        if !within(phoff, phentsize * phnum) || !within(shoff, shentsize * shnum) {
            return Err(INVALID_IMAGE);
        }
        if shnum > 0 && shentsize < 0x40 {
            return Err(INVALID_IMAGE);
        }
        for i in 0..shnum {
            let sh = to_usize(shoff + i * shentsize).map_err(|_| INVALID_IMAGE)?;
            let kind = rd32(sh + 4).ok_or(INVALID_IMAGE)?;
            let offset = rd64(sh + 0x18).ok_or(INVALID_IMAGE)?;
            let size = rd64(sh + 0x20).ok_or(INVALID_IMAGE)?;
            const SHT_NOBITS: u64 = 8;
            if kind != SHT_NOBITS && kind != 0 && !within(offset, size) {
                return Err(INVALID_IMAGE);
            }
        }
        if phnum > 0 && phentsize < 0x38 {
            return Err(INVALID_IMAGE);
        }
        for i in 0..phnum {
            let ph = to_usize(phoff + i * phentsize).map_err(|_| INVALID_IMAGE)?;
            let offset = rd64(ph + 0x08).ok_or(INVALID_IMAGE)?;
            let filesz = rd64(ph + 0x20).ok_or(INVALID_IMAGE)?;
            if !within(offset, filesz) {
                return Err(INVALID_IMAGE);
            }
        }
        return Ok(Cow::Borrowed(image));
    }
    // PTX text: the driver reads up to the first NUL.
    if image.contains(&0) {
        Ok(Cow::Borrowed(image))
    } else {
        let mut owned = Vec::with_capacity(image.len() + 1);
        owned.extend_from_slice(image);
        owned.push(0);
        Ok(Cow::Owned(owned))
    }
}

impl GpuClient {
    /// A client with no host context yet (the primary one is created on first use).
    pub fn new(driver: Arc<CudaDriver>, device: CUdevice, attributes: Arc<[i32]>) -> Self {
        let mut contexts = HandleTable::new(tag::CONTEXT);
        let primary = contexts.insert(Ctx {
            raw: None,
            staging: Staging::default(),
        });
        Self {
            driver,
            device,
            attributes,
            current: None,
            primary,
            primary_refs: 0,
            contexts,
            modules: HandleTable::new(tag::MODULE),
            functions: HandleTable::new(tag::FUNCTION),
            streams: HandleTable::new(tag::STREAM),
            events: HandleTable::new(tag::EVENT),
            allocations: BTreeMap::new(),
            globals: BTreeMap::new(),
            param_scratch: Vec::new(),
            pool: None,
        }
    }

    /// Number of live host contexts (primary included once created).
    pub fn live_contexts(&self) -> usize {
        self.contexts
            .iter()
            .filter(|(_, c)| c.raw.is_some())
            .count()
    }

    fn check_device(device: i32) -> CuResult<()> {
        if device == 0 {
            Ok(())
        } else {
            Err(INVALID_DEVICE)
        }
    }

    /// Makes `raw` current on the calling thread unless it already is.
    fn make_current(&mut self, raw: CUcontext) -> CuResult<()> {
        let me = std::thread::current().id();
        if self.current == Some((me, raw)) {
            return Ok(());
        }
        // SAFETY: `raw` is a live context of this client.
        check(unsafe { (self.driver.api().ctx_set_current)(raw) })?;
        self.current = Some((me, raw));
        Ok(())
    }

    /// The host context of `key`, creating the primary one if needed.
    fn ctx_raw(&mut self, key: u64) -> CuResult<CUcontext> {
        let entry = self.contexts.get(key).ok_or(INVALID_CONTEXT)?;
        if let Some(raw) = entry.raw {
            return Ok(raw);
        }
        let raw = self.driver.ctx_create(0, self.device)?;
        // Creation may have changed the thread's current context.
        self.current = None;
        if let Some(entry) = self.contexts.get_mut(key) {
            entry.raw = Some(raw);
        }
        Ok(raw)
    }

    /// Resolves a guest context (0 = primary), makes it current; returns its key.
    fn enter(&mut self, ctx: u64) -> CuResult<u64> {
        let key = if ctx == 0 { self.primary } else { ctx };
        let raw = self.ctx_raw(key)?;
        self.make_current(raw)?;
        Ok(key)
    }

    /// Makes the (live) context `key` of an existing object current.
    fn enter_key(&mut self, key: u64) -> CuResult<()> {
        let raw = self
            .contexts
            .get(key)
            .and_then(|c| c.raw)
            .ok_or(INVALID_CONTEXT)?;
        self.make_current(raw)
    }

    /// A stream of context `key` (default stream → NULL).
    fn stream_in(&self, key: u64, stream: u64) -> CuResult<CUstream> {
        if is_default_stream(stream) {
            return Ok(std::ptr::null_mut());
        }
        match self.streams.get(stream) {
            Some(s) if s.ctx == key => Ok(s.raw),
            _ => Err(INVALID_HANDLE),
        }
    }

    /// Enters the context of a stream-only operation: the stream's own for
    /// a created stream, the request's for the default stream.
    fn enter_stream(&mut self, ctx: u64, stream: u64) -> CuResult<CUstream> {
        if is_default_stream(stream) {
            self.enter(ctx)?;
            return Ok(std::ptr::null_mut());
        }
        let (raw, key) = self
            .streams
            .get(stream)
            .map(|s| (s.raw, s.ctx))
            .ok_or(INVALID_HANDLE)?;
        self.enter_key(key)?;
        Ok(raw)
    }

    /// Enters an event's context; returns the event.
    fn enter_event(&mut self, event: u64) -> CuResult<(CUevent, u64)> {
        let (raw, key) = self
            .events
            .get(event)
            .map(|e| (e.raw, e.ctx))
            .ok_or(INVALID_HANDLE)?;
        self.enter_key(key)?;
        Ok((raw, key))
    }

    /// The region holding `[ptr, ptr + len)` among the client's allocations
    /// and globals.
    fn region_of(&self, ptr: u64, len: u64) -> Option<(u64, Region)> {
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

    /// `INVALID_VALUE` unless `[ptr, ptr + len)` is the client's memory.
    fn check_range(&self, ptr: u64, len: u64) -> CuResult<()> {
        if len == 0 || self.region_of(ptr, len).is_some() {
            Ok(())
        } else {
            Err(INVALID_VALUE)
        }
    }

    /// Reaps finished staged copies of context `key` (current).
    fn reap(&mut self, key: u64) {
        let driver = Arc::clone(&self.driver);
        if let Some(c) = self.contexts.get_mut(key) {
            c.staging.reap(&driver);
        }
    }

    /// Runs `submit` with the source bytes `data` copied to a staging buffer
    /// of context `key` (current), then keeps the buffer until the copy,
    /// enqueued on `stream`, is complete.
    fn staged<F>(&mut self, key: u64, stream: CUstream, data: &[u8], submit: F) -> CuResult<()>
    where
        F: FnOnce(&CudaDriver, *const c_void) -> CuResult<()>,
    {
        let driver = Arc::clone(&self.driver);
        let ctx = self.contexts.get_mut(key).ok_or(INVALID_CONTEXT)?;
        ctx.staging.reap(&driver);
        let mut buf = ctx.staging.take(&driver, data.len()).ok_or(OUT_OF_MEMORY)?;
        buf.fill(data);
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

    /// Destroys the host context of `key` and forgets every object in it.
    /// The entry stays (uninitialised) for the primary context.
    fn teardown(&mut self, key: u64) {
        let driver = Arc::clone(&self.driver);
        let Some(raw) = self.contexts.get(key).and_then(|c| c.raw) else {
            return;
        };
        let current_ok = self.make_current(raw).is_ok();
        if current_ok {
            self.free_pooled(key);
        }
        if let Some(c) = self.contexts.get_mut(key) {
            if current_ok {
                if c.staging.has_pending() {
                    // SAFETY: `raw` is current.
                    let _ = unsafe { (driver.api().ctx_synchronize)() };
                }
                c.staging.teardown(&driver, raw);
            } else {
                // Without the context current nothing can be unregistered;
                // dropping registered buffers leaks them (see StagingBuf).
                c.staging = Staging::default();
            }
            c.raw = None;
        }
        self.modules.remove_where(|m| m.ctx == key);
        self.functions.remove_where(|f| f.ctx == key);
        self.streams.remove_where(|s| s.ctx == key);
        self.events.remove_where(|e| e.ctx == key);
        self.allocations.retain(|_, r| r.ctx != key);
        self.globals.retain(|_, r| r.ctx != key);
        // SAFETY: our context; everything in it is freed with it.
        let _ = unsafe { (driver.api().ctx_destroy)(raw) };
        self.current = None;
    }
}

impl Drop for GpuClient {
    fn drop(&mut self) {
        let keys: Vec<u64> = self.contexts.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.teardown(key);
        }
        self.destroy_pool();
    }
}

impl CudaBackend for GpuClient {
    fn device_attributes(&mut self, device: i32) -> CuResult<Vec<i32>> {
        Self::check_device(device)?;
        Ok(self.attributes.to_vec())
    }

    fn mem_get_info(&mut self, ctx: u64) -> CuResult<(u64, u64)> {
        self.enter(ctx)?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: valid out-pointers; a context is current.
        check(unsafe { (self.driver.api().mem_get_info)(&mut free, &mut total) })?;
        Ok((free as u64, total as u64))
    }

    fn ctx_create(&mut self, flags: u32, device: i32) -> CuResult<u64> {
        Self::check_device(device)?;
        let raw = self.driver.ctx_create(flags, self.device)?;
        self.current = None;
        Ok(self.contexts.insert(Ctx {
            raw: Some(raw),
            staging: Staging::default(),
        }))
    }

    fn ctx_destroy(&mut self, ctx: u64) -> CuResult<()> {
        if ctx == 0 || ctx == self.primary || self.contexts.get(ctx).is_none() {
            return Err(INVALID_CONTEXT);
        }
        self.teardown(ctx);
        self.contexts.remove(ctx);
        Ok(())
    }

    fn primary_ctx_retain(&mut self, device: i32) -> CuResult<u64> {
        Self::check_device(device)?;
        self.ctx_raw(self.primary)?;
        self.primary_refs = self.primary_refs.saturating_add(1);
        Ok(self.primary)
    }

    fn primary_ctx_release(&mut self, device: i32) -> CuResult<()> {
        Self::check_device(device)?;
        if self.primary_refs == 0 {
            return Err(INVALID_CONTEXT);
        }
        self.primary_refs -= 1;
        if self.primary_refs == 0 {
            self.teardown(self.primary);
        }
        Ok(())
    }

    fn primary_ctx_reset(&mut self, device: i32) -> CuResult<()> {
        Self::check_device(device)?;
        self.teardown(self.primary);
        Ok(())
    }

    fn ctx_synchronize(&mut self, ctx: u64) -> CuResult<()> {
        let key = self.enter(ctx)?;
        // SAFETY: the context is current.
        let rc = unsafe { (self.driver.api().ctx_synchronize)() };
        if rc == 0 {
            let driver = Arc::clone(&self.driver);
            if let Some(c) = self.contexts.get_mut(key) {
                c.staging.complete_all(&driver);
            }
        }
        check(rc)
    }

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
        let (base, region) = self.region_of(dptr, 0).ok_or(NOT_FOUND)?;
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
        self.check_range(dst, data.len() as u64)?;
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
        self.check_range(dst, len)?;
        self.check_range(src, len)?;
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
        let row_bytes = req.width.checked_mul(elem).ok_or(INVALID_VALUE)?;
        let api = self.driver.api();
        let (dst, w, v) = (req.dst, to_usize(req.width)?, req.value);
        if req.height <= 1 {
            let n = if req.height == 0 { 0 } else { row_bytes };
            self.check_range(dst, n)?;
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
        self.check_range(dst, span_2d(req.pitch, row_bytes, req.height)?)?;
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
                self.check_range(req.dst, span_2d(req.dst_pitch, w, h)?)?;
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
                self.check_range(req.dst, span_2d(req.dst_pitch, w, h)?)?;
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

    fn module_load(&mut self, ctx: u64, image: &[u8]) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let image = check_image(image)?;
        let mut raw: CUmodule = std::ptr::null_mut();
        // SAFETY: `image` is a checked, self-contained image valid during the
        // call (the driver copies what it keeps); the context is current.
        check(unsafe { (self.driver.api().module_load_data)(&mut raw, image.as_ptr().cast()) })?;
        Ok(self.modules.insert(Module {
            raw,
            ctx: key,
            functions: HashMap::new(),
        }))
    }

    fn module_unload(&mut self, ctx: u64, module: u64) -> CuResult<()> {
        let _ = ctx;
        let (raw, key) = self
            .modules
            .get(module)
            .map(|m| (m.raw, m.ctx))
            .ok_or(INVALID_HANDLE)?;
        self.enter_key(key)?;
        // SAFETY: our live module.
        check(unsafe { (self.driver.api().module_unload)(raw) })?;
        self.modules.remove(module);
        self.functions.remove_where(|f| f.module == module);
        self.globals.retain(|_, r| r.module != module);
        Ok(())
    }

    fn module_get_function(
        &mut self,
        ctx: u64,
        module: u64,
        name: &str,
    ) -> CuResult<(u64, Vec<ParamInfo>)> {
        let _ = ctx;
        let (raw_module, key, cached) = self
            .modules
            .get(module)
            .map(|m| (m.raw, m.ctx, m.functions.get(name).copied()))
            .ok_or(INVALID_HANDLE)?;
        if let Some(f) = cached.and_then(|h| self.functions.get(h).map(|f| (h, f))) {
            return Ok((f.0, f.1.layout.clone()));
        }
        self.enter_key(key)?;
        let cname = CString::new(name).map_err(|_| NOT_FOUND)?;
        let api = self.driver.api();
        let mut raw: CUfunction = std::ptr::null_mut();
        // SAFETY: valid out-pointer, live module, NUL-terminated name.
        check(unsafe { (api.module_get_function)(&mut raw, raw_module, cname.as_ptr()) })?;
        let param_info = api.func_get_param_info.ok_or(NOT_SUPPORTED)?;
        let mut layout = Vec::new();
        for index in 0..uapi::cuda::MAX_PARAMS {
            let (mut offset, mut size) = (0usize, 0usize);
            // SAFETY: valid out-pointers; live function.
            if unsafe { param_info(raw, index, &mut offset, &mut size) } != 0 {
                break;
            }
            let offset = u32::try_from(offset).map_err(|_| UNKNOWN)?;
            let size = u32::try_from(size).map_err(|_| UNKNOWN)?;
            layout.push(ParamInfo { offset, size });
        }
        let handle = self.functions.insert(Function {
            raw,
            ctx: key,
            module,
            layout: layout.clone(),
        });
        if let Some(m) = self.modules.get_mut(module) {
            m.functions.insert(name.to_owned(), handle);
        }
        Ok((handle, layout))
    }

    fn module_get_global(&mut self, ctx: u64, module: u64, name: &str) -> CuResult<(u64, u64)> {
        let _ = ctx;
        let (raw_module, key) = self
            .modules
            .get(module)
            .map(|m| (m.raw, m.ctx))
            .ok_or(INVALID_HANDLE)?;
        self.enter_key(key)?;
        let cname = CString::new(name).map_err(|_| NOT_FOUND)?;
        let (mut dptr, mut size): (CUdeviceptr, usize) = (0, 0);
        // SAFETY: valid out-pointers, live module, NUL-terminated name.
        check(unsafe {
            (self.driver.api().module_get_global)(&mut dptr, &mut size, raw_module, cname.as_ptr())
        })?;
        let size = size as u64;
        if size > 0 {
            self.globals.insert(
                dptr,
                Region {
                    size,
                    ctx: key,
                    module,
                    pooled: false,
                },
            );
        }
        Ok((dptr, size))
    }

    fn launch(&mut self, req: &LaunchRequest, params: &[u8]) -> CuResult<()> {
        self.gpu_launch(req, &[], params)
    }

    fn launch_ex(
        &mut self,
        req: &LaunchRequest,
        attrs: &[LaunchAttribute],
        params: &[u8],
    ) -> CuResult<()> {
        self.gpu_launch(req, attrs, params)
    }

    fn func_get_attributes(
        &mut self,
        ctx: u64,
        function: u64,
    ) -> CuResult<[i32; FUNC_ATTRIBUTE_COUNT]> {
        self.gpu_func_get_attributes(ctx, function)
    }

    fn func_set_attribute(
        &mut self,
        ctx: u64,
        function: u64,
        attribute: i32,
        value: i32,
    ) -> CuResult<()> {
        self.gpu_func_set_attribute(ctx, function, attribute, value)
    }

    fn occupancy(&mut self, req: &OccupancyRequest) -> CuResult<u64> {
        self.gpu_occupancy(req)
    }

    fn ctx_get_limit(&mut self, ctx: u64, limit: u32) -> CuResult<u64> {
        self.gpu_ctx_get_limit(ctx, limit)
    }

    fn tensor_map_encode_tiled(
        &mut self,
        req: &TensorMapEncodeRequest,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]> {
        self.gpu_tensor_map_encode_tiled(req)
    }

    fn tensor_map_replace_address(
        &mut self,
        ctx: u64,
        map: &[u64; TENSOR_MAP_WORDS],
        global_address: u64,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]> {
        self.gpu_tensor_map_replace_address(ctx, map, global_address)
    }

    fn ctx_set_limit(&mut self, ctx: u64, limit: u32, value: u64) -> CuResult<()> {
        self.gpu_ctx_set_limit(ctx, limit, value)
    }

    fn stream_create(&mut self, ctx: u64, flags: u32, priority: i32) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let mut raw: CUstream = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the context is current.
        check(unsafe {
            (self.driver.api().stream_create_with_priority)(&mut raw, flags, priority)
        })?;
        Ok(self.streams.insert(Stream { raw, ctx: key }))
    }

    fn stream_destroy(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        let _ = ctx;
        if is_default_stream(stream) {
            return Err(INVALID_HANDLE);
        }
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: our live stream; pending work completes before release.
        check(unsafe { (self.driver.api().stream_destroy)(raw) })?;
        self.streams.remove(stream);
        Ok(())
    }

    fn stream_synchronize(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: stream of the current context (or NULL).
        check(unsafe { (self.driver.api().stream_synchronize)(raw) })
    }

    fn stream_query(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: as above.
        check(unsafe { (self.driver.api().stream_query)(raw) })
    }

    fn stream_wait_event(&mut self, ctx: u64, stream: u64, event: u64, flags: u32) -> CuResult<()> {
        let ev = self
            .events
            .get(event)
            .map(|e| e.raw)
            .ok_or(INVALID_HANDLE)?;
        let raw = self.enter_stream(ctx, stream)?;
        // SAFETY: live stream and event of this client (events may cross contexts).
        check(unsafe { (self.driver.api().stream_wait_event)(raw, ev, flags) })
    }

    fn event_create(&mut self, ctx: u64, flags: u32) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let mut raw: CUevent = std::ptr::null_mut();
        // SAFETY: valid out-pointer; the context is current.
        check(unsafe { (self.driver.api().event_create)(&mut raw, flags) })?;
        Ok(self.events.insert(Event { raw, ctx: key }))
    }

    fn event_destroy(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        let _ = ctx;
        let (raw, _) = self.enter_event(event)?;
        // SAFETY: our live event.
        check(unsafe { (self.driver.api().event_destroy)(raw) })?;
        self.events.remove(event);
        Ok(())
    }

    fn event_record(&mut self, ctx: u64, event: u64, stream: u64) -> CuResult<()> {
        let key = self.enter(ctx)?;
        let ev = match self.events.get(event) {
            Some(e) if e.ctx == key => e.raw,
            _ => return Err(INVALID_HANDLE),
        };
        let s = self.stream_in(key, stream)?;
        // SAFETY: event and stream of the current context.
        check(unsafe { (self.driver.api().event_record)(ev, s) })
    }

    fn event_query(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        let _ = ctx;
        let (raw, _) = self.enter_event(event)?;
        // SAFETY: our live event.
        check(unsafe { (self.driver.api().event_query)(raw) })
    }

    fn event_synchronize(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        let _ = ctx;
        let (raw, _) = self.enter_event(event)?;
        // SAFETY: our live event.
        check(unsafe { (self.driver.api().event_synchronize)(raw) })
    }

    fn event_elapsed_time(&mut self, ctx: u64, start: u64, end: u64) -> CuResult<f32> {
        let _ = ctx;
        let end_raw = self.events.get(end).map(|e| e.raw).ok_or(INVALID_HANDLE)?;
        let (start_raw, _) = self.enter_event(start)?;
        let mut ms = 0f32;
        // SAFETY: valid out-pointer; live events of this client.
        check(unsafe { (self.driver.api().event_elapsed_time)(&mut ms, start_raw, end_raw) })?;
        Ok(ms)
    }

    fn mem_alloc_async(&mut self, ctx: u64, stream: u64, size: u64, pool: u64) -> CuResult<u64> {
        self.pool_alloc(ctx, stream, size, pool)
    }

    fn mem_free_async(&mut self, ctx: u64, stream: u64, dptr: u64) -> CuResult<()> {
        self.pool_free(ctx, stream, dptr)
    }

    fn mem_pool_get_attribute(&mut self, ctx: u64, pool: u64, attr: u32) -> CuResult<u64> {
        self.pool_get(ctx, pool, attr)
    }

    fn mem_pool_set_attribute(
        &mut self,
        ctx: u64,
        pool: u64,
        attr: u32,
        value: u64,
    ) -> CuResult<()> {
        self.pool_set(ctx, pool, attr, value)
    }

    fn mem_pool_trim_to(&mut self, ctx: u64, pool: u64, keep: u64) -> CuResult<()> {
        self.pool_trim(ctx, pool, keep)
    }

    fn memory_used(&self) -> u64 {
        self.allocations.values().map(|r| r.size).sum()
    }

    fn function_layout(&self, function: u64) -> Option<&[ParamInfo]> {
        self.functions.get(function).map(|f| f.layout.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_streams() {
        assert!(is_default_stream(0) && is_default_stream(1) && is_default_stream(2));
        assert!(!is_default_stream(3));
    }

    #[test]
    fn span_2d_rows() {
        assert_eq!(span_2d(256, 100, 0), Ok(0));
        assert_eq!(span_2d(256, 100, 1), Ok(100));
        assert_eq!(span_2d(256, 100, 3), Ok(612));
        assert_eq!(span_2d(u64::MAX, 1, 3), Err(INVALID_VALUE));
    }

    #[test]
    fn images_with_host_pointers_or_bad_sizes_are_refused() {
        // Fatbin wrapper: carries pointers.
        let wrapper = [0xB1, 0x43, 0x62, 0x46, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(check_image(&wrapper).err(), Some(INVALID_IMAGE));
        // Fatbin header claiming more bytes than sent.
        let mut fatbin = vec![0x50, 0xED, 0x55, 0xBA, 1, 0, 16, 0];
        fatbin.extend_from_slice(&100u64.to_le_bytes());
        assert_eq!(check_image(&fatbin).err(), Some(INVALID_IMAGE));
        fatbin.resize(116, 0);
        assert!(check_image(&fatbin).is_ok());
        // Truncated ELF header.
        assert_eq!(check_image(b"\x7fELF\x02\x01").err(), Some(INVALID_IMAGE));
        assert_eq!(check_image(b"ab").err(), Some(INVALID_IMAGE));
        // ELF whose section table lies past the end.
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&1000u64.to_le_bytes());
        elf[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3C..0x3E].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(check_image(&elf).err(), Some(INVALID_IMAGE));
        // A minimal header-only ELF is accepted.
        elf[0x28..0x30].copy_from_slice(&0u64.to_le_bytes());
        elf[0x3C..0x3E].copy_from_slice(&0u16.to_le_bytes());
        assert!(check_image(&elf).is_ok());
    }

    use crate::executor::cuda::fake;

    fn client() -> GpuClient {
        GpuClient::new(
            fake::driver(),
            0,
            vec![0; uapi::cuda::ATTRIBUTE_COUNT].into(),
        )
    }

    fn live_ctx() -> usize {
        fake::with(|f| f.live_ctx.len())
    }

    #[test]
    fn memory_round_trips_and_everything_is_freed_on_drop() {
        let mut c = client();
        assert_eq!(live_ctx(), 0, "no context before first use");
        let a = c.mem_alloc(0, 4096).expect("alloc");
        assert_eq!(live_ctx(), 1);
        let data: Vec<u8> = (0..=255).collect();
        c.memcpy_htod(0, 0, a, &data, false).expect("htod");
        let mut out = vec![0u8; 256];
        c.memcpy_dtoh(0, 0, a, &mut out).expect("dtoh");
        assert_eq!(out, data);
        // Async, staged; large enough to be page-locked.
        let big = vec![0x5au8; 2 << 20];
        let b = c.mem_alloc(0, big.len() as u64).expect("alloc");
        c.memcpy_htod(0, 0, b, &big, true).expect("htod async");
        assert_eq!(fake::with(|f| f.registered.len()), 1);
        let mut back = vec![0u8; big.len()];
        c.memcpy_dtoh(0, 0, b, &mut back).expect("dtoh");
        assert!(back == big);
        // Inside one allocation only.
        assert_eq!(
            c.memcpy_htod(0, 0, a + 4000, &data, false),
            Err(INVALID_VALUE)
        );
        assert_eq!(c.memcpy_dtod(0, 0, a, b, 8192, true), Err(INVALID_VALUE));
        c.memcpy_dtod(0, 0, a + 256, a, 256, false).expect("dtod");
        // Memsets, 1D and 2D.
        let req = MemsetRequest {
            dst: a,
            width: 4,
            height: 1,
            value: 0x0102_0304,
            elem_size: 4,
            ..Default::default()
        };
        c.memset(&req).expect("memset 1d");
        let mut four = [0u8; 16];
        c.memcpy_dtoh(0, 0, a, &mut four).expect("dtoh");
        assert_eq!(&four[..4], &[4, 3, 2, 1]);
        let req2 = MemsetRequest {
            dst: a,
            pitch: 16,
            width: 2,
            height: 3,
            value: 0xee,
            elem_size: 1,
            flags: copy_flags::ASYNC,
            ..Default::default()
        };
        c.memset(&req2).expect("memset 2d");
        let mut rows = [0u8; 48];
        c.memcpy_dtoh(0, 0, a, &mut rows).expect("dtoh");
        assert_eq!(&rows[16..19], &[0xee, 0xee, 18]);
        let too_far = MemsetRequest {
            height: 300,
            ..req2
        };
        assert_eq!(c.memset(&too_far), Err(INVALID_VALUE));
        // 2D copies with packed host rows.
        let up = Copy2dRequest {
            dst: a + 1024,
            dst_pitch: 64,
            width: 3,
            height: 2,
            kind: copy_kind::HTOD,
            flags: copy_flags::ASYNC,
            ..Default::default()
        };
        c.memcpy_2d(&up, &[1, 2, 3, 4, 5, 6], &mut [])
            .expect("2d htod");
        let down = Copy2dRequest {
            src: a + 1024,
            src_pitch: 64,
            width: 3,
            height: 2,
            kind: copy_kind::DTOH,
            ..Default::default()
        };
        let mut packed = [0u8; 6];
        c.memcpy_2d(&down, &[], &mut packed).expect("2d dtoh");
        assert_eq!(packed, [1, 2, 3, 4, 5, 6]);
        assert_eq!(c.mem_get_address_range(0, a + 5), Ok((a, 4096)));
        assert_eq!(c.mem_get_address_range(0, 0x10), Err(NOT_FOUND));
        assert_eq!(c.mem_free(0, a + 1), Err(INVALID_VALUE));
        c.mem_free(0, a).expect("free");
        assert_eq!(c.mem_free(0, a), Err(INVALID_VALUE));
        drop(c);
        fake::with(|f| {
            assert!(f.live_ctx.is_empty());
            assert!(f.memory.is_empty());
            assert!(f.registered.is_empty(), "staging unregistered");
            assert!(f.events.is_empty(), "staging events destroyed");
        });
    }

    #[test]
    fn clients_cannot_reach_each_other() {
        let mut a = client();
        let mut b = client();
        let pa = a.mem_alloc(0, 64).expect("alloc");
        let _pb = b.mem_alloc(0, 64).expect("alloc");
        assert_eq!(live_ctx(), 2, "one host context per client");
        let mut out = [0u8; 8];
        assert_eq!(b.memcpy_dtoh(0, 0, pa, &mut out), Err(INVALID_VALUE));
        assert_eq!(b.memcpy_htod(0, 0, pa, &out, false), Err(INVALID_VALUE));
        assert_eq!(b.mem_free(0, pa), Err(INVALID_VALUE));
        let sa = a.stream_create(0, 0, 0).expect("stream");
        assert_eq!(b.stream_synchronize(0, sa), Err(INVALID_HANDLE));
        let ea = a.event_create(0, 0).expect("event");
        assert_eq!(b.event_query(0, ea), Err(INVALID_HANDLE));
        assert_eq!(
            b.stream_synchronize(0, ea),
            Err(INVALID_HANDLE),
            "wrong kind"
        );
        assert_eq!(b.mem_get_info(0x1234), Err(INVALID_CONTEXT));
        drop(a);
        assert_eq!(live_ctx(), 1);
        let mut keep = [0u8; 8];
        assert_eq!(b.memcpy_dtoh(0, 0, pa, &mut keep), Err(INVALID_VALUE));
    }

    #[test]
    fn modules_functions_and_launches() {
        let mut c = client();
        let m = c
            .module_load(0, b".version 8.0\n.entry kern()\n")
            .expect("load");
        let (f, layout) = c.module_get_function(0, m, "kern").expect("function");
        assert_eq!(
            layout,
            vec![
                ParamInfo { offset: 0, size: 8 },
                ParamInfo { offset: 8, size: 4 }
            ]
        );
        assert_eq!(c.module_get_function(0, m, "kern").map(|r| r.0), Ok(f));
        assert_eq!(c.module_get_function(0, m, "nope").err(), Some(NOT_FOUND));
        assert_eq!(c.module_get_function(0, m, "a\0b").err(), Some(NOT_FOUND));
        assert_eq!(c.function_layout(f).map(<[ParamInfo]>::len), Some(2));
        // Parameters from a misaligned slice arrive 8-aligned and intact.
        let mut raw = [0u8; 13];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = i as u8;
        }
        let s = c.stream_create(0, 1, 0).expect("stream");
        let req = LaunchRequest {
            stream: s,
            function: f,
            grid: [2, 1, 1],
            block: [32, 1, 1],
            param_bytes: 12,
            ..Default::default()
        };
        c.launch(&req, &raw[1..]).expect("launch");
        let (bytes, dims, stream) = fake::with(|st| st.last_launch.clone()).expect("launched");
        assert_eq!(bytes, raw[1..].to_vec());
        assert_eq!(dims, [2, 1, 1, 32, 1, 1]);
        assert_ne!(stream, 0);
        c.launch(&LaunchRequest { stream: 0, ..req }, &[])
            .expect("launch");
        let (bytes, _, stream) = fake::with(|st| st.last_launch.clone()).expect("launched");
        assert!(bytes.is_empty());
        assert_eq!(stream, 0);
        assert_eq!(
            c.launch(&LaunchRequest { function: m, ..req }, &raw[1..]),
            Err(INVALID_HANDLE)
        );
        let (g, size) = c.module_get_global(0, m, "var").expect("global");
        assert_eq!(size, 64);
        c.memcpy_htod(0, 0, g, &[1; 64], false)
            .expect("global is writable");
        c.module_unload(0, m).expect("unload");
        assert!(c.function_layout(f).is_none());
        assert_eq!(c.memcpy_htod(0, 0, g, &[1; 64], false), Err(INVALID_VALUE));
        assert_eq!(c.module_unload(0, m), Err(INVALID_HANDLE));
        assert_eq!(
            c.module_load(0, &[0xB1, 0x43, 0x62, 0x46, 1, 0, 0, 0]),
            Err(INVALID_IMAGE)
        );
    }

    #[test]
    fn contexts_primary_and_current_caching() {
        let mut c = client();
        assert_eq!(c.primary_ctx_retain(1), Err(INVALID_DEVICE));
        let p = c.primary_ctx_retain(0).expect("retain");
        assert_eq!(live_ctx(), 1);
        assert_eq!(c.primary_ctx_retain(0), Ok(p));
        // ctx 0 and the primary handle are the same context.
        let x = c.mem_alloc(p, 16).expect("alloc");
        c.mem_free(0, x).expect("free through ctx 0");
        let calls = fake::with(|f| f.set_current_calls);
        for _ in 0..5 {
            c.mem_get_info(0).expect("info");
        }
        assert_eq!(fake::with(|f| f.set_current_calls), calls, "cached");

        let k = c.ctx_create(0, 0).expect("create");
        assert_eq!(live_ctx(), 2);
        let y = c.mem_alloc(k, 16).expect("alloc");
        let s = c.stream_create(k, 0, 0).expect("stream");
        // A stream of context k is not one of the primary's.
        assert_eq!(c.memcpy_htod(0, s, y, &[0; 4], true), Err(INVALID_HANDLE));
        c.memcpy_htod(k, s, y, &[0; 4], true).expect("same context");
        assert_eq!(c.ctx_destroy(0), Err(INVALID_CONTEXT));
        assert_eq!(c.ctx_destroy(p), Err(INVALID_CONTEXT));
        c.ctx_destroy(k).expect("destroy");
        assert_eq!(live_ctx(), 1);
        assert_eq!(c.ctx_destroy(k), Err(INVALID_CONTEXT));
        assert_eq!(c.mem_free(0, y), Err(INVALID_VALUE));
        assert_eq!(c.stream_query(0, s), Err(INVALID_HANDLE));
        assert_eq!(c.mem_alloc(k, 16), Err(INVALID_CONTEXT));

        let e1 = c.event_create(0, 0).expect("event");
        let e2 = c.event_create(0, 0).expect("event");
        c.event_record(0, e1, 0).expect("record");
        c.event_record(0, e2, 0).expect("record");
        assert_eq!(c.event_elapsed_time(0, e1, e2), Ok(1.5));
        c.event_destroy(0, e1).expect("destroy");
        assert_eq!(c.event_query(0, e1), Err(INVALID_HANDLE));

        c.primary_ctx_release(0).expect("release");
        assert_eq!(live_ctx(), 1, "still retained once");
        c.primary_ctx_release(0).expect("release");
        assert_eq!(live_ctx(), 0, "destroyed at zero");
        assert_eq!(c.primary_ctx_release(0), Err(INVALID_CONTEXT));
        assert_eq!(c.event_query(0, e2), Err(INVALID_HANDLE), "gone with it");
        // The same primary handle comes back to life on use.
        assert_eq!(c.primary_ctx_retain(0), Ok(p));
        assert_eq!(live_ctx(), 1);
        c.mem_alloc(0, 8).expect("alloc");
        c.primary_ctx_reset(0).expect("reset");
        assert_eq!(live_ctx(), 0);
        assert_eq!(
            c.device_attributes(0).map(|a| a.len()),
            Ok(uapi::cuda::ATTRIBUTE_COUNT)
        );
    }

    #[test]
    fn ptx_gets_a_terminator() {
        let ptx = b".version 8.0\n.target sm_90\n";
        let out = check_image(ptx).expect("ptx");
        assert_eq!(out.last(), Some(&0));
        assert_eq!(&out[..ptx.len()], ptx);
        let terminated = b".version 8.0\n\0";
        assert!(matches!(
            check_image(terminated),
            Ok(std::borrow::Cow::Borrowed(_))
        ));
    }
}
