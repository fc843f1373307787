//! Quotas: what one VM (all clients of one device, or all direct-socket
//! clients) and each of its clients may hold.
//!
//! - [`Quotas`] is the configured set (the `[quota]` table, `--vm-memory-limit`,
//!   `--max-clients`), validated in [`Quotas::from_config`].
//! - [`MemoryLedger`] keeps the per-VM device memory account. It lives in the
//!   device process, in the VM's [`crate::executor::registry::ClientRegistry`],
//!   and is the only writer of it: a worker asks it over its query socket
//!   ([`crate::worker::proto::QueryChannel::claim_memory`]) before it
//!   allocates, and tells it what it holds after each command that changed
//!   that. A client that leaves (or whose worker dies) drops its entry, so
//!   its memory returns to the VM at once, whatever the worker last said.
//! - The per-client limits are enforced in the worker, in
//!   [`crate::cuda::CudaClient`] (`cuda/client/quota.rs`).

use crate::worker::proto::{Decoder, Encoder};
use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, PoisonError};
use uapi::cuda::MAX_STAGED_IMAGE;

/// Default clients per VM: the queues the device advertises by default.
pub const DEFAULT_MAX_CLIENTS: u32 = 128;
/// Most clients per VM: the queue blocks BAR0 has room for.
pub const MAX_CLIENTS: u32 = uapi::regs::QUEUE_LIMIT;
/// Default largest ring depth a client may enable.
pub const DEFAULT_QUEUE_DEPTH: u32 = 1024;
/// Default page-locked host staging memory per client.
pub const DEFAULT_PINNED_BYTES: u64 = 1 << 30;

/// Live objects one client may hold at once. Past a limit the creating call
/// fails with `CUDA_ERROR_OUT_OF_MEMORY`, as NVIDIA's driver does when it
/// runs out of room for a handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectLimits {
    /// Contexts, the primary one included.
    pub contexts: u32,
    /// Streams (the default streams are not counted).
    pub streams: u32,
    /// Events.
    pub events: u32,
    /// Loaded modules.
    pub modules: u32,
    /// Function handles looked up in modules.
    pub functions: u32,
    /// Device allocations (`cuMemAlloc*`, pool allocations) and VMM handles.
    pub allocations: u32,
}

impl Default for ObjectLimits {
    fn default() -> Self {
        // Far above what cuBLAS or PyTorch hold (tens of streams, a few
        // thousand events and kernels), far below what exhausts a worker.
        Self {
            contexts: 256,
            streams: 16 << 10,
            events: 256 << 10,
            modules: 4 << 10,
            functions: 256 << 10,
            allocations: 1 << 20,
        }
    }
}

/// The `[quota]` table of the configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaFile {
    /// Device memory all clients of the VM may hold, bytes.
    pub vm_memory: Option<u64>,
    /// Clients (open device files, direct connections) of the VM at once.
    pub clients: Option<u32>,
    /// Largest ring depth a client may enable.
    pub queue_depth: Option<u32>,
    /// Module image bytes a client may have staged at once.
    pub staged_bytes: Option<u64>,
    /// Page-locked host staging memory a client may hold, bytes.
    pub pinned_bytes: Option<u64>,
    /// Contexts per client.
    pub contexts: Option<u32>,
    /// Streams per client.
    pub streams: Option<u32>,
    /// Events per client.
    pub events: Option<u32>,
    /// Modules per client.
    pub modules: Option<u32>,
    /// Function handles per client.
    pub functions: Option<u32>,
    /// Device allocations and VMM handles per client.
    pub allocations: Option<u32>,
}

/// A quota that cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub struct QuotaError {
    /// The field, as in the file (`quota.` prefix).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// The validated quotas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    /// Per-VM device memory; `None`: the device's own.
    pub vm_memory: Option<u64>,
    /// Clients per VM.
    pub max_clients: u32,
    /// Largest ring depth.
    pub queue_depth: u32,
    /// Staged image bytes per client.
    pub staged_bytes: u64,
    /// Page-locked staging bytes per client.
    pub pinned_bytes: u64,
    /// Live objects per client.
    pub objects: ObjectLimits,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            vm_memory: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            queue_depth: DEFAULT_QUEUE_DEPTH,
            staged_bytes: MAX_STAGED_IMAGE,
            pinned_bytes: DEFAULT_PINNED_BYTES,
            objects: ObjectLimits::default(),
        }
    }
}

fn bad(field: &'static str, message: impl Into<String>) -> QuotaError {
    QuotaError {
        field,
        message: message.into(),
    }
}

impl Quotas {
    /// The file's table with the command line's `vm_memory` and `clients`
    /// over it, checked.
    pub fn from_config(
        file: &QuotaFile,
        vm_memory: Option<u64>,
        clients: Option<u32>,
    ) -> Result<Self, QuotaError> {
        let d = Self::default();
        let q = Self {
            vm_memory: vm_memory.or(file.vm_memory),
            max_clients: clients.or(file.clients).unwrap_or(d.max_clients),
            queue_depth: file.queue_depth.unwrap_or(d.queue_depth),
            staged_bytes: file.staged_bytes.unwrap_or(d.staged_bytes),
            pinned_bytes: file.pinned_bytes.unwrap_or(d.pinned_bytes),
            objects: ObjectLimits {
                contexts: file.contexts.unwrap_or(d.objects.contexts),
                streams: file.streams.unwrap_or(d.objects.streams),
                events: file.events.unwrap_or(d.objects.events),
                modules: file.modules.unwrap_or(d.objects.modules),
                functions: file.functions.unwrap_or(d.objects.functions),
                allocations: file.allocations.unwrap_or(d.objects.allocations),
            },
        };
        if q.vm_memory == Some(0) {
            return Err(bad("quota.vm_memory", "must be greater than zero"));
        }
        if !(1..=MAX_CLIENTS).contains(&q.max_clients) {
            return Err(bad("quota.clients", format!("must be 1..={MAX_CLIENTS}")));
        }
        if !q.queue_depth.is_power_of_two() || !(2..=DEFAULT_QUEUE_DEPTH).contains(&q.queue_depth) {
            return Err(bad(
                "quota.queue_depth",
                format!("must be a power of two in 2..={DEFAULT_QUEUE_DEPTH}"),
            ));
        }
        if q.staged_bytes > MAX_STAGED_IMAGE {
            return Err(bad(
                "quota.staged_bytes",
                format!("at most {MAX_STAGED_IMAGE} (the largest image a client may stage)"),
            ));
        }
        let o = q.objects;
        for (field, value) in [
            ("quota.contexts", o.contexts),
            ("quota.streams", o.streams),
            ("quota.events", o.events),
            ("quota.modules", o.modules),
            ("quota.functions", o.functions),
            ("quota.allocations", o.allocations),
        ] {
            if value == 0 {
                return Err(bad(field, "must be greater than zero"));
            }
        }
        Ok(q)
    }

    /// The device memory a client sees as total: the quota, or `device`'s
    /// own when smaller or when there is none.
    pub fn visible_total(&self, device: u64) -> u64 {
        self.vm_memory.map_or(device, |q| q.min(device))
    }

    /// Appends the quotas to a worker message (the `LIMITS` answer).
    pub fn encode(&self, e: &mut Encoder) {
        let o = self.objects;
        e.u64(self.vm_memory.unwrap_or(0))
            .u32(self.max_clients)
            .u32(self.queue_depth)
            .u64(self.staged_bytes)
            .u64(self.pinned_bytes)
            .u32(o.contexts)
            .u32(o.streams)
            .u32(o.events)
            .u32(o.modules)
            .u32(o.functions)
            .u32(o.allocations);
    }

    /// Reads what [`Self::encode`] wrote.
    pub fn decode(d: &mut Decoder<'_>) -> io::Result<Self> {
        Ok(Self {
            vm_memory: Some(d.u64()?).filter(|&m| m != 0),
            max_clients: d.u32()?,
            queue_depth: d.u32()?,
            staged_bytes: d.u64()?,
            pinned_bytes: d.u64()?,
            objects: ObjectLimits {
                contexts: d.u32()?,
                streams: d.u32()?,
                events: d.u32()?,
                modules: d.u32()?,
                functions: d.u32()?,
                allocations: d.u32()?,
            },
        })
    }
}

/// The VM's memory account as a worker reaches it: the registry of this
/// process (worker threads, tests) or the device process's, over the
/// query socket.
pub trait MemoryAccount: Send + Sync {
    /// Asks to hold `total` bytes in all ([`MemoryLedger::claim`]).
    fn claim(&self, total: u64, force: bool) -> Result<Claim, uapi::status::Status>;
}

/// What a memory claim got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Whether the client may now hold what it asked for.
    pub granted: bool,
    /// What all clients of the VM hold now, bytes.
    pub vm_used: u64,
}

/// The per-VM device memory account: what each client holds, by client id.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    limit: Option<u64>,
    held: Mutex<BTreeMap<u32, u64>>,
}

impl MemoryLedger {
    /// An empty account of at most `limit` bytes (`None`: not limited here).
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            held: Mutex::new(BTreeMap::new()),
        }
    }

    /// The limit.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Client `id` asks to hold `total` bytes in all. Less than it holds is
    /// always granted; more only within the limit, unless `force` (the
    /// memory is already allocated: a size rounded up by the executor,
    /// module globals), which records it whatever the limit.
    pub fn claim(&self, id: u32, total: u64, force: bool) -> Claim {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = held.get(&id).copied().unwrap_or(0);
        let others = held
            .iter()
            .filter(|(&k, _)| k != id)
            .map(|(_, &v)| v)
            .fold(0, u64::saturating_add);
        let fits = self
            .limit
            .is_none_or(|l| others.checked_add(total).is_some_and(|t| t <= l));
        let granted = total <= mine || force || fits;
        if granted {
            if total == 0 {
                held.remove(&id);
            } else {
                held.insert(id, total);
            }
        }
        Claim {
            granted,
            vm_used: held.values().fold(0, |a, &v| a.saturating_add(v)),
        }
    }

    /// Client `id` is gone: what it held returns to the VM.
    pub fn release(&self, id: u32) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// What all clients hold, bytes.
    pub fn used(&self) -> u64 {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .fold(0, |a, &v| a.saturating_add(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ledger_refuses_past_the_limit_and_returns_what_leaves() {
        let ledger = MemoryLedger::new(Some(100));
        assert!(ledger.claim(1, 60, false).granted);
        let refused = ledger.claim(2, 50, false);
        assert_eq!(
            refused,
            Claim {
                granted: false,
                vm_used: 60
            }
        );
        assert!(ledger.claim(2, 40, false).granted);
        assert_eq!(ledger.used(), 100);
        // Shrinking is always granted, growing past the limit only when forced.
        assert!(ledger.claim(1, 10, false).granted);
        assert!(!ledger.claim(2, 95, false).granted);
        assert_eq!(
            ledger.claim(2, 95, true),
            Claim {
                granted: true,
                vm_used: 105
            }
        );
        ledger.release(2);
        assert_eq!(ledger.used(), 10);
        assert!(ledger.claim(3, 90, false).granted);
        assert!(!ledger.claim(3, 91, false).granted);
        ledger.claim(1, 0, false);
        assert_eq!(ledger.used(), 90);
    }

    #[test]
    fn an_unlimited_ledger_grants_everything() {
        let ledger = MemoryLedger::new(None);
        assert!(ledger.claim(1, u64::MAX, false).granted);
        assert!(ledger.claim(2, u64::MAX, false).granted);
        assert_eq!(ledger.used(), u64::MAX);
    }

    #[test]
    fn quotas_are_checked_and_travel_to_a_worker() {
        let file = QuotaFile {
            vm_memory: Some(1 << 30),
            clients: Some(4),
            staged_bytes: Some(1 << 20),
            streams: Some(3),
            ..QuotaFile::default()
        };
        let q = Quotas::from_config(&file, None, Some(2)).expect("valid");
        assert_eq!(
            (q.vm_memory, q.max_clients, q.objects.streams),
            (Some(1 << 30), 2, 3)
        );
        assert_eq!(q.visible_total(80 << 30), 1 << 30);
        assert_eq!(q.visible_total(1 << 20), 1 << 20);
        assert_eq!(Quotas::default().visible_total(80 << 30), 80 << 30);
        let mut e = Encoder::new(0);
        q.encode(&mut e);
        let mut d = Decoder::new(&e.0);
        assert_eq!(d.u32().ok(), Some(0));
        assert_eq!(Quotas::decode(&mut d).ok(), Some(q));
        for (file, field) in [
            (
                QuotaFile {
                    vm_memory: Some(0),
                    ..QuotaFile::default()
                },
                "quota.vm_memory",
            ),
            (
                QuotaFile {
                    clients: Some(0),
                    ..QuotaFile::default()
                },
                "quota.clients",
            ),
            (
                QuotaFile {
                    clients: Some(MAX_CLIENTS + 1),
                    ..QuotaFile::default()
                },
                "quota.clients",
            ),
            (
                QuotaFile {
                    queue_depth: Some(3),
                    ..QuotaFile::default()
                },
                "quota.queue_depth",
            ),
            (
                QuotaFile {
                    staged_bytes: Some(MAX_STAGED_IMAGE + 1),
                    ..QuotaFile::default()
                },
                "quota.staged_bytes",
            ),
            (
                QuotaFile {
                    events: Some(0),
                    ..QuotaFile::default()
                },
                "quota.events",
            ),
        ] {
            assert_eq!(
                Quotas::from_config(&file, None, None).map_err(|e| e.field),
                Err(field)
            );
        }
    }
}
