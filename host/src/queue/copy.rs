//! Large copies whose data stays in the guest's pages: a MEMCPY_HTOD or
//! MEMCPY_DTOH (or a PREPARE_HOST, which names pinned host memory to
//! register) the driver described as its header copy followed by the
//! pinned pages of the caller's buffer (`kmod/userdma.rs`). Only the header
//! is copied out of guest memory and parsed; the data moves between those
//! pages and the device's staging without a private copy of the whole
//! transfer in this process. The guest may rewrite its own data pages while
//! we copy them: that changes only the bytes it copies.

use super::buffers::GuestBuffer;
use crate::cuda::{HostBytes, SharedSpan};
use crate::guest_memory::GuestMemory;
use crate::session::Session;
use uapi::cuda::{op, CopyRequest, ResultHeader};
use uapi::status::Status;
use uapi::wire::Wire;

/// Copies with at least this many data bytes stay in place; smaller ones
/// are gathered as any other command (one copy of a few pages costs less
/// than the staging and events of the in-place path).
pub const IN_PLACE_MIN: u64 = 64 << 10;

/// A copy whose data stays in guest RAM.
pub(super) struct GuestCopy {
    opcode: u16,
    /// The request header, copied out of guest memory.
    request: CopyRequest,
    /// The data pages, as this process maps them, valid while the snapshot
    /// they came from lives.
    parts: Vec<SharedSpan>,
}

impl GuestCopy {
    /// The copy `request` and `response` describe, if its data can stay in
    /// place: an HTOD whose request is exactly a `CopyRequest` segment then
    /// the data, or a DTOH whose response is exactly a `ResultHeader`
    /// segment then room for the data, with at least [`IN_PLACE_MIN`]
    /// bytes, each data segment inside one region of guest RAM. `None`
    /// sends the command the ordinary way, whose decoder reports any fault
    /// in its shape.
    ///
    /// # Safety
    ///
    /// The copy is run ([`Self::run`]) while `mem` lives.
    pub(super) unsafe fn find(
        mem: &GuestMemory,
        opcode: u16,
        request: &GuestBuffer,
        response: &GuestBuffer,
    ) -> Option<Self> {
        // A PREPARE_HOST names its pages as an HTOD names its data.
        let up = matches!(opcode, op::MEMCPY_HTOD | op::PREPARE_HOST);
        let data = match opcode {
            _ if up => request,
            op::MEMCPY_DTOH => response,
            _ => return None,
        };
        let want_head = if up {
            size_of::<CopyRequest>()
        } else {
            size_of::<ResultHeader>()
        } as u64;
        let mut segments = data.segments();
        let first = segments.next()?;
        if first.1 != want_head || data.capacity() - want_head < IN_PLACE_MIN {
            return None;
        }
        let request = if up {
            mem.read_obj::<CopyRequest>(first.0).ok()?
        } else {
            if request.capacity() != size_of::<CopyRequest>() as u64 {
                return None;
            }
            let bytes = request.gather(mem).ok()?;
            CopyRequest::read_from(&bytes)?
        };
        if request.len != data.capacity() - want_head {
            return None;
        }
        let parts = segments
            // SAFETY: the spans are used by `run` only, while `mem` lives
            // (this function's contract).
            .map(|(addr, len)| unsafe { mem.span(addr, len) })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            opcode,
            request,
            parts,
        })
    }

    /// Runs the copy, writes its response header, and returns the response
    /// length; on failure the status and, for `RESPONSE_TOO_SMALL`, the
    /// length needed (as the ordinary path reports it).
    pub(super) fn run(
        &self,
        mem: &GuestMemory,
        response: &GuestBuffer,
        session: &mut Session,
    ) -> Result<u32, (Status, u32)> {
        let fail = |status: Status| (status, 0);
        let capacity = usize::try_from(response.capacity()).map_err(|_| fail(Status::TooLarge))?;
        // Without room for a response the driver does not wait for it.
        let detached = capacity == 0;
        session.guest_epoch(mem.epoch());
        let ran = session.execute_shared(
            self.opcode,
            self.request.as_bytes(),
            HostBytes::Guest(&self.parts),
            capacity,
            detached,
        );
        let (head, data) = match ran {
            Ok(reply) => reply,
            Err(Status::ResponseTooSmall) => {
                // A header, and for a DTOH its data (`find` checked the
                // length fits a u32 transfer).
                let data = if self.opcode == op::MEMCPY_DTOH {
                    self.request.len
                } else {
                    0
                };
                let needed = size_of::<ResultHeader>() as u64 + data;
                return Err((
                    Status::ResponseTooSmall,
                    u32::try_from(needed).unwrap_or(u32::MAX),
                ));
            }
            Err(status) => return Err(fail(status)),
        };
        // The header lands in the response's first segment (exactly its
        // size for a DTOH, the whole response for an HTOD).
        response.scatter(mem, &head).map_err(fail)?;
        u32::try_from(head.len() + data).map_err(|_| fail(Status::ExecutorError))
    }
}

/// Runs a `ReleaseGuestPages` (`ranges`, decoded): ends every registration
/// of those pages with the device before the guest unpins them. Of a range
/// this process does not map whole (across regions, or partly unmapped)
/// the mapped parts are released; a page not mapped now has no
/// registration (they end whenever guest RAM is mapped anew). The work is
/// bounded by ranges × regions, whatever the lengths.
pub(super) fn release_guest_pages(mem: &GuestMemory, ranges: &[u8], session: &mut Session) {
    session.guest_epoch(mem.epoch());
    let spans: Vec<_> = crate::executor::command::release_ranges(ranges)
        // SAFETY: the spans are used by `release_guest` below, while `mem`
        // lives.
        .flat_map(|r| unsafe { mem.spans_within(r.addr, r.len) })
        .collect();
    session.release_guest(&spans);
}
