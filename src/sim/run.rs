//! The event loop and the request path. See the parent module docs for the model and its assumptions.

use crate::autoscaler::hpa::runtime::{HpaRuntime, HpaSetup};
use crate::autoscaler::kpa::reconciler::{KpaReconciler, PaState, ReconcilerSettings, SksMode};
use crate::autoscaler::kpa::stats::{extrapolate, REPORT_PERIOD};
use crate::autoscaler::kpa::{
    scrape_sample_size, ActivatorRevisionStats, Decider, MetricCollector, RequestStats,
    RevisionScaling, ScaleResult, Stat,
};
use crate::dist::DurationDist;
use crate::engine::{EventId, EventQueue, RngStreams, SimRng, Stream};
use crate::ids::{PodId, RequestId};
use crate::observe::output::{
    ClusterSummary, ColdStartSummary, HistogramBucket, LatencySummary, ReplicaSummary,
    RequestCounts, RunSummary, SecondRow, TimeseriesSink,
};
use crate::time::{SimDuration, SimTime, NANOS_PER_SEC};
use crate::traffic::ClosedLoopDriver;
use crate::traffic::{Arrival, ArrivalSource, RequestAttrs, TrafficError};
use crate::workload::cluster::{Cluster, ClusterModel, PodRequest};
use crate::workload::discipline::{ServiceModel, Tag};
use crate::workload::pods::{Pod, PodState};
use crate::workload::startup::{PhaseTimes, Phases, Startup};
use hdrhistogram::Histogram;
use rand::RngExt;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Knative's activator revision-breaker queue depth.
const ACTIVATOR_QUEUE_DEPTH: usize = 10_000;
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
}

/// The state of the revision when the simulation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Created at time 0: initial-scale pods cold-start, the activator is in the path until they are ready.
    Deployed,
    /// Running and quiet: `pods` pods Ready at time 0, the PA Active.
    Warm,
    /// Scaled to zero long ago: no pods, the activator in the path.
    ScaledToZero,
}

/// KPA configuration, resolved from config-autoscaler, the revision annotations and KServe's fields.
pub struct KpaSetup {
    pub scaling: RevisionScaling,
    pub initial_state: InitialState,
    /// Pods Ready at time 0 for [`InitialState::Warm`].
    pub warm_pods: u32,
    /// progress-deadline + 30 s (Knative's activation timeout).
    pub activation_timeout: SimDuration,
    /// Time until the activator-in-path probe succeeds after the SKS switched to Proxy.
    pub activator_probe_delay: SimDuration,
}

impl AutoscalerMode {
    fn label(&self) -> &'static str {
        match self {
            AutoscalerMode::Fixed { .. } => "fixed",
            AutoscalerMode::Kpa(_) => "kpa",
            AutoscalerMode::Hpa(_) => "hpa",
        }
    }
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

/// The KPA's moving parts during a run.
struct KpaRuntime {
    scaling: RevisionScaling,
    collector: MetricCollector,
    decider: Decider,
    reconciler: KpaReconciler,
    activator_stats: ActivatorRevisionStats,
    /// The decider status (Knative's DesiredScale; −1 until the first valid decision).
    desired_scale: i32,
    excess_burst_capacity: i32,
    last: Option<ScaleResult>,
    reason: &'static str,
    requeue: Option<EventId>,
    panic_seconds: u64,
    /// Scratch buffers for the scraper's sample, reused every second.
    old_pods: Vec<u32>,
    young_pods: Vec<u32>,
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
    /// The earliest completion on a shared-rate (processor-sharing / GPU-batch) pod.
    PodNextDone(PodId),
    /// A node finished provisioning.
    NodeReady(u32),
    Tick,
    QueueTimeout(RequestId),
    /// The KPA reconciler's re-enqueue timer.
    KpaReconcile,
    /// A CronHPA job is due.
    CronFire,
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
}

struct Rngs {
    traffic: SimRng,
    service: SimRng,
    cold_start: SimRng,
    lb: SimRng,
    network: SimRng,
    scrape: SimRng,
}

/// Per-second counters, reset after each row.
#[derive(Default)]
struct SecondCounters {
    arrivals: u64,
    completions: u64,
    failures: u64,
    cold_completions: u64,
    latencies_us: Vec<u64>,
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

    activator_in_path: bool,
    activator_queue: VecDeque<RequestId>,
    activator_queued: u64,
    /// Ready pods whose activator in-flight count is below containerConcurrency (cc > 0 only).
    activator_free: BTreeSet<u32>,
    activator_last_pick: u32,

    desired: u32,
    scale_events: u64,
    cold_starts: u64,
    pod_ns: u128,

    counts: RequestCounts,
    status_codes: BTreeMap<u16, u64>,
    latency: Histogram<u64>,
    second: SecondCounters,
    ready_sum: u64,
    rows: u64,
    max_ready: u32,
    max_desired: u32,
    /// The most requests any pod has executed at once (never above containerConcurrency when it is set).
    max_pod_concurrency: u32,
    kpa: Option<KpaRuntime>,
    hpa: Option<HpaRuntime>,
    /// CronHPA jobs fired during the current second (for the `cron_fire` column).
    cron_fired: Vec<String>,
    autoscaler_label: &'static str,

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
    mut log: Option<&mut dyn RequestLog>,
) -> Result<RunSummary, SimError> {
    let wall = std::time::Instant::now();
    let mut sim = Sim::new(cfg, traffic);
    sim.start()?;
    while let Some((now, event)) = sim.queue.pop() {
        if now > sim.end {
            break;
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
            })?;
        }
        sim.handle(now, event, sink)?;
    }
    Ok(sim.finish(wall.elapsed().as_secs_f64()))
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
}

/// Receives finished requests.
pub trait RequestLog {
    fn record(&mut self, request: &RequestRecord) -> std::io::Result<()>;
}

/// Writes `requests.csv`: `sent_s,latency_ms,status,pod,via_activator,cold_start`.
pub struct CsvRequestLog<W: std::io::Write> {
    out: W,
}

impl<W: std::io::Write> CsvRequestLog<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        writeln!(out, "sent_s,latency_ms,status,pod,via_activator,cold_start")?;
        Ok(CsvRequestLog { out })
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: std::io::Write> RequestLog for CsvRequestLog<W> {
    fn record(&mut self, r: &RequestRecord) -> std::io::Result<()> {
        let pod = r.pod.map_or_else(String::new, |p| p.slot().to_string());
        writeln!(
            self.out,
            "{:.9},{:.6},{},{},{},{}",
            r.sent.as_secs_f64(),
            (r.finished - r.sent).as_millis_f64(),
            r.status,
            pod,
            u8::from(r.via_activator),
            u8::from(r.waited_for_cold_start)
        )
    }
}

impl Sim {
    fn new(cfg: SimConfig, traffic: Traffic) -> Self {
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
                scrape: streams.stream(Stream::Scrape),
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
            activator_in_path: false,
            activator_queue: VecDeque::new(),
            activator_queued: 0,
            activator_free: BTreeSet::new(),
            activator_last_pick: 0,
            desired: 0,
            scale_events: 0,
            cold_starts: 0,
            pod_ns: 0,
            counts: RequestCounts::default(),
            status_codes: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, 24 * 3600 * 1_000_000, 3)
                .expect("static histogram bounds"),
            second: SecondCounters::default(),
            ready_sum: 0,
            rows: 0,
            max_ready: 0,
            max_desired: 0,
            max_pod_concurrency: 0,
            kpa: None,
            hpa: None,
            cron_fired: Vec::new(),
            autoscaler_label: cfg.autoscaler.label(),
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
            cluster: Cluster::new(cfg.pod_model.cluster.clone()),
            pod_request: PodRequest {
                cpu_millis: cfg.resources.cpu_request_millis.max(0.0).ceil() as u64,
                memory_bytes: cfg.resources.memory_request_bytes.max(0.0).ceil() as u64,
                gpus: cfg.resources.gpus,
            },
            unplaced: VecDeque::new(),
            cold_start_phases: Vec::new(),
            gpu_ns: 0,
            max_pending: 0,
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
        match &self.cfg.autoscaler {
            AutoscalerMode::Fixed { replicas } => {
                let replicas = *replicas;
                for _ in 0..replicas {
                    self.create_pod(SimTime::ZERO, true);
                }
                self.desired = replicas;
                self.max_desired = replicas;
                let next = self
                    .cfg
                    .standalone_cron
                    .as_ref()
                    .and_then(|c| c.next_fire());
                self.schedule_cron(next);
            }
            AutoscalerMode::Kpa(_) => {
                // The setup moves into the runtime; the label was taken in `new`.
                if let AutoscalerMode::Kpa(setup) = std::mem::replace(
                    &mut self.cfg.autoscaler,
                    AutoscalerMode::Fixed { replicas: 0 },
                ) {
                    self.start_kpa(*setup);
                }
            }
            AutoscalerMode::Hpa(_) => {
                if let AutoscalerMode::Hpa(setup) = std::mem::replace(
                    &mut self.cfg.autoscaler,
                    AutoscalerMode::Fixed { replicas: 0 },
                ) {
                    self.start_hpa(*setup);
                }
            }
        }
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
            Event::PodNextDone(pod) if self.is_live(pod) => self.shared_done(now, pod.slot()),
            // A lifecycle event of a pod whose slot has been reused since.
            Event::PodReady(_) | Event::PodGraceOver(_) | Event::PodNextDone(_) => {}
            Event::NodeReady(node) => {
                self.cluster.node_ready(node, now);
                self.place_pending(now);
            }
            Event::QueueTimeout(req) => self.queue_timeout(now, req),
            Event::KpaReconcile => {
                if let Some(k) = self.kpa.as_mut() {
                    k.requeue = None;
                }
                self.kpa_reconcile(now);
            }
            Event::CronFire => self.cron_fire(now),
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
        if self.hpa.is_some() && self.ready.is_empty() {
            // No activator with the HPA: a Service without ready endpoints refuses the request.
            self.counts.rejected += 1;
            self.respond(now, id, 503);
            return;
        }
        if self.activator_in_path || self.ready.is_empty() {
            self.enqueue_at_activator(now, id);
        } else {
            let pod = self.ready[self.ingress_rr % self.ready.len()];
            self.ingress_rr = self.ingress_rr.wrapping_add(1);
            self.admit_to_pod(now, id, pod);
        }
    }

    fn enqueue_at_activator(&mut self, now: SimTime, id: RequestId) {
        // The revision breaker admits capacity + 10000; the capacity is what is already dispatched, so
        // the waiting requests alone are held to the queue depth.
        if self.activator_queued >= ACTIVATOR_QUEUE_DEPTH as u64 {
            self.counts.rejected += 1;
            self.respond(now, id, 503);
            return;
        }
        if let Some(k) = self.kpa.as_mut() {
            if let Some(first) = k.activator_stats.request_in(now) {
                // A new activator entry reports "1" at once, and the autoscaler pokes the decider if the
                // revision is at zero: the scale-from-zero trigger.
                k.collector.record(now, &first);
                if k.desired_scale == 0 && first.average_concurrency != 0.0 {
                    self.kpa_decide(now);
                }
            }
        }
        let r = &mut self.requests[id.index()];
        r.via_activator = true;
        r.stage = Stage::ActivatorQueue;
        self.activator_queue.push_back(id);
        self.activator_queued += 1;
        self.dispatch_from_activator(now);
        let r = &mut self.requests[id.index()];
        if r.stage == Stage::ActivatorQueue {
            // It could not go to a pod at once. With no pod ready it waits for a cold start (scale from
            // zero); otherwise it waits for a slot on a busy pod, which is queueing, not a cold start.
            r.cold = self.ready.is_empty();
            let deadline = r.deadline;
            let ev = self.at(deadline, Event::QueueTimeout(id));
            self.requests[id.index()].timeout_event = Some(ev);
        }
    }

    /// Picks a pod for the activator per Knative's policy for the containerConcurrency, or `None` when no
    /// pod has capacity.
    fn activator_pick(&mut self) -> Option<u32> {
        let cc = self.cfg.container_concurrency;
        if cc == 0 {
            // Random choice of two, the lower activator in-flight wins (ties: the first draw).
            let n = self.ready.len();
            return match n {
                0 => None,
                1 => Some(self.ready[0]),
                _ => {
                    let a = self.rng.lb.random_range(0..n);
                    let mut b = self.rng.lb.random_range(0..n - 1);
                    if b >= a {
                        b += 1;
                    }
                    let (pa, pb) = (self.ready[a], self.ready[b]);
                    let wa = self.pods[pa as usize].activator_in_flight;
                    let wb = self.pods[pb as usize].activator_in_flight;
                    Some(if wb < wa { pb } else { pa })
                }
            };
        }
        if cc <= 3 {
            return self.activator_free.first().copied();
        }
        let next = self
            .activator_free
            .range(self.activator_last_pick.wrapping_add(1)..)
            .next()
            .or_else(|| self.activator_free.first())
            .copied();
        if let Some(p) = next {
            self.activator_last_pick = p;
        }
        next
    }

    fn dispatch_from_activator(&mut self, now: SimTime) {
        while let Some(&front) = self.activator_queue.front() {
            let r = &self.requests[front.index()];
            if r.generation != front.generation() || r.stage != Stage::ActivatorQueue {
                self.activator_queue.pop_front(); // timed out while waiting
                continue;
            }
            let Some(pod) = self.activator_pick() else {
                break;
            };
            self.activator_queue.pop_front();
            self.activator_queued -= 1;
            if let Some(ev) = self.requests[front.index()].timeout_event.take() {
                self.queue.cancel(ev);
            }
            let p = &mut self.pods[pod as usize];
            p.activator_in_flight += 1;
            if self.cfg.container_concurrency > 0
                && p.activator_in_flight >= self.cfg.container_concurrency
            {
                self.activator_free.remove(&pod);
            }
            self.admit_to_pod(now, front, pod);
        }
    }

    fn activator_release(&mut self, pod: u32) {
        let cc = self.cfg.container_concurrency;
        let p = &mut self.pods[pod as usize];
        p.activator_in_flight = p.activator_in_flight.saturating_sub(1);
        if cc > 0 && p.state == PodState::Ready && p.activator_in_flight < cc {
            self.activator_free.insert(pod);
        }
    }

    fn admit_to_pod(&mut self, now: SimTime, id: RequestId, pod: u32) {
        let slots = self.slots;
        let via_activator = self.requests[id.index()].via_activator;
        self.requests[id.index()].pod = Some(self.pod_id(pod));
        let p = &mut self.pods[pod as usize];
        // Queue-proxy statistics count the request before the breaker, so queued requests count too.
        stats_in(&mut p.stats, now, via_activator);
        if slots == 0 || p.executing < slots {
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
        if let Some(secs) = p.rate.secs_to_first() {
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
        self.pull_from_pod_queue(now, pod);
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
        if p.state == PodState::Terminating && p.idle() {
            self.pod_gone(now, pod);
        }
        if self.activator_in_path && self.activator_queued > 0 {
            self.dispatch_from_activator(now);
        }
    }

    fn queue_timeout(&mut self, now: SimTime, id: RequestId) {
        let r = self.requests[id.index()];
        if r.generation != id.generation() {
            return;
        }
        self.requests[id.index()].timeout_event = None;
        match r.stage {
            Stage::ActivatorQueue => {
                self.activator_queued -= 1;
                self.counts.timed_out += 1;
                self.respond(now, id, 503);
            }
            Stage::PodQueue => {
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
            _ => {}
        }
    }

    /// Sends the response (success or failure) back through the request path.
    fn respond(&mut self, now: SimTime, id: RequestId, status: u16) {
        if self.requests[id.index()].via_activator {
            if let Some(k) = self.kpa.as_mut() {
                k.activator_stats.request_out(now);
            }
        }
        let delay = self.one_way_delay();
        let r = &mut self.requests[id.index()];
        r.stage = Stage::Returning;
        r.status = status;
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
            if let Some(node) = self.cluster.place(&self.pod_request) {
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
            let Some(node) = self.cluster.place(&self.pod_request) else {
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
        if self.cfg.container_concurrency > 0 {
            self.activator_free.insert(pod);
        }
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
        if self.activator_queued > 0 {
            self.dispatch_from_activator(now);
        }
        if self.kpa.is_some() {
            self.kpa_reconcile(now);
        }
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

    fn terminate(&mut self, now: SimTime, pod: u32) {
        if let Ok(pos) = self.ready.binary_search(&pod) {
            self.ready.remove(pos);
        }
        self.activator_free.remove(&pod);
        self.pods[pod as usize].state = PodState::Terminating;
        self.terminating += 1;
        if self.pods[pod as usize].idle() {
            self.pod_gone(now, pod);
        } else {
            let grace = self.cfg.termination_grace;
            let ev = self.at(now + grace, Event::PodGraceOver(self.pod_id(pod)));
            self.pods[pod as usize].lifecycle_event = Some(ev);
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
        if self.kpa.is_some() {
            self.kpa_second(now);
        } else {
            for &pod in &self.ready {
                let p = &mut self.pods[pod as usize];
                let report = p.stats.report(now);
                if let Some(h) = self.hpa.as_mut() {
                    h.observe_pod_second(pod, p.created, &report);
                }
            }
            if self.hpa.is_some() {
                self.hpa_second(now);
            }
        }
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
                        .clamp(1e-9, 1.0);
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
        if unplaced > 0 || self.cluster.model.autoscaling.is_some() {
            let unplaced = self
                .unplaced
                .iter()
                .filter(|&&i| {
                    let p = &self.pods[i as usize];
                    p.state == PodState::Starting && p.node.is_none()
                })
                .count() as u32;
            let added = self.cluster.autoscale(now, unplaced, &self.pod_request);
            let delay = self
                .cluster
                .model
                .autoscaling
                .map_or(SimDuration::ZERO, |a| a.provision_delay);
            for node in added {
                self.at(now + delay, Event::NodeReady(node));
            }
        }
        let ready = self.ready.len() as u32;
        self.max_ready = self.max_ready.max(ready);
        self.ready_sum += u64::from(ready);
        self.rows += 1;
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
        let row = SecondRow {
            time_s: now.whole_secs(),
            arrivals: self.second.arrivals,
            completions: self.second.completions,
            failures: self.second.failures,
            in_flight: self.in_flight,
            activator_queue: self.activator_queued,
            queue_proxy_queue,
            desired_pods: Some(self.desired),
            ready_pods: ready,
            pending_pods: pending,
            starting_pods: self.starting - pending,
            terminating_pods: self.terminating,
            observed_stable: self
                .kpa
                .as_ref()
                .and_then(|k| k.last.map(|r| r.observed_stable))
                .or(self.hpa.as_ref().and_then(|h| h.view.metric)),
            observed_panic: self
                .kpa
                .as_ref()
                .and_then(|k| k.last.map(|r| r.observed_panic)),
            target_per_pod: self
                .kpa
                .as_ref()
                .map(|k| k.decider.spec().target_value)
                .or(self.hpa.as_ref().and_then(|h| h.view.target)),
            panic: self.kpa.as_ref().is_some_and(|k| k.decider.in_panic()),
            excess_burst_capacity: self
                .kpa
                .as_ref()
                .map(|k| i64::from(k.excess_burst_capacity)),
            activator_in_path: self.activator_in_path,
            scale_reason: match (&self.kpa, &self.hpa) {
                (Some(k), _) => k.reason,
                (None, Some(h)) => h.view.reason,
                _ => "",
            },
            latency_p50_ms: pct(0.50),
            latency_p95_ms: pct(0.95),
            latency_p99_ms: pct(0.99),
            cold_start_completions: self.second.cold_completions,
            cron_fire: (!self.cron_fired.is_empty()).then(|| self.cron_fired.join(";")),
            cpu_utilization,
            gpu_utilization,
            hpa_metric: self.hpa.as_ref().and_then(|h| h.view.metric),
            hpa_proposal: self.hpa.as_ref().and_then(|h| h.view.proposal),
            hpa_recommendation: self.hpa.as_ref().and_then(|h| h.view.recommendation),
            hpa_limit_reason: self.hpa.as_ref().map_or("", |h| h.view.reason),
        };
        self.cron_fired.clear();
        sink.row(&row)?;
        let s = &mut self.second;
        s.arrivals = 0;
        s.completions = 0;
        s.failures = 0;
        s.cold_completions = 0;
        s.latencies_us.clear();
        Ok(())
    }

    // ---- KPA ------------------------------------------------------------------------------------------

    fn start_kpa(&mut self, setup: KpaSetup) {
        let scaling = setup.scaling;
        let settings = ReconcilerSettings {
            min_scale: scaling.min_scale,
            max_scale: scaling.max_scale,
            initial_scale: scaling.initial_scale,
            enable_scale_to_zero: scaling.enable_scale_to_zero,
            reachable: scaling.decider.reachable,
            stable_window: scaling.stable_window,
            scale_to_zero_grace: scaling.scale_to_zero_grace_period,
            pod_retention: scaling.scale_to_zero_pod_retention_period,
            target_burst_capacity: scaling.decider.target_burst_capacity,
            activation_timeout: setup.activation_timeout,
            probe_delay: setup.activator_probe_delay,
        };
        let now = SimTime::ZERO;
        let warm_pods = setup.warm_pods.max(1);
        let warm_ebc = Decider::initial_excess_burst_capacity(&scaling.decider, warm_pods);
        let (reconciler, desired_scale, initial_pods, ready_at_start) = match setup.initial_state {
            InitialState::Deployed => {
                let n = scaling.initial_scale;
                (KpaReconciler::new(settings, now, n), -1, n, false)
            }
            InitialState::Warm => {
                let ebc = warm_ebc;
                let reconciler =
                    KpaReconciler::resumed(settings, now, warm_pods, PaState::Active, ebc);
                (reconciler, -1, warm_pods, true)
            }
            InitialState::ScaledToZero => (
                KpaReconciler::resumed(settings, now, 0, PaState::Inactive, -1),
                0,
                0,
                false,
            ),
        };
        for _ in 0..initial_pods {
            self.create_pod(now, ready_at_start);
        }
        self.desired = initial_pods;
        self.max_desired = initial_pods;
        self.activator_in_path = reconciler.sks_mode() == SksMode::Proxy;
        let collector = MetricCollector::new(
            scaling.metric,
            scaling.aggregation,
            scaling.stable_window,
            scaling.panic_window,
            scaling.scrape_target_set,
        );
        // The decider is created with the revision; a warm service's autoscaler has been running, so it does
        // not start in panic (Knative starts in panic only when the autoscaler itself restarts).
        let decider = Decider::new(scaling.decider.clone(), now, 0);
        let excess_burst_capacity = match setup.initial_state {
            InitialState::Warm => warm_ebc,
            _ => Decider::initial_excess_burst_capacity(&scaling.decider, scaling.initial_scale),
        };
        self.kpa = Some(KpaRuntime {
            scaling,
            collector,
            decider,
            reconciler,
            activator_stats: ActivatorRevisionStats::new(),
            desired_scale,
            excess_burst_capacity,
            last: None,
            reason: "",
            requeue: None,
            panic_seconds: 0,
            old_pods: Vec::new(),
            young_pods: Vec::new(),
        });
    }

    /// The once-a-second metric work: queue-proxy reports, the scrape, the activator's report, and on even
    /// seconds the decider.
    fn kpa_second(&mut self, now: SimTime) {
        let Some(k) = self.kpa.as_mut() else { return };
        // Every queue-proxy closes its 1 s period; the scraper samples n of the N ready pods, pods older than
        // the stable window first, and extrapolates their sum to the revision.
        k.old_pods.clear();
        k.young_pods.clear();
        let stable_window = k.scaling.stable_window;
        for &pod in &self.ready {
            let p = &self.pods[pod as usize];
            if now.saturating_since(p.created) >= stable_window {
                k.old_pods.push(pod);
            } else {
                k.young_pods.push(pod);
            }
        }
        let ready = self.ready.len();
        let sample = scrape_sample_size(ready);
        let mut reports: Stat = Stat::default();
        if sample == ready {
            for &pod in &self.ready {
                let r = self.pods[pod as usize]
                    .stats
                    .report(now)
                    .to_queue_proxy_stat(REPORT_PERIOD);
                reports = reports.add(&r);
            }
        } else {
            shuffle(&mut k.old_pods, &mut self.rng.scrape);
            shuffle(&mut k.young_pods, &mut self.rng.scrape);
            for (i, &pod) in k.old_pods.iter().chain(k.young_pods.iter()).enumerate() {
                let r = self.pods[pod as usize]
                    .stats
                    .report(now)
                    .to_queue_proxy_stat(REPORT_PERIOD);
                if i < sample {
                    reports = reports.add(&r);
                }
            }
        }
        if let Some(total) = extrapolate(&reports, sample, ready) {
            k.collector.record(now, &total);
        }
        if let Some(stat) = k.activator_stats.report(now) {
            k.collector.record(now, &stat);
        }
        if k.decider.in_panic() {
            k.panic_seconds += 1;
        }
        if now.whole_secs().is_multiple_of(2) {
            self.kpa_decide(now);
        }
    }

    /// Runs the decider (`Scale`) and then the reconciler.
    fn kpa_decide(&mut self, now: SimTime) {
        let ready = self.ready.len() as u32;
        let Some(k) = self.kpa.as_mut() else { return };
        let observed = k.collector.stable_and_panic(now);
        let result = k.decider.scale(now, ready, observed);
        if result.valid {
            k.desired_scale = result.desired_pod_count;
            k.excess_burst_capacity = result.excess_burst_capacity;
            k.last = Some(result);
        }
        k.reason = result.reason.as_str();
        self.kpa_reconcile(now);
    }

    fn kpa_reconcile(&mut self, now: SimTime) {
        let ready = self.ready.len() as u32;
        let Some(k) = self.kpa.as_mut() else { return };
        let outcome = k
            .reconciler
            .reconcile(now, k.desired_scale, k.excess_burst_capacity, ready);
        if outcome.reason != crate::autoscaler::kpa::reconciler::BoundReason::Decider {
            k.reason = outcome.reason.as_str();
        }
        if let Some(after) = outcome.requeue_after {
            if let Some(ev) = k.requeue.take() {
                self.queue.cancel(ev);
            }
            let ev = self
                .queue
                .schedule(now + after, Event::KpaReconcile)
                .expect("requeue is in the future");
            if let Some(k) = self.kpa.as_mut() {
                k.requeue = Some(ev);
            }
        }
        self.activator_in_path = outcome.sks_mode == SksMode::Proxy;
        if let Some(replicas) = outcome.apply {
            self.set_replicas(now, replicas);
        }
    }

    // ---- HPA and CronHPA --------------------------------------------------------------------------------

    fn start_hpa(&mut self, setup: HpaSetup) {
        let replicas = setup.initial_replicas.max(1);
        for _ in 0..replicas {
            self.create_pod(SimTime::ZERO, true);
        }
        self.desired = replicas;
        self.max_desired = replicas;
        let runtime = HpaRuntime::new(setup);
        let next = runtime.next_cron_fire();
        self.hpa = Some(runtime);
        self.schedule_cron(next);
    }

    fn schedule_cron(&mut self, next: Option<SimTime>) {
        if let Some(at) = next.filter(|&t| t <= self.end) {
            let at = at.max(self.queue.now());
            self.at(at, Event::CronFire);
        }
    }

    /// Scrapes and, when due, the HPA sync (called from the 1 s tick).
    fn hpa_second(&mut self, now: SimTime) {
        let (arrivals, in_flight) = (self.second.arrivals, self.in_flight);
        let Some(h) = self.hpa.as_mut() else { return };
        if h.second(
            now,
            &mut self.pods,
            &self.cfg.resources,
            arrivals,
            in_flight,
        ) {
            if let Some(replicas) = h.sync(now, &self.pods, &self.cfg.resources, self.desired) {
                self.set_replicas(now, replicas.max(1));
            }
        }
    }

    fn cron_fire(&mut self, now: SimTime) {
        if let Some(cron) = self.cfg.standalone_cron.as_mut() {
            // A CronHPA on the deployment with no HPA: each job writes the replica count.
            let mut write = None;
            for firing in cron.fire_due(now) {
                match firing.action {
                    crate::autoscaler::cron::CronAction::Skipped => {
                        self.cron_fired
                            .push(format!("{}(skipped)", firing.job_name));
                    }
                    crate::autoscaler::cron::CronAction::SetWorkloadReplicas(n)
                    | crate::autoscaler::cron::CronAction::AdjustHpa(n) => {
                        self.cron_fired.push(format!("{}={n}", firing.job_name));
                        write = Some(n.max(1) as u32);
                    }
                }
            }
            let next = cron.next_fire();
            if let Some(replicas) = write {
                self.set_replicas(now, replicas);
            }
            self.schedule_cron(next);
            return;
        }
        let Some(h) = self.hpa.as_mut() else { return };
        let (labels, write) = h.fire_cron(now);
        let next = h.next_cron_fire();
        self.cron_fired.extend(labels);
        if let Some(replicas) = write {
            self.set_replicas(now, replicas.max(1));
        }
        self.schedule_cron(next);
    }

    fn finish(mut self, wall_time_s: f64) -> RunSummary {
        let end = self.end;
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
        let h = &self.latency;
        let ms = |us: u64| us as f64 / 1e3;
        let latency_ms = if h.is_empty() {
            LatencySummary::default()
        } else {
            LatencySummary {
                mean: h.mean() / 1e3,
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p95: ms(h.value_at_quantile(0.95)),
                p99: ms(h.value_at_quantile(0.99)),
                p999: ms(h.value_at_quantile(0.999)),
                max: ms(h.max()),
                min: ms(h.min()),
            }
        };
        let mut histogram = Vec::new();
        if !h.is_empty() {
            let (lo, hi) = (h.min(), h.max());
            let step = ((hi - lo) as f64 / 10.0).max(1.0);
            let mut previous = lo.saturating_sub(1);
            for i in 0..=10 {
                let bound = if i == 10 {
                    hi
                } else {
                    lo + (step * i as f64) as u64
                };
                let count = if bound > previous {
                    h.count_between(previous + 1, bound)
                } else {
                    0
                };
                histogram.push(HistogramBucket {
                    le: ms(bound),
                    count,
                });
                previous = previous.max(bound);
            }
        }
        let duration_s = (self.end.0 as f64) / NANOS_PER_SEC as f64;
        RunSummary {
            scenario: self.cfg.name.clone(),
            seed: self.cfg.seed,
            duration_s,
            autoscaler: self.autoscaler_label.to_string(),
            requests: self.counts.clone(),
            latency_ms,
            latency_histogram_ms: histogram,
            status_codes: self
                .status_codes
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            throughput_rps: if duration_s > 0.0 {
                self.counts.completed as f64 / duration_s
            } else {
                0.0
            },
            replicas: ReplicaSummary {
                max_ready: self.max_ready,
                mean_ready: if self.rows > 0 {
                    self.ready_sum as f64 / self.rows as f64
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
            panic_seconds: self.kpa.as_ref().map_or(0.0, |k| k.panic_seconds as f64),
            cold_starts: self.cold_starts,
            events_processed: self.queue.events_processed(),
            wall_time_s,
            settings: self.cfg.settings.clone(),
            effective_config: self.cfg.effective_config.clone(),
        }
    }
}

/// Fisher-Yates shuffle with the given stream (the scraper's random pod choice).
fn shuffle(items: &mut [u32], rng: &mut SimRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}
