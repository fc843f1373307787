use super::*;
use crate::cancel::CancelToken;
use crate::cuda::options::{CtxFlags, EventFlags, StreamFlags};
use uapi::cuda::LaunchRequest;

fn stream_flags(raw: u32) -> StreamFlags {
    StreamFlags::new(raw).expect("flags")
}

#[test]
fn default_streams() {
    assert!(is_default_stream(0) && is_default_stream(1) && is_default_stream(2));
    assert!(!is_default_stream(3));
}

#[test]
fn span_2d_rows() {
    assert_eq!(span_2d(256, 100, 0), Ok(0));
    assert_eq!(span_2d(256, 100, 1), Ok(100));
    assert_eq!(span_2d(256, 100, 3), Ok(612));
    assert_eq!(span_2d(u64::MAX, 1, 3), Err(INVALID_VALUE));
}

#[test]
fn images_with_host_pointers_or_bad_sizes_are_refused() {
    // Fatbin wrapper: carries pointers.
    let wrapper = [0xB1, 0x43, 0x62, 0x46, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(check_image(&wrapper).err(), Some(INVALID_IMAGE));
    // Fatbin header claiming more bytes than sent.
    let mut fatbin = vec![0x50, 0xED, 0x55, 0xBA, 1, 0, 16, 0];
    fatbin.extend_from_slice(&100u64.to_le_bytes());
    assert_eq!(check_image(&fatbin).err(), Some(INVALID_IMAGE));
    fatbin.resize(116, 0);
    assert!(check_image(&fatbin).is_ok());
    // Truncated ELF header.
    assert_eq!(check_image(b"\x7fELF\x02\x01").err(), Some(INVALID_IMAGE));
    assert_eq!(check_image(b"ab").err(), Some(INVALID_IMAGE));
    // ELF whose section table lies past the end.
    let mut elf = vec![0u8; 64];
    elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
    elf[0x28..0x30].copy_from_slice(&1000u64.to_le_bytes());
    elf[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
    elf[0x3C..0x3E].copy_from_slice(&1u16.to_le_bytes());
    assert_eq!(check_image(&elf).err(), Some(INVALID_IMAGE));
    // A minimal header-only ELF is accepted.
    elf[0x28..0x30].copy_from_slice(&0u64.to_le_bytes());
    elf[0x3C..0x3E].copy_from_slice(&0u16.to_le_bytes());
    assert!(check_image(&elf).is_ok());
}

use crate::executor::cuda::fake;

fn client() -> GpuClient {
    GpuClient::new(
        fake::driver(),
        0,
        vec![0; uapi::cuda::ATTRIBUTE_COUNT].into(),
    )
}

fn live_ctx() -> usize {
    fake::with(|f| f.live_ctx.len())
}

#[test]
fn memory_round_trips_and_everything_is_freed_on_drop() {
    let mut c = client();
    assert_eq!(live_ctx(), 0, "no context before first use");
    let a = c.mem_alloc(0, 4096).expect("alloc");
    assert_eq!(live_ctx(), 1);
    let data: Vec<u8> = (0..=255).collect();
    c.memcpy_htod(0, 0, a, &data, false).expect("htod");
    let mut out = vec![0u8; 256];
    c.memcpy_dtoh(0, 0, a, &mut out).expect("dtoh");
    assert_eq!(out, data);
    // Async, staged; large enough to be page-locked.
    let big = vec![0x5au8; 2 << 20];
    let b = c.mem_alloc(0, big.len() as u64).expect("alloc");
    c.memcpy_htod(0, 0, b, &big, true).expect("htod async");
    assert_eq!(fake::with(|f| f.registered.len()), 1);
    let mut back = vec![0u8; big.len()];
    c.memcpy_dtoh(0, 0, b, &mut back).expect("dtoh");
    assert!(back == big);
    // Inside one allocation only.
    assert_eq!(
        c.memcpy_htod(0, 0, a + 4000, &data, false),
        Err(INVALID_VALUE)
    );
    assert_eq!(c.memcpy_dtod(0, 0, a, b, 8192, true), Err(INVALID_VALUE));
    c.memcpy_dtod(0, 0, a + 256, a, 256, false).expect("dtod");
    // Memsets, 1D and 2D.
    let req = MemsetRequest {
        dst: a,
        width: 4,
        height: 1,
        value: 0x0102_0304,
        elem_size: 4,
        ..Default::default()
    };
    c.memset(&req).expect("memset 1d");
    let mut four = [0u8; 16];
    c.memcpy_dtoh(0, 0, a, &mut four).expect("dtoh");
    assert_eq!(&four[..4], &[4, 3, 2, 1]);
    let req2 = MemsetRequest {
        dst: a,
        pitch: 16,
        width: 2,
        height: 3,
        value: 0xee,
        elem_size: 1,
        flags: copy_flags::ASYNC,
        ..Default::default()
    };
    c.memset(&req2).expect("memset 2d");
    let mut rows = [0u8; 48];
    c.memcpy_dtoh(0, 0, a, &mut rows).expect("dtoh");
    assert_eq!(&rows[16..19], &[0xee, 0xee, 18]);
    let too_far = MemsetRequest {
        height: 300,
        ..req2
    };
    assert_eq!(c.memset(&too_far), Err(INVALID_VALUE));
    // 2D copies with packed host rows.
    let up = Copy2dRequest {
        dst: a + 1024,
        dst_pitch: 64,
        width: 3,
        height: 2,
        kind: copy_kind::HTOD,
        flags: copy_flags::ASYNC,
        ..Default::default()
    };
    c.memcpy_2d(&up, &[1, 2, 3, 4, 5, 6], &mut [])
        .expect("2d htod");
    let down = Copy2dRequest {
        src: a + 1024,
        src_pitch: 64,
        width: 3,
        height: 2,
        kind: copy_kind::DTOH,
        ..Default::default()
    };
    let mut packed = [0u8; 6];
    c.memcpy_2d(&down, &[], &mut packed).expect("2d dtoh");
    assert_eq!(packed, [1, 2, 3, 4, 5, 6]);
    assert_eq!(c.mem_get_address_range(0, a + 5), Ok((a, 4096)));
    assert_eq!(c.mem_get_address_range(0, 0x10), Err(NOT_FOUND));
    assert_eq!(c.mem_free(0, a + 1), Err(INVALID_VALUE));
    c.mem_free(0, a).expect("free");
    assert_eq!(c.mem_free(0, a), Err(INVALID_VALUE));
    drop(c);
    fake::with(|f| {
        assert!(f.live_ctx.is_empty());
        assert!(f.memory.is_empty());
        assert!(f.registered.is_empty(), "staging unregistered");
        assert!(f.events.is_empty(), "staging events destroyed");
    });
}

#[test]
fn clients_cannot_reach_each_other() {
    let mut a = client();
    let mut b = client();
    let pa = a.mem_alloc(0, 64).expect("alloc");
    let _pb = b.mem_alloc(0, 64).expect("alloc");
    assert_eq!(live_ctx(), 2, "one host context per client");
    let mut out = [0u8; 8];
    assert_eq!(b.memcpy_dtoh(0, 0, pa, &mut out), Err(INVALID_VALUE));
    assert_eq!(b.memcpy_htod(0, 0, pa, &out, false), Err(INVALID_VALUE));
    assert_eq!(b.mem_free(0, pa), Err(INVALID_VALUE));
    let sa = a.stream_create(0, stream_flags(0), 0).expect("stream");
    assert_eq!(b.stream_synchronize(0, sa), Err(INVALID_HANDLE));
    let ea = a
        .event_create(0, EventFlags::new(0).expect("flags"))
        .expect("event");
    assert_eq!(b.event_query(0, ea), Err(INVALID_HANDLE));
    assert_eq!(
        b.stream_synchronize(0, ea),
        Err(INVALID_HANDLE),
        "wrong kind"
    );
    assert_eq!(b.mem_get_info(0x1234), Err(INVALID_CONTEXT));
    drop(a);
    assert_eq!(live_ctx(), 1);
    let mut keep = [0u8; 8];
    assert_eq!(b.memcpy_dtoh(0, 0, pa, &mut keep), Err(INVALID_VALUE));
}

#[test]
fn modules_functions_and_launches() {
    let mut c = client();
    let m = c
        .module_load(0, b".version 8.0\n.entry kern()\n")
        .expect("load");
    let (f, layout) = c.module_get_function(0, m, "kern").expect("function");
    assert_eq!(
        layout,
        vec![
            ParamInfo { offset: 0, size: 8 },
            ParamInfo { offset: 8, size: 4 }
        ]
    );
    assert_eq!(c.module_get_function(0, m, "kern").map(|r| r.0), Ok(f));
    assert_eq!(c.module_get_function(0, m, "nope").err(), Some(NOT_FOUND));
    assert_eq!(c.module_get_function(0, m, "a\0b").err(), Some(NOT_FOUND));
    assert_eq!(c.function_layout(f).map(<[ParamInfo]>::len), Some(2));
    // Parameters from a misaligned slice arrive 8-aligned and intact.
    let mut raw = [0u8; 13];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = i as u8;
    }
    let s = c.stream_create(0, stream_flags(1), 0).expect("stream");
    let req = LaunchRequest {
        stream: s,
        function: f,
        grid: [2, 1, 1],
        block: [32, 1, 1],
        param_bytes: 12,
        ..Default::default()
    };
    c.launch(&req, &raw[1..], &CancelToken::new())
        .expect("launch");
    let (bytes, dims, stream) = fake::with(|st| st.last_launch.clone()).expect("launched");
    assert_eq!(bytes, raw[1..].to_vec());
    assert_eq!(dims, [2, 1, 1, 32, 1, 1]);
    assert_ne!(stream, 0);
    c.launch(
        &LaunchRequest { stream: 0, ..req },
        &[],
        &CancelToken::new(),
    )
    .expect("launch");
    let (bytes, _, stream) = fake::with(|st| st.last_launch.clone()).expect("launched");
    assert!(bytes.is_empty());
    assert_eq!(stream, 0);
    assert_eq!(
        c.launch(
            &LaunchRequest { function: m, ..req },
            &raw[1..],
            &CancelToken::new()
        ),
        Err(INVALID_HANDLE)
    );
    let (g, size) = c.module_get_global(0, m, "var").expect("global");
    assert_eq!(size, 64);
    c.memcpy_htod(0, 0, g, &[1; 64], false)
        .expect("global is writable");
    c.module_unload(0, m).expect("unload");
    assert!(c.function_layout(f).is_none());
    assert_eq!(c.memcpy_htod(0, 0, g, &[1; 64], false), Err(INVALID_VALUE));
    assert_eq!(c.module_unload(0, m), Err(INVALID_HANDLE));
    assert_eq!(
        c.module_load(0, &[0xB1, 0x43, 0x62, 0x46, 1, 0, 0, 0]),
        Err(INVALID_IMAGE)
    );
}

#[test]
fn contexts_primary_and_current_caching() {
    let mut c = client();
    assert_eq!(c.primary_ctx_retain(1), Err(INVALID_DEVICE));
    let p = c.primary_ctx_retain(0).expect("retain");
    assert_eq!(live_ctx(), 1);
    assert_eq!(c.primary_ctx_retain(0), Ok(p));
    // ctx 0 and the primary handle are the same context.
    let x = c.mem_alloc(p, 16).expect("alloc");
    c.mem_free(0, x).expect("free through ctx 0");
    let calls = fake::with(|f| f.set_current_calls);
    for _ in 0..5 {
        c.mem_get_info(0).expect("info");
    }
    assert_eq!(fake::with(|f| f.set_current_calls), calls, "cached");

    let k = c
        .ctx_create(CtxFlags::new(0).expect("flags"), 0)
        .expect("create");
    assert_eq!(live_ctx(), 2);
    let y = c.mem_alloc(k, 16).expect("alloc");
    let s = c.stream_create(k, stream_flags(0), 0).expect("stream");
    // A stream of context k is not one of the primary's.
    assert_eq!(c.memcpy_htod(0, s, y, &[0; 4], true), Err(INVALID_HANDLE));
    c.memcpy_htod(k, s, y, &[0; 4], true).expect("same context");
    assert_eq!(c.ctx_destroy(0), Err(INVALID_CONTEXT));
    assert_eq!(c.ctx_destroy(p), Err(INVALID_CONTEXT));
    c.ctx_destroy(k).expect("destroy");
    assert_eq!(live_ctx(), 1);
    assert_eq!(c.ctx_destroy(k), Err(INVALID_CONTEXT));
    assert_eq!(c.mem_free(0, y), Err(INVALID_VALUE));
    assert_eq!(c.stream_query(0, s), Err(INVALID_HANDLE));
    assert_eq!(c.mem_alloc(k, 16), Err(INVALID_CONTEXT));

    let e1 = c
        .event_create(0, EventFlags::new(0).expect("flags"))
        .expect("event");
    let e2 = c
        .event_create(0, EventFlags::new(0).expect("flags"))
        .expect("event");
    c.event_record(0, e1, 0).expect("record");
    c.event_record(0, e2, 0).expect("record");
    assert_eq!(c.event_elapsed_time(0, e1, e2), Ok(1.5));
    c.event_destroy(0, e1).expect("destroy");
    assert_eq!(c.event_query(0, e1), Err(INVALID_HANDLE));

    c.primary_ctx_release(0).expect("release");
    assert_eq!(live_ctx(), 1, "still retained once");
    c.primary_ctx_release(0).expect("release");
    assert_eq!(live_ctx(), 0, "destroyed at zero");
    assert_eq!(c.primary_ctx_release(0), Err(INVALID_CONTEXT));
    assert_eq!(c.event_query(0, e2), Err(INVALID_HANDLE), "gone with it");
    // The same primary handle comes back to life on use.
    assert_eq!(c.primary_ctx_retain(0), Ok(p));
    assert_eq!(live_ctx(), 1);
    c.mem_alloc(0, 8).expect("alloc");
    c.primary_ctx_reset(0).expect("reset");
    assert_eq!(live_ctx(), 0);
    assert_eq!(
        c.device_attributes(0).map(|a| a.len()),
        Ok(uapi::cuda::ATTRIBUTE_COUNT)
    );
}

#[test]
fn ptx_gets_a_terminator() {
    let ptx = b".version 8.0\n.target sm_90\n";
    let out = check_image(ptx).expect("ptx");
    assert_eq!(out.last(), Some(&0));
    assert_eq!(&out[..ptx.len()], ptx);
    let terminated = b".version 8.0\n\0";
    assert!(matches!(
        check_image(terminated),
        Ok(std::borrow::Cow::Borrowed(_))
    ));
}

#[test]
fn stream_driver_value_asks_the_driver_for_that_stream() {
    let mut c = client();
    assert_eq!(c.stream_driver_value(0, 0), Ok(7), "the default stream");
    let s = c.stream_create(0, stream_flags(1), 0).expect("stream");
    let raw = c
        .streams
        .get(s)
        .map(|st| st.raw as u64)
        .expect("raw stream");
    assert_eq!(
        c.stream_driver_value(0, s),
        Ok(raw),
        "the stream's own object"
    );
    assert_eq!(c.stream_driver_value(0, s + 0x10), Err(INVALID_HANDLE));
    assert_eq!(c.stream_driver_value(0x1234, 0), Err(INVALID_CONTEXT));
    let mut other = client();
    assert_eq!(
        other.stream_driver_value(0, s),
        Err(INVALID_HANDLE),
        "not its stream"
    );
}

#[test]
fn shared_memory_is_registered_once_and_released_with_its_context() {
    use crate::cuda::backend::SharedBackend;
    use crate::cuda::SharedSpan;
    use std::ptr::NonNull;
    let mut c = client();
    let mut arena = vec![0u8; 1 << 20];
    let base = NonNull::new(arena.as_mut_ptr()).expect("non-null");
    // SAFETY: `arena` outlives the client's use of these spans (it is
    // unregistered, and the client dropped, before `arena`).
    let (all, up, down) = unsafe {
        (
            SharedSpan::new(base, arena.len()),
            SharedSpan::new(base.add(100), 256),
            SharedSpan::new(base.add(4096), 256),
        )
    };
    let data: Vec<u8> = (0..=255).collect();
    up.write_from(&data);
    c.register_shared(all, crate::cuda::SharedKind::HostMemory);
    let registered = |p: NonNull<u8>| fake::with(|f| f.registered.contains(&(p.as_ptr() as usize)));
    assert!(!registered(base), "registered on first use, not before");
    let a = c.mem_alloc(0, 4096).expect("alloc");
    c.memcpy_htod_shared(0, 0, a, up, false).expect("htod");
    assert!(registered(base), "the whole area, once");
    let syncs = fake::with(|f| f.stream_syncs);
    c.memcpy_dtoh_shared(0, 0, a, down, false).expect("dtoh");
    assert_eq!(fake::with(|f| f.stream_syncs), syncs + 1, "waits for it");
    let mut back = vec![0u8; 256];
    down.read_into(&mut back);
    assert_eq!(back, data);
    // Asynchronous: enqueued (the fake copies at once), not waited for.
    down.write_from(&[0u8; 256]);
    c.memcpy_dtoh_shared(0, 0, a, down, true)
        .expect("async dtoh");
    assert_eq!(fake::with(|f| f.stream_syncs), syncs + 1, "no wait");
    down.read_into(&mut back);
    assert_eq!(back, data);
    let s = c.shared_stats();
    assert_eq!((s.copies, s.bytes, s.pinned_bytes), (3, 768, 768));
    assert_eq!(s.registered, 1 << 20);
    assert_eq!(c.pinned.used(), 1 << 20, "charged to the pinned quota");
    // Bounds are the client's device memory, as for any copy.
    assert_eq!(
        c.memcpy_htod_shared(0, 0, a + 4000, up, false),
        Err(INVALID_VALUE)
    );
    // The context that holds the registration goes: so does it, after the
    // copies that may still use it; the next copy registers the area again.
    let ctx_syncs = fake::with(|f| f.ctx_syncs);
    c.primary_ctx_reset(0).expect("reset");
    assert!(fake::with(|f| f.ctx_syncs) > ctx_syncs, "waited first");
    assert!(!registered(base));
    assert_eq!((c.shared_stats().registered, c.pinned.used()), (0, 0));
    let b = c.mem_alloc(0, 4096).expect("alloc");
    c.memcpy_htod_shared(0, 0, b, up, true).expect("htod");
    assert!(registered(base));
    c.unregister_shared(all);
    assert!(!registered(base));
    assert_eq!((c.shared_stats().registered, c.pinned.used()), (0, 0));
    drop(c);
}

#[test]
fn shared_memory_over_the_pinned_quota_is_copied_pageable() {
    use crate::cuda::backend::SharedBackend;
    use crate::cuda::SharedSpan;
    use std::ptr::NonNull;
    let mut c = client();
    c.set_pinned_limit(64 << 10);
    let mut arena = vec![7u8; 1 << 20];
    let base = NonNull::new(arena.as_mut_ptr()).expect("non-null");
    // SAFETY: `arena` outlives the client.
    let all = unsafe { SharedSpan::new(base, arena.len()) };
    c.register_shared(all, crate::cuda::SharedKind::HostMemory);
    let a = c.mem_alloc(0, 1 << 20).expect("alloc");
    c.memcpy_htod_shared(0, 0, a, all, false)
        .expect("htod still works");
    let s = c.shared_stats();
    assert_eq!((s.copies, s.pinned_bytes, s.registered), (1, 0, 0));
    assert!(!fake::with(|f| f
        .registered
        .contains(&(base.as_ptr() as usize))));
    let mut out = vec![0u8; 16];
    c.memcpy_dtoh(0, 0, a + 1000, &mut out).expect("dtoh");
    assert_eq!(out, [7u8; 16]);
    drop(c);
}

#[test]
fn pinned_host_memory_takes_the_arenas_place_in_the_quota() {
    use crate::cuda::backend::SharedBackend;
    use crate::cuda::{SharedKind, SharedSpan};
    use std::ptr::NonNull;
    let mut c = client();
    c.set_pinned_limit(3 << 19);
    let (mut arena, mut host) = (vec![1u8; 1 << 20], vec![2u8; 1 << 20]);
    let a_base = NonNull::new(arena.as_mut_ptr()).expect("non-null");
    let h_base = NonNull::new(host.as_mut_ptr()).expect("non-null");
    // SAFETY: both buffers outlive the client.
    let (a, h) = unsafe {
        (
            SharedSpan::new(a_base, arena.len()),
            SharedSpan::new(h_base, host.len()),
        )
    };
    c.register_shared(a, SharedKind::Arena);
    c.register_shared(h, SharedKind::HostMemory);
    let d = c.mem_alloc(0, 1 << 20).expect("alloc");
    c.memcpy_htod_shared(0, 0, d, a, false).expect("arena copy");
    let registered = |p: NonNull<u8>| fake::with(|f| f.registered.contains(&(p.as_ptr() as usize)));
    assert!(registered(a_base));
    // 2 MiB do not fit 1.5: the arena gives way to the client's memory.
    c.memcpy_htod_shared(0, 0, d, h, false)
        .expect("host memory copy");
    assert!(registered(h_base) && !registered(a_base));
    assert_eq!(c.pinned.used(), 1 << 20);
    // And stays pageable: no thrashing back and forth.
    c.memcpy_htod_shared(0, 0, d, a, false).expect("arena copy");
    assert!(!registered(a_base));
    let s = c.shared_stats();
    assert_eq!((s.copies, s.pinned_bytes), (3, 2 << 20));
    drop(c);
}

/// Writes `data` across `parts`, in order.
fn fill_parts(parts: &[crate::cuda::SharedSpan], data: &[u8]) {
    let mut put = 0;
    for p in parts {
        p.write_from(&data[put..put + p.len()]);
        put += p.len();
    }
}

/// What `parts` hold, in order.
fn read_parts(parts: &[crate::cuda::SharedSpan]) -> Vec<u8> {
    let mut got = Vec::new();
    for p in parts {
        let mut b = vec![0u8; p.len()];
        p.read_into(&mut b);
        got.extend_from_slice(&b);
    }
    got
}

#[test]
fn guest_pieces_go_up_and_down_in_staged_chunks() {
    use crate::cuda::backend::SharedBackend;
    use crate::cuda::SharedSpan;
    use std::ptr::NonNull;
    let mut c = client();
    // Pieces of odd sizes over more than two staging chunks, as guest
    // pages of a scatter-gather list are: out of order in "guest RAM".
    let len = 2 * super::gather::CHUNK + 12_345;
    let sizes = [4096, 1, 3 * 4096 + 7, super::gather::CHUNK, 65_536];
    let mut ram = vec![0u8; 2 * len];
    let base = NonNull::new(ram.as_mut_ptr()).expect("non-null");
    let mut parts = Vec::new();
    let (mut used, mut at) = (0, len);
    while used < len {
        let n = sizes[parts.len() % sizes.len()].min(len - used);
        // Every other piece from the top half, the rest from the bottom.
        let off = if parts.len() % 2 == 0 { at } else { used };
        // SAFETY: inside `ram`, which outlives the spans' use; the pieces
        // do not overlap (the bottom ones stay below `len`, the top ones
        // above it).
        parts.push(unsafe { SharedSpan::new(base.add(off), n) });
        if parts.len() % 2 == 1 {
            at += n;
        }
        used += n;
    }
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4096) as u8).collect();
    fill_parts(&parts, &data);
    let d = c.mem_alloc(0, len as u64).expect("alloc");
    c.memcpy_htod_gather(0, 0, d, &parts, false).expect("up");
    let mut back = vec![0u8; len];
    c.memcpy_dtoh(0, 0, d, &mut back).expect("read back");
    assert!(back == data, "the pieces arrive in order");
    // Down into the same pieces, after clearing them.
    fill_parts(&parts, &vec![0u8; len]);
    c.memcpy_dtoh_scatter(0, 0, d, &parts).expect("down");
    let got = read_parts(&parts);
    assert!(got == data, "the pieces are written in order");
    // Asynchronous up, then the stream's order: the data is there after
    // a synchronise.
    let e = c.mem_alloc(0, len as u64).expect("alloc");
    c.memcpy_htod_gather(0, 0, e, &parts, true)
        .expect("async up");
    c.ctx_synchronize(0).expect("sync");
    c.memcpy_dtoh(0, 0, e, &mut back).expect("read back");
    assert!(back == data);
    let s = c.shared_stats();
    assert_eq!((s.guest_copies, s.guest_bytes), (3, 3 * len as u64));
    // Bounds are the client's device memory, as for any copy.
    assert_eq!(
        c.memcpy_htod_gather(0, 0, d + 1, &parts, false),
        Err(INVALID_VALUE)
    );
    assert_eq!(
        c.memcpy_dtoh_scatter(0, 0, d + 1, &parts),
        Err(INVALID_VALUE)
    );
    drop(c);
    drop(ram);
}

#[test]
fn long_guest_runs_are_registered_once_and_released_before_unpin() {
    use crate::cuda::backend::SharedBackend;
    use crate::cuda::SharedSpan;
    use std::ptr::NonNull;
    const MIB: usize = 1 << 20;
    let mut c = client();
    let mut ram = vec![0u8; 9 * MIB];
    let base = (ram.as_mut_ptr() as usize).next_multiple_of(4096);
    let span = |addr: usize, len: usize| {
        // SAFETY: inside `ram`, which outlives every use of the spans.
        unsafe { SharedSpan::new(NonNull::new(addr as *mut u8).expect("non-null"), len) }
    };
    // A 3 MiB run of contiguous pages in 64 KiB pieces (a huge page's worth
    // and more), then a short piece elsewhere, as a guest's list names them.
    let run = 3 * MIB;
    let mut parts: Vec<SharedSpan> = (0..run / 65_536)
        .map(|i| span(base + i * 65_536, 65_536))
        .collect();
    parts.push(span(base + 5 * MIB + 100, 5000));
    let len = run + 5000;
    let data: Vec<u8> = (0..len).map(|i| (i * 13 + i / 4096) as u8).collect();
    fill_parts(&parts, &data);
    let registered = || fake::with(|f| f.registered.contains(&base));
    let d = c.mem_alloc(0, len as u64).expect("alloc");
    c.guest_epoch(1);
    c.memcpy_htod_gather(0, 0, d, &parts, false).expect("up");
    let mut back = vec![0u8; len];
    c.memcpy_dtoh(0, 0, d, &mut back).expect("read back");
    assert!(back == data, "registered and staged runs arrive in order");
    assert!(registered(), "the long run is registered");
    let s = c.shared_stats();
    assert_eq!(
        (s.guest_direct_bytes, s.guest_registered),
        (run as u64, run as u64)
    );
    assert_eq!(s.guest_direct_up_bytes, run as u64, "booked as up");
    assert_eq!(s.guest_direct_runs, 1, "the 3 MiB run is one transfer");
    assert!(s.guest_direct_up_ns > 0 && s.guest_direct_down_ns == 0);
    // Down into the same pages: the registration serves again.
    fill_parts(&parts, &vec![0u8; len]);
    c.memcpy_dtoh_scatter(0, 0, d, &parts).expect("down");
    let got = read_parts(&parts);
    assert!(got == data, "written in order");
    let s = c.shared_stats();
    assert_eq!(
        (s.guest_direct_bytes, s.guest_direct_up_bytes),
        (2 * run as u64, run as u64),
        "the copy down counts as down"
    );
    assert!(s.guest_direct_down_ns > 0);
    // An asynchronous copy up is staged (its source may be rewritten at once).
    c.memcpy_htod_gather(0, 0, d, &parts, true)
        .expect("async up");
    c.ctx_synchronize(0).expect("sync");
    assert_eq!(c.shared_stats().guest_direct_bytes, 2 * run as u64);
    // The guest releases one page of the run: the registration ends.
    c.release_guest(&[span(base + run - 4096, 4096)]);
    assert!(!registered());
    assert_eq!(c.shared_stats().guest_registered, 0);
    // A release elsewhere ends nothing.
    c.memcpy_htod_gather(0, 0, d, &parts, false)
        .expect("up again");
    assert!(registered(), "registered again on the next copy");
    c.release_guest(&[span(base + 5 * MIB, 8192)]);
    assert!(registered());
    // Guest RAM mapped anew: every registration of the old epoch ends.
    c.guest_epoch(2);
    assert!(!registered());
    // A copy in that epoch registers again; the client's end ends it.
    c.memcpy_htod_gather(0, 0, d, &parts, false)
        .expect("up in epoch 2");
    assert!(registered());
    drop(c);
    assert!(!registered(), "unregistered with the client's contexts");
    drop(ram);
}

#[test]
fn prepared_host_memory_is_registered_before_its_first_copy() {
    use crate::cuda::backend::SharedBackend;
    use crate::cuda::SharedSpan;
    use std::ptr::NonNull;
    const MIB: usize = 1 << 20;
    let mut c = client();
    let mut ram = vec![0u8; 5 * MIB];
    let base = (ram.as_mut_ptr() as usize).next_multiple_of(4096);
    let span = |addr: usize, len: usize| {
        // SAFETY: inside `ram`, which outlives every use of the spans.
        unsafe { SharedSpan::new(NonNull::new(addr as *mut u8).expect("non-null"), len) }
    };
    // A 2 MiB run (a huge page) and a short piece elsewhere.
    let run = 2 * MIB;
    let parts = [span(base, run), span(base + 3 * MIB, 4096)];
    let registered = || fake::with(|f| f.registered.contains(&base));
    let d = c.mem_alloc(0, (run + 4096) as u64).expect("alloc");
    c.guest_epoch(1);
    assert_eq!(c.prepare_guest(7, &parts), Err(INVALID_CONTEXT));
    assert!(!registered());
    c.prepare_guest(0, &parts).expect("prepare");
    assert!(registered(), "the long run is registered ahead of any copy");
    let s = c.shared_stats();
    assert_eq!(
        (s.guest_registered, s.guest_prepared, s.guest_direct_bytes),
        (run as u64, run as u64, 0),
        "registered, nothing moved"
    );
    c.prepare_guest(0, &parts).expect("prepare again");
    assert_eq!(c.shared_stats().guest_prepared, run as u64, "once");
    // The first copy finds the registration: the run goes by DMA alone.
    let data: Vec<u8> = (0..run + 4096).map(|i| (i * 7 + i / 4096) as u8).collect();
    fill_parts(&parts, &data);
    c.memcpy_htod_gather(0, 0, d, &parts, false).expect("up");
    let mut back = vec![0u8; run + 4096];
    c.memcpy_dtoh(0, 0, d, &mut back).expect("read back");
    assert!(back == data);
    let s = c.shared_stats();
    assert_eq!(
        (s.guest_direct_bytes, s.guest_registered),
        (run as u64, run as u64)
    );
    drop(c);
    drop(ram);
}
