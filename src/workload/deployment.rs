//! A revision's deployment and its pods' lifecycle: creating pods (warm, or Pending then placed and
//! cold-started), readiness, scaling to a replica count in Kubernetes' ReplicaSet removal order, evictions
//! when the cluster autoscaler drains a node, graceful termination (the queue-proxy's drain quiet period,
//! then SIGKILL at the termination grace period) and freeing a pod's slot and node resources.
//!
//! Units: time in ns; resources as each pod's shape (CPU millicores, memory bytes, GPUs).
//!
//! A starting pod becomes a routing target for the activators before it is Ready when their probe finds
//! its container ready (the probe optimisation, `request_path::activator_fleet`); the kubelet's Ready
//! follows at the end of the readiness phase.
//!
//! Assumptions: scale-down removes unscheduled pods first, then pods not ready yet (newest first; one the
//! activators already route to drains like a Ready pod), then the most recently ready; a replica count above `scenario::limits::MAX_PODS` stops the run with an error
//! (issue 14) instead of creating the pods. The scheduler's queue is read by slot, as before the split.

use crate::ids::{RequestId, RevisionId};
use crate::request_path::activator_fleet::activator_routes_at;
use crate::request_path::stats::RequestStats;
use crate::scenario::limits::MAX_PODS;
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime};
use crate::workload::pods::{Pod, PodState};

/// The queue-proxy drainer's quiet period: a terminating pod serves on until this long after its last
/// request (Knative's drain sleep), bounded by the termination grace period.
const QUEUE_PROXY_DRAIN: SimDuration = SimDuration::from_secs(30);

impl Sim {
    /// Creates a pod of revision `rv`. `ready_now` pods (warm start, fixed replicas) are Ready at once if
    /// a node fits; otherwise, like every other new pod, they wait Pending for a node and then cold-start.
    pub(crate) fn create_pod(&mut self, now: SimTime, rv: RevisionId, ready_now: bool) -> u32 {
        let rev = &mut self.revisions[rv.index()];
        let mut pod = Pod::new(now, PodState::Starting, rev.shape);
        pod.rate.kv = super::engine::kv_for(&rev.service);
        let slot = match rev.free_pods.pop() {
            Some(slot) => {
                pod.generation = rev.pods[slot as usize].generation.wrapping_add(1);
                rev.pods[slot as usize] = pod;
                slot
            }
            None => {
                rev.pods.push(pod);
                (rev.pods.len() - 1) as u32
            }
        };
        rev.starting += 1;
        if ready_now {
            if let Some(node) = self.cluster.place(&rev.shape, now) {
                rev.starting -= 1;
                let p = &mut rev.pods[slot as usize];
                p.node = Some(node);
                p.placed_at = now;
                // A warm pod's node has the image.
                self.cluster.nodes[node as usize].image_ready_at = Some(now);
                p.state = PodState::Ready;
                p.ready_at = Some(now);
                rev.mark_ready(slot);
                return slot;
            }
        }
        self.cold_starts += 1;
        rev.stats.cold_starts += 1;
        let r = rev.pod_ref(slot);
        self.unplaced.push_back(r);
        self.place_pending(now);
        slot
    }

    /// Binds Pending pods (of every revision) to nodes, oldest first, while they fit, and starts their
    /// startup phases.
    pub(crate) fn place_pending(&mut self, now: SimTime) {
        while let Some(&r) = self.unplaced.front() {
            // Entries are read by slot: one whose pod was deleted while Pending is dropped here, but one
            // whose slot already holds a newer Pending pod stands for that pod (in the older position).
            let rev = &mut self.revisions[r.revision().index()];
            let pod = r.pod().slot();
            let p = &rev.pods[pod as usize];
            if p.state != PodState::Starting || p.node.is_some() {
                self.unplaced.pop_front(); // deleted while Pending
                continue;
            }
            let Some(node) = self.cluster.place(&p.shape, now) else {
                return;
            };
            self.unplaced.pop_front();
            let image = self.cluster.nodes[node as usize].image_ready_at;
            let (plan, image) = rev.startup.plan(now, image, &mut rev.rng.cold_start);
            let plan = plan.with_kubelet_delay(rev.activator_settings.kubelet_readiness_delay);
            self.cluster.nodes[node as usize].image_ready_at = image;
            let p = &mut rev.pods[pod as usize];
            p.node = Some(node);
            p.placed_at = now;
            p.bound_at = plan.bound_at;
            p.phases = plan.phases;
            // Time spent Pending waiting for capacity counts as scheduling.
            p.phases.scheduling += now - p.created;
            let id = rev.pod_ref(pod);
            let routes_at = activator_routes_at(
                plan.container_ready_at,
                plan.ready_at,
                &rev.activator_settings,
            );
            let probed = routes_at < plan.ready_at && rev.scaler.has_activator();
            let ev = self.at_cancellable(plan.ready_at, Event::PodReady(id));
            self.rev(r.revision()).pods[pod as usize].lifecycle_event = Some(ev);
            if probed {
                // Not cancelled: a pod deleted or reused since is recognised by its state and generation.
                self.at(routes_at, Event::PodProbed(id));
            }
        }
    }

    /// The activators' probe found the starting pod's container ready before the kubelet marks it Ready:
    /// they route to it from now on (its queue-proxy counts from now); the KPA still counts it from Ready.
    pub(crate) fn pod_probed(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        if p.state != PodState::Starting {
            return; // deleted before the probe
        }
        p.stats = RequestStats::new(now);
        p.last_tick = p.usage(now, &rev.resources);
        rev.activator.pod_routable(pod);
        if rev.activator.queued() > 0 {
            self.dispatch_from_activator(now, rv);
        }
    }

    pub(crate) fn pod_ready(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        if p.state != PodState::Starting {
            return; // deleted before it became ready
        }
        p.lifecycle_event = None;
        p.state = PodState::Ready;
        p.ready_at = Some(now);
        if rev.activator.routable().binary_search(&pod).is_ok() {
            // Probed earlier: its queue-proxy has been counting the activators' requests; the period
            // nobody scraped closes now and the first scraped one starts at Ready, as for any pod.
            p.stats.report(now);
        } else {
            p.stats = RequestStats::new(now);
        }
        p.last_tick = p.usage(now, &rev.resources);
        self.cold_start_phases.push(p.phases);
        rev.starting -= 1;
        rev.mark_ready(pod);
        if rev.activator.queued() > 0 {
            self.dispatch_from_activator(now, rv);
        }
        let rev = self.rev(rv);
        let d = rev.scaler.on_pod_ready(now, rev.ready.len() as u32);
        self.apply(now, rv, d);
    }

    /// Refuses a replica count the simulator cannot hold (issue 14): the run stops with an error naming
    /// the time, the figure, the limit and the setting that bounds it, instead of allocating the pods.
    pub(crate) fn check_replicas(
        &self,
        now: SimTime,
        rv: RevisionId,
        replicas: u32,
    ) -> Result<(), PodLimitHit> {
        if u64::from(replicas) <= MAX_PODS {
            return Ok(());
        }
        let setting = match self.revisions[rv.index()].scaler.label() {
            "kpa" => {
                "set service.maxReplicas (the autoscaling.knative.dev/max-scale annotation) or \
                 max-scale in autoscaler.config (config-autoscaler)"
            }
            "hpa" | "keda" => "set the HPA's maxReplicas",
            _ => "bound the replicas the autoscaler asks for",
        };
        Err(PodLimitHit {
            at: now,
            asked: replicas,
            limit: MAX_PODS,
            setting,
        })
    }

    /// Scales revision `rv`'s deployment to `replicas` (Pending, Starting and Ready pods).
    pub(crate) fn set_replicas(&mut self, now: SimTime, rv: RevisionId, replicas: u32) {
        if let Err(e) = self.check_replicas(now, rv, replicas) {
            // Reported by the stepper after this event; the deployment keeps its size meanwhile.
            self.halt.get_or_insert(e);
            return;
        }
        let rev = &mut self.revisions[rv.index()];
        let current = rev.current();
        if replicas != rev.desired {
            self.scale_events += 1;
        }
        rev.desired = replicas;
        self.max_desired = self.max_desired.max(replicas);
        if replicas > current {
            for _ in current..replicas {
                self.create_pod(now, rv, false);
            }
            return;
        }
        let mut to_remove = current - replicas;
        // ReplicaSet order: unscheduled pods first, then pods that are not ready yet; newest first.
        let mut starting: Vec<(bool, SimTime, u32)> = (0..rev.pods.len() as u32)
            .filter(|&i| rev.pods[i as usize].state == PodState::Starting)
            .map(|i| {
                let p = &rev.pods[i as usize];
                (p.node.is_none(), p.created, i)
            })
            .collect();
        starting.sort_by(|a, b| b.cmp(a));
        for (_, _, pod) in starting {
            if to_remove == 0 {
                return;
            }
            self.delete_starting(now, rv, pod);
            to_remove -= 1;
        }
        // Then the most recently ready.
        let rev = &self.revisions[rv.index()];
        let mut ready: Vec<(SimTime, u32)> = rev
            .ready
            .iter()
            .map(|&i| (rev.pods[i as usize].ready_at.unwrap_or(SimTime::ZERO), i))
            .collect();
        ready.sort_by(|a, b| b.cmp(a));
        for (_, pod) in ready.into_iter().take(to_remove as usize) {
            self.terminate(now, rv, pod);
        }
    }

    /// Deletes a pod that is not ready yet (Pending or starting). One the activators already route to
    /// (probed) has requests and drains like a Ready pod; nothing runs on any other, so it goes at once.
    fn delete_starting(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        if let Some(ev) = rev.pods[pod as usize].lifecycle_event.take() {
            self.queue.cancel(ev);
        }
        rev.starting -= 1;
        if rev.activator.routable().binary_search(&pod).is_ok() {
            self.terminate(now, rv, pod);
            return;
        }
        rev.pods[pod as usize].state = PodState::Gone;
        self.release_pod_slot(now, rv, pod);
    }

    /// Cluster Autoscaler drains `node`: each pod on it (of any revision) is evicted (gracefully
    /// terminated, or deleted if not ready yet) and its deployment recreates it, Pending, to cold-start
    /// elsewhere.
    pub(crate) fn evict_node(&mut self, now: SimTime, node: u32) {
        for i in 0..self.revisions.len() {
            let rev = &self.revisions[i];
            let rv = rev.id;
            let on: Vec<u32> = (0..rev.pods.len() as u32)
                .filter(|&i| {
                    let p = &rev.pods[i as usize];
                    p.node == Some(node) && matches!(p.state, PodState::Starting | PodState::Ready)
                })
                .collect();
            for pod in on {
                if self.revisions[i].pods[pod as usize].state == PodState::Ready {
                    self.terminate(now, rv, pod);
                } else {
                    self.delete_starting(now, rv, pod);
                }
                self.create_pod(now, rv, false);
            }
        }
    }

    pub(crate) fn terminate(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        if let Ok(pos) = rev.ready.binary_search(&pod) {
            rev.ready.remove(pos);
        }
        rev.activator.pod_removed(pod);
        let republished = rev.activator.set_ready(rev.ready.len() as u32);
        rev.pods[pod as usize].state = PodState::Terminating;
        rev.terminating += 1;
        // Knative's queue-proxy drains on SIGTERM: it keeps serving until no request has come for its quiet
        // period, then waits for the in-flight ones; the kubelet kills it at the end of the grace period. The
        // pod keeps its node (GPUs included) meanwhile. No request reaches it after this point (it left the
        // endpoints at once), so the quiet period runs from now.
        if republished && rev.activator.queued() > 0 {
            // Fewer activators published: the ones dropped route to every pod.
            self.dispatch_from_activator(now, rv);
        }
        let rev = &mut self.revisions[rv.index()];
        let grace = rev.termination_grace;
        let drain = QUEUE_PROXY_DRAIN.min(grace);
        let id = rev.pod_ref(pod);
        rev.pods[pod as usize].drain_until = now + drain;
        if drain.0 == 0 && rev.pods[pod as usize].idle() {
            self.pod_gone(now, rv, pod);
            return;
        }
        let ev = self.at_cancellable(now + grace, Event::PodGraceOver(id));
        self.rev(rv).pods[pod as usize].lifecycle_event = Some(ev);
        if drain < grace {
            // Not cancelled: a pod gone earlier by the grace period is recognised by its generation.
            self.at(now + drain, Event::PodDrained(id));
        }
    }

    pub(crate) fn pod_drained(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let p = &self.revisions[rv.index()].pods[pod as usize];
        if p.state == PodState::Terminating && p.idle() {
            self.pod_gone(now, rv, pod);
        }
    }

    pub(crate) fn pod_grace_over(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        if rev.pods[pod as usize].state != PodState::Terminating {
            return;
        }
        rev.pods[pod as usize].lifecycle_event = None;
        // SIGKILL: whatever is still queued or executing fails.
        if let Some((_, ev)) = rev.pods[pod as usize].queue_timer.take() {
            self.queue.cancel(ev);
        }
        let rev = &mut self.revisions[rv.index()];
        let queued: Vec<RequestId> = rev.pods[pod as usize].queue.drain(..).collect();
        for id in queued {
            let r = &self.requests[id.index()];
            if r.generation == id.generation() && r.stage == Stage::PodQueue {
                self.respond(now, id, 502);
            }
        }
        let this = Some(self.revisions[rv.index()].pod_id(pod));
        for slot in 0..self.requests.len() as u32 {
            let r = self.requests[slot as usize];
            let on_pod = matches!(r.stage, Stage::Executing | Stage::Waiting);
            if on_pod && r.revision == rv && r.pod == this {
                let id = RequestId::new(slot, r.generation);
                if let Some(ev) = self.links.written_mut(id).and_then(|l| l.timer.take()) {
                    self.queue.cancel(ev);
                }
                self.respond(now, RequestId::new(slot, r.generation), 502);
            }
        }
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        p.integrate_usage(now, &rev.resources);
        p.executing = 0;
        p.queued = 0;
        p.rate.tags.clear();
        if let Some(kv) = p.rate.kv.as_mut() {
            kv.clear();
        }
        if let Some(ev) = p.rate.next.take() {
            self.queue.cancel(ev);
        }
        self.pod_gone(now, rv, pod);
    }

    pub(crate) fn pod_gone(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        if let Some(ev) = rev.pods[pod as usize].lifecycle_event.take() {
            self.queue.cancel(ev);
        }
        if rev.pods[pod as usize].state == PodState::Terminating {
            rev.terminating -= 1;
        }
        rev.pods[pod as usize].state = PodState::Gone;
        self.release_pod_slot(now, rv, pod);
    }

    /// Frees the pod's slot and its node's resources, then lets Pending pods use them.
    pub(crate) fn release_pod_slot(&mut self, now: SimTime, rv: RevisionId, pod: u32) {
        let rev = &mut self.revisions[rv.index()];
        let p = &mut rev.pods[pod as usize];
        let pool = p.node.map(|n| self.cluster.nodes[n as usize].pool);
        let (pod_ns, gpu_ns) = account_pod_time(&mut rev.stats, p, pool, now);
        self.pod_ns += pod_ns;
        self.gpu_ns += gpu_ns;
        if let Some(node) = p.node.take() {
            self.cluster.release(node, &p.shape, now);
        }
        rev.free_pods.push(pod);
        if !self.unplaced.is_empty() {
            self.place_pending(now);
        }
    }
}

impl Revision {
    /// Adds `pod` to the ready set (kept in slot order) and tells the activators (which republish for
    /// the new ready count).
    pub(crate) fn mark_ready(&mut self, pod: u32) {
        let pos = self.ready.partition_point(|&p| p < pod);
        self.ready.insert(pos, pod);
        self.activator.pod_routable(pod);
        self.activator.set_ready(self.ready.len() as u32);
    }
}

/// Adds pod `p`'s life up to `until` to its service's pod-seconds and, while it held a node of `pool`,
/// its GPU-seconds and per-pool requested resources; returns the pod and GPU nanoseconds for the run's
/// own totals (so the run's figures and the services' add up by construction).
pub(crate) fn account_pod_time(
    stats: &mut crate::observe::services::ServiceStats,
    p: &Pod,
    pool: Option<usize>,
    until: SimTime,
) -> (u128, u128) {
    let pod_ns = u128::from((until - p.created).0);
    stats.pod_ns += pod_ns;
    let Some(pool) = pool else {
        return (pod_ns, 0);
    };
    let held = (until - p.placed_at).0;
    let gpu_ns = u128::from(p.shape.gpus) * u128::from(held);
    stats.gpu_ns += gpu_ns;
    stats.pod_held(
        pool,
        p.shape.cpu_millis,
        p.shape.memory_bytes,
        p.shape.gpus,
        held,
    );
    (pod_ns, gpu_ns)
}
