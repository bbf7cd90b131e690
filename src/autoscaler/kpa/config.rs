//! Knative autoscaling configuration: the `config-autoscaler` ConfigMap, the per-revision
//! `autoscaling.knative.dev/*` annotations, and KServe's InferenceService mapping (spec §1, §2, §11).
//!
//! [`AutoscalerConfig::from_configmap`] reads the ConfigMap's string values with Knative's key names and
//! formats ("60s", "200", "true"), applies Knative's defaults and validation, and reports **every** problem
//! at once. [`resolve_revision`] layers a revision's annotations (kebab-case keys; the legacy camelCase
//! aliases are accepted and lose to the kebab-case key) over the cluster config and derives what the models
//! need: the [`DeciderSpec`](super::decider::DeciderSpec) (target and total per `ResolveMetricTarget`,
//! panic threshold as a fraction), the stable and panic windows (panic = stable x percentage, rounded to
//! the nearest second, at least 1 s), the aggregation algorithm, bounds and scale-to-zero settings.
//!
//! Deliberate differences from Knative: unknown ConfigMap keys and unknown `autoscaling.knative.dev/*`
//! annotations are errors with a near-miss suggestion (Knative ignores them, which hides typos in a
//! simulation input); keys starting with `_` (the shipped `_example` block) are ignored. The HPA class is
//! recognised but rejected by [`resolve_revision`], which only configures the KPA.

use std::collections::BTreeMap;
use std::fmt;

use crate::time::{parse_duration, SimDuration};

mod revision;
pub use revision::{
    kserve_annotations, resolve_revision, KServeComponent, RevisionScaling,
    KSERVE_DEFAULT_MIN_REPLICAS,
};

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
mod tests;
