//! Backtest: replay recorded traffic through the configured autoscaler and compare the simulated replica
//! curve and latency percentiles with what production observed (`podscale backtest`).
//!
//! Inputs are the scenario (whose `traffic:` is normally the recorded rate, `format: prometheus`) and
//! observation files in the Prometheus formats of [`crate::traffic::prometheus`], each tagged with what it
//! holds ([`ObservedKind`]). Time alignment: simulated time 0 is the first timestamp of the scenario's
//! Prometheus traffic series (plus its `window.from` and `start`), or `--origin` (unix seconds). Observed
//! samples outside the simulated span are ignored.
//!
//! Figures ([`Figures`]):
//! * replicas: the **time-weighted mean absolute difference** of ready pods, `sum |sim - obs| w / sum w`,
//!   where `w` is the time to the next observed sample (capped at the step), the signed mean (bias), and
//!   the relative error of pod-seconds;
//! * latency: p50 and p99 over the whole span from the observed bucket increases vs the simulated
//!   requests finishing in the same span (relative p99 error), and the median absolute relative error of
//!   per-step p99s;
//! * concurrency: mean absolute difference of requests in flight;
//! * requests: mean absolute difference of the per-step request rate (a check of the traffic replay).
//!
//! Simplifications: simulated ready pods are sampled at the second of each observation (Prometheus gauges
//! are instantaneous too); observed quantiles interpolate linearly inside a bucket as `histogram_quantile`
//! does, while simulated ones are exact, so a coarse bucket layout alone produces some p99 error. Memory is
//! O(simulated seconds + observed samples + steps x histogram).

mod plot;

use crate::observe::output::{SecondRow, TimeseriesSink};
use crate::scenario::LoadedScenario;
use crate::sim::{RequestLog, RequestRecord, Simulation};
use crate::traffic::prometheus::{
    infer_step_ms, read_aggregate, read_histogram, Aggregate, BucketSnapshot, PromError, Selector,
};
use crate::traffic::{TraceFormat, TrafficSpec};
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What an observation file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservedKind {
    /// Ready replicas (summed over matching series), e.g. `autoscaler_actual_pods` or
    /// `kube_deployment_status_replicas_ready`.
    Replicas,
    /// Replicas as the number of series with a sample (a per-pod metric such as GPU duty cycle).
    PodCount,
    /// Cumulative latency histogram buckets in seconds (`..._bucket{le=...}`).
    Latency,
    /// Requests in flight (summed), e.g. `activator_request_concurrency`.
    Concurrency,
    /// Request rate in req/s (summed), compared with the simulated arrivals per step.
    Requests,
}

impl ObservedKind {
    const NAMES: &'static str = "replicas, pod_count, latency, concurrency, requests";

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "replicas" => ObservedKind::Replicas,
            "pod_count" => ObservedKind::PodCount,
            "latency" => ObservedKind::Latency,
            "concurrency" => ObservedKind::Concurrency,
            "requests" => ObservedKind::Requests,
            _ => return None,
        })
    }
}

/// One `--observed KIND=FILE` argument, optionally `KIND=FILE{selector}`.
#[derive(Clone, Debug)]
pub struct Observed {
    pub kind: ObservedKind,
    pub path: PathBuf,
    pub selector: Selector,
}

impl Observed {
    /// Parses `replicas=pods.json`, `latency=hist.csv{revision="r1"}`, ...
    pub fn parse(arg: &str) -> Result<Self, String> {
        let (kind, rest) = arg.split_once('=').ok_or_else(|| {
            format!(
                "`{arg}`: expected KIND=FILE or KIND=FILE{{selector}}; kinds: {}",
                ObservedKind::NAMES
            )
        })?;
        let kind = ObservedKind::parse(kind.trim()).ok_or_else(|| {
            format!(
                "`{kind}` is not an observation kind; allowed: {}",
                ObservedKind::NAMES
            )
        })?;
        let (path, selector) = match (rest.find('{'), rest.ends_with('}')) {
            (Some(open), true) => (&rest[..open], Selector::parse(&rest[open..])?),
            _ => (rest, Selector::all()),
        };
        if path.is_empty() {
            return Err(format!("`{arg}`: the file name is empty"));
        }
        Ok(Observed {
            kind,
            path: PathBuf::from(path),
            selector,
        })
    }
}

/// Errors of a backtest.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("{0}")]
    Prom(#[from] PromError),
    #[error("{0}")]
    Usage(String),
    #[error("simulation failed: {0}")]
    Sim(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Error figures of one backtest (absent figures had no observation of that kind).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Figures {
    pub compared_span_s: f64,
    pub replicas_samples: usize,
    pub replicas_observed_mean: Option<f64>,
    pub replicas_simulated_mean: Option<f64>,
    pub replicas_mae_time_weighted: Option<f64>,
    pub replicas_bias: Option<f64>,
    pub pod_seconds_rel_error_pct: Option<f64>,
    pub latency_observed_p50_ms: Option<f64>,
    pub latency_simulated_p50_ms: Option<f64>,
    pub latency_observed_p99_ms: Option<f64>,
    pub latency_simulated_p99_ms: Option<f64>,
    pub latency_p99_rel_error_pct: Option<f64>,
    pub latency_step_p99_median_abs_rel_error_pct: Option<f64>,
    pub concurrency_mae: Option<f64>,
    pub request_rate_observed_mean: Option<f64>,
    pub request_rate_simulated_mean: Option<f64>,
    pub request_rate_mae: Option<f64>,
    pub simulated_requests: u64,
}

/// Simulated curves kept for comparison.
struct SimCurves {
    ready: Vec<u32>,
    in_flight: Vec<u64>,
    arrivals: Vec<u64>,
}

impl TimeseriesSink for SimCurves {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        self.ready.push(row.ready_pods);
        self.in_flight.push(row.in_flight);
        self.arrivals.push(row.arrivals);
        Ok(())
    }
}

/// Latencies of finished requests, per observed step (bucketed by finish time), and overall.
struct StepLatencies {
    origin_ns: u64,
    edges_ns: Vec<u64>,
    per_step: Vec<Histogram<u64>>,
    overall: Histogram<u64>,
    total: u64,
}

impl StepLatencies {
    fn new(edges_ns: Vec<u64>) -> Self {
        let hist =
            || Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3).expect("static bounds");
        StepLatencies {
            origin_ns: edges_ns.first().copied().unwrap_or(0),
            per_step: (1..edges_ns.len()).map(|_| hist()).collect(),
            edges_ns,
            overall: hist(),
            total: 0,
        }
    }
}

impl RequestLog for StepLatencies {
    fn record(&mut self, r: &RequestRecord) -> std::io::Result<()> {
        self.total += 1;
        let finished = r.finished.0;
        let us = (finished.saturating_sub(r.sent.0) / 1000).max(1);
        // A bucket counter increases when the request finishes: (edge[k-1], edge[k]] is step k.
        let k = self.edges_ns.partition_point(|e| *e < finished);
        if k >= 1 && k < self.edges_ns.len() {
            self.per_step[k - 1].saturating_record(us);
        }
        if finished > self.origin_ns && self.edges_ns.last().is_some_and(|e| finished <= *e) {
            self.overall.saturating_record(us);
        }
        Ok(())
    }
}

/// `histogram_quantile`: linear interpolation inside the bucket that holds quantile `q`; `None` if empty.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let width = count - prev.1;
            let frac = if width > 0.0 {
                (rank - prev.1) / width
            } else {
                1.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, count);
    }
    Some(prev.0)
}

/// Bucket increases between two snapshots (a counter reset counts the new value, as `increase()` does).
pub fn bucket_increase(from: &BucketSnapshot, to: &BucketSnapshot) -> Vec<(f64, f64)> {
    to.buckets
        .iter()
        .map(|&(le, count)| {
            let before = from.buckets.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
            (
                le,
                if count >= before {
                    count - before
                } else {
                    count
                },
            )
        })
        .collect()
}

/// The first timestamp (ms) of the scenario's Prometheus traffic, shifted by its window and start.
fn traffic_origin_ms(loaded: &LoadedScenario) -> Option<Result<i64, BacktestError>> {
    let TrafficSpec::Trace(t) = &loaded.spec.traffic else {
        return None;
    };
    if t.format != TraceFormat::Prometheus {
        return None;
    }
    let path = if t.path.is_absolute() {
        t.path.clone()
    } else {
        loaded.base_dir.join(&t.path)
    };
    Some((|| {
        if t.time_scale != 1.0 {
            return Err(BacktestError::Usage("traffic.time_scale must be 1 in a backtest (observed times are wall-clock); give --origin to compare anyway".into()));
        }
        let selector = Selector::parse(t.series.as_deref().unwrap_or(""))
            .map_err(|m| BacktestError::Usage(format!("traffic.series: {m}")))?;
        let points = read_aggregate(&path, &selector, Aggregate::Sum)?;
        let window_ms = t
            .window
            .as_ref()
            .map_or(0, |w| (w.from.0 / 1_000_000) as i64);
        Ok(points[0].0 + window_ms - (t.start.0 / 1_000_000) as i64)
    })())
}

/// The outcome: figures, the aligned curves, and where the files went.
pub struct Backtest {
    pub figures: Figures,
    /// `(seconds since origin, observed, simulated)` replicas.
    pub replicas: Vec<(f64, f64, f64)>,
    /// `(seconds since origin, observed p99 ms, simulated p99 ms)` per step.
    pub p99: Vec<(f64, f64, f64)>,
}

/// Runs `sim` (built from `loaded`, whose trace section aligns the times) and compares it with the
/// observations. `origin_ms` overrides the time alignment.
pub fn run(
    loaded: &LoadedScenario,
    sim: Simulation,
    observed: &[Observed],
    origin_ms: Option<i64>,
) -> Result<Backtest, BacktestError> {
    // Observed series describe one deployment; a run of several services has only per-service rows every
    // `service_interval` and per-second rows that add every service up, so nothing here would match.
    if let Some(info) = sim.services() {
        return Err(BacktestError::Usage(format!(
            "{}: backtest compares one service's observed series with the simulated ones, and this \
             scenario has {} services (services:, services_trace:, kserve: or revisions:) whose \
             per-second rows add them all up; backtest one service at a time (a scenario with that \
             service's sections at the top level and its own traffic)",
            loaded.path.display(),
            info.names.len()
        )));
    }
    let origin_ms = match origin_ms {
        Some(o) => o,
        None => traffic_origin_ms(loaded).ok_or_else(|| {
            BacktestError::Usage("the scenario's traffic is not a prometheus trace, so observed times cannot be aligned; give --origin UNIX_SECONDS".into())
        })??,
    };
    let mut replicas_obs: Option<Vec<(i64, f64)>> = None;
    let mut concurrency_obs = None;
    let mut requests_obs: Option<Vec<(i64, f64)>> = None;
    let mut histogram = None;
    for o in observed {
        match o.kind {
            ObservedKind::Replicas | ObservedKind::PodCount => {
                let agg = if o.kind == ObservedKind::PodCount {
                    Aggregate::Count
                } else {
                    Aggregate::Sum
                };
                replicas_obs = Some(read_aggregate(&o.path, &o.selector, agg)?);
            }
            ObservedKind::Concurrency => {
                concurrency_obs = Some(read_aggregate(&o.path, &o.selector, Aggregate::Sum)?)
            }
            ObservedKind::Requests => {
                requests_obs = Some(read_aggregate(&o.path, &o.selector, Aggregate::Sum)?)
            }
            ObservedKind::Latency => histogram = Some(read_histogram(&o.path, &o.selector)?),
        }
    }
    if observed.is_empty() {
        return Err(BacktestError::Usage(format!(
            "give at least one --observed KIND=FILE ({})",
            ObservedKind::NAMES
        )));
    }
    let total_s = sim.end().whole_secs();
    let span_ms = total_s as i64 * 1000;
    let rel_ns = |t_ms: i64| ((t_ms - origin_ms) * 1_000_000) as u64;
    // Step edges of the histogram snapshots inside the simulated span.
    let snapshots: Vec<&BucketSnapshot> = histogram
        .iter()
        .flatten()
        .filter(|s| s.t_ms >= origin_ms && s.t_ms - origin_ms <= span_ms)
        .collect();
    let edges: Vec<u64> = snapshots.iter().map(|s| rel_ns(s.t_ms)).collect();
    let mut latencies = StepLatencies::new(edges);
    let mut curves = SimCurves {
        ready: Vec::new(),
        in_flight: Vec::new(),
        arrivals: Vec::new(),
    };
    sim.run_with_log(&mut curves, &mut latencies)
        .map_err(|e| BacktestError::Sim(e.to_string()))?;

    let mut figures = Figures {
        simulated_requests: latencies.total,
        ..Figures::default()
    };
    let at_second = |t_ms: i64| -> Option<usize> {
        let s = (t_ms - origin_ms).div_euclid(1000);
        (s >= 0 && (s as usize) < curves.ready.len()).then_some(s as usize)
    };
    let mut replicas = Vec::new();
    if let Some(obs) = &replicas_obs {
        let step = infer_step_ms(obs).unwrap_or(60_000);
        let inside: Vec<(i64, f64, usize)> = obs
            .iter()
            .filter_map(|&(t, v)| at_second(t).map(|s| (t, v, s)))
            .collect();
        let (mut w_sum, mut abs_sum, mut signed_sum, mut obs_ps, mut sim_ps) =
            (0.0, 0.0, 0.0, 0.0, 0.0);
        for (i, &(t, v, s)) in inside.iter().enumerate() {
            let next = inside.get(i + 1).map_or(t + step, |n| n.0);
            let w = ((next - t).min(step)) as f64 / 1000.0;
            let sim = curves.ready[s] as f64;
            w_sum += w;
            abs_sum += (sim - v).abs() * w;
            signed_sum += (sim - v) * w;
            obs_ps += v * w;
            sim_ps += sim * w;
            replicas.push(((t - origin_ms) as f64 / 1000.0, v, sim));
        }
        figures.replicas_samples = inside.len();
        if w_sum > 0.0 {
            figures.compared_span_s = w_sum;
            figures.replicas_mae_time_weighted = Some(abs_sum / w_sum);
            figures.replicas_bias = Some(signed_sum / w_sum);
            figures.replicas_observed_mean = Some(obs_ps / w_sum);
            figures.replicas_simulated_mean = Some(sim_ps / w_sum);
            if obs_ps > 0.0 {
                figures.pod_seconds_rel_error_pct = Some(100.0 * (sim_ps - obs_ps) / obs_ps);
            }
        }
    }
    if let Some(obs) = &concurrency_obs {
        let diffs: Vec<f64> = obs
            .iter()
            .filter_map(|&(t, v)| at_second(t).map(|s| (curves.in_flight[s] as f64 - v).abs()))
            .collect();
        if !diffs.is_empty() {
            figures.concurrency_mae = Some(diffs.iter().sum::<f64>() / diffs.len() as f64);
        }
    }
    if let Some(obs) = &requests_obs {
        // The sample at t is the rate over [t, t + step), the reading used for replay.
        let step_s = (infer_step_ms(obs).unwrap_or(60_000) / 1000).max(1) as usize;
        let (mut n, mut o_sum, mut s_sum, mut abs) = (0.0, 0.0, 0.0, 0.0);
        for &(t, v) in obs {
            let Some(s) = at_second(t) else { continue };
            if s + step_s > curves.arrivals.len() {
                continue;
            }
            let sim = curves.arrivals[s..s + step_s].iter().sum::<u64>() as f64 / step_s as f64;
            n += 1.0;
            o_sum += v;
            s_sum += sim;
            abs += (sim - v).abs();
        }
        if n > 0.0 {
            figures.request_rate_observed_mean = Some(o_sum / n);
            figures.request_rate_simulated_mean = Some(s_sum / n);
            figures.request_rate_mae = Some(abs / n);
        }
    }
    let mut p99 = Vec::new();
    if snapshots.len() >= 2 {
        let first = snapshots[0];
        let mut total = first.buckets.iter().map(|b| (b.0, 0.0)).collect::<Vec<_>>();
        let mut step_errors = Vec::new();
        for (k, pair) in snapshots.windows(2).enumerate() {
            let inc = bucket_increase(pair[0], pair[1]);
            for (slot, (le, n)) in total.iter_mut().zip(inc.iter()) {
                debug_assert_eq!(slot.0, *le);
                slot.1 += n;
            }
            let obs = bucket_quantile(0.99, &inc).map(|s| s * 1000.0);
            let h = &latencies.per_step[k];
            let sim = (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0);
            if let (Some(o), Some(s)) = (obs, sim) {
                p99.push(((pair[1].t_ms - origin_ms) as f64 / 1000.0, o, s));
                if o > 0.0 {
                    step_errors.push(100.0 * (s - o).abs() / o);
                }
            }
        }
        figures.latency_observed_p50_ms = bucket_quantile(0.5, &total).map(|s| s * 1000.0);
        figures.latency_observed_p99_ms = bucket_quantile(0.99, &total).map(|s| s * 1000.0);
        let h = &latencies.overall;
        if !h.is_empty() {
            figures.latency_simulated_p50_ms = Some(h.value_at_quantile(0.5) as f64 / 1000.0);
            figures.latency_simulated_p99_ms = Some(h.value_at_quantile(0.99) as f64 / 1000.0);
        }
        if let (Some(o), Some(s)) = (
            figures.latency_observed_p99_ms,
            figures.latency_simulated_p99_ms,
        ) {
            if o > 0.0 {
                figures.latency_p99_rel_error_pct = Some(100.0 * (s - o) / o);
            }
        }
        if !step_errors.is_empty() {
            step_errors.sort_by(f64::total_cmp);
            figures.latency_step_p99_median_abs_rel_error_pct =
                Some(step_errors[step_errors.len() / 2]);
        }
    }
    Ok(Backtest {
        figures,
        replicas,
        p99,
    })
}

impl Backtest {
    /// The figures as aligned text lines.
    pub fn text(&self) -> String {
        let f = &self.figures;
        let mut out = String::new();
        let mut line = |label: &str, value: Option<f64>, unit: &str| {
            if let Some(v) = value {
                let _ = writeln!(out, "{label:<42} {v:>10.2} {unit}");
            }
        };
        line(
            "compared span",
            (f.compared_span_s > 0.0).then_some(f.compared_span_s),
            "s",
        );
        line("replicas: observed mean", f.replicas_observed_mean, "pods");
        line(
            "replicas: simulated mean",
            f.replicas_simulated_mean,
            "pods",
        );
        line(
            "replicas: time-weighted mean |sim - obs|",
            f.replicas_mae_time_weighted,
            "pods",
        );
        line("replicas: bias (sim - obs)", f.replicas_bias, "pods");
        line("pod-seconds error", f.pod_seconds_rel_error_pct, "%");
        line("latency p50: observed", f.latency_observed_p50_ms, "ms");
        line("latency p50: simulated", f.latency_simulated_p50_ms, "ms");
        line("latency p99: observed", f.latency_observed_p99_ms, "ms");
        line("latency p99: simulated", f.latency_simulated_p99_ms, "ms");
        line("latency p99 error", f.latency_p99_rel_error_pct, "%");
        line(
            "per-step p99: median |error|",
            f.latency_step_p99_median_abs_rel_error_pct,
            "%",
        );
        line(
            "concurrency: mean |sim - obs|",
            f.concurrency_mae,
            "requests",
        );
        line(
            "request rate: observed mean",
            f.request_rate_observed_mean,
            "req/s",
        );
        line(
            "request rate: simulated mean",
            f.request_rate_simulated_mean,
            "req/s",
        );
        line(
            "request rate: mean |sim - obs| per step",
            f.request_rate_mae,
            "req/s",
        );
        line("simulated requests", Some(f.simulated_requests as f64), "");
        out
    }

    /// Writes `backtest.json`, `backtest_replicas.csv`, `backtest_p99.csv` and the overlaid SVG plots.
    pub fn write(&self, out: &Path) -> Result<Vec<PathBuf>, BacktestError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| BacktestError::Io { path, source }
        };
        std::fs::create_dir_all(out).map_err(io(out))?;
        let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        let json = serde_json::to_string_pretty(&self.figures).expect("plain struct") + "\n";
        files.push((out.join("backtest.json"), json.into_bytes()));
        let mut csv = String::from("time_s,observed_pods,simulated_pods\n");
        for (t, o, s) in &self.replicas {
            let _ = writeln!(csv, "{t:.3},{o},{s}");
        }
        files.push((out.join("backtest_replicas.csv"), csv.into_bytes()));
        let mut csv = String::from("time_s,observed_p99_ms,simulated_p99_ms\n");
        for (t, o, s) in &self.p99 {
            let _ = writeln!(csv, "{t:.3},{o:.3},{s:.3}");
        }
        files.push((out.join("backtest_p99.csv"), csv.into_bytes()));
        if !self.replicas.is_empty() {
            files.push((
                out.join("backtest_replicas.svg"),
                plot::overlay_svg(
                    "Ready replicas: observed vs simulated",
                    "pods",
                    &self.replicas,
                )
                .into_bytes(),
            ));
        }
        if !self.p99.is_empty() {
            files.push((
                out.join("backtest_p99.svg"),
                plot::overlay_svg(
                    "p99 latency per step: observed vs simulated",
                    "ms",
                    &self.p99,
                )
                .into_bytes(),
            ));
        }
        let mut written = Vec::new();
        for (path, bytes) in files {
            crate::report::write_atomic(&path, &bytes).map_err(io(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}
