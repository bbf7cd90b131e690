//! One pass of the KPA reconciler (Knative `ReconcileKind`, `scaler.scale`, `computeStatus`) as a pure
//! function of the PodAutoscaler's observed state: conditions with their ages, the ServerlessService, the
//! decider's latest decision, pod counts and the Deployment's replicas. [`reconcile_pass`] returns what
//! Knative would do and write: the replica patch, requeues, activator probes, the SKS spec (mode and number
//! of activators), the Metric spec and the PA status (Active, ScaleTargetInitialized, SKSReady with their
//! transition ages, desired and actual scale).
//!
//! It follows Knative 1.23 exactly (checked by `tests/golden_pipeline.rs` against vectors produced by the
//! real code): the activation timeout is progress-deadline (config-deployment or the
//! `serving.knative.dev/progress-deadline` annotation) + 30 s, requeued with the full timeout; an unreachable
//! revision has min-scale 0, pod retention 0 and ignores initial-scale above 1; an int32 annotation that
//! does not parse falls back to the config value; scale to zero waits for the longer of the grace period
//! (counted from when the activator endpoints were populated) and the pod retention; the activator count is
//! [`crate::request_path::throttler::num_activators`]; a condition's transition time moves only when its
//! status or reason changes.
//!
//! Units: durations and condition ages as [`SimDuration`] (integer nanoseconds); replica counts as `i32`
//! with Knative's −1 for "no decision, apply nothing".
//!
//! Assumptions: the caller gives "now" implicitly through the ages; the activator probe's answer and the
//! SKS reconciler's state are inputs (this module does not model the SKS reconciler or the probe itself).
//! The simulator runs it through `autoscaler::kpa::reconciler`, which keeps the state between passes.

use std::collections::BTreeMap;

// The SKS mode type is shared with the reconciler driver that keeps state between passes.
pub use crate::autoscaler::kpa::reconciler::SksMode;
use crate::time::{parse_duration, SimDuration, NANOS_PER_SEC};

/// A condition status as Kubernetes writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CondStatus {
    True,
    False,
    Unknown,
}

/// `*dst = src.to_string()` without writing when they are equal already (the usual case pass after pass).
pub(crate) fn set_str(dst: &mut String, src: &str) {
    if dst.as_str() != src {
        dst.clear();
        dst.push_str(src);
    }
}

/// A PA condition: status, reason and how long ago it last transitioned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub status: CondStatus,
    pub reason: String,
    /// now − LastTransitionTime; 0 means it transitioned on this pass.
    pub age: SimDuration,
}

impl Condition {
    /// What `InitializeConditions` puts in place of an absent condition.
    fn fresh() -> Self {
        Condition {
            status: CondStatus::Unknown,
            reason: String::new(),
            age: SimDuration::ZERO,
        }
    }

    /// `*dst = self.clone()` keeping `dst`'s reason buffer (the derived `clone_from` does not).
    fn copy_into(&self, dst: &mut Condition) {
        dst.status = self.status;
        set_str(&mut dst.reason, &self.reason);
        dst.age = self.age;
    }

    /// The condition manager: LastTransitionTime moves only when status or reason change. Written into
    /// `dst` (reusing its reason's buffer: a pass runs every other second per revision).
    fn mark_into(&self, status: CondStatus, reason: &str, dst: &mut Condition) {
        if self.status == status && self.reason == reason {
            self.copy_into(dst);
        } else {
            dst.status = status;
            set_str(&mut dst.reason, reason);
            dst.age = SimDuration::ZERO;
        }
    }
}

/// The `config-autoscaler` values a reconcile pass reads (cluster defaults before annotations).
#[derive(Clone, Debug, PartialEq)]
pub struct PassConfig {
    pub enable_scale_to_zero: bool,
    pub min_scale: i32,
    /// 0 = unbounded.
    pub max_scale: i32,
    pub initial_scale: i32,
    pub allow_zero_initial_scale: bool,
    pub scale_to_zero_grace: SimDuration,
    pub pod_retention: SimDuration,
    pub target_burst_capacity: f64,
    pub stable_window: SimDuration,
    pub panic_window_percentage: f64,
    pub activator_capacity: f64,
    pub container_concurrency_target_default: f64,
    pub container_concurrency_target_fraction: f64,
    /// config-deployment `progress-deadline`.
    pub progress_deadline: SimDuration,
}

/// The revision's reachability as the route reconciler labels it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reachability {
    Reachable,
    Unreachable,
    Unknown,
}

/// The ServerlessService as the reconciler finds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SksState {
    /// Empty until the SKS reconciler created the private service.
    pub private_service_name: String,
    pub service_name: String,
    pub mode: SksMode,
    pub num_activators: i32,
    /// The SKS Ready condition (with its generation observed).
    pub ready: CondStatus,
    /// ActivatorEndpointsPopulated: status and age, if present.
    pub activator_endpoints_populated: Option<(CondStatus, SimDuration)>,
}

/// Pods labelled with the revision, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodCounts {
    pub running_ready: i32,
    pub running_not_ready: i32,
    pub pending: i32,
    pub terminating: i32,
}

impl PodCounts {
    /// PodCountsByState as (ready, not ready, pending, terminating): pending and terminating pods also
    /// count as not ready.
    pub fn by_state(&self) -> (i32, i32, i32, i32) {
        let not_ready = self.running_not_ready + self.pending + self.terminating;
        (
            self.running_ready,
            not_ready,
            self.pending,
            self.terminating,
        )
    }
}

/// The synchronous "is the activator in the path" probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    InPath,
    NotInPath,
    Error,
}

/// Everything one pass observes.
#[derive(Clone, Debug, PartialEq)]
pub struct PassInput {
    pub config: PassConfig,
    /// Raw PA annotations; invalid values fall back to the config, as the reconciler does.
    pub annotations: BTreeMap<String, String>,
    pub container_concurrency: i32,
    pub reachability: Reachability,
    /// The Active condition (None = absent, a fresh PA).
    pub active: Option<Condition>,
    /// ScaleTargetInitialized status (None = absent).
    pub scale_target_initialized: Option<CondStatus>,
    /// `status.desiredScale` before the pass.
    pub desired_scale: Option<i32>,
    pub service_name: String,
    pub sks: Option<SksState>,
    /// The decider's latest decision (−1 = no metrics yet) and excess burst capacity.
    pub decider_desired_scale: i32,
    pub decider_excess_burst_capacity: i32,
    pub pods: PodCounts,
    /// Deployment `spec.replicas` (None is read as 1).
    pub deployment_replicas: Option<i32>,
    pub activator_probe: ProbeResult,
}

/// What ReconcileSKS did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SksAction {
    Create,
    Update,
    None,
}

/// The Metric spec the pass creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricSpec {
    /// Empty when target-burst-capacity is −1: no scraper runs.
    pub scrape_target: String,
    pub stable_window: SimDuration,
    pub panic_window: SimDuration,
}

/// Everything one pass does and the PA status it leaves.
#[derive(Clone, Debug, PartialEq)]
pub struct PassOutput {
    /// `scaler.scale()`'s result (None on the no-SKS path, where it is not called).
    pub scale_want: Option<i32>,
    pub deployment_patch: Option<i32>,
    pub requeue_after: Vec<SimDuration>,
    pub activator_probe_called: bool,
    pub async_probe_offered: bool,
    pub sks_action: SksAction,
    pub sks_mode: SksMode,
    pub num_activators: i32,
    pub metric: Option<MetricSpec>,
    pub active: Condition,
    pub scale_target_initialized: Condition,
    pub sks_ready: Condition,
    pub desired_scale: Option<i32>,
    pub actual_scale: i32,
    pub service_name: String,
}

/// inStatusFor: how long the Active condition has had `status`; None when absent or different.
pub fn in_status_for(active: Option<&Condition>, status: CondStatus) -> Option<SimDuration> {
    active.filter(|c| c.status == status).map(|c| c.age)
}

/// A PA without an Active condition counts as activating, like an Unknown one.
pub fn is_activating(active: Option<&Condition>) -> bool {
    active.is_none_or(|c| c.status == CondStatus::Unknown)
}

/// CanFailActivation: activating (with a condition present) for strictly longer than `timeout`.
pub fn can_fail_activation(active: Option<&Condition>, timeout: SimDuration) -> bool {
    in_status_for(active, CondStatus::Unknown).is_some_and(|age| age > timeout)
}

/// Settings after annotations, reachability and defaults (pa_lifecycle.go, decider.go).
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedSettings {
    pub min: i32,
    pub max: i32,
    pub initial: i32,
    pub target_burst_capacity: f64,
    pub stable_window: SimDuration,
    pub activation_timeout: SimDuration,
    pub retention: SimDuration,
    /// The decider's TotalValue: per-pod capacity before target utilization.
    pub total_value: f64,
    pub target_value: f64,
}

const ANN: &str = "autoscaling.knative.dev/";
const PROGRESS_DEADLINE_ANNOTATION: &str = "serving.knative.dev/progress-deadline";
/// Knative adds this to the progress deadline before it gives up on an activation.
const ACTIVATION_TIMEOUT_BUFFER: SimDuration = SimDuration::from_secs(30);

/// The first of `keys` (without the `autoscaling.knative.dev/` prefix) present in `ann`. A pass runs
/// every other second per revision, so this matches without building the full key.
fn annotation<'a>(ann: &'a BTreeMap<String, String>, keys: &[&str]) -> Option<&'a str> {
    if ann.is_empty() {
        return None;
    }
    keys.iter().find_map(|k| {
        ann.iter()
            .find(|(name, _)| name.strip_prefix(ANN) == Some(*k))
            .map(|(_, v)| v.as_str())
    })
}

/// An int32 annotation ([kebab, camelCase], first present); a value that does not parse is ignored.
fn int_annotation(ann: &BTreeMap<String, String>, kebab: &str, camel: &str) -> Option<i32> {
    annotation(ann, &[kebab, camel]).and_then(|v| v.parse::<i32>().ok())
}

fn duration_annotation(value: Option<&str>) -> Option<SimDuration> {
    value.and_then(|v| parse_duration(v).ok())
}

/// ScaleBounds: min is 0 for an unreachable revision (whatever min-scale says).
pub fn scale_bounds(
    config: &PassConfig,
    ann: &BTreeMap<String, String>,
    reachability: Reachability,
) -> (i32, i32) {
    let min = if reachability == Reachability::Unreachable {
        0
    } else {
        int_annotation(ann, "min-scale", "minScale").unwrap_or(config.min_scale)
    };
    let max = int_annotation(ann, "max-scale", "maxScale").unwrap_or(config.max_scale);
    (min, max)
}

/// GetInitialScale: the annotation unless absent, invalid, or 0 without allow-zero-initial-scale.
pub fn initial_scale(config: &PassConfig, ann: &BTreeMap<String, String>) -> i32 {
    match int_annotation(ann, "initial-scale", "initialScale") {
        Some(v) if v != 0 || config.allow_zero_initial_scale => v,
        _ => config.initial_scale,
    }
}

/// lastPodRetention: 0 for an unreachable revision.
pub fn last_pod_retention(
    config: &PassConfig,
    ann: &BTreeMap<String, String>,
    reachability: Reachability,
) -> SimDuration {
    if reachability == Reachability::Unreachable {
        return SimDuration::ZERO;
    }
    duration_annotation(annotation(ann, &["scale-to-zero-pod-retention-period"]))
        .unwrap_or(config.pod_retention)
}

/// applyBounds: the floor wins over the ceiling when they cross; max 0 is unbounded.
pub fn apply_bounds(min: i32, max: i32, x: i32) -> i32 {
    if x < min {
        min
    } else if max != 0 && x > max {
        max
    } else {
        x
    }
}

impl ResolvedSettings {
    pub fn resolve(input: &PassInput) -> Self {
        let c = &input.config;
        let ann = &input.annotations;
        let (min, max) = scale_bounds(c, ann, input.reachability);
        let target_burst_capacity = annotation(ann, &["target-burst-capacity"])
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(c.target_burst_capacity);
        let stable_window =
            duration_annotation(annotation(ann, &["window"])).unwrap_or(c.stable_window);
        let progress_deadline =
            duration_annotation(ann.get(PROGRESS_DEADLINE_ANNOTATION).map(String::as_str))
                .unwrap_or(c.progress_deadline);
        let total_value = if input.container_concurrency != 0 {
            input.container_concurrency as f64
        } else {
            c.container_concurrency_target_default
        };
        ResolvedSettings {
            min,
            max,
            initial: initial_scale(c, ann),
            target_burst_capacity,
            stable_window,
            activation_timeout: progress_deadline + ACTIVATION_TIMEOUT_BUFFER,
            retention: last_pod_retention(c, ann, input.reachability),
            total_value,
            target_value: (total_value * c.container_concurrency_target_fraction).max(0.01),
        }
    }

    /// The Metric's panic window: the stable window times the percentage, rounded half away from zero to
    /// whole seconds, at least one second.
    pub fn panic_window(&self, percentage: f64) -> SimDuration {
        let raw = (self.stable_window.0 as f64 * percentage / 100.0) as u64;
        let secs = (raw + NANOS_PER_SEC / 2) / NANOS_PER_SEC;
        SimDuration::from_secs(secs.max(1))
    }
}

/// One `ReconcileKind` pass over `input` (knative-kpa spec §7): `scaler.scale`, the SKS mode and activator
/// count, the Metric, and `computeStatus`. Pure: the caller applies the patch and requeues.
pub fn reconcile_pass(input: &PassInput) -> PassOutput {
    let mut out = PassOutput::empty();
    reconcile_pass_into(input, &ResolvedSettings::resolve(input), &mut out);
    out
}

impl PassOutput {
    /// An output to pass to [`reconcile_pass_into`], which overwrites every field.
    pub fn empty() -> Self {
        PassOutput {
            scale_want: None,
            deployment_patch: None,
            requeue_after: Vec::new(),
            activator_probe_called: false,
            async_probe_offered: false,
            sks_action: SksAction::None,
            sks_mode: SksMode::Proxy,
            num_activators: 2,
            metric: None,
            active: Condition::fresh(),
            scale_target_initialized: Condition::fresh(),
            sks_ready: Condition::fresh(),
            desired_scale: None,
            actual_scale: 0,
            service_name: String::new(),
        }
    }
}

/// [`reconcile_pass`] with the settings `s` already resolved from `input` (they change only with the
/// reachability), writing into `out` (whatever it held: every field is overwritten, its buffers reused),
/// so a driver running a pass every other second allocates nothing.
pub fn reconcile_pass_into(input: &PassInput, s: &ResolvedSettings, out: &mut PassOutput) {
    let fresh;
    let active_in = match &input.active {
        Some(c) => c,
        None => {
            fresh = Condition::fresh();
            &fresh
        }
    };
    let sti_in = match input.scale_target_initialized {
        Some(status) => Condition {
            status,
            reason: String::new(),
            age: SimDuration::from_secs(3600),
        },
        None => Condition::fresh(),
    };
    out.scale_want = None;
    out.deployment_patch = None;
    out.requeue_after.clear();
    out.activator_probe_called = false;
    out.async_probe_offered = false;
    out.sks_action = SksAction::None;
    out.sks_mode = SksMode::Proxy;
    out.num_activators = 2;
    // `compute_status` always sets `active`.
    sti_in.copy_into(&mut out.scale_target_initialized);
    out.desired_scale = input.desired_scale;
    out.actual_scale = 0;
    let sks_ready_status;
    let (want, ready) = match input
        .sks
        .as_ref()
        .filter(|k| !k.private_service_name.is_empty())
    {
        None => {
            // The private service does not exist yet: only make sure the SKS does, in Proxy mode.
            out.metric = None;
            set_str(&mut out.service_name, &input.service_name);
            out.sks_action = match &input.sks {
                None => SksAction::Create,
                Some(k) if (k.mode, k.num_activators) != (SksMode::Proxy, 2) => SksAction::Update,
                Some(_) => SksAction::None,
            };
            sks_ready_status = CondStatus::Unknown;
            (-1, 0)
        }
        Some(sks) => {
            let want = scale(input, s, active_in, &sti_in, sks, out);
            out.scale_want = Some(want);
            let mode = if want == -1 && active_in.status == CondStatus::False {
                SksMode::Proxy
            } else if want > 0 && input.decider_excess_burst_capacity >= 0 {
                SksMode::Serve
            } else {
                SksMode::Proxy
            };
            let ready = input.pods.running_ready;
            let n = crate::request_path::throttler::num_activators(
                ready,
                s.total_value,
                s.target_burst_capacity,
                input.config.activator_capacity,
            );
            out.sks_mode = mode;
            out.num_activators = n;
            out.sks_action = if (mode, n) != (sks.mode, sks.num_activators) {
                SksAction::Update
            } else {
                SksAction::None
            };
            // After an update the SKS generation is ahead of what its reconciler observed.
            sks_ready_status = if out.sks_action == SksAction::None && sks.ready == CondStatus::True
            {
                CondStatus::True
            } else {
                CondStatus::Unknown
            };
            set_str(&mut out.service_name, &sks.service_name);
            let metric = out.metric.get_or_insert_with(|| MetricSpec {
                scrape_target: String::new(),
                stable_window: SimDuration::ZERO,
                panic_window: SimDuration::ZERO,
            });
            if s.target_burst_capacity == -1.0 {
                metric.scrape_target.clear();
            } else {
                set_str(&mut metric.scrape_target, &sks.private_service_name);
            }
            metric.stable_window = s.stable_window;
            metric.panic_window = s.panic_window(input.config.panic_window_percentage);
            (want, ready)
        }
    };
    // The SKSReady condition starts fresh on every pass.
    let (status, reason) = match sks_ready_status {
        CondStatus::True => (CondStatus::True, ""),
        _ => (CondStatus::Unknown, "NotReady"),
    };
    Condition::fresh().mark_into(status, reason, &mut out.sks_ready);
    compute_status(s, want, ready, active_in, &sti_in, out);
}

/// `scaler.scale`: bounds, initial scale and the scale-to-zero sequence; returns `want` (−1 = leave the
/// Deployment alone) and records the patch, requeues and probes in `out`.
fn scale(
    input: &PassInput,
    s: &ResolvedSettings,
    active: &Condition,
    sti: &Condition,
    sks: &SksState,
    out: &mut PassOutput,
) -> i32 {
    let activating = active.status == CondStatus::Unknown;
    let desired = input.decider_desired_scale;
    if desired < 0 && !activating {
        return desired;
    }
    let mut lo = s.min;
    if s.initial > 1
        && sti.status != CondStatus::True
        && input.reachability != Reachability::Unreachable
    {
        lo = lo.max(s.initial);
    }
    let bounded = apply_bounds(lo, s.max, desired);
    let want = if bounded != 0 {
        bounded
    } else if !input.config.enable_scale_to_zero {
        1
    } else {
        match active.status {
            CondStatus::Unknown => {
                if active.age > s.activation_timeout {
                    0
                } else {
                    out.requeue_after.push(s.activation_timeout);
                    return -1;
                }
            }
            CondStatus::True => {
                if active.age >= s.stable_window {
                    // Marked Inactive first; the Deployment is scaled on a later pass once the activator
                    // is confirmed in the path.
                    if sks.mode == SksMode::Proxy {
                        out.requeue_after.push(SimDuration::from_secs(3));
                    }
                    return 0;
                }
                out.requeue_after
                    .push(SimDuration(s.stable_window.0 - active.age.0));
                1
            }
            CondStatus::False => {
                let in_path = if s.target_burst_capacity == -1.0 {
                    true
                } else {
                    out.activator_probe_called = true;
                    input.activator_probe == ProbeResult::InPath
                };
                if !in_path {
                    out.async_probe_offered = true;
                    return 0;
                }
                let age = active.age;
                if age < s.retention.max(input.config.scale_to_zero_grace) {
                    if s.retention > SimDuration::ZERO && age < s.retention {
                        out.requeue_after.push(SimDuration(s.retention.0 - age.0));
                        return 0;
                    }
                    let proxy_for = match sks.activator_endpoints_populated {
                        Some((CondStatus::True, age)) => age,
                        _ => SimDuration::ZERO,
                    };
                    if proxy_for < input.config.scale_to_zero_grace {
                        out.requeue_after.push(SimDuration(
                            input.config.scale_to_zero_grace.0 - proxy_for.0,
                        ));
                        return 0;
                    }
                }
                0
            }
        }
    };
    let current = input.deployment_replicas.unwrap_or(1);
    if want != current {
        out.deployment_patch = Some(want);
    }
    want
}

/// `computeStatus` / `computeActiveCondition`.
fn compute_status(
    s: &ResolvedSettings,
    want: i32,
    ready: i32,
    active: &Condition,
    sti: &Condition,
    out: &mut PassOutput,
) {
    out.actual_scale = ready;
    out.desired_scale = match out.desired_scale {
        Some(prev) if want == -1 && prev >= 0 => Some(prev),
        _ => Some(want),
    };
    let initialized = sti.status == CondStatus::True;
    let min_ready = if initialized {
        s.min.max(1)
    } else {
        s.min.max(s.initial)
    };
    if ready >= min_ready && !out.service_name.is_empty() {
        sti.mark_into(CondStatus::True, "", &mut out.scale_target_initialized);
    }
    let activating = active.status == CondStatus::Unknown;
    let inactive = active.status == CondStatus::False;
    let (status, reason) = if want == 0 || min_ready == 0 {
        let reason = if activating && min_ready > 0 {
            "TimedOut"
        } else {
            "NoTraffic"
        };
        (CondStatus::False, reason)
    } else if ready < min_ready {
        if want > 0 || !inactive {
            (CondStatus::Unknown, "Queued")
        } else {
            (CondStatus::False, "NoTraffic")
        }
    } else if want > 0 || !inactive {
        (CondStatus::True, "")
    } else {
        active.copy_into(&mut out.active);
        return;
    };
    active.mark_into(status, reason, &mut out.active);
}

#[cfg(test)]
mod tests;
