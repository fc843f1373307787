//! The CUDA driver API, one module per area. Each function takes the C
//! arguments (already behind the panic guard of `exports`) and returns a
//! [`CuResult`].
//!
//! State: one process-wide [`State`] behind one `Mutex` (the transport, the
//! batch, the object tables, caches); the context stack is thread-local.
//! Guest handles (`CUcontext`, `CUstream`, `CUevent`, `CUmodule`,
//! `CUfunction`) are numbers the guest hands out and maps to the device's
//! handles, so they are never 0 and never collide with the special streams
//! `CU_STREAM_LEGACY` / `CU_STREAM_PER_THREAD`.
//!
//! [`abi`] declares the ABI once (result type, handle types, ids, the C
//! structs the guest reads); [`client`] makes every call typed by its
//! `uapi::cuda::cmds` declaration.

pub(crate) mod abi;
pub(crate) mod capture;
pub(crate) mod client;
pub(crate) mod context;
pub(crate) mod dark_api;
pub(crate) mod device;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod flusher;
pub(crate) mod function;
pub(crate) mod graph;
pub(crate) mod graph_events;
pub(crate) mod graph_exec;
pub(crate) mod host_fn;
pub(crate) mod image;
pub(crate) mod launch;
pub(crate) mod library;
pub(crate) mod memory;
pub(crate) mod module;
pub(crate) mod stream;
pub(crate) mod stream_query;
pub(crate) mod tensor_map;

use std::{
    cell::RefCell,
    collections::BTreeMap,
    mem::ManuallyDrop,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex, MutexGuard, Once, PoisonError,
    },
};

use uapi::cuda::{result, ParamInfo};

use client::Client;

pub(crate) use abi::{CuResult, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD};

/// An object the guest handed out a handle for.
#[derive(Debug, Clone)]
pub(crate) enum Obj {
    /// A context; `wire` is what commands carry (0 = primary).
    Ctx {
        wire: u64,
        flags: u32,
    },
    Stream {
        host: u64,
        ctx: u64,
        flags: u32,
        priority: i32,
    },
    Event {
        host: u64,
        ctx: u64,
    },
    Module {
        host: u64,
        ctx: u64,
    },
    Function {
        host: u64,
        ctx: u64,
        module: u64,
        /// Mangled name (`cuFuncGetName`).
        name: Vec<u8>,
        layout: Vec<ParamInfo>,
        /// `CUfunction_attribute` values, fetched on first use.
        attrs: Option<[i32; uapi::cuda::FUNC_ATTRIBUTE_COUNT]>,
    },
    /// A `CUlibrary`: an image loaded into each context on first use there.
    Library {
        /// The image, as the library was loaded from it.
        image: Vec<u8>,
        /// Wire context → guest module handle.
        modules: BTreeMap<u64, u64>,
    },
    /// A `CUkernel`: a kernel of a library, resolved per context.
    Kernel {
        library: u64,
        /// Mangled name, NUL-terminated (`cuKernelGetName` hands it out).
        name: std::ffi::CString,
        /// Wire context → guest function handle.
        functions: BTreeMap<u64, u64>,
    },
}

/// The primary context of device 0, as the guest tracks it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Primary {
    /// Guest handle (0 until first retained; then stable).
    pub handle: u64,
    pub retains: u32,
    pub flags: u32,
}

/// Process-wide driver state.
pub(crate) struct State {
    pub client: Option<Client>,
    pub initialized: bool,
    pub attrs: Option<Vec<i32>>,
    pub objects: BTreeMap<u64, Obj>,
    pub primary: Primary,
    /// cudart's context-local storage (a dark-API table).
    pub cls: dark_api::ContextStorage,
    /// Device and host memory ranges (unified addressing).
    pub ptrs: memory::registry::Registry,
    /// Guest handle of the default memory pool (0 until asked for).
    pub default_pool: u64,
    /// Virtual memory management handles and their properties.
    pub vmm: memory::VmmHandles,
    /// Stream captures in progress.
    pub captures: capture::Captures,
    /// Graph objects' guest-side storage (kernel node parameters handed out).
    pub graphs: graph::GraphStorage,
    /// Host nodes' functions, per graph and executable graph.
    pub host_fns: host_fn::HostFns,
    next_handle: u64,
}

impl State {
    const fn new() -> Self {
        Self {
            client: None,
            initialized: false,
            attrs: None,
            objects: BTreeMap::new(),
            primary: Primary {
                handle: 0,
                retains: 0,
                flags: 0,
            },
            cls: dark_api::ContextStorage::new(),
            ptrs: memory::registry::Registry::new(),
            default_pool: 0,
            vmm: memory::VmmHandles::new(),
            captures: capture::Captures::new(),
            graphs: graph::GraphStorage::new(),
            host_fns: host_fn::HostFns::new(),
            next_handle: 0x7647_0000_1000,
        }
    }

    /// A fresh guest handle.
    pub fn new_handle(&mut self) -> u64 {
        self.next_handle += 0x10;
        self.next_handle
    }

    /// The client (present whenever `initialized`).
    pub fn client(&mut self) -> CuResult<&mut Client> {
        self.client.as_mut().ok_or(result::NOT_INITIALIZED)
    }

    /// What commands carry for guest context `ctx`.
    pub fn ctx_wire(&self, ctx: u64) -> CuResult<u64> {
        match self.objects.get(&ctx) {
            Some(Obj::Ctx { wire, .. }) => Ok(*wire),
            _ => Err(result::INVALID_CONTEXT),
        }
    }

    /// The calling thread's current context: (guest handle, wire handle).
    pub fn current(&self) -> CuResult<(u64, u64)> {
        let c = current_ctx().ok_or(result::INVALID_CONTEXT)?;
        Ok((c, self.ctx_wire(c)?))
    }

    /// The device's handle of a stream (default streams: 0).
    pub fn stream_host(&self, stream: u64) -> CuResult<u64> {
        match stream {
            0 | CU_STREAM_LEGACY | CU_STREAM_PER_THREAD => Ok(uapi::cuda::DEFAULT_STREAM),
            s => match self.objects.get(&s) {
                Some(Obj::Stream { host, .. }) => Ok(*host),
                _ => Err(result::INVALID_HANDLE),
            },
        }
    }

    /// The device's handle of an event and the wire context it lives in.
    pub fn event_host(&self, event: u64) -> CuResult<(u64, u64)> {
        match self.objects.get(&event) {
            Some(Obj::Event { host, ctx, .. }) => Ok((*host, *ctx)),
            _ => Err(result::INVALID_HANDLE),
        }
    }

    /// Attribute table (fetched once).
    pub fn attributes(&mut self) -> CuResult<&[i32]> {
        if self.attrs.is_none() {
            let t = device::fetch_attributes(self.client()?)?;
            self.attrs = Some(t);
        }
        Ok(self.attrs.as_deref().unwrap_or(&[]))
    }

    /// Forgets everything (after fork in the child, and in tests).
    fn reset(&mut self) {
        *self = Self::new();
    }
}

static STATE: Mutex<State> = Mutex::new(State::new());
/// Bumped in a forked child: context stacks of an older generation are stale.
static GENERATION: AtomicU64 = AtomicU64::new(0);

pub(crate) fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Set when the process exits or the library is unloaded: from then on
/// calls fail with `CUDA_ERROR_DEINITIALIZED`. NVIDIA's driver tears down
/// in an exit handler it registers at `cuInit` (measured: exit handlers
/// registered before cuInit, such as cudart's `__cudaUnregisterFatBinary`
/// ones, get DEINITIALIZED; those registered after it still work, with the
/// context current); [`on_first_init`] registers ours the same way.
static DEINITIALIZED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_unload() {
    DEINITIALIZED.store(true, Ordering::Release);
    flusher::shut_down();
    vgpu_transport::profile::report();
}

// At `dlclose` (and at exit, if cuInit never succeeded).
#[used]
#[link_section = ".fini_array"]
static ON_UNLOAD: extern "C" fn() = on_unload;

static EXIT_HANDLER: Once = Once::new();

/// Registers the exit-time teardown, once, when cuInit first succeeds.
pub(crate) fn on_first_init() {
    EXIT_HANDLER.call_once(|| {
        // SAFETY: `on_unload` is an `extern "C"` function that lives forever.
        if unsafe { libc::atexit(on_unload) } != 0 {
            tracing::warn!("atexit failed: teardown only at unload");
        }
    });
}

/// `CUDA_ERROR_DEINITIALIZED` once the library is being torn down.
pub(crate) fn check_alive() -> CuResult {
    if DEINITIALIZED.load(Ordering::Acquire) {
        Err(result::DEINITIALIZED)
    } else {
        Ok(())
    }
}

/// Runs `f` on the initialised state.
pub(crate) fn with_state<T>(f: impl FnOnce(&mut State) -> CuResult<T>) -> CuResult<T> {
    check_alive()?;
    let mut s = lock();
    if !s.initialized {
        return Err(result::NOT_INITIALIZED);
    }
    f(&mut s)
}

/// Runs `f` on the initialised state with the current context's wire handle.
pub(crate) fn with_ctx<T>(f: impl FnOnce(&mut State, u64) -> CuResult<T>) -> CuResult<T> {
    with_state(|s| {
        let (_, wire) = s.current()?;
        f(s, wire)
    })
}

thread_local! {
    /// The context stack, with no destructor: the main thread's thread-local
    /// destructors run at `exit` before the exit handlers, which may still
    /// use their context (as with NVIDIA's driver); [`StackRelease`] gives
    /// other threads' stacks back as those threads end.
    static STACK: RefCell<(u64, ManuallyDrop<Vec<u64>>)> =
        const { RefCell::new((0, ManuallyDrop::new(Vec::new()))) };
    static RELEASE: StackRelease = const { StackRelease };
}

/// Empties the calling thread's stack when the thread ends (not the main
/// thread, whose stack must last through `exit`).
struct StackRelease;

impl Drop for StackRelease {
    fn drop(&mut self) {
        // SAFETY: plain system calls without arguments.
        let main = unsafe { libc::gettid() == libc::getpid() };
        if !main {
            let _ = STACK.try_with(|s| {
                if let Ok(mut s) = s.try_borrow_mut() {
                    drop(std::mem::take(&mut *s.1));
                }
            });
        }
    }
}

/// Runs `f` on the calling thread's context stack (emptied if stale).
/// After the thread's destructors (at its end, when e.g. a destructor of
/// another library still calls in) the stack is empty; the main thread's
/// stack is never destroyed, so exit-time calls keep its context.
pub(crate) fn with_stack<T>(f: impl FnOnce(&mut Vec<u64>) -> T) -> T {
    // Registers the release at the thread's end (a no-op once it ran).
    let _ = RELEASE.try_with(|_| ());
    let mut f = Some(f);
    let r = STACK.try_with(|s| {
        let mut s = s.borrow_mut();
        let g = GENERATION.load(Ordering::Acquire);
        if s.0 != g {
            s.0 = g;
            s.1.clear();
        }
        f.take().map(|f| f(&mut s.1))
    });
    match (r, f) {
        (Ok(Some(t)), _) => t,
        (_, Some(f)) => f(&mut Vec::new()),
        (_, None) => unreachable!("with_stack: f ran but returned nothing"),
    }
}

/// The calling thread's current context (guest handle).
pub(crate) fn current_ctx() -> Option<u64> {
    with_stack(|s| s.last().copied())
}

// --- fork ------------------------------------------------------------------

impl vgpu_transport::fork::ForkSafe for State {
    fn lock() -> MutexGuard<'static, State> {
        lock()
    }

    fn in_child(&mut self) {
        // The inherited connection belongs to the parent: close our copy
        // and start over; cuInit is needed again (as with CUDA).
        self.reset();
        GENERATION.fetch_add(1, Ordering::AcqRel);
    }
}

pub(crate) fn register_atfork() {
    static ATFORK: Once = Once::new();
    vgpu_transport::fork::register_atfork::<State>(&ATFORK);
}

#[cfg(test)]
pub(crate) mod testing {
    //! Installs a fake transport as the process's client.
    use std::sync::{Arc, Mutex, MutexGuard};

    use vgpu_transport::testing as fake;

    use super::{lock, with_stack, State};

    static SERIAL: Mutex<()> = Mutex::new(());

    /// Holds the test serialisation lock while a test runs.
    pub struct Session {
        _serial: MutexGuard<'static, ()>,
        pub script: Arc<Mutex<fake::Script>>,
    }

    impl Session {
        /// The opcodes sent so far, in order.
        pub fn opcodes(&self) -> Vec<u16> {
            let sc = self.script.lock().unwrap_or_else(|e| e.into_inner());
            sc.sent.iter().map(|c| c.0).collect()
        }

        /// Queues the answer to the next command with a response.
        pub fn respond(&self, r: Vec<u8>) {
            self.script
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .responses
                .push_back(r);
        }
    }

    /// Makes a primary-like context (wire 0) current; returns its handle.
    pub fn with_primary() -> u64 {
        let mut s = lock();
        let h = s.new_handle();
        s.objects.insert(h, super::Obj::Ctx { wire: 0, flags: 0 });
        drop(s);
        with_stack(|st| st.push(h));
        h
    }

    /// Whether the process-wide state lock is free right now (false while
    /// any thread holds it, this one included).
    pub fn state_lock_free() -> bool {
        super::STATE.try_lock().is_ok()
    }

    /// A device attribute table with an H200's launch limits.
    pub fn device_attributes() -> Vec<i32> {
        let mut a = vec![0; uapi::cuda::ATTRIBUTE_COUNT];
        a[1..8].copy_from_slice(&[1024, 1024, 1024, 64, i32::MAX, 65535, 65535]);
        a
    }

    /// Function attributes of a kernel with no shared memory.
    pub fn function_attributes() -> [i32; uapi::cuda::FUNC_ATTRIBUTE_COUNT] {
        let mut a = [0; uapi::cuda::FUNC_ATTRIBUTE_COUNT];
        a[uapi::cuda::func_attribute::MAX_THREADS_PER_BLOCK as usize] = 1024;
        a[uapi::cuda::func_attribute::MAX_DYNAMIC_SHARED_SIZE_BYTES as usize] = 48 * 1024;
        a
    }

    /// Resets the state to "cuInit not called" for the duration of a test.
    pub fn uninitialised() -> MutexGuard<'static, ()> {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        *lock() = State::new();
        serial
    }

    /// Resets the state and installs a fake with `max_payload`, initialised.
    pub fn session(max_payload: u32) -> Session {
        session_with_data(max_payload, None)
    }

    /// [`session`] with a fake that offers `data` as its data path.
    pub fn session_with_data(max_payload: u32, data: Option<vgpu_transport::DataPath>) -> Session {
        session_with(max_payload, data, false)
    }

    /// A session whose transport also offers shared host memory.
    pub fn session_with_host_memory(max_payload: u32) -> Session {
        session_with(max_payload, None, true)
    }

    /// A session whose transport submits detached commands as `batching`
    /// says (the others: only at a synchronising command).
    pub fn session_with_batching(max_payload: u32, batching: vgpu_transport::Batching) -> Session {
        session_full(max_payload, None, false, batching)
    }

    fn session_with(
        max_payload: u32,
        data: Option<vgpu_transport::DataPath>,
        host_memory: bool,
    ) -> Session {
        session_full(
            max_payload,
            data,
            host_memory,
            vgpu_transport::Batching::UntilSync,
        )
    }

    fn session_full(
        max_payload: u32,
        data: Option<vgpu_transport::DataPath>,
        host_memory: bool,
        batching: vgpu_transport::Batching,
    ) -> Session {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let (mut f, script) = fake::Fake::new(max_payload);
        f.data = data;
        f.host_memory = host_memory;
        f.batching = batching;
        let mut s = lock();
        *s = State::new();
        s.client = Some(super::client::Client::new(Box::new(f)).unwrap());
        s.initialized = true;
        drop(s);
        with_stack(|st| st.clear());
        Session {
            _serial: serial,
            script,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_stack_outlives_thread_locals_as_an_empty_one() {
        struct Probe;
        impl Drop for Probe {
            fn drop(&mut self) {
                // Runs after the stack's release (destructors run in reverse
                // order of first use): must not panic, sees no context.
                let seen = with_stack(|st| {
                    st.push(1);
                    st.len()
                });
                PROBED.store(seen as u64 + 10, Ordering::SeqCst);
            }
        }
        thread_local! { static PROBE: Probe = const { Probe }; }
        static PROBED: AtomicU64 = AtomicU64::new(0);
        std::thread::spawn(|| {
            PROBE.with(|_| ());
            with_stack(|st| st.push(42));
            assert_eq!(current_ctx(), Some(42));
        })
        .join()
        .expect("thread exit without a panic");
        assert_eq!(
            PROBED.load(Ordering::SeqCst),
            11,
            "an empty, throw-away stack"
        );
    }

    #[test]
    fn after_unload_calls_are_deinitialized() {
        let _serial = testing::uninitialised();
        lock().initialized = true;
        assert_eq!(with_state(|_| Ok(())), Ok(()));
        on_unload();
        let got = with_state(|_| Ok(()));
        let init = device::init(0);
        DEINITIALIZED.store(false, Ordering::Release);
        assert_eq!(got, Err(result::DEINITIALIZED));
        assert_eq!(init, Err(result::DEINITIALIZED));
        assert_eq!(with_state(|_| Ok(())), Ok(()));
    }
}
