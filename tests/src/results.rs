//! Result lines of the test programs, as the VM test bed collects them.

use std::collections::BTreeMap;

/// One result: its full name, whether it passed, and what it said.
pub type Outcome = (String, bool, String);

/// A result line's `name PASS|FAIL detail`, its name prefixed.
pub fn verdict(prefix: &str, rest: &str) -> Outcome {
    let mut parts = rest.splitn(3, ' ');
    let name = parts.next().unwrap_or("");
    let pass = parts.next() == Some("PASS");
    let detail = parts.next().unwrap_or("").to_string();
    (format!("{prefix}{name}"), pass, detail)
}

/// Compares the `DIGEST case hex` lines of a suite's output with the
/// digests recorded from NVIDIA's own driver on a GPU
/// (`tests/vm/gpu-digests.txt`): every recorded case must match bit for bit.
pub fn check_digests(output: &str) -> (bool, String) {
    let reference = include_str!("../vm/gpu-digests.txt");
    let got: BTreeMap<&str, &str> = output
        .lines()
        .map(|l| l.trim_start_matches("@@"))
        .filter_map(|l| l.strip_prefix("DIGEST "))
        .filter_map(|l| l.split_once(' '))
        .map(|(c, d)| (c, d.trim()))
        .collect();
    let mut differ = Vec::new();
    let mut count = 0;
    for (case, want) in reference
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
    {
        count += 1;
        if got.get(case) != Some(&want.trim()) {
            differ.push(format!("{case} (got {:?}, GPU {want})", got.get(case)));
        }
    }
    if differ.is_empty() && count > 0 {
        (
            true,
            format!("all {count} result digests identical to NVIDIA's driver on an H200"),
        )
    } else {
        (false, format!("differ from the GPU: {}", differ.join(", ")))
    }
}

/// What the kernel prints when something went wrong in it.
pub const KERNEL_TROUBLE: [&str; 6] = [
    "Oops",
    "BUG:",
    "WARNING:",
    "Call Trace",
    "Kernel panic",
    "general protection",
];

/// Kernel trouble in the serial log (the console sees every oops, even one
/// that kills the guest before it can run dmesg).
pub fn kernel_trouble(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| !l.starts_with("@@") && !l.starts_with("qemu:"))
        .filter(|l| KERNEL_TROUBLE.iter().any(|p| l.contains(p)))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_splits_name_result_and_detail() {
        let (name, pass, detail) = verdict("p/", "grid_1d PASS 3ms 40 blocks");
        assert_eq!(name, "p/grid_1d");
        assert!(pass);
        assert_eq!(detail, "3ms 40 blocks");
        assert!(!verdict("p/", "x FAIL 0ms boom").1);
        assert!(!verdict("p/", "x").1);
    }

    #[test]
    fn digests_must_all_match_the_reference() {
        assert!(!check_digests("DIGEST vecadd 0\n").0);
        let all: String = include_str!("../vm/gpu-digests.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("@@DIGEST {l}\n"))
            .collect();
        assert!(check_digests(&all).0);
    }
}
