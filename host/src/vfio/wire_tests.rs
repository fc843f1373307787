//! The message parser on its own: headers, framing, and each request's
//! checks (review M2: the crate's framing and parsing failures).

use super::*;

/// QEMU 10.x's VERSION data (`caps_json()` in `hw/vfio-user/proxy.c`).
const QEMU_CAPS: &str = "{\"capabilities\": {\"migration\": {\"pgsize\": 4096, \
     \"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, \"max_data_xfer_size\": 1048576, \
     \"pgsizes\": 4096, \"max_dma_maps\": 65535, \"write_multiple\": true}}";

fn version_body(json: &[u8]) -> Vec<u8> {
    Payload::default().u16(0).u16(0).bytes(json).0
}

fn refused(result: Result<Request<'_>, Refusal>) -> Errno {
    match result {
        Ok(request) => panic!("accepted: {request:?}"),
        Err(refusal) => refusal.errno,
    }
}

fn access(offset: u64, region: u32, count: u32) -> Payload {
    Payload::default().u64(offset).u32(region).u32(count)
}

#[test]
fn a_header_reads_back_as_written() {
    let header = Header {
        id: 0x1234,
        command: command::REGION_WRITE,
        size: 36,
        flags: flags::NO_REPLY,
        error: 7,
    };
    assert_eq!(Header::parse(&header.encode()), header);
    assert!(header.no_reply());
    assert_eq!(header.kind(), flags::COMMAND);
}

#[test]
fn message_sizes_below_the_header_or_past_the_hard_cap_end_the_connection() {
    let with_size = |size| Header {
        size,
        ..Header::default()
    };
    for size in [0, 1, 15] {
        assert_eq!(
            framing(&with_size(size)),
            Framing::Abort(AbortReason::Undersized(size))
        );
    }
    assert_eq!(framing(&with_size(16)), Framing::Read(0));
    let largest_read = (HEADER_SIZE + MAX_BODY) as u32;
    assert_eq!(framing(&with_size(largest_read)), Framing::Read(MAX_BODY));
    assert_eq!(
        framing(&with_size(largest_read + 1)),
        Framing::Drain(MAX_BODY as u64 + 1)
    );
    assert_eq!(
        framing(&with_size(MAX_DRAINED as u32)),
        Framing::Drain(MAX_DRAINED - HEADER_SIZE as u64)
    );
    for size in [MAX_DRAINED as u32 + 1, u32::MAX] {
        assert_eq!(
            framing(&with_size(size)),
            Framing::Abort(AbortReason::Oversized(size))
        );
    }
}

#[test]
fn qemus_version_is_accepted_with_its_capabilities() {
    let mut json = QEMU_CAPS.as_bytes().to_vec();
    json.push(0);
    let body = version_body(&json);
    let request = parse_request(command::VERSION, &body, 0).expect("accepted");
    assert_eq!(
        request,
        Request::Version {
            major: 0,
            minor: 0,
            caps: PeerCaps {
                max_msg_fds: 16,
                max_data_xfer_size: 1 << 20
            }
        }
    );
    // Without version data the defaults apply.
    let empty = version_body(b"");
    let request = parse_request(command::VERSION, &empty, 0).expect("accepted");
    assert!(matches!(request, Request::Version { caps, .. } if caps == PeerCaps::default()));
}

#[test]
fn a_short_or_garbled_version_is_refused_not_a_panic() {
    // The crate underflowed on a body shorter than major + minor and
    // unwrapped the NUL check.
    for body in [&b""[..], b"\x00", b"\x00\x00\x01"] {
        assert_eq!(
            refused(parse_request(command::VERSION, body, 0)),
            Errno::EINVAL
        );
    }
    let cases: [&[u8]; 7] = [
        b"{\"capabilities\":{}}",                           // no NUL
        b"{\"capabilities\":{}}\0\0",                       // NUL inside
        b"{\"capa\0bilities\":{}}\0",                       // NUL inside
        b"not json\0",                                      // garbage
        b"\xff\xfe\0",                                      // not UTF-8
        b"[1, 2]\0",                                        // not an object
        b"{\"capabilities\":{\"max_msg_fds\":\"many\"}}\0", // not a number
    ];
    for json in cases {
        let body = version_body(json);
        assert_eq!(
            refused(parse_request(command::VERSION, &body, 0)),
            Errno::EINVAL,
            "{:?}",
            String::from_utf8_lossy(json)
        );
    }
    let huge = version_body(&vec![b' '; MAX_VERSION_DATA + 1]);
    assert_eq!(
        refused(parse_request(command::VERSION, &huge, 0)),
        Errno::E2BIG
    );
}

#[test]
fn a_region_read_past_the_transfer_limit_is_refused_before_anything_is_allocated() {
    // The crate allocated `vec![0; count]` for any u32 count.
    let body = access(0, 0, u32::MAX).0;
    assert_eq!(
        refused(parse_request(command::REGION_READ, &body, 0)),
        Errno::E2BIG
    );
    let body = access(0, 0, MAX_DATA_XFER + 1).0;
    assert_eq!(
        refused(parse_request(command::REGION_READ, &body, 0)),
        Errno::E2BIG
    );
    let body = access(8, 7, MAX_DATA_XFER).0;
    assert_eq!(
        parse_request(command::REGION_READ, &body, 0),
        Ok(Request::RegionRead {
            region: 7,
            offset: 8,
            count: MAX_DATA_XFER
        })
    );
    // The body is exactly offset, region, count.
    let long = access(0, 0, 4).u32(0).0;
    assert_eq!(
        refused(parse_request(command::REGION_READ, &long, 0)),
        Errno::EINVAL
    );
}

#[test]
fn a_region_write_must_carry_exactly_its_count() {
    let ok = access(0x10, 0, 4).bytes(&[1, 2, 3, 4]).0;
    assert_eq!(
        parse_request(command::REGION_WRITE, &ok, 0),
        Ok(Request::RegionWrite {
            region: 0,
            offset: 0x10,
            data: &[1, 2, 3, 4]
        })
    );
    for body in [
        access(0x10, 0, 4).bytes(&[1, 2, 3]).0,
        access(0x10, 0, 4).bytes(&[1, 2, 3, 4, 5]).0,
        access(0x10, 0, 0).0[..12].to_vec(),
    ] {
        assert_eq!(
            refused(parse_request(command::REGION_WRITE, &body, 0)),
            Errno::EINVAL
        );
    }
    let huge = access(0, 0, MAX_DATA_XFER + 1).0;
    assert_eq!(
        refused(parse_request(command::REGION_WRITE, &huge, 0)),
        Errno::E2BIG
    );
}

#[test]
fn unknown_and_unsupported_commands_get_their_own_errnos() {
    for cmd in [0, 19, 0x7fff, u16::MAX] {
        assert_eq!(refused(parse_request(cmd, &[], 0)), Errno::ENOSYS, "{cmd}");
    }
    for cmd in [
        command::DEVICE_GET_REGION_IO_FDS,
        command::DIRTY_PAGES,
        command::REGION_WRITE_MULTI,
        command::DEVICE_FEATURE,
        command::MIG_DATA_READ,
        command::MIG_DATA_WRITE,
    ] {
        assert_eq!(
            refused(parse_request(cmd, &[0; 16], 0)),
            Errno::ENOTSUP,
            "{cmd}"
        );
    }
    for cmd in [command::DMA_READ, command::DMA_WRITE] {
        assert_eq!(
            refused(parse_request(cmd, &[0; 16], 0)),
            Errno::EINVAL,
            "{cmd}"
        );
    }
}

#[test]
fn descriptors_are_accepted_only_where_a_command_takes_them() {
    let reset = parse_request(command::DEVICE_RESET, &[], 1);
    assert_eq!(refused(reset), Errno::EINVAL);
    let read = access(0, 0, 4).0;
    assert_eq!(
        refused(parse_request(command::REGION_READ, &read, 2)),
        Errno::EINVAL
    );
    let map = Payload::default()
        .u32(32)
        .u32(3)
        .u64(0)
        .u64(0x1000)
        .u64(0x1000)
        .0;
    assert!(parse_request(command::DMA_MAP, &map, 1).is_ok());
    assert!(parse_request(command::DMA_MAP, &map, 0).is_ok());
    assert_eq!(
        refused(parse_request(command::DMA_MAP, &map, 2)),
        Errno::EINVAL
    );
    let set = |flags: u32, count: u32| {
        Payload::default()
            .u32(20)
            .u32(flags)
            .u32(1)
            .u32(0)
            .u32(count)
            .0
    };
    let eventfd_trigger = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    assert!(parse_request(command::DEVICE_SET_IRQS, &set(eventfd_trigger, 2), 2).is_ok());
    // Fewer eventfds than vectors de-assigns the rest; more is an error.
    assert!(parse_request(command::DEVICE_SET_IRQS, &set(eventfd_trigger, 2), 0).is_ok());
    let two = set(eventfd_trigger, 2);
    assert_eq!(
        refused(parse_request(command::DEVICE_SET_IRQS, &two, 3)),
        Errno::EINVAL
    );
    let none_trigger = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
    let one = set(none_trigger, 1);
    assert_eq!(
        refused(parse_request(command::DEVICE_SET_IRQS, &one, 1)),
        Errno::EINVAL
    );
}

#[test]
fn set_irqs_needs_one_data_type_one_action_and_its_bool_bytes() {
    let set = |flags: u32, start: u32, count: u32, data: &[u8]| {
        Payload::default()
            .u32(20)
            .u32(flags)
            .u32(1)
            .u32(start)
            .u32(count)
            .bytes(data)
            .0
    };
    let disable = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
    assert_eq!(
        parse_request(command::DEVICE_SET_IRQS, &set(disable, 0, 0, &[]), 0),
        Ok(Request::SetIrqs {
            flags: disable,
            index: 1,
            start: 0,
            count: 0
        })
    );
    let bool_unmask = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK;
    assert!(parse_request(
        command::DEVICE_SET_IRQS,
        &set(bool_unmask, 0, 2, &[1, 0]),
        0
    )
    .is_ok());
    for body in [
        // DATA_BOOL without its bytes (the crate returned before reading
        // them and lost step), or with too many.
        set(bool_unmask, 0, 2, &[]),
        set(bool_unmask, 0, 2, &[1, 0, 1]),
        // Bytes without DATA_BOOL.
        set(disable, 0, 1, &[1]),
        // Two data types, two actions, none, unknown bits.
        set(
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK,
            0,
            1,
            &[1],
        ),
        set(
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK,
            0,
            1,
            &[],
        ),
        set(VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &[]),
        set(disable | 1 << 6, 0, 1, &[]),
        // Nothing from a start past 0.
        set(disable, 3, 0, &[]),
        // Truncated fixed part.
        Payload::default().u32(20).u32(disable).0,
    ] {
        assert_eq!(
            refused(parse_request(command::DEVICE_SET_IRQS, &body, 0)),
            Errno::EINVAL,
            "{body:?}"
        );
    }
}

#[test]
fn dma_requests_check_their_flags_and_ranges() {
    let map = |flags: u32, address: u64, size: u64| {
        Payload::default()
            .u32(32)
            .u32(flags)
            .u64(0)
            .u64(address)
            .u64(size)
            .0
    };
    assert_eq!(
        parse_request(command::DMA_MAP, &map(3, 0x1000, 0x2000), 1),
        Ok(Request::DmaMap {
            flags: 3,
            offset: 0,
            address: 0x1000,
            size: 0x2000
        })
    );
    for body in [
        map(3, 0x1000, 0),
        map(3, u64::MAX - 0xfff, 0x2000),
        map(4, 0x1000, 0x1000),
        map(3, 0x1000, 0x1000)[..24].to_vec(),
    ] {
        assert_eq!(
            refused(parse_request(command::DMA_MAP, &body, 1)),
            Errno::EINVAL
        );
    }
    let unmap = |flags: u32| Payload::default().u32(24).u32(flags).u64(0).u64(0x1000).0;
    assert!(parse_request(command::DMA_UNMAP, &unmap(0), 0).is_ok());
    assert!(parse_request(command::DMA_UNMAP, &unmap(VFIO_DMA_UNMAP_FLAG_ALL), 0).is_ok());
    let dirty = unmap(VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP);
    assert_eq!(
        refused(parse_request(command::DMA_UNMAP, &dirty, 0)),
        Errno::ENOTSUP
    );
    assert_eq!(
        refused(parse_request(command::DMA_UNMAP, &unmap(4), 0)),
        Errno::EINVAL
    );
}

#[test]
fn queries_check_their_size_and_argsz() {
    let info = |argsz: u32| Payload::default().u32(argsz).u32(0).u32(0).u32(0).0;
    assert_eq!(
        parse_request(command::DEVICE_GET_INFO, &info(16), 0),
        Ok(Request::DeviceGetInfo)
    );
    assert_eq!(
        refused(parse_request(command::DEVICE_GET_INFO, &info(8), 0)),
        Errno::EINVAL
    );
    assert_eq!(
        refused(parse_request(command::DEVICE_GET_INFO, &info(16)[..12], 0)),
        Errno::EINVAL
    );
    let region = Payload::default()
        .u32(32)
        .u32(0)
        .u32(7)
        .u32(0)
        .u64(0)
        .u64(0)
        .0;
    assert_eq!(
        parse_request(command::DEVICE_GET_REGION_INFO, &region, 0),
        Ok(Request::GetRegionInfo { index: 7 })
    );
    assert_eq!(
        parse_request(command::DEVICE_GET_IRQ_INFO, &info(16), 0),
        Ok(Request::GetIrqInfo { index: 0 })
    );
    assert_eq!(
        refused(parse_request(command::DEVICE_RESET, &[0], 0)),
        Errno::EINVAL
    );
}

#[test]
fn an_error_reply_carries_the_request_id_the_error_flag_and_a_nonzero_errno() {
    let request = Header {
        id: 0xbeef,
        command: command::DMA_MAP,
        size: 48,
        flags: 0,
        error: 0,
    };
    for errno in [Errno::EINVAL, Errno::E2BIG, Errno::ENOSYS, Errno::ENOTSUP] {
        let bytes = error_reply(&request, errno);
        let reply = Header::parse(bytes[..].try_into().expect("a header"));
        assert_eq!(reply.id, 0xbeef);
        assert_eq!(reply.command, command::DMA_MAP);
        assert_eq!(reply.size, HEADER_SIZE as u32);
        assert_eq!(reply.kind(), flags::REPLY);
        assert_ne!(reply.flags & flags::ERROR, 0);
        assert_ne!(reply.error, 0);
        assert_eq!(reply.error, errno.0);
    }
}

#[test]
fn our_version_offers_what_we_support_and_no_migration() {
    let payload = version_payload();
    assert_eq!(&payload[..4], &[0, 0, 0, 0]);
    let Some((&0, text)) = payload[4..].split_last() else {
        panic!("not NUL-terminated");
    };
    let json: serde_json::Value = serde_json::from_slice(text).expect("JSON");
    let caps = &json["capabilities"];
    assert_eq!(caps["max_msg_fds"], MAX_MSG_FDS as u64);
    assert_eq!(caps["max_data_xfer_size"], u64::from(MAX_DATA_XFER));
    assert_eq!(caps["max_dma_maps"], MAX_DMA_MAPS as u64);
    assert!(caps.get("migration").is_none());
    assert!(caps.get("write_multiple").is_none());
    assert!(caps.get("twin_socket").is_none());
    // QEMU takes a reply no larger than its request.
    assert!(payload.len() < QEMU_CAPS.len() + 5);
    // Our own parser accepts it too.
    assert!(parse_request(command::VERSION, &payload, 0).is_ok());
}
