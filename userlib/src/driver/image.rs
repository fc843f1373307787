//! Sizing module images in guest memory (cuda-driver-abi.md §6): the C API
//! passes a bare pointer, so the image's extent is found from its format.

use std::ffi::{c_void, CStr};

pub(crate) use uapi::cuda::image::{ELF_MAGIC, FATBINC_WRAPPER_MAGIC, FATBIN_MAGIC};
use uapi::cuda::result;

use super::CuResult;

/// Images larger than this are refused as corrupt.
const MAX_IMAGE: u64 = 1 << 32;

unsafe fn rd<T: Copy>(p: *const u8, off: usize) -> T {
    // SAFETY: the caller vouches that `off` bytes past `p` hold a `T`.
    unsafe { std::ptr::read_unaligned(p.add(off).cast::<T>()) }
}

/// Extent of an ELF64 image: the furthest byte of its headers, program
/// segments and (non-NOBITS) sections.
unsafe fn elf_len(p: *const u8) -> CuResult<usize> {
    // SAFETY: the caller's contract: `p` is an ELF image readable to its
    // end, which its own headers describe (as NVIDIA's driver trusts them).
    unsafe {
        if rd::<u8>(p, 4) != 2 {
            return Err(result::INVALID_IMAGE); // not ELFCLASS64
        }
        let phoff: u64 = rd(p, 0x20);
        let shoff: u64 = rd(p, 0x28);
        let ehsize = u64::from(rd::<u16>(p, 0x34));
        let phentsize = u64::from(rd::<u16>(p, 0x36));
        let phnum = u64::from(rd::<u16>(p, 0x38));
        let shentsize = u64::from(rd::<u16>(p, 0x3a));
        let shnum = u64::from(rd::<u16>(p, 0x3c));
        let mut end = ehsize.max(64);
        let tables = [
            phoff.checked_add(phentsize * phnum),
            shoff.checked_add(shentsize * shnum),
        ];
        for t in tables {
            end = end.max(t.ok_or(result::INVALID_IMAGE)?);
        }
        if end > MAX_IMAGE {
            return Err(result::INVALID_IMAGE);
        }
        for i in 0..phnum {
            let ph = (phoff + i * phentsize) as usize;
            let off: u64 = rd(p, ph + 0x08);
            let filesz: u64 = rd(p, ph + 0x20);
            end = end.max(off.checked_add(filesz).ok_or(result::INVALID_IMAGE)?);
        }
        for i in 0..shnum {
            let sh = (shoff + i * shentsize) as usize;
            let ty: u32 = rd(p, sh + 4);
            if ty == 8 {
                continue; // SHT_NOBITS
            }
            let off: u64 = rd(p, sh + 0x18);
            let size: u64 = rd(p, sh + 0x20);
            end = end.max(off.checked_add(size).ok_or(result::INVALID_IMAGE)?);
        }
        if end > MAX_IMAGE {
            return Err(result::INVALID_IMAGE);
        }
        Ok(end as usize)
    }
}

/// A fatbin (`FatbinHeader`): `header_size + files_size`.
unsafe fn fatbin_len(p: *const u8) -> CuResult<usize> {
    // SAFETY: the caller's contract: `p` is a fatbin header.
    unsafe {
        let header_size = u64::from(rd::<u16>(p, 6));
        let files_size: u64 = rd(p, 8);
        let n = header_size
            .checked_add(files_size)
            .filter(|n| (16..=MAX_IMAGE).contains(n))
            .ok_or(result::INVALID_IMAGE)?;
        Ok(n as usize)
    }
}

/// The bytes of the image at `image`: a `__fatBinC_Wrapper_t` (its fatbin
/// is shipped), a fatbin, an ELF cubin, or NUL-terminated PTX.
///
/// # Safety
///
/// `image` points to one of those formats, readable to its end.
pub(crate) unsafe fn image_bytes<'a>(image: *const c_void) -> CuResult<&'a [u8]> {
    // SAFETY: the caller's contract (above); each format's extent comes
    // from its own headers, read within them.
    unsafe {
        if image.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let p = image.cast::<u8>();
        let magic: u32 = rd(p, 0);
        if magic == FATBINC_WRAPPER_MAGIC {
            let version: u32 = rd(p, 4);
            if version != 1 && version != 2 {
                return Err(result::INVALID_IMAGE);
            }
            let data: *const u8 = rd(p, 8);
            if data.is_null() || rd::<u32>(data, 0) != FATBIN_MAGIC {
                return Err(result::INVALID_IMAGE);
            }
            if version == 2 && !rd::<*const c_void>(p, 16).is_null() {
                tracing::warn!(
                    "fatbin wrapper v2 with prelinked fatbins: only the main fatbin is loaded"
                );
            }
            let n = fatbin_len(data)?;
            return Ok(std::slice::from_raw_parts(data, n));
        }
        if magic == FATBIN_MAGIC {
            let n = fatbin_len(p)?;
            return Ok(std::slice::from_raw_parts(p, n));
        }
        if std::slice::from_raw_parts(p, 4) == ELF_MAGIC {
            let n = elf_len(p)?;
            return Ok(std::slice::from_raw_parts(p, n));
        }
        let s = CStr::from_ptr(image.cast());
        Ok(s.to_bytes_with_nul())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptx_includes_its_nul() {
        let ptx = b".version 8.0\n\0garbage";
        // SAFETY: a local buffer holding the whole image.
        let b = unsafe { image_bytes(ptx.as_ptr().cast()) }.unwrap();
        assert_eq!(b.len(), 14);
    }

    #[test]
    fn fatbin_and_wrapper() {
        let mut f = [0u8; 64 + 100];
        f[0..4].copy_from_slice(&FATBIN_MAGIC.to_le_bytes());
        f[4..6].copy_from_slice(&1u16.to_le_bytes());
        f[6..8].copy_from_slice(&16u16.to_le_bytes());
        f[8..16].copy_from_slice(&100u64.to_le_bytes());
        // SAFETY: a local buffer holding the whole image.
        let b = unsafe { image_bytes(f.as_ptr().cast()) }.unwrap();
        assert_eq!(b.len(), 116);
        #[repr(C)]
        struct W {
            magic: u32,
            version: u32,
            data: *const u8,
            extra: *const u8,
        }
        let w = W {
            magic: FATBINC_WRAPPER_MAGIC,
            version: 1,
            data: f.as_ptr(),
            extra: std::ptr::null(),
        };
        // SAFETY: a local buffer holding the whole image.
        let b = unsafe { image_bytes((&w as *const W).cast()) }.unwrap();
        assert_eq!((b.as_ptr(), b.len()), (f.as_ptr(), 116));
    }

    #[test]
    fn elf_extent() {
        // ELF64 header, one section at 0x100..0x180, section headers at 0x200 (2 × 64).
        let mut e = [0u8; 0x300];
        e[0..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[0x28..0x30].copy_from_slice(&0x200u64.to_le_bytes());
        e[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
        e[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        e[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes());
        let sh1 = 0x240;
        e[sh1 + 4..sh1 + 8].copy_from_slice(&1u32.to_le_bytes());
        e[sh1 + 0x18..sh1 + 0x20].copy_from_slice(&0x100u64.to_le_bytes());
        e[sh1 + 0x20..sh1 + 0x28].copy_from_slice(&0x80u64.to_le_bytes());
        // SAFETY: a local buffer holding the whole image.
        let b = unsafe { image_bytes(e.as_ptr().cast()) }.unwrap();
        assert_eq!(b.len(), 0x280);
        // A NOBITS section past the end does not count.
        e[sh1 + 4..sh1 + 8].copy_from_slice(&8u32.to_le_bytes());
        e[sh1 + 0x18..sh1 + 0x20].copy_from_slice(&0x1000u64.to_le_bytes());
        // SAFETY: a local buffer holding the whole image.
        let b = unsafe { image_bytes(e.as_ptr().cast()) }.unwrap();
        assert_eq!(b.len(), 0x280);
    }
}
