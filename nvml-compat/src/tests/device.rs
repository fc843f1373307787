// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Exports on the fake device: device handles and identity, as libcuda reports it.

use super::*;

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
