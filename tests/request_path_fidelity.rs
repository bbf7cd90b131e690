//! Scenario-level regression tests for Knative's request-path fidelity (issue 12): the activator drains its
//! queue whatever the SKS mode, has no invented queue cap, and answers requests that wait past the revision
//! timeout with 504.

mod common;

use common::run_text;

/// Issue 12 item 1 (/work/coord/repro12/stall.yaml): TBC 0, cc 1, max-scale 2, 40 requests from zero.
/// Once the pods are up the SKS leaves proxy mode, but the 38 requests still waiting at the activator must
/// keep draining as the two pods free their slots. Before the fix only 2 of 40 completed.
const STALL: &str = "
name: repro-stall-after-serve
duration: 60s
seed: 1
service: {containerConcurrency: 1, minReplicas: 0, maxReplicas: 2, initial_state: scaled_to_zero}
autoscaler:
  config:
    target-burst-capacity: \"0\"
pod: {cold_start: 5s, service_time: 100ms}
traffic: {kind: closed_loop, clients: 40, requests: 40, think_time: 0s}
";

#[test]
fn activator_drains_its_queue_after_leaving_the_path() {
    let (s, rows) = run_text("stall", STALL);
    assert_eq!(s.requests.total, 40);
    assert_eq!(s.requests.completed, 40, "{:?}", s.requests);
    assert_eq!(s.requests.failed, 0);
    // Two pods serving 100 ms requests one at a time: 38 queued requests drain in ~1.9 s after the
    // cold start, far inside the 60 s run.
    assert!(
        s.latency_ms.max < 10_000.0,
        "slowest {} ms",
        s.latency_ms.max
    );
    // The activator did leave the path (TBC 0) while requests were still queued.
    assert!(rows.iter().any(|r| !r.activator_in_path));
}

/// Issue 12 item 2 (/work/coord/repro12/qcap.yaml): from zero at 500 req/s with a 30 s cold start,
/// ~15,000 requests wait at the activator at once. Knative's breaker queue holds them all; before the fix
/// podscale rejected 5,000 of 20,000 with 503 after 10,000 were waiting.
const QCAP: &str = "
name: repro-queue-cap
duration: 40s
seed: 1
service: {minReplicas: 0, initial_state: scaled_to_zero}
pod: {cold_start: 30s, service_time: 10ms}
traffic: {kind: constant, rate: 500}
";

#[test]
fn activator_queue_has_no_invented_cap() {
    let (s, rows) = run_text("qcap", QCAP);
    assert_eq!(s.requests.total, 20_000);
    assert_eq!(s.requests.rejected, 0, "{:?}", s.requests);
    assert_eq!(s.status_codes.get("503"), None, "{:?}", s.status_codes);
    assert!(s.requests.completed >= 19_990, "{:?}", s.requests);
    let deepest = rows.iter().map(|r| r.activator_queue).max().unwrap();
    assert!(deepest > 10_000, "deepest activator queue {deepest}");
}

/// Issue 12 item 2: a request waiting at the activator past the revision timeout gets the activator's 504
/// (not 503), at its deadline, and requests that arrive later are still served.
const TIMEOUT: &str = "
name: activator-timeout
duration: 30s
seed: 1
service: {minReplicas: 0, initial_state: scaled_to_zero, timeout: 5s}
pod: {cold_start: 12s, service_time: 10ms}
request_path: {client: 0s, ingress: 0s, network: 0s}
traffic: {kind: constant, rate: 10}
";

#[test]
fn waiting_past_the_revision_timeout_is_a_504_from_the_activator() {
    let (s, _) = run_text("timeout", TIMEOUT);
    let c504 = s.status_codes.get("504").copied().unwrap_or(0);
    assert_eq!(s.status_codes.get("503"), None, "{:?}", s.status_codes);
    // Requests arriving in the first ~7 s wait more than 5 s for the ~12 s cold start.
    assert!((50..=80).contains(&c504), "{:?}", s.status_codes);
    assert_eq!(s.requests.timed_out, c504);
    assert!(s.requests.completed > 200, "{:?}", s.requests);
    // Each timed-out request is answered at its deadline, so no failure takes longer than the timeout.
    assert!(s.latency_ms.max < 13_000.0);
}

/// 4 fixed pods with one GPU each, shrunk to 1 by a CronHPA job at 60 s; the 3 removed pods drain.
fn drain_scenario(grace: &str) -> String {
    format!(
        "
name: drain
duration: 120s
cooldown: 0s
seed: 1
start_time: \"2024-01-01T00:00:00Z\"
service: {{containerConcurrency: 1}}
autoscaler:
  class: fixed
  replicas: 4
  cron:
    time_zone: UTC
    jobs:
      - {{name: shrink, schedule: \"0 1 0 * * *\", targetSize: 1}}
pod:
  cold_start: 1s
  service_time: 100ms
  termination_grace: {grace}
  resources:
    requests: {{cpu: \"1\", nvidia.com/gpu: 1}}
    limits: {{nvidia.com/gpu: 1}}
request_path: {{client: 0s, ingress: 0s, network: 0s}}
traffic: {{kind: closed_loop, clients: 4}}
"
    )
}

/// Issue 12 item 5: a terminating pod's queue-proxy drains for 30 s after its last request before it exits,
/// keeping its node and GPU meanwhile (pod- and GPU-seconds count it), bounded by the grace period.
#[test]
fn terminating_pods_drain_for_the_quiet_period_within_the_grace_period() {
    // 1 pod for 120 s + 3 pods for 60 s + 30 s of drain each.
    let (s, _) = run_text("drain300", &drain_scenario("300s"));
    assert!(
        (s.pod_seconds - 390.0).abs() < 1.0,
        "pod-seconds {}",
        s.pod_seconds
    );
    assert!(
        (s.gpu_seconds - 390.0).abs() < 1.0,
        "GPU-seconds {}",
        s.gpu_seconds
    );
    assert_eq!(s.requests.failed, 0, "{:?}", s.requests);
    // A 10 s grace period cuts the drain short: 1 x 120 + 3 x 70.
    let (s, _) = run_text("drain10", &drain_scenario("10s"));
    assert!(
        (s.pod_seconds - 330.0).abs() < 1.0,
        "pod-seconds {}",
        s.pod_seconds
    );
    assert!(
        (s.gpu_seconds - 330.0).abs() < 1.0,
        "GPU-seconds {}",
        s.gpu_seconds
    );
}
