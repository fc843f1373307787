//! Event record and event wait nodes on NVIDIA's driver: added, their event
//! read back (as the client's handle) and replaced, in a graph or in an
//! executable graph.

use super::super::*;
use crate::executor::cuda::graph_abi::{CUgraph, CUgraphExec, CUgraphNode};
use uapi::cuda::node_type;

impl GpuClient {
    /// The raw event of client event `event`.
    fn raw_event(&self, event: u64) -> CuResult<CUevent> {
        self.events.get(event).map(|e| e.raw).ok_or(INVALID_HANDLE)
    }

    /// Adds an event record (`kind` EVENT_RECORD) or wait node.
    pub(super) fn add_event_node(
        &self,
        kind: u32,
        g: CUgraph,
        deps: &[CUgraphNode],
        event: u64,
    ) -> CuResult<CUgraphNode> {
        let ev = self.raw_event(event)?;
        let api = *self.driver.api();
        let f = if kind == node_type::EVENT_RECORD {
            api.graph_add_event_record_node
        } else {
            api.graph_add_event_wait_node
        }
        .ok_or(NOT_SUPPORTED)?;
        let mut node: CUgraphNode = std::ptr::null_mut();
        // SAFETY: our graph, nodes and event; valid out-pointer.
        check(unsafe { f(&mut node, g, deps.as_ptr(), deps.len(), ev) })?;
        Ok(node)
    }

    /// The client's handle of the event of event node `raw` (of `kind`).
    pub(super) fn event_node_event(&self, kind: u32, raw: CUgraphNode) -> CuResult<u64> {
        let api = *self.driver.api();
        let f = if kind == node_type::EVENT_RECORD {
            api.graph_event_record_node_get_event
        } else {
            api.graph_event_wait_node_get_event
        }
        .ok_or(NOT_SUPPORTED)?;
        let mut ev: CUevent = std::ptr::null_mut();
        // SAFETY: our node; valid out-pointer.
        check(unsafe { f(raw, &mut ev) })?;
        self.events
            .iter()
            .find(|(_, e)| e.raw == ev)
            .map(|(h, _)| h)
            .ok_or(INVALID_VALUE)
    }

    /// Replaces the event of event node `raw` (of `kind`), in executable
    /// graph `exec` if not NULL.
    pub(super) fn set_event_node_event(
        &self,
        kind: u32,
        exec: Option<CUgraphExec>,
        raw: CUgraphNode,
        event: u64,
    ) -> CuResult<()> {
        let ev = self.raw_event(event)?;
        let api = *self.driver.api();
        let record = kind == node_type::EVENT_RECORD;
        match exec {
            None => {
                let f = if record {
                    api.graph_event_record_node_set_event
                } else {
                    api.graph_event_wait_node_set_event
                }
                .ok_or(NOT_SUPPORTED)?;
                // SAFETY: our node and event.
                check(unsafe { f(raw, ev) })
            }
            Some(e) => {
                let f = if record {
                    api.graph_exec_event_record_node_set_event
                } else {
                    api.graph_exec_event_wait_node_set_event
                }
                .ok_or(NOT_SUPPORTED)?;
                // SAFETY: our executable graph, node and event.
                check(unsafe { f(e, raw, ev) })
            }
        }
    }
}
