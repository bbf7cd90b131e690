//! Every service draws from its own random streams (issue 16): a service's outputs do not depend on which
//! other services share the run, as long as they cannot interact through the cluster (plenty of fixed
//! capacity, no node autoscaling, no image pulls).

use podscale::report::{run_services_to_dir, DirHooks};
use podscale::scenario::{load_str, prepare_services};
use serde_json::Value;
use std::path::{Path, PathBuf};

const HEAD: &str = "\
name: streams
duration: 5m
cooldown: 1m
seed: 11
output: {plots: false, service_interval: 10s}
pod:
  cold_start: {dist: uniform, min: 2s, max: 6s}
  service_time: {dist: lognormal, median: 150ms, sigma: 0.8}
  resources: {requests: {cpu: 500m, memory: 1Gi}}
request_path: {network: {dist: exponential, mean: 2ms}}
service: {containerConcurrency: 2, minReplicas: 0, maxReplicas: 20}
autoscaler: {class: kpa, config: {scale-to-zero-grace-period: \"20s\", stable-window: \"20s\"}}
cluster:
  node_pools: [{name: cpu, nodes: 40, cpu: 32, memory: 128Gi}]
services:
";

const A: &str = "  - {name: alpha, traffic: {kind: on_off, on_rate: 25, on: 40s, off: 50s}}\n";
const B: &str = "  - {name: beta, traffic: {kind: poisson, rate: 40}}\n";
const C: &str = "  - {name: gamma, autoscaler: {class: hpa}, service: {minReplicas: 1}, traffic: {kind: poisson, rate: 5}}\n";

fn run(tag: &str, entries: &[&str]) -> (String, Value) {
    let text = format!("{HEAD}{}", entries.concat());
    let dir: PathBuf =
        std::env::temp_dir().join(format!("podscale-streams-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let loaded = load_str(&text, Path::new("streams.yaml"), &root, &[]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap();
    run_services_to_dir(&dir, &loaded, prepared, DirHooks::default()).unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let alpha_rows: String = std::fs::read_to_string(dir.join("services.csv"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("alpha,"))
        .map(|l| format!("{l}\n"))
        .collect();
    let alpha = summary["services"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "alpha")
        .unwrap()
        .clone();
    std::fs::remove_dir_all(&dir).ok();
    (alpha_rows, alpha)
}

#[test]
fn a_service_draws_the_same_with_or_without_other_services() {
    let (alone_rows, alone) = run("alone", &[A]);
    assert!(
        alone["requests"]["total"].as_u64().unwrap() > 1000,
        "{alone}"
    );
    assert!(alone["cold_starts"].as_u64().unwrap() > 1, "{alone}");
    for (tag, entries) in [
        ("ab", vec![A, B]),
        ("ba", vec![B, A]),
        ("cab", vec![C, A, B]),
    ] {
        let (rows, summary) = run(tag, &entries);
        assert_eq!(rows, alone_rows, "{tag}: alpha's services.csv rows");
        assert_eq!(summary, alone, "{tag}: alpha's summary");
    }
}
