//! Streams and events: two streams ordered by an event, queries and
//! elapsed time.

use std::ptr::null_mut;

use super::super::{bytes, CaseResult, Ptr, Suite, BLOCK};

impl Suite {
    pub(in crate::suite) fn case_streams_events(&mut self) -> CaseResult {
        let n = 50_000usize;
        let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..n).map(|i| (i % 10) as f32 * 0.5).collect();
        let (da, db, d1, d2) = (
            self.alloc(n * 4)?,
            self.alloc(n * 4)?,
            self.alloc(n * 4)?,
            self.alloc(n * 4)?,
        );
        let (mut s1, mut s2, mut e0, mut e1) = (null_mut(), null_mut(), null_mut(), null_mut());
        let api = &self.api;
        // SAFETY: valid out pointers; handles created here.
        unsafe {
            self.ck("cuStreamCreate", (api.cuStreamCreate)(&mut s1, 0))?;
            self.ck("cuStreamCreate", (api.cuStreamCreate)(&mut s2, 0))?;
            self.ck("cuEventCreate", (api.cuEventCreate)(&mut e0, 0))?;
            self.ck("cuEventCreate", (api.cuEventCreate)(&mut e1, 0))?;
            self.ck(
                "cuMemcpyHtoDAsync",
                (api.cuMemcpyHtoDAsync_v2)(da, a.as_ptr().cast(), n * 4, s1),
            )?;
            self.ck(
                "cuMemcpyHtoDAsync",
                (api.cuMemcpyHtoDAsync_v2)(db, b.as_ptr().cast(), n * 4, s1),
            )?;
            self.ck("cuEventRecord", (api.cuEventRecord)(e0, s1))?;
        }
        let f = self.func("vecadd")?;
        let grid = (n as u32).div_ceil(BLOCK);
        let nn = n as u32;
        let run = |s: &Suite, x: u64, y: u64, z: u64, st: Ptr| {
            let (mut px, mut py, mut pz, mut nn) = (x, y, z, nn);
            let mut args: [Ptr; 4] = [
                (&mut px as *mut u64).cast(),
                (&mut py as *mut u64).cast(),
                (&mut pz as *mut u64).cast(),
                (&mut nn as *mut u32).cast(),
            ];
            s.ck("cuLaunchKernel", s.launch(f, grid, BLOCK, 0, st, &mut args))
        };
        // d1 = a + b on s1; s2 waits for it, then d2 = d1 + b.
        run(self, da, db, d1, s1)?;
        // SAFETY: handles created above.
        unsafe {
            self.ck("cuEventRecord", (api.cuEventRecord)(e1, s1))?;
            self.ck("cuStreamWaitEvent", (api.cuStreamWaitEvent)(s2, e1, 0))?;
        }
        run(self, d1, db, d2, s2)?;
        let mut ms = -1f32;
        // SAFETY: handles created above.
        unsafe {
            self.ck("cuStreamSynchronize", (api.cuStreamSynchronize)(s2))?;
            self.ck("cuEventSynchronize", (api.cuEventSynchronize)(e1))?;
            self.ck("cuEventQuery", (api.cuEventQuery)(e1))?;
            self.ck("cuStreamQuery", (api.cuStreamQuery)(s1))?;
            self.ck(
                "cuEventElapsedTime",
                (api.cuEventElapsedTime)(&mut ms, e0, e1),
            )?;
        }
        if ms.is_nan() || ms < 0.0 {
            return Err(format!("elapsed time {ms} ms"));
        }
        let mut out = vec![0f32; n];
        self.dtoh(&mut out, d2)?;
        // SAFETY: handles created above.
        unsafe {
            (api.cuEventDestroy_v2)(e0);
            (api.cuEventDestroy_v2)(e1);
            (api.cuStreamDestroy_v2)(s1);
            (api.cuStreamDestroy_v2)(s2);
        }
        for p in [da, db, d1, d2] {
            self.free(p);
        }
        let bad = (0..n)
            .filter(|&i| out[i].to_bits() != ((a[i] + b[i]) + b[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} of {n} elements differ"));
        }
        self.digest("streams_events", &[bytes(&out)]);
        Ok(format!("2 streams, event wait, elapsed {ms:.3} ms"))
    }
}
