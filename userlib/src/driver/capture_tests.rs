//! Capture state and mode rules, with the scripted transport.

use std::ffi::c_int;

use uapi::cuda::{capture_status, op, result, CaptureEndRequest, END_CAPTURE_DISCARD};
use uapi::wire::Wire;

use super::*;
use crate::driver::testing::{session, with_primary, Session};
use crate::driver::{lock, Obj};

const STREAM: u64 = 0x7647_0000_9000;
const OTHER: u64 = 0x7647_0000_9010;
const EVENT: u64 = 0x7647_0000_9020;

fn value(v: u64) -> Vec<u8> {
    let mut r = vec![0u8; 8];
    r.extend_from_slice(&v.to_le_bytes());
    r
}

fn error(code: u32) -> Vec<u8> {
    let mut r = code.to_le_bytes().to_vec();
    r.resize(16, 0);
    r
}

/// Two created streams and an event, as if made through the device.
fn setup() -> Session {
    let sess = session(1 << 20);
    with_primary();
    let mut s = lock();
    for (h, host) in [(STREAM, 0x57_0001), (OTHER, 0x57_0002)] {
        s.objects.insert(
            h,
            Obj::Stream {
                host,
                ctx: 0,
                flags: 0,
                priority: 0,
            },
        );
    }
    s.objects.insert(
        EVENT,
        Obj::Event {
            host: 0xe7_0001,
            ctx: 0,
        },
    );
    drop(s);
    sess
}

fn status(stream: u64) -> c_int {
    let mut st: c_int = -1;
    stream_is_capturing(stream as *mut c_void, (&mut st).into()).unwrap();
    st
}

#[test]
fn status_and_id_are_answered_here_while_capturing() {
    let sess = setup();
    assert_eq!(status(STREAM), capture_status::NONE as c_int);
    sess.respond(value(41));
    stream_begin_capture_v2(STREAM as *mut c_void, capture_mode::GLOBAL as c_int).unwrap();
    assert_eq!(status(STREAM), capture_status::ACTIVE as c_int);
    let (mut st, mut id): (c_int, u64) = (0, 0);
    stream_get_capture_info(STREAM as *mut c_void, (&mut st).into(), (&mut id).into()).unwrap();
    assert_eq!((st, id), (capture_status::ACTIVE as c_int, 41));
    assert_eq!(sess.opcodes(), vec![op::STREAM_BEGIN_CAPTURE]);
    assert_eq!(
        stream_begin_capture_v2(STREAM as *mut c_void, 0),
        Err(result::ILLEGAL_STATE),
        "already capturing"
    );
    sess.respond(value(0x6a_0005));
    let mut g: *mut c_void = std::ptr::null_mut();
    stream_end_capture(STREAM as *mut c_void, (&mut g).into()).unwrap();
    assert_eq!(g as u64, 0x6a_0005);
    assert_eq!(status(STREAM), capture_status::NONE as c_int);
}

#[test]
fn default_streams_cannot_be_captured() {
    let sess = setup();
    for s in [0u64, 1, 2] {
        assert_eq!(
            stream_begin_capture(s as *mut c_void),
            Err(result::STREAM_CAPTURE_UNSUPPORTED)
        );
    }
    assert!(sess.opcodes().is_empty());
}

#[test]
fn an_unsafe_call_in_global_mode_invalidates_the_capture() {
    let sess = setup();
    sess.respond(value(1));
    stream_begin_capture(STREAM as *mut c_void).unwrap();
    let mut p = 0u64;
    assert_eq!(
        crate::driver::memory::mem_alloc((&mut p).into(), 256),
        Err(result::STREAM_CAPTURE_UNSUPPORTED)
    );
    assert_eq!(status(STREAM), capture_status::INVALIDATED as c_int);
    // The device is told to drop the graph; the capture fails.
    sess.respond(error(result::STREAM_CAPTURE_INVALIDATED));
    let mut g = 7usize as *mut c_void;
    assert_eq!(
        stream_end_capture(STREAM as *mut c_void, (&mut g).into()),
        Err(result::STREAM_CAPTURE_INVALIDATED)
    );
    assert!(g.is_null());
    let sc = sess.script.lock().unwrap();
    let (opcode, _, body) = sc.sent.last().unwrap();
    assert_eq!(*opcode, op::STREAM_END_CAPTURE);
    assert_eq!(
        CaptureEndRequest::read_from(body).map(|r| r.flags),
        Some(END_CAPTURE_DISCARD)
    );
}

#[test]
fn relaxed_threads_and_relaxed_captures_may_allocate() {
    let _sess = setup();
    let mut s = lock();
    s.captures.streams.insert(STREAM, 9);
    let me = thread_id();
    let cap = |mode| Capture {
        origin: STREAM,
        mode,
        thread: me,
        invalidated: false,
    };
    s.captures.active.insert(9, cap(capture_mode::RELAXED));
    assert_eq!(s.captures.check_unsafe(), Ok(()), "own relaxed capture");
    s.captures.active.insert(9, cap(capture_mode::THREAD_LOCAL));
    assert_eq!(
        s.captures.check_unsafe(),
        Err(result::STREAM_CAPTURE_UNSUPPORTED)
    );
    s.captures.active.insert(9, cap(capture_mode::THREAD_LOCAL));
    let mut mode = capture_mode::RELAXED as c_int;
    thread_exchange_stream_capture_mode((&mut mode).into()).unwrap();
    assert_eq!(mode, capture_mode::GLOBAL as c_int);
    assert_eq!(s.captures.check_unsafe(), Ok(()), "relaxed thread");
    thread_exchange_stream_capture_mode((&mut mode).into()).unwrap();
    // Another thread's global capture forbids a global-mode thread only.
    let other = std::thread::spawn(move || {
        let mut c = Captures::new();
        c.active.insert(
            3,
            Capture {
                origin: STREAM,
                mode: capture_mode::GLOBAL,
                thread: me,
                invalidated: false,
            },
        );
        let global = c.check_unsafe();
        let mut m = capture_mode::THREAD_LOCAL as c_int;
        thread_exchange_stream_capture_mode((&mut m).into()).unwrap();
        let local = c.check_unsafe();
        (global, local)
    })
    .join()
    .unwrap();
    assert_eq!(other, (Err(result::STREAM_CAPTURE_UNSUPPORTED), Ok(())));
}

#[test]
fn a_stream_joins_through_an_event_and_syncing_a_capturing_stream_fails() {
    let sess = setup();
    sess.respond(value(5));
    stream_begin_capture_v2(STREAM as *mut c_void, capture_mode::RELAXED as c_int).unwrap();
    crate::driver::event::event_record(EVENT as *mut c_void, STREAM as *mut c_void).unwrap();
    assert_eq!(
        crate::driver::event::event_query(EVENT as *mut c_void),
        Err(result::CAPTURED_EVENT)
    );
    crate::driver::stream::stream_wait_event(OTHER as *mut c_void, EVENT as *mut c_void, 0)
        .unwrap();
    assert_eq!(status(OTHER), capture_status::ACTIVE as c_int);
    let mut g: *mut c_void = std::ptr::null_mut();
    assert_eq!(
        stream_end_capture(OTHER as *mut c_void, (&mut g).into()),
        Err(result::STREAM_CAPTURE_UNMATCHED)
    );
    assert_eq!(
        crate::driver::stream::stream_synchronize(OTHER as *mut c_void),
        Err(result::STREAM_CAPTURE_UNSUPPORTED)
    );
    assert_eq!(status(STREAM), capture_status::INVALIDATED as c_int);
    // Host copies cannot be captured either.
    let data = [0u8; 4];
    assert_eq!(
        crate::driver::memory::memcpy_htod_async(
            0x7f00_0000_0000,
            (&data[..]).into(),
            4,
            STREAM as *mut c_void
        ),
        Err(result::STREAM_CAPTURE_UNSUPPORTED)
    );
}
