//! Reports for a finished run, built only from the files in its run directory (`timeseries.csv`,
//! `summary.json`), so this module is decoupled from the simulator's internals.
//!
//! - [`write_plots`]: PNG and SVG charts of replicas, the autoscaler's metric, latency, queues.
//! - [`hey_summary`]: a text summary laid out like the `hey` load tester's report, plus autoscaling figures.
//! - [`compare`]: side-by-side table and overlaid plots of several runs.
//! - [`write_html`]: one self-contained `report.html` per run.
//! - [`write_pareto_plot`]: a sweep's cost against tail latency with its Pareto frontier (`podscale tune`).
//! - [`latency`]: percentiles, histogram buckets and CDF of `summary.json` from the run's HDR histogram.
//! - [`Progress`]: a cheap-to-update progress bar on stderr.
//! - [`write_atomic`] / [`AtomicFile`]: every output file is written to `<name>.tmp` and renamed, so a
//!   failed run never leaves a half-written file under a final name.
//!
//! Fonts: plots embed DejaVu Sans (assets/fonts, licence alongside) and register it once, so they render
//! on machines without any system fonts.

mod atomic;
mod compare;
mod data;
mod envelope;
mod hey;
mod html;
pub use crate::observe::latency;
mod plots;
mod progress;
mod run_dir;

use std::io;
use std::path::{Path, PathBuf};

pub use atomic::{write_atomic, AtomicFile};
pub use compare::compare;
pub use data::{read_summary, TimeSeries, MAX_ROWS};
pub use hey::hey_summary;
pub use html::write_html;
pub use plots::{write_pareto_plot, write_plots, ParetoChart, ParetoPoint};
pub use progress::Progress;
pub use run_dir::{run_services_to_dir, run_to_dir, DirHooks, RowHook};

/// File names inside a run directory.
pub const TIMESERIES_FILE: &str = "timeseries.csv";
/// See [`TIMESERIES_FILE`].
pub const SUMMARY_FILE: &str = "summary.json";

/// Everything that can go wrong while reading a run directory or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file exists but its content is not what the run-directory contract says.
    #[error("{path}:{line}: {message}", path = path.display())]
    Malformed {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What was wrong and what is expected.
        message: String,
    },
    /// The plotting library failed while drawing a chart.
    #[error("drawing {path}: {message}", path = path.display())]
    Plot {
        /// The chart being drawn.
        path: PathBuf,
        /// The plotting library's message.
        message: String,
    },
    /// The caller asked for something impossible (e.g. comparing zero runs).
    #[error("{0}")]
    Usage(String),
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A run directory loaded into memory.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub dir: PathBuf,
    pub summary: serde_json::Value,
    pub series: TimeSeries,
}

impl Run {
    pub fn load(dir: &Path) -> Result<Self, ReportError> {
        let summary = read_summary(&dir.join(SUMMARY_FILE))?;
        let series = TimeSeries::read(&dir.join(TIMESERIES_FILE))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            summary,
            series,
        })
    }

    /// Scenario name from the summary, else the directory name.
    pub fn scenario(&self) -> String {
        data::text_at(&self.summary, "scenario").unwrap_or_else(|| {
            self.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        })
    }
}
