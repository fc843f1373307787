//! Guest-visible handles: non-zero `u64`s with a type tag in the top 16 bits
//! and a per-table counter below, mapped to host objects per client.

use std::collections::HashMap;

/// Bits of a handle below the tag.
const COUNTER_BITS: u32 = 48;
/// Mask of the counter part.
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

/// Tags of the handle kinds (distinct, non-zero, so no handle is 0, 1 or 2,
/// the special stream values).
pub mod tag {
    #![allow(missing_docs)]
    pub const CONTEXT: u16 = 0xC7C0;
    pub const MODULE: u16 = 0xC7C1;
    pub const FUNCTION: u16 = 0xC7C2;
    pub const STREAM: u16 = 0xC7C3;
    pub const EVENT: u16 = 0xC7C4;
    pub const GRAPH: u16 = 0xC7C5;
    pub const GRAPH_NODE: u16 = 0xC7C6;
    pub const GRAPH_EXEC: u16 = 0xC7C7;
    pub const VMM: u16 = 0xC7C8;
}

/// A table of objects of one kind. Handles are never reissued (the counter
/// only grows; after 2^48 − 1 insertions it wraps, skipping live handles).
#[derive(Debug)]
pub struct HandleTable<T> {
    tag: u16,
    next: u64,
    entries: HashMap<u64, T>,
}

impl<T> HandleTable<T> {
    /// An empty table issuing handles tagged `tag` (non-zero).
    pub fn new(tag: u16) -> Self {
        assert!(tag != 0, "handle tags are non-zero");
        Self {
            tag,
            next: 1,
            entries: HashMap::new(),
        }
    }

    /// The tag of this table's handles.
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// Whether `handle` carries this table's tag (it may still be unknown).
    pub fn is_own_tag(&self, handle: u64) -> bool {
        (handle >> COUNTER_BITS) as u16 == self.tag
    }

    /// Stores `value`; returns its new handle.
    pub fn insert(&mut self, value: T) -> u64 {
        loop {
            let counter = self.next;
            self.next = if counter >= COUNTER_MASK {
                1
            } else {
                counter + 1
            };
            let handle = (u64::from(self.tag) << COUNTER_BITS) | counter;
            if let std::collections::hash_map::Entry::Vacant(slot) = self.entries.entry(handle) {
                slot.insert(value);
                return handle;
            }
        }
    }

    /// The object behind `handle`, if it is one of this table's.
    pub fn get(&self, handle: u64) -> Option<&T> {
        if !self.is_own_tag(handle) {
            return None;
        }
        self.entries.get(&handle)
    }

    /// Mutable access to the object behind `handle`.
    pub fn get_mut(&mut self, handle: u64) -> Option<&mut T> {
        if !self.is_own_tag(handle) {
            return None;
        }
        self.entries.get_mut(&handle)
    }

    /// Removes and returns the object behind `handle`.
    pub fn remove(&mut self, handle: u64) -> Option<T> {
        if !self.is_own_tag(handle) {
            return None;
        }
        self.entries.remove(&handle)
    }

    /// Removes every entry for which `pred` holds; returns them.
    pub fn remove_where(&mut self, mut pred: impl FnMut(&T) -> bool) -> Vec<(u64, T)> {
        let doomed: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, v)| pred(v))
            .map(|(&h, _)| h)
            .collect();
        doomed
            .into_iter()
            .filter_map(|h| self.entries.remove(&h).map(|v| (h, v)))
            .collect()
    }

    /// Every live handle and object.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.entries.iter().map(|(&h, v)| (h, v))
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes and returns everything.
    pub fn drain(&mut self) -> Vec<(u64, T)> {
        self.entries.drain().collect()
    }

    #[cfg(test)]
    fn set_next(&mut self, next: u64) {
        self.next = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_tagged_nonzero_and_distinct() {
        let mut t = HandleTable::new(tag::STREAM);
        let a = t.insert("a");
        let b = t.insert("b");
        assert_ne!(a, b);
        for h in [a, b] {
            assert!(h > 2);
            assert_eq!((h >> 48) as u16, tag::STREAM);
            assert!(t.is_own_tag(h));
        }
        assert_eq!(t.get(a), Some(&"a"));
        assert_eq!(t.get(b), Some(&"b"));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn foreign_and_unknown_handles_are_rejected() {
        let mut streams = HandleTable::new(tag::STREAM);
        let mut events = HandleTable::new(tag::EVENT);
        let s = streams.insert(1u32);
        let e = events.insert(2u32);
        // Same counter, other tag: not a stream.
        assert_eq!(s & COUNTER_MASK, e & COUNTER_MASK);
        assert_eq!(streams.get(e), None);
        assert_eq!(events.get(s), None);
        assert_eq!(streams.remove(e), None);
        // Zero, the special stream values, garbage, and another client's handle.
        for h in [0, 1, 2, u64::MAX, s + 1, s | (1 << 47)] {
            assert_eq!(streams.get(h), None, "{h:#x}");
        }
        let mut other_client = HandleTable::new(tag::STREAM);
        let o = other_client.insert(9u32);
        assert_eq!(o, s, "tables of two clients issue the same values");
        assert!(other_client.remove(o).is_some());
        assert_eq!(streams.get(s), Some(&1));
    }

    #[test]
    fn removed_handles_stay_invalid_and_are_not_reissued() {
        let mut t = HandleTable::new(tag::EVENT);
        let a = t.insert(1);
        assert_eq!(t.remove(a), Some(1));
        assert_eq!(t.get(a), None);
        assert_eq!(t.remove(a), None);
        let b = t.insert(2);
        assert_ne!(a, b);
        assert_eq!(t.get(a), None);
        assert!(!t.is_empty() && t.len() == 1);
    }

    #[test]
    fn counter_wraps_and_skips_live_handles() {
        let mut t = HandleTable::new(tag::MODULE);
        let first = t.insert('x');
        t.set_next(COUNTER_MASK);
        let last = t.insert('y');
        assert_eq!(last & COUNTER_MASK, COUNTER_MASK);
        // Wraps to 1, which is live (`first`), so 2 comes out.
        let wrapped = t.insert('z');
        assert_eq!(first & COUNTER_MASK, 1);
        assert_eq!(wrapped & COUNTER_MASK, 2);
        assert_eq!(t.get(first), Some(&'x'));
        assert_eq!(t.get(wrapped), Some(&'z'));
    }

    #[test]
    fn remove_where_and_drain() {
        let mut t = HandleTable::new(tag::FUNCTION);
        let a = t.insert(10);
        let _b = t.insert(11);
        let c = t.insert(12);
        let mut gone: Vec<u64> = t
            .remove_where(|v| v % 2 == 0)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        gone.sort_unstable();
        assert_eq!(gone, vec![a, c]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.drain().len(), 1);
        assert!(t.is_empty());
    }
}
