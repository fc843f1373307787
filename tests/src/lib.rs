//! Shared helpers of the test programs.

pub mod cudart;
pub mod results;
