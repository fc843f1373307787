//! Memory model: the [`DeviceMemory`] trait the executor implements, the
//! generic-address windows for shared, local and parameter memory, the
//! classification of an access into its backing store, and [`FlatMemory`],
//! a simple device memory for tests and tools.
//!
//! Global and constant memory live in the executor and are addressed with
//! device addresses; generic addresses equal global addresses except in
//! three reserved windows at the top of the address space:
//!
//! | window            | start                   | backing store                        |
//! |-------------------|-------------------------|--------------------------------------|
//! | [`SHARED_WINDOW`] | `0xFFFF_8000_0000_0000` | the block's shared memory            |
//! | [`LOCAL_WINDOW`]  | `0xFFFF_9000_0000_0000` | the thread's local memory (stack)    |
//! | [`PARAM_WINDOW`]  | `0xFFFF_A000_0000_0000` | kernel parameters / call `.param`s   |
//!
//! `.shared`/`.local`/`.param` state-space addresses are offsets from 0 in
//! their store (`cvta` adds or removes the window base).

use super::ast::Space;
use super::error::Fault;

/// Device memory as the executor models it.
pub trait DeviceMemory {
    /// Reads `out.len()` bytes at device address `addr`.
    fn read(&mut self, addr: u64, out: &mut [u8]) -> Result<(), Fault>;
    /// Writes `data` at device address `addr`.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault>;

    /// Text a kernel printed (device `printf`, failed `assert` messages).
    /// CUDA delivers it to the program's stdout; by default it is logged.
    fn kernel_output(&mut self, text: &str) {
        tracing::info!(target: "vgpu::kernel_printf", "{}", text.trim_end_matches('\n'));
    }
}

/// Generic address of shared offset 0.
pub const SHARED_WINDOW: u64 = 0xFFFF_8000_0000_0000;
/// Generic address of local offset 0.
pub const LOCAL_WINDOW: u64 = 0xFFFF_9000_0000_0000;
/// Generic address of parameter-space offset 0.
pub const PARAM_WINDOW: u64 = 0xFFFF_A000_0000_0000;
/// Size of each window.
const WINDOW_SIZE: u64 = 0x1000_0000_0000;
/// Parameter-space offset where call-frame `.param` slots start (below it:
/// the kernel parameter buffer).
pub(crate) const SCRATCH_BASE: u64 = 1 << 40;

/// Where an access lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Global(u64),
    Shared(u64),
    Local(u64),
    Param(u64),
}

/// The window base `cvta` adds for `space` (0 for global/const/generic).
pub(crate) fn window(space: Space) -> u64 {
    match space {
        Space::Shared => SHARED_WINDOW,
        Space::Local => LOCAL_WINDOW,
        Space::Param => PARAM_WINDOW,
        Space::Global | Space::Const | Space::Generic => 0,
    }
}

fn in_window(addr: u64, base: u64) -> bool {
    addr.wrapping_sub(base) < WINDOW_SIZE
}

/// Classifies an access of state space `space` at `addr`.
pub(crate) fn classify(space: Space, addr: u64) -> Target {
    let strip = |base: u64| {
        if in_window(addr, base) {
            addr - base
        } else {
            addr
        }
    };
    match space {
        Space::Global | Space::Const => Target::Global(addr),
        Space::Shared => Target::Shared(strip(SHARED_WINDOW)),
        Space::Local => Target::Local(strip(LOCAL_WINDOW)),
        Space::Param => Target::Param(strip(PARAM_WINDOW)),
        Space::Generic => {
            if in_window(addr, SHARED_WINDOW) {
                Target::Shared(addr - SHARED_WINDOW)
            } else if in_window(addr, LOCAL_WINDOW) {
                Target::Local(addr - LOCAL_WINDOW)
            } else if in_window(addr, PARAM_WINDOW) {
                Target::Param(addr - PARAM_WINDOW)
            } else {
                Target::Global(addr)
            }
        }
    }
}

/// Reads or writes `buf` at `off` in `store`; `None` when out of bounds.
pub(crate) fn slice_rw(store: &mut [u8], off: u64, buf: &mut [u8], write: bool) -> Option<()> {
    let start = usize::try_from(off).ok()?;
    let end = start.checked_add(buf.len())?;
    let s = store.get_mut(start..end)?;
    if write {
        s.copy_from_slice(buf);
    } else {
        buf.copy_from_slice(s);
    }
    Some(())
}

/// A simple device memory: one contiguous arena at `base` with a bump
/// allocator. Accesses outside `[base, base + len)` fault.
#[derive(Clone, Debug)]
pub struct FlatMemory {
    base: u64,
    bytes: Vec<u8>,
    output: String,
}

impl FlatMemory {
    /// An empty arena starting at device address `base`.
    pub fn new(base: u64) -> Self {
        FlatMemory {
            base,
            bytes: Vec::new(),
            output: String::new(),
        }
    }

    /// Allocates `size` zeroed bytes aligned to `align` (a power of two,
    /// at least 256 is used) and returns their device address.
    pub fn alloc(&mut self, size: usize, align: usize) -> u64 {
        let align = align.max(256) as u64;
        let end = self.base + self.bytes.len() as u64;
        let addr = end.div_ceil(align) * align;
        let new_len = (addr - self.base) as usize + size;
        self.bytes.resize(new_len, 0);
        addr
    }

    /// Allocates and fills a buffer.
    pub fn alloc_bytes(&mut self, data: &[u8]) -> u64 {
        let addr = self.alloc(data.len(), 256);
        let off = (addr - self.base) as usize;
        self.bytes[off..off + data.len()].copy_from_slice(data);
        addr
    }

    /// Everything kernels printed so far.
    pub fn output(&self) -> &str {
        &self.output
    }

    fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, Fault> {
        let fault = Fault { addr, len };
        let off = addr.checked_sub(self.base).ok_or(fault)?;
        let start = usize::try_from(off).map_err(|_| fault)?;
        let end = start.checked_add(len).ok_or(fault)?;
        if end > self.bytes.len() {
            return Err(fault);
        }
        Ok(start..end)
    }
}

impl DeviceMemory for FlatMemory {
    fn read(&mut self, addr: u64, out: &mut [u8]) -> Result<(), Fault> {
        let r = self.range(addr, out.len())?;
        out.copy_from_slice(&self.bytes[r]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        let r = self.range(addr, data.len())?;
        self.bytes[r].copy_from_slice(data);
        Ok(())
    }

    fn kernel_output(&mut self, text: &str) {
        self.output.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_classify() {
        assert_eq!(
            classify(Space::Generic, SHARED_WINDOW + 8),
            Target::Shared(8)
        );
        assert_eq!(classify(Space::Generic, LOCAL_WINDOW), Target::Local(0));
        assert_eq!(classify(Space::Generic, 0x1000), Target::Global(0x1000));
        assert_eq!(classify(Space::Shared, 12), Target::Shared(12));
        assert_eq!(
            classify(Space::Shared, SHARED_WINDOW + 12),
            Target::Shared(12)
        );
    }

    #[test]
    fn flat_memory_faults() {
        let mut m = FlatMemory::new(0x1000);
        let a = m.alloc(16, 4);
        assert!(m.write(a, &[1; 16]).is_ok());
        assert_eq!(
            m.write(a + 12, &[0; 8]),
            Err(Fault {
                addr: a + 12,
                len: 8
            })
        );
        assert!(m.read(0, &mut [0; 4]).is_err());
    }
}
