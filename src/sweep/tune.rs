//! Tuning over a finished sweep: the feasible point that minimizes the objective, and the Pareto frontier of
//! cost (pod-seconds) against tail latency (p99), with the settings printed as Knative takes them.
//!
//! Choices: constraints are checked on the mean across seeds (the 95 % interval is printed beside it, so a
//! reader can see how close a point is to a bound); the objective's direction and the tie-break (cost when
//! the scenario has prices, else pod-seconds, then the lower point index) are in [`super::objective`]. The
//! frontier is over every point, feasible or not, minimizing both pod-seconds and p99 latency.

use super::results::{PointStats, METRICS};
use super::spec::Objective;
use super::SweepError;
use crate::report::{write_atomic, ParetoChart, ParetoPoint};
use crate::scenario::locate::{split_path, Segment};
use std::fmt::Write;
use std::path::Path;

/// Cost axis of the frontier.
pub const COST: &str = "pod_seconds";
/// Latency axis of the frontier.
pub const TAIL: &str = "latency_p99_ms";

/// The outcome of tuning.
#[derive(Clone, Debug)]
pub struct TuneReport {
    pub sweep: String,
    pub axes: Vec<String>,
    pub objective: Objective,
    pub points: Vec<PointStats>,
    /// Indices into `points` of the feasible points, best first.
    pub feasible: Vec<usize>,
    /// Indices into `points` of the Pareto frontier, by increasing cost.
    pub frontier: Vec<usize>,
    /// The tie-break metric: `cost` when priced, else `pod_seconds`.
    pub tie: &'static str,
}

fn metric(p: &PointStats, m: &str) -> f64 {
    p.mean_of(m).unwrap_or(f64::NAN)
}

/// Ranks the points of a sweep against `objective`.
pub fn tune(
    sweep: &str,
    axes: Vec<String>,
    points: Vec<PointStats>,
    objective: Objective,
) -> TuneReport {
    let mut feasible: Vec<usize> = (0..points.len())
        .filter(|&i| {
            objective
                .constraints
                .iter()
                .all(|c| c.holds(metric(&points[i], &c.metric)))
        })
        .collect();
    let tie = super::objective::tie_metric(&points);
    feasible.sort_by(|&a, &b| {
        super::objective::compare(&points[a], &points[b], &objective, tie).then(a.cmp(&b))
    });
    let mut by_cost: Vec<usize> = (0..points.len()).collect();
    by_cost.sort_by(|&a, &b| {
        metric(&points[a], COST)
            .total_cmp(&metric(&points[b], COST))
            .then(metric(&points[a], TAIL).total_cmp(&metric(&points[b], TAIL)))
            .then(a.cmp(&b))
    });
    let mut frontier = Vec::new();
    let mut best_tail = f64::INFINITY;
    for i in by_cost {
        let t = metric(&points[i], TAIL);
        if t < best_tail {
            best_tail = t;
            frontier.push(i);
        }
    }
    TuneReport {
        sweep: sweep.to_string(),
        axes,
        objective,
        points,
        feasible,
        frontier,
        tie,
    }
}

/// Per-revision annotation (without the `autoscaling.knative.dev/` prefix) for a `config-autoscaler` key.
pub(crate) fn annotation_for(config_key: &str) -> Option<&'static str> {
    Some(match config_key {
        "stable-window" => "window",
        "container-concurrency-target-percentage" => "target-utilization-percentage",
        "container-concurrency-target-default" | "requests-per-second-target-default" => "target",
        "target-burst-capacity" => "target-burst-capacity",
        "panic-window-percentage" => "panic-window-percentage",
        "panic-threshold-percentage" => "panic-threshold-percentage",
        "scale-down-delay" => "scale-down-delay",
        "scale-to-zero-pod-retention-period" => "scale-to-zero-pod-retention-period",
        "initial-scale" => "initial-scale",
        "min-scale" => "min-scale",
        "max-scale" => "max-scale",
        _ => return None,
    })
}

/// Where an axis lands in Kubernetes terms.
enum Setting {
    ConfigMap(String),
    Annotation(String),
    Other,
}

fn classify(path: &str) -> Setting {
    let segs = split_path(path);
    let key = |i: usize| match segs.get(i) {
        Some(Segment::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    match (key(0), key(1), key(2), segs.len()) {
        (Some("autoscaler"), Some("config"), Some(k), 3) => Setting::ConfigMap(k.to_string()),
        (Some("service"), Some("annotations"), Some(k), 3) => Setting::Annotation(k.to_string()),
        _ => Setting::Other,
    }
}

fn figure(p: &PointStats, m: &str) -> String {
    let mean = metric(p, m);
    match p.ci_of(m) {
        Some(ci) => format!("{m} {} ± {}", short(mean), short(ci)),
        None => format!("{m} {}", short(mean)),
    }
}

/// A number with at most 3 decimals, for reading.
fn short(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0 + 0.0;
    r.to_string()
}

impl TuneReport {
    /// The best feasible point, if any.
    pub fn best(&self) -> Option<&PointStats> {
        self.feasible.first().map(|&i| &self.points[i])
    }

    fn describe_point(&self, p: &PointStats) -> String {
        let settings: Vec<String> = self
            .axes
            .iter()
            .zip(&p.axes)
            .map(|(a, v)| format!("{a}={v}"))
            .collect();
        settings.join(", ")
    }

    /// The settings of a point as a user would write them in Kubernetes.
    pub fn settings_text(&self, p: &PointStats) -> String {
        let mut config = String::new();
        let mut annotations = String::new();
        let mut no_annotation = Vec::new();
        let mut other = String::new();
        for (path, value) in self.axes.iter().zip(&p.axes) {
            match classify(path) {
                Setting::ConfigMap(k) => {
                    let _ = writeln!(config, "    {k}: \"{value}\"");
                    match annotation_for(&k) {
                        Some(a) => {
                            let _ = writeln!(
                                annotations,
                                "    autoscaling.knative.dev/{a}: \"{value}\""
                            );
                        }
                        None => no_annotation.push(k),
                    }
                }
                Setting::Annotation(k) => {
                    let _ = writeln!(annotations, "    {k}: \"{value}\"");
                }
                Setting::Other => {
                    let _ = writeln!(other, "    {path}: {value}");
                }
            }
        }
        let mut out = String::new();
        if !config.is_empty() {
            let _ = writeln!(out, "  config-autoscaler ConfigMap (data):\n{config}");
        }
        if !annotations.is_empty() {
            let _ = write!(
                out,
                "  or per revision (metadata.annotations of the InferenceService / Knative Service):\n{annotations}"
            );
            if !no_annotation.is_empty() {
                let _ = writeln!(
                    out,
                    "    ({} {} cluster-wide only: no per-revision annotation)",
                    no_annotation.join(", "),
                    if no_annotation.len() == 1 {
                        "is"
                    } else {
                        "are"
                    }
                );
            }
            out.push('\n');
        }
        if !other.is_empty() {
            let _ = writeln!(out, "  scenario values:\n{other}");
        }
        out
    }

    /// The printed answer: objective, best configurations, settings to apply, the frontier.
    pub fn text(&self, top: usize) -> String {
        let mut out = String::new();
        let o = &self.objective;
        let constraints: Vec<String> = o.constraints.iter().map(|c| c.to_string()).collect();
        let _ = writeln!(
            out,
            "Tuning `{}`: {} subject to {} (means across seeds; ± is the 95% interval); {}",
            self.sweep,
            o.goal(),
            if constraints.is_empty() {
                "no constraints".to_string()
            } else {
                constraints.join(", ")
            },
            super::objective::tie_rule(self.tie)
        );
        let _ = writeln!(
            out,
            "{} of {} points feasible.\n",
            self.feasible.len(),
            self.points.len()
        );
        let mut shown: Vec<&str> = vec![o.metric.as_str(), TAIL];
        for c in &o.constraints {
            if !shown.contains(&c.metric.as_str()) {
                shown.push(&c.metric);
            }
        }
        if !shown.contains(&COST) {
            shown.push(COST);
        }
        if !shown.contains(&self.tie) {
            shown.push(self.tie);
        }
        match self.best() {
            None => {
                let _ = writeln!(
                    out,
                    "No point meets every constraint. Closest on the frontier (cost vs p99) below; relax a bound or widen the axes."
                );
            }
            Some(best) => {
                let _ = writeln!(out, "Best configurations:");
                for (rank, &i) in self.feasible.iter().take(top).enumerate() {
                    let p = &self.points[i];
                    let figs: Vec<String> = shown.iter().map(|m| figure(p, m)).collect();
                    let _ = writeln!(
                        out,
                        "  {}. point {}: {}\n     {}",
                        rank + 1,
                        p.point,
                        self.describe_point(p),
                        figs.join(", ")
                    );
                }
                let _ = writeln!(out, "\nSet (point {}, {} seeds):", best.point, best.runs);
                out.push_str(&self.settings_text(best));
            }
        }
        let _ = writeln!(
            out,
            "Pareto frontier, pod-seconds vs p99 latency ({} points):",
            self.frontier.len()
        );
        for &i in &self.frontier {
            let p = &self.points[i];
            let mark = if self.feasible.contains(&i) {
                ""
            } else {
                " (infeasible)"
            };
            let _ = writeln!(
                out,
                "  pod_seconds {:>12}  p99 {:>10} ms  {}{mark}",
                short(metric(p, COST)),
                short(metric(p, TAIL)),
                self.describe_point(p)
            );
        }
        out
    }

    /// `pareto.csv`: the frontier points with their axes and means.
    pub fn pareto_csv(&self) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let mut header = vec!["point".to_string()];
        header.extend(self.axes.iter().cloned());
        header.extend(["feasible".to_string()]);
        header.extend(METRICS.iter().map(|m| format!("{m}_mean")));
        let _ = w.write_record(&header);
        for &i in &self.frontier {
            let p = &self.points[i];
            let mut rec = vec![p.point.to_string()];
            rec.extend(p.axes.iter().cloned());
            rec.push(self.feasible.contains(&i).to_string());
            rec.extend(p.mean.iter().map(|v| v.to_string()));
            let _ = w.write_record(&rec);
        }
        w.into_inner().unwrap_or_default()
    }

    /// Writes `tune.txt`, `pareto.csv`, `pareto.png` and `pareto.svg` into `out`.
    pub fn write(&self, out: &Path, top: usize) -> Result<(), SweepError> {
        let io = |path: &Path, e: std::io::Error| SweepError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
        let p = out.join("tune.txt");
        write_atomic(&p, self.text(top).as_bytes()).map_err(|e| io(&p, e))?;
        let p = out.join("pareto.csv");
        write_atomic(&p, &self.pareto_csv()).map_err(|e| io(&p, e))?;
        let chart = ParetoChart {
            title: format!(
                "{}: cost vs tail latency ({} points)",
                self.sweep,
                self.points.len()
            ),
            x_label: "pod-seconds (mean across seeds)".into(),
            y_label: "p99 latency, ms (mean across seeds)".into(),
            points: self
                .points
                .iter()
                .enumerate()
                .map(|(i, p)| ParetoPoint {
                    x: metric(p, COST),
                    y: metric(p, TAIL),
                    feasible: self.feasible.contains(&i),
                    frontier: self.frontier.contains(&i),
                    best: self.feasible.first() == Some(&i),
                })
                .collect(),
            y_bound: self
                .objective
                .constraints
                .iter()
                .find(|c| c.metric == TAIL && c.at_most)
                .map(|c| c.bound),
        };
        crate::report::write_pareto_plot(&chart, out)
            .map_err(|e| SweepError::Usage(e.to_string()))?;
        Ok(())
    }
}
