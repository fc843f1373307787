// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Library tests on a fake backend (no device): the C exports, called as a
//! C program would. The fake device and the session are here; the tests
//! are by area, as `ffi/`.
// Every test calls the C exports with pointers to its own locals; a SAFETY
// line on each of those calls would say nothing (as firecracker's tests).
#![allow(clippy::undocumented_unsafe_blocks)]

mod device;
mod system;
mod usage;

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
use vgpu_transport::{
    device::attr, Completion, DevError, PciLocation, Request, Transport, TransportInfo,
};

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
            for a in 0..ATTRIBUTE_COUNT {
                let x: u32 = match a {
                    attr::PCI_BUS_ID => 0x41,
                    attr::PCI_DEVICE_ID | attr::PCI_DOMAIN_ID => 0,
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
