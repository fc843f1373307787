//! Copies whose data stays in the arena: which commands qualify, and that
//! a session moves their bytes between the device and the arena intact,
//! counted as in-place (and pinned: the simulator "registers" the arena).

use super::area::tests::{put, sealed_file};
use super::area::SharedArea;
use super::shm::run_in_place;
use crate::executor::sim::SimExecutor;
use crate::executor::Command;
use crate::session::Session;
use std::fs::File;
use std::os::unix::fs::FileExt;
use uapi::cmd::DeviceInfo;
use uapi::cuda::{copy_flags, op, CopyRequest, HandleResponse, MemAllocRequest, ResultHeader};
use uapi::shm::{ShmCompletion, ShmDescriptor, ShmLayout, ShmSetup};
use uapi::socket::frame_flags;
use uapi::status::Status;
use uapi::wire::Wire;

const HEAD: u32 = size_of::<CopyRequest>() as u32;

fn area() -> (File, ShmLayout, SharedArea) {
    let setup = ShmSetup::new(8, 1 << 20);
    let layout = ShmLayout::of(&setup).expect("valid");
    let file = sealed_file(layout.size, true);
    let area = SharedArea::map(&file, &setup).expect("map");
    (file, layout, area)
}

/// Places a copy request at arena `offset` as command `n`.
fn place(file: &File, layout: &ShmLayout, n: u64, d: ShmDescriptor, r: &CopyRequest) {
    file.write_all_at(r.as_bytes(), layout.arena + d.offset)
        .expect("write");
    put(file, layout, n, &d);
}

fn htod(len: u32, offset: u64) -> ShmDescriptor {
    ShmDescriptor {
        opcode: op::MEMCPY_HTOD,
        flags: 0,
        req_len: HEAD + len,
        resp_capacity: 8,
        reserved: 0,
        offset,
    }
}

fn dtoh(capacity: u32, offset: u64) -> ShmDescriptor {
    ShmDescriptor {
        opcode: op::MEMCPY_DTOH,
        flags: 0,
        req_len: HEAD,
        resp_capacity: capacity,
        reserved: 0,
        offset,
    }
}

fn copy(dst: u64, src: u64, len: u64) -> CopyRequest {
    CopyRequest {
        dst,
        src,
        len,
        ..Default::default()
    }
}

#[test]
fn only_well_formed_synchronous_copies_stay_in_place() {
    let (file, layout, area) = area();
    let r = copy(0x1000, 0, 4096);
    place(&file, &layout, 0, htod(4096, 8192), &r);
    let t = area.take(0).expect("valid");
    let got = area.in_place(&t, None).expect("synchronous HTOD");
    assert_eq!(got.request, r);
    assert_eq!(got.span.len(), 4096);
    assert_eq!(
        got.span.as_ptr() as usize,
        area.arena_ptr() as usize + 8192 + HEAD as usize,
        "the data right after the header"
    );
    let r_dtoh = copy(0, 0x1000, 4096);
    place(&file, &layout, 1, dtoh(8 + 4096, 0), &r_dtoh);
    let t = area.take(1).expect("valid");
    let got = area.in_place(&t, None).expect("synchronous DTOH");
    assert_eq!(
        got.span.as_ptr() as usize,
        area.arena_ptr() as usize + 8,
        "the data right after the response header"
    );
    let refused = [
        // Asynchronous: the device would read the place after we complete.
        (
            htod(4096, 0),
            CopyRequest {
                flags: copy_flags::ASYNC,
                ..r
            },
        ),
        // The length disagrees with the data.
        (htod(4096, 0), copy(0x1000, 0, 4095)),
        (htod(4096, 0), CopyRequest { reserved: 1, ..r }),
        // No room for the data in the response.
        (dtoh(4096 + 7, 0), r_dtoh),
        // A DTOH with a tail, or detached.
        (
            ShmDescriptor {
                req_len: HEAD + 8,
                ..dtoh(8 + 4096, 0)
            },
            r_dtoh,
        ),
        (
            ShmDescriptor {
                flags: frame_flags::DETACHED,
                ..dtoh(8 + 4096, 0)
            },
            r_dtoh,
        ),
        // Another command.
        (
            ShmDescriptor {
                opcode: op::MEMCPY_DTOD,
                ..htod(0, 0)
            },
            r,
        ),
    ];
    for (i, (d, r)) in refused.iter().enumerate() {
        place(&file, &layout, 2, *d, r);
        let t = area.take(2).expect("descriptor is in bounds");
        assert!(area.in_place(&t, None).is_none(), "case {i}: {d:?} {r:?}");
    }
}

fn completion(file: &File, layout: &ShmLayout, n: u64) -> ShmCompletion {
    let mut got = [0u8; 8];
    file.read_exact_at(&mut got, layout.completion(n))
        .expect("read");
    ShmCompletion::read_from(&got).expect("completion")
}

fn result_at(file: &File, at: u64) -> u32 {
    let mut h = [0u8; 8];
    file.read_exact_at(&mut h, at).expect("read");
    ResultHeader::read_from(&h).expect("header").result
}

#[test]
fn a_session_copies_between_the_device_and_the_arena_in_place() {
    let (file, layout, area) = area();
    let executor = SimExecutor::new(DeviceInfo {
        total_memory: 1 << 30,
        ..DeviceInfo::default()
    });
    let (mut session, _keep) = Session::standalone(&executor, 1).expect("session");
    session.register_shared(area.arena_span(), crate::cuda::SharedKind::Arena);
    let alloc = MemAllocRequest {
        ctx: 0,
        size: 1 << 16,
    };
    let cancel = crate::cancel::CancelToken::new();
    let body = session
        .execute(
            Command::Cuda {
                opcode: op::MEM_ALLOC,
                request: alloc.as_bytes(),
                resp_capacity: 64,
            },
            &cancel,
        )
        .expect("alloc");
    let alloc = HandleResponse::read_from(&body).expect("response");
    assert_eq!(alloc.result, 0, "allocation");
    let dptr = alloc.handle;
    let len = 40_000u32;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
    // Up: the data after the header in the arena.
    let up = htod(len, 4096);
    place(&file, &layout, 0, up, &copy(dptr, 0, len.into()));
    file.write_all_at(&data, layout.arena + 4096 + u64::from(HEAD))
        .expect("write");
    let t = area.take(0).expect("valid");
    let c = area.in_place(&t, None).expect("in place");
    assert_eq!(run_in_place(&area, &mut session, 0, &t, &c), 0);
    assert_eq!(completion(&file, &layout, 0).status, Status::Ok as u32);
    assert_eq!(result_at(&file, layout.arena + 4096), 0);
    // Down, into another place.
    let down = dtoh(8 + len, 1 << 19);
    place(&file, &layout, 1, down, &copy(0, dptr, len.into()));
    let t = area.take(1).expect("valid");
    let c = area.in_place(&t, None).expect("in place");
    assert_eq!(run_in_place(&area, &mut session, 1, &t, &c), len as usize);
    let done = completion(&file, &layout, 1);
    assert_eq!((done.status, done.resp_len), (Status::Ok as u32, 8 + len));
    assert_eq!(result_at(&file, layout.arena + (1 << 19)), 0);
    let mut back = vec![0u8; len as usize];
    file.read_exact_at(&mut back, layout.arena + (1 << 19) + 8)
        .expect("read");
    assert!(back == data, "data differs after the round trip");
    // A copy the executor refuses answers its CUDA error, no data.
    place(
        &file,
        &layout,
        2,
        down,
        &copy(0, dptr + (1 << 16), len.into()),
    );
    let t = area.take(2).expect("valid");
    let c = area.in_place(&t, None).expect("in place");
    assert_eq!(run_in_place(&area, &mut session, 2, &t, &c), 0);
    assert_eq!(completion(&file, &layout, 2).resp_len, 8);
    assert_eq!(
        result_at(&file, layout.arena + (1 << 19)),
        uapi::cuda::result::INVALID_VALUE
    );
    let stats = session.shared_stats();
    assert_eq!(stats.copies, 2);
    assert_eq!(stats.bytes, 2 * u64::from(len));
    assert_eq!(stats.pinned_bytes, 2 * u64::from(len), "inside the arena");
    assert_eq!(stats.registered, layout.arena_len);
    session.unregister_shared(area.arena_span());
    assert_eq!(session.shared_stats().registered, 0);
}
