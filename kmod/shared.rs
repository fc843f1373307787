// SPDX-License-Identifier: GPL-2.0

//! State of one bound device that outlives the binding: open files hold it
//! through an `Arc`, so everything here is either revocable (the BAR) or
//! guarded by the `bound`/`dead` flags.

use crate::{
    regs::{
        self,
        Bar0, //
    },
    uapi::{
        cmd::DeviceInfo,
        regs::{
            device_control,
            DEVICE_CONTROL,
            DEVICE_STATUS,
            HEARTBEAT_PERIOD_MS, //
        },
        ring::StatusPage,
    },
};
use kernel::{
    devres::Devres,
    dma::Coherent,
    new_condvar, new_mutex, pci,
    prelude::*,
    sync::{
        aref::ARef,
        CondVar,
        Mutex, //
    },
    time::{
        Instant,
        Monotonic, //
    },
};

/// Without a heartbeat for this long the device counts as gone.
const DEAD_AFTER_MS: i64 = 30 * HEARTBEAT_PERIOD_MS as i64;

/// Limits the device reported at probe.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) abi_version: u32,
    pub(crate) features: u32,
    pub(crate) max_queues: u32,
    pub(crate) max_queue_depth: u32,
    pub(crate) max_transfer: u32,
}

/// Mutable device state.
pub(crate) struct DevState {
    /// The driver is bound: DMA allocations against the device are allowed.
    pub(crate) bound: bool,
    /// The device is gone or unbound: every wait and submit fails with `ENODEV`.
    pub(crate) dead: bool,
    /// Identity, fetched once at probe.
    pub(crate) info: DeviceInfo,
    /// Queues in use, one bit each.
    queues_used: [u64; 2],
    last_heartbeat: u64,
    last_heartbeat_at: Instant<Monotonic>,
}

/// One VGPU-STUB, shared by the driver binding, its IRQ handler and open files.
#[pin_data]
pub(crate) struct Shared {
    pub(crate) pdev: ARef<pci::Device>,
    pub(crate) bar: Devres<Bar0>,
    /// N of `/dev/vgpuN`.
    pub(crate) index: u32,
    pub(crate) limits: Limits,
    status_page: Coherent<StatusPage>,
    #[pin]
    pub(crate) state: Mutex<DevState>,
    /// Bumped by every interrupt; waiters sleep until it moves.
    #[pin]
    pub(crate) irq_generation: Mutex<u64>,
    #[pin]
    pub(crate) irq_wait: CondVar,
}

impl Shared {
    pub(crate) fn new(
        pdev: ARef<pci::Device>,
        bar: Devres<Bar0>,
        index: u32,
        limits: Limits,
        status_page: Coherent<StatusPage>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            pdev,
            bar,
            index,
            limits,
            status_page,
            state <- new_mutex!(DevState {
                bound: true,
                dead: false,
                info: DeviceInfo::default(),
                queues_used: [0; 2],
                last_heartbeat: 0,
                last_heartbeat_at: Instant::now(),
            }),
            irq_generation <- new_mutex!(0),
            irq_wait <- new_condvar!(),
        })
    }

    /// Runs `f` on the BAR unless the binding is gone. `f` must not sleep.
    pub(crate) fn with_bar<T>(&self, f: impl FnOnce(&Bar0) -> Result<T>) -> Result<T> {
        self.bar.try_access_with(f).unwrap_or(Err(ENODEV))
    }

    /// Wakes every waiter (after an interrupt, or when the device goes away).
    pub(crate) fn wake_all(&self) {
        let mut generation = self.irq_generation.lock();
        *generation = generation.wrapping_add(1);
        self.irq_wait.notify_all();
    }

    /// Takes a free queue index.
    pub(crate) fn alloc_queue(&self, st: &mut DevState) -> Result<u32> {
        let limit = self.limits.max_queues.min(128);
        for q in 0..limit {
            let (word, bit) = ((q / 64) as usize, q % 64);
            if let Some(w) = st.queues_used.get_mut(word) {
                if *w & (1 << bit) == 0 {
                    *w |= 1 << bit;
                    return Ok(q);
                }
            }
        }
        Err(EBUSY)
    }

    /// Returns a queue index taken by [`Self::alloc_queue`].
    pub(crate) fn free_queue(&self, q: u32) {
        let mut st = self.state.lock();
        if let Some(w) = st.queues_used.get_mut((q / 64) as usize) {
            *w &= !(1 << (q % 64));
        }
    }

    /// Whether the device still lives: not unbound, and its heartbeat moved
    /// within [`DEAD_AFTER_MS`]. Declares it dead (once, with a log line) otherwise.
    pub(crate) fn check_alive(&self) -> bool {
        let mut st = self.state.lock();
        if st.dead {
            return false;
        }
        let beat = kernel::dma_read!(self.status_page, .heartbeat);
        if beat != st.last_heartbeat {
            st.last_heartbeat = beat;
            st.last_heartbeat_at = Instant::now();
            return true;
        }
        if st.last_heartbeat_at.elapsed().as_millis() < DEAD_AFTER_MS {
            return true;
        }
        st.dead = true;
        drop(st);
        dev_err!(
            self.pdev,
            "device stopped responding (no heartbeat for {} ms); failing its clients\n",
            DEAD_AFTER_MS
        );
        self.wake_all();
        false
    }

    /// Called on unbind: fail every client and stop the device touching guest memory.
    pub(crate) fn shut_down(&self) {
        {
            let mut st = self.state.lock();
            st.bound = false;
            st.dead = true;
        }
        // The reset stops every queue; the read makes sure it happened.
        let _ = self.with_bar(|bar| {
            regs::write(bar, DEVICE_CONTROL, device_control::RESET)?;
            regs::read(bar, DEVICE_STATUS)
        });
        self.wake_all();
    }
}
