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

#[test]
fn nvidia_smi_lists_processes_through_its_export_table() {
    use crate::ffi::system::{SmiProcessEntry, SmiTable, EXPORT_TABLE_ID, SMI_PROCESS_LIST_SLOT};
    let _s = session();
    assert_eq!(unsafe { nvmlInit_v2() }, ret::SUCCESS);
    let mut p: *const c_void = std::ptr::null();
    assert_eq!(
        unsafe { nvmlInternalGetExportTable(&mut p, EXPORT_TABLE_ID.as_ptr().cast()) },
        ret::SUCCESS
    );
    // SAFETY: the table the call just handed out.
    let t = unsafe { &*p.cast::<SmiTable>() };
    // The size ends after the three process lists; every other slot is empty.
    assert_eq!(t.size, (SMI_PROCESS_LIST_SLOT + 3) * 8);
    assert!(t.before.iter().chain(t.after.iter()).all(|&s| s == 0));
    let [compute, graphics, mps] = t.process_lists.map(|f| f.expect("process slot"));
    let h = handle(0);
    let blank = || SmiProcessEntry {
        pid: 0,
        reserved0: 0,
        used_gpu_memory: 0,
        gpu_instance_id: 0,
        compute_instance_id: 0,
        reserved1: 0,
        name: [0; 4096],
    };
    // Too small: INSUFFICIENT_SIZE with the count needed, as the public list.
    let mut n = 1u32;
    let mut v = vec![blank(); 4];
    assert_eq!(
        unsafe { compute(h, &mut n, v.as_mut_ptr()) },
        ret::INSUFFICIENT_SIZE
    );
    assert_eq!(n, 2);
    n = 4;
    assert_eq!(unsafe { compute(h, &mut n, v.as_mut_ptr()) }, ret::SUCCESS);
    assert_eq!(n, 2);
    for (e, (pid, mem)) in v.iter().zip([(100, 2 * GIB), (200, GIB)]) {
        assert_eq!((e.pid, e.used_gpu_memory), (pid, mem));
        assert_eq!(
            (e.gpu_instance_id, e.compute_instance_id),
            (u32::MAX, u32::MAX)
        );
        // nvidia-smi's table leaves out entries without a name.
        let len = e.name.iter().position(|&b| b == 0).expect("NUL-terminated");
        let name = std::str::from_utf8(&e.name[..len]).expect("UTF-8");
        let want = crate::api::process_name(pid).unwrap_or_else(|_| "N/A".into());
        assert!(!name.is_empty());
        assert_eq!(name, want);
    }
    for other in [graphics, mps] {
        n = 4;
        assert_eq!(unsafe { other(h, &mut n, v.as_mut_ptr()) }, ret::SUCCESS);
        assert_eq!(n, 0);
    }
    // A bad handle is refused, as by the public calls.
    n = 4;
    assert_ne!(
        unsafe { compute(std::ptr::null_mut(), &mut n, v.as_mut_ptr()) },
        ret::SUCCESS
    );
}
