//! `results.csv` (one row per run) and `points.csv` (one row per point: mean and 95 % confidence interval
//! across seeds), written and read back.
//!
//! Determinism: every figure is rounded to 6 decimals when a row is made, and Rust prints an `f64` with
//! the shortest text that reads back to the same value, so a row read from `results.csv` holds exactly the
//! values it was written from. `points.csv` is always computed from such rows in run order, so a merged set
//! of shards gives the same bytes as one unsharded sweep. Wall time is not in either file.

use super::SweepError;
use crate::observe::output::round6;
use crate::observe::output::RunSummary;
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::path::Path;

/// The figures of one run, in `results.csv` column order.
pub const METRICS: &[&str] = &[
    "requests",
    "failures",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "pod_seconds",
    "max_ready",
    "mean_ready",
    "cold_starts",
    "cold_start_affected_pct",
    "scale_events",
    "panic_seconds",
    "events",
    "cost",
    "slo_attainment",
    "error_rate_5xx",
];

/// File names in a sweep output directory.
pub const RESULTS_FILE: &str = "results.csv";
/// See [`RESULTS_FILE`].
pub const POINTS_FILE: &str = "points.csv";

/// One run's row.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    pub run: u64,
    pub point: u64,
    /// Axis values as labels, in axis order.
    pub axes: Vec<String>,
    pub seed: u64,
    /// Values of [`METRICS`], rounded to 6 decimals.
    pub metrics: Vec<f64>,
}

/// The [`METRICS`] of a summary, rounded.
pub fn metrics_of(s: &RunSummary) -> Vec<f64> {
    let total = s.requests.total;
    let cold_pct = if total == 0 {
        0.0
    } else {
        100.0 * s.requests.cold_start_affected as f64 / total as f64
    };
    [
        total as f64,
        s.requests.failed as f64,
        s.latency_ms.mean,
        s.latency_ms.p50,
        s.latency_ms.p95,
        s.latency_ms.p99,
        s.latency_ms.max,
        s.pod_seconds,
        f64::from(s.replicas.max_ready),
        s.replicas.mean_ready,
        s.cold_starts as f64,
        cold_pct,
        s.scale_events as f64,
        s.panic_seconds,
        s.events_processed as f64,
        s.cluster.cost.as_ref().map_or(0.0, |c| c.total),
        s.slo.as_ref().map_or(0.0, |slo| slo.attainment),
        error_rate_5xx(s),
    ]
    .into_iter()
    .map(|v| if v.is_finite() { round6(v) } else { 0.0 })
    .collect()
}

/// Share of the run's requests answered with a 5xx status (timeouts, overload, errors); 0 without requests.
pub fn error_rate_5xx(s: &RunSummary) -> f64 {
    let total = s.requests.total;
    if total == 0 {
        return 0.0;
    }
    let fives: u64 = s
        .status_codes
        .iter()
        .filter(|(code, _)| code.starts_with('5') && code.len() == 3)
        .map(|(_, n)| n)
        .sum();
    fives as f64 / total as f64
}

/// Header of `results.csv`.
pub fn results_header(axis_paths: &[String]) -> Vec<String> {
    let mut h = vec!["run".to_string(), "point".to_string()];
    h.extend(axis_paths.iter().cloned());
    h.push("seed".into());
    h.extend(METRICS.iter().map(|m| m.to_string()));
    h
}

fn csv_bytes(header: &[String], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(&r);
    }
    w.into_inner().unwrap_or_default()
}

/// `results.csv` content for rows already sorted by run index.
pub fn results_csv(axis_paths: &[String], rows: &[RunRow]) -> Vec<u8> {
    csv_bytes(
        &results_header(axis_paths),
        rows.iter().map(|r| {
            let mut rec = vec![r.run.to_string(), r.point.to_string()];
            rec.extend(r.axes.iter().cloned());
            rec.push(r.seed.to_string());
            rec.extend(r.metrics.iter().map(|v| v.to_string()));
            rec
        }),
    )
}

/// Reads `results.csv`: the axis paths (columns between `point` and `seed`) and the rows.
pub fn read_results(path: &Path) -> Result<(Vec<String>, Vec<RunRow>), SweepError> {
    let bad = |line: u64, message: String| SweepError::Malformed {
        path: path.to_path_buf(),
        line,
        message,
    };
    let text = std::fs::read(path).map_err(|e| SweepError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_slice());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let n = header.len();
    let ok = n >= 3 + METRICS.len()
        && header[0] == "run"
        && header[1] == "point"
        && header[n - METRICS.len() - 1] == "seed"
        && header[n - METRICS.len()..]
            .iter()
            .zip(METRICS)
            .all(|(a, b)| a == b);
    if !ok {
        return Err(bad(
            1,
            format!(
                "not a podscale results.csv header; expected run, point, <axes>, seed, {}",
                METRICS.join(", ")
            ),
        ));
    }
    let axes: Vec<String> = header[2..n - METRICS.len() - 1].to_vec();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let rec = rec.map_err(|e| bad(line, e.to_string()))?;
        if rec.len() != n {
            return Err(bad(line, format!("{} fields, expected {n}", rec.len())));
        }
        let int = |j: usize| -> Result<u64, SweepError> {
            rec[j].parse().map_err(|_| {
                bad(
                    line,
                    format!("{}: \"{}\" is not a whole number", header[j], &rec[j]),
                )
            })
        };
        let mut metrics = Vec::with_capacity(METRICS.len());
        for j in n - METRICS.len()..n {
            let v: f64 = rec[j].parse().map_err(|_| {
                bad(
                    line,
                    format!("{}: \"{}\" is not a number", header[j], &rec[j]),
                )
            })?;
            metrics.push(v);
        }
        rows.push(RunRow {
            run: int(0)?,
            point: int(1)?,
            axes: (2..2 + axes.len()).map(|j| rec[j].to_string()).collect(),
            seed: int(n - METRICS.len() - 1)?,
            metrics,
        });
    }
    Ok((axes, rows))
}

/// Aggregated figures of one point.
#[derive(Clone, Debug, PartialEq)]
pub struct PointStats {
    pub point: u64,
    pub axes: Vec<String>,
    pub runs: u64,
    pub mean: Vec<f64>,
    /// Half-width of the 95 % confidence interval of the mean (Student t, n - 1 degrees of freedom);
    /// `None` with a single run.
    pub ci95: Vec<Option<f64>>,
}

impl PointStats {
    /// Mean of a metric by name.
    pub fn mean_of(&self, metric: &str) -> Option<f64> {
        METRICS
            .iter()
            .position(|m| *m == metric)
            .map(|i| self.mean[i])
    }
    /// Confidence half-width of a metric by name.
    pub fn ci_of(&self, metric: &str) -> Option<f64> {
        METRICS
            .iter()
            .position(|m| *m == metric)
            .and_then(|i| self.ci95[i])
    }
}

/// Groups rows (sorted by run) by point, in point order.
pub fn aggregate(rows: &[RunRow]) -> Vec<PointStats> {
    let mut sorted: Vec<&RunRow> = rows.iter().collect();
    sorted.sort_by_key(|r| r.run);
    let mut groups: std::collections::BTreeMap<u64, Vec<&RunRow>> = Default::default();
    for r in sorted {
        groups.entry(r.point).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(point, rs)| {
            let n = rs.len();
            let t = if n >= 2 {
                StudentsT::new(0.0, 1.0, (n - 1) as f64)
                    .map(|d| d.inverse_cdf(0.975))
                    .ok()
            } else {
                None
            };
            let mut mean = Vec::with_capacity(METRICS.len());
            let mut ci95 = Vec::with_capacity(METRICS.len());
            for m in 0..METRICS.len() {
                let mu = rs.iter().map(|r| r.metrics[m]).sum::<f64>() / n as f64;
                mean.push(round6(mu));
                ci95.push(t.map(|t| {
                    let var = rs.iter().map(|r| (r.metrics[m] - mu).powi(2)).sum::<f64>()
                        / (n - 1) as f64;
                    round6(t * (var / n as f64).sqrt())
                }));
            }
            PointStats {
                point,
                axes: rs[0].axes.clone(),
                runs: n as u64,
                mean,
                ci95,
            }
        })
        .collect()
}

/// `points.csv` content.
pub fn points_csv(axis_paths: &[String], points: &[PointStats]) -> Vec<u8> {
    let mut header = vec!["point".to_string()];
    header.extend(axis_paths.iter().cloned());
    header.push("runs".into());
    for m in METRICS {
        header.push(format!("{m}_mean"));
        header.push(format!("{m}_ci95"));
    }
    csv_bytes(
        &header,
        points.iter().map(|p| {
            let mut rec = vec![p.point.to_string()];
            rec.extend(p.axes.iter().cloned());
            rec.push(p.runs.to_string());
            for (m, c) in p.mean.iter().zip(&p.ci95) {
                rec.push(m.to_string());
                rec.push(c.map(|c| c.to_string()).unwrap_or_default());
            }
            rec
        }),
    )
}
