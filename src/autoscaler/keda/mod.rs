//! KEDA ScaledObjects on simulated time, and KServe's choice of autoscaler.
//!
//! What it models: KEDA's scale executor (activation from and deactivation to zero or
//! `idleReplicaCount`, `minReplicaCount`, `cooldownPeriod`, `initialCooldownPeriod`, the pause and
//! force-activation annotations, trigger errors; [`executor`]), `fallback` ([`fallback`]), the Prometheus
//! scaler's activation and metric rounding over a small query language on the simulator's metrics, plus
//! cpu, memory and cron triggers ([`scaler`]), and the polling loop with the HPA KEDA generates
//! ([`scaledobject`]). [`kserve`] resolves which autoscaler a KServe InferenceService gets.
//!
//! Units: simulated time is [`crate::time::SimTime`] (integer ns), passed in by the caller; spec periods
//! are whole seconds as in the CRD; metric values are integer milli-units as the HPA sees them.
//!
//! How it is used: build a [`ScaledObjectSpec`] (with `crate::scenario::keda::parse_scaled_object`), make a
//! [`KedaScaler`], call [`KedaScaler::poll`] every `pollingInterval` and [`KedaScaler::hpa_sync`] every HPA
//! sync period, and apply the replica counts they return. In simulation runs ([`adapter::KedaAdapter`],
//! scenario `autoscaler.class: keda`) the adapter does exactly that on the loop's 1 s tick.
//!
//! Checked by `tests/golden_keda.rs` against vectors from KEDA's own code (executor, fallback, Prometheus
//! activation). Departures where the vectors stop are listed in [`scaledobject`].

pub mod adapter;
pub mod executor;
pub mod fallback;
pub mod kserve;
pub mod scaledobject;
pub mod scaler;

pub use executor::{
    bool_annotation, is_paused, request_scale, Condition, ConditionStatus, Conditions, Event,
    ExecutorInputs, ExecutorOutcome, ExecutorSpec, FallbackReplicas, HpaScalingActive, ScaleWrite,
};
pub use fallback::{
    FallbackBehavior, FallbackResult, FallbackSpec, FallbackState, Health, HealthStatus,
    MetricTargetInfo, MetricValue, ScalingModifiers, TargetType,
};
pub use scaledobject::{KedaScaler, PollOutcome, ScaledObjectSpec, WorkloadView};
pub use scaler::{
    metric_value_milli, prometheus_activity, Aggregation, KedaMetrics, Query, QueryParseError,
    ScalerReport, Trigger, TriggerKind,
};

#[cfg(test)]
mod tests;
