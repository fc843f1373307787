//! Driver options a guest chooses (flags, limits, attributes), checked
//! against allow-lists where they enter ([`super::call`]) so that an
//! executor only ever receives a value known to be safe to hand to NVIDIA's
//! driver. The types can only be built by their checks.
//!
//! What is refused is answered as NVIDIA's driver answers an unknown value
//! (`INVALID_VALUE`, `UNSUPPORTED_LIMIT` for limits). What NVIDIA's driver
//! accepts and we refuse is listed with the reason; everything NVIDIA's
//! cudart, cuBLAS and PyTorch pass is accepted (cudart creates contexts
//! with the `cudaSetDeviceFlags` bits: a `SCHED_*` value, `MAP_HOST`,
//! `LMEM_RESIZE_TO_MAX`).

use super::backend::{CuError, CuResult};
use uapi::cuda::{func_attribute as fa, result};

fn allowed(ok: bool, code: CuError) -> CuResult<()> {
    if ok {
        Ok(())
    } else {
        Err(code)
    }
}

/// The `CUctx_flags` bits a guest may pass to `cuCtxCreate`; the others are
/// unknown to this type and so refused: `CU_CTX_COREDUMP_ENABLE` (0x20, a
/// fault writes a GPU core file into vgpu-host's working directory and
/// aborts the process) and `CU_CTX_USER_COREDUMP_ENABLE` (0x40, a host pipe
/// that triggers core dumps) among them.
mod ctx_bits {
    bitflags::bitflags! {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct CtxBits: u32 {
            /// `CU_CTX_SCHED_SPIN`.
            const SCHED_SPIN = 0x01;
            /// `CU_CTX_SCHED_YIELD`.
            const SCHED_YIELD = 0x02;
            /// `CU_CTX_SCHED_BLOCKING_SYNC`.
            const SCHED_BLOCKING_SYNC = 0x04;
            /// `CU_CTX_MAP_HOST` (deprecated; always on).
            const MAP_HOST = 0x08;
            /// `CU_CTX_LMEM_RESIZE_TO_MAX` (deprecated; the default).
            const LMEM_RESIZE_TO_MAX = 0x10;
            /// `CU_CTX_SYNC_MEMOPS`: synchronous copies always synchronise.
            const SYNC_MEMOPS = 0x80;
            /// `CU_CTX_SCHED_MASK`: AUTO (0) or one of the three above.
            const SCHED_MASK = 0x07;
        }
    }
}
use ctx_bits::CtxBits;

/// Checked `cuCtxCreate` flags (the bitflags type stays private so that a
/// value can only be built by [`CtxFlags::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtxFlags(CtxBits);

impl CtxFlags {
    /// Only known, safe bits, with at most one scheduling bit (NVIDIA's
    /// rule); anything else, core dumps included, is `INVALID_VALUE`.
    pub fn new(raw: u32) -> CuResult<Self> {
        let bits = CtxBits::from_bits(raw).ok_or(result::INVALID_VALUE)?;
        allowed(
            bits.intersection(CtxBits::SCHED_MASK).bits().count_ones() <= 1,
            result::INVALID_VALUE,
        )?;
        Ok(Self(bits))
    }
    /// The bits for the driver.
    pub fn bits(self) -> u32 {
        self.0.bits()
    }
}

/// Checked `cuStreamCreate` flags: `CU_STREAM_DEFAULT` or `NON_BLOCKING`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamFlags(u32);

impl StreamFlags {
    /// 0 or `CU_STREAM_NON_BLOCKING` (1), else `INVALID_VALUE`.
    pub fn new(raw: u32) -> CuResult<Self> {
        allowed(raw <= 1, result::INVALID_VALUE)?;
        Ok(Self(raw))
    }
    /// The bits for the driver.
    pub fn bits(self) -> u32 {
        self.0
    }
}

mod event_bits {
    bitflags::bitflags! {
        /// `CUevent_flags`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct EventBits: u32 {
            /// `CU_EVENT_BLOCKING_SYNC`.
            const BLOCKING_SYNC = 0x1;
            /// `CU_EVENT_DISABLE_TIMING`.
            const DISABLE_TIMING = 0x2;
            /// `CU_EVENT_INTERPROCESS` (needs DISABLE_TIMING).
            const INTERPROCESS = 0x4;
        }
    }
}
use event_bits::EventBits;

/// Checked `cuEventCreate` flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventFlags(EventBits);

impl EventFlags {
    /// Known bits only, INTERPROCESS only with DISABLE_TIMING (NVIDIA's
    /// rules), else `INVALID_VALUE`. INTERPROCESS is then dropped: vgpu has
    /// no `cuIpcGetEventHandle`, so the guest could never share the event,
    /// and the host has no use for an IPC object made on its behalf.
    pub fn new(raw: u32) -> CuResult<Self> {
        let bits = EventBits::from_bits(raw).ok_or(result::INVALID_VALUE)?;
        allowed(
            !bits.contains(EventBits::INTERPROCESS) || bits.contains(EventBits::DISABLE_TIMING),
            result::INVALID_VALUE,
        )?;
        Ok(Self(bits.difference(EventBits::INTERPROCESS)))
    }
    /// The bits for the driver.
    pub fn bits(self) -> u32 {
        self.0.bits()
    }
}

/// Checked `cuStreamWaitEvent` flags: `CU_EVENT_WAIT_DEFAULT` or
/// `CU_EVENT_WAIT_EXTERNAL` (meaningful only in stream capture).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitFlags(u32);

impl WaitFlags {
    /// 0 or 1, else `INVALID_VALUE`.
    pub fn new(raw: u32) -> CuResult<Self> {
        allowed(raw <= 1, result::INVALID_VALUE)?;
        Ok(Self(raw))
    }
    /// The bits for the driver.
    pub fn bits(self) -> u32 {
        self.0
    }
}

/// `CU_OCCUPANCY_DEFAULT` or `CU_OCCUPANCY_DISABLE_CACHING_OVERRIDE`.
pub fn check_occupancy_flags(raw: u32) -> CuResult<()> {
    allowed(raw <= 1, result::INVALID_VALUE)
}

/// `CUlimit`s a guest may set: STACK_SIZE, PRINTF_FIFO_SIZE,
/// MALLOC_HEAP_SIZE, DEV_RUNTIME_SYNC_DEPTH,
/// DEV_RUNTIME_PENDING_LAUNCH_COUNT, MAX_L2_FETCH_GRANULARITY (0..=5).
/// Refused with `UNSUPPORTED_LIMIT`: PERSISTING_L2_CACHE_SIZE (6), which
/// sets aside L2 of the whole GPU, shared with other tenants, and the CIG
/// limits (7..=9), which need a graphics context.
pub fn check_settable_limit(limit: u32) -> CuResult<()> {
    allowed(limit <= 5, result::UNSUPPORTED_LIMIT)
}

/// `CUfunction_attribute`s `cuFuncSetAttribute` may set (the others are
/// read-only, and NVIDIA's driver answers `INVALID_VALUE` for them).
pub fn check_settable_func_attribute(attribute: i32) -> CuResult<()> {
    allowed(
        matches!(
            attribute,
            fa::MAX_DYNAMIC_SHARED_SIZE_BYTES
                | fa::PREFERRED_SHARED_MEMORY_CARVEOUT
                | fa::REQUIRED_CLUSTER_WIDTH
                | fa::REQUIRED_CLUSTER_HEIGHT
                | fa::REQUIRED_CLUSTER_DEPTH
                | fa::NON_PORTABLE_CLUSTER_SIZE_ALLOWED
                | fa::CLUSTER_SCHEDULING_POLICY_PREFERENCE
        ),
        result::INVALID_VALUE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_flags_keep_what_cudart_passes_and_refuse_core_dumps() {
        // cudaSetDeviceFlags: one SCHED_* value, MAP_HOST, LMEM_RESIZE_TO_MAX.
        for ok in [
            0,
            1,
            2,
            4,
            0x08,
            0x10,
            0x04 | 0x08 | 0x10,
            0x80,
            0x01 | 0x80,
        ] {
            assert_eq!(CtxFlags::new(ok).map(CtxFlags::bits), Ok(ok), "{ok:#x}");
        }
        for bad in [0x20, 0x40, 0x60, 0x24, 0x100, 0x8000_0000, 0x03, 0x05, 0x07] {
            assert_eq!(CtxFlags::new(bad), Err(result::INVALID_VALUE), "{bad:#x}");
        }
    }

    #[test]
    fn stream_event_and_wait_flags_are_the_drivers_known_values() {
        assert_eq!(StreamFlags::new(1).map(StreamFlags::bits), Ok(1));
        assert_eq!(StreamFlags::new(2), Err(result::INVALID_VALUE));
        assert_eq!(EventFlags::new(3).map(EventFlags::bits), Ok(3));
        // INTERPROCESS needs DISABLE_TIMING, and is then not passed on.
        assert_eq!(EventFlags::new(4), Err(result::INVALID_VALUE));
        assert_eq!(EventFlags::new(6).map(EventFlags::bits), Ok(2));
        assert_eq!(EventFlags::new(8), Err(result::INVALID_VALUE));
        assert_eq!(WaitFlags::new(1).map(WaitFlags::bits), Ok(1));
        assert_eq!(WaitFlags::new(2), Err(result::INVALID_VALUE));
        assert_eq!(check_occupancy_flags(2), Err(result::INVALID_VALUE));
    }

    #[test]
    fn only_per_context_limits_and_settable_attributes_pass() {
        assert_eq!(check_settable_limit(2), Ok(()));
        assert_eq!(check_settable_limit(6), Err(result::UNSUPPORTED_LIMIT));
        assert_eq!(check_settable_limit(99), Err(result::UNSUPPORTED_LIMIT));
        assert_eq!(
            check_settable_func_attribute(fa::MAX_DYNAMIC_SHARED_SIZE_BYTES),
            Ok(())
        );
        assert_eq!(
            check_settable_func_attribute(fa::NUM_REGS),
            Err(result::INVALID_VALUE)
        );
    }
}
