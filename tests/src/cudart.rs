//! NVIDIA's CUDA runtime (cudart 13) on our `libcuda.so.1`: the programs of
//! `tests/cuda-programs/`, built by `scripts/build-cuda-programs.sh` into
//! one directory as `<program>-static` and `<program>-shared` (with
//! `lib/libcudart.so.13` for the shared ones), the cases each must report,
//! and how they run over the direct socket and inside a guest.
//!
//! Results are named `cudart-<program>-<variant>/<case>`, plus
//! `cudart-<program>-<variant>/exit` for the exit status; digests
//! `cudart-<program>-<variant>/<case>`, so that every run (native, socket,
//! guest) can be compared with NVIDIA's driver name by name.

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::results::{verdict, Outcome};

/// A test program and the cases it reports (after `setup`).
pub struct Program {
    pub name: &'static str,
    pub cases: &'static [&'static str],
}

/// Every program, with the cases its `run_program` table lists (a unit
/// test holds the two together).
pub const PROGRAMS: &[Program] = &[
    Program {
        name: "atomics",
        cases: &["atomic_add_int", "atomic_add_float", "atomic_min_max_cas"],
    },
    Program {
        name: "device_props",
        cases: &["properties", "attributes_agree", "versions"],
    },
    Program {
        name: "errors",
        cases: &["invalid_launch", "bad_arguments", "recovers"],
    },
    Program {
        name: "func_attrs",
        cases: &["func_get_attributes", "occupancy", "large_dynamic_shared"],
    },
    Program {
        name: "graphs",
        cases: &["capture_and_update", "explicit_graph", "host_func_graph"],
    },
    Program {
        name: "kernels",
        cases: &["grid_1d", "grid_2d", "grid_3d", "params"],
    },
    Program {
        name: "malloc_async",
        cases: &["malloc_free_async", "reuse_loop", "default_pool"],
    },
    Program {
        name: "pinned",
        cases: &[
            "malloc_host_async",
            "host_alloc_chunks",
            "pointer_attributes",
        ],
    },
    Program {
        name: "shared_mem",
        cases: &["dynamic_reverse", "block_reduce", "static_plus_dynamic"],
    },
    Program {
        name: "streams_events",
        cases: &[
            "two_streams",
            "wait_event",
            "elapsed_time",
            "queries",
            "host_callbacks",
        ],
    },
    Program {
        name: "symbols",
        cases: &[
            "to_from_symbol",
            "initialised_variable",
            "constant_symbol",
            "symbol_address",
        ],
    },
    Program {
        name: "vmm",
        cases: &["attribute", "side_by_side", "release_while_mapped"],
    },
    Program {
        name: "warp",
        cases: &["shfl_down_reduce", "shfl_broadcast", "ballot_any_all"],
    },
];

/// How cudart is linked: into the program (nvcc's default), or `-cudart shared`.
pub const VARIANTS: [&str; 2] = ["static", "shared"];

/// The shared runtime the `-shared` builds load.
pub const CUDART_LIB: &str = "libcudart.so.13";

/// Longest a program may run (the simulator is slow, a guest slower).
pub const TIMEOUT_S: u64 = 300;

/// Every build, as `(program, binary name)`: `kernels-static`, ….
pub fn builds() -> Vec<(&'static Program, String)> {
    PROGRAMS
        .iter()
        .flat_map(|p| VARIANTS.iter().map(move |v| (p, format!("{}-{v}", p.name))))
        .collect()
}

/// Every result a run of all builds must report (without a scenario prefix).
pub fn expected_results() -> Vec<String> {
    builds()
        .into_iter()
        .flat_map(|(p, build)| {
            std::iter::once("setup")
                .chain(p.cases.iter().copied())
                .chain(std::iter::once("exit"))
                .map(move |case| format!("cudart-{build}/{case}"))
        })
        .collect()
}

/// The results in one build's output, named `<prefix>cudart-<build>/<case>`;
/// each expected case it did not report is a failure.
pub fn parse_output(prefix: &str, program: &Program, build: &str, stdout: &str) -> Vec<Outcome> {
    let mut results: Vec<Outcome> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("CASE "))
        .map(|rest| verdict(&format!("{prefix}cudart-{build}/"), rest))
        .collect();
    for case in std::iter::once("setup").chain(program.cases.iter().copied()) {
        let name = format!("{prefix}cudart-{build}/{case}");
        if !results.iter().any(|(n, _, _)| *n == name) {
            results.push((name, false, "the program reported no result".into()));
        }
    }
    results
}

/// Runs every build in `programs` against our library in `libcuda_dir`
/// over the direct socket `socket`, each for at most [`TIMEOUT_S`]; logs
/// (stdout, then stderr) go to `log_dir/cudart-<build>.log`.
pub fn run_over_socket(
    programs: &Path,
    socket: &Path,
    libcuda_dir: &Path,
    log_dir: &Path,
    prefix: &str,
) -> Vec<Outcome> {
    let mut all = Vec::new();
    for (program, build) in builds() {
        let (stdout, exit) = run_one(programs, &build, socket, libcuda_dir, log_dir)
            .unwrap_or_else(|e| (String::new(), Err(e)));
        all.extend(parse_output(prefix, program, &build, &stdout));
        let (ok, detail) = match exit {
            Ok(0) => (true, "exited 0".to_string()),
            Ok(code) => (false, format!("exit status {code}")),
            Err(e) => (false, e),
        };
        all.push((format!("{prefix}cudart-{build}/exit"), ok, detail));
    }
    all
}

type RunResult = Result<(String, Result<i32, String>), String>;

fn run_one(
    programs: &Path,
    build: &str,
    socket: &Path,
    libcuda_dir: &Path,
    log_dir: &Path,
) -> RunResult {
    let binary = programs.join(build);
    if !binary.exists() {
        return Err(format!(
            "{} is missing (scripts/build-cuda-programs.sh builds it)",
            binary.display()
        ));
    }
    let mut path = libcuda_dir.as_os_str().to_owned();
    if build.ends_with("-shared") {
        path.push(":");
        path.push(programs.join("lib"));
    }
    let out_path = log_dir.join(format!("cudart-{build}.out"));
    let err_path = log_dir.join(format!("cudart-{build}.err"));
    let out = fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = fs::File::create(&err_path).map_err(|e| e.to_string())?;
    let mut child = Command::new(&binary)
        .env("VGPU_SOCKET", socket)
        .env("LD_LIBRARY_PATH", path)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(TIMEOUT_S);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("killed after {TIMEOUT_S} s"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(e.to_string()),
        }
    };
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::write(
        log_dir.join(format!("cudart-{build}.log")),
        format!("{stdout}\n{stderr}"),
    );
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    let exit = status.and_then(|s| {
        use std::os::unix::process::ExitStatusExt;
        s.code()
            .ok_or_else(|| format!("killed by signal {}", s.signal().unwrap_or(0)))
    });
    Ok((stdout, exit))
}

/// The guest shell line that runs every build from `dir` (the shared
/// runtime installed where the loader finds it) through the guest's
/// `run-cudart` script (`tests/vm/guest/run-cudart.sh`): its results become
/// `@@RESULT cudart-<build>/<case>`, its digests `@@DIGEST cudart-<build>/<case>`,
/// its other output `cudart-<build>| …` lines, and its exit status
/// `@@RESULT cudart-<build>/exit`.
pub fn guest_steps(dir: &str) -> String {
    let builds: Vec<String> = builds().into_iter().map(|(_, b)| b).collect();
    format!(
        "CUDART_TIMEOUT_S={TIMEOUT_S} run-cudart {dir} {}\n",
        builds.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The case names in a program's `run_program({{"name", fn}, ...})` table.
    fn source_cases(source: &str) -> Vec<String> {
        let table = source
            .split_once("run_program({")
            .and_then(|(_, rest)| rest.split_once("});"))
            .map(|(table, _)| table)
            .unwrap_or("");
        table
            .split("{\"")
            .skip(1)
            .filter_map(|s| s.split_once('"'))
            .map(|(name, _)| name.to_string())
            .collect()
    }

    #[test]
    fn table_matches_the_sources() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cuda-programs");
        let mut on_disk: Vec<String> = fs::read_dir(&dir)
            .expect("tests/cuda-programs")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".cu")
                    .map(str::to_string)
            })
            .collect();
        on_disk.sort();
        let listed: Vec<&str> = PROGRAMS.iter().map(|p| p.name).collect();
        assert_eq!(on_disk, listed, "PROGRAMS must list every .cu file, sorted");
        for p in PROGRAMS {
            let source = fs::read_to_string(dir.join(format!("{}.cu", p.name))).expect("source");
            assert_eq!(source_cases(&source), p.cases, "cases of {}", p.name);
        }
    }

    #[test]
    fn missing_cases_fail() {
        let p = &PROGRAMS[0];
        let r = parse_output(
            "x/",
            p,
            "atomics-static",
            "CASE setup PASS 1ms ok\nCASE atomic_add_int PASS 2ms\n",
        );
        assert_eq!(r.len(), 1 + p.cases.len());
        assert!(r
            .iter()
            .any(|(n, ok, _)| n == "x/cudart-atomics-static/setup" && *ok));
        let missing: Vec<_> = r.iter().filter(|(_, ok, _)| !ok).collect();
        assert_eq!(missing.len(), p.cases.len() - 1);
        assert!(parse_output("x/", p, "b", "").iter().all(|(_, ok, _)| !ok));
    }

    #[test]
    fn expected_results_cover_every_build() {
        let all = expected_results();
        let cases: usize = PROGRAMS.iter().map(|p| p.cases.len() + 2).sum();
        assert_eq!(all.len(), cases * VARIANTS.len());
        assert!(all.contains(&"cudart-kernels-shared/grid_3d".to_string()));
        assert!(all.contains(&"cudart-errors-static/exit".to_string()));
    }

    #[test]
    fn guest_steps_name_every_build() {
        let steps = guest_steps("/opt/cudart");
        for (_, b) in builds() {
            assert!(steps.contains(&format!(" {b}")), "{b}");
        }
        assert!(steps.starts_with("CUDART_TIMEOUT_S=300 run-cudart /opt/cudart "));
    }
}
