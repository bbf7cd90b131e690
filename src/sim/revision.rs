//! A revision: one versioned service with its own deployment, request path and scaler (issue 11 item 5).
//!
//! It owns its pods (a slab with generational ids), the ready set in slot order, the activator that
//! buffers its requests, the queue-proxy settings of its pods (containerConcurrency slots, queue depth,
//! service discipline), its deployment (replica count, ReplicaSet removal order, termination grace; the
//! code is in `workload::deployment`) and the [`Scaler`] that sizes it. The cluster its pods run on and
//! the event queue belong to the world (`sim::world`), so several revisions can share
//! one cluster; each pod carries its own resource shape for that reason. Its random streams are its own (from its
//! service's seed), so one service's draws never depend on another's.
//!
//! Units: time in ns ([`SimDuration`]); CPU in millicores and memory in bytes (`PodRequest`).
//!
//! The revision's activators are a fleet ([`ActivatorFleet`]): `request_path.activator.replicas` activator
//! pods, each with its slice of the pods (one by default, routing to every pod).

use crate::autoscaler::hpa::adapter::HpaScaler;
use crate::autoscaler::kpa::adapter::KpaScaler;
use crate::autoscaler::scaler::{FixedScaler, PodSecond, Scaler};
use crate::dist::DurationDist;
use crate::engine::prefetch::prefetch_lines;
use crate::engine::{DrawKeys, EventId, RngStreams, SimRng, Stream};
use crate::ids::{PodId, RevisionId};
use crate::observe::services::ServiceStats;
use crate::request_path::activator_fleet::{ActivatorFleet, ActivatorSettings, FleetSizing};
use crate::sim::config::{AutoscalerMode, SimConfig};
use crate::sim::world::PodRef;
use crate::time::SimDuration;
use crate::traffic::{Arrival, ArrivalSource};
use crate::workload::cluster::PodRequest;
use crate::workload::discipline::ServiceModel;
use crate::workload::pods::{Pod, ResourceModel};
use crate::workload::startup::Startup;

/// Knative's queue-proxy queue is this many times containerConcurrency.
const QUEUE_PROXY_DEPTH_FACTOR: u32 = 10;

/// A revision's random streams besides its traffic (see [`Revision::rng`]). A request's own draws
/// (service time, path delays) come from its draw key instead ([`Revision::draw_keys`]).
pub(crate) struct ServiceRngs {
    pub(crate) cold_start: SimRng,
    pub(crate) lb: SimRng,
}

impl ServiceRngs {
    pub(crate) fn new(streams: &RngStreams) -> Self {
        ServiceRngs {
            cold_start: streams.stream(Stream::ColdStart),
            lb: streams.stream(Stream::LoadBalancing),
        }
    }
}

/// A round robin over a set whose size may change between picks: pick `n` (from 0) is index `n % len`
/// of the set as it is then. The remainder is carried from one pick to the next and recomputed only when
/// the size changed (or the counter wrapped), so a pick costs a comparison instead of a division (it runs
/// for every request the ingress routes).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RoundRobin {
    /// Picks made (wrapping).
    count: usize,
    /// `count % len` (valid when `len` is not 0).
    pos: usize,
    /// The size `pos` was computed for (0: none yet).
    len: usize,
}

impl RoundRobin {
    /// The index of the next pick in a set of `len` (> 0) elements.
    #[inline]
    pub(crate) fn pick(&mut self, len: usize) -> usize {
        if len != self.len {
            self.len = len;
            self.pos = self.count % len;
        }
        let pick = self.pos;
        self.count = self.count.wrapping_add(1);
        self.pos = if self.count == 0 || pick + 1 == len {
            0
        } else {
            pick + 1
        };
        pick
    }
}

/// One revision: its deployment's pods, the request path in front of them and the scaler that sizes it.
pub(crate) struct Revision {
    pub(crate) id: RevisionId,
    /// The service's name (the scenario's name for a single-service run).
    pub(crate) name: String,
    /// One-way client, ingress and network delays of the service's requests.
    pub(crate) request_path: [DurationDist; 3],
    /// Their sum when all three are constant (no draw to make; the usual case of a zero path).
    pub(crate) request_path_fixed: Option<SimDuration>,
    /// What the service records for its own outputs (`services.csv`, the `services` summary block).
    pub(crate) stats: ServiceStats,
    /// The service's own open-loop traffic (revisions after the first; the first uses the world's).
    pub(crate) source: Option<Box<dyn ArrivalSource>>,
    pub(crate) pending_arrival: Option<Arrival>,
    pub(crate) traffic_rng: SimRng,
    /// The service's own cold-start and load-balancing streams (from its own seed), so adding a service
    /// never changes another's draws.
    pub(crate) rng: ServiceRngs,
    /// The draw keys of the requests sent to it (by arrival index; see `engine::rng`).
    pub(crate) draw_keys: DrawKeys,
    /// Scratch: the revision's Pending pods at the last tick.
    pub(crate) pending_now: u32,

    // ---- the revision's settings (from the scenario's service) ----
    /// What each of its pods asks the scheduler for (each pod keeps a copy, see [`Pod::shape`]).
    pub(crate) shape: PodRequest,
    /// Resource requests, limits and use as a function of load.
    pub(crate) resources: ResourceModel,
    pub(crate) service_time: DurationDist,
    /// Requests not answered within this time of reaching the ingress fail (Knative revision timeout).
    pub(crate) request_timeout: SimDuration,
    pub(crate) termination_grace: SimDuration,
    pub(crate) startup: Startup,
    pub(crate) service: ServiceModel,
    /// Requests that may run at once on a pod (0 = unlimited) and the queue in front (u32::MAX = unbounded).
    pub(crate) slots: u32,
    /// Whether the queue-proxies keep their request statistics ([`crate::request_path::stats`]): only
    /// a scaler reads them, through its second's view, and a fixed replica count never does, so its
    /// pods skip the two updates every request would cost.
    pub(crate) pod_stats: bool,
    pub(crate) queue_limit: u32,
    pub(crate) shared_rate: bool,

    // ---- the deployment ----
    pub(crate) pods: Vec<Pod>,
    pub(crate) free_pods: Vec<u32>,
    /// Ready pods in slot order (Knative sorts by pod IP; the slot stands in for it).
    pub(crate) ready: Vec<u32>,
    pub(crate) starting: u32,
    pub(crate) terminating: u32,
    /// The deployment's replica count as the scaler last set it.
    pub(crate) desired: u32,

    // ---- the request path ----
    /// The ingress's round-robin position over the ready pods (Serve mode).
    pub(crate) ingress_rr: RoundRobin,
    /// The activator fleet of the revision.
    pub(crate) activator: ActivatorFleet,
    /// Its size and its probing of starting pods.
    pub(crate) activator_settings: ActivatorSettings,

    // ---- the scaler ----
    pub(crate) scaler: Box<dyn Scaler>,
    /// The pending `ScalerWake` event.
    pub(crate) wake: Option<EventId>,
    /// Scratch: the ready pods' queue-proxy reports of the second, reused every tick.
    pub(crate) reports: Vec<PodSecond>,
}

impl Revision {
    /// Cache hint for a pass over many revisions (see [`crate::engine::prefetch`]): the revision's own
    /// fields. Reads nothing, so it may be asked for a revision whose lines are still far away.
    #[inline]
    pub(crate) fn prefetch_fields(&self) {
        prefetch_lines(self, 24);
    }

    /// Cache hint, a step after [`Revision::prefetch_fields`] (it reads the revision's pointers): what
    /// the tick reads through them, the scaler's fields, the Ready list, the pods, the scratch reports
    /// and the activators. Pods and lists are asked for from their start, up to a few lines.
    #[inline]
    pub(crate) fn prefetch_tick_state(&self) {
        prefetch_lines(&*self.scaler, 28);
        prefetch_lines(&self.ready[..], 2);
        prefetch_lines(&self.pods[..], 16);
        prefetch_lines(&self.reports[..], 4);
        self.activator.prefetch_members();
    }

    /// The scenario's one revision. Takes the autoscaler out of `cfg` (it becomes the revision's scaler).
    pub(crate) fn new(id: RevisionId, cfg: &mut SimConfig, streams: &RngStreams) -> Self {
        // The KPA sizes the fleet (computeNumActivators); other scalers never put it in the path.
        let sizing = match &cfg.autoscaler {
            AutoscalerMode::Kpa(setup) => FleetSizing {
                total_value: setup.scaling.decider.total_value,
                target_burst_capacity: setup.scaling.decider.target_burst_capacity,
                activator_capacity: setup.scaling.activator_capacity,
            },
            _ => FleetSizing::default(),
        };
        let pod_stats = !matches!(cfg.autoscaler, AutoscalerMode::Fixed { .. });
        let scaler: Box<dyn Scaler> =
            match std::mem::replace(&mut cfg.autoscaler, AutoscalerMode::Fixed { replicas: 0 }) {
                AutoscalerMode::Fixed { replicas } => {
                    Box::new(FixedScaler::new(replicas, cfg.standalone_cron.take()))
                }
                AutoscalerMode::Kpa(setup) => {
                    Box::new(KpaScaler::new(*setup, streams.stream(Stream::Scrape)))
                }
                AutoscalerMode::Hpa(setup) => Box::new(HpaScaler::new(*setup)),
                AutoscalerMode::Custom(scaler) => scaler,
            };
        let cc = cfg.container_concurrency;
        Revision {
            id,
            name: cfg.name.clone(),
            request_path: cfg.request_path.clone(),
            request_path_fixed: cfg.request_path.iter().try_fold(
                SimDuration::ZERO,
                |sum, d| match d {
                    DurationDist::Constant(c) => Some(sum + *c),
                    _ => None,
                },
            ),
            stats: ServiceStats::new(cfg.pod_model.cluster.pools.len()),
            source: None,
            pending_arrival: None,
            traffic_rng: streams.stream(Stream::Traffic),
            rng: ServiceRngs::new(streams),
            draw_keys: DrawKeys::new(streams),
            pending_now: 0,
            shape: PodRequest {
                cpu_millis: cfg.resources.cpu_request_millis.max(0.0).ceil() as u64,
                memory_bytes: cfg.resources.memory_request_bytes.max(0.0).ceil() as u64,
                gpus: cfg.resources.gpus,
            },
            resources: cfg.resources.clone(),
            service_time: cfg.service_time.clone(),
            request_timeout: cfg.request_timeout,
            termination_grace: cfg.termination_grace,
            startup: match &cfg.pod_model.phases {
                Some(p) => Startup::Phases(Box::new(p.clone())),
                None => Startup::Single(cfg.cold_start.clone()),
            },
            service: cfg.pod_model.service.clone(),
            slots: cfg.pod_model.service.slots(cc),
            pod_stats,
            queue_limit: if cc > 0 {
                QUEUE_PROXY_DEPTH_FACTOR * cc
            } else {
                u32::MAX
            },
            shared_rate: cfg.pod_model.service.is_shared_rate(),
            pods: Vec::new(),
            free_pods: Vec::new(),
            ready: Vec::new(),
            starting: 0,
            terminating: 0,
            desired: 0,
            ingress_rr: RoundRobin::default(),
            activator: ActivatorFleet::new(cc, cfg.activator.replicas, sizing),
            activator_settings: cfg.activator.clone(),
            scaler,
            wake: None,
            reports: Vec::new(),
        }
    }

    /// The id of the pod now in `slot`.
    #[inline]
    pub(crate) fn pod_id(&self, slot: u32) -> PodId {
        PodId::new(slot, self.pods[slot as usize].generation)
    }

    /// The event-side reference to the pod now in `slot`.
    #[inline]
    pub(crate) fn pod_ref(&self, slot: u32) -> PodRef {
        PodRef::new(self.id, self.pod_id(slot))
    }

    /// Ready plus starting (Pending included): what the deployment counts against its replica count.
    pub(crate) fn current(&self) -> u32 {
        self.starting + self.ready.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::RoundRobin;
    use proptest::prelude::*;

    proptest! {
        /// The carried remainder picks exactly `n % len` whatever sizes the set goes through.
        #[test]
        fn round_robin_picks_count_modulo_size(
            start in prop_oneof![Just(0usize), Just(usize::MAX - 20), any::<usize>()],
            sizes in proptest::collection::vec(1usize..7, 1..200),
        ) {
            let mut rr = RoundRobin { count: start, pos: 0, len: 0 };
            let mut n = start;
            for len in sizes {
                prop_assert_eq!(rr.pick(len), n % len);
                n = n.wrapping_add(1);
            }
        }
    }
}
