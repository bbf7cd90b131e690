//! The world the event loop acts on: the revisions (one today), the cluster they share, the requests in
//! flight, the event queue, the random streams, the traffic source and the run's recorders.
//!
//! Units: time is [`SimTime`] (integer ns); counters are plain counts.
//!
//! Identity: requests live in a slab indexed by [`RequestId`], pods in their revision's slab indexed by
//! [`PodId`], revisions in `Sim::revisions` indexed by [`RevisionId`]; every id carries its slot's
//! generation, so an event that outlived its request or pod is recognised as stale. Pod events carry a
//! [`PodRef`] (revision plus pod); a request records the revision the ingress routed it to, so request
//! events need only its id.
//!
//! What is shared and what is per revision: the cluster (nodes, scheduling queue, node autoscaler), the
//! world's traffic stream and the recorders are the world's; pods, the ready set, the activator, the
//! queue-proxies' settings, the deployment, the scaler, the cold-start and load-balancing streams and the
//! requests' draw keys are the revision's ([`Revision`]). The per-second
//! row and the summary add the revisions up (with one revision they are that revision's).

use crate::engine::{EventId, EventQueue, RngStreams, SimRng, Stream};
use crate::ids::{PodId, RequestId, RevisionId};
use crate::observe::latency_counts::LatencyCounts;
use crate::observe::output::RequestCounts;
use crate::sim::config::SimError;
use crate::sim::config::{SimConfig, Traffic};
pub(crate) use crate::sim::revision::Revision;
use crate::time::SimTime;
use crate::traffic::ClosedLoopDriver;
use crate::traffic::{Arrival, ArrivalSource, RequestAttrs};
use crate::workload::cluster::Cluster;
use crate::workload::startup::PhaseTimes;
use hdrhistogram::Histogram;
use std::collections::VecDeque;

/// What happens next. Events of one revision carry its [`RevisionId`]; requests carry theirs in their
/// record (set when the ingress routes them), so request events need only the [`RequestId`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
    /// The pending open-loop arrival is due.
    OpenArrival,
    ClientSend(u32),
    AtIngress(RequestId),
    ServiceDone(RequestId),
    AtClient(RequestId),
    PodReady(PodRef),
    /// The activators' probe found a starting pod's container ready (probe optimisation).
    PodProbed(PodRef),
    PodGraceOver(PodRef),
    /// A terminating pod's queue-proxy drain (quiet period) ended.
    PodDrained(PodRef),
    /// The earliest completion on a shared-rate (processor-sharing / GPU-batch) pod.
    PodNextDone(PodRef),
    /// A node finished provisioning.
    NodeReady(u32),
    Tick,
    /// A pod queue's earliest deadline may have passed (one timer per queue, see
    /// [`Sim::pod_queue_timeout`]).
    PodQueueTimeout(PodRef),
    /// A caller waiting for its callees reached its own deadline (see [`Sim::call_deadline`]).
    CallTimeout(RequestId),
    /// An activator queue's head may have reached its deadline (one timer per queue, see
    /// [`Sim::activator_timeout`]); the revision and the fleet member.
    ActivatorTimeout(RevisionId, u16),
    /// The wake-up the revision's scaler asked for (a reconciler requeue, a cron job).
    ScalerWake(RevisionId),
    /// The pending arrival of a revision's own traffic source (revisions after the first).
    ServiceArrival(RevisionId),
    /// A revision of a routed service is created (its template applied; see `request_path::routes`).
    RevisionCreated(RevisionId),
    /// The route's next gradual-rollout step is due.
    RouteStep,
}

/// A pod of one revision, as events name it: a stale reference (the slot reused since) is recognised by
/// the pod's generation.
///
/// Packed to 10 bytes (revision index as `u16`, pod slot and generation) so that an [`Event`] stays 12
/// bytes and a queue entry 32: the event heap is a third of a run's time, and its cost follows the entry
/// size. Revisions are never removed, so a revision needs no generation; at most `u16::MAX` revisions
/// (the scenario limit on services is far below).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(2))]
pub(crate) struct PodRef {
    revision: u16,
    slot: u32,
    generation: u32,
}

impl PodRef {
    #[inline]
    pub(crate) fn new(revision: RevisionId, pod: PodId) -> Self {
        debug_assert!(revision.generation() == 0 && revision.slot() <= u32::from(u16::MAX));
        PodRef {
            revision: revision.slot() as u16,
            slot: pod.slot(),
            generation: pod.generation(),
        }
    }
    #[inline]
    pub(crate) fn revision(self) -> RevisionId {
        RevisionId::new(u32::from(self.revision), 0)
    }
    #[inline]
    pub(crate) fn pod(self) -> PodId {
        PodId::new(self.slot, self.generation)
    }
}

impl std::fmt::Debug for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rev {} pod {:?}", { self.revision }, self.pod())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Free,
    ToIngress,
    ActivatorQueue,
    PodQueue,
    Executing,
    /// On its pod, waiting for the requests it sent to other revisions (`request_path::calls`).
    Waiting,
    Returning,
}

/// A replica count refused because it is over `scenario::limits::MAX_PODS` (see `Sim::check_replicas`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PodLimitHit {
    pub(crate) at: SimTime,
    pub(crate) asked: u32,
    pub(crate) limit: u64,
    pub(crate) setting: &'static str,
}

impl From<PodLimitHit> for SimError {
    fn from(h: PodLimitHit) -> Self {
        SimError::TooManyPods {
            at: h.at,
            asked: h.asked,
            limit: h.limit,
            setting: h.setting,
        }
    }
}

/// The event queue's ordered lanes (see [`Sim::at_in_order`]), one per monotone stream.
#[derive(Clone, Copy)]
pub(crate) enum OrderedLane {
    OpenArrivals = 0,
    ToIngress = 1,
    ToClient = 2,
}

/// The `client` of a request from an open-loop source (closed-loop clients are numbered from 0).
pub(crate) const OPEN_LOOP: u32 = u32::MAX;
/// The event-queue class of the 1 s tick (ordinary events use class 1).
pub(crate) const TICK_PRIORITY: u8 = 0;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    /// Bumped every time the slot is reused, so stale ids are recognised.
    pub(crate) generation: u32,
    pub(crate) sent: SimTime,
    pub(crate) deadline: SimTime,
    pub(crate) client: u32,
    pub(crate) attrs: RequestAttrs,
    /// The revision the ingress routed it to.
    pub(crate) revision: RevisionId,
    pub(crate) pod: Option<PodId>,
    pub(crate) stage: Stage,
    pub(crate) via_activator: bool,
    /// The fleet member that proxied it (when `via_activator`).
    pub(crate) activator: u16,
    pub(crate) cold: bool,
    pub(crate) status: u16,
    /// The key of its own draws (service time, path delays): common random numbers, see `engine::rng`.
    pub(crate) draw_key: crate::engine::DrawKey,
}

impl Request {
    /// A request `client` sends at `now` to revision `rv`, on its way to the ingress (the slab sets its
    /// generation and the ingress its deadline).
    pub(crate) fn sent_at(
        now: SimTime,
        rv: RevisionId,
        client: u32,
        attrs: RequestAttrs,
        draw_key: crate::engine::DrawKey,
    ) -> Self {
        Request {
            generation: 0,
            sent: now,
            deadline: SimTime::MAX,
            client,
            attrs,
            revision: rv,
            pod: None,
            stage: Stage::ToIngress,
            via_activator: false,
            activator: 0,
            cold: false,
            status: 0,
            draw_key,
        }
    }
}

/// The world's own streams; the cold-start and load-balancing streams are each revision's
/// ([`Revision::rng`]), and a request's own draws come from its key ([`Request::draw_key`]).
pub(crate) struct Rngs {
    pub(crate) traffic: SimRng,
}

/// Per-second counters, reset after each row.
#[derive(Default)]
pub(crate) struct SecondCounters {
    pub(crate) arrivals: u64,
    pub(crate) completions: u64,
    pub(crate) failures: u64,
    pub(crate) cold_completions: u64,
    /// This second's latencies (µs) for the row's percentiles; left empty when the sink does not read
    /// them (`keep_latencies`, set from [`crate::observe::output::TimeseriesSink::reads_latency_percentiles`]
    /// whenever the run steps).
    pub(crate) latencies_us: Vec<u64>,
    pub(crate) keep_latencies: bool,
    /// KV cache preemptions, all pods.
    pub(crate) preemptions: u64,
}

/// What only some runs record per request, kept beside the request slab (indexed by slot) instead of in
/// every [`Request`]: the slab's entries stay small (they are written and copied on the hot path, and a
/// run at 100,000 req/s can hold hundreds of thousands in flight), and a run that never writes a record
/// pays one length check. It grows on the first write to a slot; allocating a request resets its slot.
pub(crate) struct RequestSide<T>(Vec<T>);

impl<T: Copy + Default> RequestSide<T> {
    pub(crate) fn new() -> Self {
        RequestSide(Vec::new())
    }

    /// The record of request slot `id` (the default if none was written).
    #[inline]
    pub(crate) fn get(&self, id: RequestId) -> T {
        self.0.get(id.index()).copied().unwrap_or_default()
    }

    pub(crate) fn get_mut(&mut self, id: RequestId) -> &mut T {
        let i = id.index();
        if i >= self.0.len() {
            self.0.resize(i + 1, T::default());
        }
        &mut self.0[i]
    }

    /// The record of slot `id` if one was ever written there (`None`: it holds the default).
    #[inline]
    pub(crate) fn written_mut(&mut self, id: RequestId) -> Option<&mut T> {
        self.0.get_mut(id.index())
    }

    #[inline]
    pub(crate) fn reset(&mut self, slot: u32) {
        if let Some(t) = self.0.get_mut(slot as usize) {
            *t = T::default();
        }
    }
}

/// Responses per HTTP status. A run sees a handful of statuses, 200 most of all, so a short list scanned
/// from the front costs less per response than a map.
#[derive(Default)]
pub(crate) struct StatusCounts(Vec<(u16, u64)>);

impl StatusCounts {
    #[inline(always)]
    pub(crate) fn count(&mut self, status: u16) {
        match self.0.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.0.push((status, 1)),
        }
    }

    /// Every status seen and its count, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.0.iter().copied()
    }
}

/// The world's open-loop traffic source. A Poisson source (the common case) is held by value, so each
/// arrival is drawn inline in the arrival handler; any other source is called through its trait object.
/// Both draw the same arrivals from the same generator.
pub(crate) enum OpenLoop {
    Poisson(crate::traffic::poisson::PoissonSource),
    Other(Box<dyn ArrivalSource>),
}

impl OpenLoop {
    pub(crate) fn new(source: Box<dyn ArrivalSource>) -> Self {
        match source.as_poisson() {
            Some(poisson) => OpenLoop::Poisson(poisson.clone()),
            None => OpenLoop::Other(source),
        }
    }

    #[inline(always)]
    pub(crate) fn next_arrival(
        &mut self,
        rng: &mut crate::engine::SimRng,
    ) -> Result<Option<Arrival>, crate::traffic::TrafficError> {
        match self {
            OpenLoop::Poisson(source) => Ok(source.next_time(rng).map(Arrival::plain)),
            OpenLoop::Other(source) => source.next_arrival(rng),
        }
    }
}

/// The world: the revisions, the cluster they share, the requests in flight, the event queue, the random
/// streams, the traffic source and the run's recorders.
pub(crate) struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) queue: EventQueue<Event>,
    pub(crate) rng: Rngs,
    pub(crate) end: SimTime,
    pub(crate) traffic_end: SimTime,
    pub(crate) open_loop: Option<OpenLoop>,
    pub(crate) pending_arrival: Option<Arrival>,
    pub(crate) closed_loop: Option<ClosedLoopDriver>,

    pub(crate) requests: Vec<Request>,
    /// Token timelines of requests on KV cache pods (first token, tokens kept across preemption,
    /// TTFT/TPOT).
    pub(crate) tokens: RequestSide<crate::workload::engine::TokenState>,
    /// Each request's caller and its progress through its revision's call plan (`request_path::calls`).
    pub(crate) links: RequestSide<crate::request_path::calls::CallLink>,
    pub(crate) free_requests: Vec<u32>,
    pub(crate) in_flight: u64,

    /// Indexed by [`RevisionId::index`]; one today (the scenario's service).
    pub(crate) revisions: Vec<Revision>,
    pub(crate) cluster: Cluster,
    /// Pods of every revision without a node, in creation order (the scheduler's queue).
    pub(crate) unplaced: VecDeque<PodRef>,
    /// Set when a scaler asked for more pods than the simulator holds (inside an event handler); the
    /// stepper returns it after the event, and again on every later step, so a stopped run never goes on.
    pub(crate) halt: Option<PodLimitHit>,

    pub(crate) scale_events: u64,
    pub(crate) cold_starts: u64,
    pub(crate) pod_ns: u128,

    pub(crate) counts: RequestCounts,
    pub(crate) status_codes: StatusCounts,
    /// Latencies (µs) of completed requests. Complete only once the last row is written: until then
    /// they gather in `latency_counts`, which the last row adds here (see `observe::latency_counts`).
    pub(crate) latency: Histogram<u64>,
    pub(crate) latency_counts: LatencyCounts,
    pub(crate) slo: Option<crate::observe::slo::SloTracker>,
    pub(crate) second: SecondCounters,
    /// Ready pods integrated over time (pod·ns), for the time-weighted `mean_ready`.
    pub(crate) ready_ns: u128,
    /// The end of the last row written: rows cover `[last_row_at, now]` back to back.
    pub(crate) last_row_at: SimTime,
    /// When the next 1 s tick is due (`SimTime::MAX` once none is left).
    pub(crate) next_tick: SimTime,
    /// An answer reaching its client before this time, and before `next_tick`, is taken when it leaves
    /// the pod (see `Sim::respond`): `step_end`, or zero while a request log wants every answer as an
    /// event.
    pub(crate) answer_horizon: SimTime,
    /// Where the current step stops: the end of the run, or earlier when a caller steps the run. A hop
    /// taken without its event (see `hop_shortcuts`) is never one due after it, so a step handles exactly
    /// the events up to its time and the state it leaves is the one a run ending there would have.
    pub(crate) step_end: SimTime,
    /// Whether hops may be taken without their events when that changes no output (answers in
    /// `Sim::respond`, ingress arrivals in `Sim::send_to`); off only to check that claim in tests.
    pub(crate) hop_shortcuts: bool,
    pub(crate) max_ready: u32,
    pub(crate) max_desired: u32,
    /// The most requests any pod has executed at once (never above containerConcurrency when it is set).
    pub(crate) max_pod_concurrency: u32,
    pub(crate) cold_start_phases: Vec<PhaseTimes>,
    pub(crate) gpu_ns: u128,
    pub(crate) max_pending: u32,
    /// The LLM engine model (`gpu_batch` with `kv_cache_tokens`): run-wide TTFT/TPOT and preemptions.
    pub(crate) llm: Option<crate::observe::llm::LlmStats>,
    /// Per-service and cluster outputs of a run with several services (`None`: one service).
    pub(crate) multi: Option<crate::sim::services::MultiOutputs>,
    /// The last service response's latency bucket, counted at the next response (see
    /// `Sim::service_response`): revision index and bucket.
    pub(crate) uncounted_latency: Option<(u32, crate::observe::services::UncountedLatency)>,
    /// Calls between revisions (transformer -> predictor, graph routers); `None`: no revision calls.
    pub(crate) calls: Option<Box<crate::request_path::calls::Calls>>,
    /// The route over the revisions of one service (`None`: each request goes to revision 0, or to its
    /// own service's revision).
    pub(crate) route: Option<crate::request_path::route_loop::RouteState>,
}

impl Sim {
    pub(crate) fn new(mut cfg: SimConfig, traffic: Traffic) -> Self {
        let streams = RngStreams::new(cfg.seed);
        let traffic_end = SimTime::ZERO + cfg.traffic_duration;
        let end = traffic_end + cfg.cooldown;
        let revision = Revision::new(RevisionId::new(0, 0), &mut cfg, &streams);
        let latency = Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3)
            .expect("static histogram bounds");
        let latency_counts = LatencyCounts::for_histogram(&latency)
            .expect("the latency histogram's layout is static");
        Sim {
            queue: EventQueue::new(),
            rng: Rngs {
                traffic: streams.stream(Stream::Traffic),
            },
            end,
            traffic_end,
            open_loop: traffic.open_loop.map(OpenLoop::new),
            pending_arrival: None,
            closed_loop: traffic.closed_loop,
            requests: Vec::with_capacity(1024),
            tokens: RequestSide::new(),
            links: RequestSide::new(),
            free_requests: Vec::with_capacity(1024),
            in_flight: 0,
            revisions: vec![revision],
            cluster: Cluster::new(cfg.pod_model.cluster.clone()).seeded(cfg.seed),
            unplaced: VecDeque::new(),
            halt: None,
            scale_events: 0,
            cold_starts: 0,
            pod_ns: 0,
            counts: RequestCounts::default(),
            status_codes: StatusCounts::default(),
            latency,
            latency_counts,
            slo: cfg
                .slo
                .as_ref()
                .map(|s| crate::observe::slo::SloTracker::new(s, end)),
            second: SecondCounters {
                keep_latencies: true,
                ..SecondCounters::default()
            },
            ready_ns: 0,
            last_row_at: SimTime::ZERO,
            next_tick: SimTime::MAX,
            answer_horizon: SimTime::ZERO,
            step_end: SimTime::ZERO,
            hop_shortcuts: true,
            max_ready: 0,
            max_desired: 0,
            max_pod_concurrency: 0,
            cold_start_phases: Vec::new(),
            gpu_ns: 0,
            max_pending: 0,
            llm: cfg
                .pod_model
                .service
                .kv_cache_tokens()
                .map(crate::observe::llm::LlmStats::new),
            multi: None,
            uncounted_latency: None,
            calls: None,
            route: None,
            cfg,
        }
    }

    /// The revision `rv` (revisions are never removed today, so every id handed out is live).
    #[inline]
    pub(crate) fn rev(&mut self, rv: RevisionId) -> &mut Revision {
        &mut self.revisions[rv.index()]
    }

    /// Whether `pod` still names the pod in its slot.
    pub(crate) fn is_live(&self, pod: PodRef) -> bool {
        self.revisions[pod.revision().index()].pods[pod.pod().index()].generation
            == pod.pod().generation()
    }

    /// Schedules `event` at `time`; it cannot be cancelled (see [`Sim::at_cancellable`]).
    #[inline(always)]
    pub(crate) fn at(&mut self, time: SimTime, event: Event) {
        let time = self.schedulable(time);
        self.queue
            .schedule_uncancellable(time, event)
            .expect("events are never scheduled into the past")
    }

    /// [`Sim::at`] for an event of a stream whose times do not decrease, through its ordered lane (see
    /// `EventQueue::schedule_uncancellable_ordered`; same order, less heap work): the world's open-loop
    /// arrivals, and the two request-path hops, which with a constant path delay (the default zeros, or
    /// fixed client, ingress and network delays) are `now + d` for one `d`.
    #[inline(always)]
    pub(crate) fn at_in_order(&mut self, time: SimTime, lane: OrderedLane, event: Event) {
        let time = self.schedulable(time);
        self.queue
            .schedule_uncancellable_ordered(time, lane as usize, event)
            .expect("events are never scheduled into the past")
    }

    /// Schedules `event` at `time` and returns the id that cancels it.
    pub(crate) fn at_cancellable(&mut self, time: SimTime, event: Event) -> EventId {
        let time = self.schedulable(time);
        self.queue
            .schedule(time, event)
            .expect("events are never scheduled into the past")
    }

    #[inline]
    fn schedulable(&self, time: SimTime) -> SimTime {
        // While the run is live the loop only schedules at or after the current time. After it, the queue
        // has already popped the first event past the end, and the last (partial) row, written at the end,
        // may still schedule (a node the Cluster Autoscaler adds, a pod's readiness) at a time the queue has
        // passed; such events are never handled, so they go in at the queue's time.
        if self.queue.now() > self.end {
            time.max(self.queue.now())
        } else {
            time
        }
    }

    /// The tick has its own priority class, so the tick at `t` runs before every other event at `t` whenever
    /// that was scheduled, and row `t` covers exactly `[t - 1 s, t)`.
    pub(crate) fn schedule_tick(&mut self, at: SimTime) {
        self.next_tick = at;
        self.queue
            .schedule_uncancellable_with_priority(at, TICK_PRIORITY, Event::Tick)
            .expect("ticks are scheduled in the future");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event heap's cost follows its entry size: a wider event (as a generational revision id in
    /// `PodRef` made it, 12 -> 20 bytes) cost about 12% on the KPA bench.
    #[test]
    fn events_stay_twelve_bytes() {
        assert_eq!(std::mem::size_of::<PodRef>(), 10);
        assert_eq!(std::mem::size_of::<Event>(), 12);
    }

    /// Every request in flight holds one slab entry, written at send and copied on the hot path; the
    /// token timeline and call link (184 bytes together with it) live in side tables. At 100,000 req/s
    /// the KPA benchmark peaked at 165 MiB with them inside, 88 MiB without (80-byte entries; 88 since
    /// each request carries its draw key).
    #[test]
    fn requests_stay_small() {
        assert!(
            std::mem::size_of::<Request>() <= 88,
            "{}",
            std::mem::size_of::<Request>()
        );
    }

    /// A Poisson source is held by value and drawn inline; it gives exactly the arrivals its boxed self
    /// gives through the trait object, from the same generator, also when taken over mid-stream.
    #[test]
    fn an_inline_poisson_source_draws_what_its_trait_object_draws() {
        use crate::traffic::poisson::PoissonSource;
        let streams = crate::engine::RngStreams::new(7);
        let mut boxed: Box<dyn ArrivalSource> = Box::new(PoissonSource::new(
            250.0,
            SimTime::ZERO,
            SimTime::from_secs(60),
        ));
        let mut rng = streams.stream(crate::engine::Stream::Traffic);
        for _ in 0..10 {
            boxed.next_arrival(&mut rng).unwrap();
        }
        let mut inline = OpenLoop::new(Box::new(PoissonSource::new(
            1.0,
            SimTime::ZERO,
            SimTime::ZERO,
        )));
        assert!(matches!(inline, OpenLoop::Poisson(_)));
        inline = OpenLoop::new(Box::new(boxed.as_poisson().unwrap().clone()));
        let (mut rng_inline, mut n) = (rng.clone(), 0);
        loop {
            let a = boxed.next_arrival(&mut rng).unwrap();
            assert_eq!(a, inline.next_arrival(&mut rng_inline).unwrap());
            if a.is_none() {
                break;
            }
            n += 1;
        }
        assert!(
            (14_000..16_000).contains(&n),
            "{n} arrivals in 60 s at 250/s"
        );
        let other = OpenLoop::new(Box::new(crate::traffic::generators::ConstantSource::new(
            250.0,
            SimTime::ZERO,
            SimTime::from_secs(60),
        )));
        assert!(matches!(other, OpenLoop::Other(_)));
    }

    #[test]
    fn a_reused_slot_starts_with_empty_side_records() {
        let mut side = RequestSide::<crate::request_path::calls::CallLink>::new();
        let id = RequestId::new(3, 0);
        assert!(side.get(id).parent.is_none());
        side.get_mut(id).parent = Some(RequestId::new(1, 0));
        assert_eq!(side.get(id).parent, Some(RequestId::new(1, 0)));
        assert!(side.written_mut(RequestId::new(9, 0)).is_none());
        side.reset(3);
        assert!(side.get(id).parent.is_none());
    }

    #[test]
    fn pod_ref_round_trips() {
        let r = PodRef::new(RevisionId::new(7, 0), PodId::new(123_456, 9));
        assert_eq!(r.revision(), RevisionId::new(7, 0));
        assert_eq!(r.pod(), PodId::new(123_456, 9));
        assert_ne!(
            r,
            PodRef::new(RevisionId::new(7, 0), PodId::new(123_456, 10))
        );
    }
}
