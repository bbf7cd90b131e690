//! The KPA reconciler on simulated time: the state a PodAutoscaler and its ServerlessService keep between
//! `ReconcileKind` passes, with each pass delegated to [`super::reconcile_pass::reconcile_pass`] (the
//! golden-tested model of Knative 1.23). This module only carries state across passes and turns the pass's
//! output into what the simulator applies:
//!
//! * condition ages: the Active condition's last transition time is kept as a [`SimTime`] and given to the
//!   pass as `now − since`;
//! * requeues (`EnqueueAfter`) become one wake-up at the earliest requested time, as Knative's work queue
//!   keeps the earliest of several delayed adds;
//! * the activator-in-path probe answers "in path" once the SKS has been in Proxy mode for `probe_delay`;
//!   when the pass offered the asynchronous probe, a requeue at that time stands for the probe's
//!   re-enqueue;
//! * the ServerlessService reconciler is immediate: the SKS spec the pass writes is in effect (and Ready) by
//!   the next pass, its private service exists after the first pass, and `ActivatorEndpointsPopulated`
//!   turns True when the SKS switches to Proxy.
//!
//! Units: [`SimTime`] / [`SimDuration`]; replica counts `i32` with Knative's −1 for "apply nothing".
//!
//! Simplifications: informer latency is zero (the pass sees the replica count it last patched, pods and
//! SKS as they are now); pod counts other than Ready are not tracked (the pass only reads Ready ones for its
//! decisions); the probe's 1 s retry cadence is the fixed `probe_delay`.

use super::reconcile_pass::{
    reconcile_pass_into, set_str, CondStatus, Condition, PassConfig, PassInput, PassOutput,
    PodCounts, ProbeResult, Reachability, ResolvedSettings, SksAction, SksState,
};
use crate::time::{SimDuration, SimTime};
use std::collections::BTreeMap;

/// The ServerlessService mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SksMode {
    /// The activator is in the path.
    Proxy,
    /// Requests go straight to the pods.
    Serve,
}

/// Why the applied replica count differs from the decider's (for the time series).
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

/// The PodAutoscaler's Active condition, simplified for callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaState {
    Activating,
    Active,
    Inactive,
}

/// What the reconciler needs besides the pass's config.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconcilerSettings {
    pub config: PassConfig,
    /// The revision's annotations the pass reads (`serving.knative.dev/progress-deadline`); the autoscaling
    /// ones are already resolved into `config`.
    pub annotations: BTreeMap<String, String>,
    pub container_concurrency: i32,
    pub reachable: bool,
    /// Time for the activator-in-path probe to succeed after the SKS switched to Proxy.
    pub probe_delay: SimDuration,
}

/// One reconcile's outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReconcileOutcome {
    /// Replicas the pass patched onto the Deployment, if any.
    pub apply: Option<u32>,
    pub sks_mode: SksMode,
    pub pa_state: PaState,
    /// The earliest pending requeue (absolute time), if any.
    pub requeue_at: Option<SimTime>,
    pub reason: BoundReason,
}

/// A condition with its transition time instead of its age.
#[derive(Clone, Debug)]
struct Timed {
    status: CondStatus,
    reason: String,
    since: SimTime,
}

impl Timed {
    fn at(&self, now: SimTime) -> Condition {
        Condition {
            status: self.status,
            reason: self.reason.clone(),
            age: now.saturating_since(self.since),
        }
    }
    fn from(c: &Condition, now: SimTime) -> Self {
        Timed {
            status: c.status,
            reason: c.reason.clone(),
            since: SimTime(now.0.saturating_sub(c.age.0)),
        }
    }
}

/// The SKS as the reconciler left it.
#[derive(Clone, Debug)]
struct Sks {
    mode: SksMode,
    num_activators: i32,
    proxy_since: SimTime,
}

pub struct KpaReconciler {
    settings: ReconcilerSettings,
    active: Option<Timed>,
    sti: Option<CondStatus>,
    desired_scale: Option<i32>,
    sks: Option<Sks>,
    /// Deployment spec.replicas as last patched.
    replicas: u32,
    requeue_at: Option<SimTime>,
    /// The last pass's output (meaningful once `passed`), overwritten in place by the next.
    last_pass: PassOutput,
    passed: bool,
    /// The last pass's input, refilled in place by the next (a pass runs every other second per revision;
    /// rebuilding it each time cost a clone of the config and a few strings).
    input: Option<PassInput>,
    /// The pass settings resolved from the input's config and annotations, which change only with the
    /// reachability (`None` until the first pass and after a reachability change).
    resolved: Option<ResolvedSettings>,
}

impl KpaReconciler {
    /// A revision created at time 0 whose Deployment asks for `initial_replicas` pods: no PA conditions
    /// and no SKS yet.
    pub fn new(settings: ReconcilerSettings, initial_replicas: u32) -> Self {
        KpaReconciler {
            settings,
            active: None,
            sti: None,
            desired_scale: None,
            sks: None,
            replicas: initial_replicas,
            requeue_at: None,
            last_pass: PassOutput::empty(),
            passed: false,
            input: None,
            resolved: None,
        }
    }

    /// A revision that has been running before the simulation starts, with `replicas` pods, the PA Active
    /// (or Inactive when `replicas` is 0) since `now` and the SKS in the mode the decider's excess burst
    /// capacity implies.
    pub fn resumed(
        settings: ReconcilerSettings,
        now: SimTime,
        replicas: u32,
        excess_burst_capacity: i32,
    ) -> Self {
        let serve = replicas > 0 && excess_burst_capacity >= 0;
        let (status, reason) = if replicas > 0 {
            (CondStatus::True, "")
        } else {
            (CondStatus::False, "NoTraffic")
        };
        KpaReconciler {
            settings,
            active: Some(Timed {
                status,
                reason: reason.into(),
                since: now,
            }),
            sti: Some(CondStatus::True),
            desired_scale: Some(replicas as i32),
            sks: Some(Sks {
                mode: if serve {
                    SksMode::Serve
                } else {
                    SksMode::Proxy
                },
                num_activators: 2,
                proxy_since: now,
            }),
            replicas,
            requeue_at: None,
            last_pass: PassOutput::empty(),
            passed: false,
            input: None,
            resolved: None,
        }
    }

    /// Whether a route references the revision (the PodAutoscaler's reachability).
    pub fn set_reachable(&mut self, reachable: bool) {
        self.settings.reachable = reachable;
        self.resolved = None;
    }

    pub fn sks_mode(&self) -> SksMode {
        self.sks.as_ref().map_or(SksMode::Proxy, |s| s.mode)
    }
    pub fn replicas(&self) -> u32 {
        self.replicas
    }
    pub fn pa_state(&self) -> PaState {
        match self.active.as_ref().map(|a| a.status) {
            Some(CondStatus::True) => PaState::Active,
            Some(CondStatus::False) => PaState::Inactive,
            _ => PaState::Activating,
        }
    }
    /// The number of activators the SKS asks for (`computeNumActivators`).
    pub fn num_activators(&self) -> i32 {
        self.sks.as_ref().map_or(2, |s| s.num_activators)
    }
    /// The last pass's full output (for tests and diagnostics).
    pub fn last_pass(&self) -> Option<&PassOutput> {
        self.passed.then_some(&self.last_pass)
    }
    /// Whether the PodAutoscaler is at rest at zero: Inactive (`NoTraffic`) since before the last pass, the
    /// Deployment at 0, the SKS in Proxy mode with the activator probed in the path, and the last pass
    /// neither patched, requeued, probed nor updated anything. A pass depends on time only through the
    /// condition ages it compares with the grace period, the pod retention and the probe delay; those
    /// comparisons are already past, so a later pass with no Ready pod and the same decider inputs gives
    /// the same output and leaves this state as it is (what lets the loop stop calling an idle KPA every
    /// second, see `Scaler::quiescent`).
    pub fn at_rest_at_zero(&self) -> bool {
        if !self.passed {
            return false;
        }
        let out = &self.last_pass;
        self.requeue_at.is_none()
            && self.replicas == 0
            && out.scale_want == Some(0)
            && out.deployment_patch.is_none()
            && out.requeue_after.is_empty()
            && !out.async_probe_offered
            && out.sks_action == SksAction::None
            && out.sks_mode == SksMode::Proxy
            && out.actual_scale == 0
            && out.desired_scale == Some(0)
            && out.active.status == CondStatus::False
            && out.active.reason == "NoTraffic"
            // Age 0: the condition changed in this very pass (or one at the same instant).
            && out.active.age > SimDuration::ZERO
    }

    /// The earliest pending requeue.
    pub fn requeue_at(&self) -> Option<SimTime> {
        self.requeue_at
    }
    /// Whether a requeue is due at `now`; clears it if so.
    pub fn take_due_requeue(&mut self, now: SimTime) -> bool {
        if self.requeue_at.is_some_and(|t| t <= now) {
            self.requeue_at = None;
            true
        } else {
            false
        }
    }

    /// One `ReconcileKind` at `now` with the decider's latest `desired_scale` (−1 = no decision yet), its
    /// excess burst capacity, and the Ready pod count. The first pass creates the SKS; its private service
    /// exists at once, so the first pass is followed by a second one at the same instant.
    pub fn reconcile(
        &mut self,
        now: SimTime,
        desired_scale: i32,
        excess_burst_capacity: i32,
        ready: u32,
    ) -> ReconcileOutcome {
        if self.sks.is_none() {
            self.pass(now, desired_scale, excess_burst_capacity, ready);
        }
        self.pass(now, desired_scale, excess_burst_capacity, ready)
    }

    fn pass(
        &mut self,
        now: SimTime,
        decider_desired: i32,
        ebc: i32,
        ready: u32,
    ) -> ReconcileOutcome {
        // This pass is the requeued one if one was due.
        if self.requeue_at.is_some_and(|t| t <= now) {
            self.requeue_at = None;
        }
        let s = &self.settings;
        let probe = match &self.sks {
            Some(k)
                if k.mode == SksMode::Proxy
                    && now.saturating_since(k.proxy_since) >= s.probe_delay =>
            {
                ProbeResult::InPath
            }
            _ => ProbeResult::NotInPath,
        };
        let input = self.input.get_or_insert_with(|| PassInput {
            config: s.config.clone(),
            annotations: s.annotations.clone(),
            container_concurrency: s.container_concurrency,
            reachability: Reachability::Reachable,
            active: None,
            scale_target_initialized: None,
            desired_scale: None,
            service_name: "revision".into(),
            sks: None,
            decider_desired_scale: -1,
            decider_excess_burst_capacity: -1,
            pods: PodCounts::default(),
            deployment_replicas: None,
            activator_probe: ProbeResult::NotInPath,
        });
        input.reachability = if s.reachable {
            Reachability::Reachable
        } else {
            Reachability::Unreachable
        };
        match (&mut input.active, &self.active) {
            (Some(c), Some(a)) => {
                c.status = a.status;
                set_str(&mut c.reason, &a.reason);
                c.age = now.saturating_since(a.since);
            }
            (slot, a) => *slot = a.as_ref().map(|a| a.at(now)),
        }
        input.scale_target_initialized = self.sti;
        input.desired_scale = self.desired_scale;
        let populated = |k: &Sks| {
            (k.mode == SksMode::Proxy)
                .then(|| (CondStatus::True, now.saturating_since(k.proxy_since)))
        };
        match (&mut input.sks, &self.sks) {
            (Some(dst), Some(k)) => {
                dst.mode = k.mode;
                dst.num_activators = k.num_activators;
                dst.activator_endpoints_populated = populated(k);
            }
            (slot, k) => {
                *slot = k.as_ref().map(|k| SksState {
                    private_service_name: "revision-private".into(),
                    service_name: "revision".into(),
                    mode: k.mode,
                    num_activators: k.num_activators,
                    ready: CondStatus::True,
                    activator_endpoints_populated: populated(k),
                })
            }
        }
        input.decider_desired_scale = decider_desired;
        input.decider_excess_burst_capacity = ebc;
        input.pods = PodCounts {
            running_ready: ready as i32,
            ..PodCounts::default()
        };
        input.deployment_replicas = Some(self.replicas as i32);
        input.activator_probe = probe;
        let resolved = self
            .resolved
            .get_or_insert_with(|| ResolvedSettings::resolve(input));
        let out = &mut self.last_pass;
        reconcile_pass_into(input, resolved, out);
        self.passed = true;
        let reason = Self::reason(self.replicas, input, out);
        let mut apply = None;
        if let Some(n) = out.deployment_patch {
            let n = n.max(0) as u32;
            if n != self.replicas {
                self.replicas = n;
                apply = Some(n);
            }
        }
        // A real requeue is processed strictly after the requested delay (the clock moves on while the
        // key waits and is handled), which matters where the pass compares with `>`: the activation
        // timeout.
        let requeue_at = &mut self.requeue_at;
        let mut requeue = |at: SimTime| *requeue_at = Some(requeue_at.map_or(at, |t| t.min(at)));
        for after in &out.requeue_after {
            requeue(now + *after + SimDuration(1));
        }
        if out.async_probe_offered {
            let k = self.sks.as_ref().expect("the probe needs an SKS");
            requeue((k.proxy_since + self.settings.probe_delay).max(now + SimDuration(1)));
        }
        let old_sks = self.sks.take();
        self.sks = Some(match (out.sks_action, old_sks) {
            (SksAction::None, Some(k)) => k,
            (_, old) => {
                let proxy_since = match &old {
                    Some(k) if k.mode == SksMode::Proxy && out.sks_mode == SksMode::Proxy => {
                        k.proxy_since
                    }
                    _ => now,
                };
                Sks {
                    mode: out.sks_mode,
                    num_activators: out.num_activators,
                    proxy_since,
                }
            }
        });
        match &mut self.active {
            Some(t) => {
                t.status = out.active.status;
                set_str(&mut t.reason, &out.active.reason);
                t.since = SimTime(now.0.saturating_sub(out.active.age.0));
            }
            None => self.active = Some(Timed::from(&out.active, now)),
        }
        self.sti = Some(out.scale_target_initialized.status);
        self.desired_scale = out.desired_scale;
        ReconcileOutcome {
            apply,
            sks_mode: self.sks_mode(),
            pa_state: self.pa_state(),
            requeue_at: self.requeue_at,
            reason,
        }
    }

    /// Labels the pass's choice for the `scale_reason` column.
    fn reason(replicas: u32, input: &PassInput, out: &PassOutput) -> BoundReason {
        let decider = input.decider_desired_scale;
        let Some(want) = out.scale_want else {
            return BoundReason::Activating;
        };
        let c = &input.config;
        if want == -1 {
            return match input.active.as_ref().map(|a| a.status) {
                _ if decider < 0 => BoundReason::Decider,
                None | Some(CondStatus::Unknown) => BoundReason::Activating,
                _ => BoundReason::KeepOnePod,
            };
        }
        if want == 0 {
            return if out.deployment_patch.is_none() && replicas > 0 {
                BoundReason::KeepOnePod
            } else {
                BoundReason::ScaleToZero
            };
        }
        if want == decider {
            return BoundReason::Decider;
        }
        if c.max_scale != 0 && want == c.max_scale && decider > want {
            BoundReason::MaxScale
        } else if decider <= 0 && want == 1 && (!c.enable_scale_to_zero || c.min_scale < 1) {
            BoundReason::KeepOnePod
        } else if input.scale_target_initialized != Some(CondStatus::True)
            && want == c.initial_scale
            && want > c.min_scale
        {
            BoundReason::InitialScale
        } else {
            BoundReason::MinScale
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ReconcilerSettings {
        ReconcilerSettings {
            config: PassConfig {
                enable_scale_to_zero: true,
                min_scale: 0,
                max_scale: 0,
                initial_scale: 1,
                allow_zero_initial_scale: true,
                scale_to_zero_grace: SimDuration::from_secs(30),
                pod_retention: SimDuration::ZERO,
                target_burst_capacity: 211.0,
                stable_window: SimDuration::from_secs(60),
                panic_window_percentage: 10.0,
                activator_capacity: 100.0,
                container_concurrency_target_default: 100.0,
                container_concurrency_target_fraction: 0.7,
                progress_deadline: SimDuration::from_secs(600),
            },
            annotations: BTreeMap::new(),
            container_concurrency: 0,
            reachable: true,
            probe_delay: SimDuration::from_secs(1),
        }
    }

    fn secs(s: u64) -> SimTime {
        SimTime::from_secs(s)
    }

    /// A requeue asked for at whole second `s`: processed just after it.
    fn requeued(s: u64) -> Option<SimTime> {
        Some(SimTime::from_secs(s) + SimDuration(1))
    }

    #[test]
    fn the_first_pass_creates_the_sks_and_waits_for_activation() {
        let mut r = KpaReconciler::new(settings(), 1);
        let o = r.reconcile(secs(0), -1, -1, 0);
        assert_eq!(
            (o.apply, o.pa_state, o.sks_mode),
            (None, PaState::Activating, SksMode::Proxy)
        );
        assert_eq!(
            o.requeue_at,
            requeued(630),
            "progress-deadline 600 s + 30 s"
        );
        assert!(!r.take_due_requeue(secs(630)));
        assert!(r.take_due_requeue(secs(631)));
        let o = r.reconcile(secs(631), -1, -1, 0);
        assert_eq!(o.apply, Some(0), "activation timed out");
    }

    #[test]
    fn scale_to_zero_takes_a_stable_window_then_the_grace_period() {
        let mut r = KpaReconciler::new(settings(), 1);
        r.reconcile(secs(0), -1, -100, 0);
        let o = r.reconcile(secs(10), 1, -100, 1);
        assert_eq!((o.pa_state, o.sks_mode), (PaState::Active, SksMode::Proxy));
        let o = r.reconcile(secs(30), 0, -100, 1);
        assert_eq!((o.apply, o.pa_state), (None, PaState::Active));
        assert_eq!(
            o.requeue_at,
            requeued(70),
            "a stable window after becoming Active"
        );
        let o = r.reconcile(secs(70), 0, -100, 1);
        assert_eq!((o.apply, o.pa_state), (None, PaState::Inactive));
        // Proxy since t=0 (the activator was confirmed long ago): the grace counts from then.
        let o = r.reconcile(secs(73), 0, -100, 1);
        assert_eq!((o.apply, o.reason), (Some(0), BoundReason::ScaleToZero));
    }

    #[test]
    fn the_grace_period_counts_from_the_switch_to_proxy() {
        let mut r = KpaReconciler::new(settings(), 1);
        r.reconcile(secs(0), -1, 5, 0);
        let o = r.reconcile(secs(10), 1, 5, 1);
        assert_eq!(o.sks_mode, SksMode::Serve);
        r.reconcile(secs(100), 0, 5, 1);
        assert_eq!(r.pa_state(), PaState::Inactive);
        assert_eq!(
            r.sks_mode(),
            SksMode::Proxy,
            "inactive puts the activator back"
        );
        let o = r.reconcile(secs(100), 0, 5, 1);
        assert_eq!(o.apply, None, "the probe has not succeeded yet");
        assert_eq!(o.requeue_at, Some(secs(101)));
        let o = r.reconcile(secs(101), 0, 5, 1);
        assert_eq!((o.apply, o.requeue_at), (None, requeued(130)));
        assert_eq!(r.reconcile(secs(130), 0, 5, 1).apply, Some(0));
    }

    #[test]
    fn bounds_and_initial_scale_apply_from_the_first_pass() {
        let mut s = settings();
        s.config.min_scale = 2;
        s.config.max_scale = 5;
        s.config.initial_scale = 3;
        let mut r = KpaReconciler::new(s, 3);
        let o = r.reconcile(secs(0), -1, 0, 0);
        assert_eq!((r.replicas(), o.apply), (3, None));
        r.reconcile(secs(4), 1, 0, 3);
        let o = r.reconcile(secs(6), 1, 0, 3);
        assert_eq!((o.apply, o.reason), (Some(2), BoundReason::MinScale));
        let o = r.reconcile(secs(8), 9, 0, 2);
        assert_eq!((o.apply, o.reason), (Some(5), BoundReason::MaxScale));
    }

    #[test]
    fn an_unreachable_revision_ignores_min_and_initial_scale() {
        let mut s = settings();
        s.config.min_scale = 2;
        s.config.initial_scale = 4;
        s.reachable = false;
        let mut r = KpaReconciler::new(s, 4);
        let o = r.reconcile(secs(0), -1, 0, 0);
        assert_eq!(o.apply, None, "activating: nothing applied yet");
        let o = r.reconcile(secs(2), 1, 0, 0);
        assert_eq!(
            o.apply,
            Some(1),
            "initial-scale 4 and min-scale 2 are ignored"
        );
    }

    #[test]
    fn scale_to_zero_disabled_keeps_one_pod() {
        let mut s = settings();
        s.config.enable_scale_to_zero = false;
        let mut r = KpaReconciler::new(s, 1);
        r.reconcile(secs(0), -1, 0, 0);
        r.reconcile(secs(10), 1, 0, 1);
        let o = r.reconcile(secs(500), 0, 0, 1);
        assert_eq!((r.replicas(), o.pa_state), (1, PaState::Active));
    }
}
