//! DMA maps from the vfio-user peer are checked against the file backing
//! them (review finding M3): a mapping past the end of a short memfd would
//! raise SIGBUS in vgpu-host at the device's next access there. A refused
//! map is an error the server sends to QEMU (review M2: the crate answered
//! it as a success).

mod common;

use std::sync::Arc;
use vgpu_host::guest_memory::memfd;
use vgpu_host::irq::EventfdInterrupts;
use vgpu_host::vfio::wire::{Errno, MAX_DMA_MAPS};
use vgpu_host::vfio::{Backend, DeviceBackend, DmaMapFlags};

const GPA: u64 = 0x10_0000;

fn backend() -> (Backend, common::Harness) {
    // The harness's device, with its RAM unmapped again.
    let h = common::Harness::new();
    h.device.dma_unmap_all();
    let b = Backend::new(h.device.clone(), Arc::new(EventfdInterrupts::new()));
    (b, h)
}

#[test]
fn a_map_beyond_the_end_of_its_file_is_refused() {
    let (mut b, h) = backend();
    let short = memfd("short", 4096).expect("memfd");
    // 1 GiB claimed over a 4 KiB file: refused, nothing mapped.
    assert_eq!(
        b.dma_map(DmaMapFlags::READ_WRITE, 0, GPA, 1 << 30, Some(short)),
        Err(Errno::EINVAL)
    );
    assert!(!h.device.guest_memory().contains(GPA, 1));
    // An offset that ends past the file is refused the same way.
    let file = memfd("ram", 1 << 20).expect("memfd");
    assert_eq!(
        b.dma_map(DmaMapFlags::READ_WRITE, 4096, GPA, 1 << 20, Some(file)),
        Err(Errno::EINVAL)
    );
    assert!(!h.device.guest_memory().contains(GPA, 1));
    // A mapping the file covers is made.
    let file = memfd("ram", 1 << 20).expect("memfd");
    b.dma_map(
        DmaMapFlags::READ_WRITE,
        4096,
        GPA,
        (1 << 20) - 4096,
        Some(file),
    )
    .expect("answered");
    assert!(h.device.guest_memory().contains(GPA, (1 << 20) - 4096));
}

#[test]
fn maps_past_the_advertised_limit_are_refused() {
    let (mut b, h) = backend();
    let file = memfd("ram", 4096).expect("memfd");
    for i in 0..MAX_DMA_MAPS as u64 {
        let dup = file.try_clone().expect("dup");
        b.dma_map(
            DmaMapFlags::READ_WRITE,
            0,
            GPA + i * 0x2000,
            4096,
            Some(dup),
        )
        .expect("mapped");
    }
    let next = GPA + MAX_DMA_MAPS as u64 * 0x2000;
    assert_eq!(
        b.dma_map(DmaMapFlags::READ_WRITE, 0, next, 4096, Some(file)),
        Err(Errno::ENOSPC)
    );
    assert!(!h.device.guest_memory().contains(next, 1));
    // Maps the device ignores are still answered Ok: no fd, read-only.
    assert_eq!(
        b.dma_map(DmaMapFlags::READ_WRITE, 0, next, 4096, None),
        Ok(())
    );
}
