//! Decoding of the memory commands: copies, memsets, access and pools.
use super::*;

impl Decode for cmds::MemSetAccess {
    type Args<'a> = uapi::cuda::MemSetAccessRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::MemSetAccessRequest>(request)?;
        field(r.reserved == 0)?;
        Ok(r)
    }
}

/// The bytes to copy follow the request.
impl Decode for cmds::MemcpyHtod {
    type Args<'a> = (uapi::cuda::CopyRequest, &'a [u8]);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (r, data) = split::<uapi::cuda::CopyRequest>(request)?;
        field(data.len() as u64 == r.len && async_only(r.flags) && r.reserved == 0)?;
        Ok((r, data))
    }
}

/// Never asynchronous; also gives the copy's length as a `usize` (the
/// response carries it after its header).
impl Decode for cmds::MemcpyDtoh {
    type Args<'a> = (uapi::cuda::CopyRequest, usize);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::CopyRequest>(request)?;
        field(r.flags == 0 && r.reserved == 0)?;
        let len = usize::try_from(r.len).map_err(|_| Status::TooLarge)?;
        len.checked_add(8).ok_or(Status::TooLarge)?;
        Ok((r, len))
    }
}

/// Only the context and the tail's length: there is nothing to copy.
impl Decode for cmds::PrepareHost {
    type Args<'a> = (uapi::cuda::CopyRequest, &'a [u8]);
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (r, data) = split::<uapi::cuda::CopyRequest>(request)?;
        field(prepare_shape(&r) && data.len() as u64 == r.len)?;
        Ok((r, data))
    }
}

/// Whether a PREPARE_HOST request sets only what it may: `ctx` and `len`.
pub fn prepare_shape(r: &uapi::cuda::CopyRequest) -> bool {
    r.stream == 0 && r.dst == 0 && r.src == 0 && r.flags == 0 && r.reserved == 0
}

impl Decode for cmds::MemcpyDtod {
    type Args<'a> = uapi::cuda::CopyRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::CopyRequest>(request)?;
        field(async_only(r.flags) && r.reserved == 0)?;
        Ok(r)
    }
}

impl Decode for cmds::Memset {
    type Args<'a> = uapi::cuda::MemsetRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::MemsetRequest>(request)?;
        field(async_only(r.flags) && r.reserved == 0)?;
        Ok(r)
    }
}

/// A 2D copy's host rows, packed.
pub struct Copy2d<'a> {
    /// The request.
    pub req: uapi::cuda::Copy2dRequest,
    /// Host rows to copy to the device (HTOD), else empty.
    pub input: &'a [u8],
    /// Bytes of host rows the response carries (DTOH), else 0.
    pub output_len: usize,
}

impl Decode for cmds::Memcpy2d {
    type Args<'a> = Copy2d<'a>;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let (req, tail) = split::<uapi::cuda::Copy2dRequest>(request)?;
        let rows = req.width.checked_mul(req.height).ok_or(Status::TooLarge)?;
        let rows = usize::try_from(rows).map_err(|_| Status::TooLarge)?;
        // The response carries the rows after its 8-byte header.
        rows.checked_add(8).ok_or(Status::TooLarge)?;
        let (input, output_len) = match req.kind {
            copy_kind::HTOD if tail.len() == rows => (tail, 0),
            copy_kind::DTOH if tail.is_empty() => (tail, rows),
            copy_kind::DTOD if tail.is_empty() => (tail, 0),
            _ => return Err(Status::InvalidField),
        };
        field(async_only(req.flags) && (req.kind != copy_kind::DTOH || req.flags == 0))?;
        Ok(Copy2d {
            req,
            input,
            output_len,
        })
    }
}

fn pool_request(request: &[u8], has_attr: bool) -> Result<uapi::cuda::MemPoolRequest, Status> {
    let r = exact::<uapi::cuda::MemPoolRequest>(request)?;
    field(r.reserved == 0 && (has_attr || r.attr == 0))?;
    Ok(r)
}

impl Decode for cmds::MemPoolGetAttribute {
    type Args<'a> = uapi::cuda::MemPoolRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        pool_request(request, true)
    }
}

impl Decode for cmds::MemPoolSetAttribute {
    type Args<'a> = uapi::cuda::MemPoolRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        pool_request(request, true)
    }
}

/// `value` is the byte count to keep; `attr` must be 0.
impl Decode for cmds::MemPoolTrimTo {
    type Args<'a> = uapi::cuda::MemPoolRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        pool_request(request, false)
    }
}
