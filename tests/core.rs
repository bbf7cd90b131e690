//! End-to-end properties of the simulation core: determinism, conservation of requests, the queue-proxy
//! bound, and clear errors for each class of bad input.

mod common;

use common::{tempdir, write as write_scenario};
use podscale::observe::output::CsvTimeseries;
use podscale::scenario::{self, ScenarioErrors};
use podscale::{Simulation, SimulationError};
use std::path::Path;

fn run_to_bytes(path: &Path, overrides: &[String], seed: Option<u64>) -> (String, Vec<u8>) {
    let sim = Simulation::from_path(path, overrides, seed).unwrap();
    let mut sink = CsvTimeseries::new(Vec::new()).unwrap();
    let mut summary = sim.run(&mut sink).unwrap();
    summary.wall_time_s = 0.0;
    (
        serde_json::to_string_pretty(&summary).unwrap(),
        sink.into_inner(),
    )
}

const BUSY: &str = "
name: busy
duration: 120s
cooldown: 30s
service: {containerConcurrency: 2}
autoscaler: {class: fixed, replicas: 3}
pod: {service_time: {dist: exponential, mean: 150ms}}
request_path: {client: 2ms, ingress: {dist: uniform, min: 1ms, max: 3ms}, network: 1ms}
traffic: {kind: poisson, rate: 60}
";

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_differs() {
    let dir = tempdir("det");
    let path = write_scenario(&dir, "busy.yaml", BUSY);
    let a = run_to_bytes(&path, &[], None);
    let b = run_to_bytes(&path, &[], None);
    assert_eq!(a.0, b.0, "summary differs between identical runs");
    assert_eq!(a.1, b.1, "timeseries differs between identical runs");
    let c = run_to_bytes(&path, &[], Some(99));
    assert_ne!(a.1, c.1, "a different seed should give different traffic");
}

#[test]
fn requests_are_conserved_and_pods_never_exceed_container_concurrency() {
    let dir = tempdir("cons");
    let path = write_scenario(&dir, "busy.yaml", BUSY);
    for rate in ["20", "60", "200"] {
        let (s, rows) = common::run(&path, &[&format!("traffic.rate={rate}")]);
        let r = &s.requests;
        assert_eq!(
            r.total,
            r.completed + r.failed + r.in_flight_at_end,
            "rate {rate}: {r:?}"
        );
        let arrivals: u64 = rows.iter().map(|x| x.arrivals).sum();
        assert_eq!(arrivals, r.total);
        // 3 pods x (2 executing + 20 queued): anything beyond is rejected, never admitted.
        for row in &rows {
            assert!(
                row.queue_proxy_queue <= 3 * 20,
                "second {}: queue {}",
                row.time_s,
                row.queue_proxy_queue
            );
        }
        if rate == "200" {
            assert!(r.rejected > 0, "an overloaded pod must shed load with 503s");
            assert_eq!(
                s.replicas.max_pod_concurrency, 2,
                "overloaded pods run exactly cc at once"
            );
        }
        assert!(
            s.replicas.max_pod_concurrency <= 2,
            "a pod ran {} at once",
            s.replicas.max_pod_concurrency
        );
    }
}

fn errors_of(text: &str, overrides: &[&str]) -> ScenarioErrors {
    let dir = tempdir("err");
    let path = write_scenario(&dir, &format!("bad{}.yaml", text.len()), text);
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    match Simulation::from_path(&path, &overrides, None) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(SimulationError::Scenario(e)) => e,
        Err(e) => panic!("expected scenario errors, the run failed: {e}"),
    }
}

#[test]
fn malformed_yaml_names_the_line() {
    let e = errors_of(
        "duration: 60s\ntraffic: {kind: poisson, rate: 5\nseed: 1\n",
        &[],
    );
    assert_eq!(e.0.len(), 1);
    assert!(e.0[0].line.is_some(), "{e}");
    assert!(e.to_string().contains("malformed YAML"), "{e}");
}

#[test]
fn unknown_keys_get_a_suggestion_and_a_line() {
    let e = errors_of("duration: 60s\ntraffic: {kind: poisson, rate: 5}\npod:\n  servce_time: 10ms\nautoscaler:\n  clas: fixed\n", &[]);
    let text = e.to_string();
    assert_eq!(e.0.len(), 2, "both sections reported: {text}");
    assert!(text.contains("did you mean `service_time`"), "{text}");
    assert!(text.contains("did you mean `class`"), "{text}");
    assert_eq!(e.0[0].line, Some(4), "{text}");
    assert_eq!(e.0[1].line, Some(6), "{text}");
}

#[test]
fn wrong_types_and_out_of_range_values_are_explained() {
    let e = errors_of("duration: 60s\ntraffic: {kind: poisson, rate: 5}\nservice:\n  containerConcurrency: lots\n", &[]);
    assert!(e.to_string().contains("containerConcurrency"), "{e}");
    let e = errors_of(
        "duration: 60s\ntraffic: {kind: poisson, rate: 5}\nservice:\n  containerConcurrency: 5000\npod:\n  service_time: {dist: exponential}\n",
        &[],
    );
    let text = e.to_string();
    assert!(
        text.contains(":4: service.containerConcurrency: 5000 is outside [0, 1000]"),
        "{text}"
    );
    assert!(
        text.contains("pod.service_time: dist \"exponential\" needs `mean`"),
        "{text}"
    );
}

#[test]
fn missing_files_and_bad_overrides_are_reported() {
    let e = scenario::load(Path::new("/nonexistent/scenario.yaml"), &[]).unwrap_err();
    assert!(
        e.to_string()
            .contains("/nonexistent/scenario.yaml: cannot read the scenario file"),
        "{e}"
    );
    let e = errors_of(
        "duration: 60s\ntraffic: {kind: poisson, rate: 5}\n",
        &["traffic.rate.x=1"],
    );
    assert!(e.to_string().contains("--set traffic.rate.x=1"), "{e}");
    let e = errors_of(
        "duration: 60s\ntraffic: {kind: poisson, rate: 5}\n",
        &["duration=soon"],
    );
    assert!(e.to_string().contains("soon"), "{e}");
}

#[test]
fn every_bundled_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            // `prepare_services` takes single- and multi-service files alike (the forty-model cluster is one
            // of the latter); every service must build.
            let loaded = podscale::scenario::load(&path, &[])
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let prepared = podscale::scenario::prepare_services(&loaded, None)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!prepared.services.is_empty(), "{}", path.display());
            count += 1;
        }
    }
    assert!(count >= 1);
}

#[test]
fn per_request_log_has_one_row_per_finished_request() {
    let dir = tempdir("log");
    let path = write_scenario(&dir, "busy.yaml", BUSY);
    let (s, text) = common::requests_csv(&path, &["traffic.rate=40"]);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, s.requests.completed + s.requests.failed);
    let ok = rows
        .iter()
        .filter(|r| r.split(',').nth(2) == Some("200"))
        .count() as u64;
    assert_eq!(ok, s.requests.completed);
    // Latencies in the log agree with the summary's mean.
    let mean: f64 = rows
        .iter()
        .filter(|r| r.split(',').nth(2) == Some("200"))
        .map(|r| r.split(',').nth(1).unwrap().parse::<f64>().unwrap())
        .sum::<f64>()
        / ok as f64;
    assert!(
        (mean - s.latency_ms.mean).abs() / s.latency_ms.mean < 0.01,
        "{mean} vs {}",
        s.latency_ms.mean
    );
}

#[test]
fn validate_reports_every_error_at_once_in_file_order() {
    let text = "name: bad\nduration: 60s\nservice:\n  scaleTarget: 1.5\n  minReplicas: 3\n  maxReplicas: 2\nautoscaler:\n  config:\n    stable-window: \"5s\"\n    max-scale-up-rate: \"1\"\n    stabel-window: \"60s\"\npod:\n  service_time: {dist: exponential, meen: 10ms}\ntraffic: {kind: poisson, rate: -5}\n";
    let e = errors_of(text, &[]);
    let keys: Vec<&str> = e.0.iter().map(|x| x.key.as_str()).collect();
    for expected in [
        "service.scaleTarget",
        "service.minReplicas",
        "autoscaler.config.stable-window",
        "autoscaler.config.max-scale-up-rate",
        "autoscaler.config.stabel-window",
        "traffic.rate",
    ] {
        assert!(keys.contains(&expected), "{expected} missing from {keys:?}");
    }
    assert!(e.to_string().contains("did you mean `mean`"), "{e}");
    assert!(
        e.to_string().contains("did you mean \"stable-window\""),
        "{e}"
    );
    let lines: Vec<usize> = e.0.iter().filter_map(|x| x.line).collect();
    assert!(
        lines.windows(2).all(|w| w[0] <= w[1]),
        "errors in file order: {lines:?}"
    );
    assert_eq!(lines.len(), e.0.len(), "every error has a line: {e}");
}
