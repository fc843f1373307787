//! Event record and event wait nodes: `cuGraphAddEventRecordNode`,
//! `cuGraphAddEventWaitNode`, their get/set in graphs and executable graphs,
//! and the external forms in capture (`cuEventRecordWithFlags(...,
//! CU_EVENT_RECORD_EXTERNAL)`, `cuStreamWaitEvent(..., CU_EVENT_WAIT_EXTERNAL)`),
//! which make such nodes where a plain record or wait in capture only marks
//! a fork or join. The device keeps the host event in the node; the guest
//! maps it back to its own handle.

use std::ffi::c_void;

use uapi::cuda::{
    cmds, node_type, result, GraphAddNodeRequest, GraphRequest, NodeParams, NodeSetParamsRequest,
};

use super::{with_ctx, with_state, CuResult, Obj, State};
use crate::driver::abi::{CUstream, Out};

/// `CU_EVENT_RECORD_EXTERNAL`, `CU_EVENT_WAIT_EXTERNAL`.
pub(crate) const EXTERNAL: u32 = 1;

/// Adds an event node of `kind` for guest event `event` to `graph`.
fn add_event_node(
    s: &mut State,
    ctx: u64,
    graph: u64,
    deps: &[u64],
    kind: u32,
    event: u64,
) -> CuResult<u64> {
    let (host, _) = s.event_host(event)?;
    let req = GraphAddNodeRequest {
        ctx,
        graph,
        dep_count: deps.len() as u32,
        reserved: 0,
        params: NodeParams {
            kind,
            function: host,
            ..NodeParams::default()
        },
    };
    let tail: Vec<u8> = deps.iter().flat_map(|d| d.to_le_bytes()).collect();
    Ok(s.client()?
        .call_cmd::<cmds::GraphAddNode>(&req, &tail, 0)?
        .0
        .handle)
}

/// An event node of `kind` on capturing `stream` (the external forms).
pub(crate) fn capture_event_node(
    s: &mut State,
    stream: CUstream,
    kind: u32,
    event: u64,
) -> CuResult {
    s.event_host(event)?;
    super::host_fn::capture_node(s, stream, |s, ctx, graph, deps| {
        add_event_node(s, ctx, graph, deps, kind, event)
    })
}

unsafe fn add<const KIND: u32>(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
    event: *mut c_void,
) -> CuResult {
    let out = out.get()?;
    // SAFETY: the caller's array of `n` nodes.
    let deps = unsafe { super::graph::node_list(deps, n)? };
    with_ctx(|s, ctx| {
        let node = add_event_node(s, ctx, graph as u64, &deps, KIND, event as u64)?;
        out.write(node as *mut c_void);
        Ok(())
    })
}

/// `cuGraphAddEventRecordNode`.
pub(crate) unsafe fn graph_add_event_record_node(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
    event: *mut c_void,
) -> CuResult {
    // SAFETY: the caller's contract.
    unsafe { add::<{ node_type::EVENT_RECORD }>(out, graph, deps, n, event) }
}

/// `cuGraphAddEventWaitNode`.
pub(crate) unsafe fn graph_add_event_wait_node(
    out: Out<'_, *mut c_void>,
    graph: *mut c_void,
    deps: *const u64,
    n: usize,
    event: *mut c_void,
) -> CuResult {
    // SAFETY: the caller's contract.
    unsafe { add::<{ node_type::WAIT_EVENT }>(out, graph, deps, n, event) }
}

/// The guest event of an event node of `kind`.
fn get<const KIND: u32>(node: *mut c_void, out: Out<'_, *mut c_void>) -> CuResult {
    with_ctx(|s, ctx| {
        let out = out.get()?;
        let req = GraphRequest {
            ctx,
            handle: node as u64,
            flags: 0,
        };
        let c = s.client()?;
        let cap = c.max_tail::<cmds::GraphKernelNodeGetParams>();
        let (resp, _) = c.call_cmd::<cmds::GraphKernelNodeGetParams>(&req, &[], cap)?;
        if resp.params.kind != KIND {
            return Err(result::INVALID_VALUE);
        }
        let host = resp.params.function;
        let ev = s
            .objects
            .iter()
            .find_map(|(h, o)| matches!(o, Obj::Event { host: x, .. } if *x == host).then_some(*h))
            .ok_or(result::INVALID_VALUE)?;
        out.write(ev as *mut c_void);
        Ok(())
    })
}

pub(crate) fn graph_event_record_node_get_event(
    node: *mut c_void,
    out: Out<'_, *mut c_void>,
) -> CuResult {
    get::<{ node_type::EVENT_RECORD }>(node, out)
}

pub(crate) fn graph_event_wait_node_get_event(
    node: *mut c_void,
    out: Out<'_, *mut c_void>,
) -> CuResult {
    get::<{ node_type::WAIT_EVENT }>(node, out)
}

/// Sets the event of an event node of `kind`, in `exec` if not NULL.
fn set<const KIND: u32>(exec: *mut c_void, node: *mut c_void, event: *mut c_void) -> CuResult {
    with_state(|s| {
        let (_, ctx) = s.current()?;
        let (host, _) = s.event_host(event as u64)?;
        let req = NodeSetParamsRequest {
            ctx,
            exec: exec as u64,
            node: node as u64,
            params: NodeParams {
                kind: KIND,
                function: host,
                ..NodeParams::default()
            },
        };
        s.client()?
            .call_cmd::<cmds::GraphKernelNodeSetParams>(&req, &[], 0)
            .map(drop)
    })
}

pub(crate) fn graph_event_record_node_set_event(node: *mut c_void, event: *mut c_void) -> CuResult {
    set::<{ node_type::EVENT_RECORD }>(std::ptr::null_mut(), node, event)
}

pub(crate) fn graph_event_wait_node_set_event(node: *mut c_void, event: *mut c_void) -> CuResult {
    set::<{ node_type::WAIT_EVENT }>(std::ptr::null_mut(), node, event)
}

pub(crate) fn graph_exec_event_record_node_set_event(
    exec: *mut c_void,
    node: *mut c_void,
    event: *mut c_void,
) -> CuResult {
    if exec.is_null() {
        return Err(result::INVALID_VALUE);
    }
    set::<{ node_type::EVENT_RECORD }>(exec, node, event)
}

pub(crate) fn graph_exec_event_wait_node_set_event(
    exec: *mut c_void,
    node: *mut c_void,
    event: *mut c_void,
) -> CuResult {
    if exec.is_null() {
        return Err(result::INVALID_VALUE);
    }
    set::<{ node_type::WAIT_EVENT }>(exec, node, event)
}
