//! Validation of a [`TrafficSpec`]: every configuration error at once, each as `(dotted key, message)`
//! naming the bad value and the allowed range (rates in req/s up to [`MAX_RATE`], durations positive where a
//! zero would stall the generator). Nested `sum` sources are checked recursively with their key path; the
//! file system is not touched (trace files are read by `trace::scan` and by the replay, not here).

use super::super::trace::TraceFormat;
use super::*;
use crate::time::SimDuration;

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
                    } else if let Err(m) = super::super::prometheus::Selector::parse(series) {
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
}
