//! The KPA decider: Knative's `Scale(now)` (`pkg/autoscaler/scaling/autoscaler.go`, spec §5).
//!
//! Inputs per call: the ready pod count and the `(stable, panic)` window averages of the scaling metric
//! (revision totals, from [`super::MetricCollector::stable_and_panic`]). Output: a [`ScaleResult`] with the
//! desired pod count, the excess burst capacity (EBC) and the decider's panic state, plus a [`ScaleReason`]
//! saying which rule determined the count.
//!
//! Reproduced exactly: starting in panic when created with more than one ready pod; rate limits
//! `ceil(up_rate * ready)` / `floor(ready / down_rate)` with ready floored at 1 (scale-down limit 0 when
//! unreachable); activation scale gated by the raw ceil-ed counts; panic entry on
//! `dppc / ready >= threshold` (non-strict), panic exit only when `panic_time + stable_window < now`
//! (strict); no scale-down while panicking; the scale-down-delay sliding maximum (only while reachable);
//! EBC from the unfloored ready count, floored and truncated to `i32`.
//!
//! Units: pod counts are `i32` like Knative's `int32`; `target_value` / `total_value` are per pod in the
//! metric's unit; time is [`SimTime`]. "Not panicking" is `None`, never a zero time.
//!
//! Not here: min/max-scale, initial scale and scale-to-zero (the reconciler, spec §7). Simplification: Knative
//! builds the delay window only at creation; here it is also built when a spec update first enables a delay
//! (Knative would ignore the new delay until the decider is recreated).

use crate::time::{SimDuration, SimTime};

use super::collector::NoData;
use super::max_window::TimeWindowMax;
use super::ScalingMetric;

/// Granularity of the scale-down-delay window: the decider tick (Knative `tickInterval`).
pub const DECIDER_TICK: SimDuration = SimDuration::from_secs(2);

/// Knative's `DeciderSpec`: everything `Scale` reads besides the pod count and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct DeciderSpec {
    /// Desired metric value per pod (`max(0.01, total * utilization)`).
    pub target_value: f64,
    /// Per-pod capacity used for the excess burst capacity.
    pub total_value: f64,
    /// Burst headroom: 0 gives EBC 0, a negative value (-1) gives EBC -1 (activator always in the path).
    pub target_burst_capacity: f64,
    /// Panic threshold as a multiple of the target per ready pod (2.0 = 200 %).
    pub panic_threshold: f64,
    pub max_scale_up_rate: f64,
    pub max_scale_down_rate: f64,
    /// Requests one activator takes; not used by `Scale`, needed by the reconciler.
    pub activator_capacity: f64,
    pub stable_window: SimDuration,
    /// 0 disables the delay window.
    pub scale_down_delay: SimDuration,
    /// Whether a route references the revision; unreachable revisions scale down without limits.
    pub reachable: bool,
    /// Minimum non-zero scale; values <= 1 disable it.
    pub activation_scale: i32,
    pub scaling_metric: ScalingMetric,
}

/// The rule that determined a decision's desired pod count (for "why did it scale" time series).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleReason {
    /// The stable-window count, within the rate limits.
    Stable,
    /// Panic mode: the maximum seen since panic started (never scales down while panicking).
    Panic,
    /// The stable count was capped by `max-scale-up-rate`.
    RateLimitedUp,
    /// The stable count was raised to the `max-scale-down-rate` floor.
    RateLimitedDown,
    /// Raised to the revision's `activation-scale`.
    ActivationScale,
    /// Held up by the `scale-down-delay` window.
    ScaleDownDelay,
    /// No decision: the stable window had no data (the previous desired scale stays).
    NoData,
    /// No decision: the ready pod count was unavailable.
    ReadyCountUnavailable,
}

impl ScaleReason {
    /// Short snake_case label for output files.
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleReason::Stable => "stable",
            ScaleReason::Panic => "panic",
            ScaleReason::RateLimitedUp => "rate_limited_up",
            ScaleReason::RateLimitedDown => "rate_limited_down",
            ScaleReason::ActivationScale => "activation_scale",
            ScaleReason::ScaleDownDelay => "scale_down_delay",
            ScaleReason::NoData => "no_data",
            ScaleReason::ReadyCountUnavailable => "ready_count_unavailable",
        }
    }
}

/// One `Scale(now)` outcome. When `valid` is false the caller must keep the previous desired scale; the
/// numeric fields are then 0 (Knative's invalid `ScaleResult`) and the panic fields show the unchanged state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleResult {
    pub valid: bool,
    pub desired_pod_count: i32,
    pub excess_burst_capacity: i32,
    /// Decider state after the call.
    pub in_panic: bool,
    pub max_panic_pods: i32,
    /// The window averages the decision used (0 when invalid).
    pub observed_stable: f64,
    pub observed_panic: f64,
    pub reason: ScaleReason,
}

/// The per-revision decider state.
#[derive(Clone, Debug)]
pub struct Decider {
    spec: DeciderSpec,
    panic_time: Option<SimTime>,
    max_panic_pods: i32,
    delay_window: Option<TimeWindowMax>,
}

impl Decider {
    /// A decider created at `now` with `ready_pods` ready (pass 0 if the count is unavailable). With more
    /// than one ready pod it starts in panic, so a restarted autoscaler does not scale a loaded revision down.
    pub fn new(spec: DeciderSpec, now: SimTime, ready_pods: u32) -> Self {
        let ready = clamp_i32(ready_pods);
        let delay_window = (spec.scale_down_delay > SimDuration::ZERO)
            .then(|| TimeWindowMax::new(spec.scale_down_delay, DECIDER_TICK));
        Decider {
            spec,
            panic_time: (ready > 1).then_some(now),
            max_panic_pods: ready,
            delay_window,
        }
    }

    pub fn spec(&self) -> &DeciderSpec {
        &self.spec
    }

    /// Replaces the spec (annotations or ConfigMap changed); panic state and delay history are kept.
    pub fn update(&mut self, spec: DeciderSpec) {
        if self.delay_window.is_none() && spec.scale_down_delay > SimDuration::ZERO {
            self.delay_window = Some(TimeWindowMax::new(spec.scale_down_delay, DECIDER_TICK));
        }
        self.spec = spec;
    }

    pub fn in_panic(&self) -> bool {
        self.panic_time.is_some()
    }
    pub fn panic_time(&self) -> Option<SimTime> {
        self.panic_time
    }
    pub fn max_panic_pods(&self) -> i32 {
        self.max_panic_pods
    }

    /// Overrides the panic state (checkpoint restore and tests).
    pub fn set_panic_state(&mut self, panic_time: Option<SimTime>, max_panic_pods: i32) {
        self.panic_time = panic_time;
        self.max_panic_pods = max_panic_pods;
    }

    /// The invalid result for a call that could not run; the state is untouched.
    pub fn invalid(&self, reason: ScaleReason) -> ScaleResult {
        ScaleResult {
            valid: false,
            desired_pod_count: 0,
            excess_burst_capacity: 0,
            in_panic: self.in_panic(),
            max_panic_pods: self.max_panic_pods,
            observed_stable: 0.0,
            observed_panic: 0.0,
            reason,
        }
    }

    /// Knative's `Scale(now)`. `observed` is the collector's `(stable, panic)` for the scaling metric.
    pub fn scale(
        &mut self,
        now: SimTime,
        ready_pods: u32,
        observed: Result<(f64, f64), NoData>,
    ) -> ScaleResult {
        let Ok((observed_stable, observed_panic)) = observed else {
            return self.invalid(ScaleReason::NoData);
        };
        let spec = &self.spec;
        let original_ready = ready_pods as f64;
        let ready = original_ready.max(1.0);

        let max_scale_up = (spec.max_scale_up_rate * ready).ceil();
        let max_scale_down = if spec.reachable {
            (ready / spec.max_scale_down_rate).floor()
        } else {
            0.0
        };
        let dspc = (observed_stable / spec.target_value).ceil();
        let dppc = (observed_panic / spec.target_value).ceil();
        // max first, then min: the scale-up limit wins when the bounds cross.
        let mut desired_stable = dspc.max(max_scale_down).min(max_scale_up) as i32;
        let mut desired_panic = dppc.max(max_scale_down).min(max_scale_up) as i32;

        let mut stable_reason = if dspc > max_scale_up {
            ScaleReason::RateLimitedUp
        } else if dspc < max_scale_down {
            ScaleReason::RateLimitedDown
        } else {
            ScaleReason::Stable
        };
        if spec.activation_scale > 1 {
            if dspc > 0.0 && spec.activation_scale > desired_stable {
                desired_stable = spec.activation_scale;
                stable_reason = ScaleReason::ActivationScale;
            }
            if dppc > 0.0 && spec.activation_scale > desired_panic {
                desired_panic = spec.activation_scale;
            }
        }

        let over_panic_threshold = dppc / ready >= spec.panic_threshold;
        if over_panic_threshold {
            self.panic_time = Some(now);
        } else if let Some(since) = self.panic_time {
            if since + spec.stable_window < now {
                self.panic_time = None;
                self.max_panic_pods = 0;
            }
        }

        let mut desired = desired_stable;
        let mut reason = stable_reason;
        if self.panic_time.is_some() {
            desired = desired.max(desired_panic);
            self.max_panic_pods = self.max_panic_pods.max(desired);
            desired = self.max_panic_pods;
            reason = ScaleReason::Panic;
        }

        if spec.reachable && spec.scale_down_delay > SimDuration::ZERO {
            let window = self
                .delay_window
                .get_or_insert_with(|| TimeWindowMax::new(spec.scale_down_delay, DECIDER_TICK));
            window.record(now, desired);
            let held = window.current();
            if held > desired {
                reason = ScaleReason::ScaleDownDelay;
            }
            desired = held;
        }

        let excess_burst_capacity = if spec.target_burst_capacity == 0.0 {
            0
        } else if spec.target_burst_capacity > 0.0 {
            (original_ready * spec.total_value - spec.target_burst_capacity - observed_panic)
                .floor() as i32
        } else {
            -1
        };

        ScaleResult {
            valid: true,
            desired_pod_count: desired,
            excess_burst_capacity,
            in_panic: self.panic_time.is_some(),
            max_panic_pods: self.max_panic_pods,
            observed_stable,
            observed_panic,
            reason,
        }
    }

    /// The excess burst capacity the MultiScaler reports before the first decision (spec §7.1).
    pub fn initial_excess_burst_capacity(spec: &DeciderSpec, initial_scale: u32) -> i32 {
        if spec.target_burst_capacity == 0.0 {
            0
        } else if spec.target_burst_capacity > 0.0 {
            (initial_scale as f64 * spec.total_value - spec.target_burst_capacity) as i32
        } else {
            -1
        }
    }
}

fn clamp_i32(value: u32) -> i32 {
    value.min(i32::MAX as u32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> DeciderSpec {
        DeciderSpec {
            target_value: 10.0,
            total_value: 10.0,
            target_burst_capacity: 0.0,
            panic_threshold: 2.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            activator_capacity: 100.0,
            stable_window: SimDuration::from_secs(60),
            scale_down_delay: SimDuration::ZERO,
            reachable: true,
            activation_scale: 0,
            scaling_metric: ScalingMetric::Concurrency,
        }
    }

    #[test]
    fn reasons_name_the_deciding_rule() {
        let t = SimTime::from_secs(100);
        let mut decider = Decider::new(spec(), t, 1);
        let result = decider.scale(t, 10, Ok((10.0, 10.0)));
        assert_eq!(
            (result.desired_pod_count, result.reason),
            (5, ScaleReason::RateLimitedDown)
        );
        let result = decider.scale(t, 1, Ok((30.0, 30.0)));
        assert_eq!(
            (result.desired_pod_count, result.reason),
            (3, ScaleReason::Panic)
        );
        let result = decider.scale(t, 1, Err(NoData));
        assert!(!result.valid);
        assert_eq!(result.reason.as_str(), "no_data");
    }

    #[test]
    fn panic_exit_needs_strictly_more_than_the_stable_window() {
        let t0 = SimTime::from_secs(1000);
        let mut decider = Decider::new(spec(), t0, 1);
        assert!(decider.scale(t0, 1, Ok((100.0, 100.0))).in_panic);
        let at_window = t0 + SimDuration::from_secs(60);
        assert!(decider.scale(at_window, 10, Ok((10.0, 10.0))).in_panic);
        let after = at_window + SimDuration(1);
        let result = decider.scale(after, 10, Ok((10.0, 10.0)));
        assert!(!result.in_panic);
        assert_eq!(result.max_panic_pods, 0);
        assert_eq!(result.desired_pod_count, 5);
    }
}
