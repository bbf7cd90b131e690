//! A printed run summary laid out like the report of the `hey` HTTP load generator (overview, response
//! time histogram with bars, latency percentiles, status codes), followed by the autoscaling figures.
//!
//! Assumptions: input is the `summary.json` value; any missing field is shown as `n/a` or its section is
//! left out. Latencies are converted from the summary's milliseconds to seconds as `hey` prints them.
//! Every percentile is read from `latency_ms` (computed from the run's HDR histogram, see
//! [`super::latency`]); one the summary lacks (files written before p10/p25/p75 existed) is left out,
//! never estimated from the histogram buckets. Rows that do not apply to the run are left out: time in
//! panic only for the KPA, cluster figures only when the scenario has a node pool or nodes were added.

use std::fmt::Write as _;

use serde_json::Value;

use super::data::{latency_histogram, number_at, text_at, HistogramBucket};

/// Widest histogram bar, in characters.
const BAR_WIDTH: f64 = 40.0;
/// At most this many histogram rows; adjacent buckets are merged beyond it.
const MAX_HISTOGRAM_ROWS: usize = 12;

fn seconds(ms: Option<f64>) -> String {
    ms.map_or_else(
        || "n/a".to_string(),
        |ms| format!("{:.4} secs", ms / 1000.0),
    )
}

fn count(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{}", v.round() as i64))
}

/// "1 request", "2 requests", "n/a requests": `noun` is the singular, the plural adds an `s`.
fn counted(value: Option<f64>, noun: &str) -> String {
    let plural = if value.is_some_and(|v| v.round() as i64 == 1) {
        ""
    } else {
        "s"
    };
    format!("{} {noun}{plural}", count(value))
}

/// The text report for one run; see the module docs for the layout.
pub fn hey_summary(summary: &Value) -> String {
    let mut out = String::new();
    let scenario = text_at(summary, "scenario").unwrap_or_else(|| "unnamed".into());
    let autoscaler = text_at(summary, "autoscaler").unwrap_or_else(|| "?".into());
    let seed = text_at(summary, "seed").unwrap_or_else(|| "?".into());
    let _ = writeln!(
        out,
        "Scenario {scenario} (autoscaler {autoscaler}, seed {seed})"
    );
    let settings = super::data::settings(summary);
    if !settings.is_empty() {
        let joined: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "  {}", joined.join(", "));
    }

    let _ = writeln!(out, "\nSummary:");
    let row = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "  {:<18}{value}", format!("{label}:"));
    };
    row(
        &mut out,
        "Total",
        number_at(summary, "duration_s")
            .map_or("n/a".into(), |s| format!("{s:.4} secs (simulated)")),
    );
    row(
        &mut out,
        "Slowest",
        seconds(number_at(summary, "latency_ms/max")),
    );
    row(
        &mut out,
        "Fastest",
        seconds(number_at(summary, "latency_ms/min")),
    );
    row(
        &mut out,
        "Average",
        seconds(number_at(summary, "latency_ms/mean")),
    );
    row(
        &mut out,
        "Requests/sec",
        number_at(summary, "throughput_rps").map_or("n/a".into(), |r| {
            // Older summaries have no traffic period; their rate was over the whole run.
            match number_at(summary, "traffic_duration_s") {
                Some(t) => format!("{r:.4} (completed over the {t:.4} s traffic period)"),
                None => format!("{r:.4} (completed over the whole run)"),
            }
        }),
    );
    row(
        &mut out,
        "Requests",
        format!(
            "{} sent, {} completed, {} failed, {} timed out, {} rejected",
            count(number_at(summary, "requests/total")),
            count(number_at(summary, "requests/completed")),
            count(number_at(summary, "requests/failed")),
            count(number_at(summary, "requests/timed_out")),
            count(number_at(summary, "requests/rejected")),
        ),
    );
    if let Some(in_flight) = number_at(summary, "requests/in_flight_at_end") {
        row(
            &mut out,
            "Unfinished",
            format!("{} still in flight at the end", count(Some(in_flight))),
        );
    }
    if let (Some(w), Some(a), Some(b)) = (
        number_at(summary, "slo/windows"),
        number_at(summary, "slo/attained"),
        number_at(summary, "slo/p99_ms"),
    ) {
        row(
            &mut out,
            "SLO",
            format!(
                "p99 <= {b} ms in {} of {} windows of {} s ({:.1} %; {} without traffic)",
                count(Some(a)),
                count(Some(w)),
                count(number_at(summary, "slo/window_s")),
                100.0 * number_at(summary, "slo/attainment").unwrap_or(0.0),
                count(number_at(summary, "slo/windows_without_traffic")),
            ),
        );
    }

    let buckets = latency_histogram(summary);
    if buckets.iter().any(|b| b.count > 0.0) {
        let spacing = if super::plots::evenly_spaced(&buckets) {
            ""
        } else {
            ", bounds spaced geometrically"
        };
        let _ = writeln!(
            out,
            "\nResponse time histogram (upper bound, requests{spacing}):"
        );
        let rows = merge_rows(&buckets);
        let tallest = rows.iter().map(|b| b.count).fold(0.0, f64::max);
        for bucket in &rows {
            let bar_len = if tallest > 0.0 {
                (bucket.count / tallest * BAR_WIDTH).round() as usize
            } else {
                0
            };
            let bar_len = if bucket.count > 0.0 {
                bar_len.max(1)
            } else {
                0
            };
            let _ = writeln!(
                out,
                "  {:>9.4} [{}]\t|{}",
                bucket.le_ms / 1000.0,
                bucket.count.round() as i64,
                "\u{25a0}".repeat(bar_len)
            );
        }
    }

    let _ = writeln!(out, "\nLatency distribution:");
    let percentiles = [
        ("10%", "p10"),
        ("25%", "p25"),
        ("50%", "p50"),
        ("75%", "p75"),
        ("90%", "p90"),
        ("95%", "p95"),
        ("99%", "p99"),
        ("99.9%", "p999"),
    ];
    for (label, key) in percentiles {
        if let Some(ms) = number_at(summary, &format!("latency_ms/{key}")) {
            let _ = writeln!(out, "  {label:>5} in {:.4} secs", ms / 1000.0);
        }
    }

    if let Some(codes) = summary.get("status_codes").and_then(Value::as_object) {
        let _ = writeln!(out, "\nStatus code distribution:");
        for (code, n) in codes {
            let _ = writeln!(out, "  [{code}]\t{}", counted(n.as_f64(), "response"));
        }
    }

    let _ = writeln!(out, "\nAutoscaling:");
    row(
        &mut out,
        "Max pods",
        format!(
            "{} ready, {} desired",
            count(number_at(summary, "replicas/max_ready")),
            count(number_at(summary, "replicas/max_desired")),
        ),
    );
    row(
        &mut out,
        "Mean ready pods",
        number_at(summary, "replicas/mean_ready").map_or("n/a".into(), |v| format!("{v:.2}")),
    );
    row(
        &mut out,
        "Final ready pods",
        count(number_at(summary, "replicas/final_ready")),
    );
    row(
        &mut out,
        "Pod-seconds",
        number_at(summary, "pod_seconds").map_or("n/a".into(), |v| {
            format!("{v:.1} ({:.2} pod-hours)", v / 3600.0)
        }),
    );
    if let Some(gpu) = number_at(summary, "gpu_seconds").filter(|g| *g > 0.0) {
        row(
            &mut out,
            "GPU-seconds",
            format!("{gpu:.1} ({:.2} GPU-hours)", gpu / 3600.0),
        );
    }
    let affected = counted(
        number_at(summary, "requests/cold_start_affected"),
        "request",
    );
    row(
        &mut out,
        "Cold starts",
        format!(
            "{} started, {} became Ready ({affected} waited for one)",
            counted(number_at(summary, "cold_starts"), "pod"),
            count(number_at(summary, "cold_start_s/count")),
        ),
    );
    if number_at(summary, "cold_start_s/count").is_some_and(|n| n > 0.0) {
        let secs = |key: &str| {
            number_at(summary, &format!("cold_start_s/{key}"))
                .map_or("n/a".to_string(), |v| format!("{v:.2} s"))
        };
        row(
            &mut out,
            "Cold start time",
            format!(
                "mean {}, median {}, max {}",
                secs("mean"),
                secs("p50"),
                secs("max")
            ),
        );
        let phases: Vec<String> = [
            ("scheduling", "scheduling"),
            ("image pull", "image_pull"),
            ("container start", "container_start"),
            ("model load", "model_load"),
            ("readiness", "readiness"),
        ]
        .iter()
        .filter_map(|(label, key)| {
            number_at(summary, &format!("cold_start_s/phases/{key}"))
                .filter(|v| *v > 0.0)
                .map(|v| format!("{label} {v:.2} s"))
        })
        .collect();
        if !phases.is_empty() {
            row(&mut out, "  phase means", phases.join(", "));
        }
    }
    if text_at(summary, "autoscaler").as_deref() == Some("kpa") {
        let panic = number_at(summary, "panic_seconds");
        let share = match (panic, number_at(summary, "duration_s")) {
            (Some(p), Some(d)) if d > 0.0 => format!(" ({:.1}% of the run)", 100.0 * p / d),
            _ => String::new(),
        };
        row(
            &mut out,
            "Time in panic",
            panic.map_or("n/a".into(), |p| format!("{p:.0} s{share}")),
        );
    }
    row(
        &mut out,
        "Scale events",
        count(number_at(summary, "scale_events")),
    );
    cluster_rows(summary, &mut out);
    out
}

/// Nodes and Pending pods, when the scenario models a node pool (`cluster/scheduling` is not
/// `unlimited`) or nodes were added; an unlimited single node has nothing to report.
fn cluster_rows(summary: &Value, out: &mut String) {
    let scheduling = text_at(summary, "cluster/scheduling");
    let added = number_at(summary, "cluster/nodes_added").unwrap_or(0.0);
    if scheduling.is_none() || (scheduling.as_deref() == Some("unlimited") && added == 0.0) {
        return;
    }
    let _ = writeln!(out, "\nCluster ({}):", scheduling.unwrap_or_default());
    let row = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "  {:<18}{value}", format!("{label}:"));
    };
    row(
        out,
        "Nodes",
        format!(
            "{} added, {} removed, {} at most, {} at the end",
            count(number_at(summary, "cluster/nodes_added")),
            count(number_at(summary, "cluster/nodes_removed")),
            count(number_at(summary, "cluster/max_nodes")),
            count(number_at(summary, "cluster/final_nodes")),
        ),
    );
    row(
        out,
        "Node-seconds",
        number_at(summary, "cluster/node_seconds").map_or("n/a".into(), |v| {
            format!("{v:.1} ({:.2} node-hours)", v / 3600.0)
        }),
    );
    row(
        out,
        "Max pending pods",
        count(number_at(summary, "cluster/max_pending_pods")),
    );
}

/// Trims empty leading and trailing buckets and merges neighbours until at most
/// [`MAX_HISTOGRAM_ROWS`] remain; a merged row keeps the largest upper bound.
fn merge_rows(buckets: &[HistogramBucket]) -> Vec<HistogramBucket> {
    let Some(first) = buckets.iter().position(|b| b.count > 0.0) else {
        return Vec::new();
    };
    let last = buckets.iter().rposition(|b| b.count > 0.0).unwrap_or(first);
    let populated = &buckets[first..=last];
    let group = populated.len().div_ceil(MAX_HISTOGRAM_ROWS).max(1);
    populated
        .chunks(group)
        .map(|chunk| HistogramBucket {
            le_ms: chunk.last().map_or(0.0, |b| b.le_ms),
            count: chunk.iter().map(|b| b.count).sum(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_line_names_its_period() {
        let with = serde_json::json!({"throughput_rps": 10.0, "traffic_duration_s": 60.0});
        assert!(hey_summary(&with)
            .contains("Requests/sec:     10.0000 (completed over the 60.0000 s traffic period)"));
        let without = serde_json::json!({"throughput_rps": 10.0});
        assert!(hey_summary(&without).contains("10.0000 (completed over the whole run)"));
    }
}
