//! Host memory a client shares with its worker (the arena of `uapi::shm`):
//! copies between it and the device need no private copy in the worker.
//!
//! The client may rewrite these bytes at any moment; they are its own data,
//! so a copy that races with it only hurts the client. Nothing the host
//! parses ever lives here: the command header is copied out first
//! (`crate::direct`), and the bytes are only ever moved, by raw copies or
//! the device's DMA, never borrowed as `&[u8]`.

use std::ptr::NonNull;

/// A range of shared memory mapped in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedSpan {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a plain address range; whoever made it (`SharedSpan::new`)
// promised it stays mapped while it is used, whichever thread uses it.
unsafe impl Send for SharedSpan {}

impl SharedSpan {
    /// The `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr..ptr+len` is mapped read-write in this process for as long as
    /// the span (or any sub-span of it) is used.
    pub unsafe fn new(ptr: NonNull<u8>, len: usize) -> Self {
        Self { ptr, len }
    }

    /// Bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its start in this process.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether `inner` lies inside this span.
    pub fn contains(&self, inner: &SharedSpan) -> bool {
        let (a, b) = (self.ptr.as_ptr() as usize, inner.ptr.as_ptr() as usize);
        b >= a
            && b.checked_add(inner.len)
                .is_some_and(|end| end <= a + self.len)
    }

    /// Copies the span into `out` (`out.len() == self.len()`).
    pub fn read_into(&self, out: &mut [u8]) {
        assert_eq!(out.len(), self.len, "shared span read of another length");
        // SAFETY: the span is mapped (`new`'s contract) and `out` is our own
        // buffer of the same length, so they do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), out.as_mut_ptr(), self.len) }
    }

    /// Copies `bytes` into the span (`bytes.len() == self.len()`).
    pub fn write_from(&self, bytes: &[u8]) {
        assert_eq!(bytes.len(), self.len, "shared span write of another length");
        // SAFETY: as in `read_into`, the other way.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr(), self.len) }
    }
}

/// What a shared area is, for the `pinned_bytes` quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedKind {
    /// The transport's arena: page-locked while the quota has room, it
    /// gives its place up to the client's pinned memory.
    Arena,
    /// The client's pinned host memory (`uapi::shm::host_op`).
    HostMemory,
}

/// What went through shared memory without a private copy, for the log
/// line CI reads (`tests/src/vm/socket.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SharedStats {
    /// Bytes of shared memory registered with the device now.
    pub registered: u64,
    /// Copies made straight from or to shared memory.
    pub copies: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of those bytes, the ones from or to registered (page-locked) memory.
    pub pinned_bytes: u64,
}

impl SharedStats {
    /// Counts one copy of `len` bytes.
    pub fn count(&mut self, len: usize, pinned: bool) {
        self.copies += 1;
        self.bytes += len as u64;
        if pinned {
            self.pinned_bytes += len as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_copy_and_contain() {
        let mut buf = vec![0u8; 64];
        let base = NonNull::new(buf.as_mut_ptr()).expect("non-null");
        // SAFETY: `buf` outlives both spans.
        let (all, part) = unsafe { (SharedSpan::new(base, 64), SharedSpan::new(base.add(16), 8)) };
        part.write_from(b"abcdefgh");
        let mut out = [0u8; 8];
        part.read_into(&mut out);
        assert_eq!(&out, b"abcdefgh");
        assert!(all.contains(&part) && !part.contains(&all));
        // SAFETY: never dereferenced: only compared.
        let past = unsafe { SharedSpan::new(base.add(60), 8) };
        assert!(!all.contains(&past));
        assert_eq!(buf[16..24], *b"abcdefgh");
    }
}
