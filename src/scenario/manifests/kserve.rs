//! KServe's InferenceService shapes, read into the one service podscale simulates:
//!
//! - `serving.kserve.io/v1beta1` (and `serving.kubeflow.org/v1beta1`): `spec.predictor` with its
//!   autoscaling fields, the model container from `model:` (with `modelFormat`), a framework block
//!   (`sklearn`, `xgboost`, `tensorflow`, `pytorch`, `triton`, `onnx`, `huggingface`, `lightgbm`,
//!   `paddle`, `pmml`) or `containers`;
//! - KFServing `serving.kubeflow.org/v1alpha2`: `spec.default.predictor.<framework>` (or `custom.container`)
//!   with `minReplicas`, `maxReplicas` and `parallelism`, which KFServing wrote as containerConcurrency and
//!   as the target annotation (default target 1 when neither is given);
//! - KFServing `serving.kubeflow.org/v1alpha1` (`kind: KFService`): the framework directly under
//!   `spec.default`.
//!
//! Read through `service.manifest`, only the predictor of the default endpoint is simulated: a
//! transformer and an explainer are reported as ignored (warnings naming file, line and key). Read
//! through a scenario's `kserve:` section (`scenario::kserve_topology`), each v1beta1 component
//! (`spec.predictor`, `spec.transformer`, `spec.explainer`) is read with the same fields (autoscaling
//! fields, annotations, container resources) and becomes a revision of its own. The canary split
//! (`canaryTrafficPercent`, v1alpha2's `spec.canary`) is read into [`super::Canary`]; it is simulated when
//! the scenario lists the service's `revisions:` (else it is a warning too). v1alpha2's canary predictor
//! fields are not read: the canary revision's template is the scenario's last `revisions:` entry.

use super::docs::Doc;
use super::{Ignored, ManifestResources, ServiceManifest};
use crate::autoscaler::hpa::parse_quantity_milli;
use serde_yaml::Value;

const V1BETA1_FRAMEWORKS: &[&str] = &[
    "model",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "lightgbm",
    "paddle",
    "pmml",
];
const V1ALPHA2_FRAMEWORKS: &[&str] = &[
    "custom",
    "tensorflow",
    "triton",
    "tensorrt",
    "xgboost",
    "sklearn",
    "onnx",
    "pytorch",
];
/// Resources the pod model uses; others in a manifest (ephemeral-storage, ...) are reported as ignored.
const RESOURCE_KEYS: &[&str] = &["cpu", "memory", "nvidia.com/gpu"];

pub(super) fn read_inference_service(
    doc: &Doc,
    m: &mut ServiceManifest,
    component: Option<&str>,
) -> Result<(), String> {
    let api = doc.api_version();
    if let Some(c) = component {
        if !["predictor", "transformer", "explainer"].contains(&c) {
            return Err(doc.error(
                "spec",
                format!("{c:?} is not an InferenceService component; allowed: predictor, transformer, explainer"),
            ));
        }
        if c != "predictor" && !api.ends_with("/v1beta1") {
            return Err(doc.error(
                "apiVersion",
                format!("the {c} of a {api} InferenceService is not simulated; write it as serving.kserve.io/v1beta1"),
            ));
        }
    }
    match (api, doc.kind()) {
        ("serving.kserve.io/v1beta1" | "serving.kubeflow.org/v1beta1", "InferenceService") => {
            v1beta1(doc, m, component)
        }
        ("serving.kubeflow.org/v1alpha2", "InferenceService") => v1alpha(doc, m, true),
        ("serving.kubeflow.org/v1alpha1", "KFService") => v1alpha(doc, m, false),
        (api, kind) => Err(doc.error(
            "apiVersion",
            format!(
                "{kind} {api:?} is not a supported InferenceService version; allowed: serving.kserve.io/v1beta1, \
                 serving.kubeflow.org/v1beta1, serving.kubeflow.org/v1alpha2 (InferenceService), \
                 serving.kubeflow.org/v1alpha1 (KFService)"
            ),
        )),
    }
}

/// Explainer model blocks (v1beta1); a transformer is `containers` only.
const EXPLAINERS: &[&str] = &["alibi", "art"];

fn v1beta1(doc: &Doc, m: &mut ServiceManifest, component: Option<&str>) -> Result<(), String> {
    let c = component.unwrap_or("predictor");
    let p = &format!("spec.{c}");
    if c != "predictor" && doc.get(p).is_none() {
        return Err(doc.error("spec", format!("the InferenceService has no `spec.{c}`")));
    }
    if doc.get(p).is_none() {
        return Err(doc.error(
            "spec",
            "a serving.kserve.io/v1beta1 InferenceService needs `spec.predictor` (with `model:`, a framework \
             such as `sklearn:`, or `containers:`)",
        ));
    }
    m.container_concurrency = u32_at(doc, &format!("{p}.containerConcurrency"))?;
    m.min_replicas = u32_at(doc, &format!("{p}.minReplicas"))?;
    m.max_replicas = u32_at(doc, &format!("{p}.maxReplicas"))?;
    m.scale_metric = doc
        .get(&format!("{p}.scaleMetric"))
        .map(|v| {
            v.as_str().map(str::to_string).ok_or_else(|| {
                doc.error(
                    &format!("{p}.scaleMetric"),
                    "must be one of cpu, memory, concurrency, rps",
                )
            })
        })
        .transpose()?;
    m.scale_target = doc
        .get(&format!("{p}.scaleTarget"))
        .map(|v| {
            v.as_f64().ok_or_else(|| {
                doc.error(
                    &format!("{p}.scaleTarget"),
                    format!("must be a number, got {}", super::super::show_value(v)),
                )
            })
        })
        .transpose()?;
    m.timeout_seconds = u32_at(doc, &format!("{p}.timeout"))?.map(u64::from);
    m.annotations
        .extend(super::string_map(doc.get(&format!("{p}.annotations"))));
    if let Some(pct) = percent(doc, &format!("{p}.canaryTrafficPercent"))? {
        if pct < 100 {
            m.canary = Some(super::Canary::Latest(pct));
            ignore(
                doc,
                m,
                &format!("{p}.canaryTrafficPercent"),
                format!(
                    "the canary split ({pct} % to this revision, {} % to the previous one) is not simulated \
                     unless the scenario lists the service's `revisions:`; every request goes to the revision \
                     this manifest describes",
                    100 - pct
                ),
            );
        }
    }
    let frameworks = match c {
        "predictor" => V1BETA1_FRAMEWORKS,
        "explainer" => EXPLAINERS,
        _ => &[],
    };
    container(doc, m, p, frameworks, true)?;
    if component.is_some() {
        return Ok(());
    }
    for c in ["transformer", "explainer"] {
        if doc.get(&format!("spec.{c}")).is_some() {
            ignore(
                doc,
                m,
                &format!("spec.{c}"),
                format!("the {c} component is not simulated by `service.manifest` (only the predictor is; requests go straight to it); name the file in a top-level `kserve: {{manifest: ...}}` to simulate every component"),
            );
        }
    }
    Ok(())
}

/// KFServing v1alpha2 (`spec.default.predictor`) and v1alpha1 (`spec.default`).
fn v1alpha(doc: &Doc, m: &mut ServiceManifest, v1alpha2: bool) -> Result<(), String> {
    let p = if v1alpha2 {
        "spec.default.predictor"
    } else {
        "spec.default"
    };
    if doc.get(p).is_none() {
        return Err(doc.error(
            "spec",
            format!(
                "a {} {} needs `{p}` with one framework ({})",
                doc.api_version(),
                doc.kind(),
                V1ALPHA2_FRAMEWORKS.join(", ")
            ),
        ));
    }
    m.min_replicas = u32_at(doc, &format!("{p}.minReplicas"))?;
    m.max_replicas = u32_at(doc, &format!("{p}.maxReplicas"))?.filter(|&n| n > 0);
    let parallelism = u32_at(doc, &format!("{p}.parallelism"))?.filter(|&n| n > 0);
    m.container_concurrency = parallelism;
    // KFServing wrote the target annotation itself unless the user had: parallelism, else 1.
    m.annotations
        .entry("autoscaling.knative.dev/target".into())
        .or_insert_with(|| parallelism.unwrap_or(1).to_string());
    let frameworks: Vec<&str> = if v1alpha2 {
        V1ALPHA2_FRAMEWORKS.to_vec()
    } else {
        vec![
            "custom",
            "tensorflow",
            "tensorrt",
            "xgboost",
            "sklearn",
            "pytorch",
        ]
    };
    container(doc, m, p, &frameworks, false)?;
    if v1alpha2 {
        for c in ["transformer", "explainer"] {
            let key = format!("spec.default.{c}");
            if doc.get(&key).is_some() {
                ignore(doc, m, &key, format!("the {c} component is not simulated (only the predictor is); requests go straight to the predictor"));
            }
        }
    }
    let pct = percent(doc, "spec.canaryTrafficPercent")?;
    if doc.get("spec.canary").is_some() {
        let pct = pct.unwrap_or(0);
        m.canary = Some(super::Canary::Endpoint(pct));
        ignore(
            doc,
            m,
            "spec.canary",
            format!(
                "the canary endpoint ({pct} % of traffic by canaryTrafficPercent) is not simulated unless \
                 the scenario lists the service's `revisions:` (the canary as the last one); every request goes to \
                 spec.default"
            ),
        );
    } else if pct.is_some_and(|p| p > 0) {
        ignore(
            doc,
            m,
            "spec.canaryTrafficPercent",
            "has no effect without `spec.canary`; every request goes to spec.default",
        );
    }
    Ok(())
}

/// The model container of component `p`: exactly one of `frameworks` (or `containers` in v1beta1).
fn container(
    doc: &Doc,
    m: &mut ServiceManifest,
    p: &str,
    frameworks: &[&str],
    v1beta1: bool,
) -> Result<(), String> {
    let present: Vec<&str> = frameworks
        .iter()
        .copied()
        .filter(|f| doc.get(&format!("{p}.{f}")).is_some())
        .collect();
    let key = match present.as_slice() {
        [] if v1beta1 && doc.get(&format!("{p}.containers")).is_some() => {
            let containers = doc
                .get(&format!("{p}.containers"))
                .and_then(Value::as_sequence)
                .ok_or_else(|| {
                    doc.error(&format!("{p}.containers"), "must be a list of containers")
                })?;
            // KServe's model server container is `kserve-container`; else the first.
            let i = containers
                .iter()
                .position(|c| c.get("name").and_then(Value::as_str) == Some("kserve-container"))
                .unwrap_or(0);
            if containers.len() > 1 {
                ignore(doc, m, &format!("{p}.containers"), format!("only container {i} (the model server) is simulated; the other {} containers take no time and no resources", containers.len() - 1));
            }
            format!("{p}.containers[{i}]")
        }
        [] => return Ok(()), // autoscaling fields only: no container resources
        [one] if *one == "custom" => format!("{p}.custom.container"),
        [one] => format!("{p}.{one}"),
        several => {
            return Err(doc.error(
                &format!("{p}.{}", several[1]),
                format!(
                    "a predictor has exactly one model; found {} (allowed, one of: {})",
                    several.join(", "),
                    frameworks.join(", ")
                ),
            ))
        }
    };
    let value = if key.contains('[') {
        let (list, i) = key
            .trim_end_matches(']')
            .rsplit_once('[')
            .unwrap_or((&key, "0"));
        doc.get(list)
            .and_then(|l| l.get(i.parse::<usize>().unwrap_or(0)))
            .cloned()
    } else {
        doc.get(&key).cloned()
    };
    let Some(resources) = value.as_ref().and_then(|c| c.get("resources")) else {
        return Ok(());
    };
    let rkey = format!("{key}.resources");
    let mut out = ManifestResources {
        key: rkey.clone(),
        ..ManifestResources::default()
    };
    for section in ["requests", "limits"] {
        for (name, q) in super::string_map(resources.get(section)) {
            let k = format!("{rkey}.{section}.{}", quoted(&name));
            if !RESOURCE_KEYS.contains(&name.as_str()) {
                ignore(
                    doc,
                    m,
                    &k,
                    format!(
                        "resource {name:?} is not modelled (only cpu, memory, nvidia.com/gpu are)"
                    ),
                );
                continue;
            }
            match parse_quantity_milli(&q) {
                Ok(v) if v >= 0 => {}
                Ok(_) => return Err(doc.error(&k, format!("{q:?} must not be negative"))),
                Err(e) => return Err(doc.error(&k, e)),
            }
            let map = if section == "requests" {
                &mut out.requests
            } else {
                &mut out.limits
            };
            map.insert(name, q);
        }
    }
    // Kubernetes' own rules, checked here so that the error points into the manifest.
    for name in RESOURCE_KEYS {
        let (Some(r), Some(l)) = (out.requests.get(*name), out.limits.get(*name)) else {
            continue;
        };
        let (rv, lv) = (parse_quantity_milli(r), parse_quantity_milli(l));
        let (Ok(rv), Ok(lv)) = (rv, lv) else { continue };
        if *name == "nvidia.com/gpu" && rv != lv {
            return Err(doc.error(
                &format!("{rkey}.limits.{}", quoted(name)),
                "nvidia.com/gpu requests and limits must be equal (extended resources cannot be overcommitted)",
            ));
        }
        if rv > lv {
            return Err(doc.error(
                &format!("{rkey}.requests.{}", quoted(name)),
                format!(
                    "{r:?} is more than the limit {l:?} (Kubernetes requires request <= limit)"
                ),
            ));
        }
    }
    if let Some(g) = out
        .requests
        .get("nvidia.com/gpu")
        .or(out.limits.get("nvidia.com/gpu"))
    {
        if parse_quantity_milli(g).is_ok_and(|v| v % 1000 != 0) {
            return Err(doc.error(
                &format!("{rkey}.limits.\"nvidia.com/gpu\""),
                format!("{g:?} must be a whole number of GPUs"),
            ));
        }
    }
    if !(out.requests.is_empty() && out.limits.is_empty()) {
        m.resources = Some(out);
    }
    Ok(())
}

/// A key path segment; quoted when it holds dots (`"nvidia.com/gpu"`), as the locator reads them.
fn quoted(name: &str) -> String {
    if name.contains('.') {
        format!("{name:?}")
    } else {
        name.to_string()
    }
}

fn u32_at(doc: &Doc, key: &str) -> Result<Option<u32>, String> {
    doc.get(key)
        .map(|v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    doc.error(
                        key,
                        format!(
                            "must be a whole number >= 0, got {}",
                            super::super::show_value(v)
                        ),
                    )
                })
        })
        .transpose()
}

fn percent(doc: &Doc, key: &str) -> Result<Option<u32>, String> {
    match u32_at(doc, key)? {
        Some(p) if p > 100 => {
            Err(doc.error(key, format!("{p} is outside [0, 100] (a percentage)")))
        }
        p => Ok(p),
    }
}

pub(super) fn ignore(doc: &Doc, m: &mut ServiceManifest, key: &str, message: impl Into<String>) {
    m.ignored.push(Ignored {
        file: doc.file.clone(),
        line: doc.line(key),
        key: key.to_string(),
        message: message.into(),
    });
}

/// The container of a Knative Service's revision template.
pub(super) fn knative_container(doc: &Doc, m: &mut ServiceManifest) -> Result<(), String> {
    container(doc, m, "spec.template.spec", &[], true)
}
