//! The 4-ary min-heap under [`super::EventQueue`]'s main and timer heaps: entries ordered by their packed
//! `(time, priority, sequence)` key, holes moved instead of swaps, and the smallest of four children picked
//! without branches (see the module docs of the queue for why a 4-ary heap).

use super::{Entry, D};

/// Restores the heap order bottom-up (O(n)).
pub(super) fn heapify<E: Copy>(h: &mut [Entry<E>]) {
    let n = h.len();
    if n > 1 {
        for i in (0..=(n - 2) / D).rev() {
            sift_down(h, i);
        }
    }
}

pub(super) fn pop_heap<E: Copy>(h: &mut Vec<Entry<E>>) -> Option<Entry<E>> {
    let last = h.pop()?;
    if h.is_empty() {
        return Some(last);
    }
    let top = std::mem::replace(&mut h[0], last);
    sift_down(h, 0);
    Some(top)
}

/// [`pop_heap`] with the sift inline, for the pop of the main heap in [`EventQueue::pop`] (most events'
/// way out).
#[inline(always)]
pub(super) fn pop_heap_inline<E: Copy>(h: &mut Vec<Entry<E>>) -> Option<Entry<E>> {
    let last = h.pop()?;
    if h.is_empty() {
        return Some(last);
    }
    let top = std::mem::replace(&mut h[0], last);
    sift_down_inline(h, 0);
    Some(top)
}

/// Adds `entry` to heap `h`. The first comparison is inline: an entry that does not go above its
/// parent (most of them) costs no call.
#[inline(always)]
pub(super) fn push_heap<E: Copy>(h: &mut Vec<Entry<E>>, entry: Entry<E>) {
    let i = h.len();
    h.push(entry);
    if i > 0 && entry.key() < h[(i - 1) / D].key() {
        sift_up(h, i);
    }
}

pub(super) fn sift_up<E: Copy>(h: &mut [Entry<E>], mut i: usize) {
    // A hole moves up instead of the entry being swapped level by level: one copy per level, not three.
    let moving = h[i];
    while i > 0 {
        let parent = (i - 1) / D;
        if moving.key() < h[parent].key() {
            h[i] = h[parent];
            i = parent;
        } else {
            break;
        }
    }
    h[i] = moving;
}

pub(super) fn sift_down<E: Copy>(h: &mut [Entry<E>], i: usize) {
    sift_down_inline(h, i);
}

#[inline(always)]
fn sift_down_inline<E: Copy>(h: &mut [Entry<E>], mut i: usize) {
    let n = h.len();
    let moving = h[i];
    let key = moving.key();
    // Plain index code: the iterator-adapter form of this loop did not optimise to the same code and
    // cost a tenth of a run. The entry moves down as a hole (one copy per level, not a swap).
    loop {
        let first = i * D + 1;
        let (best, best_key) = if first + D <= n {
            // All four children: the smallest by a two-round tournament, whose picks compile to
            // conditional moves (a scan's branch on each child mispredicts about half the time).
            let c = &h[first..first + D];
            let (a, ka) = min_of(0, c[0].key(), 1, c[1].key());
            let (b, kb) = min_of(2, c[2].key(), 3, c[3].key());
            let (k, kk) = min_of(a, ka, b, kb);
            (first + k, kk)
        } else if first < n {
            // The last parent, with one to three children.
            let mut best = first;
            let mut best_key = h[first].key();
            let mut c = first + 1;
            while c < n {
                let k = h[c].key();
                if k < best_key {
                    best = c;
                    best_key = k;
                }
                c += 1;
            }
            (best, best_key)
        } else {
            break;
        };
        if best_key >= key {
            break;
        }
        h[i] = h[best];
        i = best;
    }
    h[i] = moving;
}

/// The smaller of two keys with its index (the first on a tie, which keys being unique never gives).
#[inline(always)]
fn min_of(a: usize, ka: u128, b: usize, kb: u128) -> (usize, u128) {
    if kb < ka {
        (b, kb)
    } else {
        (a, ka)
    }
}
