//! The KPA as a [`Scaler`]: the scraper and the metric collector on the 1 s tick, the decider every 2 s,
//! the reconciler after each decision, on pod readiness and on its own requeue timer; the activator's
//! first-request stat pokes the decider when the revision is at zero.
//!
//! Simplification: `initial_state: warm` creates the decider with 0 ready pods, as if the autoscaler had
//! been running quietly (Knative creates it with the live count only when the autoscaler restarts).

use super::reconciler::{BoundReason, KpaReconciler, PaState, ReconcilerSettings, SksMode};
use super::stats::{extrapolate, REPORT_PERIOD};
use super::{scrape_sample_size, Decider, MetricCollector, RevisionScaling, ScaleResult, Stat};
use crate::autoscaler::scaler::{Decision, Scaler, SecondView, StartPlan};
use crate::engine::SimRng;
use crate::observe::SecondRow;
use crate::time::{SimDuration, SimTime};
use rand::RngExt;

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
    /// progress-deadline + 30 s (Knative's activation timeout).
    pub activation_timeout: SimDuration,
    /// Time until the activator-in-path probe succeeds after the SKS switched to Proxy.
    pub activator_probe_delay: SimDuration,
}

/// The KPA's moving parts during a run.
pub struct KpaScaler {
    setup: Option<KpaSetup>,
    scaling: RevisionScaling,
    collector: MetricCollector,
    decider: Decider,
    reconciler: KpaReconciler,
    /// The scraper's random pod choice.
    scrape_rng: SimRng,
    /// The decider status (Knative's DesiredScale; −1 until the first valid decision).
    desired_scale: i32,
    excess_burst_capacity: i32,
    last: Option<ScaleResult>,
    reason: &'static str,
    panic_seconds: u64,
    /// Scratch buffers for the scraper's sample (indexes into the second's reports), reused every second.
    old_pods: Vec<u32>,
    young_pods: Vec<u32>,
}

impl KpaScaler {
    /// `scrape_rng` is the run's scrape stream ([`crate::engine::Stream::Scrape`]).
    pub fn new(setup: KpaSetup, scrape_rng: SimRng) -> Self {
        let scaling = setup.scaling.clone();
        let settings = ReconcilerSettings {
            min_scale: scaling.min_scale,
            max_scale: scaling.max_scale,
            initial_scale: scaling.initial_scale,
            enable_scale_to_zero: scaling.enable_scale_to_zero,
            reachable: scaling.decider.reachable,
            stable_window: scaling.stable_window,
            scale_to_zero_grace: scaling.scale_to_zero_grace_period,
            pod_retention: scaling.scale_to_zero_pod_retention_period,
            target_burst_capacity: scaling.decider.target_burst_capacity,
            activation_timeout: setup.activation_timeout,
            probe_delay: setup.activator_probe_delay,
        };
        let now = SimTime::ZERO;
        let warm_pods = setup.warm_pods.max(1);
        let warm_ebc = Decider::initial_excess_burst_capacity(&scaling.decider, warm_pods);
        let (reconciler, desired_scale) = match setup.initial_state {
            InitialState::Deployed => {
                (KpaReconciler::new(settings, now, scaling.initial_scale), -1)
            }
            InitialState::Warm => (
                KpaReconciler::resumed(settings, now, warm_pods, PaState::Active, warm_ebc),
                -1,
            ),
            InitialState::ScaledToZero => (
                KpaReconciler::resumed(settings, now, 0, PaState::Inactive, -1),
                0,
            ),
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
            setup: Some(setup),
            scaling,
            collector,
            decider,
            reconciler,
            scrape_rng,
            desired_scale,
            excess_burst_capacity,
            last: None,
            reason: "",
            panic_seconds: 0,
            old_pods: Vec::new(),
            young_pods: Vec::new(),
        }
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
        Decision {
            replicas: outcome.apply,
            activator_in_path: Some(outcome.sks_mode == SksMode::Proxy),
            wake_at: outcome.requeue_after.map(|after| now + after),
        }
    }
}

impl Scaler for KpaScaler {
    fn label(&self) -> &'static str {
        "kpa"
    }

    fn start(&mut self, _horizon: SimTime) -> StartPlan {
        let setup = self.setup.take().expect("start is called once");
        let (replicas, ready_now) = match setup.initial_state {
            InitialState::Deployed => (self.scaling.initial_scale, false),
            InitialState::Warm => (setup.warm_pods.max(1), true),
            InitialState::ScaledToZero => (0, false),
        };
        StartPlan {
            replicas,
            ready_now,
            activator_in_path: self.reconciler.sks_mode() == SksMode::Proxy,
            wake_at: None,
        }
    }

    /// Every queue-proxy closes its 1 s period; the scraper samples n of the N ready pods, pods older than
    /// the stable window first, and extrapolates their sum to the revision; then the activator's report;
    /// on even seconds the decider.
    fn on_second(&mut self, view: &mut SecondView<'_>) -> Decision {
        let now = view.now;
        self.old_pods.clear();
        self.young_pods.clear();
        let stable_window = self.scaling.stable_window;
        for (i, p) in view.queue_proxies.iter().enumerate() {
            if now.saturating_since(p.created) >= stable_window {
                self.old_pods.push(i as u32);
            } else {
                self.young_pods.push(i as u32);
            }
        }
        let ready = view.queue_proxies.len();
        let sample = scrape_sample_size(ready);
        let stat = |i: u32| {
            view.queue_proxies[i as usize]
                .report
                .to_queue_proxy_stat(REPORT_PERIOD)
        };
        let mut reports: Stat = Stat::default();
        if sample == ready {
            for i in 0..ready as u32 {
                reports = reports.add(&stat(i));
            }
        } else {
            shuffle(&mut self.old_pods, &mut self.scrape_rng);
            shuffle(&mut self.young_pods, &mut self.scrape_rng);
            for &i in self
                .old_pods
                .iter()
                .chain(self.young_pods.iter())
                .take(sample)
            {
                reports = reports.add(&stat(i));
            }
        }
        if let Some(total) = extrapolate(&reports, sample, ready) {
            self.collector.record(now, &total);
        }
        if let Some(stat) = view.activator {
            self.collector.record(now, &stat);
        }
        if self.decider.in_panic() {
            self.panic_seconds += 1;
        }
        if now.whole_secs().is_multiple_of(2) {
            self.decide(now, view.ready)
        } else {
            Decision::default()
        }
    }

    /// A new activator entry reports "1" at once, and the autoscaler pokes the decider if the revision is
    /// at zero: the scale-from-zero trigger.
    fn on_activator_stat(&mut self, now: SimTime, stat: &Stat, ready: u32) -> Decision {
        self.collector.record(now, stat);
        if self.desired_scale == 0 && stat.average_concurrency != 0.0 {
            self.decide(now, ready)
        } else {
            Decision::default()
        }
    }

    fn on_pod_ready(&mut self, now: SimTime, ready: u32) -> Decision {
        self.reconcile(now, ready)
    }

    fn on_wake(&mut self, now: SimTime, ready: u32) -> Decision {
        self.reconcile(now, ready)
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

/// Fisher-Yates shuffle with the given stream (the scraper's random pod choice).
fn shuffle(items: &mut [u32], rng: &mut SimRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}
