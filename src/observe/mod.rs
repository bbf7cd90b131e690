//! What a run reports: the per-second rows (`timeseries.csv`), the summary (`summary.json`) and the sinks
//! that receive rows as the run produces them.
//!
//! Rows are streamed, never kept, so memory does not grow with the simulated duration.

pub mod output;

pub use output::{RunSummary, SecondRow, TimeseriesSink, TIMESERIES_COLUMNS};
