//! Error paths: `extra` parameter buffers of the wrong size, bad handles
//! and addresses, and an asynchronous fault reported at the next
//! synchronisation.

use std::ptr::null_mut;

use uapi::cuda::result::{
    ILLEGAL_ADDRESS, INVALID_HANDLE, INVALID_VALUE, LAUNCH_OUT_OF_RESOURCES, SUCCESS,
};

use super::super::{bytes, CaseResult, CuRes, Ptr, Suite, BLOCK};

impl Suite {
    pub(in crate::suite) fn case_extra_params(&mut self) -> CaseResult {
        let n = 1000usize;
        let (x, y) = Self::saxpy_data(n);
        let (dx, dy) = (self.alloc(n * 4)?, self.alloc(n * 4)?);
        self.htod(dx, &x)?;
        self.htod(dy, &y)?;
        let f = self.func("saxpy")?;
        // Packed: u32 n @0, f32 a @4, x @8, y @16 (24 bytes; 8 spare bytes
        // so that a driver that ignores the size reads nothing wild).
        let mut buf = [0u8; 32];
        buf[0..4].copy_from_slice(&(n as u32).to_le_bytes());
        buf[4..8].copy_from_slice(&3.0f32.to_le_bytes());
        buf[8..16].copy_from_slice(&dx.to_le_bytes());
        buf[16..24].copy_from_slice(&dy.to_le_bytes());
        let mut go = |size: usize| -> CuRes {
            let mut size = size;
            let mut extra: [Ptr; 5] = [
                1 as Ptr,
                buf.as_mut_ptr().cast(),
                2 as Ptr,
                (&mut size as *mut usize).cast(),
                null_mut(),
            ];
            // SAFETY: a well-formed `extra` array.
            unsafe {
                (self.api.cuLaunchKernel)(
                    f,
                    (n as u32).div_ceil(BLOCK),
                    1,
                    1,
                    BLOCK,
                    1,
                    1,
                    0,
                    null_mut(),
                    null_mut(),
                    extra.as_mut_ptr(),
                )
            }
        };
        // A larger buffer fails with LAUNCH_OUT_OF_RESOURCES on NVIDIA's
        // driver and ours; a smaller one NVIDIA's launches (reading past
        // it), so that one is checked on ours only (INVALID_VALUE).
        let larger = go(32);
        self.expect(
            "launch with a 32-byte buffer",
            larger,
            LAUNCH_OUT_OF_RESOURCES,
        )?;
        if !self.native {
            let smaller = go(16);
            self.expect("launch with a 16-byte buffer", smaller, INVALID_VALUE)?;
        }
        let right = go(24);
        self.ck("launch with the 24-byte buffer", right)?;
        let mut out = vec![0f32; n];
        self.dtoh(&mut out, dy)?;
        self.free(dx);
        self.free(dy);
        let bad = (0..n)
            .filter(|&i| out[i].to_bits() != 3.0f32.mul_add(x[i], y[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} elements differ"));
        }
        self.digest("extra_params", &[bytes(&out)]);
        Ok(if self.native {
            "larger buffer refused, right size ran (smaller one not checked: --native)".into()
        } else {
            "larger and smaller buffers refused, right size ran".into()
        })
    }

    pub(in crate::suite) fn case_bad_input(&mut self) -> CaseResult {
        let api = &self.api;
        // SAFETY: deliberately bad values, of the right types.
        let free = unsafe { (api.cuMemFree_v2)(0x7000_dead_0000) };
        self.expect("cuMemFree(unknown)", free, INVALID_VALUE)?;
        let mut args: [Ptr; 0] = [];
        let launch = self.launch(null_mut(), 1, 1, 0, null_mut(), &mut args);
        self.expect("cuLaunchKernel(NULL function)", launch, INVALID_HANDLE)?;
        let d = self.alloc(1024)?;
        let big = vec![0u8; 2048];
        // SAFETY: a valid host buffer; the device range is too short.
        let past = unsafe { (api.cuMemcpyHtoD_v2)(d, big.as_ptr().cast(), big.len()) };
        self.expect("cuMemcpyHtoD past the end", past, INVALID_VALUE)?;
        self.free(d);
        let mut checks = 3;
        // A destroyed stream's handle crashes NVIDIA's driver (SIGSEGV).
        if !self.native {
            checks += 1;
            let mut s = null_mut();
            // SAFETY: valid out pointer; then a stale handle.
            let q = unsafe {
                self.ck("cuStreamCreate", (api.cuStreamCreate)(&mut s, 0))?;
                self.ck("cuStreamDestroy", (api.cuStreamDestroy_v2)(s))?;
                (api.cuStreamQuery)(s)
            };
            self.expect("cuStreamQuery(destroyed)", q, INVALID_HANDLE)?;
        }
        self.vecadd_once("bad_input", 1000)
            .map(|_| format!("{checks} errors as expected; vecadd after them passes"))
            .map_err(|e| format!("vecadd after the errors: {e}"))
    }

    pub(in crate::suite) fn case_async_error(&mut self) -> CaseResult {
        let d = self.alloc(256)?;
        let f = self.func("oob_write")?;
        let mut p = d.wrapping_add(1 << 40);
        let mut args: [Ptr; 1] = [(&mut p as *mut u64).cast()];
        let l = self.launch(f, 1, 1, 0, null_mut(), &mut args);
        self.expect("cuLaunchKernel (bad address)", l, SUCCESS)?;
        // SAFETY: no arguments.
        let s = unsafe { (self.api.cuCtxSynchronize)() };
        self.expect("cuCtxSynchronize after the bad write", s, ILLEGAL_ADDRESS)?;
        Ok("launch SUCCESS, synchronize CUDA_ERROR_ILLEGAL_ADDRESS".into())
    }
}
