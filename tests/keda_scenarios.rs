//! KEDA ScaledObjects in the simulation: scale to `idleReplicaCount` and back on the polling loop, the HPA
//! KEDA creates, KServe's class and deployment-mode resolution, and located errors for bad manifests.

mod common;

use common::{bundled, errors_of, run, tempdir};
use podscale::observe::output::SecondRow;

fn desired(rows: &[SecondRow], t: u64) -> u32 {
    rows.iter()
        .find(|r| r.time_s == t)
        .and_then(|r| r.desired_pods)
        .unwrap()
}

#[test]
fn idle_replica_count_scales_to_zero_and_back() {
    let (summary, rows) = run(&bundled("keda-idle-scale-to-zero.yaml"), &[]);
    assert_eq!(summary.autoscaler, "keda");
    // Burst to 60 s; the last poll that sees requests is at 60 s; cooldownPeriod 60 s; polls every 10 s.
    assert_eq!(desired(&rows, 60), 1);
    let zero_at = rows
        .iter()
        .find(|r| r.desired_pods == Some(0))
        .map(|r| r.time_s)
        .expect("KEDA never scaled to idleReplicaCount 0");
    assert!(
        (120..=130).contains(&zero_at),
        "scaled to 0 at {zero_at} s, expected one cooldown (60 s) after the last active poll at 60 s"
    );
    assert_eq!(zero_at % 10, 0, "KEDA acts only on polls");
    assert!(rows
        .iter()
        .filter(|r| (zero_at..300).contains(&r.time_s))
        .all(|r| r.desired_pods == Some(0) && r.ready_pods == 0));
    // Second burst at 300 s: refused (503) until the poll at 310 s activates and the pod is Ready 30 s on.
    let back_at = rows
        .iter()
        .find(|r| r.time_s > 300 && r.desired_pods == Some(1))
        .map(|r| r.time_s)
        .expect("KEDA never activated from zero");
    assert_eq!(back_at, 310);
    let refused: u64 = rows
        .iter()
        .filter(|r| (301..=340).contains(&r.time_s))
        .map(|r| r.failures)
        .sum();
    assert!(
        refused >= 150,
        "only {refused} requests refused while at zero"
    );
    assert!(rows
        .iter()
        .filter(|r| r.time_s > 341)
        .all(|r| r.failures == 0 && r.ready_pods == 1));
    assert_eq!(*summary.status_codes.get("503").unwrap_or(&0), refused);
    assert_eq!(summary.requests.failed, refused);
}

#[test]
fn generated_hpa_scales_out_on_waiting_requests() {
    // 40 requests/s of 500 ms solo time overwhelm one 8-wide batch: requests wait in the pod, and the HPA
    // KEDA created (threshold 4 waiting per pod) adds replicas up to maxReplicaCount 4.
    let (summary, rows) = run(
        &bundled("keda-idle-scale-to-zero.yaml"),
        &["traffic.sources[0].rate=40", "traffic.sources[1].rate=0.01"],
    );
    assert!(summary.replicas.max_desired > 1);
    assert!(rows.iter().all(|r| r.desired_pods.unwrap_or(0) <= 4));
    // A scale-out is written by the HPA, on its 15 s sync.
    let first_up = rows
        .iter()
        .find(|r| r.desired_pods.unwrap_or(0) > 1)
        .unwrap()
        .time_s;
    assert_eq!(
        first_up % 15,
        0,
        "scaled out at {first_up} s, not on an HPA sync"
    );
}

#[test]
fn kserve_class_keda_needs_standard_mode() {
    let path = bundled("keda-idle-scale-to-zero.yaml");
    // Without deploymentMode the default (Knative) applies and the KPA scales, ignoring the KServe class.
    let (kpa, _) = run(
        &path,
        &[
            "service.annotations.\"serving.kserve.io/deploymentMode\"=Knative",
            "autoscaler.scaledobject=",
        ],
    );
    assert_eq!(kpa.autoscaler, "kpa");
    // In Standard mode with no manifest, KServe's generated ScaledObject (cpu 80 %, min 1) runs.
    let dir = tempdir("kserve");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "autoscaler:\n  scaledobject: ../examples/manifests/scaledobject-vllm-idle.yaml\n",
        "",
    );
    let scen = dir.join("s.yaml");
    std::fs::write(&scen, text).unwrap();
    let (keda, rows) = run(&scen, &[]);
    assert_eq!(keda.autoscaler, "keda");
    // min 1, no idleReplicaCount: never below one replica, so the second burst is served.
    assert!(rows.iter().all(|r| r.desired_pods == Some(1)));
    assert_eq!(keda.requests.failed, 0);
}

#[test]
fn inline_scaledobject_and_determinism() {
    let path = bundled("keda-idle-scale-to-zero.yaml");
    let inline = "autoscaler.scaledobject={apiVersion: keda.sh/v1alpha1, kind: ScaledObject, \
        metadata: {name: p}, spec: {scaleTargetRef: {name: p}, pollingInterval: 5, cooldownPeriod: 30, \
        idleReplicaCount: 0, minReplicaCount: 1, triggers: [{type: prometheus, metadata: \
        {query: requests_per_second, threshold: '100'}}]}}";
    let (a, rows_a) = run(&path, &[inline]);
    let (b, rows_b) = run(&path, &[inline]);
    assert_eq!(
        serde_json::to_string(&a.requests).unwrap(),
        serde_json::to_string(&b.requests).unwrap()
    );
    assert_eq!(rows_a.len(), rows_b.len());
    for (x, y) in rows_a.iter().zip(&rows_b) {
        assert_eq!(x.desired_pods, y.desired_pods);
        assert_eq!(x.failures, y.failures);
    }
    // Polls every 5 s with a 30 s cooldown: at zero 30–35 s after the last active poll (60 s).
    let zero_at = rows_a
        .iter()
        .find(|r| r.desired_pods == Some(0))
        .unwrap()
        .time_s;
    assert!((90..=95).contains(&zero_at), "zero at {zero_at}");
}

#[test]
fn bad_scaledobjects_are_located() {
    let path = bundled("keda-idle-scale-to-zero.yaml");
    let e = errors_of(
        &path,
        &["autoscaler.scaledobject={apiVersion: keda.sh/v1alpha1, kind: ScaledObject, metadata: {name: p}, spec: {scaleTargetRef: {name: p}, idleReplicaCount: 2, minReplicaCount: 1, triggers: [{type: prometheus, metadata: {query: x, threshold: '1'}}]}}"],
    );
    assert!(
        e.contains("autoscaler.scaledobject.spec.idleReplicaCount"),
        "{e}"
    );
    assert!(e.contains("must be smaller"), "{e}");
    let e = errors_of(&path, &["autoscaler.scaledobject=missing.yaml"]);
    assert!(
        e.contains("autoscaler.scaledobject") && e.contains("cannot read"),
        "{e}"
    );
    let e = errors_of(&path, &["autoscaler.scaledobject=[1, 2]"]);
    assert!(e.contains("expected a path"), "{e}");
    let e = errors_of(
        &path,
        &["autoscaler.scaledobject={apiVersion: keda.sh/v1alpha1, kind: ScaledObject, metadata: {name: p}, spec: {scaleTargetRef: {name: p}, maxReplicaCount: 2000000000, triggers: [{type: prometheus, metadata: {query: x, threshold: '1'}}]}}"],
    );
    assert!(
        e.contains("spec.maxReplicaCount: 2000000000 pods is too many"),
        "{e}"
    );
    let e = errors_of(&path, &["autoscaler.class=kedda"]);
    assert!(e.contains("allowed: kpa, hpa, keda"), "{e}");
}

#[test]
fn unknown_metric_in_a_query_is_a_trigger_error() {
    let path = bundled("keda-idle-scale-to-zero.yaml");
    let (_, rows) = run(
        &path,
        &["autoscaler.scaledobject={apiVersion: keda.sh/v1alpha1, kind: ScaledObject, metadata: {name: p}, spec: {scaleTargetRef: {name: p}, minReplicaCount: 1, triggers: [{type: prometheus, metadata: {query: no_such_metric, threshold: '1'}}]}}"],
    );
    // Every row from the first poll on reports the error, and the replica count is left alone.
    assert!(rows
        .iter()
        .filter(|r| r.time_s >= 30)
        .all(|r| r.scale_reason == "keda-error" && r.desired_pods == Some(1)));
}

#[test]
fn llm_comparison_scenarios_run_under_their_autoscalers() {
    let mut gpu_s = Vec::new();
    for (file, label) in [
        ("llm-azure-keda.yaml", "keda"),
        ("llm-azure-kpa.yaml", "kpa"),
        ("llm-azure-hpa.yaml", "hpa"),
    ] {
        let (summary, rows) = run(&bundled(file), &[]);
        assert_eq!(summary.autoscaler, label, "{file}");
        assert_eq!(summary.requests.failed, 0, "{file}");
        assert!(summary.replicas.max_ready > 1, "{file} never scaled out");
        assert!(rows.iter().all(|r| r.desired_pods.unwrap_or(1) <= 8));
        gpu_s.push(summary.gpu_seconds);
    }
    // KEDA on the engine's queue scales out early but releases sooner than the HPA on GPU utilization,
    // which holds replicas through its 5-minute stabilization.
    assert!(gpu_s[0] < gpu_s[2], "{gpu_s:?}");
}

#[test]
fn vllm_waiting_requests_drive_an_hpa_pods_metric() {
    // The HPA on the Pods metric vllm:num_requests_waiting (AverageValue 2) instead of GPU utilization.
    let path = bundled("llm-azure-hpa.yaml");
    let pods_metric = "autoscaler.hpa={maxReplicas: 8, metrics: [{type: Pods, pods: {metric: \
        {name: \"vllm:num_requests_waiting\"}, target: {type: AverageValue, averageValue: 2}}}]}";
    let (summary, rows) = run(&path, &[pods_metric, "service.scaleMetric=", "duration=8m"]);
    assert_eq!(summary.autoscaler, "hpa");
    // The metric is the waiting count the HPA saw: present, and above the target when it scaled out.
    let first_up = rows
        .iter()
        .find(|r| r.desired_pods.unwrap_or(0) > 1)
        .expect("never scaled out on waiting requests");
    assert!(
        first_up.hpa_metric.unwrap() > 2.0,
        "{:?}",
        first_up.hpa_metric
    );
    // With no waiting requests (one request at a time), it never scales out.
    let (_, quiet) = run(
        &path,
        &[
            pods_metric,
            "service.scaleMetric=",
            "duration=3m",
            "traffic.load_scale=0.02",
        ],
    );
    assert!(quiet.iter().all(|r| r.desired_pods == Some(1)));
    assert!(quiet
        .iter()
        .filter(|r| r.time_s > 30)
        .all(|r| r.hpa_metric.is_some_and(|m| m < 2.0)));
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Whatever the polling interval, cooldown and load: the replica count changes only on a KEDA poll
        /// or an HPA sync (15 s), stays within [idleReplicaCount, maxReplicaCount], and is never below
        /// minReplicaCount except at idleReplicaCount.
        #[test]
        fn replicas_change_only_on_polls_and_syncs_within_bounds(
            poll in 1u64..40,
            cooldown in 0u64..120,
            rate in 1u32..60,
            max in 1u32..6,
        ) {
            let path = bundled("keda-idle-scale-to-zero.yaml");
            let so = format!(
                "autoscaler.scaledobject={{apiVersion: keda.sh/v1alpha1, kind: ScaledObject, \
                 metadata: {{name: p}}, spec: {{scaleTargetRef: {{name: p}}, pollingInterval: {poll}, \
                 cooldownPeriod: {cooldown}, idleReplicaCount: 0, minReplicaCount: 1, \
                 maxReplicaCount: {max}, triggers: [{{type: prometheus, metadata: \
                 {{query: requests_per_second, threshold: '1000', activationThreshold: '0'}}}}, \
                 {{type: prometheus, metadata: {{query: 'sum(vllm:num_requests_waiting)', threshold: '2'}}}}]}}}}"
            );
            let rate0 = format!("traffic.sources[0].rate={rate}");
            let (_, rows) = run(&path, &[&so, &rate0, "duration=200s"]);
            let mut before = 1;
            for r in &rows {
                let d = r.desired_pods.unwrap();
                prop_assert!(d == 0 || (1..=max).contains(&d), "{} at {} s", d, r.time_s);
                if d != before {
                    prop_assert!(
                        r.time_s % poll == 0 || r.time_s % 15 == 0,
                        "changed {} -> {} at {} s (poll {})", before, d, r.time_s, poll
                    );
                }
                before = d;
            }
        }
    }
}
