//! Per-revision scaling: [`resolve_revision`] layers a revision's `autoscaling.knative.dev/*` annotations
//! (kebab-case keys, legacy camelCase aliases accepted) over the cluster [`AutoscalerConfig`] and derives the
//! [`RevisionScaling`] the KPA models run with; [`kserve_annotations`] maps a KServe InferenceService
//! component onto those annotations. Durations are [`SimDuration`]; counts are pods. Validation shares the
//! ConfigMap reader of [`super`], so errors have the same shape (key, value, what is allowed).

use std::collections::BTreeMap;

use super::{
    to_count, unknown_key, whole_seconds, AutoscalerConfig, ConfigError, Reader,
    ANNOTATION_DURATION_MAX, ANNOTATION_PREFIX, HPA_CLASS, KPA_CLASS, RPS_TARGET_UTILIZATION,
    TARGET_MIN, WINDOW_MAX, WINDOW_MIN,
};
use crate::autoscaler::kpa::aggregation::AggregationAlgorithm;
use crate::autoscaler::kpa::decider::DeciderSpec;
use crate::autoscaler::kpa::ScalingMetric;
use crate::time::SimDuration;

/// Everything the simulator needs to run one revision's KPA.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionScaling {
    /// The decider's inputs; `reachable` starts true (a route references the revision): the simulator
    /// flips it when it models unreferenced revisions.
    pub decider: DeciderSpec,
    pub stable_window: SimDuration,
    pub panic_window: SimDuration,
    pub aggregation: AggregationAlgorithm,
    pub metric: ScalingMetric,
    pub min_scale: u32,
    /// 0 means unlimited.
    pub max_scale: u32,
    pub initial_scale: u32,
    pub enable_scale_to_zero: bool,
    pub scale_to_zero_grace_period: SimDuration,
    pub scale_to_zero_pod_retention_period: SimDuration,
    pub activator_capacity: f64,
    pub container_concurrency: u32,
    /// False iff target-burst-capacity is -1: only activators feed the metric and an empty window is (0, 0).
    pub scrape_target_set: bool,
}

/// Annotation names without the prefix, each with its legacy camelCase alias if it has one.
const ANNOTATIONS: &[(&str, Option<&str>)] = &[
    ("class", None),
    ("metric", None),
    ("target", None),
    (
        "target-utilization-percentage",
        Some("targetUtilizationPercentage"),
    ),
    ("target-burst-capacity", Some("targetBurstCapacity")),
    ("window", None),
    ("panic-window-percentage", Some("panicWindowPercentage")),
    (
        "panic-threshold-percentage",
        Some("panicThresholdPercentage"),
    ),
    ("min-scale", Some("minScale")),
    ("max-scale", Some("maxScale")),
    ("initial-scale", Some("initialScale")),
    ("activation-scale", None),
    ("scale-down-delay", Some("scaleDownDelay")),
    (
        "scale-to-zero-pod-retention-period",
        Some("scaleToZeroPodRetentionPeriod"),
    ),
    (
        "metric-aggregation-algorithm",
        Some("metricAggregationAlgorithm"),
    ),
];

/// Resolves a revision's scaling from the cluster config, its annotations and its `containerConcurrency`
/// (0 = unlimited). All annotation errors are returned together.
pub fn resolve_revision(
    config: &AutoscalerConfig,
    annotations: &BTreeMap<String, String>,
    container_concurrency: u32,
) -> Result<RevisionScaling, Vec<ConfigError>> {
    // Normalise to full kebab-case keys; the kebab-case key wins over its alias.
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut errors = Vec::new();
    let known: Vec<String> = ANNOTATIONS
        .iter()
        .flat_map(|(name, alias)| std::iter::once(*name).chain(*alias))
        .map(|n| format!("{ANNOTATION_PREFIX}{n}"))
        .collect();
    let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
    for (key, value) in annotations {
        let Some(name) = key.strip_prefix(ANNOTATION_PREFIX) else {
            continue;
        };
        match ANNOTATIONS
            .iter()
            .find(|(kebab, alias)| *kebab == name || *alias == Some(name))
        {
            Some((kebab, _)) => {
                let full = format!("{ANNOTATION_PREFIX}{kebab}");
                if *kebab == name || !values.contains_key(&full) {
                    values.insert(full, value.clone());
                }
            }
            None => errors.push(unknown_key(key, value, &known_refs)),
        }
    }
    let key = |name: &str| format!("{ANNOTATION_PREFIX}{name}");
    let mut r = Reader {
        values: &values,
        errors,
    };

    let class = values
        .get(&key("class"))
        .cloned()
        .unwrap_or_else(|| config.pod_autoscaler_class.clone());
    if class == HPA_CLASS {
        r.fail(
            &key("class"),
            "selects the HPA; this resolves KPA revisions only (use the HPA model)",
        );
    } else if class != KPA_CLASS {
        r.fail(&key("class"), format!("must be {KPA_CLASS} or {HPA_CLASS}"));
    }
    let metric = match values.get(&key("metric")).map(String::as_str) {
        None | Some("concurrency") => ScalingMetric::Concurrency,
        Some("rps") => ScalingMetric::Rps,
        Some(_) => {
            r.fail(
                &key("metric"),
                format!("must be \"concurrency\" or \"rps\" for class {KPA_CLASS}"),
            );
            ScalingMetric::Concurrency
        }
    };
    let aggregation = match values
        .get(&key("metric-aggregation-algorithm"))
        .map(String::as_str)
    {
        None | Some("linear") => AggregationAlgorithm::Linear,
        Some("weighted-exponential") | Some("weightedExponential") => {
            AggregationAlgorithm::WeightedExponential
        }
        Some(_) => {
            r.fail(
                &key("metric-aggregation-algorithm"),
                "must be \"linear\", \"weighted-exponential\" or \"weightedExponential\"",
            );
            AggregationAlgorithm::Linear
        }
    };

    // ResolveMetricTarget.
    let (mut total, mut utilization) = match metric {
        ScalingMetric::Rps => (
            config.requests_per_second_target_default,
            RPS_TARGET_UTILIZATION,
        ),
        ScalingMetric::Concurrency if container_concurrency > 0 => (
            container_concurrency as f64,
            config.container_concurrency_target_fraction,
        ),
        ScalingMetric::Concurrency => (
            config.container_concurrency_target_default,
            config.container_concurrency_target_fraction,
        ),
    };
    if values.contains_key(&key("target")) {
        let target = r.float(&key("target"), total);
        if target < TARGET_MIN {
            r.fail(&key("target"), format!("must be at least {TARGET_MIN}"));
        }
        total = if metric == ScalingMetric::Concurrency && container_concurrency > 0 {
            target.min(container_concurrency as f64)
        } else {
            target
        };
    }
    if values.contains_key(&key("target-utilization-percentage")) {
        let percentage = r.float(&key("target-utilization-percentage"), utilization * 100.0);
        if !(1.0..=100.0).contains(&percentage) {
            r.fail(
                &key("target-utilization-percentage"),
                "must be within [1, 100]",
            );
        }
        utilization = percentage / 100.0;
    }

    let tbc = r.float(&key("target-burst-capacity"), config.target_burst_capacity);
    if tbc < 0.0 && tbc != -1.0 {
        r.fail(
            &key("target-burst-capacity"),
            "must be at least 0, or exactly -1 (unlimited)",
        );
    }
    let stable_window = r.duration(&key("window"), config.stable_window);
    if values.contains_key(&key("window")) {
        if stable_window < WINDOW_MIN || stable_window > WINDOW_MAX {
            r.fail(&key("window"), "must be within [6s, 1h]");
        } else if !whole_seconds(stable_window) {
            r.fail(&key("window"), "must be a whole number of seconds");
        }
    }
    let panic_window_percentage = r.float(
        &key("panic-window-percentage"),
        config.panic_window_percentage,
    );
    if !(1.0..=100.0).contains(&panic_window_percentage) {
        r.fail(&key("panic-window-percentage"), "must be within [1, 100]");
    }
    let panic_threshold_percentage = r.float(
        &key("panic-threshold-percentage"),
        config.panic_threshold_percentage,
    );
    if values.contains_key(&key("panic-threshold-percentage"))
        && !(110.0..=1000.0).contains(&panic_threshold_percentage)
    {
        r.fail(
            &key("panic-threshold-percentage"),
            "must be within [110, 1000]",
        );
    }
    let delay = r.duration(&key("scale-down-delay"), config.scale_down_delay);
    if values.contains_key(&key("scale-down-delay"))
        && (delay > ANNOTATION_DURATION_MAX || !whole_seconds(delay))
    {
        r.fail(
            &key("scale-down-delay"),
            "must be within [0s, 1h] in whole seconds",
        );
    }
    let retention = r.duration(
        &key("scale-to-zero-pod-retention-period"),
        config.scale_to_zero_pod_retention_period,
    );
    if retention > ANNOTATION_DURATION_MAX {
        r.fail(
            &key("scale-to-zero-pod-retention-period"),
            "must be within [0s, 1h]",
        );
    }

    let min_raw = r.int(&key("min-scale"), config.min_scale as i64);
    let min_scale = to_count(&mut r, &key("min-scale"), min_raw, "at least 0");
    let max_raw = r.int(&key("max-scale"), config.max_scale as i64);
    let max_scale = to_count(&mut r, &key("max-scale"), max_raw, "at least 0");
    if config.max_scale_limit > 0 && (max_scale == 0 || max_scale > config.max_scale_limit) {
        r.fail(
            &key("max-scale"),
            format!(
                "must be within [1, {}] (max-scale-limit)",
                config.max_scale_limit
            ),
        );
    }
    if max_scale > 0 && min_scale > max_scale {
        r.fail(
            &key("min-scale"),
            format!("must not exceed max-scale ({max_scale})"),
        );
    }
    let initial_scale = if values.contains_key(&key("initial-scale")) {
        let raw = r.int(&key("initial-scale"), config.initial_scale as i64);
        let value = to_count(&mut r, &key("initial-scale"), raw, "at least 0");
        if value == 0 && raw == 0 && !config.allow_zero_initial_scale {
            r.fail(
                &key("initial-scale"),
                "must be at least 1 (0 needs allow-zero-initial-scale: \"true\" in config-autoscaler)",
            );
        }
        value
    } else {
        config.initial_scale
    };
    let activation_scale = if values.contains_key(&key("activation-scale")) {
        let raw = r.int(&key("activation-scale"), 0);
        let upper = if max_scale > 0 {
            max_scale as i64
        } else {
            i32::MAX as i64
        };
        if raw < 2 || raw > upper || raw < min_scale as i64 {
            let allowed = if max_scale > 0 {
                format!("within [max(2, min-scale), {max_scale} (max-scale)]")
            } else {
                "at least 2 and at least min-scale".to_string()
            };
            r.fail(&key("activation-scale"), format!("must be {allowed}"));
        }
        raw.clamp(0, i32::MAX as i64) as i32
    } else {
        0
    };

    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    let stable_secs = stable_window.as_secs_f64();
    // Go's Duration.Round: to the nearest second, halves away from zero.
    let panic_secs = (stable_secs * panic_window_percentage / 100.0)
        .round()
        .max(1.0);
    let panic_window = SimDuration::from_secs(panic_secs as u64);
    let decider = DeciderSpec {
        target_value: (total * utilization).max(TARGET_MIN),
        total_value: total,
        target_burst_capacity: tbc,
        panic_threshold: panic_threshold_percentage / 100.0,
        max_scale_up_rate: config.max_scale_up_rate,
        max_scale_down_rate: config.max_scale_down_rate,
        activator_capacity: config.activator_capacity,
        stable_window,
        scale_down_delay: delay,
        reachable: true,
        activation_scale,
        scaling_metric: metric,
    };
    Ok(RevisionScaling {
        decider,
        stable_window,
        panic_window,
        aggregation,
        metric,
        min_scale,
        max_scale,
        initial_scale,
        enable_scale_to_zero: config.enable_scale_to_zero,
        scale_to_zero_grace_period: config.scale_to_zero_grace_period,
        scale_to_zero_pod_retention_period: retention,
        activator_capacity: config.activator_capacity,
        container_concurrency,
        scrape_target_set: tbc != -1.0,
    })
}

/// The autoscaling fields of a KServe InferenceService component (predictor, transformer, explainer).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KServeComponent {
    /// `scaleMetric`: concurrency, rps (cpu/memory need the HPA and are passed through for it to reject).
    pub scale_metric: Option<String>,
    /// `scaleTarget`: becomes the `target` annotation, i.e. the per-pod *total*.
    pub scale_target: Option<u32>,
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
    /// `containerConcurrency`: the revision's hard limit (0 = unlimited).
    pub container_concurrency: Option<u32>,
    /// Annotations on the InferenceService, passed through to the revision.
    pub annotations: BTreeMap<String, String>,
}

/// KServe's `DefaultMinReplicas`, applied when `minReplicas` is unset.
pub const KSERVE_DEFAULT_MIN_REPLICAS: u32 = 1;

/// KServe's mapping to the Knative revision: returns the revision annotations and its containerConcurrency.
/// `allow_zero_initial_scale` is the cluster's config-autoscaler setting (KServe adds `initial-scale: "0"`
/// for `minReplicas: 0` only when it is true).
pub fn kserve_annotations(
    component: &KServeComponent,
    allow_zero_initial_scale: bool,
) -> (BTreeMap<String, String>, u32) {
    let mut annotations = component.annotations.clone();
    let key = |name: &str| format!("{ANNOTATION_PREFIX}{name}");
    annotations
        .entry(key("class"))
        .or_insert_with(|| KPA_CLASS.to_string());
    if let Some(target) = component.scale_target {
        annotations.insert(key("target"), target.to_string());
    }
    if let Some(metric) = &component.scale_metric {
        annotations.insert(key("metric"), metric.clone());
    }
    let min_replicas = component
        .min_replicas
        .unwrap_or(KSERVE_DEFAULT_MIN_REPLICAS);
    annotations.insert(key("min-scale"), min_replicas.to_string());
    if min_replicas == 0 && allow_zero_initial_scale {
        annotations.insert(key("initial-scale"), "0".to_string());
    }
    if let Some(max) = component.max_replicas.filter(|&m| m != 0) {
        annotations.insert(key("max-scale"), max.to_string());
    }
    (annotations, component.container_concurrency.unwrap_or(0))
}
