//! Warnings: things a scenario says that have no effect on the run. They are not errors (the scenario is
//! valid and runs), but a user who wrote them expected something to change. `run` and `validate` print
//! them to stderr as `warning: file:line: key: message`; library users get them in
//! [`super::Prepared::warnings`].
//!
//! Detected: an annotation overridden by a KServe field (`scaleTarget` over
//! `autoscaling.knative.dev/target`, and the same for metric, min-scale and max-scale, as KServe's
//! controller writes the field over the annotation); parts of a referenced manifest that are not
//! simulated (an InferenceService's transformer, explainer or canary split, a Knative Service's
//! `spec.traffic`, other objects in the file), located in the manifest's own file and line;
//! autoscaler keys of another class; durations written as bare numbers (read as seconds).

use super::manifests::ServiceManifest;
use super::{LoadedScenario, ScenarioError};
use serde_yaml::Value;

/// Keys whose values are durations (a bare number is read as seconds there).
const DURATION_KEYS: &[&str] = &[
    "duration",
    "cooldown",
    "cold_start",
    "service_time",
    "timeout",
    "termination_grace",
    "reconcile_delay",
    "progress_deadline",
    "sync_period",
    "sync_phase",
    "resolution",
    "delay",
    "think_time",
    "mean",
    "median",
    "mean_duration",
    "interval",
    "downscale_stabilization",
    "provision_delay",
    "scale_down_unneeded",
    // cluster.autoscaler (Cluster Autoscaler flag names)
    "scan-interval",
    "provision-delay",
    "gpu-device-plugin-delay",
    "max-node-provision-time",
    "new-pod-buffer",
    "new-gpu-pod-buffer",
    "scale-down-unneeded-time",
    "scale-down-delay-after-add",
    "initial-node-group-backoff-duration",
    "max-node-group-backoff-duration",
];

/// Every warning for a loaded scenario whose autoscaler class resolved to `class`; `service` is the
/// referenced service manifest (default when there is none).
pub fn collect(
    loaded: &LoadedScenario,
    class: &str,
    service: &ServiceManifest,
) -> Vec<ScenarioError> {
    let mut warnings = Vec::new();
    let s = &loaded.spec.service;
    let annotations = &s.annotations;
    if class == "kpa" {
        // The field and the annotation may each come from the scenario or the referenced manifest.
        let fields = [
            (
                "target",
                "scaleTarget",
                s.scale_target.is_some(),
                service.scale_target.is_some(),
            ),
            (
                "metric",
                "scaleMetric",
                s.scale_metric.is_some(),
                service.scale_metric.is_some(),
            ),
            (
                "min-scale",
                "minReplicas",
                s.min_replicas.is_some(),
                service.min_replicas.is_some(),
            ),
            (
                "max-scale",
                "maxReplicas",
                s.max_replicas.is_some(),
                service.max_replicas.is_some(),
            ),
        ];
        for (annotation, field, in_scenario, in_manifest) in fields {
            let name = format!("autoscaling.knative.dev/{annotation}");
            let where_field = if in_scenario {
                format!("service.{field}")
            } else if in_manifest {
                format!("the manifest's {field}")
            } else {
                continue;
            };
            let key = if annotations.contains_key(&name) {
                format!("service.annotations.\"{name}\"")
            } else if service.annotations.contains_key(&name) {
                "service.manifest".to_string()
            } else {
                continue;
            };
            let what = if key == "service.manifest" {
                format!("the manifest's annotation {name} ")
            } else {
                String::new()
            };
            warnings.push(loaded.error_at(
                &key,
                format!("{what}has no effect: {where_field} is set, and KServe writes it over the annotation; remove one of them"),
            ));
        }
    }
    // Located in the manifest itself: its file, line and key.
    let via = if loaded.spec.service.component.is_some() {
        "kserve.manifest"
    } else {
        "service.manifest"
    };
    for part in &service.ignored {
        warnings.push(ScenarioError {
            file: part.file.clone(),
            line: part.line,
            key: part.key.clone(),
            message: format!("{} (read through {via})", part.message),
        });
    }
    let written: Vec<String> = loaded
        .document
        .get("autoscaler")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let owner = |key: &str| -> Option<&'static str> {
        match key {
            "config" | "configmap" | "reconcile_delay" | "progress_deadline" => Some("kpa"),
            "scaledobject" => Some("keda"),
            "hpa" | "controller" | "metrics_server" | "custom_metrics" | "keda_cron" => {
                Some("hpa or external")
            }
            _ => None,
        }
    };
    for key in &written {
        let Some(needs) = owner(key) else { continue };
        let applies = match needs {
            "kpa" => class == "kpa",
            "keda" => class == "keda",
            _ => matches!(class, "hpa" | "external"),
        };
        if !applies {
            warnings.push(loaded.error_at(
                &format!("autoscaler.{key}"),
                format!("has no effect: it configures class {needs}, but the class is `{class}`"),
            ));
        }
    }
    bare_durations(loaded, &loaded.document, "", &mut warnings);
    // The scenario's own warnings first, then the manifest's, each in line order.
    warnings.sort_by_key(|w| (w.file != loaded.path, w.line.unwrap_or(usize::MAX)));
    warnings
}

fn bare_durations(
    loaded: &LoadedScenario,
    value: &Value,
    prefix: &str,
    warnings: &mut Vec<ScenarioError>,
) {
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                let Some(k) = k.as_str() else { continue };
                let key = if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                };
                // String maps (ConfigMap data, annotations) follow Knative's own formats.
                if k == "config" || k == "annotations" {
                    continue;
                }
                match v {
                    Value::Number(n) if DURATION_KEYS.contains(&k) && n.as_f64() != Some(0.0) => {
                        warnings.push(loaded.error_at(
                            &key,
                            format!("{n} has no unit and is read as {n} seconds; write \"{n}s\" (or ms, m, h) to say so"),
                        ));
                    }
                    _ => bare_durations(loaded, v, &key, warnings),
                }
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                bare_durations(loaded, v, &format!("{prefix}[{i}]"), warnings);
            }
        }
        _ => {}
    }
}
