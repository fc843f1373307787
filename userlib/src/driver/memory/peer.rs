//! Peers on a one-device system, answered as NVIDIA's driver answers them
//! (measured, R580 on one H200): a device is not its own peer, so enabling
//! peer access to any context (itself, another context of the device, the
//! primary one) is `PEER_ACCESS_UNSUPPORTED` and disabling it
//! `PEER_ACCESS_NOT_ENABLED`; peer copies between contexts of the one
//! device are device-to-device copies. (`cuDeviceCanAccessPeer` and
//! `cuDeviceGetP2PAttribute` are in `device`.)

use std::ffi::c_uint;

use uapi::cuda::result;

use super::{copy::dtod, CUstream};
use crate::driver::abi::CUcontext;
use crate::driver::{with_state, CuResult, Obj, State};

/// The wire handle of a (non-NULL) guest context, else `INVALID_CONTEXT`.
fn wire_of(s: &State, ctx: CUcontext) -> CuResult<u64> {
    if ctx.is_null() {
        return Err(result::INVALID_CONTEXT);
    }
    s.ctx_wire(ctx as u64)
}

pub(crate) fn ctx_enable_peer_access(peer: CUcontext, flags: c_uint) -> CuResult {
    with_state(|s| {
        if flags != 0 {
            return Err(result::INVALID_VALUE);
        }
        s.current()?;
        wire_of(s, peer)?;
        Err(result::PEER_ACCESS_UNSUPPORTED)
    })
}

pub(crate) fn ctx_disable_peer_access(peer: CUcontext) -> CuResult {
    with_state(|s| {
        s.current()?;
        wire_of(s, peer)?;
        Err(result::PEER_ACCESS_NOT_ENABLED)
    })
}

pub(crate) fn memcpy_peer(
    dst: u64,
    dst_ctx: CUcontext,
    src: u64,
    src_ctx: CUcontext,
    n: usize,
) -> CuResult {
    with_state(|s| {
        let wire = wire_of(s, dst_ctx)?;
        wire_of(s, src_ctx)?;
        dtod(s, wire, 0, dst, src, n as u64, false)
    })
}

pub(crate) fn memcpy_peer_async(
    dst: u64,
    dst_ctx: CUcontext,
    src: u64,
    src_ctx: CUcontext,
    n: usize,
    stream: CUstream,
) -> CuResult {
    with_state(|s| {
        let dst_wire = wire_of(s, dst_ctx)?;
        wire_of(s, src_ctx)?;
        let st = s.stream_host(stream as u64)?;
        // A created stream carries its own context; the copy runs there.
        let wire = match s.objects.get(&(stream as u64)) {
            Some(Obj::Stream { ctx, .. }) => *ctx,
            _ => dst_wire,
        };
        dtod(s, wire, st, dst, src, n as u64, true)
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_util::with_primary;
    use super::*;
    use crate::driver::testing::session;
    use uapi::{
        cuda::{copy_flags, op, CopyRequest},
        wire::Wire,
    };

    #[test]
    fn one_device_has_no_peers_but_copies_between_its_contexts() {
        let sess = session(1 << 20);
        let null = std::ptr::null_mut();
        assert_eq!(
            ctx_enable_peer_access(null, 0),
            Err(result::INVALID_CONTEXT),
            "no current context"
        );
        let a = with_primary() as CUcontext;
        {
            assert_eq!(ctx_enable_peer_access(a, 1), Err(result::INVALID_VALUE));
            assert_eq!(
                ctx_enable_peer_access(null, 0),
                Err(result::INVALID_CONTEXT)
            );
            assert_eq!(
                ctx_enable_peer_access(a, 0),
                Err(result::PEER_ACCESS_UNSUPPORTED)
            );
            assert_eq!(
                ctx_disable_peer_access(a),
                Err(result::PEER_ACCESS_NOT_ENABLED)
            );
            assert_eq!(
                memcpy_peer(0x10, a, 0x20, 0x999 as CUcontext, 4),
                Err(result::INVALID_CONTEXT)
            );
            memcpy_peer(0x10, a, 0x20, a, 4).unwrap();
            memcpy_peer_async(0x30, a, 0x40, a, 8, null).unwrap();
            // The next synchronous command carries the detached one.
            memcpy_peer(0x50, a, 0x60, a, 1).unwrap();
        }
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.sent.len(), 3);
        let r = CopyRequest::read_from(&sc.sent[0].2).unwrap();
        assert_eq!(
            (sc.sent[0].0, r.dst, r.src, r.len),
            (op::MEMCPY_DTOD, 0x10, 0x20, 4)
        );
        assert!(!sc.sent[0].1);
        let r = CopyRequest::read_from(&sc.sent[1].2).unwrap();
        assert_eq!((r.dst, r.flags), (0x30, copy_flags::ASYNC));
        assert!(sc.sent[1].1);
    }
}
