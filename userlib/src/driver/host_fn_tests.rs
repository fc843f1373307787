//! Host nodes with the scripted transport: the guest keeps the calls, an
//! executable graph with host nodes launches part by part and runs them
//! unlocked, executable graphs keep their own copy of the calls.

use std::sync::atomic::{AtomicU64, Ordering};

use uapi::cuda::{op, GraphAddNodeRequest, GraphLaunchPartRequest};
use uapi::wire::Wire;

use super::*;
use crate::driver::graph_exec::{graph_instantiate_with_flags, graph_launch};
use crate::driver::lock;
use crate::driver::testing::{session, state_lock_free, with_primary};

const GRAPH: u64 = 0x6a_0001;
const NODE: u64 = 0x6b_0001;
const EXEC: u64 = 0x6c_0001;

static SEEN: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" fn add(data: *mut c_void) {
    assert!(
        state_lock_free(),
        "a host function runs with no lock of ours"
    );
    SEEN.fetch_add(data as u64, Ordering::SeqCst);
}

fn value(v: u64) -> Vec<u8> {
    let mut r = vec![0u8; 8];
    r.extend_from_slice(&v.to_le_bytes());
    r
}

fn params(data: u64) -> HostNodeParams {
    HostNodeParams {
        f: Some(add),
        data: data as *mut c_void,
    }
}

#[test]
fn a_graph_with_a_host_node_launches_in_parts_and_runs_it_here() {
    let sess = session(1 << 20);
    with_primary();
    SEEN.store(0, Ordering::SeqCst);
    sess.respond(value(NODE));
    let mut node: *mut c_void = std::ptr::null_mut();
    let p = params(5);
    // SAFETY: valid out pointer and params.
    unsafe {
        graph_add_host_node(
            (&mut node).into(),
            GRAPH as *mut c_void,
            std::ptr::null(),
            0,
            (&p as *const HostNodeParams).cast(),
        )
    }
    .unwrap();
    assert_eq!(node as u64, NODE);
    let id = lock().host_fns.nodes[&NODE].1;
    {
        let sc = sess.script.lock().unwrap();
        let req = GraphAddNodeRequest::read_from(&sc.sent[0].2).unwrap();
        assert_eq!(
            (req.graph, req.params.kind, req.params.function),
            (GRAPH, node_type::HOST, id)
        );
    }
    let mut back = params(0);
    // SAFETY: valid out struct.
    unsafe { graph_host_node_get_params(node, (&mut back as *mut HostNodeParams).cast()) }.unwrap();
    assert_eq!(back.data as u64, 5);

    sess.respond(value(EXEC));
    let mut exec: *mut c_void = std::ptr::null_mut();
    graph_instantiate_with_flags((&mut exec).into(), GRAPH as *mut c_void, 0).unwrap();
    // The graph's node changes; the executable graph keeps its copy.
    let p = params(100);
    // SAFETY: valid params.
    unsafe { graph_host_node_set_params(node, (&p as *const HostNodeParams).cast()) }.unwrap();

    sess.respond(value(id));
    sess.respond(value(0));
    graph_launch(exec, std::ptr::null_mut()).unwrap();
    assert_eq!(SEEN.load(Ordering::SeqCst), 5);
    let sent = sess.opcodes();
    assert_eq!(
        sent,
        [
            op::GRAPH_ADD_NODE,
            op::GRAPH_INSTANTIATE,
            op::GRAPH_LAUNCH_PART,
            op::GRAPH_LAUNCH_PART
        ]
    );
    {
        let sc = sess.script.lock().unwrap();
        let parts: Vec<u32> = sc.sent[2..]
            .iter()
            .map(|c| GraphLaunchPartRequest::read_from(&c.2).unwrap().part)
            .collect();
        assert_eq!(parts, [0, 1]);
    }

    // An id the executable graph does not have is a fault, not a call.
    sess.respond(value(id + 1000));
    assert_eq!(
        graph_launch(exec, std::ptr::null_mut()),
        Err(result::UNKNOWN)
    );
    assert_eq!(SEEN.load(Ordering::SeqCst), 5);
    // NULL function: refused before the device is asked.
    let none = HostNodeParams {
        f: None,
        data: std::ptr::null_mut(),
    };
    // SAFETY: valid params.
    let r = unsafe { graph_host_node_set_params(node, (&none as *const HostNodeParams).cast()) };
    assert_eq!(r, Err(result::INVALID_VALUE));
}
