//! Test-only fault injection: `vgpu-host --inject-fault NAME` makes the
//! device misbehave in one named way, so that the VM test bed can check how
//! the guest driver copes (the `faults` scenario, docs/reliability.md).
//!
//! Off unless named on the command line; no configuration file can set it.
//! Worker processes get it from the device process through [`ENV`], which
//! the device process sets or clears for each worker it starts.
//!
//! The faults that act on a command act only on an Echo whose request
//! begins with [`TRIGGER`], so that the driver's own commands (probe,
//! identity) and ordinary echoes behave; the ones that act on queues act
//! once per process, on the second queue enabled since a device reset (the
//! first is the driver's own, at probe).

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use uapi::cmd::Opcode;

/// A way the device misbehaves, for tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// GetDeviceInfo answers only after 8 s (cut short if the queue stops):
    /// past the driver's 5 s probe timeout, so its probe fails after the
    /// heartbeat started.
    SlowDeviceInfo,
    /// A triggering Echo completes with a tag no command has; the command
    /// itself is held (never completed) until the queue stops.
    BadCompletionTag,
    /// A triggering Echo moves the completion tail far past anything
    /// posted; the command is held until the queue stops.
    BadCompletionTail,
    /// A triggering Echo puts the queue into ERROR (ExecutorLost) with an
    /// interrupt but without posting any completion.
    SilentQueueError,
    /// The second queue enabled after a device reset (once per process)
    /// ignores ENABLE_OFF: only a device reset stops it.
    QueueNeverStops,
    /// The heartbeat stops for 6 s when the second queue after a device
    /// reset is enabled (once per process).
    HeartbeatPause,
}

impl Fault {
    /// Its command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::SlowDeviceInfo => "slow-device-info",
            Self::BadCompletionTag => "bad-completion-tag",
            Self::BadCompletionTail => "bad-completion-tail",
            Self::SilentQueueError => "silent-queue-error",
            Self::QueueNeverStops => "queue-never-stops",
            Self::HeartbeatPause => "heartbeat-pause",
        }
    }
}

/// The environment variable that hands the fault to worker processes.
pub const ENV: &str = "VGPU_INJECT_FAULT";

/// What an Echo's request begins with to trigger a command fault.
pub const TRIGGER: &[u8] = b"fault";

/// How long [`Fault::SlowDeviceInfo`] holds GetDeviceInfo.
const DEVICE_INFO_DELAY: Duration = Duration::from_secs(8);

/// How long [`Fault::HeartbeatPause`] stops the heartbeat.
const HEARTBEAT_PAUSE: Duration = Duration::from_secs(6);

/// How long a command held after a bad completion waits for the queue to stop.
pub const HOLD_LIMIT: Duration = Duration::from_secs(60);

static ARMED: OnceLock<Fault> = OnceLock::new();

/// Queues enabled since the last device reset.
static ENABLES: AtomicU32 = AtomicU32::new(0);

/// Whether a queue fault fired (they fire once).
static QUEUE_FAULT_FIRED: AtomicBool = AtomicBool::new(false);

/// When the heartbeat pause began.
static PAUSED_AT: OnceLock<Instant> = OnceLock::new();

/// Arms `fault` for the life of this process (the first call wins).
pub fn arm(fault: Fault) {
    if ARMED.set(fault).is_ok() {
        tracing::warn!(
            fault = fault.name(),
            "TEST ONLY: fault injection armed; this device misbehaves on purpose"
        );
    }
}

/// Arms the fault the device process handed this worker, if any.
pub fn arm_from_env() {
    let Ok(name) = std::env::var(ENV) else {
        return;
    };
    match <Fault as clap::ValueEnum>::from_str(&name, false) {
        Ok(fault) => arm(fault),
        Err(error) => tracing::error!(%error, name, "unknown fault in {ENV}; none armed"),
    }
}

/// The armed fault.
pub fn armed() -> Option<Fault> {
    ARMED.get().copied()
}

fn is(fault: Fault) -> bool {
    armed() == Some(fault)
}

/// Sets (or clears) [`ENV`] for a worker process about to start.
pub fn hand_to(worker: &mut Command) {
    match armed() {
        Some(fault) => worker.env(ENV, fault.name()),
        None => worker.env_remove(ENV),
    };
}

/// A device reset: queue enables count from zero again.
pub fn device_reset() {
    ENABLES.store(0, Ordering::Relaxed);
}

/// A queue was enabled; returns whether it must ignore ENABLE_OFF.
pub fn queue_enabled(queue: u32) -> bool {
    let nth = ENABLES.fetch_add(1, Ordering::Relaxed).saturating_add(1);
    if nth != 2
        || !matches!(
            armed(),
            Some(Fault::HeartbeatPause | Fault::QueueNeverStops)
        )
        || QUEUE_FAULT_FIRED.swap(true, Ordering::Relaxed)
    {
        return false;
    }
    if is(Fault::HeartbeatPause) && PAUSED_AT.set(Instant::now()).is_ok() {
        tracing::warn!(
            queue,
            pause_ms = HEARTBEAT_PAUSE.as_millis() as u64,
            "injected fault: heartbeat paused"
        );
    }
    if is(Fault::QueueNeverStops) {
        tracing::warn!(queue, "injected fault: this queue will ignore ENABLE_OFF");
        return true;
    }
    false
}

/// Whether the heartbeat skips this beat. `paused` is the heartbeat
/// thread's own record, for logging the end of the pause once.
pub fn skip_beat(paused: &mut bool) -> bool {
    let now_paused = PAUSED_AT
        .get()
        .is_some_and(|at| at.elapsed() < HEARTBEAT_PAUSE);
    if *paused && !now_paused {
        tracing::warn!("injected fault: heartbeat resumed");
    }
    *paused = now_paused;
    now_paused
}

/// What a queue worker does instead of running a triggering command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFault {
    /// Complete it with a tag no command has.
    UnknownTag,
    /// Move the completion tail past the end.
    TailPastEnd,
    /// Stop the queue in ERROR without a completion.
    ErrorWithoutCompletion,
}

/// The ring fault to commit for a command with `opcode`, whose request's
/// first bytes `prefix` reads, if any.
pub fn ring_fault(opcode: u16, prefix: impl FnOnce() -> Option<Vec<u8>>) -> Option<RingFault> {
    let fault = match armed()? {
        Fault::BadCompletionTag => RingFault::UnknownTag,
        Fault::BadCompletionTail => RingFault::TailPastEnd,
        Fault::SilentQueueError => RingFault::ErrorWithoutCompletion,
        _ => return None,
    };
    (opcode == Opcode::Echo as u16 && prefix()?.starts_with(TRIGGER)).then_some(fault)
}

/// With [`Fault::SlowDeviceInfo`], holds a GetDeviceInfo command; the
/// queue stopping (`cancel`) cuts the hold short.
pub fn hold_device_info(queue: u32, opcode: u16, cancel: &crate::cancel::CancelToken) {
    if !is(Fault::SlowDeviceInfo) || opcode != Opcode::GetDeviceInfo as u16 {
        return;
    }
    tracing::warn!(
        queue,
        delay_ms = DEVICE_INFO_DELAY.as_millis() as u64,
        "injected fault: holding GetDeviceInfo"
    );
    let start = Instant::now();
    let full = cancel.sleep(DEVICE_INFO_DELAY);
    tracing::warn!(
        queue,
        held_ms = start.elapsed().as_millis() as u64,
        cut_short = !full,
        "injected fault: GetDeviceInfo released"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_parses_from_its_name() {
        for fault in <Fault as clap::ValueEnum>::value_variants() {
            let parsed = <Fault as clap::ValueEnum>::from_str(fault.name(), false);
            assert_eq!(parsed, Ok(*fault));
        }
    }
}
