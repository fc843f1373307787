//! The direct socket's shared-memory transport end to end: the guest
//! library's client against `direct::spawn` (clients served by threads),
//! and a hand-written hostile client against the same server.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uapi::cmd::{DeviceInfo, Opcode};
use uapi::shm::{header, ShmCompletion, ShmDescriptor, ShmLayout, ShmSetup};
use uapi::socket::{frame_flags, RequestFrame, ResponseFrame};
use uapi::status::Status;
use uapi::wire::Wire;
use vgpu_host::direct;
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::worker::Sessions;
use vgpu_transport::{DataRequest, Request, SocketClient, Transport};
use vmm_sys_util::sock_ctrl_msg::ScmSocket;

fn server(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("vgpu-shm-{}-{name}.sock", std::process::id()));
    let sessions = Sessions::Threads(Arc::new(SimExecutor::new(DeviceInfo::default())));
    direct::spawn(&path, true, sessions).expect("spawn");
    path
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn echo(t: &mut dyn Transport, body: &[u8]) -> Vec<u8> {
    let tickets = t
        .submit(&[Request {
            opcode: Opcode::Echo as u16,
            body,
            resp_capacity: body.len() as u32,
            detached: false,
        }])
        .expect("submit");
    let mut resp = vec![0u8; body.len()];
    let c = t.wait(tickets[0], &mut resp).expect("wait");
    assert_eq!(c.status, Status::Ok as u32);
    resp.truncate(c.resp_len as usize);
    resp
}

#[test]
fn commands_wrap_the_ring_and_the_arena_intact() {
    let path = server("wrap");
    let mut t = SocketClient::connect_best(&path).expect("connect");
    let info = t.describe().expect("describe");
    assert_eq!(info.max_payload, uapi::socket::MAX_FRAME_PAYLOAD);
    assert!(
        t.data_path().is_some(),
        "the shared-memory transport has a data path"
    );
    // Far more commands than ring entries, sizes that make the arena wrap.
    for i in 0..3000usize {
        let len = [1, 100, 4096, 70_000, 1 << 20][i % 5] + i;
        let body = pattern(len, i as u8);
        assert_eq!(echo(t.as_mut(), &body), body, "echo {i} of {len} bytes");
    }
    // The largest command there is.
    let big = pattern(uapi::socket::MAX_FRAME_PAYLOAD as usize, 7);
    assert_eq!(echo(t.as_mut(), &big), big);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn many_in_flight_detached_and_out_of_order() {
    let path = server("inflight");
    let mut t = SocketClient::connect_best(&path).expect("connect");
    // 2000 detached commands then calls: the client must make room itself.
    let small = pattern(64, 1);
    let reqs: Vec<Request<'_>> = (0..2000)
        .map(|_| Request {
            opcode: Opcode::Echo as u16,
            body: &small,
            resp_capacity: 0,
            detached: true,
        })
        .collect();
    for chunk in reqs.chunks(uapi::ioctl::MAX_BATCH as usize) {
        assert!(t.submit(chunk).expect("submit").is_empty());
    }
    // Ten calls of 16 MiB (more than the arena holds at once), waited for
    // backwards: the early ones are kept while making room.
    let bodies: Vec<Vec<u8>> = (0..10).map(|i| pattern(16 << 20, i)).collect();
    let mut tickets = Vec::new();
    for b in &bodies {
        let r = Request {
            opcode: Opcode::Echo as u16,
            body: b,
            resp_capacity: b.len() as u32,
            detached: false,
        };
        tickets.extend(t.submit(&[r]).expect("submit"));
    }
    for (ticket, body) in tickets.iter().zip(&bodies).rev() {
        let mut resp = vec![0u8; body.len()];
        t.wait(*ticket, &mut resp).expect("wait");
        assert!(resp == *body, "ticket {ticket}");
    }
    assert!(
        t.wait(tickets[0], &mut []).is_err(),
        "a ticket is waited for once"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn data_by_pointer_lands_in_the_callers_buffer() {
    let path = server("data");
    let mut t = SocketClient::connect_best(&path).expect("connect");
    let p = t.data_path().expect("data path");
    let head = pattern(16, 9);
    let data: Vec<Vec<u8>> = (0..6).map(|i| pattern(p.max_data as usize, i)).collect();
    let mut outs: Vec<Vec<u8>> = (0..6).map(|_| vec![0u8; p.max_data as usize]).collect();
    let reqs: Vec<DataRequest<'_>> = data
        .iter()
        .zip(outs.iter_mut())
        .map(|(d, o)| DataRequest {
            opcode: Opcode::Echo as u16,
            body: &head,
            data: d,
            resp_capacity: head.len() as u32,
            resp_data: o.as_mut_ptr(),
            resp_data_len: o.len() as u32,
        })
        .collect();
    // SAFETY: every buffer outlives the waits below.
    let tickets = unsafe { t.submit_data(&reqs) }.expect("submit");
    drop(reqs);
    for ticket in tickets {
        let mut h = [0u8; 16];
        let c = t.wait(ticket, &mut h).expect("wait");
        assert_eq!(c.resp_len as usize, 16 + p.max_data as usize);
        assert_eq!(h.as_slice(), head.as_slice());
    }
    for (o, d) in outs.iter().zip(&data) {
        assert!(o == d);
    }
    let _ = std::fs::remove_file(&path);
}

/// The three descriptors of an attach: memfd (sealed or not), two eventfds.
fn attach_raw(stream: &UnixStream, setup: &ShmSetup, seal: bool) -> (File, File, u32) {
    let layout = ShmLayout::of(setup).expect("layout");
    // SAFETY: plain system calls on fresh descriptors we own.
    let (memfd, doorbell, wake) = unsafe {
        let fd = libc::memfd_create(c"t".as_ptr(), libc::MFD_ALLOW_SEALING | libc::MFD_CLOEXEC);
        assert_eq!(libc::ftruncate(fd, layout.size as i64), 0);
        if seal {
            assert_eq!(libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_SHRINK), 0);
        }
        (
            File::from_raw_fd(fd),
            File::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)),
            File::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)),
        )
    };
    let frame = RequestFrame {
        opcode: 0,
        flags: frame_flags::SHM_ATTACH,
        req_len: core::mem::size_of::<ShmSetup>() as u32,
        resp_capacity: 0,
        reserved: 0,
    };
    let mut msg = frame.as_bytes().to_vec();
    msg.extend_from_slice(setup.as_bytes());
    stream
        .send_with_fds(
            &[msg.as_slice()],
            &[memfd.as_raw_fd(), doorbell.as_raw_fd(), wake.as_raw_fd()],
        )
        .expect("sendmsg");
    let mut answer = ResponseFrame::default();
    (&*stream)
        .read_exact(answer.as_bytes_mut())
        .expect("answer");
    drop(wake);
    (memfd, doorbell, answer.status)
}

fn setup() -> ShmSetup {
    ShmSetup::new(8, 1 << 16)
}

#[test]
fn an_unsealed_area_is_refused_and_the_connection_stays_on_frames() {
    let path = server("unsealed");
    let mut stream = UnixStream::connect(&path).expect("connect");
    let (_, _, status) = attach_raw(&stream, &setup(), false);
    assert_eq!(status, Status::InvalidField as u32);
    let frame = RequestFrame {
        opcode: Opcode::Echo as u16,
        flags: 0,
        req_len: 3,
        resp_capacity: 3,
        reserved: 0,
    };
    stream.write_all(frame.as_bytes()).expect("send");
    stream.write_all(b"abc").expect("send");
    let mut answer = ResponseFrame::default();
    stream.read_exact(answer.as_bytes_mut()).expect("answer");
    let mut body = [0u8; 3];
    stream.read_exact(&mut body).expect("body");
    assert_eq!((answer.status, &body), (Status::Ok as u32, b"abc"));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_hostile_ring_gets_errors_and_then_the_door() {
    let path = server("hostile");
    let stream = UnixStream::connect(&path).expect("connect");
    let s = setup();
    let layout = ShmLayout::of(&s).expect("layout");
    let (memfd, doorbell, status) = attach_raw(&stream, &s, true);
    let ring = || {
        let _ = (&doorbell).write(&1u64.to_ne_bytes());
    };
    assert_eq!(status, Status::Ok as u32);
    // SAFETY: a shared mapping of the whole memfd, ours for this test.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            layout.size as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            memfd.as_raw_fd(),
            0,
        )
    } as *mut u8;
    assert_ne!(base as *mut libc::c_void, libc::MAP_FAILED);
    // SAFETY: header words inside the live mapping, 8-aligned.
    let word = |off: usize| unsafe { &*base.add(off).cast::<AtomicU64>() };
    let put = |off: u64, bytes: &[u8]| {
        // SAFETY: inside the mapping (offsets from the layout).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(off as usize), bytes.len())
        }
    };
    let wait_completed = |n: u64| {
        let start = Instant::now();
        while word(header::COMPLETED).load(Ordering::Acquire) < n {
            assert!(start.elapsed() < Duration::from_secs(10), "server stuck");
            std::thread::yield_now();
        }
    };
    let completion = |n: u64| {
        let mut c = ShmCompletion::default();
        // SAFETY: the completion entry inside the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                base.add(layout.completion(n) as usize),
                c.as_bytes_mut().as_mut_ptr(),
                8,
            )
        };
        c
    };
    let bad = [
        ShmDescriptor {
            opcode: 2,
            req_len: 16,
            resp_capacity: 16,
            offset: 1 << 16,
            ..Default::default()
        },
        ShmDescriptor {
            opcode: 2,
            req_len: 16,
            resp_capacity: 16,
            offset: u64::MAX - 8,
            ..Default::default()
        },
        ShmDescriptor {
            opcode: 2,
            req_len: 1 << 17,
            resp_capacity: 0,
            offset: 0,
            ..Default::default()
        },
        ShmDescriptor {
            opcode: 2,
            flags: 0x8000,
            req_len: 1,
            resp_capacity: 1,
            offset: 0,
            ..Default::default()
        },
        ShmDescriptor {
            opcode: 0x7777,
            req_len: 0,
            resp_capacity: 16,
            offset: 0,
            ..Default::default()
        },
    ];
    // Twelve commands through an eight-entry ring: the indices wrap.
    for n in 0..12u64 {
        let d = bad[n as usize % bad.len()];
        put(layout.descriptor(n), d.as_bytes());
        word(header::SUBMITTED).store(n + 1, Ordering::Release);
        ring();
        wait_completed(n + 1);
        let c = completion(n);
        let want = if d.opcode == 0x7777 {
            Status::InvalidOpcode
        } else {
            Status::InvalidField
        };
        assert_eq!(c.status, want as u32, "command {n}: {d:?}");
        assert_eq!(c.resp_len, 0);
    }
    // A good command still works after all that.
    put(layout.arena + 128, b"fine");
    let good = ShmDescriptor {
        opcode: 2,
        req_len: 4,
        resp_capacity: 4,
        offset: 128,
        ..Default::default()
    };
    put(layout.descriptor(12), good.as_bytes());
    word(header::SUBMITTED).store(13, Ordering::Release);
    ring();
    wait_completed(13);
    assert_eq!(
        completion(12),
        ShmCompletion {
            status: 0,
            resp_len: 4
        }
    );
    // Claiming more commands than the ring holds ends the connection.
    word(header::SUBMITTED).store(13 + 9, Ordering::Release);
    ring();
    let mut byte = [0u8; 1];
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert_eq!((&stream).read(&mut byte).expect("closed, not timed out"), 0);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_full_device_refuses_the_attach_as_busy() {
    // What vgpu-host does past its clients-per-VM quota (`direct::refuse`):
    // the guest library must see EBUSY (cuInit: DEVICE_UNAVAILABLE), not
    // fall back to frames and then fail as if there were no device.
    let path = std::env::temp_dir().join(format!("vgpu-shm-{}-busy.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        direct::refuse(stream);
    });
    match SocketClient::connect_best(&path) {
        Ok(_) => panic!("a refused client connected"),
        Err(e) => assert_eq!(e.errno, libc::EBUSY, "{e}"),
    }
    server.join().expect("server");
    let _ = std::fs::remove_file(&path);
}

/// The wake-up handshake under every interleaving a loaded machine makes:
/// some commands take a millisecond on the server (the client polls past
/// its spin and sleeps on its eventfd), some pauses on the client outlast
/// the server's spin (the server sleeps on its doorbell), and four
/// clients compete for the cores. A wake-up lost on either side leaves a
/// wait blocked for good: the run must end, and quickly.
#[test]
fn sleeping_sides_are_always_woken() {
    let path = server("wake");
    let (done_tx, done) = std::sync::mpsc::channel();
    const CLIENTS: u64 = 4;
    const ROUNDS: u64 = 1500;
    for c in 0..CLIENTS {
        let (path, done_tx) = (path.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let mut t = SocketClient::connect_best(&path).expect("connect");
            assert!(t.data_path().is_some(), "on shared memory");
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ c;
            for i in 0..ROUNDS {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                match seed % 4 {
                    0 => {
                        let sleep = uapi::cmd::SleepRequest {
                            millis: 1,
                            reserved: 0,
                        };
                        let tickets = t
                            .submit(&[Request {
                                opcode: Opcode::Sleep as u16,
                                body: sleep.as_bytes(),
                                resp_capacity: 0,
                                detached: false,
                            }])
                            .expect("submit");
                        let c = t.wait(tickets[0], &mut []).expect("wait");
                        assert_eq!(c.status, Status::Ok as u32, "sleep {i}");
                    }
                    1 => std::thread::sleep(Duration::from_micros(50 + seed % 400)),
                    _ => {}
                }
                let body = pattern(1 + (seed % 300) as usize, i as u8);
                assert_eq!(echo(t.as_mut(), &body), body, "client {c} echo {i}");
            }
            let _ = done_tx.send(c);
        });
    }
    drop(done_tx);
    for _ in 0..CLIENTS {
        // 1500 rounds take about a second each; a lost wake-up never ends.
        done.recv_timeout(Duration::from_secs(60))
            .expect("a client failed, or is stuck in a wait (a lost wake-up)");
    }
    let _ = std::fs::remove_file(&path);
}

/// A command that keeps the server busy for `millis`.
fn sleep_on(t: &mut dyn Transport, millis: u32) {
    let body = uapi::cmd::SleepRequest {
        millis,
        reserved: 0,
    };
    let tickets = t
        .submit(&[Request {
            opcode: Opcode::Sleep as u16,
            body: body.as_bytes(),
            resp_capacity: 0,
            detached: false,
        }])
        .expect("submit");
    let c = t.wait(tickets[0], &mut []).expect("wait");
    assert_eq!(c.status, Status::Ok as u32);
}

#[test]
fn a_spinning_wait_never_sleeps() {
    use vgpu_transport::{ShmClient, WaitMode};
    let path = server("spin");
    let stream = UnixStream::connect(&path).expect("connect");
    let mut t = ShmClient::attach(stream).unwrap_or_else(|_| panic!("attach"));
    // Adaptive: a wait longer than the poll sleeps on the eventfd.
    sleep_on(&mut t, 5);
    assert!(t.sleeps() >= 1, "an adaptive 5 ms wait did not sleep");
    // Spinning (CUDA's spin scheduling): it polls until done.
    t.set_wait_mode(WaitMode::Spin);
    let before = t.sleeps();
    for _ in 0..3 {
        let start = Instant::now();
        sleep_on(&mut t, 5);
        assert!(start.elapsed() >= Duration::from_millis(5));
    }
    assert_eq!(t.sleeps(), before, "a spinning wait slept");
    assert_eq!(echo(&mut t, b"still"), b"still");
    let _ = std::fs::remove_file(&path);
}
