//! The status page heartbeat: a thread that bumps `StatusPage::heartbeat`
//! in guest memory every `HEARTBEAT_PERIOD_MS` while the page is set.

use crate::cancel::CancelToken;
use crate::shared::DeviceShared;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use uapi::regs::HEARTBEAT_PERIOD_MS;
use uapi::ring::StatusPage;

/// Offset of `StatusPage::heartbeat`.
const HEARTBEAT_OFFSET: u64 = 0;

/// A running heartbeat; stopping (or dropping) it joins the thread.
#[derive(Debug)]
pub struct Heartbeat {
    cancel: CancelToken,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Whether a status page at `gpa` is acceptable: 64-byte aligned and
    /// entirely inside guest RAM.
    pub fn page_is_valid(shared: &DeviceShared, gpa: u64) -> bool {
        let size = core::mem::size_of::<StatusPage>() as u64;
        gpa.is_multiple_of(size) && shared.ram.snapshot().contains(gpa, size)
    }

    /// Starts bumping the heartbeat of the status page at `gpa`.
    pub fn start(shared: Arc<DeviceShared>, gpa: u64) -> std::io::Result<Self> {
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("vgpu-heartbeat".into())
            .spawn(move || beat(&shared, gpa, &token))?;
        tracing::info!(status_page = format_args!("{gpa:#x}"), "heartbeat started");
        Ok(Self {
            cancel,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.cancel.cancel();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("heartbeat thread panicked");
            }
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop();
    }
}

fn beat(shared: &DeviceShared, gpa: u64, cancel: &CancelToken) {
    let mut count: u64 = 0;
    let mut failing = false;
    let mut paused = false;
    while cancel.sleep(Duration::from_millis(u64::from(HEARTBEAT_PERIOD_MS))) {
        if crate::fault::skip_beat(&mut paused) {
            continue;
        }
        if !shared.bus_master.load(Ordering::Acquire) {
            // No DMA without bus mastering; the count resumes where it was.
            continue;
        }
        count = count.wrapping_add(1);
        match shared
            .ram
            .snapshot()
            .store_u64(gpa + HEARTBEAT_OFFSET, count)
        {
            Ok(()) => failing = false,
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot write the heartbeat");
            }
            Err(_) => {}
        }
    }
    // After this line the thread writes the page no more (tests read it).
    tracing::info!(count, "heartbeat stopped");
}
