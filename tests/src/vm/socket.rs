//! The native socket run: the driver-API suite, the cudart programs, the
//! isolation check, a short benchmark run, the load test and the quota
//! check (`super::load`) on this machine against
//! vgpu-host's direct socket transport (no VM): the same programs, the same
//! commands, in seconds.

use std::{fs, process::Command};

use super::env::Env;
use super::gpu::h100;
use super::host::{Host, Transport};
use crate::cudart;
use crate::results::{check_digests, verdict, Outcome};

/// Prefix of this run's result names.
pub const PREFIX: &str = "native-socket/";

pub fn run(env: &Env) -> Result<Vec<Outcome>, String> {
    let dir = env.work.join("native-socket");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let libdir = dir.join("lib");
    fs::create_dir_all(&libdir).map_err(|e| e.to_string())?;
    let link = libdir.join("libcuda.so.1");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(&env.libcuda, &link).map_err(|e| e.to_string())?;
    let mut host = Host::start(
        env,
        &h100(),
        Transport::Direct,
        &dir.join("direct.sock"),
        &dir.join("vgpu-host.log"),
    )?;
    let out = Command::new(&env.cuda_suite)
        .args(["--roundtrip-mib", &env.roundtrip_mib.to_string()])
        .env("VGPU_SOCKET", &host.socket)
        .env("LD_LIBRARY_PATH", &libdir)
        .output();
    let cudart_results =
        cudart::run_over_socket(&env.cuda_programs, &host.socket, &libdir, &dir, PREFIX);
    let isolation = Command::new(&env.cuda_suite)
        // Under the simulator's own 60 s watchdog: only the worker's command
        // timeout (20 s in the test bed, `host.rs`) stops the endless kernel
        // in time.
        .args(["--isolation", "--hang-timeout-s", "45"])
        .env("VGPU_SOCKET", &host.socket)
        .env("LD_LIBRARY_PATH", &libdir)
        .output();
    // The benchmarks, short: they must keep running (the GPU suite's bench
    // parts use them); the simulator's figures mean nothing.
    let bench = Command::new(&env.cuda_suite)
        .args(["--bench", "--quick"])
        .env("VGPU_SOCKET", &host.socket)
        .env("LD_LIBRARY_PATH", &libdir)
        .output();
    let load_results = super::load::over_socket(env, &host, &libdir, &dir, PREFIX);
    host.kill();
    let quota_results = super::load::quota_over_socket(env, &libdir, &dir, PREFIX);
    let out = out.map_err(|e| format!("{}: {e}", env.cuda_suite.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    fs::write(
        dir.join("suite.log"),
        format!("{text}\n{}", String::from_utf8_lossy(&out.stderr)),
    )
    .map_err(|e| e.to_string())?;
    let mut results: Vec<Outcome> = text
        .lines()
        .filter_map(|l| l.strip_prefix("CASE "))
        .map(|rest| verdict(&format!("{PREFIX}cuda-"), rest))
        .collect();
    if env.digests_comparable() {
        let (same, detail) = check_digests(&text);
        results.push((format!("{PREFIX}digests"), same, detail));
    }
    results.push((
        format!("{PREFIX}exit"),
        out.status.success(),
        format!("cuda-suite exited with {}", out.status),
    ));
    results.extend(cudart_results);
    let isolation =
        isolation.map_err(|e| format!("{} --isolation: {e}", env.cuda_suite.display()))?;
    let text = String::from_utf8_lossy(&isolation.stdout).into_owned();
    fs::write(dir.join("isolation.log"), &text).map_err(|e| e.to_string())?;
    let got: Vec<Outcome> = text
        .lines()
        .filter_map(|l| l.strip_prefix("CASE "))
        .map(|rest| verdict(&format!("{PREFIX}isolation/"), rest))
        .collect();
    for case in crate::isolation::CASES {
        let name = format!("{PREFIX}isolation/{case}");
        if !got.iter().any(|(n, _, _)| *n == name) {
            results.push((name, false, "not reported by cuda-suite --isolation".into()));
        }
    }
    results.extend(got);
    let bench = bench.map_err(|e| format!("{} --bench: {e}", env.cuda_suite.display()))?;
    let text = String::from_utf8_lossy(&bench.stdout).into_owned();
    fs::write(dir.join("bench.log"), &text).map_err(|e| e.to_string())?;
    let got: Vec<Outcome> = text
        .lines()
        .filter_map(|l| l.strip_prefix("CASE "))
        .map(|rest| verdict(&format!("{PREFIX}bench/"), rest))
        .collect();
    let expected = std::iter::once("setup".to_string()).chain(
        crate::bench::GROUPS
            .iter()
            .map(|g| crate::bench::case_name(g)),
    );
    for case in expected {
        let name = format!("{PREFIX}bench/{case}");
        if !got.iter().any(|(n, _, _)| *n == name) {
            results.push((name, false, "not reported by cuda-suite --bench".into()));
        }
    }
    results.extend(got);
    results.extend(load_results);
    results.extend(quota_results);
    Ok(results)
}
