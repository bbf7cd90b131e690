//! TICK_DOC

//! The event loop and the request path. See the parent module docs for the model and its assumptions.

use crate::autoscaler::scaler::{Decision, PodSecond, SecondView};
use crate::ids::PodId;
use crate::observe::output::{SecondRow, TimeseriesSink};
use crate::sim::config::SimError;
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
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
            self.step_scaler(now);
        }
        self.sample(now, whole, span, span_s, sink)
    }

    pub(crate) fn step_scaler(&mut self, now: SimTime) {
        // Every queue-proxy closes its 1 s period, then the scaler sees the second.
        self.reports.clear();
        for &pod in &self.ready {
            let p = &mut self.pods[pod as usize];
            self.reports.push(PodSecond {
                pod: PodId::new(pod, p.generation),
                created: p.created,
                report: p.stats.report(now),
            });
        }
        let mut view = SecondView {
            now,
            ready: self.ready.len() as u32,
            replicas: self.desired,
            arrivals: self.second.arrivals,
            in_flight: self.in_flight,
            queue_proxies: &self.reports,
            activator: self.activator.stats.report(now),
            pods: &mut self.pods,
            resources: &self.cfg.resources,
        };
        let d = self.scaler.on_second(&mut view);
        self.apply(now, d);
    }

    pub(crate) fn sample(
        &mut self,
        now: SimTime,
        whole: bool,
        span: SimDuration,
        span_s: f64,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        // One pass over the pods: queues, Pending versus starting, and resource use over the second.
        let mut queue_proxy_queue = 0u64;
        let mut pending = 0u32;
        let (mut cpu_sum, mut gpu_sum, mut measured) = (0.0f64, 0.0f64, 0u32);
        let res = &self.cfg.resources;
        for p in self.pods.iter_mut() {
            match p.state {
                PodState::Gone => continue,
                PodState::Starting if p.node.is_none() || p.bound_at > now => pending += 1,
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
                }
                _ => {}
            }
            queue_proxy_queue += u64::from(p.queued);
        }
        let (cpu_utilization, gpu_utilization) = if measured > 0 {
            let n = f64::from(measured);
            (
                (res.cpu_request_millis > 0.0).then_some(cpu_sum / n),
                (res.gpus > 0).then_some(gpu_sum / n),
            )
        } else {
            (None, None)
        };
        self.max_pending = self.max_pending.max(pending);
        let unplaced = self.unplaced.len() as u32;
        if whole && (unplaced > 0 || self.cluster.model.autoscaling.is_some()) {
            let (mut unplaced, mut oldest) = (0u32, None::<SimTime>);
            for &i in &self.unplaced {
                let p = &self.pods[i as usize];
                if p.state == PodState::Starting && p.node.is_none() {
                    unplaced += 1;
                    oldest = Some(oldest.map_or(p.created, |o| o.min(p.created)));
                }
            }
            let acts = self
                .cluster
                .autoscale(now, unplaced, oldest, &self.pod_request);
            for (node, ready_at) in acts.added {
                self.at(ready_at, Event::NodeReady(node));
            }
            for node in acts.drain {
                self.evict_node(now, node);
            }
        }
        let ready = self.ready.len() as u32;
        self.max_ready = self.max_ready.max(ready);
        self.ready_ns += u128::from(ready) * u128::from(span.0);
        self.last_row_at = now;
        let lat = &mut self.second.latencies_us;
        lat.sort_unstable();
        let pct = |q: f64| -> Option<f64> {
            if lat.is_empty() {
                None
            } else {
                let idx = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
                Some(lat[idx] as f64 / 1e3)
            }
        };
        let mut row = SecondRow {
            // A partial row belongs to the second it falls in (1.5 s -> 2).
            time_s: now.0.div_ceil(NANOS_PER_SEC),
            arrivals: self.second.arrivals,
            completions: self.second.completions,
            failures: self.second.failures,
            in_flight: self.in_flight,
            activator_queue: self.activator.queued() as u64,
            queue_proxy_queue,
            desired_pods: Some(self.desired),
            ready_pods: ready,
            pending_pods: pending,
            starting_pods: self.starting - pending,
            terminating_pods: self.terminating,
            observed_stable: None,
            observed_panic: None,
            target_per_pod: None,
            panic: false,
            excess_burst_capacity: None,
            activator_in_path: self.activator.in_path,
            scale_reason: "",
            latency_p50_ms: pct(0.50),
            latency_p95_ms: pct(0.95),
            latency_p99_ms: pct(0.99),
            cold_start_completions: self.second.cold_completions,
            cron_fire: None,
            cpu_utilization,
            gpu_utilization,
            hpa_metric: None,
            hpa_proposal: None,
            hpa_recommendation: None,
            hpa_limit_reason: "",
            row_duration_s: span_s,
        };
        self.scaler.columns(&mut row);
        sink.row(&row)?;
        let s = &mut self.second;
        s.arrivals = 0;
        s.completions = 0;
        s.failures = 0;
        s.cold_completions = 0;
        s.latencies_us.clear();
        Ok(())
    }

    /// Applies a scaler's decision: the wake-up first, then the activator, then the replica count.
    pub(crate) fn apply(&mut self, now: SimTime, d: Decision) {
        if let Some(at) = d.wake_at {
            if let Some(ev) = self.wake.take() {
                self.queue.cancel(ev);
            }
            self.schedule_wake(Some(at.max(now)));
        }
        if let Some(in_path) = d.activator_in_path {
            self.activator.in_path = in_path;
        }
        if let Some(replicas) = d.replicas {
            self.set_replicas(now, replicas);
        }
    }

    pub(crate) fn schedule_wake(&mut self, at: Option<SimTime>) {
        if let Some(at) = at {
            let at = at.max(self.queue.now());
            self.wake = Some(self.at(at, Event::ScalerWake));
        }
    }
}
