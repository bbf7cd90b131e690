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
    "row_duration_s",
];

/// The state of the system over one simulated second `[time_s - 1, time_s)`, sampled at its end.
///
/// The run's last row covers `[last whole second, end]` and includes events at the very end instant, so
/// that arrivals, completions and failures summed over the rows equal the summary's totals. When the run
/// ends between two seconds (a 1.5 s run) that last row is partial: `time_s` is the second it falls in
/// (2) and `row_duration_s` says how long it is (0.5); every other row has `row_duration_s` 1.
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
    /// Seconds the row covers: 1, or less for a final partial second.
    pub row_duration_s: f64,
    /// LLM engine columns ([`super::llm::ENGINE_COLUMNS`]), only when the pods have a KV cache.
    pub engine: Option<super::llm::EngineRow>,
}

impl SecondRow {
    /// Appends the row's fields as CSV text (fixed formatting, so outputs are byte-identical across runs).
    ///
    /// Written digit by digit into `out` (no allocation once `out` has grown to a line) because
    /// `core::fmt` and shortest-form float formatting were the bulk of a row's cost (issue 15). The
    /// text is the same as `format!("{}", round6(v))` for every float (checked by a test).
    pub fn write_csv(&self, out: &mut String) {
        fn opt_f(out: &mut String, v: Option<f64>) {
            if let Some(v) = v {
                push_f6(out, v);
            }
            out.push(',');
        }
        fn opt_i(out: &mut String, v: Option<i64>) {
            if let Some(v) = v {
                push_i64(out, v);
            }
            out.push(',');
        }
        fn u(out: &mut String, v: u64) {
            push_u64(out, v);
            out.push(',');
        }
        for v in [
            self.time_s,
            self.arrivals,
            self.completions,
            self.failures,
            self.in_flight,
            self.activator_queue,
            self.queue_proxy_queue,
        ] {
            u(out, v);
        }
        opt_i(out, self.desired_pods.map(i64::from));
        for v in [
            self.ready_pods,
            self.pending_pods,
            self.starting_pods,
            self.terminating_pods,
        ] {
            u(out, u64::from(v));
        }
        opt_f(out, self.observed_stable);
        opt_f(out, self.observed_panic);
        opt_f(out, self.target_per_pod);
        u(out, u64::from(self.panic));
        opt_i(out, self.excess_burst_capacity);
        u(out, u64::from(self.activator_in_path));
        out.push_str(self.scale_reason);
        out.push(',');
        opt_f(out, self.latency_p50_ms);
        opt_f(out, self.latency_p95_ms);
        opt_f(out, self.latency_p99_ms);
        u(out, self.cold_start_completions);
        if let Some(c) = &self.cron_fire {
            out.push_str(c);
        }
        out.push(',');
        opt_f(out, self.cpu_utilization);
        opt_f(out, self.gpu_utilization);
        opt_f(out, self.hpa_metric);
        opt_i(out, self.hpa_proposal.map(i64::from));
        opt_i(out, self.hpa_recommendation.map(i64::from));
        out.push_str(self.hpa_limit_reason);
        out.push(',');
        push_f6(out, self.row_duration_s);
        if let Some(e) = &self.engine {
            e.write_csv(out);
        }
        out.push('\n');
    }
}

/// Appends `v` in decimal without going through `core::fmt`.
pub fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    push_ascii(out, &buf[i..]);
}

/// Appends ASCII bytes (digits here) one char each: for a handful of bytes this is cheaper than validating
/// them as UTF-8 and copying the slice (a fifth of a low-rate run's row writing went to that).
#[inline]
fn push_ascii(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len());
    for &b in bytes {
        debug_assert!(b.is_ascii());
        out.push(char::from(b));
    }
}

/// Appends `v` in decimal, with a leading `-` when negative.
pub fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `round6(v)` exactly as `format!("{}", round6(v))` would, without shortest-form formatting.
///
/// Below 2^32 (about 4.3·10^9) an f64 is spaced finer than 10^-6, so the 6-decimal value `k / 10^6`
/// with trailing zeros dropped is the shortest text that reads back as `round6(v)`: printing the integer
/// `k` with a decimal point inserted is then exact. Larger, non-finite or otherwise odd values take
/// the slow path.
pub fn push_f6(out: &mut String, v: f64) {
    const FAST_LIMIT: f64 = 4.0e9;
    // NaN and infinities fail the comparison too.
    if v.is_nan() || v.abs() >= FAST_LIMIT {
        use std::fmt::Write;
        let _ = write!(out, "{}", round6(v));
        return;
    }
    let k = (v * 1e6).round() as i64;
    if k < 0 {
        out.push('-');
    }
    let k = k.unsigned_abs();
    push_u64(out, k / 1_000_000);
    let mut frac = k % 1_000_000;
    if frac != 0 {
        let mut digits = 6;
        while frac.is_multiple_of(10) {
            frac /= 10;
            digits -= 1;
        }
        out.push('.');
        let mut buf = [b'0'; 6];
        for i in (0..digits).rev() {
            buf[i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        push_ascii(out, &buf[..digits]);
    }
}

/// Appends `units / 10^decimals` with exactly `decimals` digits after the point, the same text as
/// `format!("{:.decimals$}", units as f64 / 10^decimals)` (the f64 route `requests.csv` took before).
///
/// Below 2^52 units (52 days in ns) the f64 is exact up to one rounding whose error is under half a
/// last printed digit, so that formatting rounds back to the exact digits printed here; beyond it the
/// slow f64 route is kept so the text never changes.
pub fn push_fixed(out: &mut String, units: u64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    if units >= 1 << 52 {
        use std::fmt::Write;
        let _ = write!(out, "{:.*}", decimals as usize, units as f64 / scale as f64);
        return;
    }
    push_u64(out, units / scale);
    if decimals == 0 {
        return;
    }
    out.push('.');
    let mut frac = units % scale;
    let mut buf = [b'0'; 19];
    let digits = decimals as usize;
    for i in (0..digits).rev() {
        buf[i] = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    push_ascii(out, &buf[..digits]);
}

/// One line of `requests.csv` (`sent_s,latency_ms,status,pod,via_activator,cold_start`), times in ns.
pub fn push_request_line(
    out: &mut String,
    sent_ns: u64,
    latency_ns: u64,
    status: u16,
    pod_slot: Option<u32>,
    via_activator: bool,
    cold_start: bool,
) {
    push_fixed(out, sent_ns, 9);
    out.push(',');
    push_fixed(out, latency_ns, 6);
    out.push(',');
    push_u64(out, u64::from(status));
    out.push(',');
    if let Some(slot) = pod_slot {
        push_u64(out, u64::from(slot));
    }
    out.push(',');
    out.push(if via_activator { '1' } else { '0' });
    out.push(',');
    out.push(if cold_start { '1' } else { '0' });
    out.push('\n');
}

/// Rounds to 6 decimals so float formatting never depends on accumulated noise in the last digits.
pub fn round6(v: f64) -> f64 {
    // Adding 0.0 turns -0.0 into 0.0, which would otherwise print as "-0".
    (v * 1e6).round() / 1e6 + 0.0
}

/// Receives each second's row as the run progresses.
pub trait TimeseriesSink {
    fn row(&mut self, row: &SecondRow) -> std::io::Result<()>;
    /// One Ready pod's LLM engine gauges at the end of the second (runs whose pods have a KV cache;
    /// called before that second's [`TimeseriesSink::row`]). Ignored unless a sink writes `pods.csv`.
    fn pod_engine(&mut self, _sample: &super::llm::PodEngineSample) -> std::io::Result<()> {
        Ok(())
    }
    /// Whether this sink reads a row's per-second latency percentiles (`latency_p50_ms` and the others).
    /// A sink that answers `false` may get them empty: the run then keeps no list of the second's
    /// latencies, which saves a push per response and a selection per second. Nothing else in the row or
    /// the summary changes (the summary's percentiles come from the run's own histogram).
    fn reads_latency_percentiles(&self) -> bool {
        true
    }
}

/// Discards rows (sweeps that only need the summary). Its rows carry no per-second latency percentiles
/// (see [`TimeseriesSink::reads_latency_percentiles`]).
pub struct NoTimeseries;
impl TimeseriesSink for NoTimeseries {
    fn row(&mut self, _row: &SecondRow) -> std::io::Result<()> {
        Ok(())
    }
    fn reads_latency_percentiles(&self) -> bool {
        false
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
    pub fn new(out: W) -> std::io::Result<Self> {
        Self::with_engine_columns(out, false)
    }

    /// With `engine`, the header also names [`super::llm::ENGINE_COLUMNS`] (runs whose pods have a KV
    /// cache: their rows carry them).
    pub fn with_engine_columns(mut out: W, engine: bool) -> std::io::Result<Self> {
        write!(out, "{}", TIMESERIES_COLUMNS.join(","))?;
        if engine {
            write!(out, ",{}", super::llm::ENGINE_COLUMNS.join(","))?;
        }
        writeln!(out)?;
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
    /// Simulated time: the traffic period plus the cooldown.
    pub duration_s: f64,
    /// The traffic period alone; `throughput_rps` is completions over it.
    pub traffic_duration_s: f64,
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
    /// The configuration the run used, resolved; a non-default value carries its source (see
    /// [`crate::scenario::effective`]).
    pub effective_config: serde_json::Value,
    /// LLM engine signals (pods with a KV cache only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<super::llm::LlmSummary>,
    /// Per-service results of a run with several services (absent with one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<super::services::ServicesSummary>,
    /// The route over several revisions of one service: traffic share per revision and the split's
    /// changes (absent without `revisions:`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::request_path::routes::RouteSummary>,
    /// SLO attainment, when the scenario sets `output.slo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<super::slo::SloSummary>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(v: f64) -> String {
        format!("{}", round6(v))
    }

    #[test]
    fn fast_float_text_is_the_shortest_form_of_round6() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut fixed = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e-7,
            -1e-7,
            4.9e-7,
            5e-7,
            0.1,
            0.3,
            2.675,
            123.4565,
            1e9,
            3.999_999_999e9,
            4.1e9,
            1e20,
            -1e20,
            0.000_001,
            999_999.999_999_5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for _ in 0..200_000 {
            let r = next();
            let mantissa = (r >> 11) as f64 / (1u64 << 53) as f64;
            let scale = 10f64.powi((r % 14) as i32 - 4);
            let sign = if r & 1 == 0 { 1.0 } else { -1.0 };
            fixed.push(sign * mantissa * scale);
            fixed.push((r % 100_000_000) as f64 / 1e6);
        }
        let mut out = String::new();
        for v in fixed {
            out.clear();
            push_f6(&mut out, v);
            assert_eq!(out, reference(v), "{v:e}");
        }
    }

    #[test]
    fn request_lines_match_the_f64_route() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut out = String::new();
        let mut values = vec![
            0u64,
            1,
            999_999_999,
            1_000_000_000,
            86_400_000_000_123,
            u64::MAX,
        ];
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(state >> (state % 40));
        }
        for ns in values {
            out.clear();
            push_fixed(&mut out, ns, 9);
            assert_eq!(out, format!("{:.9}", ns as f64 / 1e9), "{ns}");
            out.clear();
            push_fixed(&mut out, ns, 6);
            assert_eq!(out, format!("{:.6}", ns as f64 / 1_000_000.0), "{ns}");
        }
        out.clear();
        push_request_line(
            &mut out,
            1_500_000_000,
            20_000_001,
            200,
            Some(3),
            true,
            false,
        );
        push_request_line(&mut out, 2, 3, 502, None, false, true);
        assert_eq!(
            out,
            "1.500000000,20.000001,200,3,1,0\n0.000000002,0.000003,502,,0,1\n"
        );
    }

    #[test]
    fn integers_match_core_fmt() {
        let mut out = String::new();
        for v in [0i64, 1, -1, 9, 10, -10, 123_456_789, i64::MAX, i64::MIN] {
            out.clear();
            push_i64(&mut out, v);
            assert_eq!(out, v.to_string());
        }
        out.clear();
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string());
    }
}
