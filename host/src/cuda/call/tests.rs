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
