//! The scenario's `traffic:` section: [`TrafficSpec`] (serde), its validation and construction.
//!
//! ```yaml
//! traffic: {kind: poisson, rate: 100}
//! traffic: {kind: closed_loop, clients: 5, think_time: 0s, requests: 1000, qps: 50}   # hey -c 5 -n 1000 -q 50
//! traffic:
//!   kind: sum
//!   sources:
//!     - {kind: trace, path: ../traces/AzureLLMInferenceTrace_code.csv, format: azure_llm, time_scale: 0.5}
//!     - {kind: spike, base_rate: 0, spike_rate: 200, at: 10m, duration: 30s}
//! ```
//!
//! Kinds (snake_case): `constant`, `poisson`, `step`, `ramp`, `spike`, `sine` (alias `diurnal`, period
//! default 24h), `on_off`, `mmpp`, `piecewise`, `closed_loop`, `trace`, `sum`. Rates are requests per
//! second; durations accept "30s"/"1m30s" strings or numbers of seconds; every time is measured from the
//! run start. Unknown keys are rejected. The tag is read by a hand-written `Deserialize` rather than
//! `#[serde(tag = "kind")]`: serde's internally tagged enums buffer the mapping and lose serde_yaml's line
//! numbers and key paths, whereas here each kind's fields are deserialized straight from the YAML parser, so
//! errors read `traffic.sources[1]: unknown field `rtae`, expected `rate` ... at line 9 column 7`. Keys
//! placed before `kind` are buffered and still checked, but their errors point at the start of the mapping.
//!
//! A `closed_loop` source may appear at the top level or directly in the top-level `sum` (at most one);
//! everything else is open loop. In a `sum`, child `i` draws from `RngStreams::indexed(Stream::Traffic, i)`
//! (nested sums derive further indices), so editing one child never changes another's arrivals.

use super::bursty::{on_off_profile, MmppSource, MmppState};
use super::closed_loop::{ClosedLoopDriver, ClosedLoopSpec, ThinkTime};
use super::generators::{ConstantSource, Interpolation, NhppSource, RateProfile};
use super::poisson::PoissonSource;
use super::sum::SumSource;
use super::trace::{Spread, TraceFormat, TraceOptions, TraceSource};
use super::{ArrivalSource, TrafficError};
use crate::engine::{RngStreams, SimRng, Stream};
use crate::time::{SimDuration, SimTime};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest accepted rate, requests per second: beyond it a run would be dominated by arrival events.
pub const MAX_RATE: f64 = 10_000_000.0;

/// `constant` and `poisson`: a fixed rate over `[start, end)` (end defaults to the run end).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    pub rate: f64,
    #[serde(default)]
    pub start: SimDuration,
    #[serde(default)]
    pub end: Option<SimDuration>,
}

/// `step`: `rate_before` until `at`, then `rate_after` (Poisson).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub rate_before: f64,
    pub rate_after: f64,
    pub at: SimDuration,
}

/// `ramp`: `start_rate` until `start`, linear to `end_rate` over `duration` (default: to the run end), held.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RampSpec {
    pub start_rate: f64,
    pub end_rate: f64,
    #[serde(default)]
    pub start: SimDuration,
    #[serde(default)]
    pub duration: Option<SimDuration>,
}

/// `spike`: `base_rate`, and `spike_rate` during `[at, at + duration)` (Poisson).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeSpec {
    pub base_rate: f64,
    pub spike_rate: f64,
    pub at: SimDuration,
    pub duration: SimDuration,
}

fn one_day() -> SimDuration {
    SimDuration::from_secs(86_400)
}

/// `sine` / `diurnal`: `mean_rate + amplitude * sin(2π (t + phase) / period)`, clipped at 0 (Poisson).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SineSpec {
    pub mean_rate: f64,
    pub amplitude: f64,
    #[serde(default = "one_day")]
    pub period: SimDuration,
    #[serde(default)]
    pub phase: SimDuration,
}

fn yes() -> bool {
    true
}

/// `on_off`: Poisson at `on_rate` for `on`, then `off_rate` (default 0) for `off`, repeated.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnOffSpec {
    pub on_rate: f64,
    #[serde(default)]
    pub off_rate: f64,
    pub on: SimDuration,
    pub off: SimDuration,
    #[serde(default = "yes")]
    pub start_on: bool,
}

/// One `mmpp` state.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmppStateSpec {
    pub rate: f64,
    pub mean_duration: SimDuration,
}

/// `mmpp`: Markov-modulated Poisson, starting in the first state.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MmppSpec {
    pub states: Vec<MmppStateSpec>,
}

/// One point of a `piecewise` schedule.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePoint {
    pub at: SimDuration,
    pub rate: f64,
}

/// `piecewise`: a rate schedule, `hold` (piecewise-constant, default) or `linear` between points (Poisson).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiecewiseSpec {
    pub points: Vec<RatePoint>,
    #[serde(default)]
    pub interpolation: Interpolation,
}

/// `closed_loop`: hey-style clients (`-c clients`, `-n requests`, `-q qps`, `-z duration`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedLoopConfig {
    pub clients: u32,
    #[serde(default)]
    pub think_time: SimDuration,
    #[serde(default)]
    pub think: ThinkTime,
    #[serde(default)]
    pub requests: Option<u64>,
    #[serde(default)]
    pub qps: Option<f64>,
    #[serde(default)]
    pub start: SimDuration,
    /// Sending stops `duration` after `start` (hey -z); default: the run end.
    #[serde(default)]
    pub duration: Option<SimDuration>,
}

/// `[from, to)` in trace time (seconds since the trace start).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowSpec {
    #[serde(default)]
    pub from: SimDuration,
    #[serde(default)]
    pub to: Option<SimDuration>,
}

fn one() -> f64 {
    1.0
}
fn default_reorder_buffer() -> usize {
    1000
}

/// `trace`: replay of a trace file (see [`super::trace`] for formats and the transformation order).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    pub path: PathBuf,
    pub format: TraceFormat,
    #[serde(default)]
    pub time_column: Option<String>,
    #[serde(default)]
    pub service_time_column: Option<String>,
    #[serde(default)]
    pub prompt_tokens_column: Option<String>,
    #[serde(default)]
    pub output_tokens_column: Option<String>,
    #[serde(default)]
    pub count_column: Option<String>,
    #[serde(default)]
    pub interval: Option<SimDuration>,
    #[serde(default)]
    pub spread: Spread,
    #[serde(default = "one")]
    pub time_scale: f64,
    #[serde(default = "one")]
    pub load_scale: f64,
    #[serde(default)]
    pub window: Option<WindowSpec>,
    #[serde(default, rename = "loop")]
    pub looped: bool,
    #[serde(default = "default_reorder_buffer")]
    pub reorder_buffer: usize,
    #[serde(default)]
    pub start: SimDuration,
    /// `prometheus`: label selector of the rate series, e.g. `http_requests{revision="r1"}`.
    #[serde(default)]
    pub series: Option<String>,
}

impl TraceSpec {
    /// The file to read (relative paths resolve against `base_dir`) and the replay options for a source
    /// that starts at `start` and stops at `end`.
    pub fn options(
        &self,
        base_dir: &Path,
        start: SimTime,
        end: SimTime,
    ) -> (PathBuf, TraceOptions) {
        let path = if self.path.is_absolute() {
            self.path.clone()
        } else {
            base_dir.join(&self.path)
        };
        let window = self.window.clone().unwrap_or(WindowSpec {
            from: SimDuration::ZERO,
            to: None,
        });
        let options = TraceOptions {
            format: self.format,
            time_column: self.time_column.clone(),
            service_time_column: self.service_time_column.clone(),
            prompt_tokens_column: self.prompt_tokens_column.clone(),
            output_tokens_column: self.output_tokens_column.clone(),
            count_column: self.count_column.clone(),
            interval: self.interval,
            spread: self.spread,
            window_from: window.from,
            window_to: window.to,
            looped: self.looped,
            time_scale: self.time_scale,
            load_scale: self.load_scale,
            reorder_buffer: self.reorder_buffer,
            start,
            end,
            series: self.series.clone(),
        };
        (path, options)
    }
}

/// `sum`: the superposition of `sources`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumSpec {
    pub sources: Vec<TrafficSpec>,
}

/// The scenario's `traffic:` section.
#[derive(Clone, Debug, PartialEq)]
pub enum TrafficSpec {
    Constant(RateSpec),
    Poisson(RateSpec),
    Step(StepSpec),
    Ramp(RampSpec),
    Spike(SpikeSpec),
    Sine(SineSpec),
    OnOff(OnOffSpec),
    Mmpp(MmppSpec),
    Piecewise(PiecewiseSpec),
    ClosedLoop(ClosedLoopConfig),
    Trace(TraceSpec),
    Sum(SumSpec),
}

/// What the simulator runs: open-loop arrivals, closed-loop clients, or both (a `sum` with one
/// `closed_loop`). Drive `open_loop` with `streams.stream(Stream::Traffic)` and pass the same generator to
/// `ClosedLoopDriver::on_response` (a `sum` never draws from it, so the two cannot interfere).
pub struct TrafficPlan {
    pub open_loop: Option<Box<dyn ArrivalSource>>,
    pub closed_loop: Option<ClosedLoopDriver>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Constant,
    Poisson,
    Step,
    Ramp,
    Spike,
    #[serde(alias = "diurnal")]
    Sine,
    OnOff,
    Mmpp,
    Piecewise,
    ClosedLoop,
    Trace,
    Sum,
}

const KIND_NAMES: &str =
    "constant, poisson, step, ramp, spike, sine (diurnal), on_off, mmpp, piecewise, closed_loop, trace, sum";

impl<'de> Deserialize<'de> for TrafficSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SpecVisitor)
    }
}

struct SpecVisitor;

impl<'de> Visitor<'de> for SpecVisitor {
    type Value = TrafficSpec;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a traffic source: a mapping with `kind` ({KIND_NAMES})")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TrafficSpec, A::Error> {
        let mut before_kind: Vec<(String, serde_yaml::Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "kind" {
                let kind: Kind = map.next_value()?;
                let rest = BufferedThenLive {
                    buffered: before_kind.into_iter(),
                    buffered_value: None,
                    live: map,
                };
                return kind.read_fields(de::value::MapAccessDeserializer::new(rest));
            }
            let value = map.next_value()?;
            before_kind.push((key, value));
        }
        Err(de::Error::custom(format!(
            "missing `kind`; expected one of {KIND_NAMES}"
        )))
    }
}

impl Kind {
    fn read_fields<'de, D: Deserializer<'de>>(self, fields: D) -> Result<TrafficSpec, D::Error> {
        Ok(match self {
            Kind::Constant => TrafficSpec::Constant(RateSpec::deserialize(fields)?),
            Kind::Poisson => TrafficSpec::Poisson(RateSpec::deserialize(fields)?),
            Kind::Step => TrafficSpec::Step(StepSpec::deserialize(fields)?),
            Kind::Ramp => TrafficSpec::Ramp(RampSpec::deserialize(fields)?),
            Kind::Spike => TrafficSpec::Spike(SpikeSpec::deserialize(fields)?),
            Kind::Sine => TrafficSpec::Sine(SineSpec::deserialize(fields)?),
            Kind::OnOff => TrafficSpec::OnOff(OnOffSpec::deserialize(fields)?),
            Kind::Mmpp => TrafficSpec::Mmpp(MmppSpec::deserialize(fields)?),
            Kind::Piecewise => TrafficSpec::Piecewise(PiecewiseSpec::deserialize(fields)?),
            Kind::ClosedLoop => TrafficSpec::ClosedLoop(ClosedLoopConfig::deserialize(fields)?),
            Kind::Trace => TrafficSpec::Trace(TraceSpec::deserialize(fields)?),
            Kind::Sum => TrafficSpec::Sum(SumSpec::deserialize(fields)?),
        })
    }
}

/// The entries read before `kind` (buffered as YAML values), then the rest of the live mapping.
struct BufferedThenLive<A> {
    buffered: std::vec::IntoIter<(String, serde_yaml::Value)>,
    buffered_value: Option<serde_yaml::Value>,
    live: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for BufferedThenLive<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.buffered.next() {
            Some((key, value)) => {
                self.buffered_value = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => self.live.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.buffered_value.take() {
            Some(value) => seed.deserialize(value).map_err(de::Error::custom),
            None => self.live.next_value_seed(seed),
        }
    }
}

/// Collects `(key, message)` validation errors.
struct Checker<'a> {
    errors: &'a mut Vec<(String, String)>,
    prefix: &'a str,
}

impl Checker<'_> {
    fn key(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    fn fail(&mut self, field: &str, message: String) {
        let key = self.key(field);
        self.errors.push((key, message));
    }

    /// A rate in req/s: finite, at most [`MAX_RATE`], positive unless `allow_zero`.
    fn rate(&mut self, field: &str, value: f64, allow_zero: bool) {
        let low_ok = if allow_zero {
            value >= 0.0
        } else {
            value > 0.0
        };
        if !(low_ok && value <= MAX_RATE) {
            let low = if allow_zero { "0 <= rate" } else { "0 < rate" };
            self.fail(
                field,
                format!("rate {value} req/s is out of range; allowed: {low} <= {MAX_RATE} req/s"),
            );
        }
    }

    fn positive(&mut self, field: &str, value: SimDuration) {
        if value == SimDuration::ZERO {
            self.fail(
                field,
                "duration 0s is not allowed; it must be positive (e.g. \"10s\")".into(),
            );
        }
    }
}

impl TrafficSpec {
    /// Every configuration error, as `(dotted key, message naming the value and the allowed range)`;
    /// `key_prefix` is where this section sits (normally "traffic"). Does not touch the file system.
    pub fn validate(&self, key_prefix: &str) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        self.validate_into(key_prefix, 0, &mut errors);
        errors
    }

    fn validate_into(&self, prefix: &str, depth: usize, errors: &mut Vec<(String, String)>) {
        let mut c = Checker { errors, prefix };
        match self {
            TrafficSpec::Constant(s) | TrafficSpec::Poisson(s) => {
                c.rate("rate", s.rate, false);
                if s.end.is_some_and(|end| end <= s.start) {
                    c.fail(
                        "end",
                        format!(
                            "end {} must be after start {}",
                            s.end.unwrap_or_default(),
                            s.start
                        ),
                    );
                }
            }
            TrafficSpec::Step(s) => {
                c.rate("rate_before", s.rate_before, true);
                c.rate("rate_after", s.rate_after, true);
            }
            TrafficSpec::Ramp(s) => {
                c.rate("start_rate", s.start_rate, true);
                c.rate("end_rate", s.end_rate, true);
                if let Some(d) = s.duration {
                    c.positive("duration", d);
                }
            }
            TrafficSpec::Spike(s) => {
                c.rate("base_rate", s.base_rate, true);
                c.rate("spike_rate", s.spike_rate, true);
                c.positive("duration", s.duration);
            }
            TrafficSpec::Sine(s) => {
                c.rate("mean_rate", s.mean_rate, false);
                if !(s.amplitude >= 0.0 && s.amplitude <= MAX_RATE) {
                    c.fail("amplitude", format!("amplitude {} req/s is out of range; allowed: 0 <= amplitude <= {MAX_RATE} (above mean_rate the rate is clipped at 0)", s.amplitude));
                }
                c.positive("period", s.period);
            }
            TrafficSpec::OnOff(s) => {
                c.rate("on_rate", s.on_rate, false);
                c.rate("off_rate", s.off_rate, true);
                c.positive("on", s.on);
                c.positive("off", s.off);
            }
            TrafficSpec::Mmpp(s) => {
                if s.states.is_empty() {
                    c.fail("states", "at least one state is required, e.g. [{rate: 10, mean_duration: 60s}, {rate: 100, mean_duration: 10s}]".into());
                }
                for (i, state) in s.states.iter().enumerate() {
                    c.rate(&format!("states[{i}].rate"), state.rate, true);
                    c.positive(&format!("states[{i}].mean_duration"), state.mean_duration);
                }
            }
            TrafficSpec::Piecewise(s) => {
                if s.points.is_empty() {
                    c.fail("points", "at least one point is required, e.g. [{at: 0s, rate: 10}, {at: 5m, rate: 50}]".into());
                }
                for (i, p) in s.points.iter().enumerate() {
                    c.rate(&format!("points[{i}].rate"), p.rate, true);
                    if i > 0 && p.at < s.points[i - 1].at {
                        c.fail(&format!("points[{i}].at"), format!("time {} is before the previous point's {}; points must be in time order", p.at, s.points[i - 1].at));
                    }
                }
            }
            TrafficSpec::ClosedLoop(s) => {
                if depth > 1 {
                    c.fail("kind", "closed_loop may only be the whole traffic section or a direct child of the top-level sum".into());
                }
                if !(1..=1_000_000).contains(&s.clients) {
                    c.fail(
                        "clients",
                        format!(
                            "clients {} is out of range; allowed: 1 to 1000000",
                            s.clients
                        ),
                    );
                }
                if s.requests == Some(0) {
                    c.fail(
                        "requests",
                        "requests 0 sends nothing; allowed: at least 1, or omit for no limit"
                            .into(),
                    );
                }
                if let Some(q) = s.qps {
                    c.rate("qps", q, false);
                }
                if let Some(d) = s.duration {
                    c.positive("duration", d);
                }
            }
            TrafficSpec::Trace(s) => {
                if s.path.as_os_str().is_empty() {
                    c.fail(
                        "path",
                        "path is empty; give the trace file, relative to the scenario file".into(),
                    );
                }
                // Below 1e-6 a day of trace lasts less than 0.1 s: every arrival lands on the same instants.
                if !(s.time_scale >= 1e-6 && s.time_scale <= 1e6) {
                    c.fail("time_scale", format!("{:e} is not a valid time scale (multiplier of trace times: 0.5 replays twice as fast); allowed: 0.000001 <= time_scale <= 1000000", s.time_scale));
                }
                if !(s.load_scale > 0.0 && s.load_scale.is_finite() && s.load_scale <= 1000.0) {
                    c.fail("load_scale", format!("{} is not a valid load scale; allowed: 0 < load_scale <= 1000 (0.5 keeps half the requests, 2 doubles them)", s.load_scale));
                }
                if let Some(w) = &s.window {
                    if w.to.is_some_and(|to| to <= w.from) {
                        c.fail(
                            "window.to",
                            format!(
                                "window end {} must be after its start {}",
                                w.to.unwrap_or_default(),
                                w.from
                            ),
                        );
                    }
                }
                if let Some(i) = s.interval {
                    c.positive("interval", i);
                }
                if !s.format.is_per_interval() && (s.interval.is_some() || s.count_column.is_some())
                {
                    c.fail("interval", format!("interval/count_column apply to counts and azure_functions traces, not {}", s.format.name()));
                }
                if let Some(series) = &s.series {
                    if s.format != TraceFormat::Prometheus {
                        c.fail(
                            "series",
                            format!(
                                "series applies to prometheus traces, not {}",
                                s.format.name()
                            ),
                        );
                    } else if let Err(m) = super::prometheus::Selector::parse(series) {
                        c.fail("series", m);
                    }
                }
                if s.reorder_buffer > 10_000_000 {
                    c.fail(
                        "reorder_buffer",
                        format!(
                            "{} rows is too many; allowed: 0 to 10000000",
                            s.reorder_buffer
                        ),
                    );
                }
            }
            TrafficSpec::Sum(s) => {
                if s.sources.is_empty() {
                    c.fail("sources", "a sum needs at least one source".into());
                }
                let closed = s
                    .sources
                    .iter()
                    .filter(|x| matches!(x, TrafficSpec::ClosedLoop(_)))
                    .count();
                if closed > 1 {
                    c.fail("sources", format!("{closed} closed_loop sources; at most one is allowed (use more clients instead)"));
                }
                for (i, source) in s.sources.iter().enumerate() {
                    let child_prefix = c.key(&format!("sources[{i}]"));
                    source.validate_into(&child_prefix, depth + 1, c.errors);
                }
            }
        }
    }

    /// Builds the sources for a run of `run_duration`. Relative trace paths resolve against `base_dir`
    /// (the scenario file's folder). Fails on the first validation error, or if a trace cannot be opened
    /// or its header is wrong (rows are checked as they stream).
    pub fn build(
        &self,
        base_dir: &Path,
        run_duration: SimDuration,
        streams: &RngStreams,
    ) -> Result<TrafficPlan, TrafficError> {
        if let Some((key, message)) = self.validate("traffic").into_iter().next() {
            return Err(TrafficError::Invalid { key, message });
        }
        let end = SimTime::ZERO + run_duration;
        match self.build_part(base_dir, end, streams, None)? {
            Built::Open(source) => Ok(TrafficPlan {
                open_loop: Some(source),
                closed_loop: None,
            }),
            Built::Closed(driver) => Ok(TrafficPlan {
                open_loop: None,
                closed_loop: Some(driver),
            }),
            Built::Both(source, driver) => Ok(TrafficPlan {
                open_loop: Some(source),
                closed_loop: Some(driver),
            }),
        }
    }

    fn build_part(
        &self,
        base_dir: &Path,
        end: SimTime,
        streams: &RngStreams,
        stream_index: Option<u64>,
    ) -> Result<Built, TrafficError> {
        let at = |d: SimDuration| SimTime::ZERO + d;
        let nhpp = |profile: RateProfile| {
            Built::Open(Box::new(NhppSource::new(profile, SimTime::ZERO, end)))
        };
        Ok(match self {
            TrafficSpec::Constant(s) => Built::Open(Box::new(ConstantSource::new(
                s.rate,
                at(s.start),
                s.end.map_or(end, at).min(end),
            ))),
            TrafficSpec::Poisson(s) => Built::Open(Box::new(PoissonSource::new(
                s.rate,
                at(s.start),
                s.end.map_or(end, at).min(end),
            ))),
            TrafficSpec::Step(s) => nhpp(RateProfile::step(s.rate_before, s.rate_after, at(s.at))),
            TrafficSpec::Ramp(s) => {
                let duration = s
                    .duration
                    .unwrap_or_else(|| end.saturating_since(at(s.start)))
                    .max(SimDuration(1));
                nhpp(RateProfile::ramp(
                    s.start_rate,
                    s.end_rate,
                    at(s.start),
                    duration,
                ))
            }
            TrafficSpec::Spike(s) => nhpp(RateProfile::spike(
                s.base_rate,
                s.spike_rate,
                at(s.at),
                s.duration,
            )),
            TrafficSpec::Sine(s) => nhpp(RateProfile::Sine {
                mean: s.mean_rate,
                amplitude: s.amplitude,
                period: s.period,
                phase: s.phase,
            }),
            TrafficSpec::OnOff(s) => nhpp(on_off_profile(
                s.on_rate, s.off_rate, s.on, s.off, s.start_on,
            )),
            TrafficSpec::Piecewise(s) => nhpp(RateProfile::Piecewise {
                points: s.points.iter().map(|p| (at(p.at), p.rate)).collect(),
                interpolation: s.interpolation,
            }),
            TrafficSpec::Mmpp(s) => {
                let states = s
                    .states
                    .iter()
                    .map(|x| MmppState {
                        rate: x.rate,
                        mean_duration: x.mean_duration,
                    })
                    .collect();
                Built::Open(Box::new(MmppSource::new(states, SimTime::ZERO, end)))
            }
            TrafficSpec::ClosedLoop(s) => {
                let start = at(s.start);
                Built::Closed(ClosedLoopDriver::new(ClosedLoopSpec {
                    clients: s.clients,
                    think_time: s.think_time,
                    think_distribution: s.think,
                    total_requests: s.requests,
                    qps_per_client: s.qps,
                    start,
                    end: s.duration.map_or(end, |d| start + d).min(end),
                }))
            }
            TrafficSpec::Trace(s) => {
                let (path, options) = s.options(base_dir, at(s.start), end);
                Built::Open(Box::new(TraceSource::open(&path, options)?))
            }
            TrafficSpec::Sum(s) => {
                let mut children: Vec<(Box<dyn ArrivalSource>, SimRng)> = Vec::new();
                let mut driver = None;
                for (i, source) in s.sources.iter().enumerate() {
                    let index = child_stream_index(stream_index, i as u64);
                    match source.build_part(base_dir, end, streams, Some(index))? {
                        Built::Open(child) => {
                            children.push((child, streams.indexed(Stream::Traffic, index)))
                        }
                        Built::Closed(d) => driver = Some(d),
                        Built::Both(child, d) => {
                            children.push((child, streams.indexed(Stream::Traffic, index)));
                            driver = Some(d);
                        }
                    }
                }
                let sum: Box<dyn ArrivalSource> = Box::new(SumSource::new(children));
                match driver {
                    Some(d) => Built::Both(sum, d),
                    None => Built::Open(sum),
                }
            }
        })
    }

    /// A short description for plot titles, e.g. "poisson 100 req/s", "5 closed-loop clients".
    pub fn describe(&self) -> String {
        match self {
            TrafficSpec::Constant(s) => format!("constant {} req/s", num(s.rate)),
            TrafficSpec::Poisson(s) => format!("poisson {} req/s", num(s.rate)),
            TrafficSpec::Step(s) => format!(
                "step {}→{} req/s at {}",
                num(s.rate_before),
                num(s.rate_after),
                s.at
            ),
            TrafficSpec::Ramp(s) => format!("ramp {}→{} req/s", num(s.start_rate), num(s.end_rate)),
            TrafficSpec::Spike(s) => format!(
                "spike {}→{} req/s at {} for {}",
                num(s.base_rate),
                num(s.spike_rate),
                s.at,
                s.duration
            ),
            TrafficSpec::Sine(s) => format!(
                "sine {}±{} req/s, period {}",
                num(s.mean_rate),
                num(s.amplitude),
                s.period
            ),
            TrafficSpec::OnOff(s) => format!(
                "on/off {} req/s ({} on, {} off)",
                num(s.on_rate),
                s.on,
                s.off
            ),
            TrafficSpec::Mmpp(s) => format!("mmpp, {} states", s.states.len()),
            TrafficSpec::Piecewise(s) => format!("piecewise schedule, {} points", s.points.len()),
            TrafficSpec::ClosedLoop(s) => {
                let mut text = format!(
                    "{} closed-loop client{}",
                    s.clients,
                    if s.clients == 1 { "" } else { "s" }
                );
                if let Some(q) = s.qps {
                    text += &format!(", ≤{} req/s each", num(q));
                }
                if let Some(n) = s.requests {
                    text += &format!(", {n} requests");
                }
                text
            }
            TrafficSpec::Trace(s) => {
                let name = s.path.file_name().map_or_else(
                    || s.path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                let mut text = format!("trace {name}");
                if s.time_scale != 1.0 {
                    text += &format!(", time x{}", num(s.time_scale));
                }
                if s.load_scale != 1.0 {
                    text += &format!(", load x{}", num(s.load_scale));
                }
                text
            }
            TrafficSpec::Sum(s) => s
                .sources
                .iter()
                .map(TrafficSpec::describe)
                .collect::<Vec<_>>()
                .join(" + "),
        }
    }
}

enum Built {
    Open(Box<dyn ArrivalSource>),
    Closed(ClosedLoopDriver),
    Both(Box<dyn ArrivalSource>, ClosedLoopDriver),
}

/// Top-level sum children use index `i`; nested sums mix the parent's index in so streams stay distinct.
fn child_stream_index(parent: Option<u64>, i: u64) -> u64 {
    match parent {
        None => i,
        Some(p) => (p + 1).wrapping_mul(0x1_0000_01b3).wrapping_add(i) ^ 0x5eed_0000_0000,
    }
}

/// A rate for display: integers without decimals, others with up to 3.
fn num(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}
