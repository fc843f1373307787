//! Pinned host memory on the shared-memory transport end to end: the guest
//! library's transport allocates it (`Transport::host_alloc`), the server
//! maps it, and copies naming it by offset (`copy_flags::HOST_MEMORY`) move
//! between it and the simulator's device memory with no data on the way.

use std::sync::Arc;
use uapi::cmd::DeviceInfo;
use uapi::cuda::{copy_flags, op, CopyRequest, HandleResponse, MemAllocRequest, ResultHeader};
use uapi::status::Status;
use uapi::wire::Wire;
use vgpu_host::direct;
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::worker::Sessions;
use vgpu_transport::{Completion, Request, SocketClient, Transport};

fn server(name: &str) -> std::path::PathBuf {
    let path =
        std::env::temp_dir().join(format!("vgpu-host-mem-{}-{name}.sock", std::process::id()));
    let info = DeviceInfo {
        total_memory: 1 << 30,
        ..DeviceInfo::default()
    };
    let sessions = Sessions::Threads(Arc::new(SimExecutor::new(info)));
    direct::spawn(&path, true, sessions).expect("spawn");
    path
}

fn call(
    t: &mut dyn Transport,
    opcode: u16,
    body: &[u8],
    resp: &mut [u8],
    detached: bool,
) -> Option<Completion> {
    let tickets = t
        .submit(&[Request {
            opcode,
            body,
            resp_capacity: resp.len() as u32,
            detached,
        }])
        .expect("submit");
    tickets
        .first()
        .map(|&ticket| t.wait(ticket, resp).expect("wait"))
}

fn copy(dst: u64, src: u64, len: usize, flags: u32) -> CopyRequest {
    CopyRequest {
        dst,
        src,
        len: len as u64,
        flags,
        ..Default::default()
    }
}

fn result_of(c: Option<Completion>, resp: &[u8]) -> u32 {
    let c = c.expect("a call");
    assert_eq!(c.status, Status::Ok as u32);
    ResultHeader::read_from(resp).expect("header").result
}

/// Device memory of `len` bytes in the primary context; its address.
fn mem_alloc(t: &mut dyn Transport, len: usize) -> u64 {
    let mut resp = [0u8; 16];
    let alloc = MemAllocRequest {
        ctx: 0,
        size: len as u64,
    };
    call(t, op::MEM_ALLOC, alloc.as_bytes(), &mut resp, false);
    HandleResponse::read_from(&resp).expect("response").handle
}

#[test]
fn pinned_host_memory_moves_in_place_both_ways() {
    let path = server("both");
    let mut t = SocketClient::connect_best(&path).expect("connect");
    let len = 3 << 20;
    let up = t
        .host_alloc(len)
        .expect("the shm transport has host memory")
        .expect("alloc");
    let down = t.host_alloc(len).expect("has it").expect("alloc");
    assert!(up.len >= len && (up.ptr as usize).is_multiple_of(4096));
    assert_ne!(up.offset, down.offset);
    // SAFETY: the blocks are ours, mapped for `len` bytes, until host_free.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts_mut(up.ptr, len),
            std::slice::from_raw_parts_mut(down.ptr, len),
        )
    };
    for (i, b) in src.iter_mut().enumerate() {
        *b = (i * 13 + (i >> 10)) as u8;
    }
    let dptr = mem_alloc(t.as_mut(), len);
    // Up, asynchronous (detached, read in stream order), then down.
    let r = copy(
        dptr,
        up.offset,
        len,
        copy_flags::HOST_MEMORY | copy_flags::ASYNC,
    );
    assert!(call(t.as_mut(), op::MEMCPY_HTOD, r.as_bytes(), &mut [], true).is_none());
    let mut head = [0u8; 8];
    let r = copy(down.offset, dptr, len, copy_flags::HOST_MEMORY);
    let got = call(t.as_mut(), op::MEMCPY_DTOH, r.as_bytes(), &mut head, false);
    assert_eq!(result_of(got, &head), 0);
    assert!(src == dst, "pinned data differs after the round trip");
    // From inside a block, synchronously, to inside the other.
    let r = copy(dptr + 5, up.offset + 1000, 7000, copy_flags::HOST_MEMORY);
    let got = call(t.as_mut(), op::MEMCPY_HTOD, r.as_bytes(), &mut head, false);
    assert_eq!(result_of(got, &head), 0);
    dst.fill(0);
    let r = copy(down.offset + 77, dptr + 5, 7000, copy_flags::HOST_MEMORY);
    let got = call(t.as_mut(), op::MEMCPY_DTOH, r.as_bytes(), &mut head, false);
    assert_eq!(result_of(got, &head), 0);
    assert!(dst[77..7077] == src[1000..8000]);
    // Past a block's end, or in no block at all: refused by the server.
    for bad in [
        copy(
            dptr,
            up.offset + up.len as u64 - 10,
            20,
            copy_flags::HOST_MEMORY,
        ),
        copy(dptr, 1 << 40, 20, copy_flags::HOST_MEMORY),
    ] {
        let c = call(
            t.as_mut(),
            op::MEMCPY_HTOD,
            bad.as_bytes(),
            &mut head,
            false,
        );
        assert_eq!(c.map(|c| c.status), Some(Status::InvalidField as u32));
    }
    t.host_free(up).expect("free");
    // Freed: its range is no longer the server's.
    let r = copy(dptr, up.offset, 16, copy_flags::HOST_MEMORY);
    let c = call(t.as_mut(), op::MEMCPY_HTOD, r.as_bytes(), &mut head, false);
    assert_eq!(c.map(|c| c.status), Some(Status::InvalidField as u32));
    // The range is reused by the next allocation of its size.
    let again = t.host_alloc(len).expect("has it").expect("alloc");
    assert_eq!(again.offset, up.offset);
    t.host_free(again).expect("free");
    t.host_free(down).expect("free");
    let _ = std::fs::remove_file(&path);
}

fn stream_sync(t: &mut dyn Transport) -> u32 {
    let mut head = [0u8; 8];
    let r = uapi::cuda::StreamRequest { ctx: 0, stream: 0 };
    let got = call(t, op::STREAM_SYNCHRONIZE, r.as_bytes(), &mut head, false);
    result_of(got, &head)
}

#[test]
fn an_async_copy_down_into_host_memory_is_detached_and_stream_ordered() {
    let path = server("async-down");
    let mut t = SocketClient::connect_best(&path).expect("connect");
    let len = 1 << 20;
    let up = t.host_alloc(len).expect("has host memory").expect("alloc");
    let down = t.host_alloc(len).expect("has it").expect("alloc");
    // SAFETY: the blocks are ours, mapped for `len` bytes, until host_free.
    let (src, dst) = unsafe {
        (
            std::slice::from_raw_parts_mut(up.ptr, len),
            std::slice::from_raw_parts_mut(down.ptr, len),
        )
    };
    for (i, b) in src.iter_mut().enumerate() {
        *b = (i * 7 + (i >> 9)) as u8;
    }
    let dptr = mem_alloc(t.as_mut(), len);
    let async_host = copy_flags::HOST_MEMORY | copy_flags::ASYNC;
    // Up and down, both detached, then the stream's end.
    let r = copy(dptr, up.offset, len, async_host);
    assert!(call(t.as_mut(), op::MEMCPY_HTOD, r.as_bytes(), &mut [], true).is_none());
    let r = copy(down.offset, dptr, len, async_host);
    assert!(call(t.as_mut(), op::MEMCPY_DTOH, r.as_bytes(), &mut [], true).is_none());
    assert_eq!(stream_sync(t.as_mut()), 0);
    assert!(src == dst, "the detached copy down differs");
    // Asynchronous but with a response: allowed, answered at once.
    dst[..4096].fill(0);
    let mut head = [0u8; 8];
    let r = copy(down.offset, dptr, 4096, async_host);
    let got = call(t.as_mut(), op::MEMCPY_DTOH, r.as_bytes(), &mut head, false);
    assert_eq!(result_of(got, &head), 0);
    assert_eq!(stream_sync(t.as_mut()), 0);
    assert!(dst[..4096] == src[..4096]);
    // Refused detached copies: past the block's end, synchronous (a
    // detached DTOH must be asynchronous), or from past the device
    // allocation. Each one's error is owed to the next call, and nothing
    // is written.
    dst.fill(0xAA);
    let end = down.offset + down.len as u64;
    for bad in [
        copy(end - 10, dptr, 20, async_host),
        copy(down.offset, dptr, 64, copy_flags::HOST_MEMORY),
        copy(down.offset, dptr + len as u64 - 8, 64, async_host),
    ] {
        assert!(call(t.as_mut(), op::MEMCPY_DTOH, bad.as_bytes(), &mut [], true).is_none());
        assert_eq!(
            stream_sync(t.as_mut()),
            uapi::cuda::result::INVALID_VALUE,
            "{bad:?}"
        );
        assert_eq!(stream_sync(t.as_mut()), 0, "reported once");
        assert!(dst.iter().all(|&b| b == 0xAA), "written by {bad:?}");
    }
    t.host_free(up).expect("free");
    t.host_free(down).expect("free");
    let _ = std::fs::remove_file(&path);
}
