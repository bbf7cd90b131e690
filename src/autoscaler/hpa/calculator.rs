//! The replica calculator: one replica proposal per metric (spec §3 and §5).
//!
//! Inputs are plain snapshots: the pods matched by the selector ([`PodState`]) and, per pod, the metric
//! sample the metrics API returned ([`PodMetricSample`], `None` = no sample). Values are integer
//! milli-units; utilization is whole percent computed with integer division, exactly as upstream (the
//! truncation matters: 102.9 % is 102 %). Ratios are `f64` and `ceil` follows Go's `math.Ceil`.
//!
//! Simplifications: metric samples for pods outside the pod list ("superfluous" entries upstream) cannot be
//! expressed; per-container requests are summed by the caller into one request per pod; the missing-pod
//! assumption on scale-down is the newest one (`request * max(100, target) / 100`).

use std::collections::BTreeMap;

use thiserror::Error;

use super::spec::{HpaConfig, ToleranceRule, Tolerances};
use crate::time::{SimDuration, SimTime};

/// Pod lifecycle phase as reported by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodPhase {
    Pending,
    #[default]
    Running,
    Succeeded,
    Failed,
}

/// The pod's Ready condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyCondition {
    pub ready: bool,
    pub last_transition: SimTime,
}

/// What the HPA sees of one pod matched by the target's selector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodState {
    pub phase: PodPhase,
    /// `deletionTimestamp` is set (the pod is terminating).
    pub deleted: bool,
    /// `status.startTime`; `None` before the kubelet starts the pod.
    pub start_time: Option<SimTime>,
    /// `None` when the pod has no Ready condition yet.
    pub ready: Option<ReadyCondition>,
    /// Pod total requests per resource name (`cpu`, `memory`, `nvidia.com/gpu`), milli-units.
    pub requests_m: BTreeMap<String, i64>,
}

impl PodState {
    /// A running, ready pod started at `start`, with a request for one resource.
    pub fn running(start: SimTime, resource: &str, request_m: i64) -> Self {
        PodState {
            phase: PodPhase::Running,
            deleted: false,
            start_time: Some(start),
            ready: Some(ReadyCondition {
                ready: true,
                last_transition: start,
            }),
            requests_m: BTreeMap::from([(resource.to_string(), request_m)]),
        }
    }

    fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running && self.ready.is_some_and(|r| r.ready)
    }
}

/// One pod's sample from the metrics API: the value over `[timestamp - window, timestamp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodMetricSample {
    pub value_m: i64,
    pub timestamp: SimTime,
    pub window: SimDuration,
}

/// Why a metric produced no proposal (the HPA then reports `FailedGet...Metric`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetricError {
    #[error("the metrics API returned no value for this metric")]
    Unavailable,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoPodMetrics,
    #[error("missing request for {resource} in pod #{pod_index}")]
    MissingRequest { resource: String, pod_index: usize },
    #[error("the sum of the pods' {resource} requests is zero")]
    ZeroRequests { resource: String },
    #[error("no running and ready pods match the selector")]
    NoReadyPods,
    #[error("per-pod samples ({samples}) do not line up with the pods ({pods})")]
    SampleCountMismatch { samples: usize, pods: usize },
    #[error("the observation passed for metric {metric:?} does not fit its type (per-pod samples for Resource/Pods, a value for Object, series for External)")]
    ObservationMismatch { metric: String },
    #[error("invalid metric source type {type_name:?}: this controller knows Resource, ContainerResource, Pods, Object and External")]
    InvalidMetricSourceType { type_name: String },
    #[error("target {target} is not allowed for a {metric_type} metric")]
    InvalidTarget {
        metric_type: &'static str,
        target: &'static str,
    },
}

/// The tolerance settings a calculation needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalcContext {
    pub now: SimTime,
    pub tolerances: Tolerances,
    pub rule: ToleranceRule,
    pub cpu_initialization_period: SimDuration,
    pub initial_readiness_delay: SimDuration,
}

impl CalcContext {
    pub fn new(now: SimTime, config: &HpaConfig, tolerances: Tolerances) -> Self {
        CalcContext {
            now,
            tolerances,
            rule: config.tolerance_rule,
            cpu_initialization_period: config.cpu_initialization_period,
            initial_readiness_delay: config.initial_readiness_delay,
        }
    }

    fn within(&self, ratio: f64) -> bool {
        self.tolerances.is_within(ratio, self.rule)
    }
}

/// Proposal of a Resource metric with a Utilization target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtilizationProposal {
    pub replicas: i32,
    /// First-pass utilization, whole percent (what status reports).
    pub utilization_pct: i32,
    /// First-pass average usage per ready pod, milli-units.
    pub raw_average_m: i64,
}

/// Proposal of an average-value or value metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueProposal {
    pub replicas: i32,
    /// The reported usage (average or total, per metric type), milli-units.
    pub usage_m: i64,
}

/// Go's `int32(math.Ceil(x))` for the values that occur here (saturating instead of wrapping).
fn ceil_i32(x: f64) -> i32 {
    let c = x.ceil();
    if c >= i32::MAX as f64 {
        i32::MAX
    } else if c <= i32::MIN as f64 {
        i32::MIN
    } else {
        c as i32
    }
}

struct Grouping {
    ready_count: usize,
    /// Per pod index: the value counted for it (ready pods with samples only).
    metrics: BTreeMap<usize, i64>,
    unready: Vec<usize>,
    missing: Vec<usize>,
}

/// `groupPods`: classifies pods as ignored, unready, missing or ready (spec §3). The CPU readiness rules
/// apply only when `cpu_rules` is true.
fn group_pods(
    pods: &[PodState],
    samples: &[Option<PodMetricSample>],
    cpu_rules: bool,
    ctx: &CalcContext,
) -> Grouping {
    let mut grouping = Grouping {
        ready_count: 0,
        metrics: BTreeMap::new(),
        unready: Vec::new(),
        missing: Vec::new(),
    };
    for (index, pod) in pods.iter().enumerate() {
        if pod.deleted || pod.phase == PodPhase::Failed {
            continue;
        }
        if pod.phase == PodPhase::Pending {
            grouping.unready.push(index);
            continue;
        }
        let Some(sample) = samples.get(index).copied().flatten() else {
            grouping.missing.push(index);
            continue;
        };
        if cpu_rules && cpu_pod_is_unready(pod, &sample, ctx) {
            grouping.unready.push(index);
            continue;
        }
        grouping.ready_count += 1;
        grouping.metrics.insert(index, sample.value_m);
    }
    grouping
}

fn cpu_pod_is_unready(pod: &PodState, sample: &PodMetricSample, ctx: &CalcContext) -> bool {
    let (Some(ready), Some(start)) = (pod.ready, pod.start_time) else {
        return true;
    };
    if start + ctx.cpu_initialization_period > ctx.now {
        // Still initializing: CPU is only trusted once a full metric window follows the last transition.
        !ready.ready || sample.timestamp < ready.last_transition + sample.window
    } else {
        // Turned unready within the initial delay after start: it has never really been ready.
        !ready.ready && start + ctx.initial_readiness_delay > ready.last_transition
    }
}

fn check_samples(
    pods: &[PodState],
    samples: &[Option<PodMetricSample>],
) -> Result<(), MetricError> {
    if samples.len() != pods.len() {
        return Err(MetricError::SampleCountMismatch {
            samples: samples.len(),
            pods: pods.len(),
        });
    }
    Ok(())
}

/// `GetResourceUtilizationRatio`: (ratio, utilization %, raw average) over the entries in `metrics`.
fn utilization_ratio(
    metrics: &BTreeMap<usize, i64>,
    requests: &[i64],
    target_pct: i32,
    resource: &str,
) -> Result<(f64, i32, i64), MetricError> {
    let usage: i64 = metrics.values().sum();
    let requested: i64 = metrics.keys().map(|&i| requests[i]).sum();
    if requested == 0 {
        return Err(MetricError::ZeroRequests {
            resource: resource.to_string(),
        });
    }
    let utilization = ((usage as i128 * 100) / requested as i128) as i32;
    let raw_average = usage / metrics.len() as i64;
    Ok((
        f64::from(utilization) / f64::from(target_pct),
        utilization,
        raw_average,
    ))
}

/// Resource metric with a Utilization target (`GetResourceReplicas`, spec §5.1).
pub fn resource_utilization_replicas(
    current_replicas: i32,
    target_pct: i32,
    resource: &str,
    pods: &[PodState],
    samples: &[Option<PodMetricSample>],
    ctx: &CalcContext,
) -> Result<UtilizationProposal, MetricError> {
    check_samples(pods, samples)?;
    let mut requests = Vec::with_capacity(pods.len());
    for (pod_index, pod) in pods.iter().enumerate() {
        let request = pod
            .requests_m
            .get(resource)
            .copied()
            .ok_or(MetricError::MissingRequest {
                resource: resource.to_string(),
                pod_index,
            })?;
        requests.push(request);
    }
    let mut grouping = group_pods(pods, samples, resource == "cpu", ctx);
    if grouping.metrics.is_empty() {
        return Err(MetricError::NoPodMetrics);
    }
    let (ratio, utilization_pct, raw_average_m) =
        utilization_ratio(&grouping.metrics, &requests, target_pct, resource)?;
    let proposal = |replicas| UtilizationProposal {
        replicas,
        utilization_pct,
        raw_average_m,
    };
    let scale_up_with_unready = !grouping.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && grouping.missing.is_empty() {
        if ctx.within(ratio) {
            return Ok(proposal(current_replicas));
        }
        return Ok(proposal(ceil_i32(ratio * grouping.ready_count as f64)));
    }
    for &index in &grouping.missing {
        if ratio < 1.0 {
            let assumed = requests[index] * i64::from(target_pct.max(100)) / 100;
            grouping.metrics.insert(index, assumed);
        } else if ratio > 1.0 {
            grouping.metrics.insert(index, 0);
        }
    }
    if scale_up_with_unready {
        for &index in &grouping.unready {
            grouping.metrics.insert(index, 0);
        }
    }
    let (new_ratio, _, _) = utilization_ratio(&grouping.metrics, &requests, target_pct, resource)?;
    Ok(proposal(rebalanced_replicas(
        current_replicas,
        ratio,
        new_ratio,
        grouping.metrics.len(),
        ctx,
    )))
}

/// Steps 8–10 of §5.1/§5.3: hold on tolerance or a direction flip, else `ceil(newRatio × entries)`.
fn rebalanced_replicas(
    current_replicas: i32,
    ratio: f64,
    new_ratio: f64,
    entries: usize,
    ctx: &CalcContext,
) -> i32 {
    if ctx.within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)
    {
        return current_replicas;
    }
    let replicas = ceil_i32(new_ratio * entries as f64);
    if (new_ratio < 1.0 && replicas > current_replicas)
        || (new_ratio > 1.0 && replicas < current_replicas)
    {
        return current_replicas;
    }
    replicas
}

/// A per-pod average metric with an AverageValue target: Pods metrics, and Resource metrics with an
/// AverageValue target when `resource` is given (`calcPlainMetricReplicas`, spec §5.2/§5.3).
pub fn plain_metric_replicas(
    current_replicas: i32,
    target_m: i64,
    resource: Option<&str>,
    pods: &[PodState],
    samples: &[Option<PodMetricSample>],
    ctx: &CalcContext,
) -> Result<ValueProposal, MetricError> {
    check_samples(pods, samples)?;
    let mut grouping = group_pods(pods, samples, resource == Some("cpu"), ctx);
    if grouping.metrics.is_empty() {
        return Err(MetricError::NoPodMetrics);
    }
    let usage_ratio = |metrics: &BTreeMap<usize, i64>| {
        let average = metrics.values().sum::<i64>() / metrics.len() as i64;
        (average as f64 / target_m as f64, average)
    };
    let (ratio, usage_m) = usage_ratio(&grouping.metrics);
    let proposal = |replicas| ValueProposal { replicas, usage_m };
    let scale_up_with_unready = !grouping.unready.is_empty() && ratio > 1.0;
    if !scale_up_with_unready && grouping.missing.is_empty() {
        if ctx.within(ratio) {
            return Ok(proposal(current_replicas));
        }
        return Ok(proposal(ceil_i32(ratio * grouping.ready_count as f64)));
    }
    for &index in &grouping.missing {
        if ratio < 1.0 {
            grouping.metrics.insert(index, target_m);
        } else if ratio > 1.0 {
            grouping.metrics.insert(index, 0);
        }
    }
    if scale_up_with_unready {
        for &index in &grouping.unready {
            grouping.metrics.insert(index, 0);
        }
    }
    let (new_ratio, _) = usage_ratio(&grouping.metrics);
    Ok(proposal(rebalanced_replicas(
        current_replicas,
        ratio,
        new_ratio,
        grouping.metrics.len(),
        ctx,
    )))
}

/// Pods that are Running with Ready=True: the base of the Object/External Value paths.
pub fn ready_running_pod_count(pods: &[PodState]) -> usize {
    pods.iter().filter(|p| p.is_running_and_ready()).count()
}

/// Object or External metric with a Value target (`getUsageRatioReplicaCount`, spec §5.4/§5.6).
/// `value_m` is the object's value, or the sum of the external series.
pub fn value_replicas(
    current_replicas: i32,
    value_m: i64,
    target_m: i64,
    ready_running_pods: usize,
    ctx: &CalcContext,
) -> Result<ValueProposal, MetricError> {
    let ratio = value_m as f64 / target_m as f64;
    let replicas = if current_replicas != 0 {
        if ctx.within(ratio) {
            current_replicas
        } else {
            if ready_running_pods == 0 {
                return Err(MetricError::NoReadyPods);
            }
            ceil_i32(ratio * ready_running_pods as f64)
        }
    } else {
        // Scale from zero ignores tolerance.
        ceil_i32(ratio)
    };
    Ok(ValueProposal {
        replicas,
        usage_m: value_m,
    })
}

/// Object or External metric with an AverageValue target (spec §5.5/§5.7): based on `status.replicas`.
/// Simplification: with `status_replicas == 0` (where upstream divides by zero) the reported usage is the
/// total value.
pub fn average_value_replicas(
    status_replicas: i32,
    value_m: i64,
    target_average_m: i64,
    ctx: &CalcContext,
) -> ValueProposal {
    let ratio = value_m as f64 / (target_average_m as f64 * f64::from(status_replicas));
    let replicas = if ctx.within(ratio) {
        status_replicas
    } else {
        ceil_i32(value_m as f64 / target_average_m as f64)
    };
    let usage_m = if status_replicas > 0 {
        (value_m as f64 / f64::from(status_replicas)).ceil() as i64
    } else {
        value_m
    };
    ValueProposal { replicas, usage_m }
}

/// Sum of external series, saturating at `i64::MAX` as upstream does.
pub fn sum_series(series_m: &[i64]) -> i64 {
    series_m.iter().fold(0i64, |acc, v| acc.saturating_add(*v))
}
