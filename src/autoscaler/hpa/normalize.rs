//! Turning the metrics' proposal into the replica count to write (spec §7 and §8): stabilization windows,
//! rate-limit policies, min/max clamping, and the scale-event bookkeeping the policies read.
//!
//! Everything here is a pure function of its arguments; the histories live in
//! [`super::controller::HpaController`]. Times are [`SimTime`]s; "within a window" comparisons follow the
//! upstream strict `After`/`Before` tests, written as additions so no instant goes below zero.

use super::spec::{Behavior, PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy};
use crate::time::{SimDuration, SimTime};

/// A stored recommendation: the unstabilized desired count at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommendation {
    pub replicas: i32,
    pub at: SimTime,
}

/// A stored scale event: the size of the change (always positive) and when it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleEvent {
    pub change: i32,
    pub at: SimTime,
    /// Older than the longest policy period at the last store: the slot may be reused.
    pub outdated: bool,
}

/// Why the final count differs (or not) from the metrics' proposal: the ScalingLimited and AbleToScale
/// reasons of the HPA status, plus the controller's own short cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HpaReason {
    /// The proposal was applied unchanged.
    DesiredWithinRange,
    /// Held by the scale-up stabilization window.
    ScaleUpStabilized,
    /// Held by the scale-down stabilization window.
    ScaleDownStabilized,
    /// Capped by a scale-up policy (or the legacy `max(2×current, 4)` rule).
    ScaleUpLimit,
    /// Floored by a scale-down policy.
    ScaleDownLimit,
    /// Capped at `maxReplicas`.
    TooManyReplicas,
    /// Floored at `minReplicas`.
    TooFewReplicas,
    /// The target is at 0 replicas while `minReplicas > 0`: the HPA does nothing.
    ScalingDisabled,
    /// `current > maxReplicas`: set to max at once.
    CurrentAboveMax,
    /// `current < minReplicas`: set to min at once.
    CurrentBelowMin,
    /// No usable metric (or a broken one blocks a scale-down): hold.
    InvalidMetrics,
}

impl HpaReason {
    /// Short snake_case label for time series.
    pub fn as_str(self) -> &'static str {
        match self {
            HpaReason::DesiredWithinRange => "within_range",
            HpaReason::ScaleUpStabilized => "scale_up_stabilized",
            HpaReason::ScaleDownStabilized => "scale_down_stabilized",
            HpaReason::ScaleUpLimit => "scale_up_limit",
            HpaReason::ScaleDownLimit => "scale_down_limit",
            HpaReason::TooManyReplicas => "too_many_replicas",
            HpaReason::TooFewReplicas => "too_few_replicas",
            HpaReason::ScalingDisabled => "scaling_disabled",
            HpaReason::CurrentAboveMax => "current_above_max",
            HpaReason::CurrentBelowMin => "current_below_min",
            HpaReason::InvalidMetrics => "invalid_metrics",
        }
    }

    /// The Kubernetes condition reason string (`DesiredWithinRange`, `ScaleUpLimit`, ...).
    pub fn condition_reason(self) -> &'static str {
        match self {
            HpaReason::DesiredWithinRange => "DesiredWithinRange",
            HpaReason::ScaleUpStabilized => "ScaleUpStabilized",
            HpaReason::ScaleDownStabilized => "ScaleDownStabilized",
            HpaReason::ScaleUpLimit => "ScaleUpLimit",
            HpaReason::ScaleDownLimit => "ScaleDownLimit",
            HpaReason::TooManyReplicas => "TooManyReplicas",
            HpaReason::TooFewReplicas => "TooFewReplicas",
            HpaReason::ScalingDisabled => "ScalingDisabled",
            HpaReason::CurrentAboveMax => "TooManyReplicas",
            HpaReason::CurrentBelowMin => "TooFewReplicas",
            HpaReason::InvalidMetrics => "FailedGetMetrics",
        }
    }
}

/// `ts > now - window`, without going below time zero.
fn is_inside(at: SimTime, window: SimDuration, now: SimTime) -> bool {
    at + window > now
}

/// `ts < now - window`, without going below time zero.
fn is_older(at: SimTime, window: SimDuration, now: SimTime) -> bool {
    at + window < now
}

fn record(history: &mut Vec<Recommendation>, reuse: Option<usize>, replicas: i32, now: SimTime) {
    let entry = Recommendation { replicas, at: now };
    match reuse {
        Some(index) => history[index] = entry,
        None => history.push(entry),
    }
}

/// Legacy downscale stabilization (`behavior == nil`): the highest recommendation within `window`,
/// then records `desired`, reusing the last slot older than the window.
pub fn legacy_stabilize(
    history: &mut Vec<Recommendation>,
    desired: i32,
    now: SimTime,
    window: SimDuration,
) -> i32 {
    let mut highest = desired;
    let mut last_old = None;
    for (index, rec) in history.iter().enumerate() {
        if is_older(rec.at, window, now) {
            last_old = Some(index);
        } else {
            highest = highest.max(rec.replicas);
        }
    }
    record(history, last_old, desired, now);
    highest
}

/// Legacy rules (`convertDesiredReplicasWithRules`): at most `max(2×current, 4)` per sync, within min/max.
pub fn legacy_rules(current: i32, desired: i32, min: i32, max: i32) -> (i32, HpaReason) {
    let scale_up_limit = (2.0 * f64::from(current)).max(4.0) as i32;
    let (max_allowed, limit_reason) = if max > scale_up_limit {
        (scale_up_limit, HpaReason::ScaleUpLimit)
    } else {
        (max, HpaReason::TooManyReplicas)
    };
    if desired < min {
        (min, HpaReason::TooFewReplicas)
    } else if desired > max_allowed {
        (max_allowed, limit_reason)
    } else {
        (desired, HpaReason::DesiredWithinRange)
    }
}

/// Behavior stabilization (`stabilizeRecommendationWithBehaviors`): clamps `current` between the lowest
/// recommendation of the scale-up window and the highest of the scale-down window, then records the
/// unstabilized `desired`. Returns the stabilized count and its reason.
pub fn behavior_stabilize(
    history: &mut Vec<Recommendation>,
    current: i32,
    desired: i32,
    now: SimTime,
    up_window: SimDuration,
    down_window: SimDuration,
) -> (i32, HpaReason) {
    let mut up_recommendation = desired;
    let mut down_recommendation = desired;
    let mut last_old = None;
    for (index, rec) in history.iter().enumerate() {
        if is_inside(rec.at, up_window, now) {
            up_recommendation = up_recommendation.min(rec.replicas);
        }
        if is_inside(rec.at, down_window, now) {
            down_recommendation = down_recommendation.max(rec.replicas);
        }
        if is_older(rec.at, up_window, now) && is_older(rec.at, down_window, now) {
            last_old = Some(index);
        }
    }
    let stabilized = current.max(up_recommendation).min(down_recommendation);
    record(history, last_old, desired, now);
    let reason = if stabilized == desired {
        HpaReason::DesiredWithinRange
    } else if desired >= current {
        HpaReason::ScaleUpStabilized
    } else {
        HpaReason::ScaleDownStabilized
    };
    (stabilized, reason)
}

/// Sum of the changes of events strictly inside the last `period` (`getReplicasChangePerPeriod`).
pub fn replicas_changed_in_period(events: &[ScaleEvent], period: SimDuration, now: SimTime) -> i32 {
    events
        .iter()
        .filter(|e| is_inside(e.at, period, now))
        .map(|e| e.change)
        .sum()
}

fn period_start_replicas(
    current: i32,
    policy: &ScalingPolicy,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    now: SimTime,
) -> i32 {
    current - replicas_changed_in_period(up_events, policy.period, now)
        + replicas_changed_in_period(down_events, policy.period, now)
}

/// The highest count the scale-up policies allow now, and the index of the policy that set it
/// (`None` when selectPolicy is Disabled or there are no policies).
pub fn scale_up_limit(
    current: i32,
    rules: &ScalingRules,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    now: SimTime,
) -> (i32, Option<usize>) {
    let pick_min = match rules.select_policy {
        SelectPolicy::Disabled => return (current, None),
        SelectPolicy::Min => true,
        SelectPolicy::Max => false,
    };
    let mut best: Option<(i32, usize)> = None;
    for (index, policy) in rules.policies.iter().enumerate() {
        let start = period_start_replicas(current, policy, up_events, down_events, now);
        let proposed = match policy.kind {
            PolicyKind::Pods => start + policy.value,
            PolicyKind::Percent => {
                (f64::from(start) * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i32
            }
        };
        let better = best.is_none_or(|(b, _)| if pick_min { proposed < b } else { proposed > b });
        if better {
            best = Some((proposed, index));
        }
    }
    match best {
        Some((limit, index)) => (limit, Some(index)),
        None => (i32::MIN, None),
    }
}

/// The lowest count the scale-down policies allow now, and the index of the policy that set it.
pub fn scale_down_limit(
    current: i32,
    rules: &ScalingRules,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    now: SimTime,
) -> (i32, Option<usize>) {
    // For scale-down, "Max" means the largest change, i.e. the lowest count.
    let pick_highest = match rules.select_policy {
        SelectPolicy::Disabled => return (current, None),
        SelectPolicy::Min => true,
        SelectPolicy::Max => false,
    };
    let mut best: Option<(i32, usize)> = None;
    for (index, policy) in rules.policies.iter().enumerate() {
        let start = period_start_replicas(current, policy, up_events, down_events, now);
        let proposed = match policy.kind {
            PolicyKind::Pods => start - policy.value,
            // Go's int32(float) conversion truncates toward zero.
            PolicyKind::Percent => {
                (f64::from(start) * (1.0 - f64::from(policy.value) / 100.0)) as i32
            }
        };
        let better = best.is_none_or(|(b, _)| {
            if pick_highest {
                proposed > b
            } else {
                proposed < b
            }
        });
        if better {
            best = Some((proposed, index));
        }
    }
    match best {
        Some((limit, index)) => (limit, Some(index)),
        None => (i32::MAX, None),
    }
}

/// Result of the behavior rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub replicas: i32,
    pub reason: HpaReason,
    /// The policy (index into scaleUp or scaleDown policies) that set the limit, when one did.
    pub limiting_policy: Option<usize>,
}

/// `convertDesiredReplicasWithBehaviorRate`: applies the scale-up/scale-down policies and min/max to the
/// stabilized count `desired`.
#[allow(clippy::too_many_arguments)]
pub fn behavior_rate_limit(
    current: i32,
    desired: i32,
    min: i32,
    max: i32,
    behavior: &Behavior,
    up_events: &[ScaleEvent],
    down_events: &[ScaleEvent],
    now: SimTime,
) -> RateLimited {
    let unchanged = RateLimited {
        replicas: desired,
        reason: HpaReason::DesiredWithinRange,
        limiting_policy: None,
    };
    if desired > current {
        let (mut limit, policy) =
            scale_up_limit(current, &behavior.scale_up, up_events, down_events, now);
        limit = limit.max(current);
        let (max_allowed, reason, policy) = if max > limit {
            (limit, HpaReason::ScaleUpLimit, policy)
        } else {
            (max, HpaReason::TooManyReplicas, None)
        };
        if desired > max_allowed {
            return RateLimited {
                replicas: max_allowed,
                reason,
                limiting_policy: policy,
            };
        }
    } else if desired < current {
        let (mut limit, policy) =
            scale_down_limit(current, &behavior.scale_down, up_events, down_events, now);
        limit = limit.min(current);
        let (min_allowed, reason, policy) = if min < limit {
            (limit, HpaReason::ScaleDownLimit, policy)
        } else {
            (min, HpaReason::TooFewReplicas, None)
        };
        if desired < min_allowed {
            return RateLimited {
                replicas: min_allowed,
                reason,
                limiting_policy: policy,
            };
        }
    }
    unchanged
}

/// `storeScaleEvent` for one direction: marks events older than the longest policy period as outdated,
/// then reuses the last outdated slot for `(change, now)` or appends.
pub fn store_scale_event(
    events: &mut Vec<ScaleEvent>,
    rules: &ScalingRules,
    change: i32,
    now: SimTime,
) {
    let longest = rules.longest_period();
    let mut last_outdated = None;
    for (index, event) in events.iter_mut().enumerate() {
        if is_older(event.at, longest, now) {
            event.outdated = true;
        }
        if event.outdated {
            last_outdated = Some(index);
        }
    }
    let entry = ScaleEvent {
        change,
        at: now,
        outdated: false,
    };
    match last_outdated {
        Some(index) => events[index] = entry,
        None => events.push(entry),
    }
}
