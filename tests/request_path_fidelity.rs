//! Scenario-level regression tests for Knative's request-path fidelity (issue 12): the activator drains its
//! queue whatever the SKS mode, has no invented queue cap, and answers requests that wait past the revision
//! timeout with 504.

mod common;

use common::run_text;
use podscale::observe::output::{RunSummary, SecondRow};

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

/// Issue 12 item 6: one request from zero; the container is ready 10 s after the pod is created and the
/// kubelet marks the pod Ready `kubelet_readiness_delay` later.
fn probe_scenario(optimisation: bool, kubelet_delay: &str) -> String {
    format!(
        "
name: probe
duration: 40s
seed: 1
service: {{containerConcurrency: 1, minReplicas: 0, initial_state: scaled_to_zero}}
pod: {{cold_start: 10s, service_time: 100ms}}
request_path:
  activator: {{probe_optimisation: {optimisation}, kubelet_readiness_delay: {kubelet_delay}}}
traffic: {{kind: closed_loop, clients: 1, requests: 1, think_time: 0s}}
"
    )
}

/// The first second whose row shows a kubelet-Ready pod.
fn first_ready_second(rows: &[SecondRow]) -> u64 {
    rows.iter()
        .find(|r| r.ready_pods > 0)
        .map(|r| r.time_s)
        .expect("a pod became Ready")
}

#[test]
fn probe_optimisation_serves_the_cold_start_before_kubelet_ready_and_the_kpa_still_counts_ready() {
    let (on, on_rows) = run_text("probe-on", &probe_scenario(true, "5s"));
    let (off, off_rows) = run_text("probe-off", &probe_scenario(false, "5s"));
    assert_eq!((on.requests.completed, off.requests.completed), (1, 1));
    // On: routed at the first 200 ms probe tick at or after the container is ready (10 s, on the grid).
    // Off: routed when the kubelet marks the pod Ready, 5 s later.
    assert!(
        (10_100.0..10_300.0).contains(&on.latency_ms.max),
        "with the probe optimisation: {} ms",
        on.latency_ms.max
    );
    let earlier = off.latency_ms.max - on.latency_ms.max;
    assert!(
        (4_990.0..=5_010.0).contains(&earlier),
        "the optimisation should save the 5 s kubelet delay, saved {earlier} ms"
    );
    // The KPA's ready count (and the row's) is kubelet-Ready in both runs: the pod counts from 15 s.
    assert_eq!(first_ready_second(&on_rows), first_ready_second(&off_rows));
    assert_eq!(
        first_ready_second(&on_rows),
        16,
        "row 16 covers [15 s, 16 s)"
    );
    assert_eq!(on.replicas.max_ready, off.replicas.max_ready);
    // The activator stays in the path until the kubelet's Ready: Serve mode needs a Ready endpoint.
    assert!(on_rows
        .iter()
        .take_while(|r| r.ready_pods == 0)
        .all(|r| r.activator_in_path));
}

#[test]
fn without_a_kubelet_delay_the_probe_optimisation_changes_nothing() {
    let (on, on_rows) = run_text("probe-on-0", &probe_scenario(true, "0s"));
    let (off, off_rows) = run_text("probe-off-0", &probe_scenario(false, "0s"));
    // Only the echo of the scenario (and the wall time) may differ.
    let same = RunSummary {
        wall_time_s: on.wall_time_s,
        effective_config: on.effective_config.clone(),
        ..off
    };
    assert_eq!(on, same);
    assert_eq!(on_rows, off_rows);
}

/// Issue 12 item 7: two warm pods at containerConcurrency 1 and `replicas` activators, kept in the path
/// by the default target-burst-capacity (211 > the pods' capacity); 10 clients.
fn fleet_scenario(replicas: u32) -> String {
    format!(
        "
name: fleet
duration: 30s
seed: 1
service: {{containerConcurrency: 1, minReplicas: 2, maxReplicas: 2, initial_state: warm, initial_pods: 2}}
pod: {{cold_start: 1s, service_time: 100ms}}
request_path:
  activator: {{replicas: {replicas}}}
traffic: {{kind: closed_loop, clients: 10, think_time: 0s}}
"
    )
}

#[test]
fn three_activators_over_two_pods_share_a_pod_and_each_keeps_its_own_limit() {
    // num_activators = max(2, ceil((2 × 1 + 211) / 100)) = 3: all 3 published. With more activators than
    // pods, Knative gives activator j pod j % 2, so activators 0 and 2 both send to pod 0, each up to
    // containerConcurrency 1 from its own tracker: pod 0 sees two requests and its queue-proxy queues one.
    let (one, one_rows) = run_text("fleet-1", &fleet_scenario(1));
    let (three, three_rows) = run_text("fleet-3", &fleet_scenario(3));
    for (s, rows) in [(&one, &one_rows), (&three, &three_rows)] {
        assert!(rows.iter().all(|r| r.activator_in_path));
        assert_eq!(s.requests.failed, 0, "{:?}", s.requests);
        assert_eq!(s.replicas.max_pod_concurrency, 1);
        assert!(rows.iter().any(|r| r.activator_queue > 0));
    }
    assert!(
        one_rows.iter().all(|r| r.queue_proxy_queue == 0),
        "one activator never oversubscribes a pod"
    );
    assert!(
        three_rows.iter().any(|r| r.queue_proxy_queue > 0),
        "a shared pod takes one request from each of its activators"
    );
    // One activator keeps both pods busy: 2 × 10 req/s. Three activators receive a third of the requests
    // each (round robin at the ingress), so pod 0, behind activators 0 and 2, gets two thirds of them
    // and caps the closed loop at 10 / (2/3) = 15 req/s while pod 1 idles part of the time.
    assert!(
        (19.0..=20.5).contains(&one.throughput_rps),
        "one activator: {} req/s",
        one.throughput_rps
    );
    assert!(
        (14.0..=15.5).contains(&three.throughput_rps),
        "three activators: {} req/s",
        three.throughput_rps
    );
}

/// A revision scaled by activator reports alone (target-burst-capacity −1: no scraper, the activators
/// always in the path), 40 concurrent requests at target 10: the decider must see the sum of the
/// activators' reports, so the fleet size does not change the pod count.
fn summed_stats_scenario(replicas: u32) -> String {
    format!(
        "
name: summed
duration: 60s
seed: 1
service:
  containerConcurrency: 0
  minReplicas: 1
  scaleTarget: 10
  annotations: {{autoscaling.knative.dev/target-burst-capacity: \"-1\"}}
pod: {{cold_start: 2s, service_time: 1s}}
request_path:
  activator: {{replicas: {replicas}}}
traffic: {{kind: closed_loop, clients: 40, think_time: 0s}}
"
    )
}

#[test]
fn the_autoscaler_sees_the_sum_of_the_activators_reports() {
    let (one, _) = run_text("summed-1", &summed_stats_scenario(1));
    let (four, _) = run_text("summed-4", &summed_stats_scenario(4));
    assert!(one.replicas.max_ready >= 4, "{:?}", one.replicas);
    assert_eq!(one.replicas.max_ready, four.replicas.max_ready);
    assert!((one.replicas.mean_ready - four.replicas.mean_ready).abs() < 0.5);
}

#[test]
fn activator_settings_out_of_range_are_errors_naming_the_key() {
    let path = common::scenario_file(
        "bad-activator",
        "duration: 10s\nrequest_path:\n  activator: {replicas: 0}\npod:\n  phases: {model_load: 5s}\ntraffic: {kind: poisson, rate: 1}\n",
    );
    let text = common::errors_of(
        &path,
        &["request_path.activator.kubelet_readiness_delay=5s"],
    );
    assert!(
        text.contains("bad-activator.yaml:3: request_path.activator.replicas"),
        "{text}"
    );
    assert!(text.contains("allowed 1 to 100"), "{text}");
    assert!(
        text.contains("request_path.activator.kubelet_readiness_delay"),
        "{text}"
    );
}

mod fleet_properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Whatever the fleet size, containerConcurrency, probe settings and burst shape (scale from zero,
        /// scale down while pods are still starting but already probed): every request is answered once,
        /// nothing is rejected for want of queue room, containerConcurrency holds on every pod, and the
        /// run is deterministic.
        #[test]
        fn every_request_is_answered_and_runs_repeat(
            replicas in 1u32..6, cc in 0u32..4, probe in any::<bool>(),
            kubelet_delay_ms in 0u64..8_000, cold_ms in 500u64..6_000, on_rate in 5u32..80, seed in 0u64..1000,
        ) {
            let text = format!(
                "
name: fleet-prop
duration: 40s
cooldown: 20s
seed: {seed}
service: {{containerConcurrency: {cc}, minReplicas: 0, maxReplicas: 6, initial_state: scaled_to_zero, scaleTarget: 2}}
autoscaler: {{config: {{stable-window: \"6s\", scale-to-zero-grace-period: \"2s\"}}}}
pod: {{cold_start: {cold_ms}ms, service_time: {{dist: exponential, mean: 150ms}}}}
request_path:
  activator: {{replicas: {replicas}, probe_optimisation: {probe}, kubelet_readiness_delay: {kubelet_delay_ms}ms}}
traffic: {{kind: on_off, on_rate: {on_rate}, on: 6s, off: 9s}}
"
            );
            let (a, rows_a) = run_text("fleet-prop", &text);
            let (b, rows_b) = run_text("fleet-prop", &text);
            let r = &a.requests;
            prop_assert_eq!(r.completed + r.failed, r.total, "{:?}", r);
            prop_assert_eq!(r.rejected, 0, "{:?}", r);
            if cc > 0 {
                prop_assert!(a.replicas.max_pod_concurrency <= cc);
            }
            prop_assert!(rows_a.last().map(|row| row.in_flight) == Some(0));
            prop_assert_eq!(&a.requests, &b.requests);
            prop_assert_eq!(&a.latency_ms, &b.latency_ms);
            prop_assert_eq!(rows_a, rows_b);
        }
    }
}
