// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! `vgpu-smi`'s outputs and arguments on a fixed snapshot.

use super::*;
use crate::{
    format::MIB,
    snapshot::{Gpu, Proc, Snapshot},
};
use nvidia_ml::api::{self, InitFailure, Memory};
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
    assert!(m.contains("join group vgpu"), "{m}");
    assert!(m.contains("usermod -aG vgpu"), "{m}");
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
