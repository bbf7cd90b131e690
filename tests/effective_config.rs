//! `effective_config` in `summary.json` holds the values a run used, resolved through every layer
//! (defaults, ConfigMap, scenario keys, KServe's mapping, annotations, manifests, `--set`), each
//! non-default value with its source.

use podscale::scenario;
use serde_json::{json, Value};
use std::path::Path;

fn effective(path: &str, overrides: &[&str]) -> (Value, Vec<String>) {
    let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let loaded = scenario::load(Path::new(path), &overrides).expect("scenario loads");
    let prepared = scenario::prepare(&loaded, None).expect("scenario prepares");
    let warnings = prepared.warnings.iter().map(|w| w.to_string()).collect();
    (prepared.config.effective_config, warnings)
}

#[test]
fn kserve_manifest_scale_target_wins_over_the_annotation() {
    let (config, warnings) = effective("scenarios/kserve-manifest.yaml", &[]);
    let kpa = &config["kpa"];
    // The scenario's annotation says 5; the manifest's scaleTarget 10 is what KServe writes.
    assert_eq!(
        kpa["target"],
        json!({"value": 10.0, "source": "kserve field"})
    );
    assert_eq!(
        kpa["revision_annotations"]["autoscaling.knative.dev/target"],
        json!("10")
    );
    assert_eq!(kpa["derived"]["target-per-pod"], json!(7.0));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("autoscaling.knative.dev/target") && w.contains("no effect")),
        "{warnings:?}"
    );
    // The ConfigMap file's values, resolved.
    assert_eq!(
        kpa["max-scale-down-rate"],
        json!({"value": 2.0, "source": "configmap"})
    );
    assert_eq!(
        kpa["scale-to-zero-grace-period"],
        json!({"value": "30s", "source": "configmap"})
    );
    // The scenario's config key on top of the ConfigMap.
    assert_eq!(
        kpa["max-scale-up-rate"],
        json!({"value": 10.0, "source": "scenario"})
    );
    // The manifest's window annotation.
    assert_eq!(
        kpa["stable-window"],
        json!({"value": "1m", "source": "annotation"})
    );
    // Knative's defaults are written bare.
    assert_eq!(kpa["panic-threshold-percentage"], json!(200.0));
    assert_eq!(kpa["target-burst-capacity"], json!(211.0));
    assert_eq!(kpa["activator-capacity"], json!(100.0));
    assert_eq!(kpa["derived"]["panic-window"], json!("6s"));
    assert_eq!(
        kpa["min-scale"],
        json!({"value": 1, "source": "kserve field"})
    );
    assert_eq!(
        kpa["max-scale"],
        json!({"value": 20, "source": "kserve field"})
    );
    // The raw document is not echoed.
    assert!(config.get("service").is_none());
    assert_eq!(config["traffic"]["kind"], json!("piecewise"));
}

#[test]
fn set_overrides_are_named_as_the_source() {
    let (config, _) = effective(
        "scenarios/kserve-manifest.yaml",
        &[
            "autoscaler.config.max-scale-up-rate=20",
            "service.timeout=30s",
        ],
    );
    assert_eq!(
        config["kpa"]["max-scale-up-rate"],
        json!({"value": 20.0, "source": "--set"})
    );
    assert_eq!(
        config["request_path"]["timeout"],
        json!({"value": "30s", "source": "--set"})
    );
}

#[test]
fn quickstart_without_kserve_fields_shows_kserve_default_min_scale() {
    let (config, _) = effective(
        "scenarios/quickstart.yaml",
        &["service.minReplicas=null", "service.scaleTarget=null"],
    );
    let kpa = &config["kpa"];
    assert_eq!(
        kpa["min-scale"],
        json!({"value": 1, "source": "kserve default"})
    );
    // No scaleTarget, containerConcurrency 0: Knative's container-concurrency-target-default.
    assert_eq!(kpa["target"], json!(100.0));
    assert_eq!(
        kpa["stable-window"],
        json!({"value": "1m", "source": "scenario"})
    );
}

#[test]
fn hpa_spec_is_resolved_after_the_merge() {
    let (config, _) = effective(
        "scenarios/kpa-vs-hpa-bursty.yaml",
        &["autoscaler.class=hpa"],
    );
    let hpa = &config["hpa"];
    assert!(config.get("kpa").is_none());
    assert_eq!(
        config["autoscaler"]["class"],
        json!({"value": "hpa", "source": "--set"})
    );
    let metrics = hpa["metrics"]["value"]
        .as_array()
        .or(hpa["metrics"].as_array());
    let metrics = metrics.expect("metrics listed");
    assert!(
        metrics.iter().any(|m| m["type"] == "Resource"
            && m["name"] == "cpu"
            && m["target"]["averageUtilization"] == 60),
        "{metrics:?}"
    );
    assert_eq!(hpa["controller"]["sync-period"], json!("15s"));
    assert_eq!(hpa["controller"]["tolerance"], json!(0.1));
    assert_eq!(
        config["request_path"]["activator"]["in_path"],
        json!("never (requests go straight to the pods)")
    );
}

#[test]
fn keda_scaled_object_is_resolved() {
    let (config, _) = effective("scenarios/keda-idle-scale-to-zero.yaml", &[]);
    let keda = &config["keda"];
    assert_eq!(keda["source"], json!("scenario"));
    assert!(keda["pollingInterval"].as_str().unwrap().ends_with('s'));
    assert!(!keda["triggers"].as_array().unwrap().is_empty());
    assert!(keda["generated_hpa"]["maxReplicas"].as_i64().unwrap() >= 1);
}
