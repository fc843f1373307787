//! The driver and the host going away: rmmod while busy, a killed
//! vgpu-host, and a clean kernel log afterwards.

use std::time::{Duration, Instant};

use uapi::{
    cmd::{Opcode, SleepRequest},
    wire::Wire,
};

use vgpu_tests::results::KERNEL_TROUBLE;

use crate::device::{check, open0, TestResult};

pub fn rmmod_busy() -> TestResult {
    let f = open0()?;
    let name = std::ffi::CString::new("vgpu").map_err(|e| e.to_string())?;
    // SAFETY: `name` is a valid string; O_NONBLOCK asks for an error instead of waiting.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    check(
        r != 0 && (errno == libc::EBUSY || errno == libc::EWOULDBLOCK),
        || format!("rmmod with /dev/vgpu0 open: returned {r}, errno {errno}"),
    )?;
    // The file still works.
    let mut out = [0u8; 2];
    let c = f
        .call(Opcode::Echo as u16, b"hi", &mut out, 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == 0 && &out == b"hi", || {
        "file broken after refused rmmod".into()
    })?;
    drop(f);
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    check(r == 0, || {
        format!(
            "rmmod after close failed: {}",
            std::io::Error::last_os_error()
        )
    })?;
    check(!std::path::Path::new("/dev/vgpu0").exists(), || {
        "/dev/vgpu0 still there after rmmod".into()
    })?;
    let st = std::process::Command::new("modprobe")
        .arg("vgpu")
        .status()
        .map_err(|e| e.to_string())?;
    check(st.success(), || "modprobe vgpu after rmmod failed".into())?;
    // devtmpfs creates the node asynchronously.
    let t0 = Instant::now();
    while !std::path::Path::new("/dev/vgpu0").exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let f = open0()?;
    let c = f
        .call(Opcode::Echo as u16, b"hi", &mut out, 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == 0, || "device broken after reload".into())?;
    Ok("rmmod refused while open, allowed after close; reload works".into())
}

pub fn host_kill() -> TestResult {
    let f = open0()?;
    let sleep = SleepRequest {
        millis: 60_000,
        reserved: 0,
    };
    let seq = f
        .submit_one(Opcode::Sleep as u16, sleep.as_bytes(), 0)
        .map_err(|e| e.to_string())?;
    // The runner kills vgpu-host 0 when it reads this line.
    println!("@@KILL-HOST 0");
    let t0 = Instant::now();
    let r = f.wait(seq, &mut [], 0);
    let took = t0.elapsed();
    match r {
        Err(e) if e.errno == libc::ENODEV => {}
        other => {
            return Err(format!(
                "wait returned {other:?} after {took:?}, expected ENODEV"
            ))
        }
    }
    check(took < Duration::from_secs(5), || {
        format!("wait failed only after {took:?}")
    })?;
    // Later calls fail promptly too.
    let t1 = Instant::now();
    let r = f.submit_one(Opcode::Echo as u16, b"x", 1);
    check(
        r.map_err(|e| e.errno) == Err(libc::ENODEV) && t1.elapsed() < Duration::from_secs(5),
        || "submit after device loss did not fail with ENODEV".into(),
    )?;
    drop(f);
    Ok(format!(
        "wait failed with ENODEV {:.2} s after the kill request",
        took.as_secs_f64()
    ))
}

/// Misc devices whose open has no lasting effect, by node name.
const HARMLESS_MISC: [&str; 6] = [
    "cpu_dma_latency",
    "vga_arbiter",
    "loop-control",
    "fuse",
    "rfkill",
    "vgpu1",
];

/// Opens `/dev/NAME` and returns how long it took.
fn timed_open(name: &str) -> Result<Duration, String> {
    let t0 = Instant::now();
    std::fs::File::open(format!("/dev/{name}")).map_err(|e| format!("/dev/{name}: {e}"))?;
    Ok(t0.elapsed())
}

/// H3: with vgpu-host 0 stopped (SIGSTOP) an open of /dev/vgpu0 does not
/// touch the device, so it returns at once and holds up no other misc
/// open; the client's bring-up waits for its first command, which works
/// once the host runs again. No MMIO read may reach the stopped host: QEMU
/// would stall the vCPU for its message timeout and then drop the
/// connection at the late reply.
pub fn host_stop() -> TestResult {
    let probe = open0()?;
    let mut out = [0u8; 2];
    probe
        .call(Opcode::Echo as u16, b"up", &mut out, 5000)
        .map_err(|e| format!("echo before the stop: {e}"))?;
    let others: Vec<&str> = HARMLESS_MISC
        .into_iter()
        .filter(|n| std::path::Path::new(&format!("/dev/{n}")).exists())
        .collect();
    check(!others.is_empty(), || "no other misc device to open".into())?;
    // The runner stops vgpu-host 0 when it reads this line; an echo that
    // does not complete within 300 ms shows that it did.
    println!("@@STOP-HOST 0");
    let cont = || println!("@@CONT-HOST 0");
    let t0 = Instant::now();
    let pending = loop {
        let seq = probe
            .submit_one(Opcode::Echo as u16, b"up", 2)
            .inspect_err(|_| cont())
            .map_err(|e| format!("probe echo: {e}"))?;
        match probe.wait(seq, &mut out, 300) {
            Err(e) if e.errno == libc::ETIMEDOUT => break seq,
            Ok(_) if t0.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => {
                cont();
                return Err(format!("vgpu-host 0 did not stop: probe echo {other:?}"));
            }
        }
    };
    // Open /dev/vgpu0 on a thread while other misc devices open here: before
    // the fix the open ran the bring-up under the global misc lock.
    let opener = std::thread::spawn(|| {
        let t0 = Instant::now();
        let r = open0();
        (r, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(20));
    let mut opened = Vec::new();
    for name in &others {
        opened.push((*name, timed_open(name)));
    }
    let joined = crate::threads::bounded(Duration::from_secs(30), move || opener.join());
    cont();
    let (fresh, open_took) = joined?.map_err(|_| "opener panicked".to_string())?;
    check(open_took < Duration::from_millis(500), || {
        format!(
            "open(/dev/vgpu0) with the host stopped took {open_took:?} ({})",
            fresh
                .as_ref()
                .map_or_else(String::clone, |_| "opened".into())
        )
    })?;
    let fresh = fresh?;
    let mut misc = Vec::new();
    for (name, took) in opened {
        let took = took?;
        check(took < Duration::from_millis(500), || {
            format!("open(/dev/{name}) took {took:?} while /dev/vgpu0 was being opened")
        })?;
        misc.push(format!("{name} {:.1} ms", took.as_secs_f64() * 1000.0));
    }
    // Running again: the stalled echo completes, and the file opened during
    // the stop starts its client on its first command.
    let c = probe
        .wait(pending, &mut out, 10_000)
        .map_err(|e| format!("stalled echo after SIGCONT: {e}"))?;
    check(c.status == 0 && &out == b"up", || {
        format!("stalled echo after SIGCONT: status {}", c.status)
    })?;
    let c = fresh
        .call(Opcode::Echo as u16, b"ok", &mut out, 10_000)
        .map_err(|e| format!("first command of the file opened while stopped: {e}"))?;
    check(c.status == 0 && &out == b"ok", || {
        format!("first command after SIGCONT: status {}", c.status)
    })?;
    Ok(format!(
        "host stopped: open(/dev/vgpu0) {:.1} ms, {}; a timed WAIT gave ETIMEDOUT; all works after SIGCONT",
        open_took.as_secs_f64() * 1000.0,
        misc.join(", ")
    ))
}

pub fn dmesg_clean() -> TestResult {
    let out = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| KERNEL_TROUBLE.iter().any(|p| l.contains(p)))
        .collect();
    check(bad.is_empty(), || {
        format!("kernel log: {}", bad.join(" | "))
    })?;
    Ok("no oops, BUG or WARN in the kernel log".into())
}
