//! What a run reports: the per-second rows (`timeseries.csv`), the summary (`summary.json`) and the sinks
//! that receive rows as the run produces them.
//!
//! [`slo`] measures SLO attainment (share of windows with p99 under a bound) as the run goes.
//! [`latency`] turns the run's HDR histogram into the summary's exact percentiles, histogram buckets and CDF;
//! `latency_counts` fills that histogram cheaply as requests complete.
//! [`llm`] holds the LLM engine signals (KV cache, TTFT/TPOT) of pods with a KV cache.
//! [`log_histogram`] holds the compact per-service latency histograms of many-service runs.
//!
//! Rows are streamed, never kept, so memory does not grow with the simulated duration.

pub mod latency;
pub(crate) mod latency_counts;
pub mod llm;
pub mod log_histogram;
pub mod output;
pub mod services;
pub mod slo;

pub use output::{RunSummary, SecondRow, TimeseriesSink, TIMESERIES_COLUMNS};
