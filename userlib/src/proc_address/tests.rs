//! The resolver against the table, the measured edge cases and the
//! requests NVIDIA's cudart made under cuBLAS 13.

use std::{
    collections::BTreeSet,
    ffi::{c_char, c_int, c_void, CStr, CString},
};

use super::*;
use crate::exports::{cuGetProcAddress, cuGetProcAddress_v2, table};

const PTDS: u64 = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
const INVALID: Answer = Answer::Error(result::INVALID_VALUE);

fn found(export: &'static str) -> Answer {
    Answer::Found(export)
}

#[test]
fn versions_pick_the_breakpoint_at_or_below() {
    let r = |v, f| resolve("cuStreamGetCaptureInfo", v, f);
    assert_eq!(r(10000, 0), Answer::Missing(VERSION_NOT_SUFFICIENT));
    assert_eq!(r(10010, 0), found("cuStreamGetCaptureInfo"));
    assert_eq!(r(11020, 0), found("cuStreamGetCaptureInfo"));
    assert_eq!(r(11030, 0), found("cuStreamGetCaptureInfo_v2"));
    assert_eq!(r(12030, 0), found("cuStreamGetCaptureInfo_v3"));
    assert_eq!(r(13000, 0), found("cuStreamGetCaptureInfo_v3"));
    assert_eq!(r(10010, PTDS), found("cuStreamGetCaptureInfo_ptsz"));
    assert_eq!(r(11030, PTDS), found("cuStreamGetCaptureInfo_v2_ptsz"));
    assert_eq!(r(12030, PTDS), found("cuStreamGetCaptureInfo_v3_ptsz"));
    // Legacy-stream flag: the default exports.
    assert_eq!(r(12030, 1), found("cuStreamGetCaptureInfo_v3"));

    assert_eq!(resolve("cuCtxGetDevice", 2000, 0), found("cuCtxGetDevice"));
    assert_eq!(resolve("cuCtxGetDevice", 12090, 0), found("cuCtxGetDevice"));
    assert_eq!(
        resolve("cuCtxGetDevice", 13000, 0),
        found("cuCtxGetDevice_v2")
    );
    assert_eq!(resolve("cuCtxCreate", 12030, 0), found("cuCtxCreate_v3"));
    assert_eq!(resolve("cuCtxCreate", 12050, 0), found("cuCtxCreate_v4"));

    let v2 = Answer::Missing(VERSION_NOT_SUFFICIENT);
    assert_eq!(resolve("cuMemAllocAsync", 11000, 0), v2);
    assert_eq!(
        resolve("cuMemAllocAsync", 11020, 0),
        found("cuMemAllocAsync")
    );
    // Below every name's first breakpoint (2000).
    assert_eq!(resolve("cuMemAlloc", 1000, 0), v2);
    assert_eq!(resolve("cuMemAlloc", 0, 0), v2);
    // cuMemcpy_ptds came with CUDA 7.0, cuMemcpy with 4.0.
    assert_eq!(resolve("cuMemcpy", 5000, 0), found("cuMemcpy"));
    assert_eq!(resolve("cuMemcpy", 5000, PTDS), v2);
}

#[test]
fn unknown_names_versions_above_the_driver_and_odd_flags() {
    let not_found = Answer::Missing(SYMBOL_NOT_FOUND);
    assert_eq!(resolve("cuNope", 12000, 0), not_found);
    assert_eq!(resolve("", 12000, 0), not_found);
    // The driver takes base names only.
    assert_eq!(resolve("cuMemAlloc_v2", 12000, 0), not_found);

    assert_eq!(TABLE_DRIVER_VERSION, 13000);
    assert_eq!(resolve("cuMemAlloc", 13010, 0), INVALID);
    assert_eq!(resolve("cuMemAlloc", 13001, 0), INVALID);
    assert_eq!(resolve("cuNope", 13010, 0), INVALID);
    // Negative: as the driver's own version.
    assert_eq!(resolve("cuCtxGetDevice", -1, 0), found("cuCtxGetDevice_v2"));
    assert_eq!(
        resolve("cuCtxCreate", c_int::MIN, 0),
        found("cuCtxCreate_v4")
    );

    assert_eq!(resolve("cuMemcpy", 12000, 3), found("cuMemcpy_ptds"));
    assert_eq!(resolve("cuMemcpy", 12000, 4), INVALID);
    assert_eq!(resolve("cuMemcpy", 12000, 1 << 40), INVALID);
}

/// Every export a breakpoint names is one of ours: a table from a new driver
/// cannot resolve to NULL unnoticed.
#[test]
fn every_export_the_table_names_is_ours() {
    let ours = table();
    let lacking: BTreeSet<&str> = TABLE
        .iter()
        .flat_map(|(_, _, rows)| rows.iter())
        .filter_map(|(_, a)| match a {
            Answer::Found(e) if !ours.contains_key(e) => Some(*e),
            _ => None,
        })
        .collect();
    assert!(
        lacking.is_empty(),
        "add to `unsupported` in exports.rs: {lacking:?}"
    );
    assert!(TABLE.len() >= 1440, "{} (base, flags) keys", TABLE.len());
}

/// `resolve` answers INVALID_VALUE above `TABLE_DRIVER_VERSION` without
/// looking at the rows; check the table says the same for every name.
#[test]
fn the_table_ends_at_its_driver_version() {
    for (base, flags, rows) in TABLE {
        let above: Vec<_> = rows
            .iter()
            .filter(|(v, _)| *v > TABLE_DRIVER_VERSION)
            .collect();
        assert!(
            matches!(above[..], [(_, a)] if *a == INVALID) && rows.last() == above.first().copied(),
            "{base}/{flags}: {rows:?}"
        );
    }
}

type V1 = unsafe extern "C" fn(*const c_char, *mut *mut c_void, c_int, u64) -> CUresult;
type GetErrorName = unsafe extern "C" fn(CUresult, *mut *const c_char) -> CUresult;

#[test]
fn c_entry_points() {
    let untouched: *mut c_void = std::ptr::dangling_mut();
    let v2 = |name: &CStr, version, flags| {
        let (mut p, mut s) = (untouched, 77);
        // SAFETY: a C string and valid out-locations.
        let r = unsafe { cuGetProcAddress_v2(name.as_ptr(), &mut p, version, flags, &mut s) };
        (r, s, p)
    };
    let v1 = |name: &CStr, version, flags| {
        let mut p = untouched;
        // SAFETY: as above.
        let r = unsafe { cuGetProcAddress(name.as_ptr(), &mut p, version, flags) };
        (r, p)
    };
    let addr = |n: &str| table()[n] as *mut c_void;
    let null = std::ptr::null_mut();
    assert_eq!(v2(c"cuMemAlloc", 12000, 0), (0, 0, addr("cuMemAlloc_v2")));
    assert_eq!(v2(c"cuNope", 12000, 0), (0, 1, null));
    assert_eq!(v2(c"", 12000, 0), (0, 1, null));
    assert_eq!(v2(c"cuMemAllocAsync", 11000, 0), (0, 2, null));
    assert_eq!(
        v2(c"cuMemAlloc", 13010, 0),
        (result::INVALID_VALUE, 77, untouched)
    );
    assert_eq!(v1(c"cuMemAlloc", 12000, 0), (0, addr("cuMemAlloc_v2")));
    assert_eq!(v1(c"cuNope", 12000, 0), (result::NOT_FOUND, untouched));
    assert_eq!(
        v1(c"cuMemAllocAsync", 11000, 0),
        (result::NOT_FOUND, untouched)
    );
    assert_eq!(
        v1(c"cuMemAlloc", 13010, 0),
        (result::INVALID_VALUE, untouched)
    );

    // Asked for by name, cuGetProcAddress is ours.
    assert_eq!(
        v2(c"cuGetProcAddress", 11030, 0).2,
        cuGetProcAddress as V1 as *mut c_void
    );
    assert_eq!(
        v2(c"cuGetProcAddress", 13000, 0).2,
        cuGetProcAddress_v2 as *mut c_void
    );

    let mut p = null;
    // SAFETY: NULL arguments are what this checks; a NULL status is allowed.
    unsafe {
        assert_eq!(
            cuGetProcAddress_v2(std::ptr::null(), &mut p, 12000, 0, null.cast()),
            1
        );
        assert_eq!(
            cuGetProcAddress_v2(c"cuInit".as_ptr(), null.cast(), 12000, 0, null.cast()),
            1
        );
        assert_eq!(cuGetProcAddress(std::ptr::null(), &mut p, 12000, 0), 1);
        assert_eq!(
            cuGetProcAddress(c"cuInit".as_ptr(), null.cast(), 12000, 0),
            1
        );
        assert_eq!(
            cuGetProcAddress_v2(c"cuInit".as_ptr(), &mut p, 12000, 0, null.cast()),
            0
        );
    }
    assert_eq!(p, addr("cuInit"));

    // What it hands out is callable.
    let (_, _, f) = v2(c"cuGetErrorName", 6000, 0);
    // SAFETY: the table's cuGetErrorName is ours, of this C type.
    let f: GetErrorName = unsafe { std::mem::transmute(f) };
    let mut s = std::ptr::null();
    // SAFETY: a valid out-location.
    assert_eq!(unsafe { f(700, &mut s) }, 0);
    // SAFETY: cuGetErrorName returned a static C string.
    assert_eq!(unsafe { CStr::from_ptr(s) }, c"CUDA_ERROR_ILLEGAL_ADDRESS");
}

/// Replays `r580-edges.txt`: each request tests/gpu/probe-proc-address.c
/// made of NVIDIA's driver gets the same answer from ours (the NULL-argument
/// cases, which crash NVIDIA's driver, excepted).
#[test]
fn replays_the_measured_edge_cases() {
    let untouched: *mut c_void = std::ptr::dangling_mut();
    let mut n = 0;
    for line in include_str!("../../proc-address/r580-edges.txt").lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (entry, sym, version, flags, answer) = match f[..] {
            [e @ ("v1" | "v2"), s, v, fl, "->", ref rest @ ..] => (e, s, v, fl, rest),
            _ => continue,
        };
        let name = CString::new(sym).expect("no NUL in the fixture");
        let version: c_int = version.parse().expect("version");
        let flags: u64 = flags.parse().expect("flags");
        let pfn = |e: &str| match e {
            "(untouched)" => untouched,
            "-" => std::ptr::null_mut(),
            e => table()[e] as *mut c_void,
        };
        let mut p = untouched;
        let got = if entry == "v1" {
            // SAFETY: a C string and a valid out-location.
            let r = unsafe { cuGetProcAddress(name.as_ptr(), &mut p, version, flags) };
            (r.to_string(), None)
        } else {
            let mut s: c_int = 77;
            // SAFETY: a C string and valid out-locations.
            let r = unsafe { cuGetProcAddress_v2(name.as_ptr(), &mut p, version, flags, &mut s) };
            (r.to_string(), Some(s.to_string()))
        };
        let want = match answer {
            [r, e] => ((r.to_string(), None), pfn(e)),
            [r, s, e] => ((r.to_string(), Some(s.to_string())), pfn(e)),
            _ => panic!("unexpected line {line:?}"),
        };
        assert_eq!((got, p), want, "{line}");
        n += 1;
    }
    assert_eq!(n, 56, "requests replayed");
}

/// Rows where ZLUDA's table (the fixture's driver-answer column) and our
/// measured r580.tsv disagree; r580.tsv wins. None on R580: both agree on
/// all 442 requests.
const ORACLE_DISAGREES: &[(&str, c_int, u64)] = &[];

/// The 442 requests cudart made under cuBLAS/cuBLASLt 13 (measured, with
/// the driver's answers from an independent table: the fixture's header).
#[test]
fn replays_cublas13_requests() {
    let mut n = 0;
    let mut wrong = Vec::new();
    for line in include_str!("../../proc-address/cublas13-requests.txt").lines() {
        if line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        let (req, driver) = (cols[0].split_whitespace().collect::<Vec<_>>(), cols[1]);
        let [_, sym, version, flags] = req[..] else {
            panic!("unexpected line {line:?}");
        };
        let (version, flags): (c_int, u64) = (
            version.parse().expect("version"),
            flags.parse().expect("flags"),
        );
        n += 1;
        if ORACLE_DISAGREES.contains(&(sym, version, flags)) {
            continue;
        }
        let name = CString::new(sym).expect("no NUL in the fixture");
        let (mut p, mut s) = (std::ptr::null_mut(), -1);
        // SAFETY: a C string and valid out-locations.
        let r = unsafe { cuGetProcAddress_v2(name.as_ptr(), &mut p, version, flags, &mut s) };
        if (r, s, p as usize) != (0, 0, table().get(driver).copied().unwrap_or(0)) {
            wrong.push(format!(
                "{sym} {version} {flags}: want {driver}, got {:?}",
                resolve(sym, version, flags)
            ));
        }
    }
    assert_eq!(n, 442, "requests in the fixture");
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
