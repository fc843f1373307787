//! Queue engine tests without QEMU: BAR0 accesses and guest memory go
//! through the same `Device` methods the vfio-user backend calls. Commands
//! and their buffers here; the ring protocol's errors in `queue_rings.rs`,
//! the device's registers in `device_registers.rs`.

mod common;

use common::commands::*;
use common::*;
use std::time::{Duration, Instant};
use uapi::cmd::{field_str, DeviceInfo, Opcode, SleepRequest};
use uapi::regs::{self, irq, queue as qreg};
use uapi::ring::{entry_flags, SgEntry, SubmissionEntry};
use uapi::status::Status;
use uapi::wire::Wire;

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
    for opcode in [0u16, 8, 0xff, 0x1ff, 0x7fff] {
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
fn guest_page_releases_are_checked_where_they_enter() {
    use uapi::cmd::GuestRange;
    let h = Harness::new();
    let mut q = TestQueue::enabled(&h, 0, 8);
    let release = |q: &mut TestQueue, ranges: &[(u64, u64)], tag: u64| {
        let body: Vec<u8> = ranges
            .iter()
            .flat_map(|&(addr, len)| GuestRange { addr, len }.as_bytes().to_vec())
            .collect();
        h.write_bytes(q.data, &body);
        let c = q.run(
            &h,
            &SubmissionEntry {
                req_addr: q.data,
                req_len: body.len() as u32,
                ..entry(Opcode::ReleaseGuestPages, tag)
            },
        );
        (status_of(&c), c.resp_len)
    };
    // Ranges of guest RAM and ranges past it alike: nothing of either is
    // registered, and a release only ever ends registrations.
    let ok = [(0x10_0000, 0x20_0000), (0x7fff_f000_0000, 0x1000)];
    assert_eq!(release(&mut q, &ok, 1), (Some(Status::Ok), 0));
    // Ranges of any length cost what the regions they meet do: 1024 ranges
    // of 2^62 bytes (over RAM and the hole past it) complete at once.
    let huge = vec![(0, 1u64 << 62); 1024];
    let start = Instant::now();
    assert_eq!(release(&mut q, &huge, 10), (Some(Status::Ok), 0));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    for (tag, bad) in [(0x1000u64, 0u64), (0x1800, 0x1000), (!0xfffu64, 0x2000)]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            release(&mut q, &[bad], tag as u64 + 2).0,
            Some(Status::InvalidField),
            "range {bad:x?}"
        );
    }
    // The queue serves on.
    assert_eq!(release(&mut q, &ok, 9), (Some(Status::Ok), 0));
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
