//! How long a queue's worker polls the guest's tail before it sleeps until
//! the doorbell: adapted to the gaps between the guest's batches, as KVM's
//! halt polling adapts `halt_poll_ns`. A doorbell costs a TCG guest an exit
//! to QEMU and a vfio-user message (run 31: a round trip's wait 295 µs with
//! doorbells, 50 µs without),
//! and a program whose own code runs between commands (cuBLAS under TCG:
//! ~0.5 ms per GEMM call) would ring one per batch with a fixed 200 µs
//! window. A doorbell that came soon after the poll gave up widens the
//! window (up to its cap); one that came later than the cap narrows it, so
//! an idle guest costs no more than the base window per batch.

use std::time::Duration;

/// The adaptive polling window of one queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpinWindow {
    now: Duration,
    base: Duration,
    cap: Duration,
}

impl SpinWindow {
    /// Starts at `base`; grows up to `cap` (fixed if `cap <= base`).
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            now: base,
            base,
            cap: cap.max(base),
        }
    }

    /// The window for the next poll.
    pub(crate) fn get(&self) -> Duration {
        self.now
    }

    /// A poll that ended in sleep, the doorbell rung `after` the poll began:
    /// whether a window up to the cap would have caught it (the window has
    /// then grown, and the next wait should poll again).
    pub(crate) fn slept(&mut self, after: Duration) -> bool {
        if self.cap == self.base {
            return false;
        }
        if after <= self.cap {
            let wanted = after.saturating_add(after / 4);
            self.now = self.now.saturating_mul(2).max(wanted).min(self.cap);
            true
        } else {
            self.now = (self.now / 2).max(self.base);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn grows_to_catch_a_gap_under_the_cap_and_no_further() {
        let mut w = SpinWindow::new(200 * US, 2000 * US);
        assert_eq!(w.get(), 200 * US);
        // A doorbell 500 µs after the poll began: 625 µs would catch it.
        assert!(w.slept(500 * US));
        assert_eq!(w.get(), 625 * US);
        // Another just past the window: doubled.
        assert!(w.slept(700 * US));
        assert_eq!(w.get(), 1250 * US);
        assert!(w.slept(1900 * US));
        assert_eq!(w.get(), 2000 * US, "never past the cap");
    }

    #[test]
    fn shrinks_back_to_the_base_when_the_guest_is_idle() {
        let mut w = SpinWindow::new(200 * US, 2000 * US);
        assert!(w.slept(1500 * US));
        assert_eq!(w.get(), 1875 * US);
        assert!(!w.slept(Duration::from_millis(50)));
        assert_eq!(w.get(), 937_500 * Duration::from_nanos(1));
        for _ in 0..8 {
            assert!(!w.slept(Duration::from_secs(1)));
        }
        assert_eq!(w.get(), 200 * US, "never under the base");
    }

    #[test]
    fn a_cap_at_the_base_keeps_the_window_fixed() {
        let mut w = SpinWindow::new(200 * US, 100 * US);
        assert!(!w.slept(150 * US), "no growth, so no reason to poll more");
        assert!(!w.slept(250 * US));
        assert_eq!(w.get(), 200 * US);
    }
}
