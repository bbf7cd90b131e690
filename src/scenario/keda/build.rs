//! From a scenario's `autoscaler` section to the KEDA setup the loop runs: the ScaledObject from a manifest
//! path, an inline manifest, or the one KServe generates from the service fields; replica counts checked
//! against the simulator's pod limit; the cron epoch from `start_time`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use crate::scenario::ScenarioError;

use super::parse_scaled_object;

/// The service fields a generated (KServe) ScaledObject is made from.
pub struct KedaServiceView<'a> {
    pub name: String,
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
    pub scale_metric: Option<&'a str>,
    pub scale_target: Option<f64>,
    pub annotations: &'a BTreeMap<String, String>,
    pub initial_pods: Option<u32>,
}

/// Builds the KEDA mode for class `keda`: the ScaledObject from `autoscaler.scaledobject` (a manifest path,
/// or the manifest inline), else the one KServe generates from the service fields
/// ([`crate::autoscaler::keda::kserve::resolve`] in Standard mode). Pushes located errors and returns
/// `None` on failure.
pub fn build_keda(
    loaded: &crate::scenario::LoadedScenario,
    service: &KedaServiceView<'_>,
    errors: &mut Vec<ScenarioError>,
    settings: &mut BTreeMap<String, String>,
) -> Option<crate::autoscaler::keda::adapter::KedaSetup> {
    use crate::autoscaler::keda::kserve::{
        resolve, Autoscaler, ComponentScaling, DeploymentMode, KServeVersion,
    };
    let spec = match &loaded.spec.autoscaler.scaledobject {
        Some(Value::String(rel)) => {
            let path = loaded.base_dir.join(rel);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(loaded.error_at(
                        "autoscaler.scaledobject",
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    return None;
                }
            };
            match parse_scaled_object(&text, &path) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(e);
                    return None;
                }
            }
        }
        Some(v @ Value::Mapping(_)) => {
            // Inline: read as its own document, errors reported at the scenario's key with the field path.
            let text = serde_yaml::to_string(v).unwrap_or_default();
            match parse_scaled_object(&text, Path::new("<inline>")) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(
                        loaded.error_at(&format!("autoscaler.scaledobject.{}", e.key), e.message),
                    );
                    return None;
                }
            }
        }
        Some(_) => {
            errors.push(loaded.error_at(
                "autoscaler.scaledobject",
                "expected a path to a ScaledObject manifest or the manifest inline (a mapping)",
            ));
            return None;
        }
        None => {
            let component = ComponentScaling {
                name: service.name.clone(),
                namespace: "default".into(),
                annotations: service.annotations.clone(),
                min_replicas: service.min_replicas.map(|m| m as i32),
                max_replicas: service.max_replicas.unwrap_or(0) as i32,
                scale_metric: service.scale_metric.map(str::to_string),
                scale_target: service.scale_target.map(|t| t as i32),
                metrics: Vec::new(),
                behavior: None,
            };
            match resolve(
                KServeVersion::NEWEST,
                Some(DeploymentMode::Standard),
                &component,
            ) {
                Ok(r) => match r.autoscaler {
                    Autoscaler::Keda(s) => *s,
                    _ => {
                        errors.push(loaded.error_at(
                            "autoscaler.scaledobject",
                            "class keda needs a ScaledObject: give autoscaler.scaledobject, or the annotation serving.kserve.io/autoscalerClass: keda",
                        ));
                        return None;
                    }
                },
                Err(e) => {
                    errors.push(loaded.error_at("service.annotations", e.to_string()));
                    return None;
                }
            }
        }
    };
    // Replica counts beyond the simulator's pod limit would make a run build that many pods.
    let max_pods = crate::scenario::limits::MAX_PODS as i64;
    let counts = [
        (
            "spec.maxReplicaCount",
            spec.max_replica_count
                .unwrap_or(crate::autoscaler::keda::scaledobject::DEFAULT_MAX_REPLICAS),
        ),
        ("spec.minReplicaCount", spec.min_replica_count.unwrap_or(0)),
        (
            "spec.idleReplicaCount",
            spec.idle_replica_count.unwrap_or(0),
        ),
        (
            "spec.fallback.replicas",
            spec.fallback.as_ref().map_or(0, |f| f.replicas),
        ),
        (
            "metadata.annotations.autoscaling.keda.sh/paused-replicas",
            spec.paused_replicas().unwrap_or(0),
        ),
    ];
    for (key, value) in counts {
        if i64::from(value) > max_pods {
            errors.push(loaded.error_at(
                "autoscaler.scaledobject",
                format!("{key}: {value} pods is too many; allowed: 0 to {max_pods}"),
            ));
            return None;
        }
    }
    let start_text = loaded
        .spec
        .start_time
        .as_deref()
        .unwrap_or(crate::scenario::hpa::DEFAULT_START_TIME);
    let epoch = match chrono::DateTime::parse_from_rfc3339(start_text) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(e) => {
            errors.push(loaded.error_at(
                "start_time",
                format!("\"{start_text}\" is not an RFC 3339 time ({e})"),
            ));
            return None;
        }
    };
    let min = spec.min_replica_count.unwrap_or(0).max(0) as u32;
    let initial_replicas = service.initial_pods.unwrap_or(min.max(1));
    settings.insert("scaledobject".into(), spec.name.clone());
    settings.insert(
        "pollingInterval".into(),
        format!("{}s", spec.polling_interval_s),
    );
    settings.insert("min-scale".into(), min.to_string());
    if let Some(idle) = spec.idle_replica_count {
        settings.insert("idleReplicaCount".into(), idle.to_string());
    }
    Some(crate::autoscaler::keda::adapter::KedaSetup {
        spec,
        hpa_config: crate::autoscaler::hpa::HpaConfig::default(),
        epoch,
        initial_replicas,
    })
}
