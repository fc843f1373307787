// SPDX-License-Identifier: GPL-2.0-only OR MIT
//! Gives the cdylib the soname the dynamic loader looks for, and turns the
//! measured `cuGetProcAddress` table (`proc-address/*.tsv`, see its README)
//! into Rust source that `src/proc_address.rs` includes.

use std::{collections::BTreeMap, env, fmt::Write as _, fs, path::Path};

/// The driver branch whose answers `cuGetProcAddress` gives. A new branch
/// gets its own TSV (proc-address/README.md); point this at it.
const PROC_TABLE: &str = "proc-address/r580.tsv";

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcuda.so.1");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={PROC_TABLE}");
    let tsv = fs::read_to_string(PROC_TABLE).unwrap_or_else(|e| panic!("{PROC_TABLE}: {e}"));
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("proc_table.rs");
    fs::write(&out, generate(&tsv)).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// Rust source: `TABLE_DRIVER_VERSION` and `TABLE`, (base, flags) sorted for
/// binary search, each with its breakpoints in version order.
fn generate(tsv: &str) -> String {
    let mut driver_version = None;
    let mut table: BTreeMap<(&str, u8), Vec<(i32, String)>> = BTreeMap::new();
    for (i, line) in tsv.lines().enumerate() {
        let at = || format!("{PROC_TABLE}:{}", i + 1);
        if let Some(comment) = line.strip_prefix('#') {
            if let Some((_, v)) = comment.split_once("cuDriverGetVersion ") {
                driver_version = Some(
                    v.trim()
                        .parse::<i32>()
                        .unwrap_or_else(|e| panic!("{}: {e}", at())),
                );
            }
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [base, flags, version, status, export] = f[..] else {
            panic!("{}: want base, flags, first_version, status, export", at());
        };
        let flags: u8 = flags
            .parse()
            .ok()
            .filter(|f| *f <= 2)
            .unwrap_or_else(|| panic!("{}: flags {flags}", at()));
        let version: i32 = version
            .parse()
            .unwrap_or_else(|e| panic!("{}: version: {e}", at()));
        let status: u32 = status
            .parse()
            .unwrap_or_else(|e| panic!("{}: status: {e}", at()));
        let answer = match (status, export) {
            (0, e) if e.starts_with("cu") => format!("Answer::Found({e:?})"),
            (1 | 2, "-") => format!("Answer::Missing({status})"),
            (s @ 101.., "-") => format!("Answer::Error({})", s - 100),
            // Found without a named export (dladdr gave none) or NULL with
            // "found": the generator saw something we cannot serve.
            _ => panic!("{}: status {status} with export {export:?}", at()),
        };
        let rows = table.entry((base, flags)).or_default();
        if rows.last().is_some_and(|(v, _)| *v >= version) {
            panic!(
                "{}: breakpoints of {base}/{flags} not in version order",
                at()
            );
        }
        rows.push((version, answer));
    }
    let driver_version =
        driver_version.unwrap_or_else(|| panic!("{PROC_TABLE}: no 'cuDriverGetVersion N' header"));
    let mut s = format!(
        "/// `cuDriverGetVersion` of the driver `TABLE` was measured on.\n\
         pub(crate) const TABLE_DRIVER_VERSION: c_int = {driver_version};\n\
         /// (base name, flags) → its breakpoints.\n\
         pub(crate) static TABLE: &[(&str, u8, Breakpoints)] = &[\n"
    );
    for ((base, flags), rows) in &table {
        write!(s, "    ({base:?}, {flags}, &[").expect("String write");
        for (version, answer) in rows {
            write!(s, "({version}, {answer}), ").expect("String write");
        }
        s.push_str("]),\n");
    }
    s.push_str("];\n");
    s
}
