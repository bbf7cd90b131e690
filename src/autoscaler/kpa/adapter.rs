//! The KPA as a [`Scaler`]: the scraper and the metric collector on the 1 s tick, the decider every 2 s,
//! the reconciler ([`KpaReconciler`], one golden-tested `ReconcileKind` pass each time) at PodAutoscaler
//! creation (time 0), after each decision, on pod readiness and on its own requeues; the activator's
//! first-request stat pokes the decider when the revision is at zero.
//!
//! The scraper is [`super::scraper::scrape`] over the Ready pods' queue-proxy reports. With
//! target-burst-capacity −1 the Metric has no scrape target and no scraper runs: only the activator's
//! reports feed the windows, and a second without one is missing data, not a zero.
//!
//! `reconcile_delay` is the lag between a reconcile pass patching the Deployment's replicas and the
//! Deployment (the pods the loop creates or removes) following; the SKS mode changes at once.
//!
//! At rest ([`Scaler::quiescent`]): at zero, with the stable window empty (so every decision is `NoData`
//! and leaves the decider alone), no Ready pod, no activator entry, not panicking, no replica patch on its
//! way and the reconciler at rest ([`KpaReconciler::at_rest_at_zero`]), a tick changes nothing until a
//! request reaches the activator (`on_activator_stat`), a pod turns Ready or a wake-up fires; a
//! many-service run then leaves the KPA out of its ticks.
//!
//! Simplifications: `initial_state: warm` creates the decider with 0 ready pods, as if the autoscaler had
//! been running quietly (Knative creates it with the live count only when the autoscaler restarts); every
//! pod scrape succeeds (no scrape failures, no service mesh), so the scraper's Service fallback is never
//! taken.

use super::reconcile_pass::PassConfig;
use super::reconciler::{BoundReason, KpaReconciler, ReconcilerSettings, SksMode};
use super::scraper::{scrape_direct, DirectScratch, PodScrape, ScrapePod};
use super::stats::REPORT_PERIOD;
use super::{Decider, MetricCollector, RevisionScaling, ScaleResult, Stat};
use crate::autoscaler::scaler::{Decision, Scaler, SecondView, StartPlan};
use crate::engine::SimRng;
use crate::observe::SecondRow;
use crate::time::{SimDuration, SimTime};
use rand::RngExt;
use std::collections::{BTreeMap, VecDeque};

/// The state of the revision when the simulation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Created at time 0: initial-scale pods cold-start, the activator is in the path until they are ready.
    Deployed,
    /// Running and quiet: `pods` pods Ready at time 0, the PA Active.
    Warm,
    /// Scaled to zero long ago: no pods, the activator in the path.
    ScaledToZero,
}

/// KPA configuration, resolved from config-autoscaler, the revision annotations and KServe's fields.
pub struct KpaSetup {
    pub scaling: RevisionScaling,
    pub initial_state: InitialState,
    /// Pods Ready at time 0 for [`InitialState::Warm`].
    pub warm_pods: u32,
    /// config-deployment `progress-deadline` (Knative's default 600 s); the activation timeout is this
    /// (or the revision's `serving.knative.dev/progress-deadline` annotation) + 30 s.
    pub progress_deadline: SimDuration,
    /// The revision's non-autoscaling annotations the reconciler reads (the progress-deadline one).
    pub annotations: BTreeMap<String, String>,
    /// Time until the activator-in-path probe succeeds after the SKS switched to Proxy.
    pub activator_probe_delay: SimDuration,
    /// Lag between a reconcile pass's replica patch and the Deployment following it.
    pub reconcile_delay: SimDuration,
}

/// The KPA's moving parts during a run.
pub struct KpaScaler {
    setup: Option<KpaSetup>,
    scaling: RevisionScaling,
    collector: MetricCollector,
    decider: Decider,
    reconciler: KpaReconciler,
    /// The scraper's reused lists.
    scrape_scratch: DirectScratch,
    /// The scraper's random pod choice.
    scrape_rng: SimRng,
    /// The decider status (Knative's DesiredScale; −1 until the first valid decision).
    desired_scale: i32,
    excess_burst_capacity: i32,
    last: Option<ScaleResult>,
    reason: &'static str,
    panic_seconds: u64,
    reconcile_delay: SimDuration,
    /// Replica patches on their way to the Deployment (time it follows, replicas), in time order.
    pending: VecDeque<(SimTime, u32)>,
    /// Scratch buffer for the scraper's view of the pods, reused every second.
    scrape_pods: Vec<ScrapePod>,
    /// At rest at zero (see [`Scaler::quiescent`]): set by a decision tick that found the stable window
    /// empty, nothing recorded, no Ready pod, no panic, no patch on its way and the reconciler at rest;
    /// cleared by any other callback.
    quiet: bool,
}

impl KpaScaler {
    /// `scrape_rng` is the run's scrape stream ([`crate::engine::Stream::Scrape`]).
    pub fn new(setup: KpaSetup, scrape_rng: SimRng) -> Self {
        let scaling = setup.scaling.clone();
        let d = &scaling.decider;
        let stable_secs = scaling.stable_window.0 as f64;
        let settings = ReconcilerSettings {
            config: PassConfig {
                enable_scale_to_zero: scaling.enable_scale_to_zero,
                min_scale: scaling.min_scale as i32,
                max_scale: scaling.max_scale as i32,
                initial_scale: scaling.initial_scale as i32,
                // The initial scale is already resolved (a 0 that was not allowed was replaced).
                allow_zero_initial_scale: true,
                scale_to_zero_grace: scaling.scale_to_zero_grace_period,
                pod_retention: scaling.scale_to_zero_pod_retention_period,
                target_burst_capacity: d.target_burst_capacity,
                stable_window: scaling.stable_window,
                panic_window_percentage: if stable_secs > 0.0 {
                    scaling.panic_window.0 as f64 * 100.0 / stable_secs
                } else {
                    10.0
                },
                activator_capacity: scaling.activator_capacity,
                // containerConcurrency is passed as 0 below, so the pass's per-pod total is this.
                container_concurrency_target_default: d.total_value,
                container_concurrency_target_fraction: if d.total_value > 0.0 {
                    d.target_value / d.total_value
                } else {
                    1.0
                },
                progress_deadline: setup.progress_deadline,
            },
            annotations: setup.annotations.clone(),
            container_concurrency: 0,
            reachable: d.reachable,
            probe_delay: setup.activator_probe_delay,
        };
        let now = SimTime::ZERO;
        let warm_pods = setup.warm_pods.max(1);
        let warm_ebc = Decider::initial_excess_burst_capacity(&scaling.decider, warm_pods);
        let (reconciler, desired_scale) = match setup.initial_state {
            InitialState::Deployed => (KpaReconciler::new(settings, scaling.initial_scale), -1),
            // A running revision's decider has a decision: without one the first pass (want −1) would put
            // the activator in the path until the first tick.
            InitialState::Warm => (
                KpaReconciler::resumed(settings, now, warm_pods, warm_ebc),
                warm_pods as i32,
            ),
            InitialState::ScaledToZero => (KpaReconciler::resumed(settings, now, 0, -1), 0),
        };
        let collector = MetricCollector::new(
            scaling.metric,
            scaling.aggregation,
            scaling.stable_window,
            scaling.panic_window,
            scaling.scrape_target_set,
        );
        // The decider is created with the revision; a warm service's autoscaler has been running, so it does
        // not start in panic (Knative starts in panic only when the autoscaler itself restarts).
        let decider = Decider::new(scaling.decider.clone(), now, 0);
        let excess_burst_capacity = match setup.initial_state {
            InitialState::Warm => warm_ebc,
            _ => Decider::initial_excess_burst_capacity(&scaling.decider, scaling.initial_scale),
        };
        KpaScaler {
            reconcile_delay: setup.reconcile_delay,
            setup: Some(setup),
            scaling,
            collector,
            decider,
            reconciler,
            scrape_scratch: DirectScratch::default(),
            scrape_rng,
            desired_scale,
            excess_burst_capacity,
            last: None,
            reason: "",
            panic_seconds: 0,
            pending: VecDeque::new(),
            scrape_pods: Vec::new(),
            quiet: false,
        }
    }

    /// The reconciler (for tests and diagnostics).
    pub fn reconciler(&self) -> &KpaReconciler {
        &self.reconciler
    }

    /// Runs the decider (`Scale`) and then the reconciler.
    fn decide(&mut self, now: SimTime, ready: u32) -> Decision {
        let observed = self.collector.stable_and_panic(now);
        let result = self.decider.scale(now, ready, observed);
        if result.valid {
            self.desired_scale = result.desired_pod_count;
            self.excess_burst_capacity = result.excess_burst_capacity;
            self.last = Some(result);
        }
        self.reason = result.reason.as_str();
        self.reconcile(now, ready)
    }

    fn reconcile(&mut self, now: SimTime, ready: u32) -> Decision {
        let outcome =
            self.reconciler
                .reconcile(now, self.desired_scale, self.excess_burst_capacity, ready);
        if outcome.reason != BoundReason::Decider {
            self.reason = outcome.reason.as_str();
        }
        let mut replicas = None;
        if let Some(n) = outcome.apply {
            if self.reconcile_delay == SimDuration::ZERO {
                replicas = Some(n);
            } else {
                self.pending.push_back((now + self.reconcile_delay, n));
            }
        }
        Decision {
            replicas,
            // With no ready endpoint the SKS points the public service at the activator whatever its mode.
            activator_in_path: Some(outcome.sks_mode == SksMode::Proxy || ready == 0),
            wake_at: self.next_wake(),
        }
    }

    /// The earliest of the reconciler's requeue and the next pending replica patch.
    fn next_wake(&self) -> Option<SimTime> {
        let requeue = self.reconciler.requeue_at();
        let patch = self.pending.front().map(|&(t, _)| t);
        match (requeue, patch) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The scraper over this second's Ready pods; `None` when there is no pod (Knative records nothing
    /// then). Every pod is addressable and answers (mesh mode disabled), so this is the scraper's direct
    /// path ([`scrape_direct`], which draws and sums exactly as [`super::scraper::scrape`] does).
    fn scrape(&mut self, view: &SecondView<'_>) -> Option<Stat> {
        let now = view.now;
        self.scrape_pods.clear();
        self.scrape_pods
            .extend(view.queue_proxies.iter().map(|p| ScrapePod {
                ready: true,
                age: now.saturating_since(p.created),
                stat: p.report.to_queue_proxy_stat(REPORT_PERIOD),
                scrape: PodScrape::Ok,
            }));
        let rng = &mut self.scrape_rng;
        scrape_direct(
            &self.scrape_pods,
            self.scaling.stable_window,
            &mut self.scrape_scratch,
            &mut |i| rng.random_range(0..=i),
        )
    }
}

impl Scaler for KpaScaler {
    fn label(&self) -> &'static str {
        "kpa"
    }

    /// The PodAutoscaler is reconciled at its creation, time 0: bounds and the SKS apply from the start.
    fn start(&mut self, horizon: SimTime) -> StartPlan {
        self.start_at(SimTime::ZERO, horizon)
    }

    /// A revision created during the run: its PodAutoscaler's first reconcile is at its creation.
    fn start_at(&mut self, now: SimTime, _horizon: SimTime) -> StartPlan {
        let setup = self.setup.take().expect("start is called once");
        let (replicas, ready_now) = match setup.initial_state {
            InitialState::Deployed => (self.scaling.initial_scale, false),
            InitialState::Warm => (setup.warm_pods.max(1), true),
            InitialState::ScaledToZero => (0, false),
        };
        let ready = if ready_now { replicas } else { 0 };
        let first = self.reconcile(now, ready);
        StartPlan {
            replicas: first.replicas.unwrap_or(replicas),
            ready_now,
            activator_in_path: first.activator_in_path.unwrap_or(true),
            wake_at: first.wake_at,
        }
    }

    /// Every queue-proxy closes its 1 s period; the scraper (when the Metric has a scrape target) samples
    /// the Ready pods and extrapolates to the revision; then the activator's report; on even seconds the
    /// decider.
    fn on_second(&mut self, view: &mut SecondView<'_>) -> Decision {
        let now = view.now;
        let mut recorded = false;
        if self.scaling.scrape_target_set {
            if let Some(total) = self.scrape(view) {
                self.collector.record(now, &total);
                recorded = true;
            }
        }
        if let Some(stat) = view.activator {
            self.collector.record(now, &stat);
            recorded = true;
        }
        if self.decider.in_panic() {
            self.panic_seconds += 1;
        }
        // Quiet needs every later second to be this one again: nothing to record, no Ready pod (a pod
        // turning Ready calls `on_pod_ready`), no panic second to count.
        let idle = !recorded && view.ready == 0 && !self.decider.in_panic();
        if now.whole_secs().is_multiple_of(2) {
            let d = self.decide(now, view.ready);
            // The stable window stays empty once it is (nothing is recorded), so every later decision is
            // `NoData` too, leaves the decider as it is and hands the reconciler the same inputs; at rest,
            // the reconciler then answers the same (the activator in the path, no patch, no requeue),
            // which the loop has just applied.
            self.quiet = idle
                && self.scaling.scrape_target_set
                && self.collector.stable_and_panic(now).is_err()
                && self.pending.is_empty()
                && self.reconciler.at_rest_at_zero()
                && d == Decision {
                    replicas: None,
                    activator_in_path: Some(true),
                    wake_at: None,
                };
            d
        } else {
            self.quiet &= idle;
            Decision::default()
        }
    }

    fn quiescent(&self) -> bool {
        self.quiet
    }

    fn prefetch_second_state(&self, now: SimTime) {
        self.collector.prefetch_slots(now);
    }

    /// A new activator entry reports "1" at once, and the autoscaler pokes the decider if the revision is
    /// at zero: the scale-from-zero trigger.
    fn on_activator_stat(&mut self, now: SimTime, stat: &Stat, ready: u32) -> Decision {
        self.quiet = false;
        self.collector.record(now, stat);
        if self.desired_scale == 0 && stat.average_concurrency != 0.0 {
            self.decide(now, ready)
        } else {
            Decision::default()
        }
    }

    fn on_pod_ready(&mut self, now: SimTime, ready: u32) -> Decision {
        self.quiet = false;
        self.reconcile(now, ready)
    }

    /// Unreachable: the decider scales down without the rate limit, the reconciler ignores min-scale,
    /// initial scale and last-pod retention (Knative's ScaleBounds and lastPodRetention).
    fn set_reachable(&mut self, reachable: bool) {
        let mut spec = self.decider.spec().clone();
        if spec.reachable != reachable {
            // Reachability changes the bounds the next tick decides within.
            self.quiet = false;
            spec.reachable = reachable;
            self.decider.update(spec);
            self.reconciler.set_reachable(reachable);
        }
    }

    /// A requeue, or a replica patch reaching the Deployment after `reconcile_delay`.
    fn on_wake(&mut self, now: SimTime, ready: u32) -> Decision {
        self.quiet = false;
        let mut due = None;
        while let Some(&(t, n)) = self.pending.front() {
            if t > now {
                break;
            }
            due = Some(n);
            self.pending.pop_front();
        }
        let mut decision = if self.reconciler.take_due_requeue(now) {
            self.reconcile(now, ready)
        } else {
            Decision {
                wake_at: self.next_wake(),
                ..Decision::default()
            }
        };
        if due.is_some() {
            decision.replicas = due;
            decision.wake_at = self.next_wake();
        }
        decision
    }

    fn columns(&mut self, row: &mut SecondRow) {
        row.observed_stable = self.last.map(|r| r.observed_stable);
        row.observed_panic = self.last.map(|r| r.observed_panic);
        row.target_per_pod = Some(self.decider.spec().target_value);
        row.panic = self.decider.in_panic();
        row.excess_burst_capacity = Some(i64::from(self.excess_burst_capacity));
        row.scale_reason = self.reason;
    }

    fn panic_seconds(&self) -> u64 {
        self.panic_seconds
    }
}
