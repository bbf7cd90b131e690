//! Limits on everything in a scenario that drives memory, time or output size, checked up front by
//! `validate` and `run` so that a run is refused with the figure instead of aborting, hanging or filling
//! a disk part-way.
//!
//! What is bounded and why:
//! * the scenario text itself (size and nesting depth) before the YAML parser sees it: the parser's time
//!   grows quadratically with bracket nesting;
//! * pods (replicas, min/max replicas, initial scale, cron and KEDA target sizes) and nodes: each is
//!   simulated individually, so a count is memory;
//! * total simulated time (`duration` + `cooldown`): one time-series row per simulated second;
//! * the per-request log: one row per request, estimated from the traffic's peak rate;
//! * control-loop periods (HPA sync, metric scrapes): each period is a simulated event.
//!
//! The limits are far above anything a real single service reaches (Kubernetes documents 5,000 nodes
//! and 150,000 pods per cluster as its tested scale); they exist to turn a typo into an error message.

use super::{LoadedScenario, ScenarioError};
use crate::sim::{AutoscalerMode, SimConfig};
use crate::time::SimDuration;

/// Largest scenario, manifest or ConfigMap file read, in bytes.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Deepest nesting of YAML collections (flow brackets or block indentation levels).
pub const MAX_NESTING: usize = 40;
/// Most pods any replica setting may ask for.
pub const MAX_PODS: u64 = 10_000;
/// Most nodes in all node pools together (Kubernetes' tested maximum cluster size).
pub const MAX_NODES: u64 = 5_000;
/// Longest total simulated time, `duration` + `cooldown`.
pub const MAX_SIMULATED: SimDuration = SimDuration::from_secs(366 * 24 * 3600);
/// Shortest HPA sync period or metrics scrape resolution.
pub const MIN_CONTROL_PERIOD: SimDuration = SimDuration::from_millis(100);
/// Largest estimated `requests.csv` (bytes).
pub const MAX_REQUEST_LOG_BYTES: f64 = 4.0 * (1u64 << 30) as f64;
/// Bytes per `requests.csv` row, for the estimate (measured rows are 50 to 70 bytes).
const REQUEST_LOG_ROW_BYTES: f64 = 64.0;
/// Bytes per time-series cell, for the figure quoted in errors.
const TIMESERIES_CELL_BYTES: u64 = 8;

/// Refuses text the YAML parser should not be given: larger than [`MAX_FILE_BYTES`] or nested deeper than
/// [`MAX_NESTING`]. Linear in the text. Returns the message and the 1-based line where the limit is crossed.
pub fn check_text(text: &str) -> Result<(), (Option<usize>, String)> {
    if text.len() > MAX_FILE_BYTES {
        return Err((
            None,
            format!(
                "the file is {} bytes; allowed: at most {MAX_FILE_BYTES} bytes (1 MiB)",
                text.len()
            ),
        ));
    }
    let mut flow = 0usize;
    let mut indents: Vec<usize> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches([' ', '-']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        // Block nesting: each deeper indentation (a `- ` counts as indentation) opens a level.
        if flow == 0 {
            let indent = line.len() - trimmed.len();
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
        }
        let mut deepest = flow + indents.len();
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in line.chars() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '"' | '\'' if prev == ' ' || "[{:,".contains(prev) => quote = Some(c),
                    '#' if prev == ' ' => break,
                    '[' | '{' => {
                        flow += 1;
                        deepest = deepest.max(flow + indents.len());
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    _ => {}
                },
            }
            prev = c;
        }
        let depth = deepest;
        if depth > MAX_NESTING {
            return Err((
                Some(n + 1),
                format!("collections nested {depth} deep; allowed: at most {MAX_NESTING} levels"),
            ));
        }
    }
    Ok(())
}

/// Checks the scenario as written, before anything is built from it (building a 4-billion-node cluster
/// would abort before its own checks ran).
pub fn check_spec(loaded: &LoadedScenario) -> Vec<ScenarioError> {
    let spec = &loaded.spec;
    let mut errors = Vec::new();
    let mut pods = |key: &str, value: Option<u64>| {
        if let Some(v) = value.filter(|v| *v > MAX_PODS) {
            errors.push(loaded.error_at(
                key,
                format!("{v} pods is too many; allowed: 0 to {MAX_PODS}"),
            ));
        }
    };
    let s = &spec.service;
    pods("service.minReplicas", s.min_replicas.map(u64::from));
    pods("service.maxReplicas", s.max_replicas.map(u64::from));
    pods("service.initial_pods", s.initial_pods.map(u64::from));
    pods(
        "autoscaler.replicas",
        spec.autoscaler.replicas.map(u64::from),
    );
    for (name, value) in &s.annotations {
        let short = name.rsplit('/').next().unwrap_or(name);
        if matches!(
            short,
            "min-scale" | "max-scale" | "initial-scale" | "minScale" | "maxScale"
        ) {
            pods(
                &format!("service.annotations.\"{name}\""),
                value.trim().parse::<u64>().ok(),
            );
        }
    }
    if let Some(h) = &spec.autoscaler.hpa {
        let as_pods = |v: Option<i32>| v.and_then(|v| u64::try_from(v).ok());
        pods("autoscaler.hpa.minReplicas", as_pods(h.min_replicas));
        pods("autoscaler.hpa.maxReplicas", as_pods(h.max_replicas));
    }
    if let Some(cluster) = &spec.cluster {
        let mut total = 0u64;
        for (i, p) in cluster.node_pools.iter().enumerate() {
            let most = u64::from(p.nodes.max(p.max_nodes.unwrap_or(0)));
            if most > MAX_NODES {
                let field = if p.max_nodes.unwrap_or(0) > p.nodes {
                    "max_nodes"
                } else {
                    "nodes"
                };
                errors.push(loaded.error_at(
                    &format!("cluster.node_pools[{i}].{field}"),
                    format!("{most} nodes is too many; allowed: 0 to {MAX_NODES} (Kubernetes' tested cluster size)"),
                ));
            }
            total = total.saturating_add(most);
        }
        if total > MAX_NODES && errors.is_empty() {
            errors.push(loaded.error_at(
                "cluster.node_pools",
                format!(
                    "the pools hold up to {total} nodes together; allowed: at most {MAX_NODES}"
                ),
            ));
        }
    }
    let total = spec.duration.0.saturating_add(spec.cooldown.0);
    if spec.cooldown > MAX_SIMULATED || total > MAX_SIMULATED.0 {
        let rows = total / 1_000_000_000;
        let columns = crate::observe::output::TIMESERIES_COLUMNS.len() as u64;
        let gb = (rows
            .saturating_mul(columns)
            .saturating_mul(TIMESERIES_CELL_BYTES)) as f64
            / 1e9;
        errors.push(loaded.error_at(
            "cooldown",
            format!(
                "\"{}\" makes {} of simulated time in all, which would write {rows} time-series rows x {columns} columns (about {gb:.1} GB); allowed: duration + cooldown at most {MAX_SIMULATED}",
                spec.cooldown,
                SimDuration(total)
            ),
        ));
    }
    if spec.output.per_request {
        if let Some(rate) = crate::traffic::inspect::peak_rate_bound(&spec.traffic) {
            let rows = rate * spec.duration.as_secs_f64();
            let bytes = rows * REQUEST_LOG_ROW_BYTES;
            if bytes > MAX_REQUEST_LOG_BYTES {
                errors.push(loaded.error_at(
                    "output.per_request",
                    format!(
                        "requests.csv would hold up to {rows:.3e} rows (about {:.1} GB at {REQUEST_LOG_ROW_BYTES} bytes a row); allowed: at most {:.1} GB; lower the rate or the duration, or turn per_request off",
                        bytes / 1e9,
                        MAX_REQUEST_LOG_BYTES / 1e9
                    ),
                ));
            }
        }
    }
    let periods = [
        (
            "autoscaler.controller.sync_period",
            spec.autoscaler.controller.sync_period,
        ),
        (
            "autoscaler.metrics_server.resolution",
            spec.autoscaler.metrics_server.resolution,
        ),
        (
            "autoscaler.custom_metrics.resolution",
            spec.autoscaler.custom_metrics.resolution,
        ),
    ];
    for (key, period) in periods {
        if let Some(p) = period.filter(|p| *p < MIN_CONTROL_PERIOD) {
            errors.push(loaded.error_at(
                key,
                format!("{p} is too short; allowed: at least {MIN_CONTROL_PERIOD}"),
            ));
        }
    }
    errors
}

/// Checks the resolved configuration (after manifests, ConfigMaps and annotations are applied): pod
/// counts that reach the simulation only through a referenced file or a CronHPA job.
pub fn check_built(loaded: &LoadedScenario, config: &SimConfig) -> Vec<ScenarioError> {
    let mut errors = Vec::new();
    let mut check = |key: String, value: i64| {
        if value > MAX_PODS as i64 {
            errors.push(loaded.error_at(
                &key,
                format!("{value} pods is too many; allowed: 0 to {MAX_PODS}"),
            ));
        }
    };
    let cron_jobs = |cron: &crate::autoscaler::cron::CronHpa| -> Vec<(usize, i64)> {
        cron.spec()
            .jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (i, i64::from(j.target_size)))
            .collect()
    };
    match &config.autoscaler {
        AutoscalerMode::Kpa(k) => {
            let key = "service.maxReplicas (or autoscaling.knative.dev/max-scale)";
            check(key.into(), i64::from(k.scaling.max_scale));
            check(
                "service.minReplicas (or autoscaling.knative.dev/min-scale)".into(),
                i64::from(k.scaling.min_scale),
            );
            check(
                "autoscaling.knative.dev/initial-scale".into(),
                i64::from(k.scaling.initial_scale),
            );
        }
        AutoscalerMode::Hpa(h) => {
            check("maxReplicas".into(), i64::from(h.spec.max_replicas));
            check("minReplicas".into(), i64::from(h.spec.min_replicas));
            for t in &h.keda {
                check(
                    format!("autoscaler.keda_cron[{}].desiredReplicas", t.trigger_index),
                    t.desired_replicas,
                );
            }
            if let Some(cron) = &h.cron {
                for (i, size) in cron_jobs(cron) {
                    check(format!("autoscaler.cron.jobs[{i}].targetSize"), size);
                }
            }
        }
        _ => {}
    }
    if let Some(cron) = &config.standalone_cron {
        for (i, size) in cron_jobs(cron) {
            check(format!("autoscaler.cron.jobs[{i}].targetSize"), size);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_measured_in_flow_and_block_style() {
        let deep = "a: ".to_string() + &"[".repeat(100) + &"]".repeat(100);
        let (line, message) = check_text(&deep).unwrap_err();
        assert_eq!(line, Some(1));
        assert!(message.contains("at most 40 levels"), "{message}");
        let mut block = String::new();
        for i in 0..50 {
            block += &format!("{}k{i}:\n", " ".repeat(i));
        }
        assert!(check_text(&block).is_err());
        assert!(check_text("a: {b: [1, 2, \"[[[[\"]}\n# [[[[[[\n").is_ok());
        let big = "x: 1\n".repeat(MAX_FILE_BYTES / 4);
        assert!(check_text(&big).unwrap_err().1.contains("1 MiB"));
    }
}
