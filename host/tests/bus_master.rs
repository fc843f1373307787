//! Review L1: while the guest keeps bus mastering off (PCI Command.BME), a
//! queue's worker reads no submission and posts no completion; once it is
//! back on, the queue goes on where it stood. With queues in threads and in
//! worker processes.

mod common;

use common::commands::*;
use common::*;
use std::time::Duration;
use uapi::cmd::{Opcode, SleepRequest};
use uapi::ring::SubmissionEntry;
use uapi::status::Status;
use uapi::wire::Wire;

const BME_OFF: u16 = 0x0002;
const BME_ON: u16 = 0x0006;

/// Nothing completes for a while: the queue's completion tail stays.
fn stays_quiet(h: &Harness, q: &TestQueue, what: &str) {
    let tail = q.cq_tail(h);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(q.cq_tail(h), tail, "{what} completed without bus mastering");
}

fn queues_wait_for_bus_mastering(h: &Harness) {
    let mut q = TestQueue::enabled(h, 0, 8);
    assert_echo_works(h, &mut q, 1);

    // A command submitted while bus mastering is off is not read.
    h.set_command(BME_OFF);
    let data = pattern(64, 7);
    h.write_bytes(q.data, &data);
    q.push(h, &echo(&q, 2, 64, 64));
    q.ring(h);
    stays_quiet(h, &q, "an echo");
    assert_eq!(q.sq_head(h), 1, "the submission was read");
    h.set_command(BME_ON);
    let c = q
        .next_completion(h)
        .expect("the echo after bus mastering came back");
    assert_eq!((c.tag, status_of(&c)), (2, Some(Status::Ok)));
    assert_eq!(h.read_bytes(q.data + 0x2000, 64), data);

    // A command running when it goes off completes only once it is back.
    let body = SleepRequest {
        millis: 300,
        reserved: 0,
    };
    h.write_bytes(q.data, body.as_bytes());
    q.push(
        h,
        &SubmissionEntry {
            req_addr: q.data,
            req_len: body.as_bytes().len() as u32,
            ..entry(Opcode::Sleep, 3)
        },
    );
    q.ring(h);
    std::thread::sleep(Duration::from_millis(100));
    h.set_command(BME_OFF);
    stays_quiet(h, &q, "a sleep that ended");
    h.set_command(BME_ON);
    let c = q.next_completion(h).expect("the sleep's completion");
    assert_eq!((c.tag, status_of(&c)), (3, Some(Status::Ok)));
    assert_echo_works(h, &mut q, 4);
}

#[test]
fn a_queue_waits_while_bus_mastering_is_off() {
    queues_wait_for_bus_mastering(&Harness::new());
}

#[test]
fn a_worker_process_waits_while_bus_mastering_is_off() {
    queues_wait_for_bus_mastering(&Harness::with_workers());
}

#[test]
fn a_queue_stopped_while_bus_mastering_is_off_stops() {
    let h = Harness::with_workers();
    let mut q = TestQueue::enabled(&h, 0, 8);
    assert_echo_works(&h, &mut q, 1);
    h.set_command(BME_OFF);
    q.push(&h, &echo(&q, 2, 64, 64));
    q.ring(&h);
    std::thread::sleep(Duration::from_millis(100));
    let pid = h.device.worker_pid(0).expect("worker");
    h.device.reset();
    assert!(
        wait_for(|| (!process_exists(pid)).then_some(())).is_some(),
        "the worker outlived the reset"
    );
}
