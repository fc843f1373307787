// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! `vgpu-smi cdi generate`: a Container Device Interface specification of
//! this guest's vgpu devices, as `nvidia-ctk cdi generate` writes one for
//! NVIDIA's: kind `vgpu.dev/gpu`, a device per `/dev/vgpuN` (named `N`) and
//! `all`, and the edits every device shares: our `libcuda.so.1` and
//! `libnvidia-ml.so.1` with their `.so` links, `vgpu-smi`, and the nodes'
//! group (so that a container user other than root may open them).
//! `podman run --device vgpu.dev/gpu=all ...` then gets the GPU.
//!
//! ```text
//! vgpu-smi cdi generate [--output FILE]     (e.g. /etc/cdi/vgpu.yaml; JSON is YAML)
//! ```

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The CDI kind of our devices.
pub(crate) const KIND: &str = "vgpu.dev/gpu";
/// The CDI version the spec needs: `additionalGids` came with 0.7.0.
pub(crate) const CDI_VERSION: &str = "0.7.0";
/// What a container gets of each library: the soname and the link the
/// toolchains use.
const LIBRARIES: [(&str, &str); 2] = [
    ("libcuda.so.1", "libcuda.so"),
    ("libnvidia-ml.so.1", "libnvidia-ml.so"),
];
/// Library directories install.sh uses, in its order of preference.
const LIB_DIRS: [&str; 3] = ["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"];

pub(crate) const USAGE: &str = "usage: vgpu-smi cdi generate [--output FILE]\n";

/// What the spec is made of, found on this system (or given by tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inventory {
    /// `/dev/vgpuN` by N.
    pub(crate) nodes: Vec<(u32, PathBuf)>,
    /// The group of the nodes (none when root's).
    pub(crate) gid: Option<u32>,
    /// The library directory holding our libraries.
    pub(crate) lib_dir: PathBuf,
    /// `vgpu-smi` itself.
    pub(crate) smi: PathBuf,
}

/// Finds the nodes, their group, our libraries and vgpu-smi.
pub(crate) fn discover() -> Result<Inventory, String> {
    let nodes: Vec<(u32, PathBuf)> = vgpu_transport::device_nodes()
        .into_iter()
        .map(|(n, p)| (n, PathBuf::from(p)))
        .collect();
    if nodes.is_empty() {
        return Err("no /dev/vgpuN: is vgpu.ko loaded (lsmod | grep vgpu)?".into());
    }
    let gid = nodes
        .iter()
        .find_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.gid())
        .filter(|g| *g != 0);
    let lib_dir = LIB_DIRS
        .iter()
        .map(PathBuf::from)
        .find(|d| LIBRARIES.iter().all(|(soname, _)| d.join(soname).exists()))
        .ok_or_else(|| {
            format!(
                "libcuda.so.1 and libnvidia-ml.so.1 are in none of {LIB_DIRS:?}: run install.sh"
            )
        })?;
    let smi = ["/usr/bin/vgpu-smi"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| std::env::current_exe().ok())
        .ok_or("cannot find vgpu-smi itself")?;
    Ok(Inventory {
        nodes,
        gid,
        lib_dir,
        smi,
    })
}

/// A read-only bind mount of `host` at `container`.
fn bind(host: &Path, container: &Path) -> Value {
    json!({
        "hostPath": host,
        "containerPath": container,
        "options": ["ro", "nosuid", "nodev", "bind"],
    })
}

fn node(path: &Path) -> Value {
    json!({ "path": path, "type": "c", "permissions": "rw" })
}

/// The CDI specification for `inv`.
pub(crate) fn spec(inv: &Inventory) -> Value {
    let mut devices: Vec<Value> = inv
        .nodes
        .iter()
        .map(|(n, p)| {
            json!({
                "name": n.to_string(),
                "containerEdits": { "deviceNodes": [node(p)] },
            })
        })
        .collect();
    devices.push(json!({
        "name": "all",
        "containerEdits": {
            "deviceNodes": inv.nodes.iter().map(|(_, p)| node(p)).collect::<Vec<_>>(),
        },
    }));
    let mut mounts = Vec::new();
    for (soname, link) in LIBRARIES {
        let lib = inv.lib_dir.join(soname);
        mounts.push(bind(&lib, &lib));
        // The `.so` link, as the file it names: a bind mount follows links.
        mounts.push(bind(&lib, &inv.lib_dir.join(link)));
    }
    mounts.push(bind(&inv.smi, Path::new("/usr/bin/vgpu-smi")));
    let mut edits = json!({ "mounts": mounts });
    if let Some(gid) = inv.gid {
        edits["additionalGids"] = json!([gid]);
    }
    json!({
        "cdiVersion": CDI_VERSION,
        "kind": KIND,
        "devices": devices,
        "containerEdits": edits,
    })
}

/// `vgpu-smi cdi ARGS...`: (exit code, stdout, stderr).
pub(crate) fn run(argv: &[String]) -> (i32, String, String) {
    let mut output: Option<PathBuf> = None;
    let mut it = argv.iter();
    if it.next().map(String::as_str) != Some("generate") {
        return (2, String::new(), USAGE.into());
    }
    while let Some(a) = it.next() {
        match (a.as_str(), it.clone().next()) {
            ("--output" | "-o", Some(f)) => {
                output = Some(f.into());
                it.next();
            }
            _ => return (2, String::new(), format!("unknown argument {a}\n{USAGE}")),
        }
    }
    let inv = match discover() {
        Ok(i) => i,
        Err(e) => return (6, String::new(), format!("vgpu-smi cdi: {e}\n")),
    };
    let text = match serde_json::to_string_pretty(&spec(&inv)) {
        Ok(t) => t + "\n",
        Err(e) => return (9, String::new(), format!("vgpu-smi cdi: {e}\n")),
    };
    match output {
        None => (0, text, String::new()),
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => (0, String::new(), format!("wrote {}\n", path.display())),
            Err(e) => (
                9,
                String::new(),
                format!("vgpu-smi cdi: {}: {e}\n", path.display()),
            ),
        },
    }
}
