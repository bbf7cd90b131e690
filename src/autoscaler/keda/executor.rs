//! KEDA's scale executor for a ScaledObject (`RequestScale`): what one polling pass does to the scale
//! target and to the ScaledObject's status, given whether the triggers are active or failing.
//!
//! KEDA itself owns the 0 ↔ N transition (activation and deactivation); between minReplicaCount (at least
//! 1) and maxReplicaCount the HPA it generates does the scaling. This module is that first half.
//!
//! Units: times are [`SimTime`] (integer ns); spec periods are whole seconds, as in the CRD. Replica
//! counts are `i32` as in the Kubernetes API.
//!
//! The step order, the strict `<` on cooldown deadlines (at exactly `lastActiveTime + cooldownPeriod` the
//! target is still cooling down), the pause/force annotations parsed like Go's `strconv.ParseBool` with any
//! unparsable value counting as `true`, and the condition/event texts follow KEDA's executor; the golden
//! vectors in `testdata/golden/keda_scaledobject.yaml` check every branch. Scale writes can be made to fail
//! ([`ExecutorInputs::scale_update_fails`]) so a caller can model a broken `/scale` endpoint; the
//! simulator passes `false`.

use std::collections::BTreeMap;

use crate::time::{SimDuration, SimTime};

/// Annotation that pauses the ScaledObject at a fixed replica count (any value pauses the executor).
pub const ANNOTATION_PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";
/// Annotation that pauses the ScaledObject (boolean).
pub const ANNOTATION_PAUSED: &str = "autoscaling.keda.sh/paused";
/// Annotation that blocks activation from zero/idle (boolean).
pub const ANNOTATION_PAUSED_SCALE_OUT: &str = "autoscaling.keda.sh/paused-scale-out";
/// Annotation that blocks deactivation to zero/idle (boolean).
pub const ANNOTATION_PAUSED_SCALE_IN: &str = "autoscaling.keda.sh/paused-scale-in";
/// Annotation that treats the triggers as active whatever they report (boolean).
pub const ANNOTATION_FORCE_ACTIVATION: &str = "autoscaling.keda.sh/force-activation";

/// KEDA's default `cooldownPeriod`.
pub const DEFAULT_COOLDOWN_S: u64 = 300;

/// A boolean annotation as KEDA reads it: absent is `false`; `1 t T TRUE true True` are `true`,
/// `0 f F FALSE false False` are `false`, and anything else is `true` (a parse error counts as set).
pub fn bool_annotation(annotations: &BTreeMap<String, String>, key: &str) -> bool {
    match annotations.get(key).map(String::as_str) {
        None => false,
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
        Some(_) => true,
    }
}

/// Whether the executor is paused (`paused-replicas` present, or `paused` true).
pub fn is_paused(annotations: &BTreeMap<String, String>) -> bool {
    annotations.contains_key(ANNOTATION_PAUSED_REPLICAS)
        || bool_annotation(annotations, ANNOTATION_PAUSED)
}

/// `fallback` as the executor sees it (the metric side is in [`super::fallback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackReplicas {
    pub replicas: i32,
}

/// The ScaledObject fields the executor reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecutorSpec {
    pub min_replica_count: Option<i32>,
    pub idle_replica_count: Option<i32>,
    pub cooldown_period_s: Option<u64>,
    pub initial_cooldown_period_s: Option<u64>,
    /// `Some` when `spec.fallback` is set; only its replica count matters here.
    pub fallback: Option<FallbackReplicas>,
    pub annotations: BTreeMap<String, String>,
    /// `kind ns/name` of the scale target in event notes, e.g. `apps/v1.Deployment ns/target`.
    pub target: String,
}

/// The HPA's ScalingActive condition as KEDA reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpaScalingActive {
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

/// Everything one executor pass reads besides the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorInputs {
    pub now: SimTime,
    pub creation_time: SimTime,
    /// `status.lastActiveTime`.
    pub last_active_time: Option<SimTime>,
    /// The target's replica count, or why it cannot be read.
    pub current_replicas: Result<i32, String>,
    pub scale_update_fails: bool,
    pub is_active: bool,
    pub is_error: bool,
    /// Metric names of the active triggers, in trigger order.
    pub active_triggers: Vec<String>,
    /// Every trigger's external metric name, in trigger order.
    pub external_metric_names: Vec<String>,
    /// `""` when KEDA has not created its HPA.
    pub hpa_name: String,
    pub hpa_get_fails: bool,
    pub hpa_scaling_active: Option<HpaScalingActive>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// One status condition of the ScaledObject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: &'static str,
    pub status: ConditionStatus,
    pub reason: String,
    pub message: String,
}

/// An ordered condition list where setting a type replaces it in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conditions(pub Vec<Condition>);

impl Conditions {
    pub fn set(
        &mut self,
        kind: &'static str,
        status: ConditionStatus,
        reason: &str,
        message: &str,
    ) {
        let c = Condition {
            kind,
            status,
            reason: reason.to_string(),
            message: message.to_string(),
        };
        match self.0.iter_mut().find(|e| e.kind == kind) {
            Some(existing) => *existing = c,
            None => self.0.push(c),
        }
    }

    pub fn get(&self, kind: &str) -> Option<&Condition> {
        self.0.iter().find(|c| c.kind == kind)
    }
}

/// A Kubernetes event the executor records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

/// One write to the target's `/scale` subresource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleWrite {
    pub replicas: i32,
    pub succeeded: bool,
}

/// The outcome of one executor pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecutorOutcome {
    pub scale_writes: Vec<ScaleWrite>,
    /// `Some` when `status.lastActiveTime` must be set to this value.
    pub last_active_time: Option<SimTime>,
    pub error: Option<String>,
    pub events: Vec<Event>,
    pub triggers_activity: BTreeMap<String, bool>,
}

impl ExecutorOutcome {
    /// The replica count the target has after this pass, given what it had before.
    pub fn replicas_after(&self, before: i32) -> i32 {
        self.scale_writes
            .iter()
            .rev()
            .find(|w| w.succeeded)
            .map_or(before, |w| w.replicas)
    }
}

const MSG_READY: &str = "ScaledObject is defined correctly and is ready for scaling";
const MSG_INACTIVE: &str = "Scaling is not performed because triggers are not active";

/// One `RequestScale` pass. `conditions` is the ScaledObject's status, updated in place.
pub fn request_scale(
    spec: &ExecutorSpec,
    inputs: &ExecutorInputs,
    conditions: &mut Conditions,
) -> ExecutorOutcome {
    use ConditionStatus::{False, True, Unknown};
    let mut out = ExecutorOutcome::default();
    conditions.set("Ready", True, "ScaledObjectReady", MSG_READY);
    for name in &inputs.external_metric_names {
        out.triggers_activity
            .insert(name.clone(), inputs.active_triggers.contains(name));
    }
    let current = match &inputs.current_replicas {
        Ok(c) => *c,
        Err(cause) => {
            conditions.set(
                "Ready",
                False,
                "ErrorGettingCurrentReplicas",
                &format!("Error getting current replicas count for ScaleTarget: {cause}"),
            );
            out.error = Some(format!(
                "error getting current replicas count for ScaleTarget: {cause}"
            ));
            return out;
        }
    };
    let ann = &spec.annotations;
    if is_paused(ann) {
        conditions.set(
            "Paused",
            True,
            "ScaledObjectPaused",
            "ScaledObject is paused",
        );
        return out;
    }
    let min = spec.min_replica_count.unwrap_or(0);
    let force = bool_annotation(ann, ANNOTATION_FORCE_ACTIVATION);
    let write = |out: &mut ExecutorOutcome, replicas: i32| {
        let succeeded = !inputs.scale_update_fails;
        out.scale_writes.push(ScaleWrite {
            replicas,
            succeeded,
        });
        succeeded
    };
    if inputs.is_active || force {
        let message = if force {
            "Scaling is performed because activation is being forced by annotation"
        } else {
            "Scaling is performed because triggers are active"
        };
        conditions.set("Active", True, "ScalerActive", message);
        if (spec.idle_replica_count.is_some() && current < min) || current == 0 {
            if !bool_annotation(ann, ANNOTATION_PAUSED_SCALE_OUT) {
                let to = spec.min_replica_count.filter(|m| *m > 0).unwrap_or(1);
                if write(&mut out, to) {
                    let cause = if force {
                        ", caused by forced activation annotation".to_string()
                    } else {
                        format!(", triggered by {}", inputs.active_triggers.join(";"))
                    };
                    out.events.push(Event {
                        warning: false,
                        reason: "KEDAScaleTargetActivated",
                        note: format!("Scaled {} from {current} to {to}{cause}", spec.target),
                    });
                    out.last_active_time = Some(inputs.now);
                } else {
                    out.events.push(Event {
                        warning: true,
                        reason: "KEDAScaleTargetActivationFailed",
                        note: format!("Failed to scale {} from {current} to {to}", spec.target),
                    });
                }
            }
        } else if inputs.is_error {
            conditions.set(
                "Ready",
                Unknown,
                "PartialTriggerError",
                "Some triggers defined in ScaledObject are not working correctly",
            );
        } else {
            out.last_active_time = Some(inputs.now);
        }
    } else {
        conditions.set("Active", False, "ScalerNotActive", MSG_INACTIVE);
        let fallback_replicas = spec.fallback.map(|f| f.replicas);
        if inputs.is_error && fallback_replicas.is_some_and(|r| r != 0) {
            // The generated HPA scales on the fallback metric.
        } else if inputs.is_error && fallback_replicas.is_none() {
            conditions.set(
                "Ready",
                False,
                "TriggerError",
                "Triggers defined in ScaledObject are not working correctly",
            );
        } else if spec.idle_replica_count.is_some_and(|idle| current > idle)
            || (current > 0 && min == 0)
        {
            if !bool_annotation(ann, ANNOTATION_PAUSED_SCALE_IN) {
                if cooldown_over(spec, inputs) {
                    let to = spec
                        .idle_replica_count
                        .or(spec.min_replica_count)
                        .unwrap_or(0);
                    if write(&mut out, to) {
                        out.events.push(Event {
                            warning: false,
                            reason: "KEDAScaleTargetDeactivated",
                            note: format!("Deactivated {} from {current} to {to}", spec.target),
                        });
                        conditions.set("Active", False, "ScalerNotActive", MSG_INACTIVE);
                    } else {
                        out.events.push(Event {
                            warning: true,
                            reason: "KEDAScaleTargetDeactivationFailed",
                            note: format!(
                                "Failed to deactivate {} from {current} to {to}",
                                spec.target
                            ),
                        });
                    }
                } else {
                    conditions.set(
                        "Active",
                        False,
                        "ScalerCooldown",
                        "Scaler cooling down because triggers are not active",
                    );
                }
            }
        } else if spec.idle_replica_count.is_none() && current < min {
            write(&mut out, min);
        }
    }
    check_hpa_health(inputs, conditions);
    out
}

/// Whether the (initial) cooldown has passed: strictly after `start + period`.
fn cooldown_over(spec: &ExecutorSpec, inputs: &ExecutorInputs) -> bool {
    let (start, period_s) = match inputs.last_active_time {
        None => (
            inputs.creation_time,
            spec.initial_cooldown_period_s.unwrap_or(0),
        ),
        Some(last) => (last, spec.cooldown_period_s.unwrap_or(DEFAULT_COOLDOWN_S)),
    };
    let deadline = start
        .as_nanos()
        .saturating_add(SimDuration::from_secs(period_s.min(u64::MAX / 1_000_000_000)).as_nanos());
    deadline < inputs.now.as_nanos()
}

fn check_hpa_health(inputs: &ExecutorInputs, conditions: &mut Conditions) {
    if inputs.hpa_name.is_empty() || inputs.hpa_get_fails {
        return;
    }
    let Some(sa) = &inputs.hpa_scaling_active else {
        return;
    };
    if sa.status == ConditionStatus::True {
        conditions.set(
            "HPAActive",
            ConditionStatus::True,
            "HPAActive",
            "HPA is actively scaling",
        );
    } else if sa.reason == "ScalingDisabled" {
        conditions.set(
            "HPAActive",
            ConditionStatus::True,
            "ScalingDisabled",
            &sa.message,
        );
    } else {
        let reason = if sa.reason.is_empty() {
            "HPAMetricsUnavailable"
        } else {
            &sa.reason
        };
        conditions.set(
            "HPAActive",
            ConditionStatus::False,
            reason,
            &format!("HPA is not actively scaling: {}", sa.message),
        );
    }
}
