//! The test bed's inputs: paths and settings from the environment that
//! `scripts/vm-env.sh` exports.

use std::{env, path::PathBuf};

/// Inputs, from environment variables set by `scripts/vm-env.sh`.
pub struct Env {
    pub qemu: PathBuf,
    pub qemu_data: Vec<PathBuf>,
    pub kernel: PathBuf,
    pub kernel_release: String,
    pub kmod: PathBuf,
    pub busybox: PathBuf,
    pub host_bin: PathBuf,
    pub guest_bin: PathBuf,
    pub work: PathBuf,
    pub accel: String,
    /// Our libcuda.so (installed in the guest as libcuda.so.1).
    pub libcuda: PathBuf,
    /// The driver-API test program (dynamically linked).
    pub cuda_suite: PathBuf,
    /// Size of the CUDA round-trip case, MiB.
    pub roundtrip_mib: u32,
    /// Executor vgpu-host runs ("sim", or "cuda" on the GPU machine).
    pub executor: String,
    /// Use the initramfs images already in the work directory (GPU machine:
    /// they were built where the tools to build them are).
    pub prebuilt: bool,
    /// A static ldconfig for the guest.
    pub ldconfig: PathBuf,
    /// The repository (seen at the same path in the guest's host-root chroot).
    pub repo: PathBuf,
    /// The install tree (scripts/make-dist.sh).
    pub dist: PathBuf,
    /// Test tools for the discovery scenario (nvml-probe, pynvml).
    pub guest_tools: PathBuf,
    /// The Debian packages (scripts/make-debs.sh), and a second build of
    /// them with a higher version that the packages scenario upgrades to
    /// (unset on the GPU machine, which does not run that scenario).
    pub debs: PathBuf,
    pub debs_next: PathBuf,
    /// The cudart test programs (scripts/build-cuda-programs.sh).
    pub cuda_programs: PathBuf,
    /// Longest a guest may run before it is stopped, seconds.
    pub boot_timeout_s: u64,
    /// A log filter for our libraries in the guest's CUDA programs
    /// (`VGPU_GUEST_LOG`), for debugging a guest-only failure.
    pub guest_log: Option<String>,
    /// Arguments of the bench scenario's `cuda-suite --bench`
    /// (`VGPU_BENCH_GUEST_ARGS`, e.g. `--quick`; none: the full run).
    pub bench_args: String,
    /// Seconds of the load test (`VGPU_LOAD_SECONDS`): over the socket in
    /// native-socket (default 25), and in the guest's load scenario.
    pub load_seconds: u64,
    /// Processes of the load test over the socket (`VGPU_LOAD_PROCS`,
    /// default 8, each with 4 threads). 16 is the figure; on the
    /// 2-core CI machine a 16-process run once saw one worker's command
    /// stall past the command timeout (docs/reliability.md, open).
    pub load_procs: u64,
    /// Seconds of the guest ioctl fuzzer in the kasan-fuzz scenario
    /// (`VGPU_FUZZ_SECONDS`, default 600).
    pub fuzz_seconds: u64,
    /// Its seed (`VGPU_FUZZ_SEED`; none: the guest's clock, printed).
    pub fuzz_seed: Option<u64>,
}

/// The round-trip size the recorded GPU digests were taken with, MiB; a run
/// with another size cannot be compared with them.
pub const DIGEST_ROUNDTRIP_MIB: u32 = 1024;

fn var(name: &str) -> Result<String, String> {
    env::var(name).map_err(|_| format!("{name} is not set (run through scripts/vm-env.sh)"))
}

fn number<T: std::str::FromStr>(name: &str, default: T) -> T {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Env {
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            qemu: var("VGPU_QEMU")?.into(),
            qemu_data: var("VGPU_QEMU_DATA")?
                .split(':')
                .map(PathBuf::from)
                .collect(),
            kernel: var("VGPU_KERNEL")?.into(),
            kernel_release: var("VGPU_KERNEL_RELEASE")?,
            kmod: var("VGPU_KMOD")?.into(),
            busybox: var("VGPU_BUSYBOX")?.into(),
            host_bin: var("VGPU_HOST_BIN")?.into(),
            guest_bin: var("VGPU_GUEST_BIN")?.into(),
            work: var("VGPU_WORK")?.into(),
            accel: env::var("VGPU_ACCEL").unwrap_or_else(|_| "tcg,thread=multi".into()),
            libcuda: var("VGPU_LIBCUDA")?.into(),
            cuda_suite: var("VGPU_CUDA_SUITE")?.into(),
            roundtrip_mib: number("VGPU_ROUNDTRIP_MIB", DIGEST_ROUNDTRIP_MIB),
            executor: env::var("VGPU_EXECUTOR").unwrap_or_else(|_| "sim".into()),
            prebuilt: env::var("VGPU_PREBUILT").is_ok_and(|v| v == "1"),
            ldconfig: env::var("VGPU_LDCONFIG")
                .unwrap_or_else(|_| "/sbin/ldconfig".into())
                .into(),
            repo: var("VGPU_REPO")?.into(),
            dist: var("VGPU_DIST")?.into(),
            guest_tools: var("VGPU_GUEST_TOOLS")?.into(),
            debs: env::var("VGPU_DEBS").unwrap_or_default().into(),
            debs_next: env::var("VGPU_DEBS_NEXT").unwrap_or_default().into(),
            cuda_programs: var("VGPU_CUDA_PROGRAMS")?.into(),
            boot_timeout_s: number("VGPU_BOOT_TIMEOUT_S", 600),
            guest_log: env::var("VGPU_GUEST_LOG").ok(),
            bench_args: env::var("VGPU_BENCH_GUEST_ARGS").unwrap_or_default(),
            load_seconds: number("VGPU_LOAD_SECONDS", 25),
            load_procs: number("VGPU_LOAD_PROCS", 8),
            fuzz_seconds: number("VGPU_FUZZ_SECONDS", 600),
            fuzz_seed: env::var("VGPU_FUZZ_SEED").ok().and_then(|v| v.parse().ok()),
        })
    }

    /// Whether this run's digests can be compared with the recorded ones.
    pub fn digests_comparable(&self) -> bool {
        self.roundtrip_mib == DIGEST_ROUNDTRIP_MIB
    }
}
