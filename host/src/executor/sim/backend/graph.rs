//! Stream capture and graphs on the simulator: capture records into
//! [`SimGraphs`]; a launch replays the executable graph's work in order.

use super::*;
use crate::cancel::CancelToken;
use crate::cuda::backend::{CaptureInfo, ExecUpdateError, GraphBackend};
use crate::executor::sim::graph::NodeOp;
use uapi::cuda::{copy_flags, exec_update, node_type, NodeParams};

/// `CUDA_GRAPH_INSTANTIATE_FLAG_*` the simulator honours (auto-free,
/// upload, node priority: nothing to do in submission order).
const INSTANTIATE_FLAGS: u64 = 0x1 | 0x2 | 0x8;
/// `CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH`.
const INSTANTIATE_DEVICE_LAUNCH: u64 = 0x4;

impl SimBackend {
    /// A created stream of this client (captures never run on the default streams).
    fn created_stream(&self, ctx: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)?;
        if stream <= 2 {
            return Err(result::STREAM_CAPTURE_UNSUPPORTED);
        }
        Ok(())
    }

    /// Fails work that cannot be captured on a capturing stream (and
    /// invalidates the capture, as NVIDIA's driver does).
    pub(super) fn refuse_in_capture(&mut self, stream: u64) -> CuResult<()> {
        if self.graphs.is_capturing(stream) {
            Err(self.graphs.invalidate(stream))
        } else {
            Ok(())
        }
    }

    /// The work of a node as the device runs it.
    fn node_op(&self, ctx: u64, p: &NodeParams, kernel_params: &[u8]) -> CuResult<NodeOp> {
        Ok(match p.kind {
            node_type::KERNEL => NodeOp::Kernel {
                launch: LaunchRequest {
                    ctx,
                    stream: 0,
                    function: p.function,
                    grid: p.grid,
                    block: p.block,
                    shared_bytes: p.shared_bytes,
                    param_bytes: kernel_params.len() as u32,
                },
                attrs: Vec::new(),
                params: kernel_params.to_vec(),
            },
            node_type::MEMSET => NodeOp::Memset(MemsetRequest {
                ctx,
                stream: 0,
                dst: p.dst,
                pitch: p.pitch,
                width: p.width,
                height: p.height,
                value: p.value,
                elem_size: p.elem_size,
                flags: copy_flags::ASYNC,
                reserved: 0,
            }),
            node_type::MEMCPY => NodeOp::Copy {
                ctx,
                dst: p.dst,
                src: p.src,
                len: p.width,
            },
            node_type::EMPTY => NodeOp::Empty,
            node_type::HOST => NodeOp::Host(p.function),
            node_type::EVENT_RECORD | node_type::WAIT_EVENT => {
                self.events.get(&p.function).ok_or(result::INVALID_HANDLE)?;
                if p.kind == node_type::EVENT_RECORD {
                    NodeOp::EventRecord(p.function)
                } else {
                    NodeOp::EventWait(p.function)
                }
            }
            _ => return Err(result::NOT_SUPPORTED),
        })
    }

    /// Runs one node's work in `stream`.
    fn run_op(&mut self, op: &NodeOp, stream: u64, cancel: &CancelToken) -> CuResult<()> {
        match op {
            NodeOp::Kernel { launch, params, .. } => {
                let r = LaunchRequest { stream, ..*launch };
                LaunchBackend::launch(self, &r, params, cancel)
            }
            NodeOp::Memset(m) => MemoryBackend::memset(self, &MemsetRequest { stream, ..*m }),
            NodeOp::Copy { ctx, dst, src, len } => {
                MemoryBackend::memcpy_dtod(self, *ctx, stream, *dst, *src, *len, true)
            }
            NodeOp::Empty => Ok(()),
            // Only GRAPH_LAUNCH_PART runs a graph with host nodes.
            NodeOp::Host(_) => Err(result::NOT_SUPPORTED),
            NodeOp::EventRecord(event) => {
                let e = self.events.get_mut(event).ok_or(result::INVALID_HANDLE)?;
                e.recorded = Some(std::time::Instant::now());
                self.graphs.event_recorded(*event, stream);
                Ok(())
            }
            NodeOp::EventWait(_) => Ok(()),
        }
    }
}

impl GraphBackend for SimBackend {
    fn stream_begin_capture(&mut self, ctx: u64, stream: u64, _mode: u32) -> CuResult<u64> {
        self.created_stream(ctx, stream)?;
        let ctx = self.ctx(ctx)?;
        self.graphs.begin(ctx, stream)
    }
    fn stream_end_capture(&mut self, ctx: u64, stream: u64, discard: bool) -> CuResult<u64> {
        self.created_stream(ctx, stream)?;
        self.graphs.end(stream, discard)
    }
    fn stream_get_capture_info(&mut self, ctx: u64, stream: u64) -> CuResult<CaptureInfo> {
        self.stream(ctx, stream)?;
        let (status, id, graph, deps) = self.graphs.info(stream);
        Ok(CaptureInfo {
            status,
            id,
            graph,
            deps,
        })
    }
    fn stream_update_capture_deps(
        &mut self,
        ctx: u64,
        stream: u64,
        nodes: &[u64],
        set: bool,
    ) -> CuResult<()> {
        self.stream(ctx, stream)?;
        self.graphs.update_deps(stream, nodes, set)
    }
    fn graph_create(&mut self, ctx: u64) -> CuResult<u64> {
        let ctx = self.ctx(ctx)?;
        Ok(self.graphs.create(ctx))
    }
    fn graph_destroy(&mut self, ctx: u64, graph: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.graphs.destroy(graph)
    }
    fn graph_clone(&mut self, ctx: u64, graph: u64) -> CuResult<u64> {
        self.ctx(ctx)?;
        self.graphs.clone_graph(graph)
    }
    fn graph_get_nodes(&mut self, ctx: u64, graph: u64) -> CuResult<Vec<u64>> {
        self.ctx(ctx)?;
        self.graphs.nodes_of(graph)
    }
    fn graph_node_get_type(&mut self, ctx: u64, node: u64) -> CuResult<u32> {
        self.ctx(ctx)?;
        self.graphs.op(node).map(NodeOp::kind)
    }
    fn graph_add_node(
        &mut self,
        ctx: u64,
        graph: u64,
        deps: &[u64],
        params: &NodeParams,
        kernel_params: &[u8],
    ) -> CuResult<u64> {
        self.ctx(ctx)?;
        let gctx = self.graphs.graph_ctx(graph)?;
        let op = self.node_op(gctx, params, kernel_params)?;
        self.graphs.add_node(graph, deps, op)
    }
    fn graph_add_dependencies(
        &mut self,
        ctx: u64,
        graph: u64,
        edges: &[(u64, u64)],
    ) -> CuResult<()> {
        self.ctx(ctx)?;
        self.graphs.add_edges(graph, edges)
    }
    fn graph_kernel_node_get_params(
        &mut self,
        ctx: u64,
        node: u64,
    ) -> CuResult<(NodeParams, Vec<u8>)> {
        self.ctx(ctx)?;
        match self.graphs.op(node)? {
            NodeOp::Kernel { launch, params, .. } => Ok((
                NodeParams {
                    kind: node_type::KERNEL,
                    function: launch.function,
                    grid: launch.grid,
                    block: launch.block,
                    shared_bytes: launch.shared_bytes,
                    param_bytes: params.len() as u32,
                    ..NodeParams::default()
                },
                params.clone(),
            )),
            NodeOp::EventRecord(e) | NodeOp::EventWait(e) => {
                let kind = self.graphs.op(node)?.kind();
                Ok((
                    NodeParams {
                        kind,
                        function: *e,
                        ..NodeParams::default()
                    },
                    Vec::new(),
                ))
            }
            _ => Err(result::INVALID_VALUE),
        }
    }
    fn graph_kernel_node_set_params(
        &mut self,
        ctx: u64,
        exec: u64,
        node: u64,
        params: &NodeParams,
        kernel_params: &[u8],
    ) -> CuResult<()> {
        let ctx = self.ctx(ctx)?;
        let op = self.node_op(ctx, params, kernel_params)?;
        self.graphs.set_op(exec, node, op)
    }
    fn graph_instantiate(&mut self, ctx: u64, graph: u64, flags: u64) -> CuResult<u64> {
        self.ctx(ctx)?;
        if flags & INSTANTIATE_DEVICE_LAUNCH != 0 {
            return Err(result::NOT_SUPPORTED);
        }
        if flags & !INSTANTIATE_FLAGS != 0 {
            return Err(result::INVALID_VALUE);
        }
        self.graphs.instantiate(graph)
    }
    fn graph_exec_destroy(&mut self, ctx: u64, exec: u64) -> CuResult<()> {
        self.ctx(ctx)?;
        self.graphs.exec_destroy(exec)
    }
    fn graph_launch(
        &mut self,
        ctx: u64,
        exec: u64,
        stream: u64,
        cancel: &CancelToken,
    ) -> CuResult<()> {
        self.stream(ctx, stream)?;
        let e = self.graphs.exec(exec)?;
        let ops: Vec<NodeOp> = e.order.iter().map(|&i| e.ops[i].clone()).collect();
        if self.graphs.is_capturing(stream) {
            // Launched into a capture: its work joins the capture, in order.
            for op in ops {
                self.graphs.record(stream, op)?;
            }
            return Ok(());
        }
        if ops.iter().any(|op| matches!(op, NodeOp::Host(_))) {
            return Err(result::NOT_SUPPORTED);
        }
        for op in &ops {
            self.run_op(op, stream, cancel)?;
        }
        Ok(())
    }
    fn graph_launch_part(
        &mut self,
        ctx: u64,
        exec: u64,
        stream: u64,
        part: u32,
        cancel: &CancelToken,
    ) -> CuResult<u64> {
        self.stream(ctx, stream)?;
        if self.graphs.is_capturing(stream) {
            return Err(self.graphs.invalidate(stream));
        }
        let (ops, host) = self.graphs.exec_part(exec, part)?;
        for op in &ops {
            self.run_op(op, stream, cancel)?;
        }
        // The simulator runs a stream's work as it is given: the part is done.
        Ok(host)
    }
    fn graph_upload(&mut self, ctx: u64, exec: u64, stream: u64) -> CuResult<()> {
        self.stream(ctx, stream)?;
        self.graphs.exec(exec).map(drop)
    }
    fn graph_exec_update(
        &mut self,
        ctx: u64,
        exec: u64,
        graph: u64,
    ) -> Result<(), ExecUpdateError> {
        self.ctx(ctx).map_err(|code| ExecUpdateError {
            code,
            reason: exec_update::ERROR,
            node: 0,
            from_node: 0,
        })?;
        self.graphs.exec_update(exec, graph)
    }
}
