//! Copies whose host bytes stay where the client put them: in its shared
//! memory (the socket transport's arena or host memory) or in guest RAM
//! (the pages of the VM path's scatter-gather lists). Only the request
//! header was copied out, and the executor moves the data between the
//! device and that memory with no private copy of the whole.
//! The same error rules as [`CudaClient::execute`]: owed errors are
//! reported first, a detached copy's error is owed.

use super::{header, CudaClient};
use crate::cuda::call::prepare_shape;
use crate::cuda::shared::{HostBytes, SharedKind, SharedSpan, SharedStats};
use uapi::cuda::{copy_flags, op, result, CopyRequest, ResultHeader};
use uapi::status::Status;
use uapi::wire::Wire;

impl CudaClient {
    /// Makes `area` (shared memory mapped until [`Self::unregister_shared`])
    /// eligible for registration with the device.
    pub fn register_shared(&mut self, area: SharedSpan, kind: SharedKind) {
        self.backend.register_shared(area, kind);
    }

    /// Forgets `area` before it is unmapped.
    pub fn unregister_shared(&mut self, area: SharedSpan) {
        self.backend.unregister_shared(area);
    }

    /// What went through shared memory in place.
    pub fn shared_stats(&self) -> SharedStats {
        self.backend.shared_stats()
    }

    /// Guest RAM is at `epoch` for the guest pieces that follow.
    pub fn guest_epoch(&mut self, epoch: u64) {
        self.backend.guest_epoch(epoch);
    }

    /// The guest is about to unpin `spans`: their registrations end now.
    pub fn release_guest(&mut self, spans: &[SharedSpan]) {
        self.backend.release_guest(spans);
    }

    /// Runs a MEMCPY_HTOD (`host` is its data) or MEMCPY_DTOH (`host` is
    /// where its data goes: right after the response header in the arena,
    /// the client's host memory, or the guest pages of the response).
    /// `request` is the private copy of the request's `CopyRequest`.
    /// Returns the response header and how many bytes of `host` follow it
    /// in the response.
    pub fn execute_shared(
        &mut self,
        opcode: u16,
        request: &[u8],
        host: HostBytes<'_>,
        resp_capacity: usize,
        detached: bool,
    ) -> Result<(Vec<u8>, usize), Status> {
        if opcode == op::PREPARE_HOST {
            return self.prepare_shared(request, &host, resp_capacity, detached);
        }
        let (r, to_host) = match copy_shape(opcode, request, &host, detached) {
            Ok(shape) => shape,
            Err(status) => {
                // Nobody reads a detached command's status on the socket
                // transport (the VM path's driver sees it in the completion).
                if detached && matches!(host, HostBytes::Shared(_)) {
                    self.refuse_detached();
                }
                return Err(status);
            }
        };
        let host_memory = r.flags & copy_flags::HOST_MEMORY != 0;
        let is_async = r.flags & copy_flags::ASYNC != 0;
        let tail = if to_host && !host_memory {
            r.len as usize
        } else {
            0
        };
        let head = size_of::<ResultHeader>();
        if !detached && tail.checked_add(head).is_none_or(|n| n > resp_capacity) {
            return Err(Status::ResponseTooSmall);
        }
        let has_response = !detached && resp_capacity > 0;
        if has_response {
            if let Some(code) = self.sticky.or_else(|| self.deferred.take()) {
                return Ok((header(code), 0));
            }
        } else if self.sticky.is_some() {
            return Ok((Vec::new(), 0));
        }
        let b = &mut self.backend;
        let ran = match (host, to_host) {
            (HostBytes::Shared(span), true) => {
                b.memcpy_dtoh_shared(r.ctx, r.stream, r.src, span, is_async)
            }
            (HostBytes::Shared(span), false) => {
                b.memcpy_htod_shared(r.ctx, r.stream, r.dst, span, is_async)
            }
            (HostBytes::Guest(parts), true) => b.memcpy_dtoh_scatter(r.ctx, r.stream, r.src, parts),
            (HostBytes::Guest(parts), false) => {
                b.memcpy_htod_gather(r.ctx, r.stream, r.dst, parts, is_async)
            }
        };
        if !has_response {
            if let Err(code) = ran {
                tracing::debug!(opcode, code, "detached copy failed");
                self.owe(code);
            }
            return Ok((Vec::new(), 0));
        }
        Ok(match ran {
            Ok(()) => (header(result::SUCCESS), tail),
            Err(code) => (header(code), 0),
        })
    }
}

impl CudaClient {
    /// A PREPARE_HOST whose pages are `host`: guest pages are registered
    /// with the device (the VM path's pinned host memory); the socket's
    /// shared memory is registered when it is mapped. Never detached.
    fn prepare_shared(
        &mut self,
        request: &[u8],
        host: &HostBytes<'_>,
        resp_capacity: usize,
        detached: bool,
    ) -> Result<(Vec<u8>, usize), Status> {
        let r = exact_copy_request(request)
            .filter(|r| prepare_shape(r) && r.len == host.len() && !detached)
            .ok_or(Status::InvalidField)?;
        if resp_capacity < size_of::<ResultHeader>() {
            return Err(Status::ResponseTooSmall);
        }
        // A sticky error fails it; an owed one stays owed: the caller (our
        // library, inside cuMemAllocHost) does not report this call's result.
        if let Some(code) = self.sticky {
            return Ok((header(code), 0));
        }
        let b = &mut self.backend;
        let ran = match host {
            HostBytes::Guest(parts) => b.prepare_guest(r.ctx, parts),
            HostBytes::Shared(_) => b.mem_get_info(r.ctx).map(drop),
        };
        Ok((header(ran.err().unwrap_or(result::SUCCESS)), 0))
    }
}

/// `request` read as exactly one `CopyRequest`, unchecked.
fn exact_copy_request(request: &[u8]) -> Option<CopyRequest> {
    (request.len() == size_of::<CopyRequest>())
        .then(|| CopyRequest::read_from(request))
        .flatten()
}

/// The checked `CopyRequest` of a copy through shared memory, and whether
/// it goes to the host. Host memory (`copy_flags::HOST_MEMORY`) is the
/// client's own allocation: the response carries no data, and a copy
/// either way may be asynchronous (the client keeps the memory until its
/// stream is done, as CUDA asks of pinned memory). The arena's place is
/// reused once we complete: copies through it are synchronous, and a DTOH
/// into it waits (its data is in the response). Guest pages are read
/// before we return, so a copy up from them may be asynchronous too.
fn copy_shape(
    opcode: u16,
    request: &[u8],
    host: &HostBytes<'_>,
    detached: bool,
) -> Result<(CopyRequest, bool), Status> {
    let r = exact_copy_request(request)
        .filter(|r| r.reserved == 0 && r.len == host.len())
        .ok_or(Status::InvalidField)?;
    let host_memory = r.flags & copy_flags::HOST_MEMORY != 0;
    let guest = matches!(host, HostBytes::Guest(_));
    let to_host = match (opcode, r.flags & !copy_flags::HOST_MEMORY) {
        _ if guest && host_memory => return Err(Status::InvalidField),
        (op::MEMCPY_HTOD, 0) => false,
        (op::MEMCPY_HTOD, copy_flags::ASYNC) if host_memory || guest => false,
        (op::MEMCPY_DTOH, 0) if !detached => true,
        (op::MEMCPY_DTOH, copy_flags::ASYNC) if host_memory => true,
        _ => return Err(Status::InvalidField),
    };
    Ok((r, to_host))
}
