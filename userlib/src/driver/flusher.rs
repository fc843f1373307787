//! Submits a batch of detached commands that has waited its transport's
//! delay ([`Batching::After`]) while the program made no call that would
//! have submitted it: work queued before a long stretch of host computation
//! runs during it, as it does on NVIDIA's driver, instead of at the next
//! synchronising call.
//!
//! One thread per process, started at the first batch and woken each time
//! a batch starts. It takes the state lock only when a batch is due.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Condvar, Mutex, PoisonError,
};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the thread and the library share.
#[derive(Default)]
struct Shared {
    /// A batch began and nobody has looked at it yet.
    armed: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
    /// Set by the thread as it returns.
    exited: Mutex<bool>,
    gone: Condvar,
}

/// The thread of this process (a forked child starts its own).
struct Thread {
    pid: u32,
    delay: Duration,
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

/// Taken under the state lock (by [`arm`]) or at unload, never the other
/// way round.
static THREAD: Mutex<Option<Thread>> = Mutex::new(None);

/// Says a batch began (called with the state lock held): the thread
/// submits it once it is `delay` old, unless a call did first. Where no
/// thread can be started the batch waits for the next such call.
pub(crate) fn arm(delay: Duration) {
    arm_as(std::process::id(), delay);
}

/// [`arm`] for process `pid` (tests stand in for a forked child).
fn arm_as(pid: u32, delay: Duration) {
    let mut t = THREAD.lock().unwrap_or_else(PoisonError::into_inner);
    if t.as_ref().is_none_or(|t| t.pid != pid || t.delay != delay) {
        match t.take() {
            // One of another delay (a transport of another kind): stopped;
            // it ends by itself.
            Some(old) if old.pid == pid => stop(&old.shared),
            // A parent's, in a forked child: its thread does not exist
            // here, and it may have held its locks at the fork, so nothing
            // of it is touched (not even the handle's drop).
            Some(old) => std::mem::forget(old),
            None => {}
        }
        let shared = Arc::new(Shared::default());
        let run = shared.clone();
        match std::thread::Builder::new()
            .name("vgpu-flush".into())
            .spawn(move || run_thread(&run, delay))
        {
            Ok(handle) => {
                *t = Some(Thread {
                    pid,
                    delay,
                    shared,
                    handle: Some(handle),
                })
            }
            Err(e) => {
                tracing::debug!("no flush thread ({e}): batches wait for a synchronising call");
                return;
            }
        }
    }
    if let Some(t) = t.as_ref() {
        *t.shared
            .armed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        t.shared.wake.notify_one();
    }
}

fn stop(shared: &Shared) {
    shared.stop.store(true, Ordering::Release);
    let _armed = shared.armed.lock().unwrap_or_else(PoisonError::into_inner);
    shared.wake.notify_one();
}

fn run_thread(shared: &Shared, delay: Duration) {
    let mut wait = None;
    while !shared.stop.load(Ordering::Acquire) {
        let sleep = match wait.take() {
            Some(left) => left,
            None => {
                let mut armed = shared.armed.lock().unwrap_or_else(PoisonError::into_inner);
                while !*armed && !shared.stop.load(Ordering::Acquire) {
                    armed = shared
                        .wake
                        .wait(armed)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                *armed = false;
                delay
            }
        };
        std::thread::sleep(sleep);
        if shared.stop.load(Ordering::Acquire) || super::check_alive().is_err() {
            break;
        }
        let mut s = super::lock();
        wait = s.client.as_mut().and_then(|c| c.flush_due());
    }
    *shared.exited.lock().unwrap_or_else(PoisonError::into_inner) = true;
    shared.gone.notify_all();
}

/// Stops this process's thread before the library's code goes away
/// (`dlclose`, or exit). It is joined if it ends within a short time; one
/// still waiting for the state lock held by a busy thread is left, as the
/// process is then exiting or misusing `dlclose`.
pub(crate) fn shut_down() {
    let Ok(mut t) = THREAD.try_lock() else {
        return;
    };
    let Some(mut t) = t.take().filter(|t| t.pid == std::process::id()) else {
        return;
    };
    stop(&t.shared);
    let exited = t
        .shared
        .exited
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (exited, _) = t
        .shared
        .gone
        .wait_timeout_while(exited, Duration::from_millis(100), |e| !*e)
        .unwrap_or_else(PoisonError::into_inner);
    if *exited {
        drop(exited);
        if let Some(h) = t.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_leaves_its_parents_thread_alone() {
        let delay = Duration::from_millis(50);
        arm_as(1, delay);
        // The parent's thread held its lock when the child was forked.
        let held = THREAD
            .lock()
            .unwrap()
            .as_ref()
            .map(|t| t.shared.clone())
            .unwrap();
        let _locked = held.armed.lock().unwrap();
        let (done, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            arm_as(2, delay);
            let _ = done.send(());
        });
        assert!(
            seen.recv_timeout(Duration::from_secs(10)).is_ok(),
            "the child's arm waited for the parent's lock"
        );
        let t = THREAD.lock().unwrap();
        let t = t.as_ref().unwrap();
        assert_eq!(t.pid, 2);
        assert!(
            !Arc::ptr_eq(&t.shared, &held),
            "the child has a thread of its own"
        );
        stop(&t.shared);
    }
}
