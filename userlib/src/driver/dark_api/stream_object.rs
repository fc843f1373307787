//! CONTEXT_IDENTITY[51] and [39]: a stream's driver object, and a 64-bit
//! value of it that only NVIDIA's driver knows. cuBLASLt 13 asks both before
//! each cooperative `nvjet` GEMM (traced on the H200, R580: `[51](ctx,
//! stream, &object)`, then `[39](ctx, object, &value)`, value 7 for the
//! default stream); refused, the GEMM fails with
//! `CUBLAS_STATUS_INTERNAL_ERROR`. The object we hand out is ours; [39]
//! forwards to the host, where vgpu-host asks NVIDIA's driver the same two
//! slots for its own stream (STREAM_DRIVER_VALUE).
//!
//! One round trip per nvjet GEMM, which a TCG guest pays (~0.4 ms, run 29),
//! but the value cannot be kept: natively it changes over a stream's life
//! (H200, R580: the default stream's 7 became 15 after a
//! cudaDeviceSynchronize that followed bf16 GEMMs; it held while they were
//! queued), and what nvjet does with it is not known.

use std::{
    collections::BTreeMap,
    ffi::c_void,
    sync::{Mutex, PoisonError},
};

use uapi::cuda::{cmds, result, StreamRequest};

use crate::{
    driver::{
        abi::{CUstream, Out},
        stream::stream_ctx,
        with_state, CuResult,
    },
    exports::guard,
};

/// What [51] hands out: NVIDIA's object starts with a 1, then 0, then the
/// context (measured), which we mirror in case a caller reads it; the stream
/// follows for [39].
#[repr(C)]
struct StreamObject {
    one: u64,
    zero: u64,
    ctx: u64,
    stream: u64,
}

/// One object per (context, stream) asked for, kept until the stream is
/// destroyed ([`forget_stream`]); keyed by the object's address for [39].
struct Objects {
    by_stream: BTreeMap<(u64, u64), usize>,
    by_address: BTreeMap<usize, Box<StreamObject>>,
}

static OBJECTS: Mutex<Objects> = Mutex::new(Objects {
    by_stream: BTreeMap::new(),
    by_address: BTreeMap::new(),
});

fn with_objects<R>(f: impl FnOnce(&mut Objects) -> R) -> R {
    f(&mut OBJECTS.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The object of `(ctx, stream)`, made on first use.
fn object_of(ctx: u64, stream: u64) -> usize {
    with_objects(|o| {
        if let Some(&address) = o.by_stream.get(&(ctx, stream)) {
            return address;
        }
        let object = Box::new(StreamObject {
            one: 1,
            zero: 0,
            ctx,
            stream,
        });
        let address = &*object as *const StreamObject as usize;
        o.by_address.insert(address, object);
        o.by_stream.insert((ctx, stream), address);
        address
    })
}

/// The stream of an object we handed out.
fn stream_of(address: usize) -> Option<u64> {
    with_objects(|o| o.by_address.get(&address).map(|obj| obj.stream))
}

/// Drops the objects of a destroyed stream.
pub(crate) fn forget_stream(stream: u64) {
    with_objects(|o| {
        o.by_stream.retain(|&(_, s), address| {
            if s == stream {
                o.by_address.remove(address);
                false
            } else {
                true
            }
        });
    });
}

fn object(ctx: *mut c_void, stream: CUstream, out: Out<'_, *mut c_void>) -> CuResult {
    // The stream must be one the caller may name (a bad handle gets its
    // error here, as from NVIDIA's driver).
    with_state(|s| stream_ctx(s, stream).map(drop))?;
    out.write(object_of(ctx as u64, stream as u64) as *mut c_void)
}

fn value(object: *mut c_void, out: Out<'_, u64>) -> CuResult {
    let stream = stream_of(object as usize).ok_or(result::INVALID_VALUE)?;
    let v = with_state(|s| {
        let (host, ctx) = stream_ctx(s, stream as CUstream)?;
        let req = StreamRequest { ctx, stream: host };
        let (r, _) = s
            .client()?
            .call_cmd::<cmds::StreamDriverValue>(&req, &[], 0)?;
        Ok(r.value)
    })?;
    out.write(v)
}

/// `CONTEXT_IDENTITY[51]`.
pub(super) unsafe extern "C" fn stream_object(
    ctx: *mut c_void,
    stream: CUstream,
    out: *mut *mut c_void,
) -> u32 {
    vgpu_transport::logging::init();
    tracing::debug!("CONTEXT_IDENTITY[51](ctx {ctx:?}, stream {stream:?})");
    // SAFETY: cuBLASLt's out-pointer: NULL (refused by `Out`) or valid.
    let out = unsafe { Out::new(out) };
    guard("CONTEXT_IDENTITY[51]", || object(ctx, stream, out))
}

/// `CONTEXT_IDENTITY[39]`.
pub(super) unsafe extern "C" fn stream_value(
    ctx: *mut c_void,
    object: *mut c_void,
    out: *mut u64,
) -> u32 {
    vgpu_transport::logging::init();
    tracing::debug!("CONTEXT_IDENTITY[39](ctx {ctx:?}, object {object:?})");
    // SAFETY: as above.
    let out = unsafe { Out::new(out) };
    guard("CONTEXT_IDENTITY[39]", || value(object, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_per_stream_and_forgotten_with_it() {
        let a = object_of(0x10, 0x1234_5000);
        assert_eq!(object_of(0x10, 0x1234_5000), a, "the same object each time");
        let b = object_of(0x10, 0x1234_6000);
        assert_ne!(a, b);
        assert_eq!(stream_of(a), Some(0x1234_5000));
        assert_eq!(stream_of(a + 8), None, "only addresses we handed out");
        forget_stream(0x1234_5000);
        assert_eq!(stream_of(a), None);
        assert_eq!(stream_of(b), Some(0x1234_6000));
        forget_stream(0x1234_6000);
    }
}

#[cfg(test)]
mod through_the_host {
    use super::*;
    use crate::driver::testing::{session, with_primary};
    use uapi::cuda::op;

    #[test]
    fn value_of_the_default_stream_comes_from_the_host() {
        let sess = session(1 << 20);
        let ctx = with_primary() as *mut c_void;
        let mut object: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid out-pointers, as cuBLASLt passes.
        let made = unsafe { stream_object(ctx, std::ptr::null_mut(), &mut object) };
        assert_eq!(made, 0);
        assert!(!object.is_null());
        let mut r = vec![0u8; 8];
        r.extend_from_slice(&7u64.to_le_bytes());
        sess.respond(r);
        let mut v = 0u64;
        // SAFETY: as above.
        assert_eq!(unsafe { stream_value(ctx, object, &mut v) }, 0);
        assert_eq!(v, 7);
        let sent = sess.script.lock().unwrap().sent.clone();
        let (opcode, detached, body) = sent.last().cloned().expect("a command");
        assert_eq!((opcode, detached), (op::STREAM_DRIVER_VALUE, false));
        assert_eq!(body[8..16], 0u64.to_le_bytes(), "the default stream");
        // What we did not hand out is refused, and a NULL out-pointer too.
        // SAFETY: as above (the object is only looked up).
        let bad = unsafe { stream_value(ctx, 0x1000 as *mut c_void, &mut v) };
        assert_eq!(bad, result::INVALID_VALUE);
        // SAFETY: NULL is checked.
        let null = unsafe { stream_object(ctx, std::ptr::null_mut(), std::ptr::null_mut()) };
        assert_eq!(null, result::INVALID_VALUE);
    }
}
