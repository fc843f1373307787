// SPDX-License-Identifier: GPL-2.0

//! State of one bound device that outlives the binding: open files hold it
//! through an `Arc`, so everything here is either revocable (the BAR), guarded
//! by the `bound`/`dead` flags, or released by unbind (the clients' DMA memory).

use crate::{
    client::ClientDma,
    helpers,
    regs::{
        self,
        Bar0, //
    },
    slots::PinnedIo,
    uapi::{cmd::DeviceInfo, regs::HEARTBEAT_PERIOD_MS, ring::StatusPage},
};
use core::sync::atomic::{
    AtomicBool,
    Ordering, //
};
use kernel::{
    device::{
        Bound,
        Device, //
    },
    devres::Devres,
    dma::Coherent,
    io::Io,
    new_condvar, new_mutex, pci,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        CondVar,
        Mutex, //
    },
    time::{
        Instant,
        Monotonic, //
    },
};

/// Without a heartbeat for this long the device counts as gone.
// TIMEOUT: 30 heartbeat periods (3 s): long enough for a TCG guest or a busy
// host to miss a few beats, short enough that a dead host fails waiters soon.
const DEAD_AFTER_MS: i64 = 30 * HEARTBEAT_PERIOD_MS as i64;

/// Queues one device may hand out (the bitmap size).
const QUEUE_BITMAP_LIMIT: u32 = 128;

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
///
/// # Invariants
///
/// - `bound` is true until `shut_down` clears it in unbind, before the driver
///   core releases the device; it is never set again.
/// - `users` counts the live [`Binding`]s; `shut_down` returns only once it
///   is zero, and no [`Binding`] is created once `bound` is false.
pub(crate) struct DevState {
    bound: bool,
    /// The device is gone or unbound: every wait and submit fails with `ENODEV`.
    pub(crate) dead: bool,
    users: u32,
    /// Identity, fetched once at probe.
    pub(crate) info: DeviceInfo,
    /// Queues in use, one bit each.
    queues_used: [u64; 2],
    last_heartbeat: u64,
    last_heartbeat_at: Instant<Monotonic>,
    /// Zero-copy counters of every client since probe.
    pub(crate) pinned_io: PinnedIo,
}

/// One VGPU-STUB, shared by the driver binding, its IRQ handler and open files.
///
/// Lock order: `clients`, then a client's state, then `state`, then
/// `irq_generation`; nothing is taken while `irq_generation` is held.
#[pin_data(PinnedDrop)]
pub(crate) struct Shared {
    pub(crate) pdev: ARef<pci::Device>,
    pub(crate) bar: Devres<Bar0>,
    /// N of `/dev/vgpuN`.
    pub(crate) index: u32,
    pub(crate) limits: Limits,
    status_page: Coherent<StatusPage>,
    #[pin]
    pub(crate) state: Mutex<DevState>,
    /// Signalled when `DevState::users` drops to zero.
    #[pin]
    users_gone: CondVar,
    /// DMA state of every open client, released by unbind while still bound.
    #[pin]
    clients: Mutex<KVec<Arc<ClientDma>>>,
    /// Bumped by every interrupt; waiters sleep until it moves.
    #[pin]
    pub(crate) irq_generation: Mutex<u64>,
    #[pin]
    pub(crate) irq_wait: CondVar,
}

/// Proof that the driver is bound to the device: unbind waits for every
/// `Binding` to go before it lets the driver core release the device.
/// Hold one only across bounded work (allocation, MMIO), never across a
/// sleep that waits for the device or for userspace.
///
/// # Invariants
///
/// While a `Binding` lives, `shared.state.users > 0`, so `shut_down` (run by
/// unbind before the device is released) has not returned: the device is bound.
/// A failed probe never runs `shut_down`, but there no `Shared` outlives
/// `probe`: the node is registered last, so no file can hold one.
pub(crate) struct Binding<'a> {
    shared: &'a Shared,
}

impl Binding<'_> {
    /// The bound device, for DMA allocations and BAR access.
    pub(crate) fn dev(&self) -> &Device<Bound> {
        // SAFETY: the device is bound while `self` lives (type invariant), and
        // `pdev` is the device `Shared` was made for.
        unsafe { self.shared.pdev.as_ref().as_bound() }
    }

    /// BAR0, without an RCU read-side section: MMIO may sleep here.
    pub(crate) fn bar(&self) -> Result<&Bar0> {
        self.shared.bar.access(self.dev())
    }
}

impl Drop for Binding<'_> {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        // The invariant makes this at least 1; saturate rather than trap.
        st.users = st.users.saturating_sub(1);
        if st.users == 0 {
            self.shared.users_gone.notify_all();
        }
    }
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
                users: 0,
                info: DeviceInfo::default(),
                queues_used: [0; 2],
                last_heartbeat: 0,
                last_heartbeat_at: Instant::now(),
                pinned_io: PinnedIo::default(),
            }),
            users_gone <- new_condvar!(),
            clients <- new_mutex!(KVec::new()),
            irq_generation <- new_mutex!(0),
            irq_wait <- new_condvar!(),
        })
    }

    /// A [`Binding`], unless unbind has begun (`ENODEV`).
    pub(crate) fn bind(&self) -> Result<Binding<'_>> {
        let mut st = self.state.lock();
        if !st.bound {
            return Err(ENODEV);
        }
        st.users = st.users.checked_add(1).ok_or(EBUSY)?;
        // INVARIANT: `users` counts the new binding; `bound` was true.
        Ok(Binding { shared: self })
    }

    /// A [`Binding`], unless the device is unbound or dead (`ENODEV`).
    pub(crate) fn bind_alive(&self) -> Result<Binding<'_>> {
        let binding = self.bind()?;
        if self.state.lock().dead {
            return Err(ENODEV);
        }
        Ok(binding)
    }

    /// Points the device at the status page: the heartbeat starts. Only
    /// once `Shared` exists, so that its drop stops the heartbeat again.
    pub(crate) fn start_heartbeat(&self) -> Result {
        let binding = self.bind()?;
        let bar = binding.bar()?;
        let addr = self.status_page.dma_handle();
        // CAST: the low and high halves, truncation intended; high commits.
        bar.write_reg(regs::STATUS_PAGE_LO::zeroed().with_value(addr as u32));
        bar.write_reg(regs::STATUS_PAGE_HI::zeroed().with_value((addr >> 32) as u32));
        Ok(())
    }

    /// Registers a client's DMA state, so that unbind can release it.
    pub(crate) fn add_client(&self, dma: Arc<ClientDma>) -> Result {
        self.clients.lock().push(dma, GFP_KERNEL)?;
        Ok(())
    }

    /// Forgets a client registered by [`Self::add_client`].
    pub(crate) fn remove_client(&self, dma: &Arc<ClientDma>) {
        self.clients.lock().retain(|c| !Arc::ptr_eq(c, dma));
    }

    /// Wakes every waiter (after an interrupt, or when the device goes away).
    pub(crate) fn wake_all(&self) {
        let mut generation = self.irq_generation.lock();
        *generation = generation.wrapping_add(1);
        self.irq_wait.notify_all();
    }

    /// Takes a free queue index.
    fn alloc_queue(&self) -> Result<u32> {
        let mut st = self.state.lock();
        if st.dead {
            return Err(ENODEV);
        }
        let limit = self.limits.max_queues.min(QUEUE_BITMAP_LIMIT);
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

    fn free_queue(&self, q: u32) {
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

    /// Stops the device touching guest memory: RESET (every queue, the
    /// heartbeat), a read that returns only once it took effect, and bus
    /// mastering off.
    fn quiesce(&self, bar: &Bar0) {
        bar.write_reg(regs::DEVICE_CONTROL::zeroed().with_reset(true));
        // The read completes only after the reset did (non-posted).
        let _ = bar.read(regs::DEVICE_STATUS);
        helpers::clear_master(&self.pdev);
    }

    /// Called on unbind: fail every client, stop the device, and free every
    /// client's DMA memory while the device is still bound.
    pub(crate) fn shut_down(&self, dev: &Device<Bound>) {
        {
            let mut st = self.state.lock();
            st.bound = false;
            st.dead = true;
        }
        // Sleepers hold no binding; wake them so they see `dead`.
        self.wake_all();
        {
            let mut st = self.state.lock();
            while st.users != 0 {
                self.users_gone.wait(&mut st);
            }
        }
        match self.bar.access(dev) {
            Ok(bar) => self.quiesce(bar),
            Err(e) => dev_err!(self.pdev, "cannot reach BAR0 to reset: {:?}\n", e),
        }
        let clients = core::mem::take(&mut *self.clients.lock());
        for client in clients.iter() {
            client.release();
        }
        self.wake_all();
    }
}

#[pinned_drop]
impl PinnedDrop for Shared {
    fn drop(self: Pin<&mut Self>) {
        // On a failed probe the BAR is still mapped and the device may be
        // writing the heartbeat into `status_page`, which is freed after this:
        // stop it first. After unbind the BAR is revoked and this does nothing
        // (`shut_down` already reset the device).
        let _ = self.bar.try_access_with(|bar| self.quiesce(bar));
    }
}

/// A queue index taken from [`Shared`], returned on drop unless retired.
///
/// # Invariants
///
/// Bit `index` of `shared`'s queue bitmap is set on behalf of this value.
pub(crate) struct QueueIndex {
    shared: Arc<Shared>,
    index: u32,
    /// The queue did not stop: its bit stays set for the rest of the binding.
    retired: AtomicBool,
}

impl QueueIndex {
    /// Takes the lowest free queue; `EBUSY` when none is left.
    pub(crate) fn alloc(shared: Arc<Shared>) -> Result<Self> {
        let index = shared.alloc_queue()?;
        // INVARIANT: `alloc_queue` set bit `index`.
        Ok(Self {
            shared,
            index,
            retired: AtomicBool::new(false),
        })
    }

    /// Keeps the index from being handed out again on this binding: the
    /// device may still run the queue on the old rings, so a new client
    /// given it would program an enabled queue (its writes ignored) and
    /// never be served. A reset (unbind) ends the queue; the next binding
    /// starts with a fresh bitmap.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u32 {
        self.index
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for QueueIndex {
    fn drop(&mut self) {
        if !self.retired.load(Ordering::Relaxed) {
            self.shared.free_queue(self.index);
        }
    }
}
