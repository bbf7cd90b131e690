//! Scenario keys for the Kubernetes HPA, CronHPA and KEDA cron, and how they become an
//! [`HpaSetup`](crate::autoscaler::hpa::runtime::HpaSetup).
//!
//! ```yaml
//! autoscaler:
//!   class: hpa                     # or the annotations users write: serving.kserve.io/autoscalerClass: hpa
//!   hpa:                           # a real autoscaling/v2 manifest, inline spec fields, or neither
//!     manifest: my-hpa.yaml        #   (neither: built from KServe's scaleMetric/scaleTarget, cpu 80 % default)
//!     minReplicas: 1
//!     maxReplicas: 4
//!     metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]
//!     behavior: {scaleDown: {stabilizationWindowSeconds: 60}}
//!     metric_sources: {my_metric: pod_concurrency}   # what a Pods/Object/External metric measures
//!   controller: {sync_period: 15s, tolerance: 0.1, downscale_stabilization: 5m,
//!                cpu_initialization_period: 5m, initial_readiness_delay: 30s, tolerance_rule: interval}
//!   metrics_server: {resolution: 15s, phase: 0s, delay: 0s}
//!   custom_metrics: {resolution: 15s, phase: 0s, delay: 0s}   # Prometheus + adapter (Pods/Object/External)
//!   cron:                          # a CronHPA: manifest, or inline jobs
//!     jobs: [{name: up, schedule: "0 0 8 * * *", targetSize: 4}]
//!     excludeDates: ["* * * 25 12 *"]
//!     time_zone: Asia/Shanghai     # the controller's TZ (default UTC)
//!     target: hpa                  # hpa (edit min/max, the interplay rules) or deployment (set replicas)
//!   keda_cron: [{timezone: UTC, start: "0 8 * * *", end: "0 18 * * *", desiredReplicas: 4}]
//! ```
//!
//! Metric sources (what the simulator measures for each metric; guessed from the name when not given):
//! `cpu`, `memory` (Resource), `gpu_util_percent` (`DCGM_FI_DEV_GPU_UTIL`), `gpu_busy_ratio`
//! (`DCGM_FI_PROF_SM_ACTIVE`, `DCGM_FI_PROF_GR_ENGINE_ACTIVE`), `pod_concurrency`, `pod_rps` (Pods),
//! `service_rps`, `service_concurrency` (Object, External).
//!
//! KServe and Knative mappings: `scaleMetric: cpu|memory` with `scaleTarget` N gives a Resource metric
//! with a Utilization target of N %; `scaleMetric: gpu` gives the arena-style Pods metric
//! `DCGM_FI_DEV_GPU_UTIL` with an AverageValue target of N (percent); Knative's HPA class reads
//! `autoscaling.knative.dev/metric` (cpu: Utilization %, memory: AverageValue in Mi) and
//! `autoscaling.knative.dev/target`. min/max come from `minReplicas`/`maxReplicas` (KServe raises a max
//! below min to min); the HPA never scales to zero, so minReplicas must be at least 1.

mod cron;

pub use cron::{build_standalone_cron, CronScenarioSpec, KedaCronSpec};

use super::{LoadedScenario, ScenarioError};
use crate::autoscaler::cron::KedaCronTrigger;
use crate::autoscaler::hpa::manifest::HorizontalPodAutoscalerManifest;
use crate::autoscaler::hpa::runtime::HpaSetup;
use crate::autoscaler::hpa::runtime::MetricSource;
use crate::autoscaler::hpa::runtime::ScrapeConfig;
use crate::autoscaler::hpa::{HpaConfig, HpaSpec, MetricSpec, MetricTarget, ToleranceRule};
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;

use cron::build_cron;

/// `autoscaler.hpa`: the HPA object.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaObjectSpec {
    /// Path to a real `autoscaling/v2` HorizontalPodAutoscaler manifest; inline fields override its spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    #[serde(
        rename = "minReplicas",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub min_replicas: Option<i32>,
    #[serde(
        rename = "maxReplicas",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_replicas: Option<i32>,
    /// `spec.metrics` as in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    /// `spec.behavior` as in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Value>,
    /// Metric name → what it measures (see the module docs).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metric_sources: BTreeMap<String, String>,
}

/// `autoscaler.controller`: kube-controller-manager's HPA flags.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaControllerSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_period: Option<SimDuration>,
    /// When the first sync happens within the period (syncs at `sync_phase + k × sync_period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_phase: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// `interval` (Kubernetes 1.33+) or `absolute` (older).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downscale_stabilization: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_initialization_period: Option<SimDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_readiness_delay: Option<SimDuration>,
}

/// `autoscaler.metrics_server` / `autoscaler.custom_metrics`: a scraper's timing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSpec {
    /// Scrape interval (metrics-server `--metric-resolution`; Prometheus scrape interval). Default 15s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<SimDuration>,
    /// Offset of the scrapes within the interval. Default 0s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SimDuration>,
    /// Extra age of the value the HPA reads (adapter cache, pipeline). Default 0s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<SimDuration>,
}

/// The service fields the HPA mapping reads.
pub struct ServiceView<'a> {
    pub min_replicas: Option<u32>,
    pub max_replicas: Option<u32>,
    pub scale_metric: Option<&'a str>,
    pub scale_target: Option<f64>,
    pub annotations: &'a BTreeMap<String, String>,
    pub initial_pods: Option<u32>,
    /// `external`: the user brings the HPA (or KEDA does); KServe creates none.
    pub external: bool,
}

/// The default civil time of simulated time 0 when the scenario has no `start_time`.
pub const DEFAULT_START_TIME: &str = "2024-01-01T00:00:00Z";

fn read(loaded: &LoadedScenario, rel: &str) -> Result<String, String> {
    let path = loaded.base_dir.join(rel);
    std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Builds the HPA setup, or pushes located errors and returns `None`.
pub fn build_hpa(
    loaded: &LoadedScenario,
    service: &ServiceView,
    errors: &mut Vec<ScenarioError>,
    settings: &mut BTreeMap<String, String>,
) -> Option<HpaSetup> {
    let a = &loaded.spec.autoscaler;
    let before = errors.len();
    let hpa = a.hpa.clone().unwrap_or_default();

    // min/max: inline, else the service's KServe fields.
    let svc_min = service.min_replicas.map(|m| m as i32);
    if svc_min == Some(0) && hpa.min_replicas.is_none() {
        errors.push(loaded.error_at(
            "service.minReplicas",
            "0 is not possible with the HPA (no scale to zero); allowed: 1 or more (or use class kpa)",
        ));
    }
    let min = hpa.min_replicas.or(svc_min).unwrap_or(1).max(1);
    let max = hpa
        .max_replicas
        .or(service.max_replicas.map(|m| m as i32))
        .unwrap_or(0)
        .max(min);

    let mut spec: Option<HpaSpec> = None;
    if hpa.manifest.is_some() || hpa.metrics.is_some() {
        // A manifest document: the file's, with the inline fields on top.
        let (mut doc, key) = match &hpa.manifest {
            Some(rel) => match read(loaded, rel).and_then(|t| {
                serde_yaml::from_str::<Value>(&t).map_err(|e| format!("{rel}: malformed YAML: {e}"))
            }) {
                Ok(v) => (v, "autoscaler.hpa.manifest"),
                Err(m) => {
                    errors.push(loaded.error_at("autoscaler.hpa.manifest", m));
                    return None;
                }
            },
            None => (Value::Mapping(Mapping::new()), "autoscaler.hpa"),
        };
        if !doc.is_mapping() {
            errors.push(loaded.error_at(key, "the HPA manifest must be a YAML map"));
            return None;
        }
        let root = doc.as_mapping_mut().expect("checked");
        let spec_entry = root
            .entry(Value::from("spec"))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Some(s) = spec_entry.as_mapping_mut() {
            for (k, v) in [("metrics", &hpa.metrics), ("behavior", &hpa.behavior)] {
                if let Some(v) = v {
                    s.insert(Value::from(k), v.clone());
                }
            }
            if hpa.min_replicas.is_some() || !s.contains_key("minReplicas") {
                s.insert(Value::from("minReplicas"), Value::from(min));
            }
            if hpa.max_replicas.is_some() || !s.contains_key("maxReplicas") {
                s.insert(Value::from("maxReplicas"), Value::from(max));
            }
        }
        match serde_yaml::from_value::<HorizontalPodAutoscalerManifest>(doc)
            .map_err(|e| e.to_string())
            .and_then(|m| m.into_spec().map_err(|e| e.to_string()))
        {
            Ok(s) => spec = Some(s),
            Err(m) => errors.push(loaded.error_at(key, m)),
        }
    } else if !service.external || a.keda_cron.is_empty() {
        // KServe / Knative fields.
        let knative_metric = service
            .annotations
            .get("autoscaling.knative.dev/metric")
            .map(String::as_str);
        let knative_target = service
            .annotations
            .get("autoscaling.knative.dev/target")
            .and_then(|t| t.parse::<f64>().ok());
        let (metric, key) = match service.scale_metric {
            Some(m) => (m, "service.scaleMetric"),
            None => (
                knative_metric.unwrap_or("cpu"),
                "service.annotations.\"autoscaling.knative.dev/metric\"",
            ),
        };
        let target = service.scale_target.or(knative_target);
        let whole = |t: f64| -> Option<i64> {
            (t.fract() == 0.0 && t >= 1.0 && t <= i32::MAX as f64).then_some(t as i64)
        };
        let target_key = if service.scale_target.is_some() {
            "service.scaleTarget"
        } else {
            "service.annotations.\"autoscaling.knative.dev/target\""
        };
        let metric_spec = match metric {
            "cpu" => {
                match whole(target.unwrap_or(80.0)) {
                    Some(t) => Some(MetricSpec::Resource {
                        resource: "cpu".into(),
                        container: None,
                        target: MetricTarget::Utilization(t as i32),
                    }),
                    None => {
                        errors.push(loaded.error_at(target_key, format!("{} must be a whole utilization percentage >= 1 for scaleMetric cpu", target.unwrap_or_default())));
                        None
                    }
                }
            }
            "memory" => match whole(target.unwrap_or(80.0)) {
                // KServe: a utilization percentage; Knative's HPA class: megabytes per pod.
                Some(t) if service.scale_metric.is_some() => Some(MetricSpec::Resource {
                    resource: "memory".into(),
                    container: None,
                    target: MetricTarget::Utilization(t as i32),
                }),
                Some(t) => Some(MetricSpec::Resource {
                    resource: "memory".into(),
                    container: None,
                    target: MetricTarget::AverageValue(t * 1024 * 1024 * 1000),
                }),
                None => {
                    errors.push(loaded.error_at(
                        target_key,
                        format!(
                            "{} must be a whole number >= 1 for scaleMetric memory",
                            target.unwrap_or_default()
                        ),
                    ));
                    None
                }
            },
            "gpu" => match target.filter(|t| *t > 0.0 && *t <= 100.0) {
                Some(t) => Some(MetricSpec::Pods {
                    name: "DCGM_FI_DEV_GPU_UTIL".into(),
                    target: MetricTarget::AverageValue((t * 1000.0).round() as i64),
                }),
                None => {
                    errors.push(loaded.error_at(target_key, match target {
                        Some(t) => format!("{t} must be a GPU utilization percentage in (0, 100] for scaleMetric gpu"),
                        None => "scaleMetric gpu needs scaleTarget, a GPU utilization percentage in (0, 100]".to_string(),
                    }));
                    None
                }
            },
            other => {
                errors.push(loaded.error_at(key, format!("\"{other}\" cannot drive the HPA; allowed with class hpa: cpu, memory, gpu (concurrency and rps need class kpa, or give autoscaler.hpa.metrics)")));
                None
            }
        };
        let behavior = match &hpa.behavior {
            None => None,
            Some(b) => {
                let mut s = Mapping::new();
                s.insert(Value::from("maxReplicas"), Value::from(max));
                s.insert(Value::from("behavior"), b.clone());
                let mut doc = Mapping::new();
                doc.insert(Value::from("spec"), Value::Mapping(s));
                match serde_yaml::from_value::<HorizontalPodAutoscalerManifest>(Value::Mapping(doc))
                    .map_err(|e| e.to_string())
                    .and_then(|m| m.into_spec().map_err(|e| e.to_string()))
                {
                    Ok(s) => s.behavior,
                    Err(m) => {
                        errors.push(loaded.error_at("autoscaler.hpa.behavior", m));
                        None
                    }
                }
            }
        };
        spec = metric_spec.map(|m| HpaSpec {
            min_replicas: min,
            max_replicas: max,
            metrics: vec![m],
            behavior,
        });
    } else {
        // External class with KEDA only: KEDA creates the HPA.
        spec = Some(HpaSpec {
            min_replicas: min,
            max_replicas: max,
            metrics: Vec::new(),
            behavior: None,
        });
    }

    // KEDA cron triggers: one External metric each, AverageValue 1.
    let mut keda = Vec::new();
    for (i, k) in a.keda_cron.iter().enumerate() {
        let mut md = BTreeMap::new();
        for (key, v) in [
            ("timezone", k.timezone.clone()),
            ("start", k.start.clone()),
            ("end", k.end.clone()),
            (
                "desiredReplicas",
                k.desired_replicas
                    .as_ref()
                    .and_then(super::scalar_to_string),
            ),
        ] {
            if let Some(v) = v {
                md.insert(key.to_string(), v);
            }
        }
        match KedaCronTrigger::from_metadata(&md, i) {
            Ok(t) => keda.push(t),
            Err(e) => {
                errors.push(loaded.error_at(&format!("autoscaler.keda_cron[{i}]"), e.to_string()))
            }
        }
    }
    let mut spec = spec?;
    let mut sources = Vec::new();
    for (i, metric) in spec.metrics.iter().enumerate() {
        let name = metric.name();
        let chosen = match hpa.metric_sources.get(name) {
            Some(s) => match MetricSource::from_name(s) {
                Some(src) => Some(src),
                None => {
                    errors.push(loaded.error_at(
                        "autoscaler.hpa.metric_sources",
                        format!(
                            "\"{s}\" (for metric {name}) is not a metric source; allowed: {}",
                            MetricSource::NAMES.join(", ")
                        ),
                    ));
                    continue;
                }
            },
            None => MetricSource::guess(metric),
        };
        let Some(src) = chosen else {
            errors.push(loaded.error_at(
                "autoscaler.hpa.metrics",
                format!("metric {i} ({name}) has no simulated source: say what it measures in autoscaler.hpa.metric_sources.{name}; allowed: {}", MetricSource::NAMES.join(", ")),
            ));
            continue;
        };
        let fits = match metric {
            MetricSpec::Resource { resource, .. } => {
                (resource == "cpu" && src == MetricSource::Cpu)
                    || (resource == "memory" && src == MetricSource::Memory)
            }
            MetricSpec::Pods { .. } => src.per_pod(),
            MetricSpec::Object { .. } | MetricSpec::External { .. } => !src.per_pod(),
        };
        if !fits {
            errors.push(loaded.error_at(
                "autoscaler.hpa.metric_sources",
                format!("metric {i} ({name}): source {src:?} does not fit a {} metric (Resource: cpu or memory; Pods: gpu_*, pod_*; Object/External: service_*)", match metric { MetricSpec::Resource{..} => "Resource", MetricSpec::Pods{..} => "Pods", MetricSpec::Object{..} => "Object", MetricSpec::External{..} => "External" }),
            ));
        }
        sources.push(src);
    }
    for (i, t) in keda.iter().enumerate() {
        spec.metrics.push(MetricSpec::External {
            name: t.metric_name(),
            target: MetricTarget::AverageValue(KedaCronTrigger::TARGET_AVERAGE_VALUE_M),
        });
        sources.push(MetricSource::KedaCron(i));
    }
    if spec.metrics.is_empty() {
        errors.push(loaded.error_at(
            "autoscaler",
            "the HPA has no metric: give autoscaler.hpa.metrics, service.scaleMetric, or autoscaler.keda_cron",
        ));
    }

    // Controller flags.
    let c = &a.controller;
    let mut config = HpaConfig::default();
    let secs = |key: &str,
                d: Option<SimDuration>,
                dflt: SimDuration,
                min_s: u64,
                errors: &mut Vec<ScenarioError>|
     -> SimDuration {
        let v = d.unwrap_or(dflt);
        if !v.as_nanos().is_multiple_of(1_000_000_000) || v.whole_secs() < min_s {
            errors.push(loaded.error_at(
                key,
                format!("\"{v}\" must be a whole number of seconds >= {min_s}s"),
            ));
            return dflt;
        }
        v
    };
    config.sync_period = secs(
        "autoscaler.controller.sync_period",
        c.sync_period,
        config.sync_period,
        1,
        errors,
    );
    let sync_phase = secs(
        "autoscaler.controller.sync_phase",
        c.sync_phase,
        SimDuration::ZERO,
        0,
        errors,
    );
    if let Some(t) = c.tolerance {
        if !(0.0..1.0).contains(&t) {
            errors.push(loaded.error_at(
                "autoscaler.controller.tolerance",
                format!("{t} is outside [0, 1)"),
            ));
        } else {
            config.tolerance = t;
        }
    }
    match c.tolerance_rule.as_deref() {
        None | Some("interval") => {}
        Some("absolute") => config.tolerance_rule = ToleranceRule::Absolute,
        Some(other) => errors.push(loaded.error_at("autoscaler.controller.tolerance_rule", format!("\"{other}\" is not allowed; allowed: interval (Kubernetes 1.33+), absolute (older)"))),
    }
    config.downscale_stabilization = c
        .downscale_stabilization
        .unwrap_or(config.downscale_stabilization);
    config.cpu_initialization_period = c
        .cpu_initialization_period
        .unwrap_or(config.cpu_initialization_period);
    config.initial_readiness_delay = c
        .initial_readiness_delay
        .unwrap_or(config.initial_readiness_delay);
    let scrape = |key: &str, s: &ScrapeSpec, errors: &mut Vec<ScenarioError>| ScrapeConfig {
        resolution: secs(
            &format!("{key}.resolution"),
            s.resolution,
            SimDuration::from_secs(15),
            1,
            errors,
        ),
        phase: secs(
            &format!("{key}.phase"),
            s.phase,
            SimDuration::ZERO,
            0,
            errors,
        ),
        delay: s.delay.unwrap_or(SimDuration::ZERO),
    };
    let metrics_server = scrape("autoscaler.metrics_server", &a.metrics_server, errors);
    let custom_metrics = scrape("autoscaler.custom_metrics", &a.custom_metrics, errors);

    // Civil time of t = 0.
    let start_text = loaded
        .spec
        .start_time
        .as_deref()
        .unwrap_or(DEFAULT_START_TIME);
    let civil_start = match chrono::DateTime::parse_from_rfc3339(start_text) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(e) => {
            errors.push(loaded.error_at("start_time", format!("\"{start_text}\" is not an RFC 3339 time ({e}); e.g. \"2024-03-05T07:50:00+08:00\"")));
            return None;
        }
    };

    // CronHPA.
    let cron = a
        .cron
        .as_ref()
        .and_then(|c| build_cron(loaded, c, civil_start, errors));

    let initial_replicas = service
        .initial_pods
        .map(|p| p as i32)
        .unwrap_or(spec.min_replicas)
        .clamp(1, spec.max_replicas.max(1)) as u32;
    settings.insert("min-replicas".into(), spec.min_replicas.to_string());
    settings.insert("max-replicas".into(), spec.max_replicas.to_string());
    settings.insert(
        "metrics".into(),
        spec.metrics
            .iter()
            .map(describe_metric)
            .collect::<Vec<_>>()
            .join(", "),
    );
    settings.insert("sync-period".into(), config.sync_period.to_string());
    settings.insert(
        "metric-resolution".into(),
        metrics_server.resolution.to_string(),
    );
    if errors.len() > before {
        return None;
    }
    Some(HpaSetup {
        spec,
        config,
        sources,
        metrics_server,
        custom_metrics,
        sync_phase,
        initial_replicas,
        keda,
        cron,
        civil_start,
    })
}

fn describe_metric(m: &MetricSpec) -> String {
    let target = match m {
        MetricSpec::Resource { target, .. }
        | MetricSpec::Pods { target, .. }
        | MetricSpec::Object { target, .. }
        | MetricSpec::External { target, .. } => *target,
    };
    match target {
        MetricTarget::Utilization(p) => format!("{} {p}%", m.name()),
        MetricTarget::AverageValue(v) => format!("{} avg {}", m.name(), v as f64 / 1000.0),
        MetricTarget::Value(v) => format!("{} {}", m.name(), v as f64 / 1000.0),
    }
}
