use super::*;
use uapi::cuda::{CopyRequest, CtxRequest, StreamEventRequest};

#[test]
fn every_declared_opcode_decodes_to_its_variant_or_a_field_error() {
    for c in uapi::cuda::COMMANDS {
        let zeros = vec![0u8; c.request_size];
        match CudaCall::decode(c.opcode, &zeros) {
            Ok(_) | Err(Status::InvalidField) => {}
            Err(e) => panic!("{}: {e:?}", c.name),
        }
    }
    assert!(matches!(
        CudaCall::decode(0x1ff, &[]),
        Err(Status::InvalidOpcode)
    ));
}

#[test]
fn shapes_are_checked_where_they_enter() {
    let ctx = CtxRequest { ctx: 7 };
    assert!(matches!(
        CudaCall::decode(op::CTX_SYNCHRONIZE, ctx.as_bytes()),
        Ok(CudaCall::CtxSynchronize(CtxRequest { ctx: 7 }))
    ));
    let mut long = ctx.as_bytes().to_vec();
    long.push(0);
    assert!(matches!(
        CudaCall::decode(op::CTX_SYNCHRONIZE, &long),
        Err(Status::InvalidField)
    ));
    let record = StreamEventRequest {
        flags: 1,
        ..Default::default()
    };
    assert!(matches!(
        CudaCall::decode(op::EVENT_RECORD, record.as_bytes()),
        Err(Status::InvalidField)
    ));
    assert!(matches!(
        CudaCall::decode(op::STREAM_WAIT_EVENT, record.as_bytes()),
        Ok(CudaCall::StreamWaitEvent((_, Ok(_))))
    ));
}

#[test]
fn detachment_follows_the_declaration_and_the_async_flag() {
    let copy = |flags| {
        CopyRequest {
            flags,
            ..Default::default()
        }
        .as_bytes()
        .to_vec()
    };
    assert!(CudaCall::is_detached(op::LAUNCH, &[]));
    assert!(!CudaCall::is_detached(op::STREAM_QUERY, &[]));
    assert!(CudaCall::is_detached(
        op::MEMCPY_DTOD,
        &copy(copy_flags::ASYNC)
    ));
    assert!(!CudaCall::is_detached(op::MEMCPY_DTOD, &copy(0)));
    assert!(!CudaCall::is_detached(op::MEMCPY_DTOD, &[]));
    assert!(!CudaCall::is_detached(0x1ff, &[]));
}

/// Review L3: every reserved field of a fixed-size request, and the
/// device requests' `ctx`, must be zero; a request that sets one is
/// refused where it enters, like any other malformed field.
#[test]
fn reserved_fields_are_refused_where_they_enter() {
    use uapi::cuda::{
        CaptureBeginRequest, CaptureEndRequest, DeviceRequest, EventCreateRequest, LimitRequest,
        MemPoolRequest, MemSetAccessRequest, MemsetRequest, OccupancyRequest,
    };
    /// A request as it should be, and with one field set.
    type Pair = (Vec<u8>, Vec<u8>);
    fn pair<T: Wire + Copy>(good: T, set: impl Fn(&mut T)) -> Pair {
        let mut bad = good;
        set(&mut bad);
        (good.as_bytes().to_vec(), bad.as_bytes().to_vec())
    }
    let device = || DeviceRequest::default();
    let cases: Vec<(u16, &str, Pair)> = vec![
        (
            op::PRIMARY_CTX_RETAIN,
            "reserved",
            pair(device(), |r| r.reserved = 1),
        ),
        (op::PRIMARY_CTX_RETAIN, "ctx", pair(device(), |r| r.ctx = 1)),
        (
            op::PRIMARY_CTX_RELEASE,
            "reserved",
            pair(device(), |r| r.reserved = 1),
        ),
        (op::PRIMARY_CTX_RESET, "ctx", pair(device(), |r| r.ctx = 1)),
        (
            op::DEVICE_GET_ATTRIBUTES,
            "reserved",
            pair(device(), |r| r.reserved = 1),
        ),
        (
            op::CTX_GET_LIMIT,
            "reserved",
            pair(LimitRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::CTX_SET_LIMIT,
            "reserved",
            pair(LimitRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::MEMSET,
            "reserved",
            pair(
                MemsetRequest {
                    width: 1,
                    ..Default::default()
                },
                |r| r.reserved = 1,
            ),
        ),
        (
            op::MEM_POOL_TRIM_TO,
            "reserved",
            pair(MemPoolRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::MEM_SET_ACCESS,
            "reserved",
            pair(MemSetAccessRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::STREAM_BEGIN_CAPTURE,
            "reserved",
            pair(CaptureBeginRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::STREAM_END_CAPTURE,
            "reserved",
            pair(CaptureEndRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::EVENT_CREATE,
            "reserved",
            pair(EventCreateRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::EVENT_RECORD,
            "reserved",
            pair(StreamEventRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::STREAM_WAIT_EVENT,
            "reserved",
            pair(StreamEventRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::OCCUPANCY,
            "reserved",
            pair(OccupancyRequest::default(), |r| r.reserved = 1),
        ),
        (
            op::MEMCPY_DTOD,
            "reserved",
            pair(CopyRequest::default(), |r| r.reserved = 1),
        ),
    ];
    for (opcode, what, (good, bad)) in cases {
        assert!(
            !matches!(CudaCall::decode(opcode, &good), Err(Status::InvalidField)),
            "{opcode:#x} with {what} zero"
        );
        assert!(
            matches!(CudaCall::decode(opcode, &bad), Err(Status::InvalidField)),
            "{opcode:#x} with {what} set"
        );
    }
}
