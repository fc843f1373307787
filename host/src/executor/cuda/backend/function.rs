//! Function attributes, occupancy, context limits and launches (plain and
//! `cuLaunchKernelEx`) on the host GPU: each forwards to NVIDIA's driver in
//! the function's own context.

use super::*;

use super::GpuClient;
use crate::cancel::CancelToken;
use crate::cuda::backend::CuResult;
use crate::executor::cuda::driver::{
    check, CUfunction, CuLaunchConfig, CU_LAUNCH_PARAM_BUFFER_POINTER, CU_LAUNCH_PARAM_BUFFER_SIZE,
    CU_LAUNCH_PARAM_END,
};
use std::ffi::{c_int, c_uint, c_void};
use uapi::cuda::result::{INVALID_HANDLE, INVALID_VALUE, NOT_SUPPORTED};
use uapi::cuda::{
    occupancy, LaunchAttribute, LaunchRequest, OccupancyRequest, FUNC_ATTRIBUTE_COUNT,
};

impl GpuClient {
    /// A function of the client, with its context made current.
    fn enter_function(&mut self, ctx: u64, function: u64) -> CuResult<CUfunction> {
        let _ = ctx; // a function names its own context
        let (raw, key) = self
            .functions
            .get(function)
            .map(|f| (f.raw, f.ctx))
            .ok_or(INVALID_HANDLE)?;
        self.enter_key(key)?;
        Ok(raw)
    }
}

impl LaunchBackend for GpuClient {
    fn func_get_attributes(
        &mut self,
        ctx: u64,
        function: u64,
    ) -> CuResult<[i32; FUNC_ATTRIBUTE_COUNT]> {
        let raw = self.enter_function(ctx, function)?;
        let get = self.driver.api().func_get_attribute.ok_or(NOT_SUPPORTED)?;
        let mut values = [0i32; FUNC_ATTRIBUTE_COUNT];
        for (attr, v) in values.iter_mut().enumerate() {
            // SAFETY: valid out-pointer, live function, attribute in range.
            check(unsafe { get(v, attr as c_int, raw) })?;
        }
        Ok(values)
    }
    fn func_set_attribute(
        &mut self,
        ctx: u64,
        function: u64,
        attribute: i32,
        value: i32,
    ) -> CuResult<()> {
        let raw = self.enter_function(ctx, function)?;
        let set = self.driver.api().func_set_attribute.ok_or(NOT_SUPPORTED)?;
        // SAFETY: live function; the driver validates attribute and value.
        check(unsafe { set(raw, attribute, value) })
    }
    fn occupancy(&mut self, r: &OccupancyRequest) -> CuResult<u64> {
        let raw = self.enter_function(r.ctx, r.function)?;
        let api = *self.driver.api();
        let block = c_int::try_from(r.block_size).map_err(|_| INVALID_VALUE)?;
        let smem = usize::try_from(r.dynamic_smem).map_err(|_| INVALID_VALUE)?;
        match r.kind {
            occupancy::MAX_ACTIVE_BLOCKS => {
                let f = api.occupancy_max_active_blocks.ok_or(NOT_SUPPORTED)?;
                let mut n: c_int = 0;
                // SAFETY: valid out-pointer, live function.
                check(unsafe { f(&mut n, raw, block, smem, r.flags) })?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
            occupancy::AVAILABLE_DYNAMIC_SMEM => {
                let f = api.occupancy_available_dynamic_smem.ok_or(NOT_SUPPORTED)?;
                let blocks = c_int::try_from(r.num_blocks).map_err(|_| INVALID_VALUE)?;
                let mut bytes: usize = 0;
                // SAFETY: valid out-pointer, live function.
                check(unsafe { f(&mut bytes, raw, blocks, block) })?;
                Ok(bytes as u64)
            }
            occupancy::MAX_ACTIVE_CLUSTERS | occupancy::MAX_POTENTIAL_CLUSTER_SIZE => {
                let f = if r.kind == occupancy::MAX_ACTIVE_CLUSTERS {
                    api.occupancy_max_active_clusters
                } else {
                    api.occupancy_max_potential_cluster_size
                }
                .ok_or(NOT_SUPPORTED)?;
                let mut cluster = LaunchAttribute {
                    id: uapi::cuda::launch_attribute::CLUSTER_DIMENSION,
                    ..LaunchAttribute::default()
                };
                cluster.value[0] = u64::from(r.cluster[0]) | (u64::from(r.cluster[1]) << 32);
                cluster.value[1] = u64::from(r.cluster[2]);
                let has_cluster = r.cluster.iter().any(|&d| d != 0);
                let config = CuLaunchConfig {
                    grid: r.grid,
                    block: r.block,
                    shared_mem_bytes: c_uint::try_from(r.dynamic_smem)
                        .map_err(|_| INVALID_VALUE)?,
                    stream: std::ptr::null_mut(),
                    attrs: if has_cluster {
                        &mut cluster
                    } else {
                        std::ptr::null_mut()
                    },
                    num_attrs: c_uint::from(has_cluster),
                };
                let mut n: c_int = 0;
                // SAFETY: valid out-pointer, live function, a config whose
                // attribute pointer outlives the call.
                check(unsafe { f(&mut n, raw, &config) })?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
            _ => Err(INVALID_VALUE),
        }
    }
    fn ctx_get_limit(&mut self, ctx: u64, limit: u32) -> CuResult<u64> {
        self.enter(ctx)?;
        let get = self.driver.api().ctx_get_limit.ok_or(NOT_SUPPORTED)?;
        let mut v: usize = 0;
        // SAFETY: valid out-pointer; the driver validates the limit.
        check(unsafe { get(&mut v, limit) })?;
        Ok(v as u64)
    }
    fn ctx_set_limit(&mut self, ctx: u64, limit: u32, value: u64) -> CuResult<()> {
        self.enter(ctx)?;
        let set = self.driver.api().ctx_set_limit.ok_or(NOT_SUPPORTED)?;
        let value = usize::try_from(value).map_err(|_| INVALID_VALUE)?;
        // SAFETY: by-value arguments; the driver validates them.
        check(unsafe { set(limit, value) })
    }
    /// Launches `req` with `cuLaunchKernel`, or with `cuLaunchKernelEx`
    /// when there are attributes. The launch is asynchronous: nothing runs
    /// here for `cancel` to stop (a running GPU kernel stops only with its
    /// process, see the per-client worker).
    fn launch_ex(
        &mut self,
        req: &LaunchRequest,
        attrs: &[LaunchAttribute],
        params: &[u8],
        _cancel: &CancelToken,
    ) -> CuResult<()> {
        let key = self.enter(req.ctx)?;
        let raw = match self.functions.get(req.function) {
            Some(f) if f.ctx == key => f.raw,
            _ => return Err(INVALID_HANDLE),
        };
        let s = self.stream_in(key, req.stream)?;
        // The driver copies the parameters at launch; an aligned private copy
        // spares it a guest-controlled alignment.
        let words = params.len().div_ceil(8);
        self.param_scratch.clear();
        self.param_scratch.resize(words, 0);
        // SAFETY: the scratch holds `words * 8 >= params.len()` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                params.as_ptr(),
                self.param_scratch.as_mut_ptr().cast::<u8>(),
                params.len(),
            )
        };
        let mut size: usize = params.len();
        let mut extra: [*mut c_void; 5] = [
            CU_LAUNCH_PARAM_BUFFER_POINTER as *mut c_void,
            self.param_scratch.as_mut_ptr().cast(),
            CU_LAUNCH_PARAM_BUFFER_SIZE as *mut c_void,
            (&mut size as *mut usize).cast(),
            CU_LAUNCH_PARAM_END as *mut c_void,
        ];
        let extra_ptr = if params.is_empty() {
            std::ptr::null_mut()
        } else {
            extra.as_mut_ptr()
        };
        let api = *self.driver.api();
        if attrs.is_empty() {
            let [gx, gy, gz] = req.grid;
            let [bx, by, bz] = req.block;
            // SAFETY: live function of the current context; `extra` and the
            // buffers it points to outlive the call.
            return check(unsafe {
                (api.launch_kernel)(
                    raw,
                    gx,
                    gy,
                    gz,
                    bx,
                    by,
                    bz,
                    req.shared_bytes,
                    s,
                    std::ptr::null_mut(),
                    extra_ptr,
                )
            });
        }
        let launch_ex = api.launch_kernel_ex.ok_or(NOT_SUPPORTED)?;
        let mut attrs = attrs.to_vec();
        let config = CuLaunchConfig {
            grid: req.grid,
            block: req.block,
            shared_mem_bytes: req.shared_bytes,
            stream: s,
            attrs: attrs.as_mut_ptr(),
            num_attrs: c_uint::try_from(attrs.len()).map_err(|_| INVALID_VALUE)?,
        };
        // SAFETY: live function of the current context; the config, its
        // attributes (ids checked to hold no handles) and `extra` outlive
        // the call.
        check(unsafe { launch_ex(&config, raw, std::ptr::null_mut(), extra_ptr) })
    }
    fn launch(&mut self, req: &LaunchRequest, params: &[u8], cancel: &CancelToken) -> CuResult<()> {
        self.launch_ex(req, &[], params, cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::fake;
    use super::*;
    use crate::cuda::backend::{LaunchBackend, ModuleBackend};

    fn client_with_function() -> (GpuClient, u64) {
        let mut c = GpuClient::new(
            fake::driver(),
            0,
            vec![0; uapi::cuda::ATTRIBUTE_COUNT].into(),
        );
        let m = c
            .module_load(0, b".version 8.0\n.entry kern()\n")
            .expect("load");
        let (f, _) = c.module_get_function(0, m, "kern").expect("function");
        (c, f)
    }

    #[test]
    fn attributes_are_the_drivers_and_setting_one_forwards_it() {
        let (mut c, f) = client_with_function();
        let a = c.func_get_attributes(0, f).expect("attributes");
        // The fake answers attribute × 10 for each of the 16.
        assert_eq!(a.to_vec(), (0..16).map(|i| i * 10).collect::<Vec<i32>>());
        c.func_set_attribute(0, f, 8, 65536).expect("set");
        assert_eq!(c.func_get_attributes(0, f).map(|a| a[8]), Ok(65536));
        assert_eq!(c.func_get_attributes(0, f ^ 1).err(), Some(INVALID_HANDLE));
    }

    #[test]
    fn occupancy_and_limits_forward_to_the_driver() {
        let (mut c, f) = client_with_function();
        let q = OccupancyRequest {
            function: f,
            kind: occupancy::MAX_ACTIVE_BLOCKS,
            block_size: 256,
            ..Default::default()
        };
        assert_eq!(c.occupancy(&q), Ok(8));
        // Entry points this driver lacks are NOT_SUPPORTED, not a crash.
        let clusters = OccupancyRequest {
            kind: occupancy::MAX_ACTIVE_CLUSTERS,
            ..q
        };
        assert_eq!(c.occupancy(&clusters), Err(NOT_SUPPORTED));
        assert_eq!(
            c.occupancy(&OccupancyRequest { kind: 77, ..q }),
            Err(INVALID_VALUE)
        );
        assert_eq!(c.ctx_get_limit(0, 2), Ok(1024));
        c.ctx_set_limit(0, 2, 1 << 20).expect("set");
        assert_eq!(c.ctx_get_limit(0, 2), Ok(1 << 20));
    }

    #[test]
    fn a_launch_with_attributes_needs_cu_launch_kernel_ex() {
        let (mut c, f) = client_with_function();
        let req = LaunchRequest {
            function: f,
            grid: [1, 1, 1],
            block: [32, 1, 1],
            param_bytes: 12,
            ..Default::default()
        };
        let a = LaunchAttribute {
            id: uapi::cuda::launch_attribute::PRIORITY,
            ..Default::default()
        };
        // The fake driver has no cuLaunchKernelEx; without attributes the
        // plain launch runs.
        assert_eq!(
            c.launch_ex(&req, &[a], &[0; 12], &CancelToken::new()),
            Err(NOT_SUPPORTED)
        );
        assert_eq!(
            c.launch_ex(&req, &[], &[0; 12], &CancelToken::new()),
            Ok(())
        );
    }
}
