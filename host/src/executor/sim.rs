//! The simulated executor: answers from a configured identity, no GPU.

use super::{ClientSession, Command, Executor};
use crate::cancel::CancelToken;
use std::time::Duration;
use uapi::cmd::DeviceInfo;
use uapi::status::Status;
use uapi::wire::Wire;

/// Serves `GetDeviceInfo`, `Echo` and `Sleep` without any hardware.
#[derive(Clone, Debug)]
pub struct SimExecutor {
    info: DeviceInfo,
}

impl SimExecutor {
    /// An executor reporting `info` as its identity.
    pub fn new(info: DeviceInfo) -> Self {
        Self { info }
    }
}

impl Executor for SimExecutor {
    fn device_info(&self) -> DeviceInfo {
        self.info
    }

    fn open_session(&self, _queue: u32) -> Result<Box<dyn ClientSession>, Status> {
        Ok(Box::new(SimSession { info: self.info }))
    }
}

/// A simulated client; holds nothing but the identity it reports.
struct SimSession {
    info: DeviceInfo,
}

impl ClientSession for SimSession {
    fn execute(&mut self, command: Command<'_>, cancel: &CancelToken) -> Result<Vec<u8>, Status> {
        match command {
            Command::GetDeviceInfo => Ok(self.info.as_bytes().to_vec()),
            Command::Echo(request) => Ok(request.to_vec()),
            Command::Sleep { millis } => {
                if cancel.sleep(Duration::from_millis(u64::from(millis))) {
                    Ok(Vec::new())
                } else {
                    Err(Status::Aborted)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uapi::cmd::fill_str;

    #[test]
    fn reports_its_identity_and_aborts_cancelled_sleeps() {
        let mut info = DeviceInfo::default();
        fill_str(&mut info.name, "Test GPU");
        let executor = SimExecutor::new(info);
        let mut session = match executor.open_session(0) {
            Ok(session) => session,
            Err(status) => panic!("open_session failed: {status:?}"),
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
