//! Trace inspection: a streamed profile of a trace file (`podscale trace inspect FILE`).
//!
//! The file is replayed once without transformations (per-interval formats spread evenly, so the profile
//! is deterministic) and arrivals are counted per `interval`. Memory is O(span / interval), independent of
//! the number of rows. The [`Display`](std::fmt::Display) form prints span, request count, mean and peak
//! rate, token and service-time totals when present, and a text bar chart of the rate per interval
//! (adjacent intervals are merged so the chart has at most [`MAX_CHART_ROWS`] rows; its peak is the peak
//! of the merged rows).

use super::input::TraceInput;
use super::spec::{TrafficSpec, MAX_RATE};
use super::trace::{self, Spread, TraceFormat, TraceOptions, TraceSource, MIN_LOOP_PERIOD};
use super::{ArrivalSource, TrafficError};
use crate::engine::SimRng;
use crate::time::{SimDuration, SimTime};
use rand::SeedableRng;
use std::fmt;
use std::path::Path;

/// Most intervals a profile may count (`span / interval`); each is 8 bytes of memory.
pub const MAX_INTERVALS: u64 = 10_000_000;
/// Finest `--interval`.
pub const MIN_INTERVAL: SimDuration = SimDuration::from_millis(1);

/// Rows of the bar chart at most.
pub const MAX_CHART_ROWS: usize = 48;
const BAR_WIDTH: usize = 50;

/// What [`inspect`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceProfile {
    pub path: String,
    pub format: TraceFormat,
    pub requests: u64,
    pub first: Option<SimTime>,
    pub last: Option<SimTime>,
    pub interval: SimDuration,
    /// Arrivals per interval, from t = 0.
    pub counts: Vec<u64>,
    pub prompt_tokens: u64,
    pub output_tokens: u64,
    pub with_service_time: u64,
}

impl TraceProfile {
    /// Time from t = 0 to the last arrival.
    pub fn span(&self) -> SimDuration {
        self.last.map_or(SimDuration::ZERO, |t| SimDuration(t.0))
    }

    /// Requests per second over the covered intervals.
    pub fn mean_rate(&self) -> f64 {
        let covered = self.counts.len() as f64 * self.interval.as_secs_f64();
        if covered > 0.0 {
            self.requests as f64 / covered
        } else {
            0.0
        }
    }

    /// Highest per-interval rate, requests per second, and the start of that interval.
    pub fn peak_rate(&self) -> (f64, SimTime) {
        let (index, count) = self
            .counts
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .map_or((0, 0), |(i, c)| (i, *c));
        (
            count as f64 / self.interval.as_secs_f64(),
            SimTime(index as u64 * self.interval.0),
        )
    }
}

/// Profiles the trace at `path` read as `format`, counting arrivals per `interval` (must be > 0).
pub fn inspect(
    path: &Path,
    format: TraceFormat,
    interval: SimDuration,
) -> Result<TraceProfile, TrafficError> {
    inspect_input(&TraceInput::file(path), format, interval)
}

/// [`inspect`] of any input: a file, or a reader's bytes ([`TraceInput::from_reader`]).
pub fn inspect_input(
    input: &TraceInput,
    format: TraceFormat,
    interval: SimDuration,
) -> Result<TraceProfile, TrafficError> {
    if interval < MIN_INTERVAL {
        return Err(TrafficError::Invalid {
            key: "interval".into(),
            message: format!("{interval} is too fine; allowed: at least {MIN_INTERVAL}, e.g. 60s"),
        });
    }
    let options = TraceOptions {
        format,
        spread: Spread::Even,
        ..TraceOptions::default()
    };
    // A first pass refuses per-interval counts no replay could produce in finite time.
    trace::scan_input(input, &options, MAX_RATE)?;
    let mut source = TraceSource::from_input(input.clone(), options)?;
    let mut rng = SimRng::seed_from_u64(0);
    let mut profile = TraceProfile {
        path: input.name(),
        format,
        requests: 0,
        first: None,
        last: None,
        interval,
        counts: Vec::new(),
        prompt_tokens: 0,
        output_tokens: 0,
        with_service_time: 0,
    };
    while let Some(arrival) = source.next_arrival(&mut rng)? {
        let bucket = arrival.at.0 / interval.0;
        if bucket >= MAX_INTERVALS {
            return Err(TrafficError::Invalid {
                key: "interval".into(),
                message: format!(
                    "{interval} is too fine for this trace: its arrivals reach {}, more than {MAX_INTERVALS} intervals; allowed: an interval of at least {}",
                    SimDuration(arrival.at.0),
                    SimDuration((arrival.at.0 / MAX_INTERVALS).max(MIN_INTERVAL.0) + 1)
                ),
            });
        }
        let bucket = bucket as usize;
        if profile.counts.len() <= bucket {
            profile.counts.resize(bucket + 1, 0);
        }
        profile.counts[bucket] += 1;
        profile.requests += 1;
        profile.first.get_or_insert(arrival.at);
        profile.last = Some(arrival.at);
        profile.prompt_tokens += u64::from(arrival.attrs.prompt_tokens);
        profile.output_tokens += u64::from(arrival.attrs.output_tokens);
        profile.with_service_time += u64::from(arrival.attrs.service_time.is_some());
    }
    Ok(profile)
}

/// Reads every trace file of `spec` once (streamed, see [`trace::scan`]) and checks what only the data can
/// tell: format, columns, order and values of every row, per-interval rates, the loop period and the mean
/// rate of a looped replay. Returns `(dotted key, message)` pairs; a message about a row names the trace
/// file and its line. `run` is the traffic duration.
pub fn check_traces(
    spec: &TrafficSpec,
    key_prefix: &str,
    base_dir: &Path,
    run: SimDuration,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    match spec {
        TrafficSpec::Trace(s) => {
            let (path, options) = s.options(base_dir, SimTime::ZERO, SimTime::ZERO + run);
            let key = format!("{key_prefix}.path");
            match trace::scan(&path, &options, MAX_RATE) {
                Err(e) => errors.push((key, e.to_string())),
                Ok(scan) if s.looped => {
                    let period =
                        SimDuration::from_secs_f64(scan.period as f64 * s.time_scale / 1e9);
                    if period < MIN_LOOP_PERIOD {
                        errors.push((
                            format!("{key_prefix}.loop"),
                            format!(
                                "one pass of {} lasts {period} after time_scale, shorter than the allowed minimum loop period of {MIN_LOOP_PERIOD}; widen the window or raise time_scale",
                                path.display()
                            ),
                        ));
                    } else {
                        let rate = scan.arrivals * s.load_scale / period.as_secs_f64();
                        if rate > MAX_RATE {
                            errors.push((
                                format!("{key_prefix}.loop"),
                                format!("looping {} replays {rate:.3e} req/s on average; allowed: at most {MAX_RATE} req/s", path.display()),
                            ));
                        }
                    }
                }
                Ok(_) => {}
            }
        }
        TrafficSpec::Sum(s) => {
            for (i, source) in s.sources.iter().enumerate() {
                let prefix = format!("{key_prefix}.sources[{i}]");
                errors.extend(check_traces(source, &prefix, base_dir, run));
            }
        }
        _ => {}
    }
    errors
}

/// An upper bound of the open-loop arrival rate (req/s), from the configured rates; `None` when the
/// configuration does not bound it (closed-loop clients without `qps`, traces: see [`check_traces`]).
pub fn peak_rate_bound(spec: &TrafficSpec) -> Option<f64> {
    Some(match spec {
        TrafficSpec::Constant(s) | TrafficSpec::Poisson(s) => s.rate,
        TrafficSpec::Step(s) => s.rate_before.max(s.rate_after),
        TrafficSpec::Ramp(s) => s.start_rate.max(s.end_rate),
        TrafficSpec::Spike(s) => s.base_rate.max(s.spike_rate),
        TrafficSpec::Sine(s) => s.mean_rate + s.amplitude,
        TrafficSpec::OnOff(s) => s.on_rate.max(s.off_rate),
        TrafficSpec::Mmpp(s) => s.states.iter().map(|x| x.rate).fold(0.0, f64::max),
        TrafficSpec::Piecewise(s) => s.points.iter().map(|p| p.rate).fold(0.0, f64::max),
        TrafficSpec::ClosedLoop(s) => s.qps? * f64::from(s.clients),
        TrafficSpec::Trace(_) => return None,
        TrafficSpec::Sum(s) => {
            let mut total = 0.0;
            for source in &s.sources {
                total += peak_rate_bound(source)?;
            }
            total
        }
    })
}

impl fmt::Display for TraceProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "trace      {} ({})", self.path, self.format.name())?;
        writeln!(f, "requests   {}", self.requests)?;
        writeln!(
            f,
            "span       {} (first arrival {}, last {})",
            self.span(),
            opt_secs(self.first),
            opt_secs(self.last)
        )?;
        let (peak, peak_at) = self.peak_rate();
        writeln!(f, "mean rate  {:.3} req/s", self.mean_rate())?;
        writeln!(
            f,
            "peak rate  {:.3} req/s in the {} interval starting at {:.0} s",
            peak,
            self.interval,
            peak_at.as_secs_f64()
        )?;
        if self.prompt_tokens + self.output_tokens > 0 && self.requests > 0 {
            let n = self.requests as f64;
            writeln!(
                f,
                "tokens     mean prompt {:.1}, mean output {:.1}",
                self.prompt_tokens as f64 / n,
                self.output_tokens as f64 / n
            )?;
        }
        if self.with_service_time > 0 {
            writeln!(
                f,
                "service    {} of {} rows give a service time",
                self.with_service_time, self.requests
            )?;
        }
        if self.counts.is_empty() {
            return writeln!(f, "(no arrivals)");
        }
        let merge = self.counts.len().div_ceil(MAX_CHART_ROWS);
        let row_len = self.interval.as_secs_f64() * merge as f64;
        let rows: Vec<f64> = self
            .counts
            .chunks(merge)
            .map(|c| c.iter().sum::<u64>() as f64 / row_len)
            .collect();
        let max = rows.iter().copied().fold(0.0, f64::max);
        writeln!(
            f,
            "rate per {} (req/s):",
            SimDuration::from_secs_f64(row_len)
        )?;
        for (i, rate) in rows.iter().enumerate() {
            let width = if max > 0.0 {
                (rate / max * BAR_WIDTH as f64).round() as usize
            } else {
                0
            };
            writeln!(
                f,
                "{:>9.0}s {:>10.3} |{}",
                i as f64 * row_len,
                rate,
                "#".repeat(width)
            )?;
        }
        Ok(())
    }
}

fn opt_secs(t: Option<SimTime>) -> String {
    t.map_or_else(|| "-".into(), |t| format!("{:.3} s", t.as_secs_f64()))
}
