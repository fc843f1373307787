//! Stream capture and graphs on NVIDIA's driver: the host stream captures
//! for real (relaxed: the guest applies the mode rules), so the driver
//! builds the graph; graphs, nodes and executable graphs map to handles.

mod events;
mod parts;
mod tables;

use super::*;
use crate::cancel::CancelToken;
use crate::cuda::backend::{CaptureInfo, ExecUpdateError, GraphBackend};
use crate::executor::cuda::driver::{CU_LAUNCH_PARAM_BUFFER_POINTER, CU_LAUNCH_PARAM_END};
use crate::executor::cuda::graph_abi::{
    CUgraph, CUgraphExec, CUgraphNode, ExecUpdateResultInfo, KernelNodeParams, Memcpy3D,
    MemsetNodeParams,
};
use std::ffi::c_int;
pub(super) use tables::GraphTables;
use tables::{Exec, Graph};
use uapi::cuda::result::STREAM_CAPTURE_UNSUPPORTED;
use uapi::cuda::{capture_mode, exec_update, node_type, NodeParams};

/// `CU_MEMORYTYPE_DEVICE` for copy nodes.
const MEMORY_DEVICE: u32 = CU_MEMORYTYPE_DEVICE;

fn need<T>(f: Option<T>) -> CuResult<T> {
    f.ok_or(NOT_SUPPORTED)
}

/// `CUDA_SUCCESS` (the driver's type).
pub(super) const CUDA_SUCCESS_CODE: u32 = 0;

impl GraphBackend for GpuClient {
    fn stream_begin_capture(&mut self, ctx: u64, stream: u64, _mode: u32) -> CuResult<u64> {
        if is_default_stream(stream) {
            return Err(STREAM_CAPTURE_UNSUPPORTED);
        }
        let raw = self.enter_stream(ctx, stream)?;
        let api = *self.driver.api();
        let begin = need(api.stream_begin_capture)?;
        // SAFETY: live stream of the current context.
        check(unsafe { begin(raw, capture_mode::RELAXED as c_int) })?;
        let mut status: c_int = 0;
        let mut id: u64 = 0;
        if let Some(info) = api.stream_get_capture_info {
            // SAFETY: valid out-pointers; NULL ones are optional.
            let _ = unsafe {
                info(
                    raw,
                    &mut status,
                    &mut id,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
        Ok(id)
    }
    fn stream_end_capture(&mut self, ctx: u64, stream: u64, discard: bool) -> CuResult<u64> {
        if is_default_stream(stream) {
            return Err(STREAM_CAPTURE_UNSUPPORTED);
        }
        let raw = self.enter_stream(ctx, stream)?;
        let key = self
            .streams
            .get(stream)
            .map(|s| s.ctx)
            .ok_or(INVALID_HANDLE)?;
        let end = need(self.driver.api().stream_end_capture)?;
        let mut graph: CUgraph = std::ptr::null_mut();
        // SAFETY: live stream; valid out-pointer.
        let rc = unsafe { end(raw, &mut graph) };
        // A graph the capture had handed out (capture info) is now the caller's.
        let h = (!graph.is_null()).then(|| self.graph_handle(graph, key));
        check(rc)?;
        let h = h.ok_or(UNKNOWN)?;
        if discard {
            self.graph_destroy(ctx, h)?;
            return Err(uapi::cuda::result::STREAM_CAPTURE_INVALIDATED);
        }
        Ok(h)
    }
    fn stream_get_capture_info(&mut self, ctx: u64, stream: u64) -> CuResult<CaptureInfo> {
        let raw = self.enter_stream(ctx, stream)?;
        if raw.is_null() {
            return Ok(CaptureInfo::default());
        }
        let key = self
            .streams
            .get(stream)
            .map(|s| s.ctx)
            .ok_or(INVALID_HANDLE)?;
        let info = need(self.driver.api().stream_get_capture_info)?;
        let (mut status, mut id, mut graph) = (0 as c_int, 0u64, std::ptr::null_mut());
        let (mut deps, mut n): (*const CUgraphNode, usize) = (std::ptr::null(), 0);
        // SAFETY: valid out-pointers; edge data not asked for.
        check(unsafe {
            info(
                raw,
                &mut status,
                &mut id,
                &mut graph,
                &mut deps,
                std::ptr::null_mut(),
                &mut n,
            )
        })?;
        let mut out = CaptureInfo {
            status: status as u32,
            id,
            ..CaptureInfo::default()
        };
        if status == 0 || graph.is_null() {
            return Ok(out);
        }
        out.graph = self.graph_handle(graph, key);
        let raw_deps: Vec<CUgraphNode> = if deps.is_null() || n == 0 {
            Vec::new()
        } else {
            // SAFETY: the driver's array of `n` nodes, valid until the next call on the stream.
            unsafe { std::slice::from_raw_parts(deps, n) }.to_vec()
        };
        out.deps = raw_deps
            .into_iter()
            .map(|d| self.node_handle(d, out.graph))
            .collect();
        Ok(out)
    }
    fn stream_update_capture_deps(
        &mut self,
        ctx: u64,
        stream: u64,
        nodes: &[u64],
        set: bool,
    ) -> CuResult<()> {
        let raw = self.enter_stream(ctx, stream)?;
        let mut raws = nodes
            .iter()
            .map(|n| self.node_raw(*n))
            .collect::<CuResult<Vec<_>>>()?;
        let f = need(self.driver.api().stream_update_capture_deps)?;
        // SAFETY: live stream; `raws` holds `len` nodes for the call.
        check(unsafe { f(raw, raws.as_mut_ptr(), raws.len(), u32::from(set)) })
    }
    fn graph_create(&mut self, ctx: u64) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let f = need(self.driver.api().graph_create)?;
        let mut raw: CUgraph = std::ptr::null_mut();
        // SAFETY: valid out-pointer.
        check(unsafe { f(&mut raw, 0) })?;
        Ok(self.graph.graphs.insert(Graph { raw, ctx: key }))
    }
    fn graph_destroy(&mut self, ctx: u64, graph: u64) -> CuResult<()> {
        self.enter(ctx)?;
        let raw = self.graph_raw(graph)?;
        let f = need(self.driver.api().graph_destroy)?;
        // SAFETY: our graph, destroyed once (forgotten below).
        check(unsafe { f(raw) })?;
        self.forget_graph(graph);
        Ok(())
    }
    fn graph_clone(&mut self, ctx: u64, graph: u64) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let raw = self.graph_raw(graph)?;
        let f = need(self.driver.api().graph_clone)?;
        let mut copy: CUgraph = std::ptr::null_mut();
        // SAFETY: our graph; valid out-pointer.
        check(unsafe { f(&mut copy, raw) })?;
        self.clone_host_nodes(graph, copy);
        Ok(self.graph.graphs.insert(Graph {
            raw: copy,
            ctx: key,
        }))
    }
    fn graph_get_nodes(&mut self, ctx: u64, graph: u64) -> CuResult<Vec<u64>> {
        self.enter(ctx)?;
        let raw = self.graph_raw(graph)?;
        let f = need(self.driver.api().graph_get_nodes)?;
        let mut n: usize = 0;
        // SAFETY: NULL array asks for the count.
        check(unsafe { f(raw, std::ptr::null_mut(), &mut n) })?;
        let mut raws: Vec<CUgraphNode> = vec![std::ptr::null_mut(); n];
        // SAFETY: room for `n` nodes.
        check(unsafe { f(raw, raws.as_mut_ptr(), &mut n) })?;
        raws.truncate(n);
        Ok(raws
            .into_iter()
            .map(|r| self.node_handle(r, graph))
            .collect())
    }
    fn graph_node_get_type(&mut self, ctx: u64, node: u64) -> CuResult<u32> {
        self.enter(ctx)?;
        let raw = self.node_raw(node)?;
        let f = need(self.driver.api().graph_node_get_type)?;
        let mut t: c_int = 0;
        // SAFETY: our node; valid out-pointer.
        check(unsafe { f(raw, &mut t) })?;
        Ok(t as u32)
    }
    fn graph_add_node(
        &mut self,
        ctx: u64,
        graph: u64,
        deps: &[u64],
        params: &NodeParams,
        kernel_params: &[u8],
    ) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let g = self.graph_raw(graph)?;
        let raw_deps = deps
            .iter()
            .map(|n| self.node_raw(*n))
            .collect::<CuResult<Vec<_>>>()?;
        let (d, nd) = (raw_deps.as_ptr(), raw_deps.len());
        let api = *self.driver.api();
        let ctx_raw = self.ctx_raw(key)?;
        let mut node: CUgraphNode = std::ptr::null_mut();
        match params.kind {
            node_type::KERNEL => {
                let (mut storage, mut ptrs) = (Vec::new(), Vec::new());
                let k = self.kernel_node(params, kernel_params, &mut storage, &mut ptrs)?;
                let f = need(api.graph_add_kernel_node)?;
                // SAFETY: our graph and nodes; `k` and what it points to outlive the call.
                check(unsafe { f(&mut node, g, d, nd, &k) })?;
            }
            node_type::MEMSET => {
                let m = MemsetNodeParams {
                    dst: params.dst,
                    pitch: to_usize(params.pitch)?,
                    value: params.value,
                    element_size: params.elem_size,
                    width: to_usize(params.width)?,
                    height: to_usize(params.height)?,
                };
                let f = need(api.graph_add_memset_node)?;
                // SAFETY: as above; the memset's target is checked when it runs.
                check(unsafe { f(&mut node, g, d, nd, &m, ctx_raw) })?;
            }
            node_type::MEMCPY => {
                let width = to_usize(params.width)?;
                let c = Memcpy3D {
                    src_memory_type: MEMORY_DEVICE,
                    src_device: params.src,
                    dst_memory_type: MEMORY_DEVICE,
                    dst_device: params.dst,
                    extent: [width, 1, 1],
                    ..Memcpy3D::default()
                };
                let f = need(api.graph_add_memcpy_node)?;
                // SAFETY: as above.
                check(unsafe { f(&mut node, g, d, nd, &c, ctx_raw) })?;
            }
            node_type::EMPTY | node_type::HOST => {
                let f = need(api.graph_add_empty_node)?;
                // SAFETY: as above.
                check(unsafe { f(&mut node, g, d, nd) })?;
                if params.kind == node_type::HOST {
                    // The guest runs it; the node keeps its place (parts.rs).
                    self.graph.host_nodes.insert(node as usize, params.function);
                }
            }
            node_type::EVENT_RECORD | node_type::WAIT_EVENT => {
                node = self.add_event_node(params.kind, g, &raw_deps, params.function)?;
            }
            _ => return Err(NOT_SUPPORTED),
        }
        Ok(self.node_handle(node, graph))
    }
    fn graph_add_dependencies(
        &mut self,
        ctx: u64,
        graph: u64,
        edges: &[(u64, u64)],
    ) -> CuResult<()> {
        self.enter(ctx)?;
        let g = self.graph_raw(graph)?;
        let from = edges
            .iter()
            .map(|e| self.node_raw(e.0))
            .collect::<CuResult<Vec<_>>>()?;
        let to = edges
            .iter()
            .map(|e| self.node_raw(e.1))
            .collect::<CuResult<Vec<_>>>()?;
        let f = need(self.driver.api().graph_add_dependencies)?;
        // SAFETY: our graph; both arrays hold `len` nodes.
        check(unsafe { f(g, from.as_ptr(), to.as_ptr(), from.len()) })
    }
    fn graph_kernel_node_get_params(
        &mut self,
        ctx: u64,
        node: u64,
    ) -> CuResult<(NodeParams, Vec<u8>)> {
        self.enter(ctx)?;
        let raw = self.node_raw(node)?;
        let kind = self.graph_node_get_type(ctx, node)?;
        if kind == node_type::EVENT_RECORD || kind == node_type::WAIT_EVENT {
            let params = NodeParams {
                kind,
                function: self.event_node_event(kind, raw)?,
                ..NodeParams::default()
            };
            return Ok((params, Vec::new()));
        }
        let f = need(self.driver.api().graph_kernel_node_get_params)?;
        let mut k = KernelNodeParams::zeroed();
        // SAFETY: our node; valid out-pointer.
        check(unsafe { f(raw, &mut k) })?;
        let (function, layout) = self
            .functions
            .iter()
            .find(|(_, f)| f.raw == k.func)
            .map(|(h, f)| (h, f.layout.clone()))
            .ok_or(NOT_SUPPORTED)?;
        let end = layout
            .iter()
            .map(|p| p.offset as usize + p.size as usize)
            .max()
            .unwrap_or(0);
        let mut bytes = vec![0u8; end];
        if !k.kernel_params.is_null() {
            for (i, p) in layout.iter().enumerate() {
                // SAFETY: the node owns one argument pointer per parameter,
                // each to `p.size` bytes.
                unsafe {
                    let arg = *k.kernel_params.add(i);
                    std::ptr::copy_nonoverlapping(
                        arg.cast::<u8>(),
                        bytes.as_mut_ptr().add(p.offset as usize),
                        p.size as usize,
                    );
                }
            }
        } else if !k.extra.is_null() {
            // SAFETY: a `CU_LAUNCH_PARAM_*` list owned by the node, ending in END.
            unsafe {
                let mut at = k.extra;
                while *at as usize != CU_LAUNCH_PARAM_END {
                    if *at as usize == CU_LAUNCH_PARAM_BUFFER_POINTER {
                        std::ptr::copy_nonoverlapping(
                            (*at.add(1)).cast::<u8>(),
                            bytes.as_mut_ptr(),
                            end,
                        );
                    }
                    at = at.add(2);
                }
            }
        }
        let params = NodeParams {
            kind: node_type::KERNEL,
            function,
            grid: k.grid,
            block: k.block,
            shared_bytes: k.shared_mem_bytes,
            param_bytes: end as u32,
            ..NodeParams::default()
        };
        Ok((params, bytes))
    }
    fn graph_kernel_node_set_params(
        &mut self,
        ctx: u64,
        exec: u64,
        node: u64,
        params: &NodeParams,
        kernel_params: &[u8],
    ) -> CuResult<()> {
        self.enter(ctx)?;
        let raw = self.node_raw(node)?;
        if params.kind == node_type::EVENT_RECORD || params.kind == node_type::WAIT_EVENT {
            if self.has_parts(exec) {
                return Err(NOT_SUPPORTED);
            }
            let e = match exec {
                0 => None,
                h => Some(self.exec_raw(h)?),
            };
            return self.set_event_node_event(params.kind, e, raw, params.function);
        }
        let (mut storage, mut ptrs) = (Vec::new(), Vec::new());
        let k = self.kernel_node(params, kernel_params, &mut storage, &mut ptrs)?;
        let api = *self.driver.api();
        if exec == 0 {
            let f = need(api.graph_kernel_node_set_params)?;
            // SAFETY: our node; `k` and what it points to outlive the call.
            return check(unsafe { f(raw, &k) });
        }
        let e = self
            .graph
            .execs
            .get(exec)
            .map(|e| e.raw)
            .ok_or(INVALID_VALUE)?;
        if self.has_parts(exec) {
            // Its parts were made from clones that are gone.
            return Err(NOT_SUPPORTED);
        }
        let f = need(api.graph_exec_kernel_node_set_params)?;
        // SAFETY: as above, on our executable graph.
        check(unsafe { f(e, raw, &k) })
    }
    fn graph_instantiate(&mut self, ctx: u64, graph: u64, flags: u64) -> CuResult<u64> {
        let key = self.enter(ctx)?;
        let g = self.graph_raw(graph)?;
        let f = need(self.driver.api().graph_instantiate)?;
        let mut raw: CUgraphExec = std::ptr::null_mut();
        // SAFETY: our graph; valid out-pointer; flags are the driver's to check.
        check(unsafe { f(&mut raw, g, flags) }).inspect_err(|rc| {
            tracing::debug!(
                rc,
                flags,
                "cuGraphInstantiateWithFlags of the whole graph failed"
            );
        })?;
        let parts = match self.instantiate_parts(graph, g, flags) {
            Ok(p) => p,
            Err(e) => {
                if let Some(d) = self.driver.api().graph_exec_destroy {
                    // SAFETY: the executable graph just made, destroyed once.
                    let _ = unsafe { d(raw) };
                }
                return Err(e);
            }
        };
        Ok(self.graph.execs.insert(Exec {
            raw,
            ctx: key,
            parts,
        }))
    }
    fn graph_exec_destroy(&mut self, ctx: u64, exec: u64) -> CuResult<()> {
        self.enter(ctx)?;
        let raw = self.exec_raw(exec)?;
        let f = need(self.driver.api().graph_exec_destroy)?;
        // SAFETY: our executable graph, destroyed once (forgotten below).
        check(unsafe { f(raw) })?;
        if let Some(e) = self.graph.execs.remove(exec) {
            self.destroy_parts(e.parts);
        }
        Ok(())
    }
    fn graph_launch(
        &mut self,
        ctx: u64,
        exec: u64,
        stream: u64,
        _cancel: &CancelToken,
    ) -> CuResult<()> {
        let s = self.enter_stream(ctx, stream)?;
        let raw = self.exec_raw(exec)?;
        if self.has_parts(exec) {
            // Its host nodes need the guest: GRAPH_LAUNCH_PART. Into a
            // capture, the driver would not keep them as host nodes.
            return Err(NOT_SUPPORTED);
        }
        let f = need(self.driver.api().graph_launch)?;
        // SAFETY: our executable graph and stream.
        check(unsafe { f(raw, s) })
    }
    fn graph_launch_part(
        &mut self,
        ctx: u64,
        exec: u64,
        stream: u64,
        part: u32,
        _cancel: &CancelToken,
    ) -> CuResult<u64> {
        let s = self.enter_stream(ctx, stream)?;
        if self.capturing(s) {
            return Err(STREAM_CAPTURE_UNSUPPORTED);
        }
        self.launch_part(exec, s, part)
    }
    fn graph_upload(&mut self, ctx: u64, exec: u64, stream: u64) -> CuResult<()> {
        let s = self.enter_stream(ctx, stream)?;
        let raw = self.exec_raw(exec)?;
        let f = need(self.driver.api().graph_upload)?;
        // SAFETY: as above.
        check(unsafe { f(raw, s) })
    }
    fn graph_exec_update(
        &mut self,
        ctx: u64,
        exec: u64,
        graph: u64,
    ) -> Result<(), ExecUpdateError> {
        let fail = |code| ExecUpdateError {
            code,
            reason: exec_update::ERROR,
            node: 0,
            from_node: 0,
        };
        self.enter(ctx).map_err(fail)?;
        let e = self.exec_raw(exec).map_err(fail)?;
        let g = self.graph_raw(graph).map_err(fail)?;
        if self.has_parts(exec) || self.has_host_nodes(graph) {
            // Parts would have to be made again: instantiate instead.
            return Err(fail(NOT_SUPPORTED));
        }
        let f = need(self.driver.api().graph_exec_update).map_err(fail)?;
        let mut info = ExecUpdateResultInfo {
            result: 0,
            error_node: std::ptr::null_mut(),
            error_from_node: std::ptr::null_mut(),
        };
        // SAFETY: our executable graph and graph; valid out-pointer.
        let rc = unsafe { f(e, g, &mut info) };
        if rc == CUDA_SUCCESS_CODE {
            return Ok(());
        }
        let lookup = |n: CUgraphNode| self.graph.node_of.get(&(n as usize)).copied().unwrap_or(0);
        Err(ExecUpdateError {
            code: rc,
            reason: info.result,
            node: lookup(info.error_node),
            from_node: lookup(info.error_from_node),
        })
    }
}
