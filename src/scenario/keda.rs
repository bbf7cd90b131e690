//! Reading a real KEDA ScaledObject manifest (`apiVersion: keda.sh/v1alpha1`, `kind: ScaledObject`) into
//! [`ScaledObjectSpec`], with errors that name the file, the line, the key and what is allowed.
//!
//! Supported: `metadata.name/namespace/annotations` (other metadata ignored); `spec.scaleTargetRef`
//! (`apiVersion` default `apps/v1`, `kind` default `Deployment`, `name` required), `pollingInterval` (30),
//! `cooldownPeriod` (300), `initialCooldownPeriod` (0), `idleReplicaCount`, `minReplicaCount` (0),
//! `maxReplicaCount` (100), `fallback` (`failureThreshold`, `replicas`, `behavior`),
//! `advanced.horizontalPodAutoscalerConfig.behavior` (as an HPA's `behavior`; `name` ignored),
//! `advanced.restoreToOriginalReplicaCount` (accepted: it only matters when the ScaledObject is deleted);
//! triggers of type `prometheus` (`query` in the language of [`crate::autoscaler::keda::scaler`],
//! `threshold`, `activationThreshold`; connection keys such as `serverAddress` are accepted and unused),
//! `cpu` and `memory` (`metricType` Utilization or AverageValue, `metadata.value`, `containerName`) and
//! `cron` (`timezone`, `start`, `end`, `desiredReplicas`). `status` is ignored.
//!
//! Rejected with a located error: other trigger types, `scalingModifiers` (formulas are not evaluated),
//! `ignoreNullValues: false`, unknown keys, and what KEDA's admission webhook rejects
//! (`minReplicaCount > maxReplicaCount`, `idleReplicaCount >= minReplicaCount`, negative counts, fallback
//! without a trigger other than cpu/memory, negative `failureThreshold` or `replicas`).
//!
//! Tested with a realistic vLLM ScaledObject in `tests/keda_manifest.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::autoscaler::cron::KedaCronTrigger;
use crate::autoscaler::hpa::manifest::BehaviorManifest;
use crate::autoscaler::hpa::{parse_quantity_milli, MetricTarget};
use crate::autoscaler::keda::scaledobject::DEFAULT_POLLING_INTERVAL_S;
use crate::autoscaler::keda::{
    FallbackBehavior, FallbackSpec, Query, ScaledObjectSpec, ScalingModifiers, TargetType, Trigger,
    TriggerKind,
};

use super::locate::locate_key_or_parent;
use super::ScenarioError;

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_path_buf(),
            line: locate_key_or_parent(self.text, key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn check_keys(&self, map: &Mapping, path: &str, allowed: &[&str]) -> Result<(), ScenarioError> {
        for key in map.keys() {
            let k = key.as_str().unwrap_or("");
            if !allowed.contains(&k) {
                let full = if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                };
                return Err(self.err(
                    &full,
                    format!(
                        "unsupported field {k:?}; supported here: {}",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn map<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Mapping, ScenarioError> {
        v.as_mapping()
            .ok_or_else(|| self.err(path, "expected a mapping"))
    }

    fn scalar(&self, v: &Value, path: &str) -> Result<String, ScenarioError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.err(path, "expected a string")),
        }
    }

    fn int(
        &self,
        m: &Mapping,
        key: &str,
        path: &str,
        min: i64,
    ) -> Result<Option<i64>, ScenarioError> {
        let full = format!("{path}.{key}");
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if n >= min && n <= i64::from(i32::MAX) => Ok(Some(n)),
                _ => Err(self.err(
                    &full,
                    format!("invalid value {v:?}: expected an integer in [{min}, 2147483647]"),
                )),
            },
        }
    }
}

/// Parses a ScaledObject manifest; `file` is only used in error messages.
pub fn parse_scaled_object(text: &str, file: &Path) -> Result<ScaledObjectSpec, ScenarioError> {
    let cx = Ctx { file, text };
    let doc: Value = serde_yaml::from_str(text).map_err(|e| ScenarioError {
        file: file.to_path_buf(),
        line: e.location().map(|l| l.line()),
        key: String::new(),
        message: format!("not valid YAML: {e}"),
    })?;
    let root = cx.map(&doc, "")?;
    cx.check_keys(
        root,
        "",
        &["apiVersion", "kind", "metadata", "spec", "status"],
    )?;
    let api = root.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if api != "keda.sh/v1alpha1" {
        return Err(cx.err(
            "apiVersion",
            format!("{api:?} is not supported: expected keda.sh/v1alpha1"),
        ));
    }
    let kind = root.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "ScaledObject" {
        return Err(cx.err(
            "kind",
            format!("{kind:?} is not supported: expected ScaledObject"),
        ));
    }
    let empty = Mapping::new();
    let meta = match root.get("metadata") {
        Some(m) => cx.map(m, "metadata")?,
        None => &empty,
    };
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        return Err(cx.err("metadata.name", "required: the ScaledObject's name"));
    }
    let namespace = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let mut annotations = BTreeMap::new();
    if let Some(a) = meta.get("annotations") {
        for (k, v) in cx.map(a, "metadata.annotations")? {
            let k = cx.scalar(k, "metadata.annotations")?;
            let path = format!("metadata.annotations.{k}");
            annotations.insert(k, cx.scalar(v, &path)?);
        }
    }
    let spec = cx.map(root.get("spec").unwrap_or(&Value::Null), "spec")?;
    cx.check_keys(
        spec,
        "spec",
        &[
            "scaleTargetRef",
            "pollingInterval",
            "cooldownPeriod",
            "initialCooldownPeriod",
            "idleReplicaCount",
            "minReplicaCount",
            "maxReplicaCount",
            "fallback",
            "advanced",
            "triggers",
        ],
    )?;
    let target = cx.map(
        spec.get("scaleTargetRef").unwrap_or(&Value::Null),
        "spec.scaleTargetRef",
    )?;
    cx.check_keys(
        target,
        "spec.scaleTargetRef",
        &["apiVersion", "kind", "name", "envSourceContainerName"],
    )?;
    let target_name = target.get("name").and_then(Value::as_str).unwrap_or("");
    if target_name.is_empty() {
        return Err(cx.err(
            "spec.scaleTargetRef.name",
            "required: the Deployment (or other scalable) to scale",
        ));
    }
    let target_kind = format!(
        "{}.{}",
        target
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("apps/v1"),
        target
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("Deployment")
    );
    let sp = "spec";
    let min = cx.int(spec, "minReplicaCount", sp, 0)?.map(|v| v as i32);
    let max = cx.int(spec, "maxReplicaCount", sp, 0)?.map(|v| v as i32);
    let idle = cx.int(spec, "idleReplicaCount", sp, 0)?.map(|v| v as i32);
    let min_or_default = min.unwrap_or(0);
    if let Some(max) = max {
        if min_or_default > max {
            return Err(cx.err(
                "spec.minReplicaCount",
                format!("{min_or_default} is above maxReplicaCount {max}: expected min <= max"),
            ));
        }
    }
    if let Some(idle) = idle {
        if idle >= min_or_default {
            return Err(cx.err(
                "spec.idleReplicaCount",
                format!("{idle} is not below minReplicaCount {min_or_default}: idleReplicaCount must be smaller"),
            ));
        }
    }
    let triggers = parse_triggers(&cx, spec)?;
    let fallback = match spec.get("fallback") {
        None | Some(Value::Null) => None,
        Some(f) => {
            let f = cx.map(f, "spec.fallback")?;
            let fp = "spec.fallback";
            cx.check_keys(f, fp, &["failureThreshold", "replicas", "behavior"])?;
            let failure_threshold = cx.int(f, "failureThreshold", fp, 0)?.ok_or_else(|| {
                cx.err(
                    "spec.fallback.failureThreshold",
                    "required: an integer >= 0",
                )
            })? as i32;
            let replicas = cx
                .int(f, "replicas", fp, 0)?
                .ok_or_else(|| cx.err("spec.fallback.replicas", "required: an integer >= 0"))?
                as i32;
            let behavior = match f.get("behavior").and_then(Value::as_str).unwrap_or("static") {
                b @ ("static" | "currentReplicas" | "currentReplicasIfHigher" | "currentReplicasIfLower") => {
                    FallbackBehavior::parse(b)
                }
                other => {
                    return Err(cx.err(
                        "spec.fallback.behavior",
                        format!("{other:?} is not supported: expected static, currentReplicas, currentReplicasIfHigher or currentReplicasIfLower"),
                    ))
                }
            };
            if triggers
                .iter()
                .all(|t| matches!(t.kind, TriggerKind::Resource { .. }))
            {
                return Err(cx.err(
                    "spec.fallback",
                    "fallback needs at least one trigger that is not cpu or memory",
                ));
            }
            Some(FallbackSpec {
                failure_threshold,
                replicas,
                behavior,
            })
        }
    };
    let behavior = parse_advanced(&cx, spec)?;
    Ok(ScaledObjectSpec {
        name,
        namespace,
        target_kind,
        target_name: target_name.to_string(),
        polling_interval_s: cx
            .int(spec, "pollingInterval", sp, 1)?
            .map_or(DEFAULT_POLLING_INTERVAL_S, |v| v as u64),
        cooldown_period_s: cx.int(spec, "cooldownPeriod", sp, 0)?.map(|v| v as u64),
        initial_cooldown_period_s: cx
            .int(spec, "initialCooldownPeriod", sp, 0)?
            .map(|v| v as u64),
        min_replica_count: min,
        max_replica_count: max,
        idle_replica_count: idle,
        fallback,
        behavior,
        scaling_modifiers: ScalingModifiers::default(),
        annotations,
        triggers,
    })
}

fn parse_advanced(
    cx: &Ctx,
    spec: &Mapping,
) -> Result<Option<crate::autoscaler::hpa::Behavior>, ScenarioError> {
    let Some(adv) = spec.get("advanced") else {
        return Ok(None);
    };
    let ap = "spec.advanced";
    let adv = cx.map(adv, ap)?;
    cx.check_keys(
        adv,
        ap,
        &[
            "restoreToOriginalReplicaCount",
            "horizontalPodAutoscalerConfig",
            "scalingModifiers",
        ],
    )?;
    if adv.contains_key("scalingModifiers") {
        return Err(cx.err(
            "spec.advanced.scalingModifiers",
            "scalingModifiers formulas are not modelled: remove it and use one trigger per metric",
        ));
    }
    let Some(hpa) = adv.get("horizontalPodAutoscalerConfig") else {
        return Ok(None);
    };
    let hp = "spec.advanced.horizontalPodAutoscalerConfig";
    let hpa = cx.map(hpa, hp)?;
    cx.check_keys(hpa, hp, &["name", "behavior"])?;
    let Some(b) = hpa.get("behavior") else {
        return Ok(None);
    };
    let bp = format!("{hp}.behavior");
    let manifest: BehaviorManifest = serde_yaml::from_value(b.clone())
        .map_err(|e| cx.err(&bp, format!("not a valid HPA behavior: {e}")))?;
    manifest.to_behavior(&bp).map(Some).map_err(|e| {
        let key = match &e {
            crate::autoscaler::hpa::HpaManifestError::InvalidField { field, .. }
            | crate::autoscaler::hpa::HpaManifestError::MissingField { field } => field.clone(),
            _ => bp.clone(),
        };
        cx.err(&key, e.to_string())
    })
}

const PROMETHEUS_CONNECTION_KEYS: &[&str] = &[
    "serverAddress",
    "namespace",
    "authModes",
    "customHeaders",
    "unsafeSsl",
    "queryParameters",
    "timeout",
    "cortexOrgID",
];

fn parse_triggers(cx: &Ctx, spec: &Mapping) -> Result<Vec<Trigger>, ScenarioError> {
    let list = spec
        .get("triggers")
        .and_then(Value::as_sequence)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| cx.err("spec.triggers", "required: a non-empty list of triggers"))?;
    let mut out = Vec::new();
    for (index, t) in list.iter().enumerate() {
        let tp = format!("spec.triggers[{index}]");
        let t = cx.map(t, &tp)?;
        cx.check_keys(
            t,
            &tp,
            &[
                "type",
                "name",
                "metadata",
                "metricType",
                "useCachedMetrics",
                "authenticationRef",
            ],
        )?;
        let mut metadata = BTreeMap::new();
        if let Some(m) = t.get("metadata") {
            for (k, v) in cx.map(m, &format!("{tp}.metadata"))? {
                let k = cx.scalar(k, &format!("{tp}.metadata"))?;
                let path = format!("{tp}.metadata.{k}");
                metadata.insert(k, cx.scalar(v, &path)?);
            }
        }
        let metric_type = t.get("metricType").and_then(Value::as_str).unwrap_or("");
        let kind_text = t.get("type").and_then(Value::as_str).unwrap_or("");
        let type_error = || {
            cx.err(
                &format!("{tp}.type"),
                format!("trigger type {kind_text:?} is not modelled: expected prometheus, cpu, memory or cron"),
            )
        };
        // Checked first so a bad type is reported before anything that depends on it.
        if !matches!(kind_text, "prometheus" | "cpu" | "memory" | "cron") {
            return Err(type_error());
        }
        let mp = |k: &str| format!("{tp}.metadata.{k}");
        let float = |k: &str, default: Option<f64>| -> Result<f64, ScenarioError> {
            match metadata.get(k) {
                None => default.ok_or_else(|| cx.err(&mp(k), "required: a number")),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| cx.err(&mp(k), format!("{v:?} is not a number"))),
            }
        };
        let external_type = match metric_type {
            "" | "AverageValue" => TargetType::AverageValue,
            "Value" => TargetType::Value,
            _ if matches!(kind_text, "cpu" | "memory") => TargetType::AverageValue,
            other => {
                return Err(cx.err(
                    &format!("{tp}.metricType"),
                    format!("{other:?}: expected AverageValue or Value"),
                ))
            }
        };
        let kind = match kind_text {
            "prometheus" => {
                for k in metadata.keys() {
                    let known = [
                        "query",
                        "threshold",
                        "activationThreshold",
                        "ignoreNullValues",
                    ];
                    if !known.contains(&k.as_str())
                        && !PROMETHEUS_CONNECTION_KEYS.contains(&k.as_str())
                    {
                        return Err(cx.err(
                            &mp(k),
                            format!("unsupported prometheus metadata {k:?}; supported: query, threshold, activationThreshold, ignoreNullValues (true), and connection keys (unused)"),
                        ));
                    }
                }
                if metadata
                    .get("ignoreNullValues")
                    .is_some_and(|v| v != "true")
                {
                    return Err(cx.err(
                        &mp("ignoreNullValues"),
                        "only true (the default) is modelled",
                    ));
                }
                let q = metadata.get("query").ok_or_else(|| {
                    cx.err(
                        &mp("query"),
                        "required: a query over the simulator's metrics",
                    )
                })?;
                let query = Query::parse(q).map_err(|e| cx.err(&mp("query"), e.to_string()))?;
                TriggerKind::Prometheus {
                    query,
                    threshold: float("threshold", None)?,
                    activation_threshold: float("activationThreshold", Some(0.0))?,
                }
            }
            "cpu" | "memory" => {
                let value = metadata
                    .get("value")
                    .ok_or_else(|| cx.err(&mp("value"), "required: the target value"))?;
                let target = match metric_type {
                    "" | "Utilization" => MetricTarget::Utilization(
                        value
                            .trim()
                            .parse::<i32>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| {
                                cx.err(
                                    &mp("value"),
                                    format!("{value:?}: expected a whole percent > 0"),
                                )
                            })?,
                    ),
                    "AverageValue" => MetricTarget::AverageValue(
                        parse_quantity_milli(value)
                            .ok()
                            .filter(|m| *m > 0)
                            .ok_or_else(|| {
                                cx.err(
                                    &mp("value"),
                                    format!("{value:?}: expected a positive quantity"),
                                )
                            })?,
                    ),
                    other => {
                        return Err(cx.err(
                            &format!("{tp}.metricType"),
                            format!(
                            "{other:?}: a {kind_text} trigger takes Utilization or AverageValue"
                        ),
                        ))
                    }
                };
                TriggerKind::Resource {
                    resource: kind_text.to_string(),
                    container: metadata.get("containerName").cloned(),
                    target,
                }
            }
            "cron" => TriggerKind::Cron(Box::new(
                KedaCronTrigger::from_metadata(&metadata, index)
                    .map_err(|e| cx.err(&format!("{tp}.metadata"), e.to_string()))?,
            )),
            _ => return Err(type_error()),
        };
        out.push(Trigger {
            index,
            name: t.get("name").and_then(Value::as_str).map(str::to_string),
            metric_type: external_type,
            kind,
        });
    }
    Ok(out)
}

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
    loaded: &super::LoadedScenario,
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
    let max_pods = super::limits::MAX_PODS as i64;
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
        .unwrap_or(super::hpa::DEFAULT_START_TIME);
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
