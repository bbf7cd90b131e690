//! Knative's activators for one revision as a fleet: several activator pods, each with its own slice of
//! the revision's pods, its own FIFO queue and breaker state, its own reported statistics and its own
//! first-request poke; plus when a starting pod becomes a routing target (the probe optimisation).
//!
//! Model (Knative Serving v1.23, `pkg/activator/net/throttler.go`, `revision_backends.go` and the KPA's
//! `computeNumActivators`):
//! * **How many.** The KPA asks the ServerlessService for
//!   [`num_activators`](crate::request_path::throttler::num_activators)`(ready, total, TBC, activator-capacity)`
//!   activators (2 with target-burst-capacity 0, at least 2 otherwise) and the SKS publishes that many of the
//!   activator pods that exist, so the fleet publishes `min(num_activators, replicas)`. `replicas` is the
//!   number of activator pods (`request_path.activator.replicas`, default 1: one activator stands for the
//!   fleet, which is the pre-fleet behaviour). The count is recomputed whenever the kubelet-Ready count
//!   changes (Knative's reconciler runs on every pod readiness change; the SKS and endpoint propagation
//!   are taken as immediate).
//! * **Which pods.** Activator `j` of `n` published routes to
//!   [`assigned_pods`](crate::request_path::throttler::assigned_pods) of the routable pods in pod order
//!   (the slot stands in for Knative's string order of pod IPs): a contiguous slice of `pods / n` pods,
//!   one tail pod each for the first `pods % n` activators, pod `j % pods` when there are fewer pods than
//!   activators (pods are then shared), every pod with containerConcurrency 0, one pod or one activator.
//!   An activator that is no longer published (the count fell) keeps its queue and routes to every pod, as
//!   Knative's throttler does when its own IP is missing from the public endpoints.
//! * **Per activator.** Each member is an [`Activator`]: FIFO queue, one timer for its head, free-pod set
//!   over its own slice, load-balancing state and [`ActivatorRevisionStats`]. Its in-flight count per pod
//!   is its own (Knative's trackers are per activator), so containerConcurrency limits each activator's
//!   requests on a pod. The first request reaching a member with no entry for the revision sends that
//!   member's immediate stat (the poke). The periodic reports of the members are added up: Knative's
//!   collector adds every activator's stat into the same one-second bucket.
//! * **Which activator gets a new request.** The ingress spreads requests over the published activator
//!   endpoints round robin (Envoy's default policy, which Kourier uses; Istio's least-request would pick
//!   the member with the fewest requests in flight, not modelled).
//! * **Probe optimisation** ([`activator_routes_at`]): the activator probes a starting pod's queue-proxy
//!   every 200 ms and, unless the revision uses an exec or startup probe, routes to the pod from the first
//!   successful probe, before the kubelet marks the pod Ready. The KPA's ready count, the scraper and the
//!   Serve-mode routing still use kubelet-Ready pods only.
//!
//! Units: simulated time in ns; pods are slots of the loop's pod table; counts of requests.
//!
//! Simplifications: the activators' own CPU and proxying latency are zero, so the activator HPA that scales
//! the real fleet (1–20 pods on activator CPU) is replaced by the fixed `replicas`; the probe succeeds at
//! the first tick of a fixed 200 ms grid from time 0 at or after the container is ready (the real ticker
//! starts with the revision's watcher and a probe waits up to 300 ms for the queue-proxy's answer).

use crate::engine::SimRng;
use crate::ids::RequestId;
use crate::request_path::activator::{Activator, SlotSet};
use crate::request_path::stats::Stat;
use crate::request_path::throttler::{assigned_pods, num_activators};
use crate::time::{SimDuration, SimTime};

/// The most activator pods a scenario may ask for (the activator HPA's default maximum is 20).
pub const MAX_ACTIVATOR_REPLICAS: u32 = 100;

/// `request_path.activator`: the activator fleet and its readiness probing of new pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivatorSettings {
    /// Activator pods (a fixed count; the SKS publishes `min(num_activators, replicas)` of them).
    pub replicas: u32,
    /// Route to a pod from the first successful queue-proxy probe instead of from kubelet Ready.
    pub probe_optimisation: bool,
    /// The activator's probe period for pods it has not yet seen healthy (Knative: 200 ms).
    pub probe_period: SimDuration,
    /// With the single-number `pod.cold_start` (which ends when the user container is ready): how much
    /// later the kubelet marks the pod Ready. `pod.phases.readiness` models the kubelet's probe instead.
    pub kubelet_readiness_delay: SimDuration,
}

/// Knative's `probeFrequency`.
pub const DEFAULT_PROBE_PERIOD: SimDuration = SimDuration::from_millis(200);

impl Default for ActivatorSettings {
    fn default() -> Self {
        ActivatorSettings {
            replicas: 1,
            probe_optimisation: true,
            probe_period: DEFAULT_PROBE_PERIOD,
            kubelet_readiness_delay: SimDuration::ZERO,
        }
    }
}

/// When the activators start routing to a pod whose user container is ready at `container_ready` and
/// which the kubelet marks Ready at `kubelet_ready`: with the probe optimisation, the first probe tick
/// (multiples of `probe_period` from time 0) at or after `container_ready`, but never after the kubelet
/// Ready (a Ready pod is trusted without a probe); without it, at kubelet Ready.
pub fn activator_routes_at(
    container_ready: SimTime,
    kubelet_ready: SimTime,
    settings: &ActivatorSettings,
) -> SimTime {
    if !settings.probe_optimisation || container_ready >= kubelet_ready {
        return kubelet_ready;
    }
    let period = settings.probe_period.as_nanos();
    let tick = if period == 0 {
        container_ready
    } else {
        SimTime(
            container_ready
                .as_nanos()
                .div_ceil(period)
                .saturating_mul(period),
        )
    };
    tick.min(kubelet_ready)
}

/// What `computeNumActivators` needs besides the ready count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FleetSizing {
    /// The decider's per-pod total (containerConcurrency, or the target default when it is 0).
    pub total_value: f64,
    pub target_burst_capacity: f64,
    pub activator_capacity: f64,
}

impl Default for FleetSizing {
    /// Knative's defaults: 100 per pod, burst capacity 211, activator capacity 100.
    fn default() -> Self {
        FleetSizing {
            total_value: 100.0,
            target_burst_capacity: 211.0,
            activator_capacity: 100.0,
        }
    }
}

struct Member {
    activator: Activator,
    /// The pods it routes to, ascending; `None` = every routable pod.
    assigned: Option<Vec<u32>>,
    /// Its requests in flight per pod slot.
    in_flight: Vec<u32>,
}

impl Member {
    fn in_flight(&self, pod: u32) -> u32 {
        self.in_flight.get(pod as usize).copied().unwrap_or(0)
    }
}

/// The activators of one revision. Member indices are stable for the run (`0..replicas`).
pub(crate) struct ActivatorFleet {
    container_concurrency: u32,
    sizing: FleetSizing,
    /// Whether the SKS routes new requests through the activators (Proxy mode).
    pub(crate) in_path: bool,
    members: Vec<Member>,
    /// Pods the activators may route to, ascending (kubelet-Ready, plus probed ones).
    routable: Vec<u32>,
    /// The same pods as a set: whether a pod is routable is asked on every response, and a bit test is
    /// cheaper there than a binary search.
    routable_set: SlotSet,
    /// Requests waiting at every member (kept so the loop's "anything queued?" after each response
    /// does not walk the members).
    waiting: usize,
    /// Activators in the public endpoints (`min(num_activators, replicas)`).
    published: usize,
    ingress_next: usize,
}

impl ActivatorFleet {
    /// Cache hint (see [`crate::engine::prefetch`]): the members' lines a tick's report reads.
    #[inline]
    pub(crate) fn prefetch_members(&self) {
        crate::engine::prefetch::prefetch_lines(&self.members[..], 8);
    }

    pub(crate) fn new(container_concurrency: u32, replicas: u32, sizing: FleetSizing) -> Self {
        let replicas = replicas.max(1) as usize;
        let mut fleet = ActivatorFleet {
            container_concurrency,
            sizing,
            in_path: false,
            members: (0..replicas)
                .map(|_| Member {
                    activator: Activator::new(container_concurrency),
                    assigned: None,
                    in_flight: Vec::new(),
                })
                .collect(),
            routable: Vec::new(),
            routable_set: SlotSet::default(),
            waiting: 0,
            published: 0,
            ingress_next: 0,
        };
        fleet.set_ready(0);
        fleet
    }

    /// Activator pods (published or not).
    pub(crate) fn replicas(&self) -> usize {
        self.members.len()
    }

    #[cfg(test)]
    /// Activators in the revision's public endpoints.
    pub(crate) fn published(&self) -> usize {
        self.published
    }

    /// Pods any activator may route to, ascending.
    pub(crate) fn routable(&self) -> &[u32] {
        &self.routable
    }

    #[cfg(test)]
    /// The pods member `a` routes to, ascending.
    pub(crate) fn assigned(&self, a: usize) -> &[u32] {
        self.members[a]
            .assigned
            .as_deref()
            .unwrap_or(&self.routable)
    }

    /// The kubelet-Ready count changed: the KPA asks for `num_activators(ready)` and the SKS publishes
    /// that many (at most `replicas`). Returns whether the published set changed.
    pub(crate) fn set_ready(&mut self, ready: u32) -> bool {
        let wanted = num_activators(
            i32::try_from(ready).unwrap_or(i32::MAX),
            self.sizing.total_value,
            self.sizing.target_burst_capacity,
            self.sizing.activator_capacity,
        )
        .max(1) as usize;
        let published = wanted.min(self.members.len());
        if published == self.published {
            return false;
        }
        self.published = published;
        self.reassign_all();
        true
    }

    /// The activators route to `pod` from now on (probed healthy, or kubelet-Ready). Idempotent.
    pub(crate) fn pod_routable(&mut self, pod: u32) {
        let Err(pos) = self.routable.binary_search(&pod) else {
            return;
        };
        self.routable.insert(pos, pod);
        self.routable_set.insert(pod);
        if self.all_route_everywhere() {
            for m in &mut self.members {
                if m.in_flight(pod) < self.container_concurrency {
                    m.activator.pod_ready(pod);
                }
            }
        } else {
            self.reassign_all();
        }
    }

    /// `pod` is no longer a routing target (terminating or deleted). Idempotent.
    pub(crate) fn pod_removed(&mut self, pod: u32) {
        let Ok(pos) = self.routable.binary_search(&pod) else {
            return;
        };
        self.routable.remove(pos);
        self.routable_set.remove(pod);
        if self.all_route_everywhere() {
            for m in &mut self.members {
                m.activator.pod_removed(pod);
            }
        } else {
            self.reassign_all();
        }
    }

    /// Whether every member routes to every routable pod whatever their number (containerConcurrency 0,
    /// or at most one activator published): then the free sets change pod by pod instead of being rebuilt.
    fn all_route_everywhere(&self) -> bool {
        self.container_concurrency == 0 || self.published <= 1
    }

    fn reassign_all(&mut self) {
        let cc = self.container_concurrency;
        let pods = self.routable.len();
        for (j, m) in self.members.iter_mut().enumerate() {
            let index = (j < self.published).then_some(j);
            let positions = assigned_pods(cc, pods, index, self.published);
            m.assigned = if positions.len() == pods {
                None
            } else {
                let mut slice: Vec<u32> = positions.iter().map(|&i| self.routable[i]).collect();
                slice.sort_unstable();
                Some(slice)
            };
            let target = m.assigned.as_deref().unwrap_or(&self.routable);
            let in_flight = &m.in_flight;
            m.activator
                .retarget(target, |p| in_flight.get(p as usize).copied().unwrap_or(0));
        }
    }

    /// The published activator the ingress sends a new request to (round robin).
    pub(crate) fn route(&mut self) -> usize {
        if self.members.len() == 1 {
            // One activator pod (the default): always it, and the round-robin position is never read.
            return 0;
        }
        let n = self.published.max(1);
        let a = self.ingress_next % n;
        self.ingress_next = self.ingress_next.wrapping_add(1);
        a
    }

    /// A request reached member `a`; returns its immediate stat when it created the member's entry.
    pub(crate) fn request_in(&mut self, a: usize, now: SimTime) -> Option<Stat> {
        self.members[a].activator.stats.request_in(now)
    }

    /// A request proxied by member `a` was answered.
    pub(crate) fn request_out(&mut self, a: usize, now: SimTime) {
        self.members[a].activator.stats.request_out(now);
    }

    /// The members' periodic reports added up (`None` when no member has an entry).
    pub(crate) fn report(&mut self, now: SimTime) -> Option<Stat> {
        self.members
            .iter_mut()
            .filter_map(|m| m.activator.stats.report(now))
            .reduce(|sum, s| sum.add(&s))
    }

    #[cfg(test)]
    /// Member `a`'s statistics (for tests and diagnostics).
    pub(crate) fn stats(&self, a: usize) -> &crate::request_path::stats::ActivatorRevisionStats {
        &self.members[a].activator.stats
    }

    /// Requests waiting at every member.
    #[inline]
    pub(crate) fn queued(&self) -> usize {
        debug_assert_eq!(
            self.waiting,
            self.members
                .iter()
                .map(|m| m.activator.queued())
                .sum::<usize>()
        );
        self.waiting
    }

    /// Requests waiting at member `a`.
    #[inline]
    pub(crate) fn queued_at(&self, a: usize) -> usize {
        self.members[a].activator.queued()
    }

    pub(crate) fn push(&mut self, a: usize, id: RequestId) {
        self.members[a].activator.push(id);
        self.waiting += 1;
    }

    pub(crate) fn front(&self, a: usize) -> Option<RequestId> {
        self.members[a].activator.front()
    }

    pub(crate) fn pop_front(&mut self, a: usize) -> Option<RequestId> {
        let id = self.members[a].activator.pop_front();
        self.waiting -= usize::from(id.is_some());
        id
    }

    /// See [`Activator::arm_timer`].
    pub(crate) fn arm_timer(&mut self, a: usize) -> bool {
        self.members[a].activator.arm_timer()
    }

    pub(crate) fn timer_fired(&mut self, a: usize) {
        self.members[a].activator.timer_fired();
    }

    /// A pod of member `a`'s slice with a free slot per its load-balancing policy, or `None`.
    #[inline]
    pub(crate) fn pick(&mut self, a: usize, rng: &mut SimRng) -> Option<u32> {
        let m = &mut self.members[a];
        let target = m.assigned.as_deref().unwrap_or(&self.routable);
        let in_flight = &m.in_flight;
        m.activator.pick(
            target,
            |p| in_flight.get(p as usize).copied().unwrap_or(0),
            rng,
        )
    }

    /// A pod of member `a`'s slice with a free slot per its policy, taken for a request that needs no
    /// queue (the member's queue is empty), or `None` with nothing changed.
    #[inline]
    pub(crate) fn take_pod(&mut self, a: usize, rng: &mut SimRng) -> Option<u32> {
        debug_assert_eq!(self.members[a].activator.queued(), 0);
        let pod = self.pick(a, rng)?;
        self.dispatched(a, pod);
        Some(pod)
    }

    /// Member `a`'s next dispatch: its oldest waiting request and a pod of its slice with a free slot per
    /// its policy, both taken (the request leaves the queue, the pod's in-flight count rises). `None`, with
    /// nothing changed, when the queue is empty or no pod has a free slot.
    pub(crate) fn dispatch_next(&mut self, a: usize, rng: &mut SimRng) -> Option<(RequestId, u32)> {
        self.members[a].activator.front()?;
        let pod = self.pick(a, rng)?;
        let id = self.pop_front(a)?;
        self.dispatched(a, pod);
        Some((id, pod))
    }

    /// Member `a` sent a request to `pod`.
    #[inline]
    pub(crate) fn dispatched(&mut self, a: usize, pod: u32) {
        let m = &mut self.members[a];
        let slot = pod as usize;
        let n = match m.in_flight.get_mut(slot) {
            Some(n) => {
                *n += 1;
                *n
            }
            None => {
                m.in_flight.resize(slot + 1, 0);
                m.in_flight[slot] = 1;
                1
            }
        };
        m.activator.dispatched(pod, n);
    }

    /// One of member `a`'s requests left `pod`.
    #[inline]
    pub(crate) fn released(&mut self, a: usize, pod: u32) {
        let m = &mut self.members[a];
        let Some(count) = m.in_flight.get_mut(pod as usize) else {
            return;
        };
        *count = count.saturating_sub(1);
        let n = *count;
        let routable = match m.assigned.as_deref() {
            None => self.routable_set.contains(pod),
            Some(slice) => slice.binary_search(&pod).is_ok(),
        };
        m.activator.released(pod, n, routable);
    }

    #[cfg(test)]
    /// Member `a`'s requests in flight on `pod`.
    pub(crate) fn in_flight(&self, a: usize, pod: u32) -> u32 {
        self.members[a].in_flight(pod)
    }
}

#[cfg(test)]
mod tests;
