//! Binary-heap event queue keyed by `(time, sequence)` with lazy cancellation.
//!
//! Cancelled sequence numbers sit in a hash set until their entry reaches the top of the heap. The set is
//! consulted on every pop while it is non-empty, so it hashes with a one-multiply hasher instead of SipHash
//! (keys are our own sequence numbers, not attacker-controlled input).

use crate::time::SimTime;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Fibonacci hashing of a `u64` key: one multiply by 2^64 / golden ratio. Sequential keys land in distinct
/// low bits and well-mixed high bits, which is what the hash table uses.
#[derive(Default, Clone, Copy)]
struct SeqHasher(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(GOLDEN);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(GOLDEN);
    }
}

type SeqSet = HashSet<u64, BuildHasherDefault<SeqHasher>>;

/// Handle of a scheduled event, usable to cancel it. Sequence numbers are never reused within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(u64);

/// Scheduling errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("event scheduled at {at} but the clock is already at {now}")]
    InThePast { at: SimTime, now: SimTime },
}

struct Entry<E> {
    time: SimTime,
    priority: u8,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.priority == other.priority && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // BinaryHeap is a max-heap: reverse so the earliest (time, seq) pops first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.priority, other.seq).cmp(&(self.time, self.priority, self.seq))
    }
}

/// A priority queue of events of type `E`.
///
/// ```
/// use podscale::engine::EventQueue;
/// use podscale::time::SimTime;
/// let mut q = EventQueue::new();
/// q.schedule(SimTime::from_secs(2), "late").unwrap();
/// let first = q.schedule(SimTime::from_secs(1), "cancelled").unwrap();
/// q.schedule(SimTime::from_secs(1), "early").unwrap();
/// q.cancel(first);
/// assert_eq!(q.pop().map(|(_, e)| e), Some("early"));
/// assert_eq!(q.pop().map(|(_, e)| e), Some("late"));
/// assert!(q.pop().is_none());
/// ```
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    cancelled: SeqSet,
    next_seq: u64,
    now: SimTime,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(1024),
            cancelled: SeqSet::default(),
            next_seq: 0,
            now: SimTime::ZERO,
            popped: 0,
        }
    }

    /// The time of the last popped event (the simulation clock).
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Number of events delivered by [`EventQueue::pop`] so far.
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    /// Schedules `event` at `time`, which must not be earlier than the clock.
    pub fn schedule(&mut self, time: SimTime, event: E) -> Result<EventId, ScheduleError> {
        self.schedule_with_priority(time, 1, event)
    }

    /// Schedules `event` at `time` in priority class `priority`: at one instant, lower classes run first
    /// whatever the scheduling order (FIFO within a class). [`schedule`](Self::schedule) uses class 1, so
    /// class 0 runs before every ordinary event of its instant.
    pub fn schedule_with_priority(
        &mut self,
        time: SimTime,
        priority: u8,
        event: E,
    ) -> Result<EventId, ScheduleError> {
        if time < self.now {
            return Err(ScheduleError::InThePast {
                at: time,
                now: self.now,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry {
            time,
            priority,
            seq,
            event,
        });
        Ok(EventId(seq))
    }

    /// Cancels a pending event. Cancelling an event that already ran is a no-op.
    pub fn cancel(&mut self, id: EventId) {
        if id.0 < self.next_seq {
            self.cancelled.insert(id.0);
        }
    }

    /// Time of the next live event without removing it.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.skip_cancelled();
        self.heap.peek().map(|e| e.time)
    }

    /// Removes and returns the next live event, advancing the clock to its time.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.skip_cancelled();
        let entry = self.heap.pop()?;
        self.now = entry.time;
        self.popped += 1;
        Some((entry.time, entry.event))
    }

    /// Number of entries still in the heap (including cancelled ones not yet skipped).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    fn skip_cancelled(&mut self) {
        if self.cancelled.is_empty() {
            return;
        }
        while let Some(top) = self.heap.peek() {
            if self.cancelled.remove(&top.seq) {
                self.heap.pop();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_are_fifo() {
        let mut q = EventQueue::new();
        for i in 0..100 {
            q.schedule(SimTime::from_secs(5), i).unwrap();
        }
        let order: Vec<i32> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn a_lower_priority_class_runs_first_at_one_instant() {
        let mut q = EventQueue::new();
        q.schedule(SimTime::from_secs(2), "request").unwrap();
        q.schedule(SimTime::from_secs(1), "early").unwrap();
        q.schedule_with_priority(SimTime::from_secs(2), 0, "tick")
            .unwrap();
        q.schedule(SimTime::from_secs(2), "later request").unwrap();
        let order: Vec<&str> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["early", "tick", "request", "later request"]);
    }

    #[test]
    fn scheduling_into_the_past_is_an_error() {
        let mut q = EventQueue::new();
        q.schedule(SimTime::from_secs(5), ()).unwrap();
        q.pop();
        assert_eq!(
            q.schedule(SimTime::from_secs(4), ()),
            Err(ScheduleError::InThePast {
                at: SimTime::from_secs(4),
                now: SimTime::from_secs(5)
            })
        );
        assert!(q.schedule(SimTime::from_secs(5), ()).is_ok());
    }

    #[test]
    fn cancellation_skips_only_the_cancelled_event() {
        let mut q = EventQueue::new();
        let a = q.schedule(SimTime::from_secs(1), 'a').unwrap();
        q.schedule(SimTime::from_secs(1), 'b').unwrap();
        q.cancel(a);
        assert_eq!(q.peek_time(), Some(SimTime::from_secs(1)));
        assert_eq!(q.pop().unwrap().1, 'b');
        assert!(q.pop().is_none());
        assert_eq!(q.events_processed(), 1);
    }
}
