//! Driver options a guest chooses (context, stream, event and wait flags,
//! occupancy flags, limits) are checked against allow-lists before any
//! executor sees them (review finding H1).

use uapi::cuda::{
    op, result, CtxCreateRequest, EventCreateRequest, LimitRequest, StreamCreateRequest,
    StreamEventRequest,
};
use uapi::status::Status;
use uapi::wire::Wire;

use crate::client::*;

fn ctx_create(c: &mut Client, flags: u32) -> u32 {
    let req = CtxCreateRequest {
        ctx: 0,
        flags,
        device: 0,
    };
    c.handle(op::CTX_CREATE, req.as_bytes()).0
}

#[test]
fn context_core_dump_flags_are_refused_and_cudarts_flags_accepted() {
    let mut c = Client::new();
    // CU_CTX_COREDUMP_ENABLE made NVIDIA's library write a core file and
    // abort vgpu-host on the next fault; USER_COREDUMP_ENABLE opens a pipe.
    assert_eq!(ctx_create(&mut c, 0x20), result::INVALID_VALUE);
    assert_eq!(ctx_create(&mut c, 0x40), result::INVALID_VALUE);
    assert_eq!(ctx_create(&mut c, 0x04 | 0x20), result::INVALID_VALUE);
    // Unknown bits and two scheduling modes at once, as NVIDIA's driver.
    assert_eq!(ctx_create(&mut c, 0x100), result::INVALID_VALUE);
    assert_eq!(ctx_create(&mut c, 0x01 | 0x02), result::INVALID_VALUE);
    // What cudaSetDeviceFlags passes: a SCHED_* value, MAP_HOST, LMEM_RESIZE_TO_MAX.
    assert_eq!(ctx_create(&mut c, 0x04 | 0x08 | 0x10), result::SUCCESS);
    assert_eq!(ctx_create(&mut c, 0), result::SUCCESS);
    // The unused context field is zero on the wire.
    let req = CtxCreateRequest {
        ctx: 7,
        flags: 0,
        device: 0,
    };
    assert_eq!(
        c.call(op::CTX_CREATE, req.as_bytes(), 64),
        Err(Status::InvalidField)
    );
}

#[test]
fn stream_event_and_wait_flags_are_the_drivers_known_values() {
    let mut c = Client::new();
    let stream = |flags| StreamCreateRequest {
        ctx: 0,
        flags,
        priority: 0,
    };
    assert_eq!(
        c.handle(op::STREAM_CREATE, stream(2).as_bytes()).0,
        result::INVALID_VALUE
    );
    let (r, s) = c.handle(op::STREAM_CREATE, stream(1).as_bytes());
    assert_eq!(r, result::SUCCESS);
    let event = |flags| EventCreateRequest {
        ctx: 0,
        flags,
        reserved: 0,
    };
    for bad in [4, 8, 0x8000_0000] {
        assert_eq!(
            c.handle(op::EVENT_CREATE, event(bad).as_bytes()).0,
            result::INVALID_VALUE,
            "{bad:#x}"
        );
    }
    let (r, e) = c.handle(op::EVENT_CREATE, event(2 | 4).as_bytes());
    assert_eq!(r, result::SUCCESS);
    let wait = StreamEventRequest {
        ctx: 0,
        stream: s,
        event: e,
        flags: 2,
        reserved: 0,
    };
    assert_eq!(
        c.call(op::STREAM_WAIT_EVENT, wait.as_bytes(), 0),
        Ok(vec![])
    );
    assert_eq!(c.sync(), result::INVALID_VALUE);
    let wait = StreamEventRequest { flags: 1, ..wait };
    assert_eq!(
        c.call(op::STREAM_WAIT_EVENT, wait.as_bytes(), 0),
        Ok(vec![])
    );
    assert_eq!(c.sync(), result::SUCCESS);
}

#[test]
fn occupancy_flags_and_device_wide_limits_are_refused() {
    let mut c = Client::new();
    let f = c.load_function(SHMEM, "shmem");
    let mut q = occupancy(uapi::cuda::occupancy::MAX_ACTIVE_BLOCKS, f, 64, 0);
    q.flags = 2;
    assert_eq!(
        c.value(op::OCCUPANCY, q.as_bytes()).0,
        result::INVALID_VALUE
    );
    q.flags = 1;
    assert_eq!(c.value(op::OCCUPANCY, q.as_bytes()).0, result::SUCCESS);
    let limit = |limit, value| LimitRequest {
        ctx: 0,
        limit,
        reserved: 0,
        value,
    };
    // PERSISTING_L2_CACHE_SIZE sets aside L2 of the whole, shared GPU.
    assert_eq!(
        c.result(op::CTX_SET_LIMIT, limit(6, 1 << 20).as_bytes()),
        result::UNSUPPORTED_LIMIT
    );
    assert_eq!(
        c.result(op::CTX_SET_LIMIT, limit(2, 16 << 20).as_bytes()),
        result::SUCCESS
    );
    // A read-only function attribute.
    assert_eq!(
        c.set_attribute(f, uapi::cuda::func_attribute::NUM_REGS, 8),
        result::INVALID_VALUE
    );
}
