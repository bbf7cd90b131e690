//! A FIFO ring buffer for the event queue's lanes: what `VecDeque` does for them, with a power-of-two
//! capacity so that a position wraps with one mask instead of a compare and a subtraction, and with
//! every operation small enough to inline into the event loop (`VecDeque::push_back` stayed a call there,
//! and the lanes take a push and a pop for most events).
//!
//! Safe code only: slots are plain `T` values (`T: Copy`), so a slot never read holds a copy of some
//! pushed element rather than uninitialised memory. The first push sizes the buffer with copies of
//! itself, and growing fills the new half with copies of the element being pushed.

/// First capacity of a ring that gets an element (a power of two).
const FIRST_CAPACITY: usize = 64;

pub(super) struct Ring<T> {
    /// Length is 0 or a power of two.
    buf: Vec<T>,
    head: usize,
    len: usize,
}

impl<T: Copy> Ring<T> {
    pub(super) const fn new() -> Self {
        Ring {
            buf: Vec::new(),
            head: 0,
            len: 0,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.buf.len().wrapping_sub(1)
    }

    #[inline(always)]
    pub(super) fn front(&self) -> Option<&T> {
        if self.len == 0 {
            None
        } else {
            self.buf.get(self.head)
        }
    }

    #[inline(always)]
    pub(super) fn back(&self) -> Option<&T> {
        if self.len == 0 {
            None
        } else {
            self.buf.get((self.head + self.len - 1) & self.mask())
        }
    }

    #[inline(always)]
    pub(super) fn push_back(&mut self, x: T) {
        if self.len == self.buf.len() {
            self.grow(x);
        }
        let i = (self.head + self.len) & self.mask();
        if let Some(slot) = self.buf.get_mut(i) {
            *slot = x;
        }
        self.len += 1;
    }

    #[inline(always)]
    pub(super) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let x = self.buf.get(self.head).copied();
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        x
    }

    /// Doubles the capacity (or makes the first), keeping the elements in order from index 0.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, fill: T) {
        let cap = (self.buf.len() * 2).max(FIRST_CAPACITY);
        let mut buf = Vec::with_capacity(cap);
        buf.extend(self.iter());
        buf.resize(cap, fill);
        self.buf = buf;
        self.head = 0;
    }

    /// The elements from front to back.
    pub(super) fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let mask = self.mask();
        (0..self.len).map(move |k| self.buf[(self.head + k) & mask])
    }

    /// Keeps the elements for which `keep` is true, in order.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let kept: Vec<T> = self.iter().filter(|x| keep(x)).collect();
        for (k, x) in kept.iter().enumerate() {
            self.buf[k] = *x;
        }
        self.head = 0;
        self.len = kept.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    proptest! {
        /// Any sequence of pushes, pops and retains leaves the ring holding what a `VecDeque` holds.
        #[test]
        fn behaves_like_a_vecdeque(ops in proptest::collection::vec((0u8..4, 0u32..1000), 0..600)) {
            let mut ring = Ring::new();
            let mut model = VecDeque::new();
            for (op, x) in ops {
                match op {
                    0 | 1 => {
                        ring.push_back(x);
                        model.push_back(x);
                    }
                    2 => prop_assert_eq!(ring.pop_front(), model.pop_front()),
                    _ => {
                        ring.retain(|v| v % 3 != x % 3);
                        model.retain(|v| v % 3 != x % 3);
                    }
                }
                prop_assert_eq!(ring.len(), model.len());
                prop_assert_eq!(ring.front(), model.front());
                prop_assert_eq!(ring.back(), model.back());
                prop_assert_eq!(ring.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn wraps_and_grows_in_order() {
        let mut ring = Ring::new();
        for x in 0..50 {
            ring.push_back(x);
        }
        for x in 0..40 {
            assert_eq!(ring.pop_front(), Some(x));
        }
        // 10 left at positions 40..50; these wrap past the end of the 64 slots, then force a growth.
        for x in 50..120 {
            ring.push_back(x);
        }
        assert_eq!(ring.len(), 80);
        assert_eq!(
            ring.iter().collect::<Vec<_>>(),
            (40..120).collect::<Vec<_>>()
        );
        assert!(ring.buf.len().is_power_of_two());
    }
}
