//! Memsets: `cuMemsetD8/16/32` and the 2D forms, synchronous or in stream
//! order.

use uapi::cuda::{cmds, copy_flags, MemsetRequest};

use super::CUstream;
use crate::driver::{with_ctx, CuResult};

#[allow(clippy::too_many_arguments)]
fn memset(
    dst: u64,
    pitch: usize,
    value: u32,
    elem_size: u32,
    width: usize,
    height: usize,
    stream: Option<CUstream>,
) -> CuResult {
    with_ctx(|s, ctx| {
        let st = match stream {
            Some(p) => s.stream_host(p as u64)?,
            None => {
                s.captures.check_unsafe()?;
                0
            }
        };
        let req = MemsetRequest {
            ctx,
            stream: st,
            dst,
            pitch: pitch as u64,
            width: width as u64,
            height: height as u64,
            value,
            elem_size,
            flags: if stream.is_some() {
                copy_flags::ASYNC
            } else {
                0
            },
            reserved: 0,
        };
        let c = s.client()?;
        if stream.is_some() {
            c.push_cmd::<cmds::Memset>(&req, &[])
        } else {
            c.call_cmd::<cmds::Memset>(&req, &[], 0).map(drop)
        }
    })
}

pub(crate) fn memset_d8(dst: u64, v: u8, n: usize) -> CuResult {
    memset(dst, n, v.into(), 1, n, 1, None)
}
pub(crate) fn memset_d16(dst: u64, v: u16, n: usize) -> CuResult {
    memset(dst, n * 2, v.into(), 2, n, 1, None)
}
pub(crate) fn memset_d32(dst: u64, v: u32, n: usize) -> CuResult {
    memset(dst, n * 4, v, 4, n, 1, None)
}
pub(crate) fn memset_d8_async(dst: u64, v: u8, n: usize, s: CUstream) -> CuResult {
    memset(dst, n, v.into(), 1, n, 1, Some(s))
}
pub(crate) fn memset_d16_async(dst: u64, v: u16, n: usize, s: CUstream) -> CuResult {
    memset(dst, n * 2, v.into(), 2, n, 1, Some(s))
}
pub(crate) fn memset_d32_async(dst: u64, v: u32, n: usize, s: CUstream) -> CuResult {
    memset(dst, n * 4, v, 4, n, 1, Some(s))
}
pub(crate) fn memset_d2d8(dst: u64, pitch: usize, v: u8, w: usize, h: usize) -> CuResult {
    memset(dst, pitch, v.into(), 1, w, h, None)
}
pub(crate) fn memset_d2d16(dst: u64, pitch: usize, v: u16, w: usize, h: usize) -> CuResult {
    memset(dst, pitch, v.into(), 2, w, h, None)
}
pub(crate) fn memset_d2d32(dst: u64, pitch: usize, v: u32, w: usize, h: usize) -> CuResult {
    memset(dst, pitch, v, 4, w, h, None)
}
pub(crate) fn memset_d2d8_async(
    dst: u64,
    pitch: usize,
    v: u8,
    w: usize,
    h: usize,
    s: CUstream,
) -> CuResult {
    memset(dst, pitch, v.into(), 1, w, h, Some(s))
}
pub(crate) fn memset_d2d16_async(
    dst: u64,
    pitch: usize,
    v: u16,
    w: usize,
    h: usize,
    s: CUstream,
) -> CuResult {
    memset(dst, pitch, v.into(), 2, w, h, Some(s))
}
pub(crate) fn memset_d2d32_async(
    dst: u64,
    pitch: usize,
    v: u32,
    w: usize,
    h: usize,
    s: CUstream,
) -> CuResult {
    memset(dst, pitch, v, 4, w, h, Some(s))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::with_primary;
    use super::*;
    use crate::driver::testing::{session, session_with_batching};
    use std::time::{Duration, Instant};
    use uapi::wire::Wire;
    use vgpu_transport::Batching;

    /// The fake's submit sizes so far.
    fn submits(sess: &crate::driver::testing::Session) -> Vec<usize> {
        sess.script.lock().unwrap().submits.clone()
    }

    #[test]
    fn on_cheap_transports_async_work_goes_out_at_once() {
        let sess = session_with_batching(1 << 20, Batching::Immediate);
        with_primary();
        for _ in 0..3 {
            memset_d8_async(0x10, 1, 16, std::ptr::null_mut()).unwrap();
        }
        assert_eq!(submits(&sess), [1, 1, 1]);
    }

    #[test]
    fn a_batch_left_alone_is_submitted_after_its_delay() {
        let delay = Duration::from_millis(20);
        let sess = session_with_batching(1 << 20, Batching::After(delay));
        with_primary();
        let t = Instant::now();
        for _ in 0..5 {
            memset_d8_async(0x10, 1, 16, std::ptr::null_mut()).unwrap();
        }
        // Queued well within the delay (a slow machine may not, so only
        // then is the batch checked as still waiting).
        if t.elapsed() < delay / 2 {
            assert_eq!(submits(&sess), Vec::<usize>::new());
        }
        // No call of ours: the flush thread submits the five together.
        let deadline = Instant::now() + Duration::from_secs(10);
        while submits(&sess).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(t.elapsed() >= delay, "submitted before the delay");
        assert_eq!(submits(&sess).iter().sum::<usize>(), 5);
        // A new batch starts the clock again.
        memset_d8_async(0x10, 1, 16, std::ptr::null_mut()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while submits(&sess).iter().sum::<usize>() < 6 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(submits(&sess).iter().sum::<usize>(), 6);
        assert!(sess.script.lock().unwrap().sent.iter().all(|c| c.1));
    }

    #[test]
    fn a_command_queued_after_the_delay_takes_the_batch_along() {
        let delay = Duration::from_millis(30);
        let sess = session_with_batching(1 << 20, Batching::After(delay));
        with_primary();
        // Held under the state lock, the flush thread cannot act: the late
        // command itself sees the batch is due.
        let mut s = crate::driver::lock();
        let t = Instant::now();
        let c = s.client().unwrap();
        c.push_async_for_test(7);
        while t.elapsed() < delay {
            std::thread::sleep(Duration::from_millis(1));
        }
        c.push_async_for_test(8);
        drop(s);
        assert_eq!(submits(&sess), [2]);
    }

    #[test]
    fn async_work_is_batched_64_per_submit() {
        let sess = session(1 << 20);
        with_primary();
        for _ in 0..130 {
            memset_d8_async(0x10, 1, 16, std::ptr::null_mut()).unwrap();
        }
        assert_eq!(sess.script.lock().unwrap().submits, [64, 64]);
        memset_d32(0x10, 7, 4).unwrap();
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.submits, [64, 64, 3]);
        assert!(sc.sent[..130].iter().all(|c| c.1));
        assert!(!sc.sent[130].1);
        let m = MemsetRequest::read_from(&sc.sent[130].2).unwrap();
        assert_eq!((m.value, m.elem_size, m.width, m.height), (7, 4, 4, 1));
    }
}
