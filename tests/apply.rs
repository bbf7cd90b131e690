//! Tune's answer as manifests: ConfigMap / InferenceService / Knative Service patches and unified diffs.

use podscale::sweep::apply::{patch_configmap, patch_service, unified_diff};
use serde_yaml::Value;

fn chosen() -> Vec<(String, String)> {
    [
        ("autoscaler.config.stable-window", "30s"),
        ("autoscaler.config.max-scale-down-rate", "4"),
        ("service.maxReplicas", "12"),
        (
            "service.annotations.\"autoscaling.knative.dev/target-burst-capacity\"",
            "0",
        ),
        ("pod.service_time", "50ms"),
    ]
    .iter()
    .map(|(a, v)| (a.to_string(), v.to_string()))
    .collect()
}

#[test]
fn configmap_gets_every_autoscaler_key_and_nothing_else() {
    let mut doc: Value = serde_yaml::from_str(
        "kind: ConfigMap\ndata:\n  stable-window: \"60s\"\n  panic-window-percentage: \"10.0\"\n",
    )
    .unwrap();
    assert!(patch_configmap(&mut doc, &chosen()));
    assert_eq!(doc["data"]["stable-window"], "30s");
    assert_eq!(doc["data"]["max-scale-down-rate"], "4");
    assert_eq!(doc["data"]["panic-window-percentage"], "10.0");
    assert_eq!(doc["data"].as_mapping().unwrap().len(), 3);
}

#[test]
fn inferenceservice_gets_annotations_and_predictor_fields() {
    let mut doc: Value = serde_yaml::from_str(
        "kind: InferenceService\nmetadata: {name: m}\nspec: {predictor: {minReplicas: 1, maxReplicas: 20}}\n",
    )
    .unwrap();
    assert!(patch_service(&mut doc, &chosen()));
    let annotations = &doc["metadata"]["annotations"];
    assert_eq!(annotations["autoscaling.knative.dev/window"], "30s");
    assert_eq!(
        annotations["autoscaling.knative.dev/target-burst-capacity"],
        "0"
    );
    // max-scale-down-rate is cluster-wide only: no annotation.
    assert_eq!(annotations.as_mapping().unwrap().len(), 2);
    assert_eq!(doc["spec"]["predictor"]["maxReplicas"], 12);
    assert_eq!(doc["spec"]["predictor"]["minReplicas"], 1);
}

#[test]
fn knative_service_uses_template_annotations() {
    let mut doc: Value =
        serde_yaml::from_str("kind: Service\nmetadata: {name: s}\nspec: {template: {spec: {}}}\n")
            .unwrap();
    assert!(patch_service(&mut doc, &chosen()));
    let annotations = &doc["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["autoscaling.knative.dev/max-scale"], "12");
    assert_eq!(annotations["autoscaling.knative.dev/window"], "30s");
}

#[test]
fn unified_diff_shows_only_the_change_with_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
    let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
    let diff = unified_diff(old, new, "a/x", "b/x");
    assert_eq!(
        diff,
        "--- a/x\n+++ b/x\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
    );
    assert_eq!(unified_diff(old, old, "a/x", "b/x"), "");
    let added = unified_diff("a\n", "a\nb\n", "a/x", "b/x");
    assert!(added.ends_with(" a\n+b\n"), "{added}");
}

#[test]
fn strict_and_inclusive_constraints_differ_at_the_bound() {
    use podscale::sweep::Constraint;
    let le = Constraint::parse("latency_p99_ms <= 500").unwrap();
    let lt = Constraint::parse("latency_p99_ms < 500").unwrap();
    assert!(le.holds(500.0) && !lt.holds(500.0) && lt.holds(499.9));
    let gt = Constraint::parse("requests > 10").unwrap();
    assert!(!gt.holds(10.0) && gt.holds(10.5));
    assert_eq!(lt.to_string(), "latency_p99_ms < 500");
}
