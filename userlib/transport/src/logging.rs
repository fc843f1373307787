//! One logging setup for both guest libraries (libcuda.so.1 and
//! libnvidia-ml.so.1 may share a process): silent unless `VGPU_LOG` holds
//! an `EnvFilter` directive (`warn`, `debug`, `cuda=debug`, ...); then to
//! stderr.

use std::sync::Once;

static LOG: Once = Once::new();

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
                .try_init();
        }
    });
}
