//! Sliding-maximum window used for `scale-down-delay` (Knative `pkg/autoscaler/aggregation/max/`).
//!
//! The decider records its desired pod count every tick and then uses the maximum recorded over the last
//! `ceil(delay / granularity)` bucket indexes, so a scale-down only takes effect after the lower value has
//! held for the whole delay. Bucket index = `floor(t / granularity)` on the absolute simulated clock (Knative:
//! Unix seconds / granularity seconds, granularity = the 2 s decider tick).
//!
//! Implementation: a monotonic deque of `(index, value)` with strictly decreasing values, so `record` is
//! amortised O(1) and `current` is O(1). The deque never holds more than `size + 1` entries and its capacity
//! is reserved up front, so recording does not allocate.
//!
//! Units: values are pod counts (`i32`, as Knative's `int32`); the granularity is whole seconds (>= 1 s).

use std::collections::VecDeque;

use crate::time::{SimDuration, SimTime};

/// The maximum of the values recorded in the last `size` bucket indexes.
#[derive(Clone, Debug)]
pub struct TimeWindowMax {
    /// Entries `(bucket index, value)`, values strictly decreasing from front to back.
    entries: VecDeque<(u64, i32)>,
    size: u64,
    granularity: SimDuration,
}

impl TimeWindowMax {
    /// A window covering `duration`, in buckets of `granularity` (at least 1 s, whole seconds).
    pub fn new(duration: SimDuration, granularity: SimDuration) -> Self {
        let granularity = SimDuration::from_secs(granularity.whole_secs().max(1));
        let size = duration.as_nanos().div_ceil(granularity.as_nanos()).max(1);
        TimeWindowMax {
            entries: VecDeque::with_capacity(size.min(1 << 16) as usize + 1),
            size,
            granularity,
        }
    }

    /// Number of bucket indexes the maximum is taken over.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Records `value` at time `now`.
    pub fn record(&mut self, now: SimTime, value: i32) {
        self.record_index(now.as_nanos() / self.granularity.as_nanos(), value);
    }

    /// Records `value` in bucket `index` (Knative's index-based `window.Record`).
    pub fn record_index(&mut self, index: u64, value: i32) {
        // A smaller, older value can never be the maximum again once a newer, larger one exists.
        while self.entries.back().is_some_and(|&(_, v)| v <= value) {
            self.entries.pop_back();
        }
        while self
            .entries
            .front()
            .is_some_and(|&(i, _)| index.saturating_sub(i) >= self.size)
        {
            self.entries.pop_front();
        }
        // After the first loop, a remaining entry with the same index is larger: keep it.
        if self.entries.back().is_some_and(|&(i, _)| i == index) {
            return;
        }
        self.entries.push_back((index, value));
    }

    /// The maximum over the window as of the latest record; 0 before any record.
    pub fn current(&self) -> i32 {
        self.entries.front().map_or(0, |&(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_minute_delay_example_from_the_spec() {
        let mut window = TimeWindowMax::new(SimDuration::from_secs(300), SimDuration::from_secs(2));
        let base = 1_700_000_000;
        let at = |minute: u64| SimTime::from_secs(base + minute * 60);
        window.record(at(9), 4);
        window.record(at(10), 3);
        assert_eq!(window.current(), 4);
        window.record(at(11), 0);
        assert_eq!(window.current(), 4);
        window.record(at(14), 0);
        assert_eq!(
            window.current(),
            3,
            "the 9:00 entry is exactly 150 buckets old"
        );
        window.record(at(15), 0);
        assert_eq!(window.current(), 0);
    }
}
