// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Byte views of the contract's structs, for userspace.
//!
//! The kernel module uses its own `transmute` traits instead; this module is
//! what the device model and the guest libraries use to read and write these
//! structs from untrusted bytes without any dependency.

/// A plain-old-data struct of the contract.
///
/// # Safety
///
/// Implementors are `#[repr(C)]`, contain only integers and arrays of
/// integers, and have no padding, so every byte pattern is a valid value and
/// every byte of a value is initialised.
pub unsafe trait Wire: Copy + Default {
    /// The value's bytes.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Self` has no padding (trait contract), so all
        // `size_of::<Self>()` bytes are initialised.
        unsafe {
            core::slice::from_raw_parts(
                core::ptr::from_ref(self).cast::<u8>(),
                core::mem::size_of::<Self>(),
            )
        }
    }

    /// The value's bytes, writable.
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and every byte pattern is a valid `Self`.
        unsafe {
            core::slice::from_raw_parts_mut(
                core::ptr::from_mut(self).cast::<u8>(),
                core::mem::size_of::<Self>(),
            )
        }
    }

    /// Reads a value from the start of `bytes`; `None` if it is too short.
    fn read_from(bytes: &[u8]) -> Option<Self> {
        let mut v = Self::default();
        let n = core::mem::size_of::<Self>();
        v.as_bytes_mut().copy_from_slice(bytes.get(..n)?);
        Some(v)
    }
}

macro_rules! wire {
    ($($t:ty),* $(,)?) => {
        // SAFETY: each of these is `#[repr(C)]`, made of integers and integer
        // arrays, and its size equals the sum of its fields' sizes (asserted
        // beside its definition), so it has no padding.
        $(unsafe impl Wire for $t {})*
    };
}

wire!(
    super::ring::SubmissionEntry,
    super::ring::SgEntry,
    super::ring::CompletionEntry,
    super::ring::QueueControl,
    super::ring::StatusPage,
    super::cmd::DeviceInfo,
    super::cmd::SleepRequest,
    super::cmd::DeviceUsage,
    super::cmd::ClientUsage,
    super::cmd::ClientIdentity,
    super::cmd::GuestRange,
    super::ioctl::InfoArgs,
    super::ioctl::SubmitArgs,
    super::ioctl::Command,
    super::ioctl::WaitArgs,
    super::ioctl::DataCommand,
    super::ioctl::DataInfo,
    super::socket::RequestFrame,
    super::socket::ResponseFrame,
    super::shm::ShmSetup,
    super::shm::ShmDescriptor,
    super::shm::ShmCompletion,
    super::shm::HostRange,
    super::cuda::ResultHeader,
    super::cuda::HandleResponse,
    super::cuda::ValueResponse,
    super::cuda::FunctionRequest,
    super::cuda::FuncAttributesResponse,
    super::cuda::FuncSetAttributeRequest,
    super::cuda::OccupancyRequest,
    super::cuda::LimitRequest,
    super::cuda::LaunchAttribute,
    super::cuda::LaunchExRequest,
    super::cuda::TensorMapEncodeRequest,
    super::cuda::TensorMapReplaceRequest,
    super::cuda::TensorMapResponse,
    super::cuda::CtxRequest,
    super::cuda::CtxCreateRequest,
    super::cuda::DeviceRequest,
    super::cuda::MemInfoResponse,
    super::cuda::MemAllocRequest,
    super::cuda::PtrRequest,
    super::cuda::AddressRangeResponse,
    super::cuda::CopyRequest,
    super::cuda::MemsetRequest,
    super::cuda::Copy2dRequest,
    super::cuda::ModuleLoadRequest,
    super::cuda::ModuleRequest,
    super::cuda::StageRequest,
    super::cuda::SymbolRequest,
    super::cuda::FunctionResponse,
    super::cuda::ParamInfo,
    super::cuda::GlobalResponse,
    super::cuda::LaunchRequest,
    super::cuda::StreamCreateRequest,
    super::cuda::StreamRequest,
    super::cuda::StreamEventRequest,
    super::cuda::EventCreateRequest,
    super::cuda::EventRequest,
    super::cuda::ElapsedRequest,
    super::cuda::ElapsedResponse,
);

// Stream-ordered allocator.
wire!(
    super::cuda::MemAllocAsyncRequest,
    super::cuda::MemFreeAsyncRequest,
    super::cuda::MemPoolRequest,
    super::cuda::MemPoolValueResponse,
);

// Virtual memory management.
wire!(
    super::cuda::AllocationProp,
    super::cuda::MemAddressReserveRequest,
    super::cuda::VmmRangeRequest,
    super::cuda::MemCreateRequest,
    super::cuda::MemHandleRequest,
    super::cuda::MemMapRequest,
    super::cuda::MemSetAccessRequest,
    super::cuda::MemGetAccessRequest,
);

// Stream capture and graphs.
wire!(
    super::cuda::CaptureBeginRequest,
    super::cuda::CaptureEndRequest,
    super::cuda::CaptureInfoResponse,
    super::cuda::CaptureDepsRequest,
    super::cuda::GraphRequest,
    super::cuda::NodeParams,
    super::cuda::GraphAddNodeRequest,
    super::cuda::GraphEdgesRequest,
    super::cuda::NodeParamsResponse,
    super::cuda::NodeSetParamsRequest,
    super::cuda::GraphLaunchRequest,
    super::cuda::GraphExecUpdateRequest,
    super::cuda::GraphLaunchPartRequest,
    super::cuda::GraphExecUpdateResponse,
);
