//! Who uses the device: one entry per client (queue or socket connection),
//! with the guest process id and the device memory it holds. Kept by the
//! device process; the values live in each client's [`ClientPage`], which the
//! client's worker (a thread or a process of its own) writes, so the registry
//! answers `GetUsage` and `ListClients` across processes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use crate::client_page::ClientPage;
use crate::quota::{Claim, MemoryLedger, Quotas};
use uapi::cmd::{ClientUsage, DeviceUsage};

#[derive(Clone, Debug)]
struct Entry {
    page: Arc<ClientPage>,
    /// Host process serving the client (this process for a worker thread).
    worker_pid: u32,
}

/// The device's clients (one VM's, or the direct socket's), with their
/// quotas and the VM's device memory account.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u32, Entry>>,
    quotas: Quotas,
    memory: MemoryLedger,
}

/// The registry already lists as many clients as its quota allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryFull {
    /// The quota.
    pub max_clients: u32,
}

impl ClientRegistry {
    /// An empty registry with the default quotas (no memory limit).
    pub fn new() -> Arc<Self> {
        Self::with_quotas(Quotas::default())
    }

    /// An empty registry enforcing `quotas`.
    pub fn with_quotas(quotas: Quotas) -> Arc<Self> {
        Arc::new(Self {
            clients: Mutex::default(),
            memory: MemoryLedger::new(quotas.vm_memory),
            quotas,
        })
    }

    /// The quotas of this registry's clients.
    pub fn quotas(&self) -> Quotas {
        self.quotas
    }

    /// Client `id` asks to hold `total` bytes of device memory in all
    /// ([`MemoryLedger::claim`]).
    pub fn claim_memory(&self, id: u32, total: u64, force: bool) -> Claim {
        self.memory.claim(id, total, force)
    }

    /// Device memory all clients hold, as the ledger has it.
    pub fn memory_claimed(&self) -> u64 {
        self.memory.used()
    }

    /// Registers client `id` unless the registry is full (the
    /// `max_clients` quota): a direct connection past it is refused.
    pub fn try_join(
        self: &Arc<Self>,
        id: u32,
        page: Arc<ClientPage>,
    ) -> Result<ClientGuard, RegistryFull> {
        let worker_pid = std::process::id();
        let max = self.quotas.max_clients;
        self.with(|c| {
            if c.len() >= max as usize {
                return Err(RegistryFull { max_clients: max });
            }
            c.insert(id, Entry { page, worker_pid });
            Ok(())
        })?;
        Ok(ClientGuard {
            registry: self.clone(),
            id,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<u32, Entry>) -> T) -> T {
        f(&mut self.clients.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Registers client `id`, whose values are in `page`; the returned guard
    /// removes it when dropped. Queues use this: a VM has no more queues
    /// than its `max_clients` quota (`MAX_QUEUES`), so it cannot overfill.
    pub fn join(self: &Arc<Self>, id: u32, page: Arc<ClientPage>) -> ClientGuard {
        let worker_pid = std::process::id();
        self.with(|c| c.insert(id, Entry { page, worker_pid }));
        ClientGuard {
            registry: self.clone(),
            id,
        }
    }

    /// Live usage of a device of `total` bytes.
    pub fn usage(&self, total: u64) -> DeviceUsage {
        self.with(|c| {
            let used: u64 = c
                .values()
                .map(|e| e.page.used.load(Ordering::Acquire))
                .fold(0, u64::saturating_add);
            DeviceUsage {
                total_memory: total,
                used_memory: used,
                free_memory: total.saturating_sub(used),
                client_count: u32::try_from(c.len()).unwrap_or(u32::MAX),
                gpu_utilization: u32::MAX,
            }
        })
    }

    /// Every client.
    pub fn list(&self) -> Vec<ClientUsage> {
        self.with(|c| {
            c.iter()
                .map(|(id, e)| ClientUsage {
                    pid: e.page.pid.load(Ordering::Acquire),
                    queue: *id,
                    used_memory: e.page.used.load(Ordering::Acquire),
                })
                .collect()
        })
    }

    /// The host process serving each client, by client id (for tests and
    /// diagnostics: the guest's `ListClients` carries guest pids only).
    pub fn worker_pids(&self) -> Vec<(u32, u32)> {
        self.with(|c| c.iter().map(|(id, e)| (*id, e.worker_pid)).collect())
    }
}

/// A client's place in the registry.
#[derive(Debug)]
pub struct ClientGuard {
    registry: Arc<ClientRegistry>,
    id: u32,
}

impl ClientGuard {
    /// Records the host process that serves the client.
    pub fn set_worker_pid(&self, pid: u32) {
        self.registry.with(|c| {
            if let Some(e) = c.get_mut(&self.id) {
                e.worker_pid = pid;
            }
        });
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<ClientRegistry> {
        &self.registry
    }

    /// The client's id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.registry.with(|c| c.remove(&self.id));
        // Whatever the client (or its dead worker) held returns to the VM.
        self.registry.memory.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Arc<ClientPage> {
        Arc::new(ClientPage::new().unwrap_or_else(|e| panic!("page: {e}")))
    }

    #[test]
    fn clients_come_and_go_with_their_usage() {
        let r = ClientRegistry::new();
        let (pa, pb) = (page(), page());
        let _a = r.join(0, pa.clone());
        let b = r.join(7, pb.clone());
        pa.pid.store(100, Ordering::Release);
        pa.used.store(1 << 20, Ordering::Release);
        pb.used.store(3 << 20, Ordering::Release);
        let u = r.usage(16 << 20);
        assert_eq!(
            (u.used_memory, u.free_memory, u.client_count),
            (4 << 20, 12 << 20, 2)
        );
        assert_eq!(
            r.list()[0],
            ClientUsage {
                pid: 100,
                queue: 0,
                used_memory: 1 << 20
            }
        );
        b.set_worker_pid(4242);
        assert_eq!(r.worker_pids()[1], (7, 4242));
        drop(b);
        assert_eq!(r.usage(16 << 20).client_count, 1);
        assert_eq!(r.list().len(), 1);
    }

    #[test]
    fn a_full_registry_refuses_and_a_leaver_returns_its_memory() {
        let quotas = Quotas {
            max_clients: 2,
            vm_memory: Some(100),
            ..Quotas::default()
        };
        let r = ClientRegistry::with_quotas(quotas);
        let a = r.try_join(1, page()).expect("first");
        let _b = r.try_join(2, page()).expect("second");
        assert_eq!(
            r.try_join(3, page()).err(),
            Some(RegistryFull { max_clients: 2 })
        );
        assert!(r.claim_memory(1, 70, false).granted);
        assert!(!r.claim_memory(2, 40, false).granted);
        drop(a);
        assert_eq!(r.memory_claimed(), 0);
        assert!(r.claim_memory(2, 100, false).granted);
        let _c = r.try_join(3, page()).expect("room again");
    }
}
