//! Decoding of request bodies into typed commands.
//!
//! Every executor sees the same validated [`Command`]; malformed bodies
//! never reach it.

use uapi::cmd::{
    ClientIdentity, GuestRange, Opcode, SleepRequest, GUEST_RANGE_ALIGN, MAX_RELEASE_RANGES,
    MAX_SLEEP_MS,
};
use uapi::status::Status;
use uapi::wire::Wire;

/// A command whose opcode and request body were checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Report the device identity.
    GetDeviceInfo,
    /// Return the request bytes unchanged.
    Echo(&'a [u8]),
    /// Wait, interruptibly, for the given milliseconds (at most `MAX_SLEEP_MS`).
    Sleep {
        /// Milliseconds to wait.
        millis: u32,
    },
    /// Report live memory use of the device.
    GetUsage,
    /// List the device's clients.
    ListClients,
    /// Record who this client is (sent by the guest kernel on open).
    SetClientIdentity {
        /// Process id.
        pid: u32,
    },
    /// Forget every registration of guest RAM overlapping these ranges
    /// (sent by the guest kernel before it unpins them): whole
    /// [`GuestRange`]s, each page-aligned, non-empty, not wrapping.
    ReleaseGuestPages(&'a [u8]),
    /// A CUDA command (`uapi::cuda`), validated by [`crate::cuda::CudaClient`].
    Cuda {
        /// Opcode.
        opcode: u16,
        /// Request body.
        request: &'a [u8],
        /// Bytes the response may have.
        resp_capacity: usize,
    },
}

/// The ranges of a decoded [`Command::ReleaseGuestPages`] body.
pub fn release_ranges(body: &[u8]) -> impl Iterator<Item = GuestRange> + '_ {
    body.chunks_exact(core::mem::size_of::<GuestRange>())
        .filter_map(GuestRange::read_from)
}

impl<'a> Command<'a> {
    /// Decodes `opcode` and its `request` body.
    ///
    /// Unknown opcode → [`Status::InvalidOpcode`]; a body of the wrong length
    /// or with invalid fields → [`Status::InvalidField`].
    pub fn decode(opcode: u16, request: &'a [u8], resp_capacity: u64) -> Result<Self, Status> {
        if uapi::cuda::op::is_cuda(opcode) {
            return Ok(Self::Cuda {
                opcode,
                request,
                resp_capacity: usize::try_from(resp_capacity).unwrap_or(usize::MAX),
            });
        }
        match Opcode::from_u16(opcode).ok_or(Status::InvalidOpcode)? {
            Opcode::GetDeviceInfo if request.is_empty() => Ok(Self::GetDeviceInfo),
            Opcode::GetDeviceInfo => Err(Status::InvalidField),
            Opcode::Echo => Ok(Self::Echo(request)),
            Opcode::GetUsage if request.is_empty() => Ok(Self::GetUsage),
            Opcode::ListClients if request.is_empty() => Ok(Self::ListClients),
            Opcode::GetUsage | Opcode::ListClients => Err(Status::InvalidField),
            Opcode::SetClientIdentity => {
                let body = (request.len() == core::mem::size_of::<ClientIdentity>())
                    .then(|| ClientIdentity::read_from(request))
                    .flatten()
                    .filter(|b| b.reserved == 0)
                    .ok_or(Status::InvalidField)?;
                Ok(Self::SetClientIdentity { pid: body.pid })
            }
            Opcode::ReleaseGuestPages => {
                let size = core::mem::size_of::<GuestRange>();
                let whole = request.len().is_multiple_of(size)
                    && request.len() / size <= MAX_RELEASE_RANGES;
                let valid = |r: GuestRange| {
                    r.len != 0
                        && (r.addr | r.len).is_multiple_of(GUEST_RANGE_ALIGN)
                        && r.addr.checked_add(r.len).is_some()
                };
                if !whole
                    || !request
                        .chunks_exact(size)
                        .all(|c| GuestRange::read_from(c).is_some_and(valid))
                {
                    return Err(Status::InvalidField);
                }
                Ok(Self::ReleaseGuestPages(request))
            }
            Opcode::Sleep => {
                if request.len() != core::mem::size_of::<SleepRequest>() {
                    return Err(Status::InvalidField);
                }
                let body = SleepRequest::read_from(request).ok_or(Status::InvalidField)?;
                if body.reserved != 0 || body.millis > MAX_SLEEP_MS {
                    return Err(Status::InvalidField);
                }
                Ok(Self::Sleep {
                    millis: body.millis,
                })
            }
        }
    }

    /// Whether the command may take long, so that completions already
    /// posted should be signalled before it runs.
    pub fn may_block(&self) -> bool {
        matches!(self, Self::Sleep { .. } | Self::Cuda { .. })
    }

    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GetDeviceInfo => "GET_DEVICE_INFO",
            Self::Echo(_) => "ECHO",
            Self::Sleep { .. } => "SLEEP",
            Self::GetUsage => "GET_USAGE",
            Self::ListClients => "LIST_CLIENTS",
            Self::SetClientIdentity { .. } => "SET_CLIENT_IDENTITY",
            Self::ReleaseGuestPages(_) => "RELEASE_GUEST_PAGES",
            Self::Cuda { .. } => "CUDA",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleep_body(millis: u32, reserved: u32) -> Vec<u8> {
        SleepRequest { millis, reserved }.as_bytes().to_vec()
    }

    #[test]
    fn decodes_known_opcodes() {
        assert_eq!(Command::decode(1, &[], 0), Ok(Command::GetDeviceInfo));
        assert_eq!(Command::decode(2, b"abc", 0), Ok(Command::Echo(b"abc")));
        assert_eq!(
            Command::decode(3, &sleep_body(5, 0), 0),
            Ok(Command::Sleep { millis: 5 })
        );
    }

    #[test]
    fn rejects_unknown_opcodes() {
        assert_eq!(Command::decode(0, &[], 0), Err(Status::InvalidOpcode));
        assert_eq!(Command::decode(8, &[], 0), Err(Status::InvalidOpcode));
        assert_eq!(Command::decode(0xffff, &[], 0), Err(Status::InvalidOpcode));
    }

    #[test]
    fn release_ranges_are_whole_aligned_and_bounded() {
        let body = |ranges: &[(u64, u64)]| -> Vec<u8> {
            ranges
                .iter()
                .flat_map(|&(addr, len)| GuestRange { addr, len }.as_bytes().to_vec())
                .collect()
        };
        let ok = body(&[(0x20_0000, 0x20_0000), (0x1000, 0x1000)]);
        assert_eq!(
            Command::decode(7, &ok, 0),
            Ok(Command::ReleaseGuestPages(&ok))
        );
        let got: Vec<_> = release_ranges(&ok).map(|r| (r.addr, r.len)).collect();
        assert_eq!(got, [(0x20_0000, 0x20_0000), (0x1000, 0x1000)]);
        assert_eq!(
            Command::decode(7, &[], 0),
            Ok(Command::ReleaseGuestPages(&[]))
        );
        for bad in [
            body(&[(0x1000, 0)]),
            body(&[(0x1001, 0x1000)]),
            body(&[(0x1000, 0x800)]),
            body(&[(u64::MAX - 0xfff, 0x2000)]),
            ok[..17].to_vec(),
            body(&vec![(0x1000, 0x1000); MAX_RELEASE_RANGES + 1]),
        ] {
            assert_eq!(Command::decode(7, &bad, 0), Err(Status::InvalidField));
        }
    }

    #[test]
    fn decodes_usage_and_identity() {
        assert_eq!(Command::decode(4, &[], 0), Ok(Command::GetUsage));
        assert_eq!(Command::decode(5, &[], 0), Ok(Command::ListClients));
        let id = ClientIdentity {
            pid: 42,
            reserved: 0,
        };
        assert_eq!(
            Command::decode(6, id.as_bytes(), 0),
            Ok(Command::SetClientIdentity { pid: 42 })
        );
        let bad = ClientIdentity {
            pid: 42,
            reserved: 1,
        };
        assert_eq!(
            Command::decode(6, bad.as_bytes(), 0),
            Err(Status::InvalidField)
        );
        assert_eq!(Command::decode(6, &[0; 4], 0), Err(Status::InvalidField));
        assert_eq!(Command::decode(4, &[0], 0), Err(Status::InvalidField));
    }

    #[test]
    fn rejects_malformed_bodies() {
        assert_eq!(Command::decode(1, &[0], 0), Err(Status::InvalidField));
        assert_eq!(Command::decode(3, &[0; 4], 0), Err(Status::InvalidField));
        assert_eq!(Command::decode(3, &[0; 9], 0), Err(Status::InvalidField));
        assert_eq!(
            Command::decode(3, &sleep_body(1, 1), 0),
            Err(Status::InvalidField)
        );
        assert_eq!(
            Command::decode(3, &sleep_body(MAX_SLEEP_MS + 1, 0), 0),
            Err(Status::InvalidField)
        );
        assert_eq!(
            Command::decode(3, &sleep_body(MAX_SLEEP_MS, 0), 0),
            Ok(Command::Sleep {
                millis: MAX_SLEEP_MS
            })
        );
    }
}
