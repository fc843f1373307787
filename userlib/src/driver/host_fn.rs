//! Host functions in graphs: host nodes (`cuGraphAddHostNode` and its
//! get/set), `cuLaunchHostFunc` on a capturing stream (a host node added to
//! the capture's graph), and launching an executable graph that has host
//! nodes. The device keeps a host node's place in the graph and the guest's
//! id for it; the function and its user data stay here, per graph and per
//! executable graph (as CUDA copies them at instantiation). Such a graph is
//! launched part by part (GRAPH_LAUNCH_PART): the device runs the work up
//! to the next host node and answers once it has finished, then the guest
//! runs that function (with no lock of ours held) and asks for the next
//! part. The launch thus returns once the whole graph has run; CUDA's
//! returns at once and runs the functions on a thread of its own.

use std::collections::BTreeMap;
use std::ffi::c_void;

use uapi::cuda::{
    cmds, node_type, result, GraphAddNodeRequest, GraphLaunchPartRequest, NodeParams,
    StreamRequest, CAPTURE_DEPS_SET,
};

use super::stream::{stream_ctx, HostFn};
use super::{with_ctx, with_state, CuResult, State};
use crate::driver::abi::{CUstream, Out};

/// A host function and its user data (an address, so the tables are `Send`).
#[derive(Clone, Copy, Debug)]
struct HostCall {
    f: unsafe extern "C" fn(*mut c_void),
    data: usize,
}

/// `CUDA_HOST_NODE_PARAMS` (and `_v2`, the same layout).
#[repr(C)]
struct HostNodeParams {
    f: HostFn,
    data: *mut c_void,
}

/// Host-function id → call.
type Calls = BTreeMap<u64, HostCall>;

/// The guest's side of host nodes.
#[derive(Debug, Default)]
pub(crate) struct HostFns {
    next: u64,
    /// Graphs with host nodes → their calls.
    graphs: BTreeMap<u64, Calls>,
    /// Executable graphs with host nodes → their calls.
    execs: BTreeMap<u64, Calls>,
    /// Host node → (graph, id).
    nodes: BTreeMap<u64, (u64, u64)>,
}

impl HostFns {
    pub const fn new() -> Self {
        Self {
            next: 0,
            graphs: BTreeMap::new(),
            execs: BTreeMap::new(),
            nodes: BTreeMap::new(),
        }
    }

    /// `graph` was destroyed.
    pub fn forget_graph(&mut self, graph: u64) {
        self.graphs.remove(&graph);
        self.nodes.retain(|_, (g, _)| *g != graph);
    }

    /// `copy` is a clone of `graph` (its host nodes keep their ids).
    pub fn cloned(&mut self, graph: u64, copy: u64) {
        if let Some(calls) = self.graphs.get(&graph).cloned() {
            self.graphs.insert(copy, calls);
        }
    }

    /// `exec` was instantiated from, or updated from, `graph`.
    pub fn instantiated(&mut self, graph: u64, exec: u64) {
        match self.graphs.get(&graph).cloned() {
            Some(calls) => self.execs.insert(exec, calls),
            None => self.execs.remove(&exec),
        };
    }

    /// `exec` was destroyed.
    pub fn forget_exec(&mut self, exec: u64) {
        self.execs.remove(&exec);
    }

    /// Whether `exec` has host nodes (so it is launched part by part).
    pub fn has_host_nodes(&self, exec: u64) -> bool {
        self.execs.contains_key(&exec)
    }

    /// `exec` was launched into a capture whose graph is `graph`: its host
    /// nodes are now that graph's too.
    pub fn launched_into(&mut self, exec: u64, graph: u64) {
        if let Some(calls) = self.execs.get(&exec).cloned() {
            self.graphs.entry(graph).or_default().extend(calls);
        }
    }
}

fn host_call(f: HostFn, data: *mut c_void) -> CuResult<HostCall> {
    Ok(HostCall {
        f: f.ok_or(result::INVALID_VALUE)?,
        data: data as usize,
    })
}

/// Adds a host node for `call` to `graph` after `deps`; returns the node.
fn add_host_node(
    s: &mut State,
    ctx: u64,
    graph: u64,
    deps: &[u64],
    call: HostCall,
) -> CuResult<u64> {
    let id = s.host_fns.next + 1;
    let req = GraphAddNodeRequest {
        ctx,
        graph,
        dep_count: deps.len() as u32,
        reserved: 0,
        params: NodeParams {
            kind: node_type::HOST,
            function: id,
            ..NodeParams::default()
        },
    };
    let tail: Vec<u8> = deps.iter().flat_map(|d| d.to_le_bytes()).collect();
    let node = s
        .client()?
        .call_cmd::<cmds::GraphAddNode>(&req, &tail, 0)?
        .0
        .handle;
    let h = &mut s.host_fns;
    h.next = id;
    h.graphs.entry(graph).or_default().insert(id, call);
    h.nodes.insert(node, (graph, id));
    Ok(node)
}

/// `cuGraphAddHostNode`.
pub(crate) unsafe fn graph_add_host_node(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
    p: *const c_void,
) -> CuResult {
    let out = out.get()?;
    if p.is_null() || graph.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's struct.
    let call = unsafe {
        let p = &*p.cast::<HostNodeParams>();
        host_call(p.f, p.data)?
    };
    // SAFETY: the caller's array of `n` nodes.
    let deps = unsafe { super::graph::node_list(deps, n)? };
    with_ctx(|s, ctx| {
        let node = add_host_node(s, ctx, graph as u64, &deps, call)?;
        out.write(node as *mut c_void);
        Ok(())
    })
}

/// `cuGraphHostNodeGetParams`.
pub(crate) unsafe fn graph_host_node_get_params(node: *mut c_void, p: *mut c_void) -> CuResult {
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let call = with_state(|s| {
        let h = &s.host_fns;
        let (graph, id) = h.nodes.get(&(node as u64)).ok_or(result::INVALID_VALUE)?;
        h.graphs
            .get(graph)
            .and_then(|c| c.get(id))
            .copied()
            .ok_or(result::INVALID_VALUE)
    })?;
    let p = p.cast::<HostNodeParams>();
    // SAFETY: the caller's struct.
    unsafe {
        (*p).f = Some(call.f);
        (*p).data = call.data as *mut c_void;
    }
    Ok(())
}

/// The call a `CUDA_HOST_NODE_PARAMS` describes.
unsafe fn params_call(p: *const c_void) -> CuResult<HostCall> {
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's struct.
    unsafe {
        let p = &*p.cast::<HostNodeParams>();
        host_call(p.f, p.data)
    }
}

/// `cuGraphHostNodeSetParams`: the graph's node (executable graphs made
/// from it keep theirs).
pub(crate) unsafe fn graph_host_node_set_params(node: *mut c_void, p: *const c_void) -> CuResult {
    // SAFETY: the caller's contract.
    let call = unsafe { params_call(p)? };
    with_state(|s| {
        let h = &mut s.host_fns;
        let (graph, id) = *h.nodes.get(&(node as u64)).ok_or(result::INVALID_VALUE)?;
        let slot = h
            .graphs
            .get_mut(&graph)
            .and_then(|c| c.get_mut(&id))
            .ok_or(result::INVALID_VALUE)?;
        *slot = call;
        Ok(())
    })
}

/// `cuGraphExecHostNodeSetParams`: `node` is the original graph's.
pub(crate) unsafe fn graph_exec_host_node_set_params(
    exec: *mut c_void,
    node: *mut c_void,
    p: *const c_void,
) -> CuResult {
    // SAFETY: the caller's contract.
    let call = unsafe { params_call(p)? };
    with_state(|s| {
        let h = &mut s.host_fns;
        let (_, id) = *h.nodes.get(&(node as u64)).ok_or(result::INVALID_VALUE)?;
        let slot = h
            .execs
            .get_mut(&(exec as u64))
            .and_then(|c| c.get_mut(&id))
            .ok_or(result::INVALID_VALUE)?;
        *slot = call;
        Ok(())
    })
}

/// The graph of `stream`'s capture and the stream's dependencies in it.
fn capture_graph(s: &mut State, stream: CUstream) -> CuResult<(u64, Vec<u64>)> {
    let (host, ctx) = stream_ctx(s, stream)?;
    let req = StreamRequest { ctx, stream: host };
    let c = s.client()?;
    let cap = c.max_tail::<cmds::StreamGetCaptureInfo>();
    let (info, tail) = c.call_cmd::<cmds::StreamGetCaptureInfo>(&req, &[], cap)?;
    let deps = tail
        .chunks_exact(8)
        .take(info.dep_count as usize)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Ok((info.graph, deps))
}

/// Adds a node to `stream`'s capture after the stream's dependencies,
/// which it then replaces: how vgpu captures what the device does not
/// record itself (host functions, external event records and waits).
/// `add` adds the node to (graph, dependencies). A node that cannot be
/// added invalidates the capture, as CUDA's unsupported calls do.
pub(crate) fn capture_node(
    s: &mut State,
    stream: CUstream,
    add: impl FnOnce(&mut State, u64, u64, &[u64]) -> CuResult<u64>,
) -> CuResult {
    let (host, ctx) = stream_ctx(s, stream)?;
    let (graph, deps) = capture_graph(s, stream)?;
    let node = match add(s, ctx, graph, &deps) {
        Ok(n) => n,
        Err(e) => {
            let _ = s.captures.refuse(stream as u64);
            return Err(e);
        }
    };
    let req = uapi::cuda::CaptureDepsRequest {
        ctx,
        stream: host,
        flags: CAPTURE_DEPS_SET,
        count: 1,
    };
    s.client()?
        .call_cmd::<cmds::StreamUpdateCaptureDeps>(&req, &node.to_le_bytes(), 0)
        .map(drop)
}

/// `cuLaunchHostFunc` on a capturing stream: a host node.
pub(crate) fn capture_host_func(
    s: &mut State,
    stream: CUstream,
    f: HostFn,
    data: *mut c_void,
) -> CuResult {
    let call = host_call(f, data)?;
    capture_node(s, stream, |s, ctx, graph, deps| {
        add_host_node(s, ctx, graph, deps, call)
    })
}

/// `exec` (with host nodes) was launched into `stream`'s capture: the
/// capture's graph gets its host calls.
pub(crate) fn launched_into_capture(s: &mut State, exec: u64, stream: CUstream) -> CuResult {
    let (graph, _) = capture_graph(s, stream)?;
    s.host_fns.launched_into(exec, graph);
    Ok(())
}

/// `cuGraphLaunch` of an executable graph with host nodes, outside a
/// capture: part by part, each host function run here in between.
pub(crate) fn launch_in_parts(exec: u64, stream: CUstream) -> CuResult {
    let mut part = 0u32;
    loop {
        let (id, call) = with_state(|s| {
            let (_, ctx) = s.current()?;
            let st = s.stream_host(stream as u64)?;
            let req = GraphLaunchPartRequest {
                ctx,
                exec,
                stream: st,
                part,
                reserved: 0,
            };
            let id = s
                .client()?
                .call_cmd::<cmds::GraphLaunchPart>(&req, &[], 0)?
                .0
                .value;
            let call = s
                .host_fns
                .execs
                .get(&exec)
                .and_then(|c| c.get(&id))
                .copied();
            Ok((id, call))
        })?;
        if id == 0 {
            return Ok(());
        }
        // A host node whose call we do not know is a device fault.
        let call = call.ok_or(result::UNKNOWN)?;
        // SAFETY: the application's `CUhostFn` with its own user data,
        // called as CUDA calls it, with none of our locks held.
        unsafe { (call.f)(call.data as *mut c_void) };
        part = part.checked_add(1).ok_or(result::UNKNOWN)?;
    }
}

#[cfg(test)]
#[path = "host_fn_tests.rs"]
mod tests;
