//! How `tune` and the adaptive search order points: the objective's direction, the tie-break, and the
//! inputs an objective needs from the scenario.
//!
//! Rules:
//! - `slo_attainment` is maximized by default (`--objective slo_attainment`), every other metric minimized;
//!   a sweep file can say `maximize:` or `minimize:` explicitly.
//! - Points equal on the objective go to the lower **cost** when the sweep's scenario has prices (some point
//!   has a non-zero `cost`), otherwise to fewer **pod-seconds**; then to the lower point index. Everything is
//!   compared on means across seeds.
//! - `cost` needs `cluster.node_pools[].price_per_hour` (or `gpu_price_per_hour`) and `slo_attainment`
//!   needs `output.slo`: without them the column is 0 in every run, so asking for either is an error
//!   naming the missing key rather than a silent tie.

use super::results::PointStats;
use super::spec::Objective;
use super::{SweepError, SweepSpec};
use std::cmp::Ordering;

/// Metrics for which a higher value is better.
pub const HIGHER_IS_BETTER: &[&str] = &["slo_attainment"];

/// True for metrics maximized by default.
pub fn higher_is_better(metric: &str) -> bool {
    HIGHER_IS_BETTER.contains(&metric)
}

fn mean(p: &PointStats, m: &str) -> f64 {
    p.mean_of(m).unwrap_or(f64::NAN)
}

/// The tie-break metric for these points: `cost` when any point has a cost, else `pod_seconds`.
pub fn tie_metric(points: &[PointStats]) -> &'static str {
    if points.iter().any(|p| mean(p, "cost") > 0.0) {
        "cost"
    } else {
        "pod_seconds"
    }
}

/// The objective value as a key where lower is better (NaN last).
pub fn key(p: &PointStats, objective: &Objective) -> f64 {
    let v = mean(p, &objective.metric);
    if v.is_nan() {
        f64::INFINITY
    } else if objective.maximize {
        -v
    } else {
        v
    }
}

/// Better first: objective, then `tie` (lower first).
pub fn compare(a: &PointStats, b: &PointStats, objective: &Objective, tie: &str) -> Ordering {
    key(a, objective)
        .total_cmp(&key(b, objective))
        .then(mean(a, tie).total_cmp(&mean(b, tie)))
}

/// The sentence the tune output and README state.
pub fn tie_rule(tie: &str) -> String {
    if tie == "cost" {
        "ties go to the lower cost (the scenario has prices), then the lower point index".into()
    } else {
        "ties go to fewer pod-seconds (no prices, so no cost), then the lower point index".into()
    }
}

/// Checks that the scenario provides what the objective and constraints use: prices for `cost`,
/// `output.slo` for `slo_attainment`. Reads the base scenario with point 0's overrides.
pub fn require_inputs(spec: &SweepSpec, objective: &Objective) -> Result<(), SweepError> {
    let uses =
        |m: &str| objective.metric == m || objective.constraints.iter().any(|c| c.metric == m);
    if !uses("cost") && !uses("slo_attainment") {
        return Ok(());
    }
    let overrides = spec.point_overrides(0);
    // The prepared configuration (not a runnable simulation) is what holds the prices and the SLO.
    // With several services the cluster (and so its prices) and `output.slo` are shared: the first
    // service's configuration holds them.
    let prepared = crate::scenario::load(&spec.base, &overrides)
        .and_then(|loaded| crate::scenario::prepare_services(&loaded, None))
        .map_err(|e| SweepError::Scenario {
            file: spec.path.clone(),
            key: "base".into(),
            what: "its own settings".into(),
            errors: e,
        })?;
    let Some(first) = prepared.services.first() else {
        return Ok(());
    };
    let cfg = &first.prepared.config;
    let priced = cfg
        .pod_model
        .cluster
        .pools
        .iter()
        .any(|p| p.price_per_hour > 0.0 || p.gpu_price_per_hour > 0.0);
    if uses("cost") && !priced {
        return Err(SweepError::Usage(format!(
            "{}: the objective uses `cost`, but the base scenario {} has no prices; set \
             cluster.node_pools[].price_per_hour (or gpu_price_per_hour), or use pod_seconds",
            spec.path.display(),
            spec.base.display()
        )));
    }
    if uses("slo_attainment") && cfg.slo.is_none() {
        return Err(SweepError::Usage(format!(
            "{}: the objective uses `slo_attainment`, but the base scenario {} does not measure it; \
             set output.slo, e.g. `set: {{output.slo: {{p99_ms: 500, window: 60s}}}}` in the sweep file",
            spec.path.display(),
            spec.base.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::results::METRICS;

    fn point(i: u64, values: &[(&str, f64)]) -> PointStats {
        let mut mean = vec![0.0; METRICS.len()];
        for (m, v) in values {
            mean[METRICS.iter().position(|x| x == m).unwrap()] = *v;
        }
        PointStats {
            point: i,
            axes: vec![],
            runs: 1,
            ci95: vec![None; METRICS.len()],
            mean,
        }
    }

    #[test]
    fn direction_and_ties() {
        let a = point(
            0,
            &[
                ("slo_attainment", 0.9),
                ("pod_seconds", 10.0),
                ("cost", 2.0),
            ],
        );
        let b = point(
            1,
            &[
                ("slo_attainment", 0.9),
                ("pod_seconds", 20.0),
                ("cost", 1.0),
            ],
        );
        let c = point(
            2,
            &[
                ("slo_attainment", 0.95),
                ("pod_seconds", 99.0),
                ("cost", 9.0),
            ],
        );
        let o = Objective::natural("slo_attainment");
        assert!(o.maximize);
        let pts = [a.clone(), b.clone(), c.clone()];
        assert_eq!(tie_metric(&pts), "cost");
        assert_eq!(compare(&c, &a, &o, "cost"), Ordering::Less);
        // Tie on attainment: b is cheaper in cost, a in pod-seconds.
        assert_eq!(compare(&b, &a, &o, "cost"), Ordering::Less);
        assert_eq!(compare(&a, &b, &o, "pod_seconds"), Ordering::Less);
        let unpriced = [point(0, &[("pod_seconds", 1.0)])];
        assert_eq!(tie_metric(&unpriced), "pod_seconds");
        assert!(!Objective::natural("pod_seconds").maximize);
    }
}
