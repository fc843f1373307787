//! vfio-user messages on the wire (QEMU's `docs/interop/vfio-user.rst`):
//! the header, the request bodies the server accepts and the replies it
//! sends. Pure functions over byte slices: nothing here reads a socket,
//! allocates more than a reply, or trusts a length it was given.
//!
//! All fields are in the host's byte order, as the protocol says.

use std::fmt;

/// Size of the header every message starts with.
pub const HEADER_SIZE: usize = 16;
/// Protocol version we speak (QEMU 10.x proposes 0.0).
pub const VERSION_MAJOR: u16 = 0;
/// See [`VERSION_MAJOR`].
pub const VERSION_MINOR: u16 = 0;
/// Largest `count` of one region read or write: what we advertise as
/// `max_data_xfer_size` (the protocol's default, which QEMU keeps).
pub const MAX_DATA_XFER: u32 = 1 << 20;
/// Most file descriptors one message may carry: what we advertise as
/// `max_msg_fds`. QEMU sends one per DMA map and up to this many eventfds
/// per SET_IRQS (it splits larger sets).
pub const MAX_MSG_FDS: usize = 8;
/// Most DMA mappings at once: what we advertise as `max_dma_maps`. Each
/// holds a mapping and a descriptor in vgpu-host; a VM makes a handful.
pub const MAX_DMA_MAPS: usize = 1024;
/// Largest JSON text a VERSION may carry (QEMU's is about 200 bytes).
pub const MAX_VERSION_DATA: usize = 64 << 10;
/// Largest body read into memory: a REGION_WRITE of [`MAX_DATA_XFER`]
/// bytes, which is also more than any other request needs.
pub const MAX_BODY: usize = REGION_ACCESS_SIZE + MAX_DATA_XFER as usize;
/// Largest message that is drained (read and discarded) and answered with
/// `E2BIG`; past it the peer is not speaking the protocol and the
/// connection is dropped rather than read for minutes.
pub const MAX_DRAINED: u64 = 64 << 20;

/// Command numbers (the spec's table; 15 to 18 are newer than QEMU 10.x's
/// client and unsupported here).
pub mod command {
    /// Version and capability negotiation.
    pub const VERSION: u16 = 1;
    /// Guest memory made available for DMA.
    pub const DMA_MAP: u16 = 2;
    /// Guest memory withdrawn.
    pub const DMA_UNMAP: u16 = 3;
    /// Device flags, region and IRQ counts.
    pub const DEVICE_GET_INFO: u16 = 4;
    /// One region's size and flags.
    pub const DEVICE_GET_REGION_INFO: u16 = 5;
    /// ioeventfds for a region (unsupported).
    pub const DEVICE_GET_REGION_IO_FDS: u16 = 6;
    /// One IRQ index's count and flags.
    pub const DEVICE_GET_IRQ_INFO: u16 = 7;
    /// Interrupt eventfds, masks and triggers.
    pub const DEVICE_SET_IRQS: u16 = 8;
    /// A read of a device region.
    pub const REGION_READ: u16 = 9;
    /// A write to a device region.
    pub const REGION_WRITE: u16 = 10;
    /// Server-to-client DMA read (never valid from the client).
    pub const DMA_READ: u16 = 11;
    /// Server-to-client DMA write (never valid from the client).
    pub const DMA_WRITE: u16 = 12;
    /// Device reset.
    pub const DEVICE_RESET: u16 = 13;
    /// Dirty page tracking (unsupported).
    pub const DIRTY_PAGES: u16 = 14;
    /// Coalesced writes (unsupported; only used when the server offers
    /// `write_multiple`, which we do not).
    pub const REGION_WRITE_MULTI: u16 = 15;
    /// Device features (unsupported).
    pub const DEVICE_FEATURE: u16 = 16;
    /// Migration data (unsupported).
    pub const MIG_DATA_READ: u16 = 17;
    /// Migration data (unsupported).
    pub const MIG_DATA_WRITE: u16 = 18;
}

/// Header flag bits.
pub mod flags {
    /// The message type field.
    pub const TYPE_MASK: u32 = 0xf;
    /// Type: a command.
    pub const COMMAND: u32 = 0;
    /// Type: a reply.
    pub const REPLY: u32 = 1;
    /// The sender wants no reply.
    pub const NO_REPLY: u32 = 1 << 4;
    /// The reply reports an error, whose errno is in the header's error field.
    pub const ERROR: u32 = 1 << 5;
}

/// An errno value sent in an error reply (positive, as the spec says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub u32);

impl Errno {
    /// Invalid argument.
    pub const EINVAL: Self = Self(libc::EINVAL as u32);
    /// Message or transfer too large.
    pub const E2BIG: Self = Self(libc::E2BIG as u32);
    /// Command unknown to this server.
    pub const ENOSYS: Self = Self(libc::ENOSYS as u32);
    /// Known command or feature this server does not implement.
    pub const ENOTSUP: Self = Self(libc::EOPNOTSUPP as u32);
    /// No room for another DMA mapping.
    pub const ENOSPC: Self = Self(libc::ENOSPC as u32);
    /// The device could not do what was asked.
    pub const EIO: Self = Self(libc::EIO as u32);
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = std::io::Error::from_raw_os_error(self.0 as i32);
        write!(f, "errno {} ({text})", self.0)
    }
}

/// A request refused: the errno for the peer and why, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Sent in the error reply.
    pub errno: Errno,
    /// Logged.
    pub why: String,
}

impl Refusal {
    /// `EINVAL` for `why`.
    pub fn invalid(why: impl Into<String>) -> Self {
        Self::new(Errno::EINVAL, why)
    }

    /// `errno` for `why`.
    pub fn new(errno: Errno, why: impl Into<String>) -> Self {
        Self {
            errno,
            why: why.into(),
        }
    }
}

/// The 16-byte header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// Chosen by the sender, echoed in the reply.
    pub id: u16,
    /// Command number ([`command`]).
    pub command: u16,
    /// Size of the whole message, header included.
    pub size: u32,
    /// [`flags`].
    pub flags: u32,
    /// Errno of an error reply; reserved in a command.
    pub error: u32,
}

impl Header {
    /// Decodes a header.
    pub fn parse(bytes: &[u8; HEADER_SIZE]) -> Self {
        let mut r = Fields(bytes);
        Self {
            id: r.u16(),
            command: r.u16(),
            size: r.u32(),
            flags: r.u32(),
            error: r.u32(),
        }
    }

    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        out[0..2].copy_from_slice(&self.id.to_ne_bytes());
        out[2..4].copy_from_slice(&self.command.to_ne_bytes());
        out[4..8].copy_from_slice(&self.size.to_ne_bytes());
        out[8..12].copy_from_slice(&self.flags.to_ne_bytes());
        out[12..16].copy_from_slice(&self.error.to_ne_bytes());
        out
    }

    /// The type field: [`flags::COMMAND`], [`flags::REPLY`] or something else.
    pub fn kind(&self) -> u32 {
        self.flags & flags::TYPE_MASK
    }

    /// Whether the sender asked for no reply.
    pub fn no_reply(&self) -> bool {
        self.flags & flags::NO_REPLY != 0
    }
}

/// What to do with the body of a message, from its header alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Read this many bytes after the header and parse them.
    Read(usize),
    /// Read and discard this many bytes, then refuse the message with
    /// `E2BIG`: the stream stays in step.
    Drain(u64),
    /// The header cannot be trusted to say where the next message starts
    /// (or says it starts too far away to be worth reading): end the
    /// connection.
    Abort(AbortReason),
}

/// Why a connection was dropped on a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortReason {
    /// `size` is smaller than the header itself.
    Undersized(u32),
    /// `size` is larger than [`MAX_DRAINED`].
    Oversized(u32),
}

impl fmt::Display for AbortReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Undersized(size) => {
                write!(f, "message size {size} is smaller than its header")
            }
            Self::Oversized(size) => write!(
                f,
                "message size {size} is over {MAX_DRAINED} bytes, too large to skip"
            ),
        }
    }
}

/// How a message of this header is framed.
pub fn framing(header: &Header) -> Framing {
    let size = header.size;
    let Some(body) = (size as usize).checked_sub(HEADER_SIZE) else {
        return Framing::Abort(AbortReason::Undersized(size));
    };
    if body <= MAX_BODY {
        Framing::Read(body)
    } else if u64::from(size) <= MAX_DRAINED {
        Framing::Drain(body as u64)
    } else {
        Framing::Abort(AbortReason::Oversized(size))
    }
}

/// The capabilities of the client's VERSION, as far as we read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCaps {
    /// Descriptors the client takes per message (we never send any).
    pub max_msg_fds: u64,
    /// Largest data transfer the client takes.
    pub max_data_xfer_size: u64,
}

impl Default for PeerCaps {
    /// The spec's defaults for a capability that is left out.
    fn default() -> Self {
        Self {
            max_msg_fds: 1,
            max_data_xfer_size: u64::from(MAX_DATA_XFER),
        }
    }
}

/// A request, parsed and checked for its own consistency (not yet against
/// the device's tables: that is the server's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// VERSION.
    Version {
        /// Proposed major version.
        major: u16,
        /// Proposed minor version.
        minor: u16,
        /// The client's capabilities.
        caps: PeerCaps,
    },
    /// DMA_MAP.
    DmaMap {
        /// `VFIO_DMA_MAP_FLAG_*`.
        flags: u32,
        /// Offset into the descriptor sent with it.
        offset: u64,
        /// Guest-physical (IOVA) start.
        address: u64,
        /// Length.
        size: u64,
    },
    /// DMA_UNMAP.
    DmaUnmap {
        /// Echoed in the reply.
        argsz: u32,
        /// `VFIO_DMA_UNMAP_FLAG_*`.
        flags: u32,
        /// Start.
        address: u64,
        /// Length.
        size: u64,
    },
    /// DEVICE_GET_INFO.
    DeviceGetInfo,
    /// DEVICE_GET_REGION_INFO.
    GetRegionInfo {
        /// Region index.
        index: u32,
    },
    /// DEVICE_GET_IRQ_INFO.
    GetIrqInfo {
        /// IRQ index.
        index: u32,
    },
    /// DEVICE_SET_IRQS.
    SetIrqs {
        /// `VFIO_IRQ_SET_*`: one data type, one action.
        flags: u32,
        /// IRQ index.
        index: u32,
        /// First sub-index.
        start: u32,
        /// Number of sub-indices.
        count: u32,
    },
    /// REGION_READ.
    RegionRead {
        /// Region index.
        region: u32,
        /// Offset in the region.
        offset: u64,
        /// Bytes to read, at most [`MAX_DATA_XFER`].
        count: u32,
    },
    /// REGION_WRITE.
    RegionWrite {
        /// Region index.
        region: u32,
        /// Offset in the region.
        offset: u64,
        /// The bytes, at most [`MAX_DATA_XFER`].
        data: &'a [u8],
    },
    /// DEVICE_RESET.
    Reset,
}

/// Body of DMA_MAP.
pub const DMA_MAP_SIZE: usize = 32;
/// Body of DMA_UNMAP (without the dirty bitmap we do not support).
pub const DMA_UNMAP_SIZE: usize = 24;
/// Body of DEVICE_GET_INFO and its reply.
pub const DEVICE_INFO_SIZE: usize = 16;
/// Body of DEVICE_GET_REGION_INFO (`struct vfio_region_info`) and its reply.
pub const REGION_INFO_SIZE: usize = 32;
/// Body of DEVICE_GET_IRQ_INFO (`struct vfio_irq_info`) and its reply.
pub const IRQ_INFO_SIZE: usize = 16;
/// Fixed part of DEVICE_SET_IRQS (`struct vfio_irq_set`).
pub const IRQ_SET_SIZE: usize = 20;
/// Fixed part of REGION_READ and REGION_WRITE (offset, region, count).
pub const REGION_ACCESS_SIZE: usize = 16;

use vfio_bindings::bindings::vfio::{
    VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL,
    VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP, VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_TRIGGER,
    VFIO_IRQ_SET_ACTION_UNMASK, VFIO_IRQ_SET_DATA_BOOL, VFIO_IRQ_SET_DATA_EVENTFD,
    VFIO_IRQ_SET_DATA_NONE,
};

/// `VFIO_IRQ_SET_DATA_*` bits.
const IRQ_DATA_MASK: u32 =
    VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD;
/// `VFIO_IRQ_SET_ACTION_*` bits.
const IRQ_ACTION_MASK: u32 =
    VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_ACTION_TRIGGER;

/// Parses the body of a command message. `fds` is how many descriptors
/// came with it: a command that takes none, or fewer than it got, is
/// refused here (the caller closes them).
pub fn parse_request(cmd: u16, body: &[u8], fds: usize) -> Result<Request<'_>, Refusal> {
    use self::command as c;
    let takes_fds = matches!(cmd, c::DMA_MAP | c::DEVICE_SET_IRQS);
    if fds > 0 && !takes_fds {
        return Err(Refusal::invalid(format!(
            "{fds} descriptors sent with a command that takes none"
        )));
    }
    match cmd {
        c::VERSION => parse_version(body),
        c::DMA_MAP => {
            let mut r = exact(body, DMA_MAP_SIZE, "DMA_MAP")?;
            let _argsz = r.u32();
            let (flags, offset, address, size) = (r.u32(), r.u64(), r.u64(), r.u64());
            if flags & !(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE) != 0 {
                return Err(Refusal::invalid(format!("DMA_MAP flags {flags:#x}")));
            }
            if size == 0 || address.checked_add(size).is_none() {
                return Err(Refusal::invalid(format!(
                    "DMA_MAP of {address:#x}+{size:#x}"
                )));
            }
            if fds > 1 {
                return Err(Refusal::invalid(format!("DMA_MAP with {fds} descriptors")));
            }
            Ok(Request::DmaMap {
                flags,
                offset,
                address,
                size,
            })
        }
        c::DMA_UNMAP => {
            let mut r = exact(body, DMA_UNMAP_SIZE, "DMA_UNMAP")?;
            let (argsz, flags, address, size) = (r.u32(), r.u32(), r.u64(), r.u64());
            if flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP != 0 {
                return Err(Refusal::new(
                    Errno::ENOTSUP,
                    "DMA_UNMAP with a dirty bitmap",
                ));
            }
            if flags & !VFIO_DMA_UNMAP_FLAG_ALL != 0 {
                return Err(Refusal::invalid(format!("DMA_UNMAP flags {flags:#x}")));
            }
            Ok(Request::DmaUnmap {
                argsz,
                flags,
                address,
                size,
            })
        }
        c::DEVICE_GET_INFO => {
            let mut r = exact(body, DEVICE_INFO_SIZE, "DEVICE_GET_INFO")?;
            argsz_at_least(r.u32(), DEVICE_INFO_SIZE, "DEVICE_GET_INFO")?;
            Ok(Request::DeviceGetInfo)
        }
        c::DEVICE_GET_REGION_INFO => {
            let mut r = exact(body, REGION_INFO_SIZE, "DEVICE_GET_REGION_INFO")?;
            argsz_at_least(r.u32(), REGION_INFO_SIZE, "DEVICE_GET_REGION_INFO")?;
            let _flags = r.u32();
            Ok(Request::GetRegionInfo { index: r.u32() })
        }
        c::DEVICE_GET_IRQ_INFO => {
            let mut r = exact(body, IRQ_INFO_SIZE, "DEVICE_GET_IRQ_INFO")?;
            argsz_at_least(r.u32(), IRQ_INFO_SIZE, "DEVICE_GET_IRQ_INFO")?;
            let _flags = r.u32();
            Ok(Request::GetIrqInfo { index: r.u32() })
        }
        c::DEVICE_SET_IRQS => parse_set_irqs(body, fds),
        c::REGION_READ => {
            let mut r = exact(body, REGION_ACCESS_SIZE, "REGION_READ")?;
            let (offset, region, count) = (r.u64(), r.u32(), r.u32());
            if count > MAX_DATA_XFER {
                return Err(Refusal::new(
                    Errno::E2BIG,
                    format!("REGION_READ of {count} bytes, over {MAX_DATA_XFER}"),
                ));
            }
            Ok(Request::RegionRead {
                region,
                offset,
                count,
            })
        }
        c::REGION_WRITE => {
            let Some((head, data)) = body.split_at_checked(REGION_ACCESS_SIZE) else {
                return Err(Refusal::invalid(format!(
                    "REGION_WRITE body of {} bytes",
                    body.len()
                )));
            };
            let mut r = Fields(head);
            let (offset, region, count) = (r.u64(), r.u32(), r.u32());
            if count > MAX_DATA_XFER {
                return Err(Refusal::new(
                    Errno::E2BIG,
                    format!("REGION_WRITE of {count} bytes, over {MAX_DATA_XFER}"),
                ));
            }
            if data.len() != count as usize {
                return Err(Refusal::invalid(format!(
                    "REGION_WRITE of {count} bytes carries {}",
                    data.len()
                )));
            }
            Ok(Request::RegionWrite {
                region,
                offset,
                data,
            })
        }
        c::DEVICE_RESET => {
            exact(body, 0, "DEVICE_RESET")?;
            Ok(Request::Reset)
        }
        c::DEVICE_GET_REGION_IO_FDS
        | c::DIRTY_PAGES
        | c::REGION_WRITE_MULTI
        | c::DEVICE_FEATURE
        | c::MIG_DATA_READ
        | c::MIG_DATA_WRITE => Err(Refusal::new(
            Errno::ENOTSUP,
            format!("command {cmd} is not supported"),
        )),
        c::DMA_READ | c::DMA_WRITE => Err(Refusal::invalid(format!(
            "command {cmd} goes from server to client"
        ))),
        _ => Err(Refusal::new(
            Errno::ENOSYS,
            format!("unknown command {cmd}"),
        )),
    }
}

fn parse_version(body: &[u8]) -> Result<Request<'_>, Refusal> {
    let Some((head, data)) = body.split_at_checked(4) else {
        return Err(Refusal::invalid(format!(
            "VERSION body of {} bytes",
            body.len()
        )));
    };
    let mut r = Fields(head);
    let (major, minor) = (r.u16(), r.u16());
    let caps = if data.is_empty() {
        PeerCaps::default()
    } else {
        parse_caps(data)?
    };
    Ok(Request::Version { major, minor, caps })
}

/// The version data: NUL-terminated UTF-8 JSON, `{"capabilities": {...}}`.
fn parse_caps(data: &[u8]) -> Result<PeerCaps, Refusal> {
    if data.len() > MAX_VERSION_DATA {
        return Err(Refusal::new(
            Errno::E2BIG,
            format!("VERSION data of {} bytes", data.len()),
        ));
    }
    let Some((&0, text)) = data.split_last() else {
        return Err(Refusal::invalid("VERSION data is not NUL-terminated"));
    };
    if text.contains(&0) {
        return Err(Refusal::invalid("VERSION data has a NUL inside"));
    }
    let json: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| Refusal::invalid(format!("VERSION data is not JSON: {e}")))?;
    let Some(top) = json.as_object() else {
        return Err(Refusal::invalid("VERSION data is not a JSON object"));
    };
    let mut caps = PeerCaps::default();
    let Some(given) = top.get("capabilities") else {
        return Ok(caps);
    };
    let Some(given) = given.as_object() else {
        return Err(Refusal::invalid("VERSION capabilities is not an object"));
    };
    let number = |name: &str| -> Result<Option<u64>, Refusal> {
        match given.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Refusal::invalid(format!("VERSION capability {name} is {v}"))),
        }
    };
    if let Some(n) = number("max_msg_fds")? {
        caps.max_msg_fds = n;
    }
    if let Some(n) = number("max_data_xfer_size")? {
        caps.max_data_xfer_size = n;
    }
    // Others (pgsizes, max_dma_maps, migration, write_multiple,
    // twin_socket) concern features we neither offer nor use.
    Ok(caps)
}

fn parse_set_irqs(body: &[u8], fds: usize) -> Result<Request<'_>, Refusal> {
    let Some((head, data)) = body.split_at_checked(IRQ_SET_SIZE) else {
        return Err(Refusal::invalid(format!(
            "DEVICE_SET_IRQS body of {} bytes",
            body.len()
        )));
    };
    let mut r = Fields(head);
    let _argsz = r.u32();
    let (flags, index, start, count) = (r.u32(), r.u32(), r.u32(), r.u32());
    let data_type = flags & IRQ_DATA_MASK;
    let action = flags & IRQ_ACTION_MASK;
    if flags & !(IRQ_DATA_MASK | IRQ_ACTION_MASK) != 0
        || !data_type.is_power_of_two()
        || !action.is_power_of_two()
    {
        return Err(Refusal::invalid(format!(
            "DEVICE_SET_IRQS flags {flags:#x}"
        )));
    }
    // DATA_BOOL carries one byte per sub-index; the others nothing.
    let data_len = if data_type == VFIO_IRQ_SET_DATA_BOOL {
        count as usize
    } else {
        0
    };
    if data.len() != data_len {
        return Err(Refusal::invalid(format!(
            "DEVICE_SET_IRQS of {count} with {} data bytes",
            data.len()
        )));
    }
    if count == 0 && start != 0 {
        return Err(Refusal::invalid(format!(
            "DEVICE_SET_IRQS of 0 from {start}"
        )));
    }
    let eventfds = data_type == VFIO_IRQ_SET_DATA_EVENTFD;
    if (!eventfds && fds > 0) || fds > count as usize {
        return Err(Refusal::invalid(format!(
            "DEVICE_SET_IRQS flags {flags:#x}, count {count} with {fds} descriptors"
        )));
    }
    Ok(Request::SetIrqs {
        flags,
        index,
        start,
        count,
    })
}

/// A reader over a body of exactly `len` bytes.
fn exact<'a>(body: &'a [u8], len: usize, what: &str) -> Result<Fields<'a>, Refusal> {
    if body.len() == len {
        Ok(Fields(body))
    } else {
        Err(Refusal::invalid(format!(
            "{what} body of {} bytes, not {len}",
            body.len()
        )))
    }
}

/// `argsz` of a query: room for the reply's fixed part.
fn argsz_at_least(argsz: u32, min: usize, what: &str) -> Result<(), Refusal> {
    if argsz as usize >= min {
        Ok(())
    } else {
        Err(Refusal::invalid(format!(
            "{what} argsz {argsz}, under {min}"
        )))
    }
}

/// Reads native-endian fields off the front of a slice already checked to
/// be long enough; a read past its end yields zeros rather than panicking.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }

    fn u16(&mut self) -> u16 {
        u16::from_ne_bytes(self.take())
    }

    fn u32(&mut self) -> u32 {
        u32::from_ne_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_ne_bytes(self.take())
    }
}

/// Builds a reply payload field by field.
#[derive(Debug, Default)]
pub struct Payload(pub Vec<u8>);

impl Payload {
    /// Appends a `u16`.
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// Appends a `u32`.
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// Appends a `u64`.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_ne_bytes());
        self
    }

    /// Appends bytes.
    pub fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// The header of the reply to `request` carrying `payload_len` bytes.
pub fn reply_header(request: &Header, payload_len: usize) -> Header {
    Header {
        id: request.id,
        command: request.command,
        // Payloads are bounded by MAX_BODY, far below u32::MAX.
        size: (HEADER_SIZE + payload_len) as u32,
        flags: flags::REPLY,
        error: 0,
    }
}

/// The reply to `request` with `payload`.
pub fn reply(request: &Header, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + payload.len());
    out.extend_from_slice(&reply_header(request, payload.len()).encode());
    out.extend_from_slice(payload);
    out
}

/// The error reply to `request`: the header alone, with the error flag
/// and `errno`.
pub fn error_reply(request: &Header, errno: Errno) -> Vec<u8> {
    Header {
        flags: flags::REPLY | flags::ERROR,
        error: errno.0,
        ..reply_header(request, 0)
    }
    .encode()
    .to_vec()
}

/// A command message (the client's side: tests, the fuzz seeds). A body
/// too large for the size field gets the largest size, which the server
/// refuses.
pub fn command_message(id: u16, command: u16, flags: u32, body: &[u8]) -> Vec<u8> {
    let header = Header {
        id,
        command,
        size: u32::try_from(HEADER_SIZE + body.len()).unwrap_or(u32::MAX),
        flags,
        error: 0,
    };
    let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(body);
    out
}

/// Our VERSION reply's payload: the version and what we support. No
/// `migration` (we cannot migrate), no `write_multiple`, no
/// `twin_socket` (we never send commands to the client).
pub fn version_payload() -> Vec<u8> {
    let caps = serde_json::json!({
        "capabilities": {
            "max_msg_fds": MAX_MSG_FDS,
            "max_data_xfer_size": MAX_DATA_XFER,
            "max_dma_maps": MAX_DMA_MAPS,
        }
    });
    Payload::default()
        .u16(VERSION_MAJOR)
        .u16(VERSION_MINOR)
        .bytes(caps.to_string().as_bytes())
        .bytes(&[0])
        .0
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
