//! The VM test bed: starts `vgpu-host` processes (sim executor), boots the
//! guest kernel under QEMU (TCG) with one `vfio-user-pci` device per host,
//! runs the guest test program and collects its results (see
//! [`vgpu_tests::vm`]).
//!
//! `vm-runner demo` boots one device and prints it as the guest sees it;
//! `vm-runner test [SCENARIO]` runs every scenario (or the one named, or
//! `native-socket`) and ends with `N passed, N failed`;
//! `vm-runner build-initramfs` only builds each scenario's image;
//! `vm-runner image SCENARIO` builds one, for another VMM to boot
//! (scripts/test-libvirt.sh), and prints its directory.
//! Paths come from `scripts/vm-env.sh` through the environment (see `Env`).

use std::{env, fs, process::ExitCode};

use vgpu_tests::results::kernel_trouble;
use vgpu_tests::vm::{env::Env, gpu, initramfs, qemu::boot, report, scenario};

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

/// Builds `name`'s image in its work directory and writes beside it what
/// the VMM that boots it needs: `gpu0.toml`, the `[sim]` table of vgpu-host's
/// configuration for its (first) device, and `required`, the results its
/// serial log must report as `@@RESULT NAME PASS`, one a line. Prints the
/// directory.
fn image(env: &Env, name: &str) -> ExitCode {
    let Some(s) = scenario::scenarios(env)
        .into_iter()
        .find(|s| s.name == name)
    else {
        eprintln!("vm-runner: no scenario {name}");
        return ExitCode::from(2);
    };
    let dir = env.work.join(s.name);
    let built = fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| initramfs::build(env, &s, &dir))
        .and_then(|_| {
            let table = s.gpus.first().map(gpu::sim_table).unwrap_or_default();
            fs::write(dir.join("gpu0.toml"), table).map_err(|e| e.to_string())
        })
        .and_then(|()| {
            let required: String = s.required.iter().map(|r| format!("{r}\n")).collect();
            fs::write(dir.join("required"), required).map_err(|e| e.to_string())
        });
    match built {
        Ok(()) => {
            println!("{}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vm-runner: {name}: {e}");
            ExitCode::FAILURE
        }
    }
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
        Some("image") if args.len() == 2 => image(&env, &args[1]),
        Some("test") => {
            if report::run(&env, args.get(1).map(String::as_str)).print() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!(
                "usage: vm-runner demo | vm-runner test [SCENARIO] | vm-runner build-initramfs | vm-runner image SCENARIO"
            );
            ExitCode::from(2)
        }
    }
}
