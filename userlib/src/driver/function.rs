//! Function attributes, cache preferences, occupancy and context limits.
//! Attribute values are fetched from the device once per function and
//! cached; occupancy questions go to the device's driver, except the
//! block-size search of `cuOccupancyMaxPotentialBlockSize`, which runs here
//! because it calls back into the application (never under our lock).

use crate::driver::abi::Out;
use std::ffi::{c_char, c_int, c_uint, c_void};

use uapi::cuda::{
    cmds, func_attribute as fa, occupancy, result, FuncSetAttributeRequest, FunctionRequest,
    LimitRequest, OccupancyRequest, FUNC_ATTRIBUTE_COUNT,
};

use super::{
    launch::cluster_dims, library::resolve_function, with_ctx, with_state, CuResult, Obj, State,
};
use crate::driver::abi::{attr, CUfunction, CUmodule, LaunchConfig, CU_FUNCTION_LOADED};

/// `CU_FUNC_CACHE_PREFER_*` values run from NONE (0) to EQUAL (3).
const MAX_CACHE_CONFIG: c_int = 3;
/// `CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE` is the only occupancy flag.
const OCCUPANCY_FLAGS: c_uint = 1;

/// The device's (host handle, wire context) of guest function `f`.
fn host_function(s: &State, f: u64) -> CuResult<(u64, u64)> {
    match s.objects.get(&f) {
        Some(Obj::Function { host, ctx, .. }) => Ok((*host, *ctx)),
        _ => Err(result::INVALID_HANDLE),
    }
}

/// Every attribute of guest function `f` (a resolved `CUfunction`).
pub(crate) fn attributes(s: &mut State, f: u64) -> CuResult<[i32; FUNC_ATTRIBUTE_COUNT]> {
    if let Some(Obj::Function { attrs: Some(a), .. }) = s.objects.get(&f) {
        return Ok(*a);
    }
    let (function, ctx) = host_function(s, f)?;
    let req = FunctionRequest { ctx, function };
    let (r, _) = s
        .client()?
        .call_cmd::<cmds::FuncGetAttributes>(&req, &[], 0)?;
    if r.count as usize != FUNC_ATTRIBUTE_COUNT {
        return Err(result::UNKNOWN);
    }
    if let Some(Obj::Function { attrs, .. }) = s.objects.get_mut(&f) {
        *attrs = Some(r.values);
    }
    Ok(r.values)
}

pub(crate) fn func_get_attribute(
    value: Out<'_, c_int>,
    attribute: c_int,
    f: CUfunction,
) -> CuResult {
    with_state(|s| {
        let value = value.get()?;
        let index = usize::try_from(attribute)
            .ok()
            .filter(|&i| i < FUNC_ATTRIBUTE_COUNT)
            .ok_or(result::INVALID_VALUE)?;
        let f = resolve_function(s, f as u64)?;
        value.write(attributes(s, f)?[index]);
        Ok(())
    })
}

pub(crate) fn func_set_attribute(f: CUfunction, attribute: c_int, value: c_int) -> CuResult {
    with_state(|s| {
        let f = resolve_function(s, f as u64)?;
        let (function, ctx) = host_function(s, f)?;
        let req = FuncSetAttributeRequest {
            ctx,
            function,
            attribute,
            value,
        };
        s.client()?
            .call_cmd::<cmds::FuncSetAttribute>(&req, &[], 0)?;
        // Setting one attribute can change others (the dynamic shared
        // memory limit and the carveout): read them all again when asked.
        if let Some(Obj::Function { attrs, .. }) = s.objects.get_mut(&f) {
            *attrs = None;
        }
        Ok(())
    })
}

/// A cache preference is a hint the device's driver may ignore, and
/// Hopper's L1/shared split follows the carveout attribute instead: it is
/// checked and kept nowhere, as a hint the driver ignores.
pub(crate) fn func_set_cache_config(f: CUfunction, config: c_int) -> CuResult {
    with_state(|s| {
        resolve_function(s, f as u64)?;
        if !(0..=MAX_CACHE_CONFIG).contains(&config) {
            return Err(result::INVALID_VALUE);
        }
        Ok(())
    })
}

/// `cuFuncSetSharedMemConfig`: deprecated, and without effect on devices
/// of compute capability 8.0 and newer.
pub(crate) fn func_set_shared_mem_config(f: CUfunction, config: c_int) -> CuResult {
    with_state(|s| {
        resolve_function(s, f as u64)?;
        if !(0..=2).contains(&config) {
            return Err(result::INVALID_VALUE);
        }
        Ok(())
    })
}

pub(crate) fn func_get_module(module: Out<'_, CUmodule>, f: CUfunction) -> CuResult {
    with_state(|s| {
        let module = module.get()?;
        let f = resolve_function(s, f as u64)?;
        match s.objects.get(&f) {
            Some(Obj::Function { module: m, .. }) => {
                module.write(*m as CUmodule);
                Ok(())
            }
            _ => Err(result::INVALID_HANDLE),
        }
    })
}

pub(crate) unsafe fn func_get_name(name: *mut *const c_char, f: CUfunction) -> CuResult {
    // A CUkernel's name is its own (it outlives any one context).
    if super::lock()
        .objects
        .get(&(f as u64))
        .is_some_and(|o| matches!(o, Obj::Kernel { .. }))
    {
        // SAFETY: the C caller's out-pointer, as `cuFuncGetName` defines it.
        return unsafe { super::library::kernel_get_name(name, f) };
    }
    with_state(|s| {
        if name.is_null() {
            return Err(result::INVALID_VALUE);
        }
        match s.objects.get_mut(&(f as u64)) {
            Some(Obj::Function { name: n, .. }) => {
                // Stored NUL-terminated from here on, so the pointer we hand
                // out stays valid while the function lives.
                if n.last() != Some(&0) {
                    n.push(0);
                }
                // SAFETY: the C caller's out-pointer; checked non-NULL above.
                unsafe { *name = n.as_ptr().cast() };
                Ok(())
            }
            _ => Err(result::INVALID_HANDLE),
        }
    })
}

/// Functions are loaded with their module: always LOADED.
pub(crate) fn func_is_loaded(state: Out<'_, c_int>, f: CUfunction) -> CuResult {
    with_state(|s| {
        let state = state.get()?;
        resolve_function(s, f as u64)?;
        state.write(CU_FUNCTION_LOADED);
        Ok(())
    })
}

pub(crate) fn func_load(f: CUfunction) -> CuResult {
    with_state(|s| resolve_function(s, f as u64).map(drop))
}

/// Asks the device one occupancy question about `f`.
fn ask(s: &mut State, f: CUfunction, mut req: OccupancyRequest) -> CuResult<u64> {
    let f = resolve_function(s, f as u64)?;
    let (function, ctx) = host_function(s, f)?;
    req.ctx = ctx;
    req.function = function;
    let (r, _) = s.client()?.call_cmd::<cmds::Occupancy>(&req, &[], 0)?;
    Ok(r.value)
}

fn to_int(v: u64) -> CuResult<c_int> {
    c_int::try_from(v).map_err(|_| result::UNKNOWN)
}

pub(crate) fn occupancy_max_active_blocks_with_flags(
    num_blocks: Out<'_, c_int>,
    f: CUfunction,
    block_size: c_int,
    dynamic_smem: usize,
    flags: c_uint,
) -> CuResult {
    with_state(|s| {
        if num_blocks.is_null() || flags & !OCCUPANCY_FLAGS != 0 {
            return Err(result::INVALID_VALUE);
        }
        let req = OccupancyRequest {
            kind: occupancy::MAX_ACTIVE_BLOCKS,
            flags,
            block_size: u32::try_from(block_size).map_err(|_| result::INVALID_VALUE)?,
            dynamic_smem: dynamic_smem as u64,
            ..OccupancyRequest::default()
        };
        num_blocks.write(to_int(ask(s, f, req)?)?)?;
        Ok(())
    })
}

pub(crate) fn occupancy_max_active_blocks(
    num_blocks: Out<'_, c_int>,
    f: CUfunction,
    block_size: c_int,
    dynamic_smem: usize,
) -> CuResult {
    occupancy_max_active_blocks_with_flags(num_blocks, f, block_size, dynamic_smem, 0)
}

pub(crate) fn occupancy_available_dynamic_smem(
    bytes: Out<'_, usize>,
    f: CUfunction,
    num_blocks: c_int,
    block_size: c_int,
) -> CuResult {
    with_state(|s| {
        let bytes = bytes.get()?;
        let req = OccupancyRequest {
            kind: occupancy::AVAILABLE_DYNAMIC_SMEM,
            num_blocks: u32::try_from(num_blocks).map_err(|_| result::INVALID_VALUE)?,
            block_size: u32::try_from(block_size).map_err(|_| result::INVALID_VALUE)?,
            ..OccupancyRequest::default()
        };
        bytes.write(usize::try_from(ask(s, f, req)?).map_err(|_| result::UNKNOWN)?);
        Ok(())
    })
}

/// A cluster question about the launch `config` describes.
unsafe fn cluster_question(
    out: Out<'_, c_int>,
    f: CUfunction,
    config: *const c_void,
    kind: u32,
) -> CuResult {
    with_state(|s| {
        if out.is_null() || config.is_null() {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the caller's contract: a `CUlaunchConfig`; checked
        // non-NULL above.
        let c = unsafe { &*config.cast::<LaunchConfig>() };
        let req = OccupancyRequest {
            kind,
            dynamic_smem: u64::from(c.shared_mem_bytes),
            grid: c.grid,
            block: c.block,
            // SAFETY: the caller's config: `attrs` holds `numAttrs` entries.
            cluster: unsafe { cluster_dims(c) }?,
            ..OccupancyRequest::default()
        };
        out.write(to_int(ask(s, f, req)?)?)?;
        Ok(())
    })
}

pub(crate) unsafe fn occupancy_max_active_clusters(
    n: Out<'_, c_int>,
    f: CUfunction,
    config: *const c_void,
) -> CuResult {
    // SAFETY: the C caller's `CUlaunchConfig`, or NULL (refused).
    unsafe { cluster_question(n, f, config, occupancy::MAX_ACTIVE_CLUSTERS) }
}

pub(crate) unsafe fn occupancy_max_potential_cluster_size(
    n: Out<'_, c_int>,
    f: CUfunction,
    config: *const c_void,
) -> CuResult {
    // SAFETY: the C caller's `CUlaunchConfig`, or NULL (refused).
    unsafe { cluster_question(n, f, config, occupancy::MAX_POTENTIAL_CLUSTER_SIZE) }
}

/// `CUoccupancyB2DSize`: dynamic shared memory for a block size.
pub(crate) type BlockToSmem = Option<unsafe extern "C" fn(c_int) -> usize>;

/// `cuOccupancyMaxPotentialBlockSizeWithFlags`: the block size (a multiple
/// of the warp size, at most `limit`) with the most resident threads per
/// multiprocessor, the largest among equals, as CUDA's own search picks.
pub(crate) unsafe fn occupancy_max_potential_block_size_with_flags(
    min_grid: Out<'_, c_int>,
    block: Out<'_, c_int>,
    f: CUfunction,
    to_smem: BlockToSmem,
    dynamic_smem: usize,
    limit: c_int,
    flags: c_uint,
) -> CuResult {
    if min_grid.is_null() || block.is_null() || flags & !OCCUPANCY_FLAGS != 0 {
        return Err(result::INVALID_VALUE);
    }
    let (max_threads, sms) = with_state(|s| {
        let g = resolve_function(s, f as u64)?;
        let max = attributes(s, g)?[fa::MAX_THREADS_PER_BLOCK as usize];
        let sms = s
            .attributes()?
            .get(attr::MULTIPROCESSOR_COUNT)
            .copied()
            .unwrap_or(1);
        Ok((max, sms))
    })?;
    let warp = 32;
    let ceiling = if limit > 0 {
        limit.min(max_threads)
    } else {
        max_threads
    };
    let (mut best_block, mut best_blocks, mut best_threads) = (0, 0, 0);
    let mut size = ceiling / warp * warp;
    while size > 0 {
        // The application's callback runs without our lock held.
        let smem = match to_smem {
            // SAFETY: the caller's contract: the application's
            // `CUoccupancyB2DSize` callback, called as CUDA calls it.
            Some(cb) => unsafe { cb(size) },
            None => dynamic_smem,
        };
        let blocks = with_state(|s| {
            let req = OccupancyRequest {
                kind: occupancy::MAX_ACTIVE_BLOCKS,
                flags,
                block_size: size as u32,
                dynamic_smem: smem as u64,
                ..OccupancyRequest::default()
            };
            to_int(ask(s, f, req)?)
        })?;
        if blocks * size > best_threads {
            (best_block, best_blocks, best_threads) = (size, blocks, blocks * size);
        }
        size -= warp;
    }
    block.write(best_block)?;
    min_grid.write(best_blocks * sms)?;
    Ok(())
}

pub(crate) unsafe fn occupancy_max_potential_block_size(
    min_grid: Out<'_, c_int>,
    block: Out<'_, c_int>,
    f: CUfunction,
    to_smem: BlockToSmem,
    dynamic_smem: usize,
    limit: c_int,
) -> CuResult {
    // SAFETY: the C caller's callback, as the `_with_flags` form takes it.
    unsafe {
        occupancy_max_potential_block_size_with_flags(
            min_grid,
            block,
            f,
            to_smem,
            dynamic_smem,
            limit,
            0,
        )
    }
}

pub(crate) fn ctx_get_limit(value: Out<'_, usize>, limit: c_uint) -> CuResult {
    with_ctx(|s, ctx| {
        let value = value.get()?;
        let req = LimitRequest {
            ctx,
            limit,
            ..LimitRequest::default()
        };
        let (r, _) = s.client()?.call_cmd::<cmds::CtxGetLimit>(&req, &[], 0)?;
        value.write(usize::try_from(r.value).map_err(|_| result::UNKNOWN)?);
        Ok(())
    })
}

pub(crate) fn ctx_set_limit(limit: c_uint, value: usize) -> CuResult {
    with_ctx(|s, ctx| {
        let req = LimitRequest {
            ctx,
            limit,
            reserved: 0,
            value: value as u64,
        };
        s.client()?
            .call_cmd::<cmds::CtxSetLimit>(&req, &[], 0)
            .map(drop)
    })
}

/// `cuCtxGetId`: a context's process-unique id is its guest handle.
pub(crate) fn ctx_get_id(ctx: *mut c_void, id: Out<'_, u64>) -> CuResult {
    with_state(|s| {
        let id = id.get()?;
        let c = if ctx.is_null() {
            s.current()?.0
        } else {
            ctx as u64
        };
        s.ctx_wire(c)?;
        id.write(c);
        Ok(())
    })
}

/// `cuCtxGetCacheConfig`: no preference was ever passed on (see
/// [`func_set_cache_config`]), so the answer is `CU_FUNC_CACHE_PREFER_NONE`.
pub(crate) fn ctx_get_cache_config(config: Out<'_, c_int>) -> CuResult {
    with_ctx(|_, _| {
        let config = config.get()?;
        config.write(0);
        Ok(())
    })
}

pub(crate) fn ctx_set_cache_config(config: c_int) -> CuResult {
    with_ctx(|_, _| {
        if (0..=MAX_CACHE_CONFIG).contains(&config) {
            Ok(())
        } else {
            Err(result::INVALID_VALUE)
        }
    })
}
