//! Host functions and event nodes in graphs: `cuLaunchHostFunc` captured
//! between kernels and replayed (with an external event record and wait),
//! an explicit graph with host nodes and event record/wait nodes (their
//! parameters read back and patched in the executable graph), and
//! `cuStreamAddCallback`, which CUDA does not capture. The host functions only log a tag (they
//! may not call CUDA); what they saw of the stream is its order: the log
//! after each synchronisation, and the kernels' results around them.

use std::ptr::null_mut;
use std::sync::{Arc, Mutex};

use super::super::{bytes, CaseResult, Ptr, Suite, BLOCK};
use uapi::cuda::result;

/// `CU_STREAM_NON_BLOCKING`.
const NON_BLOCKING: u32 = 1;
/// `CU_STREAM_CAPTURE_MODE_GLOBAL`.
const MODE_GLOBAL: i32 = 0;
/// `CU_EVENT_RECORD_EXTERNAL`, `CU_EVENT_WAIT_EXTERNAL`.
const EXTERNAL: u32 = 1;
/// `CU_STREAM_CAPTURE_STATUS_INVALIDATED`.
const INVALIDATED: i32 = 2;
const N: usize = 2048;

/// `CUDA_HOST_NODE_PARAMS`.
#[repr(C)]
pub struct HostNodeParams {
    pub f: Option<unsafe extern "C" fn(Ptr)>,
    pub data: Ptr,
}

/// A host function's user data: a tag to append to a shared log.
struct Tag {
    log: Arc<Mutex<Vec<u8>>>,
    tag: u8,
}

unsafe extern "C" fn record(data: Ptr) {
    // SAFETY: the case passes a live `Tag` as the user data.
    let t = unsafe { &*data.cast::<Tag>() };
    if let Ok(mut log) = t.log.lock() {
        log.push(t.tag);
    }
}

unsafe extern "C" fn callback(_: Ptr, _: u32, data: Ptr) {
    // SAFETY: as `record`.
    unsafe { record(data) }
}

/// saxpy's arguments (`y = a * x + y`), kept alive while a launch reads them.
struct Saxpy {
    n: u32,
    a: f32,
    x: u64,
    y: u64,
    ptrs: [Ptr; 4],
}

impl Saxpy {
    fn new(a: f32, x: u64, y: u64) -> Box<Self> {
        let mut b = Box::new(Self {
            n: N as u32,
            a,
            x,
            y,
            ptrs: [null_mut(); 4],
        });
        b.ptrs = [
            (&mut b.n as *mut u32).cast(),
            (&mut b.a as *mut f32).cast(),
            (&mut b.x as *mut u64).cast(),
            (&mut b.y as *mut u64).cast(),
        ];
        b
    }
}

impl Suite {
    fn log_is(&self, log: &Mutex<Vec<u8>>, want: &[u8], what: &str) -> Result<Vec<u8>, String> {
        let got = log.lock().map_err(|_| "log poisoned".to_string())?.clone();
        if got != want {
            return Err(format!(
                "{what}: host functions ran as {:?}, expected {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want)
            ));
        }
        Ok(got)
    }

    fn y_is(&self, y: u64, want: &[f32], what: &str) -> Result<Vec<f32>, String> {
        let mut out = vec![0f32; N];
        self.dtoh(&mut out, y)?;
        let bad = (0..N)
            .filter(|&i| out[i].to_bits() != want[i].to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{what}: {bad} wrong elements (y[1] = {})", out[1]));
        }
        Ok(out)
    }

    fn replay(&self, exec: Ptr, stream: Ptr, times: usize) -> Result<(), String> {
        for _ in 0..times {
            // SAFETY: our executable graph and stream.
            self.ck("cuGraphLaunch", unsafe {
                (self.api.cuGraphLaunch)(exec, stream)
            })?;
        }
        // SAFETY: our stream.
        self.ck("cuStreamSynchronize", unsafe {
            (self.api.cuStreamSynchronize)(stream)
        })
    }

    pub(in crate::suite) fn case_host_nodes(&mut self) -> CaseResult {
        let api = &self.api;
        let f = self.func("saxpy")?;
        let grid = (N as u32).div_ceil(BLOCK);
        let mut stream = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuStreamCreate", unsafe {
            (api.cuStreamCreate)(&mut stream, NON_BLOCKING)
        })?;
        let (x, y) = (self.alloc(4 * N)?, self.alloc(4 * N)?);
        let xs: Vec<f32> = (0..N).map(|i| (i % 509) as f32 * 0.5).collect();
        self.htod(x, &xs)?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let tags: Vec<Box<Tag>> = b"ABCDEF"
            .iter()
            .map(|&tag| {
                Box::new(Tag {
                    log: log.clone(),
                    tag,
                })
            })
            .collect();
        let tag = |i: usize| {
            (&*tags[i] as *const Tag)
                .cast_mut()
                .cast::<std::ffi::c_void>()
        };
        let mut events = [null_mut(); 3];
        for e in &mut events {
            // SAFETY: valid out pointer.
            self.ck("cuEventCreate", unsafe { (api.cuEventCreate)(e, 0) })?;
        }
        let [ev_a, ev_b, ev_c] = events;

        // Captured: y = 1; y = 2x + y; A; y = x + y; B.
        // SAFETY: our stream.
        self.ck("cuStreamBeginCapture_v2", unsafe {
            (api.cuStreamBeginCapture_v2)(stream, MODE_GLOBAL)
        })?;
        // SAFETY: our allocation, in stream order.
        self.ck("cuMemsetD32Async", unsafe {
            (api.cuMemsetD32Async)(y, 1.0f32.to_bits(), N, stream)
        })?;
        let mut first = Saxpy::new(2.0, x, y);
        self.ck(
            "cuLaunchKernel (captured)",
            self.launch(f, grid, BLOCK, 0, stream, &mut first.ptrs),
        )?;
        // SAFETY: `record` reads the live tag it is given.
        self.ck("cuLaunchHostFunc (captured)", unsafe {
            (api.cuLaunchHostFunc)(stream, Some(record), tag(0))
        })?;
        let mut second = Saxpy::new(1.0, x, y);
        self.ck(
            "cuLaunchKernel (captured)",
            self.launch(f, grid, BLOCK, 0, stream, &mut second.ptrs),
        )?;
        // SAFETY: as above.
        self.ck("cuLaunchHostFunc (captured)", unsafe {
            (api.cuLaunchHostFunc)(stream, Some(record), tag(1))
        })?;
        // External record and wait: event nodes, not fork/join marks.
        // SAFETY: our event and stream.
        self.ck("cuEventRecordWithFlags (external, captured)", unsafe {
            (api.cuEventRecordWithFlags)(ev_c, stream, EXTERNAL)
        })?;
        // SAFETY: as above.
        self.ck("cuStreamWaitEvent (external, captured)", unsafe {
            (api.cuStreamWaitEvent)(stream, ev_c, EXTERNAL)
        })?;
        let mut g1 = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuStreamEndCapture", unsafe {
            (api.cuStreamEndCapture)(stream, &mut g1)
        })?;
        self.log_is(&log, b"", "after capture")?;
        let mut count = 0usize;
        // SAFETY: NULL array asks for the count.
        self.ck("cuGraphGetNodes", unsafe {
            (api.cuGraphGetNodes)(g1, null_mut(), &mut count)
        })?;
        let mut e1 = null_mut();
        // SAFETY: valid out pointer, our graph.
        self.ck("cuGraphInstantiateWithFlags", unsafe {
            (api.cuGraphInstantiateWithFlags)(&mut e1, g1, 0)
        })?;
        self.replay(e1, stream, 3)?;
        let captured_log = self.log_is(&log, b"ABABAB", "captured host functions")?;
        let want: Vec<f32> = xs.iter().map(|&v| v + 2f32.mul_add(v, 1.0)).collect();
        let captured_y = self.y_is(y, &want, "captured graph")?;
        drop((first, second));

        // Explicit: C → y = 4x + y → record A → wait A → D; the executable
        // graph's D becomes E; the graph's C set to F afterwards leaves the
        // executable graph alone.
        log.lock().map_err(|_| "log poisoned")?.clear();
        let mut g2 = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuGraphCreate", unsafe { (api.cuGraphCreate)(&mut g2, 0) })?;
        let (mut h1, mut k, mut h2) = (null_mut(), null_mut(), null_mut());
        let c = HostNodeParams {
            f: Some(record),
            data: tag(2),
        };
        // SAFETY: our graph; valid params.
        self.ck("cuGraphAddHostNode", unsafe {
            (api.cuGraphAddHostNode)(&mut h1, g2, null_mut(), 0, &c)
        })?;
        let mut args = Saxpy::new(4.0, x, y);
        let kp = super::KernelNodeParams::new(f, grid, BLOCK, args.ptrs.as_mut_ptr());
        // SAFETY: our graph and node; params and arguments outlive the call.
        self.ck("cuGraphAddKernelNode_v2", unsafe {
            (api.cuGraphAddKernelNode_v2)(&mut k, g2, &h1, 1, &kp)
        })?;
        let (mut rec, mut wait) = (null_mut(), null_mut());
        // SAFETY: our graph, node and event.
        self.ck("cuGraphAddEventRecordNode", unsafe {
            (api.cuGraphAddEventRecordNode)(&mut rec, g2, &k, 1, ev_a)
        })?;
        // SAFETY: as above.
        self.ck("cuGraphAddEventWaitNode", unsafe {
            (api.cuGraphAddEventWaitNode)(&mut wait, g2, &rec, 1, ev_a)
        })?;
        let (mut got_rec, mut got_wait) = (null_mut(), null_mut());
        // SAFETY: our nodes; valid out pointers.
        unsafe {
            self.ck(
                "cuGraphEventRecordNodeGetEvent",
                (api.cuGraphEventRecordNodeGetEvent)(rec, &mut got_rec),
            )?;
            self.ck(
                "cuGraphEventWaitNodeGetEvent",
                (api.cuGraphEventWaitNodeGetEvent)(wait, &mut got_wait),
            )?;
        }
        if (got_rec, got_wait) != (ev_a, ev_a) {
            return Err("event nodes: not the event they were given".into());
        }
        let d = HostNodeParams {
            f: Some(record),
            data: tag(3),
        };
        // SAFETY: as above.
        self.ck("cuGraphAddHostNode", unsafe {
            (api.cuGraphAddHostNode)(&mut h2, g2, &wait, 1, &d)
        })?;
        let mut back = HostNodeParams {
            f: None,
            data: null_mut(),
        };
        // SAFETY: our node; valid out struct.
        self.ck("cuGraphHostNodeGetParams", unsafe {
            (api.cuGraphHostNodeGetParams)(h2, &mut back)
        })?;
        if back.f.map(|f| f as *const () as usize) != Some(record as *const () as usize)
            || back.data != tag(3)
        {
            return Err("cuGraphHostNodeGetParams: not the node's function and data".into());
        }
        let mut e2 = null_mut();
        // SAFETY: valid out pointer, our graph.
        self.ck("cuGraphInstantiateWithFlags", unsafe {
            (api.cuGraphInstantiateWithFlags)(&mut e2, g2, 0)
        })?;
        let e = HostNodeParams {
            f: Some(record),
            data: tag(4),
        };
        // SAFETY: our executable graph and node; valid params.
        self.ck("cuGraphExecHostNodeSetParams", unsafe {
            (api.cuGraphExecHostNodeSetParams)(e2, h2, &e)
        })?;
        let f_params = HostNodeParams {
            f: Some(record),
            data: tag(5),
        };
        // SAFETY: our node; valid params.
        self.ck("cuGraphHostNodeSetParams", unsafe {
            (api.cuGraphHostNodeSetParams)(h1, &f_params)
        })?;
        self.replay(e2, stream, 2)?;
        let explicit_log = self.log_is(&log, b"CECE", "explicit host nodes")?;
        let want: Vec<f32> = want
            .iter()
            .zip(&xs)
            .map(|(&y, &x)| 4f32.mul_add(x, 4f32.mul_add(x, y)))
            .collect();
        let explicit_y = self.y_is(y, &want, "explicit graph")?;
        drop(args);

        // An event record node's event patched in an executable graph: B is
        // recorded only once the patched graph has run.
        let mut g4 = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuGraphCreate", unsafe { (api.cuGraphCreate)(&mut g4, 0) })?;
        let (mut w4, mut r4) = (null_mut(), null_mut());
        // SAFETY: our graph, node and events.
        unsafe {
            self.ck(
                "cuGraphAddEventWaitNode",
                (api.cuGraphAddEventWaitNode)(&mut w4, g4, null_mut(), 0, ev_a),
            )?;
            self.ck(
                "cuGraphAddEventRecordNode",
                (api.cuGraphAddEventRecordNode)(&mut r4, g4, &w4, 1, ev_a),
            )?;
        }
        let mut e4 = null_mut();
        // SAFETY: valid out pointer, our graph.
        self.ck("cuGraphInstantiateWithFlags", unsafe {
            (api.cuGraphInstantiateWithFlags)(&mut e4, g4, 0)
        })?;
        // SAFETY: our executable graph, node and event.
        self.ck("cuGraphExecEventRecordNodeSetEvent", unsafe {
            (api.cuGraphExecEventRecordNodeSetEvent)(e4, r4, ev_b)
        })?;
        let mut ms = 0f32;
        // SAFETY: our events; valid out pointer.
        let before = unsafe { (api.cuEventElapsedTime)(&mut ms, ev_a, ev_b) };
        self.expect(
            "cuEventElapsedTime (B never recorded)",
            before,
            result::INVALID_HANDLE,
        )?;
        self.replay(e4, stream, 1)?;
        // SAFETY: as above.
        self.ck("cuEventElapsedTime (both recorded by graphs)", unsafe {
            (api.cuEventElapsedTime)(&mut ms, ev_a, ev_b)
        })?;

        // cuStreamAddCallback is not captured: refused, the capture invalidated.
        // SAFETY: our stream.
        self.ck("cuStreamBeginCapture_v2", unsafe {
            (api.cuStreamBeginCapture_v2)(stream, MODE_GLOBAL)
        })?;
        // SAFETY: `callback` reads the live tag it is given.
        let refused = unsafe { (api.cuStreamAddCallback)(stream, Some(callback), tag(0), 0) };
        self.expect(
            "cuStreamAddCallback (capturing)",
            refused,
            result::STREAM_CAPTURE_UNSUPPORTED,
        )?;
        let mut status = 0;
        // SAFETY: valid out pointer.
        self.ck("cuStreamIsCapturing", unsafe {
            (api.cuStreamIsCapturing)(stream, &mut status)
        })?;
        if status != INVALIDATED {
            return Err(format!("capture status {status} after cuStreamAddCallback"));
        }
        let mut g3 = null_mut();
        // SAFETY: valid out pointer.
        let ended = unsafe { (api.cuStreamEndCapture)(stream, &mut g3) };
        self.expect(
            "cuStreamEndCapture (invalidated)",
            ended,
            result::STREAM_CAPTURE_INVALIDATED,
        )?;
        if !g3.is_null() {
            return Err("cuStreamEndCapture gave a graph for an invalidated capture".into());
        }

        // SAFETY: our objects, destroyed once.
        unsafe {
            (api.cuGraphExecDestroy)(e1);
            (api.cuGraphExecDestroy)(e2);
            (api.cuGraphExecDestroy)(e4);
            (api.cuGraphDestroy)(g1);
            (api.cuGraphDestroy)(g2);
            (api.cuGraphDestroy)(g4);
            for e in events {
                (api.cuEventDestroy_v2)(e);
            }
            (api.cuStreamDestroy_v2)(stream);
        }
        self.free(x);
        self.free(y);
        self.log_is(&log, b"CECE", "after teardown")?;
        drop(tags);
        self.digest(
            "host_nodes",
            &[
                bytes(&[count as u64]),
                &captured_log,
                bytes(&captured_y),
                &explicit_log,
                bytes(&explicit_y),
                bytes(&[before, refused, status as u32, ended]),
            ],
        );
        Ok(format!(
            "{count} nodes captured with 2 host functions and external event nodes, \
             3 replays; explicit host and event nodes; cuStreamAddCallback refused in capture"
        ))
    }
}
