//! One logging setup for both guest libraries (libcuda.so.1 and
//! libnvidia-ml.so.1 may share a process): silent unless `VGPU_LOG` holds
//! an `EnvFilter` directive (`warn`, `debug`, `cuda=debug`, ...); then to
//! stderr.

use std::sync::Once;

use tracing::{subscriber::Interest, Metadata, Subscriber};
use tracing_subscriber::{
    layer::{Context, Layer, SubscriberExt},
    util::SubscriberInitExt,
};

static LOG: Once = Once::new();

/// A thread-local whose destruction marks the end of the thread's locals.
struct Alive;

impl Drop for Alive {
    fn drop(&mut self) {}
}

thread_local! {
    static ALIVE: Alive = const { Alive };
}

/// Drops events once the calling thread's locals are being destroyed: the
/// `fmt` layer formats into a thread-local buffer and panics then, and
/// cudart calls the driver from atexit handlers, which glibc runs after the
/// main thread's locals are gone.
struct UntilLocalsDie;

impl<S: Subscriber> Layer<S> for UntilLocalsDie {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>, _: Context<'_, S>) -> bool {
        ALIVE.try_with(|_| ()).is_ok()
    }
}

/// Installs the `tracing` subscriber once per process, if `VGPU_LOG` is set.
pub fn init() {
    LOG.call_once(|| {
        if let Some(v) = std::env::var_os("VGPU_LOG") {
            let v = v.to_string_lossy();
            let filter = tracing_subscriber::EnvFilter::try_new(v.as_ref())
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_target(false)
                .finish()
                .with(UntilLocalsDie)
                .try_init();
        }
    });
}
