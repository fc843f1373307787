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
    CtxSynchronize,
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
    GraphLaunchPart,
);

/// Commands on a device ([`uapi::cuda::DeviceRequest`]): its `ctx` and
/// `reserved` are zero by the contract.
macro_rules! decode_device {
    ($($ty:ident),* $(,)?) => {$(
        impl Decode for cmds::$ty {
            type Args<'a> = uapi::cuda::DeviceRequest;
            fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
                let r = exact::<uapi::cuda::DeviceRequest>(request)?;
                field(r.ctx == 0 && r.reserved == 0)?;
                Ok(r)
            }
        }
    )*};
}

decode_device!(
    PrimaryCtxRetain,
    PrimaryCtxRelease,
    PrimaryCtxReset,
    DeviceGetAttributes,
);

/// `cuCtxGetLimit`: `value` is the response's; `reserved` is zero.
impl Decode for cmds::CtxGetLimit {
    type Args<'a> = uapi::cuda::LimitRequest;
    fn decode(request: &[u8]) -> Result<Self::Args<'_>, Status> {
        let r = exact::<uapi::cuda::LimitRequest>(request)?;
        field(r.reserved == 0)?;
        Ok(r)
    }
}

mod checked;
mod graph;
mod launch;
mod memory;
#[cfg(test)]
mod tests;

pub use checked::Checked;
pub use graph::AddNode;
pub use launch::LaunchEx;
pub use memory::{prepare_shape, Copy2d};
