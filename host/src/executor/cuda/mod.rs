//! The CUDA executor: runs commands on the host's real GPU through its
//! `libcuda.so.1`, loaded at run time (no link-time CUDA dependency).
//!
//! - [`driver`]: the library and its entry points ([`CudaDriver`]).
//! - [`backend`]: [`GpuClient`], one guest client's contexts and objects,
//!   implementing [`CudaBackend`].
//! - [`handles`]: tagged per-client handle tables.
//! - [`staging`]: host buffers that keep async copy sources alive.

pub mod backend;
mod dark;
pub mod driver;
#[cfg(test)]
mod fake;
pub mod graph_abi;
pub mod handles;
pub mod staging;

pub use backend::GpuClient;
pub use driver::CudaDriver;

use super::Executor;
use crate::cuda::backend::CudaBackend;
use backend::ATTR_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED;
use driver::{check, CUdevice};
use std::ffi::{c_char, c_int};
use std::sync::Arc;
use uapi::cmd::{fill_str, DeviceInfo};
use uapi::cuda::result::INVALID_DEVICE;
use uapi::cuda::ATTRIBUTE_COUNT;
use uapi::status::Status;

/// Where the kernel module reports its version.
const PROC_VERSION: &str = "/proc/driver/nvidia/version";

/// Serves guest clients from one host GPU.
pub struct CudaExecutor {
    driver: Arc<CudaDriver>,
    device: CUdevice,
    info: DeviceInfo,
    attributes: Arc<[i32]>,
    pci_bus_id: String,
    /// Host memory all clients' staged module images may take (per
    /// executor: per client in process-per-client mode).
    staged: Arc<crate::cuda::stage::StageBudget>,
}

impl std::fmt::Debug for CudaExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaExecutor")
            .field("device", &self.device)
            .field("pci_bus_id", &self.pci_bus_id)
            .finish_non_exhaustive()
    }
}

impl CudaExecutor {
    /// Opens GPU `device_ordinal` of `driver` and reads its identity.
    /// `driver_version` is the NVML-style version (`580.95.05`); when empty
    /// it is read from `/proc/driver/nvidia/version`.
    pub fn new(
        driver: Arc<CudaDriver>,
        device_ordinal: i32,
        driver_version: String,
    ) -> Result<Self, String> {
        let api = *driver.api();
        let fail = |what: &str, rc| format!("{what} failed: {}", driver.error_name(rc));
        let mut device: CUdevice = 0;
        // SAFETY: valid out-pointer.
        check(unsafe { (api.device_get)(&mut device, device_ordinal) })
            .map_err(|rc| fail(&format!("cuDeviceGet({device_ordinal})"), rc))?;

        let mut info = DeviceInfo::default();
        let mut name = [0 as c_char; 256];
        // SAFETY: the buffer holds `len` bytes.
        check(unsafe { (api.device_get_name)(name.as_mut_ptr(), name.len() as c_int, device) })
            .map_err(|rc| fail("cuDeviceGetName", rc))?;
        fill_str(&mut info.name, &c_buf_to_string(&name));
        // SAFETY: 16-byte out-buffer.
        check(unsafe { (api.device_get_uuid)(&mut info.uuid, device) })
            .map_err(|rc| fail("cuDeviceGetUuid", rc))?;
        let mut total = 0usize;
        // SAFETY: valid out-pointer.
        check(unsafe { (api.device_total_mem)(&mut total, device) })
            .map_err(|rc| fail("cuDeviceTotalMem", rc))?;
        info.total_memory = total as u64;
        let mut version: c_int = 0;
        // SAFETY: valid out-pointer.
        check(unsafe { (api.driver_get_version)(&mut version) })
            .map_err(|rc| fail("cuDriverGetVersion", rc))?;
        info.cuda_driver_version = version as u32;

        let mut attributes = vec![0i32; ATTRIBUTE_COUNT];
        for (attr, slot) in attributes.iter_mut().enumerate().skip(1) {
            let mut v: c_int = 0;
            // SAFETY: valid out-pointer; unknown attributes return an error.
            if unsafe { (api.device_get_attribute)(&mut v, attr as c_int, device) } == 0 {
                *slot = v;
            }
        }
        mask_attributes(&mut attributes, api.has_pools());
        let vmm = vmm_supported(
            &api,
            device,
            attributes[ATTR_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED],
        );
        attributes[ATTR_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED] = i32::from(vmm);
        let attr = |a: c_int| attributes[a as usize].max(0) as u32;
        info.compute_major = attr(driver::ATTR_COMPUTE_CAPABILITY_MAJOR);
        info.compute_minor = attr(driver::ATTR_COMPUTE_CAPABILITY_MINOR);
        info.multiprocessor_count = attr(driver::ATTR_MULTIPROCESSOR_COUNT);

        let driver_version = if driver_version.is_empty() {
            std::fs::read_to_string(PROC_VERSION)
                .ok()
                .and_then(|text| parse_proc_version(&text))
                .unwrap_or_else(|| {
                    tracing::warn!("no driver version given and none readable from {PROC_VERSION}");
                    String::new()
                })
        } else {
            driver_version
        };
        fill_str(&mut info.driver_version, &driver_version);

        let mut pci_bus_id = String::new();
        if let Some(bus_id) = api.device_get_pci_bus_id {
            let mut buf = [0 as c_char; 64];
            // SAFETY: the buffer holds `len` bytes.
            if unsafe { bus_id(buf.as_mut_ptr(), buf.len() as c_int, device) } == 0 {
                pci_bus_id = c_buf_to_string(&buf);
            }
        }
        tracing::info!(
            name = %c_buf_to_string(&name),
            pci = %pci_bus_id,
            cuda = version,
            driver = %driver_version,
            "CUDA executor on device {device_ordinal}"
        );
        Ok(Self {
            driver,
            device,
            info,
            attributes: attributes.into(),
            pci_bus_id,
            staged: crate::cuda::stage::StageBudget::new(
                crate::cuda::stage::MAX_STAGED_PER_EXECUTOR,
            ),
        })
    }

    /// Identity and limits of the GPU.
    pub fn device_info(&self) -> DeviceInfo {
        self.info
    }

    /// The GPU's PCI bus id (`0000:3b:00.0`), empty if unknown.
    pub fn pci_bus_id(&self) -> &str {
        &self.pci_bus_id
    }

    /// The `CUdevice_attribute` table (index = attribute, unknown ones 0).
    pub fn attributes(&self) -> &[i32] {
        &self.attributes
    }

    /// The loaded driver.
    pub fn driver(&self) -> &Arc<CudaDriver> {
        &self.driver
    }

    /// The state of a new guest client. No host context exists until the
    /// client first uses one.
    pub fn new_client(&self) -> Result<Box<dyn CudaBackend>, u32> {
        if self.device < 0 {
            return Err(INVALID_DEVICE);
        }
        Ok(Box::new(GpuClient::new(
            Arc::clone(&self.driver),
            self.device,
            Arc::clone(&self.attributes),
        )))
    }
}

/// Device attributes reported as 0 because the guest cannot honour them,
/// each with the reason. `UNIFIED_ADDRESSING` (41) stays 1: cudart and
/// PyTorch rely on it, and the guest library keeps the pointer registry
/// that answers unified addresses.
pub const MASKED_ATTRIBUTES: &[(usize, &str)] = &[
    (19, "CAN_MAP_HOST_MEMORY: guest host memory is never device-visible (no zero-copy)"),
    (83, "MANAGED_MEMORY: cuMemAllocManaged is not provided"),
    (86, "HOST_NATIVE_ATOMIC_SUPPORTED: no host memory is mapped for the device"),
    (88, "PAGEABLE_MEMORY_ACCESS: kernels cannot reach the guest's pageable memory"),
    (89, "CONCURRENT_MANAGED_ACCESS: no managed memory"),
    (91, "CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM: registered memory has no device address"),
    (100, "PAGEABLE_MEMORY_ACCESS_USES_HOST_PAGE_TABLES: no pageable access at all"),
    (101, "DIRECT_MANAGED_MEM_ACCESS_FROM_HOST: no managed memory"),
    (103, "HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED: VMM allocations cannot be exported"),
    (104, "HANDLE_TYPE_WIN32_HANDLE_SUPPORTED: no exports"),
    (105, "HANDLE_TYPE_WIN32_KMT_HANDLE_SUPPORTED: no exports"),
    (107, "GENERIC_COMPRESSION_SUPPORTED: VMM allocations are made uncompressed"),
    (110, "GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED: no GPUDirect RDMA for guest memory (PyTorch would ask for it)"),
    (119, "MEMPOOL_SUPPORTED_HANDLE_TYPES: pools cannot be exported (no IPC)"),
    (128, "HANDLE_TYPE_FABRIC_SUPPORTED: no exports"),
];

/// Whether the guest gets virtual memory management: the device says so
/// (`reported`, attribute 102), the driver has every entry point, and its
/// minimum granularity divides `VMM_GRANULARITY`, the one the guest is told.
pub fn vmm_supported(api: &driver::Api, device: CUdevice, reported: i32) -> bool {
    let Some(granularity) = api.mem_get_allocation_granularity else {
        return false;
    };
    if reported != 1 || !api.has_vmm() {
        return false;
    }
    let prop = uapi::cuda::AllocationProp {
        kind: uapi::cuda::vmm_prop::ALLOCATION_PINNED,
        location_type: uapi::cuda::vmm_prop::LOCATION_DEVICE,
        location_id: device,
        ..Default::default()
    };
    let mut g = 0usize;
    // SAFETY: valid out-pointer and properties; 0 = CU_MEM_ALLOC_GRANULARITY_MINIMUM.
    let rc = unsafe { granularity(&mut g, &prop, 0) };
    let fits = rc == 0 && g != 0 && uapi::cuda::VMM_GRANULARITY.is_multiple_of(g as u64);
    if !fits {
        tracing::warn!(
            rc,
            granularity = g,
            "no VMM for guests: the host's granularity does not divide 2 MiB"
        );
    }
    fits
}

/// `CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED`.
pub const ATTR_MEMORY_POOLS_SUPPORTED: usize = 115;

/// Zeroes [`MASKED_ATTRIBUTES`], and `MEMORY_POOLS_SUPPORTED` unless the
/// host driver has the stream-ordered allocator (`pools`).
pub fn mask_attributes(attributes: &mut [i32], pools: bool) {
    for &(a, _) in MASKED_ATTRIBUTES {
        if let Some(v) = attributes.get_mut(a) {
            *v = 0;
        }
    }
    if !pools {
        if let Some(v) = attributes.get_mut(ATTR_MEMORY_POOLS_SUPPORTED) {
            *v = 0;
        }
    }
}

impl Executor for CudaExecutor {
    fn device_info(&self) -> DeviceInfo {
        self.info
    }

    fn new_backend(&self) -> Result<Box<dyn CudaBackend>, Status> {
        self.new_client().map_err(|code| {
            tracing::warn!(code, "cannot open a CUDA client");
            Status::ExecutorError
        })
    }

    fn stage_budget(&self) -> Arc<crate::cuda::stage::StageBudget> {
        self.staged.clone()
    }
}

/// Text of a NUL-terminated C buffer.
fn c_buf_to_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The driver version from `/proc/driver/nvidia/version`, whose first line
/// reads like `NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  Thu …`
/// (or `… Open Kernel Module for x86_64  580.95.05  Release Build …`).
pub fn parse_proc_version(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let after = &line[line.find("Kernel Module")? + "Kernel Module".len()..];
    after
        .split_whitespace()
        .find(|t| {
            t.contains('.')
                && t.starts_with(|c: char| c.is_ascii_digit())
                && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::driver::CudaMemcpy2D;
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn memcpy2d_matches_cuda_h() {
        assert_eq!(size_of::<CudaMemcpy2D>(), 128);
        assert_eq!(offset_of!(CudaMemcpy2D, srcXInBytes), 0);
        assert_eq!(offset_of!(CudaMemcpy2D, srcY), 8);
        assert_eq!(offset_of!(CudaMemcpy2D, srcMemoryType), 16);
        assert_eq!(offset_of!(CudaMemcpy2D, srcHost), 24);
        assert_eq!(offset_of!(CudaMemcpy2D, srcDevice), 32);
        assert_eq!(offset_of!(CudaMemcpy2D, srcArray), 40);
        assert_eq!(offset_of!(CudaMemcpy2D, srcPitch), 48);
        assert_eq!(offset_of!(CudaMemcpy2D, dstXInBytes), 56);
        assert_eq!(offset_of!(CudaMemcpy2D, dstY), 64);
        assert_eq!(offset_of!(CudaMemcpy2D, dstMemoryType), 72);
        assert_eq!(offset_of!(CudaMemcpy2D, dstHost), 80);
        assert_eq!(offset_of!(CudaMemcpy2D, dstDevice), 88);
        assert_eq!(offset_of!(CudaMemcpy2D, dstArray), 96);
        assert_eq!(offset_of!(CudaMemcpy2D, dstPitch), 104);
        assert_eq!(offset_of!(CudaMemcpy2D, WidthInBytes), 112);
        assert_eq!(offset_of!(CudaMemcpy2D, Height), 120);
    }

    #[test]
    fn missing_library_is_a_clean_error() {
        let err = CudaDriver::load_from("/nonexistent/vgpu-test/libcuda.so.1")
            .expect_err("no such library");
        assert!(err.contains("cannot load the CUDA driver library"), "{err}");
        assert!(err.contains("/nonexistent/vgpu-test/libcuda.so.1"), "{err}");
    }

    #[test]
    fn a_library_without_cuda_symbols_is_refused() {
        // The C library loads fine but exports no cuInit.
        if let Err(err) = CudaDriver::load_from("libc.so.6") {
            assert!(err.contains("cuInit"), "{err}");
        } else {
            panic!("libc.so.6 taken for a CUDA driver");
        }
    }

    #[test]
    fn symbol_list_holds_the_versioned_names() {
        let first: Vec<&str> = driver::Api::SYMBOLS.iter().map(|n| n[0]).collect();
        for name in [
            "cuMemAlloc_v2",
            "cuMemcpyHtoDAsync_v2",
            "cuMemsetD2D32Async",
            "cuMemcpy2DAsync_v2",
            "cuEventElapsedTime_v2",
            "cuFuncGetParamInfo",
            "cuDeviceGetUuid_v2",
            "cuCtxCreate_v2",
        ] {
            assert!(first.contains(&name), "{name}");
        }
    }

    #[test]
    fn identity_comes_from_the_driver() {
        let ex = CudaExecutor::new(fake::driver(), 0, "580.95.05".into()).expect("executor");
        let info = ex.device_info();
        assert_eq!(uapi::cmd::field_str(&info.name), Some("Fake GPU"));
        assert_eq!(
            uapi::cmd::field_str(&info.driver_version),
            Some("580.95.05")
        );
        assert_eq!(info.uuid, [7; 16]);
        assert_eq!(info.total_memory, 1 << 30);
        assert_eq!(info.cuda_driver_version, 13000);
        assert_eq!(info.compute_major, 750);
        assert_eq!(info.compute_minor, 760);
        assert_eq!(info.multiprocessor_count, 160);
        assert_eq!(ex.attributes()[0], 0);
        assert_eq!(ex.attributes()[1], 10);
        // Masked, and what the host says where it is not.
        for a in [19, 83, 88, 89, 91, 100, 103, 110, 119, 128] {
            assert_eq!(ex.attributes()[a], 0, "attribute {a}");
        }
        assert_eq!(
            ex.attributes()[102],
            1,
            "VMM: the device has it, and so does the driver"
        );
        assert_eq!(ex.attributes()[41], 410, "UNIFIED_ADDRESSING stays");
        assert_eq!(ex.attributes()[115], 1150, "pools: the fake has them");
        let mut client = ex.new_client().expect("client");
        assert_eq!(client.device_attributes(0).map(|a| a[2]), Ok(20));
    }

    #[test]
    fn pools_are_masked_without_the_allocator() {
        let mut t = vec![1; ATTRIBUTE_COUNT];
        mask_attributes(&mut t, false);
        assert_eq!(t[ATTR_MEMORY_POOLS_SUPPORTED], 0);
        assert_eq!(t[41], 1);
        let mut t = vec![1; ATTRIBUTE_COUNT];
        mask_attributes(&mut t, true);
        assert_eq!(t[ATTR_MEMORY_POOLS_SUPPORTED], 1);
        assert!(MASKED_ATTRIBUTES.iter().all(|&(a, _)| t[a] == 0));
    }

    #[test]
    fn vmm_is_reported_when_the_host_granularity_fits() {
        let driver = fake::driver();
        let api = *driver.api();
        assert!(vmm_supported(&api, 0, 1));
        assert!(!vmm_supported(&api, 0, 0), "the device lacks it");
        fake::with(|f| f.vmm.granularity = 64 << 10);
        assert!(vmm_supported(&api, 0, 1), "64 KiB divides 2 MiB");
        fake::with(|f| f.vmm.granularity = 4 << 20);
        assert!(!vmm_supported(&api, 0, 1), "4 MiB does not");
        let ex = CudaExecutor::new(fake::driver(), 0, "x".into()).expect("executor");
        assert_eq!(ex.attributes()[102], 0);
        let mut no_map = api;
        no_map.mem_map = None;
        fake::with(|f| f.vmm.granularity = 0);
        assert!(!vmm_supported(&no_map, 0, 1), "an entry point missing");
    }

    #[test]
    fn proc_version_parsing() {
        let proprietary = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  Thu Sep 23 2025\nGCC version: gcc 12\n";
        assert_eq!(
            parse_proc_version(proprietary).as_deref(),
            Some("580.95.05")
        );
        let open = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.82.07  Release Build  (dvs-builder@U16)  Wed Aug 27 2025\n";
        assert_eq!(parse_proc_version(open).as_deref(), Some("580.82.07"));
        assert_eq!(parse_proc_version("garbage"), None);
        assert_eq!(parse_proc_version(""), None);
    }
}
