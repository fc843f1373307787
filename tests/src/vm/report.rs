//! `vm-runner test`: every scenario (or the one named), then the native
//! socket run, as one table of results.

use std::{collections::BTreeMap, io::Write, time::Instant};

use super::env::Env;
use super::qemu::{boot, Boot};
use super::scenario::{scenarios, Scenario};
use super::socket;
use crate::results::{check_digests, kernel_trouble};

/// Every result by name: passed, and what it said.
#[derive(Default)]
pub struct Report(BTreeMap<String, (bool, String)>);

impl Report {
    pub fn insert(&mut self, name: String, ok: bool, detail: String) {
        self.0.insert(name, (ok, detail));
    }

    /// Prints `PASS|FAIL name: detail` lines and the totals; true when
    /// something ran and nothing failed.
    pub fn print(&self) -> bool {
        let mut out = std::io::stdout().lock();
        let (mut passed, mut failed) = (0, 0);
        for (name, (ok, detail)) in &self.0 {
            let _ = writeln!(
                out,
                "{} {name}: {detail}",
                if *ok { "PASS" } else { "FAIL" }
            );
            if *ok {
                passed += 1
            } else {
                failed += 1
            }
        }
        let _ = writeln!(out, "vm: {passed} passed, {failed} failed");
        failed == 0 && passed > 0
    }

    /// The results of one boot of `s`, which took `secs`.
    fn add_boot(&mut self, env: &Env, s: &Scenario, b: Boot, secs: f64) {
        let trouble = kernel_trouble(&b.log);
        let clean = trouble.is_empty();
        self.insert(
            format!("{}/kernel-log", s.name),
            clean,
            if clean {
                "no oops/BUG/WARN on the console".into()
            } else {
                trouble.join(" | ")
            },
        );
        let finished = if b.done {
            "guest finished"
        } else {
            "guest did not finish"
        };
        self.insert(
            format!("{}/boot", s.name),
            b.done,
            format!("{finished} in {secs:.1} s"),
        );
        for name in &s.required {
            let key = format!("{}/{name}", s.name);
            if !b.results.iter().any(|(n, _, _)| *n == key) {
                self.insert(key, false, "the guest reported no result".into());
            }
        }
        for (name, ok, detail) in b.results {
            self.insert(name, ok, detail);
        }
        if s.runs_cuda() && env.digests_comparable() {
            let (ok, detail) = check_digests(&b.log);
            self.insert("cuda/digests".into(), ok, detail);
        }
        if s.name == super::faults::NAME {
            for (name, ok, detail) in super::faults::host_results(&env.work.join(s.name)) {
                self.insert(name, ok, detail);
            }
        }
        if s.runs_cuda() {
            let log = std::fs::read_to_string(env.work.join(s.name).join("vgpu-host0.log"))
                .unwrap_or_default();
            let (ok, detail) = guest_in_place(&log, u64::from(env.roundtrip_mib) << 20);
            self.insert(format!("{}/host-in-place", s.name), ok, detail);
            let (ok, detail) = guest_registered(&log, u64::from(env.roundtrip_mib) << 20);
            self.insert(format!("{}/host-registered", s.name), ok, detail);
            let (ok, detail) = guest_prepared(&log);
            self.insert(format!("{}/host-prepared", s.name), ok, detail);
            let (ok, detail) = polled_tail(&log);
            self.insert(format!("{}/host-polled-tail", s.name), ok, detail);
        }
    }
}

/// The host moved the suite's large copies between the device and the
/// guest's pinned pages in place (`queue/copy.rs`): some queue session
/// counted at least the round trip's bytes each way (`guest_bytes` of its
/// `queue session ended` line). That the data arrived intact is the
/// suite's own `roundtrip` case.
fn guest_in_place(log: &str, roundtrip: u64) -> (bool, String) {
    let sessions = session_counters(log, ["guest_copies", "guest_bytes"]);
    let most = sessions.iter().map(|s| s[1]).max().unwrap_or(0);
    let copies: u64 = sessions.iter().map(|s| s[0]).sum();
    (
        most >= 2 * roundtrip,
        format!(
            "{} queue sessions, {copies} copies in place; most bytes in place in one: {most} \
             (want >= {})",
            sessions.len(),
            2 * roundtrip
        ),
    )
}

/// Pinned host memory was readied when it was allocated: the suite's
/// `cuMemAllocHost` buffers (huge pages, so runs of 2 MiB) had the host
/// register their pages before any copy (PREPARE_HOST), as NVIDIA's driver
/// does at allocation: some session prepared at least one run of
/// `GUEST_REGISTER_MIN` (`guest_prepared`).
fn guest_prepared(log: &str) -> (bool, String) {
    let sessions = session_counters(log, ["guest_prepared"]);
    let most = sessions.iter().map(|s| s[0]).max().unwrap_or(0);
    let min = uapi::cmd::GUEST_REGISTER_MIN;
    (
        most >= min,
        format!("most bytes of pinned host memory registered at allocation in one session: {most} (want >= {min})"),
    )
}

/// The guest's driver took the polled tail (`uapi::ring`): every queue
/// session ran with it, and some batches of commands reached the host with
/// no doorbell, the driver having seen the worker polling
/// (`unrung_batches`).
fn polled_tail(log: &str) -> (bool, String) {
    let sessions = session_counters(log, ["polled_tail", "batches", "unrung_batches"]);
    let polled = sessions.iter().filter(|s| s[0] == 1).count();
    let batches: u64 = sessions.iter().map(|s| s[1]).sum();
    let unrung: u64 = sessions.iter().map(|s| s[2]).sum();
    (
        !sessions.is_empty() && polled == sessions.len() && unrung > 0,
        format!(
            "{polled} of {} queue sessions with a polled tail; {unrung} of {batches} batches \
             without a doorbell (want > 0)",
            sessions.len()
        ),
    )
}

/// The counters `keys` of every `queue session ended` line of `log`.
fn session_counters<const N: usize>(log: &str, keys: [&str; N]) -> Vec<[u64; N]> {
    log.lines()
        .filter(|l| l.contains("queue session ended"))
        .map(|l| {
            keys.map(|key| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
                    .unwrap_or(0)
            })
        })
        .collect()
}

/// The long runs of the suite's large copies (the guest's buffers in huge
/// pages) were registered with the device, where the simulator books them
/// by the rules a GPU executor registers by (`cuda/guest_pins.rs`): some
/// queue session moved at least the round trip's bytes each way from
/// registered pages (`guest_direct_bytes`), and the guest's driver
/// released registrations of pages it unpinned (`guest_released`), as it
/// must before any unpin (`kmod/release.rs`).
fn guest_registered(log: &str, roundtrip: u64) -> (bool, String) {
    let sessions = session_counters(log, ["guest_direct_bytes", "guest_released"]);
    let most = sessions.iter().map(|s| s[0]).max().unwrap_or(0);
    let released: u64 = sessions.iter().map(|s| s[1]).sum();
    (
        most >= 2 * roundtrip && released > 0,
        format!(
            "most bytes from registered guest pages in one session: {most} (want >= {}); \
             {released} registrations released by the guest (want > 0)",
            2 * roundtrip
        ),
    )
}

/// Runs the scenario `only` names (the native socket run is
/// `native-socket`), or all but the on-request ones and the socket run.
pub fn run(env: &Env, only: Option<&str>) -> Report {
    let mut report = Report::default();
    for s in scenarios(env).into_iter().filter(|s| match only {
        Some(o) => o == s.name,
        None => !s.on_request,
    }) {
        let t0 = Instant::now();
        match boot(env, &s, false) {
            Ok(b) => report.add_boot(env, &s, b, t0.elapsed().as_secs_f64()),
            Err(e) => report.insert(format!("{}/boot", s.name), false, e),
        }
    }
    if only.is_none_or(|o| o == "native-socket") {
        match socket::run(env) {
            Ok(results) => {
                for (name, ok, detail) in results {
                    report.insert(name, ok, detail);
                }
            }
            Err(e) => report.insert(format!("{}run", socket::PREFIX), false, e),
        }
    }
    report
}

#[cfg(test)]
mod in_place_tests {
    use super::{guest_in_place, guest_prepared, guest_registered, polled_tail};

    #[test]
    fn the_check_reads_the_queue_sessions_counters() {
        let log = "x INFO vgpu_host::queue::worker: queue session ended queue=0 guest_copies=9 \
                   guest_bytes=3000000\n\
                   x INFO vgpu_host::queue::worker: queue session ended queue=1 guest_copies=0 \
                   guest_bytes=0\n";
        assert!(guest_in_place(log, 1_500_000).0);
        assert!(!guest_in_place(log, 1_500_001).0, "too few bytes");
        assert!(!guest_in_place("", 1).0, "no session");
        assert!(!guest_in_place("x queue session ended guest_bytes=5\n", 3).0);
    }

    #[test]
    fn registration_needs_direct_bytes_and_a_release() {
        let log = "x queue session ended queue=0 guest_direct_bytes=3000000 guest_released=0\n\
                   x queue session ended queue=1 guest_direct_bytes=10 guest_released=2\n";
        assert!(guest_registered(log, 1_500_000).0);
        assert!(!guest_registered(log, 1_500_001).0, "too few bytes");
        let none = "x queue session ended queue=0 guest_direct_bytes=3000000 guest_released=0\n";
        assert!(!guest_registered(none, 1).0, "nothing released");
        assert!(!guest_registered("", 0).0, "no session");
    }

    #[test]
    fn the_polled_tail_needs_every_session_and_an_unrung_batch() {
        let log = "x queue session ended queue=0 polled_tail=1 batches=9 unrung_batches=0\n\
                   x queue session ended queue=1 polled_tail=1 batches=5 unrung_batches=3\n";
        assert!(polled_tail(log).0);
        let old_driver = "x queue session ended queue=0 polled_tail=1 batches=9 unrung_batches=2\n\
                          x queue session ended queue=1 polled_tail=0 batches=5\n";
        assert!(!polled_tail(old_driver).0, "a session without it");
        let rung = "x queue session ended queue=0 polled_tail=1 batches=9 unrung_batches=0\n";
        assert!(!polled_tail(rung).0, "every batch rang");
        assert!(!polled_tail("").0, "no session");
    }

    #[test]
    fn preparation_needs_a_whole_run_in_one_session() {
        let log = "x queue session ended queue=0 guest_prepared=0
                   x queue session ended queue=1 guest_prepared=2097152
";
        assert!(guest_prepared(log).0);
        assert!(
            !guest_prepared(
                "x queue session ended queue=0 guest_prepared=4096
"
            )
            .0
        );
        assert!(
            !guest_prepared(
                "x queue session ended queue=0
"
            )
            .0,
            "not counted"
        );
    }
}
