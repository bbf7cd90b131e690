//! What-if comparison of several runs: a side-by-side table of their summaries (returned as text and
//! written as `compare.csv` and `compare.md`) and overlaid replica and latency charts (PNG and SVG).
//!
//! Runs of several services (a `services` block in `summary.json`) add the node cost and, per service
//! (by name, in the first run's order), its requests, p99 latency, cold-start p99 (the requests that
//! waited for a cold start), cold starts, GPU-hours and attributed cost.
//!
//! Assumptions: each run directory holds `summary.json` and `timeseries.csv`; runs are labelled by their
//! directory name (made unique with a `#n` suffix when two directories share a name). Missing summary
//! fields are left empty in the CSV and shown as `-` in the text and Markdown tables.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::data::{number_at, settings, text_at};
use super::plots::{write_charts, Chart};
use super::{write_atomic, ReportError, Run};

/// A table row: its label and how to read the value from a summary.
enum Field {
    Text(&'static str, &'static str),
    Number(&'static str, &'static str),
    Setting(String),
    /// A number of one service of the `services` block: (label, service, path inside its entry).
    Service(String, String, &'static str),
}

/// Per-service rows: label suffix and path inside the service's entry.
const SERVICE_ROWS: &[(&str, &str)] = &[
    ("requests", "requests/total"),
    ("p99 (ms)", "latency_ms/p99"),
    ("cold-start p99 (ms)", "cold_start_latency_ms/p99"),
    ("cold starts", "cold_starts"),
    ("GPU-hours", "gpu_hours"),
    ("cost", "cost"),
];

fn service_entry<'a>(summary: &'a Value, name: &str) -> Option<&'a Value> {
    summary
        .get("services")?
        .get("services")?
        .as_array()?
        .iter()
        .find(|s| s.get("service").and_then(Value::as_str) == Some(name))
}

const NUMBER_ROWS: &[(&str, &str)] = &[
    ("duration (s)", "duration_s"),
    ("requests total", "requests/total"),
    ("completed", "requests/completed"),
    ("failed", "requests/failed"),
    ("timed out", "requests/timed_out"),
    ("rejected", "requests/rejected"),
    ("cold-start affected", "requests/cold_start_affected"),
    ("latency mean (ms)", "latency_ms/mean"),
    ("latency p50 (ms)", "latency_ms/p50"),
    ("latency p90 (ms)", "latency_ms/p90"),
    ("latency p95 (ms)", "latency_ms/p95"),
    ("latency p99 (ms)", "latency_ms/p99"),
    ("latency p99.9 (ms)", "latency_ms/p999"),
    ("latency max (ms)", "latency_ms/max"),
    ("throughput (req/s)", "throughput_rps"),
    ("max ready pods", "replicas/max_ready"),
    ("mean ready pods", "replicas/mean_ready"),
    ("max desired pods", "replicas/max_desired"),
    ("final ready pods", "replicas/final_ready"),
    ("pod-seconds", "pod_seconds"),
    ("GPU-seconds", "gpu_seconds"),
    ("cold starts", "cold_starts"),
    ("panic seconds", "panic_seconds"),
    ("scale events", "scale_events"),
];

fn fields(summaries: &[&Value]) -> Vec<Field> {
    let mut rows = vec![
        Field::Text("scenario", "scenario"),
        Field::Text("autoscaler", "autoscaler"),
        Field::Text("seed", "seed"),
    ];
    let setting_keys: BTreeSet<String> = summaries
        .iter()
        .flat_map(|s| settings(s).into_iter().map(|(k, _)| k))
        .collect();
    rows.extend(setting_keys.into_iter().map(Field::Setting));
    rows.extend(
        NUMBER_ROWS
            .iter()
            .map(|&(label, path)| Field::Number(label, path)),
    );
    // LLM engine rows only when a run has them, so other comparisons keep their table.
    if summaries.iter().any(|s| s.get("llm").is_some()) {
        rows.extend(
            LLM_ROWS
                .iter()
                .map(|&(label, path)| Field::Number(label, path)),
        );
    }
    if summaries
        .iter()
        .any(|s| number_at(s, "cluster/cost/total").is_some())
    {
        rows.push(Field::Number("node cost", "cluster/cost/total"));
        rows.push(Field::Number("node-seconds", "cluster/node_seconds"));
    }
    let mut names: Vec<String> = Vec::new();
    for s in summaries {
        let list = s
            .get("services")
            .and_then(|v| v.get("services"))
            .and_then(Value::as_array);
        for entry in list.into_iter().flatten() {
            if let Some(n) = entry.get("service").and_then(Value::as_str) {
                if !names.iter().any(|x| x == n) {
                    names.push(n.to_string());
                }
            }
        }
    }
    for name in names {
        for (label, path) in SERVICE_ROWS {
            rows.push(Field::Service(
                format!("{name} {label}"),
                name.clone(),
                path,
            ));
        }
    }
    rows
}

/// Rows of runs whose pods have a KV cache (`llm` in `summary.json`).
const LLM_ROWS: &[(&str, &str)] = &[
    ("TTFT p50 (ms)", "llm/ttft_ms/p50"),
    ("TTFT p99 (ms)", "llm/ttft_ms/p99"),
    ("TPOT p50 (ms)", "llm/tpot_ms/p50"),
    ("TPOT p99 (ms)", "llm/tpot_ms/p99"),
    ("KV preemptions", "llm/preemptions"),
];

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

impl Field {
    fn label(&self) -> String {
        match self {
            Field::Text(label, _) | Field::Number(label, _) => (*label).to_string(),
            Field::Setting(key) => key.clone(),
            Field::Service(label, ..) => label.clone(),
        }
    }

    fn value(&self, summary: &Value) -> Option<String> {
        match self {
            Field::Text(_, path) => text_at(summary, path),
            Field::Number(_, path) => number_at(summary, path).map(format_number),
            Field::Setting(key) => settings(summary)
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
            Field::Service(_, name, "gpu_hours") => service_entry(summary, name)
                .and_then(|e| number_at(e, "gpu_seconds"))
                .map(|s| format_number(s / 3600.0)),
            Field::Service(_, name, path) => {
                service_entry(summary, name).and_then(|e| number_at(e, path).map(format_number))
            }
        }
    }
}

/// Unique, short labels for the runs: directory names, suffixed `#n` on collisions.
fn run_labels(dirs: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = dirs
        .iter()
        .map(|d| {
            d.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| d.display().to_string())
        })
        .collect();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if names.iter().filter(|n| *n == name).count() > 1 {
                format!("{name}#{}", i + 1)
            } else {
                name.clone()
            }
        })
        .collect()
}

/// Compares the runs in `run_dirs`: writes `compare.csv`, `compare.md`, and overlaid replica and latency
/// charts into `out_dir` (created if needed), and returns the aligned text table for printing.
pub fn compare(run_dirs: &[PathBuf], out_dir: &Path) -> Result<String, ReportError> {
    if run_dirs.is_empty() {
        return Err(ReportError::Usage(
            "compare needs at least one run directory".into(),
        ));
    }
    let runs = run_dirs
        .iter()
        .map(|dir| Run::load(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let labels = run_labels(run_dirs);
    let summaries: Vec<&Value> = runs.iter().map(|r| &r.summary).collect();
    let table: Vec<(String, Vec<Option<String>>)> = fields(&summaries)
        .iter()
        .map(|field| {
            (
                field.label(),
                summaries.iter().map(|s| field.value(s)).collect(),
            )
        })
        .collect();

    let csv_bytes = comparison_csv(&labels, &table).map_err(|e| ReportError::Plot {
        path: out_dir.join("compare.csv"),
        message: e.to_string(),
    })?;
    let markdown = comparison_markdown(&labels, &table);
    let text = comparison_text(&labels, &table);

    std::fs::create_dir_all(out_dir).map_err(|e| ReportError::io(out_dir, e))?;
    let charts = [
        Chart::CompareReplicas(&runs, &labels),
        Chart::CompareLatency(&runs, &labels),
    ];
    write_charts(&charts, out_dir)?;
    for (name, bytes) in [
        ("compare.csv", csv_bytes),
        ("compare.md", markdown.into_bytes()),
    ] {
        let path = out_dir.join(name);
        write_atomic(&path, &bytes).map_err(|e| ReportError::io(&path, e))?;
    }
    Ok(text)
}

type Table = [(String, Vec<Option<String>>)];

fn comparison_csv(labels: &[String], table: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["metric".to_string()];
    header.extend(labels.iter().cloned());
    writer.write_record(&header)?;
    for (label, values) in table {
        let mut record = vec![label.clone()];
        record.extend(values.iter().map(|v| v.clone().unwrap_or_default()));
        writer.write_record(&record)?;
    }
    writer
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))
}

fn comparison_markdown(labels: &[String], table: &Table) -> String {
    let escape = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "| metric | {} |\n",
        labels
            .iter()
            .map(|l| escape(l))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    out += &format!("| --- |{}\n", " ---: |".repeat(labels.len()));
    for (label, values) in table {
        let cells: Vec<String> = values
            .iter()
            .map(|v| v.as_deref().map_or_else(|| "-".to_string(), escape))
            .collect();
        out += &format!("| {} | {} |\n", escape(label), cells.join(" | "));
    }
    out
}

fn comparison_text(labels: &[String], table: &Table) -> String {
    let label_width = table
        .iter()
        .map(|(l, _)| l.chars().count())
        .chain(std::iter::once("metric".len()))
        .max()
        .unwrap_or(6);
    let widths: Vec<usize> = labels
        .iter()
        .enumerate()
        .map(|(i, run)| {
            table
                .iter()
                .map(|(_, v)| v[i].as_deref().unwrap_or("-").chars().count())
                .chain(std::iter::once(run.chars().count()))
                .max()
                .unwrap_or(1)
        })
        .collect();
    let mut out = format!("{:<label_width$}", "metric");
    for (run, width) in labels.iter().zip(&widths) {
        out += &format!("  {run:>width$}");
    }
    out.push('\n');
    for (label, values) in table {
        out += &format!("{label:<label_width$}");
        for (value, width) in values.iter().zip(&widths) {
            out += &format!("  {:>width$}", value.as_deref().unwrap_or("-"));
        }
        out.push('\n');
    }
    out
}
