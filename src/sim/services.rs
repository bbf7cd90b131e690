//! Several services in one world (issue 16): one revision per service, all sharing the cluster (node
//! pools, the scheduler's queue, the Cluster Autoscaler), each with its own scaler, activator, request
//! path and traffic source.
//!
//! * Traffic: the first service's traffic is the world's source (as in a single-service run); every other
//!   service has its own open-loop source, with its own random stream (from its own seed), and one pending
//!   arrival in the event queue ([`Event::ServiceArrival`]). So the event queue holds one arrival per
//!   service at a time: the per-event cost is that of the queue (logarithmic in pending events), not a
//!   scan over services.
//! * Scalers see their own service's arrivals and requests in flight.
//! * Outputs: the world's `timeseries.csv` row adds all services up (as with one service); each service
//!   writes a `services.csv` row every `interval` seconds, and the cluster a `cluster.csv` row every
//!   second (see [`crate::observe::services`]), and, with `output.per_pod`, `pods.csv` gets each Ready
//!   KV-cache pod's engine gauges every second with a `service` column. The summary gets a `services` block, and the node cost is
//!   attributed to services by the resources their pods requested on each pool.
//!
//! * Random streams: every service draws its traffic, service times, cold starts, load balancing, network
//!   delays and its KPA's scrape sampling from its own streams, seeded from its own seed (derived from the
//!   scenario seed and its name), so adding a service never changes another's draws; services still
//!   interact through the cluster (capacity, node timing), whose stream is the run's.
//!
//! * A scaler at rest ([`crate::autoscaler::scaler::Scaler::quiescent`]) is left out of the 1 s tick until
//!   something reaches it; [`MultiOutputs::every_second`] steps every scaler every second instead (the
//!   outputs are the same, which a test checks).
//!
//! Simplifications: closed-loop clients are not supported with several services (each service is open
//! loop); the per-second row's scaler columns are empty (each service's are in its `services.csv` rows). The run's `max_desired` is the
//! largest total of the services' replica counts seen at a tick.

use crate::engine::prefetch::prefetch_lines;
use crate::ids::RevisionId;
use crate::observe::llm::PodEngineSample;
use crate::observe::output::SecondRow;
use crate::observe::services::{
    cluster_columns, write_service_row, ClusterRow, ServiceGauges, ServiceSummary, ServicesSummary,
    SERVICE_COLUMNS,
};
use crate::sim::config::{SimConfig, SimError, Traffic};
use crate::sim::world::*;
use crate::time::{SimTime, NANOS_PER_SEC};
use crate::workload::cluster::NodeState;
use crate::workload::pods::PodState;
use std::io::Write;

/// Where the per-service and cluster rows go, and how often service rows are written.
pub struct MultiOutputs {
    pub services: Box<dyn Write + Send>,
    pub cluster: Box<dyn Write + Send>,
    /// Seconds per `services.csv` row (at least 1).
    pub interval_s: u64,
    /// Step every scaler on every tick, even one at rest (a check: the outputs must be the same).
    pub every_second: bool,
    /// Scaler ticks left out because the scaler was at rest (shared, so the caller can read it after the
    /// run).
    pub skipped_ticks: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// `pods.csv`, when asked for ([`MultiOutputs::with_pods`]).
    pods: Option<Box<dyn Write + Send>>,
    line: String,
}

impl MultiOutputs {
    /// Writes the two CSV headers.
    pub fn new(
        mut services: Box<dyn Write + Send>,
        mut cluster: Box<dyn Write + Send>,
        interval_s: u64,
        pools: &[String],
    ) -> std::io::Result<Self> {
        writeln!(services, "{}", SERVICE_COLUMNS.join(","))?;
        writeln!(cluster, "{}", cluster_columns(pools).join(","))?;
        Ok(MultiOutputs {
            services,
            cluster,
            interval_s: interval_s.max(1),
            every_second: false,
            skipped_ticks: Default::default(),
            pods: None,
            line: String::with_capacity(256),
        })
    }

    /// Also writes `pods.csv` rows: each Ready pod of every service whose pods have a KV cache, every
    /// second (the single-service file's columns after a `service` column).
    pub fn with_pods(mut self, mut pods: Box<dyn Write + Send>) -> std::io::Result<Self> {
        writeln!(
            pods,
            "service,{}",
            crate::observe::llm::POD_COLUMNS.join(",")
        )?;
        self.pods = Some(pods);
        Ok(self)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.services.flush()?;
        if let Some(p) = self.pods.as_mut() {
            p.flush()?;
        }
        self.cluster.flush()
    }
}

/// One service ready to join the world.
pub struct ServiceRun {
    pub config: SimConfig,
    pub traffic: Traffic,
}

impl Sim {
    /// A world of several services: the first one's configuration sets the run (name, seed, duration,
    /// cluster); every service becomes a revision.
    pub(crate) fn new_services(
        name: &str,
        seed: u64,
        services: Vec<ServiceRun>,
        outputs: MultiOutputs,
    ) -> Result<Self, SimError> {
        let mut it = services.into_iter();
        let first = it
            .next()
            .ok_or_else(|| SimError::Config("no services".into()))?;
        let mut world_cfg = first.config;
        let mut calls = vec![world_cfg.calls.take()];
        let service_name = std::mem::replace(&mut world_cfg.name, name.to_string());
        if first.traffic.closed_loop.is_some() {
            return Err(SimError::Config(
                "closed_loop traffic is supported only with one service".into(),
            ));
        }
        // The world is built with the first service's seed, so its revision, scaler and traffic (the world's
        // source) draw from that service's own streams; then the run takes the scenario's seed, and the
        // cluster is seeded from it (it belongs to no service).
        let mut sim = Sim::new(world_cfg, first.traffic);
        sim.revisions[0].name = service_name;
        sim.cfg.seed = seed;
        sim.cluster =
            crate::workload::cluster::Cluster::new(sim.cfg.pod_model.cluster.clone()).seeded(seed);
        for (i, mut s) in it.enumerate() {
            if s.traffic.closed_loop.is_some() {
                return Err(SimError::Config(
                    "closed_loop traffic is supported only with one service".into(),
                ));
            }
            let streams = crate::engine::RngStreams::new(s.config.seed);
            let id = RevisionId::new(i as u32 + 1, 0);
            calls.push(s.config.calls.take());
            let mut rev = Revision::new(id, &mut s.config, &streams);
            rev.source = s.traffic.open_loop;
            sim.revisions.push(rev);
        }
        sim.multi = Some(outputs);
        sim.install_calls(calls, seed)?;
        Ok(sim)
    }

    /// Starts every service's own traffic source (after [`Sim::start`]).
    pub(crate) fn start_services(&mut self) -> Result<(), SimError> {
        for i in 1..self.revisions.len() {
            let rv = self.revisions[i].id;
            self.fetch_service_arrival(rv)?;
        }
        Ok(())
    }

    pub(crate) fn fetch_service_arrival(&mut self, rv: RevisionId) -> Result<(), SimError> {
        let traffic_end = self.traffic_end;
        let rev = &mut self.revisions[rv.index()];
        let Some(source) = rev.source.as_mut() else {
            return Ok(());
        };
        match source.next_arrival(&mut rev.traffic_rng)? {
            Some(arrival) if arrival.at < traffic_end => {
                let at = arrival.at.max(self.queue.now());
                rev.pending_arrival = Some(arrival);
                self.at(at, Event::ServiceArrival(rv));
            }
            _ => rev.source = None,
        }
        Ok(())
    }

    pub(crate) fn service_arrival(&mut self, now: SimTime, rv: RevisionId) -> Result<(), SimError> {
        // Cache hint: the source's state, read once the request is sent (see `engine::prefetch`).
        if let Some(source) = self.revisions[rv.index()].source.as_deref() {
            prefetch_lines(source, 2);
        }
        let sent = self.revisions[rv.index()]
            .pending_arrival
            .take()
            .map(|arrival| self.send_to(now, rv, OPEN_LOOP, arrival.attrs));
        self.fetch_service_arrival(rv)?;
        if let Some(sent) = sent {
            self.reach_ingress(sent);
        }
        Ok(())
    }

    /// Cache hint for the event likely to come after the one being handled (see `engine::prefetch`):
    /// with many services, its revision's fields or its request's record. Only when there are several
    /// services: with one, its state stays in cache and the hint would be pure cost.
    #[inline]
    pub(crate) fn prefetch_next_event(&self) {
        if self.multi.is_none() {
            return;
        }
        match self.queue.likely_next() {
            Some(&Event::ServiceArrival(rv)) => {
                if let Some(rev) = self.revisions.get(rv.index()) {
                    rev.prefetch_fields();
                }
            }
            Some(&Event::ServiceDone(id) | &Event::AtIngress(id) | &Event::AtClient(id)) => {
                if let Some(r) = self.requests.get(id.index()) {
                    prefetch_lines(r, 2);
                }
            }
            _ => {}
        }
    }

    /// A response of revision `rv` reached its client (or caller): into the service's statistics, with
    /// its latency bucket counted at the next response (or before anything reads the statistics: see
    /// [`Sim::count_last_latency`]), by when the bucket's cache line has arrived.
    #[inline]
    pub(crate) fn service_response(
        &mut self,
        rv: RevisionId,
        ok: bool,
        latency_ns: u64,
        cold: bool,
    ) {
        let stats = &mut self.revisions[rv.index()].stats;
        let uncounted = stats
            .response_uncounted(ok, latency_ns, cold)
            .map(|u| (rv.index() as u32, u));
        if let Some((index, last)) = std::mem::replace(&mut self.uncounted_latency, uncounted) {
            self.revisions[index as usize].stats.count_latency(last);
        }
    }

    /// Counts the latency bucket [`Sim::service_response`] left for later, before the services' rows
    /// read their statistics.
    #[inline]
    pub(crate) fn count_last_latency(&mut self) {
        if let Some((index, last)) = self.uncounted_latency.take() {
            self.revisions[index as usize].stats.count_latency(last);
        }
    }

    /// A copy of every revision's statistics with every latency counted (the run's own may still hold
    /// the last response's bucket uncounted), for a summary read between steps.
    pub(crate) fn service_stats_now(&self) -> Vec<crate::observe::services::ServiceStats> {
        let mut stats: Vec<_> = self.revisions.iter().map(|r| r.stats.clone()).collect();
        if let Some((index, last)) = self.uncounted_latency {
            stats[index as usize].count_latency(last);
        }
        stats
    }

    /// The `services.csv` / `cluster.csv` rows of a tick (the services' per-tick bookkeeping is in the
    /// tick's pass over the revisions). `last` is the run's final row (which closes the current service
    /// interval too); `pending` counts the Pending pods; `used` is the CPU (cores) and GPUs in use by Ready
    /// pods when the pod pass's figures still hold (`None`: count them again).
    pub(crate) fn sample_services(
        &mut self,
        now: SimTime,
        last: bool,
        pending: u32,
        used: Option<(f64, f64)>,
    ) -> Result<(), SimError> {
        let time_s = now.0.div_ceil(NANOS_PER_SEC);
        self.count_last_latency();
        let Some(out) = self.multi.as_mut() else {
            return Ok(());
        };
        if time_s.is_multiple_of(out.interval_s) || last {
            for rev in &mut self.revisions {
                let g = ServiceGauges {
                    activator_queue: rev.activator.queued() as u64,
                    desired: rev.desired,
                    ready: rev.ready.len() as u32,
                    pending: rev.pending_now,
                    starting: rev.starting - rev.pending_now.min(rev.starting),
                    terminating: rev.terminating,
                };
                out.line.clear();
                let mut scaler = SecondRow {
                    activator_in_path: rev.activator.in_path,
                    ..SecondRow::default()
                };
                rev.scaler.columns(&mut scaler);
                write_service_row(&mut out.line, &rev.name, time_s, &mut rev.stats, g, &scaler);
                out.services.write_all(out.line.as_bytes())?;
            }
        }
        if let Some(pods) = out.pods.as_mut() {
            for rev in self
                .revisions
                .iter()
                .filter(|r| r.service.kv_cache_tokens().is_some())
            {
                for &pod in &rev.ready {
                    let p = &rev.pods[pod as usize];
                    out.line.clear();
                    out.line.push_str(&rev.name);
                    out.line.push(',');
                    PodEngineSample {
                        time_s,
                        pod,
                        running: p.executing,
                        waiting: p.queued,
                        kv_usage: p.rate.kv_usage(now),
                    }
                    .write_csv(&mut out.line);
                    pods.write_all(out.line.as_bytes())?;
                }
            }
        }
        let mut row = ClusterRow {
            time_s,
            nodes_per_pool: vec![0; self.cluster.model.pools.len()],
            ..ClusterRow::default()
        };
        for n in &self.cluster.nodes {
            if n.state == NodeState::Removed {
                continue;
            }
            row.nodes_per_pool[n.pool] += 1;
            row.cpu_allocated_cores += n.cpu_used as f64 / 1000.0;
            row.memory_allocated_gib += n.memory_used as f64 / f64::from(1u32 << 30);
            row.gpus_allocated += u64::from(n.gpus_used);
        }
        if let Some((cpu, gpus)) = used {
            row.cpu_used_cores = cpu;
            row.gpus_busy = gpus;
        } else {
            for rev in &self.revisions {
                for p in rev.pods.iter().filter(|p| p.state == PodState::Ready) {
                    let busy = p.executing.min(1);
                    row.cpu_used_cores += (rev.resources.cpu_idle_millis
                        + f64::from(p.executing) * rev.resources.cpu_per_request_millis)
                        / 1000.0;
                    if rev.shape.gpus > 0 {
                        row.gpus_busy += f64::from(busy) * f64::from(rev.shape.gpus);
                    }
                }
            }
        }
        row.pending_pods = pending;
        out.line.clear();
        row.write_csv(&mut out.line);
        out.cluster.write_all(out.line.as_bytes())?;
        Ok(())
    }

    /// The `services` block of the summary, with each service's share of the node cost; `stats` are the
    /// revisions' statistics with their live pods counted up to `end`.
    pub(crate) fn services_summary(
        &self,
        stats: &[crate::observe::services::ServiceStats],
        end: SimTime,
    ) -> (
        ServicesSummary,
        Option<crate::workload::cluster::CostSummary>,
    ) {
        let allocations: Vec<_> = self
            .revisions
            .iter()
            .zip(stats)
            .map(|(r, s)| s.allocation(&r.name))
            .collect();
        let priced = self
            .cluster
            .model
            .pools
            .iter()
            .any(|p| p.price_per_hour > 0.0 || p.gpu_price_per_hour > 0.0);
        let cost = priced.then(|| {
            crate::workload::cluster::cost::attribute(
                &self.cluster.model.pools,
                &self.cluster.pool_node_seconds(end),
                &allocations,
            )
        });
        let services = self
            .revisions
            .iter()
            .zip(stats)
            .enumerate()
            .map(|(i, (r, stats))| {
                let mut s = ServiceSummary::from_stats(&r.name, r.scaler.label(), stats, end.0);
                s.cost = cost.as_ref().map(|c| c.services[i].cost);
                s.component = self.calls.as_ref().and_then(|c| c.describe(i));
                s
            })
            .collect();
        (ServicesSummary::new(services), cost)
    }
}

#[cfg(test)]
mod tests {
    use crate::observe::output::NoTimeseries;
    use crate::sim::facade::Simulation;
    use crate::time::SimTime;

    /// A response's latency bucket is counted one response later (`Sim::service_response`): a summary
    /// read between steps must still see every latency in a bucket, and so must the final one.
    #[test]
    fn every_latency_is_in_a_bucket_when_read() {
        let text = "name: three\nduration: 40s\ncooldown: 0s\nseed: 5\n\
            pod: {cold_start: 1s, service_time: {dist: exponential, mean: 30ms}}\n\
            autoscaler: {class: kpa}\n\
            services:\n\
            - {name: a, traffic: {kind: poisson, rate: 40}}\n\
            - {name: b, traffic: {kind: poisson, rate: 7}}\n\
            - {name: c, traffic: {kind: poisson, rate: 1}}\n";
        let mut sim = Simulation::from_str(text, "three.yaml", &[], None).unwrap();
        let mut held_back = 0;
        // Between ticks: each tick's rows count the held-back bucket.
        for ms in [3_500, 11_250, 17_900, 29_400, 33_700] {
            sim.step_until(SimTime::from_millis(ms), &mut NoTimeseries)
                .unwrap();
            let world = sim.world();
            held_back += u32::from(world.uncounted_latency.is_some());
            let run: u64 = world.revisions.iter().map(|r| r.stats.latency.len()).sum();
            let counted: u64 = world
                .revisions
                .iter()
                .map(|r| r.stats.latency.counted())
                .sum();
            // The run's own statistics hold back at most one count...
            assert!(run - counted <= 1, "{run} recorded, {counted} counted");
            // ... which the copy a summary reads has.
            for s in world.service_stats_now() {
                assert_eq!(s.latency.counted(), s.latency.len());
                assert_eq!(s.cold_latency.counted(), s.cold_latency.len());
            }
            let summary = sim.summary_so_far().unwrap();
            assert!(summary.services.unwrap().services[0].requests.completed > 0);
        }
        // The check above is only worth something if a count was held back when read.
        assert!(held_back >= 3, "held back at {held_back} of 5 reads");
        let summary = sim.run(&mut NoTimeseries).unwrap();
        let completed: u64 = summary
            .services
            .unwrap()
            .services
            .iter()
            .map(|s| s.requests.completed)
            .sum();
        assert_eq!(completed, summary.requests.completed);
    }
}
