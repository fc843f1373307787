// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! The outputs of `vgpu-smi`: the list (`-L`), `--query-gpu` CSV, the
//! default table and `--json`, each from one [`Snapshot`].

use crate::snapshot::{Gpu, Snapshot};

pub(crate) const MIB: u64 = 1 << 20;

fn mib(b: u64) -> u64 {
    b / MIB
}

/// `-L`.
pub(crate) fn format_list(s: &Snapshot) -> String {
    s.gpus
        .iter()
        .map(|g| format!("GPU {}: {} (UUID: {})\n", g.index, g.name, g.uuid))
        .collect()
}

/// CSV of `--query-gpu`; `Err` names an unknown field.
pub(crate) fn format_csv(
    s: &Snapshot,
    fields: &[&str],
    header: bool,
    units: bool,
) -> Result<String, String> {
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
pub(crate) fn format_table(s: &Snapshot) -> String {
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
pub(crate) fn format_json(s: &Snapshot) -> String {
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
