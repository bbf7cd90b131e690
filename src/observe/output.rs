//! What a run produces: one [`SecondRow`] per simulated second (streamed to a sink, never kept) and the
//! [`RunSummary`] written as `summary.json`.

use serde::Serialize;
use std::collections::BTreeMap;

/// Columns of `timeseries.csv`, in order (the contract of ARCHITECTURE §3 plus the decider's view).
pub const TIMESERIES_COLUMNS: &[&str] = &[
    "time_s",
    "arrivals",
    "completions",
    "failures",
    "in_flight",
    "activator_queue",
    "queue_proxy_queue",
    "desired_pods",
    "ready_pods",
    "pending_pods",
    "starting_pods",
    "terminating_pods",
    "observed_stable",
    "observed_panic",
    "target_per_pod",
    "panic",
    "excess_burst_capacity",
    "activator_in_path",
    "scale_reason",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "cold_start_completions",
    "cron_fire",
    "cpu_utilization",
    "gpu_utilization",
    "hpa_metric",
    "hpa_proposal",
    "hpa_recommendation",
    "hpa_limit_reason",
];

/// The state of the system over one simulated second `[time_s - 1, time_s)`, sampled at its end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SecondRow {
    pub time_s: u64,
    pub arrivals: u64,
    pub completions: u64,
    pub failures: u64,
    pub in_flight: u64,
    pub activator_queue: u64,
    pub queue_proxy_queue: u64,
    pub desired_pods: Option<u32>,
    pub ready_pods: u32,
    pub pending_pods: u32,
    pub starting_pods: u32,
    pub terminating_pods: u32,
    pub observed_stable: Option<f64>,
    pub observed_panic: Option<f64>,
    pub target_per_pod: Option<f64>,
    pub panic: bool,
    pub excess_burst_capacity: Option<i64>,
    pub activator_in_path: bool,
    pub scale_reason: &'static str,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    pub cold_start_completions: u64,
    pub cron_fire: Option<String>,
    pub cpu_utilization: Option<f64>,
    pub gpu_utilization: Option<f64>,
    /// HPA: the first metric's value at the last sync (percent for Utilization targets, else its unit).
    pub hpa_metric: Option<f64>,
    /// HPA: the largest per-metric proposal at the last sync.
    pub hpa_proposal: Option<i32>,
    /// HPA: the recommendation after the stabilization window(s).
    pub hpa_recommendation: Option<i32>,
    /// HPA: what set the final count (`within_range`, `scale_up_limit`, `scale_down_stabilized`, ...).
    pub hpa_limit_reason: &'static str,
}

impl SecondRow {
    /// Appends the row's fields as CSV text (fixed formatting, so outputs are byte-identical across runs).
    pub fn write_csv(&self, out: &mut String) {
        use std::fmt::Write;
        fn opt_f(out: &mut String, v: Option<f64>) {
            if let Some(v) = v {
                let _ = write!(out, "{}", round6(v));
            }
            out.push(',');
        }
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},",
            self.time_s,
            self.arrivals,
            self.completions,
            self.failures,
            self.in_flight,
            self.activator_queue,
            self.queue_proxy_queue
        );
        match self.desired_pods {
            Some(d) => {
                let _ = write!(out, "{d},");
            }
            None => out.push(','),
        }
        let _ = write!(
            out,
            "{},{},{},{},",
            self.ready_pods, self.pending_pods, self.starting_pods, self.terminating_pods
        );
        opt_f(out, self.observed_stable);
        opt_f(out, self.observed_panic);
        opt_f(out, self.target_per_pod);
        let _ = write!(out, "{},", u8::from(self.panic));
        match self.excess_burst_capacity {
            Some(e) => {
                let _ = write!(out, "{e},");
            }
            None => out.push(','),
        }
        let _ = write!(
            out,
            "{},{},",
            u8::from(self.activator_in_path),
            self.scale_reason
        );
        opt_f(out, self.latency_p50_ms);
        opt_f(out, self.latency_p95_ms);
        opt_f(out, self.latency_p99_ms);
        let _ = write!(out, "{},", self.cold_start_completions);
        if let Some(c) = &self.cron_fire {
            out.push_str(c);
        }
        out.push(',');
        opt_f(out, self.cpu_utilization);
        opt_f(out, self.gpu_utilization);
        opt_f(out, self.hpa_metric);
        for v in [self.hpa_proposal, self.hpa_recommendation] {
            if let Some(v) = v {
                let _ = write!(out, "{v}");
            }
            out.push(',');
        }
        out.push_str(self.hpa_limit_reason);
        out.push('\n');
    }
}

/// Rounds to 6 decimals so float formatting never depends on accumulated noise in the last digits.
pub fn round6(v: f64) -> f64 {
    // Adding 0.0 turns -0.0 into 0.0, which would otherwise print as "-0".
    (v * 1e6).round() / 1e6 + 0.0
}

/// Receives each second's row as the run progresses.
pub trait TimeseriesSink {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()>;
}

/// Discards rows (sweeps that only need the summary).
pub struct NoTimeseries;
impl TimeseriesSink for NoTimeseries {
    fn row(&mut self, _row: &SecondRow) -> std::io::Result<()> {
        Ok(())
    }
}

/// Keeps rows in memory (tests, short runs).
#[derive(Default)]
pub struct CollectTimeseries(pub Vec<SecondRow>);
impl TimeseriesSink for CollectTimeseries {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        self.0.push(row.clone());
        Ok(())
    }
}

/// Writes CSV to any writer, header first.
pub struct CsvTimeseries<W: std::io::Write> {
    out: W,
    line: String,
}

impl<W: std::io::Write> CsvTimeseries<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        writeln!(out, "{}", TIMESERIES_COLUMNS.join(","))?;
        Ok(CsvTimeseries {
            out,
            line: String::with_capacity(256),
        })
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: std::io::Write> TimeseriesSink for CsvTimeseries<W> {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()> {
        self.line.clear();
        row.write_csv(&mut self.line);
        self.out.write_all(self.line.as_bytes())
    }
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RequestCounts {
    pub total: u64,
    pub completed: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub rejected: u64,
    pub cold_start_affected: u64,
    pub in_flight_at_end: u64,
}

pub use super::latency::{HistogramBucket, LatencySummary};

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ReplicaSummary {
    pub max_ready: u32,
    pub mean_ready: f64,
    pub max_desired: u32,
    pub final_ready: u32,
    /// The most requests any single pod executed at once.
    pub max_pod_concurrency: u32,
}

/// `summary.json`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RunSummary {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    pub autoscaler: String,
    pub requests: RequestCounts,
    pub latency_ms: LatencySummary,
    pub latency_histogram_ms: Vec<HistogramBucket>,
    /// `[latency ms, share of requests at or below]` points of the full histogram (see [`super::latency::cdf`]).
    pub latency_cdf_ms: Vec<[f64; 2]>,
    pub status_codes: BTreeMap<String, u64>,
    pub throughput_rps: f64,
    pub replicas: ReplicaSummary,
    pub pod_seconds: f64,
    /// GPU-allocated pod time: GPUs requested × time bound to a node.
    pub gpu_seconds: f64,
    /// Cold starts that reached Ready, with the mean of each startup phase.
    pub cold_start_s: ColdStartSummary,
    /// Nodes and Pending pods (one unlimited node when the scenario has no `cluster`).
    pub cluster: ClusterSummary,
    /// `fixed_slots`, `processor_sharing` or `gpu_batch`.
    pub service_model: String,
    pub scale_events: u64,
    pub panic_seconds: f64,
    pub cold_starts: u64,
    pub events_processed: u64,
    pub wall_time_s: f64,
    pub settings: BTreeMap<String, String>,
    pub effective_config: serde_json::Value,
}

/// Mean duration of each startup phase, in seconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PhaseMeans {
    pub scheduling: f64,
    pub image_pull: f64,
    pub container_start: f64,
    pub model_load: f64,
    pub readiness: f64,
}

/// `cold_start_s` in `summary.json`: pods that went from creation to Ready during the run.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ColdStartSummary {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub max: f64,
    pub phases: PhaseMeans,
}

impl ColdStartSummary {
    pub fn from_phases(all: &[crate::workload::startup::PhaseTimes]) -> Self {
        if all.is_empty() {
            return ColdStartSummary::default();
        }
        let n = all.len() as f64;
        let mut totals: Vec<f64> = all.iter().map(|p| p.total().as_secs_f64()).collect();
        totals.sort_by(f64::total_cmp);
        let mean_of = |f: fn(&crate::workload::startup::PhaseTimes) -> crate::time::SimDuration| {
            all.iter().map(|p| f(p).as_secs_f64()).sum::<f64>() / n
        };
        ColdStartSummary {
            count: all.len() as u64,
            mean: totals.iter().sum::<f64>() / n,
            p50: totals[(totals.len() - 1) / 2],
            max: totals[totals.len() - 1],
            phases: PhaseMeans {
                scheduling: mean_of(|p| p.scheduling),
                image_pull: mean_of(|p| p.image_pull),
                container_start: mean_of(|p| p.container_start),
                model_load: mean_of(|p| p.model_load),
                readiness: mean_of(|p| p.readiness),
            },
        }
    }
}

/// `cluster` in `summary.json`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ClusterSummary {
    /// `unlimited`, `first_fit` or `most_allocated`.
    pub scheduling: String,
    pub max_nodes: u32,
    pub final_nodes: u32,
    pub nodes_added: u32,
    pub nodes_removed: u32,
    pub node_seconds: f64,
    pub max_pending_pods: u32,
    /// Cluster Autoscaler counters (scenarios with `cluster.autoscaler`); owned by workload::cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaler: Option<crate::workload::cluster::AutoscalerStats>,
    /// Node cost and its attribution (pools with prices); owned by workload::cluster::cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::workload::cluster::CostSummary>,
}
