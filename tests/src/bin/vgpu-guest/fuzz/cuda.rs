//! Valid CUDA work in the middle of the noise, so that the host executes
//! something: a context, an allocation, a copy there and back, checked.

use uapi::{
    cuda::{
        op, CopyRequest, CtxCreateRequest, CtxRequest, HandleResponse, MemAllocRequest, PtrRequest,
        ResultHeader,
    },
    wire::Wire,
};
use vgpu_transport::VgpuFile;

use super::arena::Rng;

/// Submits and waits, waiting again after a signal interrupted the wait.
fn call(f: &VgpuFile, opcode: u16, req: &[u8], resp: &mut [u8]) -> Result<u32, i32> {
    let seq = f
        .submit_one(opcode, req, resp.len() as u32)
        .map_err(|e| e.errno)?;
    for _ in 0..1000 {
        match f.wait(seq, resp, 20_000) {
            Ok(c) => return Ok(c.status),
            Err(e) if e.errno == libc::EINTR => continue,
            Err(e) => return Err(e.errno),
        }
    }
    Err(libc::EINTR)
}

/// Creates a context on `f`; its handle, or 0.
pub fn create_context(f: &VgpuFile) -> u64 {
    let req = CtxCreateRequest::default();
    let mut resp = HandleResponse::default();
    match call(f, op::CTX_CREATE, req.as_bytes(), resp.as_bytes_mut()) {
        Ok(0) if resp.result == 0 => resp.handle,
        _ => 0,
    }
}

/// The checked sequence on a file of its own. `Err` only for wrong
/// results; an errno from the driver (EINTR, EBUSY) is `Ok(false)`.
pub fn sequence(rng: &mut Rng) -> Result<bool, String> {
    let f = match VgpuFile::open("/dev/vgpu0") {
        Ok(f) => f,
        Err(_) => return Ok(false),
    };
    let ctx = create_context(&f);
    if ctx == 0 {
        return Ok(false);
    }
    let len = 1 + rng.below(8192) as usize;
    let mut alloc = HandleResponse::default();
    let req = MemAllocRequest {
        ctx,
        size: len as u64,
    };
    match call(&f, op::MEM_ALLOC, req.as_bytes(), alloc.as_bytes_mut()) {
        Ok(0) if alloc.result == 0 => {}
        Ok(s) => {
            return Err(format!(
                "MEM_ALLOC {len}: status {s} result {}",
                alloc.result
            ))
        }
        Err(_) => return Ok(false),
    }
    let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    let copy = CopyRequest {
        ctx,
        dst: alloc.handle,
        len: len as u64,
        ..Default::default()
    };
    let mut req = copy.as_bytes().to_vec();
    req.extend_from_slice(&data);
    let mut hdr = ResultHeader::default();
    match call(&f, op::MEMCPY_HTOD, &req, hdr.as_bytes_mut()) {
        Ok(0) if hdr.result == 0 => {}
        Ok(s) => {
            return Err(format!(
                "MEMCPY_HTOD {len}: status {s} result {}",
                hdr.result
            ))
        }
        Err(_) => return Ok(false),
    }
    let back = CopyRequest {
        ctx,
        src: alloc.handle,
        len: len as u64,
        ..Default::default()
    };
    let mut resp = vec![0u8; 8 + len];
    match call(&f, op::MEMCPY_DTOH, back.as_bytes(), &mut resp) {
        Ok(0) if resp[..4] == [0; 4] => {}
        Ok(s) => {
            return Err(format!(
                "MEMCPY_DTOH {len}: status {s} head {:?}",
                &resp[..8]
            ))
        }
        Err(_) => return Ok(false),
    }
    if resp[8..] != data[..] {
        return Err(format!(
            "MEMCPY_DTOH {len}: data differs from what was copied in"
        ));
    }
    // Sometimes leave the context and memory to the file's release.
    if rng.below(3) != 0 {
        let free = PtrRequest {
            ctx,
            dptr: alloc.handle,
        };
        let _ = call(&f, op::MEM_FREE, free.as_bytes(), hdr.as_bytes_mut());
        let destroy = CtxRequest { ctx };
        let _ = call(&f, op::CTX_DESTROY, destroy.as_bytes(), hdr.as_bytes_mut());
    }
    Ok(true)
}
