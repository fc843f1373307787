//! Module images arriving in pieces (MODULE_STAGE), and the bound on the
//! host memory they hold across all clients of one executor (one VM).

use super::backend::CuResult;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use uapi::cuda::{result, MAX_STAGED_IMAGE};

/// Staged bytes all clients of one executor may hold at once: one image of
/// the largest size a client may stage. Without it, 128 queues of one VM
/// (or any number of direct connections) held up to 2 GiB each.
pub const MAX_STAGED_PER_EXECUTOR: u64 = MAX_STAGED_IMAGE;

/// Host memory the staged images of one executor's clients may take.
#[derive(Debug)]
pub struct StageBudget {
    used: AtomicU64,
    limit: u64,
}

impl StageBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicU64::new(0),
            limit,
        })
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn charge(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|&t| t <= self.limit)
            })
            .is_ok()
    }

    fn refund(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// One client's image in pieces, charged to its executor's budget by the
/// capacity it holds (so the buffer's doubling counts too).
#[derive(Debug)]
pub struct StagedImage {
    bytes: Vec<u8>,
    charged: u64,
    budget: Arc<StageBudget>,
    /// The client's own bound (`staged_bytes` quota), at most `MAX_STAGED_IMAGE`.
    limit: u64,
}

impl StagedImage {
    /// Empty, charging `budget`.
    pub fn new(budget: Arc<StageBudget>) -> Self {
        Self::with_limit(budget, MAX_STAGED_IMAGE)
    }

    /// Empty, charging `budget`, holding at most `limit` bytes.
    pub fn with_limit(budget: Arc<StageBudget>, limit: u64) -> Self {
        Self {
            bytes: Vec::new(),
            charged: 0,
            budget,
            limit: limit.min(MAX_STAGED_IMAGE),
        }
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Appends `piece` at `offset`. Out of order (`INVALID_VALUE`) or
    /// beyond the client's or the executor's bound (`OUT_OF_MEMORY`), the
    /// image is dropped: the client starts over.
    pub fn append(&mut self, offset: u64, piece: &[u8]) -> CuResult<()> {
        if offset != self.bytes.len() as u64 {
            self.clear();
            return Err(result::INVALID_VALUE);
        }
        let end = offset.checked_add(piece.len() as u64);
        if end.is_none_or(|e| e > self.limit) || !self.grow(piece.len()) {
            self.clear();
            return Err(result::OUT_OF_MEMORY);
        }
        self.bytes.extend_from_slice(piece);
        Ok(())
    }

    /// Makes room for `more` bytes, charging the capacity added.
    fn grow(&mut self, more: usize) -> bool {
        if self.bytes.capacity() - self.bytes.len() >= more {
            return true;
        }
        // What `try_reserve` would grow to (amortised doubling).
        let want = self
            .bytes
            .len()
            .saturating_add(more)
            .max(self.bytes.capacity().saturating_mul(2))
            // Never past the client's bound (`append` checked the end against it).
            .min(usize::try_from(self.limit).unwrap_or(usize::MAX));
        let extra = want as u64 - self.charged;
        if !self.budget.charge(extra) {
            return false;
        }
        self.charged += extra;
        self.bytes
            .try_reserve_exact(want - self.bytes.len())
            .is_ok()
    }

    /// The staged image, handed to `f`, then dropped.
    pub fn consume<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let r = f(&self.bytes);
        self.clear();
        r
    }

    /// Drops what is staged.
    pub fn clear(&mut self) {
        self.bytes = Vec::new();
        self.budget.refund(self.charged);
        self.charged = 0;
    }
}

impl Drop for StagedImage {
    fn drop(&mut self) {
        self.clear();
    }
}
