//! Cost of a run: node-hours times each pool's `price_per_hour`, plus GPU-hours (GPUs per node times
//! node-hours) times `gpu_price_per_hour`, attributed to services by the resources they requested.
//!
//! Attribution, per pool: the node part of the pool's cost is split by the mean of a service's CPU and
//! memory request-time fractions (of the pool's capacity-time), or of CPU, memory and GPU fractions on a
//! GPU pool without a GPU price; the GPU part by the GPU request-time fraction. What no service requested
//! is `unallocated` (idle capacity: empty nodes, nodes still provisioning, free room on used nodes).
//! Prices are in whatever currency the scenario uses; results are rounded to 6 decimals only on output.

use super::NodePool;
use serde::Serialize;

/// A service's requests integrated over the run, per pool (same order as the pools):
/// `[core-seconds, byte-seconds, GPU-seconds]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAllocation {
    pub service: String,
    pub per_pool: Vec<[f64; 3]>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct PoolCost {
    pub pool: String,
    pub node_hours: f64,
    pub gpu_hours: f64,
    pub cost: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ServiceCost {
    pub service: String,
    pub cost: f64,
    /// Share of the total cost.
    pub share: f64,
}

/// `cluster.cost` in `summary.json`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct CostSummary {
    pub total: f64,
    pub pools: Vec<PoolCost>,
    pub services: Vec<ServiceCost>,
    /// Cost of capacity no service requested.
    pub unallocated: f64,
}

/// Costs `pools` given their node-seconds and splits them among `services`.
pub fn attribute(
    pools: &[NodePool],
    node_seconds: &[f64],
    services: &[ServiceAllocation],
) -> CostSummary {
    let mut out = CostSummary {
        services: services
            .iter()
            .map(|s| ServiceCost {
                service: s.service.clone(),
                ..ServiceCost::default()
            })
            .collect(),
        ..CostSummary::default()
    };
    for (i, (p, &secs)) in pools.iter().zip(node_seconds).enumerate() {
        let node_hours = secs / 3600.0;
        let gpu_hours = node_hours * f64::from(p.gpus);
        let node_cost = node_hours * p.price_per_hour;
        let gpu_cost = gpu_hours * p.gpu_price_per_hour;
        let pool_cost = node_cost + gpu_cost;
        out.total += pool_cost;
        out.pools.push(PoolCost {
            pool: p.name.clone(),
            node_hours,
            gpu_hours,
            cost: pool_cost,
        });
        let cap = [
            p.cpu_millis as f64 / 1000.0 * secs,
            p.memory_bytes as f64 * secs,
            f64::from(p.gpus) * secs,
        ];
        let frac = |used: f64, cap: f64| if cap > 0.0 { used / cap } else { 0.0 };
        let mut attributed = 0.0;
        for (s, sc) in services.iter().zip(out.services.iter_mut()) {
            let Some(u) = s.per_pool.get(i) else { continue };
            let f = [frac(u[0], cap[0]), frac(u[1], cap[1]), frac(u[2], cap[2])];
            let node_share = if p.gpus > 0 && p.gpu_price_per_hour == 0.0 {
                (f[0] + f[1] + f[2]) / 3.0
            } else {
                (f[0] + f[1]) / 2.0
            };
            let c = node_cost * node_share + gpu_cost * f[2];
            sc.cost += c;
            attributed += c;
        }
        out.unallocated += pool_cost - attributed;
    }
    for s in &mut out.services {
        s.share = if out.total > 0.0 {
            s.cost / out.total
        } else {
            0.0
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_cost_is_node_hours_times_price_and_split_by_requests() {
        let mut cpu = NodePool::fixed("cpu", 1, 8000, 32 << 30, 0);
        cpu.price_per_hour = 0.4;
        let mut gpu = NodePool::fixed("gpu", 1, 16_000, 64 << 30, 2);
        gpu.price_per_hour = 1.0;
        gpu.gpu_price_per_hour = 2.0;
        // Two hours of each pool.
        let secs = [7200.0, 7200.0];
        // Service a: half the CPU pool's CPU and a quarter of its memory for the two hours.
        let a = ServiceAllocation {
            service: "a".into(),
            per_pool: vec![[4.0 * 7200.0, (8u64 << 30) as f64 * 7200.0, 0.0], [0.0; 3]],
        };
        // Service b: one of the two GPUs for an hour.
        let b = ServiceAllocation {
            service: "b".into(),
            per_pool: vec![[0.0; 3], [0.0, 0.0, 3600.0]],
        };
        let c = attribute(&[cpu, gpu], &secs, &[a, b]);
        assert!((c.pools[0].cost - 0.8).abs() < 1e-9);
        // 2 h x 1.0 + 4 GPU-hours x 2.0.
        assert!((c.pools[1].cost - 10.0).abs() < 1e-9);
        assert!((c.total - 10.8).abs() < 1e-9);
        // a: 0.8 x (0.5 + 0.25) / 2.
        assert!((c.services[0].cost - 0.3).abs() < 1e-9);
        // b: a quarter of the GPU-hours' 8.0.
        assert!((c.services[1].cost - 2.0).abs() < 1e-9);
        assert!((c.unallocated - (10.8 - 2.3)).abs() < 1e-9);
    }
}
