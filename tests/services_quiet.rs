//! Leaving a scaler at rest out of the 1 s tick (`Scaler::quiescent`) must not change a run: a
//! many-service scenario with idle periods runs both ways and every output is compared byte for byte.

use podscale::observe::output::CsvTimeseries;
use podscale::scenario::{load_str, prepare_services};
use podscale::sim::{self, MultiOutputs, ServiceRun};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Idle gaps long enough for scale to zero and rest, cold starts on a cluster that adds and drains nodes,
/// and every kind of scaler: KPA scaling to zero (default and with a reconcile lag and min-scale 1), the
/// HPA, a fixed count with a CronHPA job, and a KPA without a scrape target (target-burst-capacity -1).
const SCENARIO: &str = "\
name: quiet
duration: 20m
cooldown: 2m
seed: 5
output: {plots: false, service_interval: 1s}
pod:
  cold_start: {dist: uniform, min: 3s, max: 9s}
  service_time: {dist: exponential, mean: 150ms}
  resources: {requests: {cpu: \"1\", memory: 1Gi}}
service: {containerConcurrency: 3, minReplicas: 0, maxReplicas: 8}
autoscaler: {class: kpa, config: {scale-to-zero-grace-period: \"10s\", stable-window: \"12s\"}}
cluster:
  node_pools:
    - {name: cpu, nodes: 1, min_nodes: 0, max_nodes: 6, cpu: 4, memory: 16Gi, provision_delay: 20s}
  autoscaler: {scale-down-unneeded-time: 1m, scale-down-delay-after-add: 1m}
services:
  - {name: burst, traffic: {kind: on_off, on_rate: 12, on: 40s, off: 150s}}
  - {name: rare, traffic: {kind: poisson, rate: 0.02}}
  - name: lagged
    autoscaler: {config: {scale-to-zero-pod-retention-period: \"25s\"}}
    traffic: {kind: on_off, on_rate: 4, on: 20s, off: 100s}
  - name: floor
    service: {minReplicas: 1}
    traffic: {kind: on_off, on_rate: 6, on: 30s, off: 90s}
  - name: proxied
    service: {annotations: {autoscaling.knative.dev/target-burst-capacity: \"-1\"}}
    traffic: {kind: on_off, on_rate: 5, on: 25s, off: 140s}
  - {name: hpa, autoscaler: {class: hpa}, service: {minReplicas: 1}, traffic: {kind: poisson, rate: 2}}
  - name: fixed
    autoscaler: {class: fixed, replicas: 1}
    traffic: {kind: poisson, rate: 1}
";

struct Outputs {
    timeseries: Vec<u8>,
    services: Vec<u8>,
    cluster: Vec<u8>,
    summary: String,
    skipped: u64,
}

fn run(every_second: bool) -> Outputs {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let loaded = load_str(SCENARIO, Path::new("quiet.yaml"), &root, &[]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap();
    let (services, cluster) = (Shared::default(), Shared::default());
    let mut outputs = MultiOutputs::new(
        Box::new(services.clone()),
        Box::new(cluster.clone()),
        1,
        &["cpu".to_string()],
    )
    .unwrap();
    outputs.every_second = every_second;
    let skipped = outputs.skipped_ticks.clone();
    let runs: Vec<ServiceRun> = prepared
        .services
        .into_iter()
        .map(|s| ServiceRun {
            config: s.prepared.config,
            traffic: s.prepared.traffic,
        })
        .collect();
    let mut sink = CsvTimeseries::new(Vec::new()).unwrap();
    let mut summary = sim::run_services("quiet", prepared.seed, runs, outputs, &mut sink).unwrap();
    summary.wall_time_s = 0.0;
    let out = Outputs {
        timeseries: sink.into_inner(),
        services: services.0.lock().unwrap().clone(),
        cluster: cluster.0.lock().unwrap().clone(),
        summary: serde_json::to_string_pretty(&summary).unwrap(),
        skipped: skipped.load(std::sync::atomic::Ordering::Relaxed),
    };
    out
}

#[test]
fn skipping_scalers_at_rest_changes_nothing() {
    let every = run(true);
    let skipping = run(false);
    assert_eq!(every.skipped, 0);
    // Seven services over 22 minutes: 9,240 scaler ticks; the idle gaps and the fixed service give many
    // at rest (the fixed count is always at rest, 1,320 ticks alone).
    assert!(
        skipping.skipped > 3_000,
        "only {} ticks skipped",
        skipping.skipped
    );
    assert_eq!(skipping.summary, every.summary);
    for (name, a, b) in [
        ("timeseries.csv", &skipping.timeseries, &every.timeseries),
        ("services.csv", &skipping.services, &every.services),
        ("cluster.csv", &skipping.cluster, &every.cluster),
    ] {
        if a != b {
            let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
            let first = a
                .lines()
                .zip(b.lines())
                .find(|(x, y)| x != y)
                .map(|(x, y)| format!("skipping: {x}\nevery second: {y}"));
            panic!("{name} differs; first different line:\n{first:?}");
        }
    }
    // The run has cold starts and scale-to-zero in it, so being at rest was entered and left many times.
    let services = String::from_utf8(skipping.services).unwrap();
    assert!(services.contains("scale_to_zero") || services.contains("no_data"));
}
