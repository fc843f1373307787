//! Module images the simulator can run: PTX text, alone or inside a fatbin.
//! SASS (cubin ELF, or fatbin entries of kind ELF) cannot run on a CPU model.

use uapi::cuda::image::{ELF_MAGIC, ENTRY_COMPRESSED, ENTRY_FLAGS_OFFSET, ENTRY_PTX, FATBIN_MAGIC};
use uapi::cuda::result;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The PTX text of an image, or the `CUresult` that refuses it.
pub fn ptx_text(image: &[u8]) -> Result<String, u32> {
    if image.starts_with(&ELF_MAGIC) {
        tracing::warn!("the simulator cannot run SASS (cubin); ship PTX");
        return Err(result::NO_BINARY_FOR_GPU);
    }
    if u32_at(image, 0) == Some(FATBIN_MAGIC) {
        return fatbin_ptx(image);
    }
    let text = image.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8(text.to_vec()).map_err(|_| result::INVALID_IMAGE)
}

/// The first uncompressed PTX entry of a fatbin.
fn fatbin_ptx(image: &[u8]) -> Result<String, u32> {
    let bad = result::INVALID_IMAGE;
    let header_size = usize::from(u16_at(image, 6).ok_or(bad)?);
    let files_size = usize::try_from(u64_at(image, 8).ok_or(bad)?).map_err(|_| bad)?;
    let end = header_size
        .checked_add(files_size)
        .ok_or(bad)?
        .min(image.len());
    let mut at = header_size;
    let mut saw_compressed = false;
    while at + 16 <= end {
        let kind = u16_at(image, at).ok_or(bad)?;
        let entry_header = usize::try_from(u32_at(image, at + 4).ok_or(bad)?).map_err(|_| bad)?;
        let payload = usize::try_from(u32_at(image, at + 8).ok_or(bad)?).map_err(|_| bad)?;
        let flags = u64_at(image, at + ENTRY_FLAGS_OFFSET).unwrap_or(0);
        let start = at.checked_add(entry_header).ok_or(bad)?;
        let stop = start.checked_add(payload).ok_or(bad)?;
        if kind == ENTRY_PTX {
            if flags & ENTRY_COMPRESSED != 0 {
                saw_compressed = true;
            } else if let Some(bytes) = image.get(start..stop) {
                return ptx_text(bytes);
            }
        }
        if stop <= at {
            break;
        }
        at = stop;
    }
    if saw_compressed {
        tracing::warn!("the simulator does not decompress fatbin entries; ship uncompressed PTX");
    }
    Err(result::NO_BINARY_FOR_GPU)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fatbin of one PTX entry with `flags` (an entry header of 64 bytes,
    /// as nvcc 13 writes them).
    fn fatbin(flags: u64, ptx: &[u8]) -> Vec<u8> {
        let mut entry = vec![0u8; 64];
        entry[0..2].copy_from_slice(&ENTRY_PTX.to_le_bytes());
        entry[4..8].copy_from_slice(&64u32.to_le_bytes());
        entry[8..12].copy_from_slice(&(ptx.len() as u32).to_le_bytes());
        // sm_version sits where the flags were once wrongly read.
        entry[24..28].copy_from_slice(&90u32.to_le_bytes());
        entry[ENTRY_FLAGS_OFFSET..ENTRY_FLAGS_OFFSET + 8].copy_from_slice(&flags.to_le_bytes());
        entry.extend_from_slice(ptx);
        let mut f = FATBIN_MAGIC.to_le_bytes().to_vec();
        f.extend_from_slice(&1u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&(entry.len() as u64).to_le_bytes());
        f.extend_from_slice(&entry);
        f
    }

    #[test]
    fn fatbin_entries_are_read_by_their_flags() {
        let ptx = b".version 9.0\n.target sm_90\n\0";
        assert_eq!(
            ptx_text(&fatbin(0x11, ptx)).as_deref(),
            Ok(".version 9.0\n.target sm_90\n")
        );
        // nvcc 13's default: zstd-compressed PTX (flags 0x8011).
        assert_eq!(
            ptx_text(&fatbin(0x8011, ptx)),
            Err(result::NO_BINARY_FOR_GPU)
        );
    }
}
