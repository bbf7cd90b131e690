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
    // `paused: "true"` stops everything at the current count, even from zero with work waiting.
    let text = SO.replace(
        "metadata: {name: so, namespace: ns}",
        "metadata: {name: so, namespace: ns, annotations: {autoscaling.keda.sh/paused: \"true\"}}",
    );
    let mut k = scaler(&text);
    assert_eq!(
        k.poll(SimTime::from_secs(30), &waiting(100.0), &view(0))
            .replicas,
        0
    );
    assert!(k
        .hpa_sync(SimTime::from_secs(45), &waiting(100.0), &view(3))
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

mod properties {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::super::*;
    use crate::time::SimTime;

    proptest! {
        /// Whatever the state, one executor pass writes at most once, only to a count KEDA owns (the
        /// activation count max(min, 1), the idle/min/zero floor, or min), and remembers activity only
        /// when the triggers are active.
        #[test]
        fn executor_writes_only_its_own_counts(
            min in proptest::option::of(0i32..5),
            idle in proptest::option::of(0i32..3),
            current in 0i32..8,
            active: bool,
            error: bool,
            last in proptest::option::of(0u64..400),
            now in 0u64..800,
            cooldown in proptest::option::of(0u64..300),
            paused: bool,
        ) {
            let mut annotations = BTreeMap::new();
            if paused {
                annotations.insert(executor::ANNOTATION_PAUSED.to_string(), "true".to_string());
            }
            let spec = ExecutorSpec {
                min_replica_count: min,
                idle_replica_count: idle,
                cooldown_period_s: cooldown,
                annotations,
                target: "apps/v1.Deployment ns/t".into(),
                ..ExecutorSpec::default()
            };
            let inputs = ExecutorInputs {
                now: SimTime::from_secs(now),
                creation_time: SimTime::ZERO,
                last_active_time: last.map(SimTime::from_secs),
                current_replicas: Ok(current),
                scale_update_fails: false,
                is_active: active,
                is_error: error,
                active_triggers: if active { vec!["s0-m".into()] } else { vec![] },
                external_metric_names: vec!["s0-m".into()],
                hpa_name: String::new(),
                hpa_get_fails: false,
                hpa_scaling_active: None,
            };
            let out = request_scale(&spec, &inputs, &mut Conditions::default());
            prop_assert!(out.scale_writes.len() <= 1);
            if paused {
                prop_assert!(out.scale_writes.is_empty());
            }
            if let Some(w) = out.scale_writes.first() {
                let activation = min.filter(|m| *m > 0).unwrap_or(1);
                let floor = idle.or(min).unwrap_or(0);
                prop_assert!(
                    w.replicas == activation || w.replicas == floor || Some(w.replicas) == min,
                    "wrote {} (min {:?}, idle {:?}, current {})", w.replicas, min, idle, current
                );
                if !active {
                    // Deactivation only after the cooldown, strictly.
                    let start = last.unwrap_or(0);
                    let period = if last.is_some() { cooldown.unwrap_or(300) } else { 0 };
                    prop_assert!(w.replicas == min.unwrap_or(0) || start + period < now);
                }
            }
            prop_assert!(out.last_active_time.is_none() || active);
        }
    }
}
