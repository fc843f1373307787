//! Stream capture and graphs on the simulator: capture records without
//! running (placeholder pointers included), instantiated graphs replay,
//! exec update swaps parameters, the explicit API builds the same graph.

use super::client::*;
use uapi::cuda::{
    capture_mode, copy_flags, exec_update, node_type, op, result, CaptureBeginRequest,
    CaptureEndRequest, CaptureInfoResponse, ElapsedRequest, EventCreateRequest,
    GraphAddNodeRequest, GraphExecUpdateRequest, GraphExecUpdateResponse, GraphLaunchPartRequest,
    GraphLaunchRequest, GraphRequest, LaunchRequest, MemsetRequest, NodeParams, NodeParamsResponse,
    NodeSetParamsRequest, StreamCreateRequest, StreamRequest, ValueResponse,
};
use uapi::wire::Wire;

const N: u32 = 256;

fn saxpy_params(n: u32, a: f32, x: u64, y: u64) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&n.to_le_bytes());
    p.extend_from_slice(&a.to_bits().to_le_bytes());
    p.extend_from_slice(&x.to_le_bytes());
    p.extend_from_slice(&y.to_le_bytes());
    p
}

struct Fixture {
    c: Client,
    stream: u64,
    saxpy: u64,
    x: u64,
    y: u64,
}

impl Fixture {
    fn new() -> Self {
        let mut c = Client::new();
        let (_, stream) = c.handle(op::STREAM_CREATE, StreamCreateRequest::default().as_bytes());
        let (saxpy, _) = c.load_kernel(VECADD, "saxpy");
        let (x, y) = (c.alloc(4 * N as u64), c.alloc(4 * N as u64));
        let xs: Vec<f32> = (0..N).map(|i| i as f32).collect();
        c.htod(x, &floats(&xs), 0).expect("copy");
        c.htod(y, &floats(&vec![7.0; N as usize]), 0).expect("copy");
        Self {
            c,
            stream,
            saxpy,
            x,
            y,
        }
    }

    fn y(&mut self) -> Vec<f32> {
        let (r, b) = self.c.dtoh(self.y, 4 * N as usize);
        assert_eq!(r, result::SUCCESS);
        b.chunks_exact(4)
            .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect()
    }

    fn begin(&mut self) -> u64 {
        let req = CaptureBeginRequest {
            ctx: 0,
            stream: self.stream,
            mode: capture_mode::GLOBAL,
            reserved: 0,
        };
        let (r, id) = self.c.value(op::STREAM_BEGIN_CAPTURE, req.as_bytes());
        assert_eq!(r, result::SUCCESS);
        id
    }

    fn end(&mut self) -> (u32, u64) {
        let req = CaptureEndRequest {
            ctx: 0,
            stream: self.stream,
            flags: 0,
            reserved: 0,
        };
        self.c.handle(op::STREAM_END_CAPTURE, req.as_bytes())
    }

    /// Async memset of `y` to `value`, then saxpy with `a` on the stream.
    fn enqueue(&mut self, value: f32, a: f32, y: u64) {
        let m = MemsetRequest {
            stream: self.stream,
            dst: y,
            pitch: 4 * N as u64,
            width: N as u64,
            height: 1,
            value: value.to_bits(),
            elem_size: 4,
            flags: copy_flags::ASYNC,
            ..Default::default()
        };
        assert_eq!(self.c.call(op::MEMSET, m.as_bytes(), 0), Ok(vec![]));
        let params = saxpy_params(N, a, self.x, y);
        let mut req = LaunchRequest {
            stream: self.stream,
            function: self.saxpy,
            grid: [N / 64, 1, 1],
            block: [64, 1, 1],
            param_bytes: params.len() as u32,
            ..Default::default()
        }
        .as_bytes()
        .to_vec();
        req.extend_from_slice(&params);
        assert_eq!(self.c.call(op::LAUNCH, &req, 0), Ok(vec![]));
    }

    fn captured(&mut self, value: f32, a: f32) -> u64 {
        self.begin();
        let y = self.y;
        self.enqueue(value, a, y);
        let (r, g) = self.end();
        assert_eq!(r, result::SUCCESS);
        g
    }

    fn graph(&mut self, opcode: u16, handle: u64, flags: u64) -> (u32, u64) {
        let req = GraphRequest {
            ctx: 0,
            handle,
            flags,
        };
        self.c.handle(opcode, req.as_bytes())
    }

    fn launch(&mut self, exec: u64) {
        let req = GraphLaunchRequest {
            ctx: 0,
            exec,
            stream: self.stream,
        };
        assert_eq!(self.c.call(op::GRAPH_LAUNCH, req.as_bytes(), 0), Ok(vec![]));
        assert_eq!(self.c.sync(), result::SUCCESS);
    }

    fn nodes(&mut self, graph: u64) -> Vec<u64> {
        let req = GraphRequest {
            ctx: 0,
            handle: graph,
            flags: 0,
        };
        let out = self
            .c
            .call(op::GRAPH_GET_NODES, req.as_bytes(), 4096)
            .expect("ok");
        let head = ValueResponse::read_from(&out).expect("response");
        assert_eq!(head.result, result::SUCCESS);
        out[16..]
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
            .collect()
    }

    fn update(&mut self, exec: u64, graph: u64) -> GraphExecUpdateResponse {
        let req = GraphExecUpdateRequest {
            ctx: 0,
            exec,
            graph,
        };
        let out = self
            .c
            .call(op::GRAPH_EXEC_UPDATE, req.as_bytes(), 64)
            .expect("ok");
        GraphExecUpdateResponse::read_from(&out).expect("response")
    }
}

fn expect(y: &[f32], value: f32, a: f32) {
    for (i, v) in y.iter().enumerate() {
        assert_eq!(*v, a * i as f32 + value, "element {i}");
    }
}

#[test]
fn a_capture_records_without_running_and_replays_on_every_launch() {
    let mut f = Fixture::new();
    let g = f.captured(1.0, 2.0);
    expect(&f.y(), 7.0, 0.0);
    let nodes = f.nodes(g);
    assert_eq!(nodes.len(), 2);
    let kinds: Vec<u64> = nodes
        .iter()
        .map(|n| {
            f.c.value(
                op::GRAPH_NODE_GET_TYPE,
                GraphRequest {
                    ctx: 0,
                    handle: *n,
                    flags: 0,
                }
                .as_bytes(),
            )
            .1
        })
        .collect();
    assert_eq!(
        kinds,
        vec![node_type::MEMSET as u64, node_type::KERNEL as u64]
    );
    let (r, exec) = f.graph(op::GRAPH_INSTANTIATE, g, 0);
    assert_eq!(r, result::SUCCESS);
    for _ in 0..3 {
        f.c.htod(f.y, &floats(&vec![9.0; N as usize]), 0)
            .expect("copy");
        f.launch(exec);
        expect(&f.y(), 1.0, 2.0);
    }
    // Exec update: the same topology with other parameters.
    let g2 = f.captured(0.5, 3.0);
    let u = f.update(exec, g2);
    assert_eq!(
        (u.result, u.update_result),
        (result::SUCCESS, exec_update::SUCCESS)
    );
    f.launch(exec);
    expect(&f.y(), 0.5, 3.0);
    // Another topology is refused, with the reason.
    f.begin();
    let y = f.y;
    f.enqueue(0.0, 1.0, y);
    f.enqueue(0.0, 1.0, y);
    let (_, g3) = f.end();
    let u = f.update(exec, g3);
    assert_eq!(u.update_result, exec_update::TOPOLOGY_CHANGED);
    f.launch(exec);
    expect(&f.y(), 0.5, 3.0);
    let req = |handle| GraphRequest {
        ctx: 0,
        handle,
        flags: 0,
    };
    let destroy_exec = f.c.result(op::GRAPH_EXEC_DESTROY, req(exec).as_bytes());
    assert_eq!(destroy_exec, result::SUCCESS);
    for g in [g, g2, g3] {
        assert_eq!(
            f.c.result(op::GRAPH_DESTROY, req(g).as_bytes()),
            result::SUCCESS
        );
    }
    let again = f.c.result(op::GRAPH_DESTROY, req(g).as_bytes());
    assert_eq!(again, result::INVALID_VALUE);
}

#[test]
fn placeholder_pointers_are_recorded_unchecked() {
    let mut f = Fixture::new();
    let id = f.begin();
    f.enqueue(1.0, 2.0, 0xdead_0000_0000);
    let req = StreamRequest {
        ctx: 0,
        stream: f.stream,
    };
    let out =
        f.c.call(op::STREAM_GET_CAPTURE_INFO, req.as_bytes(), 256)
            .expect("ok");
    let info = CaptureInfoResponse::read_from(&out).expect("info");
    assert_eq!((info.status, info.id, info.dep_count), (1, id, 1));
    assert_eq!(f.c.sync(), result::SUCCESS, "nothing ran, nothing failed");
    let (r, g) = f.end();
    assert_eq!(r, result::SUCCESS);
    assert_eq!(f.nodes(g).len(), 2);
    let (r, exec) = f.graph(op::GRAPH_INSTANTIATE, g, 0);
    assert_eq!(r, result::SUCCESS);
    let launch = GraphLaunchRequest {
        ctx: 0,
        exec,
        stream: f.stream,
    };
    f.c.call(op::GRAPH_LAUNCH, launch.as_bytes(), 0)
        .expect("ok");
    assert_ne!(f.c.sync(), result::SUCCESS, "the replay faults");
}

#[test]
fn synchronising_a_capturing_stream_invalidates_the_capture() {
    let mut f = Fixture::new();
    f.begin();
    let req = StreamRequest {
        ctx: 0,
        stream: f.stream,
    };
    assert_eq!(
        f.c.result(op::STREAM_SYNCHRONIZE, req.as_bytes()),
        result::STREAM_CAPTURE_UNSUPPORTED
    );
    assert_eq!(f.end().0, result::STREAM_CAPTURE_INVALIDATED);
    let begin = CaptureBeginRequest::default();
    assert_eq!(
        f.c.value(op::STREAM_BEGIN_CAPTURE, begin.as_bytes()).0,
        result::STREAM_CAPTURE_UNSUPPORTED,
        "the default stream"
    );
}

#[test]
fn the_explicit_api_builds_and_patches_a_graph() {
    let mut f = Fixture::new();
    let (r, g) = f.graph(op::GRAPH_CREATE, 0, 0);
    assert_eq!(r, result::SUCCESS);
    let memset = NodeParams {
        kind: node_type::MEMSET,
        elem_size: 4,
        dst: f.y,
        pitch: 4 * N as u64,
        width: N as u64,
        height: 1,
        value: 2.0f32.to_bits(),
        ..Default::default()
    };
    let add = |c: &mut Client, deps: &[u64], p: NodeParams, args: &[u8]| {
        let mut req = GraphAddNodeRequest {
            ctx: 0,
            graph: g,
            dep_count: deps.len() as u32,
            reserved: 0,
            params: NodeParams {
                param_bytes: args.len() as u32,
                ..p
            },
        }
        .as_bytes()
        .to_vec();
        deps.iter()
            .for_each(|d| req.extend_from_slice(&d.to_le_bytes()));
        req.extend_from_slice(args);
        c.handle(op::GRAPH_ADD_NODE, &req)
    };
    let (r, m) = add(&mut f.c, &[], memset, &[]);
    assert_eq!(r, result::SUCCESS);
    let kernel = NodeParams {
        kind: node_type::KERNEL,
        function: f.saxpy,
        grid: [N / 64, 1, 1],
        block: [64, 1, 1],
        ..Default::default()
    };
    let args = saxpy_params(N, 4.0, f.x, f.y);
    let (r, k) = add(&mut f.c, &[m], kernel, &args);
    assert_eq!(r, result::SUCCESS);
    assert_eq!(
        add(&mut f.c, &[], kernel, &args[..8]).0,
        result::INVALID_VALUE,
        "short params"
    );
    let (r, exec) = f.graph(op::GRAPH_INSTANTIATE, g, 0);
    assert_eq!(r, result::SUCCESS);
    f.launch(exec);
    expect(&f.y(), 2.0, 4.0);
    // Patch the executable graph's kernel node only.
    let args = saxpy_params(N, -1.0, f.x, f.y);
    let mut req = NodeSetParamsRequest {
        ctx: 0,
        exec,
        node: k,
        params: NodeParams {
            param_bytes: args.len() as u32,
            ..kernel
        },
    }
    .as_bytes()
    .to_vec();
    req.extend_from_slice(&args);
    assert_eq!(
        f.c.result(op::GRAPH_KERNEL_NODE_SET_PARAMS, &req),
        result::SUCCESS
    );
    f.launch(exec);
    expect(&f.y(), 2.0, -1.0);
    // A clone replays as the original graph did.
    let (r, copy) = f.graph(op::GRAPH_CLONE, g, 0);
    assert_eq!(r, result::SUCCESS);
    let (_, exec2) = f.graph(op::GRAPH_INSTANTIATE, copy, 0);
    f.launch(exec2);
    expect(&f.y(), 2.0, 4.0);
}

#[test]
fn a_graph_with_host_nodes_runs_part_by_part() {
    let mut f = Fixture::new();
    let (r, g) = f.graph(op::GRAPH_CREATE, 0, 0);
    assert_eq!(r, result::SUCCESS);
    let add = |c: &mut Client, deps: &[u64], p: NodeParams, args: &[u8]| {
        let mut req = GraphAddNodeRequest {
            ctx: 0,
            graph: g,
            dep_count: deps.len() as u32,
            reserved: 0,
            params: NodeParams {
                param_bytes: args.len() as u32,
                ..p
            },
        }
        .as_bytes()
        .to_vec();
        deps.iter()
            .for_each(|d| req.extend_from_slice(&d.to_le_bytes()));
        req.extend_from_slice(args);
        c.handle(op::GRAPH_ADD_NODE, &req)
    };
    let host = |id| NodeParams {
        kind: node_type::HOST,
        function: id,
        ..Default::default()
    };
    assert_eq!(
        add(&mut f.c, &[], host(0), &[]).0,
        result::INVALID_VALUE,
        "id 0"
    );
    let memset = NodeParams {
        kind: node_type::MEMSET,
        elem_size: 4,
        dst: f.y,
        pitch: 4 * N as u64,
        width: N as u64,
        height: 1,
        value: 2.0f32.to_bits(),
        ..Default::default()
    };
    let (_, m) = add(&mut f.c, &[], memset, &[]);
    let (r, h1) = add(&mut f.c, &[m], host(7), &[]);
    assert_eq!(r, result::SUCCESS);
    let kernel = NodeParams {
        kind: node_type::KERNEL,
        function: f.saxpy,
        grid: [N / 64, 1, 1],
        block: [64, 1, 1],
        ..Default::default()
    };
    let (_, k) = add(&mut f.c, &[h1], kernel, &saxpy_params(N, 4.0, f.x, f.y));
    let (r, _) = add(&mut f.c, &[k], host(9), &[]);
    assert_eq!(r, result::SUCCESS);
    let (r, kind) = f.c.value(
        op::GRAPH_NODE_GET_TYPE,
        GraphRequest {
            ctx: 0,
            handle: h1,
            flags: 0,
        }
        .as_bytes(),
    );
    assert_eq!((r, kind), (result::SUCCESS, u64::from(node_type::HOST)));
    let (_, exec) = f.graph(op::GRAPH_INSTANTIATE, g, 0);
    // Only part by part: the guest runs the host functions in between.
    let whole = GraphLaunchRequest {
        ctx: 0,
        exec,
        stream: f.stream,
    };
    assert_eq!(f.c.call(op::GRAPH_LAUNCH, whole.as_bytes(), 0), Ok(vec![]));
    assert_eq!(f.c.sync(), result::NOT_SUPPORTED);
    let stream = f.stream;
    let part = |c: &mut Client, part| {
        let req = GraphLaunchPartRequest {
            ctx: 0,
            exec,
            stream,
            part,
            reserved: 0,
        };
        c.value(op::GRAPH_LAUNCH_PART, req.as_bytes())
    };
    assert_eq!(part(&mut f.c, 0), (result::SUCCESS, 7));
    expect(&f.y(), 2.0, 0.0);
    assert_eq!(part(&mut f.c, 1), (result::SUCCESS, 9));
    expect(&f.y(), 2.0, 4.0);
    assert_eq!(part(&mut f.c, 2), (result::SUCCESS, 0));
    assert_eq!(part(&mut f.c, 3).0, result::INVALID_VALUE);
    expect(&f.y(), 2.0, 4.0);
}

fn add_node(c: &mut Client, graph: u64, deps: &[u64], p: NodeParams) -> (u32, u64) {
    let mut req = GraphAddNodeRequest {
        ctx: 0,
        graph,
        dep_count: deps.len() as u32,
        reserved: 0,
        params: p,
    }
    .as_bytes()
    .to_vec();
    deps.iter()
        .for_each(|d| req.extend_from_slice(&d.to_le_bytes()));
    c.handle(op::GRAPH_ADD_NODE, &req)
}

#[test]
fn event_nodes_record_and_their_event_is_read_and_replaced() {
    let mut f = Fixture::new();
    let event = |c: &mut Client| {
        c.handle(op::EVENT_CREATE, EventCreateRequest::default().as_bytes())
            .1
    };
    let (a, b) = (event(&mut f.c), event(&mut f.c));
    let (_, g) = f.graph(op::GRAPH_CREATE, 0, 0);
    let node = |kind, e| NodeParams {
        kind,
        function: e,
        ..Default::default()
    };
    assert_eq!(
        add_node(&mut f.c, g, &[], node(node_type::EVENT_RECORD, 0x7777)).0,
        result::INVALID_HANDLE
    );
    let (_, w) = add_node(&mut f.c, g, &[], node(node_type::WAIT_EVENT, a));
    let (r, rec) = add_node(&mut f.c, g, &[w], node(node_type::EVENT_RECORD, a));
    assert_eq!(r, result::SUCCESS);
    let get = GraphRequest {
        ctx: 0,
        handle: rec,
        flags: 0,
    };
    let out =
        f.c.call(op::GRAPH_KERNEL_NODE_GET_PARAMS, get.as_bytes(), 256)
            .expect("status ok");
    let got = NodeParamsResponse::read_from(&out).expect("response");
    assert_eq!(
        (got.result, got.params.kind, got.params.function),
        (result::SUCCESS, node_type::EVENT_RECORD, a)
    );
    let (_, exec) = f.graph(op::GRAPH_INSTANTIATE, g, 0);
    // The executable graph records `b` instead; the graph still has `a`.
    let set = NodeSetParamsRequest {
        ctx: 0,
        exec,
        node: rec,
        params: node(node_type::EVENT_RECORD, b),
    };
    assert_eq!(
        f.c.result(op::GRAPH_KERNEL_NODE_SET_PARAMS, set.as_bytes()),
        result::SUCCESS
    );
    let wrong_kind = NodeSetParamsRequest {
        params: node(node_type::WAIT_EVENT, b),
        ..set
    };
    assert_eq!(
        f.c.result(op::GRAPH_KERNEL_NODE_SET_PARAMS, wrong_kind.as_bytes()),
        result::INVALID_VALUE
    );
    let elapsed = |c: &mut Client, start, end| {
        let req = ElapsedRequest { ctx: 0, start, end };
        c.result(op::EVENT_ELAPSED_TIME, req.as_bytes())
    };
    assert_eq!(
        elapsed(&mut f.c, b, b),
        result::INVALID_HANDLE,
        "not yet recorded"
    );
    f.launch(exec);
    assert_eq!(elapsed(&mut f.c, b, b), result::SUCCESS);
    assert_eq!(
        elapsed(&mut f.c, a, b),
        result::INVALID_HANDLE,
        "a never recorded"
    );
}
