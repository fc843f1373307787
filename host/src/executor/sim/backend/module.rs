//! Modules, functions and launches on the simulator (the PTX interpreter).

use super::*;

impl ModuleBackend for SimBackend {
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
    fn launch_ex(
        &mut self,
        req: &LaunchRequest,
        attrs: &[LaunchAttribute],
        params: &[u8],
    ) -> CuResult<()> {
        self.sim_launch_ex(req, attrs, params)
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
    fn function_layout(&self, function: u64) -> Option<&[ParamInfo]> {
        self.functions.get(&function).map(|f| f.layout.as_slice())
    }
}
