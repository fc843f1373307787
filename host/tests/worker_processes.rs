//! One worker process per client: each enabled queue is served by a
//! `vgpu-host worker` process of its own; a worker that dies takes only its
//! queue down, and a disabled queue leaves no process behind.

mod common;

use common::commands::*;
use common::*;
use std::time::{Duration, Instant};
use uapi::cmd::{ClientIdentity, ClientUsage, DeviceUsage, Opcode};
use uapi::regs::{self, irq, queue as qreg};
use uapi::ring::SubmissionEntry;
use uapi::status::{QueueError, Status};
use uapi::wire::Wire;

fn pid_of(h: &Harness, queue: u32) -> u32 {
    match h.device.worker_pid(queue) {
        Some(pid) => pid,
        None => panic!("queue {queue} has no worker process"),
    }
}

fn kill(pid: u32) {
    // SAFETY: plain system call; the pid is a child this test started.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert_eq!(rc, 0, "kill {pid}");
}

fn set_identity(h: &Harness, q: &mut TestQueue, pid: u32) {
    let body = ClientIdentity { pid, reserved: 0 };
    h.write_bytes(q.data, body.as_bytes());
    let e = SubmissionEntry {
        req_addr: q.data,
        req_len: body.as_bytes().len() as u32,
        ..entry(Opcode::SetClientIdentity, 1)
    };
    assert_eq!(status_of(&q.run(h, &e)), Some(Status::Ok));
}

fn query(h: &Harness, q: &mut TestQueue, opcode: Opcode) -> Vec<u8> {
    let e = SubmissionEntry {
        resp_addr: q.data + 0x2000,
        resp_len: 0x1000,
        ..entry(opcode, 2)
    };
    let c = q.run(h, &e);
    assert_eq!(status_of(&c), Some(Status::Ok));
    h.read_bytes(q.data + 0x2000, c.resp_len as usize)
}

#[test]
fn each_client_is_served_by_a_process_of_its_own() {
    let h = Harness::with_workers();
    let mut a = TestQueue::enabled(&h, 0, 8);
    let mut b = TestQueue::enabled(&h, 1, 8);
    assert_echo_works(&h, &mut a, 10);
    assert_echo_works(&h, &mut b, 20);
    let (pa, pb) = (pid_of(&h, 0), pid_of(&h, 1));
    assert_ne!(pa, pb, "two clients, one process");
    assert!(pa != std::process::id() && pb != std::process::id());
    assert!(process_exists(pa) && process_exists(pb));
    assert_eq!(h.device.clients().worker_pids(), vec![(0, pa), (1, pb)]);

    // The registry spans the processes: each worker writes its page, the
    // device process answers the questions about all of them.
    set_identity(&h, &mut a, 4100);
    set_identity(&h, &mut b, 4200);
    let list = query(&h, &mut b, Opcode::ListClients);
    let clients: Vec<ClientUsage> = list.chunks(16).filter_map(ClientUsage::read_from).collect();
    let pids: Vec<(u32, u32)> = clients.iter().map(|c| (c.queue, c.pid)).collect();
    assert_eq!(pids, vec![(0, 4100), (1, 4200)]);
    let usage = DeviceUsage::read_from(&query(&h, &mut a, Opcode::GetUsage));
    assert_eq!(usage.map(|u| u.client_count), Some(2));
}

#[test]
fn a_killed_worker_puts_only_its_queue_in_error() {
    let h = Harness::with_workers();
    let mut a = TestQueue::enabled(&h, 0, 8);
    let mut b = TestQueue::enabled(&h, 1, 8);
    assert_echo_works(&h, &mut a, 1);
    let victim = pid_of(&h, 0);
    let before = h.irqs.count(0);
    kill(victim);
    let status = wait_for(|| queue_error(a.status(&h)));
    assert_eq!(status, Some(QueueError::ExecutorLost));
    assert_ne!(h.read32(regs::IRQ_STATUS) & irq::QUEUE_ERROR, 0);
    assert!(wait_for(|| (h.irqs.count(0) > before).then_some(())).is_some());
    assert!(!process_exists(victim), "the dead worker was reaped");
    assert_eq!(
        h.device.clients().worker_pids().len(),
        1,
        "gone from the registry"
    );

    // The neighbour keeps working, in its own process.
    assert_echo_works(&h, &mut b, 2);

    // The driver disables and re-enables the queue: a new client, a new process.
    h.write32(a.reg(qreg::ENABLE), qreg::ENABLE_OFF);
    assert_eq!(a.status(&h), qreg::status::DISABLED);
    h.write_bytes(a.ctrl, &[0; 64]); // fresh rings, as a driver allocates them
    let mut a = TestQueue::enabled(&h, 0, 8);
    assert_ne!(pid_of(&h, 0), victim);
    assert_echo_works(&h, &mut a, 3);
}

#[test]
fn disabling_a_queue_ends_its_worker_process() {
    // What the kernel module does when the guest process's file is closed
    // (or the process is killed): ENABLE_OFF, then STATUS reads DISABLED.
    let h = Harness::with_workers();
    let mut q = TestQueue::enabled(&h, 0, 8);
    assert_echo_works(&h, &mut q, 1);
    let pid = pid_of(&h, 0);
    h.write32(q.reg(qreg::ENABLE), qreg::ENABLE_OFF);
    assert_eq!(q.status(&h), qreg::status::DISABLED);
    assert!(
        !process_exists(pid),
        "worker {pid} still there after disable"
    );
    assert_eq!(h.device.worker_pid(0), None);
    assert!(h.device.clients().worker_pids().is_empty());
}

#[test]
fn a_worker_busy_in_a_long_command_is_stopped_promptly() {
    let h = Harness::with_workers();
    let mut q = TestQueue::enabled(&h, 0, 8);
    push_sleep(&h, &mut q, 30_000, 9);
    q.ring(&h);
    std::thread::sleep(Duration::from_millis(100));
    let pid = pid_of(&h, 0);
    let start = Instant::now();
    h.device.reset();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(q.status(&h), qreg::status::DISABLED);
    assert!(!process_exists(pid));
}

#[test]
fn a_worker_holds_only_what_its_client_needs() {
    let h = Harness::with_workers();
    let mut a = TestQueue::enabled(&h, 0, 8);
    let mut b = TestQueue::enabled(&h, 1, 8);
    assert_echo_works(&h, &mut a, 1);
    assert_echo_works(&h, &mut b, 2);
    let pid = pid_of(&h, 1);
    let targets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    let pages = targets
        .iter()
        .filter(|t| t.contains("vgpu-client-page"))
        .count();
    assert_eq!(pages, 1, "one client page, its own: {targets:?}");
    let sockets = targets.iter().filter(|t| t.starts_with("socket:")).count();
    assert_eq!(sockets, 2, "control and query sockets only: {targets:?}");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let core = limits.lines().find(|l| l.starts_with("Max core file size"));
    assert!(
        core.is_some_and(|l| l.split_whitespace().nth(4) == Some("0")),
        "{core:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(status.contains(&format!("PPid:\t{}", std::process::id())));
}
