//! `INTEGRITY_CHECK[1]`: the hash cudart asks the driver for to check that
//! it talks to a genuine driver (cuda-driver-abi.md §5).
//!
//! The construction is HMAC (RFC 2104) over MD2 (RFC 1319; block size 16)
//! with a fixed 16-byte key. The message is the driver version, cudart's
//! `version` argument, pid, thread, the addresses of our CUDART_INTERFACE
//! and INTEGRITY_CHECK tables and of the hash function itself, cudart's
//! timestamp, then one record per device (UUID and PCI domain/bus/device).
//! Every input is what this library reports to the guest, so the answer is
//! consistent with our own `cuDriverGetVersion`, `cuDeviceGetUuid` and
//! PCI attributes. The tests check the algorithm against answers of
//! NVIDIA's R580 driver and the MD2 test vectors of RFC 1319.

use std::ffi::{c_int, c_uint};

use uapi::cuda::result;

use super::tables;
use crate::driver::{device, CuResult};

/// The HMAC key (what ZLUDA calls the "pass 1 result").
const KEY: [u8; 16] = [
    0x14, 0x6A, 0xDD, 0xAE, 0x53, 0xA9, 0xA7, 0x52, 0xAA, 0x08, 0x41, 0x36, 0x0B, 0xF5, 0x5A, 0x9F,
];

/// Answers for `version % 10 == 0` and `== 1`, which skip the hash.
const FIXED_ANSWERS: [[u64; 2]; 2] = [
    [0x3341181C03CB675C, 0x8ED383AA1F4CD1E8],
    [0x1841181C03CB675C, 0x8ED383AA1F4CD1E8],
];

/// MD2's substitution table (RFC 1319, derived from the digits of pi).
#[rustfmt::skip]
const S: [u8; 256] = [
    0x29, 0x2E, 0x43, 0xC9, 0xA2, 0xD8, 0x7C, 0x01, 0x3D, 0x36, 0x54, 0xA1, 0xEC, 0xF0, 0x06, 0x13,
    0x62, 0xA7, 0x05, 0xF3, 0xC0, 0xC7, 0x73, 0x8C, 0x98, 0x93, 0x2B, 0xD9, 0xBC, 0x4C, 0x82, 0xCA,
    0x1E, 0x9B, 0x57, 0x3C, 0xFD, 0xD4, 0xE0, 0x16, 0x67, 0x42, 0x6F, 0x18, 0x8A, 0x17, 0xE5, 0x12,
    0xBE, 0x4E, 0xC4, 0xD6, 0xDA, 0x9E, 0xDE, 0x49, 0xA0, 0xFB, 0xF5, 0x8E, 0xBB, 0x2F, 0xEE, 0x7A,
    0xA9, 0x68, 0x79, 0x91, 0x15, 0xB2, 0x07, 0x3F, 0x94, 0xC2, 0x10, 0x89, 0x0B, 0x22, 0x5F, 0x21,
    0x80, 0x7F, 0x5D, 0x9A, 0x5A, 0x90, 0x32, 0x27, 0x35, 0x3E, 0xCC, 0xE7, 0xBF, 0xF7, 0x97, 0x03,
    0xFF, 0x19, 0x30, 0xB3, 0x48, 0xA5, 0xB5, 0xD1, 0xD7, 0x5E, 0x92, 0x2A, 0xAC, 0x56, 0xAA, 0xC6,
    0x4F, 0xB8, 0x38, 0xD2, 0x96, 0xA4, 0x7D, 0xB6, 0x76, 0xFC, 0x6B, 0xE2, 0x9C, 0x74, 0x04, 0xF1,
    0x45, 0x9D, 0x70, 0x59, 0x64, 0x71, 0x87, 0x20, 0x86, 0x5B, 0xCF, 0x65, 0xE6, 0x2D, 0xA8, 0x02,
    0x1B, 0x60, 0x25, 0xAD, 0xAE, 0xB0, 0xB9, 0xF6, 0x1C, 0x46, 0x61, 0x69, 0x34, 0x40, 0x7E, 0x0F,
    0x55, 0x47, 0xA3, 0x23, 0xDD, 0x51, 0xAF, 0x3A, 0xC3, 0x5C, 0xF9, 0xCE, 0xBA, 0xC5, 0xEA, 0x26,
    0x2C, 0x53, 0x0D, 0x6E, 0x85, 0x28, 0x84, 0x09, 0xD3, 0xDF, 0xCD, 0xF4, 0x41, 0x81, 0x4D, 0x52,
    0x6A, 0xDC, 0x37, 0xC8, 0x6C, 0xC1, 0xAB, 0xFA, 0x24, 0xE1, 0x7B, 0x08, 0x0C, 0xBD, 0xB1, 0x4A,
    0x78, 0x88, 0x95, 0x8B, 0xE3, 0x63, 0xE8, 0x6D, 0xE9, 0xCB, 0xD5, 0xFE, 0x3B, 0x00, 0x1D, 0x39,
    0xF2, 0xEF, 0xB7, 0x0E, 0x66, 0x58, 0xD0, 0xE4, 0xA6, 0x77, 0x72, 0xF8, 0xEB, 0x75, 0x4B, 0x0A,
    0x31, 0x44, 0x50, 0xB4, 0x8F, 0xED, 0x1F, 0x1A, 0xDB, 0x99, 0x8D, 0x33, 0x9F, 0x11, 0x83, 0x14,
];

/// MD2 state, byte-at-a-time.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Md2 {
    /// The 48-byte buffer: state, block, state ^ block.
    x: [u8; 48],
    checksum: [u8; 16],
    /// Bytes of the current block so far.
    count: u8,
    /// The checksum's running byte `L`.
    last: u8,
}

impl Md2 {
    const fn new() -> Self {
        Self {
            x: [0; 48],
            checksum: [0; 16],
            count: 0,
            last: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
        for &b in data {
            let i = self.count as usize;
            self.x[16 + i] = b;
            self.x[32 + i] = self.x[i] ^ b;
            self.checksum[i] ^= S[(b ^ self.last) as usize];
            self.last = self.checksum[i];
            self.count = (self.count + 1) & 15;
            if self.count == 0 {
                self.compress();
            }
        }
    }

    fn compress(&mut self) {
        let mut t = 0u8;
        for round in 0..18u8 {
            for x in self.x.iter_mut() {
                *x ^= S[t as usize];
                t = *x;
            }
            t = t.wrapping_add(round);
        }
    }

    fn finish(&mut self) -> [u8; 16] {
        let pad = 16 - self.count;
        for _ in 0..pad {
            self.update(&[pad]);
        }
        let checksum = self.checksum;
        self.update(&checksum);
        let mut digest = [0; 16];
        digest.copy_from_slice(&self.x[..16]);
        digest
    }
}

/// What the hash covers besides the devices, in its byte order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Inputs {
    pub driver_version: u32,
    pub version: u32,
    pub process: u32,
    pub thread: u32,
    pub cudart_table: u64,
    pub integrity_table: u64,
    pub function: u64,
    pub unix_seconds: u64,
}

impl Inputs {
    fn bytes(&self) -> [u8; 48] {
        let mut b = [0; 48];
        b[0..4].copy_from_slice(&self.driver_version.to_le_bytes());
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.process.to_le_bytes());
        b[12..16].copy_from_slice(&self.thread.to_le_bytes());
        b[16..24].copy_from_slice(&self.cudart_table.to_le_bytes());
        b[24..32].copy_from_slice(&self.integrity_table.to_le_bytes());
        b[32..40].copy_from_slice(&self.function.to_le_bytes());
        b[40..48].copy_from_slice(&self.unix_seconds.to_le_bytes());
        b
    }
}

/// One device as the hash sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct DeviceRecord {
    pub uuid: [u8; 16],
    pub pci_domain: i32,
    pub pci_bus: i32,
    pub pci_device: i32,
}

impl DeviceRecord {
    fn bytes(&self) -> [u8; 28] {
        let mut b = [0; 28];
        b[..16].copy_from_slice(&self.uuid);
        b[16..20].copy_from_slice(&self.pci_domain.to_le_bytes());
        b[20..24].copy_from_slice(&self.pci_bus.to_le_bytes());
        b[24..28].copy_from_slice(&self.pci_device.to_le_bytes());
        b
    }
}

/// The answer for `inputs` and `devices`.
pub(super) fn hash(inputs: &Inputs, devices: &[DeviceRecord]) -> [u64; 2] {
    match inputs.version % 10 {
        0 => return FIXED_ANSWERS[0],
        1 => return FIXED_ANSWERS[1],
        _ => {}
    }
    let mut inner = Md2::new();
    inner.update(&KEY.map(|k| k ^ 0x36));
    inner.update(&inputs.bytes());
    for d in devices {
        inner.update(&d.bytes());
    }
    let inner = inner.finish();
    let mut outer = Md2::new();
    outer.update(&KEY.map(|k| k ^ 0x5c));
    outer.update(&inner);
    let d = outer.finish();
    let half = |i: usize| {
        let mut w = [0; 8];
        w.copy_from_slice(&d[i..i + 8]);
        u64::from_le_bytes(w)
    };
    [half(0), half(8)]
}

/// Our device 0 as `cuDeviceGetUuid` and `cuDeviceGetAttribute` report it.
fn device_record() -> CuResult<DeviceRecord> {
    let mut uuid = [0u8; 16];
    device::device_get_uuid((&mut uuid).into(), 0)?;
    let attribute = |a: usize| -> CuResult<i32> {
        let mut v: c_int = 0;
        device::device_get_attribute((&mut v).into(), a as c_int, 0)?;
        Ok(v)
    };
    Ok(DeviceRecord {
        uuid,
        pci_domain: attribute(device::attr::PCI_DOMAIN_ID)?,
        pci_bus: attribute(device::attr::PCI_BUS_ID)?,
        pci_device: attribute(device::attr::PCI_DEVICE_ID)?,
    })
}

unsafe fn integrity_check_impl(version: c_uint, unix_seconds: u64, out: *mut [u64; 2]) -> CuResult {
    if out.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let mut driver_version: c_int = 0;
    device::driver_get_version((&mut driver_version).into())?;
    let mut count: c_int = 0;
    device::device_get_count((&mut count).into())?;
    let devices = (0..count)
        .map(|_| device_record())
        .collect::<CuResult<Vec<_>>>()?;
    let inputs = Inputs {
        driver_version: driver_version as u32,
        version,
        process: std::process::id(),
        // SAFETY: pthread_self has no preconditions.
        thread: unsafe { libc::pthread_self() } as u32,
        cudart_table: tables::CUDART_INTERFACE.start() as u64,
        integrity_table: tables::INTEGRITY_CHECK.start() as u64,
        // What cudart finds in INTEGRITY_CHECK[1].
        function: tables::INTEGRITY_CHECK.slot(1) as u64,
        unix_seconds,
    };
    // SAFETY: the caller's out-pointer (cudart's); checked non-NULL above.
    unsafe { *out = hash(&inputs, &devices) };
    tracing::debug!("INTEGRITY_CHECK[1]({version}, {unix_seconds}) -> {inputs:x?}");
    Ok(())
}

/// `INTEGRITY_CHECK[1]`.
pub(super) unsafe extern "C" fn integrity_check(
    version: c_uint,
    unix_seconds: u64,
    out: *mut [u64; 2],
) -> u32 {
    // SAFETY: cudart's arguments; `out` is checked for NULL.
    crate::exports::guard("INTEGRITY_CHECK[1]", || unsafe {
        integrity_check_impl(version, unix_seconds, out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// ZLUDA's test states are 66 bytes: `x`, checksum, count, last.
    fn state(hex: &str) -> Md2 {
        let b = bytes(hex);
        let mut m = Md2::new();
        m.x.copy_from_slice(&b[..48]);
        m.checksum.copy_from_slice(&b[48..64]);
        (m.count, m.last) = (b[64], b[65]);
        m
    }

    const SINGLE_IN: &str = concat!(
        "0000000000000000000000000000000038c09bf7ff7f",
        "0000a361e442f66794ff18c09bf7ff7f0000a45772f7",
        "ff7f0000000000000000000000000000000000000000",
    );
    const SINGLE_OUT: &str = concat!(
        "0000000000000000000000000000000022c09bf7ff7f",
        "0000a361e442f66794ff22c09bf7ff7f0000a45772f7",
        "ff7f0000570000000000000000000000000000000157",
    );
    const PASS2_OUT: &str = concat!(
        "8b219a49e86d1aeef237f9b54a8c3c75c71eee21cf29",
        "8ae51383f4ec3304e2fdb02f09014ff7686d6946437e",
        "b62b21ed57a110860e60441e705f67d1eb67a13d003d",
    );
    const PASS3_OUT: &str = concat!(
        "0afdabc9ff9ba0be4d303282744fa7489d2382a387fa",
        "6cdb9249d9b54b2b5e516ef7f94d288a640619b3e6be",
        "a4ec7e546428d9e1d434c0a94988c96158dd66740074",
    );
    const PASS4_IN: &str = concat!(
        "84fd9310c6dbb3bc49c225e7da6e226f9bbd8159c301",
        "9a7a2634390f2a5613b1f6bc7fa18f04a54d0d78ab20",
        "f82320a53f6736e2de8ae5dfe1f20394addc9ada00da",
    );
    const PASS4_OUT: &str = concat!(
        "1fd825d2dffa64c7b61aaf22b879fb96000000000200",
        "0000000000007c9d46d21fd825d2ddfa64c7b61aaf22",
        "e617bd3ad7dd5f828c87ce8666afa0507a7dbbbc0c50",
    );
    const PASS5_IN: &str = concat!(
        "3e4bf29571f56b5107bf4bf1040e8e0b5f4d300c0f0c",
        "aefb48af23b5ea4cc2dbd7df88743958163a1f7c9b20",
        "7e7e94c88bc6b2380d077dbd90d53963eb1d4f400040",
    );
    const PASS5_OUT: &str = concat!(
        "002353065e96f69c61aa962d2ecda858e9cac02e35ed",
        "5fcae10ecd1fd08e8b9c294d1c946bf710b0070891d6",
        "1406c0ece19c8e33d4e9435c860c724d2798917f007f",
    );

    /// The intermediate states of ZLUDA's `dark_api` tests (vosen/ZLUDA
    /// 8a7931be, `dark_api/src/lib.rs`), pass by pass.
    #[test]
    fn matches_zluda_pass_vectors() {
        let mut m = state(SINGLE_IN);
        m.update(&[34]);
        assert_eq!(m, state(SINGLE_OUT));

        let mut m = Md2::new();
        m.update(&KEY.map(|k| k ^ 0x36));
        assert_eq!(m, state(PASS2_OUT));

        let inputs = Inputs {
            driver_version: 0x2f30,
            version: 12082,
            process: 0x002fa423,
            thread: 0xf79c1000,
            cudart_table: 0x00007ffff6958240,
            integrity_table: 0x00007ffff6958220,
            function: 0x00007ffff2aaf4a0,
            unix_seconds: 0x682b9cee,
        };
        m.update(&inputs.bytes());
        assert_eq!(m, state(PASS3_OUT));

        let mut m = state(PASS4_IN);
        let mut uuid = [0u8; 16];
        for (i, w) in [0x8a2bfe9au32, 0x382d25ac, 0xc5ae37ea, 0x5f32716d]
            .iter()
            .enumerate()
        {
            uuid[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        let device = DeviceRecord {
            uuid,
            pci_domain: 0,
            pci_bus: 2,
            pci_device: 0,
        };
        m.update(&device.bytes());
        assert_eq!(m, state(PASS4_OUT));

        let mut m = state(PASS5_IN);
        let digest = m.finish();
        assert_eq!(m, state(PASS5_OUT));
        assert_eq!(digest[..], bytes(PASS5_OUT)[..16]);
    }

    fn md2_hex(data: &[u8]) -> String {
        let mut m = Md2::new();
        m.update(data);
        m.finish().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn md2_rfc1319_vectors() {
        assert_eq!(md2_hex(b""), "8350e5a3e24c153df2275c9f80692773");
        assert_eq!(md2_hex(b"abc"), "da853b0d3f88d99b30283a69e6ded6bb");
        assert_eq!(
            md2_hex(b"message digest"),
            "ab4f496bfb2a530b219ff33031fe06b0"
        );
        assert_eq!(
            md2_hex(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "d5976f79d83d3a0dc9806c3c66f3efd8"
        );
    }

    /// Inputs and answers of NVIDIA's driver 580.159.04 (H200), measured by
    /// calling its `INTEGRITY_CHECK[1]` with these arguments.
    fn r580(version: u32) -> [u64; 2] {
        let inputs = Inputs {
            driver_version: 13000,
            version,
            process: 505,
            thread: 0xd8d8d140,
            cudart_table: 0x7f3fd80ab680,
            integrity_table: 0x7f3fd80ab660,
            function: 0x7f3fd2a0a350,
            unix_seconds: 0x682b9cee,
        };
        let device = DeviceRecord {
            uuid: [
                0xf8, 0xbe, 0xe2, 0x41, 0xf0, 0x3f, 0x89, 0x89, 0x3f, 0x1f, 0xbb, 0xf9, 0x91, 0xf0,
                0x6a, 0x42,
            ],
            pci_domain: 0,
            pci_bus: 0,
            pci_device: 6,
        };
        hash(&inputs, &[device])
    }

    #[test]
    fn matches_nvidia_r580() {
        assert_eq!(r580(12082), [0xff10de9edd23cd8a, 0xb6634a4a3ddc95f4]);
        assert_eq!(r580(13002), [0xabbd1dfe94d06743, 0x7c21f7c843d18c40]);
        assert_eq!(r580(13000), [0x3341181c03cb675c, 0x8ed383aa1f4cd1e8]);
        assert_eq!(r580(13001), [0x1841181c03cb675c, 0x8ed383aa1f4cd1e8]);
    }
}
