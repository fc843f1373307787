//! Limits of the simulated GPU (an H200, compute capability 9.0), in one
//! place for the interpreter, the simulator's launch checks and its device
//! attribute table.

/// Threads per block (`MAX_THREADS_PER_BLOCK`, `MAX_BLOCK_DIM_X/Y`).
pub const MAX_BLOCK_THREADS: u32 = 1024;
/// Largest `blockDim.z` (`MAX_BLOCK_DIM_Z`).
pub const MAX_BLOCK_DIM_Z: u32 = 64;
/// Largest `gridDim.x` (`MAX_GRID_DIM_X`).
pub const MAX_GRID_DIM_X: u32 = i32::MAX as u32;
/// Largest `gridDim.y` and `gridDim.z` (`MAX_GRID_DIM_Y/Z`).
pub const MAX_GRID_DIM_YZ: u32 = 65535;
/// Shared memory one block may use, static plus dynamic, once the kernel
/// opted in (`MAX_SHARED_MEMORY_PER_BLOCK_OPTIN`: 227 KiB on the H200).
pub const MAX_SHARED_BYTES_PER_BLOCK: u32 = 232_448;
/// Shared memory of one multiprocessor (`MAX_SHARED_MEMORY_PER_MULTIPROCESSOR`:
/// 228 KiB; 1 KiB of it is reserved per resident block, hence the per-block
/// maximum above).
pub const MAX_SHARED_BYTES_PER_SM: u32 = 233_472;
/// Shared memory per block without the opt-in (`MAX_SHARED_MEMORY_PER_BLOCK`).
pub const DEFAULT_SHARED_BYTES_PER_BLOCK: u32 = 49_152;
/// Lanes of a warp.
pub const WARP_SIZE: u32 = 32;
