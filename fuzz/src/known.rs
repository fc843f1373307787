//! Known findings of the security review (`shared/reviews/host-security.md`)
//! whose fixes are in progress elsewhere: inputs that reach them are
//! skipped, so that the fuzzers look for new bugs and CI stays green.
//! Set `VGPU_FUZZ_KNOWN=1` to let them through (to check a fix: the
//! reproducers are in `fuzz/artifacts-known/`). Each bound is what the fix
//! is expected to enforce, not a limit of CUDA.

use core::mem::size_of;
use std::sync::OnceLock;
use uapi::cuda::{op, Copy2dRequest, LaunchRequest, MemsetRequest, StageRequest};
use uapi::wire::Wire;

/// Largest span (bytes) a memset or 2D copy may describe before it counts
/// as the known unbounded-allocation class (H3.1, H3.2, M4).
pub const MAX_SPAN: u64 = 1 << 26;
/// Largest row count of a memset or 2D copy (H3.1's and H3.2's loops).
pub const MAX_ROWS: u64 = 1 << 16;
/// Largest staged image offset + length (H5: 1 GiB per client today).
pub const MAX_STAGED: u64 = 1 << 24;
/// Most threads of one launch (H4: the watchdog misses huge grids; H3.3:
/// 16 MiB local memory per thread).
pub const MAX_LAUNCH_THREADS: u64 = 64;

/// Whether known findings are let through (`VGPU_FUZZ_KNOWN=1`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("VGPU_FUZZ_KNOWN").is_some_and(|v| v == "1"))
}

fn too_big(width: u64, height: u64, pitch: u64) -> bool {
    let span = width.max(pitch).checked_mul(height.max(1));
    width > MAX_SPAN || height > MAX_ROWS || span.is_none_or(|s| s > MAX_SPAN)
}

/// Whether the CUDA request `(opcode, request)` belongs to a known class.
pub fn cuda_request(opcode: u16, request: &[u8]) -> bool {
    if enabled() {
        return false;
    }
    match opcode {
        op::MEMSET => MemsetRequest::read_from(request).is_some_and(|r| {
            too_big(
                r.width.saturating_mul(u64::from(r.elem_size.max(1))),
                r.height,
                r.pitch,
            )
        }),
        op::MEMCPY_2D => Copy2dRequest::read_from(request)
            .is_some_and(|r| too_big(r.width, r.height, r.dst_pitch.max(r.src_pitch))),
        op::MODULE_STAGE => StageRequest::read_from(request).is_some_and(|r| {
            let tail = request.len().saturating_sub(size_of::<StageRequest>()) as u64;
            r.offset.saturating_add(tail) > MAX_STAGED
        }),
        op::LAUNCH | op::LAUNCH_EX => LaunchRequest::read_from(request).is_some_and(|r| {
            let threads = r
                .grid
                .iter()
                .chain(r.block.iter())
                .fold(1u64, |n, &d| n.saturating_mul(u64::from(d)));
            threads > MAX_LAUNCH_THREADS
        }),
        _ => false,
    }
}
