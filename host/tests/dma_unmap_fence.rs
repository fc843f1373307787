//! Review L2: a DMA unmap is answered only once no command uses the RAM it
//! removed (each command holds one snapshot of guest RAM while it runs),
//! and never later than `UNMAP_FENCE`; with queues served in this process
//! and by worker processes.

mod common;

use common::commands::*;
use common::*;
use std::time::{Duration, Instant};
use uapi::regs;
use vgpu_host::device::UNMAP_FENCE;
use vgpu_host::guest_memory::memfd;

/// Starts a SLEEP of `millis` on queue 0 and returns once it runs (300 ms
/// later: time enough to start on a loaded machine).
fn sleeping(h: &Harness, millis: u32) -> TestQueue {
    let mut q = TestQueue::enabled(h, 0, 8);
    assert_echo_works(h, &mut q, 3);
    push_sleep(h, &mut q, millis, 9);
    q.ring(h);
    std::thread::sleep(Duration::from_millis(300));
    q
}

fn unmap_waits_for_the_command(h: &Harness) {
    let _q = sleeping(h, 1500);
    // RAM mapped while the command runs: the command still holds the
    // mappings from before it (a worker process is handed them all again).
    let file = memfd("more-ram", RAM_SIZE).expect("memfd");
    h.device
        .dma_map(RAM_B + RAM_SIZE, RAM_SIZE, file, 0)
        .expect("map");
    let t = Instant::now();
    h.device.dma_unmap_all();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < UNMAP_FENCE,
        "unmap answered after {took:?}, while the command ran ~1200 ms more"
    );
}

fn unmap_gives_up_at_the_fence(h: &Harness) {
    let _q = sleeping(h, 30_000);
    let t = Instant::now();
    h.device.dma_unmap_all();
    let took = t.elapsed();
    assert!(
        took >= UNMAP_FENCE && took < UNMAP_FENCE + Duration::from_secs(2),
        "unmap answered after {took:?}"
    );
    h.device.reset();
}

#[test]
fn an_unmap_waits_for_the_command_that_uses_the_ram() {
    unmap_waits_for_the_command(&Harness::new());
}

#[test]
fn an_unmap_waits_for_a_worker_process_command() {
    unmap_waits_for_the_command(&Harness::with_workers());
}

#[test]
fn an_unmap_is_answered_by_the_fence_when_a_command_runs_on() {
    unmap_gives_up_at_the_fence(&Harness::new());
    unmap_gives_up_at_the_fence(&Harness::with_workers());
}

#[test]
fn an_unmap_waiting_for_a_worker_holds_up_neither_mmio_nor_a_stop() {
    // A long grace: a worker that cannot read its STOP is not killed soon.
    let h = Harness::with_workers_grace(Duration::from_secs(10));
    let _q = sleeping(&h, 30_000);
    let device = h.device.clone();
    let unmap = std::thread::spawn(move || {
        let t = Instant::now();
        device.dma_unmap_all();
        t.elapsed()
    });
    std::thread::sleep(Duration::from_millis(300));
    // The wait for the worker's answer is not under the device lock.
    let t = Instant::now();
    assert_eq!(h.read32(regs::MAGIC), regs::MAGIC_VALUE);
    let read = t.elapsed();
    assert!(read < Duration::from_millis(500), "MMIO read took {read:?}");
    // Nor does the worker's wait keep it from reading its STOP.
    let t = Instant::now();
    h.device.reset();
    let reset = t.elapsed();
    assert!(reset < Duration::from_secs(1), "reset took {reset:?}");
    // The unmap ends with the worker, whose RAM went with it.
    let took = unmap.join().expect("unmap thread");
    assert!(took < UNMAP_FENCE, "unmap answered after {took:?}");
}
