//! Queue engine tests without QEMU: BAR0 accesses and guest memory go
//! through the same `Device` methods the vfio-user backend calls.

mod common;

use common::*;
use std::time::{Duration, Instant};
use uapi::cmd::{field_str, DeviceInfo, Opcode, SleepRequest};
use uapi::regs::{self, irq, queue as qreg};
use uapi::ring::{entry_flags, CompletionEntry, SgEntry, StatusPage, SubmissionEntry};
use uapi::status::{QueueError, Status};
use uapi::wire::Wire;

fn entry(opcode: Opcode, tag: u64) -> SubmissionEntry {
    SubmissionEntry {
        opcode: opcode as u16,
        tag,
        ..SubmissionEntry::default()
    }
}

/// Echo of `len` bytes at `req` into `resp` (capacity `cap`), contiguous.
fn echo(q: &TestQueue, tag: u64, len: u32, cap: u32) -> SubmissionEntry {
    SubmissionEntry {
        req_addr: q.data,
        req_len: len,
        resp_addr: q.data + 0x2000,
        resp_len: cap,
        ..entry(Opcode::Echo, tag)
    }
}

fn status_of(c: &CompletionEntry) -> Option<Status> {
    Status::from_u32(c.status)
}

fn queue_error(status: u32) -> Option<QueueError> {
    if status & qreg::status::STATE_MASK != qreg::status::ERROR {
        return None;
    }
    QueueError::from_u32(status >> qreg::status::ERROR_SHIFT)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn get_device_info_returns_configured_identity() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let e = SubmissionEntry {
        resp_addr: q.data,
        resp_len: 256,
        ..entry(Opcode::GetDeviceInfo, 77)
    };
    let c = q.run(&h, &e);
    assert_eq!((c.tag, status_of(&c)), (77, Some(Status::Ok)));
    assert_eq!(c.resp_len as usize, core::mem::size_of::<DeviceInfo>());
    assert_eq!(c.sq_head, 1);
    let info = DeviceInfo::read_from(&h.read_bytes(q.data, 168));
    let info = info.unwrap_or_default();
    assert_eq!(field_str(&info.name), Some("Harness GPU"));
    assert_eq!(info.multiprocessor_count, 7);
    assert_eq!(info, h.config.sim.device_info());
    assert_eq!(q.sq_head(&h), 1);
}

#[test]
fn echo_round_trips_contiguous_and_signals_completion() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let data = pattern(1000, 3);
    h.write_bytes(q.data, &data);
    let c = q.run(&h, &echo(&q, 5, 1000, 1024));
    assert_eq!((status_of(&c), c.resp_len), (Some(Status::Ok), 1000));
    assert_eq!(h.read_bytes(q.data + 0x2000, 1000), data);
    assert!(wait_for(|| (h.irqs.count(0) > 0).then_some(())).is_some());
    assert_ne!(h.read32(regs::IRQ_STATUS) & irq::COMPLETION, 0);
    h.write32(regs::IRQ_ACK, irq::COMPLETION);
    assert_eq!(h.read32(regs::IRQ_STATUS) & irq::COMPLETION, 0);
}

#[test]
fn echo_via_sgl_across_the_memory_hole() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let data = pattern(300, 9);
    // Request: 100 bytes at the very end of RAM A, 200 at the start of RAM B.
    h.write_bytes(HOLE - 100, &data[..100]);
    h.write_bytes(RAM_B, &data[100..]);
    let req_sgl = [
        SgEntry {
            addr: HOLE - 100,
            len: 100,
            reserved: 0,
        },
        SgEntry {
            addr: RAM_B,
            len: 200,
            reserved: 0,
        },
    ];
    // Response: three pieces, the last one larger than needed.
    let resp_sgl = [
        SgEntry {
            addr: RAM_B + 0x1000,
            len: 50,
            reserved: 0,
        },
        SgEntry {
            addr: HOLE - 0x1000,
            len: 150,
            reserved: 0,
        },
        SgEntry {
            addr: RAM_B + 0x3000,
            len: 400,
            reserved: 0,
        },
    ];
    for (i, sg) in req_sgl.iter().enumerate() {
        assert!(h.mem().write_obj(q.data + 16 * i as u64, sg).is_ok());
    }
    for (i, sg) in resp_sgl.iter().enumerate() {
        assert!(h
            .mem()
            .write_obj(q.data + 0x100 + 16 * i as u64, sg)
            .is_ok());
    }
    let e = SubmissionEntry {
        flags: entry_flags::REQ_SGL | entry_flags::RESP_SGL,
        req_addr: q.data,
        req_len: 2,
        resp_addr: q.data + 0x100,
        resp_len: 3,
        ..entry(Opcode::Echo, 9)
    };
    let c = q.run(&h, &e);
    assert_eq!((status_of(&c), c.resp_len), (Some(Status::Ok), 300));
    let mut out = h.read_bytes(RAM_B + 0x1000, 50);
    out.extend(h.read_bytes(HOLE - 0x1000, 150));
    out.extend(h.read_bytes(RAM_B + 0x3000, 100));
    assert_eq!(out, data);
}

#[test]
fn buffers_outside_ram_are_bad_address() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let cases = [
        // Request in the hole.
        SubmissionEntry {
            req_addr: HOLE + 0x10,
            ..echo(&q, 1, 16, 16)
        },
        // Response running off the end of RAM A into the hole.
        SubmissionEntry {
            resp_addr: HOLE - 8,
            ..echo(&q, 2, 16, 16)
        },
        // Address overflow.
        SubmissionEntry {
            req_addr: u64::MAX - 4,
            ..echo(&q, 3, 16, 16)
        },
        // SG list itself in the hole.
        SubmissionEntry {
            flags: entry_flags::REQ_SGL,
            req_addr: HOLE,
            req_len: 1,
            ..echo(&q, 4, 0, 16)
        },
    ];
    for e in &cases {
        let c = q.run(&h, e);
        assert_eq!(status_of(&c), Some(Status::BadAddress), "tag {}", e.tag);
        assert_eq!(c.tag, e.tag);
    }
    // An SG segment crossing from RAM A into the hole.
    let sg = SgEntry {
        addr: HOLE - 4,
        len: 8,
        reserved: 0,
    };
    assert!(h.mem().write_obj(q.data + 0x800, &sg).is_ok());
    let e = SubmissionEntry {
        flags: entry_flags::RESP_SGL,
        resp_addr: q.data + 0x800,
        resp_len: 1,
        ..echo(&q, 5, 4, 0)
    };
    assert_eq!(status_of(&q.run(&h, &e)), Some(Status::BadAddress));
    assert_eq!(q.status(&h), qreg::status::ENABLED);
}

#[test]
fn oversized_buffers_are_too_large() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let max = h.read32(regs::MAX_TRANSFER);
    let c = q.run(&h, &echo(&q, 1, max + 1, 16));
    assert_eq!(status_of(&c), Some(Status::TooLarge));
    let sgl_count = SubmissionEntry {
        flags: entry_flags::REQ_SGL,
        req_len: uapi::ring::MAX_SG_ENTRIES + 1,
        ..echo(&q, 2, 0, 16)
    };
    assert_eq!(status_of(&q.run(&h, &sgl_count)), Some(Status::TooLarge));
    // Segments that are each valid but together exceed the transfer limit:
    // the same 1 MiB of RAM A, listed one time more than fits.
    let count = max / RAM_SIZE as u32 + 1;
    for i in 0..u64::from(count) {
        let sg = SgEntry {
            addr: RAM_A,
            len: RAM_SIZE as u32,
            reserved: 0,
        };
        assert!(h.mem().write_obj(RAM_B + 16 * i, &sg).is_ok());
    }
    let sgl_total = SubmissionEntry {
        flags: entry_flags::REQ_SGL,
        req_addr: RAM_B,
        req_len: count,
        ..echo(&q, 3, 0, 16)
    };
    assert_eq!(status_of(&q.run(&h, &sgl_total)), Some(Status::TooLarge));
}

#[test]
fn unknown_opcodes_are_invalid_opcode() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    for opcode in [0u16, 7, 0xff, 0x1ff, 0x7fff] {
        let e = SubmissionEntry {
            opcode,
            tag: u64::from(opcode) + 1,
            ..SubmissionEntry::default()
        };
        let c = q.run(&h, &e);
        assert_eq!(
            status_of(&c),
            Some(Status::InvalidOpcode),
            "opcode {opcode}"
        );
    }
}

#[test]
fn reserved_fields_and_unknown_flags_are_invalid_field() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let base = echo(&q, 1, 8, 8);
    let cases = [
        SubmissionEntry {
            flags: 1 << 2,
            ..base
        },
        SubmissionEntry {
            reserved0: 1,
            ..base
        },
        SubmissionEntry {
            reserved1: [0, 0, 1],
            ..base
        },
    ];
    for e in &cases {
        assert_eq!(
            status_of(&q.run(&h, e)),
            Some(Status::InvalidField),
            "{e:?}"
        );
    }
    // SG entry with zero length, then one with a reserved bit.
    for (i, sg) in [
        SgEntry {
            addr: q.data,
            len: 0,
            reserved: 0,
        },
        SgEntry {
            addr: q.data,
            len: 4,
            reserved: 1,
        },
    ]
    .iter()
    .enumerate()
    {
        assert!(h.mem().write_obj(q.data + 0x1000, sg).is_ok());
        let e = SubmissionEntry {
            flags: entry_flags::REQ_SGL,
            req_addr: q.data + 0x1000,
            req_len: 1,
            ..echo(&q, 10 + i as u64, 0, 8)
        };
        assert_eq!(
            status_of(&q.run(&h, &e)),
            Some(Status::InvalidField),
            "sg case {i}"
        );
    }
    // Malformed request bodies.
    let sleep = SleepRequest {
        millis: 1,
        reserved: 7,
    };
    h.write_bytes(q.data, sleep.as_bytes());
    let e = SubmissionEntry {
        req_addr: q.data,
        req_len: 8,
        ..entry(Opcode::Sleep, 20)
    };
    assert_eq!(status_of(&q.run(&h, &e)), Some(Status::InvalidField));
    let too_long = SleepRequest {
        millis: uapi::cmd::MAX_SLEEP_MS + 1,
        reserved: 0,
    };
    h.write_bytes(q.data, too_long.as_bytes());
    assert_eq!(status_of(&q.run(&h, &e)), Some(Status::InvalidField));
    let e = SubmissionEntry {
        req_addr: q.data,
        req_len: 4,
        ..entry(Opcode::GetDeviceInfo, 21)
    };
    assert_eq!(status_of(&q.run(&h, &e)), Some(Status::InvalidField));
}

#[test]
fn small_response_buffer_reports_needed_length() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    h.write_bytes(q.data + 0x2000, &[0xaa; 64]);
    let c = q.run(&h, &echo(&q, 1, 100, 50));
    assert_eq!(
        (status_of(&c), c.resp_len),
        (Some(Status::ResponseTooSmall), 100)
    );
    assert_eq!(
        h.read_bytes(q.data + 0x2000, 64),
        vec![0xaa; 64],
        "nothing written"
    );
    let e = SubmissionEntry {
        resp_addr: q.data,
        resp_len: 10,
        ..entry(Opcode::GetDeviceInfo, 2)
    };
    let c = q.run(&h, &e);
    assert_eq!(
        (status_of(&c), c.resp_len),
        (Some(Status::ResponseTooSmall), 168)
    );
}

/// Runs one echo on `q` and checks the data came back.
fn assert_echo_works(h: &Harness, q: &mut TestQueue, tag: u64) {
    let data = pattern(64, tag as u8);
    h.write_bytes(q.data, &data);
    let c = q.run(h, &echo(q, tag, 64, 64));
    assert_eq!(
        (c.tag, status_of(&c), c.resp_len),
        (tag, Some(Status::Ok), 64)
    );
    assert_eq!(h.read_bytes(q.data + 0x2000, 64), data);
}

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
fn disable_during_long_sleep_returns_promptly() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let sleep = SleepRequest {
        millis: 30_000,
        reserved: 0,
    };
    h.write_bytes(q.data, sleep.as_bytes());
    q.push(
        &h,
        &SubmissionEntry {
            req_addr: q.data,
            req_len: 8,
            ..entry(Opcode::Sleep, 42)
        },
    );
    // A second command queued behind the sleep must not run after disable.
    q.push(&h, &echo(&q, 43, 8, 8));
    q.ring(&h);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(q.cq_tail(&h), 0, "sleep still running");
    let start = Instant::now();
    h.write32(q.reg(qreg::ENABLE), qreg::ENABLE_OFF);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(1), "ENABLE_OFF took {took:?}");
    assert_eq!(q.status(&h), qreg::status::DISABLED);
    let posted = q.cq_tail(&h);
    assert!(posted <= 1, "posted {posted}");
    if posted == 1 {
        let c = q.next_completion(&h).unwrap_or_default();
        assert_eq!((c.tag, status_of(&c)), (42, Some(Status::Aborted)));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(q.cq_tail(&h), posted, "nothing after disable");
}

#[test]
fn short_sleep_completes_ok() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    h.write_bytes(
        q.data,
        SleepRequest {
            millis: 30,
            reserved: 0,
        }
        .as_bytes(),
    );
    let start = Instant::now();
    let c = q.run(
        &h,
        &SubmissionEntry {
            req_addr: q.data,
            req_len: 8,
            ..entry(Opcode::Sleep, 1)
        },
    );
    assert_eq!((status_of(&c), c.resp_len), (Some(Status::Ok), 0));
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn ring_wraps_over_many_commands_in_batches() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 4);
    for round in 0..10u64 {
        for i in 0..4u64 {
            q.push(&h, &echo(&q, round * 4 + i + 1, 8, 8));
        }
        q.ring(&h);
        for i in 0..4u64 {
            let c = q
                .next_completion(&h)
                .unwrap_or_else(|| panic!("round {round}"));
            assert_eq!(
                (c.tag, status_of(&c)),
                (round * 4 + i + 1, Some(Status::Ok))
            );
        }
    }
    assert_eq!(q.sq_head(&h), 40);
}

#[test]
fn heartbeat_increments_in_guest_memory() {
    let h = Harness::new();
    let page = RAM_B + 0x8000;
    h.write64(regs::STATUS_PAGE_LO, regs::STATUS_PAGE_HI, page);
    assert_eq!(h.read32(regs::STATUS_PAGE_LO) as u64, page & 0xffff_ffff);
    let beat = |h: &Harness| {
        h.mem()
            .read_obj::<StatusPage>(page)
            .map(|p| p.heartbeat)
            .unwrap_or(0)
    };
    assert!(
        wait_for(|| (beat(&h) >= 2).then_some(())).is_some(),
        "heartbeat did not move"
    );
    let first = beat(&h);
    std::thread::sleep(Duration::from_millis(250));
    assert!(beat(&h) > first);
    // Turning it off stops it.
    h.write64(regs::STATUS_PAGE_LO, regs::STATUS_PAGE_HI, 0);
    let stopped = beat(&h);
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(beat(&h), stopped);
    // A page in the hole is refused.
    h.write64(regs::STATUS_PAGE_LO, regs::STATUS_PAGE_HI, HOLE);
    assert_eq!(h.read32(regs::STATUS_PAGE_LO), 0);
}

#[test]
fn identification_registers_and_overrides() {
    let h = Harness::new();
    assert_eq!(h.read32(regs::MAGIC), regs::MAGIC_VALUE);
    assert_eq!(h.read32(regs::ABI_VERSION), uapi::ABI_VERSION);
    assert_eq!(
        h.read32(regs::FEATURES),
        regs::features::SGL | regs::features::HEARTBEAT
    );
    assert!(h.read32(regs::MAX_QUEUES) <= regs::QUEUE_LIMIT);
    assert!(h.read32(regs::MAX_QUEUE_DEPTH).is_power_of_two());
    assert_eq!(h.read32(regs::DEVICE_STATUS), regs::device_status::READY);
    let o = Harness::with(&[
        "--socket",
        "s",
        "--magic",
        "0x12345678",
        "--abi-version",
        "0x20000",
    ]);
    assert_eq!(o.read32(regs::MAGIC), 0x1234_5678);
    assert_eq!(o.read32(regs::ABI_VERSION), 0x2_0000);
}

#[test]
fn odd_sized_and_unaligned_bar_accesses_are_ignored() {
    let h = Harness::new();
    let mut two = [0xffu8; 2];
    h.device.region_read(BAR0, u64::from(regs::MAGIC), &mut two);
    assert_eq!(two, [0, 0]);
    let mut eight = [0xffu8; 8];
    h.device.region_read(BAR0, 0, &mut eight);
    assert_eq!(eight, [0; 8]);
    let mut four = [0xffu8; 4];
    h.device.region_read(BAR0, 2, &mut four);
    assert_eq!(four, [0; 4]);
    h.device
        .region_read(BAR0, uapi::pci::REGS_BAR_SIZE, &mut four);
    assert_eq!(four, [0; 4], "past the BAR");
    let depth = regs::queue_reg(0, qreg::DEPTH);
    h.write32(depth, 8);
    h.device.region_write(BAR0, u64::from(depth), &[16, 0]);
    h.device
        .region_write(BAR0, u64::from(depth) + 1, &[0, 0, 0, 0]);
    h.device
        .region_write(BAR0, u64::from(depth), &[32, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(h.read32(depth), 8);
}

#[test]
fn device_reset_disables_queues_and_clears_state() {
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    assert_echo_works(&h, &mut q, 1);
    h.write64(regs::STATUS_PAGE_LO, regs::STATUS_PAGE_HI, RAM_A + 0x9_0000);
    h.write32(regs::DEVICE_CONTROL, regs::device_control::RESET);
    assert_eq!(q.status(&h), qreg::status::DISABLED);
    assert_eq!(h.read32(q.reg(qreg::DEPTH)), 0);
    assert_eq!(h.read32(regs::STATUS_PAGE_LO), 0);
    assert_eq!(h.read32(regs::IRQ_STATUS), 0);
    q.ring(&h);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(q.cq_tail(&h), 1);
}
