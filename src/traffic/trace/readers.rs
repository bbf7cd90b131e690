//! The per-format trace readers behind [`super::TraceSource`], each yielding trace-time arrivals (ns since
//! the trace start) in order: `requests` rows re-sorted through a bounded heap, `counts` and
//! `azure_functions` intervals, Prometheus rate steps, and the [`Spreader`] that turns an interval's count
//! into arrivals (`uniform`, `even` or `poisson`, see [`super::Spread`]). Windowing, looping and scaling
//! happen above, in [`super::TraceSource`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::super::input::TraceInput;
use super::super::{RequestAttrs, TrafficError};
use super::csv_rows::*;
use super::{Spread, TraceFormat, TraceOptions};
use crate::engine::SimRng;
use crate::time::{SimDuration, NANOS_PER_SEC};
use rand::RngExt;
use rand_distr::{Distribution, Exp1};

/// Per-request rows, re-sorted through a bounded heap.
pub(super) struct RequestReader {
    pub(super) csv: CsvStream,
    pub(super) time_col: usize,
    pub(super) service_col: Option<(usize, u64)>,
    pub(super) prompt_col: Option<usize>,
    pub(super) output_col: Option<usize>,
    pub(super) times: TimeParser,
    pub(super) heap: BinaryHeap<Reverse<(u64, u64, RequestAttrs)>>,
    pub(super) reorder_buffer: usize,
    pub(super) eof: bool,
    pub(super) last_emitted: u64,
    pub(super) emitted: u64,
}

impl RequestReader {
    pub(super) fn open(input: &TraceInput, options: &TraceOptions) -> Result<Self, TrafficError> {
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

    pub(super) fn tokens(&self, col: Option<usize>) -> Result<u32, TrafficError> {
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

    pub(super) fn read_row(&mut self) -> Result<Option<(u64, u64, RequestAttrs)>, TrafficError> {
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

    pub(super) fn next_raw(&mut self) -> Result<Option<(u64, RequestAttrs)>, TrafficError> {
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
    pub(super) fn natural_end(&self) -> u64 {
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
pub(super) struct Interval {
    pub(super) start: u64,
    pub(super) len: u64,
    pub(super) count: f64,
}

/// Long-format `time,count` rows with one row of look-ahead (to infer interval lengths).
pub(super) struct CountsReader {
    pub(super) csv: CsvStream,
    pub(super) time_col: usize,
    pub(super) count_col: usize,
    pub(super) times: TimeParser,
    pub(super) fixed_len: Option<u64>,
    pub(super) pending: Option<(u64, f64, u64)>,
    pub(super) last_len: Option<u64>,
    pub(super) end: u64,
}

impl CountsReader {
    pub(super) fn open(input: &TraceInput, options: &TraceOptions) -> Result<Self, TrafficError> {
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

    pub(super) fn read_row(&mut self) -> Result<Option<(u64, f64, u64)>, TrafficError> {
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

    pub(super) fn next_interval(&mut self) -> Result<Option<Interval>, TrafficError> {
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
pub(super) struct FunctionsReader {
    pub(super) per_minute: Vec<f64>,
    pub(super) next_minute: usize,
}

impl FunctionsReader {
    pub(super) const FIXED: [&'static str; 4] = ["HashOwner", "HashApp", "HashFunction", "Trigger"];

    pub(super) fn open(input: &TraceInput) -> Result<Self, TrafficError> {
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

    pub(super) fn next_interval(&mut self) -> Option<Interval> {
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
pub(super) struct Spreader {
    pub(super) spread: Spread,
    pub(super) current: Option<Interval>,
    /// Uniform/even: arrivals left in the interval; Poisson: unused.
    pub(super) remaining: u64,
    pub(super) total: u64,
    /// Position of the previous arrival in the interval, as a fraction (uniform) or ns (Poisson).
    pub(super) position: f64,
}

impl Spreader {
    pub(super) fn begin(&mut self, interval: Interval, rng: &mut SimRng) {
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

    pub(super) fn next_in_interval(&mut self, rng: &mut SimRng) -> Option<u64> {
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

pub(super) enum RawReader {
    Requests(Box<RequestReader>),
    Counts(Box<CountsReader>, Spreader),
    Functions(FunctionsReader, Spreader),
    Prometheus(Box<super::super::prometheus::RateIntervals>, Spreader),
}

impl RawReader {
    pub(super) fn open(input: &TraceInput, options: &TraceOptions) -> Result<Self, TrafficError> {
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
                Box::new(super::super::prometheus::open_rate_intervals(
                    input, options,
                )?),
                spreader(),
            ),
        })
    }

    /// Next arrival in trace time (ns since the trace start), in non-decreasing order.
    pub(super) fn next_raw(
        &mut self,
        rng: &mut SimRng,
    ) -> Result<Option<(u64, RequestAttrs)>, TrafficError> {
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
    pub(super) fn natural_end(&self) -> u64 {
        match self {
            RawReader::Requests(reader) => reader.natural_end(),
            RawReader::Counts(reader, _) => reader.end,
            RawReader::Functions(reader, _) => reader.per_minute.len() as u64 * 60 * NANOS_PER_SEC,
            RawReader::Prometheus(reader, _) => reader.end(),
        }
    }

    /// Restarts from the first row; the per-minute sums of `azure_functions` are kept, not re-read.
    pub(super) fn rewind(
        &mut self,
        input: &TraceInput,
        options: &TraceOptions,
    ) -> Result<(), TrafficError> {
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
