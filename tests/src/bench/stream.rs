//! The `stream` group: small asynchronous work on one stream, as an LLM's
//! decode step issues it (a few KiB up, kernels, a few KiB down, one
//! stream synchronize per token). Each figure is the median of
//! [`Options::iters`] timed calls, µs:
//! - `htod_async_{pinned,pageable}_submit`: one 4 KiB `cuMemcpyHtoDAsync`
//!   call (submission only; the stream is synchronized, untimed, every
//!   [`BATCH`] calls);
//! - `dtoh_async_pinned_submit`: the same for a 4 KiB `cuMemcpyDtoHAsync`
//!   into pinned memory;
//! - `stream_step`: 4 KiB up from pinned memory, an empty kernel, the same
//!   4 KiB down into pinned memory, `cuStreamSynchronize`, end to end; what
//!   comes back must be what went up in that step.

use std::{ptr::null_mut, time::Instant};

use crate::suite::api::{CuRes, Ptr};

use super::{median, quantile, report, Bench, Options};

/// Bytes per copy.
const SMALL: usize = 4 << 10;
/// Submissions between two (untimed) stream synchronizes.
const BATCH: u32 = 64;

/// A created stream, destroyed on drop.
struct Stream<'a> {
    bench: &'a Bench,
    raw: Ptr,
}

impl<'a> Stream<'a> {
    fn new(bench: &'a Bench) -> Result<Self, String> {
        let mut raw = null_mut();
        // SAFETY: valid out pointer; flags 0 (default stream semantics).
        bench.ck("cuStreamCreate", unsafe {
            (bench.api.cuStreamCreate)(&mut raw, 0)
        })?;
        Ok(Self { bench, raw })
    }

    fn sync(&self) -> Result<(), String> {
        // SAFETY: our stream.
        self.bench.ck("cuStreamSynchronize", unsafe {
            (self.bench.api.cuStreamSynchronize)(self.raw)
        })
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        // SAFETY: our stream, destroyed once (pending work completes first).
        unsafe { (self.bench.api.cuStreamDestroy_v2)(self.raw) };
    }
}

/// Pinned host memory from `cuMemAllocHost`, freed on drop.
struct Pinned<'a> {
    bench: &'a Bench,
    ptr: Ptr,
}

impl<'a> Pinned<'a> {
    fn new(bench: &'a Bench, bytes: usize) -> Result<Self, String> {
        let mut ptr = null_mut();
        // SAFETY: valid out pointer.
        bench.ck("cuMemAllocHost", unsafe {
            (bench.api.cuMemAllocHost_v2)(&mut ptr, bytes)
        })?;
        // SAFETY: `bytes` we were just given; touched before anything is timed.
        unsafe { ptr.cast::<u8>().write_bytes(0, bytes) };
        Ok(Self { bench, ptr })
    }
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        // SAFETY: our allocation, freed once, no copy in flight (the
        // stream was synchronized or destroyed first).
        unsafe { (self.bench.api.cuMemFreeHost)(self.ptr) };
    }
}

/// Median (and p10/p90) µs of `iters` calls of `call`, the stream
/// synchronized untimed every [`BATCH`] calls; reported as `name`.
fn submit_time(
    bench: &Bench,
    stream: &Stream,
    name: &str,
    iters: u32,
    call: impl Fn() -> CuRes,
) -> Result<String, String> {
    for _ in 0..BATCH {
        bench.ck(name, call())?;
    }
    stream.sync()?;
    let mut us = Vec::with_capacity(iters as usize);
    for i in 0..iters {
        let t = Instant::now();
        let r = call();
        us.push(t.elapsed().as_secs_f64() * 1e6);
        bench.ck(name, r)?;
        if (i + 1) % BATCH == 0 {
            stream.sync()?;
        }
    }
    stream.sync()?;
    Ok(summarise(name, iters, &mut us))
}

fn summarise(name: &str, iters: u32, us: &mut [f64]) -> String {
    let m = median(us);
    let detail = format!(
        "median of {iters}, p10 {:.3} p90 {:.3}",
        quantile(us, 0.1),
        quantile(us, 0.9)
    );
    report(name, m, "us", &detail);
    format!("{name} {m:.2} us")
}

/// The group, into one small device buffer.
pub(super) fn group_stream(bench: &Bench, o: &Options) -> Result<String, String> {
    let a = &bench.api;
    let mut dev = 0u64;
    // SAFETY: valid out pointer.
    bench.ck("cuMemAlloc", unsafe { (a.cuMemAlloc_v2)(&mut dev, SMALL) })?;
    let r = (|| {
        let stream = Stream::new(bench)?;
        let up = Pinned::new(bench, SMALL)?;
        let down = Pinned::new(bench, SMALL)?;
        let pageable = vec![0u8; SMALL];
        let s = stream.raw;
        // SMALL bytes of our buffers, alive until the stream is
        // synchronized; the host buffers are not written meanwhile.
        let htod_pinned = || {
            // SAFETY: as said above.
            unsafe { (a.cuMemcpyHtoDAsync_v2)(dev, up.ptr, SMALL, s) }
        };
        let htod_pageable = || {
            // SAFETY: as said above.
            unsafe { (a.cuMemcpyHtoDAsync_v2)(dev, pageable.as_ptr().cast(), SMALL, s) }
        };
        let dtoh_pinned = || {
            // SAFETY: as said above.
            unsafe { (a.cuMemcpyDtoHAsync_v2)(down.ptr, dev, SMALL, s) }
        };
        let mut out = vec![
            submit_time(
                bench,
                &stream,
                "htod_async_pinned_submit",
                o.iters,
                htod_pinned,
            )?,
            submit_time(
                bench,
                &stream,
                "htod_async_pageable_submit",
                o.iters,
                htod_pageable,
            )?,
            submit_time(
                bench,
                &stream,
                "dtoh_async_pinned_submit",
                o.iters,
                dtoh_pinned,
            )?,
        ];
        out.push(stream_step(bench, &stream, o.iters, dev, &up, &down)?);
        Ok(out.join(", "))
    })();
    // SAFETY: our allocation; the stream was synchronized or destroyed.
    unsafe { (a.cuMemFree_v2)(dev) };
    r
}

/// Up, empty kernel, down, synchronize: µs per step, each step's data
/// checked.
fn stream_step(
    bench: &Bench,
    stream: &Stream,
    iters: u32,
    dev: u64,
    up: &Pinned,
    down: &Pinned,
) -> Result<String, String> {
    let a = &bench.api;
    let (upw, downw) = (up.ptr.cast::<u64>(), down.ptr.cast::<u64>());
    let words = SMALL / 8;
    let step = |i: u32| -> Result<(), String> {
        // SAFETY: our pinned buffers, idle between steps (synchronized).
        unsafe {
            upw.write(u64::from(i));
            upw.add(words - 1).write(!u64::from(i));
            bench.ck(
                "cuMemcpyHtoDAsync",
                (a.cuMemcpyHtoDAsync_v2)(dev, up.ptr, SMALL, stream.raw),
            )?;
            bench.ck("cuLaunchKernel", bench.launch_empty_on(stream.raw))?;
            bench.ck(
                "cuMemcpyDtoHAsync",
                (a.cuMemcpyDtoHAsync_v2)(down.ptr, dev, SMALL, stream.raw),
            )?;
        }
        stream.sync()?;
        // SAFETY: as above; the stream is idle.
        let (first, last) = unsafe { (downw.read(), downw.add(words - 1).read()) };
        if (first, last) != (u64::from(i), !u64::from(i)) {
            return Err(format!(
                "stream_step {i}: came back {first:#x}..{last:#x}, expected {:#x}..{:#x}",
                u64::from(i),
                !u64::from(i)
            ));
        }
        Ok(())
    };
    for i in 0..(iters / 10).max(1) {
        step(i)?;
    }
    let mut us = Vec::with_capacity(iters as usize);
    for i in 0..iters {
        let t = Instant::now();
        step(i.wrapping_add(1 << 20))?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(summarise("stream_step", iters, &mut us))
}
