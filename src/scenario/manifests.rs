//! Reading users' real manifests: a KServe `InferenceService` (or a Knative `Service`) for the autoscaling
//! fields, annotations and container resources, and a `config-autoscaler` `ConfigMap` for the cluster
//! defaults.
//!
//! Manifests are read as written: a multi-document YAML stream (`---`) or a `kind: List`, with the
//! service picked by `metadata.name` (the scenario's `service.name`) when the file holds several; a
//! `config-autoscaler` ConfigMap in the same file is the autoscaler's ConfigMap and a `config-deployment`
//! ConfigMap gives `progress-deadline`. The InferenceService versions are in [`kserve`]. Only the
//! fields that matter for autoscaling are read; everything else is ignored, so a manifest copied from a
//! cluster (`kubectl get isvc -o yaml`) works as is. What the manifest asks for and podscale does not
//! simulate (a transformer, an explainer, other objects in the file) is listed in
//! [`ServiceManifest::ignored`] and reported as warnings. A Knative `spec.traffic` and KServe's canary
//! split are read ([`ServiceManifest::traffic`], [`ServiceManifest::canary`]) and simulated when the
//! scenario lists the service's `revisions:` (`scenario::routes`); without it they are warnings too.

mod docs;
mod kserve;
mod topology;
pub use topology::{
    parse_condition, read_kserve_shape, GraphShape, GraphStep, IsvcShape, KserveShape,
};
mod traffic;

use super::scalar_to_string;
use crate::time::SimDuration;
use docs::{read_docs, Doc};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// The model container's resources (validated quantities), when the manifest gives them.
    pub resources: Option<ManifestResources>,
    /// Data of a `config-autoscaler` ConfigMap in the same file (`_example` keys dropped).
    pub configmap: Option<BTreeMap<String, String>>,
    /// `progress-deadline` of a `config-deployment` ConfigMap in the same file.
    pub progress_deadline: Option<SimDuration>,
    /// Parts of the manifest that podscale does not simulate; reported as warnings.
    pub ignored: Vec<Ignored>,
    /// A Knative Service's `spec.traffic` (simulated with the scenario's `revisions:`).
    pub traffic: Option<Vec<ManifestTraffic>>,
    /// An InferenceService's canary split (simulated with the scenario's `revisions:`).
    pub canary: Option<Canary>,
}

/// One target of a Knative Service's `spec.traffic`, with where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestTraffic {
    /// `None`: `latestRevision: true`.
    pub revision_name: Option<String>,
    pub percent: u32,
    pub tag: Option<String>,
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
}

/// KServe's canary split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canary {
    /// v1beta1 `canaryTrafficPercent`: this percent to the latest ready revision, the rest to the
    /// previous one.
    Latest(u32),
    /// v1alpha2 `spec.canary` with `canaryTrafficPercent`: this percent to the canary endpoint (the last
    /// revision), the rest to `spec.default` (the first), both existing from the start.
    Endpoint(u32),
}

/// `resources` of the manifest's model container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManifestResources {
    /// Dotted path of the `resources` key in the manifest.
    pub key: String,
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
}

/// A part of a manifest that has no effect on the run, with where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ignored {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
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

fn is_serving(doc: &Doc) -> bool {
    matches!(doc.kind(), "InferenceService" | "KFService")
        || (doc.kind() == "Service" && doc.api_version().starts_with("serving.knative.dev/"))
}

/// Reads the single serving object of a manifest file (see [`read_service_manifest_named`]).
pub fn read_service_manifest(path: &Path) -> Result<ServiceManifest, String> {
    read_service_manifest_named(path, None)
}

/// Reads an InferenceService (KServe v1beta1, KFServing v1alpha2/v1alpha1) or a Knative Service from a
/// manifest file; with several serving objects in the file, the one whose `metadata.name` is `name`.
pub fn read_service_manifest_named(
    path: &Path,
    name: Option<&str>,
) -> Result<ServiceManifest, String> {
    read_service_component(path, name, None)
}

/// [`read_service_manifest_named`] for one component of an InferenceService (`predictor`,
/// `transformer` or `explainer`; `None`: the predictor, warning about the others). With a component,
/// the file's other InferenceServices and InferenceGraph are part of the topology, not warned about.
pub fn read_service_component(
    path: &Path,
    name: Option<&str>,
    component: Option<&str>,
) -> Result<ServiceManifest, String> {
    let docs = read_docs(path)?;
    let serving: Vec<&Doc> = docs.iter().filter(|d| is_serving(d)).collect();
    let names = || {
        serving
            .iter()
            .map(|d| format!("{:?}", d.name().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match (serving.as_slice(), name) {
        ([], _) => {
            let kinds: Vec<String> = docs
                .iter()
                .map(|d| format!("{} {}", d.api_version(), d.kind()))
                .collect();
            return Err(format!(
                "{}: no serving manifest in the file (found: {}); allowed: InferenceService (serving.kserve.io/v1beta1, \
                 serving.kubeflow.org/v1beta1, v1alpha2), KFService (serving.kubeflow.org/v1alpha1), Service \
                 (serving.knative.dev/v1), alone, in a `---` stream or in a `kind: List`",
                path.display(),
                if kinds.is_empty() { "nothing".to_string() } else { kinds.join(", ") }
            ));
        }
        ([one], _) => *one,
        (_, Some(n)) => *serving
            .iter()
            .find(|d| d.name() == Some(n))
            .ok_or_else(|| {
                format!(
                    "{}: no serving object named {n:?} (service.name); the file holds {}",
                    path.display(),
                    names()
                )
            })?,
        (_, None) => {
            return Err(format!(
                "{}: the file holds {} serving objects ({}); set `service.name` to the metadata.name of the one to simulate",
                path.display(),
                serving.len(),
                names()
            ))
        }
    };
    let mut m = ServiceManifest {
        name: chosen.name().map(str::to_string),
        annotations: string_map(chosen.get("metadata.annotations")),
        ..ServiceManifest::default()
    };
    if chosen.kind() == "Service" {
        knative_service(chosen, &mut m)?;
    } else {
        kserve::read_inference_service(chosen, &mut m, component)?;
    }
    for doc in &docs {
        if std::ptr::eq(doc, chosen)
            || (component.is_some() && (is_serving(doc) || doc.kind() == "InferenceGraph"))
        {
            continue;
        }
        match (doc.kind(), doc.name()) {
            ("ConfigMap", Some("config-autoscaler")) => {
                m.configmap = Some(configmap_data(doc));
            }
            ("ConfigMap", Some("config-deployment")) => {
                let data = string_map(doc.get("data"));
                if let Some(v) = data.get("progress-deadline") {
                    let d = crate::time::parse_duration(v)
                        .ok()
                        .filter(|d| *d > SimDuration::ZERO)
                        .ok_or_else(|| {
                            doc.error(
                                "data.progress-deadline",
                                format!("{v:?} must be a positive duration such as \"600s\""),
                            )
                        })?;
                    m.progress_deadline = Some(d);
                }
            }
            (kind, n) => {
                let what = if is_serving(doc) {
                    "another serving object; only the one named by service.name is simulated"
                } else {
                    "not read by podscale (only the serving object and the config-autoscaler and config-deployment ConfigMaps are)"
                };
                kserve::ignore(
                    doc,
                    &mut m,
                    "kind",
                    format!("{kind} {:?} is {what}", n.unwrap_or("")),
                );
            }
        }
    }
    Ok(m)
}

fn knative_service(doc: &Doc, m: &mut ServiceManifest) -> Result<(), String> {
    if doc.get("spec.template").is_none() {
        return Err(doc.error("spec", "a Knative Service needs `spec.template`"));
    }
    m.annotations
        .extend(string_map(doc.get("spec.template.metadata.annotations")));
    let as_u32 = |key: &str| -> Result<Option<u32>, String> {
        doc.get(key)
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        doc.error(
                            key,
                            format!("must be a whole number >= 0, got {}", super::show_value(v)),
                        )
                    })
            })
            .transpose()
    };
    m.container_concurrency = as_u32("spec.template.spec.containerConcurrency")?;
    m.timeout_seconds = as_u32("spec.template.spec.timeoutSeconds")?.map(u64::from);
    kserve::knative_container(doc, m)?;
    traffic::read(doc, m)?;
    if doc.get("spec.traffic").is_some() {
        kserve::ignore(doc, m, "spec.traffic", "the traffic split between revisions is not simulated unless the scenario lists the service's `revisions:`; every request goes to the revision of spec.template");
    }
    Ok(())
}

fn configmap_data(doc: &Doc) -> BTreeMap<String, String> {
    // Knative's shipped ConfigMap documents every key under `_example`; it is not configuration.
    string_map(doc.get("data"))
        .into_iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .collect()
}

/// Reads the `data` of a `config-autoscaler` ConfigMap manifest (the one of that name when the file
/// holds several ConfigMaps).
pub fn read_configmap(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let docs = read_docs(path)?;
    let maps: Vec<&Doc> = docs.iter().filter(|d| d.kind() == "ConfigMap").collect();
    let doc = match maps.as_slice() {
        [one] => *one,
        _ => maps
            .iter()
            .find(|d| d.name() == Some("config-autoscaler"))
            .copied()
            .ok_or_else(|| {
                format!(
                    "{}: expected a ConfigMap manifest (kind: ConfigMap, named config-autoscaler when the file holds several) with a `data` map",
                    path.display()
                )
            })?,
    };
    Ok(configmap_data(doc))
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
