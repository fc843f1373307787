//! cuLaunchKernel: parameters packed with the cached layout (or taken from
//! the `extra` buffer), queued detached.

use std::ffi::{c_uint, c_void};

use uapi::{
    cuda::{op, result, LaunchRequest, ParamInfo, MAX_PARAM_BYTES},
    wire::Wire,
};

use super::{module::function, with_ctx, CuResult};

pub(crate) const CU_LAUNCH_PARAM_END: usize = 0x0;
pub(crate) const CU_LAUNCH_PARAM_BUFFER_POINTER: usize = 0x1;
pub(crate) const CU_LAUNCH_PARAM_BUFFER_SIZE: usize = 0x2;

/// Size of the packed buffer of `layout`.
pub(crate) fn layout_end(layout: &[ParamInfo]) -> usize {
    layout
        .iter()
        .map(|p| p.offset as usize + p.size as usize)
        .max()
        .unwrap_or(0)
}

/// Packs `kernelParams` (one pointer per parameter) by the layout.
///
/// # Safety
///
/// `params` holds `layout.len()` pointers, each readable for its size.
pub(crate) unsafe fn pack_params(
    layout: &[ParamInfo],
    params: *const *const c_void,
) -> CuResult<Vec<u8>> {
    let mut buf = vec![0u8; layout_end(layout)];
    if layout.is_empty() {
        return Ok(buf);
    }
    if params.is_null() {
        return Err(result::INVALID_VALUE);
    }
    for (i, p) in layout.iter().enumerate() {
        let src = *params.add(i);
        if src.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let (o, n) = (p.offset as usize, p.size as usize);
        buf[o..o + n].copy_from_slice(std::slice::from_raw_parts(src.cast::<u8>(), n));
    }
    Ok(buf)
}

/// The `extra` form: `{BUFFER_POINTER, p, BUFFER_SIZE, &size, END}` in any
/// order. The size must equal the layout's end.
///
/// # Safety
///
/// `extra` is an END-terminated key/value array as CUDA defines it.
pub(crate) unsafe fn extra_params(extra: *const *const c_void, expect: usize) -> CuResult<Vec<u8>> {
    let (mut ptr, mut size) = (None, None);
    let mut i = 0;
    loop {
        match *extra.add(i) as usize {
            CU_LAUNCH_PARAM_END => break,
            CU_LAUNCH_PARAM_BUFFER_POINTER => ptr = Some(*extra.add(i + 1)),
            CU_LAUNCH_PARAM_BUFFER_SIZE => {
                let p = (*extra.add(i + 1)).cast::<usize>();
                if p.is_null() {
                    return Err(result::INVALID_VALUE);
                }
                size = Some(*p);
            }
            _ => return Err(result::INVALID_VALUE),
        }
        i += 2;
        if i > 64 {
            return Err(result::INVALID_VALUE);
        }
    }
    let (Some(ptr), Some(size)) = (ptr, size) else {
        return Err(result::INVALID_VALUE);
    };
    if size != expect || (size > 0 && ptr.is_null()) {
        return Err(result::INVALID_VALUE);
    }
    if size == 0 {
        return Ok(Vec::new());
    }
    Ok(std::slice::from_raw_parts(ptr.cast::<u8>(), size).to_vec())
}

#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn launch_kernel(
    f: *mut c_void,
    gx: c_uint,
    gy: c_uint,
    gz: c_uint,
    bx: c_uint,
    by: c_uint,
    bz: c_uint,
    shared: c_uint,
    stream: *mut c_void,
    params: *mut *mut c_void,
    extra: *mut *mut c_void,
) -> CuResult {
    with_ctx(|s, ctx| {
        let (host, _, layout) = function(s, f as u64)?;
        if !params.is_null() && !extra.is_null() {
            return Err(result::INVALID_VALUE);
        }
        if [gx, gy, gz, bx, by, bz].contains(&0) {
            return Err(result::INVALID_VALUE);
        }
        let buf = if extra.is_null() {
            pack_params(layout, params.cast())?
        } else {
            extra_params(extra.cast(), layout_end(layout))?
        };
        if buf.len() > MAX_PARAM_BYTES as usize {
            return Err(result::INVALID_VALUE);
        }
        let st = s.stream_host(stream as u64)?;
        let req = LaunchRequest {
            ctx,
            stream: st,
            function: host,
            grid: [gx, gy, gz],
            block: [bx, by, bz],
            shared_bytes: shared,
            param_bytes: buf.len() as u32,
        };
        let mut b = req.as_bytes().to_vec();
        b.extend_from_slice(&buf);
        s.client()?.push_async(op::LAUNCH, b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{lock, testing::session, with_stack, Obj};

    fn setup() -> u64 {
        let mut s = lock();
        let c = s.new_handle();
        s.objects.insert(c, Obj::Ctx { wire: 0, flags: 0 });
        let f = s.new_handle();
        s.objects.insert(
            f,
            Obj::Function {
                host: 99,
                ctx: 0,
                module: 1,
                layout: vec![
                    ParamInfo { offset: 0, size: 4 },
                    ParamInfo { offset: 4, size: 4 },
                    ParamInfo { offset: 8, size: 8 },
                ],
            },
        );
        drop(s);
        with_stack(|st| st.push(c));
        f
    }

    #[test]
    fn kernel_params_are_packed_by_layout() {
        let sess = session(1 << 20);
        let f = setup() as *mut c_void;
        let (mut n, mut a, mut p) = (7u32, 2.5f32, 0x1122_3344_5566_7788u64);
        let mut params: [*mut c_void; 3] = [
            (&mut n as *mut u32).cast(),
            (&mut a as *mut f32).cast(),
            (&mut p as *mut u64).cast(),
        ];
        let null = std::ptr::null_mut();
        unsafe {
            launch_kernel(
                f,
                2,
                1,
                1,
                32,
                1,
                1,
                0,
                null,
                params.as_mut_ptr(),
                null.cast(),
            )
            .unwrap();
        }
        let sc = sess.script.lock().unwrap();
        assert!(sc.sent.is_empty(), "a launch is batched, not sent");
        drop(sc);
        lock().client().unwrap().flush().unwrap();
        let sc = sess.script.lock().unwrap();
        let (opc, detached, b) = &sc.sent[0];
        assert_eq!((*opc, *detached), (op::LAUNCH, true));
        let r = LaunchRequest::read_from(b).unwrap();
        assert_eq!((r.function, r.grid, r.param_bytes), (99, [2, 1, 1], 16));
        let mut want = 7u32.to_le_bytes().to_vec();
        want.extend_from_slice(&2.5f32.to_le_bytes());
        want.extend_from_slice(&p.to_le_bytes());
        assert_eq!(&b[56..], &want[..]);
    }

    #[test]
    fn extra_buffer_must_match_the_layout() {
        let sess = session(1 << 20);
        let f = setup() as *mut c_void;
        let buf = [0u8; 16];
        let null: *mut c_void = std::ptr::null_mut();
        for (size, want) in [(12usize, Err(result::INVALID_VALUE)), (16, Ok(()))] {
            let mut size = size;
            let mut extra: [*mut c_void; 5] = [
                CU_LAUNCH_PARAM_BUFFER_POINTER as *mut c_void,
                buf.as_ptr() as *mut c_void,
                CU_LAUNCH_PARAM_BUFFER_SIZE as *mut c_void,
                (&mut size as *mut usize).cast(),
                CU_LAUNCH_PARAM_END as *mut c_void,
            ];
            let r = unsafe {
                launch_kernel(
                    f,
                    1,
                    1,
                    1,
                    1,
                    1,
                    1,
                    0,
                    null,
                    null.cast(),
                    extra.as_mut_ptr(),
                )
            };
            assert_eq!(r, want);
        }
        let mut p = [null; 3];
        let mut e = [null; 1];
        assert_eq!(
            unsafe { launch_kernel(f, 1, 1, 1, 1, 1, 1, 0, null, p.as_mut_ptr(), e.as_mut_ptr()) },
            Err(result::INVALID_VALUE)
        );
        assert_eq!(
            unsafe {
                launch_kernel(
                    0x1234 as *mut c_void,
                    1,
                    1,
                    1,
                    1,
                    1,
                    1,
                    0,
                    null,
                    p.as_mut_ptr(),
                    null.cast(),
                )
            },
            Err(result::INVALID_HANDLE)
        );
        lock().client().unwrap().flush().unwrap();
        assert_eq!(sess.script.lock().unwrap().sent.len(), 1);
    }
}
