//! The 1 s tick: every revision's scaler sees the second (queue-proxy and activator reports), the cluster
//! autoscaler takes its step, and one [`SecondRow`] covering `[t - 1 s, t)` goes to the sink; also how a
//! scaler's [`Decision`] is applied (wake-up, activator in or out of the path, replica count). The last
//! row also completes the run's latency histogram (`observe::latency_counts`), which the summary reads.
//!
//! Units: rows in whole seconds (a final partial row keeps its length in `row_duration_s`); utilization as
//! a fraction of the request (CPU) or of time (GPU), averaged over the ready pods.
//!
//! With several services a scaler at rest ([`crate::autoscaler::scaler::Scaler::quiescent`]: the KPA at
//! zero with nothing to see, a fixed count) is not stepped: its tick would change nothing, so skipping it
//! gives the same run (a test runs both ways and compares the outputs byte for byte) and an idle service
//! costs nothing per second.
//!
//! Assumptions: the row adds the revisions up; its scaler columns are the one scaler's with one revision
//! and empty with several (each service's are in `services.csv`). The cluster autoscaler sizes new nodes
//! for the oldest Pending pod's shape.

use crate::autoscaler::scaler::{Decision, PodSecond, SecondView};
use crate::engine::prefetch::prefetch_lines;
use crate::ids::{PodId, RevisionId};
use crate::observe::output::{SecondRow, TimeseriesSink};
use crate::sim::config::SimError;
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use crate::workload::cluster::PodRequest;
use crate::workload::pods::PodState;

impl Sim {
    pub(crate) fn tick(
        &mut self,
        now: SimTime,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        // The row ending at `end` is written by `finish`, after every event at `end`, so that events at
        // the very last instant are in a row too.
        if now >= self.end {
            return Ok(());
        }
        self.write_row(now, true, sink)
    }

    /// Writes the row for `[last_row_at, now]`. `whole` is false only for a final partial second: the
    /// scaler and the cluster autoscaler then are not stepped, because both work in whole-second periods
    /// (and nothing after the end would see their decision); the row shows their last state.
    pub(crate) fn write_row(
        &mut self,
        now: SimTime,
        whole: bool,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        let span = now - self.last_row_at;
        let span_s = span.as_secs_f64();
        if whole {
            // With several services, a scaler at rest is left out of the tick (see `Scaler::quiescent`):
            // its `on_second` would change and decide nothing. `every_second` turns that off.
            let skip_quiet = self.multi.as_ref().is_some_and(|m| !m.every_second);
            let mut skipped = 0;
            for i in 0..self.revisions.len() {
                self.prefetch_for_tick(now, i);
                if !self.revision_exists(i) {
                    continue; // a routed revision not created yet has no autoscaler running
                }
                if skip_quiet && self.revisions[i].scaler.quiescent() {
                    skipped += 1;
                    continue;
                }
                let rv = self.revisions[i].id;
                self.step_scaler(now, rv);
            }
            if let Some(m) = self.multi.as_ref() {
                m.skipped_ticks
                    .fetch_add(skipped, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.sample(now, whole, span, span_s, sink)
    }

    /// Cache hints for the tick's pass, which reaches revision `i` next: with a thousand services their
    /// state is out of cache by the next second, and a pass that waited for each line in turn would spend
    /// most of its time waiting. Three stages, each needing the lines the one before asked for: the
    /// fields of the revision three ahead, what the one two ahead points to, and the scaler windows of
    /// the next. Hints only: nothing here changes the run.
    #[inline]
    fn prefetch_for_tick(&self, now: SimTime, i: usize) {
        if let Some(rev) = self.revisions.get(i + 3) {
            rev.prefetch_fields();
        }
        if let Some(rev) = self.revisions.get(i + 2) {
            rev.prefetch_tick_state();
        }
        if let Some(rev) = self.revisions.get(i + 1) {
            rev.scaler.prefetch_second_state(now);
        }
    }

    /// Every queue-proxy of the revision closes its 1 s period, then the revision's scaler sees the second.
    pub(crate) fn step_scaler(&mut self, now: SimTime, rv: RevisionId) {
        let rev = &mut self.revisions[rv.index()];
        rev.reports.clear();
        // Without statistics (a fixed count, see `Revision::pod_stats`) there is nothing to report.
        if rev.pod_stats {
            for &pod in &rev.ready {
                let p = &mut rev.pods[pod as usize];
                rev.reports.push(PodSecond {
                    pod: PodId::new(pod, p.generation),
                    created: p.created,
                    report: p.stats.report(now),
                });
            }
        }
        // With one revision the world's arrivals and requests in flight are the revision's; with several
        // each scaler sees its own service's.
        let (arrivals, in_flight) = if self.multi.is_some() {
            (rev.stats.second_arrivals, rev.stats.in_flight)
        } else {
            (self.second.arrivals, self.in_flight)
        };
        let mut view = SecondView {
            now,
            ready: rev.ready.len() as u32,
            replicas: rev.desired,
            arrivals,
            in_flight,
            queue_proxies: &rev.reports,
            activator: rev.activator.report(now),
            pods: &mut rev.pods,
            resources: &rev.resources,
        };
        let d = rev.scaler.on_second(&mut view);
        self.apply(now, rv, d);
    }

    pub(crate) fn sample(
        &mut self,
        now: SimTime,
        whole: bool,
        span: SimDuration,
        span_s: f64,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        let pods = self.pod_pass(now, span_s);
        self.max_pending = self.max_pending.max(pods.pending);
        let mut pods_moved = false;
        if whole && (!self.unplaced.is_empty() || self.cluster.model.autoscaling.is_some()) {
            pods_moved = self.step_cluster_autoscaler(now);
        }
        // One pass over the revisions for the row's gauges and each service's own: with a thousand
        // services every pass over them costs its cache misses.
        let (mut ready, mut starting, mut terminating, mut desired) = (0u32, 0u32, 0u32, 0u32);
        let (mut activator_queue, mut activator_in_path) = (0u64, false);
        for i in 0..self.revisions.len() {
            if let Some(ahead) = self.revisions.get(i + 2) {
                ahead.prefetch_fields();
            }
            let rev = &mut self.revisions[i];
            let rev_ready = rev.ready.len() as u32;
            ready += rev_ready;
            starting += rev.starting;
            terminating += rev.terminating;
            desired += rev.desired;
            activator_queue += rev.activator.queued() as u64;
            activator_in_path |= rev.activator.in_path;
            let s = &mut rev.stats;
            s.max_ready = s.max_ready.max(rev_ready);
            s.max_desired = s.max_desired.max(rev.desired);
            s.max_pending = s.max_pending.max(rev.pending_now);
            s.ready_ns += u128::from(rev_ready) * u128::from(span.0);
            s.second_arrivals = 0;
        }
        if self.multi.is_some() {
            // The run's `max_desired` is the largest total over the services, as `max_ready` is.
            self.max_desired = self.max_desired.max(desired);
        }
        self.max_ready = self.max_ready.max(ready);
        self.ready_ns += u128::from(ready) * u128::from(span.0);
        self.last_row_at = now;
        let [p50, p95, p99] = second_percentiles(&mut self.second.latencies_us);
        let mut row = SecondRow {
            // A partial row belongs to the second it falls in (1.5 s -> 2).
            time_s: now.0.div_ceil(NANOS_PER_SEC),
            arrivals: self.second.arrivals,
            completions: self.second.completions,
            failures: self.second.failures,
            in_flight: self.in_flight,
            activator_queue,
            queue_proxy_queue: pods.queue_proxy_queue,
            desired_pods: Some(desired),
            ready_pods: ready,
            pending_pods: pods.pending,
            starting_pods: starting - pods.pending,
            terminating_pods: terminating,
            observed_stable: None,
            observed_panic: None,
            target_per_pod: None,
            panic: false,
            excess_burst_capacity: None,
            activator_in_path,
            scale_reason: "",
            latency_p50_ms: p50,
            latency_p95_ms: p95,
            latency_p99_ms: p99,
            cold_start_completions: self.second.cold_completions,
            cron_fire: None,
            cpu_utilization: pods.cpu_utilization,
            gpu_utilization: pods.gpu_utilization,
            hpa_metric: None,
            hpa_proposal: None,
            hpa_recommendation: None,
            hpa_limit_reason: "",
            row_duration_s: span_s,
            engine: None,
        };
        if self.llm.is_some() {
            row.engine = Some(self.engine_row(now, sink)?);
        }
        // With several services one row cannot hold every scaler's columns: they stay empty here and each
        // service's are in its `services.csv` rows.
        if self.multi.is_none() {
            for rev in &mut self.revisions {
                rev.scaler.columns(&mut row);
            }
        }
        sink.row(&row)?;
        let last = !whole || now >= self.end;
        if last {
            // The summary, built after the last row, reads the whole histogram.
            self.latency_counts.move_into(&mut self.latency);
        }
        // Pods use what the pod pass measured unless the Cluster Autoscaler has just moved some.
        let used = (!pods_moved).then_some((pods.cpu_used_cores, pods.gpus_busy));
        self.sample_services(now, last, pods.pending, used)?;
        let s = &mut self.second;
        s.arrivals = 0;
        s.completions = 0;
        s.failures = 0;
        s.cold_completions = 0;
        s.preemptions = 0;
        s.latencies_us.clear();
        Ok(())
    }

    /// One pass over every pod: queues, Pending versus starting, and resource use over the second.
    fn pod_pass(&mut self, now: SimTime, span_s: f64) -> PodPass {
        let mut out = PodPass::default();
        let (mut cpu_sum, mut gpu_sum, mut measured) = (0.0f64, 0.0f64, 0u32);
        let (mut any_cpu_request, mut any_gpu) = (false, false);
        for i in 0..self.revisions.len() {
            // Cache hints (see `prefetch_for_tick`): the fields two revisions ahead, the next one's pods.
            if let Some(ahead) = self.revisions.get(i + 2) {
                ahead.prefetch_fields();
            }
            if let Some(next) = self.revisions.get(i + 1) {
                prefetch_lines(&next.pods[..], 16);
            }
            let rev = &mut self.revisions[i];
            rev.pending_now = 0;
            let res = &rev.resources;
            let gpus = rev.shape.gpus;
            any_cpu_request |= res.cpu_request_millis > 0.0;
            any_gpu |= res.gpus > 0;
            for p in rev.pods.iter_mut() {
                match p.state {
                    PodState::Gone => continue,
                    PodState::Starting if p.node.is_none() || p.bound_at > now => {
                        out.pending += 1;
                        rev.pending_now += 1;
                    }
                    PodState::Ready => {
                        let u = p.usage(now, res);
                        let secs = (now - p.ready_at.unwrap_or(now))
                            .as_secs_f64()
                            .clamp(1e-9, span_s.max(1e-9));
                        if res.cpu_request_millis > 0.0 {
                            cpu_sum += (u.cpu_core_seconds - p.last_tick.cpu_core_seconds)
                                / (res.cpu_request_millis / 1000.0)
                                / secs;
                        }
                        gpu_sum += (u.gpu_busy_seconds - p.last_tick.gpu_busy_seconds) / secs;
                        measured += 1;
                        p.last_tick = u;
                        // What `cluster.csv` shows in use, in the order `sample_services` would add it.
                        out.cpu_used_cores += (res.cpu_idle_millis
                            + f64::from(p.executing) * res.cpu_per_request_millis)
                            / 1000.0;
                        if gpus > 0 {
                            out.gpus_busy += f64::from(p.executing.min(1)) * f64::from(gpus);
                        }
                    }
                    _ => {}
                }
                out.queue_proxy_queue += u64::from(p.queued);
            }
        }
        if measured > 0 {
            let n = f64::from(measured);
            out.cpu_utilization = any_cpu_request.then_some(cpu_sum / n);
            out.gpu_utilization = any_gpu.then_some(gpu_sum / n);
        }
        out
    }

    /// The cluster autoscaler's 1 s step: it sees the Pending pods of every revision (new nodes are sized
    /// for the oldest one's shape) and may add nodes or drain one. Returns whether it moved pods (drained
    /// a node).
    fn step_cluster_autoscaler(&mut self, now: SimTime) -> bool {
        let (mut unplaced, mut oldest) = (0u32, None::<(SimTime, PodRequest)>);
        for r in &self.unplaced {
            let p = &self.revisions[r.revision().index()].pods[r.pod().index()];
            // By slot, as the scheduler's queue is read (see `place_pending`).
            if p.state == PodState::Starting && p.node.is_none() {
                unplaced += 1;
                if oldest.is_none_or(|(o, _)| p.created < o) {
                    oldest = Some((p.created, p.shape));
                }
            }
        }
        let shape = oldest.map_or(self.revisions[0].shape, |(_, s)| s);
        let acts = self
            .cluster
            .autoscale(now, unplaced, oldest.map(|(t, _)| t), &shape);
        for (node, ready_at) in acts.added {
            self.at(ready_at, Event::NodeReady(node));
        }
        let moved = !acts.drain.is_empty();
        for node in acts.drain {
            self.evict_node(now, node);
        }
        moved
    }

    /// Applies a revision's scaler decision: the wake-up first, then the activator, then the replica count.
    pub(crate) fn apply(&mut self, now: SimTime, rv: RevisionId, d: Decision) {
        if let Some(at) = d.wake_at {
            if let Some(ev) = self.rev(rv).wake.take() {
                self.queue.cancel(ev);
            }
            self.schedule_wake(rv, Some(at.max(now)));
        }
        if let Some(in_path) = d.activator_in_path {
            self.rev(rv).activator.in_path = in_path;
        }
        if let Some(replicas) = d.replicas {
            self.set_replicas(now, rv, replicas);
        }
    }

    pub(crate) fn schedule_wake(&mut self, rv: RevisionId, at: Option<SimTime>) {
        if let Some(at) = at {
            let at = at.max(self.queue.now());
            let ev = self.at_cancellable(at, Event::ScalerWake(rv));
            self.rev(rv).wake = Some(ev);
        }
    }
}

/// The second's p50, p95 and p99 latency in ms (nearest rank over the latencies in µs; `None` without
/// any), reordering `lat`. The same order statistics as a full sort for less work (the sort was a
/// quarter of a row's cost at 100 req/s): one selection puts the p95 rank in place with the few larger
/// latencies after it, sorting those few places the p99 rank, and a second selection in the part below
/// the p95 rank places the median.
fn second_percentiles(lat: &mut [u64]) -> [Option<f64>; 3] {
    if lat.is_empty() {
        return [None; 3];
    }
    let rank = |q: f64| ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
    let (i50, i95, i99) = (rank(0.50), rank(0.95), rank(0.99));
    let (_, _, above) = lat.select_nth_unstable(i95);
    above.sort_unstable();
    if i50 < i95 {
        lat[..i95].select_nth_unstable(i50);
    }
    [i50, i95, i99].map(|i| Some(lat[i] as f64 / 1e3))
}

/// What [`Sim::pod_pass`] counts over all pods.
#[derive(Default)]
struct PodPass {
    queue_proxy_queue: u64,
    pending: u32,
    /// CPU (cores) and GPUs in use by Ready pods, for `cluster.csv`.
    cpu_used_cores: f64,
    gpus_busy: f64,
    cpu_utilization: Option<f64>,
    gpu_utilization: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::second_percentiles;
    use proptest::prelude::*;

    proptest! {
        /// The selections give exactly the nearest-rank percentiles of the sorted latencies (as the row's
        /// columns were computed before), duplicates and tiny seconds included.
        #[test]
        fn percentiles_match_a_full_sort(mut lat in proptest::collection::vec(0u64..2_000, 0..300)) {
            let mut sorted = lat.clone();
            sorted.sort_unstable();
            let nearest_rank = |q: f64| {
                (!sorted.is_empty()).then(|| {
                    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
                    sorted[i] as f64 / 1e3
                })
            };
            let want = [nearest_rank(0.50), nearest_rank(0.95), nearest_rank(0.99)];
            prop_assert_eq!(second_percentiles(&mut lat), want);
        }
    }
}
