//! Virtual memory management on the fake driver: what reaches the host, the
//! handle mapping, what copies may touch, and teardown.

use super::*;
use crate::cuda::backend::{MemoryBackend, VmmBackend};
use crate::executor::cuda::fake;
use uapi::cuda::{vmm_prop, AllocationProp, VMM_GRANULARITY as G};

fn client_with_vmm(vmm: i32) -> GpuClient {
    let mut attrs = vec![0; uapi::cuda::ATTRIBUTE_COUNT];
    attrs[ATTR_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED] = vmm;
    GpuClient::new(fake::driver(), 0, attrs.into())
}

fn pinned() -> AllocationProp {
    AllocationProp {
        kind: vmm_prop::ALLOCATION_PINNED,
        location_type: vmm_prop::LOCATION_DEVICE,
        ..Default::default()
    }
}

/// A reservation of 8 granules with `n` handles mapped side by side from its start.
fn mapped(c: &mut GpuClient, n: u64) -> (u64, Vec<u64>) {
    let base = c
        .mem_address_reserve(0, 8 * G, 0, 0x1234_0000_0000)
        .expect("reserve");
    let handles = (0..n)
        .map(|i| {
            let h = c.mem_create(0, G, &pinned()).expect("create");
            c.mem_map(0, base + i * G, G, 0, h).expect("map");
            h
        })
        .collect();
    (base, handles)
}

#[test]
fn without_the_attribute_nothing_is_carried() {
    let mut c = client_with_vmm(0);
    assert_eq!(c.mem_address_reserve(0, G, 0, 0), Err(NOT_SUPPORTED));
    assert_eq!(c.mem_create(0, G, &pinned()), Err(NOT_SUPPORTED));
    assert!(fake::with(
        |f| f.vmm.reservations.is_empty() && f.vmm.handles.is_empty()
    ));
}

#[test]
fn the_guest_sees_its_own_handles_and_the_host_gets_a_plain_allocation() {
    let mut c = client_with_vmm(1);
    let (base, h) = mapped(&mut c, 2);
    assert_eq!(c.memory_used(), 2 * G);
    let host: Vec<u64> = fake::with(|f| f.vmm.handles.keys().copied().collect());
    for x in &h {
        assert_eq!((x >> 48) as u16, tag::VMM);
        assert!(!host.contains(x), "a host handle reached the guest");
    }
    // The host's handle values mean nothing to the guest's calls.
    for raw in host {
        assert_eq!(c.mem_release(0, raw), Err(INVALID_VALUE));
        assert_eq!(c.mem_map(0, base + 4 * G, G, 0, raw), Err(INVALID_VALUE));
    }
    // Whatever the guest asked, the host made it pinned on our device,
    // neither exportable nor compressed.
    let mut asked = pinned();
    asked.requested_handle_types = vmm_prop::HANDLE_POSIX_FD;
    asked.alloc_flags[0] = 1;
    c.mem_create(0, G, &asked).expect("create");
    fake::with(|f| {
        let made = f.vmm.created_with.last().copied().expect("created");
        assert_eq!(made, pinned());
        assert_eq!(f.vmm.reservations.len(), 1);
        assert_eq!(f.vmm.reservations.get(&base), Some(&(8 * G as usize)));
    });
    assert_ne!(base, 0x1234_0000_0000, "the hint is not passed on");
}

#[test]
fn copies_reach_mapped_memory_with_access_only() {
    let mut c = client_with_vmm(1);
    let (base, h) = mapped(&mut c, 3);
    assert_eq!(
        c.memcpy_htod(0, 0, base, &[1; 8], false),
        Err(INVALID_VALUE),
        "no access yet"
    );
    c.mem_set_access(0, base, 2 * G, vmm_prop::ACCESS_READWRITE)
        .expect("access");
    c.mem_set_access(0, base + 2 * G, G, vmm_prop::ACCESS_READ)
        .expect("read-only");
    assert_eq!(
        c.mem_get_access(0, base + G + 5),
        Ok(vmm_prop::ACCESS_READWRITE)
    );
    assert_eq!(
        c.mem_get_access(0, base + 3 * G),
        Err(INVALID_VALUE),
        "not mapped"
    );
    fake::with(|f| {
        assert!(f
            .vmm
            .access_locations
            .iter()
            .all(|l| (l.kind, l.id) == (1, 0)));
    });
    c.memcpy_htod(0, 0, base + 16, &[7; 8], false)
        .expect("htod");
    let mut out = [0u8; 8];
    c.memcpy_dtoh(0, 0, base + 16, &mut out).expect("dtoh");
    assert_eq!(out, [7; 8]);
    // Across the boundary of adjacent mappings, as one buffer.
    assert_eq!(c.check_dst(base + G / 2, G), Ok(()));
    assert_eq!(c.check_range(base + G, 2 * G), Ok(()));
    assert_eq!(
        c.check_dst(base + G, 2 * G),
        Err(INVALID_VALUE),
        "read-only part"
    );
    assert_eq!(
        c.check_range(base + 2 * G, 2 * G),
        Err(INVALID_VALUE),
        "unmapped part"
    );
    assert_eq!(
        c.memcpy_htod(0, 0, base + 2 * G, &[1], true),
        Err(INVALID_VALUE)
    );
    assert_eq!(c.mem_get_address_range(0, base + G + 9), Ok((base + G, G)));
    // Partial access: the simulator's limit, here too.
    assert_eq!(c.mem_set_access(0, base, G / 2, 3), Err(NOT_SUPPORTED));
    assert_eq!(c.mem_unmap(0, base, G / 2), Err(INVALID_VALUE));
    c.mem_unmap(0, base, 3 * G).expect("unmap");
    assert_eq!(
        c.check_range(base, 1),
        Err(INVALID_VALUE),
        "gone with the mapping"
    );
    for x in h {
        c.mem_release(0, x).expect("release");
    }
    c.mem_address_free(0, base, 8 * G).expect("free");
    assert_eq!(c.memory_used(), 0);
    fake::with(|f| assert!(f.vmm.handles.is_empty() && f.vmm.reservations.is_empty()));
}

#[test]
fn release_while_mapped_then_retain_takes_a_host_reference_again() {
    let mut c = client_with_vmm(1);
    let (base, h) = mapped(&mut c, 1);
    // ggml's order: release right after mapping.
    c.mem_release(0, h[0]).expect("release");
    assert_eq!(
        c.mem_release(0, h[0]),
        Err(INVALID_VALUE),
        "no reference left"
    );
    assert_eq!(
        fake::with(|f| f.vmm.handles.values().next().copied()),
        Some((G as usize, 0))
    );
    let again = c
        .mem_retain_allocation_handle(0, base + 100)
        .expect("retain");
    assert_eq!(again, h[0]);
    assert_eq!(fake::with(|f| f.vmm.retains), 1);
    // A second retain counts on our side only.
    c.mem_retain_allocation_handle(0, base).expect("retain");
    assert_eq!(fake::with(|f| f.vmm.retains), 1);
    c.mem_release(0, h[0]).expect("release");
    c.mem_release(0, h[0]).expect("release");
    assert_eq!(
        c.mem_retain_allocation_handle(0, base + G),
        Err(INVALID_VALUE)
    );
    c.mem_unmap(0, base, G).expect("unmap");
    assert!(fake::with(
        |f| f.vmm.handles.is_empty() && f.memory.is_empty()
    ));
    assert_eq!(
        c.mem_map(0, base, G, 0, h[0]),
        Err(INVALID_VALUE),
        "handle gone"
    );
}

#[test]
fn one_client_cannot_reach_anothers_reservations_or_handles() {
    let mut a = client_with_vmm(1);
    let mut b = client_with_vmm(1);
    let (base, ha) = mapped(&mut a, 1);
    let hb = b.mem_create(0, G, &pinned()).expect("create");
    assert_eq!(ha[0], hb, "both tables issue the same first value");
    assert_eq!(
        b.mem_map(0, base + G, G, 0, hb),
        Err(INVALID_VALUE),
        "a's reservation"
    );
    assert_eq!(b.mem_unmap(0, base, G), Err(INVALID_VALUE));
    assert_eq!(b.mem_set_access(0, base, G, 3), Err(INVALID_VALUE));
    assert_eq!(b.mem_retain_allocation_handle(0, base), Err(INVALID_VALUE));
    assert_eq!(b.mem_address_free(0, base, 8 * G), Err(INVALID_VALUE));
    a.mem_set_access(0, base, G, 3).expect("access");
    assert_eq!(b.check_range(base, 8), Err(INVALID_VALUE), "a's memory");
    b.mem_release(0, hb).expect("b's own");
    assert!(a.mem_release(0, ha[0]).is_ok(), "a's handle untouched");
}

#[test]
fn teardown_unmaps_releases_and_frees_everything() {
    let mut c = client_with_vmm(1);
    let (_base, h) = mapped(&mut c, 3);
    c.mem_release(0, h[1]).expect("release while mapped");
    c.mem_create(0, 2 * G, &pinned()).expect("unmapped handle");
    c.mem_address_reserve(0, 4 * G, 4 * G, 0)
        .expect("empty reservation");
    assert_eq!(c.memory_used(), 5 * G);
    drop(c);
    fake::with(|f| {
        assert!(
            f.vmm.mappings.is_empty(),
            "mappings: {:?}",
            f.vmm.mappings.keys()
        );
        assert!(f.vmm.handles.is_empty(), "handles: {:?}", f.vmm.handles);
        assert!(f.vmm.reservations.is_empty());
        assert!(f.memory.is_empty());
    });
}

#[test]
fn reservations_are_bounded_per_client() {
    let mut c = client_with_vmm(1);
    // The fake device has 1 GiB.
    let limit = vmm::RESERVE_LIMIT_PER_TOTAL_MEMORY << 30;
    let first = c.mem_address_reserve(0, limit - G, 0, 0).expect("most");
    assert_eq!(c.mem_address_reserve(0, 2 * G, 0, 0), Err(OUT_OF_MEMORY));
    c.mem_address_reserve(0, G, 0, 0).expect("the rest");
    c.mem_address_free(0, first, limit - G).expect("free");
    c.mem_address_reserve(0, 2 * G, 0, 0).expect("room again");
}
