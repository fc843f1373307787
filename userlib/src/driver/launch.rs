//! cuLaunchKernel: parameters packed with the cached layout (or taken from
//! the `extra` buffer), queued detached.

use std::ffi::{c_uint, c_void};

use uapi::{
    cuda::{
        cmds, func_attribute, launch_attribute, result, LaunchAttribute, LaunchExRequest,
        LaunchRequest, ParamInfo, MAX_LAUNCH_ATTRIBUTES, MAX_PARAM_BYTES,
    },
    wire::Wire,
};

use super::{library::resolve_function, module::function, with_ctx, CuResult, State};
use crate::driver::abi::{
    LaunchConfig, CU_LAUNCH_PARAM_BUFFER_POINTER, CU_LAUNCH_PARAM_BUFFER_SIZE, CU_LAUNCH_PARAM_END,
};

/// The attributes of `config` (`CUlaunchAttribute` has the wire's layout).
///
/// # Safety
///
/// `config.attrs` holds `config.num_attrs` entries (or is NULL with none).
unsafe fn config_attributes(config: &LaunchConfig) -> CuResult<&[LaunchAttribute]> {
    if config.num_attrs == 0 {
        return Ok(&[]);
    }
    if config.attrs.is_null() || config.num_attrs > MAX_LAUNCH_ATTRIBUTES {
        return Err(result::INVALID_VALUE);
    }
    // SAFETY: the caller's contract: `attrs` holds `num_attrs` entries;
    // checked non-NULL and bounded above.
    Ok(unsafe { std::slice::from_raw_parts(config.attrs, config.num_attrs as usize) })
}

/// The cluster dimensions a launch configuration asks for (zeros: none).
///
/// # Safety
///
/// As [`config_attributes`].
pub(crate) unsafe fn cluster_dims(config: &LaunchConfig) -> CuResult<[u32; 3]> {
    let mut dims = [0; 3];
    // SAFETY: the caller's contract, which is `config_attributes`'s.
    for a in unsafe { config_attributes(config) }? {
        if a.id == launch_attribute::CLUSTER_DIMENSION {
            dims = [
                a.value[0] as u32,
                (a.value[0] >> 32) as u32,
                a.value[1] as u32,
            ];
        }
    }
    Ok(dims)
}

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
        // SAFETY: the caller's contract: `params` holds `layout.len()`
        // pointers; checked non-NULL above.
        let src = unsafe { *params.add(i) };
        if src.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let (o, n) = (p.offset as usize, p.size as usize);
        // SAFETY: the caller's contract: each parameter is readable for
        // its size; checked non-NULL above.
        let arg = unsafe { std::slice::from_raw_parts(src.cast::<u8>(), n) };
        buf[o..o + n].copy_from_slice(arg);
    }
    Ok(buf)
}

/// The `extra` form: `{BUFFER_POINTER, p, BUFFER_SIZE, &size, END}` in any
/// order. A buffer larger than the layout is refused with
/// `LAUNCH_OUT_OF_RESOURCES`, as NVIDIA's driver refuses it; a smaller one
/// (which NVIDIA's driver launches, reading past it) with `INVALID_VALUE`.
///
/// # Safety
///
/// `extra` is an END-terminated key/value array as CUDA defines it.
pub(crate) unsafe fn extra_params(extra: *const *const c_void, expect: usize) -> CuResult<Vec<u8>> {
    let (mut ptr, mut size) = (None, None);
    let mut i = 0;
    loop {
        // SAFETY: the caller's contract: `extra` is END-terminated and `i`
        // is at a key until END is read.
        let key = unsafe { *extra.add(i) } as usize;
        match key {
            CU_LAUNCH_PARAM_END => break,
            // SAFETY: the caller's contract: a key other than END is
            // followed by its value.
            CU_LAUNCH_PARAM_BUFFER_POINTER => ptr = Some(unsafe { *extra.add(i + 1) }),
            CU_LAUNCH_PARAM_BUFFER_SIZE => {
                // SAFETY: as for BUFFER_POINTER.
                let p = unsafe { *extra.add(i + 1) }.cast::<usize>();
                if p.is_null() {
                    return Err(result::INVALID_VALUE);
                }
                // SAFETY: the caller's contract: BUFFER_SIZE's value points
                // to a `size_t`; checked non-NULL above.
                size = Some(unsafe { *p });
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
    if size > expect {
        return Err(result::LAUNCH_OUT_OF_RESOURCES);
    }
    if size < expect || (size > 0 && ptr.is_null()) {
        return Err(result::INVALID_VALUE);
    }
    if size == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the caller's contract: BUFFER_POINTER is readable for
    // BUFFER_SIZE bytes; checked non-NULL above.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), size) }.to_vec())
}

/// `CUdevice_attribute`s bounding a launch: MAX_THREADS_PER_BLOCK (1),
/// MAX_BLOCK_DIM_X..Z (2..4), MAX_GRID_DIM_X..Z (5..7).
const ATTR_MAX_THREADS_PER_BLOCK: usize = 1;
const ATTR_MAX_BLOCK_DIM: usize = 2;
const ATTR_MAX_GRID_DIM: usize = 5;

/// Checks a launch's shape here, where NVIDIA's driver checks it: at the
/// call, so that `cudaGetLastError()` after `<<<>>>` sees the error (the
/// launch itself is queued, and a device-side error would surface at some
/// later, unrelated call). Limits are the device's and the function's.
fn check_shape(
    s: &mut State,
    f: u64,
    grid: [c_uint; 3],
    block: [c_uint; 3],
    shared: c_uint,
) -> CuResult {
    if grid.contains(&0) || block.contains(&0) {
        return Err(result::INVALID_VALUE);
    }
    let attrs = s.attributes()?;
    let limit = |i: usize| {
        attrs
            .get(i)
            .map_or(u64::MAX, |&v| u64::try_from(v).unwrap_or(0))
    };
    let threads: u64 = block.iter().map(|&d| u64::from(d)).product();
    let over = threads > limit(ATTR_MAX_THREADS_PER_BLOCK)
        || (0..3).any(|i| u64::from(block[i]) > limit(ATTR_MAX_BLOCK_DIM + i))
        || (0..3).any(|i| u64::from(grid[i]) > limit(ATTR_MAX_GRID_DIM + i));
    if over {
        return Err(result::INVALID_VALUE);
    }
    let fa = match super::function::attributes(s, f) {
        Ok(fa) => fa,
        // A host driver without cuFuncGetAttribute: its own launch checks
        // the function's limits, later.
        Err(result::NOT_SUPPORTED) => return Ok(()),
        Err(e) => return Err(e),
    };
    let attr = |i: i32| u64::try_from(fa[i as usize]).unwrap_or(0);
    if threads > attr(func_attribute::MAX_THREADS_PER_BLOCK) {
        return Err(result::INVALID_VALUE);
    }
    if u64::from(shared) > attr(func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES) {
        return Err(result::INVALID_VALUE);
    }
    Ok(())
}

/// What is launched, how large, where.
struct Shape {
    /// A `CUfunction` or `CUkernel`.
    f: u64,
    grid: [c_uint; 3],
    block: [c_uint; 3],
    shared: c_uint,
    stream: u64,
}

/// One launch, in the calling thread's current context, with the
/// attributes of a `cuLaunchKernelEx` (none: a plain LAUNCH).
///
/// # Safety
///
/// `params` and `extra` are as `cuLaunchKernel` defines them.
unsafe fn submit_launch(
    s: &mut State,
    ctx: u64,
    shape: Shape,
    params: *mut *mut c_void,
    extra: *mut *mut c_void,
    attrs: &[LaunchAttribute],
) -> CuResult {
    let Shape {
        f,
        grid,
        block,
        shared,
        stream,
    } = shape;
    let f = resolve_function(s, f)?;
    if !params.is_null() && !extra.is_null() {
        return Err(result::INVALID_VALUE);
    }
    check_shape(s, f, grid, block, shared)?;
    let (host, _, layout) = function(s, f)?;
    let buf = if extra.is_null() {
        // SAFETY: the caller's contract: `params` holds one pointer per
        // parameter of `f`, whose layout this is.
        unsafe { pack_params(layout, params.cast()) }?
    } else {
        // SAFETY: the caller's contract: `extra` is END-terminated.
        unsafe { extra_params(extra.cast(), layout_end(layout)) }?
    };
    if buf.len() > MAX_PARAM_BYTES as usize {
        return Err(result::INVALID_VALUE);
    }
    let st = s.stream_host(stream)?;
    let launch = LaunchRequest {
        ctx,
        stream: st,
        function: host,
        grid,
        block,
        shared_bytes: shared,
        param_bytes: buf.len() as u32,
    };
    // Only attributes that carry no handle travel; the others would need
    // translating and are refused, as is an unknown one.
    let carried: Vec<LaunchAttribute> = attrs
        .iter()
        .filter(|a| a.id != launch_attribute::IGNORE)
        .copied()
        .map(|mut a| {
            a.reserved = 0;
            a
        })
        .collect();
    if let Some(a) = carried.iter().find(|a| !launch_attribute::is_carried(a.id)) {
        tracing::warn!(
            id = a.id,
            "cuLaunchKernelEx: launch attribute not supported by vgpu"
        );
        return Err(result::NOT_SUPPORTED);
    }
    if carried.is_empty() {
        return s.client()?.push_cmd::<cmds::Launch>(&launch, &buf);
    }
    let req = LaunchExRequest {
        launch,
        attr_count: carried.len() as u32,
        reserved: 0,
    };
    let mut tail: Vec<u8> = carried.iter().flat_map(|a| a.as_bytes().to_vec()).collect();
    tail.extend_from_slice(&buf);
    s.client()?.push_cmd::<cmds::LaunchEx>(&req, &tail)
}

/// A launch from the classic argument list (`cuLaunchKernel` and its
/// cooperative twin), with `attrs`.
///
/// # Safety
/// `params`/`extra` as `cuLaunchKernel` defines them.
unsafe fn launch_classic(
    f: *mut c_void,
    grid: [c_uint; 3],
    block: [c_uint; 3],
    shared: c_uint,
    stream: *mut c_void,
    (params, extra): (*mut *mut c_void, *mut *mut c_void),
    attrs: &[LaunchAttribute],
) -> CuResult {
    with_ctx(|s, ctx| {
        let shape = Shape {
            f: f as u64,
            grid,
            block,
            shared,
            stream: stream as u64,
        };
        // SAFETY: the caller's contract.
        unsafe { submit_launch(s, ctx, shape, params, extra, attrs) }
    })
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
    let (grid, block) = ([gx, gy, gz], [bx, by, bz]);
    // SAFETY: the C caller's `params`/`extra`, as `cuLaunchKernel`
    // defines them.
    unsafe { launch_classic(f, grid, block, shared, stream, (params, extra), &[]) }
}

pub(crate) unsafe fn launch_kernel_ex(
    config: *const c_void,
    f: *mut c_void,
    params: *mut *mut c_void,
    extra: *mut *mut c_void,
) -> CuResult {
    with_ctx(|s, ctx| {
        if config.is_null() {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the C caller's `CUlaunchConfig`; checked non-NULL above.
        let c = unsafe { &*config.cast::<LaunchConfig>() };
        // SAFETY: the C caller's config: `attrs` holds `numAttrs` entries.
        let attrs = unsafe { config_attributes(c) }?;
        // SAFETY: the C caller's `params`/`extra`, as `cuLaunchKernelEx`
        // defines them.
        unsafe {
            submit_launch(
                s,
                ctx,
                Shape {
                    f: f as u64,
                    grid: c.grid,
                    block: c.block,
                    shared: c.shared_mem_bytes,
                    stream: c.stream as u64,
                },
                params,
                extra,
                attrs,
            )
        }
    })
}

/// `cuLaunchCooperativeKernel`: a launch with the COOPERATIVE attribute.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn launch_cooperative_kernel(
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
) -> CuResult {
    let mut cooperative = LaunchAttribute {
        id: launch_attribute::COOPERATIVE,
        ..LaunchAttribute::default()
    };
    cooperative.value[0] = 1;
    let (grid, block) = ([gx, gy, gz], [bx, by, bz]);
    let args = (params, std::ptr::null_mut());
    // SAFETY: the C caller's `params`, as `cuLaunchCooperativeKernel`
    // defines them; no `extra`.
    unsafe { launch_classic(f, grid, block, shared, stream, args, &[cooperative]) }
}

/// `cuLaunchKernel` of `f` on a 1D grid of 1D blocks, default stream, no
/// dynamic shared memory (tests).
///
/// # Safety
/// `params` as `cuLaunchKernel` defines it.
#[cfg(test)]
pub(crate) fn launch_1d(
    f: *mut c_void,
    grid: c_uint,
    block: c_uint,
    params: *mut *mut c_void,
) -> CuResult {
    let null = std::ptr::null_mut();
    // SAFETY: the test's `params`, one pointer per parameter of `f`.
    unsafe { launch_kernel(f, grid, 1, 1, block, 1, 1, 0, null, params, null.cast()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{lock, testing, testing::session, with_stack, Obj};
    use uapi::cuda::op;

    fn setup() -> u64 {
        let mut s = lock();
        s.attrs = Some(testing::device_attributes());
        let c = s.new_handle();
        s.objects.insert(c, Obj::Ctx { wire: 0, flags: 0 });
        let f = s.new_handle();
        s.objects.insert(
            f,
            Obj::Function {
                host: 99,
                ctx: 0,
                module: 1,
                name: b"k".to_vec(),
                attrs: Some(testing::function_attributes()),
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
        launch_1d(f, 2, 32, params.as_mut_ptr()).unwrap();
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
        let buf = [0u8; 24];
        let null: *mut c_void = std::ptr::null_mut();
        for (size, want) in [
            (12usize, Err(result::INVALID_VALUE)),
            (16, Ok(())),
            (24, Err(result::LAUNCH_OUT_OF_RESOURCES)),
        ] {
            let mut size = size;
            let mut extra: [*mut c_void; 5] = [
                CU_LAUNCH_PARAM_BUFFER_POINTER as *mut c_void,
                buf.as_ptr() as *mut c_void,
                CU_LAUNCH_PARAM_BUFFER_SIZE as *mut c_void,
                (&mut size as *mut usize).cast(),
                CU_LAUNCH_PARAM_END as *mut c_void,
            ];
            let r = {
                // SAFETY: `extra` is END-terminated, its pointers to locals.
                unsafe {
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
                }
            };
            assert_eq!(r, want);
        }
        let mut p = [null; 3];
        let mut e = [null; 1];
        assert_eq!(
            // SAFETY: both arrays are locals (refused before being read).
            unsafe { launch_kernel(f, 1, 1, 1, 1, 1, 1, 0, null, p.as_mut_ptr(), e.as_mut_ptr()) },
            Err(result::INVALID_VALUE)
        );
        assert_eq!(
            {
                // SAFETY: `p` is a local array (the handle is refused first).
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
                }
            },
            Err(result::INVALID_HANDLE)
        );
        lock().client().unwrap().flush().unwrap();
        let sc = sess.script.lock().unwrap();
        assert_eq!(sc.sent.len(), 1);
        assert_eq!(sc.sent[0].2.len(), 56 + 16);
    }

    #[test]
    fn bad_shapes_fail_at_the_call_not_later() {
        let sess = session(1 << 20);
        let f = setup() as *mut c_void;
        let (mut a, mut b, mut c) = (0u32, 0f32, 0u64);
        let mut params: [*mut c_void; 3] = [
            (&mut a as *mut u32).cast(),
            (&mut b as *mut f32).cast(),
            (&mut c as *mut u64).cast(),
        ];
        let null = std::ptr::null_mut();
        // SAFETY: `p` holds one pointer to a local per parameter.
        let go = |g: [c_uint; 3], bl: [c_uint; 3], sh: c_uint, p: &mut [*mut c_void; 3]| unsafe {
            launch_kernel(
                f,
                g[0],
                g[1],
                g[2],
                bl[0],
                bl[1],
                bl[2],
                sh,
                null,
                p.as_mut_ptr(),
                null.cast(),
            )
        };
        let bad = Err(result::INVALID_VALUE);
        assert_eq!(go([1, 1, 1], [2048, 1, 1], 0, &mut params), bad);
        assert_eq!(go([1, 1, 1], [1, 1, 65], 0, &mut params), bad);
        assert_eq!(go([1, 65536, 1], [32, 1, 1], 0, &mut params), bad);
        assert_eq!(go([0, 1, 1], [32, 1, 1], 0, &mut params), bad);
        // More dynamic shared memory than the function opted in to.
        assert_eq!(go([1, 1, 1], [32, 1, 1], 48 * 1024 + 1, &mut params), bad);
        assert_eq!(go([1, 1, 1], [1024, 1, 1], 48 * 1024, &mut params), Ok(()));
        lock().client().unwrap().flush().unwrap();
        assert_eq!(
            sess.script.lock().unwrap().sent.len(),
            1,
            "only the good launch was sent"
        );
    }
}
