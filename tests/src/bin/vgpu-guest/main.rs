//! Guest-side test program of the VM test bed, statically linked and run
//! inside the guest by the initramfs. `vgpu-guest info` prints every device
//! as the guest sees it; `vgpu-guest test NAME...` runs tests and prints one
//! `@@RESULT <name> PASS|FAIL <detail>` line each for the runner;
//! `vgpu-guest sample DIR SECONDS` profiles the programs under DIR
//! (sample.rs).

mod commands;
mod device;
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
        _ => Err(format!("unknown test {name}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("info") => info_cmd(),
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
            eprintln!("usage: vgpu-guest info | vgpu-guest test NAME... | vgpu-guest sample DIR SECONDS [INTERVAL_MS [STOP_FILE]]");
            ExitCode::from(2)
        }
    }
}
