//! Service models: how a pod turns admitted requests into responses. One [`ServiceModel`] per scenario
//! (`pod.service.model`), one interface for the event loop:
//!
//! * `fixed_slots` (the default): containerConcurrency slots, each request runs alone at full speed for
//!   its sampled service time; the queue-proxy's FIFO queue holds the rest. One completion event per request.
//! * `processor_sharing`: every admitted request runs at once and shares the pod's CPU. A request alone
//!   uses `cpu_per_request` cores; with `c` requests on `C` usable cores each progresses at
//!   `min(1, C / (c × cpu_per_request))` of full speed (Linux CFS with a CPU limit: throttled at the limit).
//!   `C` is the CPU limit, or the CPU request when no limit is set (simplification: a pod without a limit
//!   is assumed to get what it requested, not to burst into idle node CPU). containerConcurrency > 0 still
//!   caps how many share (the queue-proxy breaker stays in front).
//! * `gpu_batch`: requests share one GPU in a running batch of up to `max_batch` (continuous batching, as
//!   LLM servers do: requests join and leave between iterations). A batch of `b` makes each request
//!   progress `1 / f(b)` times as fast as alone, where `f` is the latency-versus-batch curve (piecewise
//!   linear through `batch_curve` points, `f(1) = 1`); throughput grows as `b / f(b)`. A request's work
//!   (its time alone on the GPU) is `prompt_tokens × prefill_per_token + output_tokens × decode_per_token`
//!   when the trace gives token counts and the model has token rates, else a service-time sample.
//!   Simplification: prefill and decode are slowed by the same factor. With `kv_cache_tokens` the pod
//!   also has a KV cache ([`super::kv_cache`]): admission waits for free cache, decode growth can
//!   preempt, and the pod reports vLLM's engine signals; without it the only limit is `max_batch`.
//!
//! Processor sharing and GPU batching are both *shared-rate* disciplines: all running requests on a pod
//! progress at the same rate, which changes only when the running count changes. The pod keeps a virtual
//! work clock `V` (work-seconds done by each running request) and a min-heap of finish tags
//! `V(start) + work`; the order of completions never changes, only their wall-clock times. A change of
//! the running count advances `V`, pushes or pops one tag (O(log n)) and moves the pod's single
//! next-completion event (one cancellation and one insertion in the event queue). Nothing here depends on
//! the number of pods.
//!
//! Timeouts: a fixed-slots request is cut at its deadline (504); a shared-rate request that completes
//! after its deadline is answered 504 at completion (simplification: it keeps its share until then).

use super::kv_cache::KvCache;
use super::pods::ResourceModel;
use crate::dist::DurationDist;
use crate::engine::EventId;
use crate::time::{SimDuration, SimTime};
use crate::traffic::RequestAttrs;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The discipline chosen for the scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum ServiceModel {
    #[default]
    FixedSlots,
    ProcessorSharing,
    GpuBatch(GpuBatch),
}

/// GPU batching parameters (validated by the scenario loader).
#[derive(Clone, Debug, PartialEq)]
pub struct GpuBatch {
    pub max_batch: u32,
    /// `(batch size, latency factor)` points, sorted by batch size, starting at `(1, 1.0)`.
    pub curve: Vec<(u32, f64)>,
    /// Seconds per prompt token at batch 1 (0 = not token-driven).
    pub prefill_per_token_s: f64,
    /// Seconds per output token at batch 1 (0 = not token-driven).
    pub decode_per_token_s: f64,
    /// KV cache per pod in tokens (`None` = unlimited and no engine signals; see [`super::kv_cache`]).
    pub kv_cache_tokens: Option<u64>,
}

impl GpuBatch {
    /// The latency factor `f(b)`: piecewise linear through the curve points, extended flat beyond the last.
    pub fn factor(&self, b: u32) -> f64 {
        let b = b.max(1);
        let pts = &self.curve;
        if pts.is_empty() {
            return 1.0;
        }
        if b <= pts[0].0 {
            return pts[0].1;
        }
        for w in pts.windows(2) {
            let ((b0, f0), (b1, f1)) = (w[0], w[1]);
            if b <= b1 {
                let t = f64::from(b - b0) / f64::from(b1 - b0);
                return f0 + t * (f1 - f0);
            }
        }
        pts[pts.len() - 1].1
    }
}

impl ServiceModel {
    pub fn label(&self) -> &'static str {
        match self {
            ServiceModel::FixedSlots => "fixed_slots",
            ServiceModel::ProcessorSharing => "processor_sharing",
            ServiceModel::GpuBatch(_) => "gpu_batch",
        }
    }

    /// Requests that may run at once on a pod (0 = unlimited), given containerConcurrency.
    pub fn slots(&self, cc: u32) -> u32 {
        match self {
            ServiceModel::GpuBatch(g) if cc == 0 => g.max_batch,
            ServiceModel::GpuBatch(g) => cc.min(g.max_batch),
            _ => cc,
        }
    }

    /// The KV cache per pod (`gpu_batch` with `kv_cache_tokens`): the LLM engine signals are on.
    pub fn kv_cache_tokens(&self) -> Option<u64> {
        match self {
            ServiceModel::GpuBatch(g) => g.kv_cache_tokens,
            _ => None,
        }
    }

    pub fn is_shared_rate(&self) -> bool {
        !matches!(self, ServiceModel::FixedSlots)
    }

    /// Work of one request in seconds at full speed.
    #[inline]
    pub fn work_secs<R: rand::Rng + ?Sized>(
        &self,
        attrs: &RequestAttrs,
        dist: &DurationDist,
        rng: &mut R,
    ) -> f64 {
        if let Some(s) = attrs.service_time {
            return s.as_secs_f64();
        }
        if let ServiceModel::GpuBatch(g) = self {
            let tokens = attrs.prompt_tokens > 0 || attrs.output_tokens > 0;
            if tokens && (g.prefill_per_token_s > 0.0 || g.decode_per_token_s > 0.0) {
                return f64::from(attrs.prompt_tokens) * g.prefill_per_token_s
                    + f64::from(attrs.output_tokens) * g.decode_per_token_s;
            }
        }
        dist.sample(rng).as_secs_f64()
    }

    /// Progress rate of each running request when `running` share the pod (shared-rate models).
    #[inline]
    pub fn speed(&self, running: u32, res: &ResourceModel) -> f64 {
        match self {
            ServiceModel::FixedSlots => 1.0,
            ServiceModel::ProcessorSharing => {
                let cores = if res.cpu_limit_millis > 0.0 {
                    res.cpu_limit_millis
                } else {
                    res.cpu_request_millis
                };
                let demand = f64::from(running) * res.cpu_per_request_millis;
                if demand <= cores || demand <= 0.0 {
                    1.0
                } else {
                    cores / demand
                }
            }
            ServiceModel::GpuBatch(g) => 1.0 / g.factor(running),
        }
    }
}

/// A finish tag ordered by value (total order on f64), ties by request id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tag(pub f64, pub crate::ids::RequestId);
impl Eq for Tag {}
impl PartialOrd for Tag {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Tag {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Per-pod state of a shared-rate discipline.
#[derive(Debug)]
pub struct SharedRate {
    /// Work-seconds each running request has received since the pod was created.
    pub vtime: f64,
    pub updated: SimTime,
    pub speed: f64,
    pub tags: BinaryHeap<Reverse<Tag>>,
    /// The pod's next-completion event (with a KV cache: the next completion or the moment the cache
    /// fills, whichever comes first).
    pub next: Option<EventId>,
    /// The pod's KV cache and token timeline (`gpu_batch` with `kv_cache_tokens` only).
    pub kv: Option<Box<KvCache>>,
    /// First tokens that came out during the last [`SharedRate::advance`], with their wall time; the
    /// loop drains it after each advance.
    pub first_tokens: Vec<(crate::ids::RequestId, SimTime)>,
}

impl SharedRate {
    pub fn new(now: SimTime) -> Self {
        SharedRate {
            vtime: 0.0,
            updated: now,
            speed: 1.0,
            tags: BinaryHeap::new(),
            next: None,
            kv: None,
            first_tokens: Vec::new(),
        }
    }

    /// The virtual clock at `now` without moving it (`now` at or after the last advance).
    pub fn vtime_at(&self, now: SimTime) -> f64 {
        if now > self.updated && !self.tags.is_empty() {
            self.vtime + (now - self.updated).as_secs_f64() * self.speed
        } else {
            self.vtime
        }
    }

    /// `vllm:kv_cache_usage_perc` at `now` (0–1; 0 without a KV cache).
    pub fn kv_usage(&self, now: SimTime) -> f64 {
        self.kv
            .as_ref()
            .map_or(0.0, |kv| kv.usage_fraction(self.vtime_at(now)))
    }

    /// Seconds of wall time until the pod's next event: its earliest completion or, with a KV cache,
    /// the moment the cache fills.
    pub fn secs_to_next(&self) -> Option<f64> {
        let done = self.secs_to_first();
        let full = self
            .kv
            .as_ref()
            .and_then(|kv| kv.next_overflow(self.vtime))
            .map(|v| ((v - self.vtime).max(0.0)) / self.speed.max(1e-12));
        match (done, full) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances the virtual clock to `now` at the current speed.
    #[inline]
    pub fn advance(&mut self, now: SimTime) {
        if now > self.updated {
            if !self.tags.is_empty() {
                let (v0, t0) = (self.vtime, self.updated);
                self.vtime += (now - self.updated).as_secs_f64() * self.speed;
                if let Some(kv) = self.kv.as_mut() {
                    // The speed was constant since `t0`, so a first token's wall time is exact.
                    while let Some((id, tag)) = kv.pop_first_token(self.vtime) {
                        let secs = ((tag - v0).max(0.0)) / self.speed.max(1e-12);
                        let at = t0 + SimDuration((secs * 1e9).ceil() as u64);
                        self.first_tokens.push((id, at.min(now)));
                    }
                }
            }
            self.updated = now;
        }
    }

    /// The earliest finish tag, if any request runs.
    pub fn first(&self) -> Option<Tag> {
        self.tags.peek().map(|r| r.0)
    }

    /// Seconds of wall time until the earliest completion at the current speed.
    pub fn secs_to_first(&self) -> Option<f64> {
        self.first()
            .map(|t| ((t.0 - self.vtime).max(0.0)) / self.speed.max(1e-12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_curve_interpolates_and_processor_sharing_throttles_at_the_limit() {
        let g = GpuBatch {
            max_batch: 16,
            curve: vec![(1, 1.0), (9, 2.0)],
            prefill_per_token_s: 0.0,
            decode_per_token_s: 0.0,
            kv_cache_tokens: None,
        };
        assert_eq!(g.factor(1), 1.0);
        assert!((g.factor(5) - 1.5).abs() < 1e-12);
        assert_eq!(g.factor(16), 2.0);
        let res = ResourceModel {
            cpu_limit_millis: 2000.0,
            ..ResourceModel::default()
        };
        let ps = ServiceModel::ProcessorSharing;
        assert_eq!(ps.speed(1, &res), 1.0);
        assert_eq!(ps.speed(2, &res), 1.0);
        assert!((ps.speed(4, &res) - 0.5).abs() < 1e-12);
    }
}
