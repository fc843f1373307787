//! Executable graphs: instantiate (every ABI), upload, launch, update,
//! destroy.

use std::ffi::{c_int, c_void};

use uapi::cuda::{cmds, exec_update, result, GraphExecUpdateRequest, GraphLaunchRequest};

use super::graph::graph_call;
use super::{with_ctx, with_state, CuResult, State};
use crate::driver::abi::Out;

/// `CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD`.
const INSTANTIATE_UPLOAD: u64 = 2;

fn instantiate(s: &mut State, ctx: u64, graph: *mut c_void, flags: u64) -> CuResult<u64> {
    let exec = graph_call::<cmds::GraphInstantiate>(s, ctx, graph as u64, flags)?.handle;
    s.host_fns.instantiated(graph as u64, exec);
    Ok(exec)
}

pub(crate) fn graph_instantiate_with_flags(
    exec: Out<'_, *mut c_void>,
    graph: *mut c_void,
    flags: u64,
) -> CuResult {
    with_ctx(|s, ctx| {
        let exec = exec.get()?;
        let h = instantiate(s, ctx, graph, flags)?;
        exec.write(h as *mut c_void);
        Ok(())
    })
}

/// `cuGraphInstantiate` (CUDA 10/11 ABI): error node and log unused.
pub(crate) unsafe fn graph_instantiate(
    exec: Out<'_, *mut c_void>,
    graph: *mut c_void,
    error_node: *mut *mut c_void,
    log: *mut u8,
    log_size: usize,
) -> CuResult {
    // SAFETY: the caller's out-parameters, if given.
    unsafe {
        if !error_node.is_null() {
            *error_node = std::ptr::null_mut();
        }
        if !log.is_null() && log_size > 0 {
            *log = 0;
        }
    }
    graph_instantiate_with_flags(exec, graph, 0)
}

/// `CUDA_GRAPH_INSTANTIATE_PARAMS`.
#[repr(C)]
pub(crate) struct InstantiateParams {
    flags: u64,
    upload_stream: *mut c_void,
    error_node: *mut c_void,
    result: c_int,
}

pub(crate) unsafe fn graph_instantiate_with_params(
    exec: Out<'_, *mut c_void>,
    graph: *mut c_void,
    p: *mut c_void,
) -> CuResult {
    if p.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let p = p.cast::<InstantiateParams>();
    // SAFETY: the caller's struct.
    let (flags, upload) = unsafe { ((*p).flags, (*p).upload_stream) };
    let got = with_ctx(|s, ctx| {
        let exec = exec.get()?;
        let h = instantiate(s, ctx, graph, flags)?;
        exec.write(h as *mut c_void);
        Ok(h)
    });
    // SAFETY: as above.
    unsafe {
        (*p).error_node = std::ptr::null_mut();
        (*p).result = c_int::from(got.is_err());
    }
    let h = got?;
    if flags & INSTANTIATE_UPLOAD != 0 {
        graph_upload(h as *mut c_void, upload)?;
    }
    Ok(())
}

pub(crate) fn graph_exec_destroy(exec: *mut c_void) -> CuResult {
    with_ctx(|s, ctx| {
        graph_call::<cmds::GraphExecDestroy>(s, ctx, exec as u64, 0)?;
        s.host_fns.forget_exec(exec as u64);
        Ok(())
    })
}

fn launch_like<C: uapi::cuda::CudaCommand<Request = GraphLaunchRequest>>(
    exec: *mut c_void,
    stream: *mut c_void,
) -> CuResult {
    with_state(|s| {
        let (_, ctx) = s.current()?;
        let st = s.stream_host(stream as u64)?;
        let req = GraphLaunchRequest {
            ctx,
            exec: exec as u64,
            stream: st,
        };
        s.client()?.push_cmd::<C>(&req, &[])
    })
}

pub(crate) fn graph_launch(exec: *mut c_void, stream: *mut c_void) -> CuResult {
    if exec.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let parts = with_state(|s| {
        if !s.host_fns.has_host_nodes(exec as u64) {
            return Ok(false);
        }
        if !s.captures.is_capturing(stream as u64) {
            return Ok(true);
        }
        // Into a capture: the host nodes join the capture's graph.
        super::host_fn::launched_into_capture(s, exec as u64, stream)?;
        Ok(false)
    })?;
    if parts {
        return super::host_fn::launch_in_parts(exec as u64, stream);
    }
    launch_like::<cmds::GraphLaunch>(exec, stream)
}

pub(crate) fn graph_upload(exec: *mut c_void, stream: *mut c_void) -> CuResult {
    if exec.is_null() {
        return Err(result::INVALID_VALUE);
    }
    launch_like::<cmds::GraphUpload>(exec, stream)
}

/// The update itself: `Ok`, or the driver's code with the result info.
fn exec_update_call(
    exec: *mut c_void,
    graph: *mut c_void,
) -> CuResult<uapi::cuda::GraphExecUpdateResponse> {
    with_ctx(|s, ctx| {
        let req = GraphExecUpdateRequest {
            ctx,
            exec: exec as u64,
            graph: graph as u64,
        };
        // A refused update is answered SUCCESS with its reason, so that
        // the result info travels with it.
        let r = s
            .client()?
            .call_cmd::<cmds::GraphExecUpdate>(&req, &[], 0)?
            .0;
        if r.update_result == exec_update::SUCCESS {
            s.host_fns.instantiated(graph as u64, exec as u64);
        }
        Ok(r)
    })
}

/// `CUgraphExecUpdateResultInfo`.
#[repr(C)]
pub(crate) struct UpdateResultInfo {
    result: c_int,
    error_node: *mut c_void,
    error_from_node: *mut c_void,
}

/// `cuGraphExecUpdate_v2`.
pub(crate) unsafe fn graph_exec_update_v2(
    exec: *mut c_void,
    graph: *mut c_void,
    info: *mut c_void,
) -> CuResult {
    if info.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let (code, r) = exec_update_full(exec, graph);
    let info = info.cast::<UpdateResultInfo>();
    // SAFETY: the caller's struct.
    unsafe {
        (*info).result = r.update_result as c_int;
        (*info).error_node = r.error_node as *mut c_void;
        (*info).error_from_node = r.error_from_node as *mut c_void;
    }
    code
}

/// `cuGraphExecUpdate` (CUDA 10.2 ABI): error node and result out-parameters.
pub(crate) unsafe fn graph_exec_update(
    exec: *mut c_void,
    graph: *mut c_void,
    error_node: *mut *mut c_void,
    update_result: *mut c_int,
) -> CuResult {
    if error_node.is_null() || update_result.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let (code, r) = exec_update_full(exec, graph);
    // SAFETY: the caller's out-parameters.
    unsafe {
        *error_node = r.error_node as *mut c_void;
        *update_result = r.update_result as c_int;
    }
    code
}

/// The update's outcome with its info, which an error response carries too.
fn exec_update_full(
    exec: *mut c_void,
    graph: *mut c_void,
) -> (CuResult, uapi::cuda::GraphExecUpdateResponse) {
    match exec_update_call(exec, graph) {
        Ok(r) if r.update_result != exec_update::SUCCESS => {
            (Err(result::GRAPH_EXEC_UPDATE_FAILURE), r)
        }
        Ok(r) => (Ok(()), r),
        Err(code) => (
            Err(code),
            uapi::cuda::GraphExecUpdateResponse {
                result: code,
                update_result: exec_update::ERROR,
                ..Default::default()
            },
        ),
    }
}
