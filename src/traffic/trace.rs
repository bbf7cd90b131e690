//! Trace replay, streamed from a file or from bytes read from any reader ([`TraceInput`]).
//!
//! # Formats ([`TraceFormat`])
//!
//! * `requests`: one row per request, CSV with a header. The time column (`time_column`, or the first of
//!   `time_s`, `time`, `timestamp`, `arrival_time`, `arrival_time_s`, case-insensitive) holds either seconds
//!   since the trace start (decimal, read exactly to the nanosecond) or absolute timestamps
//!   (`2023-11-16 18:15:46.6805900`, ISO 8601 with `T`, or RFC 3339 with an offset), which are taken
//!   relative to the first row. Optional columns: service time (`service_time_column`, default
//!   `service_time_s` or `service_time_ms`; a name ending in `_ms` means milliseconds, otherwise seconds),
//!   prompt tokens (`prompt_tokens`, `context_tokens`, `ContextTokens`, `input_tokens`) and output tokens
//!   (`output_tokens`, `generated_tokens`, `GeneratedTokens`). Other columns are ignored.
//! * `azure_llm`: the Azure LLM inference trace 2023 (`TIMESTAMP,ContextTokens,GeneratedTokens`); the
//!   `requests` reader with those columns required.
//! * `counts`: per-interval counts in long form, a time column (as above) and a count column (`count`,
//!   `requests`, `arrivals`, or `count_column`). Each row's interval lasts `interval` if given, otherwise
//!   until the next row's time (the last row reuses the previous length). Counts may be fractional.
//! * `prometheus`: a request-rate series from a Prometheus `query_range` JSON or CSV export, selected by
//!   `series` (see [`super::prometheus`]); each step holds `rate x step` requests.
//! * `azure_functions`: the Azure Functions 2019 per-minute wide format
//!   (`HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440`): every minute column is summed over all rows
//!   (one pass at open, O(columns) memory), giving one-minute intervals from t = 0.
//!
//! Interval counts become arrivals according to [`Spread`]: `uniform` (the count, stochastically rounded,
//! at independent uniform positions, generated in sorted order by sequential order statistics, so O(1)
//! memory), `even` (evenly spaced, no randomness beyond rounding) or `poisson` (a Poisson process at
//! `count / interval`, so the number per interval varies).
//!
//! # Transformations, in this order
//!
//! 1. `window [from, to)`: keep trace times in the window (trace time = seconds since the trace start).
//! 2. Rebase: the window start becomes time 0.
//! 3. `loop`: when the (windowed) trace ends, replay it again shifted by one period: `to - from` if the
//!    window has an end, otherwise the time of the last arrival plus the mean inter-arrival gap (requests)
//!    or the end of the last interval (counts). A file is reopened, never held in memory; a trace read from
//!    a reader is held in memory once, bounded (see [`super::input`]).
//! 4. `time_scale`: every (looped) trace time is **multiplied** by this factor: `0.5` replays twice as
//!    fast, `1/24 ≈ 0.041667` replays a day in an hour. Trace service times are not scaled.
//! 5. `start`: the result is shifted to begin at this run time.
//! 6. `load_scale` k: every arrival is emitted `floor(k)` times plus once more with probability `frac(k)`
//!    (k < 1 thins, k > 1 duplicates at the same instant), using the source's random stream.
//! 7. Arrivals at or after the run end stop the source.
//!
//! # Ordering
//!
//! Rows may be out of order by at most `reorder_buffer` rows (default 1000): they are re-sorted through a
//! bounded min-heap. A row later than that (its time precedes an already replayed arrival) is a
//! [`TrafficError::Malformed`] naming its line. Absolute timestamps earlier than the first row are errors
//! too (the first row defines time 0). Counts rows must have strictly increasing times.
//!
//! Memory is O(reorder_buffer) for request traces, O(1) for counts, O(columns) for `azure_functions`,
//! independent of the trace length; the CSV record buffer is reused, so there is no allocation per row.

use super::input::TraceInput;
use super::{Arrival, ArrivalSource, RequestAttrs, TrafficError};
use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use rand::RngExt;
use std::io::Read;
use std::path::Path;

mod csv_rows;
mod readers;

pub use csv_rows::parse_seconds_exact;
use readers::{Interval, RawReader};

/// The layout of a trace file (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    Requests,
    AzureLlm,
    Counts,
    AzureFunctions,
    /// Prometheus `query_range` JSON or CSV export of a request rate (see [`super::prometheus`]).
    Prometheus,
}

impl TraceFormat {
    pub const NAMES: &'static [&'static str] = &[
        "requests",
        "azure_llm",
        "counts",
        "azure_functions",
        "prometheus",
    ];

    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Requests => "requests",
            TraceFormat::AzureLlm => "azure_llm",
            TraceFormat::Counts => "counts",
            TraceFormat::AzureFunctions => "azure_functions",
            TraceFormat::Prometheus => "prometheus",
        }
    }

    pub fn is_per_interval(self) -> bool {
        matches!(
            self,
            TraceFormat::Counts | TraceFormat::AzureFunctions | TraceFormat::Prometheus
        )
    }
}

/// How a per-interval count is turned into arrival times within its interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spread {
    #[default]
    Uniform,
    Even,
    Poisson,
}

/// Everything that shapes a replay besides the file itself. `Default` is a plain replay from t = 0.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceOptions {
    pub format: TraceFormat,
    pub time_column: Option<String>,
    pub service_time_column: Option<String>,
    pub prompt_tokens_column: Option<String>,
    pub output_tokens_column: Option<String>,
    pub count_column: Option<String>,
    /// Interval length of `counts` rows; `None`: until the next row.
    pub interval: Option<SimDuration>,
    pub spread: Spread,
    pub window_from: SimDuration,
    pub window_to: Option<SimDuration>,
    pub looped: bool,
    pub time_scale: f64,
    pub load_scale: f64,
    pub reorder_buffer: usize,
    pub start: SimTime,
    pub end: SimTime,
    /// `prometheus`: label selector of the rate series (all series, summed, when `None`).
    pub series: Option<String>,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            format: TraceFormat::Requests,
            time_column: None,
            service_time_column: None,
            prompt_tokens_column: None,
            output_tokens_column: None,
            count_column: None,
            interval: None,
            spread: Spread::Uniform,
            window_from: SimDuration::ZERO,
            window_to: None,
            looped: false,
            time_scale: 1.0,
            load_scale: 1.0,
            reorder_buffer: 1000,
            start: SimTime::ZERO,
            end: SimTime::MAX,
            series: None,
        }
    }
}

/// A streamed, transformed replay of a trace (see the module docs for formats and transformations).
pub struct TraceSource {
    input: TraceInput,
    options: TraceOptions,
    reader: RawReader,
    /// Trace-time offset of the current loop pass (multiples of the loop period), ns.
    pass_offset: u64,
    arrivals_this_pass: u64,
    pending: Option<(Arrival, u64)>,
    finished: bool,
}

impl TraceSource {
    /// Opens the file at `path` (reads the header, and for `azure_functions` the whole file once to sum
    /// the minutes); a looping replay reopens it for every pass.
    pub fn open(path: &Path, options: TraceOptions) -> Result<Self, TrafficError> {
        Self::from_input(TraceInput::file(path), options)
    }

    /// Replays a trace read from `reader`, buffered in memory (at most
    /// [`super::input::MAX_READER_BYTES`]; see [`TraceInput::from_reader`]). `name` labels errors
    /// (`None`: `<input>`).
    pub fn from_reader(
        reader: impl Read,
        name: Option<&str>,
        options: TraceOptions,
    ) -> Result<Self, TrafficError> {
        Self::from_input(TraceInput::from_reader(reader, name)?, options)
    }

    /// Replays `input` (a file or buffered bytes).
    pub fn from_input(input: TraceInput, options: TraceOptions) -> Result<Self, TrafficError> {
        let reader = RawReader::open(&input, &options)?;
        Ok(TraceSource {
            input,
            options,
            reader,
            pass_offset: 0,
            arrivals_this_pass: 0,
            pending: None,
            finished: false,
        })
    }

    /// Next windowed, rebased, looped trace time (ns) before scaling; `None` when the replay is over.
    fn next_windowed(
        &mut self,
        rng: &mut SimRng,
    ) -> Result<Option<(u64, RequestAttrs)>, TrafficError> {
        let from = self.options.window_from.0;
        loop {
            let raw = self.reader.next_raw(rng)?;
            let in_window = raw.filter(|(t, _)| self.options.window_to.is_none_or(|to| *t < to.0));
            match in_window {
                Some((t, _)) if t < from => continue,
                Some((t, attrs)) => {
                    self.arrivals_this_pass += 1;
                    return Ok(Some((self.pass_offset.saturating_add(t - from), attrs)));
                }
                None => {
                    if !self.options.looped || self.arrivals_this_pass == 0 {
                        return Ok(None);
                    }
                    let end = self
                        .options
                        .window_to
                        .map_or_else(|| self.reader.natural_end(), |to| to.0);
                    let period = end.saturating_sub(from);
                    if period == 0 {
                        return Ok(None);
                    }
                    self.pass_offset = self.pass_offset.saturating_add(period);
                    self.arrivals_this_pass = 0;
                    self.reader.rewind(&self.input, &self.options)?;
                }
            }
        }
    }

    fn copies(&self, rng: &mut SimRng) -> u64 {
        let k = self.options.load_scale;
        if k == 1.0 {
            return 1;
        }
        let whole = k.floor();
        let extra = if k > whole && rng.random::<f64>() < k - whole {
            1
        } else {
            0
        };
        whole as u64 + extra
    }
}

impl ArrivalSource for TraceSource {
    fn next_arrival(&mut self, rng: &mut SimRng) -> Result<Option<Arrival>, TrafficError> {
        loop {
            if let Some((arrival, left)) = self.pending {
                self.pending = if left > 1 {
                    Some((arrival, left - 1))
                } else {
                    None
                };
                return Ok(Some(arrival));
            }
            if self.finished {
                return Ok(None);
            }
            let Some((trace_ns, attrs)) = self.next_windowed(rng)? else {
                self.finished = true;
                return Ok(None);
            };
            let scaled = if self.options.time_scale == 1.0 {
                SimDuration(trace_ns)
            } else {
                SimDuration::from_secs_f64(
                    trace_ns as f64 * self.options.time_scale / NANOS_PER_SEC as f64,
                )
            };
            let at = self.options.start + scaled;
            if at >= self.options.end {
                self.finished = true;
                return Ok(None);
            }
            let copies = self.copies(rng);
            if copies > 0 {
                self.pending = Some((Arrival { at, attrs }, copies));
            }
        }
    }
}

/// Longest echoed value kept in an error message; a field of a broken file can be hundreds of megabytes.
const MAX_ECHO_CHARS: usize = 60;

/// Shortens every `backquoted` span of `message` longer than [`MAX_ECHO_CHARS`] characters.
pub fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let chars = part.chars().count();
        if i % 2 == 1 && chars > MAX_ECHO_CHARS {
            out.extend(part.chars().take(MAX_ECHO_CHARS));
            out.push_str(&format!("... ({chars} characters in all)"));
        } else {
            out.push_str(part);
        }
    }
    out
}

/// The shortest loop period allowed in run time (`period x time_scale`): a shorter loop replays the same
/// rows so often that the run would never end (a loop of two identical timestamps has a 1 ns period).
pub const MIN_LOOP_PERIOD: SimDuration = SimDuration::from_secs(1);

/// What one plain pass over a trace holds, read without turning counts into arrivals.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceScan {
    /// Requests (rows), or the sum of counts, whose time lies in the window.
    pub arrivals: f64,
    /// Trace time of one windowed pass (the loop period before `time_scale`), ns.
    pub period: u64,
    /// Highest per-interval rate of a `counts`/`azure_functions` trace after `time_scale` and `load_scale`
    /// (req/s); 0 for request traces.
    pub peak_rate: f64,
}

/// Reads the whole file once, streamed, with every check a replay makes (format, columns, order, values),
/// and refuses per-interval rates above `max_rate` (a counts row of 1e15 would otherwise never finish).
/// `validate` calls this so that a scenario that validates does not fail on its trace at run time.
pub fn scan(path: &Path, options: &TraceOptions, max_rate: f64) -> Result<TraceScan, TrafficError> {
    scan_input(&TraceInput::file(path), options, max_rate)
}

/// [`scan`] of any input (a file or buffered bytes).
pub fn scan_input(
    input: &TraceInput,
    options: &TraceOptions,
    max_rate: f64,
) -> Result<TraceScan, TrafficError> {
    let mut reader = RawReader::open(input, options)?;
    let from = options.window_from.0;
    let in_window = |t: u64| t >= from && options.window_to.is_none_or(|to| t < to.0);
    let mut scan = TraceScan {
        arrivals: 0.0,
        period: 0,
        peak_rate: 0.0,
    };
    let factor = options.load_scale / options.time_scale;
    let mut check_interval = |interval: Interval, line: u64, column: &str| {
        if in_window(interval.start) {
            scan.arrivals += interval.count;
        }
        let rate = interval.count / (interval.len.max(1) as f64 / NANOS_PER_SEC as f64) * factor;
        scan.peak_rate = scan.peak_rate.max(rate);
        if rate > max_rate {
            return Err(TrafficError::Malformed {
                path: input.name(),
                line,
                column: column.to_string(),
                message: format!(
                    "{} requests in {} is {rate:.3e} req/s (after time_scale and load_scale); allowed: at most {max_rate} req/s",
                    interval.count,
                    SimDuration(interval.len)
                ),
            });
        }
        Ok(())
    };
    match &mut reader {
        RawReader::Requests(r) => {
            while let Some((t, _)) = r.next_raw()? {
                if in_window(t) {
                    scan.arrivals += 1.0;
                }
            }
        }
        RawReader::Counts(r, _) => loop {
            let line = r.pending.map_or(0, |(_, _, line)| line);
            let column = r.csv.headers.get(r.count_col).cloned().unwrap_or_default();
            match r.next_interval()? {
                Some(interval) => check_interval(interval, line, &column)?,
                None => break,
            }
        },
        RawReader::Functions(r, _) => {
            while let Some(interval) = r.next_interval() {
                let minute = (interval.start / (60 * NANOS_PER_SEC) + 1).to_string();
                check_interval(interval, 1, &minute)?;
            }
        }
        // Prometheus files are read whole and checked when opened; only the rates remain to bound.
        RawReader::Prometheus(r, _) => {
            while let Some((start, len, count)) = r.next_interval() {
                check_interval(Interval { start, len, count }, 0, "value")?;
            }
        }
    }
    scan.period = options
        .window_to
        .map_or_else(|| reader.natural_end(), |to| to.0)
        .saturating_sub(from);
    Ok(scan)
}
