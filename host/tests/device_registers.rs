//! The device's own registers: heartbeat, identification and its
//! overrides, odd BAR accesses, and device reset.

mod common;

use common::commands::*;
use common::*;
use std::time::Duration;
use uapi::regs::{self, queue as qreg};
use uapi::ring::StatusPage;

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
fn the_heartbeat_waits_while_bus_mastering_is_off() {
    let h = Harness::new();
    let page = RAM_B + 0x8000;
    let beat = |h: &Harness| {
        h.mem()
            .read_obj::<StatusPage>(page)
            .map(|p| p.heartbeat)
            .unwrap_or(0)
    };
    h.write64(regs::STATUS_PAGE_LO, regs::STATUS_PAGE_HI, page);
    assert!(
        wait_for(|| (beat(&h) >= 1).then_some(())).is_some(),
        "heartbeat did not move"
    );
    // The guest turns bus mastering off (unbind, kexec): no more writes
    // to its RAM, though the page is still set.
    h.set_command(0x0002);
    std::thread::sleep(Duration::from_millis(150));
    let off = beat(&h);
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(
        beat(&h),
        off,
        "the heartbeat wrote guest RAM without bus mastering"
    );
    // On again: it resumes.
    h.set_command(0x0006);
    assert!(
        wait_for(|| (beat(&h) > off).then_some(())).is_some(),
        "heartbeat did not resume"
    );
}

#[test]
fn identification_registers_and_overrides() {
    let h = Harness::new();
    assert_eq!(h.read32(regs::MAGIC), regs::MAGIC_VALUE);
    assert_eq!(h.read32(regs::ABI_VERSION), uapi::ABI_VERSION);
    assert_eq!(
        h.read32(regs::FEATURES),
        regs::features::SGL | regs::features::HEARTBEAT | regs::features::POLLED_TAIL
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
