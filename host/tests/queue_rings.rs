//! The ring protocol's failure modes: bad doorbells, completion indices
//! and queue configurations stop only the queue concerned.

mod common;

use common::commands::*;
use common::*;
use uapi::regs::{self, irq, queue as qreg};
use uapi::status::{QueueError, Status};

#[test]
fn wrapped_doorbell_stops_only_that_queue() {
    let h = Harness::new();
    let mut bad = TestQueue::enabled(&h, 0, 8);
    let mut good = TestQueue::enabled(&h, 1, 8);
    assert_echo_works(&h, &mut good, 1);
    h.write32(bad.reg(qreg::DOORBELL), 8 + 1);
    let c = bad.next_completion(&h);
    let c = c.unwrap_or_else(|| panic!("no error completion"));
    assert_eq!(
        (c.tag, status_of(&c), c.sq_head),
        (0, Some(Status::BadRingIndex), 0)
    );
    assert!(wait_for(|| queue_error(bad.status(&h))).is_some());
    assert_eq!(
        queue_error(bad.status(&h)),
        Some(QueueError::BadSubmissionIndex)
    );
    assert_ne!(h.read32(regs::IRQ_STATUS) & irq::QUEUE_ERROR, 0);
    // The queue no longer serves; the other queue does.
    bad.tail = 1;
    bad.push(&h, &echo(&bad, 3, 8, 8));
    bad.ring(&h);
    assert_echo_works(&h, &mut good, 2);
    assert_eq!(bad.cq_tail(&h), 1, "stopped queue posted nothing more");
}

#[test]
fn stale_doorbell_behind_head_is_an_error() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 2, 8);
    let mut other = TestQueue::enabled(&h, 3, 8);
    assert_echo_works(&h, &mut q, 1);
    assert_echo_works(&h, &mut q, 2);
    h.write32(q.reg(qreg::DOORBELL), 1);
    let c = q
        .next_completion(&h)
        .unwrap_or_else(|| panic!("no error completion"));
    assert_eq!(
        (c.tag, status_of(&c), c.sq_head),
        (0, Some(Status::BadRingIndex), 2)
    );
    assert_eq!(
        wait_for(|| queue_error(q.status(&h))),
        Some(QueueError::BadSubmissionIndex)
    );
    assert_echo_works(&h, &mut other, 3);
    // Disable and re-enable gives a fresh queue.
    h.write32(q.reg(qreg::ENABLE), qreg::ENABLE_OFF);
    assert_eq!(q.status(&h), qreg::status::DISABLED);
    let mut fresh = TestQueue::enabled(&h, 2, 8);
    h.write_bytes(fresh.ctrl, &[0; 64]);
    assert_echo_works(&h, &mut fresh, 4);
}

#[test]
fn consumed_completions_never_posted_are_bad_completion_index() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    assert_echo_works(&h, &mut q, 1);
    // The driver claims to have consumed 5 completions; only 1 was posted.
    assert!(h.mem().store_u32(q.ctrl + 4, 5).is_ok());
    q.push(&h, &echo(&q, 2, 8, 8));
    q.ring(&h);
    assert_eq!(
        wait_for(|| queue_error(q.status(&h))),
        Some(QueueError::BadCompletionIndex)
    );
    assert_eq!(q.cq_tail(&h), 1);
}

#[test]
fn full_completion_ring_is_an_error() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 2);
    // Two completions posted and never consumed fill the ring; a third
    // submission would overflow it.
    for tag in 1..=2 {
        q.push(&h, &echo(&q, tag, 8, 8));
    }
    q.ring(&h);
    assert!(wait_for(|| (q.cq_tail(&h) == 2).then_some(())).is_some());
    q.push(&h, &echo(&q, 3, 8, 8));
    q.ring(&h);
    assert_eq!(
        wait_for(|| queue_error(q.status(&h))),
        Some(QueueError::BadCompletionIndex)
    );
    assert_eq!(q.cq_tail(&h), 2);
}

#[test]
fn bad_queue_configurations_are_rejected() {
    let h = Harness::new();
    type Tweak = Box<dyn Fn(&mut TestQueue)>;
    let cases: Vec<(&str, Tweak, u32, QueueError)> = vec![
        (
            "depth 3",
            Box::new(|q| q.depth = 3),
            0,
            QueueError::BadDepth,
        ),
        (
            "depth 1",
            Box::new(|q| q.depth = 1),
            0,
            QueueError::BadDepth,
        ),
        (
            "depth 0",
            Box::new(|q| q.depth = 0),
            0,
            QueueError::BadDepth,
        ),
        (
            "depth 2048",
            Box::new(|q| q.depth = 2048),
            0,
            QueueError::BadDepth,
        ),
        (
            "sq in hole",
            Box::new(|q| q.sq = HOLE),
            0,
            QueueError::BadRingAddress,
        ),
        (
            "sq runs into hole",
            Box::new(|q| q.sq = HOLE - 64 * 4),
            0,
            QueueError::BadRingAddress,
        ),
        (
            "cq misaligned",
            Box::new(|q| q.cq += 16),
            0,
            QueueError::BadRingAddress,
        ),
        (
            "ctrl misaligned",
            Box::new(|q| q.ctrl += 32),
            0,
            QueueError::BadRingAddress,
        ),
        (
            "ctrl above 4G",
            Box::new(|q| q.ctrl = 1 << 40),
            0,
            QueueError::BadRingAddress,
        ),
        (
            "vector 1",
            Box::new(|_| {}),
            uapi::pci::NUM_IRQ_VECTORS,
            QueueError::BadVector,
        ),
    ];
    for (index, (name, tweak, vector, expected)) in cases.into_iter().enumerate() {
        let mut q = TestQueue::layout(index as u32, 8);
        tweak(&mut q);
        q.program(&h, vector);
        assert_eq!(queue_error(q.status(&h)), Some(expected), "{name}");
        assert_eq!(h.read32(q.reg(qreg::ENABLE)), 0, "{name}");
    }
    assert_ne!(h.read32(regs::IRQ_STATUS) & irq::QUEUE_ERROR, 0);
    // Fixing the configuration and enabling again works.
    let mut q = TestQueue::layout(0, 8);
    q.program(&h, 0);
    assert_eq!(q.status(&h), qreg::status::ENABLED);
    assert_echo_works(&h, &mut q, 1);
}

#[test]
fn the_client_and_depth_quotas_are_the_advertised_limits() {
    let file = std::env::temp_dir().join(format!("vgpu-quota-{}.toml", std::process::id()));
    std::fs::write(&file, "[quota]\nclients = 2\nqueue_depth = 64\n").expect("config file");
    let config = file.to_str().expect("path");
    let h = Harness::with(&["--socket", "s", "--config", config]);
    let _ = std::fs::remove_file(&file);
    // The guest driver takes no more queues than MAX_QUEUES (the next open
    // is EBUSY there), and no deeper rings than MAX_QUEUE_DEPTH.
    assert_eq!(h.read32(regs::MAX_QUEUES), 2);
    assert_eq!(h.read32(regs::MAX_QUEUE_DEPTH), 64);
    let mut q = TestQueue::enabled(&h, 1, 64);
    assert_echo_works(&h, &mut q, 1);
    let deep = TestQueue::layout(0, 128);
    deep.program(&h, 0);
    assert_eq!(queue_error(deep.status(&h)), Some(QueueError::BadDepth));
    // A third queue does not exist: its registers read zero and enable nothing.
    let third = TestQueue::layout(2, 8);
    third.program(&h, 0);
    assert_eq!(third.status(&h), 0);
}
