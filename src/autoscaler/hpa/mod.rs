//! Kubernetes HorizontalPodAutoscaler (`autoscaling/v2`) as a pure, time-parameterized model.
//!
//! What it models: the kube-controller-manager HPA sync for one HPA object: the replica calculator for
//! Resource (Utilization and AverageValue), ContainerResource, Pods, Object and External metrics with pod
//! grouping (ignored, unready, missing pods and the CPU initialization rules), tolerance (the 1.33+ interval
//! form or the older absolute form), the maximum over several metrics (no scale-down while one is broken),
//! legacy normalization when `behavior` is absent, and behavior-based normalization (stabilization windows,
//! Pods/Percent rate policies with selectPolicy Max/Min/Disabled, scale-event bookkeeping), min/max clamping
//! and the condition reasons. The algorithm follows `shared/specs/kubernetes-hpa.md`.
//!
//! Units: time is [`crate::time::SimTime`] (integer ns since the run start) and the caller passes `now`;
//! metric values and targets are integer milli-units (a Quantity's `MilliValue()`); utilization is whole
//! percent; replica counts are `i32` as in the Kubernetes API.
//!
//! How the simulator uses it: build an [`HpaSpec`] (by hand or with [`parse_hpa_manifest`]), create an
//! [`HpaController`] with an [`HpaConfig`], and every `config.sync_period` call
//! [`HpaController::reconcile`] with an [`HpaInputs`] snapshot; write `desired_replicas` to the workload when
//! `rescale` is true.
//!
//! Where it simplifies: no selector validation, no `/scale` API failures, no superfluous metric entries, and
//! the metric pipeline's lag is left to the caller (section 11 of the spec).

pub mod adapter;
pub mod calculator;
pub mod controller;
pub mod manifest;
pub mod normalize;
pub mod quantity;
pub mod runtime;
pub mod spec;

pub use calculator::{MetricError, PodMetricSample, PodPhase, PodState, ReadyCondition};
pub use controller::{
    HpaController, HpaDecision, HpaInputs, MetricObservation, MetricStatus, ObservedValue,
};
pub use manifest::{parse_hpa_manifest, HpaManifestError};
pub use normalize::HpaReason;
pub use quantity::{parse_quantity_milli, QuantityError};
pub use spec::{
    Behavior, HpaConfig, HpaSpec, MetricSpec, MetricTarget, PolicyKind, ScalingPolicy,
    ScalingRules, SelectPolicy, ToleranceRule, Tolerances,
};

#[cfg(test)]
mod tolerance_tests;
