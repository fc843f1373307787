//! Quotas with worker processes (issue 8 item 3): the per-VM memory
//! account lives in the device process and every worker asks it before it
//! allocates; a killed worker's memory returns to the VM; past the client
//! limit a connection is refused with `BUSY`. Alone in its test binary,
//! because it finds the workers among this process's children.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use uapi::cmd::{DeviceInfo, Opcode};
use uapi::cuda::{op, result, CtxRequest, HandleResponse, MemAllocRequest, MemInfoResponse};
use uapi::socket::{RequestFrame, ResponseFrame};
use uapi::status::Status;
use uapi::wire::Wire;
use vgpu_host::config::{Cli, Config};
use vgpu_host::worker::Sessions;

const LIMIT: u64 = 64 << 20;

/// One request, one response: its status and body.
fn call(stream: &mut UnixStream, opcode: u16, body: &[u8]) -> (u32, Vec<u8>) {
    let head = RequestFrame {
        opcode,
        req_len: body.len() as u32,
        resp_capacity: 4096,
        ..RequestFrame::default()
    };
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body).expect("send body");
    let mut frame = ResponseFrame::default();
    stream.read_exact(frame.as_bytes_mut()).expect("response");
    let mut out = vec![0u8; frame.resp_len as usize];
    stream.read_exact(&mut out).expect("body");
    (frame.status, out)
}

fn total_memory(stream: &mut UnixStream) -> u64 {
    let (status, body) = call(stream, Opcode::GetDeviceInfo as u16, &[]);
    assert_eq!(status, Status::Ok as u32);
    DeviceInfo::read_from(&body).expect("info").total_memory
}

fn alloc(stream: &mut UnixStream, size: u64) -> u32 {
    let (_, body) = call(
        stream,
        op::MEM_ALLOC,
        MemAllocRequest { ctx: 0, size }.as_bytes(),
    );
    HandleResponse::read_from(&body).expect("handle").result
}

fn mem_info(stream: &mut UnixStream) -> (u64, u64) {
    let (_, body) = call(stream, op::MEM_GET_INFO, CtxRequest { ctx: 0 }.as_bytes());
    let r = MemInfoResponse::read_from(&body).expect("mem info");
    assert_eq!(r.result, result::SUCCESS);
    (r.free, r.total)
}

/// This process's children that run `vgpu-host worker`.
fn workers() -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(me) && cmdline.split(|&b| b == 0).nth(1) == Some(b"worker".as_slice())
        })
        .collect()
}

#[test]
fn workers_share_the_vms_memory_quota_and_a_killed_ones_memory_returns() {
    let cli = <Cli as clap::Parser>::try_parse_from([
        "vgpu-host",
        "--direct-socket",
        "x",
        "--vm-memory-limit",
        &LIMIT.to_string(),
        "--max-clients",
        "2",
    ])
    .expect("cli");
    let config = Config::load(&cli).expect("config");
    let path = std::env::temp_dir().join(format!("vgpu-worker-quota-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let launcher = common::worker_launcher(&config);
    vgpu_host::direct::spawn_with_quotas(
        &path,
        false,
        Sessions::Processes(Arc::new(launcher)),
        &config.direct_access,
        config.quotas,
    )
    .expect("listen");

    let mut a = UnixStream::connect(&path).expect("connect a");
    assert_eq!(total_memory(&mut a), LIMIT);
    let a_worker = workers();
    assert_eq!(a_worker.len(), 1);
    let mut b = UnixStream::connect(&path).expect("connect b");
    assert_eq!(total_memory(&mut b), LIMIT);
    assert_eq!(mem_info(&mut b), (LIMIT, LIMIT));

    // The third client is refused, clearly.
    let mut c = UnixStream::connect(&path).expect("connect c");
    let (status, _) = call(&mut c, Opcode::GetDeviceInfo as u16, &[]);
    assert_eq!(Status::from_u32(status), Some(Status::Busy));

    // Two workers, one account.
    assert_eq!(alloc(&mut a, LIMIT / 4 * 3), result::SUCCESS);
    assert_eq!(mem_info(&mut b), (LIMIT / 4, LIMIT));
    assert_eq!(alloc(&mut b, LIMIT / 2), result::OUT_OF_MEMORY);
    assert_eq!(alloc(&mut b, LIMIT / 8), result::SUCCESS);

    // SIGKILL of a's worker: what it held returns once it is reaped.
    // SAFETY: a signal to a child of this test that we just found.
    unsafe { libc::kill(a_worker[0] as libc::pid_t, libc::SIGKILL) };
    let back = common::wait_for(|| (alloc(&mut b, LIMIT / 2) == result::SUCCESS).then_some(()));
    assert!(back.is_some(), "the killed worker's memory never returned");
    assert_eq!(mem_info(&mut b), (LIMIT - LIMIT / 8 - LIMIT / 2, LIMIT));
    drop(a);
    // Its place is free again too.
    let seat = common::wait_for(|| {
        let mut d = UnixStream::connect(&path).ok()?;
        let (status, _) = call(&mut d, Opcode::GetDeviceInfo as u16, &[]);
        (status == Status::Ok as u32).then_some(())
    });
    assert!(seat.is_some(), "the killed client's place was not freed");
    drop(b);
    let _ = std::fs::remove_file(&path);
}
