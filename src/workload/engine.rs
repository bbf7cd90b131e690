//! The loop's side of the LLM engine model: moving requests between a pod's queue and its running batch
//! as the KV cache ([`super::kv_cache`]) allows, recording first tokens, and the engine columns of the
//! per-second row. Active only on `gpu_batch` pods with `kv_cache_tokens`; every hook is a no-op
//! otherwise, so runs without a KV cache are unchanged.
//!
//! Units: time in ns ([`SimTime`]); tokens; the pod's virtual work clock in work-seconds.
//!
//! Where the hooks sit: the queue-proxy asks [`Sim::engine_admits`] before starting a request and
//! before pulling the head of its queue (FIFO: a head that does not fit holds the rest back); a shared-rate
//! start of a request with token counts goes to [`Sim::start_on_engine`]; a shared-rate completion event
//! calls [`Sim::preempt_on_overflow`] (that event is also the one the discipline schedules for the moment
//! the cache fills) and then pulls from the queue only if nothing was preempted; the response path fills
//! [`TokenState`]'s TTFT and TPOT; the tick adds [`Sim::engine_row`].

use super::discipline::{ServiceModel, Tag};
use super::kv_cache::KvCache;
use crate::ids::{RequestId, RevisionId};
use crate::observe::llm::{EngineRow, PodEngineSample};
use crate::observe::output::TimeseriesSink;
use crate::sim::world::{Sim, Stage};
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use crate::traffic::RequestAttrs;
use std::cmp::Reverse;

/// A request's token timeline on a KV cache pod (all empty elsewhere).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TokenState {
    /// When its first output token came out at the pod.
    pub(crate) first_token: Option<SimTime>,
    /// Output tokens generated before a preemption (kept for the readmission).
    pub(crate) tokens_done: u32,
    /// Set when answered 200: time to first token, one-way path back included.
    pub(crate) ttft_ns: Option<u64>,
    /// Set when answered 200 with ≥ 2 output tokens: time per output token.
    pub(crate) tpot_ns: Option<u64>,
}

impl TokenState {
    /// The pod answered at `now` with `status`; the answer (and, before it, the token stream) takes
    /// `delay` back to the client.
    pub(crate) fn answered(
        &mut self,
        now: SimTime,
        sent: SimTime,
        status: u16,
        delay: SimDuration,
        output_tokens: u32,
    ) {
        if let (200, Some(first)) = (status, self.first_token) {
            let first = first.min(now);
            self.ttft_ns = Some((first - sent).0 + delay.0);
            self.tpot_ns =
                (output_tokens >= 2).then(|| (now - first).0 / u64::from(output_tokens - 1));
        }
    }
}

/// A new pod's KV cache, if the service model has one.
pub(crate) fn kv_for(service: &ServiceModel) -> Option<Box<KvCache>> {
    match service {
        ServiceModel::GpuBatch(g) if g.kv_cache_tokens.is_some() => Some(Box::new(KvCache::new(
            g.kv_cache_tokens,
            g.prefill_per_token_s,
            g.decode_per_token_s,
        ))),
        _ => None,
    }
}

/// Whether a request carries token counts the KV cache uses (a trace service time overrides them).
pub(crate) fn has_tokens(a: &RequestAttrs) -> bool {
    a.service_time.is_none() && (a.prompt_tokens > 0 || a.output_tokens > 0)
}

impl Sim {
    /// Whether `id` may start on `pod` now as far as the KV cache is concerned. `fresh`: the request
    /// just reached the pod, so it must also not overtake the pod's waiting queue (FIFO).
    pub(crate) fn engine_admits(
        &self,
        now: SimTime,
        id: RequestId,
        rv: RevisionId,
        pod: u32,
        fresh: bool,
    ) -> bool {
        let p = &self.revisions[rv.index()].pods[pod as usize];
        let Some(kv) = p.rate.kv.as_deref() else {
            return true;
        };
        if fresh && p.queued > 0 {
            return false;
        }
        // vLLM schedules no waiting request in a step that preempted.
        if kv.last_preemption == Some(now) {
            return false;
        }
        let r = &self.requests[id.index()];
        if !has_tokens(&r.attrs) {
            return true;
        }
        let (prompt, output) = (r.attrs.prompt_tokens, r.attrs.output_tokens);
        // A request that can never fit goes through to be refused rather than block the queue.
        !kv.fits_ever(prompt, output)
            || kv.can_admit(
                p.rate.vtime_at(now),
                prompt,
                self.tokens.get(id).tokens_done,
            )
    }

    /// Starts a token-carrying request on a KV cache pod (admission already checked), or refuses it
    /// with 400 when it cannot fit even alone.
    pub(crate) fn start_on_engine(
        &mut self,
        now: SimTime,
        id: RequestId,
        rv: RevisionId,
        pod: u32,
    ) {
        let r = self.requests[id.index()];
        let (prompt, output) = (r.attrs.prompt_tokens, r.attrs.output_tokens);
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        let fits = p
            .rate
            .kv
            .as_ref()
            .is_some_and(|kv| kv.fits_ever(prompt, output));
        if !fits {
            crate::request_path::stats_out(&mut p.stats, now, r.via_activator, rev.pod_stats);
            if r.via_activator {
                self.activator_release(id, rv, pod);
            }
            if let Some(llm) = self.llm.as_mut() {
                llm.refused_too_long += 1;
            }
            self.counts.rejected += 1;
            self.respond(now, id, 400);
            return;
        }
        p.integrate_usage(now, &rev.resources);
        p.rate.advance(now);
        p.executing += 1;
        self.max_pod_concurrency = self.max_pod_concurrency.max(p.executing);
        let v = p.rate.vtime;
        let kv = p.rate.kv.as_mut().expect("checked above");
        let tag = kv.admit(v, id, prompt, output, self.tokens.get(id).tokens_done);
        p.rate.tags.push(Reverse(Tag(tag, id)));
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Executing;
        r.status = 200;
        self.take_first_tokens(rv, pod);
        self.reschedule_shared(now, rv, pod);
    }

    /// Records the first tokens the pod's last advance produced.
    pub(crate) fn take_first_tokens(&mut self, rv: RevisionId, pod: u32) {
        let rate = &mut self.revisions[rv.index()].pods[pod as usize].rate;
        if rate.first_tokens.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut rate.first_tokens);
        for (id, at) in out.drain(..) {
            if self.requests[id.index()].generation == id.generation() {
                let tokens = self.tokens.get_mut(id);
                if tokens.first_token.is_none() {
                    tokens.first_token = Some(at);
                }
            }
        }
        self.revisions[rv.index()].pods[pod as usize]
            .rate
            .first_tokens = out;
    }

    /// Preempts the newest running requests while the pod's KV cache is full; returns whether any was.
    /// A preempted request goes back to the head of the pod's queue with its generated tokens.
    pub(crate) fn preempt_on_overflow(&mut self, now: SimTime, rv: RevisionId, pod: u32) -> bool {
        let mut any = false;
        loop {
            let rev = &mut self.revisions[rv.index()];
            let p = &mut rev.pods[pod as usize];
            let v = p.rate.vtime;
            let Some(kv) = p.rate.kv.as_mut() else {
                return any;
            };
            if !kv.overflowed(v) {
                return any;
            }
            let Some(pre) = kv.preempt_newest(v) else {
                return any;
            };
            kv.last_preemption = Some(now);
            any = true;
            let id = pre.id;
            p.integrate_usage(now, &rev.resources);
            p.executing -= 1;
            p.rate.tags.retain(|t| t.0 .1 != id);
            p.queue.push_front(id);
            p.queued += 1;
            if let Some(llm) = self.llm.as_mut() {
                llm.preemptions += 1;
            }
            self.second.preemptions += 1;
            self.tokens.get_mut(id).tokens_done = pre.tokens_done;
            let r = &mut self.requests[id.index()];
            r.stage = Stage::PodQueue;
            let deadline = r.deadline.max(now);
            self.arm_queue_timer(rv, pod, deadline);
        }
    }

    /// The engine columns of the row ending at `now` (gauges over Ready pods of every revision), also
    /// handing each Ready pod's gauges to the sink (`pods.csv`).
    pub(crate) fn engine_row(
        &self,
        now: SimTime,
        sink: &mut dyn TimeseriesSink,
    ) -> std::io::Result<EngineRow> {
        let mut row = EngineRow {
            preemptions: self.second.preemptions,
            ..Default::default()
        };
        let mut sum = 0.0;
        let mut ready = 0usize;
        for rev in &self.revisions {
            for &pod in &rev.ready {
                let p = &rev.pods[pod as usize];
                row.running += u64::from(p.executing);
                row.waiting += u64::from(p.queued);
                let u = p.rate.kv_usage(now);
                sum += u;
                ready += 1;
                row.kv_usage_max = row.kv_usage_max.max(u);
                sink.pod_engine(&PodEngineSample {
                    time_s: now.0.div_ceil(NANOS_PER_SEC),
                    pod,
                    running: p.executing,
                    waiting: p.queued,
                    kv_usage: u,
                })?;
            }
        }
        if ready > 0 {
            row.kv_usage_mean = sum / ready as f64;
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttft_adds_the_path_back_and_tpot_spreads_the_rest_over_the_later_tokens() {
        let mut t = TokenState {
            first_token: Some(SimTime::from_secs(3)),
            ..Default::default()
        };
        let sent = SimTime::from_secs(1);
        t.answered(
            SimTime::from_secs(5),
            sent,
            200,
            SimDuration::from_millis(10),
            5,
        );
        assert_eq!(t.ttft_ns, Some(2_010_000_000));
        assert_eq!(t.tpot_ns, Some(500_000_000));
        let mut one = TokenState {
            first_token: Some(SimTime::from_secs(3)),
            ..Default::default()
        };
        one.answered(SimTime::from_secs(3), sent, 200, SimDuration::ZERO, 1);
        assert_eq!((one.ttft_ns, one.tpot_ns), (Some(2_000_000_000), None));
        let mut failed = TokenState {
            first_token: Some(SimTime::from_secs(3)),
            ..Default::default()
        };
        failed.answered(SimTime::from_secs(9), sent, 504, SimDuration::ZERO, 5);
        assert_eq!(failed.ttft_ns, None);
    }
}
