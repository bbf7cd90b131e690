//! The KPA reconciler as a state machine: what Knative does with the decider's desired scale before it
//! reaches the Deployment, and whether the activator sits in the request path.
//!
//! It models (knative-kpa spec §7): min/max bounds (min forced to 0 when unreachable), initial scale until
//! the scale target is first initialized, `enable-scale-to-zero`, the scale-to-zero sequence (about one
//! stable window Active after the decider first wants 0, then Inactive, the activator put in the path, and
//! the longer of the grace period since the activator was confirmed and the pod retention period since the
//! PA went inactive), the activation timeout, the Active condition and the SKS mode (Proxy: the activator
//! is in the path; Serve: the ingress talks to the pods).
//!
//! [`crate::autoscaler::kpa::reconcile_pass`] is the same reconciler as one `ReconcileKind` pass, exact to
//! Knative 1.23 and checked against the real code's vectors; the simulator moves onto it in a later step.
//!
//! Units: [`SimTime`] / [`SimDuration`]. Replica counts are `i32` where Knative uses −1 for "unknown, apply
//! nothing".
//!
//! Simplifications: the activator-in-path probe succeeds `probe_delay` after the SKS switched to Proxy
//! (Knative probes every second); informer and reconcile latency is modelled outside, as a delay on the
//! reconciler's output; the KPA's requeue timers are returned to the caller as `requeue_after`.

use crate::time::{SimDuration, SimTime};

/// The settings the reconciler reads (resolved from config-autoscaler and the revision's annotations).
#[derive(Clone, Debug, PartialEq)]
pub struct ReconcilerSettings {
    pub min_scale: u32,
    /// 0 = unlimited.
    pub max_scale: u32,
    pub initial_scale: u32,
    pub enable_scale_to_zero: bool,
    pub reachable: bool,
    pub stable_window: SimDuration,
    pub scale_to_zero_grace: SimDuration,
    pub pod_retention: SimDuration,
    /// target-burst-capacity; −1 keeps the activator in the path for good.
    pub target_burst_capacity: f64,
    /// progress-deadline (600 s) + 30 s.
    pub activation_timeout: SimDuration,
    /// Time for the activator-in-path probe to succeed after the SKS switched to Proxy.
    pub probe_delay: SimDuration,
}

/// The PodAutoscaler's Active condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaState {
    Activating,
    Active,
    Inactive,
}

/// The ServerlessService mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SksMode {
    /// The activator is in the path.
    Proxy,
    /// Requests go straight to the pods.
    Serve,
}

/// Why the reconciler chose the replica count it applied (for the time series).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundReason {
    Decider,
    MinScale,
    MaxScale,
    InitialScale,
    ScaleToZero,
    KeepOnePod,
    Activating,
}

impl BoundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BoundReason::Decider => "decider",
            BoundReason::MinScale => "min_scale",
            BoundReason::MaxScale => "max_scale",
            BoundReason::InitialScale => "initial_scale",
            BoundReason::ScaleToZero => "scale_to_zero",
            BoundReason::KeepOnePod => "scale_to_zero_wait",
            BoundReason::Activating => "activating",
        }
    }
}

/// What `scaler.scale` decides, before it touches the Deployment.
struct Want {
    /// −1 = apply nothing.
    replicas: i32,
    reason: BoundReason,
    requeue_after: Option<SimDuration>,
    apply_to_deployment: bool,
}

impl Want {
    fn apply(replicas: i32, reason: BoundReason, requeue_after: Option<SimDuration>) -> Self {
        Want {
            replicas,
            reason,
            requeue_after,
            apply_to_deployment: true,
        }
    }
}

/// One reconcile's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReconcileOutcome {
    /// Replicas to set on the Deployment, if it changes.
    pub apply: Option<u32>,
    pub sks_mode: SksMode,
    pub pa_state: PaState,
    /// Reconcile again after this long (Knative's re-enqueue), if set.
    pub requeue_after: Option<SimDuration>,
    pub reason: BoundReason,
}

pub struct KpaReconciler {
    settings: ReconcilerSettings,
    pa_state: PaState,
    pa_state_since: SimTime,
    initialized: bool,
    sks_mode: SksMode,
    proxy_since: SimTime,
    /// Deployment spec.replicas.
    replicas: u32,
}

impl KpaReconciler {
    /// A revision created at `now` with `initial_replicas` pods requested (initial scale).
    pub fn new(settings: ReconcilerSettings, now: SimTime, initial_replicas: u32) -> Self {
        KpaReconciler {
            settings,
            pa_state: PaState::Activating,
            pa_state_since: now,
            initialized: false,
            sks_mode: SksMode::Proxy,
            proxy_since: now,
            replicas: initial_replicas,
        }
    }

    /// A revision that has been running before the simulation starts: `replicas` pods requested, the PA in
    /// `pa_state` (Active for a warm service, Inactive for one scaled to zero) and the SKS in the mode the
    /// decider's `excess_burst_capacity` implies.
    pub fn resumed(
        settings: ReconcilerSettings,
        now: SimTime,
        replicas: u32,
        pa_state: PaState,
        excess_burst_capacity: i32,
    ) -> Self {
        let serve = pa_state != PaState::Inactive && replicas > 0 && excess_burst_capacity >= 0;
        let sks_mode = if serve {
            SksMode::Serve
        } else {
            SksMode::Proxy
        };
        KpaReconciler {
            settings,
            pa_state,
            pa_state_since: now,
            initialized: true,
            sks_mode,
            proxy_since: now,
            replicas,
        }
    }

    pub fn settings(&self) -> &ReconcilerSettings {
        &self.settings
    }
    pub fn pa_state(&self) -> PaState {
        self.pa_state
    }
    pub fn sks_mode(&self) -> SksMode {
        self.sks_mode
    }
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// Reconciles with the decider's latest `desired_scale` (−1 = no decision yet), its excess burst
    /// capacity, and the current ready pod count.
    pub fn reconcile(
        &mut self,
        now: SimTime,
        desired_scale: i32,
        excess_burst_capacity: i32,
        ready: u32,
    ) -> ReconcileOutcome {
        let Want {
            replicas: want,
            reason,
            requeue_after,
            apply_to_deployment,
        } = self.want(now, desired_scale);
        let mut apply = None;
        if want >= 0 && apply_to_deployment && want as u32 != self.replicas {
            self.replicas = want as u32;
            apply = Some(self.replicas);
        }
        self.update_sks(now, want, excess_burst_capacity, ready);
        self.update_active(now, want, ready);
        ReconcileOutcome {
            apply,
            sks_mode: self.sks_mode,
            pa_state: self.pa_state,
            requeue_after,
            reason,
        }
    }

    fn want(&mut self, now: SimTime, desired: i32) -> Want {
        let s = &self.settings;
        if desired < 0 && self.pa_state != PaState::Activating {
            return Want::apply(desired, BoundReason::Decider, None);
        }
        let mut min = if s.reachable { s.min_scale } else { 0 };
        let mut reason = BoundReason::Decider;
        let mut floor_reason = BoundReason::MinScale;
        if s.initial_scale > 1 && !self.initialized && s.reachable && s.initial_scale > min {
            min = s.initial_scale;
            floor_reason = BoundReason::InitialScale;
        }
        let mut want = desired;
        if want < min as i32 {
            want = min as i32;
            reason = floor_reason;
        }
        if s.max_scale != 0 && want > s.max_scale as i32 {
            want = s.max_scale as i32;
            reason = BoundReason::MaxScale;
        }
        if want != 0 {
            return Want::apply(want, reason, None);
        }
        // handleScaleToZero
        if !s.enable_scale_to_zero {
            return Want::apply(1, BoundReason::KeepOnePod, None);
        }
        match self.pa_state {
            PaState::Activating => {
                let activating_for = now.saturating_since(self.pa_state_since);
                if activating_for > s.activation_timeout {
                    Want::apply(0, BoundReason::ScaleToZero, None)
                } else {
                    Want::apply(
                        -1,
                        BoundReason::Activating,
                        Some(SimDuration(s.activation_timeout.0 - activating_for.0)),
                    )
                }
            }
            PaState::Active => {
                let active_for = now.saturating_since(self.pa_state_since);
                if active_for >= s.stable_window {
                    // Want 0: Knative marks the PA Inactive but leaves the Deployment alone until the
                    // activator is confirmed in the path.
                    Want {
                        apply_to_deployment: false,
                        ..Want::apply(0, BoundReason::KeepOnePod, Some(SimDuration::from_secs(1)))
                    }
                } else {
                    Want::apply(
                        1,
                        BoundReason::KeepOnePod,
                        Some(SimDuration(s.stable_window.0 - active_for.0)),
                    )
                }
            }
            PaState::Inactive => {
                let inactive_for = now.saturating_since(self.pa_state_since);
                let activator_confirmed = s.target_burst_capacity == -1.0
                    || (self.sks_mode == SksMode::Proxy
                        && now.saturating_since(self.proxy_since) >= s.probe_delay);
                if !activator_confirmed {
                    return Want::apply(-1, BoundReason::KeepOnePod, Some(s.probe_delay));
                }
                if inactive_for >= s.scale_to_zero_grace.max(s.pod_retention) {
                    return Want::apply(0, BoundReason::ScaleToZero, None);
                }
                if s.pod_retention.0 > 0 && inactive_for < s.pod_retention {
                    return Want::apply(
                        -1,
                        BoundReason::KeepOnePod,
                        Some(SimDuration(s.pod_retention.0 - inactive_for.0)),
                    );
                }
                let proxy_for = now.saturating_since(self.proxy_since);
                if proxy_for >= s.scale_to_zero_grace {
                    Want::apply(0, BoundReason::ScaleToZero, None)
                } else {
                    Want::apply(
                        -1,
                        BoundReason::KeepOnePod,
                        Some(SimDuration(s.scale_to_zero_grace.0 - proxy_for.0)),
                    )
                }
            }
        }
    }

    fn update_sks(&mut self, now: SimTime, want: i32, ebc: i32, ready: u32) {
        let mode = if ready == 0 {
            // The SKS reconciler forces Proxy while the revision has no ready endpoints.
            SksMode::Proxy
        } else if want == -1 {
            if self.pa_state == PaState::Inactive {
                SksMode::Proxy
            } else {
                self.sks_mode
            }
        } else if want > 0 && ebc >= 0 {
            SksMode::Serve
        } else {
            SksMode::Proxy
        };
        if mode != self.sks_mode {
            self.sks_mode = mode;
            if mode == SksMode::Proxy {
                self.proxy_since = now;
            }
        }
    }

    fn update_active(&mut self, now: SimTime, want: i32, ready: u32) {
        let s = &self.settings;
        let min_ready = if self.initialized {
            s.min_scale.max(1)
        } else {
            s.min_scale.max(s.initial_scale)
        };
        let currently_inactive = self.pa_state == PaState::Inactive;
        let next = if want == 0 || min_ready == 0 {
            PaState::Inactive
        } else if want > 0 || !currently_inactive {
            if ready < min_ready {
                PaState::Activating
            } else {
                PaState::Active
            }
        } else {
            self.pa_state
        };
        if ready >= min_ready {
            self.initialized = true;
        }
        if next != self.pa_state {
            self.pa_state = next;
            self.pa_state_since = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReconcilerSettings {
        ReconcilerSettings {
            min_scale: 0,
            max_scale: 0,
            initial_scale: 1,
            enable_scale_to_zero: true,
            reachable: true,
            stable_window: SimDuration::from_secs(60),
            scale_to_zero_grace: SimDuration::from_secs(30),
            pod_retention: SimDuration::ZERO,
            target_burst_capacity: 211.0,
            activation_timeout: SimDuration::from_secs(630),
            probe_delay: SimDuration::from_secs(1),
        }
    }

    fn secs(s: u64) -> SimTime {
        SimTime::from_secs(s)
    }

    #[test]
    fn scale_to_zero_takes_a_stable_window_then_the_grace_period() {
        let mut r = KpaReconciler::new(settings(), secs(0), 1);
        // The first pod becomes ready and the decider wants 1: Active.
        let o = r.reconcile(secs(10), 1, -100, 1);
        assert_eq!(o.pa_state, PaState::Active);
        assert_eq!(
            o.sks_mode,
            SksMode::Proxy,
            "negative EBC keeps the activator in the path"
        );
        // Decider wants 0 at t=100, 90 s after becoming Active (>= stable window): want 0, PA Inactive,
        // pods kept.
        let o = r.reconcile(secs(100), 0, -100, 1);
        assert_eq!(o.apply, None);
        assert_eq!(o.pa_state, PaState::Inactive);
        // Activator confirmed (Proxy since t=0), inactive for 10 s < grace 30 s; proxied for 101 s >= grace.
        let o = r.reconcile(secs(101), 0, -100, 1);
        assert_eq!(o.apply, Some(0), "{o:?}");
        assert_eq!(o.reason, BoundReason::ScaleToZero);
    }

    #[test]
    fn a_young_active_revision_keeps_one_pod_until_a_stable_window_passes() {
        let mut r = KpaReconciler::new(settings(), secs(0), 1);
        r.reconcile(secs(10), 1, 0, 1);
        let o = r.reconcile(secs(30), 0, 0, 1);
        assert_eq!(o.apply, None);
        assert_eq!(r.replicas(), 1);
        assert_eq!(o.requeue_after, Some(SimDuration::from_secs(40)));
        assert_eq!(o.pa_state, PaState::Active);
    }

    #[test]
    fn bounds_and_initial_scale_apply() {
        let mut s = settings();
        s.min_scale = 2;
        s.max_scale = 5;
        s.initial_scale = 3;
        let mut r = KpaReconciler::new(s, secs(0), 3);
        let o = r.reconcile(secs(2), 1, 0, 0);
        assert_eq!((r.replicas(), o.reason), (3, BoundReason::InitialScale));
        r.reconcile(secs(4), 1, 0, 3); // initialized once 3 are ready
        let o = r.reconcile(secs(6), 1, 0, 3);
        assert_eq!((o.apply, o.reason), (Some(2), BoundReason::MinScale));
        let o = r.reconcile(secs(8), 9, 0, 2);
        assert_eq!((o.apply, o.reason), (Some(5), BoundReason::MaxScale));
    }

    #[test]
    fn sks_mode_follows_excess_burst_capacity() {
        let mut r = KpaReconciler::new(settings(), secs(0), 1);
        assert_eq!(r.reconcile(secs(2), 3, 5, 3).sks_mode, SksMode::Serve);
        assert_eq!(r.reconcile(secs(4), 3, -1, 3).sks_mode, SksMode::Proxy);
        assert_eq!(
            r.reconcile(secs(6), 3, 5, 0).sks_mode,
            SksMode::Proxy,
            "no ready endpoints forces Proxy"
        );
    }

    #[test]
    fn scale_to_zero_disabled_keeps_one_pod() {
        let mut s = settings();
        s.enable_scale_to_zero = false;
        let mut r = KpaReconciler::new(s, secs(0), 1);
        r.reconcile(secs(10), 1, 0, 1);
        let o = r.reconcile(secs(500), 0, 0, 1);
        assert_eq!((r.replicas(), o.pa_state), (1, PaState::Active));
    }
}
