//! The zero-copy data path (SUBMIT_DATA): large data goes to the device by
//! pinned pages, arrives intact both ways, and the driver's counters show it.

use uapi::{
    cmd::Opcode,
    ioctl::{Command, DataCommand, DataInfo},
    status::Status,
};
use vgpu_transport::VgpuFile;

use crate::device::{check, open0, TestResult};

/// Bytes of the header the echo test puts before its data.
const HEADER: usize = 24;

pub fn data_info(f: &VgpuFile) -> Result<DataInfo, String> {
    f.data_info().map_err(|e| e.to_string())
}

/// Echoes `HEADER` bytes and `data` through one DataCommand whose
/// response data lands in a buffer of its own; returns (header, data) back.
fn echo(f: &VgpuFile, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut back = vec![0u8; data.len()];
    let head = echo_into(f, data, &mut back)?;
    Ok((head, back))
}

/// [`echo`] into the caller's `back` (as long as `data`); returns the
/// header. Driver errors come back as `errno N: ...`.
pub fn echo_into(f: &VgpuFile, data: &[u8], back: &mut [u8]) -> Result<Vec<u8>, String> {
    let header: Vec<u8> = (0..HEADER as u8).map(|i| i ^ 0x5a).collect();
    let mut cmd = [DataCommand {
        cmd: Command {
            opcode: Opcode::Echo as u16,
            req_len: HEADER as u32,
            req_ptr: header.as_ptr() as u64,
            resp_capacity: HEADER as u32,
            ..Default::default()
        },
        data_ptr: data.as_ptr() as u64,
        data_len: data.len() as u32,
        resp_data_ptr: back.as_mut_ptr() as u64,
        resp_data_len: back.len() as u32,
        reserved: 0,
    }];
    // SAFETY: `header`, `data` and `back` live, unused elsewhere, until the
    // wait below has collected the command.
    unsafe { f.submit_data_commands(&mut cmd) }.map_err(|e| format!("errno {}: {e}", e.errno))?;
    let mut head = vec![0u8; HEADER];
    let c = f
        .wait(cmd[0].cmd.seq, &mut head, 10_000)
        .map_err(|e| e.to_string())?;
    check(
        c.status == Status::Ok as u32 && c.resp_len as usize == HEADER + data.len(),
        || format!("echo: status {} resp_len {}", c.status, c.resp_len),
    )?;
    check(head == header, || {
        "echo: the header came back changed".into()
    })?;
    Ok(head)
}

/// Large data is pinned (the counters move by its size), small data is
/// copied (they do not); both arrive intact; a bad pointer is EFAULT.
pub fn zero_copy() -> TestResult {
    let f = open0()?;
    let before = data_info(&f)?;
    check(before.max_data >= 4 << 20, || {
        format!("max_data {} (no SGL support?)", before.max_data)
    })?;
    check(before.pinned == 0, || {
        format!("fresh file pins {} bytes", before.pinned)
    })?;
    // 4 MiB, starting mid-page, each way.
    let big: Vec<u8> = (0..(4usize << 20) + 1000)
        .map(|i| (i * 31 + 7) as u8)
        .collect();
    let (_, back) = echo(&f, &big[1000..])?;
    check(back == big[1000..], || "4 MiB echo: data differs".into())?;
    let after = data_info(&f)?;
    let moved = 2 * (big.len() - 1000) as u64;
    check(
        after.sgl_commands == before.sgl_commands + 1
            && after.sgl_bytes == before.sgl_bytes + moved
            && after.device_sgl_bytes >= before.device_sgl_bytes + moved,
        || format!("counters after a 4 MiB echo: {before:?} -> {after:?}"),
    )?;
    // The pinnings stay cached for the next copy of the same buffers.
    let cache = f.pin_info().map_err(|e| e.to_string())?;
    check(
        after.pinned >= moved && after.pinned == cache.pinned_bytes,
        || {
            format!(
                "{} bytes pinned after the wait, cache {cache:?}",
                after.pinned
            )
        },
    )?;
    // Below `min_pinned` the request data is copied; the response data is
    // still pinned (only request data has a copy path).
    let small: Vec<u8> = (0..(after.min_pinned as usize / 2))
        .map(|i| i as u8)
        .collect();
    let (_, back) = echo(&f, &small)?;
    check(back == small, || "small echo: data differs".into())?;
    let small_after = data_info(&f)?;
    check(
        small_after.sgl_bytes == after.sgl_bytes + small.len() as u64,
        || {
            format!(
                "small echo counted {} bytes",
                small_after.sgl_bytes - after.sgl_bytes
            )
        },
    )?;
    // A pointer the caller does not own is refused before anything is posted.
    let mut bad = [DataCommand {
        cmd: Command {
            opcode: Opcode::Echo as u16,
            resp_capacity: 16,
            ..Default::default()
        },
        data_ptr: 0x10,
        data_len: 1 << 20,
        ..Default::default()
    }];
    // SAFETY: the driver rejects the unmapped data pointer; nothing else is read.
    let r = unsafe { f.submit_data_commands(&mut bad) };
    check(r.map_err(|e| e.errno) == Err(libc::EFAULT), || {
        format!("unmapped data pointer: {r:?}")
    })?;
    Ok(format!(
        "4 MiB each way by pinned pages, {} B copied, EFAULT on a bad pointer; pin limit {} MiB",
        small.len(),
        after.pin_limit >> 20
    ))
}

/// After the cuda scenario's suite: its round trip went by pinned pages.
/// The device counters count every file since probe; the expected bytes
/// (`/etc/vgpu-roundtrip-mib`, up and down) are a lower bound.
pub fn zero_copy_used() -> TestResult {
    let mib: u64 = std::fs::read_to_string("/etc/vgpu-roundtrip-mib")
        .map_err(|e| format!("/etc/vgpu-roundtrip-mib: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("/etc/vgpu-roundtrip-mib: {e}"))?;
    let info = data_info(&open0()?)?;
    let want = 2 * (mib << 20);
    check(info.device_sgl_bytes >= want, || {
        format!(
            "device moved {} MiB by pinned pages in {} commands, want at least {} MiB",
            info.device_sgl_bytes >> 20,
            info.device_sgl_commands,
            want >> 20
        )
    })?;
    Ok(format!(
        "{} MiB in {} commands by pinned pages",
        info.device_sgl_bytes >> 20,
        info.device_sgl_commands
    ))
}
