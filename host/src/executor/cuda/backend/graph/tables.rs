//! The graph objects of one client on NVIDIA's driver: graphs, nodes and
//! executable graphs behind handles, and the lookups both ways.

use super::super::*;
use super::CUDA_SUCCESS_CODE;
use crate::executor::cuda::graph_abi::{CUgraph, CUgraphExec, CUgraphNode, KernelNodeParams};
use std::ffi::c_int;
use uapi::cuda::NodeParams;

/// A graph of the client (made by capture, creation or cloning).
pub(in crate::executor::cuda::backend) struct Graph {
    pub(super) raw: CUgraph,
    pub(super) ctx: u64,
}

/// A node seen by the client (its graph's handle, for cleanup).
pub(in crate::executor::cuda::backend) struct Node {
    pub(super) raw: CUgraphNode,
    pub(super) graph: u64,
}

/// An executable graph.
pub(in crate::executor::cuda::backend) struct Exec {
    pub(super) raw: CUgraphExec,
    pub(super) ctx: u64,
    /// With host nodes: its parts, launched one by one (`parts.rs`).
    pub(super) parts: Vec<Part>,
}

/// One part of an executable graph with host nodes.
pub(in crate::executor::cuda::backend) struct Part {
    /// NULL when the part has no nodes.
    pub(super) raw: CUgraphExec,
    /// The guest's id of the host node that ends it (0: the last part).
    pub(super) host: u64,
}

/// The graph objects of one client.
pub(in crate::executor::cuda::backend) struct GraphTables {
    pub(super) graphs: HandleTable<Graph>,
    pub(super) nodes: HandleTable<Node>,
    /// Raw node → handle (nodes come back from the driver by pointer).
    pub(super) node_of: HashMap<usize, u64>,
    pub(super) execs: HandleTable<Exec>,
    /// Raw host node → the guest's id for it.
    pub(super) host_nodes: HashMap<usize, u64>,
}

impl Default for GraphTables {
    fn default() -> Self {
        Self {
            graphs: HandleTable::new(tag::GRAPH),
            nodes: HandleTable::new(tag::GRAPH_NODE),
            node_of: HashMap::new(),
            execs: HandleTable::new(tag::GRAPH_EXEC),
            host_nodes: HashMap::new(),
        }
    }
}

impl GpuClient {
    /// Whether `raw` (a created stream) is capturing now.
    pub(in crate::executor::cuda::backend) fn capturing(&self, raw: CUstream) -> bool {
        let Some(f) = self.driver.api().stream_is_capturing else {
            return false;
        };
        if raw.is_null() {
            return false;
        }
        let mut status: c_int = 0;
        // SAFETY: live stream of the current context; valid out-pointer.
        let rc = unsafe { f(raw, &mut status) };
        rc == CUDA_SUCCESS_CODE && status != 0
    }

    pub(super) fn graph_raw(&self, graph: u64) -> CuResult<CUgraph> {
        self.graph
            .graphs
            .get(graph)
            .map(|g| g.raw)
            .ok_or(INVALID_VALUE)
    }

    pub(super) fn node_raw(&self, node: u64) -> CuResult<CUgraphNode> {
        self.graph
            .nodes
            .get(node)
            .map(|n| n.raw)
            .ok_or(INVALID_VALUE)
    }

    pub(super) fn exec_raw(&self, exec: u64) -> CuResult<CUgraphExec> {
        self.graph
            .execs
            .get(exec)
            .map(|e| e.raw)
            .ok_or(INVALID_VALUE)
    }

    /// The handle of a graph the driver handed back (known, or new).
    pub(super) fn graph_handle(&mut self, raw: CUgraph, ctx: u64) -> u64 {
        let known = self
            .graph
            .graphs
            .iter()
            .find(|(_, g)| g.raw == raw)
            .map(|(h, _)| h);
        match known {
            Some(h) => h,
            None => self.graph.graphs.insert(Graph { raw, ctx }),
        }
    }

    /// The handle of a node the driver handed back (known, or new).
    pub(super) fn node_handle(&mut self, raw: CUgraphNode, graph: u64) -> u64 {
        if let Some(h) = self.graph.node_of.get(&(raw as usize)) {
            return *h;
        }
        let h = self.graph.nodes.insert(Node { raw, graph });
        self.graph.node_of.insert(raw as usize, h);
        h
    }

    pub(super) fn forget_graph(&mut self, graph: u64) {
        self.graph.graphs.remove(graph);
        let gone = self.graph.nodes.remove_where(|n| n.graph == graph);
        for (_, n) in gone {
            self.graph.node_of.remove(&(n.raw as usize));
            self.graph.host_nodes.remove(&(n.raw as usize));
        }
    }

    /// Destroys the graphs and executable graphs of context `key` (its teardown).
    pub(in crate::executor::cuda::backend) fn release_graphs(&mut self, key: u64) {
        let api = *self.driver.api();
        for (_, e) in self.graph.execs.remove_where(|e| e.ctx == key) {
            if let Some(f) = api.graph_exec_destroy {
                // SAFETY: our executable graph, destroyed once.
                let _ = unsafe { f(e.raw) };
            }
            self.destroy_parts(e.parts);
        }
        let graphs: Vec<u64> = self
            .graph
            .graphs
            .iter()
            .filter(|(_, g)| g.ctx == key)
            .map(|(h, _)| h)
            .collect();
        for h in graphs {
            if let (Some(f), Ok(raw)) = (api.graph_destroy, self.graph_raw(h)) {
                // SAFETY: our graph, destroyed once.
                let _ = unsafe { f(raw) };
            }
            self.forget_graph(h);
        }
    }

    /// Kernel node parameters for the driver: one pointer per parameter
    /// into an 8-aligned copy of the packed bytes (which must outlive the call).
    pub(super) fn kernel_node(
        &self,
        p: &NodeParams,
        bytes: &[u8],
        storage: &mut Vec<u64>,
        ptrs: &mut Vec<*mut c_void>,
    ) -> CuResult<KernelNodeParams> {
        let f = self.functions.get(p.function).ok_or(INVALID_HANDLE)?;
        storage.clear();
        storage.resize(bytes.len().div_ceil(8).max(1), 0);
        // SAFETY: the storage holds at least `bytes.len()` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), storage.as_mut_ptr().cast(), bytes.len())
        };
        let base: *mut u8 = storage.as_mut_ptr().cast();
        ptrs.clear();
        for info in &f.layout {
            // SAFETY: offsets lie inside the packed bytes (checked against the layout).
            ptrs.push(unsafe { base.add(info.offset as usize) }.cast());
        }
        let mut k = KernelNodeParams::zeroed();
        k.func = f.raw;
        k.grid = p.grid;
        k.block = p.block;
        k.shared_mem_bytes = p.shared_bytes;
        k.kernel_params = ptrs.as_mut_ptr();
        Ok(k)
    }
}
