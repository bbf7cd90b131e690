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
    pub(crate) fn dispatched(&mut self, a: usize, pod: u32) {
        let m = &mut self.members[a];
        let slot = pod as usize;
        if m.in_flight.len() <= slot {
            m.in_flight.resize(slot + 1, 0);
        }
        m.in_flight[slot] += 1;
        let n = m.in_flight[slot];
        m.activator.dispatched(pod, n);
    }

    /// One of member `a`'s requests left `pod`.
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
mod tests {
    use super::*;
    use crate::engine::{RngStreams, Stream};
    use proptest::prelude::*;

    fn rng() -> SimRng {
        RngStreams::new(1).stream(Stream::LoadBalancing)
    }

    fn id(n: u32) -> RequestId {
        RequestId::new(n, 0)
    }

    /// cc 1, capacity 100, TBC 211: num_activators(r) = max(2, ceil((r + 211) / 100)) = 3 for r < 90.
    fn fleet(cc: u32, replicas: u32) -> ActivatorFleet {
        ActivatorFleet::new(
            cc,
            replicas,
            FleetSizing {
                total_value: cc.max(1) as f64,
                ..FleetSizing::default()
            },
        )
    }

    fn ready(f: &mut ActivatorFleet, pods: &[u32]) {
        for &p in pods {
            f.pod_routable(p);
        }
        f.set_ready(f.routable().len() as u32);
    }

    #[test]
    fn one_replica_is_one_activator_over_every_pod() {
        let mut f = fleet(1, 1);
        ready(&mut f, &[0, 1, 2]);
        assert_eq!(f.published(), 1);
        assert_eq!(f.assigned(0), &[0, 1, 2]);
        assert_eq!((f.route(), f.route()), (0, 0));
    }

    #[test]
    fn the_published_count_is_num_activators_capped_by_replicas() {
        let f = fleet(1, 5);
        assert_eq!(f.published(), 3, "ceil(211 / 100) = 3 with no pod ready");
        let mut g = fleet(1, 2);
        ready(&mut g, &[0]);
        assert_eq!(g.published(), 2);
        let mut zero_tbc = ActivatorFleet::new(
            10,
            20,
            FleetSizing {
                total_value: 10.0,
                target_burst_capacity: 0.0,
                activator_capacity: 100.0,
            },
        );
        ready(&mut zero_tbc, &(0..40).collect::<Vec<_>>());
        assert_eq!(zero_tbc.published(), 2, "TBC 0 always asks for 2");
    }

    #[test]
    fn slices_with_remainder_and_shared_pods_when_fewer_pods_than_activators() {
        let mut f = fleet(1, 3);
        ready(&mut f, &[10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(f.assigned(0), &[10, 11, 16]);
        assert_eq!(f.assigned(1), &[12, 13]);
        assert_eq!(f.assigned(2), &[14, 15]);
        let mut g = fleet(1, 3);
        ready(&mut g, &[4, 9]);
        assert_eq!(
            (g.assigned(0), g.assigned(1), g.assigned(2)),
            (&[4][..], &[9][..], &[4][..])
        );
    }

    #[test]
    fn an_activator_without_a_pod_queues_until_its_slice_gets_one() {
        let mut f = fleet(1, 3);
        let mut r = rng();
        // No pod: every member queues what it gets.
        for n in 0..3 {
            let a = f.route();
            assert_eq!(a, n as usize);
            f.push(a, id(n));
            assert_eq!(f.pick(a, &mut r), None);
        }
        assert_eq!(f.queued(), 3);
        // One pod: with fewer pods than activators every member shares pod 0.
        ready(&mut f, &[0]);
        assert_eq!(f.pick(0, &mut r), Some(0));
        f.dispatched(0, 0);
        // Member 0 holds pod 0's only slot of member 0; member 1 has its own tracker (cc per activator).
        assert_eq!(f.pick(0, &mut r), None);
        assert_eq!(f.pick(1, &mut r), Some(0));
        f.released(0, 0);
        assert_eq!(f.pick(0, &mut r), Some(0));
    }

    #[test]
    fn an_unpublished_member_drains_its_queue_over_every_pod() {
        let mut f = fleet(1, 3);
        f.push(2, id(7));
        // 6 ready pods at cc 1 ask for ceil((6 + 211) / 100) = 3 activators: all 3 published.
        ready(&mut f, &(0..6).collect::<Vec<_>>());
        assert_eq!(f.assigned(2), &[4, 5]);
        // Shrink to 2 published (replicas stay 3): sizing with TBC 0.
        f.sizing.target_burst_capacity = 0.0;
        assert!(f.set_ready(6));
        assert_eq!(f.published(), 2);
        assert_eq!(f.assigned(2), &[0, 1, 2, 3, 4, 5], "index −1: every pod");
        assert_eq!(f.assigned(0), &[0, 1, 2]);
        assert_eq!(f.queued_at(2), 1);
    }

    #[test]
    fn a_removed_pod_is_no_longer_picked_and_a_late_release_does_not_free_it() {
        let mut f = fleet(2, 1);
        let mut r = rng();
        ready(&mut f, &[0, 1]);
        assert_eq!(f.pick(0, &mut r), Some(0));
        f.dispatched(0, 0);
        f.pod_removed(0);
        f.released(0, 0);
        assert_eq!(f.pick(0, &mut r), Some(1));
        assert_eq!(f.in_flight(0, 0), 0);
    }

    #[test]
    fn reports_add_up_and_each_member_pokes_once() {
        let mut f = fleet(1, 3);
        let now = SimTime::from_secs(1);
        assert!(f.request_in(0, now).is_some());
        assert!(f.request_in(0, now).is_none());
        assert!(
            f.request_in(1, now).is_some(),
            "a second activator pokes too"
        );
        assert!(f.stats(1).has_entry() && !f.stats(2).has_entry());
        let sum = f.report(SimTime::from_secs(2)).expect("two entries");
        // Member 0 had 2 in flight for the second and member 1 had 1, minus each member's "1" already sent.
        assert_eq!(sum.average_concurrency, 1.0);
        assert_eq!(sum.request_count, 1.0);
        assert_eq!(fleet(1, 2).report(now), None);
    }

    #[test]
    fn probe_optimisation_routes_at_the_first_probe_tick_but_never_after_kubelet_ready() {
        let s = ActivatorSettings::default();
        let at = |c: u64, k: u64| {
            activator_routes_at(SimTime::from_millis(c), SimTime::from_millis(k), &s)
        };
        assert_eq!(at(10_050, 15_000), SimTime::from_millis(10_200));
        assert_eq!(at(10_200, 15_000), SimTime::from_millis(10_200));
        assert_eq!(at(10_150, 10_170), SimTime::from_millis(10_170));
        assert_eq!(at(9_000, 9_000), SimTime::from_millis(9_000));
        let off = ActivatorSettings {
            probe_optimisation: false,
            ..ActivatorSettings::default()
        };
        assert_eq!(
            activator_routes_at(SimTime::from_secs(1), SimTime::from_secs(5), &off),
            SimTime::from_secs(5)
        );
    }

    proptest! {
        /// Whatever the sequence of pods appearing and leaving and of ready counts, each member's slice is
        /// what the golden-tested assignment gives for the routable pods, and a member's pick is a pod of
        /// its slice with a free slot.
        #[test]
        fn slices_follow_the_assignment_rule(
            cc in 0u32..4, replicas in 1u32..6,
            ops in proptest::collection::vec((0u8..3, 0u32..12), 1..60),
        ) {
            let mut f = fleet(cc, replicas);
            let mut r = rng();
            for (op, x) in ops {
                match op {
                    0 => f.pod_routable(x),
                    1 => f.pod_removed(x),
                    _ => {
                        let a = (x as usize) % f.replicas();
                        if let Some(p) = f.pick(a, &mut r) {
                            prop_assert!(f.assigned(a).contains(&p));
                            prop_assert!(cc == 0 || f.in_flight(a, p) < cc);
                            f.dispatched(a, p);
                        }
                    }
                }
                f.set_ready(f.routable().len() as u32);
                let pods = f.routable().to_vec();
                for a in 0..f.replicas() {
                    let index = (a < f.published()).then_some(a);
                    let mut want: Vec<u32> = assigned_pods(cc, pods.len(), index, f.published())
                        .into_iter().map(|i| pods[i]).collect();
                    want.sort_unstable();
                    prop_assert_eq!(f.assigned(a), &want[..]);
                }
            }
        }
    }
}
