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
use crate::time::{SimDuration, NANOS_PER_SEC};
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
        for rev in &mut self.revisions {
            for p in rev.pods.iter().filter(|p| p.state != PodState::Gone) {
                let pool = p.node.map(|n| self.cluster.nodes[n as usize].pool);
                let (pod_ns, gpu_ns) = account_pod_time(&mut rev.stats, p, pool, end);
                self.pod_ns += pod_ns;
                self.gpu_ns += gpu_ns;
            }
            rev.stats.counts.in_flight_at_end = rev.stats.in_flight;
        }
        let services = if self.multi.is_some() {
            let (services, cost) = self.services_summary(end);
            Some((services, cost))
        } else {
            None
        };
        if let Some(m) = self.multi.as_mut() {
            m.flush()?;
        }
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
        self.counts.in_flight_at_end = self.in_flight;
        // The summary's autoscaler and service model are the first revision's (the only one today;
        // per-revision summaries come with several services per cluster, issue 16).
        let first = &self.revisions[0];
        let final_ready: u32 = self.revisions.iter().map(|r| r.ready.len() as u32).sum();
        let latency_ms = crate::observe::latency::summarize(&self.latency);
        let histogram = crate::observe::latency::buckets(&self.latency);
        let latency_cdf_ms = crate::observe::latency::cdf(&self.latency);
        let duration_s = (self.end.0 as f64) / NANOS_PER_SEC as f64;
        let traffic_duration_s = (self.traffic_end.0 as f64) / NANOS_PER_SEC as f64;
        Ok(RunSummary {
            scenario: self.cfg.name.clone(),
            seed: self.cfg.seed,
            duration_s,
            traffic_duration_s,
            autoscaler: first.scaler.label().to_string(),
            requests: self.counts.clone(),
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
                self.counts.completed as f64 / traffic_duration_s
            } else {
                0.0
            },
            replicas: ReplicaSummary {
                max_ready: self.max_ready,
                // Time-weighted, so a final partial row counts for its length.
                mean_ready: if self.end.0 > 0 {
                    self.ready_ns as f64 / self.end.0 as f64
                } else {
                    0.0
                },
                max_desired: self.max_desired,
                max_pod_concurrency: self.max_pod_concurrency,
                final_ready,
            },
            pod_seconds: self.pod_ns as f64 / 1e9,
            gpu_seconds: self.gpu_ns as f64 / 1e9,
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
            slo: self.slo.take().map(|s| s.finish()),
        })
    }
}
