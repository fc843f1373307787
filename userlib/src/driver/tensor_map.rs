//! Tensor maps (`CUtensorMap`, the Hopper TMA descriptors): 128 bytes that
//! NVIDIA's driver encodes on the CPU. They name device addresses, so the
//! device's driver encodes them; the guest copies the result back.

use crate::driver::abi::{InOut, Out};
use std::ffi::{c_uint, c_void};

use uapi::cuda::{
    cmds, result, TensorMapEncodeRequest, TensorMapReplaceRequest, MAX_TENSOR_RANK,
    TENSOR_MAP_WORDS,
};

use super::{with_ctx, CuResult};

/// Copies `n` entries of a C array into a fixed array.
///
/// # Safety
///
/// `p` is readable for `n` entries.
unsafe fn take<T: Copy + Default>(p: *const T, n: usize) -> CuResult<[T; MAX_TENSOR_RANK]> {
    let mut out = [T::default(); MAX_TENSOR_RANK];
    if n > 0 {
        if p.is_null() {
            return Err(result::INVALID_VALUE);
        }
        // SAFETY: the caller's contract: `p` is readable for `n` entries;
        // checked non-NULL above.
        out[..n].copy_from_slice(unsafe { std::slice::from_raw_parts(p, n) });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tensor_map_encode_tiled(
    map: Out<'_, [u64; TENSOR_MAP_WORDS]>,
    data_type: c_uint,
    rank: c_uint,
    global_address: *mut c_void,
    global_dim: *const u64,
    global_strides: *const u64,
    box_dim: *const u32,
    element_strides: *const u32,
    interleave: c_uint,
    swizzle: c_uint,
    l2_promotion: c_uint,
    oob_fill: c_uint,
) -> CuResult {
    let n = rank as usize;
    if map.is_null() || !(1..=MAX_TENSOR_RANK).contains(&n) {
        return Err(result::INVALID_VALUE);
    }
    let mut req = TensorMapEncodeRequest {
        ctx: 0,
        data_type,
        rank,
        global_address: global_address as u64,
        // SAFETY: the C caller's arrays, as `cuTensorMapEncodeTiled`
        // defines them: `rank` entries each, `rank - 1` global strides
        // (`rank` is checked to be at most `MAX_TENSOR_RANK` above).
        global_dim: unsafe { take(global_dim, n) }?,
        // SAFETY: as above.
        global_strides: unsafe { take(global_strides, n - 1) }?,
        // SAFETY: as above.
        box_dim: unsafe { take(box_dim, n) }?,
        // SAFETY: as above.
        element_strides: unsafe { take(element_strides, n) }?,
        interleave,
        swizzle,
        l2_promotion,
        oob_fill,
    };
    with_ctx(|s, ctx| {
        req.ctx = ctx;
        let (r, _) = s
            .client()?
            .call_cmd::<cmds::TensorMapEncodeTiled>(&req, &[], 0)?;
        map.write(r.map)?;
        Ok(())
    })
}

pub(crate) fn tensor_map_replace_address(
    map: InOut<'_, [u64; TENSOR_MAP_WORDS]>,
    global_address: *mut c_void,
) -> CuResult {
    let map = map.get()?;
    with_ctx(|s, ctx| {
        let req = TensorMapReplaceRequest {
            ctx,
            global_address: global_address as u64,
            map: *map,
        };
        let (r, _) = s
            .client()?
            .call_cmd::<cmds::TensorMapReplaceAddress>(&req, &[], 0)?;
        *map = r.map;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::testing::session;
    use uapi::{
        cuda::{op, TensorMapResponse},
        wire::Wire,
    };

    #[test]
    fn a_tiled_map_travels_with_its_arrays_and_comes_back_encoded() {
        let sess = session(1 << 20);
        crate::driver::testing::with_primary();
        let mut encoded = TensorMapResponse::default();
        encoded.map[3] = 0xabcd;
        sess.respond(encoded.as_bytes().to_vec());
        let dims = [64u64, 32];
        let strides = [256u64];
        let boxes = [16u32, 8];
        let es = [1u32, 1];
        let mut map = [0u64; TENSOR_MAP_WORDS];
        // SAFETY: the arrays are locals of `rank` (2) entries, one stride.
        unsafe {
            tensor_map_encode_tiled(
                (&mut map).into(),
                7,
                2,
                0x7000_0000 as *mut c_void,
                dims.as_ptr(),
                strides.as_ptr(),
                boxes.as_ptr(),
                es.as_ptr(),
                0,
                1,
                0,
                0,
            )
            .unwrap();
        }
        assert_eq!(map[3], 0xabcd);
        let sc = sess.script.lock().unwrap();
        let (opc, _, body) = &sc.sent[0];
        assert_eq!(*opc, op::TENSOR_MAP_ENCODE_TILED);
        let r = TensorMapEncodeRequest::read_from(body).unwrap();
        assert_eq!(
            (r.rank, r.global_dim[..2].to_vec(), r.global_strides[0]),
            (2, dims.to_vec(), 256)
        );
        assert_eq!((r.box_dim[1], r.swizzle, r.global_dim[2]), (8, 1, 0));
        drop(sc);
        let null = std::ptr::null();
        assert_eq!(
            // SAFETY: NULL arrays (refused before being read).
            unsafe {
                tensor_map_encode_tiled(
                    (&mut map).into(),
                    7,
                    6,
                    null as *mut c_void,
                    null,
                    null,
                    null.cast(),
                    null.cast(),
                    0,
                    0,
                    0,
                    0,
                )
            },
            Err(result::INVALID_VALUE)
        );
    }
}
