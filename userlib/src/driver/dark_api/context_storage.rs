//! CONTEXT_LOCAL_STORAGE_INTERFACE_V0301: cudart keeps its per-context state
//! here, keyed by (context, key), with a destructor to run when the context
//! dies. Behaviour measured on R580: a NULL context means the current one;
//! `get` and `delete` of a missing key are INVALID_HANDLE; `delete` does not
//! run the destructor; `cuCtxDestroy`, the last `cuDevicePrimaryCtxRelease`
//! and `cuDevicePrimaryCtxReset` run every destructor of the context and
//! forget its entries.
//!
//! Destructors call back into cudart, which calls this driver, so they run
//! with the process-wide `State` lock released: [`Doomed::run`] takes the
//! entries out of the state first.

use std::{collections::BTreeMap, ffi::c_void};

use uapi::cuda::result;

use crate::{
    driver::{current_ctx, with_state, CuResult, Obj, State},
    exports::guard,
};

/// `void (*)(CUcontext, void* key, void* value)`.
pub(crate) type Destructor = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut c_void);

#[derive(Debug, Clone, Copy)]
struct Entry {
    value: usize,
    destructor: Option<Destructor>,
}

/// All contexts' entries, keyed by (guest context handle, key).
#[derive(Debug, Default)]
pub(crate) struct Storage {
    entries: BTreeMap<(u64, usize), Entry>,
}

impl Storage {
    pub(crate) const fn new() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }

    fn put(&mut self, ctx: u64, key: usize, value: usize, destructor: Option<Destructor>) {
        self.entries.insert((ctx, key), Entry { value, destructor });
    }

    fn get(&self, ctx: u64, key: usize) -> CuResult<usize> {
        self.entries
            .get(&(ctx, key))
            .map(|e| e.value)
            .ok_or(result::INVALID_HANDLE)
    }

    fn delete(&mut self, ctx: u64, key: usize) -> CuResult {
        self.entries
            .remove(&(ctx, key))
            .map(|_| ())
            .ok_or(result::INVALID_HANDLE)
    }

    /// Removes the entries of `ctx`, which is about to be destroyed or
    /// deactivated; their destructors are for the caller to run, unlocked.
    #[must_use = "the destructors must be run, with the lock released"]
    pub(crate) fn take_context(&mut self, ctx: u64) -> Doomed {
        let keys: Vec<_> = self
            .entries
            .range((ctx, 0)..=(ctx, usize::MAX))
            .map(|(k, _)| *k)
            .collect();
        let entries = keys
            .into_iter()
            .filter_map(|k| self.entries.remove(&k).map(|e| (k.1, e)))
            .collect();
        Doomed { ctx, entries }
    }
}

/// Entries taken out of a dying context, whose destructors are still due.
#[derive(Debug, Default)]
pub(crate) struct Doomed {
    ctx: u64,
    entries: Vec<(usize, Entry)>,
}

impl Doomed {
    /// Runs the destructors. Call it with the `State` lock released: they
    /// call back into the driver.
    pub(crate) fn run(self) {
        for (key, e) in self.entries {
            if let Some(d) = e.destructor {
                tracing::debug!(
                    "context-local storage: destructor of ctx {:#x} key {key:#x}",
                    self.ctx
                );
                // SAFETY: cudart's callback with the arguments it registered
                // it for; it may call into the driver, and no lock is held.
                unsafe {
                    d(
                        self.ctx as *mut c_void,
                        key as *mut c_void,
                        e.value as *mut c_void,
                    )
                };
            }
        }
    }
}

/// The guest handle of `ctx`, or of the current context when it is NULL.
fn context(s: &State, ctx: *mut c_void) -> CuResult<u64> {
    let h = if ctx.is_null() {
        current_ctx().ok_or(result::INVALID_CONTEXT)?
    } else {
        ctx as u64
    };
    match s.objects.get(&h) {
        Some(Obj::Ctx { .. }) => Ok(h),
        _ => Err(result::INVALID_CONTEXT),
    }
}

/// `[0] put(CUcontext, void* key, void* value, destructor)`.
pub(super) unsafe extern "C" fn put(
    ctx: *mut c_void,
    key: *mut c_void,
    value: *mut c_void,
    destructor: Option<Destructor>,
) -> u32 {
    guard("CONTEXT_LOCAL_STORAGE[0]", || {
        tracing::debug!("CONTEXT_LOCAL_STORAGE[0] put(ctx {ctx:?}, key {key:?}, value {value:?})");
        with_state(|s| {
            let c = context(s, ctx)?;
            s.cls.put(c, key as usize, value as usize, destructor);
            Ok(())
        })
    })
}

/// `[1] delete(CUcontext, void* key)`; the destructor does not run.
pub(super) unsafe extern "C" fn delete(ctx: *mut c_void, key: *mut c_void) -> u32 {
    guard("CONTEXT_LOCAL_STORAGE[1]", || {
        tracing::debug!("CONTEXT_LOCAL_STORAGE[1] delete(ctx {ctx:?}, key {key:?})");
        with_state(|s| {
            let c = context(s, ctx)?;
            s.cls.delete(c, key as usize)
        })
    })
}

/// `[2] get(void** value, CUcontext, void* key)`.
pub(super) unsafe extern "C" fn get(
    value: *mut *mut c_void,
    ctx: *mut c_void,
    key: *mut c_void,
) -> u32 {
    guard("CONTEXT_LOCAL_STORAGE[2]", || {
        tracing::debug!("CONTEXT_LOCAL_STORAGE[2] get(ctx {ctx:?}, key {key:?})");
        if value.is_null() {
            return Err(result::INVALID_VALUE);
        }
        let v = with_state(|s| {
            let c = context(s, ctx)?;
            s.cls.get(c, key as usize)
        })?;
        // SAFETY: NULL-checked out-pointer from cudart.
        unsafe { *value = v as *mut c_void };
        Ok(())
    })
}
