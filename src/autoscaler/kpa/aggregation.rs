//! Bucketed window averagers for the KPA metric windows (Knative `pkg/autoscaler/aggregation/bucketing.go`).
//!
//! A [`TimedFloat64Buckets`] is a ring of `ceil(window / granularity)` buckets. A value recorded at time `t`
//! is added to the bucket of `truncate(t, granularity)`; several values in one bucket are summed (the scraper's
//! pod total and the activator's total add up to the revision total). The bucket of an instant is
//! `floor(t / granularity)` on the absolute simulated clock, where Knative uses Unix seconds.
//!
//! Two averages are offered, chosen by the revision's `metric-aggregation-algorithm`:
//! * [`AggregationAlgorithm::Linear`] (default): the mean over the buckets written since the first write
//!   (a young series is not diluted by the empty part of the window), rounded to 6 decimals, halves away
//!   from zero, exactly like Knative's `roundToNDigits(6, x)`.
//! * [`AggregationAlgorithm::WeightedExponential`]: `sum(bucket_i * m * (1 - m)^i)` walking back from the last
//!   write, with the smoothing coefficient `m = max(1 - 0.0001^(1/nb), 0.2)`. Not normalised, not rounded,
//!   so a young series under-reports (one write of 2 gives `2m`).
//!
//! Units: values are whatever the caller records (revision-total concurrency or requests per second);
//! times are [`SimTime`] nanoseconds; the granularity is a whole number of seconds (Knative uses 1 s).
//! "Never written" is `None`, so simulated time 0 is an ordinary instant.
//!
//! Simplifications: Knative's `ResizeWindow` consults the wall clock; here the caller passes `now`. When the
//! resize moves the first write before simulated time 0 it saturates at 0, which can only make the linear
//! average's denominator smaller within the first window of a run.

use crate::time::{SimDuration, SimTime};

/// How a window of buckets is reduced to one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AggregationAlgorithm {
    /// Mean over the valid buckets, rounded to 6 decimals.
    #[default]
    Linear,
    /// Exponentially weighted sum, newest bucket weighted most.
    WeightedExponential,
}

impl AggregationAlgorithm {
    /// The canonical annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregationAlgorithm::Linear => "linear",
            AggregationAlgorithm::WeightedExponential => "weighted-exponential",
        }
    }
}

/// `1 - 0.9999`: Go evaluates `1 - targetPrecision` as an exact untyped constant, so it is exactly 1e-4 and
/// not the float subtraction, which differs in the last bits.
const WEIGHTED_RESIDUAL: f64 = 1e-4;
/// Lower bound of the smoothing coefficient so long windows still react.
const MIN_SMOOTHING_COEFF: f64 = 0.2;
/// Digits the linear average is rounded to.
const LINEAR_PRECISION_DIGITS: i32 = 6;

/// The weighted-exponential smoothing coefficient for `num_buckets` buckets.
pub fn smoothing_coefficient(num_buckets: usize) -> f64 {
    let nb = num_buckets.max(1) as f64;
    (1.0 - WEIGHTED_RESIDUAL.powf(1.0 / nb)).max(MIN_SMOOTHING_COEFF)
}

/// Rounds to `digits` decimals, halves away from zero (Go `math.Round(x*10^n)/10^n`).
fn round_to_digits(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Signed nanoseconds `later - earlier`.
fn signed_nanos(later: SimTime, earlier: SimTime) -> i128 {
    later.as_nanos() as i128 - earlier.as_nanos() as i128
}

/// A windowed, bucketed averager (one of the four per revision: concurrency/rps x stable/panic).
#[derive(Clone, Debug)]
pub struct TimedFloat64Buckets {
    buckets: Vec<f64>,
    granularity: SimDuration,
    window: SimDuration,
    /// Start of the earliest bucket written since the series (re)started; `None` before any write.
    first_write: Option<SimTime>,
    /// Start of the latest bucket written; `None` before any write.
    last_write: Option<SimTime>,
    window_total: f64,
    algorithm: AggregationAlgorithm,
    smoothing_coeff: f64,
}

impl TimedFloat64Buckets {
    /// A new, empty averager. `granularity` is made whole seconds and at least 1 s, because Knative's bucket
    /// index divides Unix seconds by whole granularity seconds; `window` is at least one granularity.
    pub fn new(
        window: SimDuration,
        granularity: SimDuration,
        algorithm: AggregationAlgorithm,
    ) -> Self {
        let granularity = SimDuration::from_secs(granularity.whole_secs().max(1));
        let window = window.max(granularity);
        let num_buckets = num_buckets_for(window, granularity);
        TimedFloat64Buckets {
            buckets: vec![0.0; num_buckets],
            granularity,
            window,
            first_write: None,
            last_write: None,
            window_total: 0.0,
            algorithm,
            smoothing_coeff: smoothing_coefficient(num_buckets),
        }
    }

    pub fn num_buckets(&self) -> usize {
        self.buckets.len()
    }
    pub fn window(&self) -> SimDuration {
        self.window
    }
    pub fn algorithm(&self) -> AggregationAlgorithm {
        self.algorithm
    }
    /// The weighted-exponential coefficient for the current number of buckets.
    pub fn smoothing_coeff(&self) -> f64 {
        self.smoothing_coeff
    }

    fn truncate(&self, t: SimTime) -> SimTime {
        let g = self.granularity.as_nanos();
        SimTime(t.as_nanos() / g * g)
    }

    fn index_of(&self, t: SimTime) -> u64 {
        t.as_nanos() / self.granularity.as_nanos()
    }

    fn slot(&self, index: u64) -> usize {
        (index % self.buckets.len() as u64) as usize
    }

    /// Cache hint: the line of the bucket a record at `now` writes (see [`crate::engine::prefetch`]).
    #[inline]
    pub fn prefetch_slot(&self, now: SimTime) {
        if let Some(bucket) = self.buckets.get(self.slot(self.index_of(now))) {
            crate::engine::prefetch::prefetch(bucket);
        }
    }

    /// Adds `value` to the bucket of `now`. Writes a full window or more before the latest write are
    /// dropped, as Knative does.
    pub fn record(&mut self, now: SimTime, value: f64) {
        let bucket_time = self.truncate(now);
        let write_index = self.index_of(now);
        if self.last_write != Some(bucket_time) {
            let window = self.window.as_nanos() as i128;
            if let Some(last) = self.last_write {
                if signed_nanos(bucket_time, last) + window <= 0 {
                    return;
                }
            }
            if self.first_write.is_none_or(|first| first > bucket_time) {
                self.first_write = Some(bucket_time);
            }
            match self.last_write {
                // An older write still inside the window: just add it below.
                Some(last) if bucket_time < last => {}
                Some(last) if signed_nanos(bucket_time, last) < window => {
                    // Slots skipped since the last write still hold values from a window ago.
                    for index in self.index_of(last) + 1..=write_index {
                        let slot = self.slot(index);
                        self.window_total -= self.buckets[slot];
                        self.buckets[slot] = 0.0;
                    }
                    self.last_write = Some(bucket_time);
                }
                _ => {
                    // No write for a whole window (or never): the series restarts here.
                    self.first_write = Some(bucket_time);
                    self.buckets.fill(0.0);
                    self.window_total = 0.0;
                    self.last_write = Some(bucket_time);
                }
            }
        }
        let slot = self.slot(write_index);
        self.buckets[slot] += value;
        self.window_total += value;
    }

    /// True when nothing was written for more than a window before `now` (or never).
    pub fn is_empty(&self, now: SimTime) -> bool {
        match self.last_write {
            None => true,
            Some(last) => signed_nanos(self.truncate(now), last) > self.window.as_nanos() as i128,
        }
    }

    /// The window's value at `now`, per the configured algorithm.
    pub fn window_average(&self, now: SimTime) -> f64 {
        match self.algorithm {
            AggregationAlgorithm::Linear => self.linear_average(now),
            AggregationAlgorithm::WeightedExponential => self.weighted_average(now),
        }
    }

    fn linear_average(&self, now: SimTime) -> f64 {
        let (Some(first), Some(last)) = (self.first_write, self.last_write) else {
            return 0.0;
        };
        let now = self.truncate(now);
        let since_last = signed_nanos(now, last);
        // Integer division like Go's Duration division; +1 because both ends are inclusive. The first
        // write is never after the last, so unsigned 64-bit division gives the same count without the
        // (slow, software) 128-bit one; the signed form stays as the fallback.
        let written_buckets = if last >= first {
            ((last.0 - first.0) / self.granularity.as_nanos() + 1) as f64
        } else {
            (signed_nanos(last, first) / self.granularity.as_nanos() as i128 + 1) as f64
        };
        let nb = self.buckets.len() as f64;
        if since_last <= 0 {
            let denominator = written_buckets.min(nb);
            round_to_digits(self.window_total / denominator, LINEAR_PRECISION_DIGITS)
        } else if since_last < self.window.as_nanos() as i128 {
            // Slots after the last write still hold values from a window ago: leave them out.
            let last_index = self.index_of(last);
            let now_index = self.index_of(now);
            let mut total = self.window_total;
            for index in last_index + 1..=now_index {
                total -= self.buckets[self.slot(index)];
            }
            let denominator = written_buckets.min(nb - (now_index - last_index) as f64);
            round_to_digits(total / denominator, LINEAR_PRECISION_DIGITS)
        } else {
            0.0
        }
    }

    fn weighted_average(&self, now: SimTime) -> f64 {
        if self.is_empty(now) {
            return 0.0;
        }
        let Some(last) = self.last_write else {
            return 0.0;
        };
        let now = self.truncate(now);
        let total_buckets = self.buckets.len();
        let mut buckets_to_walk = total_buckets;
        let mut multiplier = self.smoothing_coeff;
        if now > last {
            let skipped = ((now - last).as_nanos() / self.granularity.as_nanos()) as usize;
            multiplier *= (1.0 - self.smoothing_coeff).powf(skipped as f64);
            buckets_to_walk = buckets_to_walk.saturating_sub(skipped);
        }
        let last_slot = self.slot(self.index_of(last));
        let mut result = 0.0;
        for back in 0..buckets_to_walk {
            let slot = (last_slot + total_buckets - back) % total_buckets;
            result += self.buckets[slot] * multiplier;
            multiplier *= 1.0 - self.smoothing_coeff;
        }
        result
    }

    /// Visits the buckets still inside the window at `now`, newest first, with each bucket's start time
    /// (Knative's test helper `forEachBucket`; useful for inspection and plots).
    pub fn for_each_valid_bucket(&self, now: SimTime, mut visit: impl FnMut(SimTime, f64)) {
        let Some(last) = self.last_write else {
            return;
        };
        let now = self.truncate(now);
        let since_last = signed_nanos(now, last);
        if since_last >= self.window.as_nanos() as i128 {
            return;
        }
        let skipped = (since_last.max(0) / self.granularity.as_nanos() as i128) as usize;
        let count = self.buckets.len().saturating_sub(skipped);
        let mut index = self.index_of(last);
        let mut bucket_time = last;
        for _ in 0..count {
            visit(bucket_time, self.buckets[self.slot(index)]);
            if index == 0 {
                break;
            }
            index -= 1;
            bucket_time = SimTime(bucket_time.as_nanos() - self.granularity.as_nanos());
        }
    }

    /// Changes the window length (the `window` annotation changed), keeping the most recent
    /// `min(old, new)` buckets. If `now` is more than the old window past the last write the data is stale
    /// and the averager restarts empty instead.
    pub fn resize_window(&mut self, new_window: SimDuration, now: SimTime) {
        let new_window = new_window.max(self.granularity);
        if new_window == self.window {
            return;
        }
        let new_count = num_buckets_for(new_window, self.granularity);
        let mut new_buckets = vec![0.0; new_count];
        let mut new_total = 0.0;
        let old_count = self.buckets.len();
        match self.last_write {
            Some(last) if !self.is_empty(now) => {
                let mut index = self.index_of(last);
                for _ in 0..new_count.min(old_count) {
                    let value = self.buckets[self.slot(index)];
                    new_buckets[(index % new_count as u64) as usize] = value;
                    new_total += value;
                    if index == 0 {
                        break;
                    }
                    index -= 1;
                }
                // Knative assumes the old window was full, so the average's denominator stays the window.
                let back = self.granularity.as_nanos() * (old_count as u64 - 1);
                self.first_write = Some(SimTime(last.as_nanos().saturating_sub(back)));
            }
            _ => {
                self.first_write = None;
                self.last_write = None;
            }
        }
        self.window = new_window;
        self.buckets = new_buckets;
        self.window_total = new_total;
        self.smoothing_coeff = smoothing_coefficient(new_count);
    }
}

fn num_buckets_for(window: SimDuration, granularity: SimDuration) -> usize {
    window.as_nanos().div_ceil(granularity.as_nanos()).max(1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> SimTime {
        SimTime::from_secs(s)
    }

    fn linear(window_s: u64) -> TimedFloat64Buckets {
        TimedFloat64Buckets::new(
            SimDuration::from_secs(window_s),
            SimDuration::from_secs(1),
            AggregationAlgorithm::Linear,
        )
    }

    #[test]
    fn a_run_starting_at_time_zero_is_not_treated_as_unset() {
        let mut buckets = linear(60);
        assert!(buckets.is_empty(secs(0)));
        buckets.record(secs(0), 4.0);
        assert!(!buckets.is_empty(secs(0)));
        assert_eq!(buckets.window_average(secs(0)), 4.0);
        buckets.record(secs(1), 2.0);
        assert_eq!(buckets.window_average(secs(1)), 3.0);
    }

    #[test]
    fn rounding_is_to_six_decimals_halves_away_from_zero() {
        assert_eq!(round_to_digits(0.0000005, 6), 0.000001);
        assert_eq!(round_to_digits(-0.0000005, 6), -0.000001);
        assert_eq!(round_to_digits(1.0 / 3.0, 6), 0.333333);
    }

    #[test]
    fn gap_inside_window_counts_as_zero_and_old_data_expires() {
        let mut buckets = linear(6);
        buckets.record(secs(10), 6.0);
        buckets.record(secs(12), 6.0);
        assert_eq!(buckets.window_average(secs(12)), 4.0);
        assert_eq!(buckets.window_average(secs(18)), 0.0);
        assert!(!buckets.is_empty(secs(18)));
        assert!(buckets.is_empty(secs(19)));
    }
}
