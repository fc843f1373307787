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
    fn function_layout(&self, function: u64) -> Option<&[ParamInfo]> {
        self.functions.get(&function).map(|f| f.layout.as_slice())
    }
}

impl TensorMapBackend for SimBackend {
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
}
