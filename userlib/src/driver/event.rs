//! Events.

use std::ffi::{c_uint, c_void};

use uapi::{
    cuda::{
        op, result, ElapsedRequest, ElapsedResponse, EventCreateRequest, EventRequest,
        HandleResponse, StreamEventRequest,
    },
    wire::Wire,
};

use super::{with_ctx, with_state, CuResult, Obj};

type CUevent = *mut c_void;

pub(crate) unsafe fn event_create(ph: *mut CUevent, flags: c_uint) -> CuResult {
    with_ctx(|s, ctx| {
        if ph.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let req = EventCreateRequest {
            ctx,
            flags,
            reserved: 0,
        };
        let r = s.client()?.call(
            op::EVENT_CREATE,
            req.as_bytes(),
            core::mem::size_of::<HandleResponse>(),
        )?;
        let host = HandleResponse::read_from(&r).ok_or(result::UNKNOWN)?.handle;
        let h = s.new_handle();
        s.objects.insert(h, Obj::Event { host, ctx });
        *ph = h as CUevent;
        Ok(())
    })
}

fn simple(opcode: u16, ev: CUevent) -> CuResult {
    with_state(|s| {
        let (host, ctx) = s.event_host(ev as u64)?;
        let req = EventRequest { ctx, event: host };
        s.client()?.call(opcode, req.as_bytes(), 8).map(|_| ())
    })
}

pub(crate) unsafe fn event_destroy(ev: CUevent) -> CuResult {
    let r = simple(op::EVENT_DESTROY, ev);
    if r.is_ok() || r == Err(result::INVALID_HANDLE) {
        super::lock().objects.remove(&(ev as u64));
    }
    r
}

pub(crate) unsafe fn event_query(ev: CUevent) -> CuResult {
    simple(op::EVENT_QUERY, ev)
}

pub(crate) unsafe fn event_synchronize(ev: CUevent) -> CuResult {
    simple(op::EVENT_SYNCHRONIZE, ev)
}

pub(crate) unsafe fn event_record(ev: CUevent, stream: *mut c_void) -> CuResult {
    event_record_with_flags(ev, stream, 0)
}

/// `CU_EVENT_RECORD_EXTERNAL` (1) only means something inside stream
/// capture, which vgpu does not do: both flags values record the event.
pub(crate) unsafe fn event_record_with_flags(
    ev: CUevent,
    stream: *mut c_void,
    flags: c_uint,
) -> CuResult {
    if flags > 1 {
        return Err(result::INVALID_VALUE);
    }
    with_state(|s| {
        let (host, ctx) = s.event_host(ev as u64)?;
        let st = s.stream_host(stream as u64)?;
        let req = StreamEventRequest {
            ctx,
            stream: st,
            event: host,
            flags: 0,
            reserved: 0,
        };
        s.client()?
            .push_async(op::EVENT_RECORD, req.as_bytes().to_vec())
    })
}

pub(crate) unsafe fn event_elapsed_time(ms: *mut f32, start: CUevent, end: CUevent) -> CuResult {
    with_state(|s| {
        if ms.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let (a, ctx) = s.event_host(start as u64)?;
        let (b, _) = s.event_host(end as u64)?;
        let req = ElapsedRequest {
            ctx,
            start: a,
            end: b,
        };
        let r = s.client()?.call(
            op::EVENT_ELAPSED_TIME,
            req.as_bytes(),
            core::mem::size_of::<ElapsedResponse>(),
        )?;
        *ms = f32::from_bits(
            ElapsedResponse::read_from(&r)
                .ok_or(result::UNKNOWN)?
                .millis_bits,
        );
        Ok(())
    })
}
