//! Construction of a [`TrafficSpec`] into a runnable [`TrafficPlan`]: each kind becomes its arrival source
//! (or the closed-loop driver), `sum` children get their own RNG stream index so editing one child never
//! changes another's arrivals, and [`TrafficSpec::describe`] gives the short text used in plot titles.

use super::super::bursty::{on_off_profile, MmppSource, MmppState};
use super::super::closed_loop::{ClosedLoopDriver, ClosedLoopSpec};
use super::super::generators::{ConstantSource, NhppSource, RateProfile};
use super::super::poisson::PoissonSource;
use super::super::sum::SumSource;
use super::super::trace::TraceSource;
use super::super::{ArrivalSource, TrafficError};
use super::*;
use crate::engine::{RngStreams, SimRng, Stream};
use crate::time::{SimDuration, SimTime};
use std::path::Path;

impl TrafficSpec {
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
