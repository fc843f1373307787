// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Exports on the fake device: init, shutdown, system queries, error strings and the export table.

use super::*;

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
    // Its slots: nvidia_smi_lists_processes_through_its_export_table.
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
    let want: Vec<&str> = include_str!("../nvml_symbols.txt").lines().collect();
    assert!(want.len() > 400);
    for n in &want {
        assert!(t.contains_key(n), "{n} missing");
    }
    let (imp, dev, stub) = COUNTS;
    assert_eq!(imp + dev + stub + 1, t.len());
    assert_eq!(t.len(), want.len(), "exports beyond nvml.h");
}
