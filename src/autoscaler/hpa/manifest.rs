//! Reading a real `autoscaling/v2` HorizontalPodAutoscaler manifest into an [`HpaSpec`].
//!
//! The serde types mirror the Kubernetes API field names (`minReplicas`, `metrics[].resource.target`,
//! `behavior.scaleUp.policies`, ...). Fields the model does not use (metadata, status, metric selectors,
//! `describedObject`) are accepted and ignored. Quantities may be YAML strings or numbers ("500m", "1Gi",
//! 100). Conversion applies the API-server defaults (`minReplicas` 1, CPU 80 % when `metrics` is empty,
//! `behavior` defaults per direction) and validates, naming the field, the value and what is allowed.

use serde::Deserialize;
use thiserror::Error;

use super::quantity::parse_quantity_milli;
use super::spec::{
    Behavior, HpaSpec, MetricSpec, MetricTarget, PolicyKind, ScalingPolicy, ScalingRules,
    SelectPolicy,
};
use crate::time::SimDuration;

/// A manifest that could not be read or does not describe a valid HPA.
#[derive(Debug, Error)]
pub enum HpaManifestError {
    #[error("HPA manifest is not valid YAML for autoscaling/v2: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("HPA manifest field `{field}` has invalid value {value:?}: expected {allowed}")]
    InvalidField {
        field: String,
        value: String,
        allowed: String,
    },
    #[error("HPA manifest is missing required field `{field}`")]
    MissingField { field: String },
}

fn invalid(field: &str, value: impl ToString, allowed: &str) -> HpaManifestError {
    HpaManifestError::InvalidField {
        field: field.to_string(),
        value: value.to_string(),
        allowed: allowed.to_string(),
    }
}

fn missing(field: &str) -> HpaManifestError {
    HpaManifestError::MissingField {
        field: field.to_string(),
    }
}

/// A Kubernetes quantity as written in YAML: a string ("500m") or a bare number (100, 0.5).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum QuantityText {
    Text(String),
    Integer(i64),
    Float(f64),
}

impl QuantityText {
    fn milli(&self, field: &str) -> Result<i64, HpaManifestError> {
        let text = match self {
            QuantityText::Text(t) => t.clone(),
            QuantityText::Integer(i) => i.to_string(),
            QuantityText::Float(f) => f.to_string(),
        };
        parse_quantity_milli(&text).map_err(|e| {
            invalid(
                field,
                &text,
                &format!("a Kubernetes quantity ({})", e.problem),
            )
        })
    }
}

/// The whole object (`apiVersion`, `kind`, `spec`); other top-level keys are ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerManifest {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub spec: Option<HpaSpecManifest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HpaSpecManifest {
    pub scale_target_ref: Option<ScaleTargetRef>,
    pub min_replicas: Option<i32>,
    pub max_replicas: Option<i32>,
    #[serde(default)]
    pub metrics: Vec<MetricManifest>,
    pub behavior: Option<BehaviorManifest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricManifest {
    #[serde(rename = "type")]
    pub metric_type: String,
    pub resource: Option<ResourceSourceManifest>,
    pub container_resource: Option<ResourceSourceManifest>,
    pub pods: Option<NamedSourceManifest>,
    pub object: Option<NamedSourceManifest>,
    pub external: Option<NamedSourceManifest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSourceManifest {
    pub name: Option<String>,
    pub container: Option<String>,
    pub target: Option<TargetManifest>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedSourceManifest {
    pub metric: Option<MetricIdentifierManifest>,
    pub target: Option<TargetManifest>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricIdentifierManifest {
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetManifest {
    #[serde(rename = "type")]
    pub target_type: Option<String>,
    pub average_utilization: Option<i32>,
    pub average_value: Option<QuantityText>,
    pub value: Option<QuantityText>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BehaviorManifest {
    pub scale_up: Option<ScalingRulesManifest>,
    pub scale_down: Option<ScalingRulesManifest>,
}

impl BehaviorManifest {
    /// Applies the per-direction API defaults and validates; `field` prefixes error paths (e.g.
    /// `spec.behavior`, or KEDA's `spec.advanced.horizontalPodAutoscalerConfig.behavior`).
    pub fn to_behavior(&self, field: &str) -> Result<Behavior, HpaManifestError> {
        Ok(Behavior {
            scale_up: convert_rules(
                self.scale_up.as_ref(),
                ScalingRules::default_scale_up(),
                &format!("{field}.scaleUp"),
            )?,
            scale_down: convert_rules(
                self.scale_down.as_ref(),
                ScalingRules::default_scale_down(),
                &format!("{field}.scaleDown"),
            )?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRulesManifest {
    pub stabilization_window_seconds: Option<i64>,
    pub select_policy: Option<String>,
    pub policies: Option<Vec<PolicyManifest>>,
    pub tolerance: Option<QuantityText>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyManifest {
    #[serde(rename = "type")]
    pub policy_type: String,
    pub value: i32,
    pub period_seconds: i64,
}

/// Parses a HorizontalPodAutoscaler manifest (YAML or JSON) into a validated spec.
pub fn parse_hpa_manifest(text: &str) -> Result<HpaSpec, HpaManifestError> {
    let manifest: HorizontalPodAutoscalerManifest = serde_yaml::from_str(text)?;
    manifest.into_spec()
}

impl HorizontalPodAutoscalerManifest {
    /// Validates and applies the API defaults.
    pub fn into_spec(self) -> Result<HpaSpec, HpaManifestError> {
        if let Some(kind) = &self.kind {
            if kind != "HorizontalPodAutoscaler" {
                return Err(invalid("kind", kind, "HorizontalPodAutoscaler"));
            }
        }
        if let Some(api) = &self.api_version {
            if api != "autoscaling/v2" && api != "autoscaling/v2beta2" {
                return Err(invalid(
                    "apiVersion",
                    api,
                    "autoscaling/v2 (or autoscaling/v2beta2)",
                ));
            }
        }
        let spec = self.spec.ok_or_else(|| missing("spec"))?;
        let min_replicas = spec.min_replicas.unwrap_or(1);
        if min_replicas < 0 {
            return Err(invalid("spec.minReplicas", min_replicas, "an integer >= 0"));
        }
        let max_replicas = spec
            .max_replicas
            .ok_or_else(|| missing("spec.maxReplicas"))?;
        if max_replicas < 1 || max_replicas < min_replicas {
            return Err(invalid(
                "spec.maxReplicas",
                max_replicas,
                &format!("an integer >= 1 and >= minReplicas ({min_replicas})"),
            ));
        }
        let mut metrics = Vec::with_capacity(spec.metrics.len());
        for (index, metric) in spec.metrics.iter().enumerate() {
            metrics.push(convert_metric(metric, &format!("spec.metrics[{index}]"))?);
        }
        if metrics.is_empty() {
            metrics.push(MetricSpec::Resource {
                resource: "cpu".to_string(),
                container: None,
                target: MetricTarget::Utilization(80),
            });
        }
        let behavior = spec
            .behavior
            .as_ref()
            .map(|b| b.to_behavior("spec.behavior"))
            .transpose()?;
        Ok(HpaSpec {
            min_replicas,
            max_replicas,
            metrics,
            behavior,
        })
    }
}

fn convert_target(
    target: Option<&TargetManifest>,
    field: &str,
    allowed: &[&str],
) -> Result<MetricTarget, HpaManifestError> {
    let target = target.ok_or_else(|| missing(field))?;
    let type_field = format!("{field}.type");
    let target_type = target
        .target_type
        .as_deref()
        .ok_or_else(|| missing(&type_field))?;
    if !allowed.contains(&target_type) {
        return Err(invalid(&type_field, target_type, &allowed.join(" or ")));
    }
    match target_type {
        "Utilization" => {
            let f = format!("{field}.averageUtilization");
            let pct = target.average_utilization.ok_or_else(|| missing(&f))?;
            if pct < 1 {
                return Err(invalid(&f, pct, "an integer percent >= 1"));
            }
            Ok(MetricTarget::Utilization(pct))
        }
        "AverageValue" => {
            let f = format!("{field}.averageValue");
            let v = target
                .average_value
                .as_ref()
                .ok_or_else(|| missing(&f))?
                .milli(&f)?;
            if v <= 0 {
                return Err(invalid(&f, format!("{v}m"), "a quantity > 0"));
            }
            Ok(MetricTarget::AverageValue(v))
        }
        _ => {
            let f = format!("{field}.value");
            let v = target
                .value
                .as_ref()
                .ok_or_else(|| missing(&f))?
                .milli(&f)?;
            if v <= 0 {
                return Err(invalid(&f, format!("{v}m"), "a quantity > 0"));
            }
            Ok(MetricTarget::Value(v))
        }
    }
}

fn named_metric(
    source: Option<&NamedSourceManifest>,
    field: &str,
    allowed: &[&str],
) -> Result<(String, MetricTarget), HpaManifestError> {
    let source = source.ok_or_else(|| missing(field))?;
    let name = source
        .metric
        .as_ref()
        .and_then(|m| m.name.clone())
        .ok_or_else(|| missing(&format!("{field}.metric.name")))?;
    let target = convert_target(source.target.as_ref(), &format!("{field}.target"), allowed)?;
    Ok((name, target))
}

fn convert_metric(metric: &MetricManifest, field: &str) -> Result<MetricSpec, HpaManifestError> {
    match metric.metric_type.as_str() {
        "Resource" | "ContainerResource" => {
            let (key, source) = if metric.metric_type == "Resource" {
                ("resource", metric.resource.as_ref())
            } else {
                ("containerResource", metric.container_resource.as_ref())
            };
            let f = format!("{field}.{key}");
            let source = source.ok_or_else(|| missing(&f))?;
            let resource = source
                .name
                .clone()
                .ok_or_else(|| missing(&format!("{f}.name")))?;
            let container = if metric.metric_type == "ContainerResource" {
                Some(
                    source
                        .container
                        .clone()
                        .ok_or_else(|| missing(&format!("{f}.container")))?,
                )
            } else {
                None
            };
            let target = convert_target(
                source.target.as_ref(),
                &format!("{f}.target"),
                &["Utilization", "AverageValue"],
            )?;
            Ok(MetricSpec::Resource {
                resource,
                container,
                target,
            })
        }
        "Pods" => {
            let (name, target) = named_metric(
                metric.pods.as_ref(),
                &format!("{field}.pods"),
                &["AverageValue"],
            )?;
            Ok(MetricSpec::Pods { name, target })
        }
        "Object" => {
            let (name, target) = named_metric(
                metric.object.as_ref(),
                &format!("{field}.object"),
                &["Value", "AverageValue"],
            )?;
            Ok(MetricSpec::Object { name, target })
        }
        "External" => {
            let (name, target) = named_metric(
                metric.external.as_ref(),
                &format!("{field}.external"),
                &["Value", "AverageValue"],
            )?;
            Ok(MetricSpec::External { name, target })
        }
        other => Err(invalid(
            &format!("{field}.type"),
            other,
            "Resource, ContainerResource, Pods, Object or External",
        )),
    }
}

fn convert_rules(
    rules: Option<&ScalingRulesManifest>,
    defaults: ScalingRules,
    field: &str,
) -> Result<ScalingRules, HpaManifestError> {
    let Some(rules) = rules else {
        return Ok(defaults);
    };
    let stabilization_window = match rules.stabilization_window_seconds {
        None => defaults.stabilization_window,
        Some(s) if (0..=3600).contains(&s) => Some(SimDuration::from_secs(s as u64)),
        Some(s) => {
            return Err(invalid(
                &format!("{field}.stabilizationWindowSeconds"),
                s,
                "an integer in [0, 3600]",
            ))
        }
    };
    let select_policy = match rules.select_policy.as_deref() {
        None => defaults.select_policy,
        Some("Max") => SelectPolicy::Max,
        Some("Min") => SelectPolicy::Min,
        Some("Disabled") => SelectPolicy::Disabled,
        Some(other) => {
            return Err(invalid(
                &format!("{field}.selectPolicy"),
                other,
                "Max, Min or Disabled",
            ))
        }
    };
    let policies = match &rules.policies {
        None => defaults.policies,
        Some(list) => {
            let mut policies = Vec::with_capacity(list.len());
            for (index, p) in list.iter().enumerate() {
                let pf = format!("{field}.policies[{index}]");
                let kind = match p.policy_type.as_str() {
                    "Pods" => PolicyKind::Pods,
                    "Percent" => PolicyKind::Percent,
                    other => return Err(invalid(&format!("{pf}.type"), other, "Pods or Percent")),
                };
                if p.value <= 0 {
                    return Err(invalid(&format!("{pf}.value"), p.value, "an integer > 0"));
                }
                if !(1..=1800).contains(&p.period_seconds) {
                    return Err(invalid(
                        &format!("{pf}.periodSeconds"),
                        p.period_seconds,
                        "an integer in (0, 1800]",
                    ));
                }
                policies.push(ScalingPolicy {
                    kind,
                    value: p.value,
                    period: SimDuration::from_secs(p.period_seconds as u64),
                });
            }
            policies
        }
    };
    let tolerance = match &rules.tolerance {
        None => defaults.tolerance,
        Some(q) => {
            let f = format!("{field}.tolerance");
            let milli = q.milli(&f)?;
            if milli < 0 {
                return Err(invalid(&f, format!("{milli}m"), "a quantity >= 0"));
            }
            Some(milli as f64 / 1000.0)
        }
    };
    Ok(ScalingRules {
        stabilization_window,
        select_policy,
        policies,
        tolerance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 20
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
  - type: Resource
    resource: {name: memory, target: {type: AverageValue, averageValue: 1Gi}}
  - type: Pods
    pods: {metric: {name: DCGM_FI_DEV_GPU_UTIL}, target: {type: AverageValue, averageValue: "500m"}}
  - type: External
    external: {metric: {name: queue}, target: {type: Value, value: 100}}
  behavior:
    scaleUp:
      policies: [{type: Pods, value: 2, periodSeconds: 60}]
    scaleDown:
      stabilizationWindowSeconds: 60
      selectPolicy: Min
      tolerance: "0.05"
"#;

    #[test]
    fn reads_a_full_manifest_with_defaults_filled() {
        let spec = parse_hpa_manifest(FULL).unwrap();
        assert_eq!((spec.min_replicas, spec.max_replicas), (2, 20));
        assert_eq!(
            spec.metrics[1],
            MetricSpec::Resource {
                resource: "memory".into(),
                container: None,
                target: MetricTarget::AverageValue(1_073_741_824_000)
            }
        );
        assert_eq!(
            spec.metrics[2],
            MetricSpec::Pods {
                name: "DCGM_FI_DEV_GPU_UTIL".into(),
                target: MetricTarget::AverageValue(500)
            }
        );
        assert_eq!(
            spec.metrics[3],
            MetricSpec::External {
                name: "queue".into(),
                target: MetricTarget::Value(100_000)
            }
        );
        let behavior = spec.behavior.unwrap();
        assert_eq!(behavior.scale_up.policies, vec![ScalingPolicy::pods(2, 60)]);
        assert_eq!(
            behavior.scale_up.stabilization_window,
            Some(SimDuration::ZERO)
        );
        assert_eq!(behavior.scale_up.select_policy, SelectPolicy::Max);
        assert_eq!(behavior.scale_down.select_policy, SelectPolicy::Min);
        assert_eq!(
            behavior.scale_down.policies,
            vec![ScalingPolicy::percent(100, 15)]
        );
        assert_eq!(behavior.scale_down.tolerance, Some(0.05));
        assert_eq!(
            behavior.scale_down.stabilization_window,
            Some(SimDuration::from_secs(60))
        );
    }

    #[test]
    fn no_behavior_and_no_metrics_means_legacy_cpu_80() {
        let spec = parse_hpa_manifest("spec: {maxReplicas: 3}").unwrap();
        assert_eq!(spec.min_replicas, 1);
        assert!(spec.behavior.is_none());
        assert_eq!(
            spec.metrics,
            vec![MetricSpec::Resource {
                resource: "cpu".into(),
                container: None,
                target: MetricTarget::Utilization(80)
            }]
        );
    }

    fn error_of(yaml: &str) -> String {
        parse_hpa_manifest(yaml).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_field_value_and_allowed() {
        let e = error_of("spec: {maxReplicas: 3, metrics: [{type: Pods, pods: {metric: {name: q}, target: {type: AverageValue, averageValue: 12x}}}]}");
        assert!(
            e.contains("spec.metrics[0].pods.target.averageValue"),
            "{e}"
        );
        assert!(e.contains("12x") && e.contains("suffix is unknown"), "{e}");

        let e = error_of("spec: {maxReplicas: 3, metrics: [{type: Pods, pods: {metric: {name: q}, target: {type: Value, value: 1}}}]}");
        assert!(
            e.contains("spec.metrics[0].pods.target.type") && e.contains("AverageValue"),
            "{e}"
        );

        let e = error_of("spec: {maxReplicas: 3, behavior: {scaleDown: {selectPolicy: Biggest}}}");
        assert!(
            e.contains("spec.behavior.scaleDown.selectPolicy")
                && e.contains("Biggest")
                && e.contains("Max, Min or Disabled"),
            "{e}"
        );

        let e = error_of("spec: {maxReplicas: 3, behavior: {scaleUp: {policies: [{type: Pods, value: 1, periodSeconds: 0}]}}}");
        assert!(
            e.contains("spec.behavior.scaleUp.policies[0].periodSeconds")
                && e.contains("(0, 1800]"),
            "{e}"
        );

        let e = error_of("spec: {minReplicas: 5, maxReplicas: 3}");
        assert!(e.contains("spec.maxReplicas") && e.contains('3'), "{e}");

        assert!(error_of("spec: {minReplicas: 1}").contains("spec.maxReplicas"));
        assert!(error_of("kind: Deployment\nspec: {maxReplicas: 1}")
            .contains("HorizontalPodAutoscaler"));
        let e = error_of("spec: {maxReplicas: 3, metrics: [{type: Cpu}]}");
        assert!(
            e.contains("spec.metrics[0].type") && e.contains("Cpu"),
            "{e}"
        );
    }
}
