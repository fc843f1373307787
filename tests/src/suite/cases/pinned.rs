//! Pinned host memory (`cuMemAllocHost`): copies up and down, synchronous
//! and asynchronous, whole and from inside a buffer. Over the socket these
//! move in place between the GPU and memory the worker maps (the
//! `native-socket/pinned-in-place` check reads the worker's counters).

use std::ptr::null_mut;

use super::super::api::Ptr;
use super::super::{CaseResult, Suite};

/// Bytes of each pinned buffer: several of the socket's 8 MiB data chunks.
pub const PINNED_CASE_BYTES: usize = 24 << 20;

fn fill(p: *mut u8, n: usize, seed: u8) {
    // SAFETY: `p` is a pinned buffer of at least `n` bytes.
    let s = unsafe { std::slice::from_raw_parts_mut(p, n) };
    for (i, b) in s.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(seed) ^ (i >> 12) as u8;
    }
}

fn same(a: *const u8, b: *const u8, n: usize) -> Option<usize> {
    // SAFETY: both are pinned buffers of at least `n` bytes.
    let (a, b) = unsafe {
        (
            std::slice::from_raw_parts(a, n),
            std::slice::from_raw_parts(b, n),
        )
    };
    a.iter().zip(b).position(|(x, y)| x != y)
}

impl Suite {
    fn alloc_host(&self, n: usize) -> Result<*mut u8, String> {
        let mut p: Ptr = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuMemAllocHost", unsafe {
            (self.api.cuMemAllocHost_v2)(&mut p, n)
        })?;
        Ok(p.cast())
    }

    pub(in crate::suite) fn case_pinned(&mut self) -> CaseResult {
        let n = PINNED_CASE_BYTES;
        let (up, down) = (self.alloc_host(n)?, self.alloc_host(n)?);
        let d = self.alloc(n)?;
        let api = &self.api;
        let result = (|| {
            fill(up, n, 1);
            // SAFETY: pinned buffers of `n` bytes and a device buffer of `n`.
            unsafe {
                self.ck("cuMemcpyHtoD", (api.cuMemcpyHtoD_v2)(d, up.cast(), n))?;
                self.ck("cuMemcpyDtoH", (api.cuMemcpyDtoH_v2)(down.cast(), d, n))?;
            }
            if let Some(i) = same(up, down, n) {
                return Err(format!(
                    "synchronous round trip: first difference at byte {i}"
                ));
            }
            // Asynchronous up: read in stream order, after the call returns.
            fill(up, n, 2);
            // SAFETY: as above; the stream is synchronised before reuse.
            unsafe {
                self.ck(
                    "cuMemcpyHtoDAsync",
                    (api.cuMemcpyHtoDAsync_v2)(d, up.cast(), n, null_mut()),
                )?;
                self.ck("cuStreamSynchronize", (api.cuStreamSynchronize)(null_mut()))?;
                self.ck("cuMemcpyDtoH", (api.cuMemcpyDtoH_v2)(down.cast(), d, n))?;
            }
            if let Some(i) = same(up, down, n) {
                return Err(format!(
                    "asynchronous copy up: first difference at byte {i}"
                ));
            }
            // Both ways asynchronous: down lands in stream order, read only
            // after the stream is synchronised.
            fill(up, n, 3);
            // SAFETY: as above; `down` is read after the synchronise.
            unsafe {
                std::ptr::write_bytes(down, 0, n);
                self.ck(
                    "cuMemcpyHtoDAsync",
                    (api.cuMemcpyHtoDAsync_v2)(d, up.cast(), n, null_mut()),
                )?;
                self.ck(
                    "cuMemcpyDtoHAsync",
                    (api.cuMemcpyDtoHAsync_v2)(down.cast(), d, n, null_mut()),
                )?;
                self.ck("cuStreamSynchronize", (api.cuStreamSynchronize)(null_mut()))?;
            }
            if let Some(i) = same(up, down, n) {
                return Err(format!(
                    "asynchronous copy down: first difference at byte {i}"
                ));
            }
            // From and to the inside of the buffers, unaligned.
            let (at, len) = (4096 + 13, 100_003);
            // SAFETY: inside both buffers and the device buffer.
            unsafe {
                self.ck(
                    "cuMemcpyHtoD",
                    (api.cuMemcpyHtoD_v2)(d + 7, up.add(at).cast(), len),
                )?;
                self.ck(
                    "cuMemcpyDtoH",
                    (api.cuMemcpyDtoH_v2)(down.add(3).cast(), d + 7, len),
                )?;
            }
            // SAFETY: inside both buffers.
            if let Some(i) = same(unsafe { up.add(at) }, unsafe { down.add(3) }, len) {
                return Err(format!(
                    "copy inside the buffers: first difference at byte {i}"
                ));
            }
            Ok(format!(
                "{} MiB pinned up and down, synchronous and asynchronous, and {len} bytes from inside",
                n >> 20
            ))
        })();
        self.free(d);
        // SAFETY: our pinned allocations, no longer used.
        unsafe {
            self.ck("cuMemFreeHost", (api.cuMemFreeHost)(up.cast()))?;
            self.ck("cuMemFreeHost", (api.cuMemFreeHost)(down.cast()))?;
        }
        result
    }
}
