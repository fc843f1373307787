//! Tensor maps (TMA descriptors) encoded by NVIDIA's driver. A map names a
//! global address: it must lie in this client's memory.

use super::*;

use super::GpuClient;
use crate::cuda::backend::CuResult;
use crate::executor::cuda::driver::{check, TensorMap};
use std::ffi::c_void;
use uapi::cuda::result::NOT_SUPPORTED;
use uapi::cuda::{TensorMapEncodeRequest, TENSOR_MAP_WORDS};

impl TensorMapBackend for GpuClient {
    fn tensor_map_encode_tiled(
        &mut self,
        r: &TensorMapEncodeRequest,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]> {
        self.enter(r.ctx)?;
        self.check_range(r.global_address, 1)?;
        let encode = self
            .driver
            .api()
            .tensor_map_encode_tiled
            .ok_or(NOT_SUPPORTED)?;
        let mut map = TensorMap::default();
        // SAFETY: a 128-aligned out-map; the arrays hold MAX_TENSOR_RANK
        // entries, at least `rank` (checked to be 1..=5 by the caller).
        check(unsafe {
            encode(
                &mut map,
                r.data_type,
                r.rank,
                r.global_address as *mut c_void,
                r.global_dim.as_ptr(),
                r.global_strides.as_ptr(),
                r.box_dim.as_ptr(),
                r.element_strides.as_ptr(),
                r.interleave,
                r.swizzle,
                r.l2_promotion,
                r.oob_fill,
            )
        })?;
        Ok(map.0)
    }
    fn tensor_map_replace_address(
        &mut self,
        ctx: u64,
        map: &[u64; TENSOR_MAP_WORDS],
        global_address: u64,
    ) -> CuResult<[u64; TENSOR_MAP_WORDS]> {
        self.enter(ctx)?;
        self.check_range(global_address, 1)?;
        let replace = self
            .driver
            .api()
            .tensor_map_replace_address
            .ok_or(NOT_SUPPORTED)?;
        let mut m = TensorMap(*map);
        // SAFETY: a 128-aligned map the driver rewrites in place.
        check(unsafe { replace(&mut m, global_address as *mut c_void) })?;
        Ok(m.0)
    }
}
