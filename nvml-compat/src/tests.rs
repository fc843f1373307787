// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Library tests on a fake backend (no device): the C exports, called as a
//! C program would.

use std::{
    ffi::{c_char, c_uint, c_void, CStr},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use uapi::{
    cmd::{fill_str, ClientUsage, DeviceInfo, DeviceUsage, Opcode},
    cuda::{op, ATTRIBUTE_COUNT},
    status::Status,
    wire::Wire,
};
use vgpu_transport::{Completion, DevError, PciLocation, Request, Transport, TransportInfo};

use crate::{
    api,
    exports::*,
    ffi::nvmlDevice_t,
    state::{set_backend, Backend, OpenFailure, Opened},
    types::*,
};

type Result<T, E> = core::result::Result<T, E>;

const GIB: u64 = 1 << 30;
const UUID: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
];
const UUID_STR: &str = "GPU-01234567-89ab-cdef-fedc-ba9876543210";

/// What the fake device answers.
#[derive(Clone)]
struct DevSpec {
    info: DeviceInfo,
    pci: Option<PciLocation>,
    usage: Option<DeviceUsage>,
    clients: Vec<ClientUsage>,
}

fn h100(uuid: [u8; 16], bus: u8) -> DevSpec {
    let mut info = DeviceInfo {
        uuid,
        total_memory: 80 * GIB,
        cuda_driver_version: 13000,
        compute_major: 9,
        compute_minor: 0,
        multiprocessor_count: 114,
        ..Default::default()
    };
    fill_str(&mut info.name, "NVIDIA H100 80GB HBM3");
    fill_str(&mut info.driver_version, "580.95.05");
    DevSpec {
        info,
        pci: Some(PciLocation {
            domain: 0,
            bus,
            device: 2,
            function: 0,
        }),
        usage: Some(DeviceUsage {
            total_memory: 80 * GIB,
            used_memory: 3 * GIB,
            free_memory: 77 * GIB,
            client_count: 3,
            gpu_utilization: u32::MAX,
        }),
        clients: vec![
            ClientUsage {
                pid: 100,
                queue: 0,
                used_memory: GIB,
            },
            ClientUsage {
                pid: 100,
                queue: 1,
                used_memory: GIB,
            },
            ClientUsage {
                pid: 200,
                queue: 2,
                used_memory: GIB,
            },
            ClientUsage {
                pid: std::process::id(),
                queue: 3,
                used_memory: 0,
            },
        ],
    }
}

struct FakeTransport {
    spec: DevSpec,
    live: Arc<AtomicUsize>,
    queue: Vec<(u64, u16, u32)>,
    next: u64,
}

impl Drop for FakeTransport {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Transport for FakeTransport {
    fn describe(&mut self) -> Result<TransportInfo, DevError> {
        Ok(TransportInfo {
            device: self.spec.info,
            pci: self.spec.pci,
            max_payload: 1 << 20,
        })
    }

    fn submit(&mut self, reqs: &[Request<'_>]) -> Result<Vec<u64>, DevError> {
        let mut t = Vec::new();
        for r in reqs {
            self.next += 1;
            self.queue.push((self.next, r.opcode, r.resp_capacity));
            t.push(self.next);
        }
        Ok(t)
    }

    fn wait(&mut self, ticket: u64, resp: &mut [u8]) -> Result<Completion, DevError> {
        let i = self.queue.iter().position(|q| q.0 == ticket).unwrap();
        let (_, opcode, _) = self.queue.remove(i);
        let body: Vec<u8> = if opcode == Opcode::GetUsage as u16 {
            match self.spec.usage {
                Some(u) => u.as_bytes().to_vec(),
                None => {
                    return Ok(Completion {
                        status: Status::InvalidOpcode as u32,
                        resp_len: 0,
                    })
                }
            }
        } else if opcode == Opcode::ListClients as u16 {
            self.spec
                .clients
                .iter()
                .flat_map(|c| c.as_bytes().to_vec())
                .collect()
        } else if opcode == op::DEVICE_GET_ATTRIBUTES {
            let mut v = vec![0u8; 8];
            for a in 0..ATTRIBUTE_COUNT as u32 {
                let x: u32 = match a {
                    33 => 0x41,
                    34 => 0,
                    50 => 0,
                    _ => 1,
                };
                v.extend_from_slice(&x.to_le_bytes());
            }
            v
        } else {
            return Ok(Completion {
                status: Status::InvalidOpcode as u32,
                resp_len: 0,
            });
        };
        if body.len() > resp.len() {
            return Ok(Completion {
                status: Status::ResponseTooSmall as u32,
                resp_len: body.len() as u32,
            });
        }
        resp[..body.len()].copy_from_slice(&body);
        Ok(Completion {
            status: 0,
            resp_len: body.len() as u32,
        })
    }
}

struct FakeBackend {
    devices: Vec<DevSpec>,
    fail: Option<i32>,
    live: Arc<AtomicUsize>,
    opens: AtomicUsize,
}

impl FakeBackend {
    fn transport(&self, spec: &DevSpec) -> Box<dyn Transport> {
        self.live.fetch_add(1, Ordering::SeqCst);
        self.opens.fetch_add(1, Ordering::SeqCst);
        Box::new(FakeTransport {
            spec: spec.clone(),
            live: self.live.clone(),
            queue: Vec::new(),
            next: 0,
        })
    }
}

impl Backend for FakeBackend {
    fn open_all(&self) -> Result<Vec<Opened>, OpenFailure> {
        if let Some(errno) = self.fail {
            return Err(OpenFailure {
                location: "/dev/vgpu0".into(),
                error: DevError { op: "open", errno },
            });
        }
        Ok(self
            .devices
            .iter()
            .enumerate()
            .map(|(i, s)| Opened {
                transport: self.transport(s),
                minor: i as u32,
                location: format!("/dev/vgpu{i}"),
            })
            .collect())
    }

    fn reopen(&self, location: &str) -> Result<Box<dyn Transport>, DevError> {
        let i: usize = location.trim_start_matches("/dev/vgpu").parse().unwrap();
        Ok(self.transport(&self.devices[i]))
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

struct Session {
    _serial: MutexGuard<'static, ()>,
    backend: Arc<FakeBackend>,
}

impl Drop for Session {
    fn drop(&mut self) {
        while api::shutdown().is_ok() {}
        set_backend(None);
    }
}

fn session_with(devices: Vec<DevSpec>, fail: Option<i32>) -> Session {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    while api::shutdown().is_ok() {}
    let backend = Arc::new(FakeBackend {
        devices,
        fail,
        live: Arc::new(AtomicUsize::new(0)),
        opens: AtomicUsize::new(0),
    });
    set_backend(Some(backend.clone()));
    crate::state::lock().driver_version = None;
    Session {
        _serial: g,
        backend,
    }
}

fn session() -> Session {
    session_with(vec![h100(UUID, 0)], None)
}

fn handle(i: u32) -> nvmlDevice_t {
    let mut h: nvmlDevice_t = std::ptr::null();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByIndex_v2(i, &mut h) },
        ret::SUCCESS
    );
    h
}

fn text(f: impl FnOnce(*mut c_char, c_uint) -> u32) -> (u32, String) {
    let mut buf = [0 as c_char; 96];
    let r = f(buf.as_mut_ptr(), 96);
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    (r, s)
}

#[test]
fn init_is_reference_counted() {
    let s = session();
    let mut n = 0u32;
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut n) }, ret::UNINITIALIZED);
    assert_eq!(unsafe { nvmlShutdown() }, ret::UNINITIALIZED);
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    assert_eq!(unsafe { nvmlInit() }, ret::SUCCESS);
    assert_eq!(unsafe { nvmlInitWithFlags(0) }, ret::SUCCESS);
    assert_eq!(
        s.backend.opens.load(Ordering::SeqCst),
        1,
        "one open per process"
    );
    assert_eq!(api::init_count(), 3);
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut n) }, ret::SUCCESS);
    assert_eq!(n, 1);
    assert_eq!(unsafe { nvmlShutdown() }, ret::SUCCESS);
    assert_eq!(unsafe { nvmlShutdown() }, ret::SUCCESS);
    assert_eq!(
        s.backend.live.load(Ordering::SeqCst),
        1,
        "open until the last shutdown"
    );
    assert_eq!(unsafe { nvmlDeviceGetCount(&mut n) }, ret::SUCCESS);
    assert_eq!(unsafe { nvmlShutdown() }, ret::SUCCESS);
    assert_eq!(
        s.backend.live.load(Ordering::SeqCst),
        0,
        "closed at the last shutdown"
    );
    assert_eq!(unsafe { nvmlShutdown() }, ret::UNINITIALIZED);
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut n) }, ret::UNINITIALIZED);
    assert_eq!(unsafe { nvmlInitWithFlags(0x100) }, ret::INVALID_ARGUMENT);
}

#[test]
fn init_without_a_device() {
    let _s = session_with(vec![], Some(libc::EACCES));
    assert_eq!(unsafe { nvmlInit_v2() }, ret::NO_PERMISSION);
    assert_eq!(api::init_count(), 0);
    let f = api::init_with_flags(0).unwrap_err();
    assert_eq!(f.open.unwrap().location, "/dev/vgpu0");
    drop(_s);
    let _s = session_with(vec![], Some(libc::ENOENT));
    assert_eq!(unsafe { nvmlInit_v2() }, ret::DRIVER_NOT_LOADED);
    // NVML_INIT_FLAG_NO_GPUS: initialised, zero devices.
    assert_eq!(
        unsafe { nvmlInitWithFlags(NVML_INIT_FLAG_NO_GPUS) },
        ret::SUCCESS
    );
    let mut n = 7u32;
    assert_eq!(unsafe { nvmlDeviceGetCount_v2(&mut n) }, ret::SUCCESS);
    assert_eq!(n, 0);
    let mut h: nvmlDevice_t = std::ptr::null();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByIndex_v2(0, &mut h) },
        ret::INVALID_ARGUMENT
    );
    // The NVML version needs no init and no device.
    let (r, v) = text(|b, l| unsafe { nvmlSystemGetNVMLVersion(b, l) });
    assert_eq!((r, v.as_str()), (ret::SUCCESS, "13"));
}

#[test]
fn nvml_version_without_init() {
    let s = session();
    let (r, v) = text(|b, l| unsafe { nvmlSystemGetNVMLVersion(b, l) });
    assert_eq!((r, v.as_str()), (ret::SUCCESS, "13.580.95.05"));
    assert_eq!(api::init_count(), 0);
    assert_eq!(
        s.backend.live.load(Ordering::SeqCst),
        0,
        "probe connection closed"
    );
    let mut small = [0 as c_char; 4];
    assert_eq!(
        unsafe { nvmlSystemGetNVMLVersion(small.as_mut_ptr(), 4) },
        ret::INSUFFICIENT_SIZE
    );
}

#[test]
fn system_queries() {
    let _s = session();
    let (r, _) = text(|b, l| unsafe { nvmlSystemGetDriverVersion(b, l) });
    assert_eq!(r, ret::UNINITIALIZED);
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let (r, v) = text(|b, l| unsafe { nvmlSystemGetDriverVersion(b, l) });
    assert_eq!((r, v.as_str()), (ret::SUCCESS, "580.95.05"));
    let mut cv = 0;
    assert_eq!(
        unsafe { nvmlSystemGetCudaDriverVersion(&mut cv) },
        ret::SUCCESS
    );
    assert_eq!(cv, 13000);
    assert_eq!(
        unsafe { nvmlSystemGetCudaDriverVersion_v2(&mut cv) },
        ret::SUCCESS
    );
    let (r, v) = text(|b, l| unsafe { nvmlSystemGetProcessName(std::process::id(), b, l) });
    assert_eq!(r, ret::SUCCESS);
    assert!(!v.is_empty());
}

#[test]
fn handles_by_index_uuid_pci_and_serial() {
    let _s = session_with(vec![h100(UUID, 0), h100([0x55; 16], 3)], None);
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let (h0, h1) = (handle(0), handle(1));
    assert_ne!(h0, h1);
    let mut h: nvmlDevice_t = std::ptr::null();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByIndex(2, &mut h) },
        ret::INVALID_ARGUMENT
    );
    for u in [
        UUID_STR,
        "gpu-01234567-89AB-CDEF-FEDC-BA9876543210",
        "01234567-89ab-cdef-fedc-ba9876543210",
    ] {
        let c = std::ffi::CString::new(u).unwrap();
        h = std::ptr::null();
        assert_eq!(
            unsafe { nvmlDeviceGetHandleByUUID(c.as_ptr(), &mut h) },
            ret::SUCCESS,
            "{u}"
        );
        assert_eq!(h, h0);
    }
    assert_eq!(
        unsafe {
            nvmlDeviceGetHandleByUUID(c"GPU-00000000-0000-0000-0000-000000000000".as_ptr(), &mut h)
        },
        ret::NOT_FOUND
    );
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByUUID(std::ptr::null(), &mut h) },
        ret::INVALID_ARGUMENT
    );
    for b in [c"00000000:03:02.0", c"0000:03:02.0", c"03:02.0"] {
        h = std::ptr::null();
        assert_eq!(
            unsafe { nvmlDeviceGetHandleByPciBusId_v2(b.as_ptr(), &mut h) },
            ret::SUCCESS
        );
        assert_eq!(h, h1);
    }
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByPciBusId(c"0000:09:00.0".as_ptr(), &mut h) },
        ret::NOT_FOUND
    );
    assert_eq!(
        unsafe { nvmlDeviceGetHandleByPciBusId(c"garbage".as_ptr(), &mut h) },
        ret::INVALID_ARGUMENT
    );
    let (_, serial) = text(|b, l| unsafe { nvmlDeviceGetSerial(h1, b, l) });
    assert_eq!(serial.len(), 13);
    let c = std::ffi::CString::new(serial).unwrap();
    assert_eq!(
        unsafe { nvmlDeviceGetHandleBySerial(c.as_ptr(), &mut h) },
        ret::SUCCESS
    );
    assert_eq!(h, h1);
    let mut idx = 9;
    assert_eq!(unsafe { nvmlDeviceGetIndex(h1, &mut idx) }, ret::SUCCESS);
    assert_eq!(idx, 1);
    assert_eq!(
        unsafe { nvmlDeviceGetMinorNumber(h1, &mut idx) },
        ret::SUCCESS
    );
    assert_eq!(idx, 1);
    // A pointer that is not ours.
    let bogus = 0x1000 as nvmlDevice_t;
    assert_eq!(
        unsafe { nvmlDeviceGetIndex(bogus, &mut idx) },
        ret::INVALID_ARGUMENT
    );
    // Handles survive shutdown/init cycles (Ollama's per-query cycle).
    assert_eq!(unsafe { nvmlShutdown() }, ret::SUCCESS);
    assert_eq!(
        unsafe { nvmlDeviceGetIndex(h0, &mut idx) },
        ret::UNINITIALIZED
    );
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    assert_eq!(handle(0), h0);
    assert_eq!(unsafe { nvmlDeviceGetIndex(h0, &mut idx) }, ret::SUCCESS);
}

#[test]
fn identity_matches_libcuda() {
    let _s = session();
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let h = handle(0);
    let (r, name) = text(|b, l| unsafe { nvmlDeviceGetName(h, b, l) });
    assert_eq!((r, name.as_str()), (ret::SUCCESS, "NVIDIA H100 80GB HBM3"));
    let (r, uuid) = text(|b, l| unsafe { nvmlDeviceGetUUID(h, b, l) });
    assert_eq!((r, uuid.as_str()), (ret::SUCCESS, UUID_STR));
    let mut small = [0 as c_char; 8];
    assert_eq!(
        unsafe { nvmlDeviceGetUUID(h, small.as_mut_ptr(), 8) },
        ret::INSUFFICIENT_SIZE
    );
    let (mut ma, mut mi) = (0, 0);
    assert_eq!(
        unsafe { nvmlDeviceGetCudaComputeCapability(h, &mut ma, &mut mi) },
        ret::SUCCESS
    );
    assert_eq!((ma, mi), (9, 0));
    let mut v = 0u32;
    assert_eq!(
        unsafe { nvmlDeviceGetArchitecture(h, &mut v) },
        ret::SUCCESS
    );
    assert_eq!(v, arch::HOPPER);
    assert_eq!(unsafe { nvmlDeviceGetBrand(h, &mut v) }, ret::SUCCESS);
    assert_eq!(v, brand::NVIDIA);
    assert_eq!(unsafe { nvmlDeviceGetBoardId(h, &mut v) }, ret::SUCCESS);
    assert_eq!(v, 0x7654_3210);
    assert_eq!(
        unsafe { nvmlDeviceGetPersistenceMode(h, &mut v) },
        ret::SUCCESS
    );
    assert_eq!(v, NVML_FEATURE_DISABLED);
    assert_eq!(unsafe { nvmlDeviceGetComputeMode(h, &mut v) }, ret::SUCCESS);
    assert_eq!(v, NVML_COMPUTEMODE_DEFAULT);

    let mut p = nvmlPciInfo_t::default();
    assert_eq!(unsafe { nvmlDeviceGetPciInfo_v3(h, &mut p) }, ret::SUCCESS);
    let s = |a: &[c_char]| {
        unsafe { CStr::from_ptr(a.as_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(s(&p.busId), "00000000:00:02.0");
    assert_eq!(s(&p.busIdLegacy), "0000:00:02.0");
    assert_eq!((p.domain, p.bus, p.device), (0, 0, 2));
    assert_eq!(p.pciDeviceId, 0x2331_10de);
    assert_eq!(p.pciSubSystemId, 0x5647_10de);
    // The legacy entry points write 52 bytes and no more.
    let mut buf = [0xaau8; 68];
    assert_eq!(
        unsafe { nvmlDeviceGetPciInfo(h, buf.as_mut_ptr().cast()) },
        ret::SUCCESS
    );
    assert!(buf[52..].iter().all(|&b| b == 0xaa));
    assert_eq!(&buf[..13], b"0000:00:02.0\0");
    assert_eq!(
        u32::from_ne_bytes(buf[28..32].try_into().unwrap()),
        0x2331_10de
    );
    let mut e = nvmlPciInfoExt_t::default();
    assert_eq!(
        unsafe { nvmlDeviceGetPciInfoExt(h, &mut e) },
        ret::ARGUMENT_VERSION_MISMATCH
    );
    e.version = NVML_PCI_INFO_EXT_V1;
    assert_eq!(unsafe { nvmlDeviceGetPciInfoExt(h, &mut e) }, ret::SUCCESS);
    assert_eq!((e.baseClass, e.subClass), (3, 2));
}

#[test]
fn socket_transport_takes_pci_from_the_attribute_table() {
    let mut d = h100(UUID, 0);
    d.pci = None;
    let _s = session_with(vec![d], None);
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let id = api::Device::by_index(0).unwrap().identity().unwrap();
    assert_eq!(id.bus_id(), "00000000:41:00.0");
}

#[test]
fn memory_and_utilization() {
    let _s = session();
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let h = handle(0);
    let mut m = nvmlMemory_t::default();
    assert_eq!(unsafe { nvmlDeviceGetMemoryInfo(h, &mut m) }, ret::SUCCESS);
    assert_eq!((m.total, m.used, m.free), (80 * GIB, 3 * GIB, 77 * GIB));
    let mut m2 = nvmlMemory_v2_t::default();
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryInfo_v2(h, &mut m2) },
        ret::ARGUMENT_VERSION_MISMATCH
    );
    m2.version = NVML_MEMORY_V2;
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryInfo_v2(h, &mut m2) },
        ret::SUCCESS
    );
    assert_eq!(
        (m2.total, m2.reserved, m2.free, m2.used),
        (80 * GIB, 0, 77 * GIB, 3 * GIB)
    );
    let mut u = nvmlUtilization_t::default();
    assert_eq!(
        unsafe { nvmlDeviceGetUtilizationRates(h, &mut u) },
        ret::NOT_SUPPORTED
    );
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryInfo(h, std::ptr::null_mut()) },
        ret::INVALID_ARGUMENT
    );
}

#[test]
fn utilization_when_known_and_old_hosts() {
    let mut d = h100(UUID, 0);
    d.usage.as_mut().unwrap().gpu_utilization = 42;
    let mut old = h100([7; 16], 1);
    old.usage = None;
    let _s = session_with(vec![d, old], None);
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let mut u = nvmlUtilization_t::default();
    assert_eq!(
        unsafe { nvmlDeviceGetUtilizationRates(handle(0), &mut u) },
        ret::SUCCESS
    );
    assert_eq!(u.gpu, 42);
    // A host without GetUsage: an error, never guest RAM.
    let mut m = nvmlMemory_t::default();
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryInfo(handle(1), &mut m) },
        ret::UNKNOWN
    );
}

#[test]
fn running_processes() {
    let _s = session();
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let h = handle(0);
    // Query the count: 2 processes (pid 100 merged; our own idle client left out).
    let mut n = 0u32;
    assert_eq!(
        unsafe { nvmlDeviceGetComputeRunningProcesses_v3(h, &mut n, std::ptr::null_mut()) },
        ret::INSUFFICIENT_SIZE
    );
    assert_eq!(n, 2);
    let mut v = [nvmlProcessInfo_t::default(); 4];
    n = 4;
    assert_eq!(
        unsafe { nvmlDeviceGetComputeRunningProcesses_v3(h, &mut n, v.as_mut_ptr()) },
        ret::SUCCESS
    );
    assert_eq!(n, 2);
    assert_eq!((v[0].pid, v[0].usedGpuMemory), (100, 2 * GIB));
    assert_eq!((v[1].pid, v[1].usedGpuMemory), (200, GIB));
    assert_eq!(v[0].gpuInstanceId, u32::MAX);
    let mut v1 = [nvmlProcessInfo_v1_t::default(); 2];
    n = 2;
    assert_eq!(
        unsafe { nvmlDeviceGetComputeRunningProcesses(h, &mut n, v1.as_mut_ptr()) },
        ret::SUCCESS
    );
    assert_eq!((v1[1].pid, v1[1].usedGpuMemory), (200, GIB));
    n = 0;
    assert_eq!(
        unsafe { nvmlDeviceGetGraphicsRunningProcesses_v3(h, &mut n, std::ptr::null_mut()) },
        ret::SUCCESS
    );
    assert_eq!(n, 0);
    assert_eq!(
        unsafe { nvmlDeviceGetMPSComputeRunningProcesses(h, &mut n, std::ptr::null_mut()) },
        ret::SUCCESS
    );
}

#[test]
fn a_forked_child_reconnects() {
    let s = session();
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    // What atfork_child does.
    for d in &mut crate::state::lock().devices {
        d.conn = None;
    }
    let mut m = nvmlMemory_t::default();
    assert_eq!(
        unsafe { nvmlDeviceGetMemoryInfo(handle(0), &mut m) },
        ret::SUCCESS
    );
    assert_eq!(s.backend.opens.load(Ordering::SeqCst), 2);
}

#[test]
fn unsupported_queries() {
    let _s = session();
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let h = handle(0);
    let mut t = 0u32;
    assert_eq!(unsafe { nvmlDeviceGetTemperature(h) }, ret::NOT_SUPPORTED);
    assert_eq!(unsafe { nvmlDeviceGetPowerUsage(h) }, ret::NOT_SUPPORTED);
    assert_eq!(unsafe { nvmlDeviceGetMigMode(h) }, ret::NOT_SUPPORTED);
    assert_eq!(
        unsafe { nvmlDeviceGetFanSpeed(std::ptr::null()) },
        ret::INVALID_ARGUMENT
    );
    // Event sets exist (nvidia-smi needs them) but never fire.
    let mut set: *const std::ffi::c_void = std::ptr::null();
    assert_eq!(unsafe { nvmlEventSetCreate(&mut set) }, ret::SUCCESS);
    assert_eq!(
        unsafe { nvmlDeviceRegisterEvents(h, 0x8, set) },
        ret::SUCCESS
    );
    assert_eq!(
        unsafe { nvmlDeviceRegisterEvents(h, 0x8, std::ptr::null()) },
        ret::INVALID_ARGUMENT
    );
    let mut types = u64::MAX;
    assert_eq!(
        unsafe { nvmlDeviceGetSupportedEventTypes(h, &mut types) },
        ret::SUCCESS
    );
    assert_eq!(types, 0);
    assert_eq!(
        unsafe { nvmlEventSetWait_v2(set, std::ptr::null_mut(), 1) },
        ret::TIMEOUT
    );
    assert_eq!(unsafe { nvmlEventSetFree(set) }, ret::SUCCESS);
    assert_eq!(unsafe { nvmlDeviceGetIndex(h, &mut t) }, ret::SUCCESS);
}

#[test]
fn error_strings() {
    for c in [0, 1, 2, 3, 9, 25, 999, 4242] {
        let p = nvmlErrorString(c);
        let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
        assert_eq!(s, error_string(c));
    }
    assert_eq!(
        unsafe { CStr::from_ptr(nvmlErrorString(ret::DRIVER_NOT_LOADED)) }.to_bytes(),
        b"Driver Not Loaded"
    );
}

#[test]
fn export_table() {
    let id: [u8; 16] = [
        0xc4, 0xfe, 0x3e, 0x6c, 0xc9, 0x8f, 0x6c, 0x4e, 0xa3, 0x27, 0xee, 0x69, 0x6e, 0x12, 0xf7,
        0xc4,
    ];
    let mut p: *const c_void = std::ptr::null();
    assert_eq!(
        unsafe { nvmlInternalGetExportTable(&mut p, id.as_ptr().cast()) },
        ret::SUCCESS
    );
    assert!(!p.is_null());
    let t = unsafe { std::slice::from_raw_parts(p.cast::<usize>(), 512) };
    assert!(t.iter().all(|&x| x == 0));
    let other = [0u8; 16];
    p = std::ptr::dangling::<c_void>();
    assert_eq!(
        unsafe { nvmlInternalGetExportTable(&mut p, other.as_ptr().cast()) },
        ret::INVALID_ARGUMENT
    );
    assert!(p.is_null());
}

#[test]
fn every_nvml_h_symbol_is_exported() {
    let t = table();
    let want: Vec<&str> = include_str!("nvml_symbols.txt").lines().collect();
    assert!(want.len() > 400);
    for n in &want {
        assert!(t.contains_key(n), "{n} missing");
    }
    let (imp, dev, stub) = COUNTS;
    assert_eq!(imp + dev + stub + 1, t.len());
    assert_eq!(t.len(), want.len(), "exports beyond nvml.h");
}

#[test]
fn uuid_and_bus_id_parsing() {
    assert_eq!(crate::state::uuid_string(&UUID), UUID_STR);
    assert_eq!(api::parse_bus_id("00000000:41:00.0"), Some((0, 0x41, 0, 0)));
    assert_eq!(api::parse_bus_id("0001:0a:1f.3"), Some((1, 0xa, 0x1f, 3)));
    assert_eq!(api::parse_bus_id("41:00.0"), Some((0, 0x41, 0, 0)));
    assert_eq!(api::parse_bus_id("zz"), None);
    assert_eq!(api::architecture(8, 9), arch::ADA);
    assert_eq!(api::architecture(7, 5), arch::TURING);
    assert_eq!(api::architecture(12, 0), arch::BLACKWELL);
    assert_eq!(api::brand("NVIDIA GeForce RTX 4090"), brand::GEFORCE);
    let m = api::merge_clients(
        &[
            ClientUsage {
                pid: 0,
                queue: 0,
                used_memory: 1,
            },
            ClientUsage {
                pid: 0,
                queue: 1,
                used_memory: 2,
            },
        ],
        5,
    );
    assert_eq!(m.len(), 2, "unknown pids are not merged");
}
