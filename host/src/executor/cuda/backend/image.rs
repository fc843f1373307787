//! Module images checked before the host driver sees them.

use super::*;
/// Checks a module image before handing it to `cuModuleLoadData`, which
/// trusts the sizes inside it: returns the bytes to pass (PTX gets a NUL
/// terminator if it lacks one).
pub(crate) fn check_image(image: &[u8]) -> CuResult<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    use uapi::cuda::image::{ELF_MAGIC, FATBINC_WRAPPER_MAGIC, FATBIN_MAGIC};
    let magic = image
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(INVALID_IMAGE)?;
    let rd16 = |o: usize| -> Option<u64> {
        image
            .get(o..o + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let rd32 = |o: usize| -> Option<u64> {
        image
            .get(o..o + 4)
            .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let rd64 = |o: usize| -> Option<u64> {
        image
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let len = image.len() as u64;
    let within = |off: u64, size: u64| off.checked_add(size).is_some_and(|end| end <= len);
    if magic == FATBINC_WRAPPER_MAGIC {
        // Holds pointers into the guest's address space: never valid here.
        return Err(INVALID_IMAGE);
    }
    if magic == FATBIN_MAGIC {
        let header = rd16(6).ok_or(INVALID_IMAGE)?;
        let files = rd64(8).ok_or(INVALID_IMAGE)?;
        if header < 16 || !within(header, files) {
            return Err(INVALID_IMAGE);
        }
        return Ok(Cow::Borrowed(image));
    }
    if image.starts_with(&ELF_MAGIC) {
        // ELF64 little-endian only; program and section headers and every
        // section's contents must lie inside the image.
        if image.get(4) != Some(&2) || image.get(5) != Some(&1) {
            return Err(INVALID_IMAGE);
        }
        let phoff = rd64(0x20).ok_or(INVALID_IMAGE)?;
        let shoff = rd64(0x28).ok_or(INVALID_IMAGE)?;
        let phentsize = rd16(0x36).ok_or(INVALID_IMAGE)?;
        let phnum = rd16(0x38).ok_or(INVALID_IMAGE)?;
        let shentsize = rd16(0x3A).ok_or(INVALID_IMAGE)?;
        let shnum = rd16(0x3C).ok_or(INVALID_IMAGE)?;
        if !within(phoff, phentsize * phnum) || !within(shoff, shentsize * shnum) {
            return Err(INVALID_IMAGE);
        }
        if shnum > 0 && shentsize < 0x40 {
            return Err(INVALID_IMAGE);
        }
        for i in 0..shnum {
            let sh = to_usize(shoff + i * shentsize).map_err(|_| INVALID_IMAGE)?;
            let kind = rd32(sh + 4).ok_or(INVALID_IMAGE)?;
            let offset = rd64(sh + 0x18).ok_or(INVALID_IMAGE)?;
            let size = rd64(sh + 0x20).ok_or(INVALID_IMAGE)?;
            const SHT_NOBITS: u64 = 8;
            if kind != SHT_NOBITS && kind != 0 && !within(offset, size) {
                return Err(INVALID_IMAGE);
            }
        }
        if phnum > 0 && phentsize < 0x38 {
            return Err(INVALID_IMAGE);
        }
        for i in 0..phnum {
            let ph = to_usize(phoff + i * phentsize).map_err(|_| INVALID_IMAGE)?;
            let offset = rd64(ph + 0x08).ok_or(INVALID_IMAGE)?;
            let filesz = rd64(ph + 0x20).ok_or(INVALID_IMAGE)?;
            if !within(offset, filesz) {
                return Err(INVALID_IMAGE);
            }
        }
        return Ok(Cow::Borrowed(image));
    }
    // PTX text: the driver reads up to the first NUL.
    if image.contains(&0) {
        Ok(Cow::Borrowed(image))
    } else {
        let mut owned = Vec::with_capacity(image.len() + 1);
        owned.extend_from_slice(image);
        owned.push(0);
        Ok(Cow::Owned(owned))
    }
}
