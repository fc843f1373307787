//! The test bed and the test programs' shared parts: the VM test bed's
//! modules ([`vm`]), result lines and digests ([`results`]), and NVIDIA's
//! cudart programs ([`cudart`]), and the driver-API suite ([`suite`]).

pub mod cudart;
pub mod results;
pub mod suite;
pub mod vm;
