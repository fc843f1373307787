//! Who uses the device: one entry per client (queue or socket connection),
//! with the guest process id and the device memory it holds. Shared by all
//! sessions of an executor; answers `GetUsage` and `ListClients`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use uapi::cmd::{ClientUsage, DeviceUsage};

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    pid: u32,
    used: u64,
}

/// The device's clients.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u32, Entry>>,
}

impl ClientRegistry {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<u32, Entry>) -> T) -> T {
        f(&mut self.clients.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Registers client `id`; the returned guard removes it when dropped.
    pub fn join(self: &Arc<Self>, id: u32) -> ClientGuard {
        self.with(|c| c.insert(id, Entry::default()));
        ClientGuard {
            registry: self.clone(),
            id,
        }
    }

    /// Live usage of a device of `total` bytes.
    pub fn usage(&self, total: u64) -> DeviceUsage {
        self.with(|c| {
            let used: u64 = c.values().map(|e| e.used).sum();
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
                    pid: e.pid,
                    queue: *id,
                    used_memory: e.used,
                })
                .collect()
        })
    }
}

/// A client's place in the registry.
#[derive(Debug)]
pub struct ClientGuard {
    registry: Arc<ClientRegistry>,
    id: u32,
}

impl ClientGuard {
    /// Records the client's process id.
    pub fn set_pid(&self, pid: u32) {
        self.registry
            .with(|c| c.entry(self.id).or_default().pid = pid);
    }

    /// Records the device memory the client holds.
    pub fn set_used(&self, used: u64) {
        self.registry
            .with(|c| c.entry(self.id).or_default().used = used);
    }

    /// The registry.
    pub fn registry(&self) -> &ClientRegistry {
        &self.registry
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.registry.with(|c| c.remove(&self.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_come_and_go_with_their_usage() {
        let r = ClientRegistry::new();
        let a = r.join(0);
        let b = r.join(7);
        a.set_pid(100);
        a.set_used(1 << 20);
        b.set_used(3 << 20);
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
        drop(b);
        assert_eq!(r.usage(16 << 20).client_count, 1);
        assert_eq!(r.list().len(), 1);
    }
}
