//! CUDA commands on the device side: decoding and validation of requests,
//! deferred and sticky errors ([`client`]), and the interface executors
//! implement ([`backend`]).

pub mod backend;
