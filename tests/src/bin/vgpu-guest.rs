//! Guest-side test program of the VM test bed, statically linked and run
//! inside the guest by the initramfs. `vgpu-guest info` prints every device
//! as the guest sees it; `vgpu-guest test NAME...` runs tests and prints one
//! `@@RESULT <name> PASS|FAIL <detail>` line each for the runner.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::FileTypeExt,
    process::ExitCode,
    time::{Duration, Instant},
};

use uapi::{
    cmd::{field_str, Opcode, SleepRequest},
    ioctl::{self, Command, InfoArgs, SubmitArgs, WaitArgs},
    status::Status,
    wire::Wire,
};
use vgpu_transport::VgpuFile;

type TestResult = Result<String, String>;

fn uuid_text(u: &[u8; 16]) -> String {
    let h: Vec<String> = u.iter().map(|b| format!("{b:02x}")).collect();
    let h = h.concat();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn describe(path: &str, i: &InfoArgs) -> String {
    let d = &i.device;
    format!(
        "{path}: {name}\n  uuid            {uuid}\n  pci             {dom:04x}:{bus:02x}:{dev:02x}.{func}\n  memory          {mem} bytes ({gib:.1} GiB)\n  compute         {maj}.{min}, {sm} multiprocessors\n  driver          {drv} (CUDA {cmaj}.{cmin})\n  device abi      {abi_maj}.{abi_min}, features {feat:#x}, max payload {pl} bytes",
        name = field_str(&d.name).unwrap_or("<invalid>"),
        uuid = uuid_text(&d.uuid),
        dom = i.pci_domain,
        bus = i.pci_bus,
        dev = i.pci_device,
        func = i.pci_function,
        mem = d.total_memory,
        gib = d.total_memory as f64 / (1u64 << 30) as f64,
        maj = d.compute_major,
        min = d.compute_minor,
        sm = d.multiprocessor_count,
        drv = field_str(&d.driver_version).unwrap_or("<invalid>"),
        cmaj = d.cuda_driver_version / 1000,
        cmin = d.cuda_driver_version % 1000 / 10,
        abi_maj = i.abi_version >> 16,
        abi_min = i.abi_version & 0xffff,
        feat = i.features,
        pl = i.max_payload,
    )
}

fn device_nodes() -> Vec<String> {
    let mut nodes: Vec<String> = fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("vgpu") && n[4..].parse::<u32>().is_ok())
                .map(|n| format!("/dev/{n}"))
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

fn info_cmd() -> ExitCode {
    let nodes = device_nodes();
    if nodes.is_empty() {
        eprintln!("no /dev/vgpuN: is vgpu.ko loaded and a VGPU-STUB present?");
        return ExitCode::FAILURE;
    }
    for n in nodes {
        match VgpuFile::open(&n).and_then(|f| f.info()) {
            Ok(i) => println!("{}", describe(&n, &i)),
            Err(e) => {
                eprintln!("{n}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Expected identities, written by the runner into the initramfs as
/// `devN.key=value` lines.
fn expectations() -> Result<BTreeMap<String, String>, String> {
    let text =
        fs::read_to_string("/etc/vgpu-expect").map_err(|e| format!("/etc/vgpu-expect: {e}"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

fn open0() -> Result<VgpuFile, String> {
    VgpuFile::open("/dev/vgpu0").map_err(|e| format!("/dev/vgpu0: {e}"))
}

fn test_bind() -> TestResult {
    let drv = "/sys/bus/pci/drivers/vgpu";
    let bound: Vec<String> = fs::read_dir(drv)
        .map_err(|e| format!("{drv}: {e} (driver not registered)"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(':'))
        .collect();
    check(!bound.is_empty(), || "no device bound to vgpu".into())?;
    for b in &bound {
        let id = |f: &str| fs::read_to_string(format!("{drv}/{b}/{f}")).unwrap_or_default();
        check(
            id("vendor").trim() == "0x10de" && id("device").trim() == "0x2331",
            || {
                format!(
                    "{b}: bound device is {}:{}",
                    id("vendor").trim(),
                    id("device").trim()
                )
            },
        )?;
        check(id("class").trim() == "0x030200", || {
            format!("{b}: class {}", id("class").trim())
        })?;
    }
    let meta = fs::metadata("/dev/vgpu0").map_err(|e| format!("/dev/vgpu0: {e}"))?;
    check(meta.file_type().is_char_device(), || {
        "/dev/vgpu0 is not a character device".into()
    })?;
    Ok(format!("bound: {}", bound.join(" ")))
}

fn test_identity() -> TestResult {
    let want = expectations()?;
    let count: usize = want
        .get("devices")
        .and_then(|v| v.parse().ok())
        .ok_or("no device count")?;
    let nodes = device_nodes();
    check(nodes.len() == count, || {
        format!("expected {count} device nodes, found {nodes:?}")
    })?;
    for (n, node) in nodes.iter().enumerate() {
        let info = VgpuFile::open(node)
            .and_then(|f| f.info())
            .map_err(|e| format!("{node}: {e}"))?;
        let d = &info.device;
        let got = [
            ("name", field_str(&d.name).unwrap_or("").to_string()),
            ("uuid", uuid_text(&d.uuid)),
            ("total_memory", d.total_memory.to_string()),
            (
                "compute_capability",
                format!("{}.{}", d.compute_major, d.compute_minor),
            ),
            ("multiprocessors", d.multiprocessor_count.to_string()),
            (
                "driver_version",
                field_str(&d.driver_version).unwrap_or("").to_string(),
            ),
            ("cuda_driver_version", d.cuda_driver_version.to_string()),
            ("index", info.index.to_string()),
        ];
        for (key, value) in got {
            let k = format!("dev{n}.{key}");
            let expected = if key == "index" {
                Some(n.to_string())
            } else {
                want.get(&k).cloned()
            };
            check(expected.as_deref() == Some(value.as_str()), || {
                format!("{node} {key}: got {value:?}, host configured {expected:?}")
            })?;
        }
    }
    Ok(format!("{count} device(s) match the host configuration"))
}

fn test_echo() -> TestResult {
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
fn test_detached() -> TestResult {
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

fn test_device_errors() -> TestResult {
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

fn test_ioctl_sweep() -> TestResult {
    let f = open0()?;
    let mut info = InfoArgs::default();
    let p = &mut info as *mut InfoArgs as usize;
    // SAFETY (for every raw ioctl below): the argument is either a pointer
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

        // Random garbage: every ioctl number of our type and random
        // argument bytes. Only clean errnos are acceptable.
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let allowed = [
            libc::ENOTTY,
            libc::EINVAL,
            libc::EFAULT,
            libc::EAGAIN,
            libc::ETIMEDOUT,
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

fn test_rmmod_busy() -> TestResult {
    let f = open0()?;
    let name = std::ffi::CString::new("vgpu").map_err(|e| e.to_string())?;
    // SAFETY: `name` is a valid string; O_NONBLOCK asks for an error instead of waiting.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    check(
        r != 0 && (errno == libc::EBUSY || errno == libc::EWOULDBLOCK),
        || format!("rmmod with /dev/vgpu0 open: returned {r}, errno {errno}"),
    )?;
    // The file still works.
    let mut out = [0u8; 2];
    let c = f
        .call(Opcode::Echo as u16, b"hi", &mut out, 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == 0 && &out == b"hi", || {
        "file broken after refused rmmod".into()
    })?;
    drop(f);
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    check(r == 0, || {
        format!(
            "rmmod after close failed: {}",
            std::io::Error::last_os_error()
        )
    })?;
    check(!std::path::Path::new("/dev/vgpu0").exists(), || {
        "/dev/vgpu0 still there after rmmod".into()
    })?;
    let st = std::process::Command::new("modprobe")
        .arg("vgpu")
        .status()
        .map_err(|e| e.to_string())?;
    check(st.success(), || "modprobe vgpu after rmmod failed".into())?;
    // devtmpfs creates the node asynchronously.
    let t0 = Instant::now();
    while !std::path::Path::new("/dev/vgpu0").exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let f = open0()?;
    let c = f
        .call(Opcode::Echo as u16, b"hi", &mut out, 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == 0, || "device broken after reload".into())?;
    Ok("rmmod refused while open, allowed after close; reload works".into())
}

fn test_host_kill() -> TestResult {
    let f = open0()?;
    let sleep = SleepRequest {
        millis: 60_000,
        reserved: 0,
    };
    let seq = f
        .submit_one(Opcode::Sleep as u16, sleep.as_bytes(), 0)
        .map_err(|e| e.to_string())?;
    // The runner kills vgpu-host 0 when it reads this line.
    println!("@@KILL-HOST 0");
    let t0 = Instant::now();
    let r = f.wait(seq, &mut [], 0);
    let took = t0.elapsed();
    match r {
        Err(e) if e.errno == libc::ENODEV => {}
        other => {
            return Err(format!(
                "wait returned {other:?} after {took:?}, expected ENODEV"
            ))
        }
    }
    check(took < Duration::from_secs(5), || {
        format!("wait failed only after {took:?}")
    })?;
    // Later calls fail promptly too.
    let t1 = Instant::now();
    let r = f.submit_one(Opcode::Echo as u16, b"x", 1);
    check(
        r.map_err(|e| e.errno) == Err(libc::ENODEV) && t1.elapsed() < Duration::from_secs(5),
        || "submit after device loss did not fail with ENODEV".into(),
    )?;
    drop(f);
    Ok(format!(
        "wait failed with ENODEV {:.2} s after the kill request",
        took.as_secs_f64()
    ))
}

/// What the kernel prints when something went wrong in it.
const KERNEL_TROUBLE: [&str; 6] = [
    "Oops",
    "BUG:",
    "WARNING:",
    "Call Trace",
    "Kernel panic",
    "general protection",
];

/// After vgpu-host 0 died, device 1 (another host) still serves.
fn test_other_device_alive() -> TestResult {
    let f = VgpuFile::open("/dev/vgpu1").map_err(|e| format!("/dev/vgpu1: {e}"))?;
    let mut out = [0u8; 5];
    let c = f
        .call(Opcode::Echo as u16, b"alive", &mut out, 5000)
        .map_err(|e| e.to_string())?;
    check(c.status == 0 && &out == b"alive", || {
        format!("echo on vgpu1: status {}", c.status)
    })?;
    let info = f.info().map_err(|e| e.to_string())?;
    check(info.index == 1, || {
        format!("vgpu1 reports index {}", info.index)
    })?;
    Ok("/dev/vgpu1 still serves after its neighbour's host died".into())
}

fn test_dmesg_clean() -> TestResult {
    let out = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| KERNEL_TROUBLE.iter().any(|p| l.contains(p)))
        .collect();
    check(bad.is_empty(), || {
        format!("kernel log: {}", bad.join(" | "))
    })?;
    Ok("no oops, BUG or WARN in the kernel log".into())
}

fn test_refused() -> TestResult {
    let out = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&out.stdout);
    let want = expectations()?;
    let needles: Vec<&String> = want
        .iter()
        .filter(|(k, _)| k.starts_with("refuse"))
        .map(|(_, v)| v)
        .collect();
    check(!needles.is_empty(), || "no refusal expectations".into())?;
    for n in &needles {
        check(log.lines().any(|l| l.contains(n.as_str())), || {
            format!("no kernel line containing {n:?}")
        })?;
    }
    check(device_nodes().is_empty(), || {
        format!("refused devices got nodes: {:?}", device_nodes())
    })?;
    Ok(format!(
        "{} device(s) refused at probe with a clear line",
        needles.len()
    ))
}

fn run(name: &str) -> TestResult {
    match name {
        "bind" => test_bind(),
        "identity" | "identity-after-reload" => test_identity(),
        "other-device-alive" => test_other_device_alive(),
        "echo" => test_echo(),
        "detached" => test_detached(),
        "device-errors" => test_device_errors(),
        "ioctl-sweep" => test_ioctl_sweep(),
        "rmmod-busy" => test_rmmod_busy(),
        "host-kill" => test_host_kill(),
        "refused" => test_refused(),
        "dmesg-clean" => test_dmesg_clean(),
        _ => Err(format!("unknown test {name}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("info") => info_cmd(),
        Some("test") => {
            let mut failed = false;
            for name in &args[1..] {
                let t0 = Instant::now();
                let r = run(name);
                let ms = t0.elapsed().as_millis();
                match r {
                    Ok(d) => println!("@@RESULT {name} PASS {ms}ms {d}"),
                    Err(d) => {
                        failed = true;
                        println!("@@RESULT {name} FAIL {ms}ms {d}")
                    }
                }
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            eprintln!("usage: vgpu-guest info | vgpu-guest test NAME...");
            ExitCode::from(2)
        }
    }
}
