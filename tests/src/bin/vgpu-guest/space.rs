//! Room on a client's queue (review findings M2 and M3): WAIT_FOR_SPACE
//! never waits for what only its caller could free and wakes as soon as a
//! WAIT frees a slot; a full queue or an exhausted DMA budget costs a
//! submitter no allocation.

use std::{
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant},
};

use uapi::{
    cmd::{Opcode, SleepRequest},
    ioctl::{submit_flags::WAIT_FOR_SPACE, Command, CLIENT_QUEUE_DEPTH, MAX_PAYLOAD},
    status::Status,
    wire::Wire,
};
use vgpu_transport::VgpuFile;

use crate::device::{check, open0, TestResult};
use crate::threads::{bounded, gettid, wait_in_ioctl};

/// DMA bytes one client may hold (`CLIENT_DMA_BUDGET`, kmod/slots.rs).
const CLIENT_DMA_BUDGET: usize = 64 * MAX_PAYLOAD as usize;

const DEPTH: usize = CLIENT_QUEUE_DEPTH as usize;

fn echo(body: &[u8], resp_capacity: u32) -> Command {
    Command {
        opcode: Opcode::Echo as u16,
        req_len: body.len() as u32,
        req_ptr: body.as_ptr() as u64,
        resp_capacity,
        ..Default::default()
    }
}

fn errno_of(r: &Result<(), vgpu_transport::DevError>) -> Option<i32> {
    r.as_ref().err().map(|e| e.errno)
}

/// Fills an idle queue with `DEPTH` small echoes, never collected; the
/// body lives in a static, so the commands may outlive any buffer.
fn fill_with_echoes(f: &VgpuFile) -> Result<Vec<u64>, String> {
    static BODY: [u8; 4] = *b"full";
    let mut cmds = vec![echo(&BODY, 4); DEPTH];
    f.submit(&mut cmds)
        .map_err(|e| format!("{DEPTH} echoes: {e}"))?;
    Ok(cmds.iter().map(|c| c.seq).collect())
}

fn collect(f: &VgpuFile, seqs: &[u64], resp: &mut [u8]) -> Result<(), String> {
    for &seq in seqs {
        let c = f
            .wait(seq, resp, 10_000)
            .map_err(|e| format!("collect {seq}: {e}"))?;
        check(c.status == Status::Ok as u32, || {
            format!("command {seq}: status {}", c.status)
        })?;
    }
    Ok(())
}

/// M2: a single thread fills its queue with commands it has not collected
/// and asks for more room with WAIT_FOR_SPACE: only it could free a slot,
/// so the driver must refuse (EAGAIN) at once instead of sleeping forever.
pub fn space_deadlock() -> TestResult {
    let f = Arc::new(open0()?);
    let seqs = fill_with_echoes(&f)?;
    // Let the device complete them all: nothing is in flight any more.
    thread::sleep(Duration::from_millis(300));
    let file = f.clone();
    let (r, took) = bounded(Duration::from_secs(5), move || {
        let t0 = Instant::now();
        let mut more = [echo(b"more", 4)];
        let r = file.submit_with_flags(&mut more, WAIT_FOR_SPACE);
        (r, t0.elapsed())
    })?;
    check(errno_of(&r) == Some(libc::EAGAIN), || {
        format!("WAIT_FOR_SPACE on a queue full of uncollected commands: {r:?} after {took:?}")
    })?;
    check(took < Duration::from_millis(100), || {
        format!("EAGAIN only after {took:?}")
    })?;
    // Collecting one makes room: the same call now succeeds.
    let mut out = [0u8; 4];
    collect(&f, &seqs[..1], &mut out)?;
    let mut more = [echo(b"more", 4)];
    f.submit_with_flags(&mut more, WAIT_FOR_SPACE)
        .map_err(|e| format!("retry after one WAIT: {e}"))?;
    collect(&f, &seqs[1..], &mut out)?;
    collect(&f, &[more[0].seq], &mut out)?;
    Ok(format!(
        "EAGAIN after {:.1} ms instead of a hang; the retry after one WAIT succeeded",
        took.as_secs_f64() * 1000.0
    ))
}

/// Rounds of the wakeup measurement, and the most any of them may take.
/// Before the fix a wakeup came only at the end of the 100 ms slice.
const WAKEUP_ROUNDS: usize = 5;
const WAKEUP_LIMIT: Duration = Duration::from_millis(40);

/// M2: thread A sleeps in a WAIT_FOR_SPACE submit on a full queue (one
/// command still running, the rest completed); thread B collects one.
/// A's submit must return at once, not at the next 100 ms slice.
pub fn space_wakeup() -> TestResult {
    let f = Arc::new(open0()?);
    static BODY: [u8; 4] = *b"wake";
    let mut cmds = vec![echo(&BODY, 4); DEPTH - 1];
    f.submit(&mut cmds).map_err(|e| format!("echoes: {e}"))?;
    let mut done: Vec<u64> = cmds.iter().map(|c| c.seq).collect();
    thread::sleep(Duration::from_millis(300));
    // The last slot: a long command in flight keeps room possible (A may
    // sleep), and no interrupt comes while it runs: only B's WAIT can wake
    // A. A's echoes queue behind it.
    let sleep = SleepRequest {
        millis: 4000,
        reserved: 0,
    };
    let sleep_seq = f
        .submit_one(Opcode::Sleep as u16, sleep.as_bytes(), 0)
        .map_err(|e| format!("sleep: {e}"))?;
    let mut queued = Vec::new();
    let mut latencies = Vec::new();
    for round in 0..WAKEUP_ROUNDS {
        let (tx, rx) = mpsc::channel();
        let file = f.clone();
        let a = thread::spawn(move || {
            let _ = tx.send(gettid());
            let mut more = [echo(&BODY, 4)];
            let r = file.submit_with_flags(&mut more, WAIT_FOR_SPACE);
            (r.map(|()| more[0].seq), Instant::now())
        });
        let tid = rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| "thread A did not start".to_string())?;
        wait_in_ioctl(tid, Duration::from_secs(2))?;
        // Collect just after A's first 100 ms sleep slice ended: a driver
        // that only looks again at the end of a slice wakes A about 90 ms
        // late.
        thread::sleep(Duration::from_millis(110));
        check(!a.is_finished(), || {
            format!("round {round}: A's submit returned on a full queue")
        })?;
        let victim = done.remove(0);
        f.wait(victim, &mut [0u8; 4], 10_000)
            .map_err(|e| format!("B's wait: {e}"))?;
        let b_done = Instant::now();
        let (r, a_done) = bounded(Duration::from_secs(2), move || a.join())?
            .map_err(|_| "thread A panicked".to_string())?;
        let seq = r.map_err(|e| format!("round {round}: A's submit: {e}"))?;
        queued.push(seq);
        latencies.push(a_done.saturating_duration_since(b_done));
    }
    let worst = latencies.iter().max().copied().unwrap_or_default();
    let ms: Vec<String> = latencies
        .iter()
        .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
        .collect();
    let mut out = [0u8; 4];
    collect(&f, &[sleep_seq], &mut [])?;
    collect(&f, &done, &mut out)?;
    collect(&f, &queued, &mut out)?;
    check(worst < WAKEUP_LIMIT, || {
        format!(
            "A woke {} ms after B's wait (limit {WAKEUP_LIMIT:?})",
            ms.join(", ")
        )
    })?;
    Ok(format!("A woke {} ms after B's wait", ms.join(", ")))
}

/// M3: room is checked before memory is allocated, and each client has a
/// DMA budget.
pub fn room_before_memory() -> TestResult {
    let info = open0()?.info().map_err(|e| e.to_string())?;
    let chunk = info.max_payload as usize;
    check(chunk == MAX_PAYLOAD as usize, || {
        format!("max payload {chunk}: the budget cannot be exceeded with {DEPTH} slots")
    })?;
    let big = vec![0x5au8; chunk];
    let full_queue = full_queue_refuses_big_batches(&big)?;
    let budget = budget_refuses_until_collected(&big)?;
    Ok(format!("{full_queue}; {budget}"))
}

/// On a full queue, batches of 64 commands of 1 MiB each way are refused
/// quickly: before the fix each attempt allocated and zeroed 128 MiB first.
fn full_queue_refuses_big_batches(big: &[u8]) -> Result<String, String> {
    const ATTEMPTS: usize = 20;
    let f = open0()?;
    let seqs = fill_with_echoes(&f)?;
    let mut batch = vec![echo(big, big.len() as u32); DEPTH];
    let t0 = Instant::now();
    for i in 0..ATTEMPTS {
        let r = f.submit(&mut batch);
        check(errno_of(&r) == Some(libc::EAGAIN), || {
            format!("big batch {i} on a full queue: {r:?}")
        })?;
    }
    let took = t0.elapsed();
    collect(&f, &seqs, &mut [0u8; 4])?;
    check(took < Duration::from_millis(200), || {
        format!("{ATTEMPTS} refused 128 MiB batches took {took:?}")
    })?;
    Ok(format!(
        "{ATTEMPTS} batches of 128 MiB on a full queue refused in {:.1} ms",
        took.as_secs_f64() * 1000.0
    ))
}

/// A file holding more than its budget gets EAGAIN, even for a tiny
/// command with free slots, until it collects responses.
fn budget_refuses_until_collected(big: &[u8]) -> Result<String, String> {
    let chunk = big.len();
    let f = open0()?;
    // An idle client may post one batch of any size: a sleep, then echoes
    // of 1 MiB each way queued behind it (held in flight: over budget).
    let held = CLIENT_DMA_BUDGET / chunk * 5 / 8;
    let sleep = SleepRequest {
        millis: 1000,
        reserved: 0,
    };
    let mut first = vec![Command {
        opcode: Opcode::Sleep as u16,
        req_len: sleep.as_bytes().len() as u32,
        req_ptr: sleep.as_bytes().as_ptr() as u64,
        ..Default::default()
    }];
    first.extend(std::iter::repeat_n(echo(big, chunk as u32), held));
    f.submit(&mut first)
        .map_err(|e| format!("a batch over the budget on an idle file: {e}"))?;
    let in_flight = 2 * held * chunk;
    check(in_flight > CLIENT_DMA_BUDGET, || {
        format!("test holds only {in_flight} bytes")
    })?;
    let r = f.submit(&mut [echo(b"tiny", 4)]);
    check(errno_of(&r) == Some(libc::EAGAIN), || {
        format!(
            "tiny echo while {} MiB are in flight: {r:?}",
            in_flight >> 20
        )
    })?;
    // Once the sleep and echoes completed, the requests are freed; the
    // responses (`held` MiB) stay until collected.
    let c = f
        .wait(first[0].seq, &mut [], 10_000)
        .map_err(|e| format!("sleep: {e}"))?;
    check(c.status == Status::Ok as u32, || {
        format!("sleep: status {}", c.status)
    })?;
    thread::sleep(Duration::from_millis(300));
    let need = (CLIENT_DMA_BUDGET / chunk - held) / 2 + 2;
    let mut second = vec![echo(big, chunk as u32); need];
    let r = f.submit(&mut second);
    check(errno_of(&r) == Some(libc::EAGAIN), || {
        format!(
            "{} MiB more while {held} MiB of responses are held: {r:?}",
            (2 * need * chunk) >> 20
        )
    })?;
    // Collect enough responses for the second batch to fit.
    let mut resp = vec![0u8; chunk];
    let freed = 2 * need + held - CLIENT_DMA_BUDGET / chunk + 1;
    for c in &first[1..=freed] {
        let done = f
            .wait(c.seq, &mut resp, 10_000)
            .map_err(|e| format!("collect: {e}"))?;
        check(
            done.status == Status::Ok as u32 && done.resp_len as usize == chunk && resp == big,
            || format!("1 MiB echo: status {} len {}", done.status, done.resp_len),
        )?;
    }
    f.submit(&mut second)
        .map_err(|e| format!("second batch after collecting {freed}: {e}"))?;
    let rest: Vec<u64> = first[freed + 1..]
        .iter()
        .chain(&second)
        .map(|c| c.seq)
        .collect();
    collect(&f, &rest, &mut resp)?;
    Ok(format!(
        "{} MiB in flight refused a 4-byte echo; {held} MiB of responses refused {} MiB more until {freed} were collected",
        in_flight >> 20,
        (2 * need * chunk) >> 20
    ))
}
