//! Per-service and cluster outputs of a run with several services sharing one cluster.
//!
//! * [`ServiceStats`]: what one service (revision) records while the run goes: request counts, latency
//!   (a compact log histogram, [`LogHistogram`]), cold starts, pod-seconds, GPU-seconds and the requests
//!   of its pods integrated per node pool (for cost attribution), plus counters of the current interval.
//! * `services.csv` ([`SERVICE_COLUMNS`]): one row per service per `output.service_interval` (default
//!   60 s), covering `[time_s - interval, time_s)`: counters summed over the interval, gauges (pods,
//!   queues) sampled at its end, latency percentiles of the interval from a [`LogHistogram`], and the
//!   service's own scaler columns at its end (`observed_stable` / `observed_panic` / `target_per_pod` /
//!   `panic` / `excess_burst_capacity` / `scale_reason` as the KPA or HPA fills them, whether its activator
//!   is in the path, and the cron jobs fired during the interval). A row per service per second would be
//!   86 million rows for 1,000 services over a day; the interval keeps the file proportional to
//!   services × duration / interval. (`timeseries.csv` adds the services up and leaves its scaler
//!   columns empty with several services: one row cannot hold every scaler's.)
//! * `cluster.csv` ([`cluster_columns`]): one row per second: nodes per pool, requested
//!   ("allocated") CPU, memory and GPUs on the nodes, CPU and GPU in use by Ready pods, and Pending pods.
//! * [`ServicesSummary`]: the `services` block of `summary.json`: one [`ServiceSummary`] per service and
//!   their totals, which equal the run's own totals (a test checks it).
//!
//! Units: latency in ms (percentiles within 0.5 % of the exact value: the histogram's buckets grow by
//! 1 % from 1 µs); CPU in cores, memory in bytes, time in seconds; cost in the scenario's currency.
//!
//! Memory per service is O(1) in the run length: the histogram grows with the largest latency seen (about
//! 8 KB for latencies up to 10 minutes), the interval counters are reset at each row.

use super::latency::LatencySummary;
use super::output::{push_f6, push_i64, push_u64, RequestCounts, SecondRow};
use serde::Serialize;

pub use super::log_histogram::LogHistogram;
use super::log_histogram::{round3, IntervalMark};

/// What one service records during a run (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct ServiceStats {
    pub counts: RequestCounts,
    pub in_flight: u64,
    pub latency: LogHistogram,
    /// Latency of the requests that waited for a cold start.
    pub cold_latency: LogHistogram,
    pub cold_starts: u64,
    pub scale_events: u64,
    pub pod_ns: u128,
    pub gpu_ns: u128,
    /// Ready pods integrated over time (pod·ns).
    pub ready_ns: u128,
    pub max_ready: u32,
    pub max_desired: u32,
    pub max_pending: u32,
    /// Requested core-, byte- and GPU-nanoseconds of the service's pods on each pool (placed to gone).
    pub per_pool_ns: Vec<[u128; 3]>,
    // ---- the current interval ----
    pub interval_arrivals: u64,
    pub interval_completions: u64,
    pub interval_failures: u64,
    pub interval_cold: u64,
    /// Latencies of the interval: read off `latency` since the interval's start (a list would grow with
    /// the requests per interval, and a second histogram would double each response's cache misses).
    pub interval_latency: IntervalMark,
    /// Arrivals of the current second (what the service's scaler sees).
    pub second_arrivals: u64,
}

/// A response's latency bucket whose count is still to be added to its service's histograms (see
/// [`ServiceStats::response_uncounted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct UncountedLatency {
    bucket: u32,
    cold: bool,
}

impl ServiceStats {
    pub fn new(pools: usize) -> Self {
        ServiceStats {
            per_pool_ns: vec![[0; 3]; pools],
            ..ServiceStats::default()
        }
    }

    #[inline]
    pub fn arrival(&mut self) {
        self.counts.total += 1;
        self.in_flight += 1;
        self.interval_arrivals += 1;
        self.second_arrivals += 1;
    }

    /// A response reached the client.
    pub fn response(&mut self, ok: bool, latency_ns: u64, cold: bool) {
        if let Some(uncounted) = self.response_uncounted(ok, latency_ns, cold) {
            self.count_latency(uncounted);
        }
    }

    /// [`ServiceStats::response`] except for the latency's bucket count, which is returned for
    /// [`ServiceStats::count_latency`] to add before anything reads this service's latencies (its
    /// cache line is fetched meanwhile: see [`LogHistogram::record_uncounted`]).
    #[inline]
    pub fn response_uncounted(
        &mut self,
        ok: bool,
        latency_ns: u64,
        cold: bool,
    ) -> Option<UncountedLatency> {
        self.in_flight = self.in_flight.saturating_sub(1);
        if ok {
            let us = latency_ns / 1000;
            let bucket = LogHistogram::bucket(us);
            self.counts.completed += 1;
            self.interval_completions += 1;
            self.latency.record_uncounted(bucket, us);
            self.interval_latency.record(us);
            if cold {
                self.counts.cold_start_affected += 1;
                self.interval_cold += 1;
                self.cold_latency.record_uncounted(bucket, us);
            }
            Some(UncountedLatency {
                bucket: bucket as u32,
                cold,
            })
        } else {
            self.counts.failed += 1;
            self.interval_failures += 1;
            None
        }
    }

    /// Adds the bucket count [`ServiceStats::response_uncounted`] left out.
    #[inline]
    pub fn count_latency(&mut self, uncounted: UncountedLatency) {
        let bucket = uncounted.bucket as usize;
        self.latency.count_in(bucket);
        if uncounted.cold {
            self.cold_latency.count_in(bucket);
        }
    }

    /// A pod's requests held on a pool from `placed` to `end` (ns).
    pub fn pod_held(&mut self, pool: usize, cpu_millis: u64, memory: u64, gpus: u32, ns: u64) {
        if let Some(slot) = self.per_pool_ns.get_mut(pool) {
            slot[0] += u128::from(cpu_millis) * u128::from(ns);
            slot[1] += u128::from(memory) * u128::from(ns);
            slot[2] += u128::from(gpus) * u128::from(ns);
        }
    }

    /// For [`crate::workload::cluster::cost::attribute`]: core-seconds, byte-seconds, GPU-seconds per pool.
    pub fn allocation(&self, name: &str) -> crate::workload::cluster::ServiceAllocation {
        crate::workload::cluster::ServiceAllocation {
            service: name.to_string(),
            per_pool: self
                .per_pool_ns
                .iter()
                .map(|a| [a[0] as f64 / 1e12, a[1] as f64 / 1e9, a[2] as f64 / 1e9])
                .collect(),
        }
    }
}

/// Columns of `services.csv`, in order.
pub const SERVICE_COLUMNS: &[&str] = &[
    "service",
    "time_s",
    "arrivals",
    "completions",
    "failures",
    "in_flight",
    "activator_queue",
    "desired_pods",
    "ready_pods",
    "pending_pods",
    "starting_pods",
    "terminating_pods",
    "latency_p50_ms",
    "latency_p99_ms",
    "cold_start_completions",
    "observed_stable",
    "observed_panic",
    "target_per_pod",
    "panic",
    "excess_burst_capacity",
    "activator_in_path",
    "scale_reason",
    "cron_fire",
];

/// The gauges of one service at a row's end.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServiceGauges {
    pub activator_queue: u64,
    pub desired: u32,
    pub ready: u32,
    pub pending: u32,
    pub starting: u32,
    pub terminating: u32,
}

/// Appends the service's row for the interval ending at `time_s` and resets the interval counters.
/// `scaler` holds the service's scaler columns (as [`crate::autoscaler::scaler::Scaler::columns`] fills
/// them) and whether its activator is in the path.
pub fn write_service_row(
    out: &mut String,
    name: &str,
    time_s: u64,
    stats: &mut ServiceStats,
    g: ServiceGauges,
    scaler: &SecondRow,
) {
    out.push_str(name);
    out.push(',');
    for v in [
        time_s,
        stats.interval_arrivals,
        stats.interval_completions,
        stats.interval_failures,
        stats.in_flight,
        g.activator_queue,
        u64::from(g.desired),
        u64::from(g.ready),
        u64::from(g.pending),
        u64::from(g.starting),
        u64::from(g.terminating),
    ] {
        push_u64(out, v);
        out.push(',');
    }
    let lat = &mut stats.interval_latency;
    for q in [0.50, 0.99] {
        if !lat.is_empty() {
            push_f6(out, round3(lat.quantile_us(&stats.latency, q) / 1e3));
        }
        out.push(',');
    }
    push_u64(out, stats.interval_cold);
    for v in [
        scaler.observed_stable,
        scaler.observed_panic,
        scaler.target_per_pod,
    ] {
        out.push(',');
        if let Some(v) = v {
            push_f6(out, v);
        }
    }
    out.push(',');
    push_u64(out, u64::from(scaler.panic));
    out.push(',');
    if let Some(v) = scaler.excess_burst_capacity {
        push_i64(out, v);
    }
    out.push(',');
    push_u64(out, u64::from(scaler.activator_in_path));
    out.push(',');
    out.push_str(scaler.scale_reason);
    out.push(',');
    if let Some(c) = &scaler.cron_fire {
        out.push_str(c);
    }
    out.push('\n');
    stats.interval_arrivals = 0;
    stats.interval_completions = 0;
    stats.interval_failures = 0;
    stats.interval_cold = 0;
    lat.mark(&stats.latency);
}

/// Columns of `cluster.csv` for the given pool names.
pub fn cluster_columns(pools: &[String]) -> Vec<String> {
    let mut cols = vec!["time_s".to_string()];
    cols.extend(pools.iter().map(|p| format!("nodes_{p}")));
    cols.extend(
        [
            "cpu_allocated_cores",
            "cpu_used_cores",
            "memory_allocated_gib",
            "gpus_allocated",
            "gpus_busy",
            "pending_pods",
        ]
        .map(String::from),
    );
    cols
}

/// One second of the cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterRow {
    pub time_s: u64,
    pub nodes_per_pool: Vec<u32>,
    pub cpu_allocated_cores: f64,
    pub cpu_used_cores: f64,
    pub memory_allocated_gib: f64,
    pub gpus_allocated: u64,
    pub gpus_busy: f64,
    pub pending_pods: u32,
}

impl ClusterRow {
    pub fn write_csv(&self, out: &mut String) {
        push_u64(out, self.time_s);
        for n in &self.nodes_per_pool {
            out.push(',');
            push_u64(out, u64::from(*n));
        }
        for v in [
            self.cpu_allocated_cores,
            self.cpu_used_cores,
            self.memory_allocated_gib,
        ] {
            out.push(',');
            push_f6(out, v);
        }
        out.push(',');
        push_u64(out, self.gpus_allocated);
        out.push(',');
        push_f6(out, self.gpus_busy);
        out.push(',');
        push_u64(out, u64::from(self.pending_pods));
        out.push('\n');
    }
}

/// One service in `summary.json`'s `services` block.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ServiceSummary {
    pub service: String,
    pub autoscaler: String,
    pub requests: RequestCounts,
    pub latency_ms: LatencySummary,
    /// Latency of the requests that waited for a cold start.
    pub cold_start_latency_ms: LatencySummary,
    pub cold_starts: u64,
    pub max_ready: u32,
    pub mean_ready: f64,
    pub max_pending: u32,
    pub pod_seconds: f64,
    pub gpu_seconds: f64,
    /// The service's share of the node cost, by requested resources (absent without prices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// How a KServe component or graph router is scaled (its resolved `metric`, `target`, `min-scale`,
    /// `max-scale`, ...) and what it calls; present in runs with a `kserve:` section only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<std::collections::BTreeMap<String, String>>,
}

impl ServiceSummary {
    pub fn from_stats(name: &str, autoscaler: &str, s: &ServiceStats, run_ns: u64) -> Self {
        ServiceSummary {
            service: name.to_string(),
            autoscaler: autoscaler.to_string(),
            requests: s.counts.clone(),
            latency_ms: s.latency.summary(),
            cold_start_latency_ms: s.cold_latency.summary(),
            cold_starts: s.cold_starts,
            max_ready: s.max_ready,
            mean_ready: if run_ns == 0 {
                0.0
            } else {
                round6(s.ready_ns as f64 / run_ns as f64)
            },
            max_pending: s.max_pending,
            pod_seconds: round6(s.pod_ns as f64 / 1e9),
            gpu_seconds: round6(s.gpu_ns as f64 / 1e9),
            cost: None,
            component: None,
        }
    }
}

fn round6(v: f64) -> f64 {
    super::output::round6(v)
}

/// The `services` block of `summary.json`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ServicesSummary {
    pub count: usize,
    /// Sums over the services (latency percentiles are not summed; see the run's own `latency_ms`).
    pub totals: ServiceTotals,
    pub services: Vec<ServiceSummary>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ServiceTotals {
    pub requests: RequestCounts,
    pub cold_starts: u64,
    pub pod_seconds: f64,
    pub gpu_seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl ServicesSummary {
    pub fn new(services: Vec<ServiceSummary>) -> Self {
        let mut t = ServiceTotals::default();
        for s in &services {
            let r = &s.requests;
            t.requests.total += r.total;
            t.requests.completed += r.completed;
            t.requests.failed += r.failed;
            t.requests.timed_out += r.timed_out;
            t.requests.rejected += r.rejected;
            t.requests.cold_start_affected += r.cold_start_affected;
            t.requests.in_flight_at_end += r.in_flight_at_end;
            t.cold_starts += s.cold_starts;
            t.pod_seconds += s.pod_seconds;
            t.gpu_seconds += s.gpu_seconds;
            if let Some(c) = s.cost {
                *t.cost.get_or_insert(0.0) += c;
            }
        }
        t.pod_seconds = round6(t.pod_seconds);
        t.gpu_seconds = round6(t.gpu_seconds);
        t.cost = t.cost.map(round6);
        ServicesSummary {
            count: services.len(),
            totals: t,
            services,
        }
    }

    /// A text table, one line per service (the busiest `limit` by requests, then a line for the rest).
    pub fn table(&self, limit: usize) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  {:<24} {:>10} {:>8} {:>9} {:>9} {:>9} {:>6} {:>6} {:>10} {:>10}",
            "service",
            "requests",
            "failed",
            "p50 ms",
            "p99 ms",
            "cold p99",
            "cold",
            "maxpod",
            "pod-h",
            "cost"
        );
        let mut order: Vec<&ServiceSummary> = self.services.iter().collect();
        order.sort_by(|a, b| {
            b.requests
                .total
                .cmp(&a.requests.total)
                .then_with(|| a.service.cmp(&b.service))
        });
        for s in order.iter().take(limit) {
            let cold = if s.cold_start_latency_ms.max > 0.0 {
                format!("{:.0}", s.cold_start_latency_ms.p99)
            } else {
                "-".into()
            };
            let _ = writeln!(
                out,
                "  {:<24} {:>10} {:>8} {:>9.1} {:>9.1} {:>9} {:>6} {:>6} {:>10.2} {:>10}",
                truncate(&s.service, 24),
                s.requests.total,
                s.requests.failed,
                s.latency_ms.p50,
                s.latency_ms.p99,
                cold,
                s.cold_starts,
                s.max_ready,
                s.pod_seconds / 3600.0,
                s.cost.map_or("-".into(), |c| format!("{c:.2}")),
            );
        }
        if order.len() > limit {
            let _ = writeln!(out, "  ... and {} more services", order.len() - limit);
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "  {:<24} {:>10} {:>8} {:>9} {:>9} {:>9} {:>6} {:>6} {:>10.2} {:>10}",
            "total",
            t.requests.total,
            t.requests.failed,
            "",
            "",
            "",
            t.cold_starts,
            "",
            t.pod_seconds / 3600.0,
            t.cost.map_or("-".into(), |c| format!("{c:.2}")),
        );
        out
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_the_services_up_and_rows_reset_the_interval() {
        let mut a = ServiceStats::new(1);
        a.arrival();
        a.arrival();
        a.response(true, 5_000_000, true);
        a.response(false, 0, false);
        a.cold_starts = 1;
        a.pod_ns = 3_000_000_000;
        let mut line = String::new();
        let kpa = SecondRow {
            observed_stable: Some(1.5),
            target_per_pod: Some(70.0),
            panic: true,
            excess_burst_capacity: Some(-3),
            activator_in_path: true,
            scale_reason: "panic",
            ..SecondRow::default()
        };
        write_service_row(&mut line, "a", 60, &mut a, ServiceGauges::default(), &kpa);
        assert_eq!(
            line,
            "a,60,2,1,1,0,0,0,0,0,0,0,5,5,1,1.5,,70,1,-3,1,panic,\n"
        );
        line.clear();
        let cron = SecondRow {
            cron_fire: Some("up=3".into()),
            ..SecondRow::default()
        };
        write_service_row(&mut line, "a", 120, &mut a, ServiceGauges::default(), &cron);
        assert_eq!(line, "a,120,0,0,0,0,0,0,0,0,0,0,,,0,,,,0,,0,,up=3\n");
        assert_eq!(line.split(',').count(), SERVICE_COLUMNS.len());
        let mut b = ServiceStats::new(1);
        b.arrival();
        b.response(true, 1_000_000, false);
        let sa = ServiceSummary::from_stats("a", "kpa", &a, 1);
        let sb = ServiceSummary::from_stats("b", "kpa", &b, 1);
        assert_eq!(sa.cold_start_latency_ms.p50, 5.0);
        let all = ServicesSummary::new(vec![sa, sb]);
        assert_eq!(all.totals.requests.total, 3);
        assert_eq!(all.totals.requests.completed, 2);
        assert_eq!(all.totals.requests.failed, 1);
        assert_eq!(all.totals.pod_seconds, 3.0);
        assert!(all.table(1).contains("and 1 more services"));
    }
}
