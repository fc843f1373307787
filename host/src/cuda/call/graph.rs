//! Decoding of the stream-capture and graph commands.
use super::*;

impl Decode for cmds::StreamBeginCapture {
    type Args<'a> = uapi::cuda::CaptureBeginRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::CaptureBeginRequest>(request)?;
        field(r.reserved == 0 && r.mode <= uapi::cuda::capture_mode::RELAXED)?;
        Ok(r)
    }
}

impl Decode for cmds::StreamEndCapture {
    type Args<'a> = uapi::cuda::CaptureEndRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::CaptureEndRequest>(request)?;
        field(r.reserved == 0 && r.flags & !uapi::cuda::END_CAPTURE_DISCARD == 0)?;
        Ok(r)
    }
}

/// `count` little-endian `u64`s, exactly.
fn handles(tail: &[u8], count: u32) -> Result<Vec<u64>, Status> {
    field(count <= uapi::cuda::MAX_GRAPH_DEPS && tail.len() == count as usize * 8)?;
    Ok(tail
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

impl Decode for cmds::StreamUpdateCaptureDeps {
    type Args<'a> = (uapi::cuda::CaptureDepsRequest, Vec<u64>);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (r, tail) = split::<uapi::cuda::CaptureDepsRequest>(request)?;
        field(r.flags & !uapi::cuda::CAPTURE_DEPS_SET == 0)?;
        Ok((r, handles(tail, r.count)?))
    }
}

/// A GRAPH_ADD_NODE request's parts.
pub struct AddNode<'a> {
    /// The request.
    pub req: uapi::cuda::GraphAddNodeRequest,
    /// The node's dependencies.
    pub deps: Vec<u64>,
    /// Kernel parameters (kernel nodes).
    pub params: &'a [u8],
}

/// A node's fixed shape: reserved zero, parameters only for kernels.
fn node_params(p: &uapi::cuda::NodeParams) -> Result<(), Status> {
    field(
        p.reserved == 0
            && p.param_bytes <= MAX_PARAM_BYTES
            && (p.kind == uapi::cuda::node_type::KERNEL || p.param_bytes == 0),
    )
}

impl Decode for cmds::GraphAddNode {
    type Args<'a> = AddNode<'a>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (req, tail) = split::<uapi::cuda::GraphAddNodeRequest>(request)?;
        field(req.reserved == 0 && req.dep_count <= uapi::cuda::MAX_GRAPH_DEPS)?;
        node_params(&req.params)?;
        let dep_bytes = req.dep_count as usize * 8;
        field(tail.len() == dep_bytes + req.params.param_bytes as usize)?;
        let (deps, params) = tail.split_at(dep_bytes);
        Ok(AddNode {
            req,
            deps: handles(deps, req.dep_count)?,
            params,
        })
    }
}

impl Decode for cmds::GraphAddDependencies {
    type Args<'a> = (uapi::cuda::GraphEdgesRequest, Vec<(u64, u64)>);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (r, tail) = split::<uapi::cuda::GraphEdgesRequest>(request)?;
        field(r.reserved == 0 && r.count <= uapi::cuda::MAX_GRAPH_DEPS)?;
        let ends = handles(tail, r.count * 2)?;
        Ok((r, ends.chunks_exact(2).map(|p| (p[0], p[1])).collect()))
    }
}

impl Decode for cmds::GraphKernelNodeSetParams {
    type Args<'a> = (uapi::cuda::NodeSetParamsRequest, &'a [u8]);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (r, params) = split::<uapi::cuda::NodeSetParamsRequest>(request)?;
        node_params(&r.params)?;
        use uapi::cuda::node_type::{EVENT_RECORD, KERNEL, WAIT_EVENT};
        field(
            matches!(r.params.kind, KERNEL | EVENT_RECORD | WAIT_EVENT)
                && params.len() == r.params.param_bytes as usize,
        )?;
        Ok((r, params))
    }
}
