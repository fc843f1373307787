//! Commands through the device: echo, detached commands and the
//! device's own errors.

use std::time::{Duration, Instant};

use uapi::{
    cmd::{Opcode, SleepRequest},
    ioctl::{self, Command, SubmitArgs},
    status::Status,
    wire::Wire,
};

use crate::device::{check, open0, TestResult};

pub fn echo() -> TestResult {
    let f = open0()?;
    // One command.
    let req: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut resp = vec![0u8; 4096];
    let c = f
        .call(Opcode::Echo as u16, &req, &mut resp, 5000)
        .map_err(|e| e.to_string())?;
    check(
        c.status == Status::Ok as u32 && c.resp_len == 4096 && resp == req,
        || format!("echo: status {} len {}", c.status, c.resp_len),
    )?;
    // A full batch in one submit, collected out of order.
    let depth = ioctl::MAX_BATCH as usize;
    let bodies: Vec<Vec<u8>> = (0..depth).map(|i| vec![i as u8; 64 + i]).collect();
    let mut cmds: Vec<Command> = bodies
        .iter()
        .map(|b| Command {
            opcode: Opcode::Echo as u16,
            req_len: b.len() as u32,
            req_ptr: b.as_ptr() as u64,
            resp_capacity: 256,
            ..Default::default()
        })
        .collect();
    f.submit(&mut cmds).map_err(|e| e.to_string())?;
    // The queue is full now: one more must be refused, not lost.
    let more = f.submit_one(Opcode::Echo as u16, b"x", 1);
    check(more.map_err(|e| e.errno) == Err(libc::EAGAIN), || {
        format!("submit on a full queue: {more:?}")
    })?;
    for i in (0..depth).rev() {
        let mut out = vec![0u8; 256];
        let c = f
            .wait(cmds[i].seq, &mut out, 5000)
            .map_err(|e| e.to_string())?;
        check(
            c.status == 0 && out[..c.resp_len as usize] == bodies[i][..],
            || format!("batch echo {i}: status {} len {}", c.status, c.resp_len),
        )?;
    }
    // Collected seqs are gone.
    let again = f.wait(cmds[0].seq, &mut [], 10);
    check(again.map_err(|e| e.errno) == Err(libc::EINVAL), || {
        format!("second wait on a seq: {again:?}")
    })?;
    Ok(format!("echo 4 KiB and a batch of {depth}"))
}

/// Detached commands free their slot on completion; WAIT_FOR_SPACE waits
/// for room instead of failing.
pub fn detached() -> TestResult {
    use uapi::ioctl::{command_flags::DETACHED, submit_flags::WAIT_FOR_SPACE};
    let f = open0()?;
    let sleep = SleepRequest {
        millis: 20,
        reserved: 0,
    };
    let detached = |opcode: Opcode, body: &[u8]| Command {
        opcode: opcode as u16,
        flags: DETACHED,
        req_len: body.len() as u32,
        req_ptr: body.as_ptr() as u64,
        ..Default::default()
    };
    // Four batches of 64 detached commands: the queue holds 64, so each
    // batch after the first must wait for the device to drain the last.
    let t0 = Instant::now();
    for _ in 0..4 {
        let mut cmds = vec![detached(Opcode::Sleep, sleep.as_bytes()); ioctl::MAX_BATCH as usize];
        let mut args = SubmitArgs {
            commands: cmds.as_mut_ptr() as u64,
            count: cmds.len() as u32,
            flags: WAIT_FOR_SPACE,
        };
        // SAFETY: `args` points to live commands whose bodies outlive the call.
        unsafe {
            f.raw_ioctl(
                ioctl::VGPU_IOCTL_SUBMIT,
                &mut args as *mut SubmitArgs as usize,
            )
        }
        .map_err(|e| format!("detached batch: {e}"))?;
        // A detached command cannot be waited for.
        let r = f.wait(cmds[0].seq, &mut [], 10);
        check(r.map_err(|e| e.errno) == Err(libc::EINVAL), || {
            format!("wait on a detached command: {r:?}")
        })?;
    }
    // 256 sleeps of 20 ms ran in order before this echo completes; it too
    // must wait for a free slot.
    let mut out = [0u8; 2];
    let mut echo = [Command {
        opcode: Opcode::Echo as u16,
        req_len: 2,
        req_ptr: b"ok".as_ptr() as u64,
        resp_capacity: 2,
        ..Default::default()
    }];
    let mut args = SubmitArgs {
        commands: echo.as_mut_ptr() as u64,
        count: 1,
        flags: WAIT_FOR_SPACE,
    };
    // SAFETY: as above.
    unsafe {
        f.raw_ioctl(
            ioctl::VGPU_IOCTL_SUBMIT,
            &mut args as *mut SubmitArgs as usize,
        )
    }
    .map_err(|e| format!("echo after detached batches: {e}"))?;
    let c = f
        .wait(echo[0].seq, &mut out, 30_000)
        .map_err(|e| e.to_string())?;
    let took = t0.elapsed();
    check(c.status == 0 && &out == b"ok", || {
        "echo after detached work failed".into()
    })?;
    check(took >= Duration::from_millis(256 * 20), || {
        format!("256 x 20 ms of detached sleeps took only {took:?}")
    })?;
    // Without WAIT_FOR_SPACE a full queue is EAGAIN.
    let mut cmds = vec![detached(Opcode::Sleep, sleep.as_bytes()); ioctl::MAX_BATCH as usize];
    f.submit(&mut cmds)
        .map_err(|e| format!("64 detached on an empty queue: {e}"))?;
    let more = f.submit(&mut [detached(Opcode::Echo, b"x")]);
    check(more.map_err(|e| e.errno) == Err(libc::EAGAIN), || {
        format!("detached submit on a full queue: {more:?}")
    })?;
    // Detached commands may not ask for a response.
    let mut bad = [Command {
        resp_capacity: 4,
        ..detached(Opcode::Echo, b"x")
    }];
    let r = f.submit(&mut bad);
    check(r.map_err(|e| e.errno) == Err(libc::EINVAL), || {
        format!("detached with a response: {r:?}")
    })?;
    Ok(format!(
        "256 detached commands through a 64-deep queue in {:.2} s",
        took.as_secs_f64()
    ))
}

pub fn device_errors() -> TestResult {
    let f = open0()?;
    let c = f
        .call(0x7777, b"", &mut [], 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == Status::InvalidOpcode as u32, || {
        format!("unknown opcode: status {}", c.status)
    })?;
    let mut small = [0u8; 8];
    let c = f
        .call(Opcode::GetDeviceInfo as u16, b"", &mut small, 5000)
        .map_err(|e| e.to_string())?;
    check(
        c.status == Status::ResponseTooSmall as u32
            && c.resp_len as usize == std::mem::size_of::<uapi::cmd::DeviceInfo>(),
        || format!("small response: status {} len {}", c.status, c.resp_len),
    )?;
    let bad = SleepRequest {
        millis: 1,
        reserved: 9,
    };
    let c = f
        .call(Opcode::Sleep as u16, bad.as_bytes(), &mut [], 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == Status::InvalidField as u32, || {
        format!("bad sleep: status {}", c.status)
    })?;
    // Only the driver says which process a client is.
    let forged = uapi::cmd::ClientIdentity {
        pid: 1,
        reserved: 0,
    };
    let r = f.submit_one(Opcode::SetClientIdentity as u16, forged.as_bytes(), 0);
    check(r.map_err(|e| e.errno) == Err(libc::EPERM), || {
        format!("userspace SetClientIdentity: {r:?}")
    })?;
    // ... and which pages it unpins (a release ends the host's registrations).
    let range = uapi::cmd::GuestRange {
        addr: 0x10_0000,
        len: 0x10_0000,
    };
    let r = f.submit_one(Opcode::ReleaseGuestPages as u16, range.as_bytes(), 0);
    check(r.map_err(|e| e.errno) == Err(libc::EPERM), || {
        format!("userspace ReleaseGuestPages: {r:?}")
    })?;
    // The device knows this process as a client.
    let mut list = [0u8; 16 * 8];
    let c = f
        .call(Opcode::ListClients as u16, b"", &mut list, 5000)
        .map_err(|e| e.to_string())?;
    let me = std::process::id();
    let pids: Vec<u32> = list[..c.resp_len as usize]
        .chunks(16)
        .map(|e| u32::from_le_bytes([e[0], e[1], e[2], e[3]]))
        .collect();
    check(c.status == 0 && pids.contains(&me), || {
        format!("client list {pids:?} lacks pid {me}")
    })?;
    // The client still works after errors.
    let mut out = [0u8; 3];
    let c = f
        .call(Opcode::Echo as u16, b"abc", &mut out, 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == 0 && &out == b"abc", || {
        "echo after errors failed".into()
    })?;
    Ok("invalid opcode, short response and bad fields reported; client carries on".into())
}
