//! The simulated executor: a CPU model of a GPU for GPU-less CI and demos.
//! Device memory lives in host RAM at realistic device addresses; kernels
//! run from PTX through [`crate::ptx`]; work runs in submission order.

mod attributes;
mod backend;
mod graph;
mod image;
mod memory;
mod pool;
mod vmm;

pub use backend::SimBackend;
pub use memory::AddressSpace;

use super::Executor;
use crate::cuda::stage::{StageBudget, MAX_STAGED_PER_EXECUTOR};
use crate::cuda::CudaBackend;
use std::sync::Arc;
use uapi::cmd::DeviceInfo;
use uapi::status::Status;

/// Serves every command without any hardware.
#[derive(Clone, Debug)]
pub struct SimExecutor {
    info: DeviceInfo,
    attributes: Arc<Vec<i32>>,
    space: Arc<AddressSpace>,
    /// Host memory all clients' staged module images may take (per
    /// executor: per client in process-per-client mode).
    staged: Arc<StageBudget>,
}

impl SimExecutor {
    /// An executor reporting `info` as its identity, with
    /// `info.total_memory` bytes of (lazily backed) device memory.
    pub fn new(info: DeviceInfo) -> Self {
        Self {
            info,
            attributes: Arc::new(attributes::table(&info)),
            space: Arc::new(AddressSpace::new(info.total_memory)),
            staged: StageBudget::new(MAX_STAGED_PER_EXECUTOR),
        }
    }
}

impl Executor for SimExecutor {
    fn device_info(&self) -> DeviceInfo {
        self.info
    }

    fn new_backend(&self) -> Result<Box<dyn CudaBackend>, Status> {
        Ok(Box::new(SimBackend::new(
            self.info,
            self.attributes.clone(),
            self.space.clone(),
        )))
    }

    fn stage_budget(&self) -> Arc<crate::cuda::stage::StageBudget> {
        self.staged.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::CancelToken;
    use crate::executor::Command;
    use uapi::cmd::fill_str;
    use uapi::wire::Wire;

    #[test]
    fn reports_its_identity_and_aborts_cancelled_sleeps() {
        let mut info = DeviceInfo::default();
        fill_str(&mut info.name, "Test GPU");
        let executor = SimExecutor::new(info);
        let (mut session, _keep) = match crate::session::Session::standalone(&executor, 0) {
            Ok(session) => session,
            Err(status) => panic!("Session::open failed: {status:?}"),
        };
        let cancel = CancelToken::new();
        let reply = session.execute(Command::GetDeviceInfo, &cancel);
        assert_eq!(
            reply.ok().and_then(|b| DeviceInfo::read_from(&b)),
            Some(info)
        );
        cancel.cancel();
        assert_eq!(
            session.execute(Command::Sleep { millis: 10_000 }, &cancel),
            Err(Status::Aborted)
        );
    }
}
