//! The HPA (with CronHPA or KEDA cron triggers) as a [`Scaler`]: scrapes and syncs on the 1 s tick, cron
//! jobs as wake-ups. There is no activator in front of an HPA-scaled deployment and it never goes below
//! one pod.

use super::runtime::{HpaRuntime, HpaSetup};
use crate::autoscaler::scaler::{Decision, Scaler, SecondView, StartPlan};
use crate::observe::SecondRow;
use crate::time::SimTime;

/// [`HpaRuntime`] in the loop.
pub struct HpaScaler {
    initial_replicas: u32,
    runtime: HpaRuntime,
    horizon: SimTime,
    /// CronHPA jobs fired since the last row (the `cron_fire` column).
    fired: Vec<String>,
}

impl HpaScaler {
    pub fn new(setup: HpaSetup) -> Self {
        HpaScaler {
            initial_replicas: setup.initial_replicas.max(1),
            runtime: HpaRuntime::new(setup),
            horizon: SimTime::MAX,
            fired: Vec::new(),
        }
    }

    pub fn runtime(&self) -> &HpaRuntime {
        &self.runtime
    }

    fn next_fire(&self) -> Option<SimTime> {
        self.runtime.next_cron_fire().filter(|&t| t <= self.horizon)
    }
}

impl Scaler for HpaScaler {
    fn label(&self) -> &'static str {
        "hpa"
    }
    fn start(&mut self, horizon: SimTime) -> StartPlan {
        self.horizon = horizon;
        StartPlan {
            replicas: self.initial_replicas,
            ready_now: true,
            activator_in_path: false,
            wake_at: self.next_fire(),
        }
    }
    fn has_activator(&self) -> bool {
        false
    }
    fn on_second(&mut self, view: &mut SecondView<'_>) -> Decision {
        for p in view.queue_proxies {
            self.runtime
                .observe_pod_second(p.pod.slot(), p.created, &p.report);
        }
        let mut decision = Decision::default();
        if self.runtime.second(
            view.now,
            view.pods,
            view.resources,
            view.arrivals,
            view.in_flight,
        ) {
            decision.replicas = self
                .runtime
                .sync(view.now, view.pods, view.resources, view.replicas)
                .map(|r| r.max(1));
        }
        decision
    }
    fn on_wake(&mut self, now: SimTime, _ready: u32) -> Decision {
        let (labels, write) = self.runtime.fire_cron(now);
        self.fired.extend(labels);
        Decision {
            replicas: write.map(|r| r.max(1)),
            activator_in_path: None,
            wake_at: self.next_fire(),
        }
    }
    fn columns(&mut self, row: &mut SecondRow) {
        let view = &self.runtime.view;
        row.observed_stable = view.metric;
        row.target_per_pod = view.target;
        row.scale_reason = view.reason;
        row.hpa_metric = view.metric;
        row.hpa_proposal = view.proposal;
        row.hpa_recommendation = view.recommendation;
        row.hpa_limit_reason = view.reason;
        if !self.fired.is_empty() {
            row.cron_fire = Some(self.fired.join(";"));
            self.fired.clear();
        }
    }
}
