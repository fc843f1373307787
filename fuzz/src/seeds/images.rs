//! Seeds of `images`: the PTX fixtures, bare and in a fatbin, and an ELF header.

use crate::{fixtures, images};
use uapi::cuda::*;

pub(super) fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = fixtures::MODULES
        .iter()
        .chain(fixtures::IMAGE_ONLY)
        .map(|(name, text)| (format!("ptx-{name}"), images::encode(0, text.as_bytes())))
        .collect();
    // The same PTX in a fatbin, as nvcc wraps it (uncompressed entry).
    let ptx = fixtures::MODULES[1].1.as_bytes();
    let mut entry = vec![0u8; 64];
    entry[0..2].copy_from_slice(&image::ENTRY_PTX.to_le_bytes());
    entry[4..8].copy_from_slice(&64u32.to_le_bytes());
    entry[8..12].copy_from_slice(&(ptx.len() as u32).to_le_bytes());
    entry[24..28].copy_from_slice(&90u32.to_le_bytes());
    let flags = 0x11u64;
    entry[image::ENTRY_FLAGS_OFFSET..image::ENTRY_FLAGS_OFFSET + 8]
        .copy_from_slice(&flags.to_le_bytes());
    entry.extend_from_slice(ptx);
    let mut fatbin = image::FATBIN_MAGIC.to_le_bytes().to_vec();
    fatbin.extend_from_slice(&1u16.to_le_bytes());
    fatbin.extend_from_slice(&16u16.to_le_bytes());
    fatbin.extend_from_slice(&(entry.len() as u64).to_le_bytes());
    fatbin.extend_from_slice(&entry);
    out.push(("fatbin".into(), images::encode(4, &fatbin)));
    let mut elf = image::ELF_MAGIC.to_vec();
    elf.resize(64, 0);
    out.push(("elf".into(), images::encode(4, &elf)));
    out
}
