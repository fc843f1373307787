//! One client's CUDA state on the simulator. Work runs synchronously in
//! submission order, which is a valid schedule of any set of streams, so
//! streams need no queues of their own and an event's time is when it ran.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::image::ptx_text;
use super::memory::{AddressSpace, ClientMemory, Owner};
use super::pool::SimPool;
use crate::cuda::{CuResult, CudaBackend};
use crate::ptx::limits::{
    MAX_BLOCK_DIM_Z, MAX_BLOCK_THREADS, MAX_GRID_DIM_X, MAX_GRID_DIM_YZ, MAX_SHARED_BYTES_PER_BLOCK,
};
use crate::ptx::{self, LaunchConfig, LaunchError};
use uapi::cmd::DeviceInfo;
use uapi::cuda::{
    copy_kind, result, Copy2dRequest, LaunchAttribute, LaunchRequest, MemsetRequest,
    OccupancyRequest, ParamInfo, TensorMapEncodeRequest, FUNC_ATTRIBUTE_COUNT, TENSOR_MAP_WORDS,
};

mod function;

/// Handle kinds, in the top 16 bits of a handle.
const KIND_CTX: u64 = 0xc7;
const KIND_MODULE: u64 = 0x3d;
const KIND_FUNCTION: u64 = 0xf0;
const KIND_STREAM: u64 = 0x57;
const KIND_EVENT: u64 = 0xe7;

/// `CUDA_ERROR_ASSERT`: a device-side assert failed (not in uapi's table).
const CUDA_ERROR_ASSERT: u32 = 710;

/// The handle of the client's primary context.
const PRIMARY: u64 = (KIND_CTX << 48) | 1;

struct SimModule {
    ctx: u64,
    ptx: Arc<ptx::Module>,
    /// Variable name → (address, size).
    globals: HashMap<String, (u64, u64)>,
}

struct SimFunction {
    module: u64,
    kernel: usize,
    layout: Vec<ParamInfo>,
    /// `CUfunction_attribute` values (some settable).
    attrs: [i32; FUNC_ATTRIBUTE_COUNT],
}

struct SimEvent {
    ctx: u64,
    recorded: Option<Instant>,
}

/// The simulator's side of one client.
pub struct SimBackend {
    info: DeviceInfo,
    attributes: Arc<Vec<i32>>,
    space: Arc<AddressSpace>,
    memory: ClientMemory,
    next_id: u64,
    contexts: HashMap<u64, ()>,
    primary_retained: u32,
    modules: HashMap<u64, SimModule>,
    functions: HashMap<u64, SimFunction>,
    streams: HashMap<u64, u64>,
    events: HashMap<u64, SimEvent>,
    /// `CUlimit` values.
    limits: [(u32, u64); 7],
    pool: SimPool,
}

impl SimBackend {
    /// A fresh client on the simulated device.
    pub fn new(info: DeviceInfo, attributes: Arc<Vec<i32>>, space: Arc<AddressSpace>) -> Self {
        Self {
            info,
            attributes,
            memory: ClientMemory::new(space.clone()),
            space,
            next_id: 2,
            contexts: HashMap::new(),
            primary_retained: 0,
            modules: HashMap::new(),
            functions: HashMap::new(),
            streams: HashMap::new(),
            events: HashMap::new(),
            limits: function::DEFAULT_LIMITS,
            pool: SimPool::default(),
        }
    }

    fn handle(&mut self, kind: u64) -> u64 {
        self.next_id += 1;
        (kind << 48) | self.next_id
    }

    /// The context a request names, normalised (0 → primary).
    fn ctx(&self, ctx: u64) -> CuResult<u64> {
        match ctx {
            0 | PRIMARY => Ok(PRIMARY),
            c if self.contexts.contains_key(&c) => Ok(c),
            _ => Err(result::INVALID_CONTEXT),
        }
    }

    fn stream(&self, ctx: u64, stream: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        match stream {
            0..=2 => Ok(()),
            s if self.streams.contains_key(&s) => Ok(()),
            _ => Err(result::INVALID_HANDLE),
        }
    }

    fn device(&self, device: i32) -> CuResult<()> {
        if device == 0 {
            Ok(())
        } else {
            Err(result::INVALID_DEVICE)
        }
    }

    /// Drops everything created in `ctx`.
    fn release_context(&mut self, ctx: u64) {
        self.memory.free_owned(Owner::Context(ctx));
        self.pool.forget_context(ctx);
        let modules: Vec<u64> = self
            .modules
            .iter()
            .filter(|(_, m)| m.ctx == ctx)
            .map(|(h, _)| *h)
            .collect();
        for m in modules {
            self.drop_module(m);
        }
        self.streams.retain(|_, c| *c != ctx);
        self.events.retain(|_, e| e.ctx != ctx);
    }

    fn drop_module(&mut self, module: u64) {
        self.modules.remove(&module);
        self.functions.retain(|_, f| f.module != module);
        self.memory.free_owned(Owner::Module(module));
    }

    fn read_device(&self, addr: u64, len: usize) -> CuResult<Vec<u8>> {
        let mut buf = vec![0; len];
        if self.memory.read(addr, &mut buf) {
            Ok(buf)
        } else {
            Err(result::INVALID_VALUE)
        }
    }
}

impl CudaBackend for SimBackend {
    fn device_attributes(&mut self, device: i32) -> CuResult<Vec<i32>> {
        self.device(device)?;
        Ok(self.attributes.as_ref().clone())
    }

    fn mem_get_info(&mut self, ctx: u64) -> CuResult<(u64, u64)> {
        self.ctx(ctx)?;
        let total = self.space.total();
        Ok((total.saturating_sub(self.space.used()), total))
    }

    fn ctx_create(&mut self, _flags: u32, device: i32) -> CuResult<u64> {
        self.device(device)?;
        let h = self.handle(KIND_CTX);
        self.contexts.insert(h, ());
        Ok(h)
    }

    fn ctx_destroy(&mut self, ctx: u64) -> CuResult<()> {
        if ctx == PRIMARY || self.contexts.remove(&ctx).is_none() {
            return Err(result::INVALID_CONTEXT);
        }
        self.release_context(ctx);
        Ok(())
    }

    fn primary_ctx_retain(&mut self, device: i32) -> CuResult<u64> {
        self.device(device)?;
        self.primary_retained = self.primary_retained.saturating_add(1);
        Ok(PRIMARY)
    }

    fn primary_ctx_release(&mut self, device: i32) -> CuResult<()> {
        self.device(device)?;
        if self.primary_retained == 0 {
            return Err(result::INVALID_CONTEXT);
        }
        self.primary_retained -= 1;
        Ok(())
    }

    fn primary_ctx_reset(&mut self, device: i32) -> CuResult<()> {
        self.device(device)?;
        self.release_context(PRIMARY);
        Ok(())
    }

    fn ctx_synchronize(&mut self, ctx: u64) -> CuResult<()> {
        self.ctx(ctx).map(drop)
    }

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
            if self
                .memory
                .range(addr)
                .is_none_or(|(b, s)| addr + row_len as u64 > b + s)
                && row_len > 0
            {
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

    fn module_load(&mut self, ctx: u64, image: &[u8]) -> CuResult<u64> {
        let ctx = self.ctx(ctx)?;
        let text = ptx_text(image)?;
        let parsed = ptx::Module::parse(&text).map_err(|e| {
            tracing::warn!(error = %e, "PTX rejected");
            result::INVALID_PTX
        })?;
        for (line, instruction) in parsed.unsupported_instructions() {
            tracing::debug!(line, instruction, "outside the simulator's PTX subset");
        }
        let handle = self.handle(KIND_MODULE);
        let mut globals = HashMap::new();
        for g in parsed.globals() {
            let size = g.size.max(1);
            let addr = self
                .memory
                .alloc(size, Owner::Module(handle))
                .ok_or(result::OUT_OF_MEMORY)?;
            self.memory.write(addr, &g.init);
            globals.insert(g.name.clone(), (addr, g.size));
        }
        self.modules.insert(
            handle,
            SimModule {
                ctx,
                ptx: Arc::new(parsed),
                globals,
            },
        );
        Ok(handle)
    }

    fn module_unload(&mut self, ctx: u64, module: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        if !self.modules.contains_key(&module) {
            return Err(result::INVALID_HANDLE);
        }
        self.drop_module(module);
        Ok(())
    }

    fn module_get_function(
        &mut self,
        ctx: u64,
        module: u64,
        name: &str,
    ) -> CuResult<(u64, Vec<ParamInfo>)> {
        self.ctx(ctx)?;
        let m = self.modules.get(&module).ok_or(result::INVALID_HANDLE)?;
        let kernel = m
            .ptx
            .kernels()
            .iter()
            .position(|k| k.name == name)
            .ok_or(result::NOT_FOUND)?;
        let layout: Vec<ParamInfo> = m.ptx.kernels()[kernel]
            .params
            .iter()
            .map(|p| ParamInfo {
                offset: p.offset,
                size: p.size,
            })
            .collect();
        // One handle per (module, kernel), as CUDA returns the same CUfunction.
        if let Some((h, _)) = self
            .functions
            .iter()
            .find(|(_, f)| f.module == module && f.kernel == kernel)
        {
            return Ok((*h, layout));
        }
        let attrs = function::kernel_attributes(&m.ptx, &m.ptx.kernels()[kernel]);
        let h = self.handle(KIND_FUNCTION);
        self.functions.insert(
            h,
            SimFunction {
                module,
                kernel,
                layout: layout.clone(),
                attrs,
            },
        );
        Ok((h, layout))
    }

    fn module_get_global(&mut self, ctx: u64, module: u64, name: &str) -> CuResult<(u64, u64)> {
        self.ctx(ctx)?;
        let m = self.modules.get(&module).ok_or(result::INVALID_HANDLE)?;
        m.globals.get(name).copied().ok_or(result::NOT_FOUND)
    }

    fn launch(&mut self, r: &LaunchRequest, params: &[u8]) -> CuResult<()> {
        self.stream(r.ctx, r.stream)?;
        let f = self
            .functions
            .get(&r.function)
            .ok_or(result::INVALID_HANDLE)?;
        let threads = r.block.iter().map(|&d| u64::from(d)).product::<u64>();
        if threads > u64::from(MAX_BLOCK_THREADS)
            || r.block[2] > MAX_BLOCK_DIM_Z
            || r.grid[1] > MAX_GRID_DIM_YZ
            || r.grid[2] > MAX_GRID_DIM_YZ
            || r.grid[0] > MAX_GRID_DIM_X
            || r.shared_bytes > MAX_SHARED_BYTES_PER_BLOCK
            || i64::from(r.shared_bytes)
                > i64::from(
                    f.attrs[uapi::cuda::func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES as usize],
                )
        {
            return Err(result::INVALID_VALUE);
        }
        let m = self.modules.get(&f.module).ok_or(result::INVALID_HANDLE)?;
        let module = m.ptx.clone();
        let kernel = &module.kernels()[f.kernel];
        let globals = m.globals.clone();
        let resolve = |name: &str| globals.get(name).map(|(addr, _)| *addr);
        let cfg = LaunchConfig {
            grid: r.grid,
            block: r.block,
            dynamic_shared_bytes: r.shared_bytes,
        };
        match ptx::launch(kernel, &module, params, &resolve, &cfg, &mut self.memory) {
            Ok(()) => Ok(()),
            Err(LaunchError::Unsupported { instruction, line }) => {
                tracing::warn!(
                    kernel = %kernel.name,
                    line,
                    %instruction,
                    "launch fails: instruction outside the simulator's PTX subset"
                );
                Err(result::NOT_SUPPORTED)
            }
            Err(LaunchError::IllegalAddress { addr }) => {
                tracing::info!(kernel = %kernel.name, addr = format_args!("{addr:#x}"), "illegal address");
                Err(result::ILLEGAL_ADDRESS)
            }
            Err(LaunchError::InvalidConfig(why)) => {
                tracing::info!(kernel = %kernel.name, %why, "invalid launch");
                Err(result::INVALID_VALUE)
            }
            Err(LaunchError::Trap) => Err(result::LAUNCH_FAILED),
            Err(LaunchError::Assert(why)) => {
                tracing::info!(kernel = %kernel.name, %why, "device assertion failed");
                Err(CUDA_ERROR_ASSERT)
            }
            Err(LaunchError::Deadlock(why)) => {
                tracing::warn!(kernel = %kernel.name, %why, "launch fails: deadlock");
                Err(result::LAUNCH_FAILED)
            }
            Err(LaunchError::Timeout) => {
                tracing::warn!(kernel = %kernel.name, "launch stopped by the watchdog");
                Err(result::LAUNCH_TIMEOUT)
            }
        }
    }

    fn func_get_attributes(
        &mut self,
        ctx: u64,
        function: u64,
    ) -> CuResult<[i32; FUNC_ATTRIBUTE_COUNT]> {
        self.sim_func_get_attributes(ctx, function)
    }

    fn func_set_attribute(
        &mut self,
        ctx: u64,
        function: u64,
        attribute: i32,
        value: i32,
    ) -> CuResult<()> {
        self.sim_func_set_attribute(ctx, function, attribute, value)
    }

    fn occupancy(&mut self, req: &OccupancyRequest) -> CuResult<u64> {
        self.sim_occupancy(req)
    }

    fn ctx_get_limit(&mut self, ctx: u64, limit: u32) -> CuResult<u64> {
        self.sim_ctx_get_limit(ctx, limit)
    }

    fn ctx_set_limit(&mut self, ctx: u64, limit: u32, value: u64) -> CuResult<()> {
        self.sim_ctx_set_limit(ctx, limit, value)
    }

    fn launch_ex(
        &mut self,
        req: &LaunchRequest,
        attrs: &[LaunchAttribute],
        params: &[u8],
    ) -> CuResult<()> {
        self.sim_launch_ex(req, attrs, params)
    }

    fn tensor_map_encode_tiled(
        &mut self,
        req: &TensorMapEncodeRequest,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]> {
        self.ctx(req.ctx)?;
        tracing::warn!("the simulator has no tensor memory accelerator (cuTensorMapEncodeTiled)");
        Err(result::NOT_SUPPORTED)
    }

    fn tensor_map_replace_address(
        &mut self,
        ctx: u64,
        _map: &[u64; TENSOR_MAP_WORDS],
        _global_address: u64,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]> {
        self.ctx(ctx)?;
        Err(result::NOT_SUPPORTED)
    }

    fn stream_create(&mut self, ctx: u64, _flags: u32, _priority: i32) -> CuResult<u64> {
        let ctx = self.ctx(ctx)?;
        let h = self.handle(KIND_STREAM);
        self.streams.insert(h, ctx);
        Ok(h)
    }

    fn stream_destroy(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.streams
            .remove(&stream)
            .map(drop)
            .ok_or(result::INVALID_HANDLE)
    }

    fn stream_synchronize(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)
    }

    fn stream_query(&mut self, ctx: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)
    }

    fn stream_wait_event(
        &mut self,
        ctx: u64,
        stream: u64,
        event: u64,
        _flags: u32,
    ) -> CuResult<()> {
        self.stream(ctx, stream)?;
        self.events
            .get(&event)
            .map(drop)
            .ok_or(result::INVALID_HANDLE)
    }

    fn event_create(&mut self, ctx: u64, _flags: u32) -> CuResult<u64> {
        let ctx = self.ctx(ctx)?;
        let h = self.handle(KIND_EVENT);
        self.events.insert(
            h,
            SimEvent {
                ctx,
                recorded: None,
            },
        );
        Ok(h)
    }

    fn event_destroy(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.events
            .remove(&event)
            .map(drop)
            .ok_or(result::INVALID_HANDLE)
    }

    fn event_record(&mut self, ctx: u64, event: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)?;
        let e = self.events.get_mut(&event).ok_or(result::INVALID_HANDLE)?;
        e.recorded = Some(Instant::now());
        Ok(())
    }

    fn event_query(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.events
            .get(&event)
            .map(drop)
            .ok_or(result::INVALID_HANDLE)
    }

    fn event_synchronize(&mut self, ctx: u64, event: u64) -> CuResult<()> {
        self.event_query(ctx, event)
    }

    fn event_elapsed_time(&mut self, ctx: u64, start: u64, end: u64) -> CuResult<f32> {
        self.ctx(ctx)?;
        let at = |e: u64| {
            self.events
                .get(&e)
                .ok_or(result::INVALID_HANDLE)?
                .recorded
                .ok_or(result::INVALID_HANDLE)
        };
        let (s, e) = (at(start)?, at(end)?);
        let ms = if e >= s {
            e.duration_since(s).as_secs_f64() * 1e3
        } else {
            -(s.duration_since(e).as_secs_f64() * 1e3)
        };
        Ok(ms as f32)
    }

    fn memory_used(&self) -> u64 {
        self.memory.bytes_held()
    }

    fn function_layout(&self, function: u64) -> Option<&[ParamInfo]> {
        self.functions.get(&function).map(|f| f.layout.as_slice())
    }
}

impl SimBackend {
    /// Identity of the device this client runs on.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }
}
