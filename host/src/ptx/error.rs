//! Error types of the PTX interpreter: parse errors ([`PtxError`]), device
//! memory faults ([`Fault`]) and launch failures ([`LaunchError`]).

/// A malformed PTX module: the 1-based source line and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PTX line {line}: {reason}")]
pub struct PtxError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// Human-readable reason.
    pub reason: String,
}

impl PtxError {
    pub(crate) fn new(line: usize, reason: impl Into<String>) -> Self {
        PtxError {
            line,
            reason: reason.into(),
        }
    }
}

/// A device memory access outside every allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// First byte of the faulting access.
    pub addr: u64,
    /// Length of the access in bytes.
    pub len: usize,
}

/// Why a kernel launch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LaunchError {
    /// The launch ran longer than [`super::exec::MAX_LAUNCH_TIME`] (a
    /// watchdog against kernels that never end; maps to
    /// `CUDA_ERROR_LAUNCH_TIMEOUT`).
    #[error("the launch ran longer than the watchdog allows")]
    Timeout,
    /// The launch was cancelled (its queue is stopping; maps to
    /// `CUDA_ERROR_LAUNCH_FAILED`).
    #[error("the launch was cancelled")]
    Cancelled,
    /// An instruction outside the supported subset was about to execute
    /// (maps to `CUDA_ERROR_NOT_SUPPORTED`).
    #[error("unsupported PTX instruction at line {line}: {instruction}")]
    Unsupported {
        /// The instruction's source text.
        instruction: String,
        /// Its 1-based source line.
        line: usize,
    },
    /// A global, shared, local or parameter access out of bounds (maps to
    /// `CUDA_ERROR_ILLEGAL_ADDRESS`).
    #[error("illegal address 0x{addr:x}")]
    IllegalAddress {
        /// The faulting address, as the instruction computed it.
        addr: u64,
    },
    /// Bad grid/block dimensions, too much shared memory, a parameter buffer
    /// that is too short or an unresolved module variable (maps to
    /// `CUDA_ERROR_INVALID_VALUE`).
    #[error("invalid launch: {0}")]
    InvalidConfig(String),
    /// The launch needs more host memory for thread state (registers,
    /// local memory, call frames) than the interpreter grants one launch
    /// (maps to `CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES`).
    #[error("too many resources requested for launch: {0}")]
    OutOfResources(String),
    /// A `trap` instruction executed (maps to `CUDA_ERROR_LAUNCH_FAILED`).
    #[error("trap instruction executed")]
    Trap,
    /// A device-side `assert` failed (maps to `CUDA_ERROR_ASSERT`).
    #[error("device assertion failed: {0}")]
    Assert(String),
    /// Threads wait at barriers or warp-synchronous operations that can
    /// never complete (a GPU would hang; maps to `CUDA_ERROR_LAUNCH_FAILED`).
    #[error("deadlock: {0}")]
    Deadlock(String),
}
