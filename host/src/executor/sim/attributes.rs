//! The device attribute table the simulator reports: an H100-like part,
//! with the compute capability and SM count of the configured identity.

use crate::ptx::limits::{
    DEFAULT_SHARED_BYTES_PER_BLOCK, MAX_BLOCK_DIM_Z, MAX_BLOCK_THREADS, MAX_GRID_DIM_X,
    MAX_GRID_DIM_YZ, MAX_SHARED_BYTES_PER_BLOCK, MAX_SHARED_BYTES_PER_SM, WARP_SIZE,
};
use uapi::cmd::DeviceInfo;
use uapi::cuda::ATTRIBUTE_COUNT;

/// A limit as an attribute value.
const fn attr(v: u32) -> i32 {
    v as i32
}

/// `(CUdevice_attribute, value)` pairs that do not depend on the identity.
const FIXED: &[(usize, i32)] = &[
    (1, attr(MAX_BLOCK_THREADS)),              // MAX_THREADS_PER_BLOCK
    (2, attr(MAX_BLOCK_THREADS)),              // MAX_BLOCK_DIM_X
    (3, attr(MAX_BLOCK_THREADS)),              // MAX_BLOCK_DIM_Y
    (4, attr(MAX_BLOCK_DIM_Z)),                // MAX_BLOCK_DIM_Z
    (5, attr(MAX_GRID_DIM_X)),                 // MAX_GRID_DIM_X
    (6, attr(MAX_GRID_DIM_YZ)),                // MAX_GRID_DIM_Y
    (7, attr(MAX_GRID_DIM_YZ)),                // MAX_GRID_DIM_Z
    (8, attr(DEFAULT_SHARED_BYTES_PER_BLOCK)), // MAX_SHARED_MEMORY_PER_BLOCK
    (9, 65536),                                // TOTAL_CONSTANT_MEMORY
    (10, attr(WARP_SIZE)),                     // WARP_SIZE
    (11, i32::MAX),                            // MAX_PITCH
    (12, 65536),                               // MAX_REGISTERS_PER_BLOCK
    (13, 1_755_000),                           // CLOCK_RATE (kHz)
    (14, 512),                                 // TEXTURE_ALIGNMENT
    (15, 1),                                   // GPU_OVERLAP
    (17, 0),                                   // KERNEL_EXEC_TIMEOUT
    (18, 0),                                   // INTEGRATED
    // CAN_MAP_HOST_MEMORY (19) stays 0: guest host memory is not
    // device-visible (no zero-copy).
    (20, 0),                             // COMPUTE_MODE (default)
    (30, 512),                           // SURFACE_ALIGNMENT
    (31, 1),                             // CONCURRENT_KERNELS
    (32, 1),                             // ECC_ENABLED
    (35, 0),                             // TCC_DRIVER
    (36, 1_593_000),                     // MEMORY_CLOCK_RATE (kHz)
    (37, 5120),                          // GLOBAL_MEMORY_BUS_WIDTH
    (38, 52_428_800),                    // L2_CACHE_SIZE
    (39, 2048),                          // MAX_THREADS_PER_MULTIPROCESSOR
    (40, 3),                             // ASYNC_ENGINE_COUNT
    (41, 1),                             // UNIFIED_ADDRESSING
    (51, 32),                            // TEXTURE_PITCH_ALIGNMENT
    (78, 1),                             // STREAM_PRIORITIES_SUPPORTED
    (79, 1),                             // GLOBAL_L1_CACHE_SUPPORTED
    (80, 1),                             // LOCAL_L1_CACHE_SUPPORTED
    (81, attr(MAX_SHARED_BYTES_PER_SM)), // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    (82, 65536),                         // MAX_REGISTERS_PER_MULTIPROCESSOR
    // MANAGED_MEMORY (83) stays 0: no cuMemAllocManaged.
    (84, 0),                                // MULTI_GPU_BOARD
    (87, 2),                                // SINGLE_TO_DOUBLE_PRECISION_PERF_RATIO
    (90, 1),                                // COMPUTE_PREEMPTION_SUPPORTED
    (95, 1),                                // COOPERATIVE_LAUNCH
    (97, attr(MAX_SHARED_BYTES_PER_BLOCK)), // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    (99, 1),                                // HOST_REGISTER_SUPPORTED
    (102, 1),  // VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED (cuMemCreate, cuMemMap, …)
    (106, 32), // MAX_BLOCKS_PER_MULTIPROCESSOR
    (115, 1),  // MEMORY_POOLS_SUPPORTED (the stream-ordered allocator)
];

/// The full table for `info`, index = attribute.
pub fn table(info: &DeviceInfo) -> Vec<i32> {
    let mut t = vec![0; ATTRIBUTE_COUNT];
    for &(i, v) in FIXED {
        t[i] = v;
    }
    t[16] = i32::try_from(info.multiprocessor_count).unwrap_or(i32::MAX); // MULTIPROCESSOR_COUNT
    t[75] = i32::try_from(info.compute_major).unwrap_or(0); // COMPUTE_CAPABILITY_MAJOR
    t[76] = i32::try_from(info.compute_minor).unwrap_or(0); // COMPUTE_CAPABILITY_MINOR
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::cuda::{ATTR_MEMORY_POOLS_SUPPORTED, MASKED_ATTRIBUTES};

    #[test]
    fn agrees_with_what_the_cuda_executor_reports() {
        let t = table(&DeviceInfo::default());
        for &(a, why) in MASKED_ATTRIBUTES {
            assert_eq!(t[a], 0, "attribute {a} ({why})");
        }
        assert_eq!(t[ATTR_MEMORY_POOLS_SUPPORTED], 1, "the simulator has pools");
        assert_eq!(t[41], 1, "UNIFIED_ADDRESSING");
        assert_eq!(t[102], 1, "VMM: the simulator has it");
        assert_eq!(
            t[14], 512,
            "TEXTURE_ALIGNMENT, the pitch of cuMemAllocPitch"
        );
    }
}
