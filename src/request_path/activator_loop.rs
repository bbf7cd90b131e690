//! ACTLOOP_DOC

//! The event loop and the request path. See the parent module docs for the model and its assumptions.

use crate::ids::RequestId;
use crate::sim::world::*;
use crate::time::SimTime;
use crate::workload::pods::PodState;

impl Sim {
    pub(crate) fn enqueue_at_activator(&mut self, now: SimTime, id: RequestId) {
        // No queue cap: Knative's revision breaker holds 10,000 + MaxInt32 waiting requests (and with
        // containerConcurrency 0 there is no breaker at all), which no simulated load reaches before the
        // revision timeout answers the oldest ones.
        if let Some(first) = self.activator.stats.request_in(now) {
            // A new activator entry reports at once (the scale-from-zero poke).
            let d = self
                .scaler
                .on_activator_stat(now, &first, self.ready.len() as u32);
            self.apply(now, d);
        }
        let r = &mut self.requests[id.index()];
        r.via_activator = true;
        r.stage = Stage::ActivatorQueue;
        self.activator.push(id);
        self.dispatch_from_activator(now);
        let r = &mut self.requests[id.index()];
        if r.stage == Stage::ActivatorQueue {
            // It could not go to a pod at once. With no pod ready it waits for a cold start (scale from
            // zero); otherwise it waits for a slot on a busy pod, which is queueing, not a cold start.
            r.cold = self.ready.is_empty();
            if self.activator.arm_timer() {
                let head = self.activator.front().expect("this request is waiting");
                let deadline = self.requests[head.index()].deadline;
                self.at(deadline, Event::ActivatorTimeout);
            }
        }
    }

    pub(crate) fn dispatch_from_activator(&mut self, now: SimTime) {
        while let Some(front) = self.activator.front() {
            debug_assert_eq!(self.requests[front.index()].stage, Stage::ActivatorQueue);
            let pods = &self.pods;
            let Some(pod) = self.activator.pick(
                &self.ready,
                |p| pods[p as usize].activator_in_flight,
                &mut self.rng.lb,
            ) else {
                break;
            };
            // The queue's timer stays: when it fires it finds the new head not yet due and re-arms.
            self.activator.pop_front();
            let p = &mut self.pods[pod as usize];
            p.activator_in_flight += 1;
            self.activator.dispatched(pod, p.activator_in_flight);
            self.admit_to_pod(now, front, pod);
        }
    }

    pub(crate) fn activator_release(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.activator_in_flight = p.activator_in_flight.saturating_sub(1);
        self.activator
            .released(pod, p.activator_in_flight, p.state == PodState::Ready);
    }

    /// The activator queue's timer: answers every waiting request whose revision timeout has passed with
    /// the activator's 504, then re-arms for the new head. A FIFO queue with one constant timeout has
    /// non-decreasing deadlines, so one timer per queue replaces one cancelled timer per request.
    pub(crate) fn activator_timeout(&mut self, now: SimTime) {
        self.activator.timer_fired();
        while let Some(front) = self.activator.front() {
            let deadline = self.requests[front.index()].deadline;
            if deadline > now {
                self.activator.arm_timer();
                self.at(deadline, Event::ActivatorTimeout);
                return;
            }
            self.activator.pop_front();
            self.counts.timed_out += 1;
            self.respond(now, front, 504);
        }
    }
}
