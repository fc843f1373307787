//! The guest's view of its devices: nodes, identities as the runner
//! expects them, and what every test shares.

use std::{collections::BTreeMap, fs, process::ExitCode};

use uapi::{cmd::field_str, ioctl::InfoArgs};
use vgpu_transport::VgpuFile;

pub type TestResult = Result<String, String>;

pub fn uuid_text(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    let h = h.concat();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn describe(path: &str, i: &InfoArgs) -> String {
    let d = &i.device;
    format!(
        "{path}: {name}\n  uuid            {uuid}\n  pci             {dom:04x}:{bus:02x}:{dev:02x}.{func}\n  memory          {mem} bytes ({gib:.1} GiB)\n  compute         {maj}.{min}, {sm} multiprocessors\n  driver          {drv} (CUDA {cmaj}.{cmin})\n  device abi      {abi_maj}.{abi_min}, features {feat:#x}, max payload {pl} bytes",
        name = field_str(&d.name).unwrap_or("<invalid>"),
        uuid = uuid_text(&d.uuid),
        dom = i.pci_domain,
        bus = i.pci_bus,
        dev = i.pci_device,
        func = i.pci_function,
        mem = d.total_memory,
        gib = d.total_memory as f64 / (1u64 << 30) as f64,
        maj = d.compute_major,
        min = d.compute_minor,
        sm = d.multiprocessor_count,
        drv = field_str(&d.driver_version).unwrap_or("<invalid>"),
        cmaj = d.cuda_driver_version / 1000,
        cmin = d.cuda_driver_version % 1000 / 10,
        abi_maj = i.abi_version >> 16,
        abi_min = i.abi_version & 0xffff,
        feat = i.features,
        pl = i.max_payload,
    )
}

pub fn device_nodes() -> Vec<String> {
    let mut nodes: Vec<String> = fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("vgpu") && n[4..].parse::<u32>().is_ok())
                .map(|n| format!("/dev/{n}"))
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

pub fn info_cmd() -> ExitCode {
    let nodes = device_nodes();
    if nodes.is_empty() {
        eprintln!("no /dev/vgpuN: is vgpu.ko loaded and a VGPU-STUB present?");
        return ExitCode::FAILURE;
    }
    for n in nodes {
        match VgpuFile::open(&n).and_then(|f| f.info()) {
            Ok(i) => println!("{}", describe(&n, &i)),
            Err(e) => {
                eprintln!("{n}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Expected identities, written by the runner into the initramfs as
/// `devN.key=value` lines.
pub fn expectations() -> Result<BTreeMap<String, String>, String> {
    let text =
        fs::read_to_string("/etc/vgpu-expect").map_err(|e| format!("/etc/vgpu-expect: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

pub fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

pub fn open0() -> Result<VgpuFile, String> {
    VgpuFile::open("/dev/vgpu0").map_err(|e| format!("/dev/vgpu0: {e}"))
}
