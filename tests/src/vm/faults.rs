//! The `faults` scenario: one guest with one VGPU-STUB per injected fault
//! (`vgpu-host --inject-fault`, test only), each provoked by a guest test
//! (`vgpu-guest test fault-*`, tests/src/bin/vgpu-guest/faults.rs) that
//! checks what the driver did; the runner then checks each host's side in
//! its log ([`host_results`]). Review kmod-review.md H1, H2, L5, M1, M6, M7.

use std::path::Path;

use super::gpu::{h100, Gpu};
use super::scenario::Scenario;
use crate::results::Outcome;

/// The scenario's name.
pub const NAME: &str = "faults";

/// One device of the scenario.
pub struct FaultDevice {
    /// `--inject-fault` name.
    pub fault: &'static str,
    /// The device's name, by which the guest test finds it.
    pub device: &'static str,
    pub uuid: &'static str,
    /// The guest test that provokes it.
    pub test: &'static str,
}

/// The devices, in PCI order.
pub const DEVICES: [FaultDevice; 6] = [
    FaultDevice {
        fault: "slow-device-info",
        device: "VGPU fault slow-device-info",
        uuid: "GPU-56475055-fa17-4000-8000-000000000001",
        test: "fault-probe-timeout",
    },
    FaultDevice {
        fault: "bad-completion-tag",
        device: "VGPU fault bad-completion-tag",
        uuid: "GPU-56475055-fa17-4000-8000-000000000002",
        test: "fault-bad-tag",
    },
    FaultDevice {
        fault: "bad-completion-tail",
        device: "VGPU fault bad-completion-tail",
        uuid: "GPU-56475055-fa17-4000-8000-000000000003",
        test: "fault-bad-tail",
    },
    FaultDevice {
        fault: "silent-queue-error",
        device: "VGPU fault silent-queue-error",
        uuid: "GPU-56475055-fa17-4000-8000-000000000004",
        test: "fault-silent-error",
    },
    FaultDevice {
        fault: "queue-never-stops",
        device: "VGPU fault queue-never-stops",
        uuid: "GPU-56475055-fa17-4000-8000-000000000005",
        test: "fault-stuck-stop",
    },
    FaultDevice {
        fault: "heartbeat-pause",
        device: "VGPU fault heartbeat-pause",
        uuid: "GPU-56475055-fa17-4000-8000-000000000006",
        test: "fault-heartbeat-pause",
    },
];

/// The name of the device that injects `fault`.
pub fn device_name(fault: &str) -> String {
    format!("VGPU fault {fault}")
}

/// Longest a bad completion may go before its queue is stopped, in ms. The
/// guest keeps the file open 2 s after its WAIT returned, so a stop that
/// came only with the close (no quiesce in the driver's reaction) is later.
const STOP_AFTER_BAD_COMPLETION_MS: u64 = 1500;

pub fn scenario() -> Scenario {
    let gpus = DEVICES
        .iter()
        .map(|d| Gpu {
            name: d.device,
            uuid: d.uuid,
            extra: vec!["--inject-fault", d.fault],
            ..h100()
        })
        .collect();
    let tests: Vec<&str> = DEVICES.iter().map(|d| d.test).collect();
    Scenario {
        name: NAME,
        gpus,
        steps: format!(
            "modprobe vgpu && echo '@@RESULT modprobe PASS 0ms modprobe vgpu succeeded' || echo '@@RESULT modprobe FAIL 0ms modprobe vgpu failed'\n\
             wait-node\n\
             vgpu-guest test {} dmesg-clean\n",
            tests.join(" ")
        ),
        expect: vec![],
        memory_mib: 512,
        hostroot: false,
        after_reboot: None,
        on_request: false,
        required: std::iter::once("modprobe")
            .chain(tests)
            .chain(std::iter::once("dmesg-clean"))
            .map(String::from)
            .collect(),
    }
}

/// The host side of every device, from the logs in the scenario's work
/// directory `dir`: one `faults/host-<fault>` result each.
pub fn host_results(dir: &Path) -> Vec<Outcome> {
    DEVICES
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let path = dir.join(format!("vgpu-host{i}.log"));
            let r = std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|log| check_host(d.fault, &log));
            let (ok, detail) = match r {
                Ok(d) => (true, d),
                Err(e) => (false, e),
            };
            (format!("{NAME}/host-{}", d.fault), ok, detail)
        })
        .collect()
}

/// The lines of a host log while the VMM was connected (up to its first
/// disconnect: the device resets then, whatever the driver did).
fn connected(log: &str) -> Vec<&str> {
    log.lines()
        .take_while(|l| !l.contains("vfio-user client disconnected"))
        .collect()
}

/// The value of `key=value` in a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// The index of the first line at or after `from` that holds `what`.
fn find(lines: &[&str], from: usize, what: &str) -> Result<usize, String> {
    lines
        .iter()
        .skip(from)
        .position(|l| l.contains(what))
        .map(|i| i + from)
        .ok_or_else(|| format!("no {what:?} in the host log (after line {from})"))
}

/// What one fault's host must have seen.
pub fn check_host(fault: &str, log: &str) -> Result<String, String> {
    let lines = connected(log);
    let lines = &lines[..];
    match fault {
        // H1: after the held GetDeviceInfo the driver stopped its probe
        // queue, then reset the device (the status page's drop), which
        // stopped the heartbeat; it never started again.
        "slow-device-info" => {
            let hold = find(lines, 0, "injected fault: holding GetDeviceInfo")?;
            let started = find(lines, 0, "heartbeat started")?;
            let released = find(lines, hold, "injected fault: GetDeviceInfo released")?;
            if field(lines[released], "cut_short") != Some("true") {
                return Err(format!("the hold was not cut short: {}", lines[released]));
            }
            let disabled = find(lines, hold, "queue disabled")?;
            let reset = find(lines, disabled, "device reset requested by the driver")?;
            let stopped = find(lines, reset, "heartbeat stopped")?;
            if started > hold || find(lines, stopped, "heartbeat started").is_ok() {
                return Err("the heartbeat did not run once, before the hold".into());
            }
            Ok(format!(
                "heartbeat started, GetDeviceInfo held {} ms, probe queue disabled, device reset, heartbeat stopped (beats={})",
                field(lines[released], "held_ms").unwrap_or("?"),
                field(lines[stopped], "count").unwrap_or("?")
            ))
        }
        // H2: the driver stopped the queue while the guest still held the
        // file, promptly after the bad completion.
        "bad-completion-tag" | "bad-completion-tail" => {
            let posted = find(lines, 0, "injected fault: bad completion posted")?;
            let stopped = find(
                lines,
                posted,
                "injected fault: queue stopped after the bad completion",
            )?;
            find(lines, stopped, "queue disabled")?;
            let ms: u64 = field(lines[stopped], "stopped_after_ms")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("no stopped_after_ms in {}", lines[stopped]))?;
            if ms >= STOP_AFTER_BAD_COMPLETION_MS {
                return Err(format!(
                    "the queue was stopped {ms} ms after the bad completion (the close, not the driver's reaction?)"
                ));
            }
            Ok(format!("queue disabled {ms} ms after the bad completion"))
        }
        // M1: the queue went into ERROR without a completion; the driver
        // noticed and disabled it.
        "silent-queue-error" => {
            let fault = find(lines, 0, "injected fault: queue error without a completion")?;
            let error = find(lines, fault, "queue stopped with an error")?;
            find(lines, error, "queue disabled")?;
            Ok("queue in ERROR without a completion, then disabled by the driver".into())
        }
        // M6: close's ENABLE_OFF was ignored; the next client got another
        // queue; unbind's reset ended the stuck one.
        "queue-never-stops" => {
            let armed = find(
                lines,
                0,
                "injected fault: this queue will ignore ENABLE_OFF",
            )?;
            let stuck = field(lines[armed], "queue").ok_or("no queue in the fault line")?;
            let ignored = find(lines, armed, "injected fault: ENABLE_OFF ignored")?;
            let next = find(lines, ignored, "queue enabled")?;
            let other = field(lines[next], "queue");
            if other == Some(stuck) {
                return Err(format!("the next client got the stuck queue {stuck} again"));
            }
            let reset = find(lines, next, "device reset requested by the driver")?;
            let ended = lines
                .iter()
                .skip(reset)
                .any(|l| l.contains("queue disabled") && field(l, "queue") == Some(stuck));
            if !ended {
                return Err(format!("queue {stuck} was not disabled by the reset"));
            }
            Ok(format!(
                "queue {stuck} ignored ENABLE_OFF; the next client got queue {}; the unbind reset ended it",
                other.unwrap_or("?")
            ))
        }
        // M7: during the pause the driver's watchdog declared the device
        // dead and reset it (which ends the heartbeat for this binding:
        // it never resumes), and the rebind started a new heartbeat.
        "heartbeat-pause" => {
            let paused = find(lines, 0, "injected fault: heartbeat paused")?;
            let reset = find(lines, paused, "device reset requested by the driver")?;
            if let Ok(resumed) = find(lines, paused, "injected fault: heartbeat resumed") {
                if resumed < reset {
                    return Err("the pause ended before the driver reset the device".into());
                }
            }
            let stopped = find(lines, reset, "heartbeat stopped")?;
            find(lines, stopped, "heartbeat started")?;
            Ok("heartbeat paused; the driver reset the device within the pause; the rebind restarted it".into())
        }
        other => Err(format!("no host check for fault {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_devices_are_named_after_their_faults() {
        for d in &DEVICES {
            assert_eq!(d.device, device_name(d.fault));
            assert!(d.test.starts_with("fault-"));
        }
        let s = scenario();
        assert!(!s.on_request, "CI runs it");
        assert_eq!(s.gpus.len(), DEVICES.len());
        for d in &DEVICES {
            assert!(s.required.contains(&d.test.to_string()), "{}", d.test);
            assert!(s.steps.contains(d.test));
        }
    }

    const BAD_TAG: &str = "\
t INFO vgpu_host::queue: queue enabled queue=0 depth=64
t WARN vgpu_host::queue::worker: injected fault: bad completion posted queue=0 tag=2 fault=UnknownTag
t WARN vgpu_host::queue::worker: injected fault: queue stopped after the bad completion queue=0 stopped_after_ms=40
t INFO vgpu_host::queue: queue disabled queue=0
";

    #[test]
    fn a_prompt_stop_after_a_bad_completion_passes_and_a_late_one_fails() {
        assert!(check_host("bad-completion-tag", BAD_TAG).is_ok());
        let late = BAD_TAG.replace("stopped_after_ms=40", "stopped_after_ms=2100");
        assert!(check_host("bad-completion-tag", &late).is_err());
        let never = BAD_TAG.replace("queue disabled", "something else");
        assert!(check_host("bad-completion-tail", &never).is_err());
    }

    const PROBE: &str = "\
t INFO vgpu_host::regs: device reset requested by the driver
t INFO vgpu_host::heartbeat: heartbeat started status_page=0x1000
t WARN vgpu_host::fault: injected fault: holding GetDeviceInfo queue=0 delay_ms=8000
t WARN vgpu_host::fault: injected fault: GetDeviceInfo released queue=0 held_ms=5012 cut_short=true
t INFO vgpu_host::queue: queue disabled queue=0
t INFO vgpu_host::regs: device reset requested by the driver
t INFO vgpu_host::heartbeat: heartbeat stopped count=52
t INFO vgpu_host::vfio: vfio-user client disconnected
t INFO vgpu_host::heartbeat: heartbeat stopped count=99
";

    #[test]
    fn the_probe_check_wants_the_heartbeat_stopped_by_the_driver() {
        let r = check_host("slow-device-info", PROBE);
        assert!(r.as_ref().is_ok_and(|d| d.contains("beats=52")), "{r:?}");
        // Before the fix: no reset of the driver's; the heartbeat ran until
        // the VMM left.
        let before = PROBE.replacen(
            "t INFO vgpu_host::regs: device reset requested by the driver\nt INFO vgpu_host::heartbeat: heartbeat stopped count=52\n",
            "",
            1,
        );
        let before = before.replacen(
            "queue disabled queue=0\nt INFO vgpu_host::regs: device reset requested by the driver\n",
            "queue disabled queue=0\n",
            1,
        );
        assert!(check_host("slow-device-info", &before).is_err());
    }

    const PAUSE: &str = "\
t INFO vgpu_host::queue: queue enabled queue=0 depth=64
t WARN vgpu_host::fault: injected fault: heartbeat paused queue=0 pause_ms=6000
t INFO vgpu_host::regs: device reset requested by the driver
t INFO vgpu_host::heartbeat: heartbeat stopped count=40
t INFO vgpu_host::queue: queue disabled queue=0
t INFO vgpu_host::regs: device reset requested by the driver
t INFO vgpu_host::heartbeat: heartbeat started status_page=0x1000
";

    #[test]
    fn the_pause_check_wants_the_device_reset_within_the_pause() {
        assert!(check_host("heartbeat-pause", PAUSE).is_ok());
        // Before the watchdog: nothing reset the device until the unbind,
        // after the pause had ended.
        let before = PAUSE.replacen(
            "t INFO vgpu_host::regs: device reset requested by the driver\nt INFO vgpu_host::heartbeat: heartbeat stopped count=40\n",
            "t WARN vgpu_host::fault: injected fault: heartbeat resumed\n",
            1,
        );
        let before = before.replacen(
            "queue disabled queue=0\n",
            "queue disabled queue=0\nt INFO vgpu_host::regs: device reset requested by the driver\nt INFO vgpu_host::heartbeat: heartbeat stopped count=99\n",
            1,
        );
        assert!(check_host("heartbeat-pause", &before).is_err(), "{before}");
    }

    #[test]
    fn a_stuck_queue_handed_out_again_fails() {
        let log = "\
t WARN vgpu_host::fault: injected fault: this queue will ignore ENABLE_OFF queue=0
t WARN vgpu_host::queue: injected fault: ENABLE_OFF ignored queue=0
t INFO vgpu_host::queue: queue enabled queue=1 depth=64
t INFO vgpu_host::queue: queue disabled queue=1
t INFO vgpu_host::regs: device reset requested by the driver
t INFO vgpu_host::queue: queue disabled queue=0
";
        assert!(check_host("queue-never-stops", log).is_ok());
        let reused = log.replace("queue enabled queue=1", "queue enabled queue=0");
        assert!(check_host("queue-never-stops", &reused).is_err());
    }
}
