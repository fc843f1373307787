//! The debug kernel's side of the fuzz scenario: that the checkers are in
//! this kernel at all, and that none of them said anything.

use vgpu_tests::results::KERNEL_TROUBLE;

use crate::device::{check, TestResult};

/// Beyond [`KERNEL_TROUBLE`] (which already matches `BUG: KASAN`,
/// `BUG: KFENCE`, `BUG: sleeping function called from invalid context` and
/// lockdep's `WARNING: possible circular locking dependency`): reports
/// that print neither, and lockdep switching itself off.
const DEBUG_TROUBLE: [&str; 9] = [
    "possible circular locking",
    "called from invalid context",
    "INFO: task",
    "rcu: INFO",
    "detected stall",
    "corruption",
    "DEBUG_LOCKS_WARN_ON",
    "turning off the locking correctness validator",
    "lockdep is turned off",
];

fn dmesg() -> Result<String, String> {
    let out = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// KASAN and lockdep announced themselves at boot.
pub fn debug_kernel() -> TestResult {
    let log = dmesg()?;
    let kasan = log.contains("KernelAddressSanitizer initialized");
    let lockdep = log.contains("Lock dependency validator");
    check(kasan && lockdep, || {
        format!(
            "not the debug kernel: KASAN {kasan}, lockdep {lockdep} (VGPU_KERNEL_VARIANT=debug)"
        )
    })?;
    Ok("KASAN and lockdep active".into())
}

/// No report of any checker in the kernel log.
pub fn kernel_clean() -> TestResult {
    let log = dmesg()?;
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| {
            KERNEL_TROUBLE
                .iter()
                .chain(DEBUG_TROUBLE.iter())
                .any(|p| l.contains(p))
        })
        .take(40)
        .collect();
    check(bad.is_empty(), || {
        format!("kernel log: {}", bad.join(" | "))
    })?;
    Ok("no KASAN, KFENCE, lockdep, RCU, hung-task, BUG or WARN report".into())
}
