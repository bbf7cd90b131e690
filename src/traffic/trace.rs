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
use rand_distr::{Distribution, Exp1};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufReader, Read};
use std::path::Path;

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

const TIME_COLUMNS: &[&str] = &[
    "time_s",
    "time",
    "timestamp",
    "arrival_time",
    "arrival_time_s",
];
const SERVICE_COLUMNS: &[&str] = &["service_time_s", "service_time_ms"];
const PROMPT_COLUMNS: &[&str] = &[
    "prompt_tokens",
    "context_tokens",
    "contexttokens",
    "input_tokens",
];
const OUTPUT_COLUMNS: &[&str] = &["output_tokens", "generated_tokens", "generatedtokens"];
const COUNT_COLUMNS: &[&str] = &["count", "requests", "arrivals"];

/// Parses a non-negative decimal number of seconds exactly into nanoseconds ("12.345678901" → 12345678901).
/// Digits beyond the ninth decimal are truncated. Returns `None` for anything else (signs, exponents).
pub fn parse_seconds_exact(text: &str) -> Option<u64> {
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole_ns = if whole.is_empty() {
        0
    } else {
        whole.parse::<u64>().ok()?.checked_mul(NANOS_PER_SEC)?
    };
    let mut frac_ns = 0u64;
    for (i, digit) in frac.bytes().take(9).enumerate() {
        frac_ns += u64::from(digit - b'0') * 10u64.pow(8 - i as u32);
    }
    whole_ns.checked_add(frac_ns)
}

/// Absolute timestamp in ns since the Unix epoch, for the layouts listed in the module docs.
fn parse_absolute_ns(text: &str) -> Option<i64> {
    let text = text.trim();
    for layout in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, layout) {
            return t.and_utc().timestamp_nanos_opt();
        }
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeKind {
    Relative,
    Absolute { origin_ns: i64 },
}

/// Reads a time column value: relative seconds or absolute timestamps (the kind is fixed by the first row).
struct TimeParser {
    kind: Option<TimeKind>,
}

impl TimeParser {
    fn parse(&mut self, text: &str) -> Result<u64, String> {
        let expected = "seconds since the trace start (e.g. 12.5) or a timestamp like 2023-11-16 18:15:46.6805900";
        match self.kind {
            None => {
                if let Some(ns) = parse_seconds_exact(text) {
                    self.kind = Some(TimeKind::Relative);
                    Ok(ns)
                } else if let Some(abs) = parse_absolute_ns(text) {
                    self.kind = Some(TimeKind::Absolute { origin_ns: abs });
                    Ok(0)
                } else {
                    Err(format!("`{text}` is not a time; expected {expected}"))
                }
            }
            Some(TimeKind::Relative) => parse_seconds_exact(text).ok_or_else(|| {
                format!(
                    "`{text}` is not a non-negative number of seconds (earlier rows used seconds)"
                )
            }),
            Some(TimeKind::Absolute { origin_ns }) => {
                let abs = parse_absolute_ns(text)
                    .ok_or_else(|| format!("`{text}` is not a timestamp like 2023-11-16 18:15:46.6805900 (earlier rows used timestamps)"))?;
                u64::try_from(abs - origin_ns).map_err(|_| {
                    format!(
                        "timestamp `{text}` is earlier than the first row, which defines time 0"
                    )
                })
            }
        }
    }
}

/// A CSV input being streamed, with its name for error messages and a reused record buffer.
struct CsvStream {
    path: String,
    reader: csv::Reader<BufReader<Box<dyn Read + Send>>>,
    headers: Vec<String>,
    record: csv::StringRecord,
}

impl CsvStream {
    fn open(input: &TraceInput) -> Result<Self, TrafficError> {
        let display = input.name();
        let file = input.open().map_err(|e| TrafficError::Io {
            path: display.clone(),
            message: format!("cannot open trace: {e}"),
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(BufReader::with_capacity(1 << 16, file));
        let headers = reader
            .headers()
            .map_err(|e| TrafficError::Malformed {
                path: display.clone(),
                line: 1,
                column: "(header)".into(),
                message: format!("unreadable header: {e}"),
            })?
            .iter()
            .map(str::to_string)
            .collect();
        Ok(CsvStream {
            path: display,
            reader,
            headers,
            record: csv::StringRecord::new(),
        })
    }

    /// Index of the column named `wanted` (case-insensitive), or the first of `candidates` present.
    fn column(
        &self,
        wanted: Option<&str>,
        candidates: &[&str],
        what: &str,
        required: bool,
    ) -> Result<Option<usize>, TrafficError> {
        let find = |name: &str| {
            self.headers
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
        };
        if let Some(name) = wanted {
            return find(name)
                .map(Some)
                .ok_or_else(|| self.header_error(what, &format!("no column named `{name}`")));
        }
        match candidates.iter().find_map(|c| find(c)) {
            Some(i) => Ok(Some(i)),
            None if required => Err(self.header_error(
                what,
                &format!(
                    "no {what} column; expected one of {}",
                    candidates.join(", ")
                ),
            )),
            None => Ok(None),
        }
    }

    fn header_error(&self, column: &str, message: &str) -> TrafficError {
        TrafficError::Malformed {
            path: self.path.clone(),
            line: 1,
            column: column.to_string(),
            message: format!("{message} (header has: {})", self.headers.join(", ")),
        }
    }

    /// Advances to the next record; `Ok(false)` at the end of the file.
    fn advance(&mut self) -> Result<bool, TrafficError> {
        self.reader
            .read_record(&mut self.record)
            .map_err(|e| TrafficError::Malformed {
                path: self.path.clone(),
                line: e.position().map_or(0, |p| p.line()),
                column: "(row)".into(),
                message: format!("unreadable CSV row: {e}"),
            })
    }

    fn line(&self) -> u64 {
        self.record.position().map_or(0, |p| p.line())
    }

    fn field(&self, index: usize) -> &str {
        self.record.get(index).unwrap_or("")
    }

    fn row_error(&self, index: usize, message: String) -> TrafficError {
        TrafficError::Malformed {
            path: self.path.clone(),
            line: self.line(),
            message: shorten_quoted(&message),
            column: self
                .headers
                .get(index)
                .cloned()
                .unwrap_or_else(|| format!("#{}", index + 1)),
        }
    }
}

/// Per-request rows, re-sorted through a bounded heap.
struct RequestReader {
    csv: CsvStream,
    time_col: usize,
    service_col: Option<(usize, u64)>,
    prompt_col: Option<usize>,
    output_col: Option<usize>,
    times: TimeParser,
    heap: BinaryHeap<Reverse<(u64, u64, RequestAttrs)>>,
    reorder_buffer: usize,
    eof: bool,
    last_emitted: u64,
    emitted: u64,
}

impl RequestReader {
    fn open(input: &TraceInput, options: &TraceOptions) -> Result<Self, TrafficError> {
        let csv = CsvStream::open(input)?;
        let azure = options.format == TraceFormat::AzureLlm;
        let (time_col, service_col, prompt_col, output_col) = if azure {
            (
                csv.column(Some("TIMESTAMP"), &[], "TIMESTAMP", true)?,
                None,
                csv.column(Some("ContextTokens"), &[], "ContextTokens", true)?,
                csv.column(Some("GeneratedTokens"), &[], "GeneratedTokens", true)?,
            )
        } else {
            let service = csv.column(
                options.service_time_column.as_deref(),
                SERVICE_COLUMNS,
                "service time",
                false,
            )?;
            let service = service.map(|i| {
                let nanos_per_unit = if csv.headers[i].to_ascii_lowercase().ends_with("_ms") {
                    1_000_000
                } else {
                    NANOS_PER_SEC
                };
                (i, nanos_per_unit)
            });
            (
                csv.column(options.time_column.as_deref(), TIME_COLUMNS, "time", true)?,
                service,
                csv.column(
                    options.prompt_tokens_column.as_deref(),
                    PROMPT_COLUMNS,
                    "prompt tokens",
                    false,
                )?,
                csv.column(
                    options.output_tokens_column.as_deref(),
                    OUTPUT_COLUMNS,
                    "output tokens",
                    false,
                )?,
            )
        };
        Ok(RequestReader {
            csv,
            time_col: time_col.unwrap_or(0),
            service_col,
            prompt_col,
            output_col,
            times: TimeParser { kind: None },
            heap: BinaryHeap::with_capacity(options.reorder_buffer.min(1 << 16) + 1),
            reorder_buffer: options.reorder_buffer,
            eof: false,
            last_emitted: 0,
            emitted: 0,
        })
    }

    fn tokens(&self, col: Option<usize>) -> Result<u32, TrafficError> {
        let Some(i) = col else { return Ok(0) };
        let text = self.csv.field(i);
        if text.is_empty() {
            return Ok(0);
        }
        text.parse::<u32>()
            .or_else(|_| {
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(v))
                    .map(|v| v as u32)
                    .ok_or(())
            })
            .map_err(|_| {
                self.csv.row_error(
                    i,
                    format!(
                        "`{text}` is not a token count; expected a whole number from 0 to {}",
                        u32::MAX
                    ),
                )
            })
    }

    fn read_row(&mut self) -> Result<Option<(u64, u64, RequestAttrs)>, TrafficError> {
        if !self.csv.advance()? {
            return Ok(None);
        }
        let t = self
            .times
            .parse(self.csv.field(self.time_col))
            .map_err(|m| self.csv.row_error(self.time_col, m))?;
        let service_time = match self.service_col {
            None => None,
            Some((i, unit)) => {
                let text = self.csv.field(i);
                if text.is_empty() {
                    None
                } else {
                    let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                        self.csv.row_error(i, format!("`{text}` is not a service time; expected a non-negative number"))
                    })?;
                    Some(SimDuration::from_secs_f64(
                        value * unit as f64 / NANOS_PER_SEC as f64,
                    ))
                }
            }
        };
        let attrs = RequestAttrs {
            service_time,
            prompt_tokens: self.tokens(self.prompt_col)?,
            output_tokens: self.tokens(self.output_col)?,
        };
        Ok(Some((t, self.csv.line(), attrs)))
    }

    fn next_raw(&mut self) -> Result<Option<(u64, RequestAttrs)>, TrafficError> {
        while !self.eof && self.heap.len() <= self.reorder_buffer {
            match self.read_row()? {
                Some(row) => self.heap.push(Reverse(row)),
                None => self.eof = true,
            }
        }
        let Some(Reverse((t, line, attrs))) = self.heap.pop() else {
            return Ok(None);
        };
        if t < self.last_emitted {
            return Err(TrafficError::Malformed {
                path: self.csv.path.clone(),
                line,
                column: self.csv.headers.get(self.time_col).cloned().unwrap_or_default(),
                message: format!(
                    "time {:.9} s is earlier than an already replayed row ({:.9} s): out of order by more than reorder_buffer = {} rows; sort the file or raise reorder_buffer",
                    t as f64 / 1e9,
                    self.last_emitted as f64 / 1e9,
                    self.reorder_buffer
                ),
            });
        }
        self.last_emitted = t;
        self.emitted += 1;
        Ok(Some((t, attrs)))
    }

    /// Where a loop should restart: the last arrival plus the mean gap.
    fn natural_end(&self) -> u64 {
        let mean_gap = if self.emitted > 1 {
            self.last_emitted / (self.emitted - 1)
        } else {
            NANOS_PER_SEC
        };
        self.last_emitted.saturating_add(mean_gap.max(1))
    }
}

/// One per-interval count: `[start, start + len)` holds `count` requests (trace time, ns).
#[derive(Clone, Copy, Debug)]
struct Interval {
    start: u64,
    len: u64,
    count: f64,
}

/// Long-format `time,count` rows with one row of look-ahead (to infer interval lengths).
struct CountsReader {
    csv: CsvStream,
    time_col: usize,
    count_col: usize,
    times: TimeParser,
    fixed_len: Option<u64>,
    pending: Option<(u64, f64, u64)>,
    last_len: Option<u64>,
    end: u64,
}

impl CountsReader {
    fn open(input: &TraceInput, options: &TraceOptions) -> Result<Self, TrafficError> {
        let csv = CsvStream::open(input)?;
        let time_col = csv
            .column(options.time_column.as_deref(), TIME_COLUMNS, "time", true)?
            .unwrap_or(0);
        let count_col = csv
            .column(
                options.count_column.as_deref(),
                COUNT_COLUMNS,
                "count",
                true,
            )?
            .unwrap_or(1);
        let mut reader = CountsReader {
            csv,
            time_col,
            count_col,
            times: TimeParser { kind: None },
            fixed_len: options.interval.map(|d| d.0),
            pending: None,
            last_len: None,
            end: 0,
        };
        reader.pending = reader.read_row()?;
        Ok(reader)
    }

    fn read_row(&mut self) -> Result<Option<(u64, f64, u64)>, TrafficError> {
        if !self.csv.advance()? {
            return Ok(None);
        }
        let t = self
            .times
            .parse(self.csv.field(self.time_col))
            .map_err(|m| self.csv.row_error(self.time_col, m))?;
        let text = self.csv.field(self.count_col);
        let count: f64 = text
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                self.csv.row_error(
                    self.count_col,
                    format!("`{text}` is not a count; expected a non-negative number"),
                )
            })?;
        Ok(Some((t, count, self.csv.line())))
    }

    fn next_interval(&mut self) -> Result<Option<Interval>, TrafficError> {
        let Some((start, count, _)) = self.pending else {
            return Ok(None);
        };
        let next = self.read_row()?;
        if let Some((next_start, _, line)) = next {
            if next_start <= start {
                return Err(TrafficError::Malformed {
                    path: self.csv.path.clone(),
                    line,
                    column: self.csv.headers[self.time_col].clone(),
                    message: format!("interval start {:.3} s is not after the previous row's {:.3} s; counts rows must be in increasing time order", next_start as f64 / 1e9, start as f64 / 1e9),
                });
            }
        }
        let len = match (self.fixed_len, next) {
            (Some(len), _) => len,
            (None, Some((next_start, _, _))) => next_start - start,
            (None, None) => self.last_len.ok_or_else(|| TrafficError::Malformed {
                path: self.csv.path.clone(),
                line: self.csv.line(),
                column: self.csv.headers[self.time_col].clone(),
                message:
                    "a single row cannot tell how long its interval is; set `interval` (e.g. 60s)"
                        .into(),
            })?,
        };
        self.last_len = Some(len);
        self.pending = next;
        self.end = start.saturating_add(len);
        Ok(Some(Interval { start, len, count }))
    }
}

/// The Azure Functions 2019 wide format, summed over rows at open.
struct FunctionsReader {
    per_minute: Vec<f64>,
    next_minute: usize,
}

impl FunctionsReader {
    const FIXED: [&'static str; 4] = ["HashOwner", "HashApp", "HashFunction", "Trigger"];

    fn open(input: &TraceInput) -> Result<Self, TrafficError> {
        let mut csv = CsvStream::open(input)?;
        for (i, name) in Self::FIXED.iter().enumerate() {
            if csv.headers.get(i).is_none_or(|h| h != name) {
                return Err(csv.header_error(name, &format!("column {} must be `{name}` (Azure Functions 2019 layout HashOwner,HashApp,HashFunction,Trigger,1..1440)", i + 1)));
            }
        }
        let minutes = csv.headers.len() - Self::FIXED.len();
        for (k, h) in csv.headers[Self::FIXED.len()..].iter().enumerate() {
            if h.parse::<usize>().ok() != Some(k + 1) {
                return Err(csv.header_error(
                    h,
                    &format!("minute column {} must be named `{}`", k + 1, k + 1),
                ));
            }
        }
        let mut per_minute = vec![0.0; minutes];
        while csv.advance()? {
            for (k, total) in per_minute.iter_mut().enumerate() {
                let i = k + Self::FIXED.len();
                let text = csv.field(i);
                if text.is_empty() {
                    continue;
                }
                let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                    csv.row_error(i, format!("`{text}` is not an invocation count; expected a non-negative number"))
                })?;
                *total += value;
            }
        }
        Ok(FunctionsReader {
            per_minute,
            next_minute: 0,
        })
    }

    fn next_interval(&mut self) -> Option<Interval> {
        let count = *self.per_minute.get(self.next_minute)?;
        let start = self.next_minute as u64 * 60 * NANOS_PER_SEC;
        self.next_minute += 1;
        Some(Interval {
            start,
            len: 60 * NANOS_PER_SEC,
            count,
        })
    }
}

/// Turns intervals into arrivals one at a time.
struct Spreader {
    spread: Spread,
    current: Option<Interval>,
    /// Uniform/even: arrivals left in the interval; Poisson: unused.
    remaining: u64,
    total: u64,
    /// Position of the previous arrival in the interval, as a fraction (uniform) or ns (Poisson).
    position: f64,
}

impl Spreader {
    fn begin(&mut self, interval: Interval, rng: &mut SimRng) {
        let whole = interval.count.floor();
        let extra = if interval.count > whole && rng.random::<f64>() < interval.count - whole {
            1
        } else {
            0
        };
        self.remaining = whole as u64 + extra;
        self.total = self.remaining;
        self.position = 0.0;
        self.current = Some(interval);
    }

    fn next_in_interval(&mut self, rng: &mut SimRng) -> Option<u64> {
        let interval = self.current?;
        let offset = match self.spread {
            Spread::Poisson => {
                if interval.count <= 0.0 {
                    return None;
                }
                let unit_exp: f64 = Exp1.sample(rng);
                self.position += unit_exp * interval.len as f64 / interval.count;
                if self.position >= interval.len as f64 {
                    return None;
                }
                self.position
            }
            Spread::Uniform => {
                if self.remaining == 0 {
                    return None;
                }
                // The minimum of n uniforms on [p, 1) is p + (1 - p)(1 - U^(1/n)): sorted order, O(1) memory.
                let u: f64 = rng.random();
                self.position +=
                    (1.0 - self.position) * (1.0 - u.powf(1.0 / self.remaining as f64));
                self.remaining -= 1;
                self.position * interval.len as f64
            }
            Spread::Even => {
                if self.remaining == 0 {
                    return None;
                }
                let index = self.total - self.remaining;
                self.remaining -= 1;
                (index as f64 + 0.5) * interval.len as f64 / self.total as f64
            }
        };
        Some(interval.start + (offset as u64).min(interval.len.saturating_sub(1)))
    }
}

enum RawReader {
    Requests(Box<RequestReader>),
    Counts(Box<CountsReader>, Spreader),
    Functions(FunctionsReader, Spreader),
    Prometheus(Box<super::prometheus::RateIntervals>, Spreader),
}

impl RawReader {
    fn open(input: &TraceInput, options: &TraceOptions) -> Result<Self, TrafficError> {
        let spreader = || Spreader {
            spread: options.spread,
            current: None,
            remaining: 0,
            total: 0,
            position: 0.0,
        };
        Ok(match options.format {
            TraceFormat::Requests | TraceFormat::AzureLlm => {
                RawReader::Requests(Box::new(RequestReader::open(input, options)?))
            }
            TraceFormat::Counts => {
                RawReader::Counts(Box::new(CountsReader::open(input, options)?), spreader())
            }
            TraceFormat::AzureFunctions => {
                RawReader::Functions(FunctionsReader::open(input)?, spreader())
            }
            TraceFormat::Prometheus => RawReader::Prometheus(
                Box::new(super::prometheus::open_rate_intervals(input, options)?),
                spreader(),
            ),
        })
    }

    /// Next arrival in trace time (ns since the trace start), in non-decreasing order.
    fn next_raw(&mut self, rng: &mut SimRng) -> Result<Option<(u64, RequestAttrs)>, TrafficError> {
        match self {
            RawReader::Requests(reader) => reader.next_raw(),
            RawReader::Counts(reader, spreader) => loop {
                if let Some(t) = spreader.next_in_interval(rng) {
                    return Ok(Some((t, RequestAttrs::default())));
                }
                match reader.next_interval()? {
                    Some(interval) => spreader.begin(interval, rng),
                    None => return Ok(None),
                }
            },
            RawReader::Functions(reader, spreader) => loop {
                if let Some(t) = spreader.next_in_interval(rng) {
                    return Ok(Some((t, RequestAttrs::default())));
                }
                match reader.next_interval() {
                    Some(interval) => spreader.begin(interval, rng),
                    None => return Ok(None),
                }
            },
            RawReader::Prometheus(reader, spreader) => loop {
                if let Some(t) = spreader.next_in_interval(rng) {
                    return Ok(Some((t, RequestAttrs::default())));
                }
                match reader.next_interval() {
                    Some((start, len, count)) => {
                        spreader.begin(Interval { start, len, count }, rng)
                    }
                    None => return Ok(None),
                }
            },
        }
    }

    /// Trace time at which one pass ends (for looping), valid once exhausted.
    fn natural_end(&self) -> u64 {
        match self {
            RawReader::Requests(reader) => reader.natural_end(),
            RawReader::Counts(reader, _) => reader.end,
            RawReader::Functions(reader, _) => reader.per_minute.len() as u64 * 60 * NANOS_PER_SEC,
            RawReader::Prometheus(reader, _) => reader.end(),
        }
    }

    /// Restarts from the first row; the per-minute sums of `azure_functions` are kept, not re-read.
    fn rewind(&mut self, input: &TraceInput, options: &TraceOptions) -> Result<(), TrafficError> {
        match self {
            RawReader::Functions(reader, _) => {
                reader.next_minute = 0;
                Ok(())
            }
            RawReader::Prometheus(reader, _) => {
                reader.rewind();
                Ok(())
            }
            _ => {
                *self = RawReader::open(input, options)?;
                Ok(())
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimal_seconds() {
        assert_eq!(parse_seconds_exact("12.345678901"), Some(12_345_678_901));
        assert_eq!(parse_seconds_exact("0.1"), Some(100_000_000));
        assert_eq!(parse_seconds_exact("7"), Some(7_000_000_000));
        assert_eq!(parse_seconds_exact(".5"), Some(500_000_000));
        assert_eq!(parse_seconds_exact("1.0000000019"), Some(1_000_000_001));
        assert_eq!(parse_seconds_exact("-1"), None);
        assert_eq!(parse_seconds_exact("1e3"), None);
        assert_eq!(parse_seconds_exact("."), None);
    }

    #[test]
    fn azure_timestamps_keep_100ns_resolution() {
        let a = parse_absolute_ns("2023-11-16 18:15:46.6805900").unwrap();
        let b = parse_absolute_ns("2023-11-16 18:15:47.0000001").unwrap();
        assert_eq!(b - a, 319_410_100);
    }
}
