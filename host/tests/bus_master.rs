//! Review L1: while the guest keeps bus mastering off (PCI Command.BME), a
//! queue's worker reads no submission and posts no completion; once it is
//! back on, the queue goes on where it stood. With queues in threads and in
//! worker processes.

mod common;

use common::commands::*;
use common::*;
use std::time::{Duration, Instant};
use uapi::status::Status;
use vgpu_host::guest_memory::memfd;

const BME_OFF: u16 = 0x0002;
const BME_ON: u16 = 0x0006;

/// Nothing completes for `millis`: the queue's completion tail stays, and
/// its vector (0) is not raised (an MSI is a write to guest memory).
fn stays_quiet(h: &Harness, q: &TestQueue, millis: u64, what: &str) {
    let (tail, raised) = (q.cq_tail(h), h.irqs.count(0));
    std::thread::sleep(Duration::from_millis(millis));
    assert_eq!(q.cq_tail(h), tail, "{what} completed without bus mastering");
    assert_eq!(
        h.irqs.count(0),
        raised,
        "{what}: an interrupt without bus mastering"
    );
}

/// The completion signalled once bus mastering is back.
fn raised_after(h: &Harness, before: u64) {
    assert!(
        wait_for(|| (h.irqs.count(0) > before).then_some(())).is_some(),
        "no interrupt once bus mastering came back"
    );
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
    let raised = h.irqs.count(0);
    stays_quiet(h, &q, 400, "an echo");
    assert_eq!(q.sq_head(h), 1, "the submission was read");
    h.set_command(BME_ON);
    let c = q
        .next_completion(h)
        .expect("the echo after bus mastering came back");
    assert_eq!((c.tag, status_of(&c)), (2, Some(Status::Ok)));
    assert_eq!(h.read_bytes(q.data + 0x2000, 64), data);
    raised_after(h, raised);

    // A command running when it goes off completes only once it is back:
    // it ends while bus mastering is off, and its completion is held.
    // RAM it could have used, unmapped meanwhile, waits for nothing.
    let file = memfd("more-ram", RAM_SIZE).expect("memfd");
    h.device
        .dma_map(RAM_B + RAM_SIZE, RAM_SIZE, file, 0)
        .expect("map");
    push_sleep(h, &mut q, 800, 3);
    q.ring(h);
    std::thread::sleep(Duration::from_millis(200));
    h.set_command(BME_OFF);
    let raised = h.irqs.count(0);
    stays_quiet(h, &q, 1000, "a sleep that ended");
    let t = Instant::now();
    assert_eq!(h.device.dma_unmap(RAM_B + RAM_SIZE, RAM_SIZE), 1);
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "an unmap waited {took:?} for a held completion"
    );
    h.set_command(BME_ON);
    let c = q.next_completion(h).expect("the sleep's completion");
    assert_eq!((c.tag, status_of(&c)), (3, Some(Status::Ok)));
    raised_after(h, raised);
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
