//! The activator in the loop: requests join the revision's activator queue (FIFO, no cap), go to pods
//! with free capacity as the load-balancing policy picks them, and time out with 504 at the revision
//! timeout (one timer for the queue's head). The first request of an idle activator pokes the scaler
//! (Knative's scale-from-zero stat). The queue and policies themselves are in
//! [`super::activator::Activator`].
//!
//! Units: time in ns; capacity in requests (containerConcurrency per pod, unlimited when 0).
//!
//! Simplification: one activator stands for the revision's activator fleet (same aggregate capacity).

use crate::ids::{RequestId, RevisionId};
use crate::sim::world::*;
use crate::time::SimTime;
use crate::workload::pods::PodState;

impl Sim {
    /// A request joins revision `rv`'s activator queue and goes on to a pod at once if one has capacity.
    pub(crate) fn enqueue_at_activator(&mut self, now: SimTime, rv: RevisionId, id: RequestId) {
        // No queue cap: Knative's revision breaker holds 10,000 + MaxInt32 waiting requests (and with
        // containerConcurrency 0 there is no breaker at all), which no simulated load reaches before the
        // revision timeout answers the oldest ones.
        let rev = self.rev(rv);
        if let Some(first) = rev.activator.stats.request_in(now) {
            // A new activator entry reports at once (the scale-from-zero poke).
            let d = rev
                .scaler
                .on_activator_stat(now, &first, rev.ready.len() as u32);
            self.apply(now, rv, d);
        }
        let r = &mut self.requests[id.index()];
        r.via_activator = true;
        r.stage = Stage::ActivatorQueue;
        self.rev(rv).activator.push(id);
        self.dispatch_from_activator(now, rv);
        let rev = &mut self.revisions[rv.index()];
        let r = &mut self.requests[id.index()];
        if r.stage == Stage::ActivatorQueue {
            // It could not go to a pod at once. With no pod ready it waits for a cold start (scale from
            // zero); otherwise it waits for a slot on a busy pod, which is queueing, not a cold start.
            r.cold = rev.ready.is_empty();
            if rev.activator.arm_timer() {
                let head = rev.activator.front().expect("this request is waiting");
                let deadline = self.requests[head.index()].deadline;
                self.at(deadline, Event::ActivatorTimeout(rv));
            }
        }
    }

    /// Sends queued requests to pods with free capacity, in FIFO order, until none has any.
    pub(crate) fn dispatch_from_activator(&mut self, now: SimTime, rv: RevisionId) {
        loop {
            let rev = &mut self.revisions[rv.index()];
            let Some(front) = rev.activator.front() else {
                break;
            };
            debug_assert_eq!(self.requests[front.index()].stage, Stage::ActivatorQueue);
            let pods = &rev.pods;
            let Some(pod) = rev.activator.pick(
                &rev.ready,
                |p| pods[p as usize].activator_in_flight,
                &mut self.rng.lb,
            ) else {
                break;
            };
            // The queue's timer stays: when it fires it finds the new head not yet due and re-arms.
            rev.activator.pop_front();
            let p = &mut rev.pods[pod as usize];
            p.activator_in_flight += 1;
            rev.activator.dispatched(pod, p.activator_in_flight);
            self.admit_to_pod(now, front, rv, pod);
        }
    }

    /// A request the activator sent to `pod` was answered: the pod's activator in-flight count drops.
    pub(crate) fn activator_release(&mut self, rv: RevisionId, pod: u32) {
        let rev = self.rev(rv);
        let p = &mut rev.pods[pod as usize];
        p.activator_in_flight = p.activator_in_flight.saturating_sub(1);
        rev.activator
            .released(pod, p.activator_in_flight, p.state == PodState::Ready);
    }

    /// The activator queue's timer: answers every waiting request whose revision timeout has passed with
    /// the activator's 504, then re-arms for the new head. A FIFO queue with one constant timeout has
    /// non-decreasing deadlines, so one timer per queue replaces one cancelled timer per request.
    pub(crate) fn activator_timeout(&mut self, now: SimTime, rv: RevisionId) {
        self.rev(rv).activator.timer_fired();
        while let Some(front) = self.rev(rv).activator.front() {
            let deadline = self.requests[front.index()].deadline;
            if deadline > now {
                self.rev(rv).activator.arm_timer();
                self.at(deadline, Event::ActivatorTimeout(rv));
                return;
            }
            self.rev(rv).activator.pop_front();
            self.counts.timed_out += 1;
            self.revisions[rv.index()].stats.counts.timed_out += 1;
            self.respond(now, front, 504);
        }
    }
}
