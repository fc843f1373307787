//! What a stream is (its context, id and device) and whether it is being
//! captured, answered locally. vgpu does not capture streams into graphs
//! yet (`cuStreamBeginCapture` is NOT_SUPPORTED), so no stream is ever
//! capturing and every capture query answers `CU_STREAM_CAPTURE_STATUS_NONE`
//! for a valid stream. The capture mode is kept per thread, as CUDA's is.

use crate::driver::abi::{InOut, Out};
use std::cell::Cell;
use std::ffi::{c_int, c_void};

use uapi::cuda::result;

use super::{with_state, CuResult, Obj, State, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD};
use crate::driver::abi::{CUcontext, CUstream};

/// `CU_STREAM_CAPTURE_STATUS_NONE`.
const CAPTURE_STATUS_NONE: c_int = 0;
/// `CU_STREAM_CAPTURE_MODE_*`: GLOBAL 0, THREAD_LOCAL 1, RELAXED 2.
const MAX_CAPTURE_MODE: c_int = 2;

thread_local! {
    /// This thread's stream capture mode (`cuThreadExchangeStreamCaptureMode`).
    static CAPTURE_MODE: Cell<c_int> = const { Cell::new(0) };
}

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
    *pgreen = std::ptr::null_mut();
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

pub(crate) fn stream_is_capturing(stream: CUstream, status: Out<'_, c_int>) -> CuResult {
    with_state(|s| {
        let status = status.get()?;
        stream_context(s, stream as u64)?;
        status.write(CAPTURE_STATUS_NONE);
        Ok(())
    })
}

/// `cuStreamGetCaptureInfo` (CUDA 10.1 ABI): status and id.
pub(crate) fn stream_get_capture_info(
    stream: CUstream,
    status: Out<'_, c_int>,
    id: Out<'_, u64>,
) -> CuResult {
    stream_is_capturing(stream, status)?;
    id.write_optional(0);
    Ok(())
}

/// `cuStreamGetCaptureInfo_v2` (CUDA 11.3 ABI): also graph and dependencies,
/// which are only defined while capturing.
pub(crate) unsafe fn stream_get_capture_info_v2(
    stream: CUstream,
    status: Out<'_, c_int>,
    id: Out<'_, u64>,
    graph: *mut *mut c_void,
    deps: *mut *const c_void,
    num_deps: Out<'_, usize>,
) -> CuResult {
    stream_get_capture_info_v3(
        stream,
        status,
        id,
        graph,
        deps,
        std::ptr::null_mut(),
        num_deps,
    )
}

/// `cuStreamGetCaptureInfo_v3` (CUDA 12.3 ABI; CUDA 13's unversioned one):
/// also the dependencies' edge data.
pub(crate) unsafe fn stream_get_capture_info_v3(
    stream: CUstream,
    status: Out<'_, c_int>,
    id: Out<'_, u64>,
    graph: *mut *mut c_void,
    deps: *mut *const c_void,
    edges: *mut *const c_void,
    num_deps: Out<'_, usize>,
) -> CuResult {
    stream_get_capture_info(stream, status, id)?;
    if !graph.is_null() {
        *graph = std::ptr::null_mut();
    }
    if !deps.is_null() {
        *deps = std::ptr::null();
    }
    if !edges.is_null() {
        *edges = std::ptr::null();
    }
    num_deps.write_optional(0);
    Ok(())
}

pub(crate) fn thread_exchange_stream_capture_mode(mode: InOut<'_, c_int>) -> CuResult {
    let mode = mode.get()?;
    if !(0..=MAX_CAPTURE_MODE).contains(mode) {
        return Err(result::INVALID_VALUE);
    }
    *mode = CAPTURE_MODE.with(|m| m.replace(*mode));
    Ok(())
}
