//! Compact latency histograms for per-service outputs: [`LogHistogram`] (a run's latencies in logarithmic
//! buckets) and [`IntervalMark`] (the latencies recorded since a mark, read off the run's histogram).
//!
//! Units: microseconds in, microseconds out. A value `v >= 1` goes to bucket `floor(ln v / ln 1.01)`;
//! percentiles report the bucket's geometric middle (clamped to the smallest and largest value seen), so
//! they are within 0.5 % of the exact value.
//!
//! Why an interval is a mark and not a second histogram: a run of many services records every response
//! into its service's histogram, and with a thousand services those bucket arrays do not stay in cache;
//! a second (per-interval) histogram per service doubled the cache misses of every response. The
//! interval's counts are the run's counts minus a copy taken at the interval's start, which costs a copy
//! per service per interval instead of a second random write per response.
//!
//! Assumption: a bucket holds fewer than 2^32 values (4 billion responses of one service within 1 % of
//! each other); beyond that the run's bucket saturates and the interval's count read off it is short.

/// Bucket growth of [`LogHistogram`]: each bucket is 1 % wider than the previous one.
const GROWTH: f64 = 1.01;

/// Latencies (µs) in logarithmic buckets (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct LogHistogram {
    counts: Vec<u32>,
    total: u64,
    sum_us: f64,
    min_us: u64,
    max_us: u64,
}

impl LogHistogram {
    /// The bucket of `us`.
    #[inline]
    pub fn bucket(us: u64) -> usize {
        if us <= 1 {
            0
        } else {
            ((us as f64).ln() / GROWTH.ln()) as usize
        }
    }

    pub fn record(&mut self, us: u64) {
        self.record_in(Self::bucket(us), us);
    }

    /// Records `us`, whose bucket ([`LogHistogram::bucket`]) the caller has computed.
    #[inline]
    pub fn record_in(&mut self, bucket: usize, us: u64) {
        self.record_uncounted(bucket, us);
        self.count_in(bucket);
    }

    /// Records `us` (bucket `bucket`) except for the bucket's count, which the caller adds later with
    /// [`LogHistogram::count_in`], before anything reads the histogram; asks the CPU to fetch the count's
    /// cache line meanwhile. With a thousand services the bucket arrays do not stay in cache, and a
    /// count added at once waits for its line (about a tenth of a many-service run); added a response
    /// later, the line has arrived.
    #[inline]
    pub fn record_uncounted(&mut self, bucket: usize, us: u64) {
        if bucket >= self.counts.len() {
            self.counts.resize(bucket + 1, 0);
        }
        crate::engine::prefetch::prefetch(&self.counts[bucket]);
        if self.total == 0 || us < self.min_us {
            self.min_us = us;
        }
        self.max_us = self.max_us.max(us);
        self.total += 1;
        self.sum_us += us as f64;
    }

    /// Adds one to bucket `bucket`'s count: the second half of [`LogHistogram::record_uncounted`].
    #[inline]
    pub fn count_in(&mut self, bucket: usize) {
        if let Some(c) = self.counts.get_mut(bucket) {
            *c = c.saturating_add(1);
        }
    }

    /// Empties the histogram, keeping its buckets' memory.
    pub fn clear(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.sum_us = 0.0;
        self.min_us = 0;
        self.max_us = 0;
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    /// The values in the buckets' counts: [`LogHistogram::len`] once every value recorded with
    /// [`LogHistogram::record_uncounted`] has been counted (saturated buckets aside).
    pub fn counted(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The number of buckets allocated (the largest bucket written, plus one).
    pub fn buckets(&self) -> usize {
        self.counts.len()
    }

    /// The `q` quantile in µs (0 when empty); the smallest value with at least `q` of the mass at or below.
    pub fn quantile_us(&self, q: f64) -> f64 {
        quantile(
            self.counts.iter().copied(),
            self.total,
            self.min_us,
            self.max_us,
            q,
        )
    }

    /// The usual percentiles, in ms.
    pub fn summary(&self) -> super::latency::LatencySummary {
        if self.total == 0 {
            return super::latency::LatencySummary::default();
        }
        let ms = |q: f64| round3(self.quantile_us(q) / 1e3);
        super::latency::LatencySummary {
            mean: round3(self.sum_us / self.total as f64 / 1e3),
            min: round3(self.min_us as f64 / 1e3),
            p10: ms(0.10),
            p25: ms(0.25),
            p50: ms(0.50),
            p75: ms(0.75),
            p90: ms(0.90),
            p95: ms(0.95),
            p99: ms(0.99),
            p999: ms(0.999),
            max: round3(self.max_us as f64 / 1e3),
        }
    }
}

/// The values a [`LogHistogram`] received since [`IntervalMark::mark`]: a copy of its counts at the mark
/// plus the count, smallest and largest value since. Every value recorded into the histogram must also
/// go through [`IntervalMark::record`].
#[derive(Clone, Debug, Default)]
pub struct IntervalMark {
    base: Vec<u32>,
    total: u64,
    min_us: u64,
    max_us: u64,
}

impl IntervalMark {
    #[inline]
    pub fn record(&mut self, us: u64) {
        if self.total == 0 || us < self.min_us {
            self.min_us = us;
        }
        self.max_us = self.max_us.max(us);
        self.total += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (µs) of the values recorded into `run` since the mark.
    pub fn quantile_us(&self, run: &LogHistogram, q: f64) -> f64 {
        let since = run
            .counts
            .iter()
            .enumerate()
            .map(|(b, &c)| c - self.base.get(b).copied().unwrap_or(0));
        quantile(since, self.total, self.min_us, self.max_us, q)
    }

    /// Starts a new interval at `run`'s present counts.
    pub fn mark(&mut self, run: &LogHistogram) {
        if self.total > 0 {
            self.base.clear();
            self.base.extend_from_slice(&run.counts);
        }
        self.total = 0;
        self.min_us = 0;
        self.max_us = 0;
    }
}

/// The smallest bucket with at least `q` of `total` at or below it, as its geometric middle clamped to
/// `[min_us, max_us]`.
fn quantile(
    counts: impl Iterator<Item = u32>,
    total: u64,
    min_us: u64,
    max_us: u64,
    q: f64,
) -> f64 {
    if total == 0 {
        return 0.0;
    }
    let rank = ((total as f64 * q).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (b, c) in counts.enumerate() {
        seen += u64::from(c);
        if seen >= rank {
            let mid = GROWTH.powf(b as f64 + 0.5);
            return mid.clamp(min_us as f64, max_us as f64);
        }
    }
    max_us as f64
}

pub(crate) fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3 + 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn percentiles_are_within_half_a_percent() {
        let mut h = LogHistogram::default();
        let mut exact: Vec<u64> = (1..=100_000u64).map(|i| i * 37 % 1_000_003 + 100).collect();
        for &v in &exact {
            h.record(v);
        }
        exact.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999] {
            let idx = ((exact.len() as f64 * q).ceil() as usize) - 1;
            let want = exact[idx] as f64;
            let got = h.quantile_us(q);
            assert!((got / want - 1.0).abs() < 0.006, "q {q}: {got} vs {want}");
        }
        assert_eq!(h.len(), 100_000);
        assert!(h.buckets() < 1500);
    }

    proptest! {
        /// An interval read off the run's histogram gives the same percentiles as a histogram of the
        /// interval's values alone, over several intervals (some empty).
        #[test]
        fn an_interval_mark_equals_a_histogram_of_the_interval(
            intervals in prop::collection::vec(prop::collection::vec(0u64..5_000_000, 0..60), 1..6),
        ) {
            let mut run = LogHistogram::default();
            let mut mark = IntervalMark::default();
            for values in &intervals {
                let mut alone = LogHistogram::default();
                for &v in values {
                    run.record(v);
                    mark.record(v);
                    alone.record(v);
                }
                prop_assert_eq!(mark.len(), alone.len());
                prop_assert_eq!(mark.is_empty(), alone.is_empty());
                for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                    prop_assert_eq!(mark.quantile_us(&run, q), alone.quantile_us(q));
                }
                mark.mark(&run);
            }
            prop_assert_eq!(run.len(), intervals.iter().map(|v| v.len() as u64).sum::<u64>());
        }
    }
}
