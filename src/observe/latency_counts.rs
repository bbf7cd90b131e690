//! The run's latency record as the run goes: a count per bucket of the summary's HDR histogram (3
//! significant digits from 1 µs, see [`super::latency`]), kept in a plain array and moved into the
//! histogram whenever the run stops: at its last row, and at the end of every step of a stepped run.
//!
//! Why: every answered request records its latency, and the histogram's own record is a call of about
//! sixty instructions (bounds, saturating counters, extremes); here it is an index computation, a cache
//! hint and an increment of the previous latency's bucket (see [`LatencyCounts::record`]). The
//! histogram ends with the same count in every bucket, hence the same summary: its percentiles, mean,
//! buckets and CDF read bucket counts, and its `min` and `max` are the lowest and highest equivalent
//! values of the extreme buckets, which a bucket's lowest value (what is added) has too.
//!
//! Assumption: nothing reads the histogram while the run goes: the summary is read after the last row or
//! between steps (`Stepper::step_until` moves the counts in before it returns, and frees the array, which
//! keeps a run that stays paused a while small). Values above the histogram's highest trackable value
//! take the histogram's own path at once, so its clamping stays exactly its own.

use hdrhistogram::Histogram;

/// Magnitude of half the sub-buckets of a bucket: 3 significant digits need unit resolution up to 2,000,
/// so a bucket has 2,048 sub-buckets (the histogram's `sub_bucket_half_count_magnitude`).
const HALF_MAGNITUDE: u32 = 10;
/// Values below the sub-bucket count all fall in bucket 0 (with a lowest value of 1, the unit is 1).
const SUB_BUCKET_MASK: u64 = (1 << (HALF_MAGNITUDE + 1)) - 1;
/// The histogram's `leading_zero_count_base`: 64 bits less the sub-bucket count's magnitude.
const LEADING_ZERO_BASE: u32 = 64 - (HALF_MAGNITUDE + 1);

/// Latencies (µs) counted by the buckets of a histogram with lowest value 1 and 3 significant digits.
pub(crate) struct LatencyCounts {
    counts: Vec<u64>,
    /// The bucket of the latest latency, counted with the next one (see [`LatencyCounts::record`]).
    pending: Option<usize>,
    /// The histogram's highest trackable value: anything above goes straight to the histogram.
    highest: u64,
}

impl LatencyCounts {
    /// Counts for `h`, or `None` if `h` is not laid out as this type computes (lowest value 1, 3
    /// significant digits).
    pub(crate) fn for_histogram(h: &Histogram<u64>) -> Option<Self> {
        (h.low() == 1 && h.sigfig() == 3).then(|| LatencyCounts {
            counts: Vec::new(),
            pending: None,
            highest: h.high(),
        })
    }

    /// The histogram's index of value `v` (its `index_for`).
    #[inline(always)]
    fn index(v: u64) -> usize {
        let bucket = LEADING_ZERO_BASE - (v | SUB_BUCKET_MASK).leading_zeros();
        let sub = v >> bucket;
        ((u64::from(bucket + 1) << HALF_MAGNITUDE) + sub - (1 << HALF_MAGNITUDE)) as usize
    }

    /// The lowest value of index `i`'s bucket (the histogram's `value_for`).
    fn value(i: usize) -> u64 {
        let bucket = (i >> HALF_MAGNITUDE) as i64 - 1;
        let sub = (i as u64 & ((1 << HALF_MAGNITUDE) - 1)) + (1 << HALF_MAGNITUDE);
        if bucket < 0 {
            sub - (1 << HALF_MAGNITUDE)
        } else {
            sub << bucket
        }
    }

    /// Counts one latency of `us` µs (the histogram `h` takes it directly when it is above its range).
    /// Always inlined: it runs for every answered request, and as a call it cost twice its work.
    ///
    /// The array spans tens of kilobytes and latencies land anywhere in it, so the increment missed the
    /// first-level cache on most responses (a tenth of a fixed-replica run waited on it). So this one's
    /// bucket is asked for now and counted at the next latency (or when the counts are moved into the
    /// histogram), by which time it is at hand.
    #[inline(always)]
    pub(crate) fn record(&mut self, h: &mut Histogram<u64>, us: u64) {
        if us > self.highest {
            h.saturating_record(us);
            return;
        }
        let i = Self::index(us);
        if i >= self.counts.len() {
            self.grow(i);
        }
        crate::engine::prefetch::prefetch(&self.counts[i]);
        if let Some(previous) = self.pending.replace(i) {
            self.counts[previous] += 1;
        }
    }

    #[cold]
    fn grow(&mut self, i: usize) {
        self.counts.resize(i + 1, 0);
    }

    /// Adds every count to `h` and frees the array (it grows back as latencies come).
    pub(crate) fn move_into(&mut self, h: &mut Histogram<u64>) {
        if let Some(last) = self.pending.take() {
            self.counts[last] += 1;
        }
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 {
                h.record_n(Self::value(i), c)
                    .expect("a bucket's lowest value is in the histogram's range");
            }
        }
        self.counts = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn histogram() -> Histogram<u64> {
        Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3).unwrap()
    }

    /// Everything the summary reads (see `super::super::latency`).
    fn figures(h: &Histogram<u64>) -> Vec<u64> {
        let mut out = vec![
            h.len(),
            h.min(),
            h.max(),
            h.mean().to_bits(),
            h.stdev().to_bits(),
        ];
        for q in [0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            out.push(h.value_at_quantile(q));
        }
        for v in h.iter_recorded() {
            out.extend([v.value_iterated_to(), v.count_at_value()]);
        }
        out
    }

    proptest! {
        /// Counting by bucket then adding gives the histogram exactly what recording each value gives:
        /// small values, every bucket's edges, values past the highest trackable one.
        #[test]
        fn counts_give_the_same_histogram(
            values in proptest::collection::vec(
                prop_oneof![
                    1u64..5_000,
                    1u64..1 << 37,
                    (0u32..37).prop_map(|b| (1u64 << b) - 1),
                    (0u32..37).prop_map(|b| 1u64 << b),
                    Just(24 * 3600 * 1_000_000),
                    (24u64 * 3600 * 1_000_000)..(1 << 40),
                ],
                0..300,
            ),
        ) {
            let mut direct = histogram();
            let mut counted = histogram();
            let mut counts = LatencyCounts::for_histogram(&counted).unwrap();
            for &v in &values {
                direct.saturating_record(v);
                counts.record(&mut counted, v);
            }
            counts.move_into(&mut counted);
            prop_assert_eq!(figures(&counted), figures(&direct));
            // A second move adds nothing.
            counts.move_into(&mut counted);
            prop_assert_eq!(figures(&counted), figures(&direct));
        }
    }

    #[test]
    fn index_and_value_agree_with_the_histogram() {
        let h = histogram();
        for v in [
            1u64,
            2,
            2047,
            2048,
            2049,
            4095,
            4096,
            1_000_000,
            86_399_999_999,
        ] {
            let i = LatencyCounts::index(v);
            assert_eq!(LatencyCounts::value(i), h.lowest_equivalent(v), "{v}");
        }
    }

    #[test]
    fn other_layouts_are_refused() {
        let h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 2).unwrap();
        assert!(LatencyCounts::for_histogram(&h).is_none());
    }
}
