// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! `vgpu-smi`: an nvidia-smi for vgpu guests, on the NVML library's Rust API.
//!
//! ```text
//! vgpu-smi                       table of GPUs and processes
//! vgpu-smi -L                    GPU 0: <name> (UUID: GPU-…)
//! vgpu-smi --query-gpu=name,uuid,memory.total --format=csv[,noheader][,nounits]
//! vgpu-smi --json                one JSON document
//! vgpu-smi -i N ...              only GPU N
//! ```
//! Exit codes as nvidia-smi: 0 ok, 2 bad arguments, 6 no GPU, 9 the driver
//! (device node or socket) cannot be reached.

use nvidia_ml::{
    api::{self, Device, InitFailure, Memory},
    types::ret,
};

const MIB: u64 = 1 << 20;

/// One process on a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proc {
    pid: u32,
    used_memory: u64,
    name: String,
}

/// What is shown of one GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Gpu {
    index: u32,
    minor: u32,
    name: String,
    uuid: String,
    serial: String,
    bus_id: String,
    pci_device_id: u32,
    pci_subsystem_id: u32,
    compute_cap: (u32, u32),
    memory: Option<Memory>,
    utilization: Option<u32>,
    processes: Vec<Proc>,
}

/// Everything shown.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    driver_version: String,
    cuda_version: i32,
    nvml_version: String,
    gpus: Vec<Gpu>,
}

fn collect(only: Option<u32>) -> Result<Snapshot, InitFailure> {
    api::init_with_flags(0)?;
    let snap = (|| -> nvidia_ml::types::Result<Snapshot> {
        let n = api::device_count()?;
        let mut gpus = Vec::new();
        for i in (0..n).filter(|i| only.is_none_or(|o| o == *i)) {
            let d = Device::by_index(i)?;
            let id = d.identity()?;
            let pci = nvidia_ml::pci_info(&id);
            gpus.push(Gpu {
                index: i,
                minor: id.minor,
                name: id.name().to_owned(),
                uuid: id.uuid(),
                serial: id.serial(),
                bus_id: id.bus_id(),
                pci_device_id: pci.pciDeviceId,
                pci_subsystem_id: pci.pciSubSystemId,
                compute_cap: id.compute_capability(),
                memory: d.memory().ok(),
                utilization: d.utilization().ok(),
                processes: d
                    .processes()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| Proc {
                        pid: p.pid,
                        used_memory: p.used_memory,
                        name: api::process_name(p.pid).unwrap_or_else(|_| "N/A".into()),
                    })
                    .collect(),
            });
        }
        Ok(Snapshot {
            driver_version: api::driver_version().unwrap_or_default(),
            cuda_version: api::cuda_driver_version().unwrap_or(0),
            nvml_version: api::nvml_version(),
            gpus,
        })
    })();
    let _ = api::shutdown();
    snap.map_err(|code| InitFailure { code, open: None })
}

/// The message for a failed init (exit code 9).
fn failure_message(f: &InitFailure) -> String {
    let mut m =
        String::from("vgpu-smi has failed because it couldn't communicate with the vgpu driver");
    match &f.open {
        Some(o) => {
            m += &format!(": {}: {}.\n", o.location, o.error);
            let socket = !o.location.starts_with("/dev/");
            m += &match o.error.errno {
                libc::EACCES | libc::EPERM if socket => format!(
                    "The user has no access to the socket {}; check its permissions.",
                    o.location
                ),
                libc::EACCES | libc::EPERM => format!(
                    "The user must be in group `vgpu` to open {} \
                     (sudo usermod -aG vgpu $USER, then log in again).",
                    o.location
                ),
                libc::ENOENT if socket => format!(
                    "The socket {} does not exist: is vgpu-host running? \
                     (configured by VGPU_SOCKET or /etc/vgpu/client.conf)",
                    o.location
                ),
                libc::ENOENT | libc::ENODEV | libc::ENXIO => format!(
                    "{} does not exist: make sure the vgpu kernel module (vgpu.ko) is loaded \
                     and the VM has a VGPU-STUB device.",
                    o.location
                ),
                libc::ECONNREFUSED => "vgpu-host is not listening on the socket.".to_owned(),
                _ => "Make sure the vgpu driver is loaded and the host is running.".to_owned(),
            };
        }
        None => m += &format!(": {}.", f.code),
    }
    m.push('\n');
    m
}

fn mib(b: u64) -> u64 {
    b / MIB
}

/// `-L`.
fn format_list(s: &Snapshot) -> String {
    s.gpus
        .iter()
        .map(|g| format!("GPU {}: {} (UUID: {})\n", g.index, g.name, g.uuid))
        .collect()
}

/// CSV of `--query-gpu`; `Err` names an unknown field.
fn format_csv(s: &Snapshot, fields: &[&str], header: bool, units: bool) -> Result<String, String> {
    // (header name, unit, value or None for N/A)
    type Col = (
        &'static str,
        &'static str,
        fn(&Snapshot, &Gpu) -> Option<String>,
    );
    fn col(f: &str) -> Option<Col> {
        Some(match f {
            "index" => ("index", "", |_, g| Some(g.index.to_string())),
            "name" | "gpu_name" => ("name", "", |_, g| Some(g.name.clone())),
            "uuid" | "gpu_uuid" => ("uuid", "", |_, g| Some(g.uuid.clone())),
            "serial" | "gpu_serial" => ("serial", "", |_, g| Some(g.serial.clone())),
            "pci.bus_id" | "gpu_bus_id" => ("pci.bus_id", "", |_, g| Some(g.bus_id.clone())),
            "pci.device_id" => ("pci.device_id", "", |_, g| {
                Some(format!("0x{:08X}", g.pci_device_id))
            }),
            "pci.sub_device_id" => ("pci.sub_device_id", "", |_, g| {
                Some(format!("0x{:08X}", g.pci_subsystem_id))
            }),
            "count" => ("count", "", |s, _| Some(s.gpus.len().to_string())),
            "driver_version" => ("driver_version", "", |s, _| Some(s.driver_version.clone())),
            "compute_cap" => ("compute_cap", "", |_, g| {
                Some(format!("{}.{}", g.compute_cap.0, g.compute_cap.1))
            }),
            "memory.total" => ("memory.total", "MiB", |_, g| {
                g.memory.map(|m| mib(m.total).to_string())
            }),
            "memory.used" => ("memory.used", "MiB", |_, g| {
                g.memory.map(|m| mib(m.used).to_string())
            }),
            "memory.free" => ("memory.free", "MiB", |_, g| {
                g.memory.map(|m| mib(m.free).to_string())
            }),
            "memory.reserved" => ("memory.reserved", "MiB", |_, g| {
                g.memory.map(|_| "0".to_owned())
            }),
            "utilization.gpu" => ("utilization.gpu", "%", |_, g| {
                g.utilization.map(|u| u.to_string())
            }),
            "persistence_mode" => ("persistence_mode", "", |_, _| Some("Disabled".into())),
            "compute_mode" => ("compute_mode", "", |_, _| Some("Default".into())),
            "temperature.gpu" => ("temperature.gpu", "", |_, _| None),
            "power.draw" => ("power.draw", "W", |_, _| None),
            "pstate" => ("pstate", "", |_, _| None),
            "fan.speed" => ("fan.speed", "%", |_, _| None),
            "clocks.sm" => ("clocks.current.sm", "MHz", |_, _| None),
            _ => return None,
        })
    }
    let cols: Vec<Col> = fields
        .iter()
        .map(|f| {
            col(f.trim())
                .ok_or_else(|| format!("Field \"{}\" is not a valid field to query.", f.trim()))
        })
        .collect::<Result<_, _>>()?;
    let mut out = String::new();
    if header {
        let h: Vec<String> = cols
            .iter()
            .map(|(n, u, _)| {
                if u.is_empty() {
                    (*n).to_owned()
                } else {
                    format!("{n} [{u}]")
                }
            })
            .collect();
        out += &h.join(", ");
        out.push('\n');
    }
    for g in &s.gpus {
        let v: Vec<String> = cols
            .iter()
            .map(|(_, u, f)| match f(s, g) {
                Some(v) if units && !u.is_empty() => format!("{v} {u}"),
                Some(v) => v,
                None => "[N/A]".to_owned(),
            })
            .collect();
        out += &v.join(", ");
        out.push('\n');
    }
    Ok(out)
}

fn cuda_version_text(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// A row `| a | b | c |` with the widths of nvidia-smi's table.
fn row3(a: &str, b: &str, c: &str) -> String {
    format!("|{a:<41}|{b:<24}|{c:<22}|\n")
}

/// The default table.
fn format_table(s: &Snapshot) -> String {
    const W: usize = 89;
    let line = format!("+{}+\n", "-".repeat(W));
    let sep = format!(
        "+{}+{}+{}+\n",
        "-".repeat(41),
        "-".repeat(24),
        "-".repeat(22)
    );
    let mut o = String::new();
    o += &line;
    let head = format!(
        " VGPU-SMI {:<22} Driver Version: {:<15} CUDA Version: {:<9}",
        env!("CARGO_PKG_VERSION"),
        s.driver_version,
        cuda_version_text(s.cuda_version)
    );
    o += &format!("|{head:<W$}|\n");
    o += &format!(
        "|{}+{}+{}|\n",
        "-".repeat(41),
        "-".repeat(24),
        "-".repeat(22)
    );
    o += &row3(
        " GPU  Name                 Persistence-M",
        " Bus-Id          Disp.A",
        " Volatile Uncorr. ECC",
    );
    o += &row3(
        " Fan  Temp   Perf          Pwr:Usage/Cap",
        "           Memory-Usage",
        " GPU-Util  Compute M.",
    );
    o += &row3("", "", "               MIG M.");
    o += &format!(
        "|{}+{}+{}|\n",
        "=".repeat(41),
        "=".repeat(24),
        "=".repeat(22)
    );
    for g in &s.gpus {
        let name: String = g.name.chars().take(27).collect();
        o += &row3(
            &format!(" {:>3}  {:<27} {:>6} ", g.index, name, "Off"),
            &format!(" {:>18} {:>3} ", g.bus_id, "Off"),
            &format!(" {:>20} ", "N/A"),
        );
        let mem = g.memory.map_or("N/A".to_owned(), |m| {
            format!("{}MiB / {}MiB", mib(m.used), mib(m.total))
        });
        let util = g.utilization.map_or("N/A".to_owned(), |u| format!("{u}%"));
        o += &row3(
            &format!(
                " {:<4} {:<5}  {:<5} {:>21} ",
                "N/A", "N/A", "N/A", "N/A /  N/A"
            ),
            &format!(" {mem:>22} "),
            &format!(" {util:>8} {:>11} ", "Default"),
        );
        o += &row3("", "", &format!(" {:>20} ", "N/A"));
        o += &sep;
    }
    o.push('\n');
    o += &line;
    o += &format!("|{:<W$}|\n", " Processes:");
    o += &format!(
        "|{:<W$}|\n",
        "  GPU   GI   CI        PID   Type   Process name                              GPU Memory "
    );
    o += &format!(
        "|{:<W$}|\n",
        "        ID   ID                                                                Usage     "
    );
    o += &format!("|{}|\n", "=".repeat(W));
    let mut any = false;
    for g in &s.gpus {
        for p in &g.processes {
            any = true;
            let mut name = p.name.clone();
            if name.chars().count() > 35 {
                let tail: String = name
                    .chars()
                    .rev()
                    .take(32)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                name = format!("...{tail}");
            }
            let text = format!(
                "  {:>3}   N/A  N/A  {:>9}      C   {:<35} {:>12}MiB ",
                g.index,
                p.pid,
                name,
                mib(p.used_memory)
            );
            o += &format!("|{text:<W$}|\n");
        }
    }
    if !any {
        o += &format!("|{:<W$}|\n", "  No running processes found");
    }
    o += &line;
    o
}

/// `--json`.
fn format_json(s: &Snapshot) -> String {
    let gpus: Vec<serde_json::Value> = s
        .gpus
        .iter()
        .map(|g| {
            serde_json::json!({
                "index": g.index,
                "minor_number": g.minor,
                "name": g.name,
                "uuid": g.uuid,
                "serial": g.serial,
                "pci": {
                    "bus_id": g.bus_id,
                    "device_id": format!("0x{:08X}", g.pci_device_id),
                    "sub_system_id": format!("0x{:08X}", g.pci_subsystem_id),
                },
                "compute_cap": format!("{}.{}", g.compute_cap.0, g.compute_cap.1),
                "memory": g.memory.map(|m| serde_json::json!({
                    "total_bytes": m.total,
                    "used_bytes": m.used,
                    "free_bytes": m.free,
                    "total_mib": mib(m.total),
                    "used_mib": mib(m.used),
                    "free_mib": mib(m.free),
                })),
                "utilization_gpu_percent": g.utilization,
                "processes": g.processes.iter().map(|p| serde_json::json!({
                    "pid": p.pid,
                    "name": p.name,
                    "used_memory_bytes": p.used_memory,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "driver_version": s.driver_version,
        "cuda_version": cuda_version_text(s.cuda_version),
        "cuda_driver_version": s.cuda_version,
        "nvml_version": s.nvml_version,
        "count": s.gpus.len(),
        "gpus": gpus,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

const USAGE: &str =
    "usage: vgpu-smi [-i N] [-L | --json | --query-gpu=FIELDS --format=csv[,noheader][,nounits]]\n";

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    list: bool,
    json: bool,
    query: Option<Vec<String>>,
    csv: bool,
    header: bool,
    units: bool,
    only: Option<u32>,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        header: true,
        units: true,
        ..Default::default()
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{key} needs a value"))
        };
        match key {
            "-L" | "--list-gpus" => a.list = true,
            "--json" | "-j" => a.json = true,
            "--query-gpu" => {
                a.query = Some(value()?.split(',').map(|s| s.trim().to_owned()).collect());
            }
            "--format" => {
                for f in value()?.split(',') {
                    match f.trim() {
                        "csv" => a.csv = true,
                        "noheader" => a.header = false,
                        "nounits" => a.units = false,
                        o => return Err(format!("unknown format option \"{o}\"")),
                    }
                }
            }
            "-i" | "--id" => {
                a.only = Some(
                    value()?
                        .parse()
                        .map_err(|_| "-i needs a GPU index".to_owned())?,
                );
            }
            "-h" | "--help" => return Err(String::new()),
            o => return Err(format!("unknown option \"{o}\"")),
        }
    }
    if a.query.is_some() && !a.csv {
        return Err("--query-gpu needs --format=csv".into());
    }
    Ok(a)
}

fn run(argv: &[String]) -> (i32, String, String) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use vgpu_transport::DevError;

    fn snap() -> Snapshot {
        Snapshot {
            driver_version: "580.95.05".into(),
            cuda_version: 13000,
            nvml_version: "13.580.95.05".into(),
            gpus: vec![Gpu {
                index: 0,
                minor: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                uuid: "GPU-01234567-89ab-cdef-0123-456789abcdef".into(),
                serial: "0000000000042".into(),
                bus_id: "00000000:00:02.0".into(),
                pci_device_id: 0x2331_10de,
                pci_subsystem_id: 0x5647_10de,
                compute_cap: (9, 0),
                memory: Some(Memory {
                    total: 81559 * MIB,
                    used: 1024 * MIB,
                    free: 80535 * MIB,
                }),
                utilization: None,
                processes: vec![Proc {
                    pid: 1234,
                    used_memory: 1024 * MIB,
                    name: "/usr/bin/python3".into(),
                }],
            }],
        }
    }

    #[test]
    fn list_is_like_nvidia_smi() {
        assert_eq!(
            format_list(&snap()),
            "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-01234567-89ab-cdef-0123-456789abcdef)\n"
        );
    }

    #[test]
    fn csv_with_and_without_units() {
        let f = [
            "name",
            "uuid",
            "pci.bus_id",
            "memory.total",
            "memory.used",
            "memory.free",
            "driver_version",
            "compute_cap",
            "index",
        ];
        let t = format_csv(&snap(), &f, true, true).unwrap();
        assert_eq!(
            t,
            "name, uuid, pci.bus_id, memory.total [MiB], memory.used [MiB], memory.free [MiB], driver_version, compute_cap, index\n\
             NVIDIA H100 80GB HBM3, GPU-01234567-89ab-cdef-0123-456789abcdef, 00000000:00:02.0, 81559 MiB, 1024 MiB, 80535 MiB, 580.95.05, 9.0, 0\n"
        );
        let t = format_csv(&snap(), &["memory.total", "utilization.gpu"], false, false).unwrap();
        assert_eq!(t, "81559, [N/A]\n");
        assert_eq!(
            format_csv(&snap(), &["bogus"], true, true).unwrap_err(),
            "Field \"bogus\" is not a valid field to query."
        );
    }

    #[test]
    fn table_has_the_gpu_and_its_process() {
        let t = format_table(&snap());
        let lines: Vec<&str> = t.lines().collect();
        for l in lines.iter().filter(|l| !l.is_empty()) {
            assert_eq!(l.chars().count(), 91, "{l:?}");
        }
        assert!(t.contains("Driver Version: 580.95.05"));
        assert!(t.contains("CUDA Version: 13.0"));
        assert!(t.contains("NVIDIA H100 80GB HBM3"));
        assert!(t.contains("00000000:00:02.0"));
        assert!(t.contains("1024MiB / 81559MiB"));
        assert!(t.contains("/usr/bin/python3"));
        assert!(t.contains("1234"));
        let mut s = snap();
        s.gpus[0].processes.clear();
        assert!(format_table(&s).contains("No running processes found"));
    }

    #[test]
    fn json_parses() {
        let v: serde_json::Value = serde_json::from_str(&format_json(&snap())).unwrap();
        assert_eq!(
            v["gpus"][0]["uuid"],
            "GPU-01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(v["gpus"][0]["memory"]["total_mib"], 81559);
        assert_eq!(v["cuda_version"], "13.0");
        assert!(v["gpus"][0]["utilization_gpu_percent"].is_null());
    }

    #[test]
    fn args() {
        let a = parse_args(&[
            "--query-gpu=name,uuid".into(),
            "--format=csv,noheader".into(),
        ])
        .unwrap();
        assert_eq!(a.query.unwrap(), vec!["name", "uuid"]);
        assert!(a.csv && !a.header && a.units);
        assert!(parse_args(&["--query-gpu=name".into()]).is_err());
        assert!(parse_args(&["-x".into()]).is_err());
        assert_eq!(
            parse_args(&["-i".into(), "1".into()]).unwrap().only,
            Some(1)
        );
    }

    #[test]
    fn failure_names_the_node_and_the_group() {
        let f = InitFailure {
            code: nvidia_ml::types::Error(ret::NO_PERMISSION),
            open: Some(api::OpenFailure {
                location: "/dev/vgpu0".into(),
                error: DevError {
                    op: "open",
                    errno: libc::EACCES,
                },
            }),
        };
        let m = failure_message(&f);
        assert!(m.contains("couldn't communicate"), "{m}");
        assert!(m.contains("/dev/vgpu0: open: Permission denied"), "{m}");
        assert!(m.contains("group `vgpu`"), "{m}");
        let f = InitFailure {
            code: nvidia_ml::types::Error(ret::DRIVER_NOT_LOADED),
            open: Some(api::OpenFailure {
                location: "/dev/vgpu0".into(),
                error: DevError {
                    op: "open",
                    errno: libc::ENOENT,
                },
            }),
        };
        assert!(failure_message(&f).contains("vgpu.ko"));
    }
}
