//! The vfio-user server from raw bytes: a fuzzed stream of messages
//! through `vfio::server::Session` (header framing, oversized and cut
//! messages, each request's parser, the checks against the region and IRQ
//! tables, NO_REPLY, descriptors) down to a fresh device, with short reads.
//! Besides never panicking, every reply must be one well-framed reply
//! message, and every error reply must carry a nonzero errno and nothing
//! else.
//!
//! Input: one byte, the most bytes a receive returns (0: no limit); four
//! `(receive, kind)` byte pairs, the descriptor plan (receive number
//! `receive`, from 0, brings [`descriptors`]`(kind)`); then the stream.

use crate::input::{Input, Output};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use vgpu_host::device::{Device, DeviceOptions};
use vgpu_host::executor::sim::SimExecutor;
use vgpu_host::guest_memory::memfd;
use vgpu_host::irq::EventfdInterrupts;
use vgpu_host::vfio::conn::{split_frames, Replay};
use vgpu_host::vfio::server::Session;
use vgpu_host::vfio::wire::flags;
use vgpu_host::vfio::{Backend, DeviceBackend, Tables};

/// Size of the memfds sent as descriptors (what DMA maps can cover).
pub const MEMFD_SIZE: u64 = 1 << 20;

/// Entries of the descriptor plan.
pub const PLAN: usize = 4;

/// The descriptors of plan kind `b`: `b % 4` of them, memfds of
/// [`MEMFD_SIZE`] if bit 2 is set (for DMA maps), eventfds if not (for
/// SET_IRQS).
pub fn descriptors(b: u8) -> Vec<OwnedFd> {
    (0..b % 4)
        .filter_map(|_| {
            if b & 4 != 0 {
                memfd("fuzz-ram", MEMFD_SIZE).ok().map(OwnedFd::from)
            } else {
                crate::vfio::eventfd().map(OwnedFd::from)
            }
        })
        .collect()
}

/// An input: receive size, descriptor plan, stream.
pub fn encode(chunk: u8, plan: [(u8, u8); PLAN], stream: &[u8]) -> Vec<u8> {
    let mut out = Output::default();
    out.u8(chunk);
    for (receive, kind) in plan {
        out.u8(receive).u8(kind);
    }
    out.raw(stream);
    out.bytes
}

/// Runs one input; never panics on any bytes (the property fuzzed).
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let chunk = usize::from(input.u8());
    let mut plan = [(0u8, 0u8); PLAN];
    for entry in &mut plan {
        *entry = (input.u8(), input.u8());
    }
    let stream = input.rest();
    let interrupts = Arc::new(EventfdInterrupts::new());
    let device = Arc::new(Device::new(
        DeviceOptions::default(),
        Arc::new(SimExecutor::new(crate::cuda::device_info())),
        interrupts.clone(),
    ));
    let mut backend = Backend::new(device, interrupts);
    let tables = Tables::vgpu();
    let mut replay = Replay::with_fds(stream, chunk, |i| {
        plan.iter()
            .filter(|&&(receive, _)| usize::from(receive) == i)
            .flat_map(|&(_, kind)| descriptors(kind))
            .collect()
    });
    let _end = Session::new(&mut backend, &tables).run(&mut replay);
    let Some(frames) = split_frames(&replay.sent) else {
        panic!("the replies are not framed: {} bytes", replay.sent.len());
    };
    for (header, payload) in frames {
        assert_eq!(header.kind(), flags::REPLY, "{header:?}");
        if header.flags & flags::ERROR != 0 {
            assert_ne!(header.error, 0, "error reply without errno: {header:?}");
            assert!(payload.is_empty(), "error reply with a payload");
        }
    }
    backend.disconnect();
}
