//! Cluster Autoscaler as it runs: a scan every `scan-interval` (10 s) that gives up nodes not ready
//! after `max-node-provision-time`, scales one pool up for Pending pods (chosen by the expander) and
//! drains under-used nodes. Durations are simulated time; utilisation is requested resources over
//! allocatable, as Cluster Autoscaler computes it (not measured usage).
//!
//! The loop, at each scan:
//! 1. Provisioning nodes older than `max-node-provision-time` (15 min; GPU nodes count as not ready until
//!    their GPUs are allocatable) are given up and their pool is backed off: 5 min, doubling per
//!    further failure up to 30 min (`initial-`/`max-node-group-backoff-duration`); a node of the pool
//!    becoming Ready clears the back-off.
//! 2. Scale-up: if every Pending pod is younger than the unschedulable-pod buffer (2 s; 30 s when pods
//!    request GPUs) nothing happens this scan, as Cluster Autoscaler waits one more loop for more pods.
//!    Otherwise the pods that provisioning nodes will not absorb are counted, and each pool that is not
//!    backed off, has room below `max_nodes` and whose node fits a pod is an option (nodes needed, capped
//!    by room, and pods helped). The expander picks one option; only that pool grows this scan.
//!    * `least-waste` (default): least wasted CPU plus memory fraction on the new nodes;
//!    * `most-pods`: the most pods scheduled;
//!    * `priority`: the highest pool `priority`;
//!    * `random`: uniformly at random.
//!
//!    Ties fall back to a random choice among the tied pools (seeded stream), as Cluster Autoscaler's
//!    expanders fall back to `random`.
//! 3. Scale-down: in every scan a Ready node is marked unneeded while its requested utilisation (the larger
//!    of CPU and memory; GPUs alone on GPU pools) is below `scale-down-utilization-threshold` (0.5;
//!    `scale-down-gpu-utilization-threshold` 0.5 for GPU nodes) and its pods fit on the other Ready
//!    nodes. When no scale-up happened in this scan and the last scale-up is `scale-down-delay-after-add`
//!    (10 min) ago, a node unneeded for `scale-down-unneeded-time` (10 min) is removed, keeping each pool at
//!    `min_nodes`: empty nodes up to `max-empty-bulk-delete` (10) per scan, and at most one non-empty node
//!    per scan, which is drained: its pods are evicted ([`CaActions::drain`]; the simulator terminates
//!    them gracefully and the deployment recreates each one, so the replacement goes Pending and
//!    cold-starts on another node), and the node is removed (stops being billed) when its last pod is
//!    gone.
//!
//! Simplified: one pod shape, so the binpacking estimator is a division; no PodDisruptionBudgets,
//! `scale-down-delay-after-delete`/`-after-failure`, `scale-down-unready-time`, balancing of similar node
//! groups or `max-nodes-total`; node provisioning never fails except by exceeding
//! `max-node-provision-time` (a pool whose `provision_delay` exceeds it models a stock-out); the
//! least-waste score uses CPU and memory only, as Cluster Autoscaler's does.

use super::{backoff_duration, Cluster, Node, NodeState, PodRequest};
use crate::time::{SimDuration, SimTime};
use rand::RngExt;
use serde::Serialize;

/// How the autoscaler picks among pools that could take Pending pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expander {
    LeastWaste,
    MostPods,
    Priority,
    Random,
}

impl Expander {
    pub const NAMES: &'static str = "least-waste, most-pods, priority, random";

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "least-waste" => Expander::LeastWaste,
            "most-pods" => Expander::MostPods,
            "priority" => Expander::Priority,
            "random" => Expander::Random,
            _ => return None,
        })
    }
}

/// Cluster Autoscaler settings (flag names in the scenario's `cluster.autoscaler`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeAutoscaling {
    pub scan_interval: SimDuration,
    /// Cloud provider time from the decision to a Ready node (not a Cluster Autoscaler flag; 60 s).
    pub provision_delay: SimDuration,
    /// From node Ready to its GPUs being allocatable (driver and device plugin; an assumption, 60 s).
    pub gpu_device_plugin_delay: SimDuration,
    pub max_node_provision_time: SimDuration,
    /// Pending pods younger than this do not trigger a scale-up (2 s).
    pub new_pod_buffer: SimDuration,
    /// The same for pods requesting GPUs (30 s).
    pub new_gpu_pod_buffer: SimDuration,
    pub scale_down_enabled: bool,
    pub scale_down_utilization_threshold: f64,
    pub scale_down_gpu_utilization_threshold: f64,
    pub scale_down_unneeded_time: SimDuration,
    pub scale_down_delay_after_add: SimDuration,
    pub max_empty_bulk_delete: u32,
    pub initial_node_group_backoff_duration: SimDuration,
    pub max_node_group_backoff_duration: SimDuration,
    pub expander: Expander,
}

impl Default for NodeAutoscaling {
    fn default() -> Self {
        NodeAutoscaling {
            scan_interval: SimDuration::from_secs(10),
            provision_delay: SimDuration::from_secs(60),
            gpu_device_plugin_delay: SimDuration::from_secs(60),
            max_node_provision_time: SimDuration::from_secs(15 * 60),
            new_pod_buffer: SimDuration::from_secs(2),
            new_gpu_pod_buffer: SimDuration::from_secs(30),
            scale_down_enabled: true,
            scale_down_utilization_threshold: 0.5,
            scale_down_gpu_utilization_threshold: 0.5,
            scale_down_unneeded_time: SimDuration::from_secs(600),
            scale_down_delay_after_add: SimDuration::from_secs(600),
            max_empty_bulk_delete: 10,
            initial_node_group_backoff_duration: SimDuration::from_secs(300),
            max_node_group_backoff_duration: SimDuration::from_secs(1800),
            expander: Expander::LeastWaste,
        }
    }
}

/// What the simulator must do after a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaActions {
    /// New nodes and when each becomes Ready (schedule `node_ready` then).
    pub added: Vec<(u32, SimTime)>,
    /// Nodes now draining: evict every pod bound to them (the deployment recreates them).
    pub drain: Vec<u32>,
}

/// Counters in the run summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AutoscalerStats {
    pub scans: u64,
    pub scale_ups: u32,
    /// Scale-ups skipped because every Pending pod was younger than the buffer.
    pub young_pod_skips: u32,
    pub empty_nodes_removed: u32,
    pub nodes_drained: u32,
    pub provision_timeouts: u32,
}

/// One pool the expander may grow.
#[derive(Clone, Copy, Debug)]
struct ScaleOption {
    pool: usize,
    nodes: u32,
    pods: u64,
}

impl Cluster {
    /// Called once a simulated second with the number of Pending (unbound) pods and the creation time
    /// of the oldest; scans when the scan interval is due.
    pub fn autoscale(
        &mut self,
        now: SimTime,
        pending: u32,
        oldest_pending: Option<SimTime>,
        req: &PodRequest,
    ) -> CaActions {
        let mut out = CaActions::default();
        let Some(auto) = self.model.autoscaling else {
            return out;
        };
        if now < self.next_scan {
            return out;
        }
        while self.next_scan <= now {
            self.next_scan += auto.scan_interval;
        }
        self.stats.scans += 1;
        self.give_up_late_nodes(now, &auto);
        let scaled_up = self.scale_up(now, &auto, pending, oldest_pending, req, &mut out);
        let cooling = self
            .last_scale_up
            .is_some_and(|t| now.saturating_since(t) < auto.scale_down_delay_after_add);
        if auto.scale_down_enabled {
            // Unneeded nodes are tracked in every scan; only removing them waits out the cool-down.
            self.mark_unneeded(now, &auto, req);
            if !scaled_up && !cooling {
                self.scale_down(now, &auto, req, &mut out);
            }
        }
        self.max_nodes = self.max_nodes.max(self.live_nodes());
        out
    }

    fn give_up_late_nodes(&mut self, now: SimTime, auto: &NodeAutoscaling) {
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if n.state == NodeState::Provisioning
                && now.saturating_since(n.added) >= auto.max_node_provision_time
            {
                let pool = n.pool;
                self.remove_node(i, now);
                self.stats.provision_timeouts += 1;
                let b = &mut self.backoff[pool];
                b.failures += 1;
                b.until = now + backoff_duration(auto, b.failures);
            }
        }
    }

    fn scale_up(
        &mut self,
        now: SimTime,
        auto: &NodeAutoscaling,
        pending: u32,
        oldest_pending: Option<SimTime>,
        req: &PodRequest,
        out: &mut CaActions,
    ) -> bool {
        let Some(oldest) = oldest_pending.filter(|_| pending > 0) else {
            return false;
        };
        let buffer = if req.gpus > 0 {
            auto.new_gpu_pod_buffer
        } else {
            auto.new_pod_buffer
        };
        if now.saturating_since(oldest) < buffer {
            self.stats.young_pod_skips += 1;
            return false;
        }
        let coming: u64 = self
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Provisioning)
            .map(|n| Self::pods_per_node(&self.model.pools[n.pool], req))
            .fold(0u64, u64::saturating_add);
        let need = u64::from(pending).saturating_sub(coming);
        if need == 0 {
            return false;
        }
        let mut options = Vec::new();
        for (i, pool) in self.model.pools.iter().enumerate() {
            if !Self::fits_empty(pool, req) || self.backoff[i].until > now {
                continue;
            }
            let room = pool.max_nodes.saturating_sub(self.live_in_pool(i));
            if room == 0 {
                continue;
            }
            let per = Self::pods_per_node(pool, req).max(1);
            let nodes = need.div_ceil(per).min(u64::from(room)) as u32;
            options.push(ScaleOption {
                pool: i,
                nodes,
                pods: need.min(per.saturating_mul(u64::from(nodes))),
            });
        }
        let Some(choice) = self.expand(auto.expander, &options, req) else {
            return false;
        };
        let pool = &self.model.pools[choice.pool];
        let mut ready_in = pool.provision_delay.unwrap_or(auto.provision_delay);
        if pool.gpus > 0 {
            ready_in += auto.gpu_device_plugin_delay;
        }
        for _ in 0..choice.nodes {
            self.nodes.push(Node {
                pool: choice.pool,
                state: NodeState::Provisioning,
                cpu_used: 0,
                memory_used: 0,
                gpus_used: 0,
                pods: 0,
                image_ready_at: None,
                unneeded_since: None,
                added: now,
            });
            out.added
                .push(((self.nodes.len() - 1) as u32, now + ready_in));
            self.nodes_added += 1;
        }
        self.stats.scale_ups += 1;
        self.last_scale_up = Some(now);
        true
    }

    fn expand(
        &mut self,
        expander: Expander,
        options: &[ScaleOption],
        req: &PodRequest,
    ) -> Option<ScaleOption> {
        if options.is_empty() {
            return None;
        }
        let pools = &self.model.pools;
        // Higher is better; options with the best score are tied.
        let score = |o: &ScaleOption| -> f64 {
            let p = &pools[o.pool];
            match expander {
                Expander::LeastWaste => {
                    let waste = |cap: u64, r: u64| {
                        let cap = cap as f64 * f64::from(o.nodes);
                        if cap == 0.0 {
                            0.0
                        } else {
                            (cap - r as f64 * o.pods as f64) / cap
                        }
                    };
                    -(waste(p.cpu_millis, req.cpu_millis) + waste(p.memory_bytes, req.memory_bytes))
                }
                Expander::MostPods => o.pods as f64,
                Expander::Priority => f64::from(p.priority),
                Expander::Random => 0.0,
            }
        };
        let best = options.iter().map(score).fold(f64::NEG_INFINITY, f64::max);
        let tied: Vec<ScaleOption> = options
            .iter()
            .filter(|o| (score(o) - best).abs() <= 1e-12)
            .copied()
            .collect();
        if tied.len() == 1 {
            return Some(tied[0]);
        }
        Some(tied[self.rng.random_range(0..tied.len())])
    }

    /// Requested utilisation as Cluster Autoscaler sees it, and the threshold that applies.
    fn utilization(&self, n: &Node, auto: &NodeAutoscaling) -> (f64, f64) {
        let p = &self.model.pools[n.pool];
        if p.gpus > 0 {
            (
                f64::from(n.gpus_used) / f64::from(p.gpus),
                auto.scale_down_gpu_utilization_threshold,
            )
        } else {
            let frac = |u: u64, c: u64| if c == 0 { 0.0 } else { u as f64 / c as f64 };
            (
                frac(n.cpu_used, p.cpu_millis).max(frac(n.memory_used, p.memory_bytes)),
                auto.scale_down_utilization_threshold,
            )
        }
    }

    /// Whether the pods of node `i` fit on the other Ready nodes.
    fn pods_fit_elsewhere(&self, i: usize, req: &PodRequest) -> bool {
        let need = u64::from(self.nodes[i].pods);
        if need == 0 {
            return true;
        }
        let free = self
            .nodes
            .iter()
            .enumerate()
            .filter(|&(j, n)| j != i && n.state == NodeState::Ready)
            .map(|(_, n)| self.free_slots(n, req))
            .fold(0u64, u64::saturating_add);
        free >= need
    }

    fn mark_unneeded(&mut self, now: SimTime, auto: &NodeAutoscaling, req: &PodRequest) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].state != NodeState::Ready {
                self.nodes[i].unneeded_since = None;
                continue;
            }
            let (util, threshold) = self.utilization(&self.nodes[i], auto);
            let unneeded = util < threshold && self.pods_fit_elsewhere(i, req);
            let n = &mut self.nodes[i];
            if !unneeded {
                n.unneeded_since = None;
            } else if n.unneeded_since.is_none() {
                n.unneeded_since = Some(now);
            }
        }
    }

    fn scale_down(
        &mut self,
        now: SimTime,
        auto: &NodeAutoscaling,
        req: &PodRequest,
        out: &mut CaActions,
    ) {
        let due = |n: &Node| {
            n.state == NodeState::Ready
                && n.unneeded_since
                    .is_some_and(|t| now.saturating_since(t) >= auto.scale_down_unneeded_time)
        };
        // Empty nodes first, so that the fit check of a drained node's pods only counts nodes that stay.
        let mut empty_deleted = 0u32;
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if empty_deleted < auto.max_empty_bulk_delete
                && n.pods == 0
                && due(n)
                && self.live_in_pool(n.pool) > self.model.pools[n.pool].min_nodes
            {
                self.remove_node(i, now);
                self.stats.empty_nodes_removed += 1;
                empty_deleted += 1;
            }
        }
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            if n.pods > 0
                && due(n)
                && self.live_in_pool(n.pool) > self.model.pools[n.pool].min_nodes
                && self.pods_fit_elsewhere(i, req)
            {
                self.nodes[i].state = NodeState::Draining;
                self.nodes[i].unneeded_since = None;
                self.stats.nodes_drained += 1;
                out.drain.push(i as u32);
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ClusterModel, NodePool, Policy};
    use super::*;

    fn cluster(pools: Vec<NodePool>, auto: NodeAutoscaling) -> Cluster {
        Cluster::new(ClusterModel {
            pools,
            policy: Policy::FirstFit,
            autoscaling: Some(auto),
        })
        .seeded(7)
    }

    fn gpu_pool(name: &str, nodes: u32, gpus: u32, max: u32) -> NodePool {
        let mut p = NodePool::fixed(name, nodes, 32_000, 128 << 30, gpus);
        p.min_nodes = 0;
        p.max_nodes = max;
        p
    }

    const GPU_POD: PodRequest = PodRequest {
        cpu_millis: 1000,
        memory_bytes: 1 << 30,
        gpus: 1,
    };

    #[test]
    fn scans_only_every_scan_interval_and_caps_at_max_nodes() {
        let mut c = cluster(vec![gpu_pool("g", 1, 2, 4)], NodeAutoscaling::default());
        let t = SimTime::from_secs;
        // Scan at 0 s: the pods (created at 0) are younger than the 30 s GPU buffer.
        assert!(c.autoscale(t(0), 5, Some(t(0)), &GPU_POD).added.is_empty());
        assert_eq!(c.stats.young_pod_skips, 1);
        // 1..9 s: no scan at all.
        for s in 1..10 {
            assert!(c.autoscale(t(s), 5, Some(t(0)), &GPU_POD).added.is_empty());
        }
        assert_eq!(c.stats.scans, 1);
        // 10, 20 s: still young. 30 s: 5 pods, 2 per node, room for 3 more nodes.
        c.autoscale(t(10), 5, Some(t(0)), &GPU_POD);
        c.autoscale(t(20), 5, Some(t(0)), &GPU_POD);
        let a = c.autoscale(t(30), 5, Some(t(0)), &GPU_POD);
        assert_eq!(a.added.len(), 3);
        // Ready after the provision delay plus the device-plugin delay.
        assert!(a.added.iter().all(|&(_, at)| at == t(150)));
        assert!(c.autoscale(t(40), 5, Some(t(0)), &GPU_POD).added.is_empty());
        assert_eq!(c.max_nodes, 4);
    }
}
