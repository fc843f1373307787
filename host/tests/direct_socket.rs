//! Who may connect to the direct socket (review finding M1): the socket is
//! created 0600 (0660 with a configured group), and a peer's credentials
//! (SO_PEERCRED) must be vgpu-host's own uid or ones the configuration
//! allows.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use uapi::cmd::{DeviceInfo, Opcode};
use uapi::socket::{RequestFrame, ResponseFrame};
use uapi::wire::Wire;
use vgpu_host::direct::{self, DirectAccess};
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::worker::Sessions;

fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("vgpu-direct-{}-{name}.sock", std::process::id()))
}

/// Clients served by threads of this process (the socket's checks are the
/// same in process-per-client mode; they run before a worker starts).
fn executor() -> Sessions {
    Sessions::Threads(Arc::new(SimExecutor::new(DeviceInfo::default())))
}

/// One GET_DEVICE_INFO round trip; the status of its response frame.
fn ask(path: &std::path::Path) -> std::io::Result<u32> {
    let mut s = UnixStream::connect(path)?;
    let frame = RequestFrame {
        opcode: Opcode::GetDeviceInfo as u16,
        resp_capacity: 4096,
        ..Default::default()
    };
    s.write_all(frame.as_bytes())?;
    let mut head = ResponseFrame::default();
    s.read_exact(head.as_bytes_mut())?;
    Ok(head.status)
}

#[test]
fn the_socket_is_private_to_vgpu_hosts_user_by_default() {
    let path = socket_path("private");
    direct::spawn(&path, true, executor()).expect("spawn");
    let mode = std::fs::metadata(&path)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    // vgpu-host's own user is served.
    assert_eq!(ask(&path).expect("round trip"), 0);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_configured_group_gets_the_socket_0660() {
    let path = socket_path("group");
    // SAFETY: getegid has no preconditions.
    let gid = unsafe { libc::getegid() };
    let access = DirectAccess {
        group: Some(gid),
        ..Default::default()
    };
    direct::spawn_with(&path, true, executor(), &access).expect("spawn");
    let meta = std::fs::metadata(&path).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), gid);
    assert_eq!(ask(&path).expect("round trip"), 0);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn peers_are_admitted_by_uid_and_gid() {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let other = if me == 4242 { 4343 } else { 4242 };
    let closed = DirectAccess::default();
    assert!(closed.admits(me, 12345));
    assert!(!closed.admits(other, 12345));
    let open = DirectAccess {
        group: Some(777),
        uids: vec![other],
        gids: vec![555],
    };
    assert!(open.admits(other, 1));
    assert!(open.admits(other + 1, 555));
    assert!(open.admits(other + 1, 777));
    assert!(!open.admits(other + 1, 556));
}
