//! The chosen point checked across several recorded days: the tuned configuration and the baseline (the
//! base scenario with the sweep's fixed `set:` only, i.e. the configuration in use today) are re-run on
//! each day's traffic with every seed of the sweep, and a table says, per day, the objective and whether
//! each constraint holds (on the mean across seeds, as in tuning).
//!
//! A day is a set of overrides applied on top of the point's: in the sweep file
//!
//! ```yaml
//! check:
//!   - {name: "00-20m", set: {traffic.window: {from: 0s, to: 20m}, duration: 20m}}
//!   - ../traces/tuesday.csv          # shorthand: traffic.path, relative to the sweep file
//! ```
//!
//! or `tune --check-days a.csv,b.csv` (trace files relative to the working directory, which replace the
//! sweep file's list). The days share everything else with the sweep, the sweep's `set:` included (trace
//! format, a `traffic.window`, the duration, the service and autoscaler).

use super::objective::key;
use super::results::{aggregate, metrics_of, PointStats, RunRow};
use super::spec::{override_text, yaml_text, Objective, SweepSpec};
use super::SweepError;
use crate::observe::output::NoTimeseries;
use rayon::prelude::*;
use serde_yaml::Value;
use std::fmt::Write;
use std::path::Path;

/// One recorded day (or window) to check on.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckDay {
    pub name: String,
    /// `path=value` overrides, applied after the point's.
    pub overrides: Vec<String>,
}

impl CheckDay {
    /// A trace file: `traffic.path=FILE`, named by the file stem. The path is made absolute (from the
    /// working directory), because the scenario would read a relative one from its own folder.
    pub fn trace_file(path: &Path) -> CheckDay {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let path = path.as_path();
        CheckDay {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            overrides: vec![format!(
                "traffic.path={}",
                override_text(&Value::String(path.display().to_string())).0
            )],
        }
    }
}

/// Parses `check:` of a sweep file (`dir` is the sweep file's folder, for trace paths).
pub fn parse_days(v: &Value, dir: &Path) -> Result<Vec<CheckDay>, (String, String)> {
    const FORM: &str = "a list of trace files or `{name: NAME, set: {path: value, ...}}` maps";
    let Value::Sequence(items) = v else {
        return Err((
            "check".into(),
            format!("must be {FORM}, got {}", yaml_text(v)),
        ));
    };
    let mut days = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("check[{i}]");
        match item {
            Value::String(s) if !s.trim().is_empty() => {
                days.push(CheckDay::trace_file(&dir.join(s)))
            }
            Value::Mapping(m) => {
                for k in m.keys() {
                    if !matches!(k.as_str(), Some("name" | "set")) {
                        return Err((
                            format!("{at}.{}", k.as_str().unwrap_or("?")),
                            "unknown key; allowed: name, set".into(),
                        ));
                    }
                }
                let name = match m.get("name") {
                    Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    other => {
                        return Err((
                            format!("{at}.name"),
                            format!(
                                "is required: a label for the day, got {}",
                                other.map(yaml_text).unwrap_or_else(|| "nothing".into())
                            ),
                        ))
                    }
                };
                let Some(Value::Mapping(set)) = m.get("set") else {
                    return Err((
                        format!("{at}.set"),
                        "is required: a map of dotted scenario paths to values, e.g. \
                         `{traffic.window: {from: 0s, to: 20m}}`"
                            .into(),
                    ));
                };
                let mut overrides = Vec::new();
                for (k, v) in set {
                    let Some(k) = k.as_str() else {
                        return Err((
                            format!("{at}.set"),
                            format!("keys must be dotted paths, got {}", yaml_text(k)),
                        ));
                    };
                    overrides.push(format!("{k}={}", override_text(v).0));
                }
                days.push(CheckDay { name, overrides });
            }
            other => return Err((at, format!("must be {FORM}, got {}", yaml_text(other)))),
        }
    }
    if days.is_empty() {
        return Err(("check".into(), format!("is empty; give {FORM}")));
    }
    Ok(days)
}

/// Figures of the chosen point and the baseline on each day.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub objective: Objective,
    pub chosen_point: u64,
    pub days: Vec<CheckDay>,
    /// Per day: (chosen, baseline), means across seeds.
    pub results: Vec<(PointStats, PointStats)>,
}

/// Runs `point` and the baseline on every day of `days`, every seed, on the current rayon pool.
pub fn run(
    spec: &SweepSpec,
    point: u64,
    days: &[CheckDay],
    objective: &Objective,
) -> Result<CheckReport, SweepError> {
    // Job j: day j / 2; even j is the chosen point, odd j the baseline.
    let jobs: Vec<(usize, u64, usize)> = (0..days.len() * 2)
        .flat_map(|j| (0..spec.seeds.len()).map(move |s| (j, s as u64, s)))
        .collect();
    let rows: Result<Vec<RunRow>, SweepError> = jobs
        .par_iter()
        .map(|&(j, run, seed_index)| {
            let day = &days[j / 2];
            let mut overrides = if j % 2 == 0 {
                spec.point_overrides(point)
            } else {
                spec.fixed.clone()
            };
            overrides.extend(day.overrides.iter().cloned());
            let seed = spec.seeds[seed_index];
            let fail = |message: String| {
                SweepError::Usage(format!(
                    "check day `{}` ({}, seed {seed}, {}): {message}",
                    day.name,
                    if j % 2 == 0 {
                        "chosen point"
                    } else {
                        "baseline"
                    },
                    overrides.join(" ")
                ))
            };
            let summary = super::build(spec, &overrides, Some(seed))
                .and_then(|sim| sim.run(&mut NoTimeseries))
                .map_err(|e| fail(e.to_string()))?;
            Ok(RunRow {
                run: j as u64 * spec.seeds.len() as u64 + run,
                point: j as u64,
                axes: Vec::new(),
                seed,
                metrics: metrics_of(&summary),
            })
        })
        .collect();
    let stats = aggregate(&rows?);
    let results = stats
        .chunks(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    Ok(CheckReport {
        objective: objective.clone(),
        chosen_point: point,
        days: days.to_vec(),
        results,
    })
}

fn short(v: f64) -> String {
    let r = (v * 1000.0).round() / 1000.0 + 0.0;
    r.to_string()
}

impl CheckReport {
    /// The metrics shown: the objective, each constrained metric once, pod-seconds, and cost when priced.
    fn columns(&self) -> Vec<String> {
        let mut cols = vec![self.objective.metric.clone()];
        let priced = self
            .results
            .iter()
            .any(|(c, b)| c.mean_of("cost") > Some(0.0) || b.mean_of("cost") > Some(0.0));
        let extra = self
            .objective
            .constraints
            .iter()
            .map(|c| c.metric.as_str())
            .chain(["pod_seconds"])
            .chain(priced.then_some("cost"));
        for m in extra {
            if !cols.iter().any(|c| c == m) {
                cols.push(m.to_string());
            }
        }
        cols
    }

    /// The constraints a point misses, as text ("" when it meets them all).
    fn missed(&self, p: &PointStats) -> Vec<String> {
        self.objective
            .constraints
            .iter()
            .filter(|c| !c.holds(p.mean_of(&c.metric).unwrap_or(f64::NAN)))
            .map(|c| c.to_string())
            .collect()
    }

    /// Days on which the chosen point meets every constraint.
    pub fn days_met(&self) -> usize {
        self.results
            .iter()
            .filter(|(c, _)| self.missed(c).is_empty())
            .count()
    }

    /// Days on which the chosen point is at least as good as the baseline on the objective.
    pub fn days_not_worse(&self) -> usize {
        self.results
            .iter()
            .filter(|(c, b)| key(c, &self.objective) <= key(b, &self.objective))
            .count()
    }

    /// The printed table.
    pub fn text(&self) -> String {
        let cols = self.columns();
        let mut out = String::new();
        let seeds = self.results.first().map_or(0, |r| r.0.runs);
        let _ = writeln!(
            out,
            "Check on {} recorded periods (days, or windows of one recording): point {} (chosen) vs baseline (the base scenario with the sweep's `set:` only); means over {seeds} seeds",
            self.days.len(),
            self.chosen_point
        );
        let name_w = self
            .days
            .iter()
            .map(|d| d.name.len())
            .max()
            .unwrap_or(3)
            .max(3);
        let mut header = format!("  {:<name_w$}  {:<8}", "day", "config");
        for c in &cols {
            let _ = write!(header, "  {c:>w$}", w = c.len().max(10));
        }
        header.push_str("  constraints");
        let _ = writeln!(out, "{header}");
        for (day, (chosen, base)) in self.days.iter().zip(&self.results) {
            for (label, p) in [("chosen", chosen), ("baseline", base)] {
                let mut line = format!("  {:<name_w$}  {label:<8}", day.name);
                for c in &cols {
                    let v = p.mean_of(c).unwrap_or(f64::NAN);
                    let _ = write!(line, "  {:>w$}", short(v), w = c.len().max(10));
                }
                let missed = self.missed(p);
                if self.objective.constraints.is_empty() {
                    line.push_str("  (none)");
                } else if missed.is_empty() {
                    line.push_str("  met");
                } else {
                    let _ = write!(line, "  NOT met: {}", missed.join(", "));
                }
                let _ = writeln!(out, "{line}");
            }
        }
        let _ = writeln!(
            out,
            "Chosen point meets every constraint on {} of {} periods; its {} is at least as good as the baseline's on {} of {}.",
            self.days_met(),
            self.days.len(),
            self.objective.metric,
            self.days_not_worse(),
            self.days.len()
        );
        out
    }

    /// `check.csv`: one row per day and configuration.
    pub fn csv(&self) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let cols = self.columns();
        let mut header = vec!["day".to_string(), "config".to_string()];
        header.extend(cols.iter().map(|c| format!("{c}_mean")));
        header.push("constraints_met".into());
        let _ = w.write_record(&header);
        for (day, (chosen, base)) in self.days.iter().zip(&self.results) {
            for (label, p) in [("chosen", chosen), ("baseline", base)] {
                let mut rec = vec![day.name.clone(), label.to_string()];
                rec.extend(
                    cols.iter()
                        .map(|c| p.mean_of(c).unwrap_or(f64::NAN).to_string()),
                );
                rec.push(self.missed(p).is_empty().to_string());
                let _ = w.write_record(&rec);
            }
        }
        w.into_inner().unwrap_or_default()
    }
}
