//! A queue's configuration registers and their validation into a ring layout.

use crate::guest_memory::GuestMemory;
use crate::shared::Limits;
use uapi::ring::{control_flags, control_offsets, CompletionEntry, QueueControl, SubmissionEntry};
use uapi::status::QueueError;

/// The values the driver programmed into a queue block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueConfig {
    /// Submission ring address.
    pub sq_base: u64,
    /// Completion ring address.
    pub cq_base: u64,
    /// Control block address.
    pub ctrl_base: u64,
    /// Entries per ring.
    pub depth: u32,
    /// Completion vector.
    pub vector: u32,
}

/// A configuration that passed validation; what a worker runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// Submission ring address (64-byte aligned).
    pub sq_base: u64,
    /// Completion ring address (32-byte aligned).
    pub cq_base: u64,
    /// Control block address (64-byte aligned).
    pub ctrl_base: u64,
    /// Entries per ring, a power of two.
    pub depth: u32,
    /// Completion vector.
    pub vector: u32,
    /// The driver writes the tail to the control block and rings the
    /// doorbell only while the worker sleeps (`control_flags::POLLED_TAIL`).
    pub polled_tail: bool,
}

const SQ_ENTRY: u64 = core::mem::size_of::<SubmissionEntry>() as u64;
const CQ_ENTRY: u64 = core::mem::size_of::<CompletionEntry>() as u64;
const CTRL_SIZE: u64 = core::mem::size_of::<QueueControl>() as u64;

impl QueueConfig {
    /// Checks depth, ring placement, vector and the control block's
    /// `driver_flags` (read now: the driver sets them before it enables the
    /// queue), in that order.
    pub fn validate(
        &self,
        mem: &GuestMemory,
        limits: &Limits,
        num_vectors: u32,
    ) -> Result<RingLayout, QueueError> {
        let depth = self.depth;
        if !depth.is_power_of_two() || depth < 2 || depth > limits.max_queue_depth {
            return Err(QueueError::BadDepth);
        }
        let depth64 = u64::from(depth);
        let rings = [
            (self.sq_base, SQ_ENTRY, depth64 * SQ_ENTRY),
            (self.cq_base, CQ_ENTRY, depth64 * CQ_ENTRY),
            (self.ctrl_base, CTRL_SIZE, CTRL_SIZE),
        ];
        for (base, align, len) in rings {
            if base % align != 0 || !mem.contains(base, len) {
                return Err(QueueError::BadRingAddress);
            }
        }
        if self.vector >= num_vectors {
            return Err(QueueError::BadVector);
        }
        let flags = mem
            .load_u32(self.ctrl_base + control_offsets::DRIVER_FLAGS as u64)
            .map_err(|_| QueueError::BadRingAddress)?;
        if flags & !control_flags::POLLED_TAIL != 0 {
            return Err(QueueError::BadControlFlags);
        }
        Ok(RingLayout {
            sq_base: self.sq_base,
            cq_base: self.cq_base,
            ctrl_base: self.ctrl_base,
            depth,
            vector: self.vector,
            polled_tail: flags & control_flags::POLLED_TAIL != 0,
        })
    }
}

impl RingLayout {
    /// Address of submission slot for free-running index `index`.
    pub fn sq_slot(&self, index: u32) -> u64 {
        self.sq_base + u64::from(index & (self.depth - 1)) * SQ_ENTRY
    }

    /// Address of completion slot for free-running index `index`.
    pub fn cq_slot(&self, index: u32) -> u64 {
        self.cq_base + u64::from(index & (self.depth - 1)) * CQ_ENTRY
    }

    /// Address of a field of the control block.
    pub fn ctrl_field(&self, offset: usize) -> u64 {
        self.ctrl_base + offset as u64
    }
}
