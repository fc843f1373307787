//! The test bed and the test programs' shared parts: the VM test bed's
//! modules ([`vm`]), result lines and digests ([`results`]), and NVIDIA's
//! cudart programs ([`cudart`]), the driver-API suite ([`suite`]) and the
//! isolation check between client processes ([`isolation`]) and the
//! driver-API benchmarks ([`bench`]).

pub mod bench;
pub mod cudart;
pub mod isolation;
pub mod load;
pub mod quota;
pub mod results;
pub mod suite;
pub mod vm;
