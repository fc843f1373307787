//! Threads that block in the driver: seeing that one sleeps in an ioctl,
//! interrupting it with a signal, and bounding a call that might hang.

use std::{
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

/// The signal the tests interrupt their own threads with.
pub const TEST_SIGNAL: libc::c_int = libc::SIGUSR1;

/// How many times [`TEST_SIGNAL`]'s handler ran.
static SIGNALS_SEEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_SEEN.fetch_add(1, Ordering::SeqCst);
}

pub fn signals_seen() -> u32 {
    SIGNALS_SEEN.load(Ordering::SeqCst)
}

/// Installs a counting handler for [`TEST_SIGNAL`], with or without
/// `SA_RESTART`.
pub fn install_handler(restart: bool) -> Result<(), String> {
    // SAFETY: a zeroed sigaction is valid; we set the handler, an empty mask
    // and the flags before passing it, and the handler is async-signal-safe
    // (one atomic add).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        sa.sa_flags = if restart { libc::SA_RESTART } else { 0 };
        if libc::sigaction(TEST_SIGNAL, &sa, std::ptr::null_mut()) != 0 {
            return Err(format!("sigaction: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The calling thread's kernel id.
pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Waits until thread `tid` of this process sleeps inside an ioctl (its
/// `/proc/.../syscall` names `SYS_ioctl`), at most `limit`.
pub fn wait_in_ioctl(tid: libc::pid_t, limit: Duration) -> Result<(), String> {
    let path = format!("/proc/self/task/{tid}/syscall");
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let nr = text.split_whitespace().next().unwrap_or("");
        if nr == libc::SYS_ioctl.to_string() {
            return Ok(());
        }
        if t0.elapsed() > limit {
            return Err(format!("thread {tid} not blocked in an ioctl ({text:?})"));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Sends [`TEST_SIGNAL`] to one thread of this process.
pub fn signal_thread(thread: libc::pthread_t) -> Result<(), String> {
    // SAFETY: `thread` is a live thread of this process (its JoinHandle is held).
    let r = unsafe { libc::pthread_kill(thread, TEST_SIGNAL) };
    if r != 0 {
        return Err(format!(
            "pthread_kill: {}",
            std::io::Error::from_raw_os_error(r)
        ));
    }
    Ok(())
}

/// Runs `f` on a thread and returns its result, or an error if it takes
/// longer than `limit`. A thread still running then is interrupted with
/// [`TEST_SIGNAL`] (handler without `SA_RESTART`) so that a call hanging in
/// the driver returns and the test can go on.
pub fn bounded<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            Ok(v)
        }
        Err(_) => {
            use std::os::unix::thread::JoinHandleExt;
            install_handler(false)?;
            for _ in 0..50 {
                signal_thread(handle.as_pthread_t())?;
                if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                    let _ = handle.join();
                    return Err(format!("hung for {limit:?}; a signal ended it"));
                }
            }
            Err(format!("hung for {limit:?}; not even a signal ended it"))
        }
    }
}
