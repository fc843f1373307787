//! Device allocations: cuMemAlloc, cuMemAllocPitch, cuMemFree,
//! cuMemGetInfo, cuMemGetAddressRange; module globals join the registry
//! from here too.

use crate::driver::abi::Out;
use std::ffi::c_uint;

use uapi::cuda::{cmds, result, CtxRequest, MemAllocRequest, PtrRequest};

use super::{
    host_at,
    registry::{DeviceKind, HostKind},
    with_current,
};
use crate::driver::{device::attr, with_ctx, CuResult, Obj, State};

/// Allocates `size` device bytes in the current context and records them.
fn alloc(s: &mut State, guest: u64, wire: u64, size: u64) -> CuResult<u64> {
    let req = MemAllocRequest { ctx: wire, size };
    let dptr = s
        .client()?
        .call_cmd::<cmds::MemAlloc>(&req, &[], 0)?
        .0
        .handle;
    s.ptrs.add_device(dptr, size, guest, DeviceKind::Alloc);
    Ok(dptr)
}

pub(crate) fn mem_alloc(dptr: Out<'_, u64>, size: usize) -> CuResult {
    with_current(|s, guest, wire| {
        if dptr.is_null() || size == 0 {
            return Err(result::INVALID_VALUE);
        }
        s.captures.check_unsafe()?;
        dptr.write(alloc(s, guest, wire, size as u64)?)?;
        Ok(())
    })
}

/// Row pitch `cuMemAllocPitch` gives a row of `width` bytes: NVIDIA's driver
/// rounds up to `CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT` (512 on every GPU
/// since Fermi; measured on an H200: 1 → 512, 513 → 1024, 4096 → 4096),
/// not to `TEXTURE_PITCH_ALIGNMENT` (32 there).
fn pitch_of(width: usize, texture_alignment: i32) -> Option<usize> {
    let align = usize::try_from(texture_alignment)
        .ok()
        .filter(|a| a.is_power_of_two())
        .unwrap_or(512);
    width.checked_next_multiple_of(align)
}

pub(crate) fn mem_alloc_pitch(
    dptr: Out<'_, u64>,
    pitch: Out<'_, usize>,
    width: usize,
    height: usize,
    elem_size: c_uint,
) -> CuResult {
    with_current(|s, guest, wire| {
        // Element sizes other than 4, 8 and 16 are INVALID_VALUE (measured).
        if dptr.is_null() || pitch.is_null() || width == 0 || height == 0 {
            return Err(result::INVALID_VALUE);
        }
        if !matches!(elem_size, 4 | 8 | 16) {
            return Err(result::INVALID_VALUE);
        }
        let t = s.attributes()?;
        let (align, max_pitch) = (t[attr::TEXTURE_ALIGNMENT], t[attr::MAX_PITCH]);
        let p = pitch_of(width, align).ok_or(result::INVALID_VALUE)?;
        if max_pitch > 0 && p > max_pitch as usize {
            return Err(result::INVALID_VALUE);
        }
        let size = p.checked_mul(height).ok_or(result::INVALID_VALUE)?;
        s.captures.check_unsafe()?;
        dptr.write(alloc(s, guest, wire, size as u64)?)?;
        pitch.write(p)?;
        Ok(())
    })
}

pub(crate) fn mem_free(dptr: u64) -> CuResult {
    with_ctx(|s, ctx| {
        // Freeing NULL is a no-op that succeeds, as with NVIDIA's driver
        // (cudart's cudaFree(nullptr) relies on it).
        if dptr == 0 {
            return Ok(());
        }
        s.captures.check_unsafe()?;
        let req = PtrRequest { ctx, dptr };
        s.client()?.call_cmd::<cmds::MemFree>(&req, &[], 0)?;
        s.ptrs.remove_device(dptr);
        Ok(())
    })
}

pub(crate) fn mem_get_info(free: Out<'_, usize>, total: Out<'_, usize>) -> CuResult {
    with_ctx(|s, ctx| {
        let free = free.get()?;
        let total = total.get()?;
        let req = CtxRequest { ctx };
        let (m, _) = s.client()?.call_cmd::<cmds::MemGetInfo>(&req, &[], 0)?;
        free.write(m.free as usize);
        total.write(m.total as usize);
        Ok(())
    })
}

pub(crate) fn mem_get_address_range(
    base: Out<'_, u64>,
    size: Out<'_, usize>,
    dptr: u64,
) -> CuResult {
    with_ctx(|s, ctx| {
        // Our pinned and registered memory is answered here (NVIDIA's driver
        // knows it too); anything else is the device's to judge.
        let (b, n) = match host_at(s, dptr as usize) {
            Some((b, r)) if r.kind == HostKind::Allocated => (b as u64, r.size as u64),
            _ => {
                let req = PtrRequest { ctx, dptr };
                let (a, _) = s
                    .client()?
                    .call_cmd::<cmds::MemGetAddressRange>(&req, &[], 0)?;
                (a.base, a.size)
            }
        };
        base.write_optional(b);
        size.write_optional(n as usize);
        Ok(())
    })
}

/// The guest handle of the context whose wire handle is `wire`.
fn guest_ctx(s: &State, wire: u64) -> u64 {
    if wire == 0 && s.primary.handle != 0 {
        return s.primary.handle;
    }
    s.objects
        .iter()
        .find(|(_, o)| matches!(o, Obj::Ctx { wire: w, .. } if *w == wire))
        .map_or(0, |(&h, _)| h)
}

/// Records a module global (`cuModuleGetGlobal`) of guest module `module`,
/// which lives in the context with wire handle `ctx_wire`.
pub(crate) fn note_global(s: &mut State, ctx_wire: u64, module: u64, dptr: u64, size: u64) {
    let guest = guest_ctx(s, ctx_wire);
    s.ptrs
        .add_device(dptr, size, guest, DeviceKind::Global { module });
}

/// Forgets the globals of an unloaded guest module.
pub(crate) fn forget_module(s: &mut State, module: u64) {
    s.ptrs
        .forget_device_where(|r| r.kind == DeviceKind::Global { module });
}

#[cfg(test)]
mod tests {
    use super::super::{device_at, test_util::*};
    use super::*;
    use crate::driver::testing::session;
    use uapi::{cuda::op, wire::Wire};

    #[test]
    fn pitch_rounds_to_the_texture_alignment() {
        assert_eq!(pitch_of(1, 512), Some(512));
        assert_eq!(pitch_of(512, 512), Some(512));
        assert_eq!(pitch_of(513, 512), Some(1024));
        assert_eq!(pitch_of(4096, 512), Some(4096));
        assert_eq!(pitch_of(100, 0), Some(512), "no attribute: 512");
        assert_eq!(pitch_of(100, 96), Some(512), "nonsense: 512");
        assert_eq!(pitch_of(usize::MAX, 512), None);
    }

    #[test]
    fn allocations_join_and_leave_the_registry() {
        let sess = session(1 << 20);
        let ctx = with_primary();
        sess.respond(handle_response(0x7000_0000));
        let mut p = 0u64;
        mem_alloc((&mut p).into(), 1000).unwrap();
        let s = crate::driver::lock();
        let (base, r) = device_at(&s, p + 999).expect("known");
        assert_eq!(
            (base, r.size, r.ctx, r.kind),
            (p, 1000, ctx, DeviceKind::Alloc)
        );
        assert!(device_at(&s, p + 1000).is_none());
        drop(s);
        mem_free(p).unwrap();
        assert!(device_at(&crate::driver::lock(), p).is_none());
    }

    #[test]
    fn pitched_allocations_follow_nvidia() {
        let sess = session(1 << 20);
        with_primary();
        {
            let mut sc = sess.script.lock().unwrap();
            let mut attrs = vec![0u8; 8];
            for i in 0..uapi::cuda::ATTRIBUTE_COUNT as i32 {
                let v = match i as usize {
                    attr::TEXTURE_ALIGNMENT => 512,
                    attr::MAX_PITCH => i32::MAX,
                    _ => 0,
                };
                attrs.extend_from_slice(&v.to_le_bytes());
            }
            sc.responses.push_back(attrs);
            sc.responses.push_back(handle_response(0x7100_0000));
        }
        let (mut p, mut pitch) = (0u64, 0usize);
        for bad in [1, 2, 32] {
            assert_eq!(
                mem_alloc_pitch((&mut p).into(), (&mut pitch).into(), 100, 3, bad),
                Err(result::INVALID_VALUE)
            );
        }
        assert_eq!(
            mem_alloc_pitch((&mut p).into(), (&mut pitch).into(), 0, 3, 4),
            Err(result::INVALID_VALUE)
        );
        mem_alloc_pitch((&mut p).into(), (&mut pitch).into(), 513, 3, 16).unwrap();
        assert_eq!((p, pitch), (0x7100_0000, 1024));
        let sc = sess.script.lock().unwrap();
        let last = sc.sent.last().unwrap();
        assert_eq!(last.0, op::MEM_ALLOC);
        assert_eq!(MemAllocRequest::read_from(&last.2).unwrap().size, 3 * 1024);
        drop(sc);
        let s = crate::driver::lock();
        assert_eq!(device_at(&s, p + 3 * 1024 - 1).map(|(b, _)| b), Some(p));
    }
}
