//! The device behind vfio-user: the requests `vfio::Backend` gets once the
//! server has framed and checked them (region reads and writes of config
//! space and BAR0, DMA maps and unmaps with an fd, reset, SET_IRQS with
//! eventfds), in any order, on a fresh device per input, some with
//! arguments the server would have refused. The framing and those checks
//! are `vfio_framing`'s.
//!
//! Input: a sequence of [`Op`]s (a tag byte, then its fields).

use crate::input::{Input, Output};
use std::fs::File;
use std::os::fd::FromRawFd;
use std::sync::Arc;
use vgpu_host::device::{Device, DeviceOptions};
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::guest_memory::memfd;
use vgpu_host::irq::EventfdInterrupts;
use vgpu_host::vfio::{Backend, DeviceBackend, DmaMapFlags, DmaUnmapFlags};

/// Most operations per input.
const MAX_OPS: usize = 64;
/// Largest memfd behind a DMA map.
const MAX_FILE: u64 = 1 << 20;
/// Most eventfds per SET_IRQS.
const MAX_FDS: usize = 4;

/// One message.
#[derive(Clone, Debug)]
pub enum Op {
    /// Region read of `len` bytes.
    Read { region: u8, offset: u64, len: u8 },
    /// Region write.
    Write {
        region: u8,
        offset: u64,
        data: Vec<u8>,
    },
    /// DMA map of `size` bytes of a memfd of `file_len` bytes (none if 0).
    Map {
        flags: u32,
        offset: u64,
        address: u64,
        size: u64,
        file_len: u32,
    },
    /// DMA unmap.
    Unmap { flags: u32, address: u64, size: u64 },
    /// Device reset.
    Reset,
    /// SET_IRQS with `fds` eventfds.
    SetIrqs {
        index: u32,
        flags: u32,
        start: u32,
        count: u32,
        fds: u8,
    },
    /// A device-side read of guest RAM.
    Peek { address: u64, len: u16 },
}

/// Page-aligned small address (tag bit clear) or raw.
fn address(input: &mut Input<'_>) -> u64 {
    if input.u8() & 1 != 0 {
        input.u64()
    } else {
        u64::from(input.u16()) << 12
    }
}

fn put_address(out: &mut Output, a: u64) {
    if a & 0xfff == 0 && a >> 12 <= u64::from(u16::MAX) {
        out.u8(0).u16((a >> 12) as u16);
    } else {
        out.u8(1).u64(a);
    }
}

impl Op {
    fn decode(input: &mut Input<'_>) -> Self {
        match input.u8() % 7 {
            0 => Self::Read {
                region: input.u8(),
                offset: address(input),
                len: input.u8(),
            },
            1 => {
                let region = input.u8();
                let offset = address(input);
                let len = usize::from(input.u8() % 65);
                Self::Write {
                    region,
                    offset,
                    data: input.bytes(len).to_vec(),
                }
            }
            2 => Self::Map {
                flags: input.u32(),
                offset: address(input),
                address: address(input),
                size: address(input),
                file_len: input.u32(),
            },
            3 => Self::Unmap {
                flags: input.u32(),
                address: address(input),
                size: address(input),
            },
            4 => Self::Reset,
            5 => Self::SetIrqs {
                index: input.u32(),
                flags: input.u32(),
                start: input.u32(),
                count: input.u32(),
                fds: input.u8(),
            },
            _ => Self::Peek {
                address: address(input),
                len: input.u16(),
            },
        }
    }

    /// Encodes the op.
    pub fn encode(&self, out: &mut Output) {
        match self {
            Self::Read {
                region,
                offset,
                len,
            } => {
                out.u8(0).u8(*region);
                put_address(out, *offset);
                out.u8(*len);
            }
            Self::Write {
                region,
                offset,
                data,
            } => {
                out.u8(1).u8(*region);
                put_address(out, *offset);
                out.u8(data.len() as u8).raw(data);
            }
            Self::Map {
                flags,
                offset,
                address,
                size,
                file_len,
            } => {
                out.u8(2).u32(*flags);
                put_address(out, *offset);
                put_address(out, *address);
                put_address(out, *size);
                out.u32(*file_len);
            }
            Self::Unmap {
                flags,
                address,
                size,
            } => {
                out.u8(3).u32(*flags);
                put_address(out, *address);
                put_address(out, *size);
            }
            Self::Reset => {
                out.u8(4);
            }
            Self::SetIrqs {
                index,
                flags,
                start,
                count,
                fds,
            } => {
                out.u8(5)
                    .u32(*index)
                    .u32(*flags)
                    .u32(*start)
                    .u32(*count)
                    .u8(*fds);
            }
            Self::Peek { address, len } => {
                out.u8(6);
                put_address(out, *address);
                out.u16(*len);
            }
        }
    }
}

/// Encodes a sequence of ops as one input.
pub fn encode(ops: &[Op]) -> Vec<u8> {
    let mut out = Output::default();
    for op in ops {
        op.encode(&mut out);
    }
    out.bytes
}

/// A fresh eventfd.
pub fn eventfd() -> Option<File> {
    // SAFETY: eventfd has no memory effects; the result is checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    (fd >= 0).then(|| unsafe { File::from_raw_fd(fd) })
}

/// Runs one input; never panics on any bytes (the property fuzzed).
pub fn run(data: &[u8]) {
    let interrupts = Arc::new(EventfdInterrupts::new());
    let device = Arc::new(Device::new(
        DeviceOptions::default(),
        Arc::new(SimExecutor::new(crate::cuda::device_info())),
        interrupts.clone(),
    ));
    let mut backend = Backend::new(device.clone(), interrupts);
    let mut input = Input::new(data);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        match Op::decode(&mut input) {
            Op::Read {
                region,
                offset,
                len,
            } => {
                let mut buf = vec![0u8; usize::from(len % 65)];
                let _ = backend.region_read(u32::from(region % 10), offset, &mut buf);
            }
            Op::Write {
                region,
                offset,
                data,
            } => {
                let _ = backend.region_write(u32::from(region % 10), offset, &data);
            }
            Op::Map {
                flags,
                offset,
                address,
                size,
                file_len,
            } => {
                let file_len = u64::from(file_len) % (MAX_FILE + 1);
                // A map past the end of its file is refused (review M3;
                // it used to be a SIGBUS at the first device access there).
                let file = (file_len != 0)
                    .then(|| memfd("fuzz-dma", file_len).ok())
                    .flatten();
                let _ = backend.dma_map(
                    DmaMapFlags::from_bits_retain(flags),
                    offset,
                    address,
                    size,
                    file,
                );
            }
            Op::Unmap {
                flags,
                address,
                size,
            } => {
                let _ = backend.dma_unmap(DmaUnmapFlags::from_bits_retain(flags), address, size);
            }
            Op::Reset => {
                let _ = backend.reset();
            }
            Op::SetIrqs {
                index,
                flags,
                start,
                count,
                fds,
            } => {
                let fds = (0..usize::from(fds) % (MAX_FDS + 1))
                    .filter_map(|_| eventfd())
                    .collect();
                let _ = backend.set_irqs(index, flags, start, count, fds);
            }
            Op::Peek { address, len } => {
                let mut buf = vec![0u8; usize::from(len)];
                let _ = device.guest_memory().read(address, &mut buf);
            }
        }
    }
    backend.disconnect();
}
