//! The VM test bed: starts `vgpu-host` processes (sim executor), boots the
//! guest kernel under QEMU (TCG) with one `vfio-user-pci` device per host,
//! runs the guest test program and collects its results (see
//! [`vgpu_tests::vm`]).
//!
//! `vm-runner demo` boots one device and prints it as the guest sees it;
//! `vm-runner test [SCENARIO]` runs every scenario (or the one named, or
//! `native-socket`) and ends with `N passed, N failed`;
//! `vm-runner build-initramfs` only builds each scenario's image.
//! Paths come from `scripts/vm-env.sh` through the environment (see `Env`).

use std::{env, fs, process::ExitCode};

use vgpu_tests::results::kernel_trouble;
use vgpu_tests::vm::{env::Env, initramfs, qemu::boot, report, scenario};

fn demo(env: &Env) -> ExitCode {
    match boot(env, &scenario::demo(env), true) {
        Ok(b) if b.done && kernel_trouble(&b.log).is_empty() => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!(
                "vm-runner: the demo boot did not finish cleanly (serial log in {}/demo)",
                env.work.display()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("vm-runner: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build_initramfs(env: &Env) -> ExitCode {
    for s in scenario::scenarios(env) {
        let dir = env.work.join(s.name);
        if let Err(e) = fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| initramfs::build(env, &s, &dir))
        {
            eprintln!("vm-runner: {}: {e}", s.name);
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let env = match Env::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("vm-runner: {e}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => demo(&env),
        Some("build-initramfs") => build_initramfs(&env),
        Some("test") => {
            if report::run(&env, args.get(1).map(String::as_str)).print() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!(
                "usage: vm-runner demo | vm-runner test [SCENARIO] | vm-runner build-initramfs"
            );
            ExitCode::from(2)
        }
    }
}
