//! The end of a run: the last (possibly partial) row, the pods still alive counted up to the end, and the
//! [`RunSummary`] (requests, latency, replicas, pod- and GPU-seconds, cold-start phases, cluster and cost).
//!
//! Units: seconds in the summary (simulated), latency in ms, pod-seconds and GPU-seconds.
//!
//! Assumption: the summary's autoscaler label, panic seconds and service model are the first revision's
//! (the only one today); counts and pod-seconds add up all revisions.

use crate::observe::output::{
    ClusterSummary, ColdStartSummary, ReplicaSummary, RunSummary, TimeseriesSink,
};
use crate::sim::config::SimError;
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use crate::workload::deployment::account_pod_time;
use crate::workload::pods::PodState;

impl Sim {
    /// Writes the last row (`[last whole second, end]`, partial when the run ends between seconds) and
    /// builds the summary.
    pub(crate) fn finish(mut self, sink: &mut dyn TimeseriesSink) -> Result<RunSummary, SimError> {
        let end = self.end;
        if end > self.last_row_at {
            let whole = end - self.last_row_at == SimDuration::from_secs(1);
            self.write_row(end, whole, sink)?;
        }
        if let Some(m) = self.multi.as_mut() {
            m.flush()?;
        }
        Ok(self.summary_at(end))
    }

    /// The summary of the run up to `at` (the end, or a time the run has been stepped to), as if it ended
    /// there: requests still in flight count as in flight at the end, live pods count up to `at`, and
    /// time-weighted means run over the rows written so far. Nothing in the run changes, so it can go on.
    pub(crate) fn summary_at(&self, at: SimTime) -> RunSummary {
        let end = at;
        let mut stats = self.service_stats_now();
        let (mut pod_ns, mut gpu_ns) = (self.pod_ns, self.gpu_ns);
        for (rev, stats) in self.revisions.iter().zip(&mut stats) {
            for p in rev.pods.iter().filter(|p| p.state != PodState::Gone) {
                let pool = p.node.map(|n| self.cluster.nodes[n as usize].pool);
                let (pod, gpu) = account_pod_time(stats, p, pool, end);
                pod_ns += pod;
                gpu_ns += gpu;
            }
            stats.counts.in_flight_at_end = stats.in_flight;
        }
        let services = self
            .multi
            .is_some()
            .then(|| self.services_summary(&stats, end));
        let cold_start_s = ColdStartSummary::from_phases(&self.cold_start_phases);
        let cluster = ClusterSummary {
            max_nodes: self.cluster.max_nodes,
            final_nodes: self.cluster.live_nodes(),
            nodes_added: self.cluster.nodes_added,
            nodes_removed: self.cluster.nodes_removed,
            node_seconds: self.cluster.node_seconds(end),
            max_pending_pods: self.max_pending,
            autoscaler: self
                .cluster
                .model
                .autoscaling
                .map(|_| self.cluster.stats.clone()),
            cost: match &services {
                Some((_, cost)) => cost.clone(),
                None => self.cluster.cost(&self.cfg.name, end),
            },
            scheduling: if self
                .cluster
                .model
                .pools
                .iter()
                .all(|p| p.cpu_millis == u64::MAX)
            {
                "unlimited".into()
            } else {
                match self.cluster.model.policy {
                    crate::workload::cluster::Policy::FirstFit => "first_fit".into(),
                    crate::workload::cluster::Policy::MostAllocated => "most_allocated".into(),
                }
            },
        };
        let mut counts = self.counts.clone();
        counts.in_flight_at_end = self.in_flight;
        // The summary's autoscaler and service model are the first revision's (the only one today;
        // per-revision summaries come with several services per cluster, issue 16).
        let first = &self.revisions[0];
        let final_ready: u32 = self.revisions.iter().map(|r| r.ready.len() as u32).sum();
        // Complete: the last row and the end of every step move the counted latencies in.
        let latency_ms = crate::observe::latency::summarize(&self.latency);
        let histogram = crate::observe::latency::buckets(&self.latency);
        let latency_cdf_ms = crate::observe::latency::cdf(&self.latency);
        let duration_s = (end.0 as f64) / NANOS_PER_SEC as f64;
        let traffic_duration_s = (self.traffic_end.min(end).0 as f64) / NANOS_PER_SEC as f64;
        RunSummary {
            scenario: self.cfg.name.clone(),
            seed: self.cfg.seed,
            duration_s,
            traffic_duration_s,
            autoscaler: first.scaler.label().to_string(),
            requests: counts.clone(),
            latency_ms,
            latency_histogram_ms: histogram,
            latency_cdf_ms,
            status_codes: self
                .status_codes
                .iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            // Over the traffic period: a cooldown adds time but no offered load.
            throughput_rps: if traffic_duration_s > 0.0 {
                counts.completed as f64 / traffic_duration_s
            } else {
                0.0
            },
            replicas: ReplicaSummary {
                max_ready: self.max_ready,
                // Time-weighted, so a final partial row counts for its length.
                mean_ready: if self.last_row_at.0 > 0 {
                    self.ready_ns as f64 / self.last_row_at.0 as f64
                } else {
                    0.0
                },
                max_desired: self.max_desired,
                max_pod_concurrency: self.max_pod_concurrency,
                final_ready,
            },
            pod_seconds: pod_ns as f64 / 1e9,
            gpu_seconds: gpu_ns as f64 / 1e9,
            cold_start_s,
            cluster,
            service_model: first.service.label().to_string(),
            scale_events: self.scale_events,
            panic_seconds: first.scaler.panic_seconds() as f64,
            cold_starts: self.cold_starts,
            events_processed: self.queue.events_processed(),
            wall_time_s: 0.0,
            settings: self.cfg.settings.clone(),
            effective_config: self.cfg.effective_config.clone(),
            llm: self.llm.as_ref().map(|l| l.summary()),
            services: services.map(|(s, _)| s),
            route: self.route.as_ref().map(|r| r.route.summary()),
            slo: self.slo.as_ref().map(|s| s.summary_at(end)),
        }
    }
}
