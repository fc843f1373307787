//! Unbinding the driver from a device in use (review findings M4, M5, L9):
//! a blocked WAIT fails, the file still closes, the device stops mastering
//! the bus, the kernel log stays clean, and a rebind brings it back.

use std::{
    fs,
    os::unix::fs::FileExt,
    path::Path,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use uapi::{
    cmd::{Opcode, SleepRequest},
    ioctl::InfoArgs,
    status::Status,
    wire::Wire,
};
use vgpu_tests::results::KERNEL_TROUBLE;
use vgpu_transport::{Completion, DevError, VgpuFile};

use crate::device::{check, open0, TestResult};
use crate::threads::{bounded, gettid, wait_in_ioctl};

pub const DRIVER: &str = "/sys/bus/pci/drivers/vgpu";

/// `PCI_COMMAND_MASTER` of the PCI command register (config offset 4).
pub const COMMAND_MASTER: u16 = 1 << 2;

pub fn bdf(info: &InfoArgs) -> String {
    format!(
        "{:04x}:{:02x}:{:02x}.{}",
        info.pci_domain, info.pci_bus, info.pci_device, info.pci_function
    )
}

/// The PCI command register of `bdf`, read from its sysfs config space.
pub fn pci_command(bdf: &str) -> Result<u16, String> {
    let path = format!("/sys/bus/pci/devices/{bdf}/config");
    let f = fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut word = [0u8; 2];
    f.read_exact_at(&mut word, 4)
        .map_err(|e| format!("{path}: {e}"))?;
    Ok(u16::from_le_bytes(word))
}

pub fn kernel_log() -> Result<Vec<String>, String> {
    let out = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| format!("dmesg: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Writes `bdf` to the driver's `bind` or `unbind` file.
pub fn driver_op(op: &str, bdf: &str) -> Result<(), String> {
    let path = format!("{DRIVER}/{op}");
    fs::write(&path, bdf).map_err(|e| format!("{path} <- {bdf}: {e}"))
}

pub fn unbind_wait() -> TestResult {
    let f = open0()?;
    let info = f.info().map_err(|e| e.to_string())?;
    let bdf = bdf(&info);
    check(Path::new(&format!("{DRIVER}/{bdf}")).exists(), || {
        format!("{bdf} is not bound to vgpu")
    })?;
    check(pci_command(&bdf)? & COMMAND_MASTER != 0, || {
        format!("{bdf}: bus mastering off while bound")
    })?;
    let log_before = kernel_log()?.len();
    let sleep = SleepRequest {
        millis: 60_000,
        reserved: 0,
    };
    let seq = f
        .submit_one(Opcode::Sleep as u16, sleep.as_bytes(), 0)
        .map_err(|e| format!("sleep: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(gettid());
        let r = f.wait(seq, &mut [], 0);
        (r, Instant::now(), f)
    });
    let tid = rx
        .recv_timeout(Duration::from_secs(5))
        .map_err(|_| "waiter did not start".to_string())?;
    wait_in_ioctl(tid, Duration::from_secs(2))?;

    let t0 = Instant::now();
    let unbind_bdf = bdf.clone();
    bounded(Duration::from_secs(30), move || {
        driver_op("unbind", &unbind_bdf)
    })??;
    let unbound = unbound_checks(t0, waiter, &bdf, log_before);
    // Rebind whatever the checks found: later tests need the device.
    let rebound = rebind(&bdf);
    let detail = unbound?;
    rebound?;
    Ok(format!("{detail}, rebind works"))
}

type Waiter = thread::JoinHandle<(Result<Completion, DevError>, Instant, VgpuFile)>;

/// What must hold once unbind returned (it began at `t0`): the wait failed,
/// the file fails and closes, bus mastering is off, the log is clean.
fn unbound_checks(
    t0: Instant,
    waiter: Waiter,
    bdf: &str,
    log_before: usize,
) -> Result<String, String> {
    let unbind_took = t0.elapsed();
    let (r, woke, f) = bounded(Duration::from_secs(10), move || waiter.join())?
        .map_err(|_| "waiter panicked".to_string())?;
    let waited = woke.saturating_duration_since(t0);
    // The wait sees the device gone (ENODEV) unless unbind already failed
    // the command when it looked again: then it collects its ABORTED status.
    let failed = match &r {
        Err(e) => e.errno == libc::ENODEV,
        Ok(c) => c.status == Status::Aborted as u32,
    };
    let how = if r.is_err() { "ENODEV" } else { "ABORTED" };
    check(failed, || {
        format!("blocked wait across unbind: {r:?}, expected ENODEV")
    })?;
    check(waited < Duration::from_secs(5), || {
        format!("wait ended {waited:?} after unbind began")
    })?;
    let again = f.submit_one(Opcode::Echo as u16, b"x", 1);
    check(again.map_err(|e| e.errno) == Err(libc::ENODEV), || {
        format!("submit on an unbound device: {again:?}")
    })?;
    let t1 = Instant::now();
    bounded(Duration::from_secs(10), move || drop(f))?;
    let close_took = t1.elapsed();
    check(pci_command(bdf)? & COMMAND_MASTER == 0, || {
        format!("{bdf}: bus mastering still on after unbind")
    })?;
    let new_lines: Vec<String> = kernel_log()?
        .into_iter()
        .skip(log_before)
        .filter(|l| KERNEL_TROUBLE.iter().any(|p| l.contains(p)) || l.contains("DMA-API"))
        .collect();
    check(new_lines.is_empty(), || {
        format!("kernel log after unbind: {}", new_lines.join(" | "))
    })?;
    Ok(format!(
        "wait failed ({how}) {:.0} ms into the unbind ({:.0} ms), close {:.0} ms, bus master off, log clean",
        waited.as_secs_f64() * 1000.0,
        unbind_took.as_secs_f64() * 1000.0,
        close_took.as_secs_f64() * 1000.0
    ))
}

/// Binds the driver to `bdf` again and checks that the device works.
fn rebind(bdf: &str) -> Result<(), String> {
    driver_op("bind", bdf)?;
    let t0 = Instant::now();
    while !Path::new("/dev/vgpu0").exists() && t0.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(50));
    }
    check(pci_command(bdf)? & COMMAND_MASTER != 0, || {
        format!("{bdf}: bus mastering off after rebind")
    })?;
    let f = open0()?;
    let mut out = [0u8; 2];
    let c = f
        .call(Opcode::Echo as u16, b"ok", &mut out, 5000)
        .map_err(|e| format!("echo after rebind: {e}"))?;
    check(c.status == Status::Ok as u32 && &out == b"ok", || {
        format!("echo after rebind: status {}", c.status)
    })
}
