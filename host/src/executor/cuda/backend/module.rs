//! Modules, functions and launches.

use super::*;
impl ModuleBackend for GpuClient {
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
    fn function_layout(&self, function: u64) -> Option<&[ParamInfo]> {
        self.functions.get(function).map(|f| f.layout.as_slice())
    }
}
