//! Decoding of request bodies into typed commands.
//!
//! Every executor sees the same validated [`Command`]; malformed bodies
//! never reach it.

use uapi::cmd::{ClientIdentity, Opcode, SleepRequest, MAX_SLEEP_MS};
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
        assert_eq!(Command::decode(7, &[], 0), Err(Status::InvalidOpcode));
        assert_eq!(Command::decode(0xffff, &[], 0), Err(Status::InvalidOpcode));
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
