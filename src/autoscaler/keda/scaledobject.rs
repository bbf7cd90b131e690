//! One ScaledObject on simulated time: KEDA's polling loop ([`KedaScaler::poll`], every
//! `pollingInterval`) and the HPA KEDA generates ([`KedaScaler::hpa_sync`], every HPA sync period).
//!
//! Poll: each trigger is evaluated, passed through [`super::fallback`], and the ScaledObject is active if
//! any External trigger is active (or all triggers are cpu/memory, which KEDA forces active) and in error
//! if any trigger failed without a fallback value; then [`super::executor::request_scale`] runs. While the
//! `autoscaling.keda.sh/paused` or `paused-replicas` annotation pauses it, the poll only pins the target to
//! `paused-replicas` (when that is an integer) and the HPA sync does nothing, as KEDA's controller stops
//! the scale loop and deletes its HPA.
//!
//! The generated HPA (KEDA's `newHPAForScaledObject`): min = `minReplicaCount` if > 0 else 1, max =
//! `maxReplicaCount` (default 100); one External metric per External trigger (`s<i>-<scaler>`, target
//! AverageValue or Value from `metricType`, value `threshold × 1000` milli) and one Resource metric per
//! cpu/memory trigger; `advanced.horizontalPodAutoscalerConfig.behavior` as the HPA's `behavior`. It is
//! [`crate::autoscaler::hpa::HpaController`]; KEDA does not run it while the target is at 0 replicas
//! (the HPA reports ScalingDisabled itself).
//!
//! Departures from KEDA (read from its code at commit 8b4f083c, beyond the golden vectors):
//! - Triggers are evaluated in order, so `active_triggers` is in trigger order (KEDA collects them from
//!   goroutines, in no fixed order).
//! - The HPA's metric requests query the triggers afresh with fallback, like KEDA's metrics server without
//!   `useCachedMetrics`; the poll and the HPA path share one fallback health map, so both count failures,
//!   as in KEDA.
//! - `scalingModifiers` formulas are not evaluated (KEDA uses expr-lang); a ScaledObject with a formula is
//!   rejected by the manifest reader. Fallback still honours a modifiers target (golden-checked).
//! - Scalers are never rebuilt after an error (KEDA clears its scaler cache; no effect on values here).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};

use crate::autoscaler::hpa::calculator::ready_running_pod_count;
use crate::autoscaler::hpa::{
    Behavior, HpaConfig, HpaController, HpaDecision, HpaInputs, HpaSpec, MetricObservation,
    MetricSpec, MetricTarget, PodMetricSample, PodState,
};
use crate::time::{SimDuration, SimTime};

use super::executor::{
    is_paused, request_scale, Conditions, ExecutorInputs, ExecutorOutcome, ExecutorSpec,
    FallbackReplicas, ANNOTATION_PAUSED_REPLICAS,
};
use super::fallback::{
    FallbackSpec, FallbackState, MetricTargetInfo, ScalingModifiers, TargetType,
};
use super::scaler::{prometheus_activity, KedaMetrics, Trigger, TriggerKind};

/// KEDA's default `pollingInterval`.
pub const DEFAULT_POLLING_INTERVAL_S: u64 = 30;
/// KEDA's default `maxReplicaCount`.
pub const DEFAULT_MAX_REPLICAS: i32 = 100;

/// A ScaledObject's spec, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledObjectSpec {
    pub name: String,
    pub namespace: String,
    /// `apiVersion.Kind` of the target, e.g. `apps/v1.Deployment`.
    pub target_kind: String,
    pub target_name: String,
    pub polling_interval_s: u64,
    pub cooldown_period_s: Option<u64>,
    pub initial_cooldown_period_s: Option<u64>,
    pub min_replica_count: Option<i32>,
    pub max_replica_count: Option<i32>,
    pub idle_replica_count: Option<i32>,
    pub fallback: Option<FallbackSpec>,
    /// `advanced.horizontalPodAutoscalerConfig.behavior` with the API defaults applied.
    pub behavior: Option<Behavior>,
    pub scaling_modifiers: ScalingModifiers,
    pub annotations: BTreeMap<String, String>,
    pub triggers: Vec<Trigger>,
}

impl ScaledObjectSpec {
    /// The HorizontalPodAutoscaler KEDA creates for this ScaledObject.
    pub fn hpa_spec(&self) -> HpaSpec {
        let metrics = self
            .triggers
            .iter()
            .map(|t| match &t.kind {
                TriggerKind::Resource {
                    resource,
                    container,
                    target,
                } => MetricSpec::Resource {
                    resource: resource.clone(),
                    container: container.clone(),
                    target: *target,
                },
                _ => {
                    let target_m = t.external_target_m().unwrap_or(0);
                    MetricSpec::External {
                        name: t.external_metric_name().unwrap_or_default(),
                        target: match t.metric_type {
                            TargetType::AverageValue => MetricTarget::AverageValue(target_m),
                            TargetType::Value => MetricTarget::Value(target_m),
                        },
                    }
                }
            })
            .collect();
        HpaSpec {
            min_replicas: self.min_replica_count.filter(|m| *m > 0).unwrap_or(1),
            max_replicas: self.max_replica_count.unwrap_or(DEFAULT_MAX_REPLICAS),
            metrics,
            behavior: self.behavior.clone(),
        }
    }

    fn executor_spec(&self) -> ExecutorSpec {
        ExecutorSpec {
            min_replica_count: self.min_replica_count,
            idle_replica_count: self.idle_replica_count,
            cooldown_period_s: self.cooldown_period_s,
            initial_cooldown_period_s: self.initial_cooldown_period_s,
            fallback: self.fallback.map(|f| FallbackReplicas {
                replicas: f.replicas,
            }),
            annotations: self.annotations.clone(),
            target: format!(
                "{} {}/{}",
                self.target_kind, self.namespace, self.target_name
            ),
        }
    }

    /// `autoscaling.keda.sh/paused-replicas` when it holds an integer.
    pub fn paused_replicas(&self) -> Option<i32> {
        self.annotations
            .get(ANNOTATION_PAUSED_REPLICAS)
            .and_then(|v| v.trim().parse().ok())
    }
}

/// What the workload looks like to KEDA at one poll or HPA sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkloadView {
    /// `scale.spec.replicas`.
    pub spec_replicas: i32,
    /// `scale.status.replicas`.
    pub status_replicas: i32,
    pub pods: Vec<PodState>,
    /// Per-pod samples for cpu/memory triggers, by resource name, in `pods` order.
    pub resource_samples: BTreeMap<String, Vec<Option<PodMetricSample>>>,
}

/// The result of one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PollOutcome {
    pub is_active: bool,
    pub is_error: bool,
    pub fallback_active: bool,
    pub executor: ExecutorOutcome,
    /// The replica count the target should have after this poll.
    pub replicas: i32,
}

/// One ScaledObject with its status, fallback health and generated HPA.
#[derive(Debug, Clone)]
pub struct KedaScaler {
    spec: ScaledObjectSpec,
    hpa: HpaController,
    conditions: Conditions,
    fallback: FallbackState,
    creation_time: SimTime,
    last_active_time: Option<SimTime>,
    /// Civil time of SimTime 0, for cron triggers.
    epoch: DateTime<Utc>,
}

struct TriggerEval {
    metric: Option<String>,
    active: bool,
    error: bool,
    fallback_active: bool,
    value_m: Option<i64>,
}

impl KedaScaler {
    pub fn new(
        spec: ScaledObjectSpec,
        hpa_config: HpaConfig,
        creation_time: SimTime,
        epoch: DateTime<Utc>,
    ) -> Self {
        let hpa = HpaController::new(spec.hpa_spec(), hpa_config);
        KedaScaler {
            spec,
            hpa,
            conditions: Conditions::default(),
            fallback: FallbackState::default(),
            creation_time,
            last_active_time: None,
            epoch,
        }
    }

    pub fn spec(&self) -> &ScaledObjectSpec {
        &self.spec
    }

    pub fn conditions(&self) -> &Conditions {
        &self.conditions
    }

    pub fn fallback_state(&self) -> &FallbackState {
        &self.fallback
    }

    pub fn last_active_time(&self) -> Option<SimTime> {
        self.last_active_time
    }

    pub fn polling_interval(&self) -> SimDuration {
        SimDuration::from_secs(self.spec.polling_interval_s)
    }

    fn civil(&self, now: SimTime) -> DateTime<Utc> {
        self.epoch + ChronoDuration::nanoseconds(now.as_nanos().min(i64::MAX as u64) as i64)
    }

    fn eval_trigger(
        &mut self,
        trigger: &Trigger,
        now: SimTime,
        metrics: &KedaMetrics,
        view: &WorkloadView,
    ) -> TriggerEval {
        let report = match &trigger.kind {
            TriggerKind::Resource { .. } => {
                // cpu/memory feed the HPA directly; KEDA counts them but never asks them for activity.
                return TriggerEval {
                    metric: None,
                    active: false,
                    error: false,
                    fallback_active: false,
                    value_m: None,
                };
            }
            TriggerKind::Prometheus {
                query,
                activation_threshold,
                ..
            } => prometheus_activity(query.eval(metrics), *activation_threshold),
            TriggerKind::Cron(c) => {
                let civil = self.civil(now);
                super::scaler::ScalerReport {
                    is_active: c.is_active(civil),
                    value_m: Ok(c.metric_value_m(civil)),
                }
            }
        };
        let metric = trigger.external_metric_name().unwrap_or_default();
        let target = MetricTargetInfo {
            name: metric.clone(),
            target_type: trigger.metric_type,
            target: trigger.external_target_m().unwrap_or(0) as f64 / 1000.0,
        };
        let ready = ready_running_pod_count(&view.pods) as i32;
        let result = self.fallback.get_metrics(
            self.spec.fallback.as_ref(),
            &self.spec.scaling_modifiers,
            &target,
            report.value_m,
            view.spec_replicas,
            ready,
        );
        let value_m = result
            .metrics
            .as_ref()
            .ok()
            .and_then(|m| m.first())
            .map(|m| m.value_m);
        TriggerEval {
            metric: Some(metric),
            active: result.metrics.is_ok() && (report.is_active || result.fallback_active),
            error: result.metrics.is_err(),
            fallback_active: result.fallback_active,
            value_m,
        }
    }

    /// One KEDA polling pass at `now` (call every [`Self::polling_interval`]).
    pub fn poll(
        &mut self,
        now: SimTime,
        metrics: &KedaMetrics,
        view: &WorkloadView,
    ) -> PollOutcome {
        let triggers = self.spec.triggers.clone();
        let mut active = false;
        let mut error = false;
        let mut fallback_active = false;
        let mut active_triggers = Vec::new();
        let mut names = Vec::new();
        let mut cpu_mem = 0;
        for t in &triggers {
            let e = self.eval_trigger(t, now, metrics, view);
            let Some(name) = e.metric else {
                cpu_mem += 1;
                continue;
            };
            if e.active {
                active = true;
                active_triggers.push(name.clone());
            }
            error |= e.error;
            fallback_active |= e.fallback_active;
            names.push(name);
        }
        if triggers.len() <= cpu_mem && !error {
            active = true;
        }
        if is_paused(&self.spec.annotations) {
            // KEDA stops the scale loop, deletes its HPA and pins the target to `paused-replicas` when that
            // holds an integer (otherwise the target keeps its count).
            return PollOutcome {
                is_active: active,
                is_error: error,
                fallback_active,
                executor: ExecutorOutcome::default(),
                replicas: self.spec.paused_replicas().unwrap_or(view.spec_replicas),
            };
        }
        let inputs = ExecutorInputs {
            now,
            creation_time: self.creation_time,
            last_active_time: self.last_active_time,
            current_replicas: Ok(view.spec_replicas),
            scale_update_fails: false,
            is_active: active,
            is_error: error,
            active_triggers,
            external_metric_names: names,
            hpa_name: String::new(),
            hpa_get_fails: false,
            hpa_scaling_active: None,
        };
        let executor = request_scale(&self.spec.executor_spec(), &inputs, &mut self.conditions);
        if let Some(t) = executor.last_active_time {
            self.last_active_time = Some(t);
        }
        PollOutcome {
            is_active: active,
            is_error: error,
            fallback_active,
            replicas: executor.replicas_after(view.spec_replicas),
            executor,
        }
    }

    /// One sync of the generated HPA at `now`; `None` while paused (KEDA deletes its HPA then).
    pub fn hpa_sync(
        &mut self,
        now: SimTime,
        metrics: &KedaMetrics,
        view: &WorkloadView,
    ) -> Option<HpaDecision> {
        if is_paused(&self.spec.annotations) {
            return None;
        }
        let triggers = self.spec.triggers.clone();
        let observations = triggers
            .iter()
            .map(|t| match &t.kind {
                TriggerKind::Resource { resource, .. } => match view.resource_samples.get(resource)
                {
                    Some(s) => MetricObservation::PerPod(s.clone()),
                    None => MetricObservation::Unavailable,
                },
                _ => match self.eval_trigger(t, now, metrics, view).value_m {
                    Some(v) => MetricObservation::External(vec![v]),
                    None => MetricObservation::Unavailable,
                },
            })
            .collect();
        Some(self.hpa.reconcile(
            now,
            &HpaInputs {
                spec_replicas: view.spec_replicas,
                status_replicas: view.status_replicas,
                pods: view.pods.clone(),
                metrics: observations,
            },
        ))
    }
}
