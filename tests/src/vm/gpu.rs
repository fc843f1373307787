//! The simulated GPUs the scenarios use: their identity as given to
//! vgpu-host and as the guest must see it.

/// One simulated GPU: its identity, as given to vgpu-host and expected in the guest.
#[derive(Clone)]
pub struct Gpu {
    pub name: &'static str,
    pub uuid: &'static str,
    pub total_memory: u64,
    pub compute_capability: &'static str,
    pub multiprocessors: u32,
    pub driver_version: &'static str,
    pub cuda_driver_version: u32,
    /// Extra (test-only) vgpu-host flags.
    pub extra: Vec<&'static str>,
    /// Extra properties of QEMU's vfio-user-pci device, as JSON members.
    pub qemu_props: &'static str,
}

pub fn h100() -> Gpu {
    Gpu {
        name: "NVIDIA H100 80GB HBM3",
        uuid: "GPU-56475055-1111-4222-8333-444455556666",
        total_memory: 85_899_345_920,
        compute_capability: "9.0",
        multiprocessors: 132,
        driver_version: "580.95.05",
        cuda_driver_version: 13000,
        extra: vec![],
        qemu_props: "",
    }
}

pub fn l4() -> Gpu {
    Gpu {
        name: "NVIDIA L4 (vgpu test ü)",
        uuid: "GPU-0a0b0c0d-0e0f-4011-8213-141516171819",
        total_memory: 24_152_899_584,
        compute_capability: "8.9",
        multiprocessors: 58,
        driver_version: "575.51.03",
        cuda_driver_version: 12090,
        extra: vec![],
        qemu_props: "",
    }
}

/// `GPU-` and lower-case hex: how the guest prints a UUID.
pub fn canonical_uuid(u: &str) -> String {
    format!("GPU-{}", u.trim_start_matches("GPU-").to_lowercase())
}

/// The `/etc/vgpu-expect` lines that describe `gpus` as the guest must see
/// them (`devN.key=value`).
pub fn expected_identities(gpus: &[Gpu]) -> String {
    let mut out = format!("devices={}\n", gpus.len());
    for (i, g) in gpus.iter().enumerate() {
        out += &format!(
            "dev{i}.name={}\ndev{i}.uuid={}\ndev{i}.total_memory={}\ndev{i}.compute_capability={}\ndev{i}.multiprocessors={}\ndev{i}.driver_version={}\ndev{i}.cuda_driver_version={}\n",
            g.name, canonical_uuid(g.uuid), g.total_memory, g.compute_capability, g.multiprocessors, g.driver_version, g.cuda_driver_version
        );
    }
    out
}

/// The `[sim]` table of vgpu-host's configuration file that gives the
/// simulator `g`'s identity (not its test-only `extra` flags).
pub fn sim_table(g: &Gpu) -> String {
    format!(
        "[sim]\nname = {:?}\nuuid = {:?}\ntotal_memory = {}\ncompute_capability = {:?}\nmultiprocessors = {}\ndriver_version = {:?}\ncuda_driver_version = {}\n",
        g.name, g.uuid, g.total_memory, g.compute_capability, g.multiprocessors, g.driver_version, g.cuda_driver_version
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sim_table_names_every_identity_field() {
        let t = sim_table(&h100());
        assert!(t.starts_with("[sim]\n"));
        assert!(t.contains("name = \"NVIDIA H100 80GB HBM3\"\n"));
        assert!(t.contains("total_memory = 85899345920\n"));
        assert!(t.contains("compute_capability = \"9.0\"\n"));
        assert!(t.contains("cuda_driver_version = 13000\n"));
    }

    #[test]
    fn identities_use_the_guests_uuid_spelling() {
        let text = expected_identities(&[h100(), l4()]);
        assert!(text.starts_with("devices=2\n"));
        assert!(text.contains("dev0.uuid=GPU-56475055-1111-4222-8333-444455556666\n"));
        assert!(text.contains("dev1.cuda_driver_version=12090\n"));
        assert_eq!(canonical_uuid("GPU-ABCD"), "GPU-abcd");
    }
}
