//! Building submissions and reading completions: the helpers the queue and
//! device tests share.

use uapi::cmd::Opcode;
use uapi::ring::{CompletionEntry, SubmissionEntry};
use uapi::status::{QueueError, Status};

use super::*;

pub fn entry(opcode: Opcode, tag: u64) -> SubmissionEntry {
    SubmissionEntry {
        opcode: opcode as u16,
        tag,
        ..SubmissionEntry::default()
    }
}

/// Writes a SLEEP of `millis` at the queue's data area and pushes it
/// (the caller rings the doorbell).
pub fn push_sleep(h: &Harness, q: &mut TestQueue, millis: u32, tag: u64) {
    let body = uapi::cmd::SleepRequest {
        millis,
        reserved: 0,
    };
    h.write_bytes(q.data, uapi::wire::Wire::as_bytes(&body));
    q.push(
        h,
        &SubmissionEntry {
            req_addr: q.data,
            req_len: core::mem::size_of::<uapi::cmd::SleepRequest>() as u32,
            ..entry(Opcode::Sleep, tag)
        },
    );
}

/// Echo of `len` bytes at `req` into `resp` (capacity `cap`), contiguous.
pub fn echo(q: &TestQueue, tag: u64, len: u32, cap: u32) -> SubmissionEntry {
    SubmissionEntry {
        req_addr: q.data,
        req_len: len,
        resp_addr: q.data + 0x2000,
        resp_len: cap,
        ..entry(Opcode::Echo, tag)
    }
}

pub fn status_of(c: &CompletionEntry) -> Option<Status> {
    Status::from_u32(c.status)
}

pub fn queue_error(status: u32) -> Option<QueueError> {
    if status & qreg::status::STATE_MASK != qreg::status::ERROR {
        return None;
    }
    QueueError::from_u32(status >> qreg::status::ERROR_SHIFT)
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Runs one echo on `q` and checks the data came back.
pub fn assert_echo_works(h: &Harness, q: &mut TestQueue, tag: u64) {
    let data = pattern(64, tag as u8);
    h.write_bytes(q.data, &data);
    let c = q.run(h, &echo(q, tag, 64, 64));
    assert_eq!(
        (c.tag, status_of(&c), c.resp_len),
        (tag, Some(Status::Ok), 64)
    );
    assert_eq!(h.read_bytes(q.data + 0x2000, 64), data);
}
