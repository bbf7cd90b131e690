//! Several services running in one world on a shared cluster: competition for node capacity, per-service
//! outputs that add up to the run's totals, determinism.

use podscale::report::{run_services_to_dir, DirHooks};
use podscale::scenario::{load_str, prepare_services};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run(name: &str, text: &str) -> (PathBuf, Value) {
    let dir = std::env::temp_dir().join(format!("podscale-services-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let loaded = load_str(text, Path::new("multi.yaml"), &root, &[]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap();
    run_services_to_dir(&dir, &loaded, prepared, DirHooks::default()).unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    (dir, summary)
}

fn csv_sum(path: &Path, column: &str, filter: Option<(&str, &str)>) -> f64 {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == column).unwrap();
    let f = filter.map(|(c, v)| (headers.iter().position(|h| h == c).unwrap(), v));
    reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| f.is_none_or(|(i, v)| &r[i] == v))
        .map(|r| r[col].parse::<f64>().unwrap_or(0.0))
        .sum()
}

const THREE: &str = "\
name: three
duration: 10m
cooldown: 1m
output: {plots: false, service_interval: 30s}
pod:
  cold_start: 20s
  service_time: {dist: exponential, mean: 300ms}
  resources: {requests: {cpu: \"2\", memory: 4Gi}}
service: {containerConcurrency: 4, minReplicas: 0, maxReplicas: 10}
autoscaler: {class: kpa, config: {scale-to-zero-grace-period: \"30s\"}}
cluster:
  node_pools:
    - {name: small, nodes: 1, min_nodes: 0, max_nodes: 6, cpu: 8, memory: 32Gi, price_per_hour: 0.4}
    - {name: big, nodes: 0, min_nodes: 0, max_nodes: 2, cpu: 32, memory: 128Gi, price_per_hour: 1.5, provision_delay: 2m}
  autoscaler: {scale-down-unneeded-time: 2m, scale-down-delay-after-add: 2m}
services:
  - name: busy
    traffic: {kind: poisson, rate: 30}
  - name: bursty
    traffic: {kind: on_off, on_rate: 40, on: 60s, off: 120s}
  - name: rare
    service: {minReplicas: 1}
    traffic: {kind: poisson, rate: 0.05}
";

#[test]
fn per_service_outputs_add_up_to_the_run() {
    let (dir, s) = run("three", THREE);
    let services = s["services"]["services"].as_array().unwrap();
    assert_eq!(services.len(), 3);
    let total = s["requests"]["total"].as_u64().unwrap();
    assert!(total > 15_000, "{total}");
    for key in [
        "total",
        "completed",
        "failed",
        "timed_out",
        "rejected",
        "cold_start_affected",
        "in_flight_at_end",
    ] {
        let sum: u64 = services
            .iter()
            .map(|x| x["requests"][key].as_u64().unwrap())
            .sum();
        assert_eq!(sum, s["requests"][key].as_u64().unwrap(), "requests.{key}");
        assert_eq!(
            sum,
            s["services"]["totals"]["requests"][key].as_u64().unwrap()
        );
    }
    let cold: u64 = services
        .iter()
        .map(|x| x["cold_starts"].as_u64().unwrap())
        .sum();
    assert_eq!(cold, s["cold_starts"].as_u64().unwrap());
    let pod_s: f64 = services
        .iter()
        .map(|x| x["pod_seconds"].as_f64().unwrap())
        .sum();
    assert!(
        (pod_s - s["pod_seconds"].as_f64().unwrap()).abs() < 1e-3,
        "{pod_s} vs {}",
        s["pod_seconds"]
    );
    // Cost: the services' shares and the unallocated part make the total.
    let cost = &s["cluster"]["cost"];
    let shares: f64 = services.iter().map(|x| x["cost"].as_f64().unwrap()).sum();
    let whole = cost["total"].as_f64().unwrap();
    assert!(whole > 0.0);
    assert!((shares + cost["unallocated"].as_f64().unwrap() - whole).abs() < 1e-6 * whole.max(1.0));
    // services.csv: each service's arrivals over its rows are its requests; timeseries.csv the run's.
    for x in services {
        let name = x["service"].as_str().unwrap();
        let arrivals = csv_sum(
            &dir.join("services.csv"),
            "arrivals",
            Some(("service", name)),
        );
        assert_eq!(
            arrivals as u64,
            x["requests"]["total"].as_u64().unwrap(),
            "{name}"
        );
        let done = csv_sum(
            &dir.join("services.csv"),
            "completions",
            Some(("service", name)),
        );
        assert_eq!(
            done as u64,
            x["requests"]["completed"].as_u64().unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        csv_sum(&dir.join("timeseries.csv"), "arrivals", None) as u64,
        total
    );
    // cluster.csv has one row per second and a node column per pool.
    let text = std::fs::read_to_string(dir.join("cluster.csv")).unwrap();
    assert!(text.starts_with("time_s,nodes_small,nodes_big,"));
    assert_eq!(text.lines().count(), 1 + 660);
    // The rare service holds its one pod all run; the busy one scaled up.
    let by = |n: &str| services.iter().find(|x| x["service"] == n).unwrap();
    assert!(by("busy")["max_ready"].as_u64().unwrap() >= 3);
    assert!(by("rare")["pod_seconds"].as_f64().unwrap() >= 600.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_service_waits_for_gpus_another_holds() {
    // One node with 2 GPUs and no node autoscaling: `holder` keeps both, so `waiter` never gets a pod.
    let text = "\
duration: 5m
output: {plots: false}
pod:
  cold_start: 10s
  service_time: 100ms
  resources: {requests: {cpu: \"1\", memory: 1Gi, nvidia.com/gpu: 1}}
cluster:
  node_pools: [{name: gpu, nodes: 1, cpu: 16, memory: 64Gi, gpus: 2}]
services:
  - name: holder
    autoscaler: {class: fixed, replicas: 2}
    traffic: {kind: poisson, rate: 5}
  - name: waiter
    traffic: {kind: poisson, rate: 5}
";
    let (dir, s) = run("gpus", text);
    let services = s["services"]["services"].as_array().unwrap();
    let holder = &services[0];
    let waiter = &services[1];
    assert!(holder["requests"]["completed"].as_u64().unwrap() > 1000);
    assert_eq!(waiter["requests"]["completed"].as_u64().unwrap(), 0);
    assert!(waiter["max_pending"].as_u64().unwrap() >= 1);
    assert_eq!(waiter["gpu_seconds"].as_f64().unwrap(), 0.0);
    let pending = csv_sum(
        &dir.join("services.csv"),
        "pending_pods",
        Some(("service", "waiter")),
    );
    assert!(pending >= 4.0, "{pending}");
    std::fs::remove_dir_all(&dir).ok();

    // With a second GPU node the waiter is served.
    let (dir, s) = run(
        "gpus2",
        &text.replace("nodes: 1, cpu: 16", "nodes: 2, cpu: 16"),
    );
    let waiter = &s["services"]["services"][1];
    assert!(waiter["requests"]["completed"].as_u64().unwrap() > 1000);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn runs_are_deterministic() {
    let (a_dir, mut a) = run("det-a", THREE);
    let (b_dir, mut b) = run("det-b", THREE);
    a["wall_time_s"] = Value::Null;
    b["wall_time_s"] = Value::Null;
    assert_eq!(a, b);
    for f in ["services.csv", "cluster.csv", "timeseries.csv"] {
        assert_eq!(
            std::fs::read(a_dir.join(f)).unwrap(),
            std::fs::read(b_dir.join(f)).unwrap(),
            "{f}"
        );
    }
    std::fs::remove_dir_all(&a_dir).ok();
    std::fs::remove_dir_all(&b_dir).ok();
}

/// The bundled forty-model cluster cut to 30 s: the last (partial) row is written after the queue has
/// popped the first event past the end, and the Cluster Autoscaler may add a node then; that used to
/// schedule its readiness into the queue's past and panic.
#[test]
fn a_short_cut_of_the_forty_model_cluster_finishes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/cluster-forty-models.yaml");
    let sets = ["duration=20s".to_string(), "cooldown=10s".to_string()];
    let loaded = podscale::scenario::load(&path, &sets).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap();
    let dir = std::env::temp_dir().join(format!("podscale-forty-short-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    run_services_to_dir(&dir, &loaded, prepared, DirHooks::default()).unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["duration_s"].as_f64(),
        Some(30.0),
        "{}",
        summary["duration_s"]
    );
}
