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

use super::closed_loop::{ClosedLoopDriver, ThinkTime};
use super::generators::Interpolation;
use super::trace::{Spread, TraceFormat, TraceOptions};
use super::ArrivalSource;
use crate::time::{SimDuration, SimTime};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod build;
mod validate;

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
