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
    }
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
