//! A connection over a replayed byte stream, against a recording backend:
//! framing survives bad messages (review M2: the crate lost step), errors
//! reach the peer as errnos, descriptors are checked and closed.

use super::*;
use crate::vfio::conn::{split_frames, Replay};
use crate::vfio::wire::{command_message, MAX_BODY, MAX_DATA_XFER};
use std::io::Read;
use std::os::fd::FromRawFd;
use vfio_bindings::bindings::vfio::{
    VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_PCI_MSI_IRQ_INDEX,
};

/// What the backend was asked.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    Read(u32, u64, usize),
    Write(u32, u64, Vec<u8>),
    Map(u32, u64, u64, u64, bool),
    Unmap(u32, u64, u64),
    Reset,
    SetIrqs(u32, u32, u32, u32, usize),
}

#[derive(Default)]
struct Recorder {
    calls: Vec<Call>,
    /// Answer for DMA maps.
    map_error: Option<Errno>,
}

impl DeviceBackend for Recorder {
    fn region_read(&mut self, region: u32, offset: u64, data: &mut [u8]) -> Result<(), Errno> {
        self.calls.push(Call::Read(region, offset, data.len()));
        data.fill(0xab);
        Ok(())
    }

    fn region_write(&mut self, region: u32, offset: u64, data: &[u8]) -> Result<(), Errno> {
        self.calls.push(Call::Write(region, offset, data.to_vec()));
        Ok(())
    }

    fn dma_map(
        &mut self,
        flags: DmaMapFlags,
        offset: u64,
        address: u64,
        size: u64,
        fd: Option<File>,
    ) -> Result<(), Errno> {
        self.calls
            .push(Call::Map(flags.bits(), offset, address, size, fd.is_some()));
        self.map_error.map_or(Ok(()), Err)
    }

    fn dma_unmap(&mut self, flags: DmaUnmapFlags, address: u64, size: u64) -> Result<(), Errno> {
        self.calls.push(Call::Unmap(flags.bits(), address, size));
        Ok(())
    }

    fn reset(&mut self) -> Result<(), Errno> {
        self.calls.push(Call::Reset);
        Ok(())
    }

    fn set_irqs(
        &mut self,
        index: u32,
        flags: u32,
        start: u32,
        count: u32,
        fds: Vec<File>,
    ) -> Result<(), Errno> {
        self.calls
            .push(Call::SetIrqs(index, flags, start, count, fds.len()));
        Ok(())
    }

    fn disconnect(&mut self) {}
}

fn version() -> Vec<u8> {
    command_message(1, command::VERSION, 0, &[0, 0, 0, 0])
}

fn read(id: u16, region: u32, offset: u64, count: u32) -> Vec<u8> {
    let body = Payload::default().u64(offset).u32(region).u32(count).0;
    command_message(id, command::REGION_READ, 0, &body)
}

fn write(id: u16, region: u32, offset: u64, data: &[u8]) -> Vec<u8> {
    let body = Payload::default()
        .u64(offset)
        .u32(region)
        .u32(data.len() as u32)
        .bytes(data)
        .0;
    command_message(id, command::REGION_WRITE, 0, &body)
}

fn map(id: u16) -> Vec<u8> {
    let body = Payload::default()
        .u32(32)
        .u32(3)
        .u64(0)
        .u64(0x10_0000)
        .u64(0x1000)
        .0;
    command_message(id, command::DMA_MAP, 0, &body)
}

/// Replies to `stream` (in receives of at most `chunk` bytes), and how the
/// connection ended.
fn run_with(backend: &mut Recorder, stream: &[u8], chunk: usize) -> (Vec<(Header, Vec<u8>)>, End) {
    let tables = Tables::vgpu();
    let mut replay = Replay::new(stream, chunk);
    let end = Session::new(backend, &tables).run(&mut replay);
    let frames = split_frames(&replay.sent)
        .expect("replies are framed")
        .into_iter()
        .map(|(h, p)| (h, p.to_vec()))
        .collect();
    (frames, end)
}

fn run(backend: &mut Recorder, stream: &[u8]) -> Vec<(Header, Vec<u8>)> {
    let (frames, end) = run_with(backend, stream, 0);
    assert!(matches!(end, End::Closed), "{end:?}");
    frames
}

fn assert_error(reply: &(Header, Vec<u8>), id: u16, errno: Errno) {
    let (h, payload) = reply;
    assert_eq!(h.id, id);
    assert_eq!(h.kind(), flags::REPLY);
    assert_ne!(h.flags & flags::ERROR, 0, "error flag");
    assert_eq!(h.error, errno.0);
    assert!(payload.is_empty());
}

fn assert_ok(reply: &(Header, Vec<u8>), id: u16) -> &[u8] {
    let (h, payload) = reply;
    assert_eq!(h.id, id);
    assert_eq!(h.flags, flags::REPLY, "{h:?}");
    assert_eq!(h.error, 0);
    payload
}

#[test]
fn an_unknown_command_is_consumed_whole_and_the_next_message_answered() {
    let mut stream = version();
    // Command 99 with a body that looks like a header if left unread.
    stream.extend(command_message(2, 99, 0, &read(7, 0, 0, 4)));
    stream.extend(read(3, 0, 0, 4));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    assert_eq!(replies.len(), 3);
    assert_ok(&replies[0], 1);
    assert_error(&replies[1], 2, Errno::ENOSYS);
    let data = assert_ok(&replies[2], 3);
    assert_eq!(&data[12..16], &4u32.to_ne_bytes());
    assert_eq!(&data[16..], &[0xab; 4]);
    assert_eq!(backend.calls, vec![Call::Read(0, 0, 4)]);
}

#[test]
fn a_write_to_a_missing_region_is_consumed_and_the_next_message_answered() {
    let mut stream = version();
    // The crate returned before reading this data; it became the next
    // "header".
    stream.extend(write(2, 9, 0, &read(99, 0, 0, 4)));
    stream.extend(write(3, 0, 0x10, &[1, 2, 3, 4]));
    // Out of the region's bounds.
    stream.extend(write(4, 7, 0xfe, &[1, 2, 3, 4]));
    stream.extend(read(5, 7, u64::MAX, 4));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    assert_eq!(replies.len(), 5);
    assert_error(&replies[1], 2, Errno::EINVAL);
    let echoed = assert_ok(&replies[2], 3);
    assert_eq!(echoed, &Payload::default().u64(0x10).u32(0).u32(4).0[..]);
    assert_error(&replies[3], 4, Errno::EINVAL);
    assert_error(&replies[4], 5, Errno::EINVAL);
    assert_eq!(backend.calls, vec![Call::Write(0, 0x10, vec![1, 2, 3, 4])]);
}

#[test]
fn a_huge_region_read_is_refused_and_nothing_read() {
    let mut stream = version();
    stream.extend(read(2, 0, 0, u32::MAX));
    stream.extend(read(3, 0, 0, MAX_DATA_XFER + 1));
    stream.extend(read(4, 0, 0, 4));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    assert_error(&replies[1], 2, Errno::E2BIG);
    assert_error(&replies[2], 3, Errno::E2BIG);
    assert_ok(&replies[3], 4);
    assert_eq!(backend.calls, vec![Call::Read(0, 0, 4)]);
}

#[test]
fn an_oversized_message_is_drained_and_refused_and_the_stream_stays_in_step() {
    let mut stream = version();
    let big = vec![0x5a; MAX_BODY + 1];
    stream.extend(command_message(2, command::REGION_WRITE, 0, &big));
    stream.extend(read(3, 0, 0, 4));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    assert_error(&replies[1], 2, Errno::E2BIG);
    assert_ok(&replies[2], 3);
    assert_eq!(backend.calls, vec![Call::Read(0, 0, 4)]);
}

#[test]
fn an_untrustworthy_size_or_a_cut_message_ends_the_connection() {
    let mut backend = Recorder::default();
    let mut undersized = version();
    let mut bad = read(2, 0, 0, 4);
    bad[4..8].copy_from_slice(&8u32.to_ne_bytes());
    undersized.extend(bad);
    let (replies, end) = run_with(&mut backend, &undersized, 0);
    assert_eq!(replies.len(), 1);
    assert!(
        matches!(
            end,
            End::Read(ReadError::Framing(wire::AbortReason::Undersized(8)))
        ),
        "{end:?}"
    );

    let mut oversized = version();
    let at = oversized.len();
    oversized.extend(command_message(2, 99, 0, &[]));
    oversized[at + 4..at + 8].copy_from_slice(&u32::MAX.to_ne_bytes());
    let (_, end) = run_with(&mut backend, &oversized, 0);
    assert!(matches!(end, End::Read(ReadError::Framing(_))), "{end:?}");

    // A header cut short, a body cut short.
    for cut in [&version()[..7], &read(2, 0, 0, 4)[..20]] {
        let (replies, end) = run_with(&mut backend, cut, 0);
        assert!(replies.is_empty());
        assert!(
            matches!(end, End::Read(ReadError::Truncated { .. })),
            "{end:?}"
        );
    }
    assert!(backend.calls.is_empty());
}

#[test]
fn short_reads_give_the_same_answers() {
    let mut stream = version();
    stream.extend(command_message(2, 42, 0, &[1; 40]));
    stream.extend(write(3, 0, 0x10, &[1, 2, 3, 4]));
    stream.extend(read(4, 7, 0, 64));
    let whole = run(&mut Recorder::default(), &stream);
    for chunk in [1, 3, 16, 17] {
        let (replies, end) = run_with(&mut Recorder::default(), &stream, chunk);
        assert!(matches!(end, End::Closed));
        assert_eq!(replies, whole, "receives of {chunk} bytes");
    }
}

#[test]
fn nothing_but_version_is_served_before_version() {
    let mut stream = read(1, 0, 0, 4);
    stream.extend(version());
    stream.extend(read(3, 0, 0, 4));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    assert_error(&replies[0], 1, Errno::EINVAL);
    assert_ok(&replies[1], 1);
    assert_ok(&replies[2], 3);
    assert_eq!(backend.calls.len(), 1);
}

#[test]
fn a_version_of_another_major_is_refused_and_the_connection_closed() {
    let mut stream = command_message(1, command::VERSION, 0, &[1, 0, 0, 0]);
    stream.extend(read(2, 0, 0, 4));
    let mut backend = Recorder::default();
    let (replies, end) = run_with(&mut backend, &stream, 0);
    assert_eq!(replies.len(), 1);
    assert_error(&replies[0], 1, Errno::ENOTSUP);
    assert!(matches!(end, End::Version(1)));
}

#[test]
fn posted_writes_get_no_reply_even_when_refused_and_replies_from_the_peer_are_ignored() {
    let mut stream = version();
    let mut posted = write(2, 0, 0x10, &[1, 2, 3, 4]);
    posted[8..12].copy_from_slice(&flags::NO_REPLY.to_ne_bytes());
    stream.extend(posted);
    let mut refused = write(3, 9, 0, &[1]);
    refused[8..12].copy_from_slice(&flags::NO_REPLY.to_ne_bytes());
    stream.extend(refused);
    let mut reply = command_message(4, command::REGION_READ, 0, &[]);
    reply[8..12].copy_from_slice(&flags::REPLY.to_ne_bytes());
    stream.extend(reply);
    let mut odd_type = read(5, 0, 0, 4);
    odd_type[8..12].copy_from_slice(&7u32.to_ne_bytes());
    stream.extend(odd_type);
    stream.extend(read(6, 0, 0, 4));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_error(&replies[1], 5, Errno::EINVAL);
    assert_ok(&replies[2], 6);
    assert_eq!(
        backend.calls,
        vec![Call::Write(0, 0x10, vec![1, 2, 3, 4]), Call::Read(0, 0, 4)]
    );
}

#[test]
fn a_refused_dma_map_is_answered_with_the_backends_errno() {
    // The crate answered every backend error with errno 0, which QEMU took
    // for success.
    let mut stream = version();
    stream.extend(map(2));
    let mut backend = Recorder {
        map_error: Some(Errno::EINVAL),
        ..Recorder::default()
    };
    let replies = run(&mut backend, &stream);
    assert_error(&replies[1], 2, Errno::EINVAL);
    assert_eq!(
        backend.calls,
        vec![Call::Map(3, 0, 0x10_0000, 0x1000, false)]
    );
}

#[test]
fn set_irqs_is_checked_against_the_irq_table() {
    let set = |id: u16, index: u32, start: u32, count: u32| {
        let body = Payload::default()
            .u32(20)
            .u32(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)
            .u32(index)
            .u32(start)
            .u32(count)
            .0;
        command_message(id, command::DEVICE_SET_IRQS, 0, &body)
    };
    let msi = VFIO_PCI_MSI_IRQ_INDEX;
    let vectors = uapi::pci::NUM_IRQ_VECTORS;
    let mut stream = version();
    stream.extend(set(2, 5, 0, 1)); // no such index
    stream.extend(set(3, msi, vectors, 1)); // past the vectors
    stream.extend(set(4, msi, u32::MAX, 2)); // overflow
    stream.extend(set(5, msi, 0, vectors));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    assert_error(&replies[1], 2, Errno::EINVAL);
    assert_error(&replies[2], 3, Errno::EINVAL);
    assert_error(&replies[3], 4, Errno::EINVAL);
    assert_ok(&replies[4], 5);
    let flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    assert_eq!(
        backend.calls,
        vec![Call::SetIrqs(msi, flags, 0, vectors, 0)]
    );
}

#[test]
fn queries_answer_from_the_tables() {
    let mut stream = version();
    stream.extend(command_message(
        2,
        command::DEVICE_GET_INFO,
        0,
        &Payload::default().u32(16).u32(0).u32(0).u32(0).0,
    ));
    let region = |id, index| {
        let body = Payload::default()
            .u32(32)
            .u32(0)
            .u32(index)
            .u32(0)
            .u64(0)
            .u64(0)
            .0;
        command_message(id, command::DEVICE_GET_REGION_INFO, 0, &body)
    };
    stream.extend(region(3, 0));
    stream.extend(region(4, 9));
    let mut backend = Recorder::default();
    let replies = run(&mut backend, &stream);
    let info = assert_ok(&replies[1], 2);
    let tables = Tables::vgpu();
    assert_eq!(
        info,
        &Payload::default()
            .u32(16)
            .u32(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET)
            .u32(tables.regions.len() as u32)
            .u32(tables.irqs.len() as u32)
            .0[..]
    );
    let bar0 = assert_ok(&replies[2], 3);
    assert_eq!(bar0.len(), 32);
    assert_eq!(&bar0[16..24], &uapi::pci::REGS_BAR_SIZE.to_ne_bytes());
    assert_error(&replies[3], 4, Errno::EINVAL);
}

/// A pipe: the write end goes to the server; the read end sees EOF once
/// the server closed every copy it got.
fn pipe() -> (File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors are fresh and owned by nothing else.
    unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

#[test]
fn descriptors_of_refused_messages_are_closed() {
    let mut stream = version();
    stream.extend(map(2)); // two descriptors for one map
    stream.extend(read(3, 0, 0, 4)); // a descriptor for a read
    stream.extend(map(4)); // one, kept by the backend
    let (mut readers, mut writers): (Vec<File>, Vec<OwnedFd>) = (0..4).map(|_| pipe()).unzip();
    let mut writers = writers.drain(..).map(Some).collect::<Vec<_>>();
    // Receives: 0 VERSION header, 1 its body, 2 map header, 3 its body, 4
    // read header, 5 its body, 6 map header.
    let tables = Tables::vgpu();
    let mut backend = Recorder::default();
    {
        let mut replay = Replay::with_fds(&stream, 0, |i| match i {
            2 => writers[0..2].iter_mut().filter_map(Option::take).collect(),
            4 => writers[2].take().into_iter().collect(),
            6 => writers[3].take().into_iter().collect(),
            _ => Vec::new(),
        });
        let end = Session::new(&mut backend, &tables).run(&mut replay);
        assert!(matches!(end, End::Closed));
        let replies = split_frames(&replay.sent).expect("framed");
        assert_eq!(replies[1].0.error, Errno::EINVAL.0);
        assert_eq!(replies[2].0.error, Errno::EINVAL.0);
        assert_eq!(replies[3].0.flags, flags::REPLY);
    }
    assert_eq!(
        backend.calls,
        vec![Call::Map(3, 0, 0x10_0000, 0x1000, true)]
    );
    // The recorder dropped its file too, so every write end is closed.
    for reader in &mut readers {
        let mut byte = [0u8; 1];
        assert_eq!(reader.read(&mut byte).expect("read"), 0, "write end closed");
    }
}

#[test]
fn more_descriptors_than_a_message_may_carry_are_refused_and_closed() {
    let mut stream = version();
    stream.extend(map(2));
    stream.extend(map(3));
    let (mut readers, writers): (Vec<File>, Vec<OwnedFd>) =
        (0..wire::MAX_MSG_FDS + 1).map(|_| pipe()).unzip();
    let mut writers = Some(writers);
    let tables = Tables::vgpu();
    let mut backend = Recorder::default();
    {
        let mut replay = Replay::with_fds(&stream, 0, |i| {
            if i == 2 {
                writers.take().unwrap_or_default()
            } else {
                Vec::new()
            }
        });
        Session::new(&mut backend, &tables).run(&mut replay);
        let replies = split_frames(&replay.sent).expect("framed");
        assert_eq!(replies[1].0.error, Errno::EINVAL.0);
        assert_eq!(replies[2].0.flags, flags::REPLY);
    }
    for reader in &mut readers {
        let mut byte = [0u8; 1];
        assert_eq!(reader.read(&mut byte).expect("read"), 0);
    }
}
