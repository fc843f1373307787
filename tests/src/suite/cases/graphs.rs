//! Stream capture and CUDA graphs as ggml-cuda and PyTorch use them: a
//! memset and a kernel captured on a stream, instantiated, launched several
//! times, updated with `cuGraphExecUpdate_v2` from a second capture; then
//! the same graph built with the explicit API and its kernel node patched
//! in the executable graph.

use std::ptr::null_mut;

use super::super::{bytes, CaseResult, Ptr, Suite, BLOCK};

/// `CU_STREAM_NON_BLOCKING`.
const NON_BLOCKING: u32 = 1;
/// `CU_STREAM_CAPTURE_MODE_GLOBAL`.
const MODE_GLOBAL: i32 = 0;
/// `CU_STREAM_CAPTURE_STATUS_ACTIVE`.
const ACTIVE: i32 = 1;
const N: usize = 4096;

/// `CUDA_KERNEL_NODE_PARAMS_v2`.
#[repr(C)]
pub struct KernelNodeParams {
    func: Ptr,
    grid: [u32; 3],
    block: [u32; 3],
    shared: u32,
    params: *mut Ptr,
    extra: *mut Ptr,
    kern: Ptr,
    ctx: Ptr,
}

impl KernelNodeParams {
    /// A 1D launch of `func` with `kernelParams` `params`.
    pub fn new(func: Ptr, grid: u32, block: u32, params: *mut Ptr) -> Self {
        Self {
            func,
            grid: [grid, 1, 1],
            block: [block, 1, 1],
            shared: 0,
            params,
            extra: null_mut(),
            kern: null_mut(),
            ctx: null_mut(),
        }
    }
}

/// `CUDA_MEMSET_NODE_PARAMS`.
#[repr(C)]
pub struct MemsetNodeParams {
    dst: u64,
    pitch: usize,
    value: u32,
    elem: u32,
    width: usize,
    height: usize,
}

/// `CUgraphExecUpdateResultInfo`.
#[repr(C)]
pub struct UpdateInfo {
    result: i32,
    node: Ptr,
    from: Ptr,
}

/// saxpy's arguments, kept alive while a launch or node reads them.
struct Args {
    n: u32,
    a: f32,
    x: u64,
    y: u64,
    ptrs: [Ptr; 4],
}

impl Args {
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
    /// Captures `y = value; y = a * x + y` on `stream`; returns the graph.
    fn capture_saxpy(
        &mut self,
        stream: Ptr,
        value: f32,
        a: f32,
        x: u64,
        y: u64,
    ) -> Result<Ptr, String> {
        let api = &self.api;
        let f = self.func("saxpy")?;
        // SAFETY: our stream.
        self.ck("cuStreamBeginCapture_v2", unsafe {
            (api.cuStreamBeginCapture_v2)(stream, MODE_GLOBAL)
        })?;
        let mut status = 0;
        // SAFETY: valid out pointer.
        self.ck("cuStreamIsCapturing", unsafe {
            (api.cuStreamIsCapturing)(stream, &mut status)
        })?;
        if status != ACTIVE {
            return Err(format!("capture status {status}"));
        }
        // SAFETY: our allocation, in stream order.
        self.ck("cuMemsetD32Async", unsafe {
            (api.cuMemsetD32Async)(y, value.to_bits(), N, stream)
        })?;
        let mut args = Args::new(a, x, y);
        let grid = (N as u32).div_ceil(BLOCK);
        self.ck(
            "cuLaunchKernel (captured)",
            self.launch(f, grid, BLOCK, 0, stream, &mut args.ptrs),
        )?;
        let mut g = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuStreamEndCapture", unsafe {
            (api.cuStreamEndCapture)(stream, &mut g)
        })?;
        Ok(g)
    }

    fn check_y(
        &self,
        y: u64,
        x: &[f32],
        value: f32,
        a: f32,
        what: &str,
    ) -> Result<Vec<f32>, String> {
        let mut out = vec![0f32; N];
        self.dtoh(&mut out, y)?;
        let bad = (0..N)
            .filter(|&i| out[i].to_bits() != a.mul_add(x[i], value).to_bits())
            .count();
        if bad > 0 {
            return Err(format!("{what}: {bad} wrong elements (y[1] = {})", out[1]));
        }
        Ok(out)
    }

    fn launch_graph(&self, exec: Ptr, stream: Ptr, times: usize) -> Result<(), String> {
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

    pub(in crate::suite) fn case_graphs(&mut self) -> CaseResult {
        let mut stream = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuStreamCreate", unsafe {
            (self.api.cuStreamCreate)(&mut stream, NON_BLOCKING)
        })?;
        let (x, y) = (self.alloc(4 * N)?, self.alloc(4 * N)?);
        let xs: Vec<f32> = (0..N).map(|i| (i % 1021) as f32 * 0.25).collect();
        self.htod(x, &xs)?;
        self.htod(y, &vec![7.0f32; N])?;

        let g1 = self.capture_saxpy(stream, 1.0, 2.0, x, y)?;
        // Captured, not run.
        self.check_y(y, &xs, 7.0, 0.0, "after capture")?;
        let mut count = 0usize;
        // SAFETY: NULL array asks for the count.
        self.ck("cuGraphGetNodes", unsafe {
            (self.api.cuGraphGetNodes)(g1, null_mut(), &mut count)
        })?;
        let mut exec = null_mut();
        // SAFETY: valid out pointer, our graph.
        self.ck("cuGraphInstantiateWithFlags", unsafe {
            (self.api.cuGraphInstantiateWithFlags)(&mut exec, g1, 0)
        })?;
        // SAFETY: our executable graph and stream.
        self.ck("cuGraphUpload", unsafe {
            (self.api.cuGraphUpload)(exec, stream)
        })?;
        self.launch_graph(exec, stream, 3)?;
        let first = self.check_y(y, &xs, 1.0, 2.0, "graph launch")?;

        let g2 = self.capture_saxpy(stream, 0.5, 3.0, x, y)?;
        let mut info = UpdateInfo {
            result: -1,
            node: null_mut(),
            from: null_mut(),
        };
        // SAFETY: our executable graph, graph and out struct.
        self.ck("cuGraphExecUpdate_v2", unsafe {
            (self.api.cuGraphExecUpdate_v2)(exec, g2, &mut info)
        })?;
        self.launch_graph(exec, stream, 2)?;
        let updated = self.check_y(y, &xs, 0.5, 3.0, "after exec update")?;

        // The explicit API: memset → saxpy, then the exec's kernel node patched.
        let mut g3 = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuGraphCreate", unsafe {
            (self.api.cuGraphCreate)(&mut g3, 0)
        })?;
        let m = MemsetNodeParams {
            dst: y,
            pitch: 4 * N,
            value: 2.0f32.to_bits(),
            elem: 4,
            width: N,
            height: 1,
        };
        let (mut ms, mut k) = (null_mut(), null_mut());
        let mut ctx = null_mut();
        // SAFETY: valid out pointer.
        self.ck("cuCtxGetCurrent", unsafe {
            (self.api.cuCtxGetCurrent)(&mut ctx)
        })?;
        // SAFETY: our graph; valid params.
        self.ck("cuGraphAddMemsetNode", unsafe {
            (self.api.cuGraphAddMemsetNode)(&mut ms, g3, null_mut(), 0, &m, ctx)
        })?;
        let mut args = Args::new(4.0, x, y);
        let mut kp = KernelNodeParams {
            func: self.func("saxpy")?,
            grid: [(N as u32).div_ceil(BLOCK), 1, 1],
            block: [BLOCK, 1, 1],
            shared: 0,
            params: args.ptrs.as_mut_ptr(),
            extra: null_mut(),
            kern: null_mut(),
            ctx: null_mut(),
        };
        // SAFETY: our graph and node; the params and arguments outlive the call.
        self.ck("cuGraphAddKernelNode_v2", unsafe {
            (self.api.cuGraphAddKernelNode_v2)(&mut k, g3, &ms, 1, &kp)
        })?;
        let mut exec3 = null_mut();
        // SAFETY: valid out pointer, our graph.
        self.ck("cuGraphInstantiateWithFlags", unsafe {
            (self.api.cuGraphInstantiateWithFlags)(&mut exec3, g3, 0)
        })?;
        self.launch_graph(exec3, stream, 1)?;
        let built = self.check_y(y, &xs, 2.0, 4.0, "explicit graph")?;
        let mut patched_args = Args::new(-1.0, x, y);
        kp.params = patched_args.ptrs.as_mut_ptr();
        // SAFETY: our executable graph and node; params outlive the call.
        self.ck("cuGraphExecKernelNodeSetParams_v2", unsafe {
            (self.api.cuGraphExecKernelNodeSetParams_v2)(exec3, k, &kp)
        })?;
        self.launch_graph(exec3, stream, 1)?;
        let patched = self.check_y(y, &xs, 2.0, -1.0, "patched kernel node")?;
        drop((args, patched_args));

        // SAFETY: our objects, destroyed once.
        unsafe {
            (self.api.cuGraphExecDestroy)(exec);
            (self.api.cuGraphExecDestroy)(exec3);
            for g in [g1, g2, g3] {
                (self.api.cuGraphDestroy)(g);
            }
            (self.api.cuStreamDestroy_v2)(stream);
        }
        self.free(x);
        self.free(y);
        let result = info.result as u32;
        self.digest(
            "graphs",
            &[
                bytes(&[count as u64]),
                bytes(&[result]),
                bytes(&first),
                bytes(&updated),
                bytes(&built),
                bytes(&patched),
            ],
        );
        Ok(format!(
            "{count} nodes captured, 5 launches, exec update, explicit graph"
        ))
    }
}
