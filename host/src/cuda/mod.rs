//! CUDA commands on the device side: requests decoded once into a typed
//! [`call::CudaCall`], deferred and sticky errors and the one dispatch
//! `match` ([`client`]), and the interface executors implement ([`backend`]).

pub mod backend;
pub mod call;
pub mod client;
pub mod guest_pins;
pub mod options;
pub mod shared;
pub mod stage;

pub use backend::{CuError, CuResult, CudaBackend};
pub use call::CudaCall;
pub use client::CudaClient;
pub use shared::{HostBytes, SharedKind, SharedSpan, SharedStats};
