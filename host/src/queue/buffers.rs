//! Request and response buffers of a submission: validation, gather, scatter.
//!
//! A buffer is contiguous (`addr`, `len` bytes) or a scatter-gather list
//! (`addr` points at `len` [`SgEntry`]s). Parsing checks every segment
//! against guest RAM and the transfer limit before any byte moves.

use crate::guest_memory::GuestMemory;
use uapi::ring::{SgEntry, MAX_SG_ENTRIES};
use uapi::status::Status;

/// One contiguous piece of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    addr: u64,
    len: u64,
}

/// A validated buffer in guest memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestBuffer {
    segments: Vec<Segment>,
    total: u64,
}

impl GuestBuffer {
    /// Validates a buffer descriptor against `mem` and `max_transfer`.
    ///
    /// Contiguous: `len > max_transfer` → `TooLarge`; range outside RAM →
    /// `BadAddress`. SGL: more than `MAX_SG_ENTRIES` entries or a total
    /// above `max_transfer` → `TooLarge`; list or a segment outside RAM →
    /// `BadAddress`; an empty segment or non-zero reserved field →
    /// `InvalidField`. A length of zero is an empty buffer.
    pub fn parse(
        mem: &GuestMemory,
        sgl: bool,
        addr: u64,
        len: u32,
        max_transfer: u32,
    ) -> Result<Self, Status> {
        if len == 0 {
            return Ok(Self::default());
        }
        if !sgl {
            if len > max_transfer {
                return Err(Status::TooLarge);
            }
            let segment = Segment {
                addr,
                len: u64::from(len),
            };
            if !mem.contains(segment.addr, segment.len) {
                return Err(Status::BadAddress);
            }
            return Ok(Self {
                segments: vec![segment],
                total: segment.len,
            });
        }
        if len > MAX_SG_ENTRIES {
            return Err(Status::TooLarge);
        }
        let entry_size = core::mem::size_of::<SgEntry>() as u64;
        let list_len = u64::from(len) * entry_size;
        if !mem.contains(addr, list_len) {
            return Err(Status::BadAddress);
        }
        let mut raw = vec![0u8; list_len as usize];
        mem.read(addr, &mut raw).map_err(|_| Status::BadAddress)?;
        let mut segments = Vec::with_capacity(len as usize);
        let mut total: u64 = 0;
        for chunk in raw.chunks_exact(entry_size as usize) {
            let entry =
                <SgEntry as uapi::wire::Wire>::read_from(chunk).ok_or(Status::InvalidField)?;
            if entry.len == 0 || entry.reserved != 0 {
                return Err(Status::InvalidField);
            }
            total += u64::from(entry.len);
            if total > u64::from(max_transfer) {
                return Err(Status::TooLarge);
            }
            let segment = Segment {
                addr: entry.addr,
                len: u64::from(entry.len),
            };
            if !mem.contains(segment.addr, segment.len) {
                return Err(Status::BadAddress);
            }
            segments.push(segment);
        }
        Ok(Self { segments, total })
    }

    /// Total bytes the buffer holds.
    pub fn capacity(&self) -> u64 {
        self.total
    }

    /// The segments in order, as guest address and length (each inside
    /// guest RAM, as parsing checked).
    pub fn segments(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.segments.iter().map(|s| (s.addr, s.len))
    }

    /// Copies the whole buffer out of guest memory.
    pub fn gather(&self, mem: &GuestMemory) -> Result<Vec<u8>, Status> {
        let mut data = vec![0u8; self.total as usize];
        let mut rest = data.as_mut_slice();
        for segment in &self.segments {
            let (head, tail) = rest.split_at_mut(segment.len as usize);
            mem.read(segment.addr, head)
                .map_err(|_| Status::BadAddress)?;
            rest = tail;
        }
        Ok(data)
    }

    /// Copies `data` into the start of the buffer. `data` must fit
    /// ([`Self::capacity`]); excess is an error.
    pub fn scatter(&self, mem: &GuestMemory, data: &[u8]) -> Result<(), Status> {
        if data.len() as u64 > self.total {
            return Err(Status::ResponseTooSmall);
        }
        let mut rest = data;
        for segment in &self.segments {
            if rest.is_empty() {
                break;
            }
            let n = rest.len().min(segment.len as usize);
            let (head, tail) = rest.split_at(n);
            mem.write(segment.addr, head)
                .map_err(|_| Status::BadAddress)?;
            rest = tail;
        }
        Ok(())
    }
}
