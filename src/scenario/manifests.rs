//! Reading users' real manifests: a KServe `InferenceService` (or a Knative `Service`) for the autoscaling
//! fields and annotations, and a `config-autoscaler` `ConfigMap` for the cluster defaults.
//!
//! Only the fields that matter for autoscaling are read; everything else in the manifest is ignored, so a
//! manifest copied from a cluster (`kubectl get isvc -o yaml`) works as is. For an InferenceService the
//! predictor component is used (that is where KServe's autoscaling fields live).

use super::scalar_to_string;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The autoscaling-relevant fields of a serving manifest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceManifest {
    pub name: Option<String>,
    pub container_concurrency: Option<u32>,
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
    pub scale_metric: Option<String>,
    pub scale_target: Option<f64>,
    pub timeout_seconds: Option<u64>,
    pub annotations: BTreeMap<String, String>,
    /// Parts of the manifest that podscale does not simulate (other components, traffic splits), as
    /// dotted paths; reported as warnings.
    pub ignored: Vec<String>,
}

fn read_yaml(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if let Err((line, message)) = super::limits::check_text(&text) {
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        return Err(format!(
            "{}{at}: refused before parsing: {message}",
            path.display()
        ));
    }
    serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}", l.line()))
            .unwrap_or_default();
        let message = e.to_string();
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m);
        format!("{}{at}: malformed YAML: {message}", path.display())
    })
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_mapping)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar_to_string(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

fn as_u32(v: Option<&Value>, field: &str, path: &Path) -> Result<Option<u32>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "{}: `{field}` must be a whole number >= 0, got {}",
                    path.display(),
                    super::show_value(v)
                )
            }),
    }
}

/// Reads an InferenceService (serving.kserve.io) or a Knative Service (serving.knative.dev).
pub fn read_service_manifest(path: &Path) -> Result<ServiceManifest, String> {
    let doc = read_yaml(path)?;
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut annotations = string_map(doc.get("metadata").and_then(|m| m.get("annotations")));
    match kind {
        "InferenceService" => {
            let predictor = doc
                .get("spec")
                .and_then(|s| s.get("predictor"))
                .ok_or_else(|| format!("{}: an InferenceService needs `spec.predictor`", path.display()))?;
            annotations.extend(string_map(predictor.get("annotations")));
            let ignored = ["transformer", "explainer"]
                .into_iter()
                .filter(|c| doc.get("spec").and_then(|s| s.get(c)).is_some())
                .map(|c| format!("spec.{c}"))
                .collect();
            let scale_target = match predictor.get("scaleTarget") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_f64().ok_or_else(|| {
                    format!("{}: `spec.predictor.scaleTarget` must be a number, got {}", path.display(), super::show_value(v))
                })?),
            };
            Ok(ServiceManifest {
                name,
                container_concurrency: as_u32(predictor.get("containerConcurrency"), "spec.predictor.containerConcurrency", path)?,
                min_replicas: as_u32(predictor.get("minReplicas"), "spec.predictor.minReplicas", path)?,
                max_replicas: as_u32(predictor.get("maxReplicas"), "spec.predictor.maxReplicas", path)?,
                scale_metric: predictor.get("scaleMetric").and_then(Value::as_str).map(str::to_string),
                scale_target,
                timeout_seconds: as_u32(predictor.get("timeout"), "spec.predictor.timeout", path)?.map(u64::from),
                annotations,
                ignored,
            })
        }
        "Service" => {
            let template = doc
                .get("spec")
                .and_then(|s| s.get("template"))
                .ok_or_else(|| format!("{}: a Knative Service needs `spec.template`", path.display()))?;
            annotations.extend(string_map(template.get("metadata").and_then(|m| m.get("annotations"))));
            let spec = template.get("spec");
            let ignored = doc
                .get("spec")
                .and_then(|s| s.get("traffic"))
                .map(|_| vec!["spec.traffic".to_string()])
                .unwrap_or_default();
            Ok(ServiceManifest {
                ignored,
                name,
                container_concurrency: as_u32(spec.and_then(|s| s.get("containerConcurrency")), "spec.template.spec.containerConcurrency", path)?,
                timeout_seconds: as_u32(spec.and_then(|s| s.get("timeoutSeconds")), "spec.template.spec.timeoutSeconds", path)?
                    .map(u64::from),
                annotations,
                ..ServiceManifest::default()
            })
        }
        other => Err(format!(
            "{}: kind \"{other}\" is not a serving manifest; allowed: InferenceService (serving.kserve.io), Service (serving.knative.dev)",
            path.display()
        )),
    }
}

/// Reads the `data` of a `config-autoscaler` ConfigMap manifest.
pub fn read_configmap(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let doc = read_yaml(path)?;
    if doc.get("kind").and_then(Value::as_str) != Some("ConfigMap") {
        return Err(format!(
            "{}: expected a ConfigMap manifest (kind: ConfigMap) with a `data` map",
            path.display()
        ));
    }
    let data = string_map(doc.get("data"));
    // Knative's shipped ConfigMap documents every key under `_example`; it is not configuration.
    Ok(data
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_inference_service_and_a_configmap() {
        let dir = std::env::temp_dir().join(format!("podscale-manifests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let isvc = dir.join("isvc.yaml");
        std::fs::write(
            &isvc,
            "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: flowers\n  annotations:\n    autoscaling.knative.dev/window: 30s\nspec:\n  predictor:\n    scaleTarget: 1\n    scaleMetric: concurrency\n    minReplicas: 0\n    containerConcurrency: 4\n    model: {modelFormat: {name: tensorflow}}\n",
        )
        .unwrap();
        let m = read_service_manifest(&isvc).unwrap();
        assert_eq!(m.name.as_deref(), Some("flowers"));
        assert_eq!(
            (m.scale_target, m.min_replicas, m.container_concurrency),
            (Some(1.0), Some(0), Some(4))
        );
        assert_eq!(m.annotations["autoscaling.knative.dev/window"], "30s");
        let cm = dir.join("cm.yaml");
        std::fs::write(&cm, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-autoscaler}\ndata:\n  _example: docs\n  stable-window: 30s\n  max-scale-up-rate: 10\n").unwrap();
        let data = read_configmap(&cm).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data["max-scale-up-rate"], "10");
        std::fs::write(&cm, "kind: Deployment\n").unwrap();
        assert!(read_configmap(&cm)
            .unwrap_err()
            .contains("expected a ConfigMap"));
    }
}
