//! Cluster Autoscaler timing rules through the public `Cluster` API (scan interval, new-pod buffers, GPU
//! device-plugin delay, provision timeout and back-off, scale-down of an under-used node with its pods
//! evicted, expanders), then end to end: the bundled two-pool scenario reports cost, and `cost` is a
//! sweep metric.

mod common;

use podscale::time::{SimDuration, SimTime};
use podscale::workload::cluster::{
    Cluster, ClusterModel, Expander, NodeAutoscaling, NodePool, NodeState, PodRequest, Policy,
};
use std::path::PathBuf;

fn t(s: u64) -> SimTime {
    SimTime::from_secs(s)
}

fn pool(name: &str, nodes: u32, cores: u64, gpus: u32, max: u32) -> NodePool {
    let mut p = NodePool::fixed(name, nodes, cores * 1000, 64 << 30, gpus);
    p.min_nodes = 0;
    p.max_nodes = max;
    p
}

fn cluster(pools: Vec<NodePool>, auto: NodeAutoscaling) -> Cluster {
    Cluster::new(ClusterModel {
        pools,
        policy: Policy::FirstFit,
        autoscaling: Some(auto),
    })
    .seeded(1)
}

const CPU_POD: PodRequest = PodRequest {
    cpu_millis: 2000,
    memory_bytes: 1 << 30,
    gpus: 0,
};
const GPU_POD: PodRequest = PodRequest {
    cpu_millis: 2000,
    memory_bytes: 1 << 30,
    gpus: 1,
};

/// Calls `autoscale` every second from `from` to `to` (inclusive), as the simulator does, and returns
/// the seconds at which nodes were added.
fn run_seconds(
    c: &mut Cluster,
    from: u64,
    to: u64,
    pending: u32,
    created: SimTime,
    req: &PodRequest,
) -> Vec<(u64, usize)> {
    let mut adds = Vec::new();
    for s in from..=to {
        let a = c.autoscale(t(s), pending, Some(created), req);
        if !a.added.is_empty() {
            adds.push((s, a.added.len()));
        }
    }
    adds
}

#[test]
fn scale_up_waits_for_the_next_scan() {
    let mut c = cluster(vec![pool("cpu", 0, 8, 0, 5)], NodeAutoscaling::default());
    // Scans run on a 10 s grid from time 0. The first call (1 s) scans: the pod (created at 0.5 s) is
    // younger than 2 s. The next scan is at 10 s, although the pod is old enough from 2.5 s on.
    let adds = run_seconds(&mut c, 1, 25, 3, SimTime::from_millis(500), &CPU_POD);
    assert_eq!(adds, vec![(10, 1)]);
    assert_eq!(c.stats.young_pod_skips, 1);
    assert_eq!(c.stats.scans, 3); // 1, 10, 20 s
}

#[test]
fn new_pod_buffers_are_2s_and_30s_for_gpu_pods() {
    let every_second = NodeAutoscaling {
        scan_interval: SimDuration::from_secs(1),
        ..NodeAutoscaling::default()
    };
    let mut c = cluster(vec![pool("cpu", 0, 8, 0, 5)], every_second);
    assert_eq!(run_seconds(&mut c, 1, 5, 1, t(0), &CPU_POD), vec![(2, 1)]);
    let mut c = cluster(vec![pool("gpu", 0, 8, 1, 5)], every_second);
    assert_eq!(run_seconds(&mut c, 1, 40, 1, t(0), &GPU_POD), vec![(30, 1)]);
    assert_eq!(c.stats.young_pod_skips, 29);
}

#[test]
fn gpu_nodes_are_ready_after_the_device_plugin_delay() {
    let auto = NodeAutoscaling {
        provision_delay: SimDuration::from_secs(100),
        gpu_device_plugin_delay: SimDuration::from_secs(45),
        new_gpu_pod_buffer: SimDuration::ZERO,
        new_pod_buffer: SimDuration::ZERO,
        ..NodeAutoscaling::default()
    };
    let mut c = cluster(vec![pool("gpu", 0, 8, 1, 5)], auto);
    let a = c.autoscale(t(0), 1, Some(t(0)), &GPU_POD);
    assert_eq!(a.added, vec![(0, t(145))]);
    // The node takes no pod until then.
    assert_eq!(c.place(&GPU_POD, t(120)), None);
    c.node_ready(0, t(145));
    assert_eq!(c.place(&GPU_POD, t(145)), Some(0));
    // A CPU pool has no device-plugin delay.
    let mut c = cluster(vec![pool("cpu", 0, 8, 0, 5)], auto);
    assert_eq!(
        c.autoscale(t(0), 1, Some(t(0)), &CPU_POD).added,
        vec![(0, t(100))]
    );
}

#[test]
fn a_node_not_ready_after_max_provision_time_is_given_up_and_its_pool_backed_off() {
    // The preferred pool is stocked out (its nodes would take 20 min), the other takes 2 min.
    let mut stocked_out = pool("preferred", 0, 8, 0, 5);
    stocked_out.priority = 10;
    stocked_out.provision_delay = Some(SimDuration::from_secs(20 * 60));
    let mut other = pool("other", 0, 8, 0, 5);
    other.provision_delay = Some(SimDuration::from_secs(120));
    let auto = NodeAutoscaling {
        expander: Expander::Priority,
        ..NodeAutoscaling::default()
    };
    let mut c = cluster(vec![stocked_out, other], auto);
    let first = c.autoscale(t(10), 1, Some(t(0)), &CPU_POD);
    assert_eq!(first.added, vec![(0, t(10 + 1200))]);
    // Until 15 min after the add nothing changes (the pod is assumed to go to the coming node).
    for s in (20..910).step_by(10) {
        assert!(c.autoscale(t(s), 1, Some(t(0)), &CPU_POD).added.is_empty());
    }
    // At 910 s the node is given up; the same scan scales up the other pool.
    let a = c.autoscale(t(910), 1, Some(t(0)), &CPU_POD);
    assert_eq!(c.stats.provision_timeouts, 1);
    assert_eq!(c.nodes[0].state, NodeState::Removed);
    assert_eq!(a.added, vec![(1, t(910 + 120))]);
    // The late NodeReady event is ignored.
    c.node_ready(0, t(1210));
    assert_eq!(c.nodes[0].state, NodeState::Removed);
    // While backed off (5 min), more pending pods go to the other pool, even though priority prefers
    // the first; afterwards the first pool is chosen again.
    c.node_ready(1, t(1030));
    let during = c.autoscale(t(1100), 5, Some(t(0)), &CPU_POD);
    assert!(during
        .added
        .iter()
        .all(|&(n, _)| c.nodes[n as usize].pool == 1));
    assert!(!during.added.is_empty());
    let mut c2 = cluster(c.model.pools.clone(), auto);
    c2.autoscale(t(0), 1, Some(t(0)), &CPU_POD);
    c2.autoscale(t(900), 1, Some(t(0)), &CPU_POD); // given up, backed off until 1200 s
    let before = c2.autoscale(t(1190), 1, Some(t(0)), &CPU_POD);
    assert!(before
        .added
        .iter()
        .all(|&(n, _)| c2.nodes[n as usize].pool == 1));
    // 20 s later a new pod batch: the stocked-out pool is tried again.
    let after = c2.autoscale(t(1210), 20, Some(t(0)), &CPU_POD);
    assert!(after
        .added
        .iter()
        .any(|&(n, _)| c2.nodes[n as usize].pool == 0));
}

#[test]
fn an_under_used_node_is_drained_after_the_unneeded_time_and_removed_when_empty() {
    let mut c = cluster(vec![pool("cpu", 2, 8, 0, 4)], NodeAutoscaling::default());
    // Node 0: 3 pods (75 % of CPU), node 1: 1 pod (25 %), which fits on node 0.
    for _ in 0..5 {
        c.place(&CPU_POD, t(0));
    }
    c.release(0, &CPU_POD, t(0));
    assert_eq!((c.nodes[0].pods, c.nodes[1].pods), (3, 1));
    let mut drained_at = None;
    for s in (0..=700).step_by(10) {
        let a = c.autoscale(t(s), 0, None, &CPU_POD);
        if !a.drain.is_empty() {
            assert_eq!(a.drain, vec![1]);
            drained_at = Some(s);
            break;
        }
    }
    // Unneeded from the first scan (0 s) for 10 min.
    assert_eq!(drained_at, Some(600));
    assert_eq!(c.nodes[1].state, NodeState::Draining);
    // Draining takes no pods; the evicted pod's replacement lands on node 0.
    assert_eq!(c.place(&CPU_POD, t(600)), Some(0));
    c.release(1, &CPU_POD, t(630));
    assert_eq!(c.nodes[1].state, NodeState::Removed);
    assert_eq!(c.stats.nodes_drained, 1);
    // Billed until its last pod left.
    assert!((c.node_seconds(t(630)) - 1260.0).abs() < 1e-9);
}

#[test]
fn no_scale_down_within_the_delay_after_add_and_not_when_pods_do_not_fit_elsewhere() {
    let auto = NodeAutoscaling {
        new_pod_buffer: SimDuration::ZERO,
        scale_down_delay_after_add: SimDuration::from_secs(900),
        ..NodeAutoscaling::default()
    };
    let mut c = cluster(vec![pool("cpu", 2, 8, 0, 4)], auto);
    // A scale-up at 0 s: the two empty nodes are unneeded from 0 s (10 min), but nothing is removed
    // during the 15 min delay after the add.
    c.autoscale(t(0), 1, Some(t(0)), &CPU_POD);
    c.node_ready(2, t(60));
    let mut removed_at = None;
    for s in (10..=1500).step_by(10) {
        c.autoscale(t(s), 0, None, &CPU_POD);
        if removed_at.is_none() && c.stats.empty_nodes_removed > 0 {
            removed_at = Some(s);
        }
    }
    assert_eq!(removed_at, Some(900));
    assert_eq!(c.live_nodes(), 0);

    // One node at 25 % but the only other node is full: it stays.
    let mut c = cluster(vec![pool("cpu", 2, 8, 0, 4)], auto);
    for _ in 0..5 {
        c.place(&CPU_POD, t(0));
    }
    for s in (0..=1300).step_by(10) {
        assert!(c.autoscale(t(s), 0, None, &CPU_POD).drain.is_empty());
    }
    assert_eq!(c.live_nodes(), 2);
}

#[test]
fn expanders_choose_among_pools() {
    let small = pool("small", 0, 4, 0, 10); // 2 pods per node
    let big = pool("big", 0, 10, 0, 10); // 5 pods per node
    let mut one = pool("one", 0, 10, 0, 1); // one node of 5 pods at most
    one.priority = 5;
    let choose = |e: Expander, pools: Vec<NodePool>, pending: u32, seed: u64| -> usize {
        let auto = NodeAutoscaling {
            expander: e,
            new_pod_buffer: SimDuration::ZERO,
            ..NodeAutoscaling::default()
        };
        let mut c = Cluster::new(ClusterModel {
            pools,
            policy: Policy::FirstFit,
            autoscaling: Some(auto),
        })
        .seeded(seed);
        let a = c.autoscale(t(0), pending, Some(t(0)), &CPU_POD);
        c.nodes[a.added[0].0 as usize].pool
    };
    // 4 pods: small needs 2 nodes and wastes nothing of CPU; big wastes 20 %.
    assert_eq!(
        choose(Expander::LeastWaste, vec![big.clone(), small.clone()], 4, 1),
        1
    );
    // 5 pods: big fits them exactly on one node; small would need 3 nodes with one slot empty.
    assert_eq!(
        choose(Expander::LeastWaste, vec![small.clone(), big.clone()], 5, 1),
        1
    );
    // most-pods: 9 pods; `one` takes 5, `small` (10 nodes) all 9.
    assert_eq!(
        choose(Expander::MostPods, vec![one.clone(), small.clone()], 9, 1),
        1
    );
    // priority: `one` wins despite helping fewer pods.
    assert_eq!(
        choose(Expander::Priority, vec![small.clone(), one.clone()], 9, 1),
        1
    );
    // random: seeded, so the same seed gives the same pool, and both pools get chosen over seeds.
    let picks: Vec<usize> = (0..32)
        .map(|s| choose(Expander::Random, vec![small.clone(), big.clone()], 4, s))
        .collect();
    assert!(picks.contains(&0) && picks.contains(&1), "{picks:?}");
    for s in 0..8 {
        assert_eq!(
            choose(Expander::Random, vec![small.clone(), big.clone()], 4, s),
            picks[s as usize]
        );
    }
}

fn run_file(path: &str) -> podscale::observe::output::RunSummary {
    common::summary(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path), &[])
}

#[test]
fn bundled_two_pool_scenario_scales_both_ways_and_reports_cost() {
    let s = run_file("scenarios/cluster-two-pools-cost.yaml");
    // The figures README and the report quote (`-- --nocapture`).
    println!("{}", serde_json::to_string_pretty(&s.cluster).unwrap());
    println!("cold_starts {} p99 {} ms", s.cold_starts, s.latency_ms.p99);
    let ca = s.cluster.autoscaler.as_ref().expect("autoscaler stats");
    assert!(ca.scale_ups >= 1, "{ca:?}");
    assert!(s.cluster.nodes_removed >= 1, "{:?}", s.cluster);
    let cost = s.cluster.cost.as_ref().expect("priced pools give a cost");
    assert_eq!(cost.pools.len(), 2);
    let by_pools: f64 = cost.pools.iter().map(|p| p.cost).sum();
    assert!((cost.total - by_pools).abs() < 1e-9);
    // Node-hours match the summary's node-seconds.
    let hours: f64 = cost.pools.iter().map(|p| p.node_hours).sum();
    assert!((hours * 3600.0 - s.cluster.node_seconds).abs() < 1e-6);
    // The on-demand pool's cost is its node-hours times 0.40.
    assert!((cost.pools[0].cost - 0.40 * cost.pools[0].node_hours).abs() < 1e-9);
    // The one service gets a share in (0, 1], the rest is idle capacity.
    let svc = &cost.services[0];
    assert!(svc.share > 0.0 && svc.share <= 1.0, "{svc:?}");
    assert!((svc.cost + cost.unallocated - cost.total).abs() < 1e-9);
    // Same seed, same figures.
    let again = run_file("scenarios/cluster-two-pools-cost.yaml");
    assert_eq!(
        serde_json::to_string(&s.cluster).unwrap(),
        serde_json::to_string(&again.cluster).unwrap()
    );
    // `cost` is a sweep metric.
    let m = podscale::sweep::results::metrics_of(&s);
    let i = podscale::sweep::results::METRICS
        .iter()
        .position(|&n| n == "cost")
        .unwrap();
    assert!((m[i] - (cost.total * 1e6).round() / 1e6).abs() < 1e-6);
}

#[test]
fn an_under_used_node_is_drained_end_to_end_and_its_pods_cold_start_elsewhere() {
    // `small` (4 one-core pods) comes first in pool order, `big` (8 pods, kept at 1 node) second. Six
    // pods: 4 on small, 2 on big. When the load falls to the 2-pod floor the newest pods go (big's and
    // two of small's), leaving small at 50 % CPU (below the 0.6 threshold) with pods that fit on big.
    let dir = std::env::temp_dir().join(format!("podscale-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "
duration: 20m
service: {containerConcurrency: 4, scaleTarget: 4, minReplicas: 2, maxReplicas: 6, initial_state: warm}
pod:
  cold_start: 10s
  service_time: 200ms
  resources: {requests: {cpu: 1, memory: 1Gi}}
cluster:
  node_pools:
    - {name: small, nodes: 1, min_nodes: 0, cpu: 4, memory: 16Gi}
    - {name: big, nodes: 1, min_nodes: 1, cpu: 8, memory: 32Gi}
  autoscaler: {scale-down-utilization-threshold: 0.6, scale-down-enabled: ENABLED}
traffic:
  kind: piecewise
  points: [{at: 0s, rate: 110}, {at: 2m, rate: 1}]
";
    let run = |enabled: &str| {
        let path = dir.join(format!("drain-{enabled}.yaml"));
        std::fs::write(&path, text.replace("ENABLED", enabled)).unwrap();
        common::run(&path, &[])
    };
    let (s, rows) = run("true");
    let (kept, _) = run("false");
    assert_eq!(kept.cluster.final_nodes, 2);
    let ca = s.cluster.autoscaler.as_ref().unwrap();
    assert_eq!(ca.nodes_drained, 1, "{:?}", s.cluster);
    assert_eq!(s.cluster.final_nodes, 1, "{:?}", s.cluster);
    // The evicted pods were recreated: the deployment still has its 2 pods, ready, at the end.
    let last = rows.last().unwrap();
    assert_eq!(last.ready_pods, 2, "{last:?}");
    // The two evicted pods cold-started again (with both gone at once the requests meanwhile wait in
    // the activator and the KPA may add a pod more); the small node stopped being billed at the drain.
    assert!(
        s.cold_starts >= kept.cold_starts + 2,
        "{} vs {}",
        s.cold_starts,
        kept.cold_starts
    );
    assert!(s.cluster.node_seconds < kept.cluster.node_seconds - 300.0);
}
