//! An in-process fake of the driver entry points, per test thread, so that
//! [`super::GpuClient`] can be exercised without a GPU: contexts, device
//! memory (host vectors), modules with a fixed parameter layout, launches.

#![allow(clippy::missing_safety_doc)]

mod dark;
mod memory;
mod pool;
mod vmm;

use memory::*;

use super::driver::{
    Api, CUcontext, CUdevice, CUdeviceptr, CUevent, CUfunction, CUmodule, CUresult, CUstream,
    CudaDriver, CudaMemcpy2D, CU_MEMORYTYPE_HOST,
};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::Arc;

use uapi::cuda::result::{INVALID_CONTEXT, INVALID_HANDLE, INVALID_VALUE};

/// What the fake driver saw and holds, for the current test thread.
#[derive(Default)]
pub struct Fake {
    next: usize,
    /// Pools, their attributes, pool allocations, stream-ordered frees.
    pub pools: HashSet<usize>,
    pub pool_attrs: HashMap<c_int, u64>,
    pub pooled: HashSet<u64>,
    pub freed_async: Vec<u64>,
    pub trimmed_to: Option<usize>,
    pub pool_destroyed_while_used: bool,
    pub live_ctx: HashSet<usize>,
    pub current: usize,
    pub set_current_calls: usize,
    /// base → (context, bytes)
    pub memory: HashMap<u64, (usize, Vec<u8>)>,
    next_dptr: u64,
    pub modules: HashSet<usize>,
    pub streams: HashSet<usize>,
    pub events: HashSet<usize>,
    /// `cuStreamSynchronize` and `cuCtxSynchronize` calls.
    pub stream_syncs: usize,
    pub ctx_syncs: usize,
    pub registered: HashSet<usize>,
    /// Parameters, grid+block, stream of the last launch.
    pub last_launch: Option<(Vec<u8>, [u32; 6], usize)>,
    /// Functions handed out by `module_get_function`.
    pub functions: HashSet<usize>,
    /// Attributes set, by (function, attribute).
    pub func_attributes: HashMap<(usize, c_int), c_int>,
    /// Limits set.
    pub limits: HashMap<c_uint, usize>,
    /// Reservations, allocation handles, mappings.
    pub vmm: vmm::FakeVmm,
}

thread_local! {
    static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
}

/// Runs `f` on this thread's fake state.
pub fn with<R>(f: impl FnOnce(&mut Fake) -> R) -> R {
    FAKE.with(|s| f(&mut s.borrow_mut()))
}

fn new_ptr(s: &mut Fake) -> usize {
    s.next += 0x10;
    0x1000 + s.next
}

fn need_ctx(s: &Fake) -> Result<(), CUresult> {
    if s.current != 0 && s.live_ctx.contains(&s.current) {
        Ok(())
    } else {
        Err(INVALID_CONTEXT)
    }
}

/// The bytes `[dptr, dptr + n)` of device memory.
fn dev<R>(dptr: u64, n: usize, f: impl FnOnce(&mut [u8]) -> R) -> Result<R, CUresult> {
    with(|s| {
        need_ctx(s)?;
        for (&base, (_, bytes)) in s.memory.iter_mut() {
            if dptr >= base && dptr - base + n as u64 <= bytes.len() as u64 {
                let off = (dptr - base) as usize;
                return Ok(f(&mut bytes[off..off + n]));
            }
        }
        Err(INVALID_VALUE)
    })
}

fn rc(r: Result<(), CUresult>) -> CUresult {
    r.err().unwrap_or(0)
}

unsafe extern "C" fn init(_: c_uint) -> CUresult {
    0
}
unsafe extern "C" fn driver_get_version(v: *mut c_int) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *v = 13000;
        0
    }
}
unsafe extern "C" fn device_get(d: *mut CUdevice, o: c_int) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *d = o;
        0
    }
}
/// Attributes: the number times 10, but VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED
/// (102) is 1 as on a real GPU.
unsafe extern "C" fn device_get_attribute(v: *mut c_int, a: c_int, _: CUdevice) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *v = if a == 102 { 1 } else { a * 10 };
        0
    }
}
unsafe extern "C" fn device_get_name(n: *mut c_char, len: c_int, _: CUdevice) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        let name = b"Fake GPU\0";
        for (i, &b) in name.iter().enumerate().take(len as usize) {
            *n.add(i) = b as c_char;
        }
        0
    }
}
unsafe extern "C" fn device_get_uuid(u: *mut [u8; 16], _: CUdevice) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *u = [7; 16];
        0
    }
}
unsafe extern "C" fn device_total_mem(b: *mut usize, _: CUdevice) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *b = 1 << 30;
        0
    }
}
unsafe extern "C" fn ctx_create_v2(c: *mut CUcontext, _: c_uint, _: CUdevice) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            let p = new_ptr(s);
            s.live_ctx.insert(p);
            // Pushed: becomes current.
            s.current = p;
            *c = p as CUcontext;
        });
        0
    }
}
unsafe extern "C" fn ctx_pop_current(c: *mut CUcontext) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            *c = s.current as CUcontext;
            s.current = 0;
        });
        0
    }
}
unsafe extern "C" fn ctx_destroy(c: CUcontext) -> CUresult {
    with(|s| {
        let c = c as usize;
        if !s.live_ctx.remove(&c) {
            return INVALID_CONTEXT;
        }
        // Pool memory belongs to its pool, not to the context (as in CUDA).
        let pooled = &s.pooled;
        s.memory
            .retain(|b, (ctx, _)| *ctx != c || pooled.contains(b));
        if s.current == c {
            s.current = 0;
        }
        0
    })
}
unsafe extern "C" fn ctx_set_current(c: CUcontext) -> CUresult {
    with(|s| {
        s.set_current_calls += 1;
        if !s.live_ctx.contains(&(c as usize)) {
            return INVALID_CONTEXT;
        }
        s.current = c as usize;
        0
    })
}
unsafe extern "C" fn ctx_synchronize() -> CUresult {
    with(|s| {
        s.ctx_syncs += 1;
        rc(need_ctx(s))
    })
}
unsafe extern "C" fn module_load_data(m: *mut CUmodule, _: *const c_void) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            if let Err(e) = need_ctx(s) {
                return e;
            }
            let p = new_ptr(s);
            s.modules.insert(p);
            *m = p as CUmodule;
            0
        })
    }
}
unsafe extern "C" fn module_unload(m: CUmodule) -> CUresult {
    with(|s| {
        if s.modules.remove(&(m as usize)) {
            0
        } else {
            INVALID_HANDLE
        }
    })
}
unsafe extern "C" fn module_get_function(
    f: *mut CUfunction,
    m: CUmodule,
    name: *const c_char,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        let name = std::ffi::CStr::from_ptr(name);
        with(|s| {
            if !s.modules.contains(&(m as usize)) {
                return INVALID_HANDLE;
            }
            if name.to_bytes() != b"kern" {
                return 500;
            }
            *f = (m as usize + 1) as CUfunction;
            s.functions.insert(m as usize + 1);
            0
        })
    }
}
unsafe extern "C" fn module_get_global(
    d: *mut CUdeviceptr,
    n: *mut usize,
    _: CUmodule,
    _: *const c_char,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        mem_alloc(d, 64);
        *n = 64;
        0
    }
}
/// Layout of every fake kernel: a pointer and an int.
unsafe extern "C" fn func_get_param_info(
    _: CUfunction,
    i: usize,
    off: *mut usize,
    size: *mut usize,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        match i {
            0 => (*off, *size) = (0, 8),
            1 => (*off, *size) = (8, 4),
            _ => return INVALID_VALUE,
        }
        0
    }
}
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn launch_kernel(
    _: CUfunction,
    gx: c_uint,
    gy: c_uint,
    gz: c_uint,
    bx: c_uint,
    by: c_uint,
    bz: c_uint,
    _: c_uint,
    s: CUstream,
    params: *mut *mut c_void,
    extra: *mut *mut c_void,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        if !params.is_null() {
            return INVALID_VALUE;
        }
        let mut bytes = Vec::new();
        if !extra.is_null() {
            // {BUFFER_POINTER, p, BUFFER_SIZE, &size, END}
            if *extra as usize != 1 || *extra.add(2) as usize != 2 || !(*extra.add(4)).is_null() {
                return INVALID_VALUE;
            }
            let size = *(*extra.add(3)).cast::<usize>();
            let buf = *extra.add(1);
            if !(buf as usize).is_multiple_of(8) {
                return INVALID_VALUE;
            }
            bytes = std::slice::from_raw_parts(buf.cast::<u8>(), size).to_vec();
        }
        with(|st| st.last_launch = Some((bytes, [gx, gy, gz, bx, by, bz], s as usize)));
        0
    }
}
unsafe extern "C" fn stream_create(st: *mut CUstream, _: c_uint, _: c_int) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            let p = new_ptr(s);
            s.streams.insert(p);
            *st = p as CUstream;
        });
        0
    }
}
unsafe extern "C" fn stream_destroy(st: CUstream) -> CUresult {
    with(|s| {
        if s.streams.remove(&(st as usize)) {
            0
        } else {
            INVALID_HANDLE
        }
    })
}
unsafe extern "C" fn stream_op(_: CUstream) -> CUresult {
    0
}
unsafe extern "C" fn stream_synchronize(_: CUstream) -> CUresult {
    with(|s| s.stream_syncs += 1);
    0
}
unsafe extern "C" fn stream_wait_event(_: CUstream, _: CUevent, _: c_uint) -> CUresult {
    0
}
unsafe extern "C" fn event_create(e: *mut CUevent, _: c_uint) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            let p = new_ptr(s);
            s.events.insert(p);
            *e = p as CUevent;
        });
        0
    }
}
unsafe extern "C" fn event_destroy(e: CUevent) -> CUresult {
    with(|s| {
        if s.events.remove(&(e as usize)) {
            0
        } else {
            INVALID_HANDLE
        }
    })
}
unsafe extern "C" fn event_record(e: CUevent, _: CUstream) -> CUresult {
    with(|s| {
        if s.events.contains(&(e as usize)) {
            0
        } else {
            INVALID_HANDLE
        }
    })
}
unsafe extern "C" fn event_op(e: CUevent) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe { event_record(e, std::ptr::null_mut()) }
}
unsafe extern "C" fn event_elapsed_time(ms: *mut f32, _: CUevent, _: CUevent) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *ms = 1.5;
        0
    }
}
unsafe extern "C" fn get_error_name(_: CUresult, p: *mut *const c_char) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        *p = c"CUDA_ERROR_FAKE".as_ptr();
        0
    }
}
unsafe extern "C" fn mem_host_register(p: *mut c_void, _: usize, _: c_uint) -> CUresult {
    with(|s| s.registered.insert(p as usize));
    0
}
unsafe extern "C" fn mem_host_unregister(p: *mut c_void) -> CUresult {
    with(|s| {
        if s.registered.remove(&(p as usize)) {
            0
        } else {
            INVALID_VALUE
        }
    })
}

/// Function attributes: the attribute number times 10, or what was set.
unsafe extern "C" fn func_get_attribute(v: *mut c_int, a: c_int, f: CUfunction) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            if !s.functions.contains(&(f as usize)) {
                return INVALID_HANDLE;
            }
            *v = s
                .func_attributes
                .get(&(f as usize, a))
                .copied()
                .unwrap_or(a * 10);
            0
        })
    }
}
unsafe extern "C" fn func_set_attribute(f: CUfunction, a: c_int, v: c_int) -> CUresult {
    with(|s| {
        if !s.functions.contains(&(f as usize)) {
            return INVALID_HANDLE;
        }
        s.func_attributes.insert((f as usize, a), v);
        0
    })
}
/// Occupancy: 2048 threads per multiprocessor, nothing else limits.
unsafe extern "C" fn occupancy_max_active_blocks(
    n: *mut c_int,
    f: CUfunction,
    block: c_int,
    _smem: usize,
    _flags: c_uint,
) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            if !s.functions.contains(&(f as usize)) || block <= 0 {
                return INVALID_VALUE;
            }
            *n = 2048 / block;
            0
        })
    }
}
unsafe extern "C" fn ctx_get_limit(v: *mut usize, l: c_uint) -> CUresult {
    // SAFETY: the caller passes what the driver API requires of this call.
    unsafe {
        with(|s| {
            if let Err(e) = need_ctx(s) {
                return e;
            }
            *v = s.limits.get(&l).copied().unwrap_or(1024);
            0
        })
    }
}
unsafe extern "C" fn ctx_set_limit(l: c_uint, v: usize) -> CUresult {
    with(|s| {
        if let Err(e) = need_ctx(s) {
            return e;
        }
        s.limits.insert(l, v);
        0
    })
}

/// A driver whose entry points are this module's fakes.
pub fn driver() -> Arc<CudaDriver> {
    CudaDriver::from_api(Api {
        init,
        driver_get_version,
        device_get,
        device_get_attribute,
        device_get_name,
        device_get_uuid,
        device_total_mem,
        ctx_destroy,
        ctx_set_current,
        ctx_synchronize,
        mem_alloc,
        mem_free,
        mem_get_info,
        mem_get_address_range,
        memcpy_htod,
        memcpy_htod_async,
        memcpy_dtoh,
        memcpy_dtoh_async,
        memcpy_dtod,
        memcpy_dtod_async,
        memset_d8,
        memset_d16,
        memset_d32,
        memset_d8_async,
        memset_d16_async,
        memset_d32_async,
        memset_d2d8,
        memset_d2d16,
        memset_d2d32,
        memset_d2d8_async,
        memset_d2d16_async,
        memset_d2d32_async,
        memcpy_2d,
        memcpy_2d_async,
        module_load_data,
        module_unload,
        module_get_function,
        module_get_global,
        launch_kernel,
        stream_create_with_priority: stream_create,
        stream_destroy,
        stream_synchronize,
        stream_query: stream_op,
        stream_wait_event,
        event_create,
        event_destroy,
        event_record,
        event_query: event_op,
        event_synchronize: event_op,
        event_elapsed_time,
        get_error_name,
        device_get_pci_bus_id: None,
        ctx_create_v2: Some(ctx_create_v2),
        ctx_create_v4: None,
        ctx_pop_current: Some(ctx_pop_current),
        primary_ctx_retain: None,
        primary_ctx_release: None,
        primary_ctx_reset: None,
        func_get_param_info: Some(func_get_param_info),
        mem_host_register: Some(mem_host_register),
        mem_host_unregister: Some(mem_host_unregister),
        func_get_attribute: Some(func_get_attribute),
        func_set_attribute: Some(func_set_attribute),
        occupancy_max_active_blocks: Some(occupancy_max_active_blocks),
        occupancy_available_dynamic_smem: None,
        occupancy_max_active_clusters: None,
        occupancy_max_potential_cluster_size: None,
        ctx_get_limit: Some(ctx_get_limit),
        ctx_set_limit: Some(ctx_set_limit),
        tensor_map_encode_tiled: None,
        tensor_map_replace_address: None,
        launch_kernel_ex: None,
        mem_pool_create: Some(pool::create),
        mem_pool_destroy: Some(pool::destroy),
        mem_alloc_from_pool_async: Some(pool::alloc),
        mem_free_async: Some(pool::free),
        mem_pool_get_attribute: Some(pool::get_attribute),
        mem_pool_set_attribute: Some(pool::set_attribute),
        mem_pool_trim_to: Some(pool::trim_to),
        get_export_table: Some(dark::get_export_table),
        // No graphs in the fake: the executor answers NOT_SUPPORTED.
        stream_begin_capture: None,
        stream_end_capture: None,
        stream_is_capturing: None,
        stream_get_capture_info: None,
        stream_update_capture_deps: None,
        graph_create: None,
        graph_destroy: None,
        graph_clone: None,
        graph_get_nodes: None,
        graph_node_get_type: None,
        graph_add_kernel_node: None,
        graph_add_memset_node: None,
        graph_add_memcpy_node: None,
        graph_add_empty_node: None,
        graph_add_dependencies: None,
        graph_kernel_node_get_params: None,
        graph_kernel_node_set_params: None,
        graph_exec_kernel_node_set_params: None,
        graph_instantiate: None,
        graph_exec_destroy: None,
        graph_launch: None,
        graph_upload: None,
        graph_exec_update: None,
        graph_get_edges: None,
        graph_node_find_in_clone: None,
        graph_destroy_node: None,
        graph_add_event_record_node: None,
        graph_add_event_wait_node: None,
        graph_event_record_node_get_event: None,
        graph_event_wait_node_get_event: None,
        graph_event_record_node_set_event: None,
        graph_event_wait_node_set_event: None,
        graph_exec_event_record_node_set_event: None,
        graph_exec_event_wait_node_set_event: None,
        mem_address_reserve: Some(vmm::reserve),
        mem_address_free: Some(vmm::free),
        mem_create: Some(vmm::create),
        mem_release: Some(vmm::release),
        mem_map: Some(vmm::map),
        mem_unmap: Some(vmm::unmap),
        mem_set_access: Some(vmm::set_access),
        mem_get_access: Some(vmm::get_access),
        mem_retain_allocation_handle: Some(vmm::retain),
        mem_get_allocation_granularity: Some(vmm::granularity),
    })
}
