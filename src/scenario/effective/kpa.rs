//! The KPA part of `effective_config`: every `config-autoscaler` key and revision setting after the
//! ConfigMap, the scenario's keys, KServe's mapping and the annotations, each with its source.

use super::{entry, Origins};
use crate::autoscaler::kpa;
use crate::autoscaler::kpa::config::ANNOTATION_PREFIX;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

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
pub fn kpa_section(
    origins: &Origins,
    inputs: &KpaInputs,
    setup: &crate::autoscaler::kpa::adapter::KpaSetup,
) -> Value {
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
