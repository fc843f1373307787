//! Seeds of `vfio_framing`: raw vfio-user streams, a QEMU boot and a
//! malformed one.

use crate::vfio_framing::{encode, PLAN};
use vgpu_host::vfio::wire::{command, command_message, flags, Payload};

/// QEMU 10.x's VERSION data.
pub(crate) const QEMU_CAPS: &str = "{\"capabilities\": {\"migration\": {\"pgsize\": 4096, \
     \"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16, \"max_data_xfer_size\": 1048576, \
     \"pgsizes\": 4096, \"max_dma_maps\": 65535, \"write_multiple\": true}}";

/// A stream being written, with the receive number each message starts at
/// (receives of unlimited size: one for the header, one for a body).
#[derive(Default)]
pub(crate) struct Stream {
    bytes: Vec<u8>,
    receives: usize,
    plan: Vec<(u8, u8)>,
    next_id: u16,
}

impl Stream {
    /// Appends a command.
    pub(crate) fn push(&mut self, command: u16, flags: u32, body: &[u8]) -> &mut Self {
        self.bytes
            .extend(command_message(self.next_id, command, flags, body));
        self.next_id = self.next_id.wrapping_add(1);
        self.receives += 1 + usize::from(!body.is_empty());
        self
    }

    /// Appends a command whose header brings descriptors of plan `kind`.
    pub(crate) fn push_with_fds(&mut self, command: u16, body: &[u8], kind: u8) -> &mut Self {
        self.plan.push((self.receives as u8, kind));
        self.push(command, 0, body)
    }

    /// Appends raw bytes (counted as one receive).
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self.receives += 1;
        self
    }

    /// The fuzz input.
    pub(crate) fn input(&self) -> Vec<u8> {
        let mut plan = [(0u8, 0u8); PLAN];
        for (slot, &entry) in plan.iter_mut().zip(&self.plan) {
            *slot = entry;
        }
        encode(0, plan, &self.bytes)
    }
}

pub(crate) fn version(s: &mut Stream) {
    let mut body = Payload::default()
        .u16(0)
        .u16(0)
        .bytes(QEMU_CAPS.as_bytes())
        .0;
    body.push(0);
    s.push(command::VERSION, 0, &body);
}

pub(crate) fn read(region: u32, offset: u64, count: u32) -> Vec<u8> {
    Payload::default().u64(offset).u32(region).u32(count).0
}

pub(crate) fn write(region: u32, offset: u64, data: &[u8]) -> Vec<u8> {
    Payload::default()
        .u64(offset)
        .u32(region)
        .u32(data.len() as u32)
        .bytes(data)
        .0
}

fn set_irqs(flags: u32, index: u32, start: u32, count: u32) -> Vec<u8> {
    Payload::default()
        .u32(20)
        .u32(flags)
        .u32(index)
        .u32(start)
        .u32(count)
        .0
}

fn boot() -> Vec<u8> {
    use uapi::regs::{self, queue as qreg};
    let mut s = Stream::default();
    version(&mut s);
    let info = Payload::default().u32(16).u32(0).u32(0).u32(0).0;
    s.push(command::DEVICE_GET_INFO, 0, &info);
    for index in 0..9 {
        let body = Payload::default()
            .u32(32)
            .u32(0)
            .u32(index)
            .u32(0)
            .u64(0)
            .u64(0)
            .0;
        s.push(command::DEVICE_GET_REGION_INFO, 0, &body);
    }
    for index in 0..5 {
        let body = Payload::default().u32(16).u32(0).u32(index).u32(0).0;
        s.push(command::DEVICE_GET_IRQ_INFO, 0, &body);
    }
    s.push(command::REGION_READ, 0, &read(7, 0, 256));
    // Guest RAM (a memfd) and a ROM without one.
    let map = |flags: u32, address: u64, size: u64| {
        Payload::default()
            .u32(32)
            .u32(flags)
            .u64(0)
            .u64(address)
            .u64(size)
            .0
    };
    s.push_with_fds(command::DMA_MAP, &map(3, 0x10_0000, 0x4_0000), 4 | 1);
    s.push(command::DMA_MAP, 0, &map(1, 0xc_0000, 0x1_0000));
    // MSI and ERR eventfds, INTx off.
    s.push_with_fds(command::DEVICE_SET_IRQS, &set_irqs(0x24, 1, 0, 1), 1);
    s.push_with_fds(command::DEVICE_SET_IRQS, &set_irqs(0x24, 3, 0, 1), 1);
    s.push(command::DEVICE_SET_IRQS, 0, &set_irqs(0x21, 0, 0, 0));
    s.push(command::REGION_WRITE, 0, &write(7, 4, &[6, 0]));
    s.push(command::REGION_READ, 0, &read(0, u64::from(regs::MAGIC), 4));
    let q = |r: u32| u64::from(regs::queue_reg(0, r));
    for (reg, value) in [
        (qreg::SQ_BASE_LO, 0x10_0000u32),
        (qreg::SQ_BASE_HI, 0),
        (qreg::CQ_BASE_LO, 0x11_0000),
        (qreg::CQ_BASE_HI, 0),
        (qreg::CTRL_BASE_LO, 0x12_0000),
        (qreg::CTRL_BASE_HI, 0),
        (qreg::DEPTH, 16),
        (qreg::ENABLE, 1),
    ] {
        // BAR writes are posted: no reply.
        s.push(
            command::REGION_WRITE,
            flags::NO_REPLY,
            &write(0, q(reg), &value.to_le_bytes()),
        );
    }
    s.push(command::REGION_READ, 0, &read(0, q(qreg::STATUS), 4));
    s.push(
        command::REGION_WRITE,
        flags::NO_REPLY,
        &write(0, q(qreg::DOORBELL), &0u32.to_le_bytes()),
    );
    s.push(command::DEVICE_RESET, 0, &[]);
    let unmap = Payload::default()
        .u32(24)
        .u32(0)
        .u64(0x10_0000)
        .u64(0x4_0000)
        .0;
    s.push(command::DMA_UNMAP, 0, &unmap);
    s.push(command::DEVICE_SET_IRQS, 0, &set_irqs(0x21, 1, 0, 0));
    s.input()
}

fn malformed() -> Vec<u8> {
    let mut s = Stream::default();
    // Before VERSION.
    s.push(command::REGION_READ, 0, &read(0, 0, 4));
    version(&mut s);
    // Unknown and unsupported commands with bodies that look like messages.
    s.push(
        99,
        0,
        &command_message(0, command::REGION_READ, 0, &read(0, 0, 4)),
    );
    s.push(command::DEVICE_FEATURE, 0, &[0; 16]);
    // A write to a missing region, outside a region, a short one.
    s.push(command::REGION_WRITE, 0, &write(9, 0, &[1; 8]));
    s.push(command::REGION_WRITE, 0, &write(7, 0xfe, &[1; 4]));
    let mut short = write(0, 0, &[1; 4]);
    short.truncate(18);
    s.push(command::REGION_WRITE, 0, &short);
    // A 4 GiB read, VERSION data without its NUL, DATA_BOOL, a reply.
    s.push(command::REGION_READ, 0, &read(0, 0, u32::MAX));
    s.push(command::VERSION, 0, b"\0\0\0\0{\"capabilities\":{}}");
    s.push(command::DEVICE_SET_IRQS, 0, &{
        let mut b = set_irqs(0x12, 1, 0, 1);
        b.push(1);
        b
    });
    s.push(command::REGION_READ, flags::REPLY, &read(0, 0, 4));
    // Descriptors with a command that takes none, and too many for a map.
    s.push_with_fds(command::REGION_READ, &read(7, 0, 4), 1);
    let map = Payload::default()
        .u32(32)
        .u32(3)
        .u64(0)
        .u64(0x10_0000)
        .u64(0x1000)
        .0;
    s.push_with_fds(command::DMA_MAP, &map, 4 | 2);
    s.push(command::REGION_READ, 0, &read(7, 0, 4));
    // A header smaller than itself: the end.
    s.raw(&[0xaa, 0, 9, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    s.input()
}

pub(super) fn seeds() -> Vec<(String, Vec<u8>)> {
    vec![("boot".into(), boot()), ("malformed".into(), malformed())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use vgpu_host::vfio::conn::{split_frames, Replay};
    use vgpu_host::vfio::server::{End, Session};
    use vgpu_host::vfio::{Backend, Tables};

    /// The seed's replies, replayed as `vfio_framing::run` does.
    fn replies(input: &[u8]) -> Vec<(u16, u32, u32)> {
        let plan: Vec<(u8, u8)> = input[1..1 + 2 * PLAN]
            .chunks(2)
            .map(|c| (c[0], c[1]))
            .collect();
        let stream = &input[1 + 2 * PLAN..];
        let interrupts = std::sync::Arc::new(vgpu_host::irq::EventfdInterrupts::new());
        let device = std::sync::Arc::new(vgpu_host::device::Device::new(
            vgpu_host::device::DeviceOptions::default(),
            std::sync::Arc::new(vgpu_host::executor::sim::SimExecutor::new(
                crate::cuda::device_info(),
            )),
            interrupts.clone(),
        ));
        let mut backend = Backend::new(device, interrupts);
        let tables = Tables::vgpu();
        let mut replay = Replay::with_fds(stream, 0, |i| {
            plan.iter()
                .filter(|&&(r, _)| usize::from(r) == i)
                .flat_map(|&(_, k)| crate::vfio_framing::descriptors(k))
                .collect()
        });
        let end = Session::new(&mut backend, &tables).run(&mut replay);
        let closed = matches!(end, End::Closed);
        let frames = split_frames(&replay.sent).expect("framed");
        let mut out: Vec<_> = frames
            .iter()
            .map(|(h, _)| (h.id, h.flags, h.error))
            .collect();
        out.push((u16::MAX, u32::from(closed), 0));
        out
    }

    #[test]
    fn the_boot_seed_is_answered_without_an_error() {
        let out = replies(&boot());
        let (&(_, closed, _), answers) = out.split_last().expect("end");
        assert_eq!(closed, 1, "the stream ended cleanly");
        // Every message but the 9 posted writes is answered (37 - 9), none
        // with an error.
        assert_eq!(answers.len(), 28);
        for &(id, flags, error) in answers {
            assert_eq!((flags, error), (flags::REPLY, 0), "message {id}");
        }
    }

    #[test]
    fn the_malformed_seed_is_refused_message_by_message() {
        let out = replies(&malformed());
        let (&(_, closed, _), answers) = out.split_last().expect("end");
        assert_eq!(closed, 0, "the undersized header ends the connection");
        let errors: Vec<u16> = answers
            .iter()
            .filter(|a| a.1 & flags::ERROR != 0)
            .map(|a| a.0)
            .collect();
        let ok: Vec<u16> = answers
            .iter()
            .filter(|a| a.1 & flags::ERROR == 0)
            .map(|a| a.0)
            .collect();
        // VERSION (1), the DATA_BOOL unmask (9, ignored by the device) and
        // the last read (13) succeed; the reply (10) gets no answer;
        // everything else is refused.
        assert_eq!(ok, vec![1, 9, 13]);
        assert_eq!(errors, vec![0, 2, 3, 4, 5, 6, 7, 8, 11, 12]);
    }
}
