//! One random operation on `/dev/vgpu0`: every ioctl with random sizes,
//! pointers and flags; command batches with random and valid opcodes;
//! short waits. Each returns its name and the errno it ended with (0: ok).

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;

use uapi::{
    cmd::{Opcode, SleepRequest},
    cuda::COMMANDS,
    ioctl::{self, Command, DataCommand, DataInfo, InfoArgs, SubmitArgs, WaitArgs},
    wire::Wire,
};

use super::arena::{Arena, Rng};

/// Open files of one process, shared by its threads; -1 when closed.
pub const FDS: usize = 4;

pub struct Shared {
    pub arena: Arena,
    pub fds: [AtomicI32; FDS],
    /// A context each file's client created, for CUDA requests to name.
    pub ctx: [AtomicU64; FDS],
    /// Submitted, not yet collected: (fd, seq, is_echo).
    pub pending: Mutex<Vec<(i32, u64, bool)>>,
}

pub fn open_vgpu() -> i32 {
    // SAFETY: a NUL-terminated path literal.
    unsafe { libc::open(c"/dev/vgpu0".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) }
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ioctl(fd: i32, req: u32, arg: usize) -> i32 {
    // SAFETY: every pointer handed here is either to a live object of ours
    // at least as large as the size the request encodes, or into the arena
    // (whose contents nobody relies on), or deliberately bad.
    let r = unsafe { libc::ioctl(fd, req as libc::c_ulong, arg) };
    if r < 0 {
        errno()
    } else {
        0
    }
}

/// An address the kernel must refuse or that lands in the arena.
fn pointer(sh: &Shared, rng: &mut Rng) -> usize {
    match rng.below(10) {
        0 => 0,
        1 => rng.below(4096) as usize,
        2 => 0xffff_8880_0000_0000 + rng.below(1 << 30) as usize,
        3 => 0x8000_0000_0000 + rng.below(1 << 20) as usize,
        4 => usize::MAX - rng.below(4096) as usize,
        _ => sh.arena.pointer(rng),
    }
}

fn pick_fd(sh: &Shared, rng: &mut Rng) -> (usize, i32) {
    let i = rng.below(FDS as u64) as usize;
    (i, sh.fds[i].load(Ordering::Relaxed))
}

/// A length: small, around page and payload limits, or anything.
fn length(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => 0,
        1 => rng.below(64) as u32,
        2 => 4096 + rng.below(3) as u32 - 1,
        3 => (64 << 10) + rng.below(3) as u32 - 1,
        4 => ioctl::MAX_PAYLOAD + rng.below(3) as u32 - 1,
        5 => rng.next() as u32,
        _ => rng.below(16 << 10) as u32,
    }
}

/// A request body for `opcode`: valid-looking for our own commands, the
/// right size with random bytes (and often a real context) for CUDA ones.
fn body(sh: &Shared, slot: usize, rng: &mut Rng, opcode: u16, out: &mut Vec<u8>) {
    out.clear();
    if opcode == Opcode::Sleep as u16 {
        let s = SleepRequest {
            millis: rng.below(20) as u32,
            reserved: if rng.one_in(8) { 1 } else { 0 },
        };
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let size = match COMMANDS.iter().find(|c| c.opcode == opcode) {
        Some(c) if rng.below(4) != 0 => {
            c.request_size
                + if c.request_tail {
                    rng.below(256) as usize
                } else {
                    0
                }
        }
        _ => rng.below(512) as usize,
    };
    out.extend((0..size).map(|_| rng.next() as u8));
    if size >= 8 && rng.below(2) == 0 {
        let ctx = sh.ctx[slot].load(Ordering::Relaxed);
        out[..8].copy_from_slice(&ctx.to_le_bytes());
        // Small numbers for the rest, so that validation gets past sizes.
        for w in out[8..].chunks_mut(8) {
            if rng.one_in(2) {
                continue;
            }
            let v = rng.below(4096).to_le_bytes();
            let n = w.len();
            w.copy_from_slice(&v[..n]);
        }
    }
}

fn opcode(rng: &mut Rng) -> u16 {
    match rng.below(10) {
        0..=2 => Opcode::Echo as u16,
        3 => Opcode::Sleep as u16,
        4 => 1 + rng.below(6) as u16,
        5 => rng.next() as u16,
        _ => COMMANDS[rng.below(COMMANDS.len() as u64) as usize].opcode,
    }
}

/// SUBMIT or SUBMIT_DATA of a random batch.
pub fn submit(sh: &Shared, rng: &mut Rng, data: bool) -> (&'static str, i32) {
    let (slot, fd) = pick_fd(sh, rng);
    let count = match rng.below(16) {
        0 => 0,
        1 => ioctl::MAX_BATCH + 1 + rng.below(4) as u32,
        2 => rng.next() as u32,
        3 => ioctl::MAX_BATCH,
        _ => 1 + rng.below(4) as u32,
    };
    // Storage for every command the kernel may write a seq back to.
    let n = (count.min(ioctl::MAX_BATCH) as usize).max(1);
    let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut cmds = vec![DataCommand::default(); n];
    for c in cmds.iter_mut() {
        let op = opcode(rng);
        let mut b = Vec::new();
        body(sh, slot, rng, op, &mut b);
        let detached = rng.one_in(4);
        c.cmd = Command {
            opcode: op,
            flags: if rng.one_in(16) {
                rng.next() as u16
            } else if detached {
                ioctl::command_flags::DETACHED
            } else {
                0
            },
            req_len: b.len() as u32,
            req_ptr: b.as_ptr() as u64,
            resp_capacity: if detached { 0 } else { rng.below(4096) as u32 },
            reserved: if rng.one_in(32) { 1 } else { 0 },
            seq: 0,
        };
        if rng.one_in(6) {
            // Header bytes the kernel reads from a pointer we do not own.
            c.cmd.req_ptr = pointer(sh, rng) as u64;
            c.cmd.req_len = length(rng);
        }
        if data {
            if rng.below(3) != 0 {
                c.data_ptr = sh.arena.pointer(rng) as u64;
                c.data_len = length(rng).min(512 << 10);
            }
            if !detached && rng.below(2) == 0 {
                c.resp_data_ptr = sh.arena.pointer(rng) as u64;
                c.resp_data_len = length(rng).min(512 << 10);
            }
            if rng.one_in(8) {
                c.data_ptr = pointer(sh, rng) as u64;
                c.reserved = rng.below(2);
            }
        }
        bodies.push(b);
    }
    // The batch as the kernel reads it: plain Commands or DataCommands.
    let plain: Vec<Command> = cmds.iter().map(|c| c.cmd).collect();
    let mut args = SubmitArgs {
        commands: if data {
            cmds.as_mut_ptr() as u64
        } else {
            plain.as_ptr() as u64
        },
        count,
        flags: match rng.below(8) {
            0 => ioctl::submit_flags::WAIT_FOR_SPACE,
            1 => rng.next() as u32,
            _ => 0,
        },
    };
    if rng.one_in(10) {
        args.commands = pointer(sh, rng) as u64;
    }
    let req = if data {
        ioctl::VGPU_IOCTL_SUBMIT_DATA
    } else {
        ioctl::VGPU_IOCTL_SUBMIT
    };
    let e = ioctl(fd, req, &mut args as *mut SubmitArgs as usize);
    if e == 0 {
        let mut p = sh.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (i, c) in cmds.iter().enumerate().take(count as usize) {
            let c = if data { c.cmd } else { plain[i] };
            if c.flags & ioctl::command_flags::DETACHED == 0 && c.seq != 0 {
                p.push((fd, c.seq, c.opcode == Opcode::Echo as u16));
            }
        }
        // Stale entries (closed files, collected by others) age out.
        if p.len() > 512 {
            p.drain(..256);
        }
    }
    drop(bodies);
    (if data { "submit-data" } else { "submit" }, e)
}

/// WAIT on a pending or random seq, with a tiny timeout, into the arena,
/// a local buffer or a bad pointer.
pub fn wait(sh: &Shared, rng: &mut Rng) -> (&'static str, i32) {
    let picked = {
        let mut p = sh.pending.lock().unwrap_or_else(|p| p.into_inner());
        if !p.is_empty() && rng.below(8) != 0 {
            let i = rng.below(p.len() as u64) as usize;
            Some(p.swap_remove(i))
        } else {
            None
        }
    };
    let (fd, seq, echo) = picked.unwrap_or_else(|| (pick_fd(sh, rng).1, rng.below(1 << 20), false));
    let mut local = [0u8; 4096];
    let mut w = WaitArgs {
        seq,
        timeout_ms: match rng.below(10) {
            0 => 0,
            1..=5 => rng.below(3) as u32,
            _ => rng.below(50) as u32,
        },
        ..Default::default()
    };
    // An unbounded wait only for an echo (it completes by itself).
    if w.timeout_ms == 0 && !echo {
        w.timeout_ms = 1;
    }
    match rng.below(3) {
        0 => {
            w.resp_ptr = local.as_mut_ptr() as u64;
            w.resp_capacity = rng.below(local.len() as u64 + 1) as u32;
        }
        1 => {
            w.resp_ptr = sh.arena.pointer(rng) as u64;
            w.resp_capacity = length(rng).min(ioctl::MAX_PAYLOAD);
        }
        _ => {
            w.resp_ptr = pointer(sh, rng) as u64;
            w.resp_capacity = length(rng);
        }
    }
    let arg = if rng.one_in(20) {
        pointer(sh, rng)
    } else {
        &mut w as *mut WaitArgs as usize
    };
    let e = ioctl(fd, ioctl::VGPU_IOCTL_WAIT, arg);
    if (e == libc::ETIMEDOUT || e == libc::EINTR || e == libc::EFAULT) && rng.below(2) == 0 {
        // Not collected: someone may wait for it again.
        let mut p = sh.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.push((fd, seq, echo));
    }
    ("wait", e)
}

/// GET_INFO / DATA_INFO into good and bad memory, and any ioctl number
/// of our type with random direction, size and argument.
pub fn info_or_raw(sh: &Shared, rng: &mut Rng) -> (&'static str, i32) {
    let (_, fd) = pick_fd(sh, rng);
    let mut info = InfoArgs::default();
    let mut data = DataInfo::default();
    match rng.below(4) {
        0 => (
            "get-info",
            ioctl(
                fd,
                ioctl::VGPU_IOCTL_GET_INFO,
                &mut info as *mut InfoArgs as usize,
            ),
        ),
        1 => (
            "data-info",
            ioctl(
                fd,
                ioctl::VGPU_IOCTL_DATA_INFO,
                &mut data as *mut DataInfo as usize,
            ),
        ),
        2 => {
            let req = [
                ioctl::VGPU_IOCTL_GET_INFO,
                ioctl::VGPU_IOCTL_DATA_INFO,
                ioctl::VGPU_IOCTL_WAIT,
            ][rng.below(3) as usize];
            ("info-bad-pointer", ioctl(fd, req, pointer(sh, rng)))
        }
        _ => {
            // Random bytes as argument, in a buffer as big as any size encodes.
            let mut buf = vec![0u64; 0x4000 / 8];
            buf.iter_mut().take(64).for_each(|w| *w = rng.next());
            // Keep a WAIT among them short; counts small.
            buf[1] = rng.below(4);
            buf[2] = rng.below(20) << 32;
            let dir = rng.below(4) as u32;
            let nr = rng.below(8) as u32;
            let size = match rng.below(4) {
                0 => 16,
                1 => 32,
                2 => 64,
                _ => rng.below(0x4000) as usize,
            };
            let mut req = ioctl::ioc(dir, nr, size);
            if rng.one_in(8) {
                req = rng.next() as u32;
            }
            // A random request that happens to be SUBMIT or WAIT with
            // random bytes: the kernel may write seqs or responses only
            // within `buf` (sizes ≤ 16 KiB) or to the random pointers in it,
            // which are never our memory.
            let arg = if rng.one_in(4) {
                sh.arena.pointer(rng)
            } else {
                buf.as_mut_ptr() as usize
            };
            ("raw-ioctl", ioctl(fd, req, arg))
        }
    }
}

/// Replaces a file under the other threads (their calls in flight keep
/// the old one alive): opens a fresh one first, so that a full device
/// (EBUSY: no free queue) leaves the old file in place rather than a hole.
pub fn reopen(sh: &Shared, rng: &mut Rng) -> (&'static str, i32) {
    let i = rng.below(FDS as u64) as usize;
    let fd = open_vgpu();
    if fd < 0 {
        return ("reopen", errno());
    }
    sh.ctx[i].store(0, Ordering::Relaxed);
    let old = sh.fds[i].swap(fd, Ordering::AcqRel);
    if old >= 0 {
        // SAFETY: `old` was ours; it left the table before the close.
        unsafe { libc::close(old) };
    }
    ("reopen", 0)
}

/// CTX_CREATE on a shared file, so that random CUDA requests on it can
/// name a real context (which other threads' requests may destroy).
pub fn create_context(sh: &Shared, rng: &mut Rng) -> (&'static str, i32) {
    use uapi::cuda::{op, CtxCreateRequest, HandleResponse};
    let (slot, fd) = pick_fd(sh, rng);
    let req = CtxCreateRequest::default();
    let mut cmd = Command {
        opcode: op::CTX_CREATE,
        req_len: req.as_bytes().len() as u32,
        req_ptr: req.as_bytes().as_ptr() as u64,
        resp_capacity: std::mem::size_of::<HandleResponse>() as u32,
        ..Default::default()
    };
    let mut args = SubmitArgs {
        commands: &mut cmd as *mut Command as u64,
        count: 1,
        flags: 0,
    };
    let e = ioctl(
        fd,
        ioctl::VGPU_IOCTL_SUBMIT,
        &mut args as *mut SubmitArgs as usize,
    );
    if e != 0 {
        return ("context", e);
    }
    let mut resp = HandleResponse::default();
    let mut w = WaitArgs {
        seq: cmd.seq,
        resp_ptr: resp.as_bytes_mut().as_mut_ptr() as u64,
        resp_capacity: cmd.resp_capacity,
        timeout_ms: 2000,
        ..Default::default()
    };
    let mut e = libc::EINTR;
    for _ in 0..100 {
        e = ioctl(fd, ioctl::VGPU_IOCTL_WAIT, &mut w as *mut WaitArgs as usize);
        if e != libc::EINTR {
            break;
        }
    }
    if e == 0 && w.status == 0 && resp.result == 0 {
        sh.ctx[slot].store(resp.handle, Ordering::Relaxed);
    }
    ("context", e)
}
