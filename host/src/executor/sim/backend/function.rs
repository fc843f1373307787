//! Function attributes, occupancy, limits and the extended launch on the
//! simulator. Values follow the H200's rules (per-SM limits below); what
//! only a real compiler knows (registers) is the interpreter's own count,
//! so those values are the simulator's, not NVIDIA's.

use super::*;

use super::{SimBackend, SimFunction};
use crate::cancel::CancelToken;
use crate::cuda::CuResult;
use crate::ptx;
use crate::ptx::limits::{
    DEFAULT_SHARED_BYTES_PER_BLOCK, MAX_BLOCK_THREADS, MAX_SHARED_BYTES_PER_BLOCK,
    MAX_SHARED_BYTES_PER_SM, WARP_SIZE,
};
use uapi::cuda::{
    func_attribute as fa, launch_attribute, occupancy, result, LaunchAttribute, LaunchRequest,
    OccupancyRequest, FUNC_ATTRIBUTE_COUNT,
};

/// Threads one multiprocessor holds (compute capability 9.0).
const THREADS_PER_SM: u64 = 2048;
/// Resident blocks per multiprocessor.
const BLOCKS_PER_SM: u64 = 32;
/// 32-bit registers per multiprocessor.
const REGISTERS_PER_SM: u64 = 65536;
/// Shared memory per multiprocessor, bytes.
const SHARED_PER_SM: u64 = MAX_SHARED_BYTES_PER_SM as u64;
/// Shared memory the hardware reserves per resident block, bytes.
const SHARED_RESERVED_PER_BLOCK: u64 = 1024;
/// Dynamic shared memory a function may use before opting in, bytes.
const DEFAULT_DYNAMIC_SHARED: u64 = DEFAULT_SHARED_BYTES_PER_BLOCK as u64;
/// Multiprocessors of the simulated device (its attribute table's value).
const ATTR_MULTIPROCESSOR_COUNT: usize = 16;

/// `CUlimit` values the simulator keeps, with CUDA's defaults.
pub(super) const DEFAULT_LIMITS: [(u32, u64); 7] = [
    (0, 1024),    // STACK_SIZE
    (1, 1 << 20), // PRINTF_FIFO_SIZE
    (2, 8 << 20), // MALLOC_HEAP_SIZE
    (3, 2),       // DEV_RUNTIME_SYNC_DEPTH
    (4, 2048),    // DEV_RUNTIME_PENDING_LAUNCH_COUNT
    (5, 64),      // MAX_L2_FETCH_GRANULARITY
    (6, 0),       // PERSISTING_L2_CACHE_SIZE
];

/// The attributes of a kernel as the simulator runs it.
pub(super) fn kernel_attributes(
    module: &ptx::Module,
    kernel: &ptx::Kernel,
) -> [i32; FUNC_ATTRIBUTE_COUNT] {
    let clamp = |v: u64| i32::try_from(v).unwrap_or(i32::MAX);
    let static_shared = kernel.static_shared_bytes();
    let const_bytes: u64 = module
        .globals()
        .iter()
        .filter(|g| g.space == ptx::Space::Const)
        .map(|g| g.size)
        .sum();
    let mut a = [0i32; FUNC_ATTRIBUTE_COUNT];
    a[fa::MAX_THREADS_PER_BLOCK as usize] = clamp(u64::from(MAX_BLOCK_THREADS));
    a[fa::SHARED_SIZE_BYTES as usize] = clamp(static_shared);
    a[fa::CONST_SIZE_BYTES as usize] = clamp(const_bytes);
    a[fa::LOCAL_SIZE_BYTES as usize] = clamp(u64::from(kernel.body.local_size));
    a[fa::NUM_REGS as usize] = clamp(u64::from(kernel.body.nregs).clamp(1, 255));
    // The simulator runs compute_90 PTX for a compute capability 9.0 device.
    a[fa::PTX_VERSION as usize] = 90;
    a[fa::BINARY_VERSION as usize] = 90;
    a[fa::MAX_DYNAMIC_SHARED_SIZE_BYTES as usize] =
        clamp(DEFAULT_DYNAMIC_SHARED.saturating_sub(static_shared));
    a[fa::PREFERRED_SHARED_MEMORY_CARVEOUT as usize] = -1;
    a
}

fn warps(threads: u64) -> u64 {
    threads.div_ceil(u64::from(WARP_SIZE))
}

impl SimBackend {
    fn sim_function(&self, ctx: u64, function: u64) -> CuResult<&SimFunction> {
        self.ctx(ctx)?;
        self.functions.get(&function).ok_or(result::INVALID_HANDLE)
    }
    /// Blocks of `f` that fit on one multiprocessor.
    fn blocks_per_sm(f: &SimFunction, block_size: u64, dynamic_smem: u64) -> u64 {
        let attr = |i: i32| u64::try_from(f.attrs[i as usize]).unwrap_or(0);
        if block_size == 0 || block_size > attr(fa::MAX_THREADS_PER_BLOCK) {
            return 0;
        }
        let by_threads = THREADS_PER_SM / (warps(block_size) * 32);
        // Registers are allocated per warp in units of 256.
        let regs_per_warp = (attr(fa::NUM_REGS) * 32).div_ceil(256) * 256;
        let by_registers = REGISTERS_PER_SM / (regs_per_warp * warps(block_size)).max(1);
        let shared = attr(fa::SHARED_SIZE_BYTES) + dynamic_smem + SHARED_RESERVED_PER_BLOCK;
        let by_shared = SHARED_PER_SM / shared;
        by_threads
            .min(by_registers)
            .min(by_shared)
            .min(BLOCKS_PER_SM)
    }
}

impl LaunchBackend for SimBackend {
    fn func_get_attributes(
        &mut self,
        ctx: u64,
        function: u64,
    ) -> CuResult<[i32; FUNC_ATTRIBUTE_COUNT]> {
        Ok(self.sim_function(ctx, function)?.attrs)
    }
    fn func_set_attribute(
        &mut self,
        ctx: u64,
        function: u64,
        attribute: i32,
        value: i32,
    ) -> CuResult<()> {
        self.ctx(ctx)?;
        let f = self
            .functions
            .get_mut(&function)
            .ok_or(result::INVALID_HANDLE)?;
        let static_shared = u64::try_from(f.attrs[fa::SHARED_SIZE_BYTES as usize]).unwrap_or(0);
        let ok = match attribute {
            fa::MAX_DYNAMIC_SHARED_SIZE_BYTES => u64::try_from(value)
                .is_ok_and(|v| v + static_shared <= u64::from(MAX_SHARED_BYTES_PER_BLOCK)),
            fa::PREFERRED_SHARED_MEMORY_CARVEOUT => (-1..=100).contains(&value),
            fa::REQUIRED_CLUSTER_WIDTH
            | fa::REQUIRED_CLUSTER_HEIGHT
            | fa::REQUIRED_CLUSTER_DEPTH
            | fa::NON_PORTABLE_CLUSTER_SIZE_ALLOWED
            | fa::CLUSTER_SCHEDULING_POLICY_PREFERENCE => value >= 0,
            _ => false,
        };
        if !ok {
            return Err(result::INVALID_VALUE);
        }
        f.attrs[attribute as usize] = value;
        Ok(())
    }
    fn occupancy(&mut self, r: &OccupancyRequest) -> CuResult<u64> {
        let f = self.sim_function(r.ctx, r.function)?;
        let sms = self
            .attributes
            .get(ATTR_MULTIPROCESSOR_COUNT)
            .map_or(1, |&n| u64::try_from(n).unwrap_or(1));
        let clustered = r.cluster.iter().any(|&d| d > 1);
        match r.kind {
            occupancy::MAX_ACTIVE_BLOCKS => Ok(Self::blocks_per_sm(
                f,
                u64::from(r.block_size),
                r.dynamic_smem,
            )),
            occupancy::AVAILABLE_DYNAMIC_SMEM => {
                if r.num_blocks == 0 {
                    return Err(result::INVALID_VALUE);
                }
                let attr = |i: i32| u64::try_from(f.attrs[i as usize]).unwrap_or(0);
                if u64::from(r.block_size) > attr(fa::MAX_THREADS_PER_BLOCK)
                    || Self::blocks_per_sm(f, u64::from(r.block_size), 0) < u64::from(r.num_blocks)
                {
                    return Ok(0);
                }
                let per_block = SHARED_PER_SM / u64::from(r.num_blocks);
                Ok(per_block
                    .saturating_sub(SHARED_RESERVED_PER_BLOCK + attr(fa::SHARED_SIZE_BYTES))
                    .min(attr(fa::MAX_DYNAMIC_SHARED_SIZE_BYTES)))
            }
            // The simulator runs no thread-block clusters: a cluster of one
            // block is all it offers.
            occupancy::MAX_ACTIVE_CLUSTERS if clustered => Err(result::NOT_SUPPORTED),
            occupancy::MAX_ACTIVE_CLUSTERS => {
                let threads = r.block.iter().map(|&d| u64::from(d)).product::<u64>();
                Ok(Self::blocks_per_sm(f, threads, r.dynamic_smem) * sms)
            }
            occupancy::MAX_POTENTIAL_CLUSTER_SIZE => Ok(1),
            _ => Err(result::INVALID_VALUE),
        }
    }
    fn ctx_get_limit(&mut self, ctx: u64, limit: u32) -> CuResult<u64> {
        self.ctx(ctx)?;
        self.limits
            .iter()
            .find(|(l, _)| *l == limit)
            .map(|(_, v)| *v)
            .ok_or(result::UNSUPPORTED_LIMIT)
    }
    fn ctx_set_limit(&mut self, ctx: u64, limit: u32, value: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        let slot = self
            .limits
            .iter_mut()
            .find(|(l, _)| *l == limit)
            .ok_or(result::UNSUPPORTED_LIMIT)?;
        slot.1 = value;
        Ok(())
    }
    fn launch_ex(
        &mut self,
        req: &LaunchRequest,
        attrs: &[LaunchAttribute],
        params: &[u8],
        cancel: &CancelToken,
    ) -> CuResult<()> {
        for a in attrs {
            if a.id == launch_attribute::CLUSTER_DIMENSION
                || a.id == launch_attribute::PREFERRED_CLUSTER_DIMENSION
            {
                let dims = [
                    a.value[0] as u32,
                    (a.value[0] >> 32) as u32,
                    a.value[1] as u32,
                ];
                if dims.iter().any(|&d| d > 1) {
                    tracing::warn!(?dims, "the simulator runs no thread-block clusters");
                    return Err(result::NOT_SUPPORTED);
                }
            }
        }
        // Every other carried attribute is a scheduling hint the in-order
        // simulator satisfies as it is.
        LaunchBackend::launch(self, req, params, cancel)
    }
    fn launch(&mut self, r: &LaunchRequest, params: &[u8], cancel: &CancelToken) -> CuResult<()> {
        self.stream(r.ctx, r.stream)?;
        let f = self
            .functions
            .get(&r.function)
            .ok_or(result::INVALID_HANDLE)?;
        let threads = r.block.iter().map(|&d| u64::from(d)).product::<u64>();
        if threads > u64::from(MAX_BLOCK_THREADS)
            || r.block[2] > MAX_BLOCK_DIM_Z
            || r.grid[1] > MAX_GRID_DIM_YZ
            || r.grid[2] > MAX_GRID_DIM_YZ
            || r.grid[0] > MAX_GRID_DIM_X
            || r.shared_bytes > MAX_SHARED_BYTES_PER_BLOCK
            || i64::from(r.shared_bytes)
                > i64::from(
                    f.attrs[uapi::cuda::func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES as usize],
                )
        {
            return Err(result::INVALID_VALUE);
        }
        if self.graphs.is_capturing(r.stream) {
            // Recorded, not run: its pointers need only exist at replay.
            let launch = LaunchRequest {
                ctx: self.ctx(r.ctx)?,
                ..*r
            };
            let op = crate::executor::sim::graph::NodeOp::Kernel {
                launch,
                attrs: Vec::new(),
                params: params.to_vec(),
            };
            return self.graphs.record(r.stream, op);
        }
        let m = self.modules.get(&f.module).ok_or(result::INVALID_HANDLE)?;
        let module = m.ptx.clone();
        let kernel = &module.kernels()[f.kernel];
        let globals = m.globals.clone();
        let resolve = |name: &str| globals.get(name).map(|(addr, _)| *addr);
        let cfg = LaunchConfig {
            grid: r.grid,
            block: r.block,
            dynamic_shared_bytes: r.shared_bytes,
        };
        let watchdog = ptx::Watchdog {
            limit: ptx::MAX_LAUNCH_TIME,
            cancelled: &|| cancel.is_cancelled(),
        };
        match ptx::launch_watched(
            kernel,
            &module,
            params,
            &resolve,
            &cfg,
            &mut self.memory,
            &watchdog,
        ) {
            Ok(()) => Ok(()),
            Err(LaunchError::Unsupported { instruction, line }) => {
                tracing::warn!(
                    kernel = %kernel.name,
                    line,
                    %instruction,
                    "launch fails: instruction outside the simulator's PTX subset"
                );
                Err(result::NOT_SUPPORTED)
            }
            Err(LaunchError::IllegalAddress { addr }) => {
                tracing::info!(kernel = %kernel.name, addr = format_args!("{addr:#x}"), "illegal address");
                Err(result::ILLEGAL_ADDRESS)
            }
            Err(LaunchError::InvalidConfig(why)) => {
                tracing::info!(kernel = %kernel.name, %why, "invalid launch");
                Err(result::INVALID_VALUE)
            }
            Err(LaunchError::OutOfResources(why)) => {
                tracing::debug!(%why, "launch out of resources");
                Err(result::LAUNCH_OUT_OF_RESOURCES)
            }
            Err(LaunchError::Cancelled) => {
                tracing::info!(kernel = %kernel.name, "launch cancelled: the queue is stopping");
                Err(result::LAUNCH_FAILED)
            }
            Err(LaunchError::Trap) => Err(result::LAUNCH_FAILED),
            Err(LaunchError::Assert(why)) => {
                tracing::info!(kernel = %kernel.name, %why, "device assertion failed");
                Err(CUDA_ERROR_ASSERT)
            }
            Err(LaunchError::Deadlock(why)) => {
                tracing::warn!(kernel = %kernel.name, %why, "launch fails: deadlock");
                Err(result::LAUNCH_FAILED)
            }
            Err(LaunchError::Timeout) => {
                tracing::warn!(kernel = %kernel.name, "launch stopped by the watchdog");
                Err(result::LAUNCH_TIMEOUT)
            }
        }
    }
}
