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

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub min: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HistogramBucket {
    pub le: f64,
    pub count: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ReplicaSummary {
    pub max_ready: u32,
    pub mean_ready: f64,
    pub max_desired: u32,
    pub final_ready: u32,
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
    pub status_codes: BTreeMap<String, u64>,
    pub throughput_rps: f64,
    pub replicas: ReplicaSummary,
    pub pod_seconds: f64,
    pub gpu_seconds: f64,
    pub scale_events: u64,
    pub panic_seconds: f64,
    pub cold_starts: u64,
    pub events_processed: u64,
    pub wall_time_s: f64,
    pub settings: BTreeMap<String, String>,
    pub effective_config: serde_json::Value,
}
