//! `docs/device.md`'s CUDA command table against the one declaration list
//! (`uapi::cuda::COMMANDS`): every declared command has its row, and every
//! row names declared commands only.

use uapi::cuda::{command, COMMANDS};

/// The rows of the table under "## CUDA commands": (opcodes, names).
fn rows() -> Vec<(Vec<u16>, Vec<String>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/device.md"))
        .expect("docs/device.md");
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("CUDA commands"))
        .expect("a CUDA commands section");
    section
        .lines()
        .filter(|l| l.starts_with("| 0x"))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            (opcodes(cols[1]), names(cols[2]))
        })
        .collect()
}

/// "0x100", "0x102–0x104" or "0x183 / 0x184".
fn opcodes(col: &str) -> Vec<u16> {
    let hex = |s: &str| u16::from_str_radix(s.trim().trim_start_matches("0x"), 16).expect(s);
    if let Some((a, b)) = col.split_once('–') {
        (hex(a)..=hex(b)).collect()
    } else {
        col.split('/').map(hex).collect()
    }
}

/// "STREAM_CREATE / DESTROY / …": later parts share the first's prefix.
fn names(col: &str) -> Vec<String> {
    let parts: Vec<&str> = col
        .split('/')
        .map(|p| p.trim().trim_end_matches("(async)").trim())
        .collect();
    let first = parts[0];
    parts
        .iter()
        .map(|p| {
            if command_named(p) {
                p.to_string()
            } else {
                // PRIMARY_CTX_RETAIN / RELEASE: the first name less its
                // last word, then the part.
                let prefix = first.rsplit_once('_').map_or("", |(h, _)| h);
                format!("{prefix}_{p}")
            }
        })
        .collect()
}

fn command_named(name: &str) -> bool {
    COMMANDS.iter().any(|c| c.name == name)
}

#[test]
fn every_command_has_its_row_and_every_row_its_command() {
    let rows = rows();
    for c in COMMANDS {
        let found = rows
            .iter()
            .any(|(ops, names)| ops.contains(&c.opcode) && names.iter().any(|n| n == c.name));
        assert!(
            found,
            "docs/device.md has no row for {} ({:#x})",
            c.name, c.opcode
        );
    }
    for (ops, names) in &rows {
        assert_eq!(ops.len(), names.len(), "row {names:?}: one opcode per name");
        for (op, name) in ops.iter().zip(names) {
            let c = command(*op).unwrap_or_else(|| panic!("{op:#x} ({name}) is not declared"));
            assert_eq!(c.name, name, "{op:#x} is {} in uapi", c.name);
        }
    }
}
