//! Latency figures of `summary.json` computed from the run's HDR histogram, as pure functions so the
//! simulator's `finish()` and the tests share one definition.
//!
//! Units: the histogram holds request latencies in **microseconds** (the simulator records
//! `max(1, latency_us)`); every figure returned here is in **milliseconds**.
//!
//! Precision and conventions (the simplifications a reader should know):
//! - An HDR histogram with 3 significant digits stores values in ranges of equivalent values whose width
//!   is at most 0.1 % of the value (exact below 2.048 ms). A percentile is the highest value equivalent to
//!   the recorded value at that rank (HdrHistogram's convention), so it is exact to that precision and
//!   never interpolated; `min` is the lowest equivalent value of the fastest request and `max` the highest
//!   equivalent value of the slowest, so `min <= p10 <= ... <= p999 <= max` always holds.
//! - Histogram buckets assign each recorded range once, by its lowest equivalent value, so bucket counts
//!   add up exactly to the number of requests measured.
//! - Buckets follow `hey`: 11 upper bounds from the fastest to the slowest request, evenly spaced. When the
//!   slowest request is 10 times the fastest or more (a cold-start tail), evenly spaced bounds would put
//!   nearly every request in the first bucket, so the bounds are spaced geometrically instead.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Number of bucket bounds, as in `hey` (fastest, 9 intermediate bounds, slowest).
pub const BUCKETS: usize = 11;
/// Ratio of slowest to fastest from which buckets are spaced geometrically.
pub const LOG_SPACING_RATIO: f64 = 10.0;
/// At most about this many CDF points per unit of cumulative share (so 1 point per 0.1 %).
const CDF_SHARE_STEPS: f64 = 1000.0;
/// A new CDF point is also kept when latency grew by this factor since the last kept point.
const CDF_VALUE_STEP: f64 = 1.02;

/// `latency_ms` in `summary.json`: latencies of completed requests, in milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub mean: f64,
    pub min: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// One entry of `latency_histogram_ms`: requests whose latency is above the previous bound and at most
/// `le` milliseconds (the first bucket holds the requests at the fastest latency).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HistogramBucket {
    pub le: f64,
    pub count: u64,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

/// Mean, extremes and percentiles of the histogram (all zero when it is empty).
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    // One pass over the ~28,000 counts for the eight percentiles, not one each (the crate documents each
    // value as exactly `value_at_quantile`'s).
    const QUANTILES: [f64; 8] = [0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 0.99, 0.999];
    let mut p = [0u64; QUANTILES.len()];
    for (slot, v) in p.iter_mut().zip(h.value_at_quantiles(QUANTILES)) {
        *slot = v;
    }
    LatencySummary {
        mean: h.mean() / 1e3,
        min: ms(h.min()),
        p10: ms(p[0]),
        p25: ms(p[1]),
        p50: ms(p[2]),
        p75: ms(p[3]),
        p90: ms(p[4]),
        p95: ms(p[5]),
        p99: ms(p[6]),
        p999: ms(p[7]),
        max: ms(h.max()),
    }
}

/// The upper bounds (µs) of the [`BUCKETS`] buckets from `lo` to `hi`; see the module docs for spacing.
fn bounds(lo: u64, hi: u64) -> Vec<u64> {
    let last = BUCKETS - 1;
    let geometric = lo > 0 && hi as f64 >= lo as f64 * LOG_SPACING_RATIO;
    let mut out: Vec<u64> = (0..BUCKETS)
        .map(|i| {
            if i == last {
                hi
            } else if geometric {
                let ratio = (hi as f64 / lo as f64).powf(i as f64 / last as f64);
                (lo as f64 * ratio).round() as u64
            } else {
                lo + ((hi - lo) as f64 * i as f64 / last as f64) as u64
            }
        })
        .collect();
    // Rounding can only make bounds equal, never decreasing; clamp so that stays true.
    for i in 1..out.len() {
        out[i] = out[i].max(out[i - 1]);
    }
    out
}

/// `latency_histogram_ms`: [`BUCKETS`] buckets whose counts add up to `h.len()` (empty when `h` is).
pub fn buckets(h: &Histogram<u64>) -> Vec<HistogramBucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let bounds = bounds(h.min(), h.max());
    let mut counts = vec![0u64; bounds.len()];
    for value in h.iter_recorded() {
        let low = h.lowest_equivalent(value.value_iterated_to());
        // `low <= h.max()` == the last bound, so a bucket always exists.
        let index = bounds.partition_point(|&b| b < low).min(bounds.len() - 1);
        counts[index] += value.count_at_value();
    }
    bounds
        .into_iter()
        .zip(counts)
        .map(|(le, count)| HistogramBucket { le: ms(le), count })
        .collect()
}

/// `latency_cdf_ms`: points `[latency_ms, share]` where `share` in (0, 1] is the fraction of measured
/// requests at or below that latency, from the full histogram. Every recorded range is a step of the
/// exact CDF; to keep `summary.json` small, points are kept only when the share grew by 0.1 % or the
/// latency by 2 % since the last kept point (so the plotted curve is exact at that resolution), and the
/// first and last points are always kept (the last has share 1).
pub fn cdf(h: &Histogram<u64>) -> Vec<[f64; 2]> {
    let total = h.len();
    if total == 0 {
        return Vec::new();
    }
    let mut out: Vec<[f64; 2]> = Vec::new();
    let mut seen = 0u64;
    let mut pending: Option<[f64; 2]> = None;
    for value in h.iter_recorded() {
        seen += value.count_at_value();
        let point = [
            ms(h.highest_equivalent(value.value_iterated_to())),
            seen as f64 / total as f64,
        ];
        let keep = match out.last() {
            None => true,
            Some(last) => {
                point[1] - last[1] >= 1.0 / CDF_SHARE_STEPS
                    || point[0] >= last[0] * CDF_VALUE_STEP
                    || seen == total
            }
        };
        if keep {
            out.push(point);
            pending = None;
        } else {
            pending = Some(point);
        }
    }
    if let Some(point) = pending {
        out.push(point);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn histogram(values_us: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3).unwrap();
        for &v in values_us {
            h.saturating_record(v.max(1));
        }
        h
    }

    /// The example: 4,995 requests at 20 ms and 5 cold-start requests near 10 s.
    fn cold_start_tail() -> Histogram<u64> {
        let mut values = vec![20_000; 4995];
        values.extend([10_027_000, 9_900_000, 9_950_000, 10_000_000, 10_010_000]);
        histogram(&values)
    }

    #[test]
    fn cold_start_tail_percentiles_are_ordered_and_exact() {
        let s = summarize(&cold_start_tail());
        // All but 5 of 5,000 requests took 20 ms: every percentile up to p99.9 is 20 ms (to 0.1 %).
        for p in [s.p10, s.p25, s.p50, s.p75, s.p90, s.p95, s.p99, s.p999] {
            assert!((20.0..=20.02).contains(&p), "percentile {p}");
        }
        assert_eq!(s.min, 20.0);
        assert!((s.max - 10_027.0).abs() <= 10.027, "max {}", s.max);
    }

    #[test]
    fn cold_start_tail_buckets_add_up_and_are_geometric() {
        let b = buckets(&cold_start_tail());
        assert_eq!(b.len(), BUCKETS);
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 5000);
        assert_eq!(
            b[0].count, 4995,
            "the 20 ms requests sit in the first bucket"
        );
        assert_eq!(b[BUCKETS - 1].count, 5);
        // Geometric: each bound about (10027/20)^(1/10) = 1.86 times the previous one.
        let ratio = b[2].le / b[1].le;
        assert!((1.7..2.0).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn narrow_spread_gives_even_hey_buckets() {
        let b = buckets(&histogram(&[1000, 1100, 1200, 1500, 2000]));
        let widths: Vec<f64> = b.windows(2).map(|w| w[1].le - w[0].le).collect();
        assert!(widths.iter().all(|w| (w - 0.1).abs() < 1e-9), "{widths:?}");
        assert_eq!(
            b.iter().map(|b| b.count).collect::<Vec<_>>(),
            [1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn one_value_lands_in_one_bucket() {
        let b = buckets(&histogram(&[5_000_000, 5_000_000]));
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 2);
        assert_eq!(b[0].count, 2);
    }

    #[test]
    fn empty_histogram_gives_zeroes() {
        let h = histogram(&[]);
        assert_eq!(summarize(&h), LatencySummary::default());
        assert!(buckets(&h).is_empty());
        assert!(cdf(&h).is_empty());
    }

    #[test]
    fn cdf_shows_the_tail_and_ends_at_one() {
        let c = cdf(&cold_start_tail());
        assert_eq!(c[0][0], 20.015);
        assert!((c[0][1] - 0.999).abs() < 1e-12);
        assert_eq!(c.last().unwrap()[1], 1.0);
        // The five tail requests lie within 2 % of each other: the first and the last are kept.
        assert_eq!(c.len(), 3, "{c:?}");
        assert!((9_890.0..9_910.0).contains(&c[1][0]), "{c:?}");
    }

    fn sorted_exact_quantile(values: &mut [u64], q: f64) -> u64 {
        values.sort_unstable();
        let rank = ((q * values.len() as f64).ceil() as usize).max(1);
        values[rank - 1]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn buckets_add_up_and_percentiles_are_ordered(
            values in prop::collection::vec(1u64..100_000_000, 1..400),
        ) {
            let h = histogram(&values);
            let b = buckets(&h);
            prop_assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), values.len() as u64);
            prop_assert!(b.windows(2).all(|w| w[0].le <= w[1].le));
            let s = summarize(&h);
            let ordered = [s.min, s.p10, s.p25, s.p50, s.p75, s.p90, s.p95, s.p99, s.p999, s.max];
            prop_assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{:?}", ordered);
            prop_assert!(s.min <= s.mean && s.mean <= s.max);
        }

        #[test]
        fn percentiles_match_the_sorted_values_to_hdr_precision(
            mut values in prop::collection::vec(1u64..100_000_000, 1..400),
            q in 0.01f64..1.0,
        ) {
            let h = histogram(&values);
            let hdr = h.value_at_quantile(q);
            let exact = sorted_exact_quantile(&mut values, q);
            // The percentile is the top of the HDR range holding the exact rank's value.
            prop_assert!(hdr >= exact && hdr as f64 <= exact as f64 * 1.001 + 1.0,
                "q {} hdr {} exact {}", q, hdr, exact);
        }

        /// The one-pass percentiles are exactly the histogram's own, one quantile at a time.
        #[test]
        fn summary_percentiles_are_the_histograms(
            values in prop::collection::vec(1u64..100_000_000, 1..400),
        ) {
            let h = histogram(&values);
            let s = summarize(&h);
            let q = |quantile: f64| h.value_at_quantile(quantile) as f64 / 1e3;
            prop_assert_eq!(
                [s.p10, s.p25, s.p50, s.p75, s.p90, s.p95, s.p99, s.p999],
                [q(0.10), q(0.25), q(0.50), q(0.75), q(0.90), q(0.95), q(0.99), q(0.999)]
            );
        }

        #[test]
        fn cdf_is_monotone_and_complete(
            values in prop::collection::vec(1u64..100_000_000, 1..400),
        ) {
            let c = cdf(&histogram(&values));
            prop_assert!(c.windows(2).all(|w| w[0][0] < w[1][0] && w[0][1] < w[1][1]));
            prop_assert_eq!(c.last().unwrap()[1], 1.0);
            let min = *values.iter().min().unwrap() as f64 / 1e3;
            prop_assert!(c[0][0] >= min && c[0][0] <= min * 1.001 + 0.001);
        }
    }
}
