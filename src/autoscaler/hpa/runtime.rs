//! The Kubernetes HPA (and CronHPA / KEDA cron) driving the simulated deployment.
//!
//! What it models: the pure [`HpaController`] run on simulated time, fed by a model of the metric
//! pipelines the real controller reads:
//!
//! * **Resource metrics** (`cpu`, `memory`) come from a metrics-server model. Every `resolution` (15 s by
//!   default, the upstream release manifests' value) it "scrapes the kubelet": for each running pod it reads
//!   the cumulative CPU counter ([`Pod::usage`], core-seconds, like cAdvisor) and reports
//!   `usage = Δcpu / Δt` over the window since the previous scrape of that pod, with the scrape time as the
//!   sample's `timestamp` and `Δt` as its `window`; memory is the working set at the scrape. A pod needs two
//!   scrapes before it has a CPU sample (metrics-server computes rates between two points). The HPA sees the
//!   latest sample whose timestamp is at least `delay` old (default 0: the latest scrape).
//! * **Pods metrics** (custom per-pod metrics through Prometheus and an adapter) come from a second scraper
//!   (`custom_metrics`, same model, 15 s by default): GPU utilization from the pod's GPU busy-seconds counter
//!   (`DCGM_FI_DEV_GPU_UTIL` as percent 0–100, `DCGM_FI_PROF_SM_ACTIVE` / `GR_ENGINE_ACTIVE` as a ratio
//!   0–1), per-pod concurrency (time-averaged requests in the pod, queued included) and per-pod requests per
//!   second, each as a rate over the scrape window; and vLLM's gauges at the scrape instant
//!   (`vllm:num_requests_running`, `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc` 0–1).
//! * **Object / External metrics** of the service: requests per second arriving and requests in flight,
//!   averaged over the same custom-metrics window; KEDA cron triggers evaluate their window at the sync.
//!
//! The controller syncs every `sync_period` (15 s), at `sync_phase + k × sync_period`, `k ≥ 1`; scrapes
//! happen at `phase + k × resolution`. Both run on the simulator's 1 s tick (scrape first, then the sync, at
//! the same instant), so periods and phases are whole seconds. CronHPA jobs fire as their own events at the
//! exact schedule time.
//!
//! Pods as the HPA sees them: a starting pod (not Ready yet) is `Pending` (the calculator counts it as
//! unready), a Ready pod is `Running` with its Ready transition at its ready time and `startTime` at its
//! creation, a terminating pod has its deletion timestamp set (ignored). Requests: CPU in millicores from
//! the pod's resource model, memory in bytes, `nvidia.com/gpu` in whole GPUs.
//!
//! Units: metric values handed to the controller are milli-units (`value × 1000`); the time-series columns
//! show plain units (percent for Utilization targets, the metric's own unit otherwise).
//!
//! Simplifications: one scrape instant for all pods (real metrics-server scrapes nodes concurrently, with
//! jitter); no kubelet housekeeping interval below the scrape; the DCGM exporter's own sampling (1 s profiling
//! counters) is folded into the busy-time integral, so GPU utilization is exactly the fraction of the window
//! with at least one request executing; the Prometheus adapter's query window equals the scrape interval and
//! its cache is the `delay`; KEDA's polling interval is not modelled (the trigger is read at each sync).

use crate::autoscaler::cron::{apply_to_hpa, CronAction, CronHpa, KedaCronTrigger};
use crate::autoscaler::hpa::{
    HpaConfig, HpaController, HpaDecision, HpaInputs, HpaSpec, MetricObservation, MetricSpec,
    MetricTarget, ObservedValue, PodMetricSample, PodPhase, ReadyCondition,
};
use crate::request_path::stats::StatsReport;
use crate::time::{SimDuration, SimTime};
use crate::workload::pods::{Pod, PodState, ResourceModel};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, VecDeque};

mod source;
use source::periodic_due;
pub use source::{MetricSource, ScrapeConfig};

/// Everything the HPA mode needs, validated by the scenario loader.
pub struct HpaSetup {
    pub spec: HpaSpec,
    pub config: HpaConfig,
    /// One source per `spec.metrics` entry, same order.
    pub sources: Vec<MetricSource>,
    pub metrics_server: ScrapeConfig,
    pub custom_metrics: ScrapeConfig,
    /// Syncs happen at `sync_phase + k × sync_period`.
    pub sync_phase: SimDuration,
    /// Ready pods at time 0 (the deployment has been running at this size).
    pub initial_replicas: u32,
    pub keda: Vec<KedaCronTrigger>,
    /// A CronHPA acting on the deployment or on this HPA.
    pub cron: Option<CronHpa>,
    /// Civil time of simulated time 0 (KEDA windows).
    pub civil_start: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: SimTime,
    window: SimDuration,
    /// Values in plain units, indexed by [`SampleField`].
    values: [f64; 8],
}

const CPU_CORES: usize = 0;
const MEMORY_BYTES: usize = 1;
const GPU_BUSY: usize = 2;
const CONCURRENCY: usize = 3;
const RPS: usize = 4;
const VLLM_RUNNING: usize = 5;
const VLLM_WAITING: usize = 6;
const VLLM_KV_USAGE: usize = 7;

/// The counters a scrape differences, per pod slot.
#[derive(Clone, Debug, Default)]
struct PodTrack {
    created: SimTime,
    /// Requests × seconds in the pod, from the per-second queue-proxy reports.
    concurrency_seconds: f64,
    requests: f64,
    last_resource: Option<(SimTime, f64)>,
    last_custom: Option<(SimTime, f64, f64, f64)>,
    resource: VecDeque<Sample>,
    custom: VecDeque<Sample>,
}

fn latest(samples: &mut VecDeque<Sample>, now: SimTime, delay: SimDuration) -> Option<Sample> {
    let cutoff = now.as_nanos().saturating_sub(delay.as_nanos());
    while samples.len() > 1 && samples[1].at.as_nanos() <= cutoff {
        samples.pop_front();
    }
    samples
        .front()
        .copied()
        .filter(|s| s.at.as_nanos() <= cutoff)
}

/// What the latest sync saw and decided, held until the next sync (for the time series).
#[derive(Clone, Debug, Default)]
pub struct HpaView {
    pub metric: Option<f64>,
    pub target: Option<f64>,
    pub proposal: Option<i32>,
    pub recommendation: Option<i32>,
    pub reason: &'static str,
}

/// The HPA's moving parts during a run.
pub struct HpaRuntime {
    controller: HpaController,
    sources: Vec<MetricSource>,
    metrics_server: ScrapeConfig,
    custom_metrics: ScrapeConfig,
    sync_phase: SimDuration,
    keda: Vec<KedaCronTrigger>,
    civil_start: DateTime<Utc>,
    pub cron: Option<CronHpa>,
    tracks: Vec<PodTrack>,
    service_arrivals: f64,
    service_concurrency_seconds: f64,
    last_service: Option<(SimTime, f64, f64)>,
    service: VecDeque<Sample>,
    /// `status.currentReplicas` as of the last sync (what a CronHPA job reads).
    pub status_replicas: i32,
    pub view: HpaView,
    pub last_decision: Option<HpaDecision>,
}

impl HpaRuntime {
    pub fn new(setup: HpaSetup) -> Self {
        let first_target = setup.spec.metrics.first().map(|m| match m {
            MetricSpec::Resource { target, .. }
            | MetricSpec::Pods { target, .. }
            | MetricSpec::Object { target, .. }
            | MetricSpec::External { target, .. } => match *target {
                MetricTarget::Utilization(p) => f64::from(p),
                MetricTarget::AverageValue(v) | MetricTarget::Value(v) => v as f64 / 1000.0,
            },
        });
        HpaRuntime {
            controller: HpaController::new(setup.spec, setup.config),
            sources: setup.sources,
            metrics_server: setup.metrics_server,
            custom_metrics: setup.custom_metrics,
            sync_phase: setup.sync_phase,
            keda: setup.keda,
            civil_start: setup.civil_start,
            cron: setup.cron,
            tracks: Vec::new(),
            service_arrivals: 0.0,
            service_concurrency_seconds: 0.0,
            last_service: None,
            service: VecDeque::new(),
            status_replicas: setup.initial_replicas as i32,
            view: HpaView {
                target: first_target,
                ..HpaView::default()
            },
            last_decision: None,
        }
    }

    pub fn controller(&self) -> &HpaController {
        &self.controller
    }

    fn track(&mut self, slot: usize, created: SimTime) -> &mut PodTrack {
        if self.tracks.len() <= slot {
            self.tracks.resize_with(slot + 1, PodTrack::default);
        }
        let t = &mut self.tracks[slot];
        if t.created != created {
            *t = PodTrack {
                created,
                ..PodTrack::default()
            };
        }
        t
    }

    /// Takes one ready pod's 1 s queue-proxy report (its concurrency and request counters).
    pub fn observe_pod_second(&mut self, slot: u32, created: SimTime, report: &StatsReport) {
        let t = self.track(slot as usize, created);
        t.concurrency_seconds += report.average_concurrency;
        t.requests += report.request_count as f64;
    }

    /// The once-a-second work: service counters, scrapes that are due. Returns whether a sync is due.
    pub fn second(
        &mut self,
        now: SimTime,
        pods: &mut [Pod],
        model: &ResourceModel,
        arrivals: u64,
        in_flight: u64,
    ) -> bool {
        self.service_arrivals += arrivals as f64;
        self.service_concurrency_seconds += in_flight as f64;
        if self.metrics_server.due(now) {
            self.scrape_resources(now, pods, model);
        }
        if self.custom_metrics.due(now) {
            self.scrape_custom(now, pods, model);
        }
        periodic_due(now, self.sync_phase, self.controller.config().sync_period)
    }

    fn scrape_resources(&mut self, now: SimTime, pods: &mut [Pod], model: &ResourceModel) {
        for (slot, pod) in pods.iter_mut().enumerate() {
            if !matches!(pod.state, PodState::Ready | PodState::Terminating) {
                continue;
            }
            let usage = pod.usage(now, model);
            let t = self.track(slot, pod.created);
            if let Some((at, cpu)) = t.last_resource {
                let dt = (now - at).as_secs_f64();
                if dt > 0.0 {
                    let mut values = [0.0; 8];
                    values[CPU_CORES] = (usage.cpu_core_seconds - cpu) / dt;
                    values[MEMORY_BYTES] = usage.memory_bytes;
                    t.resource.push_back(Sample {
                        at: now,
                        window: now - at,
                        values,
                    });
                }
            }
            t.last_resource = Some((now, usage.cpu_core_seconds));
        }
    }

    fn scrape_custom(&mut self, now: SimTime, pods: &mut [Pod], model: &ResourceModel) {
        for (slot, pod) in pods.iter_mut().enumerate() {
            if !matches!(pod.state, PodState::Ready | PodState::Terminating) {
                continue;
            }
            let usage = pod.usage(now, model);
            let t = self.track(slot, pod.created);
            let current = (
                now,
                usage.gpu_busy_seconds,
                t.concurrency_seconds,
                t.requests,
            );
            if let Some((at, gpu, conc, reqs)) = t.last_custom {
                let dt = (now - at).as_secs_f64();
                if dt > 0.0 {
                    let mut values = [0.0; 8];
                    values[GPU_BUSY] = ((usage.gpu_busy_seconds - gpu) / dt).clamp(0.0, 1.0);
                    values[CONCURRENCY] = (t.concurrency_seconds - conc) / dt;
                    values[RPS] = (t.requests - reqs) / dt;
                    values[VLLM_RUNNING] = f64::from(pod.executing);
                    values[VLLM_WAITING] = f64::from(pod.queued);
                    values[VLLM_KV_USAGE] = pod.rate.kv_usage(now);
                    t.custom.push_back(Sample {
                        at: now,
                        window: now - at,
                        values,
                    });
                }
            }
            t.last_custom = Some(current);
        }
        let current = (now, self.service_arrivals, self.service_concurrency_seconds);
        if let Some((at, arrivals, conc)) = self.last_service {
            let dt = (now - at).as_secs_f64();
            if dt > 0.0 {
                let mut values = [0.0; 8];
                values[RPS] = (self.service_arrivals - arrivals) / dt;
                values[CONCURRENCY] = (self.service_concurrency_seconds - conc) / dt;
                self.service.push_back(Sample {
                    at: now,
                    window: now - at,
                    values,
                });
            }
        }
        self.last_service = Some(current);
    }

    /// One HPA sync over the simulated cluster. Returns the replica count to write, if it changes.
    pub fn sync(
        &mut self,
        now: SimTime,
        pods: &[Pod],
        model: &ResourceModel,
        spec_replicas: u32,
    ) -> Option<u32> {
        let mut requests = BTreeMap::new();
        requests.insert("cpu".to_string(), model.cpu_request_millis.round() as i64);
        requests.insert(
            "memory".to_string(),
            (model.memory_request_bytes * 1000.0).round() as i64,
        );
        if model.gpus > 0 {
            requests.insert("nvidia.com/gpu".to_string(), i64::from(model.gpus) * 1000);
        }
        let mut states = Vec::new();
        let mut slots = Vec::new();
        let mut status_replicas = 0;
        for (slot, pod) in pods.iter().enumerate() {
            let state = match pod.state {
                PodState::Gone => continue,
                PodState::Starting => crate::autoscaler::hpa::PodState {
                    phase: PodPhase::Pending,
                    deleted: false,
                    start_time: None,
                    ready: None,
                    requests_m: requests.clone(),
                },
                PodState::Ready | PodState::Terminating => crate::autoscaler::hpa::PodState {
                    phase: PodPhase::Running,
                    deleted: pod.state == PodState::Terminating,
                    start_time: Some(pod.created),
                    ready: Some(ReadyCondition {
                        ready: true,
                        last_transition: pod.ready_at.unwrap_or(pod.created),
                    }),
                    requests_m: requests.clone(),
                },
            };
            if !state.deleted {
                status_replicas += 1;
            }
            states.push(state);
            slots.push(slot);
        }
        let civil = self.civil_start
            + chrono::Duration::nanoseconds(now.as_nanos().min(i64::MAX as u64) as i64);
        let mut metrics = Vec::with_capacity(self.sources.len());
        for i in 0..self.sources.len() {
            let source = self.sources[i];
            let observation = match source {
                MetricSource::KedaCron(k) => {
                    MetricObservation::External(vec![self.keda[k].metric_value_m(civil)])
                }
                MetricSource::ServiceRps | MetricSource::ServiceConcurrency => {
                    let field = if source == MetricSource::ServiceRps {
                        RPS
                    } else {
                        CONCURRENCY
                    };
                    match latest(&mut self.service, now, self.custom_metrics.delay) {
                        Some(s) => {
                            let m = milli(s.values[field]);
                            if matches!(
                                self.controller.spec().metrics[i],
                                MetricSpec::Object { .. }
                            ) {
                                MetricObservation::Object(m)
                            } else {
                                MetricObservation::External(vec![m])
                            }
                        }
                        None => MetricObservation::Unavailable,
                    }
                }
                _ => {
                    let resource = matches!(source, MetricSource::Cpu | MetricSource::Memory);
                    let delay = if resource {
                        self.metrics_server.delay
                    } else {
                        self.custom_metrics.delay
                    };
                    let mut samples = Vec::with_capacity(slots.len());
                    for &slot in &slots {
                        let sample = self.tracks.get_mut(slot).and_then(|t| {
                            if t.created != pods[slot].created {
                                return None;
                            }
                            let queue = if resource {
                                &mut t.resource
                            } else {
                                &mut t.custom
                            };
                            latest(queue, now, delay)
                        });
                        samples.push(sample.map(|s| {
                            let value = match source {
                                MetricSource::Cpu => s.values[CPU_CORES],
                                MetricSource::Memory => s.values[MEMORY_BYTES],
                                MetricSource::GpuUtilPercent => s.values[GPU_BUSY] * 100.0,
                                MetricSource::GpuBusyRatio => s.values[GPU_BUSY],
                                MetricSource::PodConcurrency => s.values[CONCURRENCY],
                                MetricSource::VllmRunning => s.values[VLLM_RUNNING],
                                MetricSource::VllmWaiting => s.values[VLLM_WAITING],
                                MetricSource::VllmKvCacheUsage => s.values[VLLM_KV_USAGE],
                                _ => s.values[RPS],
                            };
                            PodMetricSample {
                                value_m: milli(value),
                                timestamp: s.at,
                                window: s.window,
                            }
                        }));
                    }
                    MetricObservation::PerPod(samples)
                }
            };
            metrics.push(observation);
        }
        let inputs = HpaInputs {
            spec_replicas: spec_replicas as i32,
            status_replicas,
            pods: states,
            metrics,
        };
        let decision = self.controller.reconcile(now, &inputs);
        self.status_replicas = status_replicas;
        self.view.metric = decision.metrics.first().and_then(|m| {
            m.result.as_ref().ok().map(|(_, v)| match *v {
                ObservedValue::Utilization { percent, .. } => f64::from(percent),
                ObservedValue::AverageValue(v) | ObservedValue::Value(v) => v as f64 / 1000.0,
            })
        });
        self.view.proposal = decision.metric_desired;
        self.view.recommendation = decision.stabilized;
        self.view.reason = decision.reason.as_str();
        let out = decision
            .rescale
            .then(|| decision.desired_replicas.max(0) as u32);
        self.last_decision = Some(decision);
        out
    }

    /// Runs the CronHPA jobs due at `now`. Returns the fired job labels and the replica count to write,
    /// if a job writes one.
    pub fn fire_cron(&mut self, now: SimTime) -> (Vec<String>, Option<u32>) {
        let Some(cron) = self.cron.as_mut() else {
            return (Vec::new(), None);
        };
        let mut labels = Vec::new();
        let mut write = None;
        for firing in cron.fire_due(now) {
            match firing.action {
                CronAction::Skipped => labels.push(format!("{}(skipped)", firing.job_name)),
                CronAction::SetWorkloadReplicas(n) => {
                    labels.push(format!("{}={n}", firing.job_name));
                    write = Some(n.max(0) as u32);
                }
                CronAction::AdjustHpa(n) => {
                    labels.push(format!("{}={n}", firing.job_name));
                    let spec = self.controller.spec();
                    let adj = apply_to_hpa(
                        spec.min_replicas,
                        spec.max_replicas,
                        self.status_replicas,
                        n,
                    );
                    self.controller
                        .set_replica_bounds(adj.min_replicas, adj.max_replicas);
                    if let Some(w) = adj.workload_replicas {
                        write = Some(w.max(0) as u32);
                        self.status_replicas = w;
                    }
                }
            }
        }
        (labels, write)
    }

    pub fn next_cron_fire(&self) -> Option<SimTime> {
        self.cron.as_ref().and_then(CronHpa::next_fire)
    }
}

fn milli(v: f64) -> i64 {
    if v.is_finite() {
        (v * 1000.0).round().clamp(i64::MIN as f64, i64::MAX as f64) as i64
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
