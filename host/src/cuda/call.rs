//! CUDA requests decoded once, where they enter the host: [`CudaCall`].
//!
//! The enum is generated from uapi's command list (`uapi::cuda_command_list!`),
//! one variant per `uapi::cuda::cmds` marker, each holding what that
//! command's [`Decode`] impl parsed. So the compiler checks the host against
//! the declaration list twice: a declared command without a `Decode` impl
//! does not compile (its variant's payload type does not exist), and a
//! variant without an arm in the one `match` of
//! [`super::client::CudaClient`] is a non-exhaustive match. No opcode is
//! listed by hand on the host.
//!
//! Decoding checks the wire shape (exact sizes, tail lengths, reserved
//! fields and flags, names): a malformed request is a device status
//! ([`Status::InvalidField`], [`Status::TooLarge`]) and never reaches an
//! executor. What CUDA itself rejects (`CUresult` codes) is checked later,
//! by the client or the executor.

use super::backend::CuResult;
use super::options::{self, CtxFlags, EventFlags, StreamFlags, WaitFlags};
use core::mem::size_of;
use uapi::cuda::{
    cmds, copy_flags, copy_kind, op, CudaCommand, LaunchAttribute, MAX_LAUNCH_ATTRIBUTES, MAX_NAME,
    MAX_PARAM_BYTES,
};
use uapi::status::Status;
use uapi::wire::Wire;

/// How one command's request bytes become its typed arguments.
pub trait Decode: CudaCommand {
    /// What the request decodes to (borrowing its tail, if any).
    type Args<'a>;
    /// Parses and checks `request` (the whole body, tail included).
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status>;
}

/// Splits a request into its fixed struct and the bytes after it.
fn split<T: Wire>(request: &[u8]) -> Result<(T, &[u8]), Status> {
    let head = T::read_from(request).ok_or(Status::InvalidField)?;
    Ok((head, &request[size_of::<T>()..]))
}

/// A request that is exactly `T`.
fn exact<T: Wire>(request: &[u8]) -> Result<T, Status> {
    match split::<T>(request)? {
        (head, []) => Ok(head),
        _ => Err(Status::InvalidField),
    }
}

/// `Err(InvalidField)` unless `ok`.
fn field(ok: bool) -> Result<(), Status> {
    if ok {
        Ok(())
    } else {
        Err(Status::InvalidField)
    }
}

/// A symbol name: 1..=MAX_NAME bytes of UTF-8 without NUL.
fn name(tail: &[u8]) -> Result<&str, Status> {
    field(!tail.is_empty() && tail.len() <= MAX_NAME as usize && !tail.contains(&0))?;
    core::str::from_utf8(tail).map_err(|_| Status::InvalidField)
}

/// Whether `flags` has only `copy_flags::ASYNC`, if anything.
fn async_only(flags: u32) -> bool {
    flags & !copy_flags::ASYNC == 0
}

macro_rules! is_detached {
    ($request:ident, $req:ident) => {
        false
    };
    ($request:ident, $req:ident, detached) => {
        true
    };
    ($request:ident, $req:ident, detached_if_async) => {
        uapi::cuda::$req::read_from($request).is_some_and(|r| r.flags & copy_flags::ASYNC != 0)
    };
}

macro_rules! cuda_calls {
    ($(
        $(#[doc = $doc:literal])*
        $ty:ident($name:ident = $code:literal):
            $req:ident $(+ $rtail:ident)? => $resp:ident $(+ $ptail:ident)? $(, $sub:ident)?;
    )*) => {
        /// One decoded CUDA command: a variant per `uapi::cuda::cmds` marker.
        pub enum CudaCall<'a> {
            $( $(#[doc = $doc])* $ty(<cmds::$ty as Decode>::Args<'a>), )*
        }

        impl<'a> CudaCall<'a> {
            /// Decodes the request of `opcode`; an unknown opcode is
            /// [`Status::InvalidOpcode`].
            pub fn decode(opcode: u16, request: &'a [u8]) -> Result<Self, Status> {
                match opcode {
                    $( op::$name => <cmds::$ty as Decode>::decode(request).map(Self::$ty), )*
                    _ => Err(Status::InvalidOpcode),
                }
            }

            /// Whether the guest submitted `opcode` detached (no response
            /// expected), judged from the raw request as the guest did. A
            /// malformed or unknown request counts as not detached.
            pub fn is_detached(opcode: u16, request: &[u8]) -> bool {
                match opcode {
                    $( op::$name => is_detached!(request, $req $(, $sub)?), )*
                    _ => false,
                }
            }
        }
    };
}

uapi::cuda_command_list!(cuda_calls);

/// Commands whose request is exactly their struct, with nothing to check.
macro_rules! decode_exact {
    ($($ty:ident),* $(,)?) => {$(
        impl Decode for cmds::$ty {
            type Args<'a> = <Self as CudaCommand>::Request;
            fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
                exact(request)
            }
        }
    )*};
}

decode_exact!(
    CtxDestroy,
    PrimaryCtxRetain,
    PrimaryCtxRelease,
    PrimaryCtxReset,
    CtxSynchronize,
    DeviceGetAttributes,
    MemGetInfo,
    MemAlloc,
    MemFree,
    MemGetAddressRange,
    ModuleUnload,
    StreamDestroy,
    StreamSynchronize,
    StreamQuery,
    StreamDriverValue,
    EventDestroy,
    EventQuery,
    EventSynchronize,
    EventElapsedTime,
    FuncGetAttributes,
    CtxGetLimit,
    TensorMapEncodeTiled,
    TensorMapReplaceAddress,
    MemAllocAsync,
    MemFreeAsync,
    MemAddressReserve,
    MemAddressFree,
    MemCreate,
    MemRelease,
    MemMap,
    MemUnmap,
    MemGetAccess,
    MemRetainAllocationHandle,
    StreamGetCaptureInfo,
    GraphCreate,
    GraphDestroy,
    GraphClone,
    GraphGetNodes,
    GraphNodeGetType,
    GraphKernelNodeGetParams,
    GraphInstantiate,
    GraphExecDestroy,
    GraphLaunch,
    GraphUpload,
    GraphExecUpdate,
);

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
        field(
            r.params.kind == uapi::cuda::node_type::KERNEL
                && params.len() == r.params.param_bytes as usize,
        )?;
        Ok((r, params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uapi::cuda::{CopyRequest, CtxRequest, StreamEventRequest};

    #[test]
    fn every_declared_opcode_decodes_to_its_variant_or_a_field_error() {
        for c in uapi::cuda::COMMANDS {
            let zeros = vec![0u8; c.request_size];
            match CudaCall::decode(c.opcode, &zeros) {
                Ok(_) | Err(Status::InvalidField) => {}
                Err(e) => panic!("{}: {e:?}", c.name),
            }
        }
        assert!(matches!(
            CudaCall::decode(0x1ff, &[]),
            Err(Status::InvalidOpcode)
        ));
    }

    #[test]
    fn shapes_are_checked_where_they_enter() {
        let ctx = CtxRequest { ctx: 7 };
        assert!(matches!(
            CudaCall::decode(op::CTX_SYNCHRONIZE, ctx.as_bytes()),
            Ok(CudaCall::CtxSynchronize(CtxRequest { ctx: 7 }))
        ));
        let mut long = ctx.as_bytes().to_vec();
        long.push(0);
        assert!(matches!(
            CudaCall::decode(op::CTX_SYNCHRONIZE, &long),
            Err(Status::InvalidField)
        ));
        let record = StreamEventRequest {
            flags: 1,
            ..Default::default()
        };
        assert!(matches!(
            CudaCall::decode(op::EVENT_RECORD, record.as_bytes()),
            Err(Status::InvalidField)
        ));
        assert!(matches!(
            CudaCall::decode(op::STREAM_WAIT_EVENT, record.as_bytes()),
            Ok(CudaCall::StreamWaitEvent((_, Ok(_))))
        ));
    }

    #[test]
    fn detachment_follows_the_declaration_and_the_async_flag() {
        let copy = |flags| {
            CopyRequest {
                flags,
                ..Default::default()
            }
            .as_bytes()
            .to_vec()
        };
        assert!(CudaCall::is_detached(op::LAUNCH, &[]));
        assert!(!CudaCall::is_detached(op::STREAM_QUERY, &[]));
        assert!(CudaCall::is_detached(
            op::MEMCPY_DTOD,
            &copy(copy_flags::ASYNC)
        ));
        assert!(!CudaCall::is_detached(op::MEMCPY_DTOD, &copy(0)));
        assert!(!CudaCall::is_detached(op::MEMCPY_DTOD, &[]));
        assert!(!CudaCall::is_detached(0x1ff, &[]));
    }
}
