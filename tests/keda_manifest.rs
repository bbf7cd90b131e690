//! `podscale::scenario::keda`: reading real KEDA ScaledObject manifests, and the located errors for what
//! is not modelled or what KEDA's webhook rejects.

use std::path::Path;

use podscale::autoscaler::hpa::MetricTarget;
use podscale::autoscaler::keda::{Aggregation, FallbackBehavior, ScaledObjectSpec, TriggerKind};
use podscale::scenario::keda::parse_scaled_object;
use podscale::scenario::ScenarioError;

const VLLM: &str = r#"apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: llama-predictor
  namespace: kserve-test
  annotations:
    autoscaling.keda.sh/paused-scale-in: "false"
spec:
  scaleTargetRef:
    name: llama-predictor
  pollingInterval: 15
  cooldownPeriod: 120
  initialCooldownPeriod: 60
  idleReplicaCount: 0
  minReplicaCount: 1
  maxReplicaCount: 8
  fallback:
    failureThreshold: 3
    replicas: 2
    behavior: currentReplicasIfHigher
  advanced:
    restoreToOriginalReplicaCount: true
    horizontalPodAutoscalerConfig:
      name: keda-hpa-llama
      behavior:
        scaleDown:
          stabilizationWindowSeconds: 60
          policies:
          - type: Pods
            value: 1
            periodSeconds: 30
        scaleUp:
          tolerance: "0.05"
  triggers:
  - type: prometheus
    name: waiting
    metadata:
      serverAddress: http://prometheus.monitoring:9090
      query: sum(vllm:num_requests_waiting)
      threshold: "4"
      activationThreshold: "0.5"
  - type: cpu
    metricType: Utilization
    metadata:
      value: "70"
  - type: cron
    metadata:
      timezone: Etc/UTC
      start: 0 8 * * 1-5
      end: 0 18 * * 1-5
      desiredReplicas: "3"
"#;

fn parse(text: &str) -> Result<ScaledObjectSpec, ScenarioError> {
    parse_scaled_object(text, Path::new("so.yaml"))
}

#[test]
fn reads_a_realistic_vllm_scaled_object() {
    let so = parse(VLLM).unwrap();
    assert_eq!(
        (so.name.as_str(), so.namespace.as_str()),
        ("llama-predictor", "kserve-test")
    );
    assert_eq!(so.target_kind, "apps/v1.Deployment");
    assert_eq!(so.polling_interval_s, 15);
    assert_eq!(so.cooldown_period_s, Some(120));
    assert_eq!(so.initial_cooldown_period_s, Some(60));
    assert_eq!(
        (
            so.idle_replica_count,
            so.min_replica_count,
            so.max_replica_count
        ),
        (Some(0), Some(1), Some(8))
    );
    let f = so.fallback.unwrap();
    assert_eq!(
        (f.failure_threshold, f.replicas, f.behavior),
        (3, 2, FallbackBehavior::CurrentReplicasIfHigher)
    );
    let b = so.behavior.as_ref().unwrap();
    assert_eq!(b.scale_up.tolerance, Some(0.05));
    assert_eq!(b.scale_down.policies.len(), 1);
    assert_eq!(so.triggers.len(), 3);
    match &so.triggers[0].kind {
        TriggerKind::Prometheus {
            query,
            threshold,
            activation_threshold,
        } => {
            assert_eq!(query.aggregation, Aggregation::Sum);
            assert_eq!(query.metric, "vllm:num_requests_waiting");
            assert_eq!((*threshold, *activation_threshold), (4.0, 0.5));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        so.triggers[1].kind,
        TriggerKind::Resource {
            target: MetricTarget::Utilization(70),
            ..
        }
    ));
    assert!(matches!(so.triggers[2].kind, TriggerKind::Cron(_)));
    let hpa = so.hpa_spec();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (1, 8));
    assert_eq!(hpa.metrics.len(), 3);
    assert_eq!(hpa.metrics[0].name(), "s0-prometheus");
}

fn error_for(from: &str, to: &str) -> ScenarioError {
    let text = VLLM.replace(from, to);
    assert_ne!(text, VLLM, "test edit {from:?} did not apply");
    parse(&text).unwrap_err()
}

#[test]
fn unsupported_fields_are_located() {
    let e = error_for("  - type: cpu\n", "  - type: kafka\n");
    assert_eq!(e.key, "spec.triggers[1].type");
    assert_eq!(
        e.line,
        Some(VLLM.lines().position(|l| l.contains("type: cpu")).unwrap() + 1)
    );
    assert!(e.to_string().starts_with("so.yaml:"), "{e}");
    let e = error_for(
        "  pollingInterval: 15",
        "  pollingInterval: 15\n  jobTargetRef: {}",
    );
    assert!(e.message.contains("unsupported field"), "{e}");
    let e = error_for("sum(vllm:num_requests_waiting)", "rate(x[1m])");
    assert_eq!(e.key, "spec.triggers[0].metadata.query");
    assert!(e.line.is_some());
    let e = error_for(
        "    restoreToOriginalReplicaCount: true",
        "    scalingModifiers: {formula: a + b}",
    );
    assert_eq!(e.key, "spec.advanced.scalingModifiers");
    let e = error_for("threshold: \"4\"", "threshold: lots");
    assert_eq!(e.key, "spec.triggers[0].metadata.threshold");
}

#[test]
fn webhook_rules_are_enforced() {
    assert_eq!(
        error_for("idleReplicaCount: 0", "idleReplicaCount: 1").key,
        "spec.idleReplicaCount"
    );
    assert_eq!(
        error_for("maxReplicaCount: 8", "maxReplicaCount: 0").key,
        "spec.minReplicaCount"
    );
    assert_eq!(
        error_for("replicas: 2", "replicas: -2").key,
        "spec.fallback.replicas"
    );
    assert_eq!(
        error_for(
            "apiVersion: keda.sh/v1alpha1",
            "apiVersion: keda.k8s.io/v1alpha1"
        )
        .key,
        "apiVersion"
    );
    let e = error_for(
        "        scaleUp:\n          tolerance: \"0.05\"",
        "        scaleUp:\n          tolerance: \"-1\"",
    );
    assert_eq!(
        e.key,
        "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.tolerance"
    );
}
