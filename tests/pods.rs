//! Pod and cluster models end to end: GPU capacity caps replicas (the rest stay Pending), draining loses
//! no request, startup phases add up and show in the time series, GPU batching serves token-driven
//! requests, and bad pod/cluster keys get located errors.

mod common;

use podscale::observe::output::{RunSummary, SecondRow};
use podscale::scenario;
use std::path::PathBuf;

fn path_for(name: &str, text: &str) -> PathBuf {
    common::write(&common::tempdir("pods"), &format!("{name}.yaml"), text)
}

fn run(name: &str, text: &str) -> (RunSummary, Vec<SecondRow>) {
    common::run(&path_for(name, text), &[])
}

#[test]
fn gpu_capacity_caps_ready_pods_and_the_rest_stay_pending() {
    // KPA wants about 20 / 0.7 ≈ 29 pods (20 closed-loop clients, target 1), the cluster has 2 nodes x 2 GPUs.
    let (s, rows) = run(
        "gpucap",
        "
duration: 3m
service: {scaleTarget: 1, scaleMetric: concurrency, minReplicas: 1, initial_state: warm}
pod:
  cold_start: 20s
  service_time: 1s
  resources: {requests: {cpu: 2, memory: 8Gi}, limits: {nvidia.com/gpu: 1}}
cluster:
  node_pools: [{name: gpu, nodes: 2, cpu: 32, memory: 128Gi, gpus: 2}]
traffic: {kind: closed_loop, clients: 20}
",
    );
    assert!(s.replicas.max_desired > 4, "{:?}", s.replicas);
    assert!(rows.iter().all(|r| r.ready_pods <= 4));
    assert_eq!(s.replicas.max_ready, 4);
    let last = rows.last().unwrap();
    assert_eq!(last.ready_pods, 4);
    assert!(last.pending_pods > 0, "{last:?}");
    assert!(rows.iter().all(|r| r.ready_pods + r.starting_pods <= 4));
    assert_eq!(s.cluster.max_nodes, 2);
    assert!(s.cluster.max_pending_pods > 0);
    // 4 GPUs held for (almost) the whole run.
    assert!(
        s.gpu_seconds > 4.0 * 150.0 && s.gpu_seconds <= 4.0 * 180.0 + 1e-6,
        "{}",
        s.gpu_seconds
    );
    assert!(rows
        .iter()
        .any(|r| r.gpu_utilization.is_some_and(|g| g > 0.9)));
}

#[test]
fn node_autoscaler_adds_nodes_after_the_provisioning_delay() {
    let (s, rows) = run(
        "nodescale",
        "
duration: 4m
cooldown: 12m
service: {scaleTarget: 1, scaleMetric: concurrency, minReplicas: 1, maxReplicas: 6, initial_state: warm}
pod:
  cold_start: 10s
  service_time: 1s
  resources: {limits: {nvidia.com/gpu: 1, cpu: 1, memory: 1Gi}}
cluster:
  node_pools: [{name: gpu, nodes: 1, min_nodes: 1, max_nodes: 3, cpu: 8, memory: 64Gi, gpus: 2}]
  node_autoscaler: {provision_delay: 90s, scale_down_unneeded: 5m}
traffic: {kind: closed_loop, clients: 6}
",
    );
    assert_eq!(s.cluster.max_nodes, 3, "{:?}", s.cluster);
    assert_eq!(s.replicas.max_ready, 6);
    // Nothing beyond 2 pods is ready before a new node could have been provisioned.
    assert!(rows.iter().take(90).all(|r| r.ready_pods <= 2));
    assert!(s.cluster.nodes_removed >= 1, "{:?}", s.cluster);
    assert_eq!(s.cluster.final_nodes, 1);
}

const DRAIN: &str = "
duration: 2m
cooldown: 3m
service: {minReplicas: 1, scaleTarget: 2, scaleMetric: concurrency, initial_state: warm}
autoscaler: {config: {stable-window: 6s, scale-down-delay: 0s}}
pod:
  cold_start: 5s
  service_time: 8s
  termination_grace: GRACE
traffic:
  kind: piecewise
  points: [{at: 0s, rate: 3}, {at: 60s, rate: 0.3}]
";

#[test]
fn scale_down_drains_in_flight_requests_within_the_grace_period() {
    let (s, rows) = run("drain", &DRAIN.replace("GRACE", "30s"));
    assert!(
        rows.iter().any(|r| r.terminating_pods > 0),
        "no scale-down happened"
    );
    assert_eq!(
        s.requests.failed, 0,
        "{:?} {:?}",
        s.requests, s.status_codes
    );
    assert_eq!(s.requests.in_flight_at_end, 0);
    assert_eq!(s.requests.completed, s.requests.total);
    // The same scale-down with a grace period shorter than the work kills requests: draining mattered.
    let (short, _) = run("drain-short", &DRAIN.replace("GRACE", "1s"));
    assert!(
        short.status_codes.get("502").copied().unwrap_or(0) > 0,
        "{:?}",
        short.status_codes
    );
}

#[test]
fn startup_phases_add_up_and_show_as_pending_then_starting() {
    let (s, rows) = run(
        "phases",
        "
duration: 2m
autoscaler: {class: fixed, replicas: 3}
pod:
  phases:
    scheduling: 1s
    image_pull: {first: 30s, cached: 2s}
    container_start: 3s
    model_size: 10G
    model_bandwidth: 1G
    readiness: {initial_delay: 5s, period: 5s}
  resources: {requests: {cpu: 4}}
cluster:
  node_pools: [{name: cpu, nodes: 2, cpu: 8, memory: 64Gi}]
traffic: {kind: poisson, rate: 1}
",
    );
    // Fixed replicas on a 2 x 8-core cluster with 4-core pods: all 3 fit and are Ready at once (warm).
    assert_eq!(rows[0].ready_pods, 3);
    assert_eq!(s.cold_start_s.count, 0);

    let (s, rows) = run(
        "phases-kpa",
        "
duration: 3m
service: {scaleTarget: 1, scaleMetric: concurrency, minReplicas: 0, maxReplicas: 5, initial_state: scaled_to_zero}
pod:
  phases:
    scheduling: 1s
    image_pull: {first: 30s, cached: 2s}
    container_start: 3s
    model_size: 10G
    model_bandwidth: 1G
    readiness: {initial_delay: 5s, period: 5s}
  service_time: 2s
  resources: {requests: {cpu: 4}}
cluster:
  node_pools: [{name: cpu, nodes: 1, cpu: 8, memory: 64Gi}]
traffic: {kind: closed_loop, clients: 5}
",
    );
    // First pod: 1 + 30 + 3 + 10 = 44 s to load, probes at 39, 44 -> Ready at 44 s (+ the wait to be created).
    let c = &s.cold_start_s;
    assert!(c.count >= 2, "{c:?}");
    assert_eq!(
        s.replicas.max_ready, 2,
        "only two 4-core pods fit one 8-core node"
    );
    assert!((c.phases.container_start - 3.0).abs() < 1e-9);
    assert!((c.phases.model_load - 10.0).abs() < 1e-9);
    assert!(c.max >= 44.0 && c.max < 60.0, "{c:?}");
    assert!(rows.iter().any(|r| r.pending_pods > 0));
    assert!(rows.iter().any(|r| r.starting_pods > 0));
    assert!(rows.iter().take(40).all(|r| r.ready_pods == 0));
}

#[test]
fn gpu_batching_is_driven_by_token_counts() {
    // llm-7b-gpu: 150 us per prompt token, 15 ms per output token at batch 1; batch 2 is 1 + 0.2/7 slower.
    let trace = path_for("tokens", "");
    let trace = trace.with_extension("csv");
    std::fs::write(
        &trace,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\
         2023-11-16 18:00:00.0000000,100,10\n\
         2023-11-16 18:00:10.0000000,1000,100\n\
         2023-11-16 18:00:10.0000000,1000,100\n",
    )
    .unwrap();
    let (s, rows) = run(
        "llm",
        &format!(
            "
duration: 30s
autoscaler: {{class: fixed, replicas: 1}}
pod: {{preset: llm-7b-gpu}}
traffic: {{kind: trace, format: azure_llm, path: {}}}
",
            trace.display()
        ),
    );
    assert_eq!(s.requests.completed, 3, "{:?}", s.requests);
    let alone = 100.0 * 0.15 + 10.0 * 15.0; // ms
    let batched = (1000.0 * 0.15 + 100.0 * 15.0) * (1.0 + 0.2 / 7.0);
    assert!(
        (s.latency_ms.min - alone).abs() / alone < 0.01,
        "{:?}",
        s.latency_ms
    );
    assert!(
        (s.latency_ms.max - batched).abs() / batched < 0.01,
        "{:?}",
        s.latency_ms
    );
    assert_eq!(s.service_model, "gpu_batch");
    // The GPU is busy about 1.7 s in second 11 and 12: utilization shows it.
    assert!(rows
        .iter()
        .any(|r| r.gpu_utilization.is_some_and(|g| g > 0.5)));
    assert!((s.gpu_seconds - 30.0).abs() < 1e-6);
}

#[test]
fn bad_pod_and_cluster_keys_are_located_and_explained() {
    let path = path_for(
        "badpod",
        "duration: 60s
traffic: {kind: poisson, rate: 5}
pod:
  preset: llm-7b-gpu
  service:
    model: batching
  resources:
    requests:
      cpu: lots
      nvidia.com/gpus: 1
cluster:
  node_pools:
    - {name: a, cpu: 8, memory: 16Gi}
  scheduling: best
",
    );
    let e = common::errors_of(&path, &[]);
    assert!(e.contains("pod.service.model: \"batching\" is not a service model; allowed: fixed_slots, processor_sharing, gpu_batch"), "{e}");
    assert!(
        e.contains(":9: pod.resources.requests.cpu: invalid quantity \"lots\""),
        "{e}"
    );
    assert!(e.contains("unknown resource \"nvidia.com/gpus\""), "{e}");
    assert!(
        e.contains("cluster.scheduling: \"best\" is not a scheduling policy"),
        "{e}"
    );
    let path = path_for(
        "badpreset",
        "duration: 60s\ntraffic: {kind: poisson, rate: 5}\npod:\n  preset: tiny\n",
    );
    let e = scenario::load(&path, &[]).expect_err("error").to_string();
    assert!(
        e.contains(":4: pod.preset: \"tiny\" is not a preset; allowed: small-cpu, llm-7b-gpu"),
        "{e}"
    );
}
