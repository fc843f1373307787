//! Contexts and the primary context. The context stack is thread-local
//! (`super::with_stack`); commands carry the context's wire handle, 0 for
//! the primary context.

use crate::driver::abi::Out;
use std::ffi::{c_int, c_uint, c_void};

use uapi::cuda::{cmds, result, CtxCreateRequest, CtxRequest, DeviceRequest};

use super::{dark_api::Doomed, with_ctx, with_stack, with_state, CuResult, Obj, State};
use crate::driver::abi::CUcontext;

/// What cuCtxGetApiVersion reports (the `_v2` context API, as NVIDIA's).
const API_VERSION: c_uint = 3020;

/// Forgets the objects that lived in context `wire`.
pub(crate) fn drop_objects_of(s: &mut State, wire: u64) {
    s.objects.retain(|_, o| match o {
        Obj::Stream { ctx, .. }
        | Obj::Event { ctx, .. }
        | Obj::Module { ctx, .. }
        | Obj::Function { ctx, .. } => *ctx != wire,
        Obj::Ctx { .. } | Obj::Library { .. } | Obj::Kernel { .. } => true,
    });
    // Libraries and kernels outlive contexts; forget what they had in this one.
    for o in s.objects.values_mut() {
        match o {
            Obj::Library { modules, .. } => {
                modules.remove(&wire);
            }
            Obj::Kernel { functions, .. } => {
                functions.remove(&wire);
            }
            _ => {}
        }
    }
}

fn check_dev(dev: c_int) -> CuResult {
    if dev == 0 {
        Ok(())
    } else {
        Err(result::INVALID_DEVICE)
    }
}

pub(crate) fn ctx_create(pctx: Out<'_, CUcontext>, flags: c_uint, dev: c_int) -> CuResult {
    with_state(|s| {
        let pctx = pctx.get()?;
        check_dev(dev)?;
        let req = CtxCreateRequest {
            ctx: 0,
            flags,
            device: dev,
        };
        let client = s.client()?;
        let host = client.call_cmd::<cmds::CtxCreate>(&req, &[], 0)?.0.handle;
        client.set_wait_mode(super::client::wait_mode_for(flags));
        let h = s.new_handle();
        s.objects.insert(h, Obj::Ctx { wire: host, flags });
        with_stack(|st| st.push(h));
        pctx.write(h as CUcontext);
        Ok(())
    })
}

pub(crate) fn ctx_create_v3(
    pctx: Out<'_, CUcontext>,
    params: *mut c_void,
    num_params: c_int,
    flags: c_uint,
    dev: c_int,
) -> CuResult {
    if !params.is_null() && num_params > 0 {
        tracing::warn!("cuCtxCreate_v3: execution affinity parameters ignored");
    }
    ctx_create(pctx, flags, dev)
}

pub(crate) fn ctx_create_v4(
    pctx: Out<'_, CUcontext>,
    params: *mut c_void,
    flags: c_uint,
    dev: c_int,
) -> CuResult {
    if !params.is_null() {
        tracing::warn!("cuCtxCreate_v4: CUctxCreateParams ignored");
    }
    ctx_create(pctx, flags, dev)
}

/// A context `cuCtxDestroy` may destroy: (guest handle, wire handle).
fn destroyable(s: &State, ctx: CUcontext) -> CuResult<(u64, u64)> {
    if ctx.is_null() {
        return Err(result::INVALID_VALUE);
    }
    let h = ctx as u64;
    match s.ctx_wire(h)? {
        // The primary context is released, not destroyed.
        0 => Err(result::INVALID_CONTEXT),
        wire => Ok((h, wire)),
    }
}

pub(crate) fn ctx_destroy(ctx: CUcontext) -> CuResult {
    // Context-local storage destructors first, while the context still
    // works, and unlocked: they call back into the driver.
    with_state(|s| Ok(s.cls.take_context(destroyable(s, ctx)?.0)))?.run();
    with_state(|s| {
        let (h, wire) = destroyable(s, ctx)?;
        let req = CtxRequest { ctx: wire };
        let r = s.client()?.call_cmd::<cmds::CtxDestroy>(&req, &[], 0);
        s.objects.remove(&h);
        drop_objects_of(s, wire);
        with_stack(|st| st.retain(|&c| c != h));
        r.map(|_| ())
    })
}

pub(crate) fn ctx_push_current(ctx: CUcontext) -> CuResult {
    with_state(|s| {
        if ctx.is_null() {
            return Err(result::INVALID_VALUE);
        }
        s.ctx_wire(ctx as u64)?;
        with_stack(|st| st.push(ctx as u64));
        Ok(())
    })
}

pub(crate) fn ctx_pop_current(pctx: Out<'_, CUcontext>) -> CuResult {
    with_state(|_| {
        let c = with_stack(|st| st.pop()).ok_or(result::INVALID_CONTEXT)?;
        pctx.write_optional(c as CUcontext);
        Ok(())
    })
}

pub(crate) fn ctx_set_current(ctx: CUcontext) -> CuResult {
    with_state(|s| {
        if ctx.is_null() {
            with_stack(|st| st.pop());
            return Ok(());
        }
        s.ctx_wire(ctx as u64)?;
        with_stack(|st| {
            st.pop();
            st.push(ctx as u64);
        });
        Ok(())
    })
}

pub(crate) fn ctx_get_current(pctx: Out<'_, CUcontext>) -> CuResult {
    with_state(|_| {
        let pctx = pctx.get()?;
        pctx.write(super::current_ctx().unwrap_or(0) as CUcontext);
        Ok(())
    })
}

pub(crate) fn ctx_get_device(dev: Out<'_, c_int>) -> CuResult {
    with_ctx(|_, _| {
        let dev = dev.get()?;
        dev.write(0);
        Ok(())
    })
}

/// The wire handle of `ctx`, or of the current context when it is NULL.
fn ctx_or_current(s: &State, ctx: CUcontext) -> CuResult<u64> {
    if ctx.is_null() {
        s.current().map(|(_, w)| w)
    } else {
        s.ctx_wire(ctx as u64)
    }
}

pub(crate) fn ctx_get_device_v2(dev: Out<'_, c_int>, ctx: CUcontext) -> CuResult {
    with_state(|s| {
        let dev = dev.get()?;
        ctx_or_current(s, ctx)?;
        dev.write(0);
        Ok(())
    })
}

fn synchronize(s: &mut State, wire: u64) -> CuResult {
    let req = CtxRequest { ctx: wire };
    s.client()?
        .call_cmd::<cmds::CtxSynchronize>(&req, &[], 0)
        .map(drop)
}

pub(crate) fn ctx_synchronize() -> CuResult {
    with_ctx(|s, w| {
        s.captures.check_unsafe()?;
        synchronize(s, w)
    })
}

pub(crate) fn ctx_synchronize_v2(ctx: CUcontext) -> CuResult {
    with_state(|s| {
        let w = ctx_or_current(s, ctx)?;
        s.captures.check_unsafe()?;
        synchronize(s, w)
    })
}

pub(crate) fn ctx_get_api_version(ctx: CUcontext, version: Out<'_, c_uint>) -> CuResult {
    with_state(|s| {
        let version = version.get()?;
        ctx_or_current(s, ctx)?;
        version.write(API_VERSION);
        Ok(())
    })
}

pub(crate) fn ctx_get_flags(flags: Out<'_, c_uint>) -> CuResult {
    with_state(|s| {
        let flags = flags.get()?;
        let (c, _) = s.current()?;
        flags.write(match s.objects.get(&c) {
            Some(Obj::Ctx { flags, .. }) => *flags,
            _ => 0,
        });
        Ok(())
    })
}

pub(crate) fn ctx_get_stream_priority_range(
    least: Out<'_, c_int>,
    greatest: Out<'_, c_int>,
) -> CuResult {
    with_ctx(|_, _| {
        least.write_optional(0);
        greatest.write_optional(-5);
        Ok(())
    })
}

pub(crate) fn primary_ctx_retain(pctx: Out<'_, CUcontext>, dev: c_int) -> CuResult {
    with_state(|s| {
        let pctx = pctx.get()?;
        check_dev(dev)?;
        if s.primary.retains == 0 {
            let req = DeviceRequest {
                ctx: 0,
                device: dev,
                reserved: 0,
            };
            s.client()?
                .call_cmd::<cmds::PrimaryCtxRetain>(&req, &[], 0)?;
        }
        if s.primary.handle == 0 {
            s.primary.handle = s.new_handle();
        }
        let flags = s.primary.flags;
        s.objects
            .insert(s.primary.handle, Obj::Ctx { wire: 0, flags });
        s.primary.retains += 1;
        pctx.write(s.primary.handle as CUcontext);
        Ok(())
    })
}

/// The primary context's handle, neither retained nor activated
/// (CUDART_INTERFACE[2]); the handle a later retain returns.
pub(crate) fn primary_ctx_handle(pctx: Out<'_, CUcontext>, dev: c_int) -> CuResult {
    with_state(|s| {
        let pctx = pctx.get()?;
        check_dev(dev)?;
        if s.primary.handle == 0 {
            s.primary.handle = s.new_handle();
        }
        let flags = s.primary.flags;
        s.objects
            .entry(s.primary.handle)
            .or_insert(Obj::Ctx { wire: 0, flags });
        pctx.write(s.primary.handle as CUcontext);
        Ok(())
    })
}

/// Takes the context-local storage of the primary context if `dying`.
fn take_primary_storage(s: &mut State, dying: bool) -> Doomed {
    if dying && s.primary.handle != 0 {
        s.cls.take_context(s.primary.handle)
    } else {
        Doomed::default()
    }
}

pub(crate) fn primary_ctx_release(dev: c_int) -> CuResult {
    // The last release deactivates the context: its storage destructors run
    // first, unlocked.
    with_state(|s| {
        check_dev(dev)?;
        Ok(take_primary_storage(s, s.primary.retains == 1))
    })?
    .run();
    with_state(|s| {
        check_dev(dev)?;
        if s.primary.retains == 0 {
            return Err(result::INVALID_CONTEXT);
        }
        s.primary.retains -= 1;
        if s.primary.retains == 0 {
            let req = DeviceRequest {
                ctx: 0,
                device: dev,
                reserved: 0,
            };
            drop_objects_of(s, 0);
            s.client()?
                .call_cmd::<cmds::PrimaryCtxRelease>(&req, &[], 0)?;
        }
        Ok(())
    })
}

pub(crate) fn primary_ctx_reset(dev: c_int) -> CuResult {
    with_state(|s| {
        check_dev(dev)?;
        Ok(take_primary_storage(s, true))
    })?
    .run();
    with_state(|s| {
        check_dev(dev)?;
        let req = DeviceRequest {
            ctx: 0,
            device: dev,
            reserved: 0,
        };
        drop_objects_of(s, 0);
        s.primary.retains = 0;
        s.primary.flags = 0;
        s.client()?
            .call_cmd::<cmds::PrimaryCtxReset>(&req, &[], 0)
            .map(drop)
    })
}

pub(crate) fn primary_ctx_get_state(
    dev: c_int,
    flags: Out<'_, c_uint>,
    active: Out<'_, c_int>,
) -> CuResult {
    with_state(|s| {
        let flags = flags.get()?;
        let active = active.get()?;
        check_dev(dev)?;
        flags.write(s.primary.flags);
        active.write(c_int::from(s.primary.retains > 0));
        Ok(())
    })
}

pub(crate) fn primary_ctx_set_flags(dev: c_int, flags: c_uint) -> CuResult {
    with_state(|s| {
        check_dev(dev)?;
        s.primary.flags = flags;
        if let Ok(client) = s.client() {
            client.set_wait_mode(super::client::wait_mode_for(flags));
        }
        if s.primary.handle != 0 {
            if let Some(Obj::Ctx { flags: f, .. }) = s.objects.get_mut(&s.primary.handle) {
                *f = flags;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::testing::session;
    use uapi::cuda::op;

    #[test]
    fn stack_and_primary() {
        let sess = session(1 << 20);
        {
            let mut c: CUcontext = std::ptr::null_mut();
            assert_eq!(
                ctx_get_device((&mut 0).into()),
                Err(result::INVALID_CONTEXT)
            );
            primary_ctx_retain((&mut c).into(), 0).unwrap();
            let mut c2: CUcontext = std::ptr::null_mut();
            primary_ctx_retain((&mut c2).into(), 0).unwrap();
            assert_eq!(c, c2);
            ctx_set_current(c).unwrap();
            let mut cur: CUcontext = std::ptr::null_mut();
            ctx_get_current((&mut cur).into()).unwrap();
            assert_eq!(cur, c);
            ctx_synchronize().unwrap();
            let mut own: CUcontext = std::ptr::null_mut();
            let mut r = vec![0u8; 8];
            r.extend_from_slice(&77u64.to_le_bytes());
            sess.respond(r);
            ctx_create((&mut own).into(), 0, 0).unwrap();
            ctx_get_current((&mut cur).into()).unwrap();
            assert_eq!(cur, own);
            ctx_pop_current((&mut cur).into()).unwrap();
            assert_eq!(cur, own);
            ctx_get_current((&mut cur).into()).unwrap();
            assert_eq!(cur, c);
            ctx_destroy(own).unwrap();
            assert_eq!(ctx_push_current(own), Err(result::INVALID_CONTEXT));
            assert_eq!(ctx_destroy(c), Err(result::INVALID_CONTEXT));
            let (mut f, mut a) = (0, 0);
            primary_ctx_get_state(0, (&mut f).into(), (&mut a).into()).unwrap();
            assert_eq!(a, 1);
            primary_ctx_release(0).unwrap();
            primary_ctx_release(0).unwrap();
            primary_ctx_get_state(0, (&mut f).into(), (&mut a).into()).unwrap();
            assert_eq!(a, 0);
            assert_eq!(primary_ctx_release(0), Err(result::INVALID_CONTEXT));
        }
        let sc = sess.script.lock().unwrap();
        let ops: Vec<u16> = sc.sent.iter().map(|s| s.0).collect();
        assert_eq!(
            ops,
            [
                op::PRIMARY_CTX_RETAIN,
                op::CTX_SYNCHRONIZE,
                op::CTX_CREATE,
                op::CTX_DESTROY,
                op::PRIMARY_CTX_RELEASE
            ]
        );
        // The created context's commands carry the device's handle.
        assert_eq!(&sc.sent[3].2[..8], &77u64.to_le_bytes());
    }

    #[test]
    fn set_current_null_pops_as_nvidias_driver_does() {
        // Measured on R580: with A under B, cuCtxSetCurrent(NULL) leaves A
        // current (it pops B, as documented), and a pop then returns A.
        let _sess = session(1 << 20);
        let mut s = crate::driver::lock();
        let (a, b) = (s.new_handle(), s.new_handle());
        s.objects.insert(a, Obj::Ctx { wire: 0, flags: 0 });
        s.objects.insert(b, Obj::Ctx { wire: 0, flags: 0 });
        drop(s);
        {
            ctx_push_current(a as CUcontext).unwrap();
            ctx_push_current(b as CUcontext).unwrap();
            ctx_set_current(std::ptr::null_mut()).unwrap();
            let mut cur: CUcontext = std::ptr::null_mut();
            ctx_get_current((&mut cur).into()).unwrap();
            assert_eq!(cur as u64, a);
            ctx_pop_current((&mut cur).into()).unwrap();
            assert_eq!(cur as u64, a);
            assert_eq!(
                ctx_pop_current((&mut cur).into()),
                Err(result::INVALID_CONTEXT)
            );
            ctx_set_current(std::ptr::null_mut()).expect("empty stack: a no-op");
        }
    }
}
