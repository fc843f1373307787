//! A misbehaving device (review kmod-review.md H1, H2, L5, M1, M6, M7):
//! each test talks to the device whose vgpu-host injects one fault
//! (`vgpu-host --inject-fault`, the `faults` scenario) and checks what the
//! driver made of it, here and in the kernel log. The runner checks each
//! host's side in its log (`vgpu_tests::vm::faults`).

use std::{
    fs,
    path::Path,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use uapi::{
    cmd::{field_str, Opcode, SleepRequest},
    status::Status,
    wire::Wire,
};
use vgpu_tests::{results::KERNEL_TROUBLE, vm::faults};
use vgpu_transport::VgpuFile;

use crate::device::{check, device_nodes, TestResult};
use crate::threads::bounded;
use crate::unbind::{bdf, driver_op, kernel_log, pci_command, COMMAND_MASTER, DRIVER};

/// The trigger of the command faults (`vgpu_host::fault::TRIGGER`).
const TRIGGER: &[u8] = b"fault";

/// The open node of the device that injects `fault`, and its PCI address.
fn fault_device(fault: &str) -> Result<(VgpuFile, String), String> {
    let want = faults::device_name(fault);
    for node in device_nodes() {
        let Ok(f) = VgpuFile::open(&node) else {
            continue;
        };
        let Ok(info) = f.info() else {
            continue;
        };
        if field_str(&info.device.name) == Some(want.as_str()) {
            return Ok((f, bdf(&info)));
        }
    }
    Err(format!("no device node is {want:?}"))
}

/// The node of the device at `bdf`, once the driver made it (at most 10 s).
fn node_of(bdf: &str) -> Result<String, String> {
    let t0 = Instant::now();
    loop {
        let found = device_nodes().into_iter().find(|node| {
            VgpuFile::open(node)
                .and_then(|f| f.info())
                .is_ok_and(|info| crate::unbind::bdf(&info) == bdf)
        });
        if let Some(node) = found {
            return Ok(node);
        }
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(format!("{bdf}: no device node after 10 s"));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Kernel log lines after the first `from` that name `bdf` and hold `what`.
fn logged(from: usize, bdf: &str, what: &str) -> Result<Vec<String>, String> {
    Ok(kernel_log()?
        .into_iter()
        .skip(from)
        .filter(|l| l.contains(bdf) && l.contains(what))
        .collect())
}

/// No oops, BUG or WARN in the kernel log after its first `from` lines.
fn no_trouble_since(from: usize) -> Result<(), String> {
    let bad: Vec<String> = kernel_log()?
        .into_iter()
        .skip(from)
        .filter(|l| KERNEL_TROUBLE.iter().any(|p| l.contains(p)))
        .collect();
    check(bad.is_empty(), || {
        format!("kernel log: {}", bad.join(" | "))
    })
}

fn echo_ok(f: &VgpuFile, what: &str) -> Result<(), String> {
    let mut out = [0u8; 2];
    let c = f
        .call(Opcode::Echo as u16, b"ok", &mut out, 5000)
        .map_err(|e| format!("{what}: {e}"))?;
    check(c.status == Status::Ok as u32 && &out == b"ok", || {
        format!("{what}: status {}", c.status)
    })
}

/// Binds the driver to `bdf` again and checks that the device serves.
fn rebind(bdf: &str) -> Result<(), String> {
    driver_op("bind", bdf)?;
    let f = VgpuFile::open(node_of(bdf)?).map_err(|e| format!("after rebind: {e}"))?;
    echo_ok(&f, "echo after rebind")
}

/// H1: the device answers the probe's GetDeviceInfo only after the probe
/// timeout. The probe fails once, on that timeout, after the heartbeat
/// started; the device is left unbound with bus mastering off (and, the
/// runner checks, its host saw the reset that stops the heartbeat before
/// the status page was freed).
pub fn probe_timeout() -> TestResult {
    let stubs: Vec<String> = fs::read_dir("/sys/bus/pci/devices")
        .map_err(|e| e.to_string())?
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|b| {
            let id = |f: &str| {
                fs::read_to_string(format!("/sys/bus/pci/devices/{b}/{f}")).unwrap_or_default()
            };
            let hex = |v: u16| format!("{v:#06x}");
            id("vendor").trim() == "0x10de"
                && id("device").trim() == hex(uapi::pci::DEVICE_ID)
                && id("subsystem_vendor").trim() == hex(uapi::pci::SUBSYSTEM_VENDOR_ID)
                && id("subsystem_device").trim() == hex(uapi::pci::SUBSYSTEM_DEVICE_ID)
        })
        .collect();
    let unbound: Vec<&String> = stubs
        .iter()
        .filter(|b| !Path::new(&format!("{DRIVER}/{b}")).exists())
        .collect();
    let [slow] = unbound[..] else {
        return Err(format!(
            "VGPU-STUBs {stubs:?}: expected exactly one left unbound, got {unbound:?}"
        ));
    };
    let failed = logged(0, slow, "device did not answer")?;
    check(failed.len() == 1, || {
        format!("{slow}: probe failures logged: {failed:?}")
    })?;
    // The kernel prints the errno by name or, in 7.2's Debug, by number.
    let timed_out = format!("Error({})", libc::ETIMEDOUT);
    check(
        failed[0].contains("ETIMEDOUT") || failed[0].contains(&timed_out),
        || format!("{slow}: probe failed otherwise: {}", failed[0]),
    )?;
    check(pci_command(slow)? & COMMAND_MASTER == 0, || {
        format!("{slow}: bus mastering left on after the failed probe")
    })?;
    let nodes = device_nodes();
    check(nodes.len() + 1 == stubs.len(), || {
        format!("{} VGPU-STUBs but nodes {nodes:?}", stubs.len())
    })?;
    Ok(format!(
        "{slow}: probe failed on the identity timeout (once), left unbound, bus master off; {} others bound",
        nodes.len()
    ))
}

/// H2 and L5: the device answers a command with a bad completion (`fault`
/// names which) and holds the command itself. The driver must stop the
/// queue and see it DISABLED before it fails the command (its WAIT gets
/// BAD_RING_INDEX) and frees its buffers; later calls fail with EIO; the
/// kernel log says it once (`what`), however often the file is used
/// after. The file stays open 2 s after the WAIT: the host logs how long
/// after its bad completion the queue was stopped, which must be well
/// under that (the runner checks), so the stop came from the driver's
/// reaction and not from the close.
fn bad_completion(fault: &str, what: &str) -> TestResult {
    let (f, bdf) = fault_device(fault)?;
    let from = kernel_log()?.len();
    echo_ok(&f, "echo before the fault")?;
    let seq = f
        .submit_one(Opcode::Echo as u16, TRIGGER, 8)
        .map_err(|e| format!("triggering echo: {e}"))?;
    let f = Arc::new(f);
    let file = f.clone();
    let (r, took) = bounded(Duration::from_secs(20), move || {
        let t0 = Instant::now();
        let mut out = [0u8; 8];
        (file.wait(seq, &mut out, 0), t0.elapsed())
    })?;
    let waited = Instant::now();
    check(
        matches!(&r, Ok(c) if c.status == Status::BadRingIndex as u32),
        || format!("wait on the held command: {r:?} after {took:?}, expected BAD_RING_INDEX"),
    )?;
    for round in 0..5 {
        let again = f.submit_one(Opcode::Echo as u16, b"ok", 2);
        check(again.map_err(|e| e.errno) == Err(libc::EIO), || {
            format!("submit {round} on the stopped queue: {again:?}, expected EIO")
        })?;
        let again = f.wait(seq, &mut [], 10);
        check(again.map_err(|e| e.errno) == Err(libc::EINVAL), || {
            format!("wait {round} on the collected command: {again:?}, expected EINVAL")
        })?;
    }
    thread::sleep(Duration::from_secs(2).saturating_sub(waited.elapsed()));
    let t0 = Instant::now();
    bounded(Duration::from_secs(15), move || drop(f))?;
    let closed = t0.elapsed();
    check(closed < Duration::from_secs(2), || {
        format!("close of the stopped queue took {closed:?}")
    })?;
    let stops = logged(from, &bdf, "stopping it")?;
    check(stops.len() == 1 && stops[0].contains(what), || {
        format!("{bdf}: expected one {what:?} line, got {stops:?}")
    })?;
    let unstopped = logged(from, &bdf, "did not stop")?;
    check(unstopped.is_empty(), || {
        format!("{bdf}: {}", unstopped.join(" | "))
    })?;
    no_trouble_since(from)?;
    Ok(format!(
        "WAIT got BAD_RING_INDEX after {:.0} ms, then EIO/EINVAL x5; one log line; close {:.0} ms",
        took.as_secs_f64() * 1000.0,
        closed.as_secs_f64() * 1000.0
    ))
}

/// H2 with a completion whose tag no command has.
pub fn bad_tag() -> TestResult {
    bad_completion("bad-completion-tag", "device reported status 0 for tag")
}

/// H2 with a completion tail far past anything posted.
pub fn bad_tail() -> TestResult {
    bad_completion("bad-completion-tail", "out of range")
}

/// M1: the device puts the queue into ERROR without a completion. An
/// untimed WAIT must end promptly (the driver's watchdog reads the status
/// of every queue with commands in flight) with BAD_RING_INDEX, not hang;
/// later calls are EIO.
pub fn silent_error() -> TestResult {
    let (f, bdf) = fault_device("silent-queue-error")?;
    let from = kernel_log()?.len();
    echo_ok(&f, "echo before the fault")?;
    let seq = f
        .submit_one(Opcode::Echo as u16, TRIGGER, 8)
        .map_err(|e| format!("triggering echo: {e}"))?;
    let f = Arc::new(f);
    let file = f.clone();
    let (r, took) = bounded(Duration::from_secs(20), move || {
        let t0 = Instant::now();
        (file.wait(seq, &mut [0u8; 8], 0), t0.elapsed())
    })?;
    check(
        matches!(&r, Ok(c) if c.status == Status::BadRingIndex as u32),
        || {
            format!(
                "untimed wait on a queue in ERROR: {r:?} after {took:?}, expected BAD_RING_INDEX"
            )
        },
    )?;
    check(took < Duration::from_secs(3), || {
        format!("the wait saw the queue error only after {took:?}")
    })?;
    let again = f.submit_one(Opcode::Echo as u16, b"ok", 2);
    check(again.map_err(|e| e.errno) == Err(libc::EIO), || {
        format!("submit on the stopped queue: {again:?}, expected EIO")
    })?;
    bounded(Duration::from_secs(15), move || drop(f))?;
    let lost = uapi::status::QueueError::ExecutorLost as u32;
    let stops = logged(from, &bdf, "device stopped it")?;
    check(
        stops.len() == 1 && stops[0].contains(&format!("(error {lost})")),
        || format!("{bdf}: expected one queue error {lost} line, got {stops:?}"),
    )?;
    no_trouble_since(from)?;
    Ok(format!(
        "untimed WAIT ended {:.0} ms after the silent queue error with BAD_RING_INDEX; EIO after",
        took.as_secs_f64() * 1000.0
    ))
}

/// M6: the device never stops the queue (ENABLE_OFF ignored). Close must
/// give up after its bound (10 s), warn once and keep the rings, buffers
/// and the queue itself; a new client gets another queue and is served;
/// unbind's reset ends the stuck queue and frees its memory cleanly; a
/// rebind serves again.
pub fn stuck_stop() -> TestResult {
    let (f, bdf) = fault_device("queue-never-stops")?;
    let node = node_of(&bdf)?;
    let from = kernel_log()?.len();
    // Its first command starts the queue: the device's second since reset.
    echo_ok(&f, "echo on the queue that will not stop")?;
    let t0 = Instant::now();
    bounded(Duration::from_secs(30), move || drop(f))?;
    let closed = t0.elapsed();
    check(
        closed >= Duration::from_secs(9) && closed < Duration::from_secs(15),
        || format!("close of a queue that never stops took {closed:?}, expected about 10 s"),
    )?;
    let kept = logged(from, &bdf, "did not stop")?;
    check(
        kept.len() == 1 && kept[0].contains("keeping it and its DMA memory until unbind"),
        || format!("{bdf}: expected one warning, got {kept:?}"),
    )?;
    let g = VgpuFile::open(&node).map_err(|e| format!("open after the stuck close: {e}"))?;
    echo_ok(&g, "echo of a new client after the stuck close")?;
    let t1 = Instant::now();
    bounded(Duration::from_secs(15), move || drop(g))?;
    let closed_new = t1.elapsed();
    check(closed_new < Duration::from_secs(2), || {
        format!("close of the new client took {closed_new:?}")
    })?;
    let unbind_bdf = bdf.clone();
    bounded(Duration::from_secs(30), move || {
        driver_op("unbind", &unbind_bdf)
    })??;
    no_trouble_since(from)?;
    rebind(&bdf)?;
    Ok(format!(
        "close gave up after {:.1} s and kept the queue; a new client was served; unbind and rebind clean",
        closed.as_secs_f64()
    ))
}

/// M7: the heartbeat stops for 6 s while a WAIT is blocked. The driver's
/// watchdog declares the device dead after 3 s without one, resets it (the
/// host side checks that) and wakes the waiter with ENODEV; death is final
/// for this binding (by design: no re-arming when the heartbeat comes
/// back), so even after the pause opens fail with ENODEV; a rebind recovers.
pub fn heartbeat_pause() -> TestResult {
    let (f, bdf) = fault_device("heartbeat-pause")?;
    let node = node_of(&bdf)?;
    let from = kernel_log()?.len();
    let sleep = SleepRequest {
        millis: 20_000,
        reserved: 0,
    };
    // Its first command starts the queue, the device's second since reset:
    // the heartbeat stops then.
    let paused = Instant::now();
    let seq = f
        .submit_one(Opcode::Sleep as u16, sleep.as_bytes(), 0)
        .map_err(|e| format!("sleep: {e}"))?;
    let f = Arc::new(f);
    let file = f.clone();
    let (r, took) = bounded(Duration::from_secs(20), move || {
        let t0 = Instant::now();
        (file.wait(seq, &mut [], 0), t0.elapsed())
    })?;
    check(r.map_err(|e| e.errno) == Err(libc::ENODEV), || {
        format!("untimed wait across the heartbeat pause: {r:?} after {took:?}, expected ENODEV")
    })?;
    check(
        took >= Duration::from_millis(2500) && took < Duration::from_secs(6),
        || format!("the device was declared dead after {took:?}, expected about 3 s"),
    )?;
    let again = f.submit_one(Opcode::Echo as u16, b"ok", 2);
    check(again.map_err(|e| e.errno) == Err(libc::ENODEV), || {
        format!("submit on a dead device: {again:?}, expected ENODEV")
    })?;
    let t0 = Instant::now();
    bounded(Duration::from_secs(15), move || drop(f))?;
    let closed = t0.elapsed();
    check(closed < Duration::from_secs(3), || {
        format!("close on a dead device took {closed:?}")
    })?;
    // The heartbeat is back after 6 s; the device stays dead.
    thread::sleep(Duration::from_secs(8).saturating_sub(paused.elapsed()));
    let reopen = VgpuFile::open(&node);
    check(
        reopen.as_ref().map_err(|e| e.errno).err() == Some(libc::ENODEV),
        || format!("open after the heartbeat came back: {reopen:?}, expected ENODEV"),
    )?;
    let dead = logged(from, &bdf, "device stopped responding")?;
    check(dead.len() == 1, || {
        format!("{bdf}: expected one death line, got {dead:?}")
    })?;
    driver_op("unbind", &bdf)?;
    rebind(&bdf)?;
    no_trouble_since(from)?;
    Ok(format!(
        "WAIT failed with ENODEV {:.1} s into the pause; still ENODEV once the heartbeat was back; rebind recovers",
        took.as_secs_f64()
    ))
}
