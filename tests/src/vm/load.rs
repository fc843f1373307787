//! The load test and the quota check over the socket (native-socket):
//! `cuda-suite --load` against a running vgpu-host, with what the host
//! holds (its resident memory, its worker processes) measured before,
//! during and after; and `cuda-suite --quota` against a vgpu-host started
//! with quotas.

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use super::env::Env;
use super::gpu::h100;
use super::host::{Footprint, Host, Transport};
use crate::results::{verdict, Outcome};

/// How much the device process's resident memory may grow over a load run
/// (allocator arenas of its supervisor threads), KiB.
const HOST_SLACK_KIB: u64 = 4 << 10;
/// The quota host's memory limit and client limit.
const QUOTA_MEMORY: u64 = 256 << 20;
const QUOTA_CLIENTS: u32 = 4;

/// Waits (at most ten seconds) until the host has `workers` workers.
pub(super) fn settle(host: &Host, workers: usize) -> Footprint {
    let t0 = Instant::now();
    loop {
        let f = host.footprint();
        if f.workers <= workers || t0.elapsed() > Duration::from_secs(10) {
            return f;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `cuda-suite --load` for `env.load_seconds`, and the host's footprint.
pub fn over_socket(
    env: &Env,
    host: &Host,
    libdir: &Path,
    dir: &Path,
    prefix: &str,
) -> Vec<Outcome> {
    let before = settle(host, 0);
    let seconds = env.load_seconds.to_string();
    let procs = env.load_procs.to_string();
    let child = Command::new(&env.cuda_suite)
        .args([
            "--load",
            "--procs",
            &procs,
            "--threads",
            "4",
            "--seconds",
            &seconds,
        ])
        .env("VGPU_SOCKET", &host.socket)
        .env("LD_LIBRARY_PATH", libdir)
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return vec![(format!("{prefix}load"), false, format!("cuda-suite: {e}"))],
    };
    let mut peak = before;
    let limit = Duration::from_secs(env.load_seconds + 200);
    let t0 = Instant::now();
    while matches!(child.try_wait(), Ok(None)) && t0.elapsed() < limit {
        let f = host.footprint();
        peak.host_kib = peak.host_kib.max(f.host_kib);
        peak.workers = peak.workers.max(f.workers);
        peak.workers_kib = peak.workers_kib.max(f.workers_kib);
        thread::sleep(Duration::from_millis(500));
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    let out = child.wait_with_output();
    let text = out
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let _ = fs::write(dir.join("load.log"), &text);
    let mut results: Vec<Outcome> = text
        .lines()
        .filter_map(|l| l.strip_prefix("CASE "))
        .map(|rest| verdict(prefix, rest))
        .collect();
    if results.is_empty() {
        results.push((format!("{prefix}load"), false, "not reported".into()));
    }
    let after = settle(host, before.workers);
    let (back, figures) = back_at_baseline(&before, Some(&peak), &after);
    let _ = fs::write(dir.join("load-footprint.txt"), format!("{figures}\n"));
    results.push((format!("{prefix}load-host-memory"), back, figures));
    results
}

/// Whether the host is back where it was before a load run (no worker
/// left, their memory gone, its own within [`HOST_SLACK_KIB`]), and the
/// figures.
pub(super) fn back_at_baseline(
    before: &Footprint,
    peak: Option<&Footprint>,
    after: &Footprint,
) -> (bool, String) {
    let back = after.workers == before.workers
        && after.workers_kib <= before.workers_kib
        && after.host_kib <= before.host_kib + HOST_SLACK_KIB;
    let peak = peak.map_or(String::new(), |p| {
        format!(
            "; peak {} KiB, {} workers ({} KiB)",
            p.host_kib, p.workers, p.workers_kib
        )
    });
    let figures = format!(
        "vgpu-host RSS {} KiB before, {} KiB after; workers {} ({} KiB) before, {} ({} KiB) after{peak}",
        before.host_kib,
        after.host_kib,
        before.workers,
        before.workers_kib,
        after.workers,
        after.workers_kib
    );
    (back, figures)
}

/// `cuda-suite --quota` against a vgpu-host of its own, started with a
/// memory and a client quota; NVML is our `libnvidia-ml.so.1` from the dist.
pub fn quota_over_socket(env: &Env, libdir: &Path, dir: &Path, prefix: &str) -> Vec<Outcome> {
    let nvml = env.dist.join("libnvidia-ml.so.1");
    let link = libdir.join("libnvidia-ml.so.1");
    let _ = fs::remove_file(&link);
    let linked = std::os::unix::fs::symlink(&nvml, &link);
    let (memory, clients) = (QUOTA_MEMORY.to_string(), QUOTA_CLIENTS.to_string());
    let host = Host::start_with(
        env,
        &h100(),
        Transport::Direct,
        &dir.join("quota.sock"),
        &dir.join("vgpu-host-quota.log"),
        &["--vm-memory-limit", &memory, "--max-clients", &clients],
    );
    let mut results = Vec::new();
    let mut host = match host {
        Ok(h) => h,
        Err(e) => return vec![(format!("{prefix}quota/start"), false, e)],
    };
    let mut args = vec!["--quota", "--total", &memory, "--clients", &clients];
    if linked.is_ok() && nvml.exists() {
        args.push("--require-nvml");
    }
    let out = Command::new(&env.cuda_suite)
        .args(&args)
        .env("VGPU_SOCKET", &host.socket)
        .env("LD_LIBRARY_PATH", libdir)
        .output();
    host.kill();
    let _ = fs::remove_file(&link);
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("cuda-suite: {e}"));
    let _ = fs::write(dir.join("quota.log"), &text);
    let quota_prefix = format!("{prefix}quota/");
    results.extend(
        text.lines()
            .filter_map(|l| l.strip_prefix("CASE "))
            .map(|rest| verdict(&quota_prefix, rest)),
    );
    for case in crate::quota::CASES {
        let name = format!("{quota_prefix}{case}");
        if !results.iter().any(|(n, _, _)| *n == name) {
            results.push((name, false, "not reported by cuda-suite --quota".into()));
        }
    }
    results
}
