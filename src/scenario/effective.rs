//! `effective_config` in `summary.json`: the values a run actually used, after every layer is resolved
//! (Knative's defaults, the `config-autoscaler` ConfigMap, the scenario's `autoscaler.config`, KServe's
//! mapping of `scaleTarget`/`minReplicas`/`maxReplicas`/`scaleMetric` onto revision annotations, the
//! user's annotations, the HPA manifest merge, the KEDA ScaledObject, `--set`), not the document as
//! written.
//!
//! Shape (documented in README's output section): one object per concern (`autoscaler`, `kpa`, `hpa`,
//! `keda`, `pod`, `request_path`, `traffic`, `cluster`). A value that is the model's default is written
//! bare; any other value is `{"value": v, "source": s}` with `s` one of `configmap`, `scenario`,
//! `--set`, `annotation`, `kserve field`, `kserve default`, `manifest`, `containerConcurrency`.
//! Durations are strings with their unit ("60s"), rates are factors, percentages are named so.
//!
//! Simplification: sources are tracked per key for the KPA (where several layers meet); for the HPA,
//! KEDA, pod and traffic sections a value says `scenario`/`manifest` at the granularity the scenario
//! reader keeps (the inline field versus the referenced manifest), not per nested field.

use super::locate::{split_path, Segment};
use super::LoadedScenario;
use crate::autoscaler::hpa::spec::{
    Behavior, HpaConfig, HpaSpec, MetricSpec, MetricTarget, PolicyKind, ScalingRules, SelectPolicy,
};
use crate::autoscaler::keda::adapter::KedaSetup;
use crate::autoscaler::keda::scaler::TriggerKind;
use crate::autoscaler::kpa;
use crate::autoscaler::kpa::config::ANNOTATION_PREFIX;
use crate::sim::{AutoscalerMode, SimConfig};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// `v` bare when `source` is `None` (the default), else `{"value": v, "source": source}`.
pub fn entry(value: Value, source: Option<&str>) -> Value {
    match source {
        None => value,
        Some(s) => json!({"value": value, "source": s}),
    }
}

/// Where the scenario's own keys came from: the file or a `--set` override.
pub struct Origins<'a> {
    loaded: &'a LoadedScenario,
}

impl<'a> Origins<'a> {
    pub fn new(loaded: &'a LoadedScenario) -> Self {
        Origins { loaded }
    }

    /// `--set` when an override names `path` (dotted, as the user writes it) or a parent of it, else
    /// `scenario`.
    pub fn scenario(&self, path: &[&str]) -> &'static str {
        let set = self.loaded.overrides.iter().any(|o| {
            let key = o.split_once('=').map_or(o.as_str(), |(k, _)| k);
            let segments: Vec<String> = split_path(key.trim())
                .into_iter()
                .filter_map(|s| match s {
                    Segment::Key(k) => Some(k),
                    Segment::Index(_) => None,
                })
                .collect();
            !segments.is_empty()
                && segments.len() <= path.len()
                && segments.iter().zip(path).all(|(a, b)| a == b)
        });
        if set {
            "--set"
        } else {
            "scenario"
        }
    }
}

/// What the KPA resolution saw, kept by [`super::build::prepare`] for the effective configuration.
pub struct KpaInputs<'a> {
    /// Data of the referenced `config-autoscaler` manifest (before the scenario's `config` keys).
    pub configmap: &'a BTreeMap<String, String>,
    /// The cluster configuration after ConfigMap, scenario keys and Knative's defaults.
    pub config: &'a kpa::AutoscalerConfig,
    /// The user's annotations (manifest and scenario), before KServe's mapping.
    pub user_annotations: &'a BTreeMap<String, String>,
    /// Annotations written by the scenario itself (the rest came from the service manifest).
    pub scenario_annotations: &'a BTreeMap<String, String>,
    /// The revision annotations after KServe's mapping.
    pub revision_annotations: &'a BTreeMap<String, String>,
    pub component: &'a kpa::KServeComponent,
}

/// The KPA section: every config-autoscaler key and revision setting, resolved, with its source.
pub fn kpa_section(origins: &Origins, inputs: &KpaInputs, setup: &crate::sim::KpaSetup) -> Value {
    let scaling = &setup.scaling;
    let d = &scaling.decider;
    let config = inputs.config;
    let scenario_config = &origins.loaded.spec.autoscaler.config;
    // A config-autoscaler key: the scenario's `autoscaler.config` wins over the ConfigMap file.
    let config_source = |key: &str| -> Option<&'static str> {
        if scenario_config.contains_key(key) {
            Some(origins.scenario(&["autoscaler", "config", key]))
        } else if inputs.configmap.contains_key(key) {
            Some("configmap")
        } else {
            None
        }
    };
    // A user annotation (kebab-case name or its legacy alias).
    let annotation_source = |name: &str, alias: Option<&str>| -> Option<&'static str> {
        let full = format!("{ANNOTATION_PREFIX}{name}");
        let alias = alias.map(|a| format!("{ANNOTATION_PREFIX}{a}"));
        let key = [Some(full), alias]
            .into_iter()
            .flatten()
            .find(|k| inputs.user_annotations.contains_key(k))?;
        if inputs.scenario_annotations.contains_key(&key) {
            Some(origins.scenario(&["service", "annotations", &key]))
        } else {
            Some("annotation")
        }
    };
    // A revision setting: KServe's field, else the user's annotation, else the cluster key.
    let revision_source = |name: &str, alias: Option<&str>, cluster_key: Option<&str>| {
        annotation_source(name, alias).or_else(|| cluster_key.and_then(config_source))
    };
    let c = inputs.component;
    let target_source = if c.scale_target.is_some() {
        Some("kserve field")
    } else if let Some(s) = annotation_source("target", None) {
        Some(s)
    } else if scaling.metric == kpa::ScalingMetric::Concurrency && scaling.container_concurrency > 0
    {
        Some("containerConcurrency")
    } else if scaling.metric == kpa::ScalingMetric::Rps {
        config_source("requests-per-second-target-default")
    } else {
        config_source("container-concurrency-target-default")
    };
    let metric_source = if c.scale_metric.is_some() {
        Some("kserve field")
    } else {
        annotation_source("metric", None)
    };
    let min_source = if c.min_replicas.is_some() {
        Some("kserve field")
    } else if let Some(s) = annotation_source("min-scale", Some("minScale")) {
        // KServe writes minReplicas over the annotation; unset minReplicas means its default (1).
        Some(s)
    } else {
        Some("kserve default")
    };
    let max_source = if c.max_replicas.is_some_and(|m| m != 0) {
        Some("kserve field")
    } else {
        revision_source("max-scale", Some("maxScale"), Some("max-scale"))
    };
    let initial_source = if c.min_replicas == Some(0)
        && config.allow_zero_initial_scale
        && annotation_source("initial-scale", Some("initialScale")).is_none()
    {
        Some("kserve field")
    } else {
        revision_source("initial-scale", Some("initialScale"), Some("initial-scale"))
    };
    let panic_window_pct = inputs
        .revision_annotations
        .get(&format!("{ANNOTATION_PREFIX}panic-window-percentage"))
        .or_else(|| {
            inputs
                .revision_annotations
                .get(&format!("{ANNOTATION_PREFIX}panicWindowPercentage"))
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(config.panic_window_percentage);
    let utilization_source = revision_source(
        "target-utilization-percentage",
        Some("targetUtilizationPercentage"),
        (scaling.metric == kpa::ScalingMetric::Concurrency)
            .then_some("container-concurrency-target-percentage"),
    );
    let utilization = d.target_value / d.total_value.max(f64::MIN_POSITIVE);
    let class = inputs
        .revision_annotations
        .get(&format!("{ANNOTATION_PREFIX}class"))
        .cloned()
        .unwrap_or_else(|| config.pod_autoscaler_class.clone());
    let aggregation = match scaling.aggregation {
        kpa::AggregationAlgorithm::Linear => "linear",
        kpa::AggregationAlgorithm::WeightedExponential => "weighted-exponential",
    };
    let metric = match scaling.metric {
        kpa::ScalingMetric::Concurrency => "concurrency",
        kpa::ScalingMetric::Rps => "rps",
    };
    let mut m = Map::new();
    let mut put = |key: &str, value: Value, source: Option<&str>| {
        m.insert(key.to_string(), entry(value, source));
    };
    put(
        "class",
        json!(class),
        revision_source("class", None, Some("pod-autoscaler-class")),
    );
    put("metric", json!(metric), metric_source);
    put(
        "metric-aggregation-algorithm",
        json!(aggregation),
        annotation_source(
            "metric-aggregation-algorithm",
            Some("metricAggregationAlgorithm"),
        ),
    );
    put("target", json!(d.total_value), target_source);
    put(
        "target-utilization-percentage",
        json!(round6(utilization * 100.0)),
        utilization_source,
    );
    put(
        "container-concurrency-target-default",
        json!(config.container_concurrency_target_default),
        config_source("container-concurrency-target-default"),
    );
    put(
        "requests-per-second-target-default",
        json!(config.requests_per_second_target_default),
        config_source("requests-per-second-target-default"),
    );
    put(
        "target-burst-capacity",
        json!(d.target_burst_capacity),
        revision_source(
            "target-burst-capacity",
            Some("targetBurstCapacity"),
            Some("target-burst-capacity"),
        ),
    );
    put(
        "stable-window",
        json!(scaling.stable_window.to_string()),
        revision_source("window", None, Some("stable-window")),
    );
    put(
        "panic-window-percentage",
        json!(panic_window_pct),
        revision_source(
            "panic-window-percentage",
            Some("panicWindowPercentage"),
            Some("panic-window-percentage"),
        ),
    );
    put(
        "panic-threshold-percentage",
        json!(round6(d.panic_threshold * 100.0)),
        revision_source(
            "panic-threshold-percentage",
            Some("panicThresholdPercentage"),
            Some("panic-threshold-percentage"),
        ),
    );
    put(
        "max-scale-up-rate",
        json!(d.max_scale_up_rate),
        config_source("max-scale-up-rate"),
    );
    put(
        "max-scale-down-rate",
        json!(d.max_scale_down_rate),
        config_source("max-scale-down-rate"),
    );
    put(
        "activator-capacity",
        json!(d.activator_capacity),
        config_source("activator-capacity"),
    );
    put(
        "enable-scale-to-zero",
        json!(scaling.enable_scale_to_zero),
        config_source("enable-scale-to-zero"),
    );
    put(
        "scale-to-zero-grace-period",
        json!(scaling.scale_to_zero_grace_period.to_string()),
        config_source("scale-to-zero-grace-period"),
    );
    put(
        "scale-to-zero-pod-retention-period",
        json!(scaling.scale_to_zero_pod_retention_period.to_string()),
        revision_source(
            "scale-to-zero-pod-retention-period",
            Some("scaleToZeroPodRetentionPeriod"),
            Some("scale-to-zero-pod-retention-period"),
        ),
    );
    put(
        "scale-down-delay",
        json!(d.scale_down_delay.to_string()),
        revision_source(
            "scale-down-delay",
            Some("scaleDownDelay"),
            Some("scale-down-delay"),
        ),
    );
    put(
        "initial-scale",
        json!(scaling.initial_scale),
        initial_source,
    );
    put(
        "allow-zero-initial-scale",
        json!(config.allow_zero_initial_scale),
        config_source("allow-zero-initial-scale"),
    );
    put("min-scale", json!(scaling.min_scale), min_source);
    put("max-scale", json!(scaling.max_scale), max_source);
    put(
        "max-scale-limit",
        json!(config.max_scale_limit),
        config_source("max-scale-limit"),
    );
    put(
        "activation-scale",
        json!(d.activation_scale.max(1)),
        annotation_source("activation-scale", None),
    );
    put(
        "progress-deadline",
        json!(setup.progress_deadline.to_string()),
        origins
            .loaded
            .spec
            .autoscaler
            .progress_deadline
            .map(|_| origins.scenario(&["autoscaler", "progress_deadline"]))
            .or_else(|| {
                setup
                    .annotations
                    .contains_key("serving.knative.dev/progress-deadline")
                    .then_some("annotation")
            }),
    );
    m.insert(
        "derived".into(),
        json!({
            "panic-window": scaling.panic_window.to_string(),
            "target-per-pod": round6(d.target_value),
            "panic-threshold": round6(d.panic_threshold),
            "scrape-target-set": scaling.scrape_target_set,
        }),
    );
    m.insert(
        "revision_annotations".into(),
        json!(inputs.revision_annotations),
    );
    Value::Object(m)
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

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
pub fn hpa_section(origins: &Origins, setup: &crate::sim::HpaSetup) -> Value {
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

/// Everything else a run used: the pod model, the request path, traffic and the cluster.
pub struct RunInputs<'a> {
    pub class: &'a str,
    pub container_concurrency: u32,
    /// Where `containerConcurrency` came from (`None` = Knative's default 0, unlimited).
    pub cc_source: Option<&'static str>,
    pub timeout_source: Option<&'static str>,
    pub kpa: Option<Value>,
    pub keda: Option<Value>,
}

/// The whole `effective_config` object.
pub fn build(origins: &Origins, config: &SimConfig, inputs: RunInputs) -> Value {
    let spec = &origins.loaded.spec;
    let mut root = Map::new();
    root.insert("name".into(), json!(config.name));
    root.insert("seed".into(), json!(config.seed));
    root.insert(
        "duration".into(),
        json!(config.traffic_duration.to_string()),
    );
    root.insert("cooldown".into(), json!(config.cooldown.to_string()));
    let mut autoscaler = json!({ "class": inputs.class });
    match &config.autoscaler {
        AutoscalerMode::Fixed { replicas } => {
            autoscaler["replicas"] = json!(replicas);
        }
        AutoscalerMode::Kpa(setup) => {
            autoscaler["reconcile_delay"] = json!(setup.reconcile_delay.to_string());
            autoscaler["initial_state"] =
                json!(format!("{:?}", setup.initial_state).to_lowercase());
            autoscaler["warm_pods"] = json!(setup.warm_pods);
            autoscaler["reachable"] = json!(setup.scaling.decider.reachable);
            if let Some(k) = inputs.kpa {
                root.insert("kpa".into(), k);
            }
        }
        AutoscalerMode::Hpa(setup) => {
            root.insert("hpa".into(), hpa_section(origins, setup));
        }
        AutoscalerMode::Custom(_) => {
            if let Some(k) = inputs.keda {
                root.insert("keda".into(), k);
            }
        }
    }
    if config.standalone_cron.is_some() {
        autoscaler["cron"] = json!(true);
    }
    root.insert("autoscaler".into(), autoscaler);
    let pod = &spec.pod;
    let pod_source = |key: &str, set: bool| set.then(|| origins.scenario(&["pod", key]));
    let mut pod_json = json!({
        "containerConcurrency": entry(json!(inputs.container_concurrency), inputs.cc_source),
        "service_model": config.pod_model.service.label(),
        "service_time": config.service_time.describe(),
        "cold_start": if config.pod_model.phases.is_some() {
            serde_json::to_value(&pod.phases).unwrap_or(Value::Null)
        } else {
            json!(config.cold_start.describe())
        },
        "termination_grace": config.termination_grace.to_string(),
        "service": serde_json::to_value(&pod.service).unwrap_or(Value::Null),
        "resources": serde_json::to_value(&pod.resources).unwrap_or(Value::Null),
        "usage": serde_json::to_value(&pod.usage).unwrap_or(Value::Null),
    });
    if let Some(p) = &pod.preset {
        pod_json["preset"] = entry(json!(p), pod_source("preset", true));
    }
    root.insert("pod".into(), pod_json);
    let [client, ingress, network] = &config.request_path;
    root.insert(
        "request_path".into(),
        json!({
            "client": client.describe(),
            "ingress": ingress.describe(),
            "network": network.describe(),
            "timeout": entry(json!(config.request_timeout.to_string()), inputs.timeout_source),
            "activator": match &config.autoscaler {
                AutoscalerMode::Kpa(setup) => json!({
                    "in_path": "when excess burst capacity < 0 or no pod is ready",
                    "capacity": setup.scaling.activator_capacity,
                    "target-burst-capacity": setup.scaling.decider.target_burst_capacity,
                    "probe_delay": setup.activator_probe_delay.to_string(),
                }),
                _ => json!({"in_path": "never (requests go straight to the pods)"}),
            },
        }),
    );
    let traffic_params = origins
        .loaded
        .document
        .get("traffic")
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or(Value::Null);
    root.insert(
        "traffic".into(),
        json!({
            "kind": traffic_params.get("kind").cloned().unwrap_or(Value::Null),
            "resolved": spec.traffic.describe(),
            "params": traffic_params,
        }),
    );
    root.insert(
        "cluster".into(),
        match &spec.cluster {
            Some(c) => entry(
                serde_json::to_value(c).unwrap_or(Value::Null),
                Some(origins.scenario(&["cluster"])),
            ),
            None => json!("one node of unlimited capacity (no `cluster` section)"),
        },
    );
    Value::Object(root)
}
