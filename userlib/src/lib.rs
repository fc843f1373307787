//! `libcuda.so.1` for vgpu guests: the CUDA driver API, forwarding GPU work
//! as commands (`uapi::cuda`) to the device model through `/dev/vgpuN` (or,
//! by explicit configuration, a socket; see [`transport`]).
//!
//! - [`transport`]: the ways to the device (`/dev/vgpuN` ioctls, socket frames).
//! - `driver`: the driver API by area (device, context, memory, module,
//!   launch, stream, event, error), on one process-wide client whose batch
//!   carries asynchronous work without round trips.
//! - `exports`: the one declaration list of every exported `cu*` symbol.
//! - `proc_address`: `cuGetProcAddress`, from a table measured on NVIDIA's
//!   driver (`proc-address/`).
//!
//! Set `VGPU_LOG` (an `EnvFilter` directive, e.g. `warn` or `debug`) to get
//! diagnostics on stderr; by default the library prints nothing.
mod driver;
pub mod exports;
mod proc_address;
pub use vgpu_transport as transport;
