// SPDX-License-Identifier: GPL-2.0

//! State of one bound device that outlives the binding: open files hold it
//! through an `Arc`, so everything here is either revocable (the BAR), guarded
//! by the `bound`/`dead` flags, or released by unbind (the clients' DMA memory).
//!
//! One watchdog per device (a delayed work item, armed while it has clients)
//! checks the heartbeat and the queues with commands in flight, so that
//! waiters sleep without polling: on death it resets the device and wakes
//! them; on a queue the device stopped without a completion it tells the
//! queue's client, whose next reap stops the queue.

use crate::{
    client::ClientDma,
    helpers,
    regs::{
        self,
        Bar0,
        QueueState, //
    },
    slots::PinnedIo,
    uapi::{cmd::DeviceInfo, regs::HEARTBEAT_PERIOD_MS, ring::StatusPage},
};
use core::sync::atomic::{
    AtomicBool,
    Ordering, //
};
use kernel::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    devres::Devres,
    dma::Coherent,
    io::Io,
    new_condvar, new_delayed_work, new_mutex, pci,
    prelude::*,
    sync::{
        aref::ARef,
        Arc,
        CondVar,
        Mutex, //
    },
    time::{
        msecs_to_jiffies,
        Instant,
        Monotonic, //
    },
    workqueue::{
        self,
        impl_has_delayed_work,
        DelayedWork,
        WorkItem, //
    },
};

/// Without a heartbeat for this long the device counts as gone.
// TIMEOUT: 30 heartbeat periods (3 s): long enough for a TCG guest or a busy
// host to miss a few beats, short enough that a dead host fails waiters soon.
const DEAD_AFTER_MS: i64 = 30 * HEARTBEAT_PERIOD_MS as i64;

/// How often the watchdog looks at the device while it has clients.
// TIMEOUT: a dead device is seen within this after `DEAD_AFTER_MS`, a queue
// the device stopped without a completion within this (one status read per
// queue with commands in flight, each an MMIO round trip).
const WATCHDOG_PERIOD_MS: u32 = 500;

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

/// The clients of a device and whether the watchdog runs for them.
///
/// # Invariants
///
/// `watching` is true exactly while the watchdog is queued or running and
/// will look again: it is queued (holding a reference to [`Shared`]) only by
/// whoever set `watching`, and clears it when it stops re-arming. It is
/// never set before `enabled`, which is set only once the probe has
/// succeeded: then unbind's `shut_down` is sure to run and cancel it.
pub(crate) struct ClientList {
    list: KVec<Arc<ClientDma>>,
    enabled: bool,
    watching: bool,
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
    clients: Mutex<ClientList>,
    /// Liveness and queue checks; see the module's doc.
    #[pin]
    watchdog: DelayedWork<Shared>,
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
            clients <- new_mutex!(ClientList {
                list: KVec::new(),
                enabled: false,
                watching: false,
            }),
            watchdog <- new_delayed_work!("vgpu watchdog"),
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

    /// Registers a client's DMA state, so that unbind can release it, and
    /// starts the watchdog if it may run and is not running. `ENODEV` once
    /// unbind has begun: it may have taken the list already.
    pub(crate) fn add_client(self: &Arc<Self>, dma: Arc<ClientDma>) -> Result {
        let mut clients = self.clients.lock();
        if !self.state.lock().bound {
            return Err(ENODEV);
        }
        clients.list.push(dma, GFP_KERNEL)?;
        if clients.enabled && !clients.watching {
            self.arm_watchdog(&mut clients);
        }
        Ok(())
    }

    /// Lets the watchdog run from now on (armed by the next client). Called
    /// once the probe can no longer fail: a failed probe must leave no work
    /// queued, which would keep `Shared` (and its status page, which the
    /// device writes until `Shared`'s drop resets it) past the binding, and
    /// might run after the module is gone. The probe's own wait is timed.
    pub(crate) fn enable_watchdog(self: &Arc<Self>) {
        let mut clients = self.clients.lock();
        clients.enabled = true;
        if !clients.watching && !clients.list.is_empty() {
            self.arm_watchdog(&mut clients);
        }
    }

    /// Forgets a client registered by [`Self::add_client`]. The watchdog
    /// stops by itself once the list is empty.
    pub(crate) fn remove_client(&self, dma: &Arc<ClientDma>) {
        self.clients.lock().list.retain(|c| !Arc::ptr_eq(c, dma));
    }

    /// Queues the watchdog one period from now, unless the device is
    /// unbound or dead (then there is nothing left to watch).
    fn arm_watchdog(self: &Arc<Self>, clients: &mut ClientList) {
        let armed = {
            let st = self.state.lock();
            st.bound && !st.dead
        } && workqueue::system()
            .enqueue_delayed(self.clone(), msecs_to_jiffies(WATCHDOG_PERIOD_MS))
            .is_ok();
        // INVARIANT: `watching` says whether we queued it; a failed enqueue
        // (it was queued already, which `watching` rules out) gave the
        // reference back, dropped here.
        clients.watching = armed;
    }

    /// One look of the watchdog: the heartbeat, then the status of every
    /// queue with commands in flight (only those: an idle queue has nobody
    /// to fail, and its next command puts it in this list).
    fn watch(&self) {
        if !self.check_alive() {
            return;
        }
        let queues = {
            let clients = self.clients.lock();
            let mut queues = KVec::new();
            for c in clients.list.iter() {
                if c.needs_watching() && queues.push(c.clone(), GFP_KERNEL).is_err() {
                    // Out of memory: look at the rest next period.
                    break;
                }
            }
            queues
        };
        if queues.is_empty() {
            return;
        }
        let Ok(binding) = self.bind() else {
            return;
        };
        let Ok(bar) = binding.bar() else {
            return;
        };
        let mut stopped = false;
        for c in queues.iter() {
            if let Ok(QueueState::Error(code)) = regs::queue_state(bar, c.queue) {
                stopped |= c.note_device_error(code);
            }
        }
        drop(binding);
        if stopped {
            self.wake_all();
        }
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
    /// within [`DEAD_AFTER_MS`]. Otherwise declares it dead (once, with a log
    /// line), resets it so that it can no longer touch guest memory even if
    /// it wakes, and wakes every waiter.
    fn check_alive(&self) -> bool {
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
            "device stopped responding (no heartbeat for {} ms); resetting it and failing its clients\n",
            DEAD_AFTER_MS
        );
        // After the reset every queue reads back DISABLED: closing files
        // free their DMA memory at once.
        if let Ok(binding) = self.bind() {
            if let Ok(bar) = binding.bar() {
                self.quiesce(bar);
            }
        }
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
        let clients = core::mem::take(&mut self.clients.lock().list);
        for client in clients.iter() {
            client.release();
        }
        self.wake_all();
        self.stop_watchdog();
    }

    /// Cancels the watchdog and waits for a running one to end; called once
    /// `bound` is false, so it does not re-arm.
    fn stop_watchdog(&self) {
        // CAST: `DelayedWork` is a transparent wrapper of `Opaque<delayed_work>`.
        let dwork = core::ptr::from_ref(&self.watchdog)
            .cast::<bindings::delayed_work>()
            .cast_mut();
        // SAFETY: `dwork` is the initialised `delayed_work` of `self`, which
        // lives across the call; the workqueue core synchronises with the timer
        // and a running instance.
        let was_queued = unsafe { bindings::cancel_delayed_work_sync(dwork) };
        let mut clients = self.clients.lock();
        if was_queued {
            // SAFETY: a queued watchdog holds one reference to `self`, from
            // `Arc::into_raw` in `enqueue_delayed`; cancelled, it never runs
            // to give it back, so we do. It is not the last: the caller holds
            // one.
            drop(unsafe { Arc::from_raw(core::ptr::from_ref(self)) });
        }
        // INVARIANT: neither queued nor running now, and `bound` is false.
        clients.watching = false;
    }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Shared { self.watchdog }
}

impl WorkItem for Shared {
    type Pointer = Arc<Shared>;

    fn run(this: Arc<Shared>) {
        this.watch();
        let mut clients = this.clients.lock();
        if clients.list.is_empty() {
            // INVARIANT: not re-armed; `add_client` starts it again.
            clients.watching = false;
        } else {
            this.arm_watchdog(&mut clients);
        }
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
