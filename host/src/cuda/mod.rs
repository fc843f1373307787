//! CUDA commands on the device side: decoding and validation of requests,
//! deferred and sticky errors ([`client`]), and the interface executors
//! implement ([`backend`]).

pub mod backend;
pub mod client;

pub use backend::{CuError, CuResult, CudaBackend};
pub use client::CudaClient;
