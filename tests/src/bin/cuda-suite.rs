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
//! `cuda-suite --bench [--quick] [--launches N] [--iters N] [--max-mib N]
//! [--min-time-ms N] [--only sync,launch,copy]` runs the benchmarks instead
//! ([`vgpu_tests::bench`]): `BENCH <name> <value> <unit> <detail>` lines.

use std::{process::ExitCode, time::Duration};

use vgpu_tests::suite::{self, case_names, Options, CASES};
use vgpu_tests::{bench, isolation};

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
