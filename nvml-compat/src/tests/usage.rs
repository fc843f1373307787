// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Exports on the fake device: memory, utilisation, processes and fork.

use super::*;

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
