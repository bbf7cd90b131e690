//! Per-revision metric collection (Knative `pkg/autoscaler/metrics/collector.go`, `collection`).
//!
//! Every stat message (the scraper's revision total, or an activator's report) is recorded at its arrival
//! time into a stable and a panic window of the revision's scaling metric. The recorded concurrency is
//! `average_concurrency - average_proxied_concurrency` and the recorded rps is
//! `request_count - proxied_request_count`, so requests counted by both an activator and a queue-proxy are
//! counted once. Messages in the same 1 s bucket are summed.
//!
//! Simplification: Knative keeps four windows (concurrency and rps, stable and panic) whatever the metric;
//! the decider reads only its metric's two, so only those are kept. Decisions are the same, and a
//! revision's tick touches half the buckets (which matters with a thousand revisions).
//!
//! The decider asks for `(stable, panic)` of the revision's scaling metric. If the **stable** window is empty
//! (nothing for more than a window) and the revision has a scrape target (TBC != -1), the answer is
//! [`NoData`] and the decision is invalid; without a scrape target only activators feed the windows and an
//! empty window means (0, 0).
//!
//! Units: revision totals (requests in flight, requests per second). Bucket granularity: 1 s (Knative
//! `BucketSize`). Cost: `record` is O(1) amortised; a linear average is O(gap) and a weighted one O(window
//! buckets), once per decider tick.

use std::fmt;

use super::aggregation::{AggregationAlgorithm, TimedFloat64Buckets};
use super::stats::Stat;
use super::ScalingMetric;
use crate::time::{SimDuration, SimTime};

/// Knative's metric bucket granularity (`BucketSize`).
pub const BUCKET_SIZE: SimDuration = SimDuration::from_secs(1);

/// The stable window held no data: Knative's `ErrNoData` ("no data available").
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no data available")]
pub struct NoData;

/// The metric windows of one revision.
#[derive(Clone, Debug)]
pub struct MetricCollector {
    metric: ScalingMetric,
    scrape_target_set: bool,
    stable: TimedFloat64Buckets,
    panic: TimedFloat64Buckets,
}

impl MetricCollector {
    /// Windows for a revision. `scrape_target_set` is false iff target-burst-capacity is -1.
    pub fn new(
        metric: ScalingMetric,
        algorithm: AggregationAlgorithm,
        stable_window: SimDuration,
        panic_window: SimDuration,
        scrape_target_set: bool,
    ) -> Self {
        let window = |w| TimedFloat64Buckets::new(w, BUCKET_SIZE, algorithm);
        MetricCollector {
            metric,
            scrape_target_set,
            stable: window(stable_window),
            panic: window(panic_window),
        }
    }

    /// Cache hint: the bucket lines a record at `now` writes (see [`crate::engine::prefetch`]).
    #[inline]
    pub fn prefetch_slots(&self, now: SimTime) {
        self.stable.prefetch_slot(now);
        self.panic.prefetch_slot(now);
    }

    pub fn metric(&self) -> ScalingMetric {
        self.metric
    }

    /// Records one stat message received at `now`.
    pub fn record(&mut self, now: SimTime, stat: &Stat) {
        let value = match self.metric {
            ScalingMetric::Concurrency => {
                stat.average_concurrency - stat.average_proxied_concurrency
            }
            ScalingMetric::Rps => stat.request_count - stat.proxied_request_count,
        };
        self.stable.record(now, value);
        self.panic.record(now, value);
    }

    /// Records already-netted revision totals (concurrency and rps) at `now`.
    pub fn record_totals(&mut self, now: SimTime, concurrency: f64, rps: f64) {
        self.record(
            now,
            &Stat {
                average_concurrency: concurrency,
                request_count: rps,
                ..Stat::default()
            },
        );
    }

    /// `(stable, panic)` of the revision's scaling metric at `now`: what the decider consumes.
    pub fn stable_and_panic(&self, now: SimTime) -> Result<(f64, f64), NoData> {
        if self.stable.is_empty(now) && self.scrape_target_set {
            return Err(NoData);
        }
        Ok((
            self.stable.window_average(now),
            self.panic.window_average(now),
        ))
    }

    /// Applies changed windows (the revision's `window` / `panic-window-percentage` annotations changed).
    pub fn resize_windows(
        &mut self,
        stable_window: SimDuration,
        panic_window: SimDuration,
        now: SimTime,
    ) {
        self.stable.resize_window(stable_window, now);
        self.panic.resize_window(panic_window, now);
    }
}

impl fmt::Display for MetricCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "collector({}, stable {}, panic {})",
            self.metric.as_str(),
            self.stable.window(),
            self.panic.window()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collector_of(metric: ScalingMetric, scrape_target_set: bool) -> MetricCollector {
        MetricCollector::new(
            metric,
            AggregationAlgorithm::Linear,
            SimDuration::from_secs(60),
            SimDuration::from_secs(6),
            scrape_target_set,
        )
    }

    fn collector(scrape_target_set: bool) -> MetricCollector {
        collector_of(ScalingMetric::Concurrency, scrape_target_set)
    }

    #[test]
    fn proxied_values_are_subtracted_and_same_second_messages_summed() {
        let mut c = collector(true);
        let scraped = Stat {
            average_concurrency: 10.0,
            average_proxied_concurrency: 4.0,
            request_count: 20.0,
            proxied_request_count: 5.0,
        };
        let activator = Stat {
            average_concurrency: 4.0,
            request_count: 5.0,
            ..Stat::default()
        };
        c.record(SimTime::from_millis(100), &scraped);
        c.record(SimTime::from_millis(900), &activator);
        assert_eq!(c.stable_and_panic(SimTime::from_secs(1)), Ok((10.0, 10.0)));
        let mut rps = collector_of(ScalingMetric::Rps, true);
        rps.record(SimTime::from_millis(100), &scraped);
        rps.record(SimTime::from_millis(900), &activator);
        assert_eq!(
            rps.stable_and_panic(SimTime::from_secs(1)),
            Ok((20.0, 20.0))
        );
    }

    #[test]
    fn empty_stable_window_is_no_data_only_with_a_scrape_target() {
        assert_eq!(collector(true).stable_and_panic(SimTime::ZERO), Err(NoData));
        assert_eq!(
            collector(false).stable_and_panic(SimTime::ZERO),
            Ok((0.0, 0.0))
        );
    }
}
