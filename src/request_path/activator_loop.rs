//! The activators in the loop: a request goes to one of the revision's published activators (round
//! robin), joins that activator's queue (FIFO, no cap), goes to a pod of that activator's slice with free
//! capacity as its load-balancing policy picks it, and times out with 504 at the revision timeout (one
//! timer for each queue's head). The first request of an idle activator pokes the scaler (Knative's
//! scale-from-zero stat). The fleet, its slices and the policies are in
//! [`super::activator_fleet::ActivatorFleet`] and [`super::activator::Activator`].
//!
//! Units: time in ns; capacity in requests (containerConcurrency per pod and per activator, unlimited
//! when 0).

use crate::ids::{RequestId, RevisionId};
use crate::request_path::stats::Stat;
use crate::sim::world::*;
use crate::time::SimTime;

impl Sim {
    /// A request joins one of revision `rv`'s activators and goes on to a pod at once if one of that
    /// activator's pods has capacity.
    pub(crate) fn enqueue_at_activator(&mut self, now: SimTime, rv: RevisionId, id: RequestId) {
        // No queue cap: Knative's revision breaker holds 10,000 + MaxInt32 waiting requests (and with
        // containerConcurrency 0 there is no breaker at all), which no simulated load reaches before the
        // revision timeout answers the oldest ones.
        let rev = self.rev(rv);
        let a = rev.activator.route();
        if let Some(first) = rev.activator.request_in(a, now) {
            self.poke_scaler(now, rv, &first);
        }
        let r = &mut self.requests[id.index()];
        r.via_activator = true;
        r.activator = a as u16;
        r.stage = Stage::ActivatorQueue;
        let rev = &mut self.revisions[rv.index()];
        if rev.activator.queued_at(a) == 0 {
            // Nobody waits ahead of it: it goes to a pod with room at once if there is one, as queueing
            // and dispatching it would, without the queue's push and pop on every request.
            match rev.activator.take_pod(a, &mut rev.rng.lb) {
                Some(pod) => return self.admit_to_pod(now, id, rv, pod),
                None => rev.activator.push(a, id),
            }
        } else {
            rev.activator.push(a, id);
            self.dispatch_member(now, rv, a);
        }
        let rev = &mut self.revisions[rv.index()];
        let r = &mut self.requests[id.index()];
        if r.stage == Stage::ActivatorQueue {
            // It could not go to a pod at once. With no pod to route to it waits for a cold start (scale
            // from zero); otherwise it waits for a slot on a busy pod, which is queueing, not a cold start.
            r.cold = rev.activator.routable().is_empty();
            if rev.activator.arm_timer(a) {
                self.arm_activator_timer(rv, a);
            }
        }
    }

    /// A new activator entry reports at once (Knative's scale-from-zero poke). Rare (once per idle spell
    /// of an activator), so kept out of line: the per-request path it sits on is the hottest in a KPA run.
    #[cold]
    #[inline(never)]
    fn poke_scaler(&mut self, now: SimTime, rv: RevisionId, first: &Stat) {
        let rev = self.rev(rv);
        let d = rev
            .scaler
            .on_activator_stat(now, first, rev.ready.len() as u32);
        self.apply(now, rv, d);
    }

    /// Schedules activator `a`'s queue timer for its head (the queue was empty or its timer had fired).
    #[inline(never)]
    fn arm_activator_timer(&mut self, rv: RevisionId, a: usize) {
        let head = self
            .rev(rv)
            .activator
            .front(a)
            .expect("this request is waiting");
        let deadline = self.requests[head.index()].deadline;
        self.at(deadline, Event::ActivatorTimeout(rv, a as u16));
    }

    /// Every activator of the revision with waiting requests sends them to its pods with free capacity,
    /// lowest activator first.
    pub(crate) fn dispatch_from_activator(&mut self, now: SimTime, rv: RevisionId) {
        let replicas = self.rev(rv).activator.replicas();
        if replicas == 1 {
            // One activator pod (the default): its queue is the only one.
            self.dispatch_member(now, rv, 0);
            return;
        }
        self.dispatch_each_member(now, rv, replicas);
    }

    /// Several activator pods: each with waiting requests dispatches in turn, lowest first.
    #[inline(never)]
    fn dispatch_each_member(&mut self, now: SimTime, rv: RevisionId, replicas: usize) {
        for a in 0..replicas {
            if self.rev(rv).activator.queued_at(a) > 0 {
                self.dispatch_member(now, rv, a);
            }
        }
    }

    /// Activator `a` sends queued requests to its pods with free capacity, in FIFO order, until none has
    /// any.
    fn dispatch_member(&mut self, now: SimTime, rv: RevisionId, a: usize) {
        // The queue's timer stays: when it fires it finds the new head not yet due and re-arms.
        loop {
            let rev = &mut self.revisions[rv.index()];
            // Most dispatches end with the queue empty: no call to find that out.
            if rev.activator.queued() == 0 {
                break;
            }
            let Some((front, pod)) = rev.activator.dispatch_next(a, &mut rev.rng.lb) else {
                break;
            };
            debug_assert_eq!(self.requests[front.index()].stage, Stage::ActivatorQueue);
            self.admit_to_pod(now, front, rv, pod);
        }
    }

    /// A request an activator sent to `pod` was answered: that activator's in-flight count on the pod
    /// drops.
    #[inline]
    pub(crate) fn activator_release(&mut self, id: RequestId, rv: RevisionId, pod: u32) {
        let a = self.requests[id.index()].activator as usize;
        self.rev(rv).activator.released(a, pod);
    }

    /// Activator `a`'s queue timer: answers every waiting request whose revision timeout has passed with
    /// the activator's 504, then re-arms for the new head. A FIFO queue with one constant timeout has
    /// non-decreasing deadlines, so one timer per queue replaces one cancelled timer per request.
    pub(crate) fn activator_timeout(&mut self, now: SimTime, rv: RevisionId, a: usize) {
        self.rev(rv).activator.timer_fired(a);
        while let Some(front) = self.rev(rv).activator.front(a) {
            let deadline = self.requests[front.index()].deadline;
            if deadline > now {
                self.rev(rv).activator.arm_timer(a);
                self.at(deadline, Event::ActivatorTimeout(rv, a as u16));
                return;
            }
            self.rev(rv).activator.pop_front(a);
            self.counts.timed_out += 1;
            self.revisions[rv.index()].stats.counts.timed_out += 1;
            self.respond(now, front, 504);
        }
    }
}
