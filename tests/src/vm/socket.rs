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
    let log = fs::read_to_string(dir.join("vgpu-host.log")).unwrap_or_default();
    results.push(shared_memory_check(
        &log,
        u64::from(env.roundtrip_mib) << 20,
    ));
    results.push(pinned_check(&log, crate::suite::PINNED_CASE_BYTES as u64));
    Ok(results)
}

/// A `key=value` number of a log line.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Frame bytes a client may send before or instead of attaching (the attach
/// frame itself, a `vgpu-smi` on frames): anything larger means data went
/// through the socket.
const MAX_SOCKET_BYTES: u64 = 1 << 20;

/// The host log shows the suite's data on the shared-memory path: some
/// client moved at least the round trip's bytes each way through its arena
/// (the workers' `shared-memory client disconnected` counters), the copies
/// moved in place (`in_place_in`/`in_place_out`: data the worker did not
/// copy out of or into the arena) from and to memory the executor
/// registered (`pinned_bytes`; on the simulator, copies inside the
/// registered arena), and no client pushed more than [`MAX_SOCKET_BYTES`]
/// through the socket. That the data arrived intact is the suite's own
/// `roundtrip` case.
pub fn shared_memory_check(log: &str, roundtrip: u64) -> Outcome {
    let name = format!("{PREFIX}shared-memory");
    let arena: Vec<[u64; 5]> = log
        .lines()
        .filter(|l| l.contains("shared-memory client disconnected"))
        .map(|l| {
            [
                "bytes_in",
                "bytes_out",
                "in_place_in",
                "in_place_out",
                "pinned_bytes",
            ]
            .map(|k| field(l, k).unwrap_or(0))
        })
        .collect();
    let socket_max = log
        .lines()
        .filter(|l| l.contains("direct client disconnected"))
        .filter_map(|l| field(l, "socket_bytes"))
        .max()
        .unwrap_or(0);
    let big = arena
        .iter()
        .filter(|c| c[0] >= roundtrip && c[1] >= roundtrip)
        .count();
    let in_place = arena
        .iter()
        .filter(|c| c[2] >= roundtrip && c[3] >= roundtrip && c[4] >= 2 * roundtrip)
        .count();
    let pass = big > 0 && in_place > 0 && socket_max <= MAX_SOCKET_BYTES;
    let detail = format!(
        "{} clients on shared memory, {big} of them moved >= {roundtrip} bytes each way \
         through the arena, {in_place} of them in place from and to registered memory; \
         most bytes on a framed socket: {socket_max}",
        arena.len()
    );
    (name, pass, detail)
}

/// The suite's `pinned` case moved its pinned buffers in place: some
/// client's worker copied at least `bytes` each way between the GPU and the
/// client's host memory (`host_in`/`host_out`), none of it through the
/// arena, and it unmapped all of it before the client went (`host_maps=0`).
pub fn pinned_check(log: &str, bytes: u64) -> Outcome {
    let name = format!("{PREFIX}pinned-in-place");
    let clients: Vec<[u64; 3]> = log
        .lines()
        .filter(|l| l.contains("shared-memory client disconnected"))
        .map(|l| ["host_in", "host_out", "host_maps"].map(|k| field(l, k).unwrap_or(u64::MAX)))
        .collect();
    let moved = clients
        .iter()
        .filter(|c| c[0] != u64::MAX && c[0] >= bytes && c[1] >= bytes)
        .count();
    let leaked = clients.iter().filter(|c| c[2] != 0).count();
    let detail = format!(
        "{moved} of {} shared-memory clients moved >= {bytes} bytes each way in place from \
         and to pinned host memory; {leaked} left host memory mapped",
        clients.len()
    );
    (name, moved > 0 && leaked == 0, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_reads_the_workers_counters() {
        let log = "\
x INFO vgpu_host::direct: shared-memory transport attached client=65537 socket_bytes=24
x INFO vgpu_host::direct::shm: shared-memory client disconnected client=65537 commands=9 bytes_in=3000000 bytes_out=2100000 in_place_in=2500000 in_place_out=2050000 in_place_copies=4 pinned_bytes=4550000 registered=134217728
x INFO vgpu_host::direct: direct client disconnected client=65538 socket_bytes=400
";
        assert!(shared_memory_check(log, 2_000_000).1);
        assert!(
            !shared_memory_check(log, 2_500_000).1,
            "too little came back"
        );
        let framed = format!("{log}y direct client disconnected client=7 socket_bytes=9000000\n");
        assert!(
            !shared_memory_check(&framed, 2_000_000).1,
            "data on the socket"
        );
        let copied = log.replace("in_place_out=2050000", "in_place_out=0");
        assert!(
            !shared_memory_check(&copied, 2_000_000).1,
            "the worker copied the data"
        );
        let pageable = log.replace("pinned_bytes=4550000", "pinned_bytes=0");
        assert!(
            !shared_memory_check(&pageable, 2_000_000).1,
            "not from registered memory"
        );
        assert!(!shared_memory_check("", 1).1);
    }

    #[test]
    fn the_pinned_check_reads_the_host_memory_counters() {
        let line = "x INFO vgpu_host::direct::shm: shared-memory client disconnected client=1 \
                    host_in=50000000 host_out=50331648 host_maps=0\n";
        assert!(pinned_check(line, 50_000_000).1);
        assert!(!pinned_check(line, 50_331_649).1, "too little up");
        assert!(
            !pinned_check(&line.replace("host_maps=0", "host_maps=2"), 1).1,
            "mapped at the end"
        );
        assert!(!pinned_check("x shared-memory client disconnected client=1\n", 0).1);
    }
}
