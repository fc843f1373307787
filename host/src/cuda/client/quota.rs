//! The per-client quotas ([`crate::quota`]), checked before the backend is
//! asked to create or allocate, and the per-VM memory account kept up to
//! date after each command.

use crate::cuda::backend::{CuResult, ObjectCounts};
use crate::quota::{MemoryAccount, Quotas};
use std::sync::Arc;
use uapi::cuda::result;

/// Which object quota a creating call counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Contexts,
    Streams,
    Events,
    Modules,
    Functions,
    Allocations,
}

/// One client's quotas and what it has claimed from its VM's memory account.
pub struct ClientQuota {
    limits: Quotas,
    /// The VM's account, only when a per-VM memory limit is configured
    /// (without one, no message is ever sent).
    account: Option<Arc<dyn MemoryAccount>>,
    /// Bytes the account holds for this client.
    claimed: u64,
}

impl std::fmt::Debug for ClientQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientQuota")
            .field("limits", &self.limits)
            .field("claimed", &self.claimed)
            .finish_non_exhaustive()
    }
}

impl ClientQuota {
    /// The default quotas, with no memory account.
    pub fn unlimited() -> Self {
        Self {
            limits: Quotas::default(),
            account: None,
            claimed: 0,
        }
    }

    /// `limits`, with the VM's memory charged to `account`.
    pub fn new(limits: Quotas, account: Arc<dyn MemoryAccount>) -> Self {
        Self {
            account: limits.vm_memory.map(|_| account),
            limits,
            claimed: 0,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Quotas {
        &self.limits
    }

    /// Whether one more object of `kind` fits (`OUT_OF_MEMORY` if not).
    pub(super) fn admit(&self, kind: Kind, counts: ObjectCounts) -> CuResult<()> {
        let o = &self.limits.objects;
        let (held, limit) = match kind {
            Kind::Contexts => (counts.contexts, o.contexts),
            Kind::Streams => (counts.streams, o.streams),
            Kind::Events => (counts.events, o.events),
            Kind::Modules => (counts.modules, o.modules),
            Kind::Functions => (counts.functions, o.functions),
            Kind::Allocations => (counts.allocations, o.allocations),
        };
        if held >= limit as usize {
            tracing::debug!(?kind, limit, "object quota reached");
            return Err(result::OUT_OF_MEMORY);
        }
        Ok(())
    }

    /// Before allocating `size` bytes: one more allocation, and room for
    /// `size` in the VM's memory (`OUT_OF_MEMORY` if not).
    pub(super) fn admit_alloc(&mut self, counts: ObjectCounts, size: u64) -> CuResult<()> {
        self.admit(Kind::Allocations, counts)?;
        let Some(account) = &self.account else {
            return Ok(());
        };
        let want = self
            .claimed
            .checked_add(size)
            .ok_or(result::OUT_OF_MEMORY)?;
        match account.claim(want, false) {
            Ok(claim) if claim.granted => {
                self.claimed = want;
                Ok(())
            }
            Ok(claim) => {
                tracing::debug!(size, vm_used = claim.vm_used, "VM memory quota reached");
                Err(result::OUT_OF_MEMORY)
            }
            Err(status) => {
                tracing::warn!(?status, "VM memory account unreachable");
                Err(result::OUT_OF_MEMORY)
            }
        }
    }

    /// After a command: the client holds `held` bytes (freed memory goes
    /// back to the VM; what the executor rounded up is recorded).
    pub(super) fn settle(&mut self, held: u64) {
        let Some(account) = &self.account else {
            return;
        };
        if held == self.claimed {
            return;
        }
        match account.claim(held, true) {
            Ok(_) => self.claimed = held,
            Err(status) => tracing::warn!(?status, "VM memory account unreachable"),
        }
    }

    /// `cuMemGetInfo` as the client sees it: the VM's quota as the total,
    /// what the VM's clients hold taken from it.
    pub(super) fn mem_info(&self, free: u64, total: u64) -> (u64, u64) {
        let (Some(limit), Some(account)) = (self.limits.vm_memory, &self.account) else {
            return (free, total);
        };
        let vm_used = account
            .claim(self.claimed, false)
            .map_or(self.claimed, |c| c.vm_used);
        let total = total.min(limit);
        (free.min(total.saturating_sub(vm_used)), total)
    }
}
