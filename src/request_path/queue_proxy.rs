//! The queue-proxy in each pod: its breaker (containerConcurrency slots plus a queue of 10 x
//! containerConcurrency; a full queue answers 503), its request statistics (queued requests count as in
//! flight; kept only when the revision's scaler reads them, which a fixed replica count never does), the
//! hand-off to the container's service discipline (fixed slots with a sampled service time, or a shared
//! rate: processor sharing and GPU batching with virtual-time finish tags), and timeouts of queued
//! requests (504 at the revision timeout).
//!
//! Timeouts use one timer per pod queue, armed at the earliest deadline among its waiting requests, not
//! one event per queued request: nearly every queued request leaves the queue long before its 300 s
//! timeout, and a cancelled timer per request filled the event heap with dead entries (its depth, hence
//! every event's cost, and memory grew with the request rate). The deadlines of one queue are not always
//! in queue order (a request routed through the activator, or preempted back to the front, may have an
//! earlier one than requests ahead of it), so the timer looks for the earliest one; the queue holds at
//! most 10 x containerConcurrency requests. The timer is cancelled when the queue empties, so it fires
//! only when a deadline passes or the queue has stayed non-empty past the deadline it was armed for.
//!
//! Units: time in ns; shared-rate work in seconds of single-request service at full speed.
//!
//! A request's service time (or shared-rate work) is drawn from its own draw key (`engine::rng`), so it is
//! the same whatever pod it lands on and whenever it starts (common random numbers across configurations).
//!
//! Assumption: a request whose sampled service would end after its deadline is answered 504 at the
//! deadline (the revision timeout cuts it), not at the end of its service.

use crate::engine::{Draw, RequestRng};
use crate::ids::{PodId, RequestId, RevisionId};
use crate::request_path::stats::RequestStats;
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime};
use crate::workload::discipline::Tag;
use crate::workload::pods::PodState;
use std::cmp::Reverse;

/// The queue-proxy counts a request in, when its revision keeps the statistics (`Revision::pod_stats`).
/// Always inlined: the test is on every request's path, and was a call there.
#[inline(always)]
fn stats_in(stats: &mut RequestStats, now: SimTime, proxied: bool, kept: bool) {
    if !kept {
        return;
    }
    if proxied {
        stats.proxied_in(now);
    } else {
        stats.request_in(now);
    }
}

/// The queue-proxy counts a request out (see [`stats_in`]).
#[inline(always)]
pub(crate) fn stats_out(stats: &mut RequestStats, now: SimTime, proxied: bool, kept: bool) {
    if !kept {
        return;
    }
    if proxied {
        stats.proxied_out(now);
    } else {
        stats.request_out(now);
    }
}

/// Request `r` takes a slot of fixed-slot pod `pod` of `rev` at `now`: its service time is drawn (or
/// taken from its trace) and cut at its deadline. Returns when its `ServiceDone` is due. A function of
/// the parts it touches, so that [`Sim::admit_to_pod`] can call it with the revision, the pod and the
/// request it already holds.
#[inline(always)]
fn begin_fixed_service(
    now: SimTime,
    rev: &mut Revision,
    pod: u32,
    r: &mut Request,
    max_pod_concurrency: &mut u32,
) -> SimTime {
    let p = &mut rev.pods[pod as usize];
    p.integrate_usage(now, &rev.resources);
    p.executing += 1;
    *max_pod_concurrency = (*max_pod_concurrency).max(p.executing);
    r.stage = Stage::Executing;
    let service = match r.attrs.service_time {
        Some(s) => s,
        None => rev
            .service_time
            .sample(&mut RequestRng::new(r.draw_key, Draw::Service)),
    };
    let done = now + service;
    if done > r.deadline {
        r.status = 504;
        r.deadline
    } else {
        r.status = 200;
        done
    }
}

impl Sim {
    /// A request reaches the queue-proxy of `pod` (of revision `rv`): it runs at once if a slot is free,
    /// waits in the breaker's queue if there is room, and is refused with 503 otherwise. Inlined, with
    /// [`Sim::start_service`], into its callers: it is on every request's path, and as calls the two cost
    /// their prologues and a second look-up of the revision, the pod and the request.
    #[inline(always)]
    pub(crate) fn admit_to_pod(&mut self, now: SimTime, id: RequestId, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        let r = &mut self.requests[id.index()];
        r.pod = Some(PodId::new(pod, p.generation));
        let via_activator = r.via_activator;
        // Only a KV cache pod can refuse a request a free slot; every other pod skips the call (it is on
        // every request's path).
        if p.rate.kv.is_none() && !rev.shared_rate && (rev.slots == 0 || p.executing < rev.slots) {
            // A free slot with fixed-slot service (the usual case): the service starts with the
            // revision, the pod and the request already in hand.
            stats_in(&mut p.stats, now, via_activator, rev.pod_stats);
            let done = begin_fixed_service(now, rev, pod, r, &mut self.max_pod_concurrency);
            self.at(done, Event::ServiceDone(id));
            return;
        }
        let slots = rev.slots;
        let engine_ok = p.rate.kv.is_none() || self.engine_admits(now, id, rv, pod, true);
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        // Queue-proxy statistics count the request before the breaker, so queued requests count too.
        stats_in(&mut p.stats, now, via_activator, rev.pod_stats);
        if (slots == 0 || p.executing < slots) && engine_ok {
            self.start_service(now, id, rv, pod);
        } else if p.queued < rev.queue_limit {
            p.queue.push_back(id);
            p.queued += 1;
            let r = &mut self.requests[id.index()];
            r.stage = Stage::PodQueue;
            let deadline = r.deadline;
            self.arm_queue_timer(rv, pod, deadline);
        } else {
            stats_out(&mut p.stats, now, via_activator, rev.pod_stats);
            if via_activator {
                self.activator_release(id, rv, pod);
            }
            self.counts.rejected += 1;
            self.revisions[rv.index()].stats.counts.rejected += 1;
            self.respond(now, id, 503);
        }
    }

    #[inline(always)]
    pub(crate) fn start_service(&mut self, now: SimTime, id: RequestId, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        if rev.shared_rate {
            self.start_shared(now, id, rv, pod);
            return;
        }
        let r = &mut self.requests[id.index()];
        let done = begin_fixed_service(now, rev, pod, r, &mut self.max_pod_concurrency);
        self.at(done, Event::ServiceDone(id));
    }

    /// A request's service ended (or its revision timeout cut it): the pod frees its slot, answers, and
    /// takes the next waiting request. Always inlined: with the answer and the client side inlined
    /// into it, the end of every request is one function.
    #[inline(always)]
    pub(crate) fn service_done(&mut self, now: SimTime, id: RequestId) {
        // The fields it needs, not a copy of the whole record (this runs for every request).
        let r = &self.requests[id.index()];
        if r.generation != id.generation() || r.stage != Stage::Executing {
            // Killed when its pod's grace period ran out (and the slot possibly reused since).
            return;
        }
        let Some(pod) = r.pod.map(|p| p.slot()) else {
            return;
        };
        let (status, rv, via_activator) = (r.status, r.revision, r.via_activator);
        if status == 200 && self.calls.is_some() && self.advance_call(now, id) {
            return;
        }
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        p.integrate_usage(now, &rev.resources);
        p.executing -= 1;
        stats_out(&mut p.stats, now, via_activator, rev.pod_stats);
        if via_activator {
            self.activator_release(id, rv, pod);
        }
        if status == 504 && !self.links.get(id).propagated() {
            self.counts.timed_out += 1;
            self.revisions[rv.index()].stats.counts.timed_out += 1;
        }
        self.answer(now, id, status);
        // Most pods have nobody waiting: no call for an empty queue.
        if !self.revisions[rv.index()].pods[pod as usize]
            .queue
            .is_empty()
        {
            self.pull_from_pod_queue(now, rv, pod);
        }
        self.after_pod_freed(now, rv, pod);
    }

    /// A request joins a shared-rate pod: the pod's virtual clock advances, the request's finish tag is
    /// pushed, and the pod's next-completion event moves.
    pub(crate) fn start_shared(&mut self, now: SimTime, id: RequestId, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        if rev.pods[pod as usize].rate.kv.is_some()
            && crate::workload::engine::has_tokens(&self.requests[id.index()].attrs)
        {
            self.start_on_engine(now, id, rv, pod);
            return;
        }
        let work = {
            let r = &self.requests[id.index()];
            let rng = &mut RequestRng::new(r.draw_key, Draw::Service);
            rev.service.work_secs(&r.attrs, &rev.service_time, rng)
        };
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Executing;
        r.status = 200;
        let p = &mut rev.pods[pod as usize];
        p.integrate_usage(now, &rev.resources);
        p.rate.advance(now);
        p.executing += 1;
        self.max_pod_concurrency = self.max_pod_concurrency.max(p.executing);
        let tag = p.rate.vtime + work;
        p.rate.tags.push(Reverse(Tag(tag, id)));
        self.reschedule_shared(now, rv, pod);
    }

    /// Recomputes the pod's speed for its running count and moves its next-completion event.
    pub(crate) fn reschedule_shared(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        p.rate.speed = rev.service.speed(p.executing, &rev.resources);
        if let Some(ev) = p.rate.next.take() {
            self.queue.cancel(ev);
        }
        if let Some(secs) = p.rate.secs_to_next() {
            // Round up so the virtual clock has reached the tag when the event fires.
            let at = now + SimDuration((secs * 1e9).ceil() as u64);
            let id = rev.pod_ref(pod);
            let ev = self.at_cancellable(at, Event::PodNextDone(id));
            self.rev(rv).pods[pod as usize].rate.next = Some(ev);
        }
    }

    /// The earliest request(s) on a shared-rate pod finished.
    pub(crate) fn shared_done(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        {
            let p = &mut self.rev(rv).pods[pod as usize];
            p.rate.next = None;
            p.rate.advance(now);
        }
        self.take_first_tokens(rv, pod);
        loop {
            let rev = &mut self.revisions[rv.index()];
            let p = &mut rev.pods[pod as usize];
            let Some(first) = p.rate.first() else { break };
            // Tags within a nanosecond of work count as done (the event time was rounded up).
            if first.0 > p.rate.vtime + 1e-9 {
                break;
            }
            p.rate.tags.pop();
            let id = first.1;
            let r = self.requests[id.index()];
            if r.generation != id.generation()
                || r.stage != Stage::Executing
                || r.revision != rv
                || r.pod.map(|p| p.slot()) != Some(pod)
            {
                continue;
            }
            p.integrate_usage(now, &rev.resources);
            p.executing -= 1;
            if let Some(kv) = p.rate.kv.as_mut() {
                kv.release(id);
            }
            stats_out(&mut p.stats, now, r.via_activator, rev.pod_stats);
            if r.via_activator {
                self.activator_release(id, rv, pod);
            }
            let status = if now > r.deadline {
                self.counts.timed_out += 1;
                self.revisions[rv.index()].stats.counts.timed_out += 1;
                504
            } else {
                200
            };
            self.respond(now, id, status);
        }
        // The pod's event also stands for its KV cache filling up; after a preemption nothing is
        // admitted in the same instant.
        if !self.preempt_on_overflow(now, rv, pod) {
            self.pull_from_pod_queue(now, rv, pod);
        }
        self.reschedule_shared(now, rv, pod);
        self.after_pod_freed(now, rv, pod);
    }

    /// Moves requests from the pod's breaker queue into free slots, skipping entries that timed out.
    pub(crate) fn pull_from_pod_queue(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let slots = self.rev(rv).slots;
        loop {
            let p = &mut self.revisions[rv.index()].pods[pod as usize];
            if slots > 0 && p.executing >= slots {
                return;
            }
            if p.rate.kv.is_some() {
                // FIFO: a live head that does not fit the KV cache holds the queue.
                let Some(&head) = p.queue.front() else {
                    return;
                };
                let r = &self.requests[head.index()];
                if r.generation == head.generation()
                    && r.stage == Stage::PodQueue
                    && !self.engine_admits(now, head, rv, pod, false)
                {
                    return;
                }
            }
            let p = &mut self.revisions[rv.index()].pods[pod as usize];
            let Some(next) = p.queue.pop_front() else {
                return;
            };
            let r = &self.requests[next.index()];
            if r.generation != next.generation() || r.stage != Stage::PodQueue {
                continue;
            }
            p.queued -= 1;
            // While requests wait the queue's timer stays (when it fires it finds this one gone and
            // re-arms); once none does it goes, so a queue that keeps emptying costs one cancelled timer
            // per busy spell, not one per request.
            if p.queued == 0 {
                if let Some((_, ev)) = p.queue_timer.take() {
                    self.queue.cancel(ev);
                }
            }
            self.start_service(now, next, rv, pod);
        }
    }

    /// After a request left `pod`: a draining pod that became idle goes, and the activator's queue may
    /// move on. Always inlined: it follows every response, and as a call it cost more than its tests.
    #[inline(always)]
    pub(crate) fn after_pod_freed(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        // After most responses neither applies: two tests here, and the work (with its calls) out of
        // line.
        let rev = &self.revisions[rv.index()];
        if rev.pods[pod as usize].state == PodState::Terminating || rev.activator.queued() > 0 {
            self.after_pod_freed_work(now, rv, pod);
        }
    }

    #[inline(never)]
    fn after_pod_freed_work(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let p = &self.revisions[rv.index()].pods[pod as usize];
        if p.state == PodState::Terminating && p.idle() && now >= p.drain_until {
            self.pod_gone(now, rv, pod);
        }
        // Knative's throttler hands a freed slot to a waiting request whatever the SKS mode: requests
        // already queued at the activator keep draining after the activator leaves the path.
        if self.rev(rv).activator.queued() > 0 {
            self.dispatch_from_activator(now, rv);
        }
    }

    /// Makes sure pod `pod`'s queue timer fires no later than `deadline` (a request with that deadline
    /// joined its queue). A timer armed later is cancelled and replaced.
    #[inline]
    pub(crate) fn arm_queue_timer(&mut self, rv: RevisionId, pod: u32, deadline: SimTime) {
        // Most requests join a queue whose timer is already due no later (deadlines mostly grow): one
        // test here, the rest out of line.
        if let Some((at, _)) = self.revisions[rv.index()].pods[pod as usize].queue_timer {
            if at <= deadline {
                return;
            }
        }
        self.rearm_queue_timer(rv, pod, deadline);
    }

    #[inline(never)]
    fn rearm_queue_timer(&mut self, rv: RevisionId, pod: u32, deadline: SimTime) {
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        if let Some((_, ev)) = p.queue_timer {
            self.queue.cancel(ev);
        }
        let id = rev.pod_ref(pod);
        // As in `Sim::at`: after the end (the last partial row) nothing runs, so the time only must not
        // be in the queue's past.
        let at = if self.queue.now() > self.end {
            deadline.max(self.queue.now())
        } else {
            deadline
        };
        // The timer heap: most of these timers are cancelled when the queue empties.
        let ev = self
            .queue
            .schedule_timer(at, Event::PodQueueTimeout(id))
            .expect("queue timers are never scheduled into the past");
        self.rev(rv).pods[pod as usize].queue_timer = Some((deadline, ev));
    }

    /// Pod `pod`'s queue timer: every waiting request whose revision timeout has passed is answered 504,
    /// one at a time in queue order (each may make room the activator fills at once), then the timer is
    /// re-armed at the earliest deadline still waiting.
    pub(crate) fn pod_queue_timeout(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        self.rev(rv).pods[pod as usize].queue_timer = None;
        while let Some(id) = self.take_due(now, rv, pod) {
            self.queue_timeout(now, id, rv, pod);
        }
        let p = &self.revisions[rv.index()].pods[pod as usize];
        let next = p
            .queue
            .iter()
            .filter(|id| self.is_waiting(**id))
            .map(|id| self.requests[id.index()].deadline)
            .min();
        if let Some(deadline) = next {
            self.arm_queue_timer(rv, pod, deadline);
        }
    }

    /// Whether queue entry `id` is a request still waiting in a pod's queue (not a timed-out, killed or
    /// reused slot).
    #[inline]
    fn is_waiting(&self, id: RequestId) -> bool {
        let r = &self.requests[id.index()];
        r.generation == id.generation() && r.stage == Stage::PodQueue
    }

    /// Removes and returns the first waiting request of the pod's queue whose deadline has passed.
    fn take_due(&mut self, now: SimTime, rv: RevisionId, pod: u32) -> Option<RequestId> {
        let p = &self.revisions[rv.index()].pods[pod as usize];
        let i = p
            .queue
            .iter()
            .position(|id| self.is_waiting(*id) && self.requests[id.index()].deadline <= now)?;
        self.revisions[rv.index()].pods[pod as usize]
            .queue
            .remove(i)
    }

    /// A request's revision timeout passed while it waited in `pod`'s breaker queue: 504.
    fn queue_timeout(&mut self, now: SimTime, id: RequestId, rv: RevisionId, pod: u32) {
        let r = self.requests[id.index()];
        let rev = self.rev(rv);
        let p = &mut rev.pods[pod as usize];
        p.queued -= 1;
        stats_out(&mut p.stats, now, r.via_activator, rev.pod_stats);
        if r.via_activator {
            self.activator_release(id, rv, pod);
        }
        self.counts.timed_out += 1;
        self.revisions[rv.index()].stats.counts.timed_out += 1;
        self.respond(now, id, 504);
        self.after_pod_freed(now, rv, pod);
    }
}
