//! The driver's pin cache: a second copy of the same buffers pins nothing,
//! a changed mapping (munmap, mremap) is never served from stale pages,
//! pinned host memory (VGPU_IOCTL_PIN) serves copies inside it, and the
//! caller's RLIMIT_MEMLOCK gives a clean ENOMEM instead of pinning beyond it.

use uapi::ioctl::PinInfo;
use vgpu_transport::VgpuFile;

use crate::{
    device::{check, open0, TestResult},
    zero_copy::{data_info, echo_into},
};

const LEN: usize = 4 << 20;

/// An anonymous private mapping of `len` bytes, at `at` (replacing what
/// is there) when given.
struct Map {
    ptr: *mut u8,
    len: usize,
}

impl Map {
    fn new(len: usize, at: Option<usize>) -> Result<Self, String> {
        let fixed = if at.is_some() { libc::MAP_FIXED } else { 0 };
        // SAFETY: an anonymous mapping; with MAP_FIXED only over our own
        // mapping (or a range this test just unmapped).
        let ptr = unsafe {
            libc::mmap(
                at.unwrap_or(0) as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | fixed,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    fn addr(&self) -> usize {
        self.ptr as usize
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `len` bytes mapped read-write for the life of `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    fn fill(&mut self, seed: u8) {
        for (i, b) in self.bytes().iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
        }
    }

    /// Moves the mapping to `to` (which it replaces), as `mremap` does.
    fn move_to(mut self, to: usize) -> Result<Self, String> {
        // SAFETY: moves our own mapping over `to`, a mapping of ours too.
        let ptr = unsafe {
            libc::mremap(
                self.ptr.cast(),
                self.len,
                self.len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                to as *mut libc::c_void,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mremap: {}", std::io::Error::last_os_error()));
        }
        self.ptr = ptr.cast();
        Ok(self)
    }

    /// Unmaps it and maps a fresh, zeroed range at the same address.
    fn replace(self) -> Result<Self, String> {
        let (addr, len) = (self.addr(), self.len);
        drop(self);
        Map::new(len, Some(addr))
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn pin_info(f: &VgpuFile) -> Result<PinInfo, String> {
    f.pin_info().map_err(|e| e.to_string())
}

/// Echoes `data` into `back` and checks that it arrived.
fn echo_checked(f: &VgpuFile, data: &mut Map, back: &mut Map, what: &str) -> Result<(), String> {
    back.bytes().fill(0);
    let sent = data.bytes().to_vec();
    echo_into(f, data.bytes(), back.bytes())?;
    check(back.bytes() == &sent[..], || {
        format!("{what}: data differs")
    })
}

/// A second echo of the same buffers reuses both pinnings (two hits, no
/// new pin) and still carries what the buffers hold now.
pub fn pin_reuse() -> TestResult {
    let f = open0()?;
    let (mut data, mut back) = (Map::new(LEN, None)?, Map::new(LEN, None)?);
    data.fill(1);
    let before = pin_info(&f)?;
    echo_checked(&f, &mut data, &mut back, "first echo")?;
    let first = pin_info(&f)?;
    check(
        first.misses == before.misses + 2 && first.hits == before.hits,
        || format!("first echo: {before:?} -> {first:?}"),
    )?;
    // New contents in the same pages: the device reads them, not a copy.
    data.fill(2);
    echo_checked(&f, &mut data, &mut back, "second echo")?;
    let second = pin_info(&f)?;
    check(
        second.hits == first.hits + 2 && second.misses == first.misses,
        || format!("second echo pinned again: {first:?} -> {second:?}"),
    )?;
    check(second.pinned_bytes >= 2 * LEN as u64, || {
        format!("cache holds {} bytes", second.pinned_bytes)
    })?;
    Ok(format!(
        "2 hits, {} MiB cached, notifier {}",
        second.pinned_bytes >> 20,
        second.notifier
    ))
}

/// After munmap and a new mapping at the same address, and after mremap,
/// the device gets the new pages, both ways.
pub fn pin_invalidate() -> TestResult {
    let f = open0()?;
    let (mut data, mut back) = (Map::new(LEN, None)?, Map::new(LEN, None)?);
    data.fill(3);
    echo_checked(&f, &mut data, &mut back, "before munmap")?;
    let cached = pin_info(&f)?;
    // Same addresses, new pages.
    let (mut data, mut back) = (data.replace()?, back.replace()?);
    data.fill(4);
    echo_checked(&f, &mut data, &mut back, "after munmap and mmap")?;
    let remapped = pin_info(&f)?;
    check(
        remapped.invalidations >= cached.invalidations + 2 && remapped.misses == cached.misses + 2,
        || format!("after munmap: {cached:?} -> {remapped:?}"),
    )?;
    // mremap: the data moves to another mapping's address; a fresh
    // mapping takes its old one.
    let old_addr = data.addr();
    let target = Map::new(LEN, None)?;
    let to = target.addr();
    std::mem::forget(target);
    let mut moved = data.move_to(to)?;
    let mut fresh = Map::new(LEN, Some(old_addr))?;
    fresh.fill(5);
    echo_checked(&f, &mut fresh, &mut back, "new mapping at the old address")?;
    echo_checked(&f, &mut moved, &mut back, "moved mapping")?;
    let after = pin_info(&f)?;
    check(after.invalidations > remapped.invalidations, || {
        format!("after mremap: {remapped:?} -> {after:?}")
    })?;
    Ok(format!(
        "{} invalidations, data of the new mappings arrived",
        after.invalidations
    ))
}

/// VGPU_IOCTL_PIN: copies inside the range hit it; it stays until UNPIN.
pub fn pin_register() -> TestResult {
    let f = open0()?;
    let mut host = Map::new(LEN, None)?;
    let mut back = Map::new(1 << 20, None)?;
    host.fill(6);
    f.pin(host.addr(), LEN).map_err(|e| format!("pin: {e}"))?;
    let again = f.pin(host.addr(), LEN).map_err(|e| e.errno);
    check(again == Err(libc::EEXIST), || {
        format!("pinning twice: {again:?}")
    })?;
    let pinned = pin_info(&f)?;
    check(pinned.registered_bytes == LEN as u64, || {
        format!("after PIN: {pinned:?}")
    })?;
    let part = &host.bytes()[64 << 10..(64 << 10) + (1 << 20)];
    echo_into(&f, part, back.bytes())?;
    check(back.bytes() == part, || {
        "echo from pinned memory: data differs".into()
    })?;
    let used = pin_info(&f)?;
    // The request hit the registration; only the response buffer was new.
    check(
        used.hits == pinned.hits + 1 && used.misses == pinned.misses + 1,
        || format!("echo from pinned memory: {pinned:?} -> {used:?}"),
    )?;
    f.unpin(host.addr(), LEN)
        .map_err(|e| format!("unpin: {e}"))?;
    let gone = f.unpin(host.addr(), LEN).map_err(|e| e.errno);
    check(gone == Err(libc::ENOENT), || {
        format!("unpinning twice: {gone:?}")
    })?;
    let after = pin_info(&f)?;
    check(after.registered_bytes == 0, || {
        format!("after UNPIN: {after:?}")
    })?;
    Ok("PIN, hit inside it, EEXIST, UNPIN, ENOENT".into())
}

/// In a child without CAP_IPC_LOCK and a 1 MiB RLIMIT_MEMLOCK, a 4 MiB copy
/// fails with ENOMEM (nothing is pinned beyond the limit), the file's
/// limit says so, and a copy within the limit still works.
pub fn pin_limit() -> TestResult {
    let f = open0()?;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: this test program is single-threaded; the child only runs
    // the code below and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let r = limited_child(&f);
        let msg = match &r {
            Ok(m) => format!("PASS {m}"),
            Err(m) => format!("FAIL {m}"),
        };
        // SAFETY: the pipe's write end and a live buffer; then leave at once.
        unsafe {
            libc::write(fds[1], msg.as_ptr().cast(), msg.len());
            libc::_exit(0);
        }
    }
    // SAFETY: our write end, closed once.
    unsafe { libc::close(fds[1]) };
    let mut out = vec![0u8; 4096];
    // SAFETY: the read end and a buffer of `out.len()` bytes.
    let n = unsafe { libc::read(fds[0], out.as_mut_ptr().cast(), out.len()) };
    let mut status = 0;
    // SAFETY: our child; `status` is a live int.
    unsafe {
        libc::close(fds[0]);
        libc::waitpid(pid, &mut status, 0);
    }
    let msg = String::from_utf8_lossy(&out[..usize::try_from(n).unwrap_or(0)]).into_owned();
    match msg.strip_prefix("PASS ") {
        Some(m) => Ok(m.into()),
        None => Err(format!("child: {msg} (status {status})")),
    }
}

fn limited_child(f: &VgpuFile) -> Result<String, String> {
    let limit = libc::rlimit {
        rlim_cur: 1 << 20,
        rlim_max: 1 << 20,
    };
    // SAFETY: plain system calls on this process.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0 || libc::setuid(65534) != 0 {
            return Err(format!(
                "setrlimit/setuid: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    let info = data_info(f)?;
    check(info.pin_limit <= 1 << 20, || {
        format!("pin_limit {} under a 1 MiB RLIMIT_MEMLOCK", info.pin_limit)
    })?;
    let (mut data, mut back) = (Map::new(LEN, None)?, Map::new(LEN, None)?);
    data.fill(7);
    let big = echo_into(f, data.bytes(), back.bytes());
    check(
        big.as_ref()
            .is_err_and(|e| e.starts_with(&format!("errno {}:", libc::ENOMEM))),
        || format!("4 MiB echo over the limit: {big:?}"),
    )?;
    let refused = pin_info(f)?;
    check(refused.refused >= 1, || {
        format!("after the refusal: {refused:?}")
    })?;
    // 2 x 256 KiB fits.
    let n = 256 << 10;
    let sent = data.bytes()[..n].to_vec();
    echo_into(f, &sent, &mut back.bytes()[..n])?;
    check(back.bytes()[..n] == sent[..], || {
        "small echo: data differs".into()
    })?;
    Ok(format!(
        "ENOMEM over a 1 MiB RLIMIT_MEMLOCK (pin_limit {} KiB), 2 x 256 KiB fit",
        info.pin_limit >> 10
    ))
}
