//! The simulator's graphs: captures in progress, graphs of recorded or
//! added nodes, and executable graphs (a topologically ordered copy of a
//! graph's work, replayed on launch).

use std::collections::{HashMap, HashSet};

use crate::cuda::backend::{CuResult, ExecUpdateError};
use uapi::cuda::{
    capture_status, exec_update, node_type, result, LaunchAttribute, LaunchRequest, MemsetRequest,
    MAX_GRAPH_NODES,
};

/// What one node does when its graph runs.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeOp {
    /// A kernel launch (the request's stream is the launch's).
    Kernel {
        launch: LaunchRequest,
        attrs: Vec<LaunchAttribute>,
        params: Vec<u8>,
    },
    /// A memset (the request's stream is the launch's).
    Memset(MemsetRequest),
    /// A device-to-device copy.
    Copy {
        ctx: u64,
        dst: u64,
        src: u64,
        len: u64,
    },
    /// Nothing (a join point).
    Empty,
    /// A host function of the guest (its id): a launch stops here.
    Host(u64),
    /// Records an event.
    EventRecord(u64),
    /// Waits for an event (in order already, on the simulator).
    EventWait(u64),
}

impl NodeOp {
    /// `CUgraphNodeType`.
    pub fn kind(&self) -> u32 {
        match self {
            NodeOp::Kernel { .. } => node_type::KERNEL,
            NodeOp::Memset(_) => node_type::MEMSET,
            NodeOp::Copy { .. } => node_type::MEMCPY,
            NodeOp::Empty => node_type::EMPTY,
            NodeOp::Host(_) => node_type::HOST,
            NodeOp::EventRecord(_) => node_type::EVENT_RECORD,
            NodeOp::EventWait(_) => node_type::WAIT_EVENT,
        }
    }
}

struct Node {
    graph: u64,
    op: NodeOp,
    deps: Vec<u64>,
}

struct Graph {
    ctx: u64,
    /// Nodes in creation order.
    nodes: Vec<u64>,
}

/// An instantiated graph.
pub struct Exec {
    pub ctx: u64,
    /// The original graph's nodes in creation order (update pairs by index).
    pub nodes: Vec<u64>,
    /// Each node's work, same order.
    pub ops: Vec<NodeOp>,
    /// Each node's dependencies as indices, same order.
    deps: Vec<Vec<usize>>,
    /// Indices in an order that respects every edge.
    pub order: Vec<usize>,
}

/// Nodes, dependencies by index, and an order respecting them.
type Topology = (Vec<u64>, Vec<Vec<usize>>, Vec<usize>);

struct Capture {
    graph: u64,
    origin: u64,
    status: u32,
}

/// A stream taking part in a capture.
struct StreamCapture {
    id: u64,
    deps: Vec<u64>,
}

/// Every graph object of one client.
#[derive(Default)]
pub struct SimGraphs {
    next: u64,
    graphs: HashMap<u64, Graph>,
    nodes: HashMap<u64, Node>,
    execs: HashMap<u64, Exec>,
    captures: HashMap<u64, Capture>,
    streams: HashMap<u64, StreamCapture>,
    /// Events last recorded in a capture: (capture id, the nodes they follow).
    events: HashMap<u64, (u64, Vec<u64>)>,
}

const KIND_GRAPH: u64 = 0x6a;
const KIND_NODE: u64 = 0x6b;
const KIND_EXEC: u64 = 0x6c;

impl SimGraphs {
    fn handle(&mut self, kind: u64) -> u64 {
        self.next += 1;
        (kind << 48) | self.next
    }

    /// Whether `stream` (a created stream) is capturing.
    pub fn is_capturing(&self, stream: u64) -> bool {
        self.streams.contains_key(&stream)
    }

    /// Invalidates the capture `stream` takes part in (an operation that
    /// cannot be captured was attempted); returns the error to report.
    pub fn invalidate(&mut self, stream: u64) -> u32 {
        if let Some(c) = self
            .streams
            .get(&stream)
            .and_then(|s| self.captures.get_mut(&s.id))
        {
            c.status = capture_status::INVALIDATED;
        }
        result::STREAM_CAPTURE_UNSUPPORTED
    }

    /// Starts a capture on `stream`; returns its id.
    pub fn begin(&mut self, ctx: u64, stream: u64) -> CuResult<u64> {
        if self.streams.contains_key(&stream) {
            return Err(result::ILLEGAL_STATE);
        }
        let graph = self.create(ctx);
        let id = self.handle(0);
        self.captures.insert(
            id,
            Capture {
                graph,
                origin: stream,
                status: capture_status::ACTIVE,
            },
        );
        self.streams.insert(
            stream,
            StreamCapture {
                id,
                deps: Vec::new(),
            },
        );
        Ok(id)
    }

    /// Ends the capture begun on `stream`; returns its graph.
    pub fn end(&mut self, stream: u64, discard: bool) -> CuResult<u64> {
        let id = self
            .streams
            .get(&stream)
            .map(|s| s.id)
            .ok_or(result::ILLEGAL_STATE)?;
        let c = self.captures.get(&id).ok_or(result::ILLEGAL_STATE)?;
        if c.origin != stream {
            return Err(result::STREAM_CAPTURE_UNMATCHED);
        }
        let (graph, status) = (c.graph, c.status);
        // Every other stream of the capture must have been joined back:
        // its last work is an ancestor of the origin's.
        let joined = self.ancestors(&self.streams[&stream].deps);
        let unjoined = self
            .streams
            .iter()
            .filter(|(s, c)| c.id == id && **s != stream)
            .any(|(_, c)| c.deps.iter().any(|d| !joined.contains(d)));
        self.streams.retain(|_, c| c.id != id);
        self.events.retain(|_, (cid, _)| *cid != id);
        self.captures.remove(&id);
        let failed = if discard || status == capture_status::INVALIDATED {
            Some(result::STREAM_CAPTURE_INVALIDATED)
        } else if unjoined {
            Some(result::STREAM_CAPTURE_UNJOINED)
        } else {
            None
        };
        match failed {
            Some(code) => {
                self.destroy(graph)?;
                Err(code)
            }
            None => Ok(graph),
        }
    }

    /// Every node `from` depends on, itself included.
    fn ancestors(&self, from: &[u64]) -> HashSet<u64> {
        let mut seen: HashSet<u64> = HashSet::new();
        let mut todo: Vec<u64> = from.to_vec();
        while let Some(n) = todo.pop() {
            if seen.insert(n) {
                if let Some(node) = self.nodes.get(&n) {
                    todo.extend(node.deps.iter().copied());
                }
            }
        }
        seen
    }

    /// Status, id, graph and dependencies of `stream`'s capture.
    pub fn info(&self, stream: u64) -> (u32, u64, u64, Vec<u64>) {
        match self.streams.get(&stream) {
            Some(s) => {
                let c = &self.captures[&s.id];
                (c.status, s.id, c.graph, s.deps.clone())
            }
            None => (capture_status::NONE, 0, 0, Vec::new()),
        }
    }

    /// `cuStreamUpdateCaptureDependencies`.
    pub fn update_deps(&mut self, stream: u64, nodes: &[u64], set: bool) -> CuResult<()> {
        let s = self.streams.get(&stream).ok_or(result::ILLEGAL_STATE)?;
        let graph = self.captures[&s.id].graph;
        if nodes
            .iter()
            .any(|n| self.nodes.get(n).is_none_or(|n| n.graph != graph))
        {
            return Err(result::INVALID_VALUE);
        }
        let s = self.streams.get_mut(&stream).ok_or(result::ILLEGAL_STATE)?;
        if set {
            s.deps.clear();
        }
        for n in nodes {
            if !s.deps.contains(n) {
                s.deps.push(*n);
            }
        }
        Ok(())
    }

    /// Records `op` on a capturing stream (after the stream's dependencies).
    pub fn record(&mut self, stream: u64, op: NodeOp) -> CuResult<()> {
        let s = self.streams.get(&stream).ok_or(result::ILLEGAL_STATE)?;
        let (id, deps) = (s.id, s.deps.clone());
        let graph = self.captures[&id].graph;
        let node = self.add_node(graph, &deps, op)?;
        if let Some(s) = self.streams.get_mut(&stream) {
            s.deps = vec![node];
        }
        Ok(())
    }

    /// An event recorded on a capturing stream stands for the stream's
    /// current dependencies; recorded elsewhere it is a plain event again.
    pub fn event_recorded(&mut self, event: u64, stream: u64) {
        match self.streams.get(&stream) {
            Some(s) => {
                self.events.insert(event, (s.id, s.deps.clone()));
            }
            None => {
                self.events.remove(&event);
            }
        }
    }

    /// A wait on an event recorded in a capture: the stream joins that
    /// capture (or, already in it, gains the event's dependencies).
    /// Returns whether the wait was captured.
    pub fn wait_event(&mut self, stream: u64, event: u64) -> CuResult<bool> {
        let Some((id, nodes)) = self.events.get(&event).cloned() else {
            // An event from outside any capture orders nothing in a graph.
            return Ok(self.streams.contains_key(&stream));
        };
        match self.streams.get_mut(&stream) {
            Some(s) if s.id != id => Err(result::STREAM_CAPTURE_MERGE),
            Some(s) => {
                for n in nodes {
                    if !s.deps.contains(&n) {
                        s.deps.push(n);
                    }
                }
                Ok(true)
            }
            None => {
                self.streams
                    .insert(stream, StreamCapture { id, deps: nodes });
                Ok(true)
            }
        }
    }

    /// Forgets a destroyed stream (ending its part in a capture).
    pub fn forget_stream(&mut self, stream: u64) {
        if let Some(s) = self.streams.remove(&stream) {
            if let Some(c) = self.captures.get_mut(&s.id) {
                c.status = capture_status::INVALIDATED;
            }
        }
    }

    /// An empty graph.
    pub fn create(&mut self, ctx: u64) -> u64 {
        let h = self.handle(KIND_GRAPH);
        self.graphs.insert(
            h,
            Graph {
                ctx,
                nodes: Vec::new(),
            },
        );
        h
    }

    /// Whether `graph` is the graph of a capture still in progress.
    fn in_capture(&self, graph: u64) -> bool {
        self.captures.values().any(|c| c.graph == graph)
    }

    pub fn destroy(&mut self, graph: u64) -> CuResult<()> {
        let g = self.graphs.remove(&graph).ok_or(result::INVALID_VALUE)?;
        for n in g.nodes {
            self.nodes.remove(&n);
        }
        Ok(())
    }

    pub fn clone_graph(&mut self, graph: u64) -> CuResult<u64> {
        let g = self.graphs.get(&graph).ok_or(result::INVALID_VALUE)?;
        let (ctx, old) = (g.ctx, g.nodes.clone());
        let copy = self.create(ctx);
        let mut map: HashMap<u64, u64> = HashMap::new();
        for n in old {
            let node = &self.nodes[&n];
            let deps: Vec<u64> = node
                .deps
                .iter()
                .filter_map(|d| map.get(d).copied())
                .collect();
            let op = node.op.clone();
            let new = self.add_node(copy, &deps, op)?;
            map.insert(n, new);
        }
        Ok(copy)
    }

    pub fn graph_ctx(&self, graph: u64) -> CuResult<u64> {
        self.graphs
            .get(&graph)
            .map(|g| g.ctx)
            .ok_or(result::INVALID_VALUE)
    }

    pub fn nodes_of(&self, graph: u64) -> CuResult<Vec<u64>> {
        self.graphs
            .get(&graph)
            .map(|g| g.nodes.clone())
            .ok_or(result::INVALID_VALUE)
    }

    pub fn op(&self, node: u64) -> CuResult<&NodeOp> {
        self.nodes
            .get(&node)
            .map(|n| &n.op)
            .ok_or(result::INVALID_VALUE)
    }

    /// Adds a node to `graph` after `deps` (nodes of the same graph).
    pub fn add_node(&mut self, graph: u64, deps: &[u64], op: NodeOp) -> CuResult<u64> {
        let g = self.graphs.get(&graph).ok_or(result::INVALID_VALUE)?;
        if g.nodes.len() >= MAX_GRAPH_NODES {
            return Err(result::OUT_OF_MEMORY);
        }
        if deps
            .iter()
            .any(|d| self.nodes.get(d).is_none_or(|n| n.graph != graph))
        {
            return Err(result::INVALID_VALUE);
        }
        let mut unique = Vec::with_capacity(deps.len());
        for d in deps {
            if unique.contains(d) {
                return Err(result::INVALID_VALUE);
            }
            unique.push(*d);
        }
        let h = self.handle(KIND_NODE);
        self.nodes.insert(
            h,
            Node {
                graph,
                op,
                deps: unique,
            },
        );
        if let Some(g) = self.graphs.get_mut(&graph) {
            g.nodes.push(h);
        }
        Ok(h)
    }

    /// Adds `(from, to)` edges; a cycle is `INVALID_VALUE` (nothing added).
    pub fn add_edges(&mut self, graph: u64, edges: &[(u64, u64)]) -> CuResult<()> {
        self.graphs.get(&graph).ok_or(result::INVALID_VALUE)?;
        let of_graph = |n: &u64| self.nodes.get(n).is_some_and(|n| n.graph == graph);
        if edges
            .iter()
            .any(|(a, b)| !of_graph(a) || !of_graph(b) || a == b)
        {
            return Err(result::INVALID_VALUE);
        }
        let before: Vec<(u64, Vec<u64>)> = edges
            .iter()
            .map(|(_, to)| (*to, self.nodes[to].deps.clone()))
            .collect();
        for (from, to) in edges {
            let n = self.nodes.get_mut(to).ok_or(result::INVALID_VALUE)?;
            if n.deps.contains(from) {
                return self.restore(before, result::INVALID_VALUE);
            }
            n.deps.push(*from);
        }
        if self.topo(graph).is_err() {
            return self.restore(before, result::INVALID_VALUE);
        }
        Ok(())
    }

    fn restore(&mut self, before: Vec<(u64, Vec<u64>)>, code: u32) -> CuResult<()> {
        for (n, deps) in before.into_iter().rev() {
            if let Some(node) = self.nodes.get_mut(&n) {
                node.deps = deps;
            }
        }
        Err(code)
    }

    /// A graph's nodes in creation order, their dependencies as indices,
    /// and the indices in dependency order.
    fn topo(&self, graph: u64) -> CuResult<Topology> {
        let nodes = self.nodes_of(graph)?;
        let index: HashMap<u64, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let deps: Vec<Vec<usize>> = nodes
            .iter()
            .map(|n| {
                self.nodes[n]
                    .deps
                    .iter()
                    .filter_map(|d| index.get(d).copied())
                    .collect()
            })
            .collect();
        let mut pending: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        for (i, ds) in deps.iter().enumerate() {
            for &d in ds {
                dependents[d].push(i);
            }
        }
        let mut ready: Vec<usize> = (0..nodes.len())
            .rev()
            .filter(|&i| pending[i] == 0)
            .collect();
        let mut order = Vec::with_capacity(nodes.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for &j in dependents[i].iter().rev() {
                pending[j] -= 1;
                if pending[j] == 0 {
                    ready.push(j);
                }
            }
        }
        if order.len() != nodes.len() {
            return Err(result::INVALID_VALUE);
        }
        Ok((nodes, deps, order))
    }

    fn snapshot(&self, graph: u64) -> CuResult<Exec> {
        let ctx = self.graph_ctx(graph)?;
        let (nodes, deps, order) = self.topo(graph)?;
        let ops = nodes.iter().map(|n| self.nodes[n].op.clone()).collect();
        Ok(Exec {
            ctx,
            nodes,
            ops,
            deps,
            order,
        })
    }

    pub fn instantiate(&mut self, graph: u64) -> CuResult<u64> {
        if self.in_capture(graph) {
            return Err(result::INVALID_VALUE);
        }
        let exec = self.snapshot(graph)?;
        let h = self.handle(KIND_EXEC);
        self.execs.insert(h, exec);
        Ok(h)
    }

    /// Part `part` of an executable graph in launch order (the work after
    /// its `part`-th host node, up to the next), and the id of the host
    /// node that ends it (0: the last part).
    pub fn exec_part(&self, exec: u64, part: u32) -> CuResult<(Vec<NodeOp>, u64)> {
        let e = self.exec(exec)?;
        let mut ops = e.order.iter().map(|&i| &e.ops[i]);
        for _ in 0..part {
            ops.find(|op| matches!(op, NodeOp::Host(_)))
                .ok_or(result::INVALID_VALUE)?;
        }
        let mut work = Vec::new();
        for op in ops {
            if let NodeOp::Host(id) = op {
                return Ok((work, *id));
            }
            work.push(op.clone());
        }
        Ok((work, 0))
    }

    pub fn exec(&self, exec: u64) -> CuResult<&Exec> {
        self.execs.get(&exec).ok_or(result::INVALID_VALUE)
    }

    pub fn exec_destroy(&mut self, exec: u64) -> CuResult<()> {
        self.execs
            .remove(&exec)
            .map(drop)
            .ok_or(result::INVALID_VALUE)
    }

    /// Replaces a node's work: of a graph (`exec` 0) or of an executable
    /// graph (by its original node). The kind stays.
    pub fn set_op(&mut self, exec: u64, node: u64, op: NodeOp) -> CuResult<()> {
        let slot = if exec == 0 {
            &mut self.nodes.get_mut(&node).ok_or(result::INVALID_VALUE)?.op
        } else {
            let e = self.execs.get_mut(&exec).ok_or(result::INVALID_VALUE)?;
            let i = e
                .nodes
                .iter()
                .position(|n| *n == node)
                .ok_or(result::INVALID_VALUE)?;
            &mut e.ops[i]
        };
        if slot.kind() != op.kind() {
            return Err(result::INVALID_VALUE);
        }
        *slot = op;
        Ok(())
    }

    /// `cuGraphExecUpdate`: nodes pair in creation order; the topology and
    /// each node's kind must be the same, kernels stay in their context.
    pub fn exec_update(&mut self, exec: u64, graph: u64) -> Result<(), ExecUpdateError> {
        let fail = |code, reason, node, from_node| ExecUpdateError {
            code,
            reason,
            node,
            from_node,
        };
        let e =
            self.execs
                .get(&exec)
                .ok_or(fail(result::INVALID_VALUE, exec_update::ERROR, 0, 0))?;
        let new = self
            .snapshot(graph)
            .map_err(|code| fail(code, exec_update::ERROR, 0, 0))?;
        let failure = result::GRAPH_EXEC_UPDATE_FAILURE;
        if new.ctx != e.ctx || new.nodes.len() != e.nodes.len() {
            return Err(fail(failure, exec_update::TOPOLOGY_CHANGED, 0, 0));
        }
        for i in 0..new.nodes.len() {
            let (node, from) = (new.nodes[i], e.nodes[i]);
            let (mut a, mut b) = (new.deps[i].clone(), e.deps[i].clone());
            a.sort_unstable();
            b.sort_unstable();
            if a != b {
                return Err(fail(failure, exec_update::TOPOLOGY_CHANGED, node, from));
            }
            if new.ops[i].kind() != e.ops[i].kind() {
                return Err(fail(failure, exec_update::NODE_TYPE_CHANGED, node, from));
            }
            if let (NodeOp::Kernel { launch: x, .. }, NodeOp::Kernel { launch: y, .. }) =
                (&new.ops[i], &e.ops[i])
            {
                if x.ctx != y.ctx {
                    return Err(fail(failure, exec_update::FUNCTION_CHANGED, node, from));
                }
            }
        }
        if let Some(e) = self.execs.get_mut(&exec) {
            // The executable graph keeps its own node identities.
            e.ops = new.ops;
            e.order = new.order;
        }
        Ok(())
    }
}
