//! Decoding of module loading, symbol lookup and kernel launches.
use super::*;

/// The image follows the request; an empty one means "the staged image".
impl Decode for cmds::ModuleLoad {
    type Args<'a> = (uapi::cuda::ModuleLoadRequest, &'a [u8]);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (r, image) = split::<uapi::cuda::ModuleLoadRequest>(request)?;
        field(image.len() as u64 == r.image_len)?;
        Ok((r, image))
    }
}

impl Decode for cmds::ModuleStage {
    type Args<'a> = (uapi::cuda::StageRequest, &'a [u8]);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        split(request)
    }
}

fn symbol(request: &[u8]) -> Result<(uapi::cuda::SymbolRequest, &str), Status> {
    let (r, tail) = split::<uapi::cuda::SymbolRequest>(request)?;
    field(tail.len() == r.name_len as usize && r.reserved == 0)?;
    Ok((r, name(tail)?))
}

impl Decode for cmds::ModuleGetFunction {
    type Args<'a> = (uapi::cuda::SymbolRequest, &'a str);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        symbol(request)
    }
}

impl Decode for cmds::ModuleGetGlobal {
    type Args<'a> = (uapi::cuda::SymbolRequest, &'a str);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        symbol(request)
    }
}

/// The parameter bytes follow the request.
impl Decode for cmds::Launch {
    type Args<'a> = (uapi::cuda::LaunchRequest, &'a [u8]);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (r, params) = split::<uapi::cuda::LaunchRequest>(request)?;
        field(params.len() == r.param_bytes as usize && r.param_bytes <= MAX_PARAM_BYTES)?;
        Ok((r, params))
    }
}

/// A LAUNCH_EX request's parts.
pub struct LaunchEx<'a> {
    /// The launch itself.
    pub req: uapi::cuda::LaunchExRequest,
    /// Its attributes, each id one a launch may carry.
    pub attrs: Vec<LaunchAttribute>,
    /// The parameter bytes.
    pub params: &'a [u8],
}

impl Decode for cmds::LaunchEx {
    type Args<'a> = LaunchEx<'a>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (req, tail) = split::<uapi::cuda::LaunchExRequest>(request)?;
        field(
            req.attr_count <= MAX_LAUNCH_ATTRIBUTES
                && req.reserved == 0
                && req.launch.param_bytes <= MAX_PARAM_BYTES,
        )?;
        let attr_bytes = req.attr_count as usize * size_of::<LaunchAttribute>();
        field(tail.len() == attr_bytes + req.launch.param_bytes as usize)?;
        let (attr_tail, params) = tail.split_at(attr_bytes);
        let attrs: Vec<LaunchAttribute> = attr_tail
            .chunks_exact(size_of::<LaunchAttribute>())
            .filter_map(LaunchAttribute::read_from)
            .collect();
        field(
            attrs
                .iter()
                .all(|a| a.reserved == 0 && uapi::cuda::launch_attribute::is_carried(a.id)),
        )?;
        Ok(LaunchEx { req, attrs, params })
    }
}
