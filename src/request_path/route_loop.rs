//! The route in the event loop: revisions created during the run, readiness reported to the route,
//! rollout steps, and the reachability the route implies handed to every revision's scaler (see
//! [`super::routes`] for the model).
//!
//! Units: time in ns ([`SimTime`]).

use super::routes::{Route, RouteSpec};
use crate::engine::{RngStreams, Stream};
use crate::ids::RevisionId;
use crate::sim::config::SimError;
use crate::sim::world::*;
use crate::time::SimTime;

/// Salt of the route's random stream (an indexed load-balancing stream no other part draws from).
const ROUTE_STREAM_INDEX: u64 = 0x0072_6f75_7465;

/// The route and the rollout step the event queue holds for it.
pub(crate) struct RouteState {
    pub(crate) route: Route,
    /// Time of the pending [`Event::RouteStep`].
    scheduled: Option<SimTime>,
    /// Whether each revision has been created (the first exists from time 0).
    created: Vec<bool>,
}

impl RouteState {
    pub(crate) fn new(spec: RouteSpec, seed: u64) -> Self {
        let n = spec.revisions.len();
        let mut created = vec![false; n];
        created[0] = true;
        RouteState {
            route: Route::new(
                spec,
                RngStreams::new(seed).indexed(Stream::LoadBalancing, ROUTE_STREAM_INDEX),
            ),
            scheduled: None,
            created,
        }
    }
}

impl Sim {
    /// Whether revision `i` exists yet (always, without a route).
    pub(crate) fn revision_exists(&self, i: usize) -> bool {
        self.route.as_ref().is_none_or(|s| s.created[i])
    }

    /// At time 0: schedules the creation of every revision created later; returns the revisions to start
    /// now (all of them without a route).
    pub(crate) fn schedule_revisions(&mut self) -> Vec<usize> {
        let Some(state) = self.route.as_mut() else {
            return (0..self.revisions.len()).collect();
        };
        let mut now = Vec::new();
        let mut later = Vec::new();
        let plans: Vec<SimTime> = state
            .route
            .spec()
            .revisions
            .iter()
            .map(|r| r.created_at)
            .collect();
        for (i, at) in plans.into_iter().enumerate() {
            if i == 0 || at == SimTime::ZERO {
                state.created[i] = true;
                now.push(i);
            } else {
                later.push((at, self.revisions[i].id));
            }
        }
        for (at, rv) in later {
            self.at(at, Event::RevisionCreated(rv));
        }
        now
    }

    /// Tells the route that revision `i` started at time 0 with `initial` pods to wait for.
    pub(crate) fn revision_started(&mut self, i: usize, initial: u32) {
        if i == 0 {
            return; // the running service: Ready from the start
        }
        if let Some(state) = self.route.as_mut() {
            if state.route.created(SimTime::ZERO, i, initial) {
                self.route_changed(SimTime::ZERO);
            }
        }
    }

    /// A revision's template is applied: its scaler starts and its initial pods cold-start.
    pub(crate) fn create_revision(&mut self, now: SimTime, rv: RevisionId) -> Result<(), SimError> {
        let end = self.end;
        let plan = self.rev(rv).scaler.start_at(now, end);
        self.check_replicas(now, rv, plan.replicas)?;
        for _ in 0..plan.replicas {
            self.create_pod(now, rv, false);
        }
        let rev = self.rev(rv);
        rev.desired = plan.replicas;
        rev.activator.in_path = plan.activator_in_path;
        self.schedule_wake(rv, plan.wake_at);
        if let Some(state) = self.route.as_mut() {
            state.created[rv.index()] = true;
            if state.route.created(now, rv.index(), plan.replicas) {
                self.route_changed(now);
            } else {
                self.update_reachability();
            }
        }
        Ok(())
    }

    /// A pod of `rv` turned Ready.
    pub(crate) fn route_pod_ready(&mut self, now: SimTime, rv: RevisionId) {
        let ready = self.revisions[rv.index()].ready.len() as u32;
        if let Some(state) = self.route.as_mut() {
            if state.route.pod_ready(now, rv.index(), ready) {
                self.route_changed(now);
            }
        }
    }

    /// The rollout step due now.
    pub(crate) fn route_step(&mut self, now: SimTime) {
        if let Some(state) = self.route.as_mut() {
            state.scheduled = None;
            state.route.step(now);
            self.route_changed(now);
        }
    }

    /// After the percentages changed: reachability to the scalers, and the next step in the queue.
    fn route_changed(&mut self, now: SimTime) {
        self.update_reachability();
        let Some(state) = self.route.as_mut() else {
            return;
        };
        let next = state.route.next_change();
        if let Some(at) = next.filter(|&t| state.scheduled != Some(t)) {
            state.scheduled = Some(at);
            self.at(at.max(now), Event::RouteStep);
        }
    }

    pub(crate) fn update_reachability(&mut self) {
        let Some(state) = self.route.as_ref() else {
            return;
        };
        for (i, rev) in self.revisions.iter_mut().enumerate() {
            if state.created[i] {
                rev.scaler.set_reachable(state.route.reachable(i));
            }
        }
    }
}
