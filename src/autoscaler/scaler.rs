//! The one interface every autoscaler implements, shaped like Knative's `UniScaler`: the loop passes the
//! simulated time and plain data in, the scaler hands plain data ([`Decision`]) back. The loop applies the
//! decision (writes the deployment's replicas, puts the activator in or out of the path, schedules the
//! next wake-up); a scaler never touches pods or events itself.
//!
//! When the loop calls a scaler:
//! * [`Scaler::start`] once at time 0: the initial replica count and whether the activator starts in the
//!   path.
//! * [`Scaler::on_second`] on every 1 s tick, with the [`SecondView`]: each ready pod's queue-proxy report
//!   for the second, the activator's report, counters of the second, and the pods themselves (for resource
//!   metrics).
//! * [`Scaler::on_activator_stat`] when the activator emits an out-of-period stat (its first request for a
//!   revision: the scale-from-zero poke).
//! * [`Scaler::on_pod_ready`] when a pod turns Ready.
//! * [`Scaler::on_wake`] at the time the scaler last asked for in [`Decision::wake_at`] (a reconciler
//!   requeue, a cron job).
//! * [`Scaler::columns`] when the second's row is written: the scaler fills its own columns.
//! * [`Scaler::quiescent`] after each `on_second`: `true` lets a many-service run skip the scaler's ticks
//!   until one of its other callbacks is called (the KPA at rest at zero; see the method).
//!
//! Implementations: `fixed` (with an optional standalone CronHPA) here, the KPA in
//! [`crate::autoscaler::kpa::adapter`], the HPA with CronHPA / KEDA cron in
//! [`crate::autoscaler::hpa::adapter`]. A research policy implements the same trait and runs through
//! [`crate::sim::AutoscalerMode::Custom`].
//!
//! Units: time is [`SimTime`] (integer ns); concurrency in requests, rates in requests per second.

use crate::autoscaler::cron::{CronAction, CronHpa};
use crate::ids::PodId;
use crate::observe::SecondRow;
use crate::request_path::stats::{Stat, StatsReport};
use crate::time::SimTime;
use crate::workload::pods::{Pod, ResourceModel};

/// What a scaler asks the loop to do. `None` fields leave things as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Write the deployment's replica count.
    pub replicas: Option<u32>,
    /// Put the activator in the path (`true`, Knative's SKS Proxy mode) or take it out (Serve mode).
    pub activator_in_path: Option<bool>,
    /// Call [`Scaler::on_wake`] at this time, replacing any wake-up asked for before.
    pub wake_at: Option<SimTime>,
}

/// The state at time 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartPlan {
    /// Pods the deployment has at time 0.
    pub replicas: u32,
    /// They are Ready at once (a running service) rather than cold-starting.
    pub ready_now: bool,
    pub activator_in_path: bool,
    pub wake_at: Option<SimTime>,
}

/// One ready pod's queue-proxy report for the second that just ended.
#[derive(Clone, Copy, Debug)]
pub struct PodSecond {
    pub pod: PodId,
    pub created: SimTime,
    pub report: StatsReport,
}

/// What a scaler sees on the 1 s tick.
pub struct SecondView<'a> {
    pub now: SimTime,
    /// Ready pods.
    pub ready: u32,
    /// The deployment's replica count (its spec, not what is running).
    pub replicas: u32,
    /// Requests sent during the second.
    pub arrivals: u64,
    /// Requests sent and not yet answered.
    pub in_flight: u64,
    /// One report per ready pod, in the ready set's order (slot order).
    pub queue_proxies: &'a [PodSecond],
    /// The activator's periodic report for the revision, if it has an entry.
    pub activator: Option<Stat>,
    /// Every pod slot (Gone ones included), for resource metrics; read, and scrape bookkeeping only.
    pub pods: &'a mut [Pod],
    pub resources: &'a ResourceModel,
}

/// An autoscaler in the loop. See the module docs for when each method is called.
pub trait Scaler: Send {
    /// The `autoscaler` value of `summary.json`.
    fn label(&self) -> &'static str;
    /// The state at time 0; `horizon` is the end of the run (wake-ups after it are never delivered).
    fn start(&mut self, horizon: SimTime) -> StartPlan;
    /// The state when the revision is created at `now` (a revision rolled out during the run); the
    /// default is [`Scaler::start`], for scalers whose start does not depend on the time.
    fn start_at(&mut self, now: SimTime, horizon: SimTime) -> StartPlan {
        let _ = now;
        self.start(horizon)
    }
    /// Whether a route references the revision (Knative's PodAutoscaler reachability); scalers without
    /// the notion ignore it.
    fn set_reachable(&mut self, _reachable: bool) {}
    /// Whether requests can wait in an activator when no pod is ready. Without one (the HPA), the ingress
    /// refuses requests (503) while the revision has no ready endpoint.
    fn has_activator(&self) -> bool {
        true
    }
    /// The 1 s tick.
    fn on_second(&mut self, view: &mut SecondView<'_>) -> Decision;
    /// The activator's out-of-period stat (its first request for the revision).
    fn on_activator_stat(&mut self, _now: SimTime, _stat: &Stat, _ready: u32) -> Decision {
        Decision::default()
    }
    /// A pod turned Ready; `ready` counts it.
    fn on_pod_ready(&mut self, _now: SimTime, _ready: u32) -> Decision {
        Decision::default()
    }
    /// The wake-up asked for in [`Decision::wake_at`].
    fn on_wake(&mut self, _now: SimTime, _ready: u32) -> Decision {
        Decision::default()
    }
    /// Fills this scaler's columns of the second's row (`scale_reason`, the KPA or HPA columns,
    /// `cron_fire`); called once per row, after [`Scaler::on_second`].
    fn columns(&mut self, _row: &mut SecondRow) {}
    /// Seconds spent in panic mode (KPA), for the summary.
    fn panic_seconds(&self) -> u64 {
        0
    }
    /// Whether the scaler is at rest: until one of its other callbacks ([`Scaler::on_activator_stat`],
    /// [`Scaler::on_pod_ready`], [`Scaler::on_wake`]) is called, every [`Scaler::on_second`] would change
    /// nothing (no state, no column of [`Scaler::columns`]) and decide nothing the loop has not already
    /// applied, whatever the time. Asked after each `on_second`; while it holds, a many-service run leaves
    /// the scaler out of the 1 s ticks (an idle service costs nothing per second). The default, `false`,
    /// keeps the scaler on every tick.
    fn quiescent(&self) -> bool {
        false
    }
    /// Cache hint for a pass over many services (see [`crate::engine::prefetch`]): asks for the lines of
    /// the state the tick's `on_second` reads through this scaler's own pointers (window buckets and the
    /// like). Called a service or two before the scaler's turn, once its own fields have been asked for
    /// (the caller asks for those from the `Box`'s address). Changes nothing; the default asks for nothing.
    fn prefetch_second_state(&self, now: SimTime) {
        let _ = now;
    }
}

/// A fixed replica count, optionally changed by a standalone CronHPA (no HPA: each job writes the
/// deployment's replicas directly).
pub struct FixedScaler {
    replicas: u32,
    cron: Option<CronHpa>,
    horizon: SimTime,
    fired: Vec<String>,
}

impl FixedScaler {
    pub fn new(replicas: u32, cron: Option<CronHpa>) -> Self {
        FixedScaler {
            replicas,
            cron,
            horizon: SimTime::MAX,
            fired: Vec::new(),
        }
    }

    fn next_fire(&self) -> Option<SimTime> {
        self.cron
            .as_ref()
            .and_then(|c| c.next_fire())
            .filter(|&t| t <= self.horizon)
    }
}

impl Scaler for FixedScaler {
    fn label(&self) -> &'static str {
        "fixed"
    }
    fn start(&mut self, horizon: SimTime) -> StartPlan {
        self.horizon = horizon;
        StartPlan {
            replicas: self.replicas,
            ready_now: true,
            activator_in_path: false,
            wake_at: self.next_fire(),
        }
    }
    fn on_second(&mut self, _view: &mut SecondView<'_>) -> Decision {
        Decision::default()
    }
    /// A fixed count never acts on the tick (its cron jobs are wake-ups).
    fn quiescent(&self) -> bool {
        true
    }
    fn on_wake(&mut self, now: SimTime, _ready: u32) -> Decision {
        let Some(cron) = self.cron.as_mut() else {
            return Decision::default();
        };
        let mut write = None;
        for firing in cron.fire_due(now) {
            match firing.action {
                CronAction::Skipped => self.fired.push(format!("{}(skipped)", firing.job_name)),
                CronAction::SetWorkloadReplicas(n) | CronAction::AdjustHpa(n) => {
                    self.fired.push(format!("{}={n}", firing.job_name));
                    write = Some(n.max(1) as u32);
                }
            }
        }
        Decision {
            replicas: write,
            activator_in_path: None,
            wake_at: self.next_fire(),
        }
    }
    fn columns(&mut self, row: &mut SecondRow) {
        if !self.fired.is_empty() {
            row.cron_fire = Some(self.fired.join(";"));
            self.fired.clear();
        }
    }
}
