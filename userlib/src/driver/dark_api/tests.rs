//! The tables as cudart sees them: through `cuGetExportTable`, slot by slot.

use std::{
    ffi::{c_int, c_uint, c_void},
    sync::Mutex,
};

use uapi::cuda::{op, result};

use super::{get_export_table, integrity, tables, tables::id};
use crate::driver::{context, testing};

type Slots = *const *const c_void;

fn table(id: &[u8; 16]) -> Slots {
    let mut t: *const c_void = std::ptr::null();
    // SAFETY: valid out-pointer and id.
    unsafe { get_export_table(&mut t, id.as_ptr().cast()) }.unwrap();
    assert!(!t.is_null());
    t.cast()
}

/// Slot `i` of `t` as a function of type `F`.
///
/// # Safety
///
/// `t` is a served table with slot `i`, and `F` is that slot's function
/// pointer type.
unsafe fn slot<F: Copy>(t: Slots, i: usize) -> F {
    // SAFETY: the caller's contract: `t` holds slot `i`.
    let p = unsafe { *t.add(i) };
    assert!(!p.is_null(), "slot {i} is NULL");
    // SAFETY: the caller's contract: `F` is the slot's (pointer-sized)
    // function pointer type; checked non-NULL above.
    unsafe { std::mem::transmute_copy(&p) }
}

#[test]
fn sizes_and_null_slots_are_nvidias() {
    // (id, slot 0 as R580 reports it, slots NULL in R580's table)
    let sized: [(&[u8; 16], usize, &[usize]); 12] = [
        (&id::CUDART_INTERFACE, 0x68, &[10]),
        (&id::TOOLS_TLS, 0x18, &[]),
        (&id::TOOLS_RUNTIME_CALLBACK_HOOKS, 0x38, &[]),
        (&id::CTX_CREATE_BYPASS, 0x10, &[]),
        (&id::DEVICE_EXTENDED_RT, 0xf8, &[30]),
        (&id::INTEGRITY_CHECK, 0x18, &[]),
        (&id::CONTEXT_CHECKS, 0x78, &[]),
        (&id::HYBRID_CUDART, 0x18, &[]),
        (&id::CONTEXT_IDENTITY, 0x2e8, &[]),
        (&id::NVJET_SERVICES, 0x88, &[]),
        (&id::BOOTSTRAP, 0x18, &[]),
        (&id::RUNTIME_SETUP, 0x110, &[]),
    ];
    for (i, size, nulls) in sized {
        let t = table(i);
        // SAFETY: slot 0 of a served table is its size.
        let n = unsafe { *t } as usize;
        assert_eq!(n, size, "{}", super::uuid_text(i));
        for s in 1..n / 8 {
            // SAFETY: within the table's size.
            let p = unsafe { *t.add(s) };
            assert_eq!(p.is_null(), nulls.contains(&s), "slot {s} of {size:#x}");
        }
    }
    // Context-local storage: functions from slot 0, then NULL.
    let t = table(&id::CONTEXT_LOCAL_STORAGE_INTERFACE_V0301);
    let s = tables::CONTEXT_LOCAL_STORAGE.slots();
    assert_eq!(t, s.as_ptr());
    assert!(s[..3]
        .iter()
        .all(|p| !p.is_null() && (*p as usize) > 0x10000));
    assert!(s[3].is_null());
}

#[test]
fn refused_ids_give_null() {
    let unknown = [0x11u8; 16];
    for (i, e) in [
        (&unknown, result::INVALID_VALUE),
        (&id::HEAP_ACCESS, result::INVALID_VALUE),
    ] {
        let mut t: *const c_void = 8 as *const c_void;
        // SAFETY: valid out-pointer and id.
        let r = unsafe { get_export_table(&mut t, i.as_ptr().cast()) };
        assert_eq!((r, t), (Err(e), std::ptr::null()));
    }
    let mut t: *const c_void = std::ptr::null();
    // SAFETY: NULL arguments are refused before use.
    unsafe {
        assert_eq!(
            get_export_table(&mut t, std::ptr::null()),
            Err(result::INVALID_VALUE)
        );
        assert_eq!(
            get_export_table(std::ptr::null_mut(), id::CUDART_INTERFACE.as_ptr().cast()),
            Err(result::INVALID_VALUE)
        );
    }
}

#[test]
fn unknown_slots_are_not_supported_and_hooks_return_zero() {
    // SAFETY: the stubs take no arguments; the hooks are `fn() -> usize`.
    unsafe {
        let f: unsafe extern "C" fn() -> u32 = slot(table(&id::CUDART_INTERFACE), 3);
        assert_eq!(f(), result::NOT_SUPPORTED);
        let f: unsafe extern "C" fn() -> u32 = slot(table(&id::CONTEXT_CHECKS), 14);
        assert_eq!(f(), result::NOT_SUPPORTED);
        let f: unsafe extern "C" fn() -> usize = slot(table(&id::TOOLS_RUNTIME_CALLBACK_HOOKS), 4);
        assert_eq!(f(), 0);
        let f: unsafe extern "C" fn() -> u32 = slot(table(&id::CUDART_INTERFACE), 12);
        assert_eq!(f(), result::SUCCESS);
    }
}

#[test]
fn tools_buffers() {
    let t = table(&id::TOOLS_RUNTIME_CALLBACK_HOOKS);
    let mut got = Vec::new();
    for s in [2, 6] {
        let (mut p, mut n) = (std::ptr::null_mut(), 0usize);
        // SAFETY: `(void**, size_t*)`, valid out-pointers.
        unsafe {
            let f: unsafe extern "C" fn(*mut *mut c_void, *mut usize) = slot(t, s);
            f(&mut p, &mut n);
        }
        assert!(!p.is_null());
        got.push((p, n));
    }
    assert_eq!((got[0].1, got[1].1), (1024, 14));
    assert_ne!(got[0].0, got[1].0);
}

#[test]
fn context_checks() {
    let t = table(&id::CONTEXT_CHECKS);
    let (mut r1, mut r2) = (7u32, 0xabc as *const c_void);
    // SAFETY: `(ctx, u32*, void**) -> CUresult` and `() -> u32`.
    unsafe {
        let f: unsafe extern "C" fn(*mut c_void, *mut u32, *mut *const c_void) -> u32 = slot(t, 2);
        assert_eq!(f(std::ptr::null_mut(), &mut r1, &mut r2), 0);
        let g: unsafe extern "C" fn() -> u32 = slot(t, 3);
        assert_eq!(g(), 0);
    }
    assert_eq!((r1, r2), (0, 0xabc as *const c_void));
}

type AttrExt = unsafe extern "C" fn(c_int, c_uint, c_int, *mut [usize; 2]) -> u32;

#[test]
fn device_attribute_ext() {
    let _s = testing::session(1 << 20);
    let t = table(&id::DEVICE_EXTENDED_RT);
    let mut out = [9usize, 9];
    // SAFETY: the slot's signature, valid out-pointers.
    unsafe {
        let f: AttrExt = slot(t, 5);
        // The fake's device sits at PCI device 5 (attribute 34).
        assert_eq!(f(0, 34, 0, &mut out), 0);
        assert_eq!(out, [1, 5]);
        assert_eq!(f(0, 0, 0, &mut out), result::INVALID_VALUE);
        assert_eq!(out, [0, 0]);
        out = [9, 9];
        assert_eq!(f(1, 34, 0, &mut out), result::INVALID_DEVICE);
        assert_eq!(out, [9, 9]);
        assert_eq!(f(0, 34, 1, &mut out), result::NOT_SUPPORTED);
        let g: unsafe extern "C" fn(*mut u8, c_int) -> u32 = slot(t, 13);
        let mut b = 9u8;
        assert_eq!(g(&mut b, 0), 0);
        assert_eq!(b, 0);
    }
}

#[test]
fn cudart_fn2_gives_the_primary_context_inactive() {
    let sess = testing::session(1 << 20);
    let t = table(&id::CUDART_INTERFACE);
    // SAFETY: `(CUcontext*, CUdevice) -> CUresult`; driver calls with valid
    // out-pointers.
    unsafe {
        let f: unsafe extern "C" fn(*mut *mut c_void, c_int) -> u32 = slot(t, 2);
        let mut dark = std::ptr::null_mut();
        assert_eq!(f(&mut dark, 0), 0);
        assert!(!dark.is_null());
        assert_eq!(f(&mut dark, 1), result::INVALID_DEVICE);
        let (mut flags, mut active) = (9, 9);
        context::primary_ctx_get_state(0, (&mut flags).into(), (&mut active).into()).unwrap();
        assert_eq!((flags, active), (0, 0));
        assert!(
            sess.script.lock().unwrap().sent.is_empty(),
            "fn2 sent commands"
        );
        let mut retained: crate::driver::abi::CUcontext = std::ptr::null_mut();
        context::primary_ctx_retain((&mut retained).into(), 0).unwrap();
        assert_eq!(retained, dark);
        context::primary_ctx_get_state(0, (&mut flags).into(), (&mut active).into()).unwrap();
        assert_eq!(active, 1);
    }
}

#[test]
fn integrity_check_hashes_our_own_values() {
    let _s = testing::session(1 << 20);
    let t = table(&id::INTEGRITY_CHECK);
    let mut out = [0u64; 2];
    // SAFETY: `(u32, u64, [u64; 2]*) -> CUresult`, valid out-pointer.
    let r = unsafe {
        let f: unsafe extern "C" fn(c_uint, u64, *mut [u64; 2]) -> u32 = slot(t, 1);
        f(13002, 0x682b9cee, &mut out)
    };
    assert_eq!(r, 0);
    let inputs = integrity::Inputs {
        driver_version: 12080, // the fake's
        version: 13002,
        process: std::process::id(),
        // SAFETY: no preconditions.
        thread: unsafe { libc::pthread_self() } as u32,
        cudart_table: table(&id::CUDART_INTERFACE) as u64,
        integrity_table: t as u64,
        // SAFETY: within the table.
        function: unsafe { *t.add(1) } as u64,
        unix_seconds: 0x682b9cee,
    };
    let device = integrity::DeviceRecord {
        uuid: [0; 16],
        pci_domain: 0,
        pci_bus: 0,
        pci_device: 5,
    };
    assert_eq!(out, integrity::hash(&inputs, &[device]));
}

mod storage {
    use super::*;

    type Put = unsafe extern "C" fn(
        *mut c_void,
        *mut c_void,
        *mut c_void,
        Option<super::super::context_storage::Destructor>,
    ) -> u32;
    type Delete = unsafe extern "C" fn(*mut c_void, *mut c_void) -> u32;
    type Get = unsafe extern "C" fn(*mut *mut c_void, *mut c_void, *mut c_void) -> u32;

    fn fns() -> (Put, Delete, Get) {
        let t = table(&id::CONTEXT_LOCAL_STORAGE_INTERFACE_V0301);
        // SAFETY: the interface's signatures.
        unsafe { (slot(t, 0), slot(t, 1), slot(t, 2)) }
    }

    const NULL: *mut c_void = std::ptr::null_mut();

    fn p(n: usize) -> *mut c_void {
        n as *mut c_void
    }

    /// One destructor call: (ctx, key, value, whether the state lock was
    /// free, what `cuCtxGetCurrent` returned from inside it).
    type Ran = (usize, usize, usize, bool, u32);

    static RAN: Mutex<Vec<Ran>> = Mutex::new(Vec::new());

    /// A destructor that calls back into the driver, as cudart's does.
    unsafe extern "C" fn destructor(ctx: *mut c_void, key: *mut c_void, value: *mut c_void) {
        let free = testing::state_lock_free();
        let mut cur = NULL;
        // Only re-enter when that cannot deadlock the test itself.
        let r = if free {
            // SAFETY: valid out-pointer.
            unsafe { crate::exports::cuCtxGetCurrent(&mut cur) }
        } else {
            u32::MAX
        };
        RAN.lock()
            .unwrap()
            .push((ctx as usize, key as usize, value as usize, free, r));
    }

    fn ran() -> Vec<Ran> {
        std::mem::take(&mut *RAN.lock().unwrap())
    }

    unsafe fn current_primary() -> *mut c_void {
        let mut c = NULL;
        context::primary_ctx_retain((&mut c).into(), 0).unwrap();
        context::ctx_set_current(c).unwrap();
        c
    }

    #[test]
    fn put_get_delete() {
        let _s = testing::session(1 << 20);
        let (put, delete, get) = fns();
        // SAFETY: the interface's calls with valid out-pointers.
        unsafe {
            let mut v = NULL;
            assert_eq!(put(NULL, p(1), p(2), None), result::INVALID_CONTEXT);
            let c = current_primary();
            assert_eq!(get(&mut v, NULL, p(0x11)), result::INVALID_HANDLE);
            assert_eq!(put(NULL, p(0x11), p(0x22), None), 0);
            assert_eq!(get(&mut v, NULL, p(0x11)), 0);
            assert_eq!(v, p(0x22));
            v = NULL;
            assert_eq!(get(&mut v, c, p(0x11)), 0);
            assert_eq!(v, p(0x22));
            assert_eq!(get(NULL.cast(), c, p(0x11)), result::INVALID_VALUE);
            assert_eq!(get(&mut v, p(0x999), p(0x11)), result::INVALID_CONTEXT);
            assert_eq!(delete(NULL, p(0x11)), 0);
            assert_eq!(get(&mut v, NULL, p(0x11)), result::INVALID_HANDLE);
            assert_eq!(delete(NULL, p(0x11)), result::INVALID_HANDLE);
        }
    }

    #[test]
    fn destructors_run_unlocked_when_the_context_dies() {
        let _s = testing::session(1 << 20);
        let (put, delete, get) = fns();
        ran();
        // SAFETY: as above; the destructor is a valid callback.
        unsafe {
            let c = current_primary() as usize;
            let mut v = NULL;
            // delete forgets without the destructor.
            assert_eq!(put(NULL, p(1), p(10), Some(destructor)), 0);
            assert_eq!(delete(NULL, p(1)), 0);
            assert!(ran().is_empty());

            // The last release deactivates: destructors run, entries go.
            assert_eq!(put(NULL, p(2), p(20), Some(destructor)), 0);
            let mut again = NULL;
            context::primary_ctx_retain((&mut again).into(), 0).unwrap();
            context::primary_ctx_release(0).unwrap();
            assert!(ran().is_empty(), "a release that leaves it active");
            context::primary_ctx_release(0).unwrap();
            assert_eq!(ran(), [(c, 2, 20, true, 0)]);
            assert_eq!(get(&mut v, p(c), p(2)), result::INVALID_HANDLE);

            // Reset.
            current_primary();
            assert_eq!(put(NULL, p(3), p(30), Some(destructor)), 0);
            assert_eq!(put(NULL, p(4), p(40), None), 0);
            context::primary_ctx_reset(0).unwrap();
            assert_eq!(ran(), [(c, 3, 30, true, 0)]);

            // cuCtxDestroy.
            let mut r = vec![0u8; 8];
            r.extend_from_slice(&77u64.to_le_bytes());
            _s.respond(r);
            let mut own = NULL;
            context::ctx_create((&mut own).into(), 0, 0).unwrap();
            assert_eq!(put(NULL, p(5), p(50), Some(destructor)), 0);
            context::ctx_destroy(own).unwrap();
            assert_eq!(ran(), [(own as usize, 5, 50, true, 0)]);
        }
        let ops: Vec<u16> = _s.script.lock().unwrap().sent.iter().map(|s| s.0).collect();
        assert!(ops.contains(&op::PRIMARY_CTX_RESET) && ops.contains(&op::CTX_DESTROY));
    }
}

#[test]
fn tools_tls_slot_1_reports_no_tool() {
    let t = table(&id::TOOLS_TLS);
    // SAFETY: slot 1 takes no arguments we read.
    let f: unsafe extern "C" fn() -> usize = unsafe { slot(t, 1) };
    // SAFETY: as above.
    assert_eq!(unsafe { f() }, 0, "TOOLS_TLS[1]");
}

#[test]
fn context_identity_and_tools_tls_answer_for_the_current_context() {
    let _s = crate::driver::testing::session(1 << 20);
    let c = {
        let mut s = crate::driver::lock();
        let c = s.new_handle();
        s.objects
            .insert(c, crate::driver::Obj::Ctx { wire: 0, flags: 0 });
        c
    };
    crate::driver::with_stack(|st| st.push(c));
    let tls = table(&id::TOOLS_TLS);
    // SAFETY: slot 2 takes a CUcontext out-pointer.
    let current: unsafe extern "C" fn(*mut *mut std::ffi::c_void) -> u32 = unsafe { slot(tls, 2) };
    let mut got = std::ptr::null_mut();
    // SAFETY: a local out-pointer.
    assert_eq!(unsafe { current(&mut got) }, 0);
    assert_eq!(got as u64, c);
    let t = table(&id::CONTEXT_IDENTITY);
    // SAFETY: slot 0 is the size.
    assert_eq!(unsafe { *t } as usize, 0x2e8);
    // SAFETY: slot 4 takes (ctx, u64*).
    let ctx_id: unsafe extern "C" fn(*mut std::ffi::c_void, *mut u64) -> u32 =
        unsafe { slot(t, 4) };
    let (mut a, mut b) = (0u64, 0u64);
    // SAFETY: local out-pointers.
    assert_eq!(unsafe { ctx_id(std::ptr::null_mut(), &mut a) }, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { ctx_id(c as *mut std::ffi::c_void, &mut b) }, 0);
    assert_eq!((a, b), (c, c));
    assert_eq!(
        // SAFETY: as above.
        unsafe { ctx_id(0x1234 as *mut std::ffi::c_void, &mut a) },
        result::INVALID_CONTEXT
    );
}

#[test]
fn context_identity_stream_slots_are_where_the_host_asks_nvidia() {
    use uapi::cuda::export_table::{CONTEXT_IDENTITY_STREAM_OBJECT, CONTEXT_IDENTITY_STREAM_VALUE};
    let t = &tables::CONTEXT_IDENTITY_TABLE;
    assert_eq!(
        t.slot(CONTEXT_IDENTITY_STREAM_OBJECT),
        super::stream_object::stream_object as *const c_void
    );
    assert_eq!(
        t.slot(CONTEXT_IDENTITY_STREAM_VALUE),
        super::stream_object::stream_value as *const c_void
    );
}
