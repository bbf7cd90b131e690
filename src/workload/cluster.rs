//! The cluster: node pools with CPU (millicores), memory (bytes) and GPU (whole devices) capacity, a
//! scheduler that places pods by their requests, per-node image caches, and an optional node autoscaler.
//!
//! * Without a `cluster:` section there is one node of unlimited capacity (every pod fits; the image is
//!   pulled once and then cached), which is what the simulator did before node pools existed.
//! * Scheduling filters nodes whose free capacity (allocatable minus the requests of pods bound to it)
//!   fits the pod's requests, then picks the first such node in pool order and node order (`first_fit`)
//!   or the node with the highest requested share after placement (`most_allocated`, Kubernetes'
//!   NodeResourcesFit MostAllocated strategy: mean of the CPU, memory and GPU fractions; ties go to the
//!   first node). Pods that fit nowhere stay Pending and are retried, in creation order, whenever capacity
//!   is freed or a node is added.
//! * Node autoscaling (Cluster Autoscaler-like, checked once a second): when pods are Pending and the nodes
//!   already being provisioned cannot take them, new nodes are added to the first autoscaled pool whose
//!   empty node fits the pod, up to `max_nodes`; they join after `provision_delay`. A node with no pods
//!   for `scale_down_unneeded` is removed, down to `min_nodes`. Simplifications: only empty nodes are
//!   removed (no draining of under-used nodes), one pod shape per scenario, no DaemonSet overhead, and
//!   allocatable equals capacity.

use crate::time::{SimDuration, SimTime};

/// What one pod asks the scheduler for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodRequest {
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub gpus: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodePool {
    pub name: String,
    /// Nodes at time 0.
    pub nodes: u32,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub gpus: u32,
    pub min_nodes: u32,
    /// Upper bound for node autoscaling (equal to `nodes` = not autoscaled).
    pub max_nodes: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    FirstFit,
    MostAllocated,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeAutoscaling {
    pub provision_delay: SimDuration,
    pub scale_down_unneeded: SimDuration,
}

/// The cluster as configured (`None` pools = unlimited).
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterModel {
    pub pools: Vec<NodePool>,
    pub policy: Policy,
    pub autoscaling: Option<NodeAutoscaling>,
}

impl ClusterModel {
    /// One node of unlimited capacity.
    pub fn unlimited() -> Self {
        ClusterModel {
            pools: vec![NodePool {
                name: "unlimited".into(),
                nodes: 1,
                cpu_millis: u64::MAX,
                memory_bytes: u64::MAX,
                gpus: u32::MAX,
                min_nodes: 1,
                max_nodes: 1,
            }],
            policy: Policy::FirstFit,
            autoscaling: None,
        }
    }
}

impl Default for ClusterModel {
    fn default() -> Self {
        Self::unlimited()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Provisioning,
    Ready,
    Removed,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub pool: usize,
    pub state: NodeState,
    pub cpu_used: u64,
    pub memory_used: u64,
    pub gpus_used: u32,
    pub pods: u32,
    /// When the service's image is (or will be) on this node; `None` = never pulled.
    pub image_ready_at: Option<SimTime>,
    pub empty_since: SimTime,
    pub added: SimTime,
}

/// The cluster during a run.
pub struct Cluster {
    pub model: ClusterModel,
    pub nodes: Vec<Node>,
    /// Node-seconds of removed nodes (live ones are added at the end).
    pub node_ns: u128,
    pub max_nodes: u32,
    pub nodes_added: u32,
    pub nodes_removed: u32,
}

impl Cluster {
    pub fn new(model: ClusterModel) -> Self {
        let mut nodes = Vec::new();
        for (i, pool) in model.pools.iter().enumerate() {
            for _ in 0..pool.nodes {
                nodes.push(Node {
                    pool: i,
                    state: NodeState::Ready,
                    cpu_used: 0,
                    memory_used: 0,
                    gpus_used: 0,
                    pods: 0,
                    image_ready_at: None,
                    empty_since: SimTime::ZERO,
                    added: SimTime::ZERO,
                });
            }
        }
        let max_nodes = nodes.len() as u32;
        Cluster {
            model,
            nodes,
            node_ns: 0,
            max_nodes,
            nodes_added: 0,
            nodes_removed: 0,
        }
    }

    fn fits_empty(pool: &NodePool, req: &PodRequest) -> bool {
        req.cpu_millis <= pool.cpu_millis
            && req.memory_bytes <= pool.memory_bytes
            && req.gpus <= pool.gpus
    }

    fn fits(&self, node: &Node, req: &PodRequest) -> bool {
        let pool = &self.model.pools[node.pool];
        node.state == NodeState::Ready
            && req.cpu_millis <= pool.cpu_millis - node.cpu_used
            && req.memory_bytes <= pool.memory_bytes - node.memory_used
            && req.gpus <= pool.gpus - node.gpus_used
    }

    fn allocated_score(&self, node: &Node, req: &PodRequest) -> f64 {
        let pool = &self.model.pools[node.pool];
        let frac = |used: u64, add: u64, cap: u64| {
            if cap == 0 {
                None
            } else {
                Some((used + add) as f64 / cap as f64)
            }
        };
        let parts = [
            frac(node.cpu_used, req.cpu_millis, pool.cpu_millis),
            frac(node.memory_used, req.memory_bytes, pool.memory_bytes),
            frac(
                u64::from(node.gpus_used),
                u64::from(req.gpus),
                u64::from(pool.gpus),
            ),
        ];
        let (sum, n) = parts
            .iter()
            .flatten()
            .fold((0.0, 0), |(s, n), v| (s + v, n + 1));
        if n == 0 {
            0.0
        } else {
            sum / f64::from(n)
        }
    }

    /// Finds a node for `req` and reserves its resources there.
    pub fn place(&mut self, req: &PodRequest) -> Option<u32> {
        let chosen = match self.model.policy {
            Policy::FirstFit => self.nodes.iter().position(|n| self.fits(n, req)),
            Policy::MostAllocated => {
                let mut best: Option<(usize, f64)> = None;
                for (i, n) in self.nodes.iter().enumerate() {
                    if self.fits(n, req) {
                        let s = self.allocated_score(n, req);
                        if best.is_none_or(|(_, b)| s > b) {
                            best = Some((i, s));
                        }
                    }
                }
                best.map(|(i, _)| i)
            }
        }?;
        let n = &mut self.nodes[chosen];
        n.cpu_used += req.cpu_millis;
        n.memory_used += req.memory_bytes;
        n.gpus_used += req.gpus;
        n.pods += 1;
        Some(chosen as u32)
    }

    pub fn release(&mut self, node: u32, req: &PodRequest, now: SimTime) {
        let n = &mut self.nodes[node as usize];
        n.cpu_used -= req.cpu_millis;
        n.memory_used -= req.memory_bytes;
        n.gpus_used -= req.gpus;
        n.pods -= 1;
        if n.pods == 0 {
            n.empty_since = now;
        }
    }

    /// Pods of shape `req` an empty node of `pool` holds.
    fn pods_per_node(pool: &NodePool, req: &PodRequest) -> u64 {
        let per = |cap: u64, r: u64| cap.checked_div(r).unwrap_or(u64::MAX);
        per(pool.cpu_millis, req.cpu_millis)
            .min(per(pool.memory_bytes, req.memory_bytes))
            .min(per(u64::from(pool.gpus), u64::from(req.gpus)))
    }

    /// Whether a pod of shape `req` could ever fit (on an empty node of some pool).
    pub fn can_ever_fit(&self, req: &PodRequest) -> bool {
        self.model.pools.iter().any(|p| Self::fits_empty(p, req))
    }

    /// Node autoscaling, once a second: returns nodes that started provisioning (ready after the delay).
    pub fn autoscale(&mut self, now: SimTime, unplaced: u32, req: &PodRequest) -> Vec<u32> {
        let Some(auto) = self.model.autoscaling else {
            return Vec::new();
        };
        let mut added = Vec::new();
        // Scale up: pending pods the provisioning nodes will not absorb.
        let mut coming: u64 = self
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Provisioning)
            .map(|n| Self::pods_per_node(&self.model.pools[n.pool], req))
            .fold(0u64, u64::saturating_add);
        let mut need = u64::from(unplaced).saturating_sub(coming);
        if need > 0 {
            for (i, pool) in self.model.pools.iter().enumerate() {
                if need == 0 || !Self::fits_empty(pool, req) {
                    continue;
                }
                let per = Self::pods_per_node(pool, req).max(1);
                let live = self
                    .nodes
                    .iter()
                    .filter(|n| n.pool == i && n.state != NodeState::Removed)
                    .count() as u32;
                let room = pool.max_nodes.saturating_sub(live);
                let want = need.div_ceil(per).min(u64::from(room)) as u32;
                for _ in 0..want {
                    self.nodes.push(Node {
                        pool: i,
                        state: NodeState::Provisioning,
                        cpu_used: 0,
                        memory_used: 0,
                        gpus_used: 0,
                        pods: 0,
                        image_ready_at: None,
                        empty_since: now + auto.provision_delay,
                        added: now,
                    });
                    added.push((self.nodes.len() - 1) as u32);
                    self.nodes_added += 1;
                    coming = coming.saturating_add(per);
                    need = need.saturating_sub(per);
                }
            }
        }
        // Scale down: empty nodes unneeded for long enough, above the pool minimum.
        if unplaced == 0 {
            for i in 0..self.nodes.len() {
                let n = &self.nodes[i];
                if n.state != NodeState::Ready
                    || n.pods > 0
                    || now.saturating_since(n.empty_since) < auto.scale_down_unneeded
                {
                    continue;
                }
                let pool = n.pool;
                let live = self
                    .nodes
                    .iter()
                    .filter(|m| m.pool == pool && m.state != NodeState::Removed)
                    .count() as u32;
                if live > self.model.pools[pool].min_nodes {
                    self.node_ns += u128::from((now - self.nodes[i].added).0);
                    self.nodes[i].state = NodeState::Removed;
                    self.nodes_removed += 1;
                }
            }
        }
        let live = self.live_nodes();
        self.max_nodes = self.max_nodes.max(live);
        added
    }

    pub fn node_ready(&mut self, node: u32, now: SimTime) {
        let n = &mut self.nodes[node as usize];
        if n.state == NodeState::Provisioning {
            n.state = NodeState::Ready;
            n.empty_since = now;
        }
    }

    pub fn live_nodes(&self) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.state != NodeState::Removed)
            .count() as u32
    }

    /// Node-seconds up to `end` (removed nodes plus live ones).
    pub fn node_seconds(&self, end: SimTime) -> f64 {
        let live: u128 = self
            .nodes
            .iter()
            .filter(|n| n.state != NodeState::Removed)
            .map(|n| u128::from((end - n.added).0))
            .sum();
        (self.node_ns + live) as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(nodes: u32, gpus: u32) -> NodePool {
        NodePool {
            name: "gpu".into(),
            nodes,
            cpu_millis: 32_000,
            memory_bytes: 128 << 30,
            gpus,
            min_nodes: 0,
            max_nodes: 4,
        }
    }

    #[test]
    fn gpus_cap_placement_and_policies_differ() {
        let req = PodRequest {
            cpu_millis: 4000,
            memory_bytes: 16 << 30,
            gpus: 1,
        };
        let mut c = Cluster::new(ClusterModel {
            pools: vec![pool(2, 2)],
            policy: Policy::FirstFit,
            autoscaling: None,
        });
        let placed: Vec<_> = (0..5).map(|_| c.place(&req)).collect();
        assert_eq!(placed, vec![Some(0), Some(0), Some(1), Some(1), None]);
        c.release(0, &req, SimTime::ZERO);
        assert_eq!(c.place(&req), Some(0));

        // Most-allocated packs onto the fuller node even when it is not first.
        let mut c = Cluster::new(ClusterModel {
            pools: vec![pool(2, 4)],
            policy: Policy::MostAllocated,
            autoscaling: None,
        });
        c.nodes[1].gpus_used = 1;
        c.nodes[1].pods = 1;
        assert_eq!(c.place(&req), Some(1));
    }

    #[test]
    fn autoscaler_adds_nodes_for_pending_pods_and_removes_empty_ones() {
        let req = PodRequest {
            cpu_millis: 1000,
            memory_bytes: 1 << 30,
            gpus: 1,
        };
        let mut c = Cluster::new(ClusterModel {
            pools: vec![pool(1, 2)],
            policy: Policy::FirstFit,
            autoscaling: Some(NodeAutoscaling {
                provision_delay: SimDuration::from_secs(60),
                scale_down_unneeded: SimDuration::from_secs(600),
            }),
        });
        // 5 pending pods, 2 per node: 3 more nodes, capped by max 4 nodes in total.
        let added = c.autoscale(SimTime::from_secs(1), 5, &req);
        assert_eq!(added.len(), 3);
        // Asked again before they are ready: nothing more.
        assert!(c.autoscale(SimTime::from_secs(2), 5, &req).is_empty());
        for n in added {
            c.node_ready(n, SimTime::from_secs(61));
        }
        // All empty after 600 s: scaled down to min_nodes (0).
        c.autoscale(SimTime::from_secs(700), 0, &req);
        assert_eq!(c.live_nodes(), 0);
        assert_eq!(c.max_nodes, 4);
    }
}
