//! The cluster: node pools with CPU (millicores), memory (bytes) and GPU (whole devices) capacity, a
//! scheduler that places pods by their requests, per-node image caches, a Cluster Autoscaler
//! ([`autoscaler`]) and the cost of the nodes ([`cost`]).
//!
//! * Without a `cluster:` section there is one node of unlimited capacity (every pod fits; the image is
//!   pulled once and then cached), which is what the simulator did before node pools existed.
//! * Scheduling filters nodes whose free capacity (allocatable minus the requests of pods bound to it)
//!   fits the pod's requests, then picks the first such node in pool order and node order (`first_fit`)
//!   or the node with the highest requested share after placement (`most_allocated`, Kubernetes'
//!   NodeResourcesFit MostAllocated strategy: mean of the CPU, memory and GPU fractions; ties go to the
//!   first node). Pods that fit nowhere stay Pending and are retried, in creation order, whenever capacity
//!   is freed or a node is added.
//! * A node is schedulable once it is Ready; a node of a pool with GPUs becomes Ready only when its GPUs
//!   are allocatable (provisioning plus the device-plugin delay), because GPU nodes are normally tainted
//!   so that CPU-only pods do not land on them in between.
//! * Simplifications: one pod shape per scenario, no DaemonSet or system-reserved overhead (allocatable
//!   equals capacity), no taints, affinities or topology spread.

pub mod autoscaler;
pub mod cost;

pub use autoscaler::{AutoscalerStats, CaActions, Expander, NodeAutoscaling};
pub use cost::{CostSummary, PoolCost, ServiceAllocation, ServiceCost};

use crate::engine::{RngStreams, SimRng, Stream};
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
    /// Price of one node for an hour (any currency; 0 = free).
    pub price_per_hour: f64,
    /// Price of one GPU for an hour, on top of `price_per_hour`.
    pub gpu_price_per_hour: f64,
    /// For the `priority` expander: higher wins.
    pub priority: i32,
    /// Overrides the autoscaler's `provision-delay` for this pool.
    pub provision_delay: Option<SimDuration>,
}

impl NodePool {
    /// A pool of `nodes` fixed nodes with no price, priority or provisioning override.
    pub fn fixed(name: &str, nodes: u32, cpu_millis: u64, memory_bytes: u64, gpus: u32) -> Self {
        NodePool {
            name: name.into(),
            nodes,
            cpu_millis,
            memory_bytes,
            gpus,
            min_nodes: nodes,
            max_nodes: nodes,
            price_per_hour: 0.0,
            gpu_price_per_hour: 0.0,
            priority: 0,
            provision_delay: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    FirstFit,
    MostAllocated,
}

/// The cluster as configured.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterModel {
    pub pools: Vec<NodePool>,
    pub policy: Policy,
    pub autoscaling: Option<NodeAutoscaling>,
}

impl ClusterModel {
    /// One node of unlimited capacity.
    pub fn unlimited() -> Self {
        let mut pool = NodePool::fixed("unlimited", 1, u64::MAX, u64::MAX, u32::MAX);
        pool.min_nodes = 1;
        ClusterModel {
            pools: vec![pool],
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
    /// Chosen for scale-down: takes no new pods, removed when its last pod is gone.
    Draining,
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
    /// Since when the autoscaler has seen this node as unneeded (under-used and its pods movable).
    pub unneeded_since: Option<SimTime>,
    pub added: SimTime,
}

/// Requested resources integrated over time on one pool (for cost attribution).
#[derive(Clone, Copy, Debug, Default)]
struct PoolMeter {
    last: SimTime,
    cpu_millis: u64,
    memory_bytes: u64,
    gpus: u64,
    cpu_ns: u128,
    memory_ns: u128,
    gpu_ns: u128,
}

impl PoolMeter {
    fn advance(&mut self, now: SimTime) {
        let dt = u128::from(now.saturating_since(self.last).0);
        self.cpu_ns += u128::from(self.cpu_millis) * dt;
        self.memory_ns += u128::from(self.memory_bytes) * dt;
        self.gpu_ns += u128::from(self.gpus) * dt;
        self.last = self.last.max(now);
    }
}

/// Per-pool back-off after a failed scale-up (Cluster Autoscaler's node-group backoff).
#[derive(Clone, Copy, Debug, Default)]
struct Backoff {
    until: SimTime,
    failures: u32,
}

/// The cluster during a run.
pub struct Cluster {
    pub model: ClusterModel,
    pub nodes: Vec<Node>,
    /// Node-nanoseconds of removed nodes, per pool (live ones are added at the end).
    removed_ns: Vec<u128>,
    meters: Vec<PoolMeter>,
    backoff: Vec<Backoff>,
    next_scan: SimTime,
    last_scale_up: Option<SimTime>,
    rng: SimRng,
    pub max_nodes: u32,
    pub nodes_added: u32,
    pub nodes_removed: u32,
    pub stats: AutoscalerStats,
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
                    unneeded_since: None,
                    added: SimTime::ZERO,
                });
            }
        }
        let max_nodes = nodes.len() as u32;
        let n = model.pools.len();
        Cluster {
            model,
            nodes,
            removed_ns: vec![0; n],
            meters: vec![PoolMeter::default(); n],
            backoff: vec![Backoff::default(); n],
            next_scan: SimTime::ZERO,
            last_scale_up: None,
            rng: Self::rng_for(0),
            max_nodes,
            nodes_added: 0,
            nodes_removed: 0,
            stats: AutoscalerStats::default(),
        }
    }

    /// Seeds the random expander and tie-breaks from the scenario seed.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.rng = Self::rng_for(seed);
        self
    }

    fn rng_for(seed: u64) -> SimRng {
        // Its own instance of the cold-start family, so that adding the autoscaler's draws does not
        // shift the cold-start samples of existing scenarios.
        RngStreams::new(seed).indexed(Stream::ColdStart, 0xC1_A5_7E_12)
    }

    fn fits_empty(pool: &NodePool, req: &PodRequest) -> bool {
        req.cpu_millis <= pool.cpu_millis
            && req.memory_bytes <= pool.memory_bytes
            && req.gpus <= pool.gpus
    }

    /// Pods of shape `req` that fit in a node's free capacity.
    fn free_slots(&self, node: &Node, req: &PodRequest) -> u64 {
        let pool = &self.model.pools[node.pool];
        let per = |free: u64, r: u64| free.checked_div(r).unwrap_or(u64::MAX);
        per(pool.cpu_millis - node.cpu_used, req.cpu_millis)
            .min(per(pool.memory_bytes - node.memory_used, req.memory_bytes))
            .min(per(
                u64::from(pool.gpus - node.gpus_used),
                u64::from(req.gpus),
            ))
    }

    fn fits(&self, node: &Node, req: &PodRequest) -> bool {
        node.state == NodeState::Ready && self.free_slots(node, req) > 0
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

    /// Finds a node for `req` at `now` and reserves its resources there.
    pub fn place(&mut self, req: &PodRequest, now: SimTime) -> Option<u32> {
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
        let pool = self.nodes[chosen].pool;
        let m = &mut self.meters[pool];
        m.advance(now);
        m.cpu_millis += req.cpu_millis;
        m.memory_bytes += req.memory_bytes;
        m.gpus += u64::from(req.gpus);
        let n = &mut self.nodes[chosen];
        n.cpu_used += req.cpu_millis;
        n.memory_used += req.memory_bytes;
        n.gpus_used += req.gpus;
        n.pods += 1;
        Some(chosen as u32)
    }

    pub fn release(&mut self, node: u32, req: &PodRequest, now: SimTime) {
        let pool = self.nodes[node as usize].pool;
        let m = &mut self.meters[pool];
        m.advance(now);
        m.cpu_millis -= req.cpu_millis;
        m.memory_bytes -= req.memory_bytes;
        m.gpus -= u64::from(req.gpus);
        let n = &mut self.nodes[node as usize];
        n.cpu_used -= req.cpu_millis;
        n.memory_used -= req.memory_bytes;
        n.gpus_used -= req.gpus;
        n.pods -= 1;
        if n.pods == 0 && n.state == NodeState::Draining {
            self.remove_node(node as usize, now);
        }
    }

    fn remove_node(&mut self, i: usize, now: SimTime) {
        let n = &mut self.nodes[i];
        self.removed_ns[n.pool] += u128::from(now.saturating_since(n.added).0);
        n.state = NodeState::Removed;
        self.nodes_removed += 1;
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

    /// A provisioned node is Ready (and its GPUs allocatable); ignored if it was given up meanwhile.
    pub fn node_ready(&mut self, node: u32, _now: SimTime) {
        let n = &mut self.nodes[node as usize];
        if n.state == NodeState::Provisioning {
            n.state = NodeState::Ready;
            n.unneeded_since = None;
            // A node of the pool came up: its back-off is over.
            self.backoff[n.pool] = Backoff::default();
        }
    }

    /// Nodes that exist (provisioning, ready or draining).
    pub fn live_nodes(&self) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.state != NodeState::Removed)
            .count() as u32
    }

    fn live_in_pool(&self, pool: usize) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.pool == pool && n.state != NodeState::Removed)
            .count() as u32
    }

    /// Node-seconds of each pool up to `end` (removed nodes plus live ones).
    pub fn pool_node_seconds(&self, end: SimTime) -> Vec<f64> {
        let mut ns = self.removed_ns.clone();
        for n in self.nodes.iter().filter(|n| n.state != NodeState::Removed) {
            ns[n.pool] += u128::from(end.saturating_since(n.added).0);
        }
        ns.into_iter().map(|v| v as f64 / 1e9).collect()
    }

    /// Node-seconds up to `end` over all pools.
    pub fn node_seconds(&self, end: SimTime) -> f64 {
        let mut ns: u128 = self.removed_ns.iter().sum();
        for n in self.nodes.iter().filter(|n| n.state != NodeState::Removed) {
            ns += u128::from(end.saturating_since(n.added).0);
        }
        ns as f64 / 1e9
    }

    /// The requests of the run's (single) service integrated per pool up to `end`, for
    /// [`cost::attribute`].
    pub fn allocation(&self, name: &str, end: SimTime) -> ServiceAllocation {
        let per_pool = self
            .meters
            .iter()
            .map(|m| {
                let mut m = *m;
                m.advance(end);
                [
                    m.cpu_ns as f64 / 1e12, // millicore-ns to core-seconds
                    m.memory_ns as f64 / 1e9,
                    m.gpu_ns as f64 / 1e9,
                ]
            })
            .collect();
        ServiceAllocation {
            service: name.into(),
            per_pool,
        }
    }

    /// The run's cost, or `None` when no pool has a price.
    pub fn cost(&self, service: &str, end: SimTime) -> Option<CostSummary> {
        if self
            .model
            .pools
            .iter()
            .all(|p| p.price_per_hour == 0.0 && p.gpu_price_per_hour == 0.0)
        {
            return None;
        }
        Some(cost::attribute(
            &self.model.pools,
            &self.pool_node_seconds(end),
            &[self.allocation(service, end)],
        ))
    }
}

/// Time after which a pool backed off `failures` times may be tried again.
fn backoff_duration(auto: &NodeAutoscaling, failures: u32) -> SimDuration {
    let mut d = auto.initial_node_group_backoff_duration;
    for _ in 1..failures {
        d += d;
        if d >= auto.max_node_group_backoff_duration {
            break;
        }
    }
    SimDuration(d.0.min(auto.max_node_group_backoff_duration.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(nodes: u32, gpus: u32) -> NodePool {
        let mut p = NodePool::fixed("gpu", nodes, 32_000, 128 << 30, gpus);
        p.min_nodes = 0;
        p.max_nodes = 4;
        p
    }

    #[test]
    fn gpus_cap_placement_and_policies_differ() {
        let req = PodRequest {
            cpu_millis: 4000,
            memory_bytes: 16 << 30,
            gpus: 1,
        };
        let t = SimTime::ZERO;
        let mut c = Cluster::new(ClusterModel {
            pools: vec![pool(2, 2)],
            policy: Policy::FirstFit,
            autoscaling: None,
        });
        let placed: Vec<_> = (0..5).map(|_| c.place(&req, t)).collect();
        assert_eq!(placed, vec![Some(0), Some(0), Some(1), Some(1), None]);
        c.release(0, &req, t);
        assert_eq!(c.place(&req, t), Some(0));

        // Most-allocated packs onto the fuller node even when it is not first.
        let mut c = Cluster::new(ClusterModel {
            pools: vec![pool(2, 4)],
            policy: Policy::MostAllocated,
            autoscaling: None,
        });
        c.nodes[1].gpus_used = 1;
        c.nodes[1].pods = 1;
        assert_eq!(c.place(&req, t), Some(1));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let a = NodeAutoscaling::default();
        let mins = |f| backoff_duration(&a, f).whole_secs() / 60;
        assert_eq!([mins(1), mins(2), mins(3), mins(4)], [5, 10, 20, 30]);
        assert_eq!(mins(40), 30);
    }
}
