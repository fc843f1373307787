//! Direct-socket clients in worker processes: each connection is handed to
//! a process of its own, which ends when the client hangs up. Alone in its
//! test binary, because it finds the workers among this process's children.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use uapi::cmd::{DeviceInfo, Opcode};
use uapi::socket::{RequestFrame, ResponseFrame};
use uapi::status::Status;
use uapi::wire::Wire;
use vgpu_host::config::{Cli, Config};
use vgpu_host::worker::Sessions;

/// This process's children that run `vgpu-host worker`.
fn workers() -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Field 4 (after the parenthesised name) is the parent pid.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(me) && cmdline.split(|&b| b == 0).nth(1) == Some(b"worker".as_slice())
        })
        .collect()
}

fn device_info(stream: &mut UnixStream) -> DeviceInfo {
    let head = RequestFrame {
        opcode: Opcode::GetDeviceInfo as u16,
        resp_capacity: 4096,
        ..RequestFrame::default()
    };
    stream.write_all(head.as_bytes()).expect("send");
    let mut frame = ResponseFrame::default();
    stream.read_exact(frame.as_bytes_mut()).expect("response");
    assert_eq!(Status::from_u32(frame.status), Some(Status::Ok));
    let mut body = vec![0u8; frame.resp_len as usize];
    stream.read_exact(&mut body).expect("body");
    DeviceInfo::read_from(&body).expect("device info")
}

#[test]
fn each_connection_has_a_worker_that_ends_with_it() {
    let cli = <Cli as clap::Parser>::try_parse_from([
        "vgpu-host",
        "--direct-socket",
        "x",
        "--name",
        "Direct GPU",
    ])
    .expect("cli");
    let config = Config::load(&cli).expect("config");
    let path = std::env::temp_dir().join(format!("vgpu-worker-direct-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let launcher = common::worker_launcher(&config);
    vgpu_host::direct::spawn(&path, false, Sessions::Processes(Arc::new(launcher)))
        .expect("listen");

    let mut a = UnixStream::connect(&path).expect("connect a");
    let mut b = UnixStream::connect(&path).expect("connect b");
    let info = device_info(&mut a);
    assert_eq!(uapi::cmd::field_str(&info.name), Some("Direct GPU"));
    device_info(&mut b);
    let both = workers();
    assert_eq!(both.len(), 2, "one worker per connection: {both:?}");

    drop(a);
    let left = common::wait_for(|| {
        let now = workers();
        (now.len() == 1).then_some(now)
    });
    assert!(
        left.is_some(),
        "the closed connection's worker is still there"
    );
    device_info(&mut b);
    drop(b);
    assert!(common::wait_for(|| workers().is_empty().then_some(())).is_some());
    let _ = std::fs::remove_file(&path);
}
