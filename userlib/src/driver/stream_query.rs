//! What a stream is (its context, id and device), answered locally (its
//! capture status: `super::capture`).

use crate::driver::abi::Out;
use std::ffi::{c_int, c_void};

use uapi::cuda::result;

use super::{with_state, CuResult, Obj, State, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD};
use crate::driver::abi::{CUcontext, CUstream};

/// The guest context a stream belongs to (default streams: the current one).
fn stream_context(s: &State, stream: u64) -> CuResult<u64> {
    let wire = match stream {
        0 | CU_STREAM_LEGACY | CU_STREAM_PER_THREAD => return Ok(s.current()?.0),
        h => match s.objects.get(&h) {
            Some(Obj::Stream { ctx, .. }) => *ctx,
            _ => return Err(result::INVALID_HANDLE),
        },
    };
    s.objects
        .iter()
        .find_map(|(h, o)| matches!(o, Obj::Ctx { wire: w, .. } if *w == wire).then_some(*h))
        .ok_or(result::INVALID_CONTEXT)
}

pub(crate) fn stream_get_ctx(stream: CUstream, pctx: Out<'_, CUcontext>) -> CuResult {
    with_state(|s| {
        let pctx = pctx.get()?;
        pctx.write(stream_context(s, stream as u64)? as CUcontext);
        Ok(())
    })
}

/// `cuStreamGetCtx_v2`: no green contexts exist here, so the green
/// context out-parameter is always NULL.
pub(crate) unsafe fn stream_get_ctx_v2(
    stream: CUstream,
    pctx: Out<'_, CUcontext>,
    pgreen: *mut *mut c_void,
) -> CuResult {
    if pctx.is_null() || pgreen.is_null() {
        return Err(result::INVALID_VALUE);
    }
    stream_get_ctx(stream, pctx)?;
    // SAFETY: the C caller's out-pointer; checked non-NULL above.
    unsafe { *pgreen = std::ptr::null_mut() };
    Ok(())
}

/// A stream's process-unique id: its guest handle (the default streams'
/// ids are their special handles, as each names one stream per context).
pub(crate) fn stream_get_id(stream: CUstream, id: Out<'_, u64>) -> CuResult {
    with_state(|s| {
        let id = id.get()?;
        stream_context(s, stream as u64)?;
        id.write(match stream as u64 {
            0 => CU_STREAM_LEGACY,
            h => h,
        });
        Ok(())
    })
}

pub(crate) fn stream_get_device(stream: CUstream, dev: Out<'_, c_int>) -> CuResult {
    with_state(|s| {
        let dev = dev.get()?;
        stream_context(s, stream as u64)?;
        dev.write(0);
        Ok(())
    })
}
