//! Real KServe / Knative manifests read as written (examples/manifests/): KFServing v1alpha2 with a
//! canary, the v1beta1 framework shorthand with a transformer, a multi-document file with Knative's
//! ConfigMaps, and a `kind: List`. Each is loaded through a scenario; the resolved values are checked in
//! `effective_config` (what summary.json shows) and what is not simulated in the warnings.

use podscale::scenario;
use serde_json::{json, Value};
use std::path::Path;

/// Prepares a scenario reading `manifest` (relative to the crate root), with `extra` service keys.
fn prepare(manifest: &str, extra: &str) -> Result<(Value, Vec<String>), String> {
    let text = format!(
        "name: manifest-test\nduration: 1m\nservice:\n  manifest: {manifest}\n{extra}pod:\n  cold_start: 5s\n  service_time: {{dist: exponential, mean: 100ms}}\ntraffic: {{kind: poisson, rate: 10}}\n"
    );
    let loaded = scenario::load_str(&text, Path::new("t.yaml"), Path::new("."), &[])
        .map_err(|e| e.to_string())?;
    let prepared = scenario::prepare(&loaded, None).map_err(|e| e.to_string())?;
    let warnings = prepared.warnings.iter().map(|w| w.to_string()).collect();
    Ok((prepared.config.effective_config, warnings))
}

fn has(warnings: &[String], needle: &str) -> bool {
    warnings.iter().any(|w| w.contains(needle))
}

#[test]
fn kfserving_v1alpha2_with_a_canary_simulates_the_default_predictor() {
    let (c, w) = prepare("examples/manifests/kfserving-v1alpha2-canary.yaml", "").unwrap();
    // parallelism 4 is containerConcurrency and, as KFServing wrote it, the target annotation.
    assert_eq!(
        c["pod"]["containerConcurrency"],
        json!({"value": 4, "source": "manifest"})
    );
    assert_eq!(c["kpa"]["target"]["value"], json!(4.0));
    let ann = &c["kpa"]["revision_annotations"];
    assert_eq!(ann["autoscaling.knative.dev/min-scale"], json!("1"));
    assert_eq!(ann["autoscaling.knative.dev/max-scale"], json!("8"));
    assert_eq!(ann["autoscaling.knative.dev/window"], json!("45s"));
    // The framework block's resources, GPU limit included.
    let r = &c["pod"]["resources"];
    assert_eq!(r["source"], json!("manifest"));
    assert_eq!(r["value"]["limits"]["nvidia.com/gpu"], json!("1"));
    assert_eq!(r["value"]["requests"]["cpu"], json!("1"));
    // The transformer and the canary are named with their line, not silently dropped.
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(has(&w, "kfserving-v1alpha2-canary.yaml:27: spec.default.transformer: the transformer component is not simulated"), "{w:?}");
    assert!(
        has(
            &w,
            "kfserving-v1alpha2-canary.yaml:32: spec.canary: the canary endpoint (20 % of traffic"
        ),
        "{w:?}"
    );
}

#[test]
fn v1beta1_framework_shorthand_with_a_transformer() {
    let (c, w) = prepare("examples/manifests/kserve-sklearn-transformer.yaml", "").unwrap();
    let kpa = &c["kpa"];
    assert_eq!(
        kpa["target"],
        json!({"value": 2.0, "source": "kserve field"})
    );
    assert_eq!(kpa["metric"]["value"], json!("concurrency"));
    assert_eq!(
        kpa["min-scale"],
        json!({"value": 0, "source": "kserve field"})
    );
    assert_eq!(
        kpa["revision_annotations"]["autoscaling.knative.dev/max-scale"],
        json!("6")
    );
    assert_eq!(
        c["pod"]["containerConcurrency"],
        json!({"value": 3, "source": "manifest"})
    );
    let r = &c["pod"]["resources"]["value"];
    assert_eq!(r["requests"], json!({"cpu": "500m", "memory": "1Gi"}));
    assert_eq!(r["limits"], json!({"cpu": "1", "memory": "2Gi"}));
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        has(&w, "kserve-sklearn-transformer.yaml:8: spec.transformer:"),
        "{w:?}"
    );
    assert!(has(&w, ":26: spec.predictor.sklearn.resources.limits.ephemeral-storage: resource \"ephemeral-storage\" is not modelled"), "{w:?}");
}

#[test]
fn multi_document_file_supplies_the_configmaps() {
    let (c, w) = prepare("examples/manifests/kserve-multidoc.yaml", "").unwrap();
    let kpa = &c["kpa"];
    assert_eq!(
        kpa["stable-window"],
        json!({"value": "1m30s", "source": "configmap"})
    );
    assert_eq!(
        kpa["scale-to-zero-grace-period"],
        json!({"value": "45s", "source": "configmap"})
    );
    assert_eq!(
        kpa["progress-deadline"],
        json!({"value": "5m", "source": "configmap"})
    );
    assert_eq!(
        kpa["target"],
        json!({"value": 6.0, "source": "kserve field"})
    );
    assert_eq!(
        c["pod"]["resources"]["value"]["limits"]["nvidia.com/gpu"],
        json!("1")
    );
    // The ISVC's metric annotation loses to its scaleMetric; that is the only warning.
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        has(&w, "autoscaling.knative.dev/metric has no effect"),
        "{w:?}"
    );
    // A ConfigMap the scenario names wins over the one in the manifest file.
    let (c, _) = prepare(
        "examples/manifests/kserve-multidoc.yaml",
        "autoscaler:\n  configmap: examples/manifests/config-autoscaler.yaml\n",
    )
    .unwrap();
    assert_ne!(c["kpa"]["stable-window"]["value"], json!("1m30s"));
}

#[test]
fn kind_list_picks_the_service_by_name() {
    let (c, w) = prepare("examples/manifests/knative-list.yaml", "  name: hello\n").unwrap();
    assert_eq!(
        c["kpa"]["target"],
        json!({"value": 50.0, "source": "annotation"})
    );
    assert_eq!(
        c["pod"]["containerConcurrency"],
        json!({"value": 80, "source": "manifest"})
    );
    assert_eq!(
        c["pod"]["resources"]["value"]["requests"]["cpu"],
        json!("250m")
    );
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(has(&w, "knative-list.yaml:24: spec.traffic: the traffic split between revisions is not simulated"), "{w:?}");
    assert!(
        has(
            &w,
            "knative-list.yaml:30: kind: InferenceService \"iris\" is another serving object"
        ),
        "{w:?}"
    );

    let (c, w) = prepare("examples/manifests/knative-list.yaml", "  name: iris\n").unwrap();
    assert_eq!(c["pod"]["containerConcurrency"], json!(0));
    assert!(
        has(&w, "knative-list.yaml:7: kind: Service \"hello\""),
        "{w:?}"
    );
    assert!(!has(&w, "spec.traffic"), "{w:?}");

    let e = prepare("examples/manifests/knative-list.yaml", "").unwrap_err();
    assert!(
        e.contains("t.yaml:4: service.manifest:")
            && e.contains("2 serving objects (\"hello\", \"iris\")"),
        "{e}"
    );
    let e = prepare("examples/manifests/knative-list.yaml", "  name: nope\n").unwrap_err();
    assert!(e.contains("no serving object named \"nope\""), "{e}");
}

/// Writes `body` as a manifest in a fresh directory and prepares a scenario reading it.
fn prepare_text(file: &str, body: &str) -> Result<(Value, Vec<String>), String> {
    let dir = std::env::temp_dir().join(format!("podscale-kserve-{}-{file}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, body).unwrap();
    prepare(&path.display().to_string(), "")
}

#[test]
fn unsupported_shapes_are_clear_errors_with_file_line_and_key() {
    let head =
        "apiVersion: serving.kubeflow.org/v1alpha2\nkind: InferenceService\nmetadata: {name: a}\n";
    let e = prepare_text(
        "nodefault.yaml",
        &format!("{head}spec:\n  predictor:\n    sklearn: {{}}\n"),
    )
    .unwrap_err();
    assert!(e.contains("nodefault.yaml:4: spec: a serving.kubeflow.org/v1alpha2 InferenceService needs `spec.default.predictor`"), "{e}");
    let e = prepare_text(
        "two.yaml",
        &format!("{head}spec:\n  default:\n    predictor:\n      sklearn: {{storageUri: x}}\n      xgboost: {{storageUri: y}}\n"),
    )
    .unwrap_err();
    assert!(e.contains("two.yaml:7: spec.default.predictor.sklearn: a predictor has exactly one model; found xgboost, sklearn"), "{e}");
    let e = prepare_text(
        "pct.yaml",
        &format!("{head}spec:\n  default:\n    predictor:\n      sklearn: {{storageUri: x}}\n  canaryTrafficPercent: 150\n"),
    )
    .unwrap_err();
    assert!(
        e.contains("pct.yaml:8: spec.canaryTrafficPercent: 150 is outside [0, 100]"),
        "{e}"
    );
    let e = prepare_text(
        "cpu.yaml",
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: b}\nspec:\n  predictor:\n    pytorch:\n      resources:\n        limits:\n          cpu: lots\n",
    )
    .unwrap_err();
    assert!(
        e.contains("cpu.yaml:9: spec.predictor.pytorch.resources.limits.cpu:"),
        "{e}"
    );
    let e = prepare_text(
        "over.yaml",
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: b}\nspec:\n  predictor:\n    model:\n      resources:\n        requests:\n          memory: 8Gi\n        limits:\n          memory: 4Gi\n",
    )
    .unwrap_err();
    assert!(e.contains("over.yaml:9: spec.predictor.model.resources.requests.memory: \"8Gi\" is more than the limit \"4Gi\""), "{e}");
    let e = prepare_text(
        "gpu.yaml",
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: g}\nspec:\n  predictor:\n    triton:\n      resources:\n        requests:\n          nvidia.com/gpu: 1\n        limits:\n          nvidia.com/gpu: 2\n",
    )
    .unwrap_err();
    assert!(e.contains("gpu.yaml:11: spec.predictor.triton.resources.limits.\"nvidia.com/gpu\": nvidia.com/gpu requests and limits must be equal"), "{e}");
    let e = prepare_text(
        "alpha3.yaml",
        "apiVersion: serving.kserve.io/v1alpha3\nkind: InferenceService\nmetadata: {name: c}\nspec: {}\n",
    )
    .unwrap_err();
    assert!(
        e.contains("alpha3.yaml:1: apiVersion:")
            && e.contains("allowed: serving.kserve.io/v1beta1"),
        "{e}"
    );
    let e = prepare_text(
        "core.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: d}\n",
    )
    .unwrap_err();
    assert!(
        e.contains("no serving manifest in the file (found: v1 Service)"),
        "{e}"
    );
}

#[test]
fn v1alpha1_kfservice_and_v1beta1_canary_and_explainer() {
    let (c, w) = prepare_text(
        "kfservice.yaml",
        "apiVersion: serving.kubeflow.org/v1alpha1\nkind: KFService\nmetadata: {name: e}\nspec:\n  default:\n    minReplicas: 2\n    tensorflow:\n      modelUri: gs://x\n      resources: {limits: {memory: 2Gi}}\n",
    )
    .unwrap();
    assert_eq!(
        c["kpa"]["revision_annotations"]["autoscaling.knative.dev/min-scale"],
        json!("2")
    );
    // KFServing's default target was 1 in flight per pod.
    assert_eq!(c["kpa"]["target"]["value"], json!(1.0));
    assert_eq!(
        c["pod"]["resources"]["value"]["limits"]["memory"],
        json!("2Gi")
    );
    assert!(w.is_empty(), "{w:?}");
    let (c, w) = prepare_text(
        "canary.yaml",
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: f}\nspec:\n  predictor:\n    canaryTrafficPercent: 10\n    model:\n      modelFormat: {name: onnx}\n  explainer:\n    containers: [{image: x}]\n",
    )
    .unwrap();
    assert_eq!(c["pod"]["resources"], json!({"limits": {}, "requests": {}}));
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(has(&w, "canary.yaml:6: spec.predictor.canaryTrafficPercent: the canary split (10 % to this revision, 90 % to the previous one) is not simulated"), "{w:?}");
    assert!(
        has(
            &w,
            "canary.yaml:9: spec.explainer: the explainer component is not simulated"
        ),
        "{w:?}"
    );
}
