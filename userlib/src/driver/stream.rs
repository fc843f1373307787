//! Streams. Streams 0, `CU_STREAM_LEGACY` and `CU_STREAM_PER_THREAD` are the
//! default stream (0 on the wire).

use std::ffi::{c_int, c_uint, c_void};

use uapi::cuda::{
    cmds, result, CudaCommand, StreamCreateRequest, StreamEventRequest, StreamRequest,
};

use super::{with_ctx, with_state, CuResult, Obj, State};

type CUstream = *mut c_void;

pub(crate) unsafe fn stream_create_with_priority(
    ph: *mut CUstream,
    flags: c_uint,
    priority: c_int,
) -> CuResult {
    with_ctx(|s, ctx| {
        if ph.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let req = StreamCreateRequest {
            ctx,
            flags,
            priority,
        };
        let host = s
            .client()?
            .call_cmd::<cmds::StreamCreate>(&req, &[], 0)?
            .0
            .handle;
        let h = s.new_handle();
        s.objects.insert(
            h,
            Obj::Stream {
                host,
                ctx,
                flags,
                priority,
            },
        );
        *ph = h as CUstream;
        Ok(())
    })
}

pub(crate) unsafe fn stream_create(ph: *mut CUstream, flags: c_uint) -> CuResult {
    stream_create_with_priority(ph, flags, 0)
}

/// (device handle, wire context) of a stream; the default stream runs in
/// the current context.
fn stream_ctx(s: &State, stream: CUstream) -> CuResult<(u64, u64)> {
    match s.objects.get(&(stream as u64)) {
        Some(Obj::Stream { host, ctx, .. }) => Ok((*host, *ctx)),
        _ => {
            let host = s.stream_host(stream as u64)?;
            let (_, ctx) = s.current()?;
            Ok((host, ctx))
        }
    }
}

/// A command that names only a stream.
fn simple<C: CudaCommand<Request = StreamRequest>>(stream: CUstream) -> CuResult {
    with_state(|s| {
        let (host, ctx) = stream_ctx(s, stream)?;
        let req = StreamRequest { ctx, stream: host };
        s.client()?.call_cmd::<C>(&req, &[], 0).map(drop)
    })
}

pub(crate) unsafe fn stream_destroy(stream: CUstream) -> CuResult {
    with_state(|s| {
        let h = stream as u64;
        let Some(Obj::Stream { host, ctx, .. }) = s.objects.get(&h).cloned() else {
            return Err(result::INVALID_HANDLE);
        };
        let req = StreamRequest { ctx, stream: host };
        let r = s.client()?.call_cmd::<cmds::StreamDestroy>(&req, &[], 0);
        s.objects.remove(&h);
        r.map(drop)
    })
}

pub(crate) unsafe fn stream_synchronize(stream: CUstream) -> CuResult {
    simple::<cmds::StreamSynchronize>(stream)
}

pub(crate) unsafe fn stream_query(stream: CUstream) -> CuResult {
    simple::<cmds::StreamQuery>(stream)
}

pub(crate) unsafe fn stream_wait_event(
    stream: CUstream,
    event: *mut c_void,
    flags: c_uint,
) -> CuResult {
    with_state(|s| {
        let (host, ctx) = stream_ctx(s, stream)?;
        let (ev, _) = s.event_host(event as u64)?;
        let req = StreamEventRequest {
            ctx,
            stream: host,
            event: ev,
            flags,
            reserved: 0,
        };
        s.client()?.push_cmd::<cmds::StreamWaitEvent>(&req, &[])
    })
}

pub(crate) unsafe fn stream_get_priority(stream: CUstream, priority: *mut c_int) -> CuResult {
    with_state(|s| {
        if priority.is_null() {
            return Err(result::INVALID_VALUE);
        }
        *priority = match s.objects.get(&(stream as u64)) {
            Some(Obj::Stream { priority, .. }) => *priority,
            _ => {
                stream_ctx(s, stream)?;
                0
            }
        };
        Ok(())
    })
}

pub(crate) unsafe fn stream_get_flags(stream: CUstream, flags: *mut c_uint) -> CuResult {
    with_state(|s| {
        if flags.is_null() {
            return Err(result::INVALID_VALUE);
        }
        *flags = match s.objects.get(&(stream as u64)) {
            Some(Obj::Stream { flags, .. }) => *flags,
            _ => {
                stream_ctx(s, stream)?;
                0
            }
        };
        Ok(())
    })
}
