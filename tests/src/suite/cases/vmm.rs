//! Virtual memory management as ggml-cuda's pool uses it: one reservation,
//! chunks of the granularity created and mapped side by side, access set,
//! and the span used as one buffer by copies and a kernel.

use std::ffi::c_void;
use std::ptr::null_mut;

use super::super::{bytes, CaseResult, Ptr, Suite, BLOCK};

const SUCCESS: u32 = 0;

/// `CUmemAllocationProp`: pinned, on device 0, not exportable.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct AllocationProp {
    kind: u32,
    handle_types: u32,
    location_type: u32,
    location_id: i32,
    win32: u64,
    flags: [u8; 8],
}

/// `CUmemAccessDesc`.
#[repr(C)]
pub struct AccessDesc {
    location_type: u32,
    location_id: i32,
    flags: u32,
}

impl Suite {
    pub(in crate::suite) fn case_vmm(&mut self) -> CaseResult {
        let a = &self.api;
        let prop = AllocationProp {
            kind: 1,
            location_type: 1,
            ..Default::default()
        };
        let mut g = 0usize;
        // SAFETY: valid out pointer and properties.
        self.ck("cuMemGetAllocationGranularity", unsafe {
            (a.cuMemGetAllocationGranularity)(&mut g, &prop, 0)
        })?;
        if g == 0 {
            return Err("granularity 0".into());
        }
        let chunks = 3;
        let mut base = 0u64;
        // SAFETY: valid out pointer.
        self.ck("cuMemAddressReserve", unsafe {
            (a.cuMemAddressReserve)(&mut base, 8 * g, 0, 0, 0)
        })?;
        let mut handles = Vec::new();
        for i in 0..chunks {
            let mut h = 0u64;
            // SAFETY: valid out pointer and properties.
            self.ck("cuMemCreate", unsafe {
                (a.cuMemCreate)(&mut h, g, &prop, 0)
            })?;
            // SAFETY: inside our reservation, a handle of ours.
            self.ck("cuMemMap", unsafe {
                (a.cuMemMap)(base + (i * g) as u64, g, 0, h, 0)
            })?;
            handles.push(h);
        }
        let desc = AccessDesc {
            location_type: 1,
            location_id: 0,
            flags: 3,
        };
        // SAFETY: a mapped range and one descriptor.
        self.ck("cuMemSetAccess", unsafe {
            (a.cuMemSetAccess)(base, chunks * g, &desc, 1)
        })?;
        let mut flags = 0u64;
        let loc = [1u32, 0];
        // SAFETY: valid out pointer and location.
        self.ck("cuMemGetAccess", unsafe {
            (a.cuMemGetAccess)(&mut flags, loc.as_ptr().cast(), base + g as u64)
        })?;
        let mut got = AllocationProp::default();
        // SAFETY: valid out pointer, a handle of ours.
        self.ck("cuMemGetAllocationPropertiesFromHandle", unsafe {
            (a.cuMemGetAllocationPropertiesFromHandle)(&mut got, handles[1])
        })?;
        let mut again = 0u64;
        // SAFETY: valid out pointer; a mapped address.
        self.ck("cuMemRetainAllocationHandle", unsafe {
            (a.cuMemRetainAllocationHandle)(&mut again, (base + 2 * g as u64 + 64) as *mut c_void)
        })?;
        // SAFETY: the retained reference.
        self.ck("cuMemRelease(retained)", unsafe { (a.cuMemRelease)(again) })?;
        if (flags, got.kind, got.location_type, again) != (3, 1, 1, handles[2]) {
            return Err(format!(
                "access {flags}, properties {}/{}, retained {again:#x} for {:#x}",
                got.kind, got.location_type, handles[2]
            ));
        }

        // One buffer across all three chunks: from the middle of the first
        // to the middle of the last; c = a + a in place.
        let n = 2 * g / 4;
        let at = base + (g / 2) as u64;
        let data: Vec<f32> = (0..n).map(|i| (i % 4093) as f32 * 0.5).collect();
        self.htod(at, &data)?;
        let f = self.func("vecadd")?;
        let (mut pa, mut pb, mut pc, mut nn) = (at, at, at, n as u32);
        let mut args: [Ptr; 4] = [
            (&mut pa as *mut u64).cast(),
            (&mut pb as *mut u64).cast(),
            (&mut pc as *mut u64).cast(),
            (&mut nn as *mut u32).cast(),
        ];
        let grid = (n as u32).div_ceil(BLOCK);
        self.ck(
            "cuLaunchKernel",
            self.launch(f, grid, BLOCK, 0, null_mut(), &mut args),
        )?;
        let mut out = vec![0f32; n];
        self.dtoh(&mut out, at)?;
        let bad = (0..n)
            .filter(|&i| out[i].to_bits() != (data[i] + data[i]).to_bits())
            .count();

        let a = &self.api;
        // SAFETY: our mappings, handles and reservation.
        let errors = unsafe {
            [
                (a.cuMemUnmap)(base, g / 2),
                (a.cuMemAddressFree)(base + 1, 8 * g),
                (a.cuMemMap)(base, g, 0, handles[0], 0),
            ]
        };
        // SAFETY: as above.
        self.ck("cuMemUnmap", unsafe { (a.cuMemUnmap)(base, chunks * g) })?;
        for h in handles {
            // SAFETY: a handle of ours.
            self.ck("cuMemRelease", unsafe { (a.cuMemRelease)(h) })?;
        }
        // SAFETY: our reservation, nothing mapped in it.
        self.ck("cuMemAddressFree", unsafe {
            (a.cuMemAddressFree)(base, 8 * g)
        })?;
        if bad > 0 {
            return Err(format!("{bad} of {n} elements differ"));
        }
        // Misuse must fail; its codes go into the digest, compared with
        // NVIDIA's driver (not all are documented).
        if errors.contains(&SUCCESS) {
            return Err(format!("misuse accepted: {errors:?}"));
        }
        self.digest(
            "vmm",
            &[bytes(&out), &(g as u64).to_le_bytes(), bytes(&errors)],
        );
        Ok(format!(
            "{chunks} chunks of {} MiB mapped side by side, {n} elements over all; misuse {errors:?}",
            g >> 20
        ))
    }
}
