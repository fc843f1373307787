//! Host nodes on NVIDIA's driver. A host node is an empty node here, with
//! the guest's id beside it; the guest runs the function. An executable
//! graph with host nodes is also instantiated part by part: the graph's
//! nodes in one order that respects every edge, cut at each host node; each
//! part is a clone of the graph with every node outside the part removed
//! (edges into earlier parts are met by running the parts in turn).

use super::super::*;
use super::tables::Part;
use crate::executor::cuda::graph_abi::{CUgraph, CUgraphExec, CUgraphNode};

/// Logs which driver call failed (a part that cannot be made fails the
/// instantiation with the driver's code; the log says where).
fn failed(what: &'static str) -> impl Fn(&crate::cuda::CuError) {
    move |rc| tracing::debug!(rc, what, "graph parts: a driver call failed")
}

impl GpuClient {
    /// The guest's id if `raw` is a host node.
    pub(super) fn host_id(&self, raw: CUgraphNode) -> Option<u64> {
        self.graph.host_nodes.get(&(raw as usize)).copied()
    }

    /// Whether executable graph `exec` has host nodes (so parts).
    pub(super) fn has_parts(&self, exec: u64) -> bool {
        self.graph
            .execs
            .get(exec)
            .is_some_and(|e| !e.parts.is_empty())
    }

    /// Whether `graph` has host nodes (of those the client has seen).
    pub(super) fn has_host_nodes(&self, graph: u64) -> bool {
        !self.graph.host_nodes.is_empty()
            && self
                .graph
                .nodes
                .iter()
                .any(|(_, n)| n.graph == graph && self.host_id(n.raw).is_some())
    }

    /// `copy` was cloned from `graph`: its twins of host nodes are host nodes.
    pub(super) fn clone_host_nodes(&mut self, graph: u64, copy: CUgraph) {
        if !self.has_host_nodes(graph) {
            return;
        }
        let Some(find) = self.driver.api().graph_node_find_in_clone else {
            return;
        };
        let hosts: Vec<(CUgraphNode, u64)> = self
            .graph
            .nodes
            .iter()
            .filter(|(_, n)| n.graph == graph)
            .filter_map(|(_, n)| self.host_id(n.raw).map(|id| (n.raw, id)))
            .collect();
        for (raw, id) in hosts {
            let mut twin: CUgraphNode = std::ptr::null_mut();
            // SAFETY: a node of the original graph, `copy` its clone.
            if check(unsafe { find(&mut twin, raw, copy) }).is_ok() {
                self.graph.host_nodes.insert(twin as usize, id);
            }
        }
    }

    /// Every node of `g` and its dependencies, by raw pointer.
    fn topology(&self, g: CUgraph) -> CuResult<Vec<(CUgraphNode, Vec<CUgraphNode>)>> {
        let api = *self.driver.api();
        let (get_nodes, get_edges) = (
            api.graph_get_nodes.ok_or(NOT_SUPPORTED)?,
            api.graph_get_edges.ok_or(NOT_SUPPORTED)?,
        );
        let mut n: usize = 0;
        // SAFETY: NULL array asks for the count.
        check(unsafe { get_nodes(g, std::ptr::null_mut(), &mut n) })
            .inspect_err(failed("cuGraphGetNodes"))?;
        let mut nodes: Vec<CUgraphNode> = vec![std::ptr::null_mut(); n];
        // SAFETY: room for `n` nodes.
        check(unsafe { get_nodes(g, nodes.as_mut_ptr(), &mut n) })
            .inspect_err(failed("cuGraphGetNodes"))?;
        nodes.truncate(n);
        let mut e: usize = 0;
        let null: CUgraphNode = std::ptr::null_mut();
        let no_data = std::ptr::null_mut();
        // SAFETY: NULL arrays ask for the count.
        check(unsafe {
            get_edges(
                g,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                no_data,
                &mut e,
            )
        })
        .inspect_err(failed("cuGraphGetEdges_v2"))?;
        let (mut from, mut to) = (vec![null; e], vec![null; e]);
        // SAFETY: room for `e` edges at each end; no edge data asked for.
        check(unsafe { get_edges(g, from.as_mut_ptr(), to.as_mut_ptr(), no_data, &mut e) })
            .inspect_err(failed("cuGraphGetEdges_v2"))?;
        let index: HashMap<usize, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (*n as usize, i))
            .collect();
        let mut out: Vec<(CUgraphNode, Vec<CUgraphNode>)> =
            nodes.into_iter().map(|n| (n, Vec::new())).collect();
        for (f, t) in from.into_iter().zip(to).take(e) {
            let Some(&i) = index.get(&(t as usize)) else {
                tracing::debug!("graph parts: an edge ends outside the graph's nodes");
                return Err(UNKNOWN);
            };
            out[i].1.push(f);
        }
        Ok(out)
    }

    /// The parts of `g` if it has host nodes (else none): each part's
    /// nodes, in launch order, and the id of the host node that ends it.
    fn cut(&self, g: CUgraph) -> CuResult<Vec<(Vec<CUgraphNode>, u64)>> {
        let topo = self.topology(g)?;
        if !topo.iter().any(|(n, _)| self.host_id(*n).is_some()) {
            return Ok(Vec::new());
        }
        let index: HashMap<usize, usize> = topo
            .iter()
            .enumerate()
            .map(|(i, (n, _))| (*n as usize, i))
            .collect();
        let mut pending: Vec<usize> = topo.iter().map(|(_, d)| d.len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); topo.len()];
        for (i, (_, deps)) in topo.iter().enumerate() {
            for d in deps {
                let j = *index.get(&(*d as usize)).ok_or(UNKNOWN)?;
                dependents[j].push(i);
            }
        }
        let mut ready: Vec<usize> = (0..topo.len()).rev().filter(|&i| pending[i] == 0).collect();
        let (mut parts, mut current, mut seen) = (Vec::new(), Vec::new(), 0usize);
        while let Some(i) = ready.pop() {
            seen += 1;
            let node = topo[i].0;
            match self.host_id(node) {
                Some(id) => parts.push((std::mem::take(&mut current), id)),
                None => current.push(node),
            }
            for &j in dependents[i].iter().rev() {
                pending[j] -= 1;
                if pending[j] == 0 {
                    ready.push(j);
                }
            }
        }
        if seen != topo.len() {
            tracing::debug!(
                seen,
                nodes = topo.len(),
                "graph parts: the graph has a cycle"
            );
            return Err(INVALID_VALUE);
        }
        parts.push((current, 0));
        Ok(parts)
    }

    /// Instantiates the parts of `graph` (raw `g`): none without host nodes.
    pub(super) fn instantiate_parts(
        &self,
        graph: u64,
        g: CUgraph,
        flags: u64,
    ) -> CuResult<Vec<Part>> {
        if !self.has_host_nodes(graph) {
            return Ok(Vec::new());
        }
        let cut = self.cut(g).inspect_err(|rc| {
            tracing::debug!(rc, "graph parts: the graph's order could not be read");
        })?;
        let mut parts = Vec::with_capacity(cut.len());
        for (i, (nodes, host)) in cut.into_iter().enumerate() {
            if nodes.is_empty() {
                // Nothing to launch (two host nodes in a row, or at an end).
                parts.push(Part {
                    raw: std::ptr::null_mut(),
                    host,
                });
                continue;
            }
            match self.instantiate_part(g, &nodes, flags) {
                Ok(raw) => parts.push(Part { raw, host }),
                Err(e) => {
                    tracing::debug!(
                        rc = e,
                        part = i,
                        nodes = nodes.len(),
                        "graph parts: a part failed"
                    );
                    self.destroy_parts(parts);
                    return Err(e);
                }
            }
        }
        Ok(parts)
    }

    /// An executable graph of `g`'s `keep` nodes alone.
    fn instantiate_part(
        &self,
        g: CUgraph,
        keep: &[CUgraphNode],
        flags: u64,
    ) -> CuResult<CUgraphExec> {
        let api = *self.driver.api();
        let clone = api.graph_clone.ok_or(NOT_SUPPORTED)?;
        let find = api.graph_node_find_in_clone.ok_or(NOT_SUPPORTED)?;
        let remove = api.graph_destroy_node.ok_or(NOT_SUPPORTED)?;
        let destroy = api.graph_destroy.ok_or(NOT_SUPPORTED)?;
        let instantiate = api.graph_instantiate.ok_or(NOT_SUPPORTED)?;
        let keep: std::collections::HashSet<usize> = keep.iter().map(|n| *n as usize).collect();
        let mut copy: CUgraph = std::ptr::null_mut();
        // SAFETY: our graph; valid out-pointer.
        check(unsafe { clone(&mut copy, g) })?;
        let built = (|| {
            for (node, _) in self.topology(g)? {
                if keep.contains(&(node as usize)) {
                    continue;
                }
                let mut twin: CUgraphNode = std::ptr::null_mut();
                // SAFETY: `node` is of `g`, `copy` its clone; valid out-pointer.
                check(unsafe { find(&mut twin, node, copy) })
                    .inspect_err(failed("cuGraphNodeFindInClone"))?;
                // SAFETY: a node of our clone, removed once.
                check(unsafe { remove(twin) }).inspect_err(failed("cuGraphDestroyNode"))?;
            }
            let mut exec: CUgraphExec = std::ptr::null_mut();
            // SAFETY: our clone; valid out-pointer.
            check(unsafe { instantiate(&mut exec, copy, flags) })
                .inspect_err(failed("cuGraphInstantiateWithFlags"))?;
            Ok(exec)
        })();
        // SAFETY: our clone, destroyed once (an executable graph outlives it).
        let _ = unsafe { destroy(copy) };
        built
    }

    pub(super) fn destroy_parts(&self, parts: Vec<Part>) {
        if let Some(f) = self.driver.api().graph_exec_destroy {
            for p in parts.into_iter().filter(|p| !p.raw.is_null()) {
                // SAFETY: our executable graph, destroyed once.
                let _ = unsafe { f(p.raw) };
            }
        }
    }

    /// Launches part `part` of `exec` in `stream` and waits for it.
    pub(super) fn launch_part(&self, exec: u64, s: CUstream, part: u32) -> CuResult<u64> {
        let e = self.graph.execs.get(exec).ok_or(INVALID_VALUE)?;
        let p = e.parts.get(part as usize).ok_or(INVALID_VALUE)?;
        let api = *self.driver.api();
        if !p.raw.is_null() {
            let launch = api.graph_launch.ok_or(NOT_SUPPORTED)?;
            // SAFETY: our executable graph and stream.
            check(unsafe { launch(p.raw, s) })?;
        }
        // The host function runs after the stream's earlier work, this part's
        // and what came before the launch alike. SAFETY: our stream.
        check(unsafe { (api.stream_synchronize)(s) })?;
        Ok(p.host)
    }
}
