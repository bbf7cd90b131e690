//! The stateful HPA: one [`HpaController`] per HorizontalPodAutoscaler object, reconciled every
//! `sync_period` (15 s) by the simulator (spec §2, §6–§8).
//!
//! Per sync the simulator passes an [`HpaInputs`] snapshot (the target's `spec.replicas` and
//! `status.replicas`, the selected pods, and one [`MetricObservation`] per `spec.metrics` entry, in the same
//! order) and gets an [`HpaDecision`]: the replica count to write plus everything worth a time-series column.
//! The controller keeps the recommendation and scale-event histories the windows and policies need; it never
//! reads a clock.
//!
//! Simplifications: selector validation (invalid or ambiguous selectors) and API failures on `/scale` are
//! not modelled; the metric pipeline lag is the caller's business (pass what the metrics API would return at
//! `now`).

use super::calculator::{
    average_value_replicas, plain_metric_replicas, ready_running_pod_count,
    resource_utilization_replicas, sum_series, value_replicas, CalcContext, MetricError,
    PodMetricSample, PodState,
};
use super::normalize::{
    behavior_rate_limit, behavior_stabilize, legacy_rules, legacy_stabilize, store_scale_event,
    HpaReason, Recommendation, ScaleEvent,
};
use super::spec::{HpaConfig, HpaSpec, MetricSpec, MetricTarget, Tolerances};
use crate::time::SimTime;

/// What the metrics APIs returned for one `spec.metrics` entry at this sync.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricObservation {
    /// Resource or Pods metric: one sample per pod of [`HpaInputs::pods`] (same order), `None` = missing.
    PerPod(Vec<Option<PodMetricSample>>),
    /// Object metric: the object's value, milli-units.
    Object(i64),
    /// External metric: the values of all returned series, milli-units.
    External(Vec<i64>),
    /// The metrics API failed for this metric.
    Unavailable,
    /// The `spec.metrics` entry has a source `type` this controller does not know (e.g. a manifest written
    /// for a newer API). Kubernetes marks such a metric invalid with reason `InvalidMetricSourceType`; the
    /// entry in [`HpaSpec::metrics`] is then only a placeholder.
    UnknownSourceType(String),
}

/// Everything the HPA reads at one sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HpaInputs {
    /// `scale.spec.replicas` of the target: the replica count the HPA last asked for (or a user set).
    pub spec_replicas: i32,
    /// `scale.status.replicas`: pods that exist; used by the Object/External AverageValue paths.
    pub status_replicas: i32,
    /// Pods matched by the target's selector.
    pub pods: Vec<PodState>,
    /// One observation per `spec.metrics` entry, in order.
    pub metrics: Vec<MetricObservation>,
}

/// The value a metric was observed at (what `kubectl get hpa` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservedValue {
    /// Resource Utilization target: first-pass utilization (%) and average usage (milli-units).
    Utilization { percent: i32, average_m: i64 },
    /// Per-pod average, milli-units.
    AverageValue(i64),
    /// Total value, milli-units.
    Value(i64),
}

/// Per-metric outcome of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStatus {
    pub name: String,
    pub result: Result<(i32, ObservedValue), MetricError>,
}

impl MetricStatus {
    pub fn proposal(&self) -> Option<i32> {
        self.result.as_ref().ok().map(|(r, _)| *r)
    }
}

/// The outcome of one sync.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaDecision {
    /// The replica count the target should have; equals the input `spec_replicas` when nothing changes.
    pub desired_replicas: i32,
    /// Whether `desired_replicas` differs from the input `spec_replicas` (a write to `/scale`).
    pub rescale: bool,
    /// Largest valid per-metric proposal (`None` when the metric path was not taken or failed).
    pub metric_desired: Option<i32>,
    /// The recommendation after the stabilization window(s), before rate limits and min/max.
    pub stabilized: Option<i32>,
    /// Per-metric observed value and proposal, in `spec.metrics` order.
    pub metrics: Vec<MetricStatus>,
    /// Why `desired_replicas` is what it is (the most constraining step).
    pub reason: HpaReason,
    /// The AbleToScale condition reason (`SucceededRescale`, `ReadyForNewScale`, `ScaleUpStabilized`, ...).
    pub able_to_scale: &'static str,
    /// The ScalingLimited condition reason (`DesiredWithinRange`, `TooManyReplicas`, ...).
    pub scaling_limited: &'static str,
    /// Index into the scale-up or scale-down policies of the policy that capped this sync, if any.
    pub limiting_policy: Option<usize>,
    /// The ScalingActive condition this sync sets, `(status, reason)`: `(true, "ValidMetricFound")`,
    /// `(false, "ScalingDisabled")`, or `false` with the last invalid metric's reason
    /// (`FailedGetResourceMetric`, ..., `InvalidMetricSourceType`). `None` when this sync leaves it as it was
    /// (the replica count was outside min/max and no metric was read).
    pub scaling_active: Option<(bool, &'static str)>,
}

/// One HPA object with its histories.
#[derive(Debug, Clone)]
pub struct HpaController {
    spec: HpaSpec,
    config: HpaConfig,
    /// `None` until the first sync records `(current, now)`, as upstream does for a new HPA.
    recommendations: Option<Vec<Recommendation>>,
    scale_up_events: Vec<ScaleEvent>,
    scale_down_events: Vec<ScaleEvent>,
    last_scale_time: Option<SimTime>,
}

impl HpaController {
    pub fn new(spec: HpaSpec, config: HpaConfig) -> Self {
        HpaController {
            spec,
            config,
            recommendations: None,
            scale_up_events: Vec::new(),
            scale_down_events: Vec::new(),
            last_scale_time: None,
        }
    }

    pub fn spec(&self) -> &HpaSpec {
        &self.spec
    }

    pub fn config(&self) -> &HpaConfig {
        &self.config
    }

    /// Replaces min/max (what a CronHPA job does to its HPA); the histories are kept, as upstream.
    pub fn set_replica_bounds(&mut self, min_replicas: i32, max_replicas: i32) {
        self.spec.min_replicas = min_replicas;
        self.spec.max_replicas = max_replicas;
    }

    /// Replaces the recommendation history (e.g. an HPA that has been running before the simulation, or
    /// the upstream test fixtures that start from an empty history). An empty list disables the initial
    /// `(current, now)` record of the first sync.
    pub fn set_recommendations(&mut self, history: Vec<Recommendation>) {
        self.recommendations = Some(history);
    }

    /// The recommendation history the stabilization windows read.
    pub fn recommendations(&self) -> &[Recommendation] {
        self.recommendations.as_deref().unwrap_or(&[])
    }

    /// `status.lastScaleTime`.
    pub fn last_scale_time(&self) -> Option<SimTime> {
        self.last_scale_time
    }

    /// The tolerances in force: the controller flag, overridden per direction by `behavior` when the
    /// `HPAConfigurableTolerance` gate is on. The no-scale band is `(1 - down) <= ratio <= (1 + up)`.
    pub fn tolerances(&self) -> Tolerances {
        let flag = self.config.tolerance;
        match &self.spec.behavior {
            Some(b) if self.config.configurable_tolerance => Tolerances {
                scale_down: b.scale_down.tolerance.unwrap_or(flag),
                scale_up: b.scale_up.tolerance.unwrap_or(flag),
            },
            _ => Tolerances::symmetric(flag),
        }
    }

    /// One metric's proposal (spec §5).
    pub fn metric_proposal(
        &self,
        metric: &MetricSpec,
        observation: &MetricObservation,
        inputs: &HpaInputs,
        ctx: &CalcContext,
    ) -> Result<(i32, ObservedValue), MetricError> {
        use MetricObservation as Obs;
        let current = inputs.spec_replicas;
        let invalid = |metric_type, target| MetricError::InvalidTarget {
            metric_type,
            target,
        };
        match (metric, observation) {
            (_, Obs::Unavailable) => Err(MetricError::Unavailable),
            (_, Obs::UnknownSourceType(type_name)) => Err(MetricError::InvalidMetricSourceType {
                type_name: type_name.clone(),
            }),
            (
                MetricSpec::Resource {
                    resource, target, ..
                },
                Obs::PerPod(samples),
            ) => match *target {
                MetricTarget::Utilization(pct) => {
                    let p = resource_utilization_replicas(
                        current,
                        pct,
                        resource,
                        &inputs.pods,
                        samples,
                        ctx,
                    )?;
                    Ok((
                        p.replicas,
                        ObservedValue::Utilization {
                            percent: p.utilization_pct,
                            average_m: p.raw_average_m,
                        },
                    ))
                }
                MetricTarget::AverageValue(target_m) => {
                    let p = plain_metric_replicas(
                        current,
                        target_m,
                        Some(resource),
                        &inputs.pods,
                        samples,
                        ctx,
                    )?;
                    Ok((p.replicas, ObservedValue::AverageValue(p.usage_m)))
                }
                MetricTarget::Value(_) => Err(invalid("Resource", "Value")),
            },
            (MetricSpec::Pods { target, .. }, Obs::PerPod(samples)) => match *target {
                MetricTarget::AverageValue(target_m) => {
                    let p =
                        plain_metric_replicas(current, target_m, None, &inputs.pods, samples, ctx)?;
                    Ok((p.replicas, ObservedValue::AverageValue(p.usage_m)))
                }
                MetricTarget::Utilization(_) => Err(invalid("Pods", "Utilization")),
                MetricTarget::Value(_) => Err(invalid("Pods", "Value")),
            },
            (MetricSpec::Object { target, .. }, Obs::Object(value_m)) => {
                self.total_value_proposal("Object", *target, *value_m, inputs, ctx)
            }
            (MetricSpec::External { target, .. }, Obs::External(series)) => {
                self.total_value_proposal("External", *target, sum_series(series), inputs, ctx)
            }
            _ => Err(MetricError::ObservationMismatch {
                metric: metric.name().to_string(),
            }),
        }
    }

    fn total_value_proposal(
        &self,
        metric_type: &'static str,
        target: MetricTarget,
        total_m: i64,
        inputs: &HpaInputs,
        ctx: &CalcContext,
    ) -> Result<(i32, ObservedValue), MetricError> {
        match target {
            MetricTarget::Value(target_m) => {
                let p = value_replicas(
                    inputs.spec_replicas,
                    total_m,
                    target_m,
                    ready_running_pod_count(&inputs.pods),
                    ctx,
                )?;
                Ok((p.replicas, ObservedValue::Value(p.usage_m)))
            }
            MetricTarget::AverageValue(target_m) => {
                let p = average_value_replicas(inputs.status_replicas, total_m, target_m, ctx);
                Ok((p.replicas, ObservedValue::AverageValue(p.usage_m)))
            }
            MetricTarget::Utilization(_) => Err(MetricError::InvalidTarget {
                metric_type,
                target: "Utilization",
            }),
        }
    }

    /// `computeReplicasForMetrics` (spec §6): the largest valid proposal, or `None` when no metric is valid
    /// or a broken metric would allow a scale-down.
    pub fn replicas_for_metrics(
        &self,
        now: SimTime,
        inputs: &HpaInputs,
    ) -> (Option<i32>, Vec<MetricStatus>) {
        let ctx = CalcContext::new(now, &self.config, self.tolerances());
        let mut statuses = Vec::with_capacity(self.spec.metrics.len());
        let mut best: Option<i32> = None;
        let mut invalid = 0usize;
        for (index, metric) in self.spec.metrics.iter().enumerate() {
            let observation = inputs
                .metrics
                .get(index)
                .unwrap_or(&MetricObservation::Unavailable);
            let result = self.metric_proposal(metric, observation, inputs, &ctx);
            match &result {
                // A zero proposal counts as "unset": any later proposal replaces it.
                Ok((replicas, _)) => {
                    if best.is_none_or(|b| b == 0 || *replicas > b) {
                        best = Some(*replicas);
                    }
                }
                Err(_) => invalid += 1,
            }
            statuses.push(MetricStatus {
                name: metric.name().to_string(),
                result,
            });
        }
        let blocked = invalid >= self.spec.metrics.len()
            || (invalid > 0 && best.is_some_and(|b| b < inputs.spec_replicas));
        (if blocked { None } else { best }, statuses)
    }

    /// One sync (`reconcileAutoscaler`): decides the replica count and updates the histories.
    pub fn reconcile(&mut self, now: SimTime, inputs: &HpaInputs) -> HpaDecision {
        let current = inputs.spec_replicas;
        // A new HPA remembers the current count, so its first sync cannot scale straight down.
        self.recommendations.get_or_insert_with(|| {
            vec![Recommendation {
                replicas: current,
                at: now,
            }]
        });
        let min = self.spec.min_replicas;
        let max = self.spec.max_replicas;
        let mut decision = HpaDecision {
            desired_replicas: current,
            rescale: false,
            metric_desired: None,
            stabilized: None,
            metrics: Vec::new(),
            reason: HpaReason::DesiredWithinRange,
            able_to_scale: "ReadyForNewScale",
            scaling_limited: "DesiredWithinRange",
            limiting_policy: None,
            scaling_active: None,
        };
        if current == 0 && min != 0 {
            decision.reason = HpaReason::ScalingDisabled;
            decision.scaling_active = Some((false, "ScalingDisabled"));
            return decision;
        }
        if current > max {
            decision.desired_replicas = max;
            decision.reason = HpaReason::CurrentAboveMax;
            decision.scaling_limited = "TooManyReplicas";
        } else if current < min {
            decision.desired_replicas = min;
            decision.reason = HpaReason::CurrentBelowMin;
            decision.scaling_limited = "TooFewReplicas";
        } else {
            let (metric_desired, statuses) = self.replicas_for_metrics(now, inputs);
            decision.scaling_active = Some(match metric_desired {
                Some(_) => (true, "ValidMetricFound"),
                None => (false, self.invalid_metric_reason(&statuses)),
            });
            decision.metrics = statuses;
            let Some(metric_desired) = metric_desired else {
                decision.reason = HpaReason::InvalidMetrics;
                return decision;
            };
            decision.metric_desired = Some(metric_desired);
            self.normalize(now, current, metric_desired, &mut decision);
        }
        decision.rescale = decision.desired_replicas != current;
        if decision.rescale {
            self.record_scale_event(now, current, decision.desired_replicas);
            self.last_scale_time = Some(now);
            decision.able_to_scale = "SucceededRescale";
        }
        decision
    }

    /// The ScalingActive reason Kubernetes reports for the last invalid metric of a failed sync.
    fn invalid_metric_reason(&self, statuses: &[MetricStatus]) -> &'static str {
        let last_invalid = statuses
            .iter()
            .zip(&self.spec.metrics)
            .rev()
            .find_map(|(s, spec)| s.result.as_ref().err().map(|e| (e, spec)));
        match last_invalid {
            Some((MetricError::InvalidMetricSourceType { .. }, _)) => "InvalidMetricSourceType",
            Some((_, MetricSpec::Resource { .. })) => "FailedGetResourceMetric",
            Some((_, MetricSpec::Pods { .. })) => "FailedGetPodsMetric",
            Some((_, MetricSpec::Object { .. })) => "FailedGetObjectMetric",
            Some((_, MetricSpec::External { .. })) => "FailedGetExternalMetric",
            // Every metric valid but one broken metric blocked a scale-down: upstream keeps the last error.
            None => "FailedGetMetrics",
        }
    }

    fn normalize(&mut self, now: SimTime, current: i32, desired: i32, decision: &mut HpaDecision) {
        let (min, max) = (self.spec.min_replicas, self.spec.max_replicas);
        let (stabilized, stabilize_reason, limited) = match &self.spec.behavior {
            None => {
                let stabilized = legacy_stabilize(
                    self.recommendations.get_or_insert_with(Vec::new),
                    desired,
                    now,
                    self.config.downscale_stabilization,
                );
                let reason = if stabilized != desired {
                    HpaReason::ScaleDownStabilized
                } else {
                    HpaReason::DesiredWithinRange
                };
                let (replicas, limit_reason) = legacy_rules(current, stabilized, min, max);
                (stabilized, reason, (replicas, limit_reason, None))
            }
            Some(behavior) => {
                let up_window = behavior.scale_up.stabilization_window.unwrap_or_default();
                let down_window = behavior
                    .scale_down
                    .stabilization_window
                    .unwrap_or(self.config.downscale_stabilization);
                let (stabilized, reason) = behavior_stabilize(
                    self.recommendations.get_or_insert_with(Vec::new),
                    current,
                    desired,
                    now,
                    up_window,
                    down_window,
                );
                let limited = behavior_rate_limit(
                    current,
                    stabilized,
                    min,
                    max,
                    behavior,
                    &self.scale_up_events,
                    &self.scale_down_events,
                    now,
                );
                (
                    stabilized,
                    reason,
                    (limited.replicas, limited.reason, limited.limiting_policy),
                )
            }
        };
        let (replicas, limit_reason, limiting_policy) = limited;
        decision.stabilized = Some(stabilized);
        decision.desired_replicas = replicas;
        decision.able_to_scale = match stabilize_reason {
            HpaReason::DesiredWithinRange => "ReadyForNewScale",
            other => other.condition_reason(),
        };
        decision.scaling_limited = limit_reason.condition_reason();
        decision.limiting_policy = limiting_policy;
        decision.reason = if replicas != stabilized {
            limit_reason
        } else {
            stabilize_reason
        };
    }

    fn record_scale_event(&mut self, now: SimTime, previous: i32, new: i32) {
        let Some(behavior) = &self.spec.behavior else {
            return;
        };
        if new > previous {
            store_scale_event(
                &mut self.scale_up_events,
                &behavior.scale_up,
                new - previous,
                now,
            );
        } else if new < previous {
            store_scale_event(
                &mut self.scale_down_events,
                &behavior.scale_down,
                previous - new,
                now,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscaler::hpa::spec::Behavior;
    use crate::time::SimDuration;

    fn cpu_spec(behavior: Option<Behavior>) -> HpaSpec {
        HpaSpec {
            min_replicas: 1,
            max_replicas: 100,
            metrics: vec![MetricSpec::Resource {
                resource: "cpu".into(),
                container: None,
                target: MetricTarget::Utilization(50),
            }],
            behavior,
        }
    }

    /// `n` old, ready pods each using `usage_m` of a 1000m request.
    fn inputs(n: i32, usage_m: i64, now: SimTime) -> HpaInputs {
        let pods = (0..n)
            .map(|_| PodState::running(SimTime::ZERO, "cpu", 1000))
            .collect();
        let sample = PodMetricSample {
            value_m: usage_m,
            timestamp: now,
            window: SimDuration::from_secs(15),
        };
        HpaInputs {
            spec_replicas: n,
            status_replicas: n,
            pods,
            metrics: vec![MetricObservation::PerPod(vec![Some(sample); n as usize])],
        }
    }

    #[test]
    fn legacy_path_waits_for_the_downscale_window() {
        let mut hpa = HpaController::new(cpu_spec(None), HpaConfig::default());
        let t0 = SimTime::from_secs(1000);
        let first = hpa.reconcile(t0, &inputs(10, 100, t0));
        assert_eq!(first.metric_desired, Some(2));
        assert_eq!(first.desired_replicas, 10, "initial recommendation holds");
        assert_eq!(first.reason, HpaReason::ScaleDownStabilized);
        let mut t = t0;
        let mut last = first;
        while t < t0 + SimDuration::from_secs(300) {
            t += SimDuration::from_secs(15);
            last = hpa.reconcile(t, &inputs(10, 100, t));
        }
        assert_eq!(
            last.desired_replicas, 10,
            "window still holds at exactly 300 s"
        );
        t += SimDuration::from_secs(15);
        let after = hpa.reconcile(t, &inputs(10, 100, t));
        assert_eq!(after.desired_replicas, 2);
        assert!(after.rescale);
        assert_eq!(after.reason.as_str(), "within_range");
    }

    #[test]
    fn default_behavior_rate_limits_consecutive_scale_ups() {
        let mut hpa = HpaController::new(cpu_spec(Some(Behavior::default())), HpaConfig::default());
        let t0 = SimTime::from_secs(1000);
        let first = hpa.reconcile(t0, &inputs(2, 1000, t0));
        assert_eq!(first.metric_desired, Some(4));
        assert_eq!(first.desired_replicas, 4);
        // Still hot at 4 pods: the metrics want 8, but 2 were added within 15 s, so the limit is
        // max(2 + 4, 2 × 2) = 6.
        let t1 = t0 + SimDuration::from_secs(10);
        let second = hpa.reconcile(t1, &inputs(4, 1000, t1));
        assert_eq!(second.metric_desired, Some(8));
        assert_eq!(second.desired_replicas, 6);
        assert_eq!(second.reason, HpaReason::ScaleUpLimit);
        assert_eq!(second.limiting_policy, Some(0));
    }

    #[test]
    fn zero_replicas_with_positive_min_disables_scaling() {
        let mut hpa = HpaController::new(cpu_spec(None), HpaConfig::default());
        let decision = hpa.reconcile(SimTime::from_secs(1), &inputs(0, 0, SimTime::from_secs(1)));
        assert_eq!(decision.reason, HpaReason::ScalingDisabled);
        assert!(!decision.rescale);
    }

    #[test]
    fn a_broken_metric_blocks_scale_down_only() {
        let mut spec = cpu_spec(Some(Behavior::default()));
        spec.metrics.push(MetricSpec::External {
            name: "queue".into(),
            target: MetricTarget::Value(1000),
        });
        let mut hpa = HpaController::new(spec, HpaConfig::default());
        hpa.set_recommendations(Vec::new());
        let t = SimTime::from_secs(1000);
        let mut low = inputs(4, 100, t);
        low.metrics.push(MetricObservation::Unavailable);
        let held = hpa.reconcile(t, &low);
        assert_eq!(held.reason, HpaReason::InvalidMetrics);
        assert_eq!(held.desired_replicas, 4);
        assert!(held.metrics[1].result.is_err());
        let mut high = inputs(4, 900, t);
        high.metrics.push(MetricObservation::Unavailable);
        assert_eq!(hpa.reconcile(t, &high).desired_replicas, 8);
    }
}
