//! The event loop and the request path. See the parent module docs for the model and its assumptions.

use crate::autoscaler::hpa::adapter::HpaScaler;
use crate::autoscaler::hpa::runtime::HpaSetup;
use crate::autoscaler::kpa::adapter::{KpaScaler, KpaSetup};
use crate::autoscaler::scaler::{Decision, FixedScaler, PodSecond, Scaler, SecondView};
use crate::dist::DurationDist;
use crate::engine::{EventId, EventQueue, RngStreams, SimRng, Stream};
use crate::ids::{PodId, RequestId};
use crate::observe::output::{
    ClusterSummary, ColdStartSummary, ReplicaSummary, RequestCounts, RunSummary, SecondRow,
    TimeseriesSink,
};
use crate::request_path::activator::Activator;
use crate::request_path::stats::RequestStats;
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use crate::traffic::ClosedLoopDriver;
use crate::traffic::{Arrival, ArrivalSource, RequestAttrs, TrafficError};
use crate::workload::cluster::{Cluster, ClusterModel, PodRequest};
use crate::workload::discipline::{ServiceModel, Tag};
use crate::workload::pods::{Pod, PodState};
use crate::workload::startup::{PhaseTimes, Phases, Startup};
use hdrhistogram::Histogram;
use std::cmp::Reverse;
use std::collections::{BTreeMap, VecDeque};

/// The queue-proxy drainer's quiet period: a terminating pod serves on until this long after its last
/// request (Knative's drain sleep), bounded by the termination grace period.
const QUEUE_PROXY_DRAIN: SimDuration = SimDuration::from_secs(30);
/// Knative's queue-proxy queue is this many times containerConcurrency.
const QUEUE_PROXY_DEPTH_FACTOR: u32 = 10;

/// Everything the loop needs, already validated.
pub struct SimConfig {
    /// A CronHPA acting on the deployment without an HPA (only with [`AutoscalerMode::Fixed`]).
    pub standalone_cron: Option<crate::autoscaler::cron::CronHpa>,
    pub name: String,
    pub seed: u64,
    /// Traffic runs over `[0, traffic_duration)`; the run continues for `cooldown` after it.
    pub traffic_duration: SimDuration,
    pub cooldown: SimDuration,
    /// 0 = unlimited (no queue-proxy breaker).
    pub container_concurrency: u32,
    /// Requests not answered within this time of reaching the ingress fail (Knative revision timeout).
    pub request_timeout: SimDuration,
    pub cold_start: DurationDist,
    pub service_time: DurationDist,
    pub termination_grace: SimDuration,
    /// Resource requests, limits and use as a function of load.
    pub resources: crate::workload::pods::ResourceModel,
    /// Startup phases, service discipline and cluster (defaults: `cold_start` as one number, fixed slots,
    /// unlimited capacity).
    pub pod_model: PodModel,
    /// One-way client, ingress and network delays, each sampled on the way in and on the way out.
    pub request_path: [DurationDist; 3],
    pub autoscaler: AutoscalerMode,
    /// Key settings echoed into the summary (for titles and comparisons).
    pub settings: BTreeMap<String, String>,
    pub effective_config: serde_json::Value,
}

/// The pod and cluster models beyond the basic request path.
#[derive(Clone, Debug, Default)]
pub struct PodModel {
    /// Phase-by-phase startup; `None` = `SimConfig::cold_start` is the whole cold start.
    pub phases: Option<Phases>,
    pub service: ServiceModel,
    pub cluster: ClusterModel,
}

/// Who decides the replica count.
pub enum AutoscalerMode {
    /// No autoscaler: `replicas` pods, Ready at time 0, requests go straight to them.
    Fixed { replicas: u32 },
    /// Knative's KPA with the activator and queue-proxy statistics.
    Kpa(Box<KpaSetup>),
    /// Kubernetes' HPA (optionally with a CronHPA or KEDA cron triggers); requests go straight to the
    /// pods (no activator) and the deployment never goes below one pod.
    Hpa(Box<HpaSetup>),
    /// Any other policy implementing [`Scaler`] (for example a research policy).
    Custom(Box<dyn Scaler>),
}

#[inline]
fn stats_in(stats: &mut RequestStats, now: SimTime, proxied: bool) {
    if proxied {
        stats.proxied_in(now);
    } else {
        stats.request_in(now);
    }
}

#[inline]
fn stats_out(stats: &mut RequestStats, now: SimTime, proxied: bool) {
    if proxied {
        stats.proxied_out(now);
    } else {
        stats.request_out(now);
    }
}

/// Where requests come from: open-loop sources and closed-loop clients.
pub type Traffic = crate::traffic::TrafficPlan;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Traffic(#[from] TrafficError),
    #[error("writing the time series: {0}")]
    Output(#[from] std::io::Error),
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// The pending open-loop arrival is due.
    OpenArrival,
    ClientSend(u32),
    AtIngress(RequestId),
    ServiceDone(RequestId),
    AtClient(RequestId),
    PodReady(PodId),
    PodGraceOver(PodId),
    /// A terminating pod's queue-proxy drain (quiet period) ended.
    PodDrained(PodId),
    /// The earliest completion on a shared-rate (processor-sharing / GPU-batch) pod.
    PodNextDone(PodId),
    /// A node finished provisioning.
    NodeReady(u32),
    Tick,
    QueueTimeout(RequestId),
    /// The activator queue's head may have reached its deadline (one timer per queue, see
    /// [`Sim::activator_timeout`]).
    ActivatorTimeout,
    /// The wake-up the scaler asked for (a reconciler requeue, a cron job).
    ScalerWake,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Free,
    ToIngress,
    ActivatorQueue,
    PodQueue,
    Executing,
    Returning,
}

const OPEN_LOOP: u32 = u32::MAX;
/// The event-queue class of the 1 s tick (ordinary events use class 1).
const TICK_PRIORITY: u8 = 0;

#[derive(Clone, Copy, Debug)]
struct Request {
    /// Bumped every time the slot is reused, so stale ids are recognised.
    generation: u32,
    sent: SimTime,
    deadline: SimTime,
    client: u32,
    attrs: RequestAttrs,
    pod: Option<PodId>,
    stage: Stage,
    via_activator: bool,
    cold: bool,
    status: u16,
    timeout_event: Option<EventId>,
    /// KV cache pods: when the first output token came out at the pod.
    first_token: Option<SimTime>,
    /// KV cache pods: output tokens generated before a preemption (kept for the readmission).
    tokens_done: u32,
    /// KV cache pods, set when answered 200: TTFT (ns, one-way path back included) and TPOT (ns).
    ttft_ns: Option<u64>,
    tpot_ns: Option<u64>,
}

struct Rngs {
    traffic: SimRng,
    service: SimRng,
    cold_start: SimRng,
    lb: SimRng,
    network: SimRng,
}

/// Per-second counters, reset after each row.
#[derive(Default)]
struct SecondCounters {
    arrivals: u64,
    completions: u64,
    failures: u64,
    cold_completions: u64,
    latencies_us: Vec<u64>,
    preemptions: u64,
}

struct Sim {
    cfg: SimConfig,
    queue: EventQueue<Event>,
    rng: Rngs,
    end: SimTime,
    traffic_end: SimTime,
    open_loop: Option<Box<dyn ArrivalSource>>,
    pending_arrival: Option<Arrival>,
    closed_loop: Option<ClosedLoopDriver>,

    requests: Vec<Request>,
    free_requests: Vec<u32>,
    in_flight: u64,

    pods: Vec<Pod>,
    free_pods: Vec<u32>,
    /// Ready pods in slot order (Knative sorts by pod IP; the slot stands in for it).
    ready: Vec<u32>,
    ingress_rr: usize,
    starting: u32,
    terminating: u32,

    activator: Activator,

    desired: u32,
    scale_events: u64,
    cold_starts: u64,
    pod_ns: u128,

    counts: RequestCounts,
    status_codes: BTreeMap<u16, u64>,
    latency: Histogram<u64>,
    second: SecondCounters,
    /// Ready pods integrated over time (pod·ns), for the time-weighted `mean_ready`.
    ready_ns: u128,
    /// The end of the last row written: rows cover `[last_row_at, now]` back to back.
    last_row_at: SimTime,
    max_ready: u32,
    max_desired: u32,
    /// The most requests any pod has executed at once (never above containerConcurrency when it is set).
    max_pod_concurrency: u32,
    scaler: Box<dyn Scaler>,
    /// The pending [`Event::ScalerWake`].
    wake: Option<EventId>,
    /// Scratch: the ready pods' queue-proxy reports of the second, reused every tick.
    reports: Vec<PodSecond>,

    startup: Startup,
    service: ServiceModel,
    /// Requests that may run at once on a pod (0 = unlimited) and the queue in front (u32::MAX = unbounded).
    slots: u32,
    queue_limit: u32,
    shared_rate: bool,
    cluster: Cluster,
    pod_request: PodRequest,
    /// Pods without a node, in creation order.
    unplaced: VecDeque<u32>,
    cold_start_phases: Vec<PhaseTimes>,
    gpu_ns: u128,
    max_pending: u32,
    /// The LLM engine model (`gpu_batch` with `kv_cache_tokens`): run-wide TTFT/TPOT and preemptions.
    llm: Option<crate::observe::llm::LlmStats>,
}

/// Runs one simulation, streaming per-second rows to `sink`, and returns the summary.
pub fn run(
    cfg: SimConfig,
    traffic: Traffic,
    sink: &mut dyn TimeseriesSink,
) -> Result<RunSummary, SimError> {
    run_with_request_log(cfg, traffic, sink, None)
}

/// [`run`], also handing every finished request to `log` (for `requests.csv`; memory and disk then grow
/// with the number of requests, which is why it is opt-in).
pub fn run_with_request_log(
    cfg: SimConfig,
    traffic: Traffic,
    sink: &mut dyn TimeseriesSink,
    log: Option<&mut dyn RequestLog>,
) -> Result<RunSummary, SimError> {
    // One event loop: a whole run is one step to the end (see `Stepper`). The core reads no clock;
    // callers that report wall time measure it around the run.
    let mut stepper = Stepper::new(cfg, traffic)?;
    let end = stepper.end();
    stepper.step_until(end, sink, log)?;
    stepper.finish(sink)
}

/// One finished request, as `requests.csv` shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestRecord {
    pub sent: SimTime,
    pub finished: SimTime,
    pub status: u16,
    /// The pod that served it (`None` if it never reached a pod).
    pub pod: Option<PodId>,
    pub via_activator: bool,
    pub waited_for_cold_start: bool,
    /// Pods with a KV cache, successful requests with tokens: time to first token (one-way path back
    /// included) and time per output token (≥ 2 output tokens).
    pub ttft: Option<SimDuration>,
    pub tpot: Option<SimDuration>,
}

/// Receives finished requests.
pub trait RequestLog {
    fn record(&mut self, request: &RequestRecord) -> std::io::Result<()>;
}

/// Writes `requests.csv`: `sent_s,latency_ms,status,pod,via_activator,cold_start`.
pub struct CsvRequestLog<W: std::io::Write> {
    out: W,
    line: String,
    llm: bool,
}

impl<W: std::io::Write> CsvRequestLog<W> {
    pub fn new(out: W) -> std::io::Result<Self> {
        Self::with_llm_columns(out, false)
    }

    /// With `llm` (pods with a KV cache), two more columns: `ttft_ms,tpot_ms` (empty when undefined).
    pub fn with_llm_columns(mut out: W, llm: bool) -> std::io::Result<Self> {
        write!(out, "sent_s,latency_ms,status,pod,via_activator,cold_start")?;
        if llm {
            write!(out, ",ttft_ms,tpot_ms")?;
        }
        writeln!(out)?;
        Ok(CsvRequestLog {
            out,
            line: String::with_capacity(64),
            llm,
        })
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: std::io::Write> RequestLog for CsvRequestLog<W> {
    fn record(&mut self, r: &RequestRecord) -> std::io::Result<()> {
        // Formatted without allocation or f64 formatting (issue 15); the text is unchanged.
        self.line.clear();
        crate::observe::output::push_request_line(
            &mut self.line,
            r.sent.0,
            (r.finished - r.sent).0,
            r.status,
            r.pod.map(|p| p.slot()),
            r.via_activator,
            r.waited_for_cold_start,
        );
        if self.llm {
            self.line.pop();
            for v in [r.ttft, r.tpot] {
                self.line.push(',');
                if let Some(d) = v {
                    crate::observe::output::push_fixed(&mut self.line, d.0, 6);
                }
            }
            self.line.push('\n');
        }
        self.out.write_all(self.line.as_bytes())
    }
}

impl Sim {
    fn new(mut cfg: SimConfig, traffic: Traffic) -> Self {
        let streams = RngStreams::new(cfg.seed);
        let traffic_end = SimTime::ZERO + cfg.traffic_duration;
        let end = traffic_end + cfg.cooldown;
        Sim {
            queue: EventQueue::new(),
            rng: Rngs {
                traffic: streams.stream(Stream::Traffic),
                service: streams.stream(Stream::Service),
                cold_start: streams.stream(Stream::ColdStart),
                lb: streams.stream(Stream::LoadBalancing),
                network: streams.stream(Stream::Network),
            },
            end,
            traffic_end,
            open_loop: traffic.open_loop,
            pending_arrival: None,
            closed_loop: traffic.closed_loop,
            requests: Vec::with_capacity(1024),
            free_requests: Vec::with_capacity(1024),
            in_flight: 0,
            pods: Vec::new(),
            free_pods: Vec::new(),
            ready: Vec::new(),
            ingress_rr: 0,
            starting: 0,
            terminating: 0,
            activator: Activator::new(cfg.container_concurrency),
            desired: 0,
            scale_events: 0,
            cold_starts: 0,
            pod_ns: 0,
            counts: RequestCounts::default(),
            status_codes: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3)
                .expect("static histogram bounds"),
            second: SecondCounters::default(),
            ready_ns: 0,
            last_row_at: SimTime::ZERO,
            max_ready: 0,
            max_desired: 0,
            max_pod_concurrency: 0,
            scaler: match std::mem::replace(
                &mut cfg.autoscaler,
                AutoscalerMode::Fixed { replicas: 0 },
            ) {
                AutoscalerMode::Fixed { replicas } => {
                    Box::new(FixedScaler::new(replicas, cfg.standalone_cron.take()))
                }
                AutoscalerMode::Kpa(setup) => {
                    Box::new(KpaScaler::new(*setup, streams.stream(Stream::Scrape)))
                }
                AutoscalerMode::Hpa(setup) => Box::new(HpaScaler::new(*setup)),
                AutoscalerMode::Custom(scaler) => scaler,
            },
            wake: None,
            reports: Vec::new(),
            startup: match &cfg.pod_model.phases {
                Some(p) => Startup::Phases(Box::new(p.clone())),
                None => Startup::Single(cfg.cold_start.clone()),
            },
            service: cfg.pod_model.service.clone(),
            slots: cfg.pod_model.service.slots(cfg.container_concurrency),
            queue_limit: if cfg.container_concurrency > 0 {
                QUEUE_PROXY_DEPTH_FACTOR * cfg.container_concurrency
            } else {
                u32::MAX
            },
            shared_rate: cfg.pod_model.service.is_shared_rate(),
            cluster: Cluster::new(cfg.pod_model.cluster.clone()).seeded(cfg.seed),
            pod_request: PodRequest {
                cpu_millis: cfg.resources.cpu_request_millis.max(0.0).ceil() as u64,
                memory_bytes: cfg.resources.memory_request_bytes.max(0.0).ceil() as u64,
                gpus: cfg.resources.gpus,
            },
            unplaced: VecDeque::new(),
            cold_start_phases: Vec::new(),
            gpu_ns: 0,
            max_pending: 0,
            llm: match &cfg.pod_model.service {
                ServiceModel::GpuBatch(g) => {
                    g.kv_cache_tokens.map(crate::observe::llm::LlmStats::new)
                }
                _ => None,
            },
            cfg,
        }
    }

    /// The id of the pod now in `slot`.
    fn pod_id(&self, slot: u32) -> PodId {
        PodId::new(slot, self.pods[slot as usize].generation)
    }

    fn is_live(&self, pod: PodId) -> bool {
        self.pods[pod.index()].generation == pod.generation()
    }

    fn at(&mut self, time: SimTime, event: Event) -> EventId {
        // The loop only ever schedules at or after the current time, so this cannot fail.
        self.queue
            .schedule(time, event)
            .expect("events are never scheduled into the past")
    }

    /// The tick has its own priority class, so the tick at `t` runs before every other event at `t` whenever
    /// that was scheduled, and row `t` covers exactly `[t - 1 s, t)`.
    fn schedule_tick(&mut self, at: SimTime) {
        self.queue
            .schedule_with_priority(at, TICK_PRIORITY, Event::Tick)
            .expect("ticks are scheduled in the future");
    }

    fn start(&mut self) -> Result<(), SimError> {
        self.schedule_tick(SimTime::from_secs(1));
        let plan = self.scaler.start(self.end);
        for _ in 0..plan.replicas {
            self.create_pod(SimTime::ZERO, plan.ready_now);
        }
        self.desired = plan.replicas;
        self.max_desired = plan.replicas;
        self.activator.in_path = plan.activator_in_path;
        self.schedule_wake(plan.wake_at);
        self.fetch_open_arrival()?;
        if let Some(driver) = self.closed_loop.as_mut() {
            for (client, at) in driver.initial_sends() {
                if at < self.traffic_end {
                    self.queue
                        .schedule(at, Event::ClientSend(client))
                        .expect("initial sends are not in the past");
                }
            }
        }
        Ok(())
    }

    fn fetch_open_arrival(&mut self) -> Result<(), SimError> {
        if let Some(source) = self.open_loop.as_mut() {
            match source.next_arrival(&mut self.rng.traffic)? {
                Some(arrival) if arrival.at < self.traffic_end => {
                    let at = arrival.at.max(self.queue.now());
                    self.pending_arrival = Some(arrival);
                    self.at(at, Event::OpenArrival);
                }
                _ => self.open_loop = None,
            }
        }
        Ok(())
    }

    fn handle(
        &mut self,
        now: SimTime,
        event: Event,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        match event {
            Event::OpenArrival => {
                if let Some(arrival) = self.pending_arrival.take() {
                    self.send(now, OPEN_LOOP, arrival.attrs);
                }
                self.fetch_open_arrival()?;
            }
            Event::ClientSend(client) => self.send(now, client, RequestAttrs::default()),
            Event::AtIngress(req) => self.at_ingress(now, req),
            Event::ServiceDone(req) => self.service_done(now, req),
            Event::AtClient(req) => self.at_client(now, req),
            Event::PodReady(pod) if self.is_live(pod) => self.pod_ready(now, pod.slot()),
            Event::PodGraceOver(pod) if self.is_live(pod) => self.pod_grace_over(now, pod.slot()),
            Event::PodDrained(pod) if self.is_live(pod) => self.pod_drained(now, pod.slot()),
            Event::PodNextDone(pod) if self.is_live(pod) => self.shared_done(now, pod.slot()),
            // A lifecycle event of a pod whose slot has been reused since.
            Event::PodReady(_)
            | Event::PodGraceOver(_)
            | Event::PodDrained(_)
            | Event::PodNextDone(_) => {}
            Event::NodeReady(node) => {
                self.cluster.node_ready(node, now);
                self.place_pending(now);
            }
            Event::QueueTimeout(req) => self.queue_timeout(now, req),
            Event::ActivatorTimeout => self.activator_timeout(now),
            Event::ScalerWake => {
                self.wake = None;
                let d = self.scaler.on_wake(now, self.ready.len() as u32);
                self.apply(now, d);
            }
            Event::Tick => {
                self.tick(now, sink)?;
                let next = now + SimDuration::from_secs(1);
                if next <= self.end {
                    self.schedule_tick(next);
                }
            }
        }
        Ok(())
    }

    // ---- request path -------------------------------------------------------------------------------

    fn one_way_delay(&mut self) -> SimDuration {
        let [a, b, c] = &self.cfg.request_path;
        a.sample(&mut self.rng.network)
            + b.sample(&mut self.rng.network)
            + c.sample(&mut self.rng.network)
    }

    fn send(&mut self, now: SimTime, client: u32, attrs: RequestAttrs) {
        let mut request = Request {
            generation: 0,
            sent: now,
            deadline: SimTime::MAX,
            client,
            attrs,
            pod: None,
            stage: Stage::ToIngress,
            via_activator: false,
            cold: false,
            status: 0,
            timeout_event: None,
            first_token: None,
            tokens_done: 0,
            ttft_ns: None,
            tpot_ns: None,
        };
        let id = match self.free_requests.pop() {
            Some(slot) => {
                request.generation = self.requests[slot as usize].generation.wrapping_add(1);
                self.requests[slot as usize] = request;
                RequestId::new(slot, request.generation)
            }
            None => {
                self.requests.push(request);
                RequestId::new((self.requests.len() - 1) as u32, 0)
            }
        };
        self.counts.total += 1;
        self.in_flight += 1;
        self.second.arrivals += 1;
        let delay = self.one_way_delay();
        self.at(now + delay, Event::AtIngress(id));
    }

    fn at_ingress(&mut self, now: SimTime, id: RequestId) {
        self.requests[id.index()].deadline = now + self.cfg.request_timeout;
        if !self.scaler.has_activator() && self.ready.is_empty() {
            // No activator with the HPA: a Service without ready endpoints refuses the request.
            self.counts.rejected += 1;
            self.respond(now, id, 503);
            return;
        }
        if self.activator.in_path || self.ready.is_empty() {
            self.enqueue_at_activator(now, id);
        } else {
            let pod = self.ready[self.ingress_rr % self.ready.len()];
            self.ingress_rr = self.ingress_rr.wrapping_add(1);
            self.admit_to_pod(now, id, pod);
        }
    }

    fn enqueue_at_activator(&mut self, now: SimTime, id: RequestId) {
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

    fn dispatch_from_activator(&mut self, now: SimTime) {
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

    fn activator_release(&mut self, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.activator_in_flight = p.activator_in_flight.saturating_sub(1);
        self.activator
            .released(pod, p.activator_in_flight, p.state == PodState::Ready);
    }

    fn admit_to_pod(&mut self, now: SimTime, id: RequestId, pod: u32) {
        let slots = self.slots;
        let via_activator = self.requests[id.index()].via_activator;
        self.requests[id.index()].pod = Some(self.pod_id(pod));
        let engine_ok = self.engine_admits(now, id, pod, true);
        let p = &mut self.pods[pod as usize];
        // Queue-proxy statistics count the request before the breaker, so queued requests count too.
        stats_in(&mut p.stats, now, via_activator);
        if (slots == 0 || p.executing < slots) && engine_ok {
            self.start_service(now, id, pod);
        } else if p.queued < self.queue_limit {
            p.queue.push_back(id);
            p.queued += 1;
            let r = &mut self.requests[id.index()];
            r.stage = Stage::PodQueue;
            let deadline = r.deadline;
            let ev = self.at(deadline, Event::QueueTimeout(id));
            self.requests[id.index()].timeout_event = Some(ev);
        } else {
            stats_out(&mut p.stats, now, via_activator);
            if via_activator {
                self.activator_release(pod);
            }
            self.counts.rejected += 1;
            self.respond(now, id, 503);
        }
    }

    fn start_service(&mut self, now: SimTime, id: RequestId, pod: u32) {
        if self.shared_rate {
            self.start_shared(now, id, pod);
            return;
        }
        let p = &mut self.pods[pod as usize];
        p.integrate_usage(now, &self.cfg.resources);
        p.executing += 1;
        self.max_pod_concurrency = self.max_pod_concurrency.max(p.executing);
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Executing;
        let service = match r.attrs.service_time {
            Some(s) => s,
            None => self.cfg.service_time.sample(&mut self.rng.service),
        };
        let r = &mut self.requests[id.index()];
        let done = now + service;
        let done = if done > r.deadline {
            r.status = 504;
            r.deadline
        } else {
            r.status = 200;
            done
        };
        self.at(done, Event::ServiceDone(id));
    }

    fn service_done(&mut self, now: SimTime, id: RequestId) {
        let r = self.requests[id.index()];
        if r.generation != id.generation() || r.stage != Stage::Executing {
            // Killed when its pod's grace period ran out (and the slot possibly reused since).
            return;
        }
        let Some(pod) = r.pod.map(|p| p.slot()) else {
            return;
        };
        let p = &mut self.pods[pod as usize];
        p.integrate_usage(now, &self.cfg.resources);
        p.executing -= 1;
        stats_out(&mut p.stats, now, r.via_activator);
        if r.via_activator {
            self.activator_release(pod);
        }
        if r.status == 504 {
            self.counts.timed_out += 1;
        }
        self.respond(now, id, r.status);
        self.pull_from_pod_queue(now, pod);
        self.after_pod_freed(now, pod);
    }

    /// A request joins a shared-rate pod: the pod's virtual clock advances, the request's finish tag is
    /// pushed, and the pod's next-completion event moves.
    fn start_shared(&mut self, now: SimTime, id: RequestId, pod: u32) {
        if self.pods[pod as usize].rate.kv.is_some() && has_tokens(&self.requests[id.index()].attrs)
        {
            self.start_on_engine(now, id, pod);
            return;
        }
        let work = {
            let r = &self.requests[id.index()];
            self.service
                .work_secs(&r.attrs, &self.cfg.service_time, &mut self.rng.service)
        };
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Executing;
        r.status = 200;
        let p = &mut self.pods[pod as usize];
        p.integrate_usage(now, &self.cfg.resources);
        p.rate.advance(now);
        p.executing += 1;
        self.max_pod_concurrency = self.max_pod_concurrency.max(p.executing);
        let tag = p.rate.vtime + work;
        p.rate.tags.push(Reverse(Tag(tag, id)));
        self.reschedule_shared(now, pod);
    }

    /// Recomputes the pod's speed for its running count and moves its next-completion event.
    fn reschedule_shared(&mut self, now: SimTime, pod: u32) {
        let p = &mut self.pods[pod as usize];
        p.rate.speed = self.service.speed(p.executing, &self.cfg.resources);
        if let Some(ev) = p.rate.next.take() {
            self.queue.cancel(ev);
        }
        if let Some(secs) = p.rate.secs_to_next() {
            // Round up so the virtual clock has reached the tag when the event fires.
            let at = now + SimDuration((secs * 1e9).ceil() as u64);
            let ev = self.at(at, Event::PodNextDone(self.pod_id(pod)));
            self.pods[pod as usize].rate.next = Some(ev);
        }
    }

    /// The earliest request(s) on a shared-rate pod finished.
    fn shared_done(&mut self, now: SimTime, pod: u32) {
        {
            let p = &mut self.pods[pod as usize];
            p.rate.next = None;
            p.rate.advance(now);
        }
        self.take_first_tokens(pod);
        loop {
            let p = &mut self.pods[pod as usize];
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
                || r.pod.map(|p| p.slot()) != Some(pod)
            {
                continue;
            }
            p.integrate_usage(now, &self.cfg.resources);
            p.executing -= 1;
            if let Some(kv) = p.rate.kv.as_mut() {
                kv.release(id);
            }
            stats_out(&mut p.stats, now, r.via_activator);
            if r.via_activator {
                self.activator_release(pod);
            }
            let status = if now > r.deadline {
                self.counts.timed_out += 1;
                504
            } else {
                200
            };
            self.respond(now, id, status);
        }
        let preempted = self.preempt_on_overflow(now, pod);
        if !preempted {
            // vLLM schedules no waiting request in a step that preempted.
            self.pull_from_pod_queue(now, pod);
        }
        self.reschedule_shared(now, pod);
        self.after_pod_freed(now, pod);
    }

    fn pull_from_pod_queue(&mut self, now: SimTime, pod: u32) {
        let slots = self.slots;
        loop {
            let p = &mut self.pods[pod as usize];
            if slots > 0 && p.executing >= slots {
                return;
            }
            if p.rate.kv.is_some() {
                let Some(&head) = p.queue.front() else {
                    return;
                };
                let r = &self.requests[head.index()];
                if (r.generation == head.generation() && r.stage == Stage::PodQueue)
                    && !self.engine_admits(now, head, pod, false)
                {
                    return;
                }
            }
            let p = &mut self.pods[pod as usize];
            let Some(next) = p.queue.pop_front() else {
                return;
            };
            let r = &self.requests[next.index()];
            if r.generation != next.generation() || r.stage != Stage::PodQueue {
                continue;
            }
            p.queued -= 1;
            if let Some(ev) = self.requests[next.index()].timeout_event.take() {
                self.queue.cancel(ev);
            }
            self.start_service(now, next, pod);
        }
    }

    fn after_pod_freed(&mut self, now: SimTime, pod: u32) {
        let p = &self.pods[pod as usize];
        if p.state == PodState::Terminating && p.idle() && now >= p.drain_until {
            self.pod_gone(now, pod);
        }
        // Knative's throttler hands a freed slot to a waiting request whatever the SKS mode: requests
        // already queued at the activator keep draining after the activator leaves the path.
        if self.activator.queued() > 0 {
            self.dispatch_from_activator(now);
        }
    }

    /// The activator queue's timer: answers every waiting request whose revision timeout has passed with
    /// the activator's 504, then re-arms for the new head. A FIFO queue with one constant timeout has
    /// non-decreasing deadlines, so one timer per queue replaces one cancelled timer per request.
    fn activator_timeout(&mut self, now: SimTime) {
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

    fn queue_timeout(&mut self, now: SimTime, id: RequestId) {
        let r = self.requests[id.index()];
        if r.generation != id.generation() {
            return;
        }
        self.requests[id.index()].timeout_event = None;
        // Only a request in a pod's queue has its own timer (the activator queue has one for its head).
        if r.stage != Stage::PodQueue {
            return;
        }
        let Some(pod) = r.pod.map(|p| p.slot()) else {
            return;
        };
        let p = &mut self.pods[pod as usize];
        p.queued -= 1;
        stats_out(&mut p.stats, now, r.via_activator);
        if r.via_activator {
            self.activator_release(pod);
        }
        self.counts.timed_out += 1;
        self.respond(now, id, 504);
        self.after_pod_freed(now, pod);
    }

    /// Sends the response (success or failure) back through the request path.
    fn respond(&mut self, now: SimTime, id: RequestId, status: u16) {
        if self.requests[id.index()].via_activator {
            self.activator.stats.request_out(now);
        }
        let delay = self.one_way_delay();
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Returning;
        r.status = status;
        if let (200, Some(first)) = (status, r.first_token) {
            // The first token travels the same one-way path back as the response.
            let first = first.min(now);
            r.ttft_ns = Some((first - r.sent).0 + delay.0);
            let out = r.attrs.output_tokens;
            r.tpot_ns = (out >= 2).then(|| (now - first).0 / u64::from(out - 1));
        }
        self.at(now + delay, Event::AtClient(id));
    }

    fn at_client(&mut self, now: SimTime, id: RequestId) {
        let r = self.requests[id.index()];
        self.requests[id.index()].stage = Stage::Free;
        self.free_requests.push(id.slot());
        self.in_flight -= 1;
        *self.status_codes.entry(r.status).or_insert(0) += 1;
        if r.status == 200 {
            self.counts.completed += 1;
            self.second.completions += 1;
            let us = (now - r.sent).0 / 1_000;
            self.latency.saturating_record(us.max(1));
            self.second.latencies_us.push(us);
            if r.cold {
                self.counts.cold_start_affected += 1;
                self.second.cold_completions += 1;
            }
            if let (Some(llm), Some(ttft)) = (self.llm.as_mut(), r.ttft_ns) {
                llm.record(ttft, r.tpot_ns);
            }
        } else {
            self.counts.failed += 1;
            self.second.failures += 1;
        }
        if r.client != OPEN_LOOP {
            if let Some(driver) = self.closed_loop.as_mut() {
                if let Some(next) = driver.on_response(r.client, now, &mut self.rng.traffic) {
                    if next < self.traffic_end {
                        self.at(next.max(now), Event::ClientSend(r.client));
                    }
                }
            }
        }
    }

    // ---- pods ---------------------------------------------------------------------------------------

    /// Creates a pod. `ready_now` pods (warm start, fixed replicas) are Ready at once if a node fits;
    /// otherwise, like every other new pod, they wait Pending for a node and then cold-start.
    fn create_pod(&mut self, now: SimTime, ready_now: bool) -> u32 {
        let mut pod = Pod::new(now, PodState::Starting);
        if let ServiceModel::GpuBatch(g) = &self.service {
            if g.kv_cache_tokens.is_some() {
                pod.rate.kv = Some(Box::new(crate::workload::kv_cache::KvCache::new(
                    g.kv_cache_tokens,
                    g.prefill_per_token_s,
                    g.decode_per_token_s,
                )));
            }
        }
        let slot = match self.free_pods.pop() {
            Some(slot) => {
                pod.generation = self.pods[slot as usize].generation.wrapping_add(1);
                self.pods[slot as usize] = pod;
                slot
            }
            None => {
                self.pods.push(pod);
                (self.pods.len() - 1) as u32
            }
        };
        self.starting += 1;
        if ready_now {
            if let Some(node) = self.cluster.place(&self.pod_request, now) {
                let p = &mut self.pods[slot as usize];
                p.node = Some(node);
                p.placed_at = now;
                // A warm pod's node has the image.
                self.cluster.nodes[node as usize].image_ready_at = Some(now);
                self.starting -= 1;
                let p = &mut self.pods[slot as usize];
                p.state = PodState::Ready;
                p.ready_at = Some(now);
                self.mark_ready(slot);
                return slot;
            }
        }
        self.cold_starts += 1;
        self.unplaced.push_back(slot);
        self.place_pending(now);
        slot
    }

    /// Binds Pending pods to nodes, oldest first, while they fit, and starts their startup phases.
    fn place_pending(&mut self, now: SimTime) {
        while let Some(&pod) = self.unplaced.front() {
            if self.pods[pod as usize].state != PodState::Starting
                || self.pods[pod as usize].node.is_some()
            {
                self.unplaced.pop_front(); // deleted while Pending
                continue;
            }
            let Some(node) = self.cluster.place(&self.pod_request, now) else {
                return;
            };
            self.unplaced.pop_front();
            let image = self.cluster.nodes[node as usize].image_ready_at;
            let (plan, image) = self.startup.plan(now, image, &mut self.rng.cold_start);
            self.cluster.nodes[node as usize].image_ready_at = image;
            let p = &mut self.pods[pod as usize];
            p.node = Some(node);
            p.placed_at = now;
            p.bound_at = plan.bound_at;
            p.phases = plan.phases;
            // Time spent Pending waiting for capacity counts as scheduling.
            p.phases.scheduling += now - p.created;
            let ev = self.at(plan.ready_at, Event::PodReady(self.pod_id(pod)));
            self.pods[pod as usize].lifecycle_event = Some(ev);
        }
    }

    fn mark_ready(&mut self, pod: u32) {
        let pos = self.ready.partition_point(|&p| p < pod);
        self.ready.insert(pos, pod);
        self.activator.pod_ready(pod);
    }

    fn pod_ready(&mut self, now: SimTime, pod: u32) {
        let p = &mut self.pods[pod as usize];
        if p.state != PodState::Starting {
            return; // deleted before it became ready
        }
        p.lifecycle_event = None;
        p.state = PodState::Ready;
        p.ready_at = Some(now);
        p.stats = RequestStats::new(now);
        p.last_tick = p.usage(now, &self.cfg.resources);
        self.cold_start_phases.push(p.phases);
        self.starting -= 1;
        self.mark_ready(pod);
        if self.activator.queued() > 0 {
            self.dispatch_from_activator(now);
        }
        let d = self.scaler.on_pod_ready(now, self.ready.len() as u32);
        self.apply(now, d);
    }

    /// Scales the deployment to `replicas` (Pending, Starting and Ready pods).
    fn set_replicas(&mut self, now: SimTime, replicas: u32) {
        let current = self.starting + self.ready.len() as u32;
        if replicas != self.desired {
            self.scale_events += 1;
        }
        self.desired = replicas;
        self.max_desired = self.max_desired.max(replicas);
        if replicas > current {
            for _ in current..replicas {
                self.create_pod(now, false);
            }
            return;
        }
        let mut to_remove = current - replicas;
        // ReplicaSet order: unscheduled pods first, then pods that are not ready yet; newest first.
        let mut starting: Vec<(bool, SimTime, u32)> = (0..self.pods.len() as u32)
            .filter(|&i| self.pods[i as usize].state == PodState::Starting)
            .map(|i| {
                let p = &self.pods[i as usize];
                (p.node.is_none(), p.created, i)
            })
            .collect();
        starting.sort_by(|a, b| b.cmp(a));
        for (_, _, pod) in starting {
            if to_remove == 0 {
                return;
            }
            if let Some(ev) = self.pods[pod as usize].lifecycle_event.take() {
                self.queue.cancel(ev);
            }
            self.pods[pod as usize].state = PodState::Gone;
            self.starting -= 1;
            self.release_pod_slot(now, pod);
            to_remove -= 1;
        }
        // Then the most recently ready.
        let mut ready: Vec<(SimTime, u32)> = self
            .ready
            .iter()
            .map(|&i| (self.pods[i as usize].ready_at.unwrap_or(SimTime::ZERO), i))
            .collect();
        ready.sort_by(|a, b| b.cmp(a));
        for (_, pod) in ready.into_iter().take(to_remove as usize) {
            self.terminate(now, pod);
        }
    }

    /// Cluster Autoscaler drains `node`: each pod on it is evicted (gracefully terminated, or deleted
    /// if not ready yet) and the deployment recreates it, Pending, to cold-start elsewhere.
    fn evict_node(&mut self, now: SimTime, node: u32) {
        let on: Vec<u32> = (0..self.pods.len() as u32)
            .filter(|&i| {
                let p = &self.pods[i as usize];
                p.node == Some(node) && matches!(p.state, PodState::Starting | PodState::Ready)
            })
            .collect();
        for pod in on {
            if self.pods[pod as usize].state == PodState::Ready {
                self.terminate(now, pod);
            } else {
                if let Some(ev) = self.pods[pod as usize].lifecycle_event.take() {
                    self.queue.cancel(ev);
                }
                self.pods[pod as usize].state = PodState::Gone;
                self.starting -= 1;
                self.release_pod_slot(now, pod);
            }
            self.create_pod(now, false);
        }
    }

    fn terminate(&mut self, now: SimTime, pod: u32) {
        if let Ok(pos) = self.ready.binary_search(&pod) {
            self.ready.remove(pos);
        }
        self.activator.pod_removed(pod);
        self.pods[pod as usize].state = PodState::Terminating;
        self.terminating += 1;
        // Knative's queue-proxy drains on SIGTERM: it keeps serving until no request has come for its quiet
        // period, then waits for the in-flight ones; the kubelet kills it at the end of the grace period. The
        // pod keeps its node (GPUs included) meanwhile. No request reaches it after this point (it left the
        // endpoints at once), so the quiet period runs from now.
        let grace = self.cfg.termination_grace;
        let drain = QUEUE_PROXY_DRAIN.min(grace);
        let id = self.pod_id(pod);
        self.pods[pod as usize].drain_until = now + drain;
        if drain.0 == 0 && self.pods[pod as usize].idle() {
            self.pod_gone(now, pod);
            return;
        }
        let ev = self.at(now + grace, Event::PodGraceOver(id));
        self.pods[pod as usize].lifecycle_event = Some(ev);
        if drain < grace {
            // Not cancelled: a pod gone earlier by the grace period is recognised by its generation.
            self.at(now + drain, Event::PodDrained(id));
        }
    }

    fn pod_drained(&mut self, now: SimTime, pod: u32) {
        let p = &self.pods[pod as usize];
        if p.state == PodState::Terminating && p.idle() {
            self.pod_gone(now, pod);
        }
    }

    fn pod_grace_over(&mut self, now: SimTime, pod: u32) {
        if self.pods[pod as usize].state != PodState::Terminating {
            return;
        }
        self.pods[pod as usize].lifecycle_event = None;
        // SIGKILL: whatever is still queued or executing fails.
        let queued: Vec<RequestId> = self.pods[pod as usize].queue.drain(..).collect();
        for id in queued {
            let r = &self.requests[id.index()];
            if r.generation == id.generation() && r.stage == Stage::PodQueue {
                if let Some(ev) = self.requests[id.index()].timeout_event.take() {
                    self.queue.cancel(ev);
                }
                self.respond(now, id, 502);
            }
        }
        let this = Some(self.pod_id(pod));
        for slot in 0..self.requests.len() as u32 {
            let r = self.requests[slot as usize];
            if r.stage == Stage::Executing && r.pod == this {
                self.respond(now, RequestId::new(slot, r.generation), 502);
            }
        }
        let p = &mut self.pods[pod as usize];
        p.integrate_usage(now, &self.cfg.resources);
        p.executing = 0;
        p.queued = 0;
        p.rate.tags.clear();
        if let Some(kv) = p.rate.kv.as_mut() {
            kv.clear();
        }
        if let Some(ev) = p.rate.next.take() {
            self.queue.cancel(ev);
        }
        self.pod_gone(now, pod);
    }

    fn pod_gone(&mut self, now: SimTime, pod: u32) {
        if let Some(ev) = self.pods[pod as usize].lifecycle_event.take() {
            self.queue.cancel(ev);
        }
        if self.pods[pod as usize].state == PodState::Terminating {
            self.terminating -= 1;
        }
        self.pods[pod as usize].state = PodState::Gone;
        self.release_pod_slot(now, pod);
    }

    /// Frees the pod's slot and its node's resources, then lets Pending pods use them.
    fn release_pod_slot(&mut self, now: SimTime, pod: u32) {
        self.pod_ns += u128::from((now - self.pods[pod as usize].created).0);
        if let Some(node) = self.pods[pod as usize].node.take() {
            let placed = self.pods[pod as usize].placed_at;
            self.gpu_ns += u128::from(self.pod_request.gpus) * u128::from((now - placed).0);
            self.cluster.release(node, &self.pod_request, now);
        }
        self.free_pods.push(pod);
        if !self.unplaced.is_empty() {
            self.place_pending(now);
        }
    }

    // ---- per-second statistics ----------------------------------------------------------------------

    fn tick(&mut self, now: SimTime, sink: &mut dyn TimeseriesSink) -> Result<(), SimError> {
        // The row ending at `end` is written by `finish`, after every event at `end`, so that events at
        // the very last instant are in a row too.
        if now >= self.end {
            return Ok(());
        }
        self.write_row(now, true, sink)
    }

    /// Writes the row for `[last_row_at, now]`. `whole` is false only for a final partial second: the
    /// scaler and the cluster autoscaler then are not stepped, because both work in whole-second periods
    /// (and nothing after the end would see their decision); the row shows their last state.
    fn write_row(
        &mut self,
        now: SimTime,
        whole: bool,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        let span = now - self.last_row_at;
        let span_s = span.as_secs_f64();
        if whole {
            self.step_scaler(now);
        }
        self.sample(now, whole, span, span_s, sink)
    }

    fn step_scaler(&mut self, now: SimTime) {
        // Every queue-proxy closes its 1 s period, then the scaler sees the second.
        self.reports.clear();
        for &pod in &self.ready {
            let p = &mut self.pods[pod as usize];
            self.reports.push(PodSecond {
                pod: PodId::new(pod, p.generation),
                created: p.created,
                report: p.stats.report(now),
            });
        }
        let mut view = SecondView {
            now,
            ready: self.ready.len() as u32,
            replicas: self.desired,
            arrivals: self.second.arrivals,
            in_flight: self.in_flight,
            queue_proxies: &self.reports,
            activator: self.activator.stats.report(now),
            pods: &mut self.pods,
            resources: &self.cfg.resources,
        };
        let d = self.scaler.on_second(&mut view);
        self.apply(now, d);
    }

    fn sample(
        &mut self,
        now: SimTime,
        whole: bool,
        span: SimDuration,
        span_s: f64,
        sink: &mut dyn TimeseriesSink,
    ) -> Result<(), SimError> {
        // One pass over the pods: queues, Pending versus starting, and resource use over the second.
        let mut queue_proxy_queue = 0u64;
        let mut pending = 0u32;
        let (mut cpu_sum, mut gpu_sum, mut measured) = (0.0f64, 0.0f64, 0u32);
        let res = &self.cfg.resources;
        for p in self.pods.iter_mut() {
            match p.state {
                PodState::Gone => continue,
                PodState::Starting if p.node.is_none() || p.bound_at > now => pending += 1,
                PodState::Ready => {
                    let u = p.usage(now, res);
                    let secs = (now - p.ready_at.unwrap_or(now))
                        .as_secs_f64()
                        .clamp(1e-9, span_s.max(1e-9));
                    if res.cpu_request_millis > 0.0 {
                        cpu_sum += (u.cpu_core_seconds - p.last_tick.cpu_core_seconds)
                            / (res.cpu_request_millis / 1000.0)
                            / secs;
                    }
                    gpu_sum += (u.gpu_busy_seconds - p.last_tick.gpu_busy_seconds) / secs;
                    measured += 1;
                    p.last_tick = u;
                }
                _ => {}
            }
            queue_proxy_queue += u64::from(p.queued);
        }
        let (cpu_utilization, gpu_utilization) = if measured > 0 {
            let n = f64::from(measured);
            (
                (res.cpu_request_millis > 0.0).then_some(cpu_sum / n),
                (res.gpus > 0).then_some(gpu_sum / n),
            )
        } else {
            (None, None)
        };
        self.max_pending = self.max_pending.max(pending);
        let unplaced = self.unplaced.len() as u32;
        if whole && (unplaced > 0 || self.cluster.model.autoscaling.is_some()) {
            let (mut unplaced, mut oldest) = (0u32, None::<SimTime>);
            for &i in &self.unplaced {
                let p = &self.pods[i as usize];
                if p.state == PodState::Starting && p.node.is_none() {
                    unplaced += 1;
                    oldest = Some(oldest.map_or(p.created, |o| o.min(p.created)));
                }
            }
            let acts = self
                .cluster
                .autoscale(now, unplaced, oldest, &self.pod_request);
            for (node, ready_at) in acts.added {
                self.at(ready_at, Event::NodeReady(node));
            }
            for node in acts.drain {
                self.evict_node(now, node);
            }
        }
        let ready = self.ready.len() as u32;
        self.max_ready = self.max_ready.max(ready);
        self.ready_ns += u128::from(ready) * u128::from(span.0);
        self.last_row_at = now;
        let lat = &mut self.second.latencies_us;
        lat.sort_unstable();
        let pct = |q: f64| -> Option<f64> {
            if lat.is_empty() {
                None
            } else {
                let idx = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
                Some(lat[idx] as f64 / 1e3)
            }
        };
        let mut row = SecondRow {
            // A partial row belongs to the second it falls in (1.5 s -> 2).
            time_s: now.0.div_ceil(NANOS_PER_SEC),
            arrivals: self.second.arrivals,
            completions: self.second.completions,
            failures: self.second.failures,
            in_flight: self.in_flight,
            activator_queue: self.activator.queued() as u64,
            queue_proxy_queue,
            desired_pods: Some(self.desired),
            ready_pods: ready,
            pending_pods: pending,
            starting_pods: self.starting - pending,
            terminating_pods: self.terminating,
            observed_stable: None,
            observed_panic: None,
            target_per_pod: None,
            panic: false,
            excess_burst_capacity: None,
            activator_in_path: self.activator.in_path,
            scale_reason: "",
            latency_p50_ms: pct(0.50),
            latency_p95_ms: pct(0.95),
            latency_p99_ms: pct(0.99),
            cold_start_completions: self.second.cold_completions,
            cron_fire: None,
            cpu_utilization,
            gpu_utilization,
            hpa_metric: None,
            hpa_proposal: None,
            hpa_recommendation: None,
            hpa_limit_reason: "",
            row_duration_s: span_s,
            engine: None,
        };
        if self.llm.is_some() {
            row.engine = Some(self.engine_row(now, sink)?);
        }
        self.scaler.columns(&mut row);
        sink.row(&row)?;
        let s = &mut self.second;
        s.arrivals = 0;
        s.completions = 0;
        s.failures = 0;
        s.cold_completions = 0;
        s.preemptions = 0;
        s.latencies_us.clear();
        Ok(())
    }

    // ---- the scaler ---------------------------------------------------------------------------------

    /// Applies a scaler's decision: the wake-up first, then the activator, then the replica count.
    fn apply(&mut self, now: SimTime, d: Decision) {
        if let Some(at) = d.wake_at {
            if let Some(ev) = self.wake.take() {
                self.queue.cancel(ev);
            }
            self.schedule_wake(Some(at.max(now)));
        }
        if let Some(in_path) = d.activator_in_path {
            self.activator.in_path = in_path;
        }
        if let Some(replicas) = d.replicas {
            self.set_replicas(now, replicas);
        }
    }

    fn schedule_wake(&mut self, at: Option<SimTime>) {
        if let Some(at) = at {
            let at = at.max(self.queue.now());
            self.wake = Some(self.at(at, Event::ScalerWake));
        }
    }

    /// Writes the last row (`[last whole second, end]`, partial when the run ends between seconds) and
    /// builds the summary.
    fn finish(mut self, sink: &mut dyn TimeseriesSink) -> Result<RunSummary, SimError> {
        let end = self.end;
        if end > self.last_row_at {
            let whole = end - self.last_row_at == SimDuration::from_secs(1);
            self.write_row(end, whole, sink)?;
        }
        for i in 0..self.pods.len() {
            if self.pods[i].state != PodState::Gone {
                self.pod_ns += u128::from((end - self.pods[i].created).0);
                if self.pods[i].node.is_some() {
                    self.gpu_ns += u128::from(self.pod_request.gpus)
                        * u128::from((end - self.pods[i].placed_at).0);
                }
            }
        }
        let cold_start_s = ColdStartSummary::from_phases(&self.cold_start_phases);
        let cluster = ClusterSummary {
            max_nodes: self.cluster.max_nodes,
            final_nodes: self.cluster.live_nodes(),
            nodes_added: self.cluster.nodes_added,
            nodes_removed: self.cluster.nodes_removed,
            node_seconds: self.cluster.node_seconds(end),
            max_pending_pods: self.max_pending,
            autoscaler: self
                .cluster
                .model
                .autoscaling
                .map(|_| self.cluster.stats.clone()),
            cost: self.cluster.cost(&self.cfg.name, end),
            scheduling: if self
                .cluster
                .model
                .pools
                .iter()
                .all(|p| p.cpu_millis == u64::MAX)
            {
                "unlimited".into()
            } else {
                match self.cluster.model.policy {
                    crate::workload::cluster::Policy::FirstFit => "first_fit".into(),
                    crate::workload::cluster::Policy::MostAllocated => "most_allocated".into(),
                }
            },
        };
        self.counts.in_flight_at_end = self.in_flight;
        let latency_ms = crate::observe::latency::summarize(&self.latency);
        let histogram = crate::observe::latency::buckets(&self.latency);
        let latency_cdf_ms = crate::observe::latency::cdf(&self.latency);
        let duration_s = (self.end.0 as f64) / NANOS_PER_SEC as f64;
        let traffic_duration_s = (self.traffic_end.0 as f64) / NANOS_PER_SEC as f64;
        Ok(RunSummary {
            scenario: self.cfg.name.clone(),
            seed: self.cfg.seed,
            duration_s,
            traffic_duration_s,
            autoscaler: self.scaler.label().to_string(),
            requests: self.counts.clone(),
            latency_ms,
            latency_histogram_ms: histogram,
            latency_cdf_ms,
            status_codes: self
                .status_codes
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            // Over the traffic period: a cooldown adds time but no offered load.
            throughput_rps: if traffic_duration_s > 0.0 {
                self.counts.completed as f64 / traffic_duration_s
            } else {
                0.0
            },
            replicas: ReplicaSummary {
                max_ready: self.max_ready,
                // Time-weighted, so a final partial row counts for its length.
                mean_ready: if self.end.0 > 0 {
                    self.ready_ns as f64 / self.end.0 as f64
                } else {
                    0.0
                },
                max_desired: self.max_desired,
                max_pod_concurrency: self.max_pod_concurrency,
                final_ready: self.ready.len() as u32,
            },
            pod_seconds: self.pod_ns as f64 / 1e9,
            gpu_seconds: self.gpu_ns as f64 / 1e9,
            cold_start_s,
            cluster,
            service_model: self.service.label().to_string(),
            scale_events: self.scale_events,
            panic_seconds: self.scaler.panic_seconds() as f64,
            cold_starts: self.cold_starts,
            events_processed: self.queue.events_processed(),
            wall_time_s: 0.0,
            settings: self.cfg.settings.clone(),
            effective_config: self.cfg.effective_config.clone(),
            llm: self.llm.as_ref().map(|l| l.summary()),
        })
    }
}

/// Whether a request carries token counts the KV cache model uses (a trace service time overrides them).
fn has_tokens(a: &RequestAttrs) -> bool {
    a.service_time.is_none() && (a.prompt_tokens > 0 || a.output_tokens > 0)
}

// The LLM engine (KV cache) glue: admission, preemption, first tokens and the engine columns. The model
// itself is `workload::kv_cache`; these only move requests between the pod's queue and its batch.
impl Sim {
    /// Whether `id` may start on `pod` now as far as the KV cache is concerned. `fresh`: the request
    /// just arrived at the pod, so it must also not overtake the pod's waiting queue (FIFO).
    fn engine_admits(&self, now: SimTime, id: RequestId, pod: u32, fresh: bool) -> bool {
        let p = &self.pods[pod as usize];
        let Some(kv) = p.rate.kv.as_deref() else {
            return true;
        };
        if fresh && p.queued > 0 {
            return false;
        }
        if kv.last_preemption == Some(now) {
            return false;
        }
        let r = &self.requests[id.index()];
        if !has_tokens(&r.attrs) {
            return true;
        }
        let (prompt, output) = (r.attrs.prompt_tokens, r.attrs.output_tokens);
        // A request that can never fit goes through to be refused rather than block the queue.
        !kv.fits_ever(prompt, output) || kv.can_admit(p.rate.vtime_at(now), prompt, r.tokens_done)
    }

    /// Starts a token-carrying request on a KV cache pod (admission already checked), or refuses it
    /// with 400 when it cannot fit even alone.
    fn start_on_engine(&mut self, now: SimTime, id: RequestId, pod: u32) {
        let r = self.requests[id.index()];
        let (prompt, output) = (r.attrs.prompt_tokens, r.attrs.output_tokens);
        let p = &mut self.pods[pod as usize];
        let fits = p
            .rate
            .kv
            .as_ref()
            .is_some_and(|kv| kv.fits_ever(prompt, output));
        if !fits {
            stats_out(&mut p.stats, now, r.via_activator);
            if r.via_activator {
                self.activator_release(pod);
            }
            if let Some(llm) = self.llm.as_mut() {
                llm.refused_too_long += 1;
            }
            self.counts.rejected += 1;
            self.respond(now, id, 400);
            return;
        }
        p.integrate_usage(now, &self.cfg.resources);
        p.rate.advance(now);
        p.executing += 1;
        self.max_pod_concurrency = self.max_pod_concurrency.max(p.executing);
        let v = p.rate.vtime;
        let kv = p.rate.kv.as_mut().expect("checked by the caller");
        let tag = kv.admit(v, id, prompt, output, r.tokens_done);
        p.rate.tags.push(Reverse(Tag(tag, id)));
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Executing;
        r.status = 200;
        self.take_first_tokens(pod);
        self.reschedule_shared(now, pod);
    }

    /// Records the first tokens the pod's last advance produced.
    fn take_first_tokens(&mut self, pod: u32) {
        let mut out = std::mem::take(&mut self.pods[pod as usize].rate.first_tokens);
        for (id, at) in out.drain(..) {
            let r = &mut self.requests[id.index()];
            if r.generation == id.generation() && r.first_token.is_none() {
                r.first_token = Some(at);
            }
        }
        self.pods[pod as usize].rate.first_tokens = out;
    }

    /// Preempts the newest running requests while the pod's KV cache is full; returns whether any was.
    /// A preempted request goes back to the head of the pod's queue with its generated tokens.
    fn preempt_on_overflow(&mut self, now: SimTime, pod: u32) -> bool {
        let mut any = false;
        loop {
            let p = &mut self.pods[pod as usize];
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
            p.integrate_usage(now, &self.cfg.resources);
            p.executing -= 1;
            p.rate.tags.retain(|t| t.0 .1 != id);
            p.queue.push_front(id);
            p.queued += 1;
            if let Some(llm) = self.llm.as_mut() {
                llm.preemptions += 1;
            }
            self.second.preemptions += 1;
            let r = &mut self.requests[id.index()];
            r.stage = Stage::PodQueue;
            r.tokens_done = pre.tokens_done;
            let deadline = r.deadline.max(now);
            let ev = self.at(deadline, Event::QueueTimeout(id));
            self.requests[id.index()].timeout_event = Some(ev);
        }
    }

    /// The engine columns of the row ending at `now` (gauges over Ready pods).
    fn engine_row(
        &self,
        now: SimTime,
        sink: &mut dyn TimeseriesSink,
    ) -> std::io::Result<crate::observe::llm::EngineRow> {
        let mut row = crate::observe::llm::EngineRow {
            preemptions: self.second.preemptions,
            ..Default::default()
        };
        let mut sum = 0.0;
        for &pod in &self.ready {
            let p = &self.pods[pod as usize];
            row.running += u64::from(p.executing);
            row.waiting += u64::from(p.queued);
            let u = p.rate.kv_usage(now);
            sum += u;
            row.kv_usage_max = row.kv_usage_max.max(u);
            sink.pod_engine(&crate::observe::llm::PodEngineSample {
                time_s: now.0.div_ceil(NANOS_PER_SEC),
                pod,
                running: p.executing,
                waiting: p.queued,
                kv_usage: u,
            })?;
        }
        if !self.ready.is_empty() {
            row.kv_usage_mean = sum / self.ready.len() as f64;
        }
        Ok(row)
    }
}

// Stepping support for the library facade (`sim::facade`). Kept at the end of the file and self-contained
// so the event loop's owner can restructure `Sim` freely: it needs only `Sim::new`, `start`, `handle`,
// `finish`, the queue and the request record of `AtClient`, exactly as `run_with_request_log` does.

/// A run in progress that can be advanced piecewise; `step_until(t)` then `step_until(end)` processes the
/// same events in the same order as one [`run_with_request_log`].
pub(crate) struct Stepper {
    sim: Sim,
    done: bool,
}

impl Stepper {
    pub(crate) fn new(cfg: SimConfig, traffic: Traffic) -> Result<Self, SimError> {
        let mut sim = Sim::new(cfg, traffic);
        sim.start()?;
        Ok(Stepper { sim, done: false })
    }

    /// The end of the run (traffic plus cooldown).
    pub(crate) fn end(&self) -> SimTime {
        self.sim.end
    }

    /// Handles every event at or before `until` (and before the end of the run). Returns whether the run
    /// has nothing left to do.
    pub(crate) fn step_until(
        &mut self,
        until: SimTime,
        sink: &mut dyn TimeseriesSink,
        mut log: Option<&mut dyn RequestLog>,
    ) -> Result<bool, SimError> {
        if self.done {
            return Ok(true);
        }
        let sim = &mut self.sim;
        loop {
            match sim.queue.peek_time() {
                Some(t) if t <= sim.end && t > until => return Ok(false),
                _ => {}
            }
            let Some((now, event)) = sim.queue.pop() else {
                self.done = true;
                return Ok(true);
            };
            // Like `run_with_request_log`, the first event past the end is popped (and counted) unhandled.
            if now > sim.end {
                self.done = true;
                return Ok(true);
            }
            if let (Event::AtClient(id), Some(log)) = (event, log.as_deref_mut()) {
                let r = &sim.requests[id.index()];
                log.record(&RequestRecord {
                    sent: r.sent,
                    finished: now,
                    status: r.status,
                    pod: r.pod,
                    via_activator: r.via_activator,
                    waited_for_cold_start: r.cold,
                    ttft: (r.status == 200)
                        .then_some(r.ttft_ns)
                        .flatten()
                        .map(SimDuration),
                    tpot: (r.status == 200)
                        .then_some(r.tpot_ns)
                        .flatten()
                        .map(SimDuration),
                })?;
            }
            sim.handle(now, event, sink)?;
        }
    }

    /// Writes the final (possibly partial) row to `sink` and returns the summary.
    pub(crate) fn finish(self, sink: &mut dyn TimeseriesSink) -> Result<RunSummary, SimError> {
        self.sim.finish(sink)
    }
}
