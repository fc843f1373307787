//! What both guest libraries know about the device's CUDA identity: the
//! `CUdevice_attribute` ids they read, the attribute table
//! `DEVICE_GET_ATTRIBUTES` returns, and PCI bus id text.

use uapi::cuda::ATTRIBUTE_COUNT;

/// `CUdevice_attribute` values (cuda.h) the guest libraries read.
pub mod attr {
    #![allow(missing_docs)]
    pub const MAX_THREADS_PER_BLOCK: usize = 1;
    pub const MAX_BLOCK_DIM_X: usize = 2;
    pub const MAX_GRID_DIM_X: usize = 5;
    pub const MAX_SHARED_MEMORY_PER_BLOCK: usize = 8;
    pub const TOTAL_CONSTANT_MEMORY: usize = 9;
    pub const WARP_SIZE: usize = 10;
    pub const MAX_PITCH: usize = 11;
    pub const MAX_REGISTERS_PER_BLOCK: usize = 12;
    pub const CLOCK_RATE: usize = 13;
    pub const TEXTURE_ALIGNMENT: usize = 14;
    pub const MULTIPROCESSOR_COUNT: usize = 16;
    pub const PCI_BUS_ID: usize = 33;
    pub const PCI_DEVICE_ID: usize = 34;
    pub const PCI_DOMAIN_ID: usize = 50;
}

/// Bytes of `DEVICE_GET_ATTRIBUTES`'s response tail: `i32 × ATTRIBUTE_COUNT`.
pub const ATTRIBUTE_TABLE_BYTES: usize = ATTRIBUTE_COUNT * core::mem::size_of::<i32>();

/// The attribute table from that tail; missing entries are 0.
pub fn attribute_table(tail: &[u8]) -> Vec<i32> {
    let mut t: Vec<i32> = tail
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    t.resize(ATTRIBUTE_COUNT, 0);
    t
}

/// `domain:bus:device` of a PCI bus id (the part before `.function`), hex;
/// the domain may be left out (then 0).
pub fn parse_domain_bus_device(text: &str) -> Option<(u32, u32, u32)> {
    let mut p = text.rsplitn(3, ':');
    let d = u32::from_str_radix(p.next()?, 16).ok()?;
    let b = u32::from_str_radix(p.next()?, 16).ok()?;
    let dom = p
        .next()
        .map_or(Some(0), |x| u32::from_str_radix(x, 16).ok())?;
    Some((dom, b, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_bus_ids() {
        let mut tail = Vec::new();
        tail.extend_from_slice(&7i32.to_le_bytes());
        tail.extend_from_slice(&(-1i32).to_le_bytes());
        tail.push(9); // a partial entry is dropped
        let t = attribute_table(&tail);
        assert_eq!((t.len(), t[0], t[1], t[2]), (ATTRIBUTE_COUNT, 7, -1, 0));
        assert_eq!(parse_domain_bus_device("0000:1a:02"), Some((0, 0x1a, 2)));
        assert_eq!(parse_domain_bus_device("1:1A:02"), Some((1, 0x1a, 2)));
        assert_eq!(parse_domain_bus_device("1a:02"), Some((0, 0x1a, 2)));
        assert_eq!(parse_domain_bus_device("02"), None);
        assert_eq!(parse_domain_bus_device("x:1a:02"), None);
    }
}
