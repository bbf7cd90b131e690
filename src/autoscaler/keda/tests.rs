//! Whole-ScaledObject behaviour on simulated time: polling, activation, cooldown, idle, fallback, pause.

use chrono::{TimeZone, Utc};

use super::*;
use crate::autoscaler::hpa::{HpaConfig, PodState};
use crate::scenario::keda::parse_scaled_object;
use crate::time::SimTime;

const SO: &str = r#"apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: so, namespace: ns}
spec:
  scaleTargetRef: {name: llm}
  cooldownPeriod: 60
  idleReplicaCount: 0
  minReplicaCount: 1
  maxReplicaCount: 10
  fallback: {failureThreshold: 2, replicas: 4}
  triggers:
  - type: prometheus
    metadata: {serverAddress: http://p:9090, query: sum(waiting), threshold: "5", activationThreshold: "0"}
"#;

fn scaler(text: &str) -> KedaScaler {
    let spec = parse_scaled_object(text, std::path::Path::new("so.yaml")).unwrap();
    let epoch = Utc.with_ymd_and_hms(2024, 3, 4, 0, 0, 0).unwrap();
    KedaScaler::new(spec, HpaConfig::default(), SimTime::ZERO, epoch)
}

fn view(replicas: i32) -> WorkloadView {
    WorkloadView {
        spec_replicas: replicas,
        status_replicas: replicas,
        pods: (0..replicas)
            .map(|_| PodState::running(SimTime::ZERO, "cpu", 1000))
            .collect(),
        ..WorkloadView::default()
    }
}

fn waiting(v: f64) -> KedaMetrics {
    KedaMetrics::default().with("waiting", vec![v])
}

#[test]
fn idle_scale_to_zero_and_back() {
    let mut k = scaler(SO);
    let mut replicas = 0;
    let at = |secs: u64| SimTime::from_secs(secs);
    // Idle from the start: nothing to do at 0 replicas.
    let p = k.poll(at(30), &waiting(0.0), &view(replicas));
    assert!(!p.is_active);
    assert_eq!(p.replicas, 0);
    // Work arrives: KEDA itself activates to minReplicaCount...
    let p = k.poll(at(60), &waiting(23.0), &view(replicas));
    assert!(p.is_active);
    replicas = p.replicas;
    assert_eq!(replicas, 1);
    assert_eq!(k.last_active_time(), Some(at(60)));
    // ...and the generated HPA takes it from there: 23 waiting / 5 per pod = 5 pods, capped by the
    // legacy scale-up limit max(2 x 1, 4) = 4 since the ScaledObject sets no HPA behavior.
    let d = k.hpa_sync(at(75), &waiting(23.0), &view(replicas)).unwrap();
    assert_eq!(d.metric_desired, Some(5));
    assert_eq!(d.desired_replicas, 4);
    replicas = d.desired_replicas;
    // Work stops at 90 s; the cooldown (60 s) counts from the last active poll (90 s).
    let p = k.poll(at(90), &waiting(1.0), &view(replicas));
    assert_eq!(p.replicas, 4);
    for t in [120, 150] {
        let p = k.poll(at(t), &waiting(0.0), &view(replicas));
        assert_eq!(p.replicas, 4, "still cooling down at {t}s");
        assert_eq!(
            k.conditions().get("Active").unwrap().reason,
            "ScalerCooldown"
        );
    }
    // Exactly at lastActive + cooldown (150 s) it still cools down; the next poll deactivates to idle.
    let p = k.poll(at(180), &waiting(0.0), &view(replicas));
    assert_eq!(p.replicas, 0);
    replicas = 0;
    // While at zero the HPA is disabled, and activity brings the target back.
    let d = k.hpa_sync(at(195), &waiting(0.0), &view(replicas)).unwrap();
    assert_eq!(d.scaling_active, Some((false, "ScalingDisabled")));
    assert_eq!(k.poll(at(210), &waiting(2.0), &view(replicas)).replicas, 1);
}

#[test]
fn broken_query_falls_back_after_the_threshold() {
    let text = SO.replace("sum(waiting)", "sum(missing_metric)");
    let mut k = scaler(&text);
    let v = view(3);
    // Failures 1 and 2 are errors (Ready condition stays as the executor sets it, no scaling).
    for t in [30, 60] {
        let p = k.poll(SimTime::from_secs(t), &waiting(9.0), &v);
        assert!(p.is_error && !p.fallback_active);
        assert_eq!(p.replicas, 3);
    }
    // The third failure exceeds failureThreshold 2: the trigger serves 4 replicas' worth and is active.
    let p = k.poll(SimTime::from_secs(90), &waiting(9.0), &v);
    assert!(p.fallback_active && p.is_active && !p.is_error);
    assert_eq!(k.fallback_state().condition, Some(true));
    let d = k
        .hpa_sync(SimTime::from_secs(95), &waiting(9.0), &v)
        .unwrap();
    assert_eq!(d.metric_desired, Some(4));
}

#[test]
fn paused_replicas_pin_the_count_and_remove_the_hpa() {
    let text = SO.replace(
        "metadata: {name: so, namespace: ns}",
        "metadata: {name: so, namespace: ns, annotations: {autoscaling.keda.sh/paused-replicas: \"2\"}}",
    );
    let mut k = scaler(&text);
    let p = k.poll(SimTime::from_secs(30), &waiting(100.0), &view(7));
    assert_eq!(p.replicas, 2);
    assert!(k
        .hpa_sync(SimTime::from_secs(45), &waiting(100.0), &view(2))
        .is_none());
}

#[test]
fn cpu_only_scaled_objects_are_always_active() {
    let text = SO
        .replace("  idleReplicaCount: 0\n", "")
        .replace("  fallback: {failureThreshold: 2, replicas: 4}\n", "")
        .replace(
            "  - type: prometheus\n    metadata: {serverAddress: http://p:9090, query: sum(waiting), threshold: \"5\", activationThreshold: \"0\"}\n",
            "  - type: cpu\n    metadata: {value: \"50\"}\n",
        );
    let mut k = scaler(&text);
    let p = k.poll(SimTime::from_secs(30), &KedaMetrics::default(), &view(0));
    assert!(p.is_active);
    assert_eq!(p.replicas, 1, "KEDA activates a cpu-only target from zero");
}
