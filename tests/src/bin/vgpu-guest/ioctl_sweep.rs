//! Every ioctl with bad arguments: each must fail with the right errno
//! and leave the device usable.

use uapi::{
    cmd::{Opcode, SleepRequest},
    ioctl::{self, Command, DataCommand, InfoArgs, PinArgs, SubmitArgs, WaitArgs},
    wire::Wire,
};

use crate::device::{check, open0, TestResult};

fn expect_errno(
    what: &str,
    r: Result<i32, vgpu_transport::DevError>,
    errno: i32,
) -> Result<(), String> {
    match r {
        Err(e) if e.errno == errno => Ok(()),
        other => Err(format!("{what}: expected errno {errno}, got {other:?}")),
    }
}

pub fn ioctl_sweep() -> TestResult {
    let f = open0()?;
    let mut info = InfoArgs::default();
    let p = &mut info as *mut InfoArgs as usize;
    // SAFETY: for every raw ioctl below, the argument is either a pointer
    // to a live local big enough for the encoded size, or a deliberately bad
    // address that the kernel must reject without touching our memory.
    unsafe {
        // Unknown numbers, other type bytes, no-argument and wrong-size forms.
        for nr in [0x03u32, 0x10, 0x7f, 0xff] {
            expect_errno(
                "unknown nr",
                f.raw_ioctl(ioctl::ioc(3, nr, 64), p),
                libc::ENOTTY,
            )?;
        }
        expect_errno(
            "foreign type",
            f.raw_ioctl((b'T' as u32) << 8 | 1, p),
            libc::ENOTTY,
        )?;
        expect_errno("no-arg form", f.raw_ioctl(ioctl::io(0), p), libc::ENOTTY)?;
        for size in [0usize, 8, 191, 193, 4096] {
            expect_errno(
                "get info wrong size",
                f.raw_ioctl(ioctl::ior::<()>(0) | (size as u32) << 16, p),
                libc::ENOTTY,
            )?;
        }
        // Bad pointers.
        for bad in [
            0usize,
            8,
            0xffff_8880_0000_0000,
            0x7fff_ffff_f000,
            usize::MAX - 64,
        ] {
            expect_errno(
                "get info bad pointer",
                f.raw_ioctl(ioctl::VGPU_IOCTL_GET_INFO, bad),
                libc::EFAULT,
            )?;
            expect_errno(
                "submit bad pointer",
                f.raw_ioctl(ioctl::VGPU_IOCTL_SUBMIT, bad),
                libc::EFAULT,
            )?;
            expect_errno(
                "wait bad pointer",
                f.raw_ioctl(ioctl::VGPU_IOCTL_WAIT, bad),
                libc::EFAULT,
            )?;
        }
        // Garbage in submit arguments.
        let good = Command {
            opcode: Opcode::Echo as u16,
            req_len: 1,
            req_ptr: b"z".as_ptr() as u64,
            resp_capacity: 1,
            ..Default::default()
        };
        let mut cmds = [good; 2];
        let sub = |count: u32, flags: u32, cmds_ptr: u64| {
            let mut a = SubmitArgs {
                commands: cmds_ptr,
                count,
                flags,
            };
            f.raw_ioctl(ioctl::VGPU_IOCTL_SUBMIT, &mut a as *mut SubmitArgs as usize)
        };
        let cp = cmds.as_mut_ptr() as u64;
        expect_errno("submit count 0", sub(0, 0, cp), libc::EINVAL)?;
        expect_errno(
            "submit count too big",
            sub(ioctl::MAX_BATCH + 1, 0, cp),
            libc::EINVAL,
        )?;
        expect_errno("submit count huge", sub(u32::MAX, 0, cp), libc::EINVAL)?;
        expect_errno("submit unknown flag", sub(1, 2, cp), libc::EINVAL)?;
        expect_errno("submit bad commands pointer", sub(1, 0, 0x10), libc::EFAULT)?;
        let variants: [fn(&mut Command); 6] = [
            |c| c.flags = 1,
            |c| c.reserved = 5,
            |c| c.req_len = ioctl::MAX_PAYLOAD + 1,
            |c| c.resp_capacity = u32::MAX,
            |c| c.req_ptr = 0xdead_0000,
            |c| c.req_ptr = 0xffff_ffff_ffff_f000,
        ];
        for (i, v) in variants.iter().enumerate() {
            cmds = [good; 2];
            v(&mut cmds[1]);
            let want = if i >= 4 { libc::EFAULT } else { libc::EINVAL };
            expect_errno(
                "submit bad command",
                sub(2, 0, cmds.as_mut_ptr() as u64),
                want,
            )?;
        }
        // Garbage in wait arguments.
        let mut w = WaitArgs {
            seq: 999_999,
            timeout_ms: 10,
            ..Default::default()
        };
        expect_errno(
            "wait unknown seq",
            f.raw_ioctl(ioctl::VGPU_IOCTL_WAIT, &mut w as *mut WaitArgs as usize),
            libc::EINVAL,
        )?;
        w.seq = 0;
        expect_errno(
            "wait seq 0",
            f.raw_ioctl(ioctl::VGPU_IOCTL_WAIT, &mut w as *mut WaitArgs as usize),
            libc::EINVAL,
        )?;
        // A response pointer that faults: EFAULT, and the response is kept.
        let seq = f
            .submit_one(Opcode::Echo as u16, b"keep", 4)
            .map_err(|e| e.to_string())?;
        let mut w = WaitArgs {
            seq,
            resp_ptr: 0x10,
            resp_capacity: 4,
            timeout_ms: 5000,
            ..Default::default()
        };
        expect_errno(
            "wait bad response pointer",
            f.raw_ioctl(ioctl::VGPU_IOCTL_WAIT, &mut w as *mut WaitArgs as usize),
            libc::EFAULT,
        )?;
        let mut out = [0u8; 4];
        let c = f
            .wait(seq, &mut out, 5000)
            .map_err(|e| format!("wait after EFAULT: {e}"))?;
        check(c.status == 0 && &out == b"keep", || {
            "response lost after EFAULT".into()
        })?;
        // Timeouts.
        let sleep = SleepRequest {
            millis: 2000,
            reserved: 0,
        };
        let seq = f
            .submit_one(Opcode::Sleep as u16, sleep.as_bytes(), 0)
            .map_err(|e| e.to_string())?;
        let r = f.wait(seq, &mut [], 50).map(|_| 0);
        expect_errno("wait timeout", r, libc::ETIMEDOUT)?;
        let c = f.wait(seq, &mut [], 10_000).map_err(|e| e.to_string())?;
        check(c.status == 0, || format!("sleep status {}", c.status))?;

        // PIN and UNPIN: empty, unmapped, never pinned, wrapping.
        let pin_ioctl = |req: u32, addr: u64, len: u64| {
            let mut a = PinArgs { addr, len };
            f.raw_ioctl(req, &mut a as *mut PinArgs as usize)
        };
        let (pin, unpin) = (ioctl::VGPU_IOCTL_PIN, ioctl::VGPU_IOCTL_UNPIN);
        expect_errno("pin empty", pin_ioctl(pin, p as u64, 0), libc::EINVAL)?;
        expect_errno("pin unmapped", pin_ioctl(pin, 0x10, 1 << 20), libc::EFAULT)?;
        expect_errno(
            "unpin unknown",
            pin_ioctl(unpin, 0x10, 1 << 20),
            libc::ENOENT,
        )?;
        expect_errno(
            "pin wrapping",
            pin_ioctl(pin, u64::MAX - 4095, 8192),
            libc::EINVAL,
        )?;
        // Data that wraps the address space (found by ioctl-fuzz: the
        // pin gave pin_user_pages_fast's EOVERFLOW): EFAULT, request and
        // response data alike.
        let di = f.data_info().map_err(|e| e.to_string())?;
        if di.max_data >= di.min_pinned {
            for resp in [false, true] {
                let top = 0xffff_ffff_ffff_f000u64 + 16;
                let mut dc = [DataCommand {
                    cmd: Command {
                        resp_capacity: if resp { 1 } else { 0 },
                        ..good
                    },
                    data_ptr: if resp { 0 } else { top },
                    data_len: if resp { 0 } else { di.min_pinned },
                    resp_data_ptr: if resp { top } else { 0 },
                    resp_data_len: if resp { di.min_pinned } else { 0 },
                    reserved: 0,
                }];
                let mut a = SubmitArgs {
                    commands: dc.as_mut_ptr() as u64,
                    count: 1,
                    flags: 0,
                };
                expect_errno(
                    if resp {
                        "response data wrapping the address space"
                    } else {
                        "request data wrapping the address space"
                    },
                    f.raw_ioctl(
                        ioctl::VGPU_IOCTL_SUBMIT_DATA,
                        &mut a as *mut SubmitArgs as usize,
                    ),
                    libc::EFAULT,
                )?;
            }
        }

        // Random garbage: every ioctl number of our type and random
        // argument bytes. Only clean errnos are acceptable.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        // PIN of a random range: EFAULT, or ENOMEM past the limit; UNPIN of
        // one never pinned: ENOENT.
        let allowed = [
            libc::ENOTTY,
            libc::EINVAL,
            libc::EFAULT,
            libc::EAGAIN,
            libc::ETIMEDOUT,
            libc::ENOMEM,
            libc::ENOENT,
        ];
        let mut buf = [0u64; 64];
        for i in 0..3000 {
            buf.iter_mut().for_each(|w| *w = next());
            if i % 3 == 0 {
                // Keep counts small and waits short so calls terminate.
                buf[1] = next() % 4;
                buf[2] = next() % 1000;
            }
            let r = next();
            let nr = (r % 8) as u32;
            let dir = ((r >> 8) % 4) as u32;
            let size = match (r >> 16) % 4 {
                0 => 16,
                1 => 32,
                2 => 192,
                _ => ((r >> 24) % 512) as usize,
            };
            let req = ioctl::ioc(dir, nr, size);
            // Wait args: a random seq never matches; keep timeouts short.
            if req == ioctl::VGPU_IOCTL_WAIT {
                buf[2] = 5 << 32;
            }
            match f.raw_ioctl(req, buf.as_mut_ptr() as usize) {
                Ok(_) => {}
                Err(e) if allowed.contains(&e.errno) => {}
                Err(e) => return Err(format!("random ioctl {req:#x}: unexpected {e}")),
            }
        }
    }
    // Collect anything the random submits queued, so the queue is clean.
    let c = f
        .call(Opcode::Echo as u16, b"ok", &mut [0u8; 2], 5000)
        .map_err(|e| e.to_string());
    let _ = c;
    Ok("unknown numbers, wrong sizes, bad pointers and garbage fields rejected; 3000 random ioctls".into())
}
