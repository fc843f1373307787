// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! `vgpu-smi`: an nvidia-smi for vgpu guests, on the NVML library's Rust API.
//!
//! ```text
//! vgpu-smi                       table of GPUs and processes
//! vgpu-smi -L                    GPU 0: <name> (UUID: GPU-…)
//! vgpu-smi --query-gpu=name,uuid,memory.total --format=csv[,noheader][,nounits]
//! vgpu-smi --json                one JSON document
//! vgpu-smi -i N ...              only GPU N
//! vgpu-smi cdi generate          a CDI spec of the devices (cdi.rs)
//! ```
//! Exit codes as nvidia-smi: 0 ok, 2 bad arguments, 6 no GPU, 9 the driver
//! (device node or socket) cannot be reached.

mod args;
mod cdi;
#[cfg(test)]
mod cdi_tests;
mod format;
mod snapshot;
#[cfg(test)]
mod tests;

use nvidia_ml::types::ret;

use args::{parse_args, USAGE};
use format::{format_csv, format_json, format_list, format_table};
use snapshot::{collect, failure_message};

fn run(argv: &[String]) -> (i32, String, String) {
    if argv.first().is_some_and(|a| a == "cdi") {
        return cdi::run(&argv[1..]);
    }
    let a = match parse_args(argv) {
        Ok(a) => a,
        Err(e) if e.is_empty() => return (0, USAGE.into(), String::new()),
        Err(e) => return (2, String::new(), format!("{e}\n{USAGE}")),
    };
    let s = match collect(a.only) {
        Ok(s) => s,
        Err(f) if f.code.0 == ret::INVALID_ARGUMENT => {
            return (2, String::new(), "No GPU with that index.\n".into())
        }
        Err(f) => return (9, String::new(), failure_message(&f)),
    };
    if s.gpus.is_empty() {
        return (6, String::new(), "No devices were found\n".into());
    }
    if a.list {
        (0, format_list(&s), String::new())
    } else if a.json {
        (0, format_json(&s), String::new())
    } else if let Some(q) = &a.query {
        let q: Vec<&str> = q.iter().map(String::as_str).collect();
        match format_csv(&s, &q, a.header, a.units) {
            Ok(t) => (0, t, String::new()),
            Err(e) => (2, String::new(), e + "\n"),
        }
    } else {
        (0, format_table(&s), String::new())
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (code, out, err) = run(&argv);
    print!("{out}");
    eprint!("{err}");
    std::process::exit(code);
}
