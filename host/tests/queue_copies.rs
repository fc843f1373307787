//! Large copies through a queue as the driver describes them: the request
//! header in a buffer of its own, then the pinned pages of the caller's
//! buffer, scattered over guest RAM (across the memory hole too). The data
//! moves between those pages and the device in place (`queue/copy.rs`);
//! shapes it does not take go the ordinary way, with the same result.

mod common;

use common::commands::{pattern, status_of};
use common::*;
use uapi::cuda::{op, result, CopyRequest, HandleResponse, MemAllocRequest, ResultHeader};
use uapi::ring::{entry_flags, CompletionEntry, SgEntry, SubmissionEntry};
use uapi::status::Status;
use uapi::wire::Wire;

/// Data pieces: pages of RAM B, the end of RAM A (before the hole), RAM B
/// again, in an order unlike their addresses.
fn pieces() -> Vec<(u64, u64)> {
    vec![
        (RAM_B + 0x8_0000, 0x1_0000),
        (RAM_A + 0x4_0000, 0x1_8000 + 123),
        (HOLE - 0x9000, 0x9000),
        (RAM_B + 0x1000, 0x2_0000 - 123),
        (RAM_B + 0xC_0000, 5),
    ]
}

fn write_list(h: &Harness, at: u64, list: &[(u64, u64)]) {
    for (i, &(addr, len)) in list.iter().enumerate() {
        let sg = SgEntry {
            addr,
            len: len as u32,
            reserved: 0,
        };
        assert!(h.mem().write_obj(at + 16 * i as u64, &sg).is_ok());
    }
}

fn alloc(h: &Harness, q: &mut TestQueue, size: u64) -> u64 {
    let req = MemAllocRequest { ctx: 0, size };
    h.write_bytes(q.data, req.as_bytes());
    let c = q.run(
        h,
        &SubmissionEntry {
            opcode: op::MEM_ALLOC,
            tag: 1,
            req_addr: q.data,
            req_len: req.as_bytes().len() as u32,
            resp_addr: q.data + 0x1000,
            resp_len: 64,
            ..Default::default()
        },
    );
    assert_eq!(status_of(&c), Some(Status::Ok));
    let r = HandleResponse::read_from(&h.read_bytes(q.data + 0x1000, 16)).expect("response");
    assert_eq!(r.result, result::SUCCESS);
    r.handle
}

/// Submits an HTOD of `data` into `dst` from `pieces`, the header
/// `header_len` bytes (the driver's is exactly a `CopyRequest`), with a
/// response of `resp_len` bytes; returns its completion.
fn submit_htod(
    h: &Harness,
    q: &mut TestQueue,
    dst: u64,
    data: &[u8],
    header_len: usize,
    resp_len: u32,
) -> CompletionEntry {
    let req = CopyRequest {
        dst,
        len: data.len() as u64,
        ..Default::default()
    };
    let mut header = req.as_bytes().to_vec();
    header.resize(header_len, 0);
    fill_pieces(h, data);
    submit_pieces(h, q, op::MEMCPY_HTOD, &header, resp_len)
}

/// Writes `data` into [`pieces`], in order.
fn fill_pieces(h: &Harness, data: &[u8]) {
    let mut at = 0;
    for (addr, len) in pieces() {
        h.write_bytes(addr, &data[at..at + len as usize]);
        at += len as usize;
    }
}

/// Submits `opcode` as the driver describes a command with pinned data:
/// `header` in a buffer of its own, then [`pieces`], with a response of
/// `resp_len` bytes; returns its completion.
fn submit_pieces(
    h: &Harness,
    q: &mut TestQueue,
    opcode: u16,
    header: &[u8],
    resp_len: u32,
) -> CompletionEntry {
    h.write_bytes(q.data + 0x2000, header);
    let mut list = vec![(q.data + 0x2000, header.len() as u64)];
    list.extend(pieces());
    write_list(h, q.data, &list);
    q.run(
        h,
        &SubmissionEntry {
            opcode,
            flags: entry_flags::REQ_SGL,
            tag: 2,
            req_addr: q.data,
            req_len: list.len() as u32,
            resp_addr: q.data + 0x1000,
            resp_len,
            ..Default::default()
        },
    )
}

/// [`submit_htod`] with room for the response header; returns the CUDA
/// result, or the device status when it is not OK.
fn htod(
    h: &Harness,
    q: &mut TestQueue,
    dst: u64,
    data: &[u8],
    header_len: usize,
) -> Result<u32, Option<Status>> {
    let c = submit_htod(h, q, dst, data, header_len, 8);
    if status_of(&c) != Some(Status::Ok) {
        return Err(status_of(&c));
    }
    Ok(ResultHeader::read_from(&h.read_bytes(q.data + 0x1000, 8))
        .expect("header")
        .result)
}

/// DTOH of `len` bytes at `src` into `pieces` behind a response header;
/// returns the CUDA result, the response length and the bytes.
fn dtoh(h: &Harness, q: &mut TestQueue, src: u64, len: usize) -> (u32, u32, Vec<u8>) {
    let req = CopyRequest {
        src,
        len: len as u64,
        ..Default::default()
    };
    h.write_bytes(q.data + 0x2000, req.as_bytes());
    for (addr, n) in pieces() {
        h.write_bytes(addr, &vec![0xee; n as usize]);
    }
    let mut list = vec![(q.data + 0x3000, 8)];
    list.extend(pieces());
    write_list(h, q.data, &list);
    let c = q.run(
        h,
        &SubmissionEntry {
            opcode: op::MEMCPY_DTOH,
            flags: entry_flags::RESP_SGL,
            tag: 3,
            req_addr: q.data + 0x2000,
            req_len: req.as_bytes().len() as u32,
            resp_addr: q.data,
            resp_len: list.len() as u32,
            ..Default::default()
        },
    );
    assert_eq!(status_of(&c), Some(Status::Ok));
    let code = ResultHeader::read_from(&h.read_bytes(q.data + 0x3000, 8))
        .expect("header")
        .result;
    let mut out = Vec::new();
    for (addr, n) in pieces() {
        out.extend(h.read_bytes(addr, n as usize));
    }
    (code, c.resp_len, out)
}

#[test]
fn scattered_pages_go_up_and_come_back_intact() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let len = pieces().iter().map(|p| p.1 as usize).sum::<usize>();
    let data = pattern(len, 5);
    let d = alloc(&h, &mut q, len as u64);
    let header = size_of::<CopyRequest>();
    assert_eq!(htod(&h, &mut q, d, &data, header), Ok(result::SUCCESS));
    let (code, resp_len, back) = dtoh(&h, &mut q, d, len);
    assert_eq!((code, resp_len as usize), (result::SUCCESS, 8 + len));
    assert!(back == data, "the data came back intact");
    // Out of the client's memory: CUDA's error, nothing written.
    let (code, resp_len, back) = dtoh(&h, &mut q, d + 1, len);
    assert_eq!((code, resp_len), (result::INVALID_VALUE, 8));
    assert!(back.iter().all(|&b| b == 0xee));
    assert_eq!(
        htod(&h, &mut q, d + 1, &data, header),
        Ok(result::INVALID_VALUE)
    );
}

#[test]
fn a_header_of_another_shape_takes_the_ordinary_path() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let len = pieces().iter().map(|p| p.1 as usize).sum::<usize>();
    let d = alloc(&h, &mut q, len as u64);
    let data = pattern(len, 9);
    // The header's segment 8 bytes longer: the request is then header,
    // 8 stray bytes and data, which the decoder refuses as any other.
    let header = size_of::<CopyRequest>();
    assert_eq!(
        htod(&h, &mut q, d, &data, header + 8),
        Err(Some(Status::InvalidField))
    );
    let (code, _, back) = dtoh(&h, &mut q, d, len);
    assert_eq!(code, result::SUCCESS);
    assert!(back != data, "a malformed request moved no data");
    // A small copy goes the ordinary way too, and arrives.
    let small = pattern(4096, 3);
    let c = {
        h.write_bytes(
            q.data + 0x2000,
            CopyRequest {
                dst: d,
                len: 4096,
                ..Default::default()
            }
            .as_bytes(),
        );
        h.write_bytes(RAM_B, &small);
        write_list(
            &h,
            q.data,
            &[(q.data + 0x2000, header as u64), (RAM_B, 4096)],
        );
        q.run(
            &h,
            &SubmissionEntry {
                opcode: op::MEMCPY_HTOD,
                flags: entry_flags::REQ_SGL,
                tag: 4,
                req_addr: q.data,
                req_len: 2,
                resp_addr: q.data + 0x1000,
                resp_len: 8,
                ..Default::default()
            },
        )
    };
    assert_eq!(status_of(&c), Some(Status::Ok));
    let (_, _, back) = dtoh(&h, &mut q, d, len);
    assert!(back[..4096] == small[..]);
}

#[test]
fn a_short_response_reports_the_length_it_needs() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let len = pieces().iter().map(|p| p.1 as usize).sum::<usize>();
    let d = alloc(&h, &mut q, len as u64);
    let data = pattern(len, 1);
    let c = submit_htod(&h, &mut q, d, &data, size_of::<CopyRequest>(), 4);
    // As the ordinary path answers: too small, and the header's 8 bytes.
    assert_eq!(
        (status_of(&c), c.resp_len),
        (Some(Status::ResponseTooSmall), 8)
    );
}

/// A PREPARE_HOST of `pieces` as the driver describes pinned host memory:
/// its header, then the pages. Returns the completion status and result.
fn prepare(h: &Harness, q: &mut TestQueue, req: CopyRequest) -> (Option<Status>, u32) {
    let c = submit_pieces(h, q, op::PREPARE_HOST, req.as_bytes(), 8);
    let code = ResultHeader::read_from(&h.read_bytes(q.data + 0x1000, 8))
        .expect("header")
        .result;
    (status_of(&c), code)
}

#[test]
fn pinned_host_memory_is_prepared_in_place_and_checked() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let len = pieces().iter().map(|p| p.1).sum::<u64>();
    let data = pattern(len as usize, 9);
    fill_pieces(&h, &data);
    let d = alloc(&h, &mut q, len);
    let req = CopyRequest {
        len,
        ..Default::default()
    };
    assert_eq!(
        prepare(&h, &mut q, req),
        (Some(Status::Ok), result::SUCCESS)
    );
    // It moved nothing: the device memory is still unwritten.
    let (code, _, back) = dtoh(&h, &mut q, d, len as usize);
    assert_eq!(code, result::SUCCESS);
    assert!(back.iter().all(|&b| b == 0), "nothing was copied");
    // A context the client does not have is CUDA's error.
    let bad_ctx = CopyRequest { ctx: 77, ..req };
    assert_eq!(
        prepare(&h, &mut q, bad_ctx).1,
        result::INVALID_CONTEXT,
        "bad context"
    );
    // Fields it does not take, or a length other than its pages', are the
    // device's refusal.
    for bad in [
        CopyRequest { stream: 1, ..req },
        CopyRequest { dst: d, ..req },
        CopyRequest { flags: 1, ..req },
        CopyRequest {
            len: len - 1,
            ..req
        },
    ] {
        assert_eq!(
            prepare(&h, &mut q, bad).0,
            Some(Status::InvalidField),
            "{bad:?}"
        );
    }
}

/// Runs `opcode` with `req` and `tail` in one flat request buffer (the
/// ordinary path), with a response of `resp_len` bytes (0: detached).
fn run_flat(
    h: &Harness,
    q: &mut TestQueue,
    opcode: u16,
    req: CopyRequest,
    tail: &[u8],
    resp_len: u32,
) -> CompletionEntry {
    let mut bytes = req.as_bytes().to_vec();
    bytes.extend_from_slice(tail);
    h.write_bytes(q.data + 0x2000, &bytes);
    q.run(
        h,
        &SubmissionEntry {
            opcode,
            tag: 5,
            req_addr: q.data + 0x2000,
            req_len: bytes.len() as u32,
            resp_addr: if resp_len == 0 { 0 } else { q.data + 0x1000 },
            resp_len,
            ..Default::default()
        },
    )
}

#[test]
fn an_owed_error_outlives_a_prepare_host() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let len = pieces().iter().map(|p| p.1).sum::<u64>();
    let d = alloc(&h, &mut q, len);
    // A detached (asynchronous) copy up to an address the client does not
    // have: its INVALID_VALUE is owed to the next call with a response.
    let bad = CopyRequest {
        dst: 0xdead_0000,
        len: 16,
        flags: uapi::cuda::copy_flags::ASYNC,
        ..Default::default()
    };
    let c = run_flat(&h, &mut q, op::MEMCPY_HTOD, bad, &[1u8; 16], 0);
    assert_eq!(status_of(&c), Some(Status::Ok));
    // PREPARE_HOST, in place and the ordinary way (its pages as bytes),
    // succeeds without taking it: our library does not report its result.
    let req = CopyRequest {
        len,
        ..Default::default()
    };
    assert_eq!(
        prepare(&h, &mut q, req),
        (Some(Status::Ok), result::SUCCESS)
    );
    let short = CopyRequest {
        len: 8,
        ..Default::default()
    };
    let c = run_flat(&h, &mut q, op::PREPARE_HOST, short, &[0u8; 8], 8);
    assert_eq!(status_of(&c), Some(Status::Ok));
    let code = ResultHeader::read_from(&h.read_bytes(q.data + 0x1000, 8))
        .expect("header")
        .result;
    assert_eq!(code, result::SUCCESS, "the ordinary path");
    // The client's next call gets it.
    let (code, _, _) = dtoh(&h, &mut q, d, len as usize);
    assert_eq!(code, result::INVALID_VALUE, "still owed");
}
