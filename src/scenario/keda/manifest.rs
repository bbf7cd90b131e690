//! The ScaledObject document: `apiVersion`, `kind`, `metadata`, and `spec` apart from its triggers
//! (scale target, polling and cooldown periods, replica counts with the admission webhook's checks,
//! `fallback`, and `advanced` with the HPA behavior).

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::autoscaler::hpa::manifest::BehaviorManifest;
use crate::autoscaler::keda::scaledobject::DEFAULT_POLLING_INTERVAL_S;
use crate::autoscaler::keda::{
    FallbackBehavior, FallbackSpec, ScaledObjectSpec, ScalingModifiers, TriggerKind,
};
use crate::scenario::ScenarioError;

use super::ctx::Ctx;
use super::triggers::parse_triggers;

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
