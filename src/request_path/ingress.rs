//! The ingress and the client side of the request path: a client sends, the request crosses client,
//! ingress and network (one-way delays, sampled on the way in and again on the way out, from the
//! request's draw key), the ingress
//! routes it to a revision and then to the activator or straight to a ready pod (round robin), and the
//! response travels back to the client, who may send again (closed loop).
//!
//! Units: delays in ns; latency is measured at the client, from send to response.
//!
//! Assumptions: without a route (`super::routes`) every request of the world's source goes to revision 0;
//! without an activator (the
//! HPA) a revision with no ready pod refuses requests with 503, as a Service without endpoints does.

use crate::engine::{Draw, DrawKey, RequestRng};
use crate::ids::{RequestId, RevisionId};
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime};
use crate::traffic::RequestAttrs;

/// A request just sent (see [`Sim::send_to`]): when it reaches the ingress, and whether its trip is left to
/// [`Sim::reach_ingress`] instead of already queued.
#[must_use = "a sent request must be handed to `Sim::reach_ingress`"]
pub(crate) struct Sent {
    id: RequestId,
    at: SimTime,
    next_up: bool,
}

impl Sim {
    /// The client, ingress and network delays of one way, drawn from the request's key.
    #[inline(always)]
    pub(crate) fn one_way_delay(&self, rv: RevisionId, key: DrawKey, way: Draw) -> SimDuration {
        let rev = &self.revisions[rv.index()];
        // All three constant (the default zeros): their sum, with no generator to build.
        if let Some(fixed) = rev.request_path_fixed {
            return fixed;
        }
        self.sampled_delay(rv, key, way)
    }

    #[inline(never)]
    fn sampled_delay(&self, rv: RevisionId, key: DrawKey, way: Draw) -> SimDuration {
        let [a, b, c] = &self.revisions[rv.index()].request_path;
        let rng = &mut RequestRng::new(key, way);
        a.sample(rng) + b.sample(rng) + c.sample(rng)
    }

    /// Sends a request of the world's own traffic (see [`Sim::send_to`]).
    #[inline(always)]
    pub(crate) fn send(&mut self, now: SimTime, client: u32, attrs: RequestAttrs) -> Sent {
        let rv = self.route(&attrs);
        self.send_to(now, rv, client, attrs)
    }

    /// Sends a request of revision `rv`'s own traffic. Its trip to the ingress is either queued here or,
    /// when nothing else is due before it gets there, left to the caller: the caller schedules what its
    /// source sends next, then hands the result to [`Sim::reach_ingress`]. Always inlined: every
    /// request starts here.
    #[inline(always)]
    pub(crate) fn send_to(
        &mut self,
        now: SimTime,
        rv: RevisionId,
        client: u32,
        attrs: RequestAttrs,
    ) -> Sent {
        let rv = self.entry_revision(rv);
        let key = self.revisions[rv.index()].draw_keys.next_key();
        let request = Request::sent_at(now, rv, client, attrs, key);
        let id = self.alloc_request(request);
        self.counts.total += 1;
        self.in_flight += 1;
        self.second.arrivals += 1;
        // Per-service figures only matter with several services; with one they would repeat the run's
        // own counters at the cost of two log-histogram records per response.
        if self.multi.is_some() {
            self.revisions[rv.index()].stats.arrival();
        }
        let delay = self.one_way_delay(rv, key, Draw::PathIn);
        let at = now + delay;
        // Nothing due before the request reaches the ingress (and nothing at that very time, which
        // would come first): unless the caller's next arrival is earlier, its `AtIngress` event would be
        // the next one handled, so `reach_ingress` may handle it at once instead.
        let next_up = self.hop_shortcuts
            && at <= self.step_end
            && self.queue.nothing_queued_before(at + SimDuration(1));
        if !next_up {
            self.at_in_order(at, OrderedLane::ToIngress, Event::AtIngress(id));
        }
        Sent { id, at, next_up }
    }

    /// Completes [`Sim::send_to`] after the caller scheduled its source's next arrival: a request whose
    /// `AtIngress` event would be the next one handled (nothing due before it, the new arrival included;
    /// an event due at the same time was scheduled after it, so comes after it) reaches the ingress now,
    /// with the clock moved to that time, as the event would have. Otherwise its event is queued. Every
    /// output is the one the event gives; the run handles one event fewer (`events_processed`).
    #[inline(always)]
    pub(crate) fn reach_ingress(&mut self, sent: Sent) {
        if !sent.next_up {
            return;
        }
        if self.queue.advance_to(sent.at) {
            self.at_ingress(sent.at, sent.id);
        } else {
            // The new arrival is earlier: it is the only entry added since `send_to` found nothing due
            // by `sent.at`, so queueing the event after it changes no order.
            self.at_in_order(sent.at, OrderedLane::ToIngress, Event::AtIngress(sent.id));
        }
    }

    /// Puts `request` in a free slot of the request slab (bumping the slot's generation).
    #[inline]
    pub(crate) fn alloc_request(&mut self, mut request: Request) -> RequestId {
        match self.free_requests.pop() {
            Some(slot) => {
                self.tokens.reset(slot);
                self.links.reset(slot);
                request.generation = self.requests[slot as usize].generation.wrapping_add(1);
                self.requests[slot as usize] = request;
                RequestId::new(slot, request.generation)
            }
            None => {
                self.requests.push(request);
                RequestId::new((self.requests.len() - 1) as u32, 0)
            }
        }
    }

    /// The revision a request goes to: revision 0, or with a route over several revisions of the service
    /// the one the route picks for this request (see [`super::routes`]).
    fn route(&mut self, _attrs: &RequestAttrs) -> RevisionId {
        match self.route.as_mut() {
            Some(state) => self.revisions[state.route.pick()].id,
            None => self.revisions[0].id,
        }
    }

    /// A request reaches the ingress, which routes it. Inlined into its two callers (the hop's event and
    /// [`Sim::reach_ingress`]), which puts the whole way from arrival to service start in one function.
    #[inline(always)]
    pub(crate) fn at_ingress(&mut self, now: SimTime, id: RequestId) {
        let rv = self.requests[id.index()].revision;
        let rev = &mut self.revisions[rv.index()];
        self.requests[id.index()].deadline = now + rev.request_timeout;
        // Ready pods first: the scaler's answer is a dynamic call, needed only without any.
        if rev.ready.is_empty() && !rev.scaler.has_activator() {
            // No activator with the HPA: a Service without ready endpoints refuses the request.
            self.counts.rejected += 1;
            rev.stats.counts.rejected += 1;
            self.respond(now, id, 503);
            return;
        }
        if rev.activator.in_path || rev.ready.is_empty() {
            self.enqueue_at_activator(now, rv, id);
        } else {
            let pod = rev.ready[rev.ingress_rr.pick(rev.ready.len())];
            self.admit_to_pod(now, id, rv, pod);
        }
    }

    /// Sends the response (success or failure) back through the request path.
    pub(crate) fn respond(&mut self, now: SimTime, id: RequestId, status: u16) {
        self.answer(now, id, status);
    }

    /// [`Sim::respond`], inlined: the completion of every request answers through here, with the client
    /// side ([`Sim::at_client`]) in the same function when the answer is taken at once.
    #[inline(always)]
    pub(crate) fn answer(&mut self, now: SimTime, id: RequestId, status: u16) {
        let r = &self.requests[id.index()];
        if r.via_activator {
            self.revisions[r.revision.index()]
                .activator
                .request_out(r.activator as usize, now);
        }
        let delay = self.one_way_delay(r.revision, r.draw_key, Draw::PathOut);
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Returning;
        r.status = status;
        let (sent, output_tokens, client) = (r.sent, r.attrs.output_tokens, r.client);
        // Only a request that started on a KV cache pod has a token timeline to close.
        if let Some(tokens) = self.tokens.written_mut(id) {
            tokens.answered(now, sent, status, delay, output_tokens);
        }
        let at = now + delay;
        if self.answer_now(at, client) {
            self.at_client(at, id);
        } else {
            self.at_in_order(at, OrderedLane::ToClient, Event::AtClient(id));
        }
    }

    /// Whether an answer reaching its client at `at` can be taken now, without an event. What the client
    /// side does with an open-loop answer is bookkeeping only: counters the next row reads, order-free
    /// histograms, the SLO window of `at` and freeing the request's slot. Nothing reads those before the
    /// next tick, so taking the answer early changes no output as long as `at` is before that tick and
    /// before the end of the step (see `Sim::answer_horizon`; a caller stepping the run sees only the
    /// rows, the clock and the summary so far, which includes the answers up to the step's end). Answers of one second may then be recorded out of time order, which nothing
    /// notices: SLO windows are whole seconds and the rest is counts. A closed-loop client
    /// draws its next send and a call's caller goes on: those keep their event, as does every answer
    /// while a request log is kept. The run then handles one event fewer per request (its
    /// `events_processed` counts handled events).
    #[inline]
    fn answer_now(&self, at: SimTime, client: u32) -> bool {
        self.hop_shortcuts
            && at < self.next_tick
            && at < self.answer_horizon
            && client == OPEN_LOOP
            && self.calls.is_none()
    }

    #[inline(always)]
    pub(crate) fn at_client(&mut self, now: SimTime, id: RequestId) {
        if self.calls.is_some() && self.links.get(id).parent.is_some() {
            self.child_answered(now, id);
            return;
        }
        // The fields it needs, not a copy of the whole record (this runs for every request).
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Free;
        let (status, sent, cold, client) = (r.status, r.sent, r.cold, r.client);
        self.free_requests.push(id.slot());
        self.in_flight -= 1;
        self.status_codes.count(status);
        if self.multi.is_some() {
            let rv = self.requests[id.index()].revision;
            self.service_response(rv, status == 200, (now - sent).0, cold);
        }
        if let Some(slo) = self.slo.as_mut() {
            slo.record(now, (status == 200).then(|| (now - sent).0 / 1_000));
        }
        if status == 200 {
            self.counts.completed += 1;
            self.second.completions += 1;
            let us = (now - sent).0 / 1_000;
            self.latency_counts.record(&mut self.latency, us.max(1));
            if self.second.keep_latencies {
                self.second.latencies_us.push(us);
            }
            if cold {
                self.counts.cold_start_affected += 1;
                self.second.cold_completions += 1;
            }
            if let Some(llm) = self.llm.as_mut() {
                let tokens = self.tokens.get(id);
                if let Some(ttft) = tokens.ttft_ns {
                    llm.record(ttft, tokens.tpot_ns);
                }
            }
        } else {
            self.counts.failed += 1;
            self.second.failures += 1;
        }
        if client != OPEN_LOOP {
            if let Some(driver) = self.closed_loop.as_mut() {
                if let Some(next) = driver.on_response(client, now, &mut self.rng.traffic) {
                    if next < self.traffic_end {
                        self.at(next.max(now), Event::ClientSend(client));
                    }
                }
            }
        }
    }
}
