//! KEDA's `fallback`: when a trigger's scaler keeps failing, the external metric KEDA serves to its HPA is
//! replaced by one that makes the HPA settle on a fixed replica count.
//!
//! Model: each metric has a health entry (consecutive failures, Happy/Failing). A success resets it; a
//! failure increments it, and once failures exceed `failureThreshold` (strictly) the metric becomes
//! `target × r` (AverageValue) or `target × r / readyPods` (Value), where `r` is `fallback.replicas` or,
//! per `behavior`, the current replica count or the larger/smaller of the two. The value is in milli-units
//! truncated toward zero, computed in `f64` in KEDA's order (`(target × 1000) × r`). The ScaledObject's
//! Fallback condition is True while any metric is past its threshold.
//!
//! Fallback is off unless `failureThreshold >= 0`, `replicas >= 0` and, with `scalingModifiers`, the
//! modifiers' target is a positive base-10 integer (KEDA rejects e.g. `"2.5"` there). Behaviours other
//! than the four known ones act as `static`, as in KEDA. Checked by the `fallback` golden section.

use std::collections::BTreeMap;

/// `fallback.behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FallbackBehavior {
    #[default]
    Static,
    CurrentReplicas,
    CurrentReplicasIfHigher,
    CurrentReplicasIfLower,
    /// Serve the value -1 under the composite metric's name and let the modifiers' formula decide.
    ScalingModifiers,
}

impl FallbackBehavior {
    /// KEDA's names; `""` and unknown names mean `static`.
    pub fn parse(text: &str) -> Self {
        match text {
            "currentReplicas" => FallbackBehavior::CurrentReplicas,
            "currentReplicasIfHigher" => FallbackBehavior::CurrentReplicasIfHigher,
            "currentReplicasIfLower" => FallbackBehavior::CurrentReplicasIfLower,
            "scalingModifiers" => FallbackBehavior::ScalingModifiers,
            _ => FallbackBehavior::Static,
        }
    }
}

/// `spec.fallback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackSpec {
    pub failure_threshold: i32,
    pub replicas: i32,
    pub behavior: FallbackBehavior,
}

/// The target type of the HPA metric a trigger feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetType {
    #[default]
    AverageValue,
    Value,
}

/// `advanced.scalingModifiers`, as far as fallback needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScalingModifiers {
    pub formula: String,
    pub target: String,
    pub activation_target: String,
    /// `""` means AverageValue.
    pub metric_type: String,
}

impl ScalingModifiers {
    pub fn is_used(&self) -> bool {
        !(self.formula.is_empty()
            && self.target.is_empty()
            && self.activation_target.is_empty()
            && self.metric_type.is_empty())
    }

    pub fn target_type(&self) -> TargetType {
        if self.metric_type == "Value" {
            TargetType::Value
        } else {
            TargetType::AverageValue
        }
    }
}

/// The name of the single metric KEDA serves when scaling modifiers combine the triggers.
pub const COMPOSITE_METRIC: &str = "composite-metric";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthStatus {
    Happy,
    Failing,
}

/// `status.health[metric]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub failures: i32,
    pub status: HealthStatus,
}

/// The Fallback condition: `true` = FallbackExists, `false` = NoFallbackFound.
pub type FallbackCondition = Option<bool>;

/// One external metric value served to the HPA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricValue {
    pub name: String,
    pub value_m: i64,
}

/// What one metric request returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackResult {
    /// `Err` carries the error text the HPA would see.
    pub metrics: Result<Vec<MetricValue>, String>,
    pub fallback_active: bool,
}

/// The trigger metric's HPA target, as far as fallback needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricTargetInfo {
    pub name: String,
    pub target_type: TargetType,
    /// The target Quantity as a float (`AsApproximateFloat64`).
    pub target: f64,
}

/// Fallback state of one ScaledObject: the health map and the Fallback condition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FallbackState {
    pub health: BTreeMap<String, Health>,
    pub condition: FallbackCondition,
}

/// Whether fallback is configured (valid) for this ScaledObject.
pub fn fallback_configured(fallback: Option<&FallbackSpec>, modifiers: &ScalingModifiers) -> bool {
    let Some(f) = fallback else { return false };
    let mod_ok = !modifiers.is_used() || modifiers.target.parse::<i64>().is_ok_and(|t| t > 0);
    f.failure_threshold >= 0 && f.replicas >= 0 && mod_ok
}

impl FallbackState {
    /// One metric request: `scaler` is the scaler's value (milli-units) or its error text.
    pub fn get_metrics(
        &mut self,
        fallback: Option<&FallbackSpec>,
        modifiers: &ScalingModifiers,
        metric: &MetricTargetInfo,
        scaler: Result<i64, String>,
        current_replicas: i32,
        ready_pods: i32,
    ) -> FallbackResult {
        let configured = fallback_configured(fallback, modifiers);
        let value_m = match scaler {
            Ok(v) => v,
            Err(e) if !configured => {
                return FallbackResult {
                    metrics: Err(e),
                    fallback_active: false,
                }
            }
            Err(e) => {
                return self.on_failure(
                    fallback,
                    modifiers,
                    metric,
                    e,
                    current_replicas,
                    ready_pods,
                )
            }
        };
        if configured {
            self.health.insert(
                metric.name.clone(),
                Health {
                    failures: 0,
                    status: HealthStatus::Happy,
                },
            );
            self.update_condition(fallback);
        }
        FallbackResult {
            metrics: Ok(vec![MetricValue {
                name: metric.name.clone(),
                value_m,
            }]),
            fallback_active: false,
        }
    }

    fn on_failure(
        &mut self,
        fallback: Option<&FallbackSpec>,
        modifiers: &ScalingModifiers,
        metric: &MetricTargetInfo,
        error: String,
        current: i32,
        ready_pods: i32,
    ) -> FallbackResult {
        let f = fallback.expect("configured implies a fallback spec");
        let failures = self.health.get(&metric.name).map_or(0, |h| h.failures) + 1;
        self.health.insert(
            metric.name.clone(),
            Health {
                failures,
                status: HealthStatus::Failing,
            },
        );
        self.update_condition(fallback);
        if failures <= f.failure_threshold {
            return FallbackResult {
                metrics: Err(error),
                fallback_active: false,
            };
        }
        let using_modifiers = modifiers.is_used();
        let r = match f.behavior {
            FallbackBehavior::ScalingModifiers => {
                return FallbackResult {
                    metrics: Ok(vec![MetricValue {
                        name: metric.name.clone(),
                        value_m: -1000,
                    }]),
                    fallback_active: false,
                }
            }
            FallbackBehavior::Static => f.replicas,
            FallbackBehavior::CurrentReplicas => current,
            FallbackBehavior::CurrentReplicasIfHigher => current.max(f.replicas),
            FallbackBehavior::CurrentReplicasIfLower => current.min(f.replicas),
        };
        let mut r = f64::from(r);
        let target_type = if using_modifiers {
            modifiers.target_type()
        } else {
            metric.target_type
        };
        if target_type == TargetType::Value {
            if ready_pods == 0 {
                return FallbackResult {
                    metrics: Err("error performing fallback".to_string()),
                    fallback_active: false,
                };
            }
            r /= f64::from(ready_pods);
        }
        let (norm, name) = if using_modifiers {
            (
                modifiers.target.parse::<f64>().unwrap_or(0.0),
                COMPOSITE_METRIC.to_string(),
            )
        } else {
            (metric.target, metric.name.clone())
        };
        // `as` truncates toward zero and saturates, like Go's int64 conversion for in-range values.
        let value_m = ((norm * 1000.0) * r) as i64;
        FallbackResult {
            metrics: Ok(vec![MetricValue { name, value_m }]),
            fallback_active: true,
        }
    }

    fn update_condition(&mut self, fallback: Option<&FallbackSpec>) {
        let threshold = fallback.map_or(i32::MAX, |f| f.failure_threshold);
        let exceeded = self
            .health
            .values()
            .any(|h| h.status == HealthStatus::Failing && h.failures > threshold);
        self.condition = Some(exceeded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(t: TargetType) -> MetricTargetInfo {
        MetricTargetInfo {
            name: "s0-m".into(),
            target_type: t,
            target: 10.0,
        }
    }

    #[test]
    fn value_target_divides_by_ready_pods_and_fails_without_them() {
        let f = FallbackSpec {
            failure_threshold: 0,
            replicas: 6,
            behavior: FallbackBehavior::Static,
        };
        let m = ScalingModifiers::default();
        let mut st = FallbackState::default();
        let r = st.get_metrics(
            Some(&f),
            &m,
            &target(TargetType::Value),
            Err("x".into()),
            2,
            3,
        );
        assert_eq!(r.metrics.unwrap()[0].value_m, 20_000);
        let r = st.get_metrics(
            Some(&f),
            &m,
            &target(TargetType::Value),
            Err("x".into()),
            2,
            0,
        );
        assert_eq!(r.metrics, Err("error performing fallback".into()));
        assert_eq!(st.condition, Some(true));
    }

    #[test]
    fn unconfigured_fallback_leaves_status_alone() {
        let f = FallbackSpec {
            failure_threshold: -1,
            replicas: 6,
            behavior: FallbackBehavior::Static,
        };
        let mut st = FallbackState::default();
        let r = st.get_metrics(
            Some(&f),
            &ScalingModifiers::default(),
            &target(TargetType::AverageValue),
            Err("boom".into()),
            2,
            2,
        );
        assert_eq!(r.metrics, Err("boom".into()));
        assert!(st.health.is_empty());
        assert_eq!(st.condition, None);
    }
}
