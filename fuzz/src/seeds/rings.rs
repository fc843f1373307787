//! Seeds of `rings`: well-formed submission rings.

use crate::rings;
use uapi::cmd::Opcode;
use uapi::cuda::*;
use uapi::ring::{entry_flags, SgEntry, SubmissionEntry};
use uapi::wire::Wire;

fn entry(opcode: u16, tag: u64) -> SubmissionEntry {
    SubmissionEntry {
        opcode,
        tag,
        ..SubmissionEntry::default()
    }
}

pub(super) fn seeds() -> Vec<(String, Vec<u8>)> {
    use rings::{Layout, DATA, RAM_A, RAM_B};
    let data = RAM_A + DATA;
    let standard = |depth_log: u8, tail: u32| Layout {
        depth_log,
        tail,
        ..Layout::default()
    };
    let payload: Vec<u8> = (0..256u32).map(|i| (i * 7) as u8).collect();
    // Echo, contiguous.
    let echo = SubmissionEntry {
        req_addr: data,
        req_len: 64,
        resp_addr: data + 0x1000,
        resp_len: 64,
        ..entry(Opcode::Echo as u16, 1)
    };
    // Echo with both buffers as scatter-gather lists, one segment in RAM B.
    let sgl = [
        SgEntry {
            addr: data + 0x100,
            len: 16,
            reserved: 0,
        },
        SgEntry {
            addr: RAM_B + 0x40,
            len: 48,
            reserved: 0,
        },
    ];
    let mut ram_a = payload.clone();
    ram_a.resize(0x100, 0);
    for e in &sgl {
        ram_a.extend_from_slice(e.as_bytes());
    }
    let sg_echo = SubmissionEntry {
        flags: entry_flags::REQ_SGL | entry_flags::RESP_SGL,
        req_addr: data + 0x100,
        req_len: 2,
        resp_addr: data + 0x100,
        resp_len: 2,
        ..entry(Opcode::Echo as u16, 2)
    };
    let info = SubmissionEntry {
        resp_addr: data + 0x2000,
        resp_len: 512,
        ..entry(Opcode::GetDeviceInfo as u16, 3)
    };
    let usage = SubmissionEntry {
        resp_addr: data + 0x2400,
        resp_len: 64,
        ..entry(Opcode::GetUsage as u16, 4)
    };
    // A CUDA call through the ring: PRIMARY_CTX_RETAIN.
    let mut ram_cuda = vec![0u8; 0x300];
    ram_cuda.extend_from_slice(DeviceRequest::default().as_bytes());
    let retain = SubmissionEntry {
        req_addr: data + 0x300,
        req_len: core::mem::size_of::<DeviceRequest>() as u32,
        resp_addr: data + 0x2800,
        resp_len: 16,
        ..entry(op::PRIMARY_CTX_RETAIN, 5)
    };
    // A large copy up and back down as the guest driver describes it: the
    // header copy, then data pages in both windows (queue/copy.rs keeps
    // the data in place). The device pointer is the simulator's first
    // (an error result once another run took it: the path is the point).
    let (piece_a, piece_b) = ((data + 0x2000, 0x8000u32), (RAM_B + 0x1000, 0x9000u32));
    let len = u64::from(piece_a.1 + piece_b.1);
    let dev = 0x7f40_0000_0000;
    let up_list = [
        (data + 0x200, size_of::<CopyRequest>() as u32),
        piece_a,
        piece_b,
    ];
    let down_list = [
        (data + 0x500, size_of::<ResultHeader>() as u32),
        piece_a,
        piece_b,
    ];
    let put_list = |ram: &mut Vec<u8>, list: &[(u64, u32)]| {
        for &(addr, len) in list {
            let sg = SgEntry {
                addr,
                len,
                reserved: 0,
            };
            ram.extend_from_slice(sg.as_bytes());
        }
    };
    let mut ram_copy = vec![0u8; 0x100];
    put_list(&mut ram_copy, &up_list);
    ram_copy.resize(0x200, 0);
    ram_copy.extend_from_slice(
        CopyRequest {
            dst: dev,
            len,
            ..Default::default()
        }
        .as_bytes(),
    );
    ram_copy.resize(0x300, 0);
    ram_copy.extend_from_slice(
        CopyRequest {
            src: dev,
            len,
            ..Default::default()
        }
        .as_bytes(),
    );
    ram_copy.resize(0x400, 0);
    put_list(&mut ram_copy, &down_list);
    ram_copy.resize(0x2000, 0);
    ram_copy.extend((0..piece_a.1).map(|i| (i * 13) as u8));
    let ram_b_copy: Vec<u8> = (0..0x1000 + piece_b.1).map(|i| (i * 5) as u8).collect();
    let copy_up = SubmissionEntry {
        flags: entry_flags::REQ_SGL,
        req_addr: data + 0x100,
        req_len: 3,
        resp_addr: data + 0x600,
        resp_len: 8,
        ..entry(op::MEMCPY_HTOD, 6)
    };
    let copy_down = SubmissionEntry {
        flags: entry_flags::RESP_SGL,
        req_addr: data + 0x300,
        req_len: size_of::<CopyRequest>() as u32,
        resp_addr: data + 0x400,
        resp_len: 3,
        ..entry(op::MEMCPY_DTOH, 7)
    };
    let raw = Layout {
        mode: 1,
        raw: (RAM_B, RAM_B + 0x8000, RAM_B + 0xc000, 16, 0),
        tail: 1,
        ..Layout::default()
    };
    vec![
        (
            "echo".into(),
            rings::encode(&standard(0, 1), &[echo], &payload, &[]),
        ),
        (
            "sgl".into(),
            rings::encode(&standard(1, 1), &[sg_echo], &ram_a, &payload),
        ),
        (
            "mixed".into(),
            rings::encode(
                &standard(2, 4),
                &[echo, info, usage, retain],
                &ram_cuda,
                &[],
            ),
        ),
        (
            "copy-in-place".into(),
            rings::encode(
                &standard(1, 2),
                &[copy_up, copy_down],
                &ram_copy,
                &ram_b_copy,
            ),
        ),
        (
            "raw-layout".into(),
            rings::encode(&raw, &[echo], &payload, &[]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring seeds complete every submission with OK.
    #[test]
    fn ring_seeds_complete() {
        for (name, data) in seeds() {
            let done = rings::replay(&data);
            assert!(!done.is_empty(), "{name}: no completion");
            for c in done {
                assert_eq!(c.status, uapi::status::Status::Ok as u32, "{name}: {c:?}");
            }
        }
    }
}
