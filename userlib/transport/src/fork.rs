//! Fork safety for a library's process-wide state behind one `Mutex`:
//! `fork` happens with the lock held by the forking thread (so the child
//! never inherits it locked by a thread that no longer exists), and the
//! child then fixes up its copy (connections belong to the parent).

use std::{
    any::Any,
    cell::RefCell,
    sync::{MutexGuard, Once},
};

/// A process-wide state that survives `fork`.
pub trait ForkSafe: Sized + 'static {
    /// Locks the state (poisoning ignored).
    fn lock() -> MutexGuard<'static, Self>;
    /// Fixes up the child's copy, with the lock held.
    fn in_child(&mut self);
}

thread_local! {
    /// The guards taken before `fork` by this thread, one per state type.
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

extern "C" fn prepare<T: ForkSafe>() {
    let g: MutexGuard<'static, T> = T::lock();
    HELD.with(|h| h.borrow_mut().push(Box::new(g)));
}

/// Takes this thread's guard of `T` back, if `prepare` left one.
fn take<T: ForkSafe>() -> Option<MutexGuard<'static, T>> {
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        let i = h.iter().position(|g| g.is::<MutexGuard<'static, T>>())?;
        h.remove(i)
            .downcast::<MutexGuard<'static, T>>()
            .ok()
            .map(|g| *g)
    })
}

extern "C" fn parent<T: ForkSafe>() {
    drop(take::<T>());
}

extern "C" fn child<T: ForkSafe>() {
    if let Some(mut g) = take::<T>() {
        g.in_child();
    }
}

/// Registers `T`'s fork handlers once (`once` is the caller's, one per
/// state type).
pub fn register_atfork<T: ForkSafe>(once: &'static Once) {
    once.call_once(|| {
        // SAFETY: the handlers are `extern "C"` functions that live forever.
        let r = unsafe {
            libc::pthread_atfork(Some(prepare::<T>), Some(parent::<T>), Some(child::<T>))
        };
        if r != 0 {
            tracing::warn!("pthread_atfork failed: {r}");
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, PoisonError};

    use super::*;

    struct Counter(u32);
    static STATE: Mutex<Counter> = Mutex::new(Counter(0));

    impl ForkSafe for Counter {
        fn lock() -> MutexGuard<'static, Self> {
            STATE.lock().unwrap_or_else(PoisonError::into_inner)
        }
        fn in_child(&mut self) {
            self.0 += 100;
        }
    }

    #[test]
    fn handlers_hold_the_lock_and_fix_up_the_child() {
        prepare::<Counter>();
        assert!(STATE.try_lock().is_err(), "held across fork");
        child::<Counter>();
        assert_eq!(Counter::lock().0, 100);
        prepare::<Counter>();
        parent::<Counter>();
        assert_eq!(Counter::lock().0, 100, "the parent keeps its state");
        assert!(take::<Counter>().is_none());
    }
}
