//! Raw vfio-user bytes over the socket: what QEMU never sends, and what a
//! process that is not QEMU might (review M2).

use super::{ok, socket_path, start_server, start_server_with};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use std::ffi::CString;
use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::time::Duration;
use vgpu_host::guest_memory::memfd;
use vgpu_host::vfio::wire::{
    command, command_message, flags, Errno, Header, Payload, HEADER_SIZE, MAX_BODY,
};
use vgpu_host::vfio::SocketAccess;

/// QEMU 10.x's VERSION data.
const QEMU_CAPS: &str = "{\"capabilities\": {\"migration\": {\"pgsize\": 4096, \
     \"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, \"max_data_xfer_size\": 1048576, \
     \"pgsizes\": 4096, \"max_dma_maps\": 65535, \"write_multiple\": true}}";

/// The user tests switch to.
const NOBODY: u32 = 65534;

struct Peer(UnixStream);

impl Peer {
    fn connect(path: &std::path::Path) -> Self {
        let stream = ok(UnixStream::connect(path), "connect");
        ok(
            stream.set_read_timeout(Some(Duration::from_secs(10))),
            "timeout",
        );
        Self(stream)
    }

    fn send(&mut self, bytes: &[u8]) {
        ok(self.0.write_all(bytes), "send");
    }

    fn reply(&mut self) -> (Header, Vec<u8>) {
        let mut head = [0u8; HEADER_SIZE];
        ok(self.0.read_exact(&mut head), "reply header");
        let header = Header::parse(&head);
        let mut payload = vec![0u8; header.size as usize - HEADER_SIZE];
        ok(self.0.read_exact(&mut payload), "reply payload");
        (header, payload)
    }

    fn expect_ok(&mut self, id: u16) -> Vec<u8> {
        let (h, payload) = self.reply();
        assert_eq!((h.id, h.flags, h.error), (id, flags::REPLY, 0), "{h:?}");
        payload
    }

    fn expect_error(&mut self, id: u16, errno: Errno) {
        let (h, payload) = self.reply();
        assert_eq!(h.id, id, "{h:?}");
        assert_eq!(h.flags, flags::REPLY | flags::ERROR, "{h:?}");
        assert_eq!(h.error, errno.0, "{h:?}");
        assert!(payload.is_empty());
    }

    fn version(&mut self) {
        let mut body = Payload::default()
            .u16(0)
            .u16(0)
            .bytes(QEMU_CAPS.as_bytes())
            .0;
        body.push(0);
        self.send(&command_message(1, command::VERSION, 0, &body));
        let payload = self.expect_ok(1);
        assert_eq!(&payload[..4], &[0, 0, 0, 0]);
    }
}

fn read(id: u16, region: u32, offset: u64, count: u32) -> Vec<u8> {
    let body = Payload::default().u64(offset).u32(region).u32(count).0;
    command_message(id, command::REGION_READ, 0, &body)
}

fn write(id: u16, region: u32, offset: u64, data: &[u8]) -> Vec<u8> {
    let body = Payload::default()
        .u64(offset)
        .u32(region)
        .u32(data.len() as u32)
        .bytes(data)
        .0;
    command_message(id, command::REGION_WRITE, 0, &body)
}

const CONFIG: u32 = 7;
const BAR0: u32 = 0;

#[test]
fn malformed_and_unknown_messages_are_answered_and_the_stream_stays_in_step() {
    let path = socket_path("raw-framing");
    start_server(&path);
    let mut peer = Peer::connect(&path);
    peer.version();
    let vendor = u32::from(uapi::pci::VENDOR_ID) | u32::from(uapi::pci::DEVICE_ID) << 16;

    // An unknown command whose body looks like a message.
    peer.send(&command_message(2, 99, 0, &read(77, BAR0, 0, 4)));
    peer.send(&read(3, CONFIG, 0, 4));
    peer.expect_error(2, Errno::ENOSYS);
    let data = peer.expect_ok(3);
    assert_eq!(&data[16..], &vendor.to_ne_bytes());

    // A write to a missing region, its data a message too.
    peer.send(&write(4, 9, 0, &read(78, BAR0, 0, 4)));
    peer.send(&read(5, BAR0, u64::from(uapi::regs::MAGIC), 4));
    peer.expect_error(4, Errno::EINVAL);
    let data = peer.expect_ok(5);
    assert_eq!(&data[16..], &uapi::regs::MAGIC_VALUE.to_ne_bytes());

    // VERSION with data that is not NUL-terminated JSON, or too short.
    for body in [&b"\0\0\0\0{\"capabilities\":"[..], b"\0\0\0\0{}", b"\0"] {
        peer.send(&command_message(6, command::VERSION, 0, body));
        peer.expect_error(6, Errno::EINVAL);
    }

    // A 4 GiB read, and a message over the size we keep, drained.
    peer.send(&read(7, BAR0, 0, u32::MAX));
    peer.expect_error(7, Errno::E2BIG);
    let big = vec![0u8; MAX_BODY + 1];
    peer.send(&command_message(8, command::REGION_WRITE, 0, &big));
    peer.send(&read(9, CONFIG, 0, 4));
    peer.expect_error(8, Errno::E2BIG);
    let data = peer.expect_ok(9);
    assert_eq!(&data[16..], &vendor.to_ne_bytes());

    // A header whose size is below its own: the connection ends, and the
    // server takes the next one.
    let mut bad = read(10, CONFIG, 0, 4);
    bad[4..8].copy_from_slice(&4u32.to_ne_bytes());
    peer.send(&bad);
    // Closed with the rest of the message unread: EOF or a reset.
    let mut rest = Vec::new();
    match peer.0.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "no reply to an untrustworthy header"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    let mut next = Peer::connect(&path);
    next.version();
    next.send(&read(2, CONFIG, 0, 4));
    next.expect_ok(2);
}

/// A DMA_MAP of `size` bytes of `file` at `gpa`, the file sent along.
fn send_map(peer: &Peer, id: u16, gpa: u64, size: u64, file: RawFd) {
    let body = Payload::default()
        .u32(32)
        .u32(3)
        .u64(0)
        .u64(gpa)
        .u64(size)
        .0;
    let message = command_message(id, command::DMA_MAP, 0, &body);
    let fds = [file];
    let sent = sendmsg::<UnixAddr>(
        peer.0.as_raw_fd(),
        &[IoSlice::new(&message)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    );
    assert_eq!(ok(sent, "sendmsg"), message.len());
}

#[test]
fn a_dma_map_the_device_refuses_is_an_error_with_its_errno() {
    // The crate sent error 0 for every backend error: QEMU read success.
    let path = socket_path("raw-dma");
    start_server(&path);
    let mut peer = Peer::connect(&path);
    peer.version();
    let short = ok(memfd("short", 4096), "memfd");
    send_map(&peer, 2, 0x10_0000, 1 << 30, short.as_raw_fd());
    peer.expect_error(2, Errno::EINVAL);
    let ram = ok(memfd("ram", 1 << 20), "memfd");
    send_map(&peer, 3, 0x10_0000, 1 << 20, ram.as_raw_fd());
    peer.expect_ok(3);
}

#[test]
fn the_socket_is_private_to_its_user() {
    let path = socket_path("raw-mode");
    start_server(&path);
    let meta = ok(std::fs::metadata(&path), "stat");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
}

/// Runs a VERSION exchange on `path` as user `uid` in a child process:
/// 0 if it was answered, 3 if the server closed without answering, 2 if
/// the connection itself failed, 1 if the switch of user failed.
fn version_as(uid: u32, path: &std::path::Path) -> i32 {
    // Everything the child needs is made before fork: after it, only
    // async-signal-safe calls.
    let c_path = ok(CString::new(path.as_os_str().as_encoded_bytes()), "path");
    let mut addr: libc::sockaddr_un = unsafe_zeroed_sockaddr();
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, &src) in addr.sun_path.iter_mut().zip(c_path.as_bytes_with_nul()) {
        *dst = src as libc::c_char;
    }
    let mut body = Payload::default().u16(0).u16(0).bytes(b"{}").0;
    body.push(0);
    let request = command_message(1, command::VERSION, 0, &body);
    // SAFETY: fork in a test process; the child only makes the raw,
    // async-signal-safe calls below on memory prepared before the fork,
    // and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: see above; every pointer is to memory of this frame.
        unsafe {
            let code = (|| {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(uid) != 0
                    || libc::setuid(uid) != 0
                {
                    return 1;
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                if fd < 0 || libc::connect(fd, (&raw const addr).cast(), len) != 0 {
                    return 2;
                }
                if libc::write(fd, request.as_ptr().cast(), request.len()) != request.len() as isize
                {
                    return 3;
                }
                let mut head = [0u8; HEADER_SIZE];
                let mut got = 0;
                while got < HEADER_SIZE {
                    let n = libc::read(fd, head.as_mut_ptr().add(got).cast(), HEADER_SIZE - got);
                    if n <= 0 {
                        return 3;
                    }
                    got += n as usize;
                }
                0
            })();
            libc::_exit(code);
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "child status {status:#x}");
    libc::WEXITSTATUS(status)
}

fn unsafe_zeroed_sockaddr() -> libc::sockaddr_un {
    // SAFETY: sockaddr_un is plain integers and bytes; all zeros is valid.
    unsafe { std::mem::zeroed() }
}

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!(
        "skipped: switching to another user needs root (this test runs as uid {})",
        nix::unistd::geteuid()
    );
    false
}

#[test]
fn a_peer_of_another_user_is_refused_and_the_next_one_served() {
    if !is_root() {
        return;
    }
    let path = socket_path("raw-peer");
    start_server(&path);
    // Open the file to everyone: the credential check must refuse alone.
    ok(
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)),
        "chmod",
    );
    // The test's temporary directory must let the other user reach it.
    let dir_mode = ok(std::fs::metadata(std::env::temp_dir()), "stat tmp").mode();
    assert_ne!(
        dir_mode & 0o001,
        0,
        "the temporary directory is not searchable by others"
    );
    assert_eq!(version_as(NOBODY, &path), 3, "nobody was answered");
    let mut peer = Peer::connect(&path);
    peer.version();
}

#[test]
fn the_configured_owner_is_given_the_socket_and_admitted() {
    if !is_root() {
        return;
    }
    let path = socket_path("raw-owner");
    start_server_with(
        &path,
        SocketAccess {
            owner: Some(NOBODY),
        },
    );
    let meta = ok(std::fs::metadata(&path), "stat");
    assert_eq!(meta.uid(), NOBODY);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(version_as(NOBODY, &path), 0, "the owner was refused");
    // Another user (not root, not the owner) is kept out by the file.
    assert_eq!(version_as(NOBODY - 1, &path), 2);
}
