//! Decoding of the commands with a guest-chosen option (flags, attributes,
//! limits) that the allow-list of [`super::options`] checks.
use super::*;

/// A request and what the allow-list made of its guest-chosen option: the
/// checked value, or the `CUresult` NVIDIA's driver gives for a value it
/// does not know (or one vgpu refuses, see [`options`]).
pub type Checked<R, T = ()> = (R, CuResult<T>);

impl Decode for cmds::StreamWaitEvent {
    type Args<'a> = Checked<uapi::cuda::StreamEventRequest, WaitFlags>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::StreamEventRequest>(request)?;
        field(r.reserved == 0)?;
        Ok((r, WaitFlags::new(r.flags)))
    }
}

impl Decode for cmds::CtxCreate {
    type Args<'a> = Checked<uapi::cuda::CtxCreateRequest, CtxFlags>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::CtxCreateRequest>(request)?;
        field(r.ctx == 0)?;
        Ok((r, CtxFlags::new(r.flags)))
    }
}

impl Decode for cmds::StreamCreate {
    type Args<'a> = Checked<uapi::cuda::StreamCreateRequest, StreamFlags>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::StreamCreateRequest>(request)?;
        Ok((r, StreamFlags::new(r.flags)))
    }
}

impl Decode for cmds::EventCreate {
    type Args<'a> = Checked<uapi::cuda::EventCreateRequest, EventFlags>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::EventCreateRequest>(request)?;
        field(r.reserved == 0)?;
        Ok((r, EventFlags::new(r.flags)))
    }
}

impl Decode for cmds::FuncSetAttribute {
    type Args<'a> = Checked<uapi::cuda::FuncSetAttributeRequest>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::FuncSetAttributeRequest>(request)?;
        Ok((r, options::check_settable_func_attribute(r.attribute)))
    }
}

impl Decode for cmds::CtxSetLimit {
    type Args<'a> = Checked<uapi::cuda::LimitRequest>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::LimitRequest>(request)?;
        field(r.reserved == 0)?;
        Ok((r, options::check_settable_limit(r.limit)))
    }
}

/// `cuEventRecord` has no flags.
impl Decode for cmds::EventRecord {
    type Args<'a> = uapi::cuda::StreamEventRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::StreamEventRequest>(request)?;
        field(r.reserved == 0 && r.flags == 0)?;
        Ok(r)
    }
}

impl Decode for cmds::Occupancy {
    type Args<'a> = Checked<uapi::cuda::OccupancyRequest>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::OccupancyRequest>(request)?;
        field(r.reserved == 0)?;
        Ok((r, options::check_occupancy_flags(r.flags)))
    }
}
