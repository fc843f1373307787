// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Launches, function attributes and occupancy.

/// LAUNCH (async; tail: `param_bytes` of packed parameters).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchRequest {
    /// Context.
    pub ctx: u64,
    /// Stream.
    pub stream: u64,
    /// Function.
    pub function: u64,
    /// Grid dimensions.
    pub grid: [u32; 3],
    /// Block dimensions.
    pub block: [u32; 3],
    /// Dynamic shared memory bytes.
    pub shared_bytes: u32,
    /// Parameter bytes in the tail.
    pub param_bytes: u32,
}

/// FUNC_GET_ATTRIBUTES.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FunctionRequest {
    /// Context.
    pub ctx: u64,
    /// Function.
    pub function: u64,
}

/// Number of `CUfunction_attribute` values (`CU_FUNC_ATTRIBUTE_MAX` of CUDA 13).
pub const FUNC_ATTRIBUTE_COUNT: usize = 16;

/// `CUfunction_attribute` ids the guest library reads by name.
pub mod func_attribute {
    #![allow(missing_docs)]
    pub const MAX_THREADS_PER_BLOCK: i32 = 0;
    pub const SHARED_SIZE_BYTES: i32 = 1;
    pub const CONST_SIZE_BYTES: i32 = 2;
    pub const LOCAL_SIZE_BYTES: i32 = 3;
    pub const NUM_REGS: i32 = 4;
    pub const PTX_VERSION: i32 = 5;
    pub const BINARY_VERSION: i32 = 6;
    pub const CACHE_MODE_CA: i32 = 7;
    pub const MAX_DYNAMIC_SHARED_SIZE_BYTES: i32 = 8;
    pub const PREFERRED_SHARED_MEMORY_CARVEOUT: i32 = 9;
    pub const CLUSTER_SIZE_MUST_BE_SET: i32 = 10;
    pub const REQUIRED_CLUSTER_WIDTH: i32 = 11;
    pub const REQUIRED_CLUSTER_HEIGHT: i32 = 12;
    pub const REQUIRED_CLUSTER_DEPTH: i32 = 13;
    pub const NON_PORTABLE_CLUSTER_SIZE_ALLOWED: i32 = 14;
    pub const CLUSTER_SCHEDULING_POLICY_PREFERENCE: i32 = 15;
}

/// FUNC_GET_ATTRIBUTES response: every attribute, index = attribute id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncAttributesResponse {
    /// `CUresult`.
    pub result: u32,
    /// [`FUNC_ATTRIBUTE_COUNT`].
    pub count: u32,
    /// Values.
    pub values: [i32; FUNC_ATTRIBUTE_COUNT],
}

/// FUNC_SET_ATTRIBUTE (`cuFuncSetAttribute`; `cuKernelSetAttribute` too).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FuncSetAttributeRequest {
    /// Context.
    pub ctx: u64,
    /// Function.
    pub function: u64,
    /// `CUfunction_attribute`.
    pub attribute: i32,
    /// Value.
    pub value: i32,
}

/// Questions of [`OccupancyRequest::kind`].
pub mod occupancy {
    /// `cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags`: `block_size`,
    /// `dynamic_smem`, `flags`.
    pub const MAX_ACTIVE_BLOCKS: u32 = 1;
    /// `cuOccupancyAvailableDynamicSMemPerBlock`: `num_blocks`, `block_size`.
    pub const AVAILABLE_DYNAMIC_SMEM: u32 = 2;
    /// `cuOccupancyMaxActiveClusters`: the launch shape and `cluster`.
    pub const MAX_ACTIVE_CLUSTERS: u32 = 3;
    /// `cuOccupancyMaxPotentialClusterSize`: the launch shape and `cluster`.
    pub const MAX_POTENTIAL_CLUSTER_SIZE: u32 = 4;
}

/// OCCUPANCY: one occupancy question about a function, answered by the
/// device's driver (response: [`ValueResponse`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OccupancyRequest {
    /// Context.
    pub ctx: u64,
    /// Function.
    pub function: u64,
    /// [`occupancy`].
    pub kind: u32,
    /// `CU_OCCUPANCY_*` flags.
    pub flags: u32,
    /// Threads per block.
    pub block_size: u32,
    /// Blocks per multiprocessor (AVAILABLE_DYNAMIC_SMEM).
    pub num_blocks: u32,
    /// Dynamic shared memory per block, bytes.
    pub dynamic_smem: u64,
    /// Grid of the launch configuration (cluster questions).
    pub grid: [u32; 3],
    /// Block of the launch configuration (cluster questions).
    pub block: [u32; 3],
    /// Cluster dimensions (`CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION`; zeros: none).
    pub cluster: [u32; 3],
    /// Zero.
    pub reserved: u32,
}

/// Most launch attributes one LAUNCH_EX carries.
pub const MAX_LAUNCH_ATTRIBUTES: u32 = 16;

/// `CUlaunchAttributeID`s a LAUNCH_EX may carry: those whose values hold
/// no handles or pointers (an event or graph-node attribute would need
/// translating, and is refused with `NOT_SUPPORTED` by the guest).
pub mod launch_attribute {
    #![allow(missing_docs)]
    pub const IGNORE: u32 = 0;
    pub const COOPERATIVE: u32 = 2;
    pub const CLUSTER_DIMENSION: u32 = 4;
    pub const CLUSTER_SCHEDULING_POLICY_PREFERENCE: u32 = 5;
    pub const PROGRAMMATIC_STREAM_SERIALIZATION: u32 = 6;
    pub const PRIORITY: u32 = 8;
    pub const MEM_SYNC_DOMAIN_MAP: u32 = 9;
    pub const MEM_SYNC_DOMAIN: u32 = 10;
    pub const PREFERRED_CLUSTER_DIMENSION: u32 = 11;
    pub const PREFERRED_SHARED_MEMORY_CARVEOUT: u32 = 14;

    /// Whether a LAUNCH_EX may carry attribute `id`.
    pub const fn is_carried(id: u32) -> bool {
        matches!(
            id,
            IGNORE
                | COOPERATIVE
                | CLUSTER_DIMENSION
                | CLUSTER_SCHEDULING_POLICY_PREFERENCE
                | PROGRAMMATIC_STREAM_SERIALIZATION
                | PRIORITY
                | MEM_SYNC_DOMAIN_MAP
                | MEM_SYNC_DOMAIN
                | PREFERRED_CLUSTER_DIMENSION
                | PREFERRED_SHARED_MEMORY_CARVEOUT
        )
    }
}

/// One `CUlaunchAttribute` as CUDA lays it out (id, padding, 64-byte value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchAttribute {
    /// `CUlaunchAttributeID` (one of [`launch_attribute`]).
    pub id: u32,
    /// Zero.
    pub reserved: u32,
    /// `CUlaunchAttributeValue` bytes.
    pub value: [u64; 8],
}

/// LAUNCH_EX (async; tail: `attr_count` [`LaunchAttribute`]s, then
/// `launch.param_bytes` of packed parameters): `cuLaunchKernelEx`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchExRequest {
    /// The launch, as LAUNCH carries it.
    pub launch: LaunchRequest,
    /// Attributes in the tail (at most [`MAX_LAUNCH_ATTRIBUTES`]).
    pub attr_count: u32,
    /// Zero.
    pub reserved: u32,
}

const _: () = assert!(core::mem::size_of::<FunctionRequest>() == 16);
const _: () = assert!(core::mem::size_of::<FuncAttributesResponse>() == 72);
const _: () = assert!(core::mem::size_of::<FuncSetAttributeRequest>() == 24);
const _: () = assert!(core::mem::size_of::<OccupancyRequest>() == 80);
const _: () = assert!(core::mem::size_of::<LaunchAttribute>() == 72);
const _: () = assert!(core::mem::size_of::<LaunchExRequest>() == 64);
const _: () = assert!(core::mem::size_of::<LaunchRequest>() == 56);
