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
