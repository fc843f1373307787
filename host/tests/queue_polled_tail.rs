//! The polled tail (`uapi::ring`, `features::POLLED_TAIL`): the driver
//! writes its tail to the control block and rings the doorbell only while
//! the device says it sleeps; the worker polls for a while after its last
//! command, then sets `device_idle` and looks once more before sleeping.

mod common;

use common::commands::*;
use common::*;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};
use uapi::regs::queue as qreg;
use uapi::ring::{control_flags, control_offsets, CompletionEntry};
use uapi::status::{QueueError, Status};

fn ctrl_word(h: &Harness, q: &TestQueue, offset: usize) -> u32 {
    h.mem()
        .load_u32(q.ctrl + offset as u64)
        .expect("control block word")
}

fn set_ctrl_word(h: &Harness, q: &TestQueue, offset: usize, value: u32) {
    h.mem()
        .store_u32(q.ctrl + offset as u64, value)
        .expect("control block word");
}

/// A queue whose driver takes the polled tail.
fn polled_queue(h: &Harness, index: u32) -> TestQueue {
    let q = TestQueue::layout(index, 8);
    set_ctrl_word(
        h,
        &q,
        control_offsets::DRIVER_FLAGS,
        control_flags::POLLED_TAIL,
    );
    q.program(h, 0);
    assert_eq!(q.status(h), qreg::status::ENABLED);
    q
}

/// What the driver does after writing entries: the tail, a full barrier,
/// then the doorbell only if the device sleeps. Whether it rang.
fn publish(h: &Harness, q: &TestQueue) -> bool {
    set_ctrl_word(h, q, control_offsets::SQ_TAIL, q.tail);
    fence(Ordering::SeqCst);
    if ctrl_word(h, q, control_offsets::DEVICE_IDLE) == 0 {
        return false;
    }
    q.ring(h);
    true
}

/// Waits (spinning: a sleeping waiter would outlast the worker's poll)
/// for the next completion, for up to five seconds.
fn spin_for_completion(h: &Harness, q: &mut TestQueue) -> Option<CompletionEntry> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while q.cq_tail(h) == q.cq_head {
        if Instant::now() > deadline {
            return None;
        }
        std::hint::spin_loop();
    }
    q.next_completion(h)
}

#[test]
fn a_sleeping_worker_says_so_and_needs_the_doorbell() {
    for h in [Harness::new(), Harness::with_workers()] {
        let mut q = polled_queue(&h, 0);
        // After its poll the worker sleeps, and says so first.
        assert!(
            wait_for(|| (ctrl_word(&h, &q, control_offsets::DEVICE_IDLE) != 0).then_some(()))
                .is_some(),
            "the worker never said it sleeps"
        );
        // A tail written without the doorbell is not seen by a sleeping
        // worker (it does not poll forever)...
        h.write_bytes(q.data, &pattern(64, 7));
        q.push(&h, &echo(&q, 1, 64, 64));
        set_ctrl_word(&h, &q, control_offsets::SQ_TAIL, q.tail);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(q.cq_tail(&h), 0, "a sleeping worker ran a command");
        // ...and the doorbell wakes it.
        q.ring(&h);
        let c = q
            .next_completion(&h)
            .expect("completion after the doorbell");
        assert_eq!((c.tag, status_of(&c)), (1, Some(Status::Ok)));
        assert_eq!(h.read_bytes(q.data + 0x2000, 64), pattern(64, 7));
    }
}

#[test]
fn no_command_waits_for_a_doorbell_never_rung() {
    // The driver's side of the handshake against the worker's, with the
    // worker both polling and going to sleep in between: every command
    // completes, whether or not its publication rang.
    for h in [Harness::new(), Harness::with_workers()] {
        let mut q = polled_queue(&h, 0);
        let (mut rang, mut quiet) = (0u32, 0u32);
        for tag in 1..=2000u64 {
            q.push(&h, &echo(&q, tag, 8, 8));
            if publish(&h, &q) {
                rang += 1;
            } else {
                quiet += 1;
            }
            let c = spin_for_completion(&h, &mut q)
                .unwrap_or_else(|| panic!("command {tag} never completed ({rang} rang)"));
            assert_eq!((c.tag, status_of(&c)), (tag, Some(Status::Ok)));
            if tag % 100 == 0 {
                // Past the worker's poll: it sleeps, so the next one rings.
                std::thread::sleep(Duration::from_millis(2));
            } else {
                // Pauses swept across the worker's poll (200 µs), so that
                // publications land as it stops polling.
                let pause = Duration::from_micros(tag % 60 * 5);
                let start = Instant::now();
                while start.elapsed() < pause {
                    std::hint::spin_loop();
                }
            }
        }
        assert!(rang >= 1, "the sleeps above need doorbells");
        println!("polled tail: {rang} commands rang the doorbell, {quiet} did not");
    }
}

#[test]
fn unknown_control_flags_are_refused() {
    let h = Harness::new();
    let q = TestQueue::layout(0, 8);
    set_ctrl_word(&h, &q, control_offsets::DRIVER_FLAGS, 1 << 5);
    q.program(&h, 0);
    assert_eq!(queue_error(q.status(&h)), Some(QueueError::BadControlFlags));
    // With the flags fixed the queue starts.
    set_ctrl_word(&h, &q, control_offsets::DRIVER_FLAGS, 0);
    let mut q = TestQueue::layout(0, 8);
    q.program(&h, 0);
    assert_eq!(q.status(&h), qreg::status::ENABLED);
    assert_echo_works(&h, &mut q, 1);
}

#[test]
fn a_polled_tail_out_of_range_stops_only_that_queue() {
    // The control block's tail is checked as a doorbell's is.
    let h = Harness::new();
    let mut bad = polled_queue(&h, 0);
    let mut good = polled_queue(&h, 1);
    set_ctrl_word(&h, &bad, control_offsets::SQ_TAIL, 8 + 1);
    bad.ring(&h);
    let c = bad.next_completion(&h).expect("an error completion");
    assert_eq!((c.tag, status_of(&c)), (0, Some(Status::BadRingIndex)));
    assert!(wait_for(|| queue_error(bad.status(&h))).is_some());
    assert_eq!(
        queue_error(bad.status(&h)),
        Some(QueueError::BadSubmissionIndex)
    );
    good.push(&h, &echo(&good, 1, 8, 8));
    publish(&h, &good);
    let c = spin_for_completion(&h, &mut good).expect("the other queue serves");
    assert_eq!((c.tag, status_of(&c)), (1, Some(Status::Ok)));
}
