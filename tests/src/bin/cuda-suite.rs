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

use std::process::ExitCode;

use vgpu_tests::suite::{self, case_names, Options, CASES};

fn main() -> ExitCode {
    let mut options = Options {
        only: None,
        native: false,
        roundtrip_mib: 64,
    };
    let mut args = std::env::args().skip(1);
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
