//! Which devices the driver binds, what identity each reports, and the
//! ones it must refuse.

use std::{fs, os::unix::fs::FileTypeExt};

use uapi::cmd::{field_str, Opcode};
use vgpu_transport::VgpuFile;

use crate::device::{check, device_nodes, expectations, uuid_text, TestResult};

pub fn bind() -> TestResult {
    let drv = "/sys/bus/pci/drivers/vgpu";
    let bound: Vec<String> = fs::read_dir(drv)
        .map_err(|e| format!("{drv}: {e} (driver not registered)"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(':'))
        .collect();
    check(!bound.is_empty(), || "no device bound to vgpu".into())?;
    for b in &bound {
        let id = |f: &str| fs::read_to_string(format!("{drv}/{b}/{f}")).unwrap_or_default();
        check(
            id("vendor").trim() == "0x10de" && id("device").trim() == "0x2331",
            || {
                format!(
                    "{b}: bound device is {}:{}",
                    id("vendor").trim(),
                    id("device").trim()
                )
            },
        )?;
        check(id("class").trim() == "0x030200", || {
            format!("{b}: class {}", id("class").trim())
        })?;
    }
    let meta = fs::metadata("/dev/vgpu0").map_err(|e| format!("/dev/vgpu0: {e}"))?;
    check(meta.file_type().is_char_device(), || {
        "/dev/vgpu0 is not a character device".into()
    })?;
    Ok(format!("bound: {}", bound.join(" ")))
}

pub fn identity() -> TestResult {
    let want = expectations()?;
    let count: usize = want
        .get("devices")
        .and_then(|v| v.parse().ok())
        .ok_or("no device count")?;
    let nodes = device_nodes();
    check(nodes.len() == count, || {
        format!("expected {count} device nodes, found {nodes:?}")
    })?;
    for (n, node) in nodes.iter().enumerate() {
        let info = VgpuFile::open(node)
            .and_then(|f| f.info())
            .map_err(|e| format!("{node}: {e}"))?;
        let d = &info.device;
        let got = [
            ("name", field_str(&d.name).unwrap_or("").to_string()),
            ("uuid", uuid_text(&d.uuid)),
            ("total_memory", d.total_memory.to_string()),
            (
                "compute_capability",
                format!("{}.{}", d.compute_major, d.compute_minor),
            ),
            ("multiprocessors", d.multiprocessor_count.to_string()),
            (
                "driver_version",
                field_str(&d.driver_version).unwrap_or("").to_string(),
            ),
            ("cuda_driver_version", d.cuda_driver_version.to_string()),
            ("index", info.index.to_string()),
        ];
        for (key, value) in got {
            let k = format!("dev{n}.{key}");
            let expected = if key == "index" {
                Some(n.to_string())
            } else {
                want.get(&k).cloned()
            };
            check(expected.as_deref() == Some(value.as_str()), || {
                format!("{node} {key}: got {value:?}, host configured {expected:?}")
            })?;
        }
    }
    Ok(format!("{count} device(s) match the host configuration"))
}

/// After vgpu-host 0 died, device 1 (another host) still serves.
pub fn other_device_alive() -> TestResult {
    let f = VgpuFile::open("/dev/vgpu1").map_err(|e| format!("/dev/vgpu1: {e}"))?;
    let mut out = [0u8; 5];
    let c = f
        .call(Opcode::Echo as u16, b"alive", &mut out, 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == 0 && &out == b"alive", || {
        format!("echo on vgpu1: status {}", c.status)
    })?;
    let info = f.info().map_err(|e| e.to_string())?;
    check(info.index == 1, || {
        format!("vgpu1 reports index {}", info.index)
    })?;
    Ok("/dev/vgpu1 still serves after its neighbour's host died".into())
}

pub fn refused() -> TestResult {
    let out = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&out.stdout);
    let want = expectations()?;
    let needles: Vec<&String> = want
        .iter()
        .filter(|(k, _)| k.starts_with("refuse"))
        .map(|(_, v)| v)
        .collect();
    check(!needles.is_empty(), || "no refusal expectations".into())?;
    for n in &needles {
        check(log.lines().any(|l| l.contains(n.as_str())), || {
            format!("no kernel line containing {n:?}")
        })?;
    }
    check(device_nodes().is_empty(), || {
        format!("refused devices got nodes: {:?}", device_nodes())
    })?;
    Ok(format!(
        "{} device(s) refused at probe with a clear line",
        needles.len()
    ))
}
