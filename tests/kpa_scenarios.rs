//! The bundled KServe scenarios reproduce what KServe users observe (issue: KPA, activator and scale to
//! zero). Each test runs the scenario file as shipped (sometimes with a `--set`) and checks the outcome.

mod common;

use podscale::observe::output::{RunSummary, SecondRow};

fn run(name: &str, overrides: &[&str]) -> (RunSummary, Vec<SecondRow>) {
    common::run(&common::bundled(name), overrides)
}

#[test]
fn kserve_example_first_requests_wait_for_the_cold_start_then_run_at_20ms() {
    let (s, rows) = run("kserve-autoscaling-example", &[]);
    // hey -c 5: the five first requests wait in the activator for the ~10 s cold start.
    assert_eq!(s.requests.cold_start_affected, 5, "{:?}", s.requests);
    assert!(
        (10_000.0..10_100.0).contains(&s.latency_ms.max),
        "slowest {} ms",
        s.latency_ms.max
    );
    // Everything after that is the 20 ms end-to-end service.
    assert!(
        (19.5..20.5).contains(&s.latency_ms.p50),
        "median {} ms",
        s.latency_ms.p50
    );
    assert_eq!(s.requests.failed, 0);
    // While the clients wait, the activator reports 5 in flight: the KPA panics and over-provisions to
    // ceil(5 / 0.7) = 8 pods (this is what Knative's decider does with those inputs).
    assert_eq!(rows.iter().map(|r| r.desired_pods.unwrap()).max(), Some(8));
    assert!(
        rows[0].activator_in_path,
        "scaled to zero: the activator buffers the first requests"
    );
}

#[test]
fn kserve_example_settles_on_five_pods_once_panic_ends() {
    // The same clients held for 150 s instead of 30 s: once panic mode ends (60 s after the last
    // over-threshold decision) the stable window sees 5 x 13/20 = 3.25 in flight -> ceil(3.25/0.7) = 5.
    let (_, rows) = run("kserve-autoscaling-example", &["duration=150s"]);
    let last = rows.last().unwrap();
    assert_eq!(last.desired_pods, Some(5), "{last:?}");
    assert_eq!(last.ready_pods, 5);
    let stable = last.observed_stable.unwrap();
    assert!(
        (stable - 3.25).abs() < 0.05,
        "observed stable concurrency {stable}"
    );
    assert!(!last.panic);
}

#[test]
fn burst_reaches_max_replicas_then_returns_to_min_after_the_traffic_stops() {
    let (s, rows) = run("kserve-burst-min1-max3", &[]);
    assert_eq!(s.replicas.max_desired, 3, "capped by maxReplicas");
    assert_eq!(s.replicas.max_ready, 3);
    let at = |t: u64| rows.iter().find(|r| r.time_s == t).unwrap();
    assert_eq!(at(60).ready_pods, 3, "3 pods during the burst");
    assert!(
        at(60).scale_reason == "max_scale" || at(60).scale_reason == "panic",
        "{}",
        at(60).scale_reason
    );
    // The traffic stops at 80 s. The stable window (60 s) must drain before the count drops, and
    // max-scale-down-rate 2 allows 3 -> 1 in one step.
    assert_eq!(
        at(120).desired_pods,
        Some(3),
        "still inside the stable window"
    );
    assert_eq!(s.replicas.final_ready, 1, "back to minReplicas");
    let first_one = rows
        .iter()
        .filter(|r| r.time_s > 80)
        .find(|r| r.desired_pods == Some(1))
        .unwrap();
    assert!(
        (130..=160).contains(&first_one.time_s),
        "back to 1 at {} s",
        first_one.time_s
    );
}

#[test]
fn scale_to_zero_after_the_grace_period_and_the_next_request_waits_for_a_cold_start() {
    let (s, rows) = run("kserve-scale-to-zero", &[]);
    // Traffic stops at 10 s; the stable window empties at 70 s; the PA goes inactive a stable window
    // after the decider first wants zero; the activator is put in the path; 30 s of grace later the
    // last pod goes.
    let zero = rows
        .iter()
        .find(|r| r.desired_pods == Some(0))
        .expect("scales to zero");
    let in_path = rows
        .iter()
        .find(|r| r.time_s > 10 && r.activator_in_path)
        .unwrap();
    assert_eq!(
        zero.time_s - in_path.time_s,
        30,
        "zero {} s, activator in path {} s",
        zero.time_s,
        in_path.time_s
    );
    assert!(rows
        .iter()
        .filter(|r| (zero.time_s..180).contains(&r.time_s))
        .all(|r| r.ready_pods == 0));
    // The single request at 180 s waits in the activator for the 6 s cold start.
    assert_eq!(s.requests.cold_start_affected, 1);
    assert!(
        (6_000.0..6_100.0).contains(&s.latency_ms.max),
        "slowest {} ms",
        s.latency_ms.max
    );
    assert_eq!(s.cold_starts, 1);
    assert_eq!(s.requests.failed, 0);
}

#[test]
fn target_burst_capacity_decides_whether_the_activator_stays_in_the_path() {
    // Default TBC 211 with a per-pod total of 2: ready x 2 - 211 < 0, so the activator stays.
    let (_, rows) = run("kserve-burst-min1-max3", &[]);
    assert!(rows.iter().skip(2).all(|r| r.activator_in_path));
    // TBC 0: the activator leaves the path as soon as a pod serves.
    let (_, rows) = run(
        "kserve-burst-min1-max3",
        &["autoscaler.config.target-burst-capacity=0"],
    );
    assert!(rows.iter().skip(2).all(|r| !r.activator_in_path));
    // TBC -1: always in the path.
    let (_, rows) = run(
        "kserve-burst-min1-max3",
        &["autoscaler.config.target-burst-capacity=-1"],
    );
    assert!(rows.iter().all(|r| r.activator_in_path));
}

#[test]
fn azure_llm_trace_replays_end_to_end_against_the_kpa() {
    let (s, rows) = run("azure-llm-replay", &[]);
    // Every row of the bundled trace becomes one request (8,819 in the Azure code trace).
    assert_eq!(s.requests.total, 8819);
    assert_eq!(s.requests.completed + s.requests.failed, 8819);
    // The trace's bursts make the KPA scale out from the single warm pod, and back.
    assert!(
        s.replicas.max_ready >= 4,
        "max ready {}",
        s.replicas.max_ready
    );
    assert!(s.replicas.final_ready < s.replicas.max_ready);
    assert!(rows.iter().any(|r| r.panic), "bursts trigger panic mode");
}

#[test]
fn an_unreachable_revision_ignores_min_scale_and_drops_without_rate_limits() {
    // Reachable: minReplicas 1 holds one pod after the burst.
    let (reachable, _) = run("kserve-burst-min1-max3", &[]);
    assert_eq!(reachable.replicas.final_ready, 1);
    // Unreachable (no route references the revision): min-scale is forced to 0, so it scales to zero.
    let (s, rows) = run("kserve-burst-min1-max3", &["service.reachable=false"]);
    assert_eq!(
        s.replicas.final_ready, 0,
        "min-scale ignored when unreachable"
    );
    let zero = rows
        .iter()
        .find(|r| r.time_s > 80 && r.desired_pods == Some(0))
        .expect("reaches zero");
    assert!(zero.time_s < 240, "zero at {} s", zero.time_s);
}
