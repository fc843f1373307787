//! Guest sizes never make the simulator allocate or loop beyond the
//! guest's own memory (review finding H3): memsets and 2D copies are
//! checked against the allocation they touch before any host memory is
//! taken, and refused with the CUresult NVIDIA's driver gives.

use uapi::cuda::{copy_kind, op, result, Copy2dRequest, MemsetRequest};
use uapi::wire::Wire;

use crate::client::*;

fn memset(c: &mut Client, r: MemsetRequest) -> u32 {
    c.result(op::MEMSET, r.as_bytes())
}

fn copy_2d(c: &mut Client, r: Copy2dRequest) -> u32 {
    c.result(op::MEMCPY_2D, r.as_bytes())
}

#[test]
fn a_memset_larger_than_its_allocation_takes_no_host_memory() {
    let mut c = Client::new();
    let buf = c.alloc(4096);
    let set = MemsetRequest {
        dst: buf,
        width: 1 << 40,
        height: 1,
        elem_size: 1,
        value: 0xab,
        ..Default::default()
    };
    // A 1 TiB row was built on the host before the range check (abort).
    assert_eq!(memset(&mut c, set), result::INVALID_VALUE);
    // 2^64 empty rows were walked one by one (a hang); nothing to set.
    let empty = MemsetRequest {
        width: 0,
        height: u64::MAX,
        pitch: 1,
        ..set
    };
    assert_eq!(memset(&mut c, empty), result::SUCCESS);
    // Rows past the allocation's end are refused before any is written.
    let tall = MemsetRequest {
        width: 16,
        pitch: 64,
        height: 1 << 40,
        ..set
    };
    assert_eq!(memset(&mut c, tall), result::INVALID_VALUE);
    assert_eq!(c.dtoh(buf, 16).1, vec![0; 16]);
    // What fits still works, rows and gaps as asked.
    let fits = MemsetRequest { height: 64, ..tall };
    assert_eq!(memset(&mut c, fits), result::SUCCESS);
    let (r, out) = c.dtoh(buf, 4096);
    assert_eq!(r, result::SUCCESS);
    for (i, b) in out.iter().enumerate() {
        assert_eq!(*b, if i % 64 < 16 { 0xab } else { 0 }, "byte {i}");
    }
}

#[test]
fn a_2d_copy_larger_than_its_allocations_takes_no_host_memory() {
    let mut c = Client::new();
    let (a, b) = (c.alloc(4096), c.alloc(4096));
    let copy = Copy2dRequest {
        dst: b,
        dst_pitch: 64,
        src: a,
        src_pitch: 64,
        width: 0,
        height: 1 << 40,
        kind: copy_kind::DTOD,
        ..Default::default()
    };
    // Zero-width rows: staging took 24 TiB of row vectors (abort).
    assert_eq!(copy_2d(&mut c, copy), result::SUCCESS);
    let tall = Copy2dRequest { width: 16, ..copy };
    assert_eq!(copy_2d(&mut c, tall), result::INVALID_VALUE);
    c.htod(a, &[7; 4096], 0).expect("status ok");
    let fits = Copy2dRequest { height: 64, ..tall };
    assert_eq!(copy_2d(&mut c, fits), result::SUCCESS);
    let (_, out) = c.dtoh(b, 4096);
    for (i, v) in out.iter().enumerate() {
        assert_eq!(*v, if i % 64 < 16 { 7 } else { 0 }, "byte {i}");
    }
}

#[test]
fn stopping_the_queue_cancels_a_running_launch() {
    use std::time::{Duration, Instant};
    let mut c = Client::new();
    let spin = ".version 8.0\n.target sm_90\n.address_size 64\n\
                .visible .entry spin()\n{\n$L__top:\n\tbra.uni \t$L__top;\n}\n";
    let f = c.load_function(spin, "spin");
    let cancel = c.cancel.clone();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let t0 = Instant::now();
    // The simulator runs the launch at submission; without the token it
    // ran until the 60 s watchdog, holding up the queue's teardown.
    assert_eq!(c.launch(f, 1, 32, &[]), Vec::<u8>::new());
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    stopper.join().expect("stopper");
    assert_eq!(c.sync(), result::LAUNCH_FAILED);
}

#[test]
fn a_2d_copy_to_the_host_whose_size_overflows_is_too_large() {
    use uapi::status::Status;
    let mut c = Client::new();
    let copy = Copy2dRequest {
        width: 0xFFFF_FFFF_FFFF_FFF8,
        height: 1,
        kind: copy_kind::DTOH,
        ..Default::default()
    };
    // The response size (rows + its 8-byte header) overflowed: a panic in
    // debug builds, a truncated header and an out-of-range slice in release.
    assert_eq!(
        c.call(op::MEMCPY_2D, copy.as_bytes(), 64),
        Err(Status::TooLarge)
    );
}

#[test]
fn a_device_copy_longer_than_its_allocations_takes_no_host_memory() {
    // Found by the cuda_exec fuzz target: a 28 GiB staging buffer was
    // allocated before the ranges were checked (the process aborted).
    let mut c = Client::new();
    let a = c.alloc(4096);
    let b = c.alloc(4096);
    let copy = uapi::cuda::CopyRequest {
        dst: b,
        src: a,
        len: 28 << 30,
        ..Default::default()
    };
    assert_eq!(
        c.result(op::MEMCPY_DTOD, copy.as_bytes()),
        result::INVALID_VALUE
    );
    let fits = uapi::cuda::CopyRequest { len: 4096, ..copy };
    assert_eq!(c.result(op::MEMCPY_DTOD, fits.as_bytes()), result::SUCCESS);
}
