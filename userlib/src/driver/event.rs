//! Events.

use crate::driver::abi::Out;
use std::ffi::{c_uint, c_void};

use uapi::cuda::{
    cmds, result, CudaCommand, ElapsedRequest, EventCreateRequest, EventRequest, StreamEventRequest,
};

use super::{with_ctx, with_state, CuResult, Obj};
use crate::driver::abi::CUevent;

pub(crate) fn event_create(ph: Out<'_, CUevent>, flags: c_uint) -> CuResult {
    with_ctx(|s, ctx| {
        let ph = ph.get()?;
        let req = EventCreateRequest {
            ctx,
            flags,
            reserved: 0,
        };
        let host = s
            .client()?
            .call_cmd::<cmds::EventCreate>(&req, &[], 0)?
            .0
            .handle;
        let h = s.new_handle();
        s.objects.insert(h, Obj::Event { host, ctx });
        ph.write(h as CUevent);
        Ok(())
    })
}

/// A command that names only an event.
fn simple<C: CudaCommand<Request = EventRequest>>(ev: CUevent) -> CuResult {
    with_state(|s| {
        let (host, ctx) = s.event_host(ev as u64)?;
        let req = EventRequest { ctx, event: host };
        s.client()?.call_cmd::<C>(&req, &[], 0).map(drop)
    })
}

pub(crate) fn event_destroy(ev: CUevent) -> CuResult {
    let r = simple::<cmds::EventDestroy>(ev);
    if r.is_ok() || r == Err(result::INVALID_HANDLE) {
        super::lock().objects.remove(&(ev as u64));
    }
    r
}

pub(crate) fn event_query(ev: CUevent) -> CuResult {
    super::with_state(|s| s.captures.check_event(ev as u64))?;
    simple::<cmds::EventQuery>(ev)
}

pub(crate) fn event_synchronize(ev: CUevent) -> CuResult {
    super::with_state(|s| s.captures.check_event(ev as u64))?;
    simple::<cmds::EventSynchronize>(ev)
}

pub(crate) fn event_record(ev: CUevent, stream: *mut c_void) -> CuResult {
    event_record_with_flags(ev, stream, 0)
}

/// `cuEventRecordWithFlags`. In a capture, a plain record marks the
/// stream's place (for a join by `cuStreamWaitEvent`), and
/// `CU_EVENT_RECORD_EXTERNAL` makes an event record node instead
/// (`graph_events`); outside a capture both record the event.
pub(crate) fn event_record_with_flags(ev: CUevent, stream: *mut c_void, flags: c_uint) -> CuResult {
    if flags > super::graph_events::EXTERNAL {
        return Err(result::INVALID_VALUE);
    }
    with_state(|s| {
        if flags == super::graph_events::EXTERNAL && s.captures.is_capturing(stream as u64) {
            return super::graph_events::capture_event_node(
                s,
                stream,
                uapi::cuda::node_type::EVENT_RECORD,
                ev as u64,
            );
        }
        let (host, ctx) = s.event_host(ev as u64)?;
        let st = s.stream_host(stream as u64)?;
        let req = StreamEventRequest {
            ctx,
            stream: st,
            event: host,
            flags: 0,
            reserved: 0,
        };
        s.client()?.push_cmd::<cmds::EventRecord>(&req, &[])?;
        s.captures.event_recorded(ev as u64, stream as u64);
        Ok(())
    })
}

pub(crate) fn event_elapsed_time(ms: Out<'_, f32>, start: CUevent, end: CUevent) -> CuResult {
    with_state(|s| {
        let ms = ms.get()?;
        let (a, ctx) = s.event_host(start as u64)?;
        let (b, _) = s.event_host(end as u64)?;
        let req = ElapsedRequest {
            ctx,
            start: a,
            end: b,
        };
        let (r, _) = s
            .client()?
            .call_cmd::<cmds::EventElapsedTime>(&req, &[], 0)?;
        ms.write(f32::from_bits(r.millis_bits));
        Ok(())
    })
}
