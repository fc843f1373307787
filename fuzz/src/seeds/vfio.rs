//! Seeds of `vfio`: the vfio-user messages of a device boot.

use crate::vfio;

pub(super) fn seeds() -> Vec<(String, Vec<u8>)> {
    use uapi::regs::{self, queue as qreg};
    use vfio::Op;
    let bar = |offset: u32, value: u32| Op::Write {
        region: 0,
        offset: u64::from(offset),
        data: value.to_le_bytes().to_vec(),
    };
    let q = |r: u32| regs::queue_reg(0, r);
    let boot = vec![
        Op::Read {
            region: 7,
            offset: 0,
            len: 4,
        },
        Op::Read {
            region: 7,
            offset: 0x10,
            len: 4,
        },
        Op::Write {
            region: 7,
            offset: 0x10,
            data: vec![0xff; 4],
        },
        Op::Write {
            region: 7,
            offset: 4,
            data: vec![6, 0],
        },
        Op::Map {
            flags: 3,
            offset: 0,
            address: 0x10_0000,
            size: 0x4_0000,
            file_len: 0x4_0000,
        },
        Op::Map {
            flags: 1,
            offset: 0,
            address: 0xc_0000,
            size: 0x1000,
            file_len: 0x1000,
        },
        Op::Map {
            flags: 3,
            offset: 0,
            address: 0xfe00_0000,
            size: 0x1000,
            file_len: 0,
        },
        Op::SetIrqs {
            index: 1,
            flags: 0x24,
            start: 0,
            count: 2,
            fds: 2,
        },
        Op::Read {
            region: 0,
            offset: 0,
            len: 4,
        },
        bar(q(qreg::SQ_BASE_LO), 0x10_0000),
        bar(q(qreg::SQ_BASE_HI), 0),
        bar(q(qreg::CQ_BASE_LO), 0x11_0000),
        bar(q(qreg::CQ_BASE_HI), 0),
        bar(q(qreg::CTRL_BASE_LO), 0x12_0000),
        bar(q(qreg::CTRL_BASE_HI), 0),
        bar(q(qreg::DEPTH), 16),
        bar(q(qreg::ENABLE), 1),
        Op::Read {
            region: 0,
            offset: u64::from(q(qreg::STATUS)),
            len: 4,
        },
        bar(q(qreg::DOORBELL), 0),
        Op::Peek {
            address: 0x12_0000,
            len: 16,
        },
        Op::Reset,
        Op::Unmap {
            flags: 0,
            address: 0x10_0000,
            size: 0x4_0000,
        },
        Op::Unmap {
            flags: 2, // VFIO_DMA_UNMAP_FLAG_ALL
            address: 0,
            size: 0,
        },
        Op::SetIrqs {
            index: 1,
            flags: 0x21,
            start: 0,
            count: 0,
            fds: 0,
        },
    ];
    vec![("boot".into(), vfio::encode(&boot))]
}
