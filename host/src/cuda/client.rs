//! One client's CUDA command stream: decodes and validates each request,
//! calls the backend, encodes the response, and keeps CUDA's error rules.
//!
//! Asynchronous commands (launches, `*Async` copies and memsets, event
//! records, stream waits) have no response; an error they hit is kept and
//! returned by the client's next command that has one, as CUDA reports
//! asynchronous errors at the next synchronising call. Launch faults
//! (`ILLEGAL_ADDRESS`, `LAUNCH_FAILED`) are sticky: every later command with
//! a response fails with them, as in a CUDA context after such a fault.

mod graph;
mod quota;
mod run;
mod shared;
mod vmm;

pub use quota::ClientQuota;

use super::backend::{CuResult, CudaBackend};
use super::call::CudaCall;
use super::stage::{StageBudget, StagedImage, MAX_STAGED_PER_EXECUTOR};
use crate::cancel::CancelToken;
use core::mem::size_of;
use std::sync::Arc;
use uapi::cuda::{command, result, ResultHeader};
use uapi::status::Status;
use uapi::wire::Wire;

fn header(result: u32) -> Vec<u8> {
    ResultHeader {
        result,
        reserved: 0,
    }
    .as_bytes()
    .to_vec()
}

/// Size of the fixed part of `opcode`'s response. Error responses are padded
/// to it with zeros, so a reader can always decode the struct and look at
/// its result first.
fn fixed_response_size(opcode: u16) -> usize {
    command(opcode).map_or(size_of::<ResultHeader>(), |c| c.response_size)
}

/// Whether an error poisons the client for good.
fn is_sticky(code: u32) -> bool {
    matches!(
        code,
        result::ILLEGAL_ADDRESS | result::LAUNCH_FAILED | result::LAUNCH_TIMEOUT
    )
}

/// The CUDA side of one client.
pub struct CudaClient {
    backend: Box<dyn CudaBackend>,
    /// First error of an asynchronous command since the last report.
    deferred: Option<u32>,
    /// A fault that ends the client's usefulness.
    sticky: Option<u32>,
    /// A module image arriving in pieces (MODULE_STAGE).
    staged: StagedImage,
    /// Object, staging and memory quotas.
    quota: ClientQuota,
}

/// What a decoded command needs: an answer, or nothing (asynchronous).
enum Outcome {
    Response(Vec<u8>),
    Async(CuResult<()>),
}

impl CudaClient {
    /// Wraps a backend, with a staging budget of its own.
    pub fn new(backend: Box<dyn CudaBackend>) -> Self {
        Self::with_stage_budget(backend, StageBudget::new(MAX_STAGED_PER_EXECUTOR))
    }

    /// Wraps a backend; staged images are charged to `budget` (one per
    /// executor, shared by its clients).
    pub fn with_stage_budget(backend: Box<dyn CudaBackend>, budget: Arc<StageBudget>) -> Self {
        Self::with_quota(backend, budget, ClientQuota::unlimited())
    }

    /// Wraps a backend; staged images are charged to `budget`, and the
    /// client holds no more than `quota` allows.
    pub fn with_quota(
        mut backend: Box<dyn CudaBackend>,
        budget: Arc<StageBudget>,
        quota: ClientQuota,
    ) -> Self {
        backend.set_pinned_limit(quota.limits().pinned_bytes);
        Self {
            backend,
            deferred: None,
            sticky: None,
            staged: StagedImage::with_limit(budget, quota.limits().staged_bytes),
            quota,
        }
    }

    /// Device memory the client holds.
    pub fn memory_used(&self) -> u64 {
        self.backend.memory_used()
    }

    /// Runs one CUDA command; `resp_capacity` bounds DTOH-style responses,
    /// `cancel` stops a launch the executor runs in place.
    /// Malformed requests complete with a device status, never reach the backend.
    pub fn execute(
        &mut self,
        opcode: u16,
        request: &[u8],
        resp_capacity: usize,
        cancel: &CancelToken,
    ) -> Result<Vec<u8>, Status> {
        // Errors owed to the client are reported by its next command with a
        // response, which does not run (CUDA reports them instead of running it).
        // A command submitted without room for a response (detached) is
        // treated like asynchronous work: its error is owed too.
        let has_response = !CudaCall::is_detached(opcode, request) && resp_capacity > 0;
        // Our library sends PREPARE_HOST inside cuMemAllocHost and does not
        // report its result: an owed error stays owed to the next call.
        let owed = |c: &mut Self| match opcode {
            uapi::cuda::op::PREPARE_HOST => c.sticky,
            _ => c.sticky.or_else(|| c.deferred.take()),
        };
        if has_response {
            if let Some(code) = owed(self) {
                // Still validate the request so malformed ones are reported as such.
                CudaCall::decode(opcode, request)?;
                let mut out = header(code);
                out.resize(fixed_response_size(opcode), 0);
                return Ok(out);
            }
        } else if let Some(code) = self.sticky {
            tracing::debug!(opcode, code, "asynchronous command skipped after a fault");
            return Ok(Vec::new());
        }
        let call = CudaCall::decode(opcode, request)?;
        let ran = self.run(call, resp_capacity, cancel);
        self.quota.settle(self.backend.memory_used());
        let outcome = match ran? {
            Outcome::Response(bytes) if !has_response => {
                let code = ResultHeader::read_from(&bytes).map_or(result::SUCCESS, |h| h.result);
                Outcome::Async(if code == result::SUCCESS {
                    Ok(())
                } else {
                    Err(code)
                })
            }
            other => other,
        };
        match outcome {
            Outcome::Response(mut bytes) => {
                let fixed = fixed_response_size(opcode);
                if bytes.len() < fixed {
                    bytes.resize(fixed, 0);
                }
                Ok(bytes)
            }
            Outcome::Async(r) => {
                if let Err(code) = r {
                    tracing::debug!(opcode, code, "asynchronous command failed");
                    self.owe(code);
                }
                Ok(Vec::new())
            }
        }
    }

    /// Keeps `code`, an asynchronous command's error, for the client's
    /// next command with a response (a fault for good, if sticky).
    fn owe(&mut self, code: u32) {
        if is_sticky(code) {
            self.sticky = Some(code);
        } else if self.deferred.is_none() {
            self.deferred = Some(code);
        }
    }

    /// A detached copy the server refused before it reached us (its range
    /// in no mapped block of host memory, or its shape off): nobody waits
    /// for its response, so `CUDA_ERROR_INVALID_VALUE`, what CUDA would
    /// have returned from the asynchronous call, is owed instead.
    pub fn refuse_detached(&mut self) {
        self.owe(result::INVALID_VALUE);
    }
}
