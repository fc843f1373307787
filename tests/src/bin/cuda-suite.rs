//! Cross-layer CUDA driver API suite (see [`vgpu_tests::suite`]): the same
//! binary runs against vgpu's library in a guest (or over `VGPU_SOCKET`) and
//! against NVIDIA's on the GPU machine; the `DIGEST` lines of the two runs
//! must match bit for bit.
//!
//! Usage: `cuda-suite [--native] [--only CASE,...] [--roundtrip-mib N]`.
//! `--native` (the library is NVIDIA's) skips the checks whose behaviour
//! NVIDIA's driver leaves undefined: a destroyed stream's handle (SIGSEGV
//! on driver 13000) and a wrong-size `extra` buffer (unchecked). Prints
//! `CASE <name> PASS|FAIL <detail>`, `DIGEST <case> <hex>` and a final
//! `N passed, N failed`; exits non-zero on any failure.
//!
//! `cuda-suite --isolation [--native] [--hang-timeout-s N]` runs the
//! isolation check between client processes instead
//! ([`vgpu_tests::isolation`]); it runs this binary again for its roles
//! (`cuda-suite --isolation-role victim|healthy|spinner|attacker ADDR [FLAGS]`).
//!
//! `cuda-suite --load [--procs P] [--threads T] [--seconds S]` runs the
//! load test ([`vgpu_tests::load`]); `cuda-suite --quota --total BYTES
//! --clients N [--require-nvml]` checks a vgpu-host started with those
//! quotas ([`vgpu_tests::quota`]).
//!
//! `cuda-suite --bench [--quick] [--launches N] [--iters N] [--max-mib N]
//! [--min-time-ms N] [--only sync,launch,copy]` runs the benchmarks instead
//! ([`vgpu_tests::bench`]): `BENCH <name> <value> <unit> <detail>` lines.

use std::{process::ExitCode, time::Duration};

use vgpu_tests::suite::{self, case_names, Options, CASES};
use vgpu_tests::{bench, isolation, load, quota};

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// One role of the isolation check, in this process.
fn isolation_role(args: &[String]) -> ExitCode {
    let r = match args.first().map(String::as_str) {
        Some("victim") => isolation::victim(),
        Some("healthy") => isolation::healthy(),
        Some("spinner") => isolation::spinner(),
        Some("attacker") => match args.get(1).and_then(|a| parse_u64(a)) {
            Some(addr) => {
                let flags = args.get(2).and_then(|f| parse_u64(f)).map(|f| f as u32);
                isolation::attacker(addr, flags)
            }
            None => Err("attacker needs an address".into()),
        },
        other => Err(format!("unknown isolation role {other:?}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERROR {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--isolation [--native] [--hang-timeout-s N]`.
fn isolation_check(args: &[String]) -> ExitCode {
    let mut options = isolation::Options {
        native: false,
        hang_timeout: Duration::from_secs(150),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--native" => options.native = true,
            "--hang-timeout-s" => match it.next().and_then(|v| v.parse().ok()) {
                Some(s) => options.hang_timeout = Duration::from_secs(s),
                None => {
                    eprintln!("--hang-timeout-s needs a number");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: cuda-suite --isolation [--native] [--hang-timeout-s N]");
                return ExitCode::from(2);
            }
        }
    }
    if isolation::run(&options) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--load [--procs P] [--threads T] [--seconds S]`.
fn load_run(args: &[String]) -> ExitCode {
    let mut o = load::Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it.next().and_then(|v| v.parse::<u64>().ok());
        match (a.as_str(), value) {
            ("--procs", Some(n)) if n > 0 => o.procs = n as u32,
            ("--threads", Some(n)) if n > 0 => o.threads = n as u32,
            ("--seconds", Some(n)) => o.seconds = n,
            _ => {
                eprintln!("usage: cuda-suite --load [--procs P] [--threads T] [--seconds S]");
                return ExitCode::from(2);
            }
        }
    }
    if load::run(&o) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--load-role INDEX THREADS SECONDS`: one process of the load test.
fn load_role(args: &[String]) -> ExitCode {
    let n = |i: usize| args.get(i).and_then(|v| v.parse::<u64>().ok());
    let r = match (n(0), n(1), n(2)) {
        (Some(i), Some(t), Some(s)) => load::role(i as u32, t as u32, s),
        _ => Err("--load-role INDEX THREADS SECONDS".into()),
    };
    match r {
        Ok(detail) => {
            println!("LOAD OK {detail}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("LOAD FAIL {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--quota --total BYTES --clients N [--require-nvml]`.
fn quota_run(args: &[String]) -> ExitCode {
    let (mut total, mut clients, mut require_nvml) = (None, None, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--total" => total = it.next().and_then(|v| parse_u64(v)),
            "--clients" => clients = it.next().and_then(|v| v.parse::<u32>().ok()),
            "--require-nvml" => require_nvml = true,
            _ => total = None,
        }
    }
    let (Some(total), Some(clients)) = (total, clients.filter(|&c| c > 0)) else {
        eprintln!("usage: cuda-suite --quota --total BYTES --clients N [--require-nvml]");
        return ExitCode::from(2);
    };
    let o = quota::Options {
        total,
        clients,
        require_nvml,
    };
    if quota::run(&o) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--quota-role hold BYTES | init | nvml`.
fn quota_role(args: &[String]) -> ExitCode {
    let r = match args.first().map(String::as_str) {
        Some("hold") => match args.get(1).and_then(|v| parse_u64(v)) {
            Some(bytes) => quota::hold(bytes),
            None => Err("hold needs a size".into()),
        },
        Some("init") => quota::init(),
        Some("nvml") => quota::nvml(),
        other => Err(format!("unknown quota role {other:?}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERROR {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--bench [FLAGS]`.
fn bench_run(args: &[String]) -> ExitCode {
    match bench::Options::parse(args) {
        Ok(o) if bench::run(&o) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("{e}\n{}", bench::USAGE);
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().skip(1).collect();
    match all.first().map(String::as_str) {
        Some("--isolation-role") => return isolation_role(&all[1..]),
        Some("--isolation") => return isolation_check(&all[1..]),
        Some("--bench") => return bench_run(&all[1..]),
        Some("--load") => return load_run(&all[1..]),
        Some("--load-role") => return load_role(&all[1..]),
        Some("--quota") => return quota_run(&all[1..]),
        Some("--quota-role") => return quota_role(&all[1..]),
        _ => {}
    }
    let mut options = Options {
        only: None,
        native: false,
        roundtrip_mib: 64,
    };
    let mut args = all.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--only" => {
                options.only = args
                    .next()
                    .map(|v| v.split(',').map(str::to_string).collect())
            }
            "--native" => options.native = true,
            "--roundtrip-mib" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => options.roundtrip_mib = n,
                None => {
                    eprintln!("--roundtrip-mib needs a number");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!(
                    "usage: cuda-suite [--native] [--only CASE,...] [--roundtrip-mib N]\ncases: {}",
                    case_names()
                );
                return ExitCode::from(2);
            }
        }
    }
    if let Some(o) = &options.only {
        if let Some(bad) = o.iter().find(|c| !CASES.iter().any(|k| k.name == *c)) {
            eprintln!("unknown case {bad}; cases: {}", case_names());
            return ExitCode::from(2);
        }
    }
    if suite::run(options) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
