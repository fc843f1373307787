//! A signal during a WAIT (review finding L6): an untimed wait restarts
//! under an `SA_RESTART` handler and fails with EINTR without one; a timed
//! wait always fails with EINTR (a restart would extend its timeout).

use std::{
    os::unix::thread::JoinHandleExt,
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant},
};

use uapi::{
    cmd::{Opcode, SleepRequest},
    status::Status,
    wire::Wire,
};
use vgpu_transport::{Completion, DevError, VgpuFile};

use crate::device::{check, open0, TestResult};
use crate::threads::{
    bounded, gettid, install_handler, signal_thread, signals_seen, wait_in_ioctl,
};

/// How long the device sleeps for each case.
const SLEEP_MS: u32 = 800;

/// Submits a sleep, waits for it on a thread with `timeout_ms`, signals
/// that thread once it sleeps in the driver, and returns what its wait
/// returned, how long that took and the sleep's seq.
fn interrupted_wait(
    f: &Arc<VgpuFile>,
    timeout_ms: u32,
) -> Result<(Result<Completion, DevError>, Duration, u64), String> {
    let sleep = SleepRequest {
        millis: SLEEP_MS,
        reserved: 0,
    };
    let seq = f
        .submit_one(Opcode::Sleep as u16, sleep.as_bytes(), 0)
        .map_err(|e| format!("sleep: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let file = f.clone();
    let waiter = thread::spawn(move || {
        let _ = tx.send(gettid());
        let t0 = Instant::now();
        let r = file.wait(seq, &mut [], timeout_ms);
        (r, t0.elapsed())
    });
    let tid = rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| "waiter did not start".to_string())?;
    wait_in_ioctl(tid, Duration::from_secs(2))?;
    let before = signals_seen();
    signal_thread(waiter.as_pthread_t())?;
    let (r, took) = bounded(Duration::from_secs(10), move || waiter.join())?
        .map_err(|_| "waiter panicked".to_string())?;
    check(signals_seen() == before + 1, || {
        "the handler did not run".into()
    })?;
    Ok((r, took, seq))
}

fn finish(f: &VgpuFile, seq: u64) -> Result<(), String> {
    let c = f
        .wait(seq, &mut [], 10_000)
        .map_err(|e| format!("wait after the signal: {e}"))?;
    check(c.status == Status::Ok as u32, || {
        format!("sleep after the signal: status {}", c.status)
    })
}

pub fn wait_signal() -> TestResult {
    let f = Arc::new(open0()?);
    let min = Duration::from_millis(u64::from(SLEEP_MS) * 3 / 4);

    install_handler(true)?;
    let (r, took, _) = interrupted_wait(&f, 0)?;
    check(
        matches!(r, Ok(c) if c.status == Status::Ok as u32) && took >= min,
        || {
            format!(
                "untimed wait, SA_RESTART handler: {r:?} after {took:?}, expected the completion"
            )
        },
    )?;
    let restarted = took;

    install_handler(false)?;
    let (r, took, seq) = interrupted_wait(&f, 0)?;
    check(r.map_err(|e| e.errno) == Err(libc::EINTR), || {
        format!("untimed wait, handler without SA_RESTART: {r:?} after {took:?}, expected EINTR")
    })?;
    finish(&f, seq)?;

    install_handler(true)?;
    let (r, took, seq) = interrupted_wait(&f, 5000)?;
    check(r.map_err(|e| e.errno) == Err(libc::EINTR), || {
        format!("timed wait, SA_RESTART handler: {r:?} after {took:?}, expected EINTR")
    })?;
    finish(&f, seq)?;
    Ok(format!(
        "untimed wait restarted under SA_RESTART (done after {:.2} s), EINTR without; timed wait EINTR",
        restarted.as_secs_f64()
    ))
}
