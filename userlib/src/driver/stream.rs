//! Streams. Streams 0, `CU_STREAM_LEGACY` and `CU_STREAM_PER_THREAD` are the
//! default stream (0 on the wire).

use crate::driver::abi::Out;
use std::ffi::{c_int, c_uint, c_void};

use uapi::cuda::{
    cmds, result, CudaCommand, StreamCreateRequest, StreamEventRequest, StreamRequest,
};

use super::{with_ctx, with_state, CuResult, Obj, State};
use crate::driver::abi::CUstream;

pub(crate) fn stream_create_with_priority(
    ph: Out<'_, CUstream>,
    flags: c_uint,
    priority: c_int,
) -> CuResult {
    with_ctx(|s, ctx| {
        let ph = ph.get()?;
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
        ph.write(h as CUstream);
        Ok(())
    })
}

pub(crate) fn stream_create(ph: Out<'_, CUstream>, flags: c_uint) -> CuResult {
    stream_create_with_priority(ph, flags, 0)
}

/// (device handle, wire context) of a stream; the default stream runs in
/// the current context.
pub(crate) fn stream_ctx(s: &State, stream: CUstream) -> CuResult<(u64, u64)> {
    match s.objects.get(&(stream as u64)) {
        Some(Obj::Stream { host, ctx, .. }) => Ok((*host, *ctx)),
        _ => {
            let host = s.stream_host(stream as u64)?;
            let (_, ctx) = s.current()?;
            Ok((host, ctx))
        }
    }
}

/// A command that names only a stream (one that waits for it: not
/// allowed on a capturing stream, whose capture it invalidates).
fn simple<C: CudaCommand<Request = StreamRequest>>(stream: CUstream) -> CuResult {
    with_state(|s| {
        let (host, ctx) = stream_ctx(s, stream)?;
        s.captures.refuse(stream as u64)?;
        let req = StreamRequest { ctx, stream: host };
        s.client()?.call_cmd::<C>(&req, &[], 0).map(drop)
    })
}

pub(crate) fn stream_destroy(stream: CUstream) -> CuResult {
    with_state(|s| {
        let h = stream as u64;
        let Some(Obj::Stream { host, ctx, .. }) = s.objects.get(&h).cloned() else {
            return Err(result::INVALID_HANDLE);
        };
        let req = StreamRequest { ctx, stream: host };
        let r = s.client()?.call_cmd::<cmds::StreamDestroy>(&req, &[], 0);
        s.objects.remove(&h);
        super::dark_api::forget_stream(h);
        s.captures.forget_stream(h);
        r.map(drop)
    })
}

pub(crate) fn stream_synchronize(stream: CUstream) -> CuResult {
    simple::<cmds::StreamSynchronize>(stream)
}

pub(crate) fn stream_query(stream: CUstream) -> CuResult {
    simple::<cmds::StreamQuery>(stream)
}

pub(crate) fn stream_wait_event(stream: CUstream, event: *mut c_void, flags: c_uint) -> CuResult {
    with_state(|s| {
        let (host, ctx) = stream_ctx(s, stream)?;
        let (ev, _) = s.event_host(event as u64)?;
        if flags == super::graph_events::EXTERNAL && s.captures.is_capturing(stream as u64) {
            // An event wait node, where a plain wait in capture only joins.
            return super::graph_events::capture_event_node(
                s,
                stream,
                uapi::cuda::node_type::WAIT_EVENT,
                event as u64,
            );
        }
        // An event recorded in a capture joins the stream to it.
        s.captures.stream_waits(stream as u64, event as u64)?;
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

pub(crate) fn stream_get_priority(stream: CUstream, priority: Out<'_, c_int>) -> CuResult {
    with_state(|s| {
        let priority = priority.get()?;
        priority.write(match s.objects.get(&(stream as u64)) {
            Some(Obj::Stream { priority, .. }) => *priority,
            _ => {
                stream_ctx(s, stream)?;
                0
            }
        });
        Ok(())
    })
}

pub(crate) fn stream_get_flags(stream: CUstream, flags: Out<'_, c_uint>) -> CuResult {
    with_state(|s| {
        let flags = flags.get()?;
        flags.write(match s.objects.get(&(stream as u64)) {
            Some(Obj::Stream { flags, .. }) => *flags,
            _ => {
                stream_ctx(s, stream)?;
                0
            }
        });
        Ok(())
    })
}

/// `CUhostFn`.
pub(crate) type HostFn = Option<unsafe extern "C" fn(*mut c_void)>;
/// `CUstreamCallback`: (stream, status, user data).
pub(crate) type StreamCallback = Option<unsafe extern "C" fn(CUstream, u32, *mut c_void)>;

/// `cuLaunchHostFunc`: the host function runs once the stream's earlier
/// work is done and before its later work starts. On a capturing stream it
/// becomes a host node of the capture's graph (`host_fn`), run by the guest
/// when the graph is launched. Outside a capture vgpu has no channel for
/// the device to call back into the guest, so it waits for the stream here
/// and runs the function in the calling thread, with none of our locks held
/// (it may call CUDA), before returning; CUDA runs it on a thread of its
/// own, later. Stream order is the same; the caller is blocked meanwhile.
pub(crate) unsafe fn launch_host_func(stream: CUstream, f: HostFn, data: *mut c_void) -> CuResult {
    let captured = with_state(|s| {
        if !s.captures.is_capturing(stream as u64) {
            return Ok(false);
        }
        super::host_fn::capture_host_func(s, stream, f, data)?;
        Ok(true)
    })?;
    if captured {
        return Ok(());
    }
    let f = f.ok_or(result::INVALID_VALUE)?;
    stream_synchronize(stream)?;
    // SAFETY: the caller's contract: the application's `CUhostFn` with its
    // own `userData`, called as CUDA calls it.
    unsafe { f(data) };
    Ok(())
}

/// `cuStreamAddCallback` (flags must be 0): as [`launch_host_func`]
/// outside a capture; the callback is told the stream's status, an error of
/// its earlier work included (then it still runs, as in CUDA). CUDA does not
/// capture it: on a capturing stream it is `STREAM_CAPTURE_UNSUPPORTED` and
/// invalidates the capture.
pub(crate) unsafe fn stream_add_callback(
    stream: CUstream,
    cb: StreamCallback,
    data: *mut c_void,
    flags: c_uint,
) -> CuResult {
    let cb = cb.ok_or(result::INVALID_VALUE)?;
    if flags != 0 {
        return Err(result::INVALID_VALUE);
    }
    with_state(|s| {
        stream_ctx(s, stream)?;
        s.captures.refuse(stream as u64)
    })?;
    let status = match stream_synchronize(stream) {
        Ok(()) => result::SUCCESS,
        Err(e) if e == result::INVALID_HANDLE || e == result::INVALID_CONTEXT => return Err(e),
        Err(e) => e,
    };
    // SAFETY: the caller's contract: the application's `CUstreamCallback`
    // with its own `userData`, called as CUDA calls it.
    unsafe { cb(stream, status, data) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::testing::session;
    use std::sync::atomic::{AtomicU32, Ordering};
    use uapi::cuda::op;

    static SEEN: AtomicU32 = AtomicU32::new(0);

    unsafe extern "C" fn host_fn(data: *mut c_void) {
        // Calls back into the driver: no lock of ours may be held here.
        let mut dev = -1;
        let r = crate::driver::context::ctx_get_device((&mut dev).into());
        assert_eq!(r, Ok(()));
        // SAFETY: the test passes a `u32` as the user data.
        SEEN.fetch_add(unsafe { *(data as *const u32) }, Ordering::SeqCst);
    }

    unsafe extern "C" fn callback(_: CUstream, status: u32, data: *mut c_void) {
        // SAFETY: the test passes a `u32` as the user data.
        SEEN.fetch_add(status + unsafe { *(data as *const u32) }, Ordering::SeqCst);
    }

    #[test]
    fn host_functions_run_after_the_stream_and_unlocked() {
        let sess = session(1 << 20);
        crate::driver::testing::with_primary();
        let mut seven = 7u32;
        SEEN.store(0, Ordering::SeqCst);
        // SAFETY: `host_fn` reads the local `u32` it is given.
        unsafe {
            launch_host_func(
                std::ptr::null_mut(),
                Some(host_fn),
                (&mut seven as *mut u32).cast(),
            )
            .unwrap();
        }
        assert_eq!(SEEN.load(Ordering::SeqCst), 7);
        let sent = sess.opcodes();
        assert_eq!(
            sent,
            [op::STREAM_SYNCHRONIZE],
            "the stream is waited for first"
        );
        // A stream error reaches the callback as its status.
        let err = uapi::cuda::ResultHeader {
            result: result::ILLEGAL_ADDRESS,
            ..Default::default()
        };
        sess.respond(uapi::wire::Wire::as_bytes(&err).to_vec());
        let mut one = 1u32;
        // SAFETY: `callback` reads the local `u32` it is given.
        unsafe {
            stream_add_callback(
                std::ptr::null_mut(),
                Some(callback),
                (&mut one as *mut u32).cast(),
                0,
            )
            .unwrap();
            assert_eq!(
                stream_add_callback(
                    std::ptr::null_mut(),
                    Some(callback),
                    std::ptr::null_mut(),
                    1
                ),
                Err(result::INVALID_VALUE)
            );
            assert_eq!(
                launch_host_func(std::ptr::null_mut(), None, std::ptr::null_mut()),
                Err(result::INVALID_VALUE)
            );
        }
        assert_eq!(SEEN.load(Ordering::SeqCst), 7 + result::ILLEGAL_ADDRESS + 1);
    }
}
