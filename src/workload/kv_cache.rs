//! The KV cache of an LLM engine pod (vLLM-style) on top of the GPU batching discipline
//! ([`super::discipline`], `gpu_batch`), and the per-request token timeline that gives time to first
//! token (TTFT) and time per output token (TPOT).
//!
//! Units: KV cache in tokens (one token of one sequence = one slot); work in *work-seconds* (time alone
//! on the GPU at batch 1), measured on the pod's virtual work clock `v` of [`super::discipline::SharedRate`]
//! (every running request receives the same work per wall second, so all token boundaries move
//! together when the batch size changes).
//!
//! A request with `P` prompt tokens and `O` output tokens, admitted with `k` tokens already generated
//! (0 the first time, more after a preemption), needs `(P + k) × prefill_per_token` of prefill work and
//! then `(O − k) × decode_per_token` of decode work; its finish tag is `v(admission)` plus both, the
//! same number the discipline computes without a KV cache. Rules:
//!
//! * **Admission** (vLLM's FCFS waiting queue): the pod's queue (queue-proxy queue plus preempted
//!   requests) is served in order; its head is admitted when a batch slot is free *and* its `P + k`
//!   tokens fit in the free KV cache. A head that does not fit blocks the requests behind it. A request
//!   whose `P + O` exceeds the whole cache can never run and is refused (the loop answers 400, as vLLM
//!   refuses a prompt longer than the model length).
//! * **Growth**: from the end of its prefill, a running request's KV use grows by one token per
//!   `decode_per_token` of work, up to `P + O`. Growth is continuous (a fluid token count), so the cache
//!   usage is a piecewise-linear function of `v` and the moment it fills is computed exactly
//!   ([`KvCache::next_overflow`]) instead of stepping token by token.
//! * **Preemption** (vLLM's recompute mode): when the cache is full and a request still grows, the
//!   newest admitted running request is preempted: its KV is freed, the tokens it generated so far
//!   (whole tokens) are kept, and it goes back to the head of the pod's queue; readmitted, it redoes a
//!   prefill over `P + k` tokens. The last running request is never preempted (it fits alone, since
//!   `P + O` ≤ capacity), so the oldest request always progresses and a preemption storm ends. No
//!   request is admitted in the instant a preemption happened (vLLM does not schedule its waiting
//!   queue in a step that preempted); the next completion readmits.
//! * **First token**: a request's first output token exists once its prefill and one decode token of
//!   work are done (`v(admission) + P × prefill + decode`): the model's `O × decode` work counts the
//!   token the prefill pass samples. TTFT is measured from the client's send to that instant plus the
//!   response's one-way path back (see the loop). TPOT = (completion − first token) / (O − 1).
//!   A preemption after the first token keeps it (a recompute does not resend tokens).
//!
//! What vLLM does differently: it allocates KV in blocks (16 tokens by default), so a sequence holds up
//! to a block more than its tokens, and a preemption happens when no free *block* is left for a
//! sequence crossing a block boundary; vLLM's v0 scheduler also kept a watermark of free blocks (1 %)
//! at admission, which this model does not; the v0 `swap` preemption mode (KV copied to CPU memory and
//! back instead of recomputed) is not modelled; with chunked prefill (the default in vLLM v1) a long
//! prompt is prefilled in chunks interleaved with decode steps under a per-step token budget, while
//! here a prefill runs at the batch's shared rate like decode (prefill and decode are slowed alike by
//! the batch curve); prefix caching (shared prompt blocks) is not modelled. Requests without token
//! counts (a service-time sample or a trace service time) use no KV and have no TTFT.

use super::discipline::Tag;
use crate::ids::RequestId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Tolerance in tokens when comparing fluid KV use with the capacity (float rounding of `v`).
const EPS_TOKENS: f64 = 1e-6;

/// One running sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Seq {
    id: RequestId,
    prompt: u32,
    output: u32,
    /// Tokens generated before this admission (kept across a preemption).
    done_before: u32,
    /// `v` at which this admission's prefill ends and decode growth starts.
    decode_from: f64,
    /// `v` at which the request completes.
    finish: f64,
}

/// A request preempted by [`KvCache::preempt_newest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preempted {
    pub id: RequestId,
    /// Whole output tokens generated so far (kept for the readmission).
    pub tokens_done: u32,
}

/// Per-pod KV cache state and token timeline (see the module docs).
#[derive(Clone, Debug)]
pub struct KvCache {
    /// Capacity in tokens; `f64::INFINITY` = unlimited (no admission wait, no preemption).
    capacity: f64,
    prefill_s: f64,
    decode_s: f64,
    /// Running sequences in admission order (newest last).
    running: Vec<Seq>,
    /// First-token tags of running requests whose first token is not out yet.
    first_tokens: BinaryHeap<Reverse<Tag>>,
    /// Preemptions since the pod was created.
    pub preemptions: u64,
    /// When the loop last preempted here: nothing is admitted in that instant.
    pub last_preemption: Option<crate::time::SimTime>,
}

impl KvCache {
    /// `capacity_tokens` `None` = unlimited. Rates in seconds of work per token at batch 1.
    pub fn new(
        capacity_tokens: Option<u64>,
        prefill_per_token_s: f64,
        decode_per_token_s: f64,
    ) -> Self {
        KvCache {
            capacity: capacity_tokens.map_or(f64::INFINITY, |c| c as f64),
            prefill_s: prefill_per_token_s,
            decode_s: decode_per_token_s,
            running: Vec::new(),
            first_tokens: BinaryHeap::new(),
            preemptions: 0,
            last_preemption: None,
        }
    }

    pub fn is_limited(&self) -> bool {
        self.capacity.is_finite()
    }

    /// Running sequences tracked by the cache.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Whether a request of `prompt + output` tokens can ever run on this pod.
    pub fn fits_ever(&self, prompt: u32, output: u32) -> bool {
        f64::from(prompt) + f64::from(output) <= self.capacity
    }

    fn decoded(&self, s: &Seq, v: f64) -> f64 {
        let left = f64::from(s.output - s.done_before);
        if v <= s.decode_from {
            return 0.0;
        }
        if self.decode_s <= 0.0 {
            return left;
        }
        ((v - s.decode_from) / self.decode_s).min(left)
    }

    fn seq_use(&self, s: &Seq, v: f64) -> f64 {
        f64::from(s.prompt) + f64::from(s.done_before) + self.decoded(s, v)
    }

    /// Tokens in use at virtual time `v` (fluid).
    pub fn used(&self, v: f64) -> f64 {
        self.running.iter().map(|s| self.seq_use(s, v)).sum()
    }

    /// `vllm:kv_cache_usage_perc`: used / capacity in 0–1 (0 when unlimited).
    pub fn usage_fraction(&self, v: f64) -> f64 {
        if !self.is_limited() || self.capacity <= 0.0 {
            return 0.0;
        }
        (self.used(v) / self.capacity).clamp(0.0, 1.0)
    }

    /// Whether a request needing `prompt + tokens_done` tokens fits in the free cache at `v`.
    pub fn can_admit(&self, v: f64, prompt: u32, tokens_done: u32) -> bool {
        if !self.is_limited() {
            return true;
        }
        let need = f64::from(prompt) + f64::from(tokens_done);
        need <= self.capacity - self.used(v) + EPS_TOKENS
    }

    /// Admits a request at `v` and returns its finish tag. With `tokens_done == 0` the tag is
    /// `v + (P × prefill + O × decode)`, bit for bit the discipline's token-driven work.
    pub fn admit(
        &mut self,
        v: f64,
        id: RequestId,
        prompt: u32,
        output: u32,
        tokens_done: u32,
    ) -> f64 {
        let done = tokens_done.min(output);
        let prefill = f64::from(prompt + done) * self.prefill_s;
        let work = prefill + f64::from(output - done) * self.decode_s;
        let finish = v + work;
        if done == 0 && output > 0 {
            let first = v + (f64::from(prompt) * self.prefill_s + self.decode_s);
            self.first_tokens.push(Reverse(Tag(first.min(finish), id)));
        }
        self.running.push(Seq {
            id,
            prompt,
            output,
            done_before: done,
            decode_from: v + prefill,
            finish,
        });
        finish
    }

    /// The request completed (or was killed): its KV is freed.
    pub fn release(&mut self, id: RequestId) {
        if let Some(i) = self.running.iter().position(|s| s.id == id) {
            self.running.remove(i);
            self.drop_first_token(id);
        }
    }

    fn drop_first_token(&mut self, id: RequestId) {
        if self.first_tokens.iter().any(|t| t.0 .1 == id) {
            self.first_tokens.retain(|t| t.0 .1 != id);
        }
    }

    /// Forgets every running request (the pod was killed).
    pub fn clear(&mut self) {
        self.running.clear();
        self.first_tokens.clear();
    }

    /// Pops the first tokens due at or before `v`, earliest first, as `(request, tag)`.
    pub fn pop_first_token(&mut self, v: f64) -> Option<(RequestId, f64)> {
        let t = self.first_tokens.peek()?.0;
        if t.0 > v + 1e-12 {
            return None;
        }
        self.first_tokens.pop();
        Some((t.1, t.0))
    }

    /// Whether a request is decoding at `v` (so the cache grows now).
    fn growing(&self, v: f64) -> bool {
        self.running
            .iter()
            .any(|s| s.output > s.done_before && s.decode_from <= v + 1e-9 && v < s.finish)
    }

    /// Whether the cache is full at `v` while a request still grows, with more than one request
    /// running (so one must be preempted). A full cache whose requests are all still in their prefill
    /// waits until the first of them decodes, as vLLM preempts only when a decode step needs room.
    pub fn overflowed(&self, v: f64) -> bool {
        self.is_limited()
            && self.running.len() > 1
            && self.used(v) >= self.capacity - EPS_TOKENS
            && self.growing(v)
    }

    /// Preempts the newest running request at `v` (recompute mode), unless it is the only one.
    pub fn preempt_newest(&mut self, v: f64) -> Option<Preempted> {
        if self.running.len() < 2 {
            return None;
        }
        let s = self.running.pop()?;
        self.drop_first_token(s.id);
        self.preemptions += 1;
        // Only whole tokens survive; a token in progress is recomputed.
        let whole = (self.decoded(&s, v) + 1e-9).floor() as u32;
        Some(Preempted {
            id: s.id,
            tokens_done: (s.done_before + whole).min(s.output),
        })
    }

    /// The virtual time at which the cache fills, if it fills while more than one request runs
    /// (`None`: unlimited, one request, or no growth left). Exact for the fluid growth: KV use is
    /// piecewise linear in `v`, with slope `1 / decode_per_token` per decoding request, changing at
    /// each decode start and finish.
    pub fn next_overflow(&self, v: f64) -> Option<f64> {
        if !self.is_limited() || self.running.len() < 2 || self.decode_s <= 0.0 {
            return None;
        }
        let mut free = (self.capacity - self.used(v)).max(0.0);
        let rate = 1.0 / self.decode_s;
        let mut slope = 0.0;
        // (v, slope change) breakpoints ahead of v.
        let mut points: Vec<(f64, f64)> = Vec::with_capacity(2 * self.running.len());
        for s in &self.running {
            if s.finish <= v || s.output == s.done_before {
                continue;
            }
            if s.decode_from <= v {
                slope += rate;
            } else {
                points.push((s.decode_from, rate));
            }
            points.push((s.finish, -rate));
        }
        if free <= EPS_TOKENS && slope > 0.0 {
            return Some(v);
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut at = v;
        for (p, delta) in points {
            if slope > 0.0 && free - (p - at) * slope <= 0.0 {
                return Some(at + free / slope);
            }
            free -= (p - at) * slope;
            at = p;
            slope += delta;
            if slope < 1e-12 {
                slope = 0.0;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> RequestId {
        RequestId::new(n, 0)
    }

    #[test]
    fn unlimited_cache_admits_everything_and_matches_the_discipline_work() {
        let mut kv = KvCache::new(None, 0.001, 0.02);
        assert!(kv.can_admit(0.0, 1_000_000, 0));
        let tag = kv.admit(3.5, id(1), 700, 120, 0);
        let work = f64::from(700u32) * 0.001 + f64::from(120u32) * 0.02;
        assert_eq!(tag.to_bits(), (3.5 + work).to_bits());
        kv.admit(3.5, id(2), 10, 10, 0);
        assert_eq!(kv.next_overflow(3.5), None);
        assert!(!kv.overflowed(100.0));
        assert_eq!(kv.usage_fraction(5.0), 0.0);
    }

    #[test]
    fn use_grows_one_token_per_decode_step_after_the_prefill() {
        let mut kv = KvCache::new(Some(1000), 0.01, 0.1);
        let finish = kv.admit(0.0, id(1), 100, 50, 0);
        assert!((finish - (1.0 + 5.0)).abs() < 1e-12);
        assert_eq!(kv.used(0.5), 100.0); // prefilling: the prompt only
        assert!((kv.used(1.0 + 0.1 * 7.0) - 107.0).abs() < 1e-9);
        assert!((kv.used(99.0) - 150.0).abs() < 1e-9); // capped at P + O
        assert!((kv.usage_fraction(1.2) - 0.102).abs() < 1e-9);
        // First token: prefill plus one decode step.
        assert_eq!(kv.pop_first_token(1.05), None);
        assert_eq!(kv.pop_first_token(1.1), Some((id(1), 1.1)));
        kv.release(id(1));
        assert_eq!(kv.used(2.0), 0.0);
    }

    #[test]
    fn admission_waits_for_free_cache() {
        let mut kv = KvCache::new(Some(300), 0.0, 0.1);
        kv.admit(0.0, id(1), 200, 50, 0);
        assert!(kv.can_admit(0.0, 100, 0));
        assert!(!kv.can_admit(0.0, 101, 0));
        assert!(!kv.can_admit(1.0, 100, 0)); // 10 tokens decoded since
        assert!(kv.fits_ever(250, 50) && !kv.fits_ever(250, 51));
        // Nothing of a finished request stays behind (memory flat in the run's length).
        kv.release(id(1));
        assert!(kv.running.is_empty() && kv.first_tokens.is_empty());
    }

    #[test]
    fn overflow_time_is_exact_and_the_newest_is_preempted() {
        // Two requests decoding from v = 0: 2 tokens per 0.1 work-s; 200 + 2 × 0.1 x = 260 at x = 3.
        let mut kv = KvCache::new(Some(260), 0.0, 0.1);
        kv.admit(0.0, id(1), 100, 100, 0);
        kv.admit(0.0, id(2), 100, 100, 0);
        let at = kv.next_overflow(0.0).unwrap();
        assert!((at - 3.0).abs() < 1e-9, "{at}");
        assert!(!kv.overflowed(2.9));
        assert!(kv.overflowed(at));
        let p = kv.preempt_newest(at).unwrap();
        assert_eq!(p.id, id(2));
        assert_eq!(p.tokens_done, 30);
        assert_eq!(kv.preemptions, 1);
        assert!(
            kv.preempt_newest(at).is_none(),
            "the last request is never preempted"
        );
        assert_eq!(kv.next_overflow(at), None);
        // Readmitted with its 30 tokens: it needs 130 and redoes their prefill.
        let mut kv2 = KvCache::new(Some(1000), 0.01, 0.1);
        let finish = kv2.admit(5.0, id(2), 100, 100, 30);
        assert!((finish - (5.0 + 1.3 + 7.0)).abs() < 1e-9);
        assert_eq!(kv2.used(5.0), 130.0);
        assert_eq!(
            kv2.pop_first_token(100.0),
            None,
            "the first token was out before"
        );
    }

    #[test]
    fn overflow_accounts_for_later_decode_starts_and_finishes() {
        let mut kv = KvCache::new(Some(130), 1.0, 1.0);
        // A: prompt 100, decodes from v = 100 (prefill 100 × 1.0) for 10 tokens, finishes at 110.
        kv.admit(0.0, id(1), 100, 10, 0);
        // B: prompt 5, decodes from 5 to 25.
        kv.admit(0.0, id(2), 5, 20, 0);
        // Use: 105 until 5, then +1/s: B reaches 20 tokens at 25 (use 125), flat, then A grows from 100:
        // 125 + (v − 100) = 130 at v = 105.
        let at = kv.next_overflow(0.0).unwrap();
        assert!((at - 105.0).abs() < 1e-9, "{at}");
        // Exactly full at admission, both prefilling: the overflow is when the first decode starts.
        let mut full = KvCache::new(Some(200), 1.0, 1.0);
        full.admit(0.0, id(1), 100, 10, 0);
        full.admit(0.0, id(2), 100, 10, 0);
        assert!(!full.overflowed(50.0));
        assert!((full.next_overflow(0.0).unwrap() - 100.0).abs() < 1e-9);
        assert!(full.overflowed(100.0));
        let mut lone = KvCache::new(Some(110), 1.0, 1.0);
        lone.admit(0.0, id(1), 100, 10, 0);
        assert_eq!(
            lone.next_overflow(0.0),
            None,
            "a lone request fits by admission"
        );
    }

    /// Simulates one pod's cache in virtual time with a waiting queue: admissions at completions,
    /// preemption at overflow. Returns (completions, preemptions, steps).
    fn drive(capacity: u64, reqs: &[(u32, u32)]) -> (usize, u64, usize) {
        let mut kv = KvCache::new(Some(capacity), 0.001, 0.01);
        let mut waiting: std::collections::VecDeque<(usize, u32)> =
            (0..reqs.len()).map(|i| (i, 0)).collect();
        let mut finish: Vec<(f64, usize)> = Vec::new();
        let mut v = 0.0;
        let mut done = 0;
        let mut steps = 0;
        let mut preempted_now = false;
        loop {
            steps += 1;
            assert!(steps < 100_000, "no progress");
            if !preempted_now {
                while let Some(&(i, k)) = waiting.front() {
                    let (p, o) = reqs[i];
                    if !kv.can_admit(v, p, k) {
                        break;
                    }
                    waiting.pop_front();
                    let f = kv.admit(v, id(i as u32), p, o, k);
                    finish.push((f, i));
                }
            }
            preempted_now = false;
            let next_done = finish.iter().map(|f| f.0).fold(f64::INFINITY, f64::min);
            let next_full = kv.next_overflow(v).unwrap_or(f64::INFINITY);
            if next_done.is_infinite() && next_full.is_infinite() {
                break;
            }
            v = next_done.min(next_full);
            finish.retain(|&(f, i)| {
                if f <= v + 1e-12 {
                    kv.release(id(i as u32));
                    done += 1;
                    false
                } else {
                    true
                }
            });
            while kv.overflowed(v) {
                let p = kv.preempt_newest(v).unwrap();
                finish.retain(|f| f.1 != p.id.slot() as usize);
                waiting.push_front((p.id.slot() as usize, p.tokens_done));
                preempted_now = true;
            }
            assert!(kv.used(v) <= capacity as f64 + 1e-6);
        }
        assert!(waiting.is_empty());
        (done, kv.preemptions, steps)
    }

    #[test]
    fn a_preemption_storm_terminates_with_every_request_done() {
        // 40 requests that each nearly fill the cache alone.
        let reqs: Vec<(u32, u32)> = (0..40).map(|i| (10 + i % 7, 80 + i % 5)).collect();
        let (done, preemptions, _) = drive(100, &reqs);
        assert_eq!(done, 40);
        assert!(preemptions > 10, "{preemptions}");
    }

    proptest::proptest! {
        #[test]
        fn every_request_completes_and_use_never_exceeds_capacity(
            cap in 50u64..400,
            reqs in proptest::collection::vec((1u32..60, 1u32..60), 1..30),
        ) {
            let reqs: Vec<(u32, u32)> = reqs
                .into_iter()
                .map(|(p, o)| (p.min(cap as u32 / 2), o.min(cap as u32 / 2)))
                .collect();
            let (done, _, _) = drive(cap, &reqs);
            proptest::prop_assert_eq!(done, reqs.len());
        }
    }
}
