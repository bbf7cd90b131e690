//! Which autoscaler a KServe InferenceService component gets, as data: the deployment mode
//! (`serving.kserve.io/deploymentMode`), the autoscaler class (`serving.kserve.io/autoscalerClass`), and the
//! HPA or KEDA ScaledObject KServe would create from `minReplicas`, `maxReplicas`, `scaleMetric`,
//! `scaleTarget` and `spec.<component>.autoScaling` (metrics of types Resource, External and PodMetric, and
//! `behavior`).
//!
//! Per KServe version (checked in kserve/kserve at tags v0.16.0 … v0.20.0; [`KServeVersion`]):
//! - The modes are `Standard` (legacy name `RawDeployment`) and `Knative` (legacy `Serverless`); ModelMesh
//!   is not modelled. An unknown annotation value falls back to the default mode, as KServe does.
//! - The default mode is the `deploy.defaultDeploymentMode` of the shipped `inferenceservice-config`,
//!   `Serverless` (Knative) in every one of these versions; a cluster may configure otherwise, which the
//!   caller passes as `configured_default`. (KServe's quick-install scripts offer a Standard install, which
//!   sets that key.)
//! - Classes `hpa` (the default), `keda`, `external` and `none` apply in Standard mode. `external` and
//!   `none` make KServe create no HPA: the replica count is left to someone else or stays fixed. In Knative
//!   mode KServe's class is not used: Knative's `autoscaling.knative.dev/class` picks its KPA (default) or
//!   its HPA class.
//! - Standard + `hpa`: min = `minReplicas` if >= 1 else 1, max = max(`maxReplicas`, min); metrics are the
//!   Resource entries of `autoScaling.metrics` (cpu Utilization defaulting to 80 %, memory Utilization or
//!   AverageValue), else `scaleMetric`/`scaleTarget` (cpu 80 % by default; memory only with a target). The
//!   HPA gets an empty `behavior`, so the API defaults apply; `autoScaling.behavior` is used only by KEDA.
//! - Standard + `keda`: a ScaledObject with min = `minReplicas` (default 1), max = max(`maxReplicas`, min),
//!   Resource metrics as cpu/memory triggers, External metrics as `prometheus` triggers (`query`,
//!   `threshold` = the target value) and `autoScaling.behavior` as the HPA behavior. PodMetric (KServe's
//!   OpenTelemetry path, a KEDA `external` trigger summing the metric over the deployment's pods) is
//!   modelled as a prometheus-style trigger with the same query, so `sum(NAME)` over per-pod values.
//! - The behavior is identical in v0.16–v0.20 for everything above; the table still keys on the version so a
//!   later difference has a place to go.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::autoscaler::hpa::{Behavior, HpaSpec, MetricSpec, MetricTarget};

use super::fallback::{ScalingModifiers, TargetType};
use super::scaledobject::{ScaledObjectSpec, DEFAULT_POLLING_INTERVAL_S};
use super::scaler::{Query, Trigger, TriggerKind};

pub const ANNOTATION_DEPLOYMENT_MODE: &str = "serving.kserve.io/deploymentMode";
pub const ANNOTATION_AUTOSCALER_CLASS: &str = "serving.kserve.io/autoscalerClass";
pub const ANNOTATION_KNATIVE_CLASS: &str = "autoscaling.knative.dev/class";

/// KServe releases whose defaults are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KServeVersion {
    V0_16,
    V0_17,
    V0_18,
    V0_19,
    V0_20,
}

impl KServeVersion {
    pub const NEWEST: KServeVersion = KServeVersion::V0_20;
    pub const ALL: [KServeVersion; 5] = [
        KServeVersion::V0_16,
        KServeVersion::V0_17,
        KServeVersion::V0_18,
        KServeVersion::V0_19,
        KServeVersion::V0_20,
    ];

    /// Accepts `v0.18`, `0.18`, `v0.18.1`.
    pub fn parse(text: &str) -> Result<Self, KServeError> {
        let t = text.trim().trim_start_matches('v');
        let minor = t.strip_prefix("0.").and_then(|r| r.split('.').next());
        match minor {
            Some("16") => Ok(KServeVersion::V0_16),
            Some("17") => Ok(KServeVersion::V0_17),
            Some("18") => Ok(KServeVersion::V0_18),
            Some("19") => Ok(KServeVersion::V0_19),
            Some("20") => Ok(KServeVersion::V0_20),
            _ => Err(KServeError::Version(text.to_string())),
        }
    }

    /// The default deployment mode of the version's shipped `inferenceservice-config`.
    pub fn default_deployment_mode(self) -> DeploymentMode {
        DeploymentMode::Knative
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentMode {
    /// Raw Kubernetes Deployment (`Standard`, formerly `RawDeployment`).
    Standard,
    /// Knative Service (`Knative`, formerly `Serverless`).
    Knative,
}

impl DeploymentMode {
    /// KServe's reading of the annotation: legacy names map to the new ones; other values are ignored.
    pub fn from_annotation(value: &str) -> Option<Self> {
        match value {
            "Standard" | "RawDeployment" => Some(DeploymentMode::Standard),
            "Knative" | "Serverless" => Some(DeploymentMode::Knative),
            _ => None,
        }
    }
}

/// One entry of `autoScaling.metrics`.
#[derive(Debug, Clone, PartialEq)]
pub enum KServeMetric {
    /// `type: Resource`: `cpu` or `memory` with a Utilization (`None` = default) or AverageValue target.
    Resource {
        name: String,
        target: Option<MetricTarget>,
    },
    /// `type: External`: `metric.backend` (prometheus), `metric.query`, `target.value`.
    External {
        backend: String,
        query: String,
        target_value: f64,
    },
    /// `type: PodMetric`: `metric.backend` (opentelemetry), `metric.query`, `target.value`.
    PodMetric {
        backend: String,
        query: String,
        target_value: f64,
    },
}

/// The component fields that decide autoscaling.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ComponentScaling {
    pub name: String,
    pub namespace: String,
    pub annotations: BTreeMap<String, String>,
    pub min_replicas: Option<i32>,
    /// 0 when unset, as in the CRD.
    pub max_replicas: i32,
    pub scale_metric: Option<String>,
    pub scale_target: Option<i32>,
    pub metrics: Vec<KServeMetric>,
    pub behavior: Option<Behavior>,
}

/// What scales the component.
#[derive(Debug, Clone, PartialEq)]
pub enum Autoscaler {
    /// Knative mode, KPA class.
    KnativeKpa,
    /// Knative mode, Knative's HPA class.
    KnativeHpa,
    /// Standard mode, the HPA KServe creates.
    Hpa(HpaSpec),
    /// Standard mode, the ScaledObject KServe creates.
    Keda(Box<ScaledObjectSpec>),
    /// Standard mode, class `external`: no HPA; something outside KServe scales.
    External,
    /// Standard mode, class `none`: no autoscaler; the replica count stays fixed.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub mode: DeploymentMode,
    pub autoscaler: Autoscaler,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KServeError {
    #[error("KServe version {0:?} is not modelled: expected v0.16, v0.17, v0.18, v0.19 or v0.20")]
    Version(String),
    #[error("annotation serving.kserve.io/autoscalerClass {0:?} is not supported: expected hpa, kpa, keda, external or none")]
    Class(String),
    #[error("autoscalerClass kpa needs deploymentMode Knative: in Standard mode KServe's reconciler rejects it (use hpa or keda)")]
    KpaInStandard,
    #[error("autoScaling.metrics[{index}]: {message}")]
    Metric { index: usize, message: String },
}

/// Resolves the component's autoscaler for a KServe version; `configured_default` is the cluster's
/// `deploy.defaultDeploymentMode` when it differs from the shipped one.
pub fn resolve(
    version: KServeVersion,
    configured_default: Option<DeploymentMode>,
    component: &ComponentScaling,
) -> Result<Resolution, KServeError> {
    let ann = &component.annotations;
    let mode = ann
        .get(ANNOTATION_DEPLOYMENT_MODE)
        .and_then(|v| DeploymentMode::from_annotation(v))
        .or(configured_default)
        .unwrap_or(version.default_deployment_mode());
    let class = ann
        .get(ANNOTATION_AUTOSCALER_CLASS)
        .map(String::as_str)
        .unwrap_or("hpa");
    if !matches!(class, "hpa" | "kpa" | "keda" | "external" | "none") {
        return Err(KServeError::Class(class.to_string()));
    }
    let autoscaler = match mode {
        DeploymentMode::Knative => match ann.get(ANNOTATION_KNATIVE_CLASS).map(String::as_str) {
            Some("hpa.autoscaling.knative.dev") => Autoscaler::KnativeHpa,
            _ => Autoscaler::KnativeKpa,
        },
        DeploymentMode::Standard => match class {
            "keda" => Autoscaler::Keda(Box::new(keda_scaled_object(component)?)),
            "external" => Autoscaler::External,
            "none" => Autoscaler::None,
            // KServe's webhook accepts `kpa`, but its Standard-mode reconciler knows no such class and
            // fails the InferenceService.
            "kpa" => return Err(KServeError::KpaInStandard),
            _ => Autoscaler::Hpa(hpa_spec(component)),
        },
    };
    Ok(Resolution { mode, autoscaler })
}

const DEFAULT_CPU_UTILIZATION: i32 = 80;

fn bounds(component: &ComponentScaling, floor_one: bool) -> (i32, i32) {
    let min = match component.min_replicas {
        Some(m) if !floor_one || m >= 1 => m,
        _ => 1,
    };
    (min, component.max_replicas.max(min))
}

fn hpa_spec(component: &ComponentScaling) -> HpaSpec {
    let (min, max) = bounds(component, true);
    let metrics = if component.metrics.is_empty() {
        match component.scale_metric.as_deref().unwrap_or("cpu") {
            "cpu" => vec![MetricSpec::Resource {
                resource: "cpu".into(),
                container: None,
                target: MetricTarget::Utilization(
                    component.scale_target.unwrap_or(DEFAULT_CPU_UTILIZATION),
                ),
            }],
            "memory" => component
                .scale_target
                .map(|t| MetricSpec::Resource {
                    resource: "memory".into(),
                    container: None,
                    target: MetricTarget::Utilization(t),
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    } else {
        component
            .metrics
            .iter()
            .filter_map(|m| match m {
                KServeMetric::Resource { name, target } => {
                    let target = match (name.as_str(), target) {
                        ("cpu", Some(MetricTarget::Utilization(p))) => {
                            MetricTarget::Utilization(*p)
                        }
                        ("cpu", _) => MetricTarget::Utilization(DEFAULT_CPU_UTILIZATION),
                        ("memory", Some(t)) => *t,
                        _ => return None,
                    };
                    Some(MetricSpec::Resource {
                        resource: name.clone(),
                        container: None,
                        target,
                    })
                }
                _ => None,
            })
            .collect()
    };
    HpaSpec {
        min_replicas: min,
        max_replicas: max,
        metrics,
        // KServe writes an empty behavior, which the API server fills with the defaults.
        behavior: Some(Behavior::default()),
    }
}

fn keda_scaled_object(component: &ComponentScaling) -> Result<ScaledObjectSpec, KServeError> {
    let (min, max) = bounds(component, false);
    let mut triggers = Vec::new();
    for (index, m) in component.metrics.iter().enumerate() {
        let err = |message: String| KServeError::Metric { index, message };
        let kind = match m {
            KServeMetric::Resource { name, target } => {
                let target = match (name.as_str(), target) {
                    ("cpu", None) => MetricTarget::Utilization(DEFAULT_CPU_UTILIZATION),
                    ("cpu", Some(t @ MetricTarget::Utilization(_))) => *t,
                    ("memory", Some(t @ (MetricTarget::Utilization(_) | MetricTarget::AverageValue(_)))) => *t,
                    _ => {
                        return Err(err(format!(
                            "resource {name:?} with target {target:?}: KEDA takes cpu Utilization or memory Utilization/AverageValue"
                        )))
                    }
                };
                TriggerKind::Resource {
                    resource: name.clone(),
                    container: None,
                    target,
                }
            }
            KServeMetric::External {
                backend,
                query,
                target_value,
            }
            | KServeMetric::PodMetric {
                backend,
                query,
                target_value,
            } => {
                if !matches!(backend.as_str(), "prometheus" | "opentelemetry" | "") {
                    return Err(err(format!(
                        "metric backend {backend:?} is not modelled: expected prometheus or opentelemetry"
                    )));
                }
                let query = Query::parse(query).map_err(|e| err(e.to_string()))?;
                TriggerKind::Prometheus {
                    query,
                    threshold: *target_value,
                    activation_threshold: 0.0,
                }
            }
        };
        triggers.push(Trigger {
            index,
            name: None,
            metric_type: TargetType::AverageValue,
            kind,
        });
    }
    Ok(ScaledObjectSpec {
        name: component.name.clone(),
        namespace: component.namespace.clone(),
        target_kind: "apps/v1.Deployment".into(),
        target_name: component.name.clone(),
        polling_interval_s: DEFAULT_POLLING_INTERVAL_S,
        cooldown_period_s: None,
        initial_cooldown_period_s: None,
        min_replica_count: Some(min),
        max_replica_count: Some(max),
        idle_replica_count: None,
        fallback: None,
        behavior: component.behavior.clone(),
        scaling_modifiers: ScalingModifiers::default(),
        annotations: BTreeMap::new(),
        triggers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(annotations: &[(&str, &str)]) -> ComponentScaling {
        ComponentScaling {
            name: "llm-predictor".into(),
            namespace: "ns".into(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            max_replicas: 4,
            ..ComponentScaling::default()
        }
    }

    #[test]
    fn default_mode_is_knative_kpa_in_every_modelled_version() {
        for v in KServeVersion::ALL {
            let r = resolve(v, None, &component(&[])).unwrap();
            assert_eq!(
                (r.mode, r.autoscaler),
                (DeploymentMode::Knative, Autoscaler::KnativeKpa)
            );
        }
        let r = resolve(
            KServeVersion::NEWEST,
            Some(DeploymentMode::Standard),
            &component(&[]),
        )
        .unwrap();
        assert_eq!(r.mode, DeploymentMode::Standard);
        assert!(matches!(r.autoscaler, Autoscaler::Hpa(_)));
    }

    #[test]
    fn legacy_mode_names_and_knative_hpa_class() {
        let c = component(&[(ANNOTATION_DEPLOYMENT_MODE, "RawDeployment")]);
        assert_eq!(
            resolve(KServeVersion::V0_16, None, &c).unwrap().mode,
            DeploymentMode::Standard
        );
        let c = component(&[
            (ANNOTATION_DEPLOYMENT_MODE, "Serverless"),
            (ANNOTATION_KNATIVE_CLASS, "hpa.autoscaling.knative.dev"),
        ]);
        assert_eq!(
            resolve(KServeVersion::V0_18, None, &c).unwrap().autoscaler,
            Autoscaler::KnativeHpa
        );
        // An unknown mode falls back to the default.
        let c = component(&[(ANNOTATION_DEPLOYMENT_MODE, "Sideways")]);
        assert_eq!(
            resolve(KServeVersion::V0_20, None, &c).unwrap().mode,
            DeploymentMode::Knative
        );
    }

    #[test]
    fn standard_classes() {
        let std = |class: &str| {
            let c = component(&[
                (ANNOTATION_DEPLOYMENT_MODE, "Standard"),
                (ANNOTATION_AUTOSCALER_CLASS, class),
            ]);
            resolve(KServeVersion::NEWEST, None, &c)
        };
        assert_eq!(std("external").unwrap().autoscaler, Autoscaler::External);
        assert_eq!(std("none").unwrap().autoscaler, Autoscaler::None);
        assert!(matches!(std("bogus"), Err(KServeError::Class(_))));
        assert_eq!(std("kpa"), Err(KServeError::KpaInStandard));
        let Autoscaler::Hpa(hpa) = std("hpa").unwrap().autoscaler else {
            panic!()
        };
        assert_eq!((hpa.min_replicas, hpa.max_replicas), (1, 4));
        assert_eq!(
            hpa.metrics,
            vec![MetricSpec::Resource {
                resource: "cpu".into(),
                container: None,
                target: MetricTarget::Utilization(80)
            }]
        );
        assert!(
            hpa.behavior.is_some(),
            "KServe writes an empty behavior: API defaults apply"
        );
    }

    #[test]
    fn keda_class_builds_a_scaled_object_from_auto_scaling() {
        let mut c = component(&[
            (ANNOTATION_DEPLOYMENT_MODE, "Standard"),
            (ANNOTATION_AUTOSCALER_CLASS, "keda"),
        ]);
        c.min_replicas = Some(0);
        c.metrics = vec![
            KServeMetric::External {
                backend: "prometheus".into(),
                query: "sum(vllm:num_requests_waiting)".into(),
                target_value: 2.0,
            },
            KServeMetric::Resource {
                name: "cpu".into(),
                target: None,
            },
        ];
        let Autoscaler::Keda(so) = resolve(KServeVersion::NEWEST, None, &c).unwrap().autoscaler
        else {
            panic!()
        };
        assert_eq!(
            (so.min_replica_count, so.max_replica_count),
            (Some(0), Some(4))
        );
        assert_eq!(so.triggers.len(), 2);
        assert_eq!(so.hpa_spec().metrics[0].name(), "s0-prometheus");
        assert!(matches!(
            so.triggers[1].kind,
            TriggerKind::Resource {
                target: MetricTarget::Utilization(80),
                ..
            }
        ));
        c.metrics = vec![KServeMetric::PodMetric {
            backend: "opentelemetry".into(),
            query: "rate(x[1m])".into(),
            target_value: 1.0,
        }];
        assert!(matches!(
            resolve(KServeVersion::NEWEST, None, &c),
            Err(KServeError::Metric { index: 0, .. })
        ));
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            KServeVersion::parse("v0.18.1").unwrap(),
            KServeVersion::V0_18
        );
        assert_eq!(KServeVersion::parse("0.20").unwrap(), KServeVersion::V0_20);
        assert!(KServeVersion::parse("v0.15").is_err());
    }
}
