//! Tests of `vgpu-host check` on fake device and socket directories.

use super::*;
use std::os::unix::fs::symlink;

/// A fresh scratch directory.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vgpu-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    d
}

/// A fake /dev holding `names` as links to /dev/null (a character device).
fn fake_dev(name: &str, names: &[&str]) -> PathBuf {
    let d = scratch(name);
    for n in names {
        symlink("/dev/null", d.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    // Not a character device, so never a GPU node.
    std::fs::write(d.join("nvidia1"), b"").unwrap_or_else(|e| panic!("{e}"));
    d
}

#[test]
fn a_gpu_needs_nvidiactl_and_a_numbered_node() {
    let dev = fake_dev(
        "gpu",
        &[
            "nvidiactl",
            "nvidia0",
            "nvidia-uvm",
            "nvidia-modeset",
            "null",
        ],
    );
    let names: Vec<String> = gpu_nodes(&dev)
        .iter()
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, ["nvidia-uvm", "nvidia0", "nvidiactl"]);
    let f = check_gpu(&dev);
    assert_eq!(f.verdict, Verdict::Ok, "{f}");
    assert!(f.detail.starts_with("1 GPU(s)"), "{f}");

    let f = check_gpu(&fake_dev("ctl-only", &["nvidiactl"]));
    assert_eq!(f.verdict, Verdict::Fail, "{f}");
    assert!(f.detail.contains("no NVIDIA GPU device nodes"), "{f}");
    assert!(f.to_string().starts_with("FAIL GPU: "), "{f}");
}

#[test]
fn denied_nodes_are_named_with_their_owner_and_mode() {
    let dev = fake_dev("perm", &["nvidiactl", "nvidia0"]);
    let nodes = gpu_nodes(&dev);
    let f = node_permissions(&nodes, |_| true);
    assert_eq!(f.verdict, Verdict::Ok, "{f}");
    let f = node_permissions(&nodes, |n| !n.ends_with("nvidia0"));
    assert_eq!(f.verdict, Verdict::Fail, "{f}");
    assert!(f.detail.contains("nvidia0 (0:0 0666)"), "{f}");
    assert!(!f.detail.contains("nvidiactl"), "{f}");
    assert!(f.detail.contains("SupplementaryGroups"), "{f}");
    assert_eq!(node_permissions(&[], |_| true).verdict, Verdict::Fail);
}

#[test]
fn the_driver_version_is_shown_or_the_failure() {
    let f = check_driver(|| Ok(13000));
    assert_eq!(f.verdict, Verdict::Ok);
    assert!(f.detail.contains("CUDA driver API 13.0 (13000)"), "{f}");
    let f = check_driver(|| Err("cannot load the CUDA driver library libcuda.so.1".into()));
    assert_eq!(f.verdict, Verdict::Fail);
    assert!(f.detail.contains("cannot load"), "{f}");
}

#[test]
fn the_socket_directory_must_exist_and_be_writable() {
    let base = scratch("run");
    let f = check_socket_dir(&base.join("vgpu"));
    assert_eq!(f.verdict, Verdict::Fail, "{f}");
    assert!(f.detail.contains("install -d -o vgpu"), "{f}");
    // The unit's RuntimeDirectory is made at start: not missing before.
    let f = check_socket_dir(Path::new("/run/vgpu/no-such-vm"));
    assert_eq!(f.verdict, Verdict::Ok, "{f}");
    assert!(f.detail.contains("creates it at start"), "{f}");
    std::fs::write(base.join("file"), b"").unwrap_or_else(|e| panic!("{e}"));
    assert!(check_socket_dir(&base.join("file"))
        .detail
        .contains("not a directory"));
    let f = check_socket_dir(&base);
    assert_eq!(f.verdict, Verdict::Ok, "{f}");
}

#[test]
fn a_simulator_config_needs_no_gpu_and_checks_its_socket_directory() {
    let base = scratch("sim");
    let run = base.join("run");
    std::fs::create_dir(&run).unwrap_or_else(|e| panic!("{e}"));
    let config = base.join("vm1.toml");
    std::fs::write(
        &config,
        format!(
            "socket = \"{}/vm1.sock\"\nexecutor = \"sim\"\n",
            run.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let qemu = base.join("qemu.cmdline");
    std::fs::write(&qemu, "qemu-system-x86_64 -m 1G").unwrap_or_else(|e| panic!("{e}"));
    let cli = CheckCli::parse_from([
        "check",
        "--config",
        &config.display().to_string(),
        "--qemu-cmdline",
        &qemu.display().to_string(),
        "--dev-dir",
        "/nonexistent",
    ]);
    let findings = run_checks(&cli, || panic!("the simulator must not load libcuda"))
        .unwrap_or_else(|e| panic!("{e}"));
    let by = |what: &str| {
        findings
            .iter()
            .find(|f| f.what == what)
            .unwrap_or_else(|| panic!("no {what} in {findings:?}"))
    };
    assert_eq!(by("GPU").verdict, Verdict::Skip);
    assert_eq!(by("driver").verdict, Verdict::Skip);
    assert_eq!(
        by("socket directory").verdict,
        Verdict::Ok,
        "{:?}",
        by("socket directory")
    );
    assert!(by("socket directory")
        .detail
        .contains(&run.display().to_string()));
    assert_eq!(by("guest RAM").verdict, Verdict::Fail);
}

#[test]
fn a_cuda_config_on_a_host_without_a_gpu_fails_each_missing_thing() {
    let cli = CheckCli::parse_from(["check", "--dev-dir", "/nonexistent"]);
    let findings = run_checks(&cli, || Err("no libcuda".into())).unwrap_or_else(|e| panic!("{e}"));
    let failed: Vec<&str> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .map(|f| f.what)
        .collect();
    assert!(failed.contains(&"GPU"), "{findings:?}");
    assert!(failed.contains(&"driver"), "{findings:?}");
    assert!(failed.contains(&"device permissions"), "{findings:?}");
}

#[test]
fn a_bad_configuration_is_an_error() {
    let base = scratch("bad");
    let config = base.join("vm.toml");
    std::fs::write(&config, "nonsense = 1\n").unwrap_or_else(|e| panic!("{e}"));
    let cli = CheckCli::parse_from(["check", "--config", &config.display().to_string()]);
    assert!(run_checks(&cli, || Ok(13000)).is_err());
}

#[test]
fn qemu_must_run_as_a_user_the_socket_admits() {
    let f = check_socket_owner(998, None, Some(998));
    assert_eq!(f.verdict, Verdict::Ok, "{f}");
    assert_eq!(check_socket_owner(998, None, Some(0)).verdict, Verdict::Ok);
    let f = check_socket_owner(998, None, Some(64055));
    assert_eq!(f.verdict, Verdict::Fail, "{f}");
    assert!(f.detail.contains("socket_owner = 64055"), "{f}");
    let f = check_socket_owner(998, Some(64055), Some(64055));
    assert_eq!(f.verdict, Verdict::Ok, "{f}");
    let f = check_socket_owner(998, Some(64055), Some(1000));
    assert_eq!(f.verdict, Verdict::Fail, "{f}");
    assert!(f.detail.contains("and uid 64055"), "{f}");
    let f = check_socket_owner(998, Some(64055), None);
    assert_eq!(f.verdict, Verdict::Ok, "{f}");
    assert!(f.detail.contains("uid 64055 (socket_owner)"), "{f}");
    assert_eq!(
        status_euid("Name:\tqemu\nUid:\t1000\t64055\t64055\t64055\n"),
        Some(64055)
    );
    assert_eq!(status_euid("Name:\tqemu\n"), None);
}

#[test]
fn a_running_qemus_user_is_read_from_proc() {
    let cli = CheckCli::parse_from([
        "check",
        "--qemu-pid",
        &std::process::id().to_string(),
        "--dev-dir",
        "/nonexistent",
    ]);
    // Our own process stands for QEMU: it runs as the checking user.
    let findings = run_checks(&cli, || Ok(13000)).unwrap_or_default();
    let owner = findings.iter().find(|f| f.what == "socket owner");
    assert!(
        owner.is_some_and(|f| f.verdict == Verdict::Ok),
        "{findings:?}"
    );
}
