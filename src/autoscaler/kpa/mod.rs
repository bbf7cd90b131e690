//! Knative Pod Autoscaler (KPA): the metric pipeline and the `Scale()` decider, as pure models.
//!
//! Every type here takes the simulated time ([`crate::time::SimTime`]) as an argument and returns plain data;
//! nothing reads a clock, spawns work or allocates on the per-request path. The pieces, in data-flow order
//! (see `shared/specs/knative-kpa.md`):
//!
//! * [`stats`]: the queue-proxy / activator request-statistics accumulators (time-weighted average
//!   concurrency per report period), the activator's first-request adjustment and the scraper's sample size.
//!   Called per request event (O(1), no allocation) and on the 1 s report ticks.
//! * [`collector`]: per-revision stable/panic windows for concurrency and rps, fed with revision totals
//!   every second.
//! * [`aggregation`]: the bucketed window averagers (linear and weighted-exponential).
//! * [`max_window`]: the sliding-maximum window used for `scale-down-delay`.
//! * [`decider`]: `Scale(now)` every 2 s: panic mode, rate limits, activation scale, scale-down delay,
//!   excess burst capacity.
//! * [`config`]: the `config-autoscaler` ConfigMap, the `autoscaling.knative.dev/*` revision annotations,
//!   their validation, and the KServe InferenceService mapping.
//!
//! Units: concurrency in requests in flight, rps in requests per second, windows as
//! [`crate::time::SimDuration`]. Absolute simulated time is used where Knative uses Unix time (bucket
//! indexes are `floor(seconds / granularity)`), so a run starting at 0 has the same bucket alignment as a
//! cluster whose clock reads a multiple of the granularity.
//!
//! * [`reconcile_pass`]: one KPA reconciler pass (`ReconcileKind`: bounds, initial scale, activation
//!   timeout, scale to zero, SKS mode, status; spec §7), golden-tested; [`reconciler`] drives it on
//!   simulated time; [`scraper`]: the metric scraper (sample size, old/young pods, extrapolation).

pub mod adapter;
pub mod aggregation;
pub mod collector;
pub mod config;
pub mod decider;
pub mod max_window;
pub mod reconcile_pass;
pub mod reconciler;
pub mod scraper;
/// The request statistics live with the request path (queue-proxy and activator); the KPA's scraper reads them.
pub use crate::request_path::stats;

pub use aggregation::{AggregationAlgorithm, TimedFloat64Buckets};
pub use collector::{MetricCollector, NoData};
pub use config::{
    kserve_annotations, resolve_revision, AutoscalerConfig, ConfigError, KServeComponent,
    RevisionScaling,
};
pub use decider::{Decider, DeciderSpec, ScaleReason, ScaleResult};
pub use max_window::TimeWindowMax;
pub use stats::{ActivatorRevisionStats, RequestStats, Stat, StatsReport};

/// Which per-second signal a revision scales on (annotation `autoscaling.knative.dev/metric`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ScalingMetric {
    /// Time-weighted average number of requests in flight (the default).
    #[default]
    Concurrency,
    /// Requests arriving per second.
    Rps,
}

impl ScalingMetric {
    /// The annotation value Knative uses for this metric.
    pub fn as_str(self) -> &'static str {
        match self {
            ScalingMetric::Concurrency => "concurrency",
            ScalingMetric::Rps => "rps",
        }
    }
}
