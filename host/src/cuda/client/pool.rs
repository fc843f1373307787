//! The stream-ordered allocator's commands (`uapi::cuda::op` 0x1A0..0x1AF):
//! decoding, validation and dispatch, kept apart from the other commands.

use super::{code, exact, handle_response, header, Outcome};
use crate::cuda::backend::CudaBackend;
use uapi::cuda::{
    op, pool_attr, result, MemAllocAsyncRequest, MemFreeAsyncRequest, MemPoolRequest,
    MemPoolValueResponse, DEFAULT_POOL,
};
use uapi::status::Status;
use uapi::wire::Wire;

/// Checks the request's shape; `None` if `opcode` is not one of these.
pub(super) fn decode(opcode: u16, request: &[u8]) -> Option<Result<(), Status>> {
    Some(match opcode {
        op::MEM_ALLOC_ASYNC => exact::<MemAllocAsyncRequest>(request).map(drop),
        op::MEM_FREE_ASYNC => exact::<MemFreeAsyncRequest>(request).map(drop),
        op::MEM_POOL_GET_ATTRIBUTE | op::MEM_POOL_SET_ATTRIBUTE | op::MEM_POOL_TRIM_TO => {
            pool_request(opcode, request).map(drop)
        }
        _ => return None,
    })
}

fn pool_request(opcode: u16, request: &[u8]) -> Result<MemPoolRequest, Status> {
    let r = exact::<MemPoolRequest>(request)?;
    if r.reserved != 0 || (opcode == op::MEM_POOL_TRIM_TO && r.attr != 0) {
        return Err(Status::InvalidField);
    }
    Ok(r)
}

/// The client's one pool, else `INVALID_VALUE`; a known attribute, else
/// `INVALID_VALUE` (NVIDIA's driver answers 0 and 9 so).
fn check(pool: u64, attr: Option<u32>) -> Result<(), u32> {
    if pool != DEFAULT_POOL || attr.is_some_and(|a| !pool_attr::is_known(a)) {
        Err(result::INVALID_VALUE)
    } else {
        Ok(())
    }
}

/// Runs one of these commands; `None` if `opcode` is not one of them.
pub(super) fn run(
    b: &mut dyn CudaBackend,
    opcode: u16,
    request: &[u8],
) -> Option<Result<Outcome, Status>> {
    if let Err(status) = decode(opcode, request)? {
        return Some(Err(status));
    }
    Some(run_one(b, opcode, request))
}

fn run_one(b: &mut dyn CudaBackend, opcode: u16, request: &[u8]) -> Result<Outcome, Status> {
    Ok(match opcode {
        op::MEM_ALLOC_ASYNC => {
            let r = exact::<MemAllocAsyncRequest>(request)?;
            let got = check(r.pool, None).and_then(|()| {
                if r.size == 0 {
                    Err(result::INVALID_VALUE)
                } else {
                    b.mem_alloc_async(r.ctx, r.stream, r.size, r.pool)
                }
            });
            Outcome::Response(handle_response(got))
        }
        op::MEM_FREE_ASYNC => {
            let r = exact::<MemFreeAsyncRequest>(request)?;
            Outcome::Async(b.mem_free_async(r.ctx, r.stream, r.dptr))
        }
        op::MEM_POOL_GET_ATTRIBUTE => {
            let r = pool_request(opcode, request)?;
            let got = check(r.pool, Some(r.attr))
                .and_then(|()| b.mem_pool_get_attribute(r.ctx, r.pool, r.attr));
            Outcome::Response(
                MemPoolValueResponse {
                    result: code(&got),
                    reserved: 0,
                    value: got.unwrap_or(0),
                }
                .as_bytes()
                .to_vec(),
            )
        }
        op::MEM_POOL_SET_ATTRIBUTE => {
            let r = pool_request(opcode, request)?;
            let got = check(r.pool, Some(r.attr))
                .and_then(|()| b.mem_pool_set_attribute(r.ctx, r.pool, r.attr, r.value));
            Outcome::Response(header(code(&got)))
        }
        op::MEM_POOL_TRIM_TO => {
            let r = pool_request(opcode, request)?;
            let got = check(r.pool, None).and_then(|()| b.mem_pool_trim_to(r.ctx, r.pool, r.value));
            Outcome::Response(header(code(&got)))
        }
        _ => return Err(Status::InvalidOpcode),
    })
}
