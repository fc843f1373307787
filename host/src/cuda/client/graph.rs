//! Stream capture and graph commands: what the client checks before the
//! executor (kernel parameters against the function's layout, node kinds),
//! and how the answers are encoded.

use super::Outcome;
use crate::cuda::backend::{CaptureInfo, CuResult, CudaBackend, ExecUpdateError};
use uapi::cuda::{
    node_type, result, CaptureInfoResponse, GraphExecUpdateResponse, NodeParams,
    NodeParamsResponse, ValueResponse,
};
use uapi::status::Status;
use uapi::wire::Wire;

/// A node's parameters as CUDA checks them when a node is added or set:
/// a known kind; kernels with a known function, a non-empty shape and the
/// function's parameter bytes; memsets with element size 1, 2 or 4.
pub(super) fn check_node(
    b: &dyn CudaBackend,
    p: &NodeParams,
    kernel_params: &[u8],
) -> CuResult<()> {
    match p.kind {
        node_type::KERNEL => {
            let layout = b
                .function_layout(p.function)
                .ok_or(result::INVALID_HANDLE)?;
            let end = layout
                .iter()
                .map(|i| u64::from(i.offset) + u64::from(i.size))
                .max()
                .unwrap_or(0);
            if kernel_params.len() as u64 != end || p.grid.contains(&0) || p.block.contains(&0) {
                return Err(result::INVALID_VALUE);
            }
            Ok(())
        }
        node_type::MEMSET => {
            let elem = u64::from(p.elem_size);
            if !matches!(p.elem_size, 1 | 2 | 4)
                || p.height == 0
                || !p.dst.is_multiple_of(elem)
                || (p.height > 1 && p.pitch < p.width.saturating_mul(elem))
            {
                return Err(result::INVALID_VALUE);
            }
            Ok(())
        }
        node_type::MEMCPY | node_type::EMPTY => Ok(()),
        node_type::HOST if p.function != 0 => Ok(()),
        node_type::HOST => Err(result::INVALID_VALUE),
        node_type::EVENT_RECORD | node_type::WAIT_EVENT if p.function != 0 => Ok(()),
        node_type::EVENT_RECORD | node_type::WAIT_EVENT => Err(result::INVALID_HANDLE),
        _ => Err(result::NOT_SUPPORTED),
    }
}

/// STREAM_GET_CAPTURE_INFO's answer (the dependencies follow the struct).
pub(super) fn capture_info(r: CuResult<CaptureInfo>, capacity: usize) -> Result<Outcome, Status> {
    let info = match r {
        Ok(i) => i,
        Err(e) => return Ok(Outcome::Response(super::header(e))),
    };
    let mut out = CaptureInfoResponse {
        result: result::SUCCESS,
        status: info.status,
        id: info.id,
        graph: info.graph,
        dep_count: info.deps.len() as u32,
        reserved: 0,
    }
    .as_bytes()
    .to_vec();
    info.deps
        .iter()
        .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
    if out.len() > capacity {
        return Err(Status::ResponseTooSmall);
    }
    Ok(Outcome::Response(out))
}

/// GRAPH_GET_NODES's answer: the count, then the nodes.
pub(super) fn nodes(r: CuResult<Vec<u64>>, capacity: usize) -> Result<Outcome, Status> {
    let nodes = match r {
        Ok(n) => n,
        Err(e) => return Ok(Outcome::Response(super::header(e))),
    };
    let mut out = ValueResponse {
        result: result::SUCCESS,
        reserved: 0,
        value: nodes.len() as u64,
    }
    .as_bytes()
    .to_vec();
    nodes
        .iter()
        .for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
    if out.len() > capacity {
        return Err(Status::ResponseTooSmall);
    }
    Ok(Outcome::Response(out))
}

/// GRAPH_KERNEL_NODE_GET_PARAMS's answer: the parameters, then their bytes.
pub(super) fn kernel_params(
    r: CuResult<(NodeParams, Vec<u8>)>,
    capacity: usize,
) -> Result<Outcome, Status> {
    let (mut params, bytes) = match r {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::Response(super::header(e))),
    };
    params.param_bytes = bytes.len() as u32;
    let mut out = NodeParamsResponse {
        result: result::SUCCESS,
        reserved: 0,
        params,
    }
    .as_bytes()
    .to_vec();
    out.extend_from_slice(&bytes);
    if out.len() > capacity {
        return Err(Status::ResponseTooSmall);
    }
    Ok(Outcome::Response(out))
}

/// GRAPH_EXEC_UPDATE's answer.
pub(super) fn exec_update(r: Result<(), ExecUpdateError>) -> Outcome {
    let resp = match r {
        Ok(()) => GraphExecUpdateResponse::default(),
        // A refused update answers SUCCESS with the reason, so that the
        // guest gets the result info with it (an error response has none).
        Err(e) => GraphExecUpdateResponse {
            result: if e.code == result::GRAPH_EXEC_UPDATE_FAILURE {
                result::SUCCESS
            } else {
                e.code
            },
            update_result: e.reason,
            error_node: e.node,
            error_from_node: e.from_node,
        },
    };
    Outcome::Response(resp.as_bytes().to_vec())
}
