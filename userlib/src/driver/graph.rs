//! CUDA graphs: building (`cuGraphCreate`, `cuGraphAdd*Node`,
//! `cuGraphAddDependencies`, `cuGraphClone`), inspecting (`cuGraphGetNodes`,
//! `cuGraphNodeGetType`, kernel node parameters), instantiating, updating,
//! launching and destroying. Graphs, nodes and executable graphs are the
//! device's handles, passed through as the C handles.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_uint, c_void};

use uapi::cuda::{
    cmds, node_type, result, GraphAddNodeRequest, GraphEdgesRequest, GraphRequest, NodeParams,
    NodeSetParamsRequest, MAX_GRAPH_DEPS, MAX_PARAM_BYTES,
};

use super::launch::{extra_params, layout_end, pack_params};
use super::library::resolve_function;
use super::module::function;
use super::{with_ctx, CuResult, Obj, State};
use crate::driver::abi::Out;

/// Kernel node parameters handed out by `cuGraphKernelNodeGetParams`: the
/// argument bytes and one pointer per parameter into them, per node (valid
/// while the node lives, as CUDA's are).
#[derive(Debug, Default)]
pub(crate) struct GraphStorage {
    params: BTreeMap<u64, (Vec<u64>, Vec<*mut c_void>)>,
}

// SAFETY: the pointers point into the owned buffers beside them.
unsafe impl Send for GraphStorage {}

impl GraphStorage {
    pub const fn new() -> Self {
        Self {
            params: BTreeMap::new(),
        }
    }
}

/// `CUDA_KERNEL_NODE_PARAMS_v2` (v1 is its first 56 bytes).
#[repr(C)]
struct KernelNodeParams {
    func: *mut c_void,
    grid: [c_uint; 3],
    block: [c_uint; 3],
    shared_mem_bytes: c_uint,
    kernel_params: *mut *mut c_void,
    extra: *mut *mut c_void,
    kern: *mut c_void,
    ctx: *mut c_void,
}

/// `CUDA_MEMSET_NODE_PARAMS`.
#[repr(C)]
struct MemsetNodeParams {
    dst: u64,
    pitch: usize,
    value: c_uint,
    element_size: c_uint,
    width: usize,
    height: usize,
}

/// `CUDA_MEMCPY3D`, the fields a 1D device copy uses.
#[repr(C)]
struct Memcpy3D {
    src_pos: [usize; 4],
    src_memory_type: u32,
    src_host: usize,
    src_device: u64,
    src_array: [usize; 2],
    src_pitch: [usize; 2],
    dst_pos: [usize; 4],
    dst_memory_type: u32,
    dst_host: usize,
    dst_device: u64,
    dst_array: [usize; 2],
    dst_pitch: [usize; 2],
    extent: [usize; 3],
}

const _: () = assert!(core::mem::size_of::<KernelNodeParams>() == 72);
const _: () = assert!(core::mem::size_of::<Memcpy3D>() == 200);

/// `CU_MEMORYTYPE_DEVICE`, `CU_MEMORYTYPE_UNIFIED`.
const MEMORY_DEVICE: u32 = 2;
const MEMORY_UNIFIED: u32 = 4;

/// `count` nodes from the caller's array, as the tail of a request.
pub(super) unsafe fn node_list(nodes: *const u64, count: usize) -> CuResult<Vec<u64>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if nodes.is_null() {
        return Err(result::INVALID_VALUE);
    }
    if count > MAX_GRAPH_DEPS as usize {
        return Err(result::NOT_SUPPORTED);
    }
    // SAFETY: the caller's array of `count` nodes.
    Ok(unsafe { std::slice::from_raw_parts(nodes, count) }.to_vec())
}

fn handle_of(r: CuResult<(uapi::cuda::HandleResponse, Vec<u8>)>) -> CuResult<u64> {
    Ok(r?.0.handle)
}

pub(super) fn graph_call<C: uapi::cuda::CudaCommand<Request = GraphRequest>>(
    s: &mut State,
    ctx: u64,
    handle: u64,
    flags: u64,
) -> CuResult<C::Response> {
    let req = GraphRequest { ctx, handle, flags };
    Ok(s.client()?.call_cmd::<C>(&req, &[], 0)?.0)
}

pub(crate) fn graph_create(graph: Out<'_, *mut c_void>, flags: c_uint) -> CuResult {
    with_ctx(|s, ctx| {
        let graph = graph.get()?;
        if flags != 0 {
            return Err(result::INVALID_VALUE);
        }
        let h = graph_call::<cmds::GraphCreate>(s, ctx, 0, 0)?.handle;
        graph.write(h as *mut c_void);
        Ok(())
    })
}

pub(crate) fn graph_destroy(graph: *mut c_void) -> CuResult {
    with_ctx(|s, ctx| {
        let nodes = graph_nodes(s, ctx, graph as u64).unwrap_or_default();
        graph_call::<cmds::GraphDestroy>(s, ctx, graph as u64, 0)?;
        for n in nodes {
            s.graphs.params.remove(&n);
        }
        s.host_fns.forget_graph(graph as u64);
        Ok(())
    })
}

pub(crate) fn graph_clone(out: Out<'_, *mut c_void>, graph: *mut c_void) -> CuResult {
    with_ctx(|s, ctx| {
        let out = out.get()?;
        let h = graph_call::<cmds::GraphClone>(s, ctx, graph as u64, 0)?.handle;
        s.host_fns.cloned(graph as u64, h);
        out.write(h as *mut c_void);
        Ok(())
    })
}

fn graph_nodes(s: &mut State, ctx: u64, graph: u64) -> CuResult<Vec<u64>> {
    let req = GraphRequest {
        ctx,
        handle: graph,
        flags: 0,
    };
    let c = s.client()?;
    let cap = c.max_tail::<cmds::GraphGetNodes>();
    let (resp, tail) = c.call_cmd::<cmds::GraphGetNodes>(&req, &[], cap)?;
    Ok(tail
        .chunks_exact(8)
        .take(resp.value as usize)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

/// `cuGraphGetNodes`: the count (NULL array), or up to `*count` nodes
/// (NULL-padded) and the real count.
pub(crate) unsafe fn graph_get_nodes(
    graph: *mut c_void,
    nodes: *mut u64,
    count: Out<'_, usize>,
) -> CuResult {
    with_ctx(|s, ctx| {
        let count = count.get()?;
        let all = graph_nodes(s, ctx, graph as u64)?;
        if !nodes.is_null() {
            // SAFETY: `count` was initialised by the caller (in/out).
            let room = unsafe { count.assume_init_read() };
            for i in 0..room {
                // SAFETY: the caller's array of `room` nodes.
                unsafe { *nodes.add(i) = all.get(i).copied().unwrap_or(0) };
            }
        }
        count.write(all.len());
        Ok(())
    })
}

pub(crate) fn graph_node_get_type(node: *mut c_void, kind: Out<'_, c_int>) -> CuResult {
    with_ctx(|s, ctx| {
        let kind = kind.get()?;
        let t = graph_call::<cmds::GraphNodeGetType>(s, ctx, node as u64, 0)?.value;
        kind.write(t as c_int);
        Ok(())
    })
}

/// Adds one node: `params` describes it, `kernel` its argument bytes.
unsafe fn add_node(
    s: &mut State,
    ctx: u64,
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: (*const u64, usize),
    params: NodeParams,
    kernel: &[u8],
) -> CuResult {
    let out = out.get()?;
    // SAFETY: the caller's array.
    let deps = unsafe { node_list(deps.0, deps.1)? };
    let req = GraphAddNodeRequest {
        ctx,
        graph: graph as u64,
        dep_count: deps.len() as u32,
        reserved: 0,
        params: NodeParams {
            param_bytes: kernel.len() as u32,
            ..params
        },
    };
    let mut tail: Vec<u8> = deps.iter().flat_map(|d| d.to_le_bytes()).collect();
    tail.extend_from_slice(kernel);
    let h = handle_of(s.client()?.call_cmd::<cmds::GraphAddNode>(&req, &tail, 0))?;
    out.write(h as *mut c_void);
    Ok(())
}

/// A kernel node's wire parameters and packed arguments.
unsafe fn kernel_node(
    s: &mut State,
    p: *const c_void,
    v2: bool,
) -> CuResult<(NodeParams, Vec<u8>)> {
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let k = p.cast::<KernelNodeParams>();
    // SAFETY: the caller's struct (v1: the first 56 bytes).
    let (func, grid, block, shared, args, extra) = unsafe {
        (
            (*k).func,
            (*k).grid,
            (*k).block,
            (*k).shared_mem_bytes,
            (*k).kernel_params,
            (*k).extra,
        )
    };
    let kern = if v2 {
        // SAFETY: as above; `kern` only exists in v2.
        unsafe { (*k).kern }
    } else {
        std::ptr::null_mut()
    };
    let f = if func.is_null() { kern } else { func };
    let f = resolve_function(s, f as u64)?;
    let (host, _, layout) = function(s, f)?;
    if !args.is_null() && !extra.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's arrays, as cuLaunchKernel defines them.
    let bytes = unsafe {
        if extra.is_null() {
            pack_params(layout, args.cast())?
        } else {
            extra_params(extra.cast(), layout_end(layout))?
        }
    };
    if bytes.len() > MAX_PARAM_BYTES as usize {
        return Err(result::INVALID_VALUE);
    }
    let params = NodeParams {
        kind: node_type::KERNEL,
        function: host,
        grid,
        block,
        shared_bytes: shared,
        ..NodeParams::default()
    };
    Ok((params, bytes))
}

/// `cuGraphAddKernelNode` (v1) and `_v2` (`V2`).
pub(crate) unsafe fn graph_add_kernel_node<const V2: bool>(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
    p: *const c_void,
) -> CuResult {
    // SAFETY: the caller's contract.
    with_ctx(|s, ctx| unsafe {
        let (params, bytes) = kernel_node(s, p, V2)?;
        add_node(s, ctx, out, graph, (deps, n), params, &bytes)
    })
}

pub(crate) unsafe fn graph_add_memset_node(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
    p: *const c_void,
    _ctx: *mut c_void,
) -> CuResult {
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's struct.
    let m = unsafe { &*p.cast::<MemsetNodeParams>() };
    let params = NodeParams {
        kind: node_type::MEMSET,
        elem_size: m.element_size,
        dst: m.dst,
        pitch: m.pitch as u64,
        width: m.width as u64,
        height: m.height as u64,
        value: m.value,
        ..NodeParams::default()
    };
    // SAFETY: the caller's contract.
    with_ctx(|s, ctx| unsafe { add_node(s, ctx, out, graph, (deps, n), params, &[]) })
}

/// A 1D device-to-device copy; other shapes and host memory are `NOT_SUPPORTED`.
pub(crate) unsafe fn graph_add_memcpy_node(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
    p: *const c_void,
    _ctx: *mut c_void,
) -> CuResult {
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's struct.
    let c = unsafe { &*p.cast::<Memcpy3D>() };
    let device = |t: u32| t == MEMORY_DEVICE || t == MEMORY_UNIFIED;
    let flat = c.extent[1] <= 1
        && c.extent[2] <= 1
        && c.src_pos[1..] == [0, 0, 0]
        && c.dst_pos[1..] == [0, 0, 0];
    if !device(c.src_memory_type) || !device(c.dst_memory_type) || !flat {
        tracing::warn!("cuGraphAddMemcpyNode: only 1D device-to-device copies are supported");
        return Err(result::NOT_SUPPORTED);
    }
    let params = NodeParams {
        kind: node_type::MEMCPY,
        dst: c.dst_device.wrapping_add(c.dst_pos[0] as u64),
        src: c.src_device.wrapping_add(c.src_pos[0] as u64),
        width: c.extent[0] as u64,
        ..NodeParams::default()
    };
    // SAFETY: the caller's contract.
    with_ctx(|s, ctx| unsafe { add_node(s, ctx, out, graph, (deps, n), params, &[]) })
}

pub(crate) unsafe fn graph_add_empty_node(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
) -> CuResult {
    let params = NodeParams {
        kind: node_type::EMPTY,
        ..NodeParams::default()
    };
    // SAFETY: the caller's contract.
    with_ctx(|s, ctx| unsafe { add_node(s, ctx, out, graph, (deps, n), params, &[]) })
}

pub(crate) unsafe fn graph_add_dependencies(
    graph: *mut c_void,
    from: *const u64,
    to: *const u64,
    n: usize,
) -> CuResult {
    // SAFETY: the caller's arrays of `n` nodes.
    let (from, to) = unsafe { (node_list(from, n)?, node_list(to, n)?) };
    with_ctx(|s, ctx| {
        let req = GraphEdgesRequest {
            ctx,
            graph: graph as u64,
            count: n as u32,
            reserved: 0,
        };
        let tail: Vec<u8> = from
            .iter()
            .zip(&to)
            .flat_map(|(a, b)| [a.to_le_bytes(), b.to_le_bytes()].concat())
            .collect();
        s.client()?
            .call_cmd::<cmds::GraphAddDependencies>(&req, &tail, 0)
            .map(drop)
    })
}

/// Refuses (`NOT_SUPPORTED`) edge data other than the default (all
/// zero): the `_v2` graph and capture calls carry none.
///
/// # Safety
///
/// `edges` is NULL or the caller's array of `n` 8-byte `CUgraphEdgeData`.
pub(crate) unsafe fn default_edge_data_only(edges: *const u64, n: usize) -> CuResult {
    if !edges.is_null()
        // SAFETY: the caller's array, checked non-NULL first.
        && unsafe { std::slice::from_raw_parts(edges, n) }
            .iter()
            .any(|e| *e != 0)
    {
        return Err(result::NOT_SUPPORTED);
    }
    Ok(())
}

/// `cuGraphAddDependencies_v2`: only default (zero) edge data.
pub(crate) unsafe fn graph_add_dependencies_v2(
    graph: *mut c_void,
    from: *const u64,
    to: *const u64,
    edges: *const u64,
    n: usize,
) -> CuResult {
    // SAFETY: the caller's contract.
    unsafe { default_edge_data_only(edges, n) }?;
    // SAFETY: the caller's contract.
    unsafe { graph_add_dependencies(graph, from, to, n) }
}

/// `cuGraphKernelNodeGetParams` (v1) and `_v2`: pointers into storage the
/// node keeps.
pub(crate) unsafe fn graph_kernel_node_get_params<const V2: bool>(
    node: *mut c_void,
    p: *mut c_void,
) -> CuResult {
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    with_ctx(|s, ctx| {
        let req = GraphRequest {
            ctx,
            handle: node as u64,
            flags: 0,
        };
        let c = s.client()?;
        let cap = c.max_tail::<cmds::GraphKernelNodeGetParams>();
        let (resp, bytes) = c.call_cmd::<cmds::GraphKernelNodeGetParams>(&req, &[], cap)?;
        let host = resp.params.function;
        let f = s
            .objects
            .iter()
            .find_map(|(h, o)| {
                matches!(o, Obj::Function { host: x, .. } if *x == host).then_some(*h)
            })
            .ok_or(result::INVALID_VALUE)?;
        let (_, _, layout) = function(s, f)?;
        let offsets: Vec<usize> = layout.iter().map(|i| i.offset as usize).collect();
        let mut words = vec![0u64; bytes.len().div_ceil(8).max(1)];
        // SAFETY: the words hold at least `bytes.len()` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), words.as_mut_ptr().cast(), bytes.len())
        };
        let base: *mut u8 = words.as_mut_ptr().cast();
        // SAFETY: each offset lies inside the packed bytes (the layout's).
        let mut ptrs: Vec<*mut c_void> = offsets
            .iter()
            .map(|&o| unsafe { base.add(o) }.cast())
            .collect();
        let args = ptrs.as_mut_ptr();
        s.graphs.params.insert(node as u64, (words, ptrs));
        let k = p.cast::<KernelNodeParams>();
        // SAFETY: the caller's struct (v1: the first 56 bytes).
        unsafe {
            (*k).func = f as *mut c_void;
            (*k).grid = resp.params.grid;
            (*k).block = resp.params.block;
            (*k).shared_mem_bytes = resp.params.shared_bytes;
            (*k).kernel_params = args;
            (*k).extra = std::ptr::null_mut();
            if V2 {
                (*k).kern = std::ptr::null_mut();
                (*k).ctx = std::ptr::null_mut();
            }
        }
        Ok(())
    })
}

unsafe fn kernel_node_set(exec: u64, node: *mut c_void, p: *const c_void, v2: bool) -> CuResult {
    // SAFETY: the caller's contract.
    with_ctx(|s, ctx| unsafe {
        let (params, bytes) = kernel_node(s, p, v2)?;
        let req = NodeSetParamsRequest {
            ctx,
            exec,
            node: node as u64,
            params: NodeParams {
                param_bytes: bytes.len() as u32,
                ..params
            },
        };
        s.client()?
            .call_cmd::<cmds::GraphKernelNodeSetParams>(&req, &bytes, 0)
            .map(drop)
    })
}

/// `cuGraphKernelNodeSetParams` (v1) and `_v2` (`V2`).
pub(crate) unsafe fn graph_kernel_node_set_params<const V2: bool>(
    node: *mut c_void,
    p: *const c_void,
) -> CuResult {
    // SAFETY: the caller's contract.
    unsafe { kernel_node_set(0, node, p, V2) }
}

/// `cuGraphExecKernelNodeSetParams` (v1) and `_v2` (`V2`).
pub(crate) unsafe fn graph_exec_kernel_node_set_params<const V2: bool>(
    exec: *mut c_void,
    node: *mut c_void,
    p: *const c_void,
) -> CuResult {
    if exec.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's contract.
    unsafe { kernel_node_set(exec as u64, node, p, V2) }
}
