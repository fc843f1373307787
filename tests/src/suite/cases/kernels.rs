//! Kernels: element-wise, a large module image, fused multiply-add, a
//! shared-memory reduction and global atomics.

use std::ptr::null_mut;

use super::super::{bytes, CaseResult, Ptr, Suite, BLOCK, SUITE_PTX};

impl Suite {
    pub(in crate::suite) fn vecadd_once(&mut self, case: &str, n: usize) -> CaseResult {
        let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..n).map(|i| (n - i) as f32 * 0.25 + 0.1).collect();
        let (da, db, dc) = (self.alloc(n * 4)?, self.alloc(n * 4)?, self.alloc(n * 4)?);
        self.htod(da, &a)?;
        self.htod(db, &b)?;
        let f = self.func("vecadd")?;
        let (mut pa, mut pb, mut pc, mut nn) = (da, db, dc, n as u32);
        let mut args: [Ptr; 4] = [
            (&mut pa as *mut u64).cast(),
            (&mut pb as *mut u64).cast(),
            (&mut pc as *mut u64).cast(),
            (&mut nn as *mut u32).cast(),
        ];
        self.launch_1d(f, n, &mut args)?;
        let mut c = vec![0f32; n];
        self.dtoh(&mut c, dc)?;
        for p in [da, db, dc] {
            self.free(p);
        }
        let bad = (0..n)
            .filter(|&i| c[i].to_bits() != (a[i] + b[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} of {n} elements differ"));
        }
        self.digest(case, &[bytes(&c)]);
        Ok(format!("{n} elements"))
    }

    pub(in crate::suite) fn case_vecadd(&mut self) -> CaseResult {
        self.vecadd_once("vecadd", 10_000)
    }

    /// A module image far larger than one command of the device (as
    /// cuBLAS's and ggml's are): the same PTX padded with 3 MiB of comments.
    pub(in crate::suite) fn case_big_module(&mut self) -> CaseResult {
        let mut text = SUITE_PTX.as_bytes().to_vec();
        let pad = b"// padding a large module image, as real libraries have\n";
        while text.len() < 3 << 20 {
            text.extend_from_slice(pad);
        }
        text.push(0);
        let mut m = null_mut();
        // SAFETY: NUL-terminated PTX.
        self.ck("cuModuleLoadData(3 MiB)", unsafe {
            (self.api.cuModuleLoadData)(&mut m, text.as_ptr().cast())
        })?;
        let small = std::mem::replace(&mut self.module, m);
        let r = self.vecadd_once("big_module", 4096);
        self.module = small;
        r.map(|d| format!("3 MiB image loaded; vecadd from it: {d}"))
    }

    pub(in crate::suite) fn saxpy_data(n: usize) -> (Vec<f32>, Vec<f32>) {
        let x = (0..n).map(|i| (i % 97) as f32 * 0.37 - 3.0).collect();
        let y = (0..n).map(|i| (i % 31) as f32 * 1.13 + 0.5).collect();
        (x, y)
    }

    pub(in crate::suite) fn case_saxpy(&mut self) -> CaseResult {
        let n = 12_345usize;
        let a = 2.5f32;
        let (x, y) = Self::saxpy_data(n);
        let (dx, dy) = (self.alloc(n * 4)?, self.alloc(n * 4)?);
        self.htod(dx, &x)?;
        self.htod(dy, &y)?;
        let f = self.func("saxpy")?;
        let (mut nn, mut aa, mut px, mut py) = (n as u32, a, dx, dy);
        let mut args: [Ptr; 4] = [
            (&mut nn as *mut u32).cast(),
            (&mut aa as *mut f32).cast(),
            (&mut px as *mut u64).cast(),
            (&mut py as *mut u64).cast(),
        ];
        self.launch_1d(f, n, &mut args)?;
        let mut out = vec![0f32; n];
        self.dtoh(&mut out, dy)?;
        self.free(dx);
        self.free(dy);
        let bad = (0..n)
            .filter(|&i| out[i].to_bits() != a.mul_add(x[i], y[i]).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{bad} of {n} elements differ from fma"));
        }
        self.digest("saxpy", &[bytes(&out)]);
        Ok(format!("{n} elements, fma"))
    }

    pub(in crate::suite) fn case_reduction(&mut self) -> CaseResult {
        let blocks = 40usize;
        let n = BLOCK as usize * (blocks - 1) + 17;
        let input: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.001 + 0.25)
            .collect();
        // CPU reference in the kernel's tree order.
        let mut want = vec![0f32; blocks];
        for (b, w) in want.iter_mut().enumerate() {
            let mut s: Vec<f32> = (0..BLOCK as usize)
                .map(|t| input.get(b * BLOCK as usize + t).copied().unwrap_or(0.0))
                .collect();
            let mut stride = BLOCK as usize / 2;
            while stride > 0 {
                for t in 0..stride {
                    s[t] += s[t + stride];
                }
                stride /= 2;
            }
            *w = s[0];
        }
        let (din, dout) = (self.alloc(n * 4)?, self.alloc(blocks * 4)?);
        self.htod(din, &input)?;
        let f = self.func("reduce_sum")?;
        let (mut pi, mut po, mut nn) = (din, dout, n as u32);
        let mut args: [Ptr; 3] = [
            (&mut pi as *mut u64).cast(),
            (&mut po as *mut u64).cast(),
            (&mut nn as *mut u32).cast(),
        ];
        self.ck(
            "cuLaunchKernel",
            self.launch(f, blocks as u32, BLOCK, BLOCK * 4, null_mut(), &mut args),
        )?;
        let mut out = vec![0f32; blocks];
        self.dtoh(&mut out, dout)?;
        self.free(din);
        self.free(dout);
        let bad = (0..blocks)
            .filter(|&i| out[i].to_bits() != want[i].to_bits())
            .count();
        if bad > 0 {
            return Err(format!(
                "{bad} of {blocks} block sums differ (first: {} vs {})",
                out[0], want[0]
            ));
        }
        self.digest("reduction", &[bytes(&out)]);
        Ok(format!("{blocks} blocks, dynamic shared memory"))
    }

    pub(in crate::suite) fn case_atomics(&mut self) -> CaseResult {
        let (n, nbins) = (100_000usize, 64usize);
        let data: Vec<u32> = (0..n as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) % nbins as u32)
            .collect();
        let mut want = vec![0u32; nbins];
        for &d in &data {
            want[d as usize] += 1;
        }
        let (dd, dbins) = (self.alloc(n * 4)?, self.alloc(nbins * 4)?);
        self.htod(dd, &data)?;
        // SAFETY: a device allocation of ours.
        self.ck("cuMemsetD32", unsafe {
            (self.api.cuMemsetD32_v2)(dbins, 0, nbins)
        })?;
        let f = self.func("histogram")?;
        let (mut pd, mut pb, mut nn) = (dd, dbins, n as u32);
        let mut args: [Ptr; 3] = [
            (&mut pd as *mut u64).cast(),
            (&mut pb as *mut u64).cast(),
            (&mut nn as *mut u32).cast(),
        ];
        self.launch_1d(f, n, &mut args)?;
        let mut bins = vec![0u32; nbins];
        self.dtoh(&mut bins, dbins)?;
        self.free(dd);
        self.free(dbins);
        if bins != want {
            return Err(format!(
                "histogram differs: {:?}.. vs {:?}..",
                &bins[..4],
                &want[..4]
            ));
        }
        self.digest("atomics", &[bytes(&bins)]);
        Ok(format!("{n} values into {nbins} bins"))
    }
}
