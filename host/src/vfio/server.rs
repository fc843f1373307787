//! One vfio-user connection: each message read whole ([`conn`]), parsed
//! ([`wire`]), checked against the device's region and IRQ tables, handed
//! to the [`DeviceBackend`], and answered: with the reply, or with an error
//! reply carrying a real errno. Nothing a peer sends ends the connection
//! except a header whose size cannot be trusted, or the peer closing.
//!
//! [`conn`]: super::conn
//! [`wire`]: super::wire

use super::backend::{DeviceBackend, DmaMapFlags, DmaUnmapFlags, Irq, Region, Tables};
use super::conn::{Message, ReadError, Reader, Transport};
use super::wire::{
    self, command, flags, Errno, Header, Payload, Refusal, Request, HEADER_SIZE, REGION_ACCESS_SIZE,
};
use std::fs::File;
use std::os::fd::OwnedFd;
use vfio_bindings::bindings::vfio::{
    VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, VFIO_REGION_INFO_FLAG_READ,
    VFIO_REGION_INFO_FLAG_WRITE,
};

/// How a connection ended.
#[derive(Debug)]
pub enum End {
    /// The peer closed between messages.
    Closed,
    /// Reading failed or the stream could not be trusted.
    Read(ReadError),
    /// A reply could not be sent.
    Write(std::io::Error),
    /// The peer proposed a major version we do not speak.
    Version(u16),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => write!(f, "peer closed the connection"),
            Self::Read(e) => write!(f, "{e}"),
            Self::Write(e) => write!(f, "cannot send a reply: {e}"),
            Self::Version(major) => write!(f, "peer speaks vfio-user {major}.x"),
        }
    }
}

/// What a message gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// These bytes (a reply or an error reply).
    Reply(Vec<u8>),
    /// Nothing: the peer asked for no reply, or sent a reply itself.
    Nothing,
    /// An error reply, then the connection ends.
    Close(Vec<u8>, u16),
}

/// The state of one connection.
pub struct Session<'a, B: DeviceBackend> {
    backend: &'a mut B,
    tables: &'a Tables,
    /// VERSION was answered: other commands may follow.
    negotiated: bool,
    /// A VERSION of this major was refused: the connection ends.
    refused_major: Option<u16>,
}

impl<'a, B: DeviceBackend> Session<'a, B> {
    /// A fresh connection to `backend`, whose device has `tables`.
    pub fn new(backend: &'a mut B, tables: &'a Tables) -> Self {
        Self {
            backend,
            tables,
            negotiated: false,
            refused_major: None,
        }
    }

    /// Serves messages from `t` until the peer closes or the stream breaks.
    pub fn run<T: Transport>(&mut self, t: &mut T) -> End {
        let mut reader = Reader::new();
        loop {
            let message = match reader.next(t) {
                Ok(Some(message)) => message,
                Ok(None) => return End::Closed,
                Err(e) => return End::Read(e),
            };
            let (bytes, close) = match self.answer(message) {
                Answer::Reply(bytes) => (bytes, None),
                Answer::Nothing => continue,
                Answer::Close(bytes, major) => (bytes, Some(major)),
            };
            if let Err(e) = t.send(&bytes) {
                return End::Write(e);
            }
            if let Some(major) = close {
                return End::Version(major);
            }
        }
    }

    /// Handles one message read whole; its descriptors are used or closed.
    pub fn answer(&mut self, message: Message<'_>) -> Answer {
        let header = message.header;
        if header.kind() == flags::REPLY {
            // We send no commands, so nothing is waiting for a reply.
            tracing::warn!(
                id = header.id,
                command = header.command,
                "vfio-user reply from the client ignored"
            );
            return Answer::Nothing;
        }
        let result = if header.kind() != flags::COMMAND {
            Err(Refusal::invalid(format!(
                "message type {:#x}",
                header.kind()
            )))
        } else if message.fds_dropped {
            Err(Refusal::invalid(format!(
                "more than {} descriptors",
                wire::MAX_MSG_FDS
            )))
        } else {
            match message.body {
                None => Err(Refusal::new(
                    Errno::E2BIG,
                    format!("message of {} bytes", header.size),
                )),
                Some(body) => self.command(&header, body, message.fds),
            }
        };
        match result {
            Ok(reply) if header.no_reply() => {
                tracing::trace!(
                    command = header.command,
                    len = reply.len(),
                    "no reply asked"
                );
                Answer::Nothing
            }
            Ok(reply) => Answer::Reply(reply),
            Err(refusal) => {
                tracing::warn!(
                    id = header.id,
                    command = header.command,
                    size = header.size,
                    errno = refusal.errno.0,
                    why = %refusal.why,
                    "vfio-user request refused"
                );
                let bytes = wire::error_reply(&header, refusal.errno);
                match self.refused_major.take() {
                    // The spec: a server that cannot speak the proposed
                    // version closes the connection.
                    Some(major) => Answer::Close(bytes, major),
                    None if header.no_reply() => Answer::Nothing,
                    None => Answer::Reply(bytes),
                }
            }
        }
    }

    /// A command message: the reply bytes, or why not.
    fn command(
        &mut self,
        header: &Header,
        body: &[u8],
        fds: Vec<OwnedFd>,
    ) -> Result<Vec<u8>, Refusal> {
        let request = wire::parse_request(header.command, body, fds.len())?;
        let is_version = matches!(request, Request::Version { .. });
        if !self.negotiated && !is_version {
            return Err(Refusal::invalid("VERSION must come first"));
        }
        if header.no_reply() && wants_answer(header.command) {
            // Its only effect is the answer, which was declined.
            return Err(Refusal::invalid("a query with no reply asked"));
        }
        let mut files: Vec<File> = fds.into_iter().map(File::from).collect();
        match request {
            Request::Version { major, minor, caps } => {
                if major != wire::VERSION_MAJOR {
                    self.refused_major = Some(major);
                    return Err(Refusal::new(
                        Errno::ENOTSUP,
                        format!("version {major}.{minor}"),
                    ));
                }
                tracing::info!(major, minor, ?caps, "vfio-user client version");
                self.negotiated = true;
                Ok(wire::reply(header, &wire::version_payload()))
            }
            Request::DmaMap {
                flags,
                offset,
                address,
                size,
            } => {
                self.backend.dma_map(
                    DmaMapFlags::from_bits_retain(flags),
                    offset,
                    address,
                    size,
                    files.pop(),
                )?;
                Ok(wire::reply(header, &[]))
            }
            Request::DmaUnmap {
                argsz,
                flags,
                address,
                size,
            } => {
                self.backend
                    .dma_unmap(DmaUnmapFlags::from_bits_retain(flags), address, size)?;
                // The spec: the reply carries the request's entry.
                let payload = Payload::default()
                    .u32(argsz)
                    .u32(flags)
                    .u64(address)
                    .u64(size);
                Ok(wire::reply(header, &payload.0))
            }
            Request::DeviceGetInfo => {
                let payload = Payload::default()
                    .u32(wire::DEVICE_INFO_SIZE as u32)
                    .u32(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET)
                    .u32(self.tables.regions.len() as u32)
                    .u32(self.tables.irqs.len() as u32);
                Ok(wire::reply(header, &payload.0))
            }
            Request::GetRegionInfo { index } => {
                let region = self.region(index)?;
                let payload = Payload::default()
                    .u32(wire::REGION_INFO_SIZE as u32)
                    .u32(region.flags)
                    .u32(index)
                    .u32(0) // cap_offset: no capabilities
                    .u64(region.size)
                    .u64(0); // offset: nothing to mmap
                Ok(wire::reply(header, &payload.0))
            }
            Request::GetIrqInfo { index } => {
                let irq = self.irq(index)?;
                let payload = Payload::default()
                    .u32(wire::IRQ_INFO_SIZE as u32)
                    .u32(irq.flags)
                    .u32(index)
                    .u32(irq.count);
                Ok(wire::reply(header, &payload.0))
            }
            Request::SetIrqs {
                flags,
                index,
                start,
                count,
            } => {
                let irq = self.irq(index)?;
                if count > 0 && start.checked_add(count).is_none_or(|end| end > irq.count) {
                    return Err(Refusal::invalid(format!(
                        "IRQ index {index} has {} vectors, not {start}+{count}",
                        irq.count
                    )));
                }
                self.backend.set_irqs(index, flags, start, count, files)?;
                Ok(wire::reply(header, &[]))
            }
            Request::RegionRead {
                region,
                offset,
                count,
            } => {
                self.access(region, offset, count, VFIO_REGION_INFO_FLAG_READ)?;
                // The reply is built in place: the header, the access, the data.
                let payload_len = REGION_ACCESS_SIZE + count as usize;
                let mut out = Vec::with_capacity(HEADER_SIZE + payload_len);
                out.extend_from_slice(&wire::reply_header(header, payload_len).encode());
                out.extend_from_slice(&access_fields(offset, region, count));
                out.resize(HEADER_SIZE + payload_len, 0);
                self.backend.region_read(
                    region,
                    offset,
                    &mut out[HEADER_SIZE + REGION_ACCESS_SIZE..],
                )?;
                Ok(out)
            }
            Request::RegionWrite {
                region,
                offset,
                data,
            } => {
                let count = data.len() as u32;
                self.access(region, offset, count, VFIO_REGION_INFO_FLAG_WRITE)?;
                self.backend.region_write(region, offset, data)?;
                Ok(wire::reply(header, &access_fields(offset, region, count)))
            }
            Request::Reset => {
                self.backend.reset()?;
                Ok(wire::reply(header, &[]))
            }
        }
    }

    fn region(&self, index: u32) -> Result<&Region, Refusal> {
        self.tables
            .regions
            .get(index as usize)
            .ok_or_else(|| Refusal::invalid(format!("no region {index}")))
    }

    fn irq(&self, index: u32) -> Result<&Irq, Refusal> {
        self.tables
            .irqs
            .get(index as usize)
            .ok_or_else(|| Refusal::invalid(format!("no IRQ index {index}")))
    }

    /// A read or write of `count` bytes at `offset` lies inside `region`,
    /// which allows it (`need`: the read or write flag).
    fn access(&self, index: u32, offset: u64, count: u32, need: u32) -> Result<(), Refusal> {
        let region = self.region(index)?;
        if region.flags & need == 0 {
            return Err(Refusal::invalid(format!(
                "region {index} (flags {:#x}) does not allow that access",
                region.flags
            )));
        }
        if offset
            .checked_add(u64::from(count))
            .is_none_or(|end| end > region.size)
        {
            return Err(Refusal::invalid(format!(
                "{offset:#x}+{count:#x} is outside region {index} ({:#x} bytes)",
                region.size
            )));
        }
        Ok(())
    }
}

/// Commands whose only effect is their reply.
fn wants_answer(c: u16) -> bool {
    matches!(
        c,
        command::VERSION
            | command::DEVICE_GET_INFO
            | command::DEVICE_GET_REGION_INFO
            | command::DEVICE_GET_IRQ_INFO
            | command::REGION_READ
    )
}

/// The offset, region and count fields of a region access reply.
fn access_fields(offset: u64, region: u32, count: u32) -> Vec<u8> {
    Payload::default().u64(offset).u32(region).u32(count).0
}

impl From<Errno> for Refusal {
    fn from(errno: Errno) -> Self {
        Refusal::new(errno, "the device refused it")
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
