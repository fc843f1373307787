// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Status codes the device reports.

/// Status of one completion. Values are stable; unknown values mean "error".
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// The opcode is not one the device knows.
    InvalidOpcode = 1,
    /// A field of the entry or of the request is invalid (unknown flag,
    /// non-zero reserved field, malformed request body).
    InvalidField = 2,
    /// A buffer lies outside guest RAM.
    BadAddress = 3,
    /// A buffer or SG list is longer than the device accepts.
    TooLarge = 4,
    /// The response buffer is too small; `resp_len` says how much is needed.
    ResponseTooSmall = 5,
    /// The ring state is corrupt (doorbell tail wrapped past the head, or the
    /// driver consumed completions it was never given); the queue stopped.
    BadRingIndex = 6,
    /// The executor failed for a reason of its own.
    ExecutorError = 7,
    /// The queue is being stopped; the command was not run.
    Aborted = 8,
    /// The device serves as many clients as it is configured to; this one
    /// was refused (direct socket; a guest's driver gets `EBUSY` at open).
    Busy = 9,
}

impl Status {
    /// Decodes a wire value.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::Ok,
            1 => Self::InvalidOpcode,
            2 => Self::InvalidField,
            3 => Self::BadAddress,
            4 => Self::TooLarge,
            5 => Self::ResponseTooSmall,
            6 => Self::BadRingIndex,
            7 => Self::ExecutorError,
            8 => Self::Aborted,
            9 => Self::Busy,
            _ => return None,
        })
    }

    /// Stable name, for logs and messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::InvalidOpcode => "INVALID_OPCODE",
            Self::InvalidField => "INVALID_FIELD",
            Self::BadAddress => "BAD_ADDRESS",
            Self::TooLarge => "TOO_LARGE",
            Self::ResponseTooSmall => "RESPONSE_TOO_SMALL",
            Self::BadRingIndex => "BAD_RING_INDEX",
            Self::ExecutorError => "EXECUTOR_ERROR",
            Self::Aborted => "ABORTED",
            Self::Busy => "BUSY",
        }
    }
}

/// Why a queue went into the error state (bits 15:8 of the queue status).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// No error.
    None = 0,
    /// Depth not a power of two in range.
    BadDepth = 1,
    /// A ring or the control block lies outside guest RAM or is misaligned.
    BadRingAddress = 2,
    /// Vector out of range.
    BadVector = 3,
    /// The submission tail moved backwards or more than `depth` ahead.
    BadSubmissionIndex = 4,
    /// The completion head is outside what the device posted.
    BadCompletionIndex = 5,
    /// The host process serving the queue ended unexpectedly (a crash, a
    /// fault that aborts it, the memory limit); other queues go on.
    ExecutorLost = 6,
    /// The control block's `driver_flags` has a bit the device does not
    /// know or did not offer (`uapi::ring::control_flags`).
    BadControlFlags = 7,
}

impl QueueError {
    /// Decodes a wire value.
    pub const fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::None,
            1 => Self::BadDepth,
            2 => Self::BadRingAddress,
            3 => Self::BadVector,
            4 => Self::BadSubmissionIndex,
            5 => Self::BadCompletionIndex,
            6 => Self::ExecutorLost,
            7 => Self::BadControlFlags,
            _ => return None,
        })
    }
}
