//! DEPLOY_DOC

//! The event loop and the request path. See the parent module docs for the model and its assumptions.

use crate::ids::RequestId;
use crate::request_path::stats::RequestStats;
use crate::sim::world::*;
use crate::time::{SimDuration, SimTime};
use crate::workload::pods::{Pod, PodState};

/// The queue-proxy drainer's quiet period: a terminating pod serves on until this long after its last
/// request (Knative's drain sleep), bounded by the termination grace period.
const QUEUE_PROXY_DRAIN: SimDuration = SimDuration::from_secs(30);

impl Sim {
    /// Creates a pod. `ready_now` pods (warm start, fixed replicas) are Ready at once if a node fits;
    /// otherwise, like every other new pod, they wait Pending for a node and then cold-start.
    pub(crate) fn create_pod(&mut self, now: SimTime, ready_now: bool) -> u32 {
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
    pub(crate) fn place_pending(&mut self, now: SimTime) {
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

    pub(crate) fn mark_ready(&mut self, pod: u32) {
        let pos = self.ready.partition_point(|&p| p < pod);
        self.ready.insert(pos, pod);
        self.activator.pod_ready(pod);
    }

    pub(crate) fn pod_ready(&mut self, now: SimTime, pod: u32) {
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
    pub(crate) fn set_replicas(&mut self, now: SimTime, replicas: u32) {
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
    pub(crate) fn evict_node(&mut self, now: SimTime, node: u32) {
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

    pub(crate) fn terminate(&mut self, now: SimTime, pod: u32) {
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

    pub(crate) fn pod_drained(&mut self, now: SimTime, pod: u32) {
        let p = &self.pods[pod as usize];
        if p.state == PodState::Terminating && p.idle() {
            self.pod_gone(now, pod);
        }
    }

    pub(crate) fn pod_grace_over(&mut self, now: SimTime, pod: u32) {
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

    pub(crate) fn pod_gone(&mut self, now: SimTime, pod: u32) {
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
    pub(crate) fn release_pod_slot(&mut self, now: SimTime, pod: u32) {
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
}
