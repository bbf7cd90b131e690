//! The HPA and KEDA parts of `effective_config`: the HorizontalPodAutoscaler spec after the manifest
//! merge and API defaulting with the controller flags, and the KEDA ScaledObject with KEDA's defaults and
//! the HPA it generates.

use super::{entry, Origins};
use crate::autoscaler::hpa::spec::{
    Behavior, HpaConfig, HpaSpec, MetricSpec, MetricTarget, PolicyKind, ScalingRules, SelectPolicy,
};
use crate::autoscaler::keda::adapter::KedaSetup;
use crate::autoscaler::keda::scaler::TriggerKind;
use serde_json::{json, Value};

fn target_json(t: &MetricTarget) -> Value {
    match *t {
        MetricTarget::Utilization(p) => json!({"type": "Utilization", "averageUtilization": p}),
        MetricTarget::AverageValue(m) => {
            json!({"type": "AverageValue", "averageValue": m as f64 / 1000.0})
        }
        MetricTarget::Value(m) => json!({"type": "Value", "value": m as f64 / 1000.0}),
    }
}

fn metric_json(m: &MetricSpec) -> Value {
    match m {
        MetricSpec::Resource {
            resource,
            container,
            target,
        } => match container {
            Some(c) => json!({"type": "ContainerResource", "name": resource, "container": c,
                "target": target_json(target)}),
            None => json!({"type": "Resource", "name": resource, "target": target_json(target)}),
        },
        MetricSpec::Pods { name, target } => {
            json!({"type": "Pods", "name": name, "target": target_json(target)})
        }
        MetricSpec::Object { name, target } => {
            json!({"type": "Object", "name": name, "target": target_json(target)})
        }
        MetricSpec::External { name, target } => {
            json!({"type": "External", "name": name, "target": target_json(target)})
        }
    }
}

fn rules_json(r: &ScalingRules, config: &HpaConfig) -> Value {
    let window = r
        .stabilization_window
        .unwrap_or(config.downscale_stabilization);
    json!({
        "stabilizationWindowSeconds": window.as_secs_f64(),
        "selectPolicy": match r.select_policy {
            SelectPolicy::Max => "Max",
            SelectPolicy::Min => "Min",
            SelectPolicy::Disabled => "Disabled",
        },
        "policies": r.policies.iter().map(|p| json!({
            "type": match p.kind { PolicyKind::Pods => "Pods", PolicyKind::Percent => "Percent" },
            "value": p.value,
            "periodSeconds": p.period.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "tolerance": r.tolerance.unwrap_or(config.tolerance),
    })
}

fn behavior_json(b: &Option<Behavior>, config: &HpaConfig) -> Value {
    match b {
        // Without `behavior` the controller uses its legacy normalization (the flags below).
        None => Value::Null,
        Some(b) => json!({
            "scaleUp": rules_json(&b.scale_up, config),
            "scaleDown": rules_json(&b.scale_down, config),
        }),
    }
}

fn controller_json(origins: &Origins, config: &HpaConfig) -> Value {
    let c = &origins.loaded.spec.autoscaler.controller;
    let src =
        |set: bool, key: &str| set.then(|| origins.scenario(&["autoscaler", "controller", key]));
    json!({
        "sync-period": entry(json!(config.sync_period.to_string()), src(c.sync_period.is_some(), "sync_period")),
        "tolerance": entry(json!(config.tolerance), src(c.tolerance.is_some(), "tolerance")),
        "tolerance-rule": entry(json!(format!("{:?}", config.tolerance_rule).to_lowercase()),
            src(c.tolerance_rule.is_some(), "tolerance_rule")),
        "configurable-tolerance": config.configurable_tolerance,
        "downscale-stabilization": entry(json!(config.downscale_stabilization.to_string()),
            src(c.downscale_stabilization.is_some(), "downscale_stabilization")),
        "cpu-initialization-period": entry(json!(config.cpu_initialization_period.to_string()),
            src(c.cpu_initialization_period.is_some(), "cpu_initialization_period")),
        "initial-readiness-delay": entry(json!(config.initial_readiness_delay.to_string()),
            src(c.initial_readiness_delay.is_some(), "initial_readiness_delay")),
    })
}

/// The HPA section: the spec after the manifest merge and API defaulting, and the controller flags.
pub fn hpa_section(origins: &Origins, setup: &crate::autoscaler::hpa::runtime::HpaSetup) -> Value {
    let a = &origins.loaded.spec.autoscaler;
    let hpa = a.hpa.clone().unwrap_or_default();
    let s = &origins.loaded.spec.service;
    let from_manifest = hpa.manifest.is_some().then_some("manifest");
    let inline = |set: bool, key: &str| set.then(|| origins.scenario(&["autoscaler", "hpa", key]));
    let min_source = inline(hpa.min_replicas.is_some(), "minReplicas")
        .or(s.min_replicas.map(|_| "kserve field"))
        .or(from_manifest);
    let max_source = inline(hpa.max_replicas.is_some(), "maxReplicas")
        .or(s.max_replicas.map(|_| "kserve field"))
        .or(from_manifest);
    let metrics_source = inline(hpa.metrics.is_some(), "metrics").or(from_manifest);
    let behavior_source = inline(hpa.behavior.is_some(), "behavior").or(from_manifest);
    let spec: &HpaSpec = &setup.spec;
    json!({
        "minReplicas": entry(json!(spec.min_replicas), min_source),
        "maxReplicas": entry(json!(spec.max_replicas), max_source),
        "metrics": entry(spec.metrics.iter().map(metric_json).collect(), metrics_source),
        "behavior": entry(behavior_json(&spec.behavior, &setup.config), behavior_source),
        "controller": controller_json(origins, &setup.config),
        "metrics_server": {
            "resolution": setup.metrics_server.resolution.to_string(),
            "phase": setup.metrics_server.phase.to_string(),
            "delay": setup.metrics_server.delay.to_string(),
        },
        "sync_phase": setup.sync_phase.to_string(),
        "initial_replicas": setup.initial_replicas,
        "cron": setup.cron.is_some(),
        "keda_cron_triggers": setup.keda.len(),
    })
}

/// The KEDA section: the ScaledObject with KEDA's defaults applied, and the HPA it generates.
pub fn keda_section(origins: &Origins, setup: &KedaSetup) -> Value {
    use crate::autoscaler::keda::scaledobject::DEFAULT_MAX_REPLICAS;
    let so = &setup.spec;
    let source = if origins.loaded.spec.autoscaler.scaledobject.is_some() {
        origins.scenario(&["autoscaler", "scaledobject"])
    } else {
        "kserve field"
    };
    let triggers: Vec<Value> = so
        .triggers
        .iter()
        .map(|t| {
            let kind = match &t.kind {
                TriggerKind::Prometheus {
                    threshold,
                    activation_threshold,
                    ..
                } => json!({"type": "prometheus", "threshold": threshold,
                    "activationThreshold": activation_threshold}),
                TriggerKind::Resource {
                    resource, target, ..
                } => json!({"type": resource, "target": target_json(target)}),
                TriggerKind::Cron(c) => json!({"type": "cron", "metric": c.metric_name()}),
            };
            json!({"name": t.name, "metricType": format!("{:?}", t.metric_type), "trigger": kind,
                "hpaMetric": t.external_metric_name()})
        })
        .collect();
    let hpa = so.hpa_spec();
    json!({
        "source": source,
        "name": so.name,
        "pollingInterval": format!("{}s", so.polling_interval_s),
        "cooldownPeriod": format!("{}s", so.cooldown_period_s.unwrap_or(300)),
        "initialCooldownPeriod": format!("{}s", so.initial_cooldown_period_s.unwrap_or(0)),
        "minReplicaCount": so.min_replica_count.unwrap_or(0),
        "maxReplicaCount": so.max_replica_count.unwrap_or(DEFAULT_MAX_REPLICAS),
        "idleReplicaCount": so.idle_replica_count,
        "fallback": so.fallback.as_ref().map(|f| json!({
            "failureThreshold": f.failure_threshold,
            "replicas": f.replicas,
            "behavior": format!("{:?}", f.behavior),
        })),
        "triggers": triggers,
        "generated_hpa": {
            "minReplicas": hpa.min_replicas,
            "maxReplicas": hpa.max_replicas,
            "metrics": hpa.metrics.iter().map(metric_json).collect::<Vec<_>>(),
            "behavior": behavior_json(&hpa.behavior, &setup.hpa_config),
            "controller": controller_json(origins, &setup.hpa_config),
        },
        "initial_replicas": setup.initial_replicas,
    })
}
