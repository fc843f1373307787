//! Guest-side test program of the VM test bed, statically linked and run
//! inside the guest by the initramfs. `vgpu-guest info` prints every device
//! as the guest sees it; `vgpu-guest test NAME...` runs tests and prints one
//! `@@RESULT <name> PASS|FAIL <detail>` line each for the runner;
//! `vgpu-guest sample DIR SECONDS` profiles the programs under DIR
//! (sample.rs).

mod commands;
mod device;
mod faults;
mod fuzz;
mod identity;
mod ioctl_sweep;
mod lifecycle;
mod pin_cache;
mod sample;
mod signals;
mod space;
mod threads;
mod unbind;
mod zero_copy;

use std::{process::ExitCode, time::Instant};

use device::{info_cmd, TestResult};

fn run(name: &str) -> TestResult {
    match name {
        "bind" => identity::bind(),
        "identity" | "identity-after-reload" => identity::identity(),
        "other-device-alive" => identity::other_device_alive(),
        "refused" => identity::refused(),
        "echo" => commands::echo(),
        "detached" => commands::detached(),
        "device-errors" => commands::device_errors(),
        "ioctl-sweep" => ioctl_sweep::ioctl_sweep(),
        "ioctl-fuzz" => fuzz::ioctl_fuzz(),
        "debug-kernel" => fuzz::debug_kernel(),
        "kernel-clean" => fuzz::kernel_clean(),
        "rmmod-busy" => lifecycle::rmmod_busy(),
        "host-kill" => lifecycle::host_kill(),
        "host-stop" => lifecycle::host_stop(),
        "space-deadlock" => space::space_deadlock(),
        "space-wakeup" => space::space_wakeup(),
        "room-before-memory" => space::room_before_memory(),
        "wait-signal" => signals::wait_signal(),
        "unbind-wait" => unbind::unbind_wait(),
        "dmesg-clean" => lifecycle::dmesg_clean(),
        "zero-copy" => zero_copy::zero_copy(),
        "zero-copy-used" => zero_copy::zero_copy_used(),
        "pin-reuse" => pin_cache::pin_reuse(),
        "pin-invalidate" => pin_cache::pin_invalidate(),
        "pin-register" => pin_cache::pin_register(),
        "pin-limit" => pin_cache::pin_limit(),
        "fault-probe-timeout" => faults::probe_timeout(),
        "fault-bad-tag" => faults::bad_tag(),
        "fault-bad-tail" => faults::bad_tail(),
        "fault-silent-error" => faults::silent_error(),
        "fault-stuck-stop" => faults::stuck_stop(),
        "fault-heartbeat-pause" => faults::heartbeat_pause(),
        _ => Err(format!("unknown test {name}")),
    }
}

/// `vgpu-guest as UID MEMLOCK_KIB PROG ARGS...`: runs PROG as user UID
/// (group UID, no supplementary groups) under an RLIMIT_MEMLOCK of
/// MEMLOCK_KIB, as a service user runs (busybox's setpriv cannot change
/// users).
fn as_user(args: &[String]) -> ExitCode {
    let (Some(uid), Some(kib), Some(prog)) = (
        args.first().and_then(|a| a.parse::<u32>().ok()),
        args.get(1).and_then(|a| a.parse::<u64>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: vgpu-guest as UID MEMLOCK_KIB PROG ARGS...");
        return ExitCode::from(2);
    };
    let Ok(argv) = args[2..]
        .iter()
        .map(|a| std::ffi::CString::new(a.as_str()))
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("as: an argument holds a NUL");
        return ExitCode::from(2);
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let limit = libc::rlimit {
        rlim_cur: kib << 10,
        rlim_max: kib << 10,
    };
    // SAFETY: plain system calls on this process; `ptrs` is a
    // NULL-terminated array of live C strings.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0
            || libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(uid) != 0
            || libc::setuid(uid) != 0
        {
            eprintln!("as: {}", std::io::Error::last_os_error());
            return ExitCode::from(2);
        }
        libc::execvp(ptrs[0], ptrs.as_ptr());
    }
    eprintln!("as: {prog}: {}", std::io::Error::last_os_error());
    ExitCode::from(127)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("info") => info_cmd(),
        Some("as") => as_user(&args[1..]),
        Some("sample") => match sample::sample(&args[1..]) {
            Ok(d) => {
                println!("diag sample| {d}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Some("test") => {
            let mut failed = false;
            for name in &args[1..] {
                let t0 = Instant::now();
                let r = run(name);
                let ms = t0.elapsed().as_millis();
                match r {
                    Ok(d) => println!("@@RESULT {name} PASS {ms}ms {d}"),
                    Err(d) => {
                        failed = true;
                        println!("@@RESULT {name} FAIL {ms}ms {d}")
                    }
                }
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            eprintln!("usage: vgpu-guest info | vgpu-guest test NAME... | vgpu-guest as UID MEMLOCK_KIB PROG ARGS... | vgpu-guest sample DIR SECONDS [INTERVAL_MS [STOP_FILE]]");
            ExitCode::from(2)
        }
    }
}
