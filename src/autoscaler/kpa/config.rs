//! Knative autoscaling configuration: the `config-autoscaler` ConfigMap, the per-revision
//! `autoscaling.knative.dev/*` annotations, and KServe's InferenceService mapping (spec §1, §2, §11).
//!
//! [`AutoscalerConfig::from_configmap`] reads the ConfigMap's string values with Knative's key names and
//! formats ("60s", "200", "true"), applies Knative's defaults and validation, and reports **every** problem
//! at once. [`resolve_revision`] layers a revision's annotations (kebab-case keys; the legacy camelCase
//! aliases are accepted and lose to the kebab-case key) over the cluster config and derives what the models
//! need: the [`DeciderSpec`] (target and total per `ResolveMetricTarget`, panic threshold as a fraction),
//! the stable and panic windows (panic = stable x percentage, rounded to the nearest second, at least 1 s),
//! the aggregation algorithm, bounds and scale-to-zero settings.
//!
//! Deliberate differences from Knative: unknown ConfigMap keys and unknown `autoscaling.knative.dev/*`
//! annotations are errors with a near-miss suggestion (Knative ignores them, which hides typos in a
//! simulation input); keys starting with `_` (the shipped `_example` block) are ignored. The HPA class is
//! recognised but rejected by [`resolve_revision`], which only configures the KPA.

use std::collections::BTreeMap;
use std::fmt;

use super::aggregation::AggregationAlgorithm;
use super::decider::DeciderSpec;
use super::ScalingMetric;
use crate::time::{parse_duration, SimDuration};

/// Annotation prefix of Knative's per-revision autoscaling settings.
pub const ANNOTATION_PREFIX: &str = "autoscaling.knative.dev/";
/// Class value of the Knative Pod Autoscaler.
pub const KPA_CLASS: &str = "kpa.autoscaling.knative.dev";
/// Class value of the HPA-backed Knative autoscaler.
pub const HPA_CLASS: &str = "hpa.autoscaling.knative.dev";
/// Smallest target Knative allows (`TargetMin`).
pub const TARGET_MIN: f64 = 0.01;
/// Utilization Knative uses for the rps metric (an internal default, not a ConfigMap key).
pub const RPS_TARGET_UTILIZATION: f64 = 0.7;
const WINDOW_MIN: SimDuration = SimDuration::from_secs(6);
const WINDOW_MAX: SimDuration = SimDuration::from_secs(3600);
const ANNOTATION_DURATION_MAX: SimDuration = SimDuration::from_secs(3600);

/// One invalid setting: the key, the value as given, and what is wrong or allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub key: String,
    pub value: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?} {}", self.key, self.value, self.message)
    }
}

impl ConfigError {
    fn new(key: &str, value: &str, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_string(),
            value: value.to_string(),
            message: message.into(),
        }
    }
}

/// The cluster-wide `config-autoscaler` settings, with Knative's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoscalerConfig {
    /// `container-concurrency-target-percentage` as a fraction (70 -> 0.7).
    pub container_concurrency_target_fraction: f64,
    pub container_concurrency_target_default: f64,
    pub requests_per_second_target_default: f64,
    pub target_burst_capacity: f64,
    pub stable_window: SimDuration,
    pub panic_window_percentage: f64,
    pub panic_threshold_percentage: f64,
    pub max_scale_up_rate: f64,
    pub max_scale_down_rate: f64,
    pub activator_capacity: f64,
    pub enable_scale_to_zero: bool,
    pub scale_to_zero_grace_period: SimDuration,
    pub scale_to_zero_pod_retention_period: SimDuration,
    pub scale_down_delay: SimDuration,
    pub initial_scale: u32,
    pub allow_zero_initial_scale: bool,
    pub min_scale: u32,
    /// 0 means unlimited.
    pub max_scale: u32,
    /// 0 means no cap on max-scale.
    pub max_scale_limit: u32,
    pub pod_autoscaler_class: String,
}

impl Default for AutoscalerConfig {
    fn default() -> Self {
        AutoscalerConfig {
            container_concurrency_target_fraction: 0.7,
            container_concurrency_target_default: 100.0,
            requests_per_second_target_default: 200.0,
            target_burst_capacity: 211.0,
            stable_window: SimDuration::from_secs(60),
            panic_window_percentage: 10.0,
            panic_threshold_percentage: 200.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            activator_capacity: 100.0,
            enable_scale_to_zero: true,
            scale_to_zero_grace_period: SimDuration::from_secs(30),
            scale_to_zero_pod_retention_period: SimDuration::ZERO,
            scale_down_delay: SimDuration::ZERO,
            initial_scale: 1,
            allow_zero_initial_scale: false,
            min_scale: 0,
            max_scale: 0,
            max_scale_limit: 0,
            pod_autoscaler_class: KPA_CLASS.to_string(),
        }
    }
}

const CONFIGMAP_KEYS: &[&str] = &[
    "container-concurrency-target-percentage",
    "container-concurrency-target-default",
    "requests-per-second-target-default",
    "target-burst-capacity",
    "stable-window",
    "panic-window-percentage",
    "panic-threshold-percentage",
    "max-scale-up-rate",
    "max-scale-down-rate",
    "activator-capacity",
    "enable-scale-to-zero",
    "scale-to-zero-grace-period",
    "scale-to-zero-pod-retention-period",
    "scale-down-delay",
    "initial-scale",
    "allow-zero-initial-scale",
    "min-scale",
    "max-scale",
    "max-scale-limit",
    "pod-autoscaler-class",
];

/// Parses values and collects errors for one map of settings.
struct Reader<'a> {
    values: &'a BTreeMap<String, String>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn float(&mut self, key: &str, default: f64) -> f64 {
        let Some(raw) = self.values.get(key) else {
            return default;
        };
        match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.errors
                    .push(ConfigError::new(key, raw, "is not a number"));
                default
            }
        }
    }
    fn int(&mut self, key: &str, default: i64) -> i64 {
        let Some(raw) = self.values.get(key) else {
            return default;
        };
        raw.trim().parse::<i64>().unwrap_or_else(|_| {
            self.errors
                .push(ConfigError::new(key, raw, "is not an integer"));
            default
        })
    }
    fn boolean(&mut self, key: &str, default: bool) -> bool {
        let Some(raw) = self.values.get(key) else {
            return default;
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                self.errors
                    .push(ConfigError::new(key, raw, "must be \"true\" or \"false\""));
                default
            }
        }
    }
    fn duration(&mut self, key: &str, default: SimDuration) -> SimDuration {
        let Some(raw) = self.values.get(key) else {
            return default;
        };
        parse_duration(raw).unwrap_or_else(|e| {
            self.errors.push(ConfigError::new(
                key,
                raw,
                format!("is not a duration: {e}"),
            ));
            default
        })
    }
    fn raw(&self, key: &str) -> String {
        self.values.get(key).cloned().unwrap_or_default()
    }
    fn fail(&mut self, key: &str, message: impl Into<String>) {
        let value = self.raw(key);
        self.errors.push(ConfigError::new(key, &value, message));
    }
}

fn whole_seconds(d: SimDuration) -> bool {
    d.as_nanos().is_multiple_of(1_000_000_000)
}

/// A non-negative integer that fits Knative's `int32`, or an error naming `key`.
fn to_count(reader: &mut Reader, key: &str, value: i64, allowed: &str) -> u32 {
    if (0..=i32::MAX as i64).contains(&value) {
        value as u32
    } else {
        reader.fail(key, format!("must be {allowed}"));
        0
    }
}

impl AutoscalerConfig {
    /// Reads the `config-autoscaler` ConfigMap data. Missing keys take Knative's defaults. All errors are
    /// returned together.
    pub fn from_configmap(
        data: &BTreeMap<String, String>,
    ) -> Result<AutoscalerConfig, Vec<ConfigError>> {
        let d = AutoscalerConfig::default();
        let mut r = Reader {
            values: data,
            errors: Vec::new(),
        };
        for (key, value) in data {
            if !key.starts_with('_') && !CONFIGMAP_KEYS.contains(&key.as_str()) {
                r.errors.push(unknown_key(key, value, CONFIGMAP_KEYS));
            }
        }
        let mut fraction = r.float("container-concurrency-target-percentage", 70.0);
        // Knative accepts both a fraction and a percentage: values above 1 are percentages.
        if fraction > 1.0 {
            fraction /= 100.0;
        }
        let cc_default = r.float(
            "container-concurrency-target-default",
            d.container_concurrency_target_default,
        );
        let rps_default = r.float(
            "requests-per-second-target-default",
            d.requests_per_second_target_default,
        );
        let tbc = r.float("target-burst-capacity", d.target_burst_capacity);
        let stable_window = r.duration("stable-window", d.stable_window);
        let panic_window_percentage = r.float("panic-window-percentage", d.panic_window_percentage);
        let panic_threshold_percentage =
            r.float("panic-threshold-percentage", d.panic_threshold_percentage);
        let up_rate = r.float("max-scale-up-rate", d.max_scale_up_rate);
        let down_rate = r.float("max-scale-down-rate", d.max_scale_down_rate);
        let activator_capacity = r.float("activator-capacity", d.activator_capacity);
        let enable_scale_to_zero = r.boolean("enable-scale-to-zero", d.enable_scale_to_zero);
        let grace = r.duration("scale-to-zero-grace-period", d.scale_to_zero_grace_period);
        let retention = r.duration(
            "scale-to-zero-pod-retention-period",
            d.scale_to_zero_pod_retention_period,
        );
        let delay = r.duration("scale-down-delay", d.scale_down_delay);
        let allow_zero_initial_scale =
            r.boolean("allow-zero-initial-scale", d.allow_zero_initial_scale);
        let initial_scale = r.int("initial-scale", d.initial_scale as i64);
        let min_scale = r.int("min-scale", 0);
        let max_scale = r.int("max-scale", 0);
        let max_scale_limit = r.int("max-scale-limit", 0);
        let class = data
            .get("pod-autoscaler-class")
            .cloned()
            .unwrap_or(d.pod_autoscaler_class);

        if !(fraction > 0.0 && fraction <= 1.0) {
            r.fail(
                "container-concurrency-target-percentage",
                "must be within (0, 100]",
            );
        } else if fraction * cc_default < TARGET_MIN {
            r.fail(
                "container-concurrency-target-percentage",
                format!(
                    "with container-concurrency-target-default {cc_default} gives a target of {}, must be at least {TARGET_MIN}",
                    fraction * cc_default
                ),
            );
        }
        if rps_default < TARGET_MIN {
            r.fail(
                "requests-per-second-target-default",
                format!("must be at least {TARGET_MIN}"),
            );
        }
        if tbc < 0.0 && tbc != -1.0 {
            r.fail(
                "target-burst-capacity",
                "must be at least 0, or exactly -1 (unlimited)",
            );
        }
        if stable_window < WINDOW_MIN || stable_window > WINDOW_MAX {
            r.fail("stable-window", "must be within [6s, 1h]");
        } else if !whole_seconds(stable_window) {
            r.fail("stable-window", "must be a whole number of seconds");
        }
        if !(1.0..=100.0).contains(&panic_window_percentage) {
            r.fail("panic-window-percentage", "must be within [1, 100]");
        }
        if up_rate <= 1.0 {
            r.fail("max-scale-up-rate", "must be greater than 1.0");
        }
        if down_rate <= 1.0 {
            r.fail("max-scale-down-rate", "must be greater than 1.0");
        }
        if activator_capacity < 1.0 {
            r.fail("activator-capacity", "must be at least 1");
        }
        if grace == SimDuration::ZERO {
            r.fail("scale-to-zero-grace-period", "must be positive");
        }
        if !whole_seconds(delay) {
            r.fail("scale-down-delay", "must be a whole number of seconds");
        }
        let initial_allowed = if allow_zero_initial_scale {
            "at least 0"
        } else {
            "at least 1 (0 needs allow-zero-initial-scale: \"true\")"
        };
        let initial_scale = to_count(&mut r, "initial-scale", initial_scale, initial_allowed);
        if initial_scale == 0
            && !allow_zero_initial_scale
            && !r.errors.iter().any(|e| e.key == "initial-scale")
        {
            r.fail("initial-scale", format!("must be {initial_allowed}"));
        }
        let max_scale_limit = to_count(&mut r, "max-scale-limit", max_scale_limit, "at least 0");
        let max_scale = to_count(&mut r, "max-scale", max_scale, "at least 0");
        if max_scale_limit > 0 && (max_scale == 0 || max_scale > max_scale_limit) {
            r.fail(
                "max-scale",
                format!("must be within [1, {max_scale_limit}] (max-scale-limit)"),
            );
        }
        let min_scale = to_count(&mut r, "min-scale", min_scale, "at least 0");
        if max_scale > 0 && min_scale > max_scale {
            r.fail(
                "min-scale",
                format!("must be within [0, {max_scale}] (max-scale)"),
            );
        }
        if class != KPA_CLASS && class != HPA_CLASS {
            r.fail(
                "pod-autoscaler-class",
                format!("must be {KPA_CLASS} or {HPA_CLASS}"),
            );
        }

        if !r.errors.is_empty() {
            return Err(r.errors);
        }
        Ok(AutoscalerConfig {
            container_concurrency_target_fraction: fraction,
            container_concurrency_target_default: cc_default,
            requests_per_second_target_default: rps_default,
            target_burst_capacity: tbc,
            stable_window,
            panic_window_percentage,
            panic_threshold_percentage,
            max_scale_up_rate: up_rate,
            max_scale_down_rate: down_rate,
            activator_capacity,
            enable_scale_to_zero,
            scale_to_zero_grace_period: grace,
            scale_to_zero_pod_retention_period: retention,
            scale_down_delay: delay,
            initial_scale,
            allow_zero_initial_scale,
            min_scale,
            max_scale,
            max_scale_limit,
            pod_autoscaler_class: class,
        })
    }
}

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

/// An "unknown key" error, with the closest known key if it is a plausible typo.
fn unknown_key(key: &str, value: &str, known: &[&str]) -> ConfigError {
    let best = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .min()
        .filter(|(distance, k)| *distance <= 3.max(k.len() / 5));
    let message = match best {
        Some((_, suggestion)) => format!("is set on an unknown key; did you mean {suggestion:?}?"),
        None => "is set on an unknown key".to_string(),
    };
    ConfigError::new(key, value, message)
}

/// Levenshtein distance (byte-wise; keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn annotation(name: &str, value: &str) -> (String, String) {
        (format!("{ANNOTATION_PREFIX}{name}"), value.to_string())
    }

    fn errors_for(pairs: &[(&str, &str)]) -> Vec<ConfigError> {
        AutoscalerConfig::from_configmap(&map(pairs)).expect_err("expected errors")
    }

    #[test]
    fn empty_configmap_gives_knative_defaults() {
        let config = AutoscalerConfig::from_configmap(&BTreeMap::new()).unwrap();
        assert_eq!(config, AutoscalerConfig::default());
        assert_eq!(config.container_concurrency_target_fraction, 0.7);
        assert_eq!(config.target_burst_capacity, 211.0);
    }

    #[test]
    fn values_parse_in_knative_formats() {
        let config = AutoscalerConfig::from_configmap(&map(&[
            ("stable-window", "1m30s"),
            ("container-concurrency-target-percentage", "80"),
            ("enable-scale-to-zero", "false"),
            ("max-scale-up-rate", "10"),
            ("_example", "ignored documentation block"),
        ]))
        .unwrap();
        assert_eq!(config.stable_window, SimDuration::from_secs(90));
        assert!((config.container_concurrency_target_fraction - 0.8).abs() < 1e-12);
        assert!(!config.enable_scale_to_zero);
        assert_eq!(config.max_scale_up_rate, 10.0);
    }

    #[test]
    fn each_configmap_rule_is_enforced_and_all_errors_are_collected() {
        let cases: &[(&str, &str)] = &[
            ("container-concurrency-target-percentage", "0"),
            ("requests-per-second-target-default", "0.001"),
            ("target-burst-capacity", "-2"),
            ("stable-window", "5s"),
            ("panic-window-percentage", "0.5"),
            ("max-scale-up-rate", "1"),
            ("max-scale-down-rate", "0.5"),
            ("activator-capacity", "0.5"),
            ("scale-to-zero-grace-period", "0s"),
            ("scale-down-delay", "1500ms"),
            ("initial-scale", "0"),
            ("max-scale", "-1"),
            ("enable-scale-to-zero", "yes"),
            ("min-scale", "many"),
        ];
        for (key, value) in cases {
            let errors = errors_for(&[(key, value)]);
            assert_eq!(errors.len(), 1, "{key}={value}: {errors:?}");
            assert_eq!(errors[0].key, *key);
            assert_eq!(errors[0].value, *value);
        }
        let all = errors_for(cases);
        assert_eq!(all.len(), cases.len(), "{all:?}");
    }

    #[test]
    fn error_display_names_key_value_and_range() {
        let errors = errors_for(&[("stable-window", "5s")]);
        assert_eq!(
            errors[0].to_string(),
            "stable-window: \"5s\" must be within [6s, 1h]"
        );
    }

    #[test]
    fn cross_key_rules() {
        let errors = errors_for(&[("min-scale", "5"), ("max-scale", "3")]);
        assert_eq!(errors[0].key, "min-scale");
        let errors = errors_for(&[("max-scale-limit", "10"), ("max-scale", "20")]);
        assert_eq!(errors[0].key, "max-scale");
        let errors = errors_for(&[
            ("container-concurrency-target-percentage", "1"),
            ("container-concurrency-target-default", "0.005"),
        ]);
        assert_eq!(errors[0].key, "container-concurrency-target-percentage");
        assert!(AutoscalerConfig::from_configmap(&map(&[
            ("initial-scale", "0"),
            ("allow-zero-initial-scale", "true")
        ]))
        .is_ok());
    }

    #[test]
    fn unknown_key_suggests_the_near_miss() {
        let errors = errors_for(&[("stable-windw", "60s")]);
        assert_eq!(errors[0].key, "stable-windw");
        assert!(
            errors[0].message.contains("did you mean \"stable-window\""),
            "{}",
            errors[0]
        );
        let errors = errors_for(&[("completely-unrelated-setting", "1")]);
        assert!(!errors[0].message.contains("did you mean"), "{}", errors[0]);
    }

    #[test]
    fn metric_target_resolution_matches_knative_examples() {
        let config = AutoscalerConfig::default();
        let none = BTreeMap::new();
        let cc10 = resolve_revision(&config, &none, 10).unwrap();
        assert!((cc10.decider.target_value - 7.0).abs() < 1e-9);
        assert_eq!(cc10.decider.total_value, 10.0);
        let cc0 = resolve_revision(&config, &none, 0).unwrap();
        assert!((cc0.decider.target_value - 70.0).abs() < 1e-9);
        assert_eq!(cc0.panic_window, SimDuration::from_secs(6));
        assert_eq!(cc0.decider.panic_threshold, 2.0);
        let rps: BTreeMap<_, _> = [annotation("metric", "rps")].into_iter().collect();
        let rps = resolve_revision(&config, &rps, 0).unwrap();
        assert!((rps.decider.target_value - 140.0).abs() < 1e-9);
        assert_eq!(rps.decider.total_value, 200.0);
        // The target annotation is capped by containerConcurrency for the concurrency metric.
        let target: BTreeMap<_, _> = [annotation("target", "50")].into_iter().collect();
        let capped = resolve_revision(&config, &target, 10).unwrap();
        assert_eq!(capped.decider.total_value, 10.0);
    }

    #[test]
    fn panic_window_rounds_to_the_nearest_second_at_least_one() {
        let config = AutoscalerConfig::default();
        let with = |window: &str, pct: &str| {
            let a: BTreeMap<_, _> = [
                annotation("window", window),
                annotation("panic-window-percentage", pct),
            ]
            .into_iter()
            .collect();
            resolve_revision(&config, &a, 0).unwrap().panic_window
        };
        assert_eq!(with("6s", "10"), SimDuration::from_secs(1));
        assert_eq!(
            with("15s", "10"),
            SimDuration::from_secs(2),
            "1.5 s rounds half away from zero"
        );
        assert_eq!(with("60s", "1"), SimDuration::from_secs(1));
        assert_eq!(with("120s", "20"), SimDuration::from_secs(24));
    }

    #[test]
    fn kebab_case_annotation_wins_over_legacy_alias() {
        let config = AutoscalerConfig::default();
        let a: BTreeMap<_, _> = [annotation("minScale", "2"), annotation("min-scale", "3")]
            .into_iter()
            .collect();
        assert_eq!(resolve_revision(&config, &a, 0).unwrap().min_scale, 3);
        let alias_only: BTreeMap<_, _> = [annotation("maxScale", "7")].into_iter().collect();
        assert_eq!(
            resolve_revision(&config, &alias_only, 0).unwrap().max_scale,
            7
        );
    }

    #[test]
    fn each_annotation_rule_is_enforced() {
        let config = AutoscalerConfig::default();
        let cases: &[(&str, &str)] = &[
            ("target", "0.001"),
            ("target-utilization-percentage", "0.5"),
            ("target-burst-capacity", "-5"),
            ("window", "2h"),
            ("panic-window-percentage", "101"),
            ("panic-threshold-percentage", "100"),
            ("initial-scale", "0"),
            ("activation-scale", "1"),
            ("scale-down-delay", "2h"),
            ("scale-to-zero-pod-retention-period", "61m"),
            ("metric", "cpu"),
            ("metric-aggregation-algorithm", "median"),
            ("class", "hpa.autoscaling.knative.dev"),
            ("taget", "10"),
        ];
        for (name, value) in cases {
            let a: BTreeMap<_, _> = [annotation(name, value)].into_iter().collect();
            let errors = resolve_revision(&config, &a, 0).expect_err(name);
            assert_eq!(errors.len(), 1, "{name}={value}: {errors:?}");
            assert_eq!(errors[0].key, format!("{ANNOTATION_PREFIX}{name}"));
        }
        let typo: BTreeMap<_, _> = [annotation("taget", "10")].into_iter().collect();
        let errors = resolve_revision(&config, &typo, 0).unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("autoscaling.knative.dev/target\""),
            "{}",
            errors[0]
        );
        let bounded: BTreeMap<_, _> = [
            annotation("max-scale", "3"),
            annotation("activation-scale", "5"),
        ]
        .into_iter()
        .collect();
        assert!(resolve_revision(&config, &bounded, 0).is_err());
    }

    #[test]
    fn tbc_minus_one_unsets_the_scrape_target() {
        let config = AutoscalerConfig::default();
        let a: BTreeMap<_, _> = [annotation("target-burst-capacity", "-1")]
            .into_iter()
            .collect();
        assert!(!resolve_revision(&config, &a, 0).unwrap().scrape_target_set);
        assert!(
            resolve_revision(&config, &BTreeMap::new(), 0)
                .unwrap()
                .scrape_target_set
        );
    }

    #[test]
    fn kserve_mapping() {
        let component = KServeComponent {
            scale_metric: Some("rps".into()),
            scale_target: Some(5),
            max_replicas: Some(0),
            container_concurrency: Some(4),
            ..KServeComponent::default()
        };
        let (annotations, cc) = kserve_annotations(&component, false);
        assert_eq!(cc, 4);
        assert_eq!(annotations[&format!("{ANNOTATION_PREFIX}min-scale")], "1");
        assert_eq!(annotations[&format!("{ANNOTATION_PREFIX}class")], KPA_CLASS);
        assert!(!annotations.contains_key(&format!("{ANNOTATION_PREFIX}max-scale")));
        let resolved = resolve_revision(&AutoscalerConfig::default(), &annotations, cc).unwrap();
        assert_eq!(resolved.metric, ScalingMetric::Rps);
        assert!((resolved.decider.target_value - 3.5).abs() < 1e-9);

        let zero = KServeComponent {
            min_replicas: Some(0),
            ..KServeComponent::default()
        };
        let (annotations, _) = kserve_annotations(&zero, true);
        assert_eq!(
            annotations[&format!("{ANNOTATION_PREFIX}initial-scale")],
            "0"
        );
        let (annotations, _) = kserve_annotations(&zero, false);
        assert!(!annotations.contains_key(&format!("{ANNOTATION_PREFIX}initial-scale")));
    }
}
