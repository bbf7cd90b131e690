//! The HPA's configuration: controller flags ([`HpaConfig`]), the per-object spec ([`HpaSpec`]) and its
//! `behavior` with the API-server defaults already applied ([`Behavior`]).
//!
//! Units: replica counts are `i32` (as in the Kubernetes API), metric targets are integer milli-units,
//! utilization targets are whole percent, windows and periods are [`SimDuration`]s.

use crate::time::SimDuration;

/// How "within tolerance" is decided (spec §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToleranceRule {
    /// Kubernetes 1.33+: `(1 - down) <= ratio <= (1 + up)`, both inclusive.
    #[default]
    Interval,
    /// Before 1.33: `|1 - ratio| <= tolerance` (differs at the upper edge in IEEE-754 arithmetic).
    Absolute,
}

/// Scale-down and scale-up tolerances on the usage ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub scale_down: f64,
    pub scale_up: f64,
}

impl Tolerances {
    pub fn symmetric(tolerance: f64) -> Self {
        Tolerances {
            scale_down: tolerance,
            scale_up: tolerance,
        }
    }

    /// Whether `ratio` is close enough to 1 that the metric proposes no change.
    pub fn is_within(&self, ratio: f64, rule: ToleranceRule) -> bool {
        match rule {
            ToleranceRule::Interval => {
                (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
            }
            ToleranceRule::Absolute => {
                let tolerance = if ratio < 1.0 {
                    self.scale_down
                } else {
                    self.scale_up
                };
                (1.0 - ratio).abs() <= tolerance
            }
        }
    }
}

/// kube-controller-manager flags that shape the HPA (spec §1). [`Default`] gives the production defaults;
/// [`HpaConfig::upstream_unit_tests`] gives the constants of the upstream test tables.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    /// `--horizontal-pod-autoscaler-sync-period` (15 s): how often the simulator should call `reconcile`.
    pub sync_period: SimDuration,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// Interval (1.33+) or absolute (older) tolerance test.
    pub tolerance_rule: ToleranceRule,
    /// The `HPAConfigurableTolerance` feature gate: whether `behavior.scaleUp/scaleDown.tolerance` apply.
    /// Alpha (off) in 1.33–1.34, beta and on by default since 1.35, which is the default here.
    pub configurable_tolerance: bool,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (5 min).
    pub downscale_stabilization: SimDuration,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (5 min).
    pub cpu_initialization_period: SimDuration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay: SimDuration,
}

impl Default for HpaConfig {
    fn default() -> Self {
        HpaConfig {
            sync_period: SimDuration::from_secs(15),
            tolerance: 0.1,
            tolerance_rule: ToleranceRule::Interval,
            configurable_tolerance: true,
            downscale_stabilization: SimDuration::from_secs(300),
            cpu_initialization_period: SimDuration::from_secs(300),
            initial_readiness_delay: SimDuration::from_secs(30),
        }
    }
}

impl HpaConfig {
    /// The constants of the upstream replica-calculator tests: CPU init period 2 min, readiness delay 10 s.
    pub fn upstream_unit_tests() -> Self {
        HpaConfig {
            cpu_initialization_period: SimDuration::from_secs(120),
            initial_readiness_delay: SimDuration::from_secs(10),
            ..HpaConfig::default()
        }
    }
}

/// What a metric aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricTarget {
    /// Percent of the pods' resource request (Resource / ContainerResource only).
    Utilization(i32),
    /// Per-pod average, milli-units.
    AverageValue(i64),
    /// Total value, milli-units (Object / External only).
    Value(i64),
}

/// One entry of `spec.metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricSpec {
    /// `Resource` (or `ContainerResource` when `container` is set): `cpu`, `memory`, ...
    Resource {
        resource: String,
        container: Option<String>,
        target: MetricTarget,
    },
    /// `Pods`: a per-pod custom metric; AverageValue target.
    Pods { name: String, target: MetricTarget },
    /// `Object`: one value describing another object; Value or AverageValue target.
    Object { name: String, target: MetricTarget },
    /// `External`: a metric from outside the cluster (KEDA's path); Value or AverageValue target.
    External { name: String, target: MetricTarget },
}

impl MetricSpec {
    /// A short label for time series: the resource or metric name.
    pub fn name(&self) -> &str {
        match self {
            MetricSpec::Resource { resource, .. } => resource,
            MetricSpec::Pods { name, .. }
            | MetricSpec::Object { name, .. }
            | MetricSpec::External { name, .. } => name,
        }
    }
}

/// `Pods` (a fixed number) or `Percent` (of the replicas at the start of the period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

/// One rate-limit policy: at most `value` pods or percent per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    pub kind: PolicyKind,
    pub value: i32,
    pub period: SimDuration,
}

impl ScalingPolicy {
    pub fn pods(value: i32, period_secs: u64) -> Self {
        ScalingPolicy {
            kind: PolicyKind::Pods,
            value,
            period: SimDuration::from_secs(period_secs),
        }
    }
    pub fn percent(value: i32, period_secs: u64) -> Self {
        ScalingPolicy {
            kind: PolicyKind::Percent,
            value,
            period: SimDuration::from_secs(period_secs),
        }
    }
}

/// How several policies combine: `Max` allows the largest change, `Min` the smallest, `Disabled` none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelectPolicy {
    #[default]
    Max,
    Min,
    Disabled,
}

/// `behavior.scaleUp` or `behavior.scaleDown` after API defaulting.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRules {
    /// `None` only for scale-down: the controller then uses its `downscale_stabilization` flag.
    pub stabilization_window: Option<SimDuration>,
    pub select_policy: SelectPolicy,
    pub policies: Vec<ScalingPolicy>,
    /// `tolerance` override (1.33+); `None` means the controller flag.
    pub tolerance: Option<f64>,
}

impl ScalingRules {
    /// API default for `scaleUp`: no window, Max of {4 pods, 100 %} per 15 s.
    pub fn default_scale_up() -> Self {
        ScalingRules {
            stabilization_window: Some(SimDuration::ZERO),
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy::pods(4, 15), ScalingPolicy::percent(100, 15)],
            tolerance: None,
        }
    }
    /// API default for `scaleDown`: the controller's window, 100 % per 15 s.
    pub fn default_scale_down() -> Self {
        ScalingRules {
            stabilization_window: None,
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy::percent(100, 15)],
            tolerance: None,
        }
    }

    /// The longest policy period; scale events older than this are reusable storage.
    pub fn longest_period(&self) -> SimDuration {
        self.policies
            .iter()
            .map(|p| p.period)
            .max()
            .unwrap_or(SimDuration::ZERO)
    }
}

/// `spec.behavior` with defaults applied. Its presence switches the controller to the behavior path.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules::default_scale_down(),
        }
    }
}

/// The part of a HorizontalPodAutoscaler the algorithm reads.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaSpec {
    /// Defaults to 1; 0 needs the `HPAScaleToZero` gate upstream.
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub metrics: Vec<MetricSpec>,
    /// `None` = legacy normalization (spec §7).
    pub behavior: Option<Behavior>,
}
