//! Memory: memsets and pitched 2D copies, a module global, and a large
//! round trip.

use std::{ptr::null_mut, time::Instant};

use super::super::api::{Memcpy2d, MT_DEVICE, MT_HOST};
use super::super::{bytes, CaseResult, Suite};

impl Suite {
    pub(in crate::suite) fn case_memset_2d(&mut self) -> CaseResult {
        let api = &self.api;
        let d = self.alloc(4096)?;
        // SAFETY: ranges inside the allocation.
        unsafe {
            self.ck("cuMemsetD8", (api.cuMemsetD8_v2)(d, 0xab, 4096))?;
            self.ck("cuMemsetD16", (api.cuMemsetD16_v2)(d + 1024, 0x1234, 256))?;
            self.ck(
                "cuMemsetD32",
                (api.cuMemsetD32_v2)(d + 2048, 0xdead_beef, 128),
            )?;
            // 8 rows of 16 u32 at a 256-byte pitch from offset 3072? keep inside: 4 rows.
            self.ck(
                "cuMemsetD2D32",
                (api.cuMemsetD2D32_v2)(d + 3072, 256, 0x0102_0304, 16, 4),
            )?;
        }
        let mut m = vec![0u8; 4096];
        self.dtoh(&mut m, d)?;
        let mut want = vec![0xabu8; 4096];
        for i in 0..256 {
            want[1024 + i * 2..1024 + i * 2 + 2].copy_from_slice(&0x1234u16.to_le_bytes());
        }
        for i in 0..128 {
            want[2048 + i * 4..2048 + i * 4 + 4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        }
        for r in 0..4 {
            for c in 0..16 {
                let o = 3072 + r * 256 + c * 4;
                want[o..o + 4].copy_from_slice(&0x0102_0304u32.to_le_bytes());
            }
        }
        if m != want {
            let i = m.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!("memset bytes differ from offset {i}"));
        }
        // 2D: a 37×11 block out of a host matrix (pitch 50, origin 3,2)
        // into device rows of pitch 64, device → device to pitch 40, then
        // back to a host matrix of pitch 45.
        let (w, h) = (37usize, 11usize);
        let host: Vec<u8> = (0..50 * 20).map(|i| (i * 31 % 251) as u8).collect();
        let (d1, d2) = (self.alloc(64 * h)?, self.alloc(40 * h)?);
        let base = Memcpy2d {
            src_x: 0,
            src_y: 0,
            src_type: MT_HOST,
            src_host: std::ptr::null(),
            src_device: 0,
            src_array: null_mut(),
            src_pitch: 0,
            dst_x: 0,
            dst_y: 0,
            dst_type: MT_HOST,
            dst_host: null_mut(),
            dst_device: 0,
            dst_array: null_mut(),
            dst_pitch: 0,
            width: w,
            height: h,
        };
        let mut back = vec![0u8; 45 * h];
        let c1 = Memcpy2d {
            src_x: 3,
            src_y: 2,
            src_type: MT_HOST,
            src_host: host.as_ptr().cast(),
            src_pitch: 50,
            dst_type: MT_DEVICE,
            dst_device: d1,
            dst_pitch: 64,
            ..base
        };
        let c2 = Memcpy2d {
            src_type: MT_DEVICE,
            src_device: d1,
            src_pitch: 64,
            dst_type: MT_DEVICE,
            dst_device: d2,
            dst_pitch: 40,
            ..base
        };
        let c3 = Memcpy2d {
            src_type: MT_DEVICE,
            src_device: d2,
            src_pitch: 40,
            dst_type: MT_HOST,
            dst_host: back.as_mut_ptr().cast(),
            dst_pitch: 45,
            ..base
        };
        // SAFETY: descriptors of valid buffers.
        unsafe {
            self.ck("cuMemcpy2D HtoD", (api.cuMemcpy2D_v2)(&c1))?;
            self.ck("cuMemcpy2D DtoD", (api.cuMemcpy2D_v2)(&c2))?;
            self.ck("cuMemcpy2D DtoH", (api.cuMemcpy2D_v2)(&c3))?;
        }
        for r in 0..h {
            let src = &host[(r + 2) * 50 + 3..(r + 2) * 50 + 3 + w];
            if &back[r * 45..r * 45 + w] != src {
                return Err(format!("2D copy row {r} differs"));
            }
        }
        self.free(d);
        self.free(d1);
        self.free(d2);
        let rows: Vec<u8> = (0..h)
            .flat_map(|r| back[r * 45..r * 45 + w].to_vec())
            .collect();
        self.digest("memset_2d", &[&m, &rows]);
        Ok("D8/D16/D32/D2D32 and 2D HtoD/DtoD/DtoH with pitches".into())
    }

    pub(in crate::suite) fn case_global(&mut self) -> CaseResult {
        let (mut d, mut size) = (0u64, 0usize);
        // SAFETY: valid out pointers, module and name.
        self.ck("cuModuleGetGlobal", unsafe {
            (self.api.cuModuleGetGlobal_v2)(&mut d, &mut size, self.module, c"g_vals".as_ptr())
        })?;
        if size != 16 {
            return Err(format!("size {size}, expected 16"));
        }
        let mut init = [0u32; 4];
        self.dtoh(&mut init, d)?;
        if init != [1, 2, 3, 4] {
            return Err(format!("initial value {init:?}"));
        }
        self.htod(d, &[10u32, 20, 30, 40])?;
        let mut v = [0u32; 4];
        self.dtoh(&mut v, d)?;
        if v != [10, 20, 30, 40] {
            return Err(format!("after write {v:?}"));
        }
        self.digest("global", &[bytes(&init), bytes(&v)]);
        Ok("read initial values, wrote and read back".into())
    }

    pub(in crate::suite) fn case_roundtrip(&mut self) -> CaseResult {
        let mib = self.roundtrip_mib;
        let n = mib << 20;
        let mut data = vec![0u8; n];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for c in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        let d = self.alloc(n.max(1))?;
        let t = Instant::now();
        self.htod(d, &data)?;
        let up = t.elapsed();
        let mut back = vec![0u8; n];
        let t = Instant::now();
        self.dtoh(&mut back, d)?;
        let down = t.elapsed();
        self.free(d);
        if back != data {
            let i = back
                .iter()
                .zip(&data)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!("{mib} MiB: first difference at byte {i}"));
        }
        self.digest("roundtrip", &[&back]);
        let rate = |d: std::time::Duration| mib as f64 / d.as_secs_f64().max(1e-9);
        Ok(format!(
            "{mib} MiB identical; up {:.0} MiB/s, down {:.0} MiB/s",
            rate(up),
            rate(down)
        ))
    }
}
