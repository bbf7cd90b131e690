//! WORLD_DOC

//! The event loop and the request path. See the parent module docs for the model and its assumptions.

use crate::autoscaler::hpa::adapter::HpaScaler;
use crate::autoscaler::kpa::adapter::KpaScaler;
use crate::autoscaler::scaler::{FixedScaler, PodSecond, Scaler};
use crate::engine::{EventId, EventQueue, RngStreams, SimRng, Stream};
use crate::ids::{PodId, RequestId};
use crate::observe::output::RequestCounts;
use crate::request_path::activator::Activator;
use crate::sim::config::{AutoscalerMode, SimConfig, Traffic};
use crate::time::SimTime;
use crate::traffic::ClosedLoopDriver;
use crate::traffic::{Arrival, ArrivalSource, RequestAttrs};
use crate::workload::cluster::{Cluster, PodRequest};
use crate::workload::discipline::ServiceModel;
use crate::workload::pods::Pod;
use crate::workload::startup::{PhaseTimes, Startup};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, VecDeque};

/// Knative's queue-proxy queue is this many times containerConcurrency.
pub(crate) const QUEUE_PROXY_DEPTH_FACTOR: u32 = 10;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Event {
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
pub(crate) enum Stage {
    Free,
    ToIngress,
    ActivatorQueue,
    PodQueue,
    Executing,
    Returning,
}

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
    pub(crate) pod: Option<PodId>,
    pub(crate) stage: Stage,
    pub(crate) via_activator: bool,
    pub(crate) cold: bool,
    pub(crate) status: u16,
    pub(crate) timeout_event: Option<EventId>,
}

pub(crate) struct Rngs {
    pub(crate) traffic: SimRng,
    pub(crate) service: SimRng,
    pub(crate) cold_start: SimRng,
    pub(crate) lb: SimRng,
    pub(crate) network: SimRng,
}

/// Per-second counters, reset after each row.
#[derive(Default)]
pub(crate) struct SecondCounters {
    pub(crate) arrivals: u64,
    pub(crate) completions: u64,
    pub(crate) failures: u64,
    pub(crate) cold_completions: u64,
    pub(crate) latencies_us: Vec<u64>,
}

pub(crate) struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) queue: EventQueue<Event>,
    pub(crate) rng: Rngs,
    pub(crate) end: SimTime,
    pub(crate) traffic_end: SimTime,
    pub(crate) open_loop: Option<Box<dyn ArrivalSource>>,
    pub(crate) pending_arrival: Option<Arrival>,
    pub(crate) closed_loop: Option<ClosedLoopDriver>,

    pub(crate) requests: Vec<Request>,
    pub(crate) free_requests: Vec<u32>,
    pub(crate) in_flight: u64,

    pub(crate) pods: Vec<Pod>,
    pub(crate) free_pods: Vec<u32>,
    /// Ready pods in slot order (Knative sorts by pod IP; the slot stands in for it).
    pub(crate) ready: Vec<u32>,
    pub(crate) ingress_rr: usize,
    pub(crate) starting: u32,
    pub(crate) terminating: u32,

    pub(crate) activator: Activator,

    pub(crate) desired: u32,
    pub(crate) scale_events: u64,
    pub(crate) cold_starts: u64,
    pub(crate) pod_ns: u128,

    pub(crate) counts: RequestCounts,
    pub(crate) status_codes: BTreeMap<u16, u64>,
    pub(crate) latency: Histogram<u64>,
    pub(crate) second: SecondCounters,
    /// Ready pods integrated over time (pod·ns), for the time-weighted `mean_ready`.
    pub(crate) ready_ns: u128,
    /// The end of the last row written: rows cover `[last_row_at, now]` back to back.
    pub(crate) last_row_at: SimTime,
    pub(crate) max_ready: u32,
    pub(crate) max_desired: u32,
    /// The most requests any pod has executed at once (never above containerConcurrency when it is set).
    pub(crate) max_pod_concurrency: u32,
    pub(crate) scaler: Box<dyn Scaler>,
    /// The pending [`Event::ScalerWake`].
    pub(crate) wake: Option<EventId>,
    /// Scratch: the ready pods' queue-proxy reports of the second, reused every tick.
    pub(crate) reports: Vec<PodSecond>,

    pub(crate) startup: Startup,
    pub(crate) service: ServiceModel,
    /// Requests that may run at once on a pod (0 = unlimited) and the queue in front (u32::MAX = unbounded).
    pub(crate) slots: u32,
    pub(crate) queue_limit: u32,
    pub(crate) shared_rate: bool,
    pub(crate) cluster: Cluster,
    pub(crate) pod_request: PodRequest,
    /// Pods without a node, in creation order.
    pub(crate) unplaced: VecDeque<u32>,
    pub(crate) cold_start_phases: Vec<PhaseTimes>,
    pub(crate) gpu_ns: u128,
    pub(crate) max_pending: u32,
}

impl Sim {
    pub(crate) fn new(mut cfg: SimConfig, traffic: Traffic) -> Self {
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
            cfg,
        }
    }

    /// The id of the pod now in `slot`.
    pub(crate) fn pod_id(&self, slot: u32) -> PodId {
        PodId::new(slot, self.pods[slot as usize].generation)
    }

    pub(crate) fn is_live(&self, pod: PodId) -> bool {
        self.pods[pod.index()].generation == pod.generation()
    }

    pub(crate) fn at(&mut self, time: SimTime, event: Event) -> EventId {
        // The loop only ever schedules at or after the current time, so this cannot fail.
        self.queue
            .schedule(time, event)
            .expect("events are never scheduled into the past")
    }

    /// The tick has its own priority class, so the tick at `t` runs before every other event at `t` whenever
    /// that was scheduled, and row `t` covers exactly `[t - 1 s, t)`.
    pub(crate) fn schedule_tick(&mut self, at: SimTime) {
        self.queue
            .schedule_with_priority(at, TICK_PRIORITY, Event::Tick)
            .expect("ticks are scheduled in the future");
    }
}
