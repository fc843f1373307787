//! The guest's initramfs: busybox, the guest test program, vgpu.ko, our
//! libcuda.so.1 and the CUDA programs with the host libraries they load,
//! the helper scripts, and the scenario's steps and expectations.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use super::env::Env;
use super::scenario::{Scenario, GUEST_CUDART_DIR, GUEST_SCRIPTS, INIT};
use crate::cudart;

pub(crate) fn run_cmd(cmd: &mut Command) -> Result<(), String> {
    let st = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {st}"))
    }
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", from.display()))
}

fn write(to: &Path, contents: impl AsRef<[u8]>) -> Result<(), String> {
    fs::write(to, contents).map_err(|e| format!("{}: {e}", to.display()))
}

fn mkdir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Builds the guest initramfs for `s` in `dir` (an uncompressed newc cpio).
pub fn build(env: &Env, s: &Scenario, dir: &Path) -> Result<PathBuf, String> {
    let cpio = dir.join("initramfs.cpio");
    if env.prebuilt {
        return if cpio.exists() {
            Ok(cpio)
        } else {
            Err(format!("VGPU_PREBUILT=1 but {} is missing", cpio.display()))
        };
    }
    let root = dir.join("root");
    let _ = fs::remove_dir_all(&root);
    let moddir = root.join("lib/modules").join(&env.kernel_release);
    for d in ["bin", "sbin", "etc", "proc", "sys", "dev", "tmp"] {
        mkdir(&root.join(d))?;
    }
    mkdir(&moddir.join("extra"))?;
    copy(&env.busybox, &root.join("bin/busybox"))?;
    copy(&env.guest_bin, &root.join("bin/vgpu-guest"))?;
    copy(&env.kmod, &moddir.join("extra/vgpu.ko"))?;
    // Dynamically linked programs: the suite and our libcuda.so.1 with the
    // host's glibc, and a static ldconfig to build the loader cache.
    let libdir = root.join("usr/lib/x86_64-linux-gnu");
    mkdir(&libdir)?;
    copy(&env.cuda_suite, &root.join("bin/cuda-suite"))?;
    copy(&env.libcuda, &libdir.join("libcuda.so.1"))?;
    std::os::unix::fs::symlink("libcuda.so.1", libdir.join("libcuda.so"))
        .map_err(|e| e.to_string())?;
    copy(&env.ldconfig, &root.join("sbin/ldconfig"))?;
    write(
        &root.join("etc/ld.so.conf"),
        "/usr/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n",
    )?;
    write(
        &root.join("etc/vgpu-roundtrip-mib"),
        env.roundtrip_mib.to_string(),
    )?;
    write(&root.join("etc/vgpu-bench"), &env.bench_args)?;
    write(
        &root.join("etc/vgpu-load-seconds"),
        env.load_seconds.to_string(),
    )?;
    write(
        &root.join("etc/vgpu-fuzz-seconds"),
        env.fuzz_seconds.to_string(),
    )?;
    if let Some(seed) = env.fuzz_seed {
        write(&root.join("etc/vgpu-fuzz-seed"), seed.to_string())?;
    }
    if let Some(filter) = &env.guest_log {
        write(&root.join("etc/vgpu-log"), filter)?;
    }
    // Only the cuda scenario runs them; the others boot smaller images.
    let cudart_programs = if s.runs_cuda() {
        install_cudart_programs(env, &root, &libdir)?
    } else {
        Vec::new()
    };
    let mut binaries: Vec<&Path> = vec![&env.cuda_suite, &env.libcuda];
    binaries.extend(cudart_programs.iter().map(PathBuf::as_path));
    for lib in shared_libraries(&binaries)? {
        let to = root.join(lib.strip_prefix("/").map_err(|e| e.to_string())?);
        if let Some(parent) = to.parent() {
            mkdir(parent)?;
        }
        if !to.exists() {
            copy(&lib, &to)?;
        }
    }
    write(&root.join("init"), INIT)?;
    let mut executables = vec![
        root.join("init"),
        root.join("bin/busybox"),
        root.join("bin/vgpu-guest"),
        root.join("bin/cuda-suite"),
    ];
    for (name, script) in GUEST_SCRIPTS {
        let path = root.join("bin").join(name);
        write(&path, script)?;
        executables.push(path);
    }
    write(&root.join("etc/vgpu-steps"), s.steps_file())?;
    write(&root.join("etc/vgpu-expect"), s.expect_file())?;
    run_cmd(Command::new("chmod").arg("0755").args(&executables))?;
    // depmod wants these lists; a test root has no built-in modules.
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        write(&moddir.join(f), "")?;
    }
    run_cmd(
        Command::new("depmod")
            .arg("-b")
            .arg(&root)
            .arg(&env.kernel_release),
    )?;
    run_cmd(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && find . | cpio -o -H newc --quiet > '{}'",
        root.display(),
        cpio.display()
    )))?;
    Ok(cpio)
}

/// Copies the cudart test programs that were built into the guest's
/// [`GUEST_CUDART_DIR`], and NVIDIA's shared cudart into `libdir`; returns
/// the host paths copied (their own libraries must come too). One that was
/// not built is left out: the guest then reports it as failed.
fn install_cudart_programs(env: &Env, root: &Path, libdir: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = root.join(GUEST_CUDART_DIR.trim_start_matches('/'));
    mkdir(&dir)?;
    let mut copied = Vec::new();
    let runtime = env.cuda_programs.join("lib").join(cudart::CUDART_LIB);
    if runtime.exists() {
        copy(&runtime, &libdir.join(cudart::CUDART_LIB))?;
        copied.push(runtime);
    }
    for (_, build) in cudart::builds() {
        let from = env.cuda_programs.join(&build);
        if from.exists() {
            copy(&from, &dir.join(&build))?;
            copied.push(from);
        }
    }
    Ok(copied)
}

/// The library path in one line of `ldd` output:
/// `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`.
fn ldd_path(line: &str) -> Option<&str> {
    line.split("=>")
        .last()?
        .split_whitespace()
        .next()
        .filter(|p| p.starts_with('/'))
}

/// The shared libraries `binaries` load (resolved by the host's loader), plus the loader.
fn shared_libraries(binaries: &[&Path]) -> Result<Vec<PathBuf>, String> {
    let mut libs = BTreeSet::new();
    for b in binaries {
        let out = Command::new("ldd")
            .arg(b)
            .output()
            .map_err(|e| format!("ldd: {e}"))?;
        libs.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(ldd_path)
                .map(PathBuf::from),
        );
    }
    // The loader's own path may be a symlink; keep both it and its target.
    let resolved: Vec<PathBuf> = libs
        .iter()
        .filter_map(|l| fs::canonicalize(l).ok())
        .collect();
    libs.extend(resolved);
    Ok(libs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lines_give_their_library_path() {
        assert_eq!(
            ldd_path("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f00)"),
            Some("/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(
            ldd_path("\t/lib64/ld-linux-x86-64.so.2 (0x7f00)"),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(ldd_path("\tlinux-vdso.so.1 (0x7ffd)"), None);
    }
}
