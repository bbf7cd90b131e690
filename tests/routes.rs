//! Knative revisions behind a route (issue 17 items 3 and 5): the split each revision receives, no request
//! before a new revision is Ready, the gradual rollout's steps, unreachable revisions scaling to zero, and
//! the errors for route shapes that are not supported.

use podscale::report::{run_services_to_dir, DirHooks};
use podscale::scenario::{load, load_str, prepare_services};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("podscale-routes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_loaded(name: &str, loaded: podscale::scenario::LoadedScenario) -> (PathBuf, Value) {
    let dir = out_dir(name);
    let prepared = prepare_services(&loaded, None).unwrap_or_else(|e| panic!("{e}"));
    run_services_to_dir(&dir, &loaded, prepared, DirHooks::default()).unwrap();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    (dir, summary)
}

fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/knative-canary-rollout.yaml")
}

fn run_bundled(name: &str, overrides: &[&str]) -> (PathBuf, Value) {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    run_loaded(name, load(&bundled(), &o).unwrap())
}

fn run_text(name: &str, text: &str) -> (PathBuf, Value) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    run_loaded(
        name,
        load_str(text, Path::new("route.yaml"), &root, &[]).unwrap(),
    )
}

fn errors(text: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/manifests");
    let loaded = load_str(text, Path::new("route.yaml"), &root, &[]).unwrap();
    match prepare_services(&loaded, None) {
        Ok(_) => panic!("should be refused:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// `services.csv` rows of `service`: (time_s, column value).
fn service_rows(dir: &Path, service: &str, column: &str) -> Vec<(u64, f64)> {
    let mut reader = csv::Reader::from_path(dir.join("services.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == column).unwrap();
    reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[0] == service)
        .map(|r| (r[1].parse().unwrap(), r[col].parse().unwrap_or(0.0)))
        .collect()
}

#[test]
fn canary_rollout_splits_twenty_percent_only_once_the_new_revision_is_ready() {
    let (dir, s) = run_bundled("canary", &["output.service_interval=1s"]);
    let route = &s["route"];
    let new = &route["revisions"][1];
    let created = new["created_s"].as_f64().unwrap();
    let ready = new["ready_s"].as_f64().unwrap();
    // The new image's pods cold-start for 30 s after its template is applied at 3 min.
    assert_eq!(created, 180.0);
    assert!(ready >= created + 30.0 && ready < created + 40.0, "{ready}");
    // No request reaches hello-00002 before it is Ready (row t covers (t - 1, t]).
    let arrivals = service_rows(&dir, "hello-00002", "arrivals");
    let early: f64 = arrivals
        .iter()
        .filter(|(t, _)| (*t as f64) <= ready)
        .map(|r| r.1)
        .sum();
    assert_eq!(early, 0.0);
    assert!(arrivals
        .iter()
        .any(|(t, a)| (*t as f64) <= ready + 2.0 && *a > 0.0));
    // After the rollout (60 s), the split is 80/20: within 5 binomial standard deviations.
    let settled = ready + 61.0;
    let count = |svc: &str| -> f64 {
        service_rows(&dir, svc, "arrivals")
            .iter()
            .filter(|(t, _)| (*t as f64) > settled && *t <= 720)
            .map(|r| r.1)
            .sum()
    };
    let (old, new_n) = (count("hello-00001"), count("hello-00002"));
    let n = old + new_n;
    let sd = (n * 0.2 * 0.8).sqrt();
    assert!(n > 50_000.0, "{n}");
    assert!((new_n - 0.2 * n).abs() < 5.0 * sd, "{new_n} of {n}");
    assert_eq!(route["revisions"][1]["final_percent"], 20);
    // Per revision: its own latency (the new image is slower) and its own pods.
    let services = s["services"]["services"].as_array().unwrap();
    let p50 = |i: usize| services[i]["latency_ms"]["p50"].as_f64().unwrap();
    assert!(p50(1) > 2.0 * p50(0), "{} vs {}", p50(1), p50(0));
    assert!(service_rows(&dir, "hello-00002", "ready_pods")
        .iter()
        .any(|r| r.1 >= 1.0));
    // The old revision stays referenced (80 %): it keeps its min-scale.
    let old_ready = service_rows(&dir, "hello-00001", "ready_pods");
    assert!(old_ready.iter().all(|r| r.1 >= 1.0));
}

#[test]
fn gradual_rollout_steps_as_knative_plans_them() {
    let (_, s) = run_bundled("steps", &[]);
    let changes = s["route"]["changes"].as_array().unwrap();
    let ready = s["route"]["revisions"][1]["ready_s"].as_f64().unwrap();
    // 100/0 at start, 1 % at readiness, then 19 steps of 1 % every (60 - 1) / 19 s after the 1 s the
    // ingress takes to program the first split.
    assert_eq!(changes[0][1], serde_json::json!([100, 0]));
    assert_eq!(changes.len(), 21, "{changes:?}");
    let every = 59.0 / 19.0;
    for (k, c) in changes[1..].iter().enumerate() {
        let at = c[0].as_f64().unwrap();
        let expected = if k == 0 {
            ready
        } else {
            ready + 1.0 + every * k as f64
        };
        assert!((at - expected).abs() < 1e-3, "step {k}: {at} vs {expected}");
        assert_eq!(c[1][1].as_u64().unwrap(), k as u64 + 1);
        assert_eq!(c[1][0].as_u64().unwrap(), 100 - k as u64 - 1);
    }
}

#[test]
fn the_run_is_deterministic() {
    let (a, mut sa) = run_bundled("det-a", &["duration=5m"]);
    let (b, mut sb) = run_bundled("det-b", &["duration=5m"]);
    sa["wall_time_s"] = Value::Null;
    sb["wall_time_s"] = Value::Null;
    assert_eq!(sa, sb);
    for f in ["services.csv", "timeseries.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap()
        );
    }
}

const FULL_ROLLOUT: &str = "\
name: full-rollout
duration: 8m
seed: 3
output: {plots: false, service_interval: 10s}
service:
  initial_state: warm
  initial_pods: 2
  minReplicas: 2
  annotations: {autoscaling.knative.dev/target: \"10\"}
autoscaler: {class: kpa, config: {scale-to-zero-grace-period: \"30s\"}}
pod: {cold_start: 10s, service_time: 50ms}
traffic: {kind: poisson, rate: 40}
revisions:
  - name: app-00001
  - name: app-00002
    created_at: 1m
";

#[test]
fn an_unreachable_revision_scales_to_zero_despite_min_scale() {
    let (dir, s) = run_text("full", FULL_ROLLOUT);
    let ready_at = s["route"]["revisions"][1]["ready_s"].as_f64().unwrap();
    assert_eq!(s["route"]["revisions"][0]["final_percent"], 0);
    let old = service_rows(&dir, "app-00001", "ready_pods");
    // Min-scale 2 holds while the route references it...
    assert!(old
        .iter()
        .filter(|(t, _)| (*t as f64) <= ready_at)
        .all(|r| r.1 >= 2.0));
    // ...and once every request goes to the new revision, it is unreachable and scales to 0.
    let last = old.last().unwrap();
    assert_eq!(last.1, 0.0, "{old:?}");
    let new = service_rows(&dir, "app-00002", "ready_pods");
    assert!(new.last().unwrap().1 >= 2.0, "{new:?}");
    // All traffic after readiness went to the new revision.
    let late: f64 = service_rows(&dir, "app-00001", "arrivals")
        .iter()
        .filter(|(t, _)| (*t as f64) > ready_at + 10.0)
        .map(|r| r.1)
        .sum();
    assert_eq!(late, 0.0);
}

#[test]
fn same_scenario_with_a_tagged_zero_percent_target_keeps_the_old_revision() {
    let text = format!(
        "{FULL_ROLLOUT}route:\n  traffic:\n    - {{latestRevision: true, percent: 100}}\n    - {{revisionName: app-00001, percent: 0, tag: old}}\n"
    );
    let (dir, _) = run_text("tagged", &text);
    let old = service_rows(&dir, "app-00001", "ready_pods");
    assert!(old.iter().all(|r| r.1 >= 2.0), "{old:?}");
}

#[test]
fn unsupported_route_shapes_are_clear_errors() {
    let base = "name: bad\nduration: 5m\ntraffic: {kind: poisson, rate: 1}\nrevisions:\n  - name: a-00001\n  - name: a-00002\n    created_at: 1m\n";
    let e = errors(&format!(
        "{base}route:\n  traffic:\n    - {{latestRevision: true, percent: 70}}\n    - {{revisionName: a-00001, percent: 20}}\n"
    ));
    assert!(
        e.contains("route.yaml:9: route.traffic") && e.contains("sum to 90"),
        "{e}"
    );
    let e = errors(&format!(
        "{base}route:\n  traffic:\n    - {{revisionName: a-00009, percent: 100}}\n"
    ));
    assert!(
        e.contains("route.yaml:10: route.traffic[0].revisionName")
            && e.contains("allowed: a-00001, a-00002"),
        "{e}"
    );
    let e = errors(&format!("{base}    traffic: {{kind: poisson, rate: 2}}\n"));
    assert!(e.contains("route.yaml:8: revisions[1].traffic"), "{e}");
    let e = errors("name: bad\nduration: 5m\ntraffic: {kind: poisson, rate: 1}\nrevisions:\n  - name: a-00001\n    created_at: 1m\n");
    assert!(e.contains("revisions[0].created_at"), "{e}");
    // A revision's own section error points at its entry.
    let e = errors(&format!("{base}    pod: {{cold_start: fast}}\n"));
    assert!(e.contains("revisions[1].pod"), "{e}");
}

#[test]
fn a_knative_service_manifest_with_spec_traffic_drives_the_route() {
    let scenario = "name: ksvc\nduration: 4m\noutput: {plots: false}\nservice: {manifest: knative-traffic-split.yaml}\npod: {cold_start: 5s, service_time: 20ms}\ntraffic: {kind: poisson, rate: 50}\nrevisions:\n  - name: hello-00001\n  - name: hello-00002\n    created_at: 30s\n";
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/manifests");
    let loaded = load_str(scenario, &root.join("ksvc-route.yaml"), &root, &[]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap_or_else(|e| panic!("{e}"));
    // spec.traffic is simulated now: no warning about it.
    assert!(
        prepared.warnings.iter().all(|w| w.key != "spec.traffic"),
        "{:?}",
        prepared.warnings
    );
    let route = prepared.route.clone().unwrap();
    assert_eq!(route.rollout_duration.as_secs_f64(), 30.0);
    let dir = out_dir("ksvc");
    run_services_to_dir(&dir, &loaded, prepared, DirHooks::default()).unwrap();
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["route"]["revisions"][0]["final_percent"], 80);
    assert_eq!(s["route"]["revisions"][1]["final_percent"], 20);
    // A revisionName the scenario does not list is an error in the manifest's file and line.
    let e = errors("name: ksvc\nduration: 4m\nservice: {manifest: knative-traffic-split.yaml}\ntraffic: {kind: poisson, rate: 5}\nrevisions:\n  - name: other-00001\n  - name: hello-00002\n");
    assert!(
        e.contains("knative-traffic-split.yaml:")
            && e.contains("spec.traffic[0].revisionName")
            && e.contains("\"hello-00001\" is not a revision"),
        "{e}"
    );
}

#[test]
fn kserve_canary_traffic_percent_splits_between_previous_and_latest() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/manifests");
    let scenario = "name: isvc\nduration: 3m\noutput: {plots: false}\nservice: {manifest: kserve-canary.yaml}\npod: {cold_start: 5s, service_time: 20ms}\ntraffic: {kind: poisson, rate: 50}\nrevisions:\n  - name: sklearn-iris-predictor-00001\n  - name: sklearn-iris-predictor-00002\n    created_at: 20s\n";
    let loaded = load_str(scenario, &root.join("isvc-route.yaml"), &root, &[]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap_or_else(|e| panic!("{e}"));
    assert!(prepared
        .warnings
        .iter()
        .all(|w| !w.key.contains("canaryTrafficPercent")));
    use podscale::request_path::routes::TargetRef;
    let route = prepared.route.clone().unwrap();
    let t: Vec<(TargetRef, u32)> = route
        .targets
        .iter()
        .map(|t| (t.target.clone(), t.percent))
        .collect();
    assert_eq!(
        t,
        vec![(TargetRef::Latest, 10), (TargetRef::Revision(0), 90)]
    );
    // Without revisions the split is not simulated, and the warning says how to simulate it.
    let single = "name: isvc\nduration: 3m\nservice: {manifest: kserve-canary.yaml}\ntraffic: {kind: poisson, rate: 5}\n";
    let loaded = load_str(single, &root.join("isvc-one.yaml"), &root, &[]).unwrap();
    let prepared = prepare_services(&loaded, None).unwrap();
    assert!(prepared
        .warnings
        .iter()
        .any(|w| w.key.contains("canaryTrafficPercent") && w.message.contains("revisions:")));
}
