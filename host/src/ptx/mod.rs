//! PTX interpreter: the kernel-execution engine of the simulator.
//!
//! [`Module::parse`] reads a PTX text module (as `nvcc -ptx` emits it for
//! sm_90 / PTX ISA 8.x) and pre-decodes every instruction with resolved
//! registers, symbols and branch targets; [`launch`] runs one kernel of it
//! over a grid against the executor's [`DeviceMemory`].
//!
//! Semantics in brief (the README's simulator section lists the subset):
//! * Blocks run one after another; inside a block warps take turns, and the
//!   lanes of a warp run in lockstep groups that reconverge where their
//!   paths meet (`exec::warp`), so `shfl`, `vote`, `match`,
//!   `redux` and `activemask` see what they see on a GPU. Barriers, shared
//!   memory and atomics are exact and deterministic. Shared memory is
//!   zeroed per block.
//! * IEEE operations (add/sub/mul/div/fma/sqrt/rcp with `.rn .rz .rm .rp`,
//!   conversions) are bit-exact, including `.ftz`, `.sat` and the GPU's
//!   canonical f32 NaN. `.approx` operations (sin, cos, ex2, lg2, rsqrt,
//!   tanh, `div.approx/.full`, `rcp.approx`) use the host's libm and are
//!   **not** bit-exact with the GPU's special function unit.
//! * Instructions outside the subset parse as unknown and fail the launch
//!   with [`LaunchError::Unsupported`] only when executed.
//! * f16/bf16 arithmetic and conversions are exact (one rounding).

mod ast;
mod decode;
mod error;
mod exec;
mod float;
mod instr;
mod lexer;
pub mod limits;
mod memory;
mod op;
mod ops;
mod parse;

pub use ast::{GlobalVar, Kernel, Module, Param, Space};
pub use error::{Fault, LaunchError, PtxError};
pub use exec::{launch, launch_watched, launch_within, LaunchConfig, Watchdog, MAX_LAUNCH_TIME};
pub use memory::{DeviceMemory, FlatMemory, LOCAL_WINDOW, PARAM_WINDOW, SHARED_WINDOW};
