//! A KEDA ScaledObject as a [`Scaler`] in the simulation loop: KEDA's polling loop every
//! `pollingInterval` ([`KedaScaler::poll`]: activation, scale to and from zero or `idleReplicaCount`,
//! cooldown, fallback) and the HPA KEDA creates, synced every HPA sync period ([`KedaScaler::hpa_sync`])
//! while the target has at least one replica.
//!
//! Timing: both loops run on the 1 s tick. A poll happens at every whole multiple of `pollingInterval`
//! (KEDA also polls once when the ScaledObject is created; here the first poll is at `pollingInterval`),
//! an HPA sync at every multiple of the sync period. When both fall on the same second the poll goes
//! first, and the HPA sees the replica count the poll wrote.
//!
//! Metrics a `prometheus` trigger's query can name (values of the second that just ended):
//! - per ready pod: `concurrency` (queue-proxy average requests in flight), `rps` (requests received),
//!   `vllm:num_requests_running` (requests executing, i.e. in the running batch),
//!   `vllm:num_requests_waiting` (requests queued in the pod, waiting for a batch slot or for KV cache,
//!   preempted ones included), `vllm:kv_cache_usage_perc` (KV cache in use, 0–1; see
//!   [`crate::workload::kv_cache`]), all gauges at the end of the second;
//! - service-wide, one series: `requests_per_second` (requests that reached the ingress, including those
//!   refused while no pod was ready) and `in_flight` (requests sent and not yet answered).
//!
//! Without `pod.service.kv_cache_tokens` the KV cache is unlimited and `vllm:kv_cache_usage_perc` is 0.
//! A query naming an unpublished metric is a trigger error, which drives `fallback`.
//!
//! Simplifications: the HPA KEDA creates runs with kube-controller-manager's default flags (15 s sync,
//! 0.1 tolerance, 5 min downscale stabilization; `autoscaler.controller` does not apply to it), and both
//! KEDA and its HPA read the metrics of the second that just ended, with no scrape or cache delay
//! (KEDA's Prometheus scaler queries a live server; its metrics server answers the HPA from the same).
//!
//! Zero replicas: KEDA on a raw (Standard) deployment has no activator. While the target has no ready
//! pod the Service has no endpoints and the ingress answers 503 at once (requests are refused, not held),
//! which is what a client of a raw-deployment InferenceService scaled to zero sees. Per-pod metrics have
//! no series then (a query gives 0), so only a service-wide metric such as `requests_per_second` can
//! activate a ScaledObject from zero, as on a real cluster where the metric must come from outside the
//! scaled pods.
//!
//! Units: simulated time in ns ([`SimTime`]); metric values in plain units, turned into milli-units by
//! the trigger as KEDA does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::scaledobject::{KedaScaler, ScaledObjectSpec, WorkloadView};
use super::scaler::{KedaMetrics, TriggerKind};
use crate::autoscaler::hpa::{
    HpaConfig, PodMetricSample, PodPhase, PodState as HpaPodState, ReadyCondition,
};
use crate::autoscaler::scaler::{Decision, Scaler, SecondView, StartPlan};
use crate::observe::SecondRow;
use crate::time::{SimDuration, SimTime};
use crate::workload::pods::{PodState, ResourceModel};

/// Everything the KEDA mode needs, validated by the scenario loader.
#[derive(Debug, Clone)]
pub struct KedaSetup {
    pub spec: ScaledObjectSpec,
    /// The kube-controller-manager flags of the HPA KEDA creates.
    pub hpa_config: HpaConfig,
    /// Civil time of simulated time 0 (cron triggers).
    pub epoch: DateTime<Utc>,
    /// Replicas the Deployment has at time 0 (Ready at once).
    pub initial_replicas: u32,
}

/// What the scaler saw and did in the latest poll and HPA sync (for the row).
#[derive(Debug, Clone, Copy, Default)]
struct KedaView {
    active: bool,
    error: bool,
    metric: Option<f64>,
    target: Option<f64>,
    proposal: Option<i32>,
    recommendation: Option<i32>,
    reason: &'static str,
}

/// [`KedaScaler`] in the loop.
pub struct KedaAdapter {
    keda: KedaScaler,
    initial_replicas: u32,
    poll_every: SimDuration,
    sync_every: SimDuration,
    /// Per pod slot: (pod creation time, time and cumulative CPU core-seconds at the last tick).
    cpu: BTreeMap<usize, (SimTime, SimTime, f64)>,
    uses_resources: bool,
    view: KedaView,
    polls: u64,
}

impl KedaAdapter {
    pub fn new(setup: KedaSetup) -> Self {
        let poll_every = SimDuration::from_secs(setup.spec.polling_interval_s.max(1));
        let sync_every = setup.hpa_config.sync_period;
        let uses_resources = setup
            .spec
            .triggers
            .iter()
            .any(|t| matches!(t.kind, TriggerKind::Resource { .. }));
        let target = setup.spec.triggers.first().and_then(|t| {
            t.external_target_m()
                .map(|m| m as f64 / 1000.0)
                .or(match &t.kind {
                    TriggerKind::Resource { target, .. } => Some(match *target {
                        crate::autoscaler::hpa::MetricTarget::Utilization(p) => f64::from(p),
                        crate::autoscaler::hpa::MetricTarget::AverageValue(v)
                        | crate::autoscaler::hpa::MetricTarget::Value(v) => v as f64 / 1000.0,
                    }),
                    _ => None,
                })
        });
        KedaAdapter {
            keda: KedaScaler::new(setup.spec, setup.hpa_config, SimTime::ZERO, setup.epoch),
            initial_replicas: setup.initial_replicas,
            poll_every,
            sync_every,
            cpu: BTreeMap::new(),
            uses_resources,
            view: KedaView {
                target,
                ..KedaView::default()
            },
            polls: 0,
        }
    }

    pub fn keda(&self) -> &KedaScaler {
        &self.keda
    }

    /// Polls done so far.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    fn metrics(view: &SecondView<'_>) -> KedaMetrics {
        let mut running = Vec::new();
        let mut waiting = Vec::new();
        let mut kv = Vec::new();
        for pod in view.pods.iter() {
            if pod.state == PodState::Ready {
                running.push(f64::from(pod.executing));
                waiting.push(f64::from(pod.queued));
                kv.push(pod.rate.kv_usage(view.now));
            }
        }
        KedaMetrics::default()
            .with(
                "concurrency",
                view.queue_proxies
                    .iter()
                    .map(|p| p.report.average_concurrency)
                    .collect(),
            )
            .with(
                "rps",
                view.queue_proxies
                    .iter()
                    .map(|p| p.report.request_count as f64)
                    .collect(),
            )
            .with("vllm:num_requests_running", running)
            .with("vllm:num_requests_waiting", waiting)
            .with("vllm:kv_cache_usage_perc", kv)
            .with("requests_per_second", vec![view.arrivals as f64])
            .with("in_flight", vec![view.in_flight as f64])
    }

    fn workload(&mut self, view: &mut SecondView<'_>) -> WorkloadView {
        let model: &ResourceModel = view.resources;
        let mut requests = BTreeMap::new();
        requests.insert("cpu".to_string(), model.cpu_request_millis.round() as i64);
        requests.insert(
            "memory".to_string(),
            (model.memory_request_bytes * 1000.0).round() as i64,
        );
        let mut pods = Vec::new();
        let mut cpu_samples = Vec::new();
        let mut mem_samples = Vec::new();
        let mut status = 0;
        for (slot, pod) in view.pods.iter_mut().enumerate() {
            let state = match pod.state {
                PodState::Gone => {
                    self.cpu.remove(&slot);
                    continue;
                }
                PodState::Starting => HpaPodState {
                    phase: PodPhase::Pending,
                    deleted: false,
                    start_time: None,
                    ready: None,
                    requests_m: requests.clone(),
                },
                PodState::Ready | PodState::Terminating => HpaPodState {
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
                status += 1;
            }
            let (mut cpu, mut mem) = (None, None);
            if self.uses_resources && state.phase == PodPhase::Running {
                // A 1 s metrics-server window: the simulator already integrates usage per pod.
                let usage = pod.usage(view.now, model);
                let prev = self
                    .cpu
                    .insert(slot, (pod.created, view.now, usage.cpu_core_seconds));
                if let Some((created, at, core_s)) = prev.filter(|p| p.0 == pod.created) {
                    let dt = (view.now - at).as_secs_f64();
                    if dt > 0.0 && created == pod.created {
                        let sample = |v: f64| PodMetricSample {
                            value_m: (v * 1000.0).round() as i64,
                            timestamp: view.now,
                            window: view.now - at,
                        };
                        cpu = Some(sample((usage.cpu_core_seconds - core_s) / dt));
                        mem = Some(sample(usage.memory_bytes));
                    }
                }
            }
            cpu_samples.push(cpu);
            mem_samples.push(mem);
            pods.push(state);
        }
        let mut resource_samples = BTreeMap::new();
        if self.uses_resources {
            resource_samples.insert("cpu".to_string(), cpu_samples);
            resource_samples.insert("memory".to_string(), mem_samples);
        }
        WorkloadView {
            spec_replicas: view.replicas as i32,
            status_replicas: status,
            pods,
            resource_samples,
        }
    }
}

fn due(now: SimTime, every: SimDuration) -> bool {
    let (t, p) = (now.as_nanos(), every.as_nanos());
    p > 0 && t > 0 && t.is_multiple_of(p)
}

impl Scaler for KedaAdapter {
    fn label(&self) -> &'static str {
        "keda"
    }
    fn start(&mut self, _horizon: SimTime) -> StartPlan {
        StartPlan {
            replicas: self.initial_replicas,
            ready_now: true,
            activator_in_path: false,
            wake_at: None,
        }
    }
    fn has_activator(&self) -> bool {
        false
    }
    fn on_second(&mut self, view: &mut SecondView<'_>) -> Decision {
        let poll = due(view.now, self.poll_every);
        let sync = due(view.now, self.sync_every);
        if !poll && !sync {
            return Decision::default();
        }
        let metrics = Self::metrics(view);
        let mut workload = self.workload(view);
        let mut decision = Decision::default();
        if poll {
            self.polls += 1;
            let outcome = self.keda.poll(view.now, &metrics, &workload);
            self.view.active = outcome.is_active;
            self.view.error = outcome.is_error;
            let replicas = outcome.replicas.max(0);
            if replicas != workload.spec_replicas {
                decision.replicas = Some(replicas as u32);
                workload.spec_replicas = replicas;
                self.view.reason = if replicas > 0 && view.replicas == 0 {
                    "keda-activate"
                } else {
                    "keda-deactivate"
                };
            }
        }
        // KEDA's HPA reports ScalingDisabled while the target is at zero and does not scale it.
        if sync && workload.spec_replicas > 0 {
            if let Some(d) = self.keda.hpa_sync(view.now, &metrics, &workload) {
                self.view.metric = d.metrics.first().and_then(|m| {
                    m.result.as_ref().ok().map(|(_, v)| match *v {
                        crate::autoscaler::hpa::ObservedValue::Utilization { percent, .. } => {
                            f64::from(percent)
                        }
                        crate::autoscaler::hpa::ObservedValue::AverageValue(v)
                        | crate::autoscaler::hpa::ObservedValue::Value(v) => v as f64 / 1000.0,
                    })
                });
                self.view.proposal = d.metric_desired;
                self.view.recommendation = d.stabilized;
                self.view.reason = d.reason.as_str();
                if d.rescale && d.desired_replicas.max(0) != workload.spec_replicas {
                    decision.replicas = Some(d.desired_replicas.max(1) as u32);
                }
            }
        }
        decision
    }
    fn columns(&mut self, row: &mut SecondRow) {
        row.observed_stable = self.view.metric;
        row.target_per_pod = self.view.target;
        row.scale_reason = if self.view.error {
            "keda-error"
        } else if self.view.reason.is_empty() {
            if self.view.active {
                "keda-active"
            } else {
                "keda-inactive"
            }
        } else {
            self.view.reason
        };
        row.hpa_metric = self.view.metric;
        row.hpa_proposal = self.view.proposal;
        row.hpa_recommendation = self.view.recommendation;
        row.hpa_limit_reason = self.view.reason;
    }
}
